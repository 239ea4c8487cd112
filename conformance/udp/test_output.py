"""udp_output(), in_pcbconnect_setup(), in_pcbladdr() and the sosend_dgram()
checks in front of them (netinet/udp_usrreq.c, netinet/in_pcb.c,
kern/uipc_socket.c; docs/sockets.md, send; dossier 3.3, 4.1, 7 and 8.1)."""

from __future__ import annotations

import errno
import socket

import pytest

import kstack
from kstack import sock as S
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    IP,
    PEER,
    PEER_MAC,
    REMOTE,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Ether,
    Raw,
    host,
)

SENT = {"ip": {"ips_localout": 1}, "udp": {"udps_opackets": 1}}


def _udp(k, uid=0):
    return k.socket(S.AF_INET, S.SOCK_DGRAM, uid=uid)


def _bound(k, addr="0.0.0.0", port=5000):
    s = _udp(k)
    s.bind((addr, port))
    return s


def _errno(fn, *args) -> int:
    try:
        fn(*args)
    except OSError as e:
        return int(e.errno or 0)
    return 0


def _frame(
    src=HOST,
    dst=PEER,
    sport=5000,
    dport=53,
    data=b"hi",
    *,
    mac_src=HOST_MAC,
    mac_dst=PEER_MAC,
    ip_id=BOOT_IP_ID,
    **ip,
):
    return (
        Ether(src=mac_src, dst=mac_dst)
        / IP(src=src, dst=dst, id=ip_id, **ip)
        / UDP(sport=sport, dport=dport)
        / Raw(data)
    )


# -- source selection ----------------------------------------------------------


def test_unbound_sendto_peer_exact_frame(k, delta, match_frame):
    """udp_output: an unbound socket gets an ephemeral port (implicit bind
    commits only the port: getsockname stays 0.0.0.0); the source comes from
    in_pcbladdr (em0's address); TTL 64, TOS 0, no DF, correct checksums."""
    s = _udp(k)
    with delta(k) as d:
        assert s.sendto(b"hi", (PEER, 53)) == 2
    assert d == SENT
    addr, port = s.getsockname()
    assert addr == "0.0.0.0"
    (frame,) = k.transmitted("em0")
    match_frame(frame, _frame(sport=port))


def test_bound_port_fixed_source_chosen_per_datagram(k, match_frame):
    """udp_output: laddr ANY -> in_pcbconnect_setup picks the source per
    datagram (em0 for the peer, em1 for the far host) while the port stays."""
    k.arp_add(FAR, FAR_MAC)
    s = _bound(k)
    s.sendto(b"a", (PEER, 53))
    s.sendto(b"b", (FAR, 53))
    (f0,) = k.transmitted("em0")
    (f1,) = k.transmitted("em1")
    match_frame(f0, _frame(data=b"a"))
    match_frame(
        f1,
        _frame(HOST1, FAR, data=b"b", mac_src=HOST1_MAC, mac_dst=FAR_MAC, ip_id=BOOT_IP_ID + 1),
    )


def test_source_via_route_on_em1(k, match_frame):
    """in_pcbladdr: a route through em1 gives em1's address as source, the
    frame goes to the gateway's MAC."""
    k.arp_add("198.51.100.254", "02:00:00:00:01:fe")
    k.route_add("203.0.113.0/24", "198.51.100.254")
    s = _bound(k)
    s.sendto(b"hi", (REMOTE, 53))
    assert k.transmitted("em0") == []
    (f,) = k.transmitted("em1")
    match_frame(f, _frame(HOST1, REMOTE, mac_src=HOST1_MAC, mac_dst="02:00:00:00:01:fe"))


def test_source_via_default_route(k, match_frame):
    """in_pcbladdr: default route via the router on em0 -> em0's address."""
    k.route_add("default", ROUTER)
    s = _bound(k)
    s.sendto(b"hi", (REMOTE, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(HOST, REMOTE, mac_dst=ROUTER_MAC))


@pytest.mark.parametrize("dst", [HOST1, HOST, "127.0.0.1"])
def test_source_for_local_destination(k, dst):
    """in_pcbladdr: a route through loopback -> the address of the interface
    owning the destination, i.e. the destination itself; the datagram goes
    through lo0 and the netisr."""
    r = _bound(k, port=6000)
    s = _bound(k)
    s.sendto(b"me", (dst, 6000))
    with pytest.raises(BlockingIOError):
        r.recv(10)
    k.advance(0)
    assert r.recvfrom(10) == (b"me", (dst, 5000))
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


def test_no_route_enetunreach(k, delta):
    """in_pcbladdr: no route and no connected network -> ENETUNREACH; the
    socket stays unbound and nothing is counted."""
    s = _udp(k)
    with delta(k) as d:
        assert _errno(s.sendto, b"x", (REMOTE, 53)) == errno.ENETUNREACH
    assert d == {}
    assert s.getsockname() == ("0.0.0.0", 0)


def test_bound_socket_no_route_ehostunreach(k, delta):
    """udp_output: with laddr and lport set the fast path skips
    in_pcbladdr; ip_output finds no route -> EHOSTUNREACH, ips_noroute
    (udps_opackets counted before ip_output)."""
    s = _bound(k, HOST)
    with delta(k) as d:
        assert _errno(s.sendto, b"x", (REMOTE, 53)) == errno.EHOSTUNREACH
    assert d == {
        "ip": {"ips_localout": 1, "ips_noroute": 1},
        "udp": {"udps_opackets": 1},
    }


def test_so_dontroute_on_link_ttl_1(k, match_frame):
    """udp_output: SO_DONTROUTE -> IP_ROUTETOIF: an on-link destination is
    sent with TTL forced to 1."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_DONTROUTE, 1)
    s.sendto(b"hi", (PEER, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(ttl=1))


def test_msg_dontroute_per_call(k, match_frame):
    """sosend_dgram: MSG_DONTROUTE sets SO_DONTROUTE around this send only."""
    s = _bound(k)
    s.sendto(b"hi", S.MSG_DONTROUTE, (PEER, 53))
    s.sendto(b"hi", (PEER, 53))
    f1, f2 = k.transmitted("em0")
    match_frame(f1, _frame(ttl=1))
    match_frame(f2, _frame(ip_id=BOOT_IP_ID + 1))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_DONTROUTE) == 0


def test_so_dontroute_off_link_enetunreach(k):
    """in_pcbladdr skips the route lookup with SO_DONTROUTE: a destination
    beyond the router is ENETUNREACH even with a default route."""
    k.route_add("default", ROUTER)
    s = _udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_DONTROUTE, 1)
    assert _errno(s.sendto, b"x", (REMOTE, 53)) == errno.ENETUNREACH


def test_bound_so_dontroute_off_link_enetunreach(k, delta):
    """ip_output(IP_ROUTETOIF): destination not on a connected network ->
    ENETUNREACH, ips_noroute."""
    k.route_add("default", ROUTER)
    s = _bound(k, HOST)
    s.setsockopt(S.SOL_SOCKET, S.SO_DONTROUTE, 1)
    with delta(k) as d:
        assert _errno(s.sendto, b"x", (REMOTE, 53)) == errno.ENETUNREACH
    assert d == {"ip": {"ips_localout": 1, "ips_noroute": 1}, "udp": {"udps_opackets": 1}}


# -- connect ---------------------------------------------------------------------


def test_connect_then_getsockname(k, match_frame):
    """in_pcbconnect: laddr from in_pcbladdr and an ephemeral port are
    committed; send(2) goes to the peer."""
    s = _udp(k)
    s.connect((PEER, 53))
    addr, port = s.getsockname()
    assert addr == HOST and 10000 <= port <= 65535
    assert s.getpeername() == (PEER, 53)
    s.send(b"hi")
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(sport=port))


def test_connect_to_any_means_first_address(k):
    """in_pcbconnect_setup: destination 0.0.0.0 is replaced by the first
    configured address (TAILQ_FIRST(in_ifaddrhead): lo0's 127.0.0.1, set up
    at boot before em0)."""
    s = _udp(k)
    s.connect(("0.0.0.0", 53))
    assert s.getpeername() == ("127.0.0.1", 53)
    assert s.getsockname()[0] == "127.0.0.1"


def test_connect_broadcast_kept_when_first_interface_is_loopback(k):
    """in_pcbconnect_setup: 255.255.255.255 is replaced only when the first
    address's interface is IFF_BROADCAST; lo0 is not, so it is kept, and
    in_pcbladdr then needs a route (none -> ENETUNREACH)."""
    s = _udp(k)
    assert _errno(s.connect, ("255.255.255.255", 53)) == errno.ENETUNREACH
    k.route_add("default", ROUTER)
    s.connect(("255.255.255.255", 53))
    assert s.getpeername() == ("255.255.255.255", 53)
    assert s.getsockname()[0] == HOST


def test_connect_broadcast_substituted_when_first_interface_broadcasts():
    """in_pcbconnect_setup: with em0 holding the first address,
    255.255.255.255 becomes em0's broadcast address 192.0.2.255."""
    k = kstack.Kernel(seed=0)
    k.ifconfig("lo0", "127.0.0.1/8", delete=True)
    k.ifconfig("em0", "192.0.2.1/24", ether=HOST_MAC)
    k.ifconfig("lo0", "127.0.0.1/8")
    s = _udp(k)
    s.connect(("255.255.255.255", 53))
    assert s.getpeername() == ("192.0.2.255", 53)
    assert s.getsockname()[0] == HOST
    t = _udp(k)
    t.connect(("0.0.0.0", 53))
    assert t.getpeername() == (HOST, 53)


def test_connect_port_zero(k):
    """in_pcbconnect_setup: sin_port == 0 -> EADDRNOTAVAIL; unconnected."""
    s = _udp(k)
    assert _errno(s.connect, (PEER, 0)) == errno.EADDRNOTAVAIL
    assert _errno(s.getpeername) == errno.ENOTCONN


def test_unbound_sendto_port_zero(k):
    """udp_output -> in_pcbconnect_setup: port 0 -> EADDRNOTAVAIL."""
    assert _errno(_udp(k).sendto, b"x", (PEER, 0)) == errno.EADDRNOTAVAIL


def test_bound_sendto_port_zero_fast_path(k, match_frame):
    """udp_output: laddr and lport set, plain unicast destination -> no
    check of the port at all; the datagram goes to port 0."""
    s = _bound(k, HOST)
    s.sendto(b"hi", (PEER, 0))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(dport=0))


@pytest.mark.parametrize("family", [S.AF_UNSPEC, S.AF_INET6])
def test_unbound_sendto_bad_family(k, family):
    """in_pcbconnect_setup: sin_family != AF_INET -> EAFNOSUPPORT."""
    sa = bytes([16, family]) + (53).to_bytes(2, "big") + bytes([192, 0, 2, 7]) + bytes(8)
    assert _errno(_udp(k).sendto, b"x", sa) == errno.EAFNOSUPPORT


def test_connect_bad_sa_len(k):
    """in_pcbconnect_setup: sa_len != 16 -> EINVAL."""
    sa = bytes([8, S.AF_INET]) + (53).to_bytes(2, "big") + bytes([192, 0, 2, 7])
    assert _errno(_udp(k).connect, sa) == errno.EINVAL


def test_connect_same_4tuple_eaddrinuse(k):
    """in_pcbconnect_setup: the exact 4-tuple already used by another pcb ->
    EADDRINUSE."""
    a = _udp(k)
    a.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
    a.bind((HOST, 5000))
    a.connect((PEER, 53))
    b = _udp(k)
    b.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
    b.bind((HOST, 5000))
    assert _errno(b.connect, (PEER, 53)) == errno.EADDRINUSE
    b.connect((PEER, 54))
    assert b.getpeername() == (PEER, 54)


def test_reconnect_disconnects_first(k):
    """soconnect: a connected UDP socket is disconnected (laddr reset, port
    kept) before the new connect; a failing connect leaves it unconnected."""
    s = _udp(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    assert _errno(s.connect, (REMOTE, 53)) == errno.ENETUNREACH
    assert s.getsockname() == ("0.0.0.0", port)
    assert _errno(s.getpeername) == errno.ENOTCONN
    assert _errno(s.send, b"x") == errno.EDESTADDRREQ


# -- sosend_dgram errors ---------------------------------------------------------


def test_send_unconnected_edestaddrreq(k):
    """sosend_dgram: not connected and no address -> EDESTADDRREQ."""
    assert _errno(_udp(k).send, b"x") == errno.EDESTADDRREQ


def test_sendto_connected_eisconn(k, delta):
    """udp_output: a destination on a connected socket -> EISCONN, nothing
    counted."""
    s = _udp(k)
    s.connect((PEER, 53))
    with delta(k) as d:
        assert _errno(s.sendto, b"x", (PEER, 53)) == errno.EISCONN
    assert d == {}


def test_sndbuf_limit_emsgsize(k, delta):
    """sosend_dgram: resid > sbspace(so_snd) = SO_SNDBUF (9216) -> EMSGSIZE
    before udp_output; 9216 bytes pass (fragmented on em0)."""
    s = _bound(k)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDBUF) == 9216
    with delta(k) as d:
        assert _errno(s.sendto, b"x" * 9217, (PEER, 53)) == errno.EMSGSIZE
    assert d == {}
    assert s.sendto(b"x" * 9216, (PEER, 53)) == 9216
    assert len(k.transmitted("em0")) == 7


def test_ip_maxpacket_emsgsize(k, delta):
    """udp_output: len + 28 > IP_MAXPACKET -> EMSGSIZE before udps_opackets
    (reachable once SO_SNDBUF is raised)."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 70000)
    with delta(k) as d:
        assert _errno(s.sendto, b"x" * 65508, (PEER, 53)) == errno.EMSGSIZE
    assert d == {}


# -- broadcast ------------------------------------------------------------------


@pytest.mark.parametrize("dst", ["192.0.2.255", "192.0.2.0"])
def test_broadcast_without_so_broadcast_eacces(k, delta, dst):
    """ip_output: a broadcast destination (in_broadcast on em0: the subnet
    broadcast and the host-zero address) without IP_ALLOWBROADCAST (UDP:
    SO_BROADCAST unset) -> EACCES (udps_opackets already counted)."""
    s = _bound(k, HOST)
    with delta(k) as d:
        assert _errno(s.sendto, b"x", (dst, 5000)) == errno.EACCES
    assert d == SENT
    assert k.transmitted("em0") == []


def test_subnet_broadcast_with_so_broadcast(k, match_frame):
    """udp_output: SO_BROADCAST -> IP_ALLOWBROADCAST; the frame goes to the
    Ethernet broadcast address."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    s.sendto(b"hi", ("192.0.2.255", 5000))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(dst="192.0.2.255", dport=5000, mac_dst=BCAST_MAC))


def test_all_ones_via_default_gateway_is_unicast(k, match_frame):
    """ip_output: for 255.255.255.255 the route is the default one; with
    RTF_GATEWAY the next hop is the router and isbroadcast =
    in_broadcast(router) = 0, so the datagram goes to the router's MAC
    without SO_BROADCAST (in_pcbconnect_setup kept the address: the first
    configured address is lo0's)."""
    k.route_add("default", ROUTER)
    s = _bound(k)
    s.sendto(b"hi", ("255.255.255.255", 5000))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(dst="255.255.255.255", dport=5000, mac_dst=ROUTER_MAC))


def test_broadcast_too_big_never_fragmented(k, delta):
    """ip_output: a broadcast larger than the MTU -> EMSGSIZE even without
    DF."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    assert _errno(s.sendto, b"x" * 1500, ("192.0.2.255", 5000)) == errno.EMSGSIZE
    assert k.transmitted("em0") == []


# -- header fields --------------------------------------------------------------


def test_ip_dontfrag_sets_df(k, match_frame):
    """udp_output: IP_DONTFRAG -> ip_off |= IP_DF."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_DONTFRAG, 1)
    s.sendto(b"hi", (PEER, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(flags="DF"))


def test_big_datagram_fragmented(k, delta, match_frame):
    """ip_output/ip_fragment: 3000 bytes + 8 of UDP header over MTU 1500 ->
    fragments of 1480, 1480 and 48 bytes, MF on all but the last, one ip_id;
    the UDP checksum covers the whole datagram."""
    s = _bound(k)
    data = bytes(range(256)) * 11 + bytes(184)
    assert len(data) == 3000
    with delta(k) as d:
        s.sendto(data, (PEER, 53))
    assert d == {
        "ip": {"ips_localout": 1, "ips_ofragments": 3, "ips_fragmented": 1},
        "udp": {"udps_opackets": 1},
    }
    frames = k.transmitted("em0")
    whole = bytes(IP(src=HOST, dst=PEER, id=BOOT_IP_ID) / UDP(sport=5000, dport=53) / Raw(data))
    payload = whole[20:]
    offs = [0, 1480, 2960]
    assert len(frames) == 3
    for i, (f, off) in enumerate(zip(frames, offs, strict=True)):
        last = i == 2
        chunk = payload[off : off + 1480]
        want = (
            Ether(src=HOST_MAC, dst=PEER_MAC)
            / IP(
                src=HOST,
                dst=PEER,
                id=BOOT_IP_ID,
                proto=17,
                flags=0 if last else "MF",
                frag=off // 8,
            )
            / Raw(chunk)
        )
        match_frame(f, want)


def test_big_datagram_with_dontfrag_emsgsize(k, delta):
    """ip_output: ip_len > MTU with DF -> EMSGSIZE, ips_cantfrag (G4.2)."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_DONTFRAG, 1)
    with delta(k) as d:
        assert _errno(s.sendto, b"x" * 2000, (PEER, 53)) == errno.EMSGSIZE
    assert d == {"ip": {"ips_localout": 1, "ips_cantfrag": 1}, "udp": {"udps_opackets": 1}}
    assert k.transmitted("em0") == []


def test_ip_ttl_and_tos_on_the_wire(k, match_frame):
    """udp_output: ip_ttl = inp_ip_ttl, ip_tos = inp_ip_tos."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_TTL, 5)
    s.setsockopt(S.IPPROTO_IP, S.IP_TOS, 0x10)
    s.sendto(b"hi", (PEER, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(ttl=5, tos=0x10))


def test_ttl_sysctl_copied_at_attach(k, match_frame):
    """udp_attach: inp_ip_ttl = net.inet.ip.ttl at socket creation; older
    sockets keep theirs (G8.2)."""
    old = _bound(k)
    k.sysctl("net.inet.ip.ttl", 32)
    new = _bound(k, port=5001)
    old.sendto(b"hi", (PEER, 53))
    new.sendto(b"hi", (PEER, 53))
    f1, f2 = k.transmitted("em0")
    match_frame(f1, _frame())
    match_frame(f2, _frame(sport=5001, ttl=32, ip_id=BOOT_IP_ID + 1))


@pytest.mark.parametrize("profile", ["9.0", "9.1"], indirect=True)
def test_tos_control_message(k, profile, match_frame):
    """udp_output: in 9.1 an IP_TOS cmsg (one u_char) overrides inp_ip_tos
    for this datagram; 9.0's udp_output has no case for it and answers
    ENOPROTOOPT, sending nothing."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_TOS, 0x10)
    if profile == "9.0":
        with pytest.raises(OSError) as e:
            s.sendmsg([b"hi"], [(S.IPPROTO_IP, S.IP_TOS, b"\x08")], 0, (PEER, 53))
        assert e.value.errno == errno.ENOPROTOOPT
        assert k.transmitted("em0") == []
        return
    s.sendmsg([b"hi"], [(S.IPPROTO_IP, S.IP_TOS, b"\x08")], 0, (PEER, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(tos=0x08))


def test_sendsrcaddr_on_a_wildcard_bound_socket(k, match_frame):
    """udp_output + in_pcbbind_setup: IP_SENDSRCADDR names the port the
    socket already holds, so no conflict lookup runs (the socket's own
    wildcard binding is no clash); the datagram leaves from the given local
    address and the binding is unchanged."""
    s = _bound(k)
    s.sendmsg([b"hi"], [(S.IPPROTO_IP, S.IP_SENDSRCADDR, socket.inet_aton(HOST1))], 0, (PEER, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(src=HOST1))
    assert s.getsockname() == ("0.0.0.0", 5000)


@pytest.mark.parametrize(
    "bind_to,src,want",
    [
        (None, HOST1, errno.EINVAL),  # no local port yet
        ("0.0.0.0", "0.0.0.0", errno.EINVAL),  # no address at all
        (HOST, HOST1, errno.EINVAL),  # already bound to an address
        ("0.0.0.0", "203.0.113.9", errno.EADDRNOTAVAIL),  # not a local address
    ],
)
def test_sendsrcaddr_refused(k, bind_to, src, want):
    """udp_output: IP_SENDSRCADDR needs a bound port and some address
    (EINVAL); in_pcbbind_setup refuses it on a socket bound to an address
    (EINVAL) and for an address no interface has (EADDRNOTAVAIL). Nothing is
    sent."""
    s = _udp(k) if bind_to is None else _bound(k, bind_to)
    cmsg = [(S.IPPROTO_IP, S.IP_SENDSRCADDR, socket.inet_aton(src))]
    assert _errno(s.sendmsg, [b"hi"], cmsg, 0, (PEER, 53)) == want
    assert k.transmitted("em0") == []


def test_udp_checksum_verified_with_scapy(k):
    """udp_output + in_delayed_cksum: the wire checksum equals the one
    scapy computes over pseudo-header and datagram."""
    s = _bound(k)
    s.sendto(b"checksum me", (PEER, 53))
    (f,) = k.transmitted("em0")
    pkt = Ether(f)
    got = pkt[UDP].chksum
    del pkt[UDP].chksum
    assert Ether(bytes(pkt))[UDP].chksum == got != 0


def test_computed_zero_checksum_sent_as_ffff(k):
    """in_delayed_cksum: a UDP checksum that computes to 0 is sent as
    0xffff (0 would mean "no checksum")."""
    s = _bound(k)
    base = bytes(IP(src=HOST, dst=PEER) / UDP(sport=5000, dport=53) / Raw(b"\0\0"))
    c0 = int.from_bytes(base[26:28], "big")
    data = c0.to_bytes(2, "big")  # adds exactly the complement: sum 0xffff
    s.sendto(data, (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f[14 + 26 : 14 + 28] == b"\xff\xff"


def test_checksum_sysctl_off_sends_zero(k, match_frame):
    """udp_output: net.inet.udp.checksum=0 -> uh_sum 0."""
    k.sysctl("net.inet.udp.checksum", 0)
    s = _bound(k)
    s.sendto(b"hi", (PEER, 53))
    (f,) = k.transmitted("em0")
    want = (
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID)
        / UDP(sport=5000, dport=53, chksum=0)
        / Raw(b"hi")
    )
    match_frame(f, want)


def test_ip_id_sequence(k, match_frame):
    """ip_output/ip_newid: random_id=0 -> consecutive IDs from the per-vnet
    counter for consecutive datagrams (G8.1)."""
    s = _bound(k)
    for _ in range(3):
        s.sendto(b"hi", (PEER, 53))
    frames = k.transmitted("em0")
    for i, f in enumerate(frames):
        match_frame(f, _frame(ip_id=BOOT_IP_ID + i))
    assert len(frames) == 3


# -- FIBs ---------------------------------------------------------------------------


def test_so_setfib_selects_route_table(match_frame):
    """in_pcbladdr and ip_output use inp_inc.inc_fibnum, set by SO_SETFIB
    through ip_ctloutput: a route present only in FIB 1 is used after
    SO_SETFIB 1 (dossier 7.3, 7.6)."""
    k = host(k=kstack.Kernel(seed=0, fibs=2))
    k.route_add("203.0.113.0/24", ROUTER, fib=1)
    s = _udp(k)
    assert _errno(s.sendto, b"x", (REMOTE, 53)) == errno.ENETUNREACH
    s.setsockopt(S.SOL_SOCKET, S.SO_SETFIB, 1)
    s.sendto(b"hi", (REMOTE, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(HOST, REMOTE, sport=s.getsockname()[1], mac_dst=ROUTER_MAC))
    assert _errno(s.setsockopt, S.SOL_SOCKET, S.SO_SETFIB, 2) == errno.EINVAL


def test_setfib_process_fib_inherited(match_frame):
    """socreate: so_fibnum = the process FIB (setfib(2)); udp_attach copies
    it into the pcb (G7.1)."""
    k = host(k=kstack.Kernel(seed=0, fibs=2))
    k.route_add("203.0.113.0/24", ROUTER, fib=1)
    k.setfib(1)
    s = _bound(k)
    s.sendto(b"hi", (REMOTE, 53))
    (f,) = k.transmitted("em0")
    match_frame(f, _frame(HOST, REMOTE, mac_dst=ROUTER_MAC))


def test_unresolved_next_hop_holds_datagram(k):
    """udp_output -> ip_output -> arpresolve: the far host has no ARP entry,
    so a request goes out on em1 and the datagram waits for the answer."""
    s = _udp(k)
    s.sendto(b"x", (FAR, 53))
    (arp,) = k.transmitted("em1")
    assert Ether(arp).type == 0x0806
