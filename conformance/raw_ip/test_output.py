"""Sending from raw sockets: rip_output (netinet/raw_ip.c) and
ip_output(IP_RAWOUTPUT) (netinet/ip_output.c), the raw user requests
(rip_bind, rip_connect, rip_send, rip_attach) and sosend_generic
(kern/uipc_socket.c). Dossier 2.1, 2.4, G2.2-G2.4; docs/sockets.md, "Raw
sockets: which header you read"."""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import IP as ScapyIP

from kstack import sock as S
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    HOST1,
    HOST_MAC,
    IP,
    PEER,
    PEER_MAC,
    REMOTE,
    ROUTER,
    SUBNET_BCAST,
    Ether,
    Raw,
    host,
)

PAYLOAD = b"rawdata!"


def _raw(k, proto=253, uid=0):
    return k.socket(S.AF_INET, S.SOCK_RAW, proto, uid=uid)


def _to_peer(**ip):
    return Ether(src=HOST_MAC, dst=PEER_MAC) / IP(src=HOST, dst=PEER, **ip) / Raw(PAYLOAD)


def _hdrincl(
    ip_len: int,
    *,
    order: str = "little",
    ip_id: int = 0,
    src: str = "0.0.0.0",
    dst: str = PEER,
    ttl: int = 33,
    ip_off: int = 0,
    ihl: int = 5,
    payload: bytes = PAYLOAD,
) -> bytes:
    """A user-built header: ip_len and ip_off in the given byte order,
    ip_sum 0xdead (the kernel must recompute it)."""
    hdr = bytearray(ihl * 4)
    hdr[0] = 0x40 | ihl
    hdr[2:4] = ip_len.to_bytes(2, order)  # type: ignore[arg-type]
    hdr[4:6] = ip_id.to_bytes(2, "big")
    hdr[6:8] = ip_off.to_bytes(2, order)  # type: ignore[arg-type]
    hdr[8] = ttl
    hdr[9] = 253
    hdr[10:12] = b"\xde\xad"
    hdr[12:16] = bytes(int(x) for x in src.split("."))
    hdr[16:20] = bytes(int(x) for x in dst.split("."))
    return bytes(hdr) + payload


def _oserr(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


# -- without IP_HDRINCL -------------------------------------------------------------


def test_kernel_header_defaults(k, match_frame, delta):
    """rip_output / ip_output: the kernel builds the header: TOS 0, no DF,
    TTL 64 (net.inet.ip.ttl at creation), ip_p = socket protocol, ID from the
    global counter, source from the route; ips_localout, not ips_rawout."""
    s = _raw(k)
    with delta(k) as d:
        assert s.sendto(PAYLOAD, (PEER, 0)) == len(PAYLOAD)
    assert d == {"ip": {"ips_localout": 1}}
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(ttl=64, proto=253, id=BOOT_IP_ID))


def test_kernel_header_socket_options(k, match_frame):
    """rip_output: TOS from IP_TOS, TTL from IP_TTL, DF from IP_DONTFRAG;
    consecutive sends take consecutive IDs (ip_newid)."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_TOS, 0x10)
    s.setsockopt(S.IPPROTO_IP, S.IP_TTL, 33)
    s.setsockopt(S.IPPROTO_IP, S.IP_DONTFRAG, 1)
    s.sendto(PAYLOAD, (PEER, 0))
    s.sendto(PAYLOAD, (PEER, 0))
    f1, f2 = k.transmitted("em0")
    match_frame(f1, _to_peer(tos=0x10, ttl=33, flags="DF", proto=253, id=BOOT_IP_ID))
    match_frame(f2, _to_peer(tos=0x10, ttl=33, flags="DF", proto=253, id=BOOT_IP_ID + 1))


def test_proto0_sends_ip_p_0(k, match_frame):
    """rip_output: a SOCK_RAW protocol-0 socket stores protocol 0 and sends
    with ip_p 0 (dossier 2.1.2)."""
    s = _raw(k, 0)
    s.sendto(PAYLOAD, (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(proto=0, id=BOOT_IP_ID))


def test_bound_source_used(k, match_frame):
    """rip_output: ip_src = the bound address even if another interface is
    used to reach the destination."""
    s = _raw(k)
    s.bind((HOST1, 0))
    s.sendto(PAYLOAD, (PEER, 0))
    (frame,) = k.transmitted("em0")
    expect = (
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src=HOST1, dst=PEER, proto=253, id=BOOT_IP_ID)
        / Raw(PAYLOAD)
    )
    match_frame(frame, expect)


def test_ip_options_inserted(k, match_frame):
    """rip_output / ip_insertoptions: IP_OPTIONS set on the socket appear
    after the kernel-built header (ip_hl 6)."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_OPTIONS, b"\x01\x01\x01\x00")
    s.sendto(PAYLOAD, (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(proto=253, id=BOOT_IP_ID, options=b"\x01\x01\x01\x00"))


def test_connected_send(k, match_frame):
    """rip_send: a connected socket sends to its foreign address."""
    s = _raw(k)
    s.connect((PEER, 0))
    s.send(PAYLOAD)
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(proto=253, id=BOOT_IP_ID))


def test_broadcast_without_so_broadcast(k, match_frame):
    """rip_output: IP_ALLOWBROADCAST is always passed, so a raw socket may
    send to the subnet broadcast address without SO_BROADCAST."""
    s = _raw(k)
    s.sendto(PAYLOAD, (SUBNET_BCAST, 0))
    (frame,) = k.transmitted("em0")
    expect = (
        Ether(src=HOST_MAC, dst=BCAST_MAC)
        / IP(src=HOST, dst=SUBNET_BCAST, proto=253, id=BOOT_IP_ID)
        / Raw(PAYLOAD)
    )
    match_frame(frame, expect)


def test_so_dontroute_ttl_1(k, match_frame):
    """rip_output / ip_output(IP_ROUTETOIF): SO_DONTROUTE forces TTL 1 and
    sends on the directly connected interface."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_DONTROUTE, 1)
    s.sendto(PAYLOAD, (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(proto=253, ttl=1, id=BOOT_IP_ID))


def test_so_dontroute_off_link_enetunreach(k):
    """ip_output(IP_ROUTETOIF): an off-link destination is ENETUNREACH even
    with a default route."""
    k.route_add("default", ROUTER)
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_DONTROUTE, 1)
    assert _oserr(s.sendto, PAYLOAD, (REMOTE, 0)) == errno.ENETUNREACH
    assert k.transmitted("em0") == []


def test_msg_dontroute_per_call(k, match_frame):
    """sosend_generic: MSG_DONTROUTE sets SO_DONTROUTE for one call only."""
    s = _raw(k)
    s.sendto(PAYLOAD, S.MSG_DONTROUTE, (PEER, 0))
    s.sendto(PAYLOAD, (PEER, 0))
    f1, f2 = k.transmitted("em0")
    match_frame(f1, _to_peer(proto=253, ttl=1, id=BOOT_IP_ID))
    match_frame(f2, _to_peer(proto=253, ttl=64, id=BOOT_IP_ID + 1))


def test_no_route_ehostunreach(k, delta):
    """ip_output (netinet/ip_output.c): no route to the destination ->
    ips_noroute, EHOSTUNREACH."""
    s = _raw(k)
    with delta(k) as d:
        assert _oserr(s.sendto, PAYLOAD, (REMOTE, 0)) == errno.EHOSTUNREACH
    assert d == {"ip": {"ips_localout": 1, "ips_noroute": 1}}


def test_loopback_round_trip(k):
    """rip_output -> lo0 -> netisr -> rip_input: a raw packet to ourselves
    comes back after the netisr runs (k.advance(0)); 9.x header rule."""
    rx = _raw(k, 254)
    tx = _raw(k, 254)
    tx.sendto(b"loop", (HOST, 0))
    with pytest.raises(BlockingIOError):
        rx.recv(2048)
    k.advance(0)
    data, src = rx.recvfrom(2048)
    assert src == (HOST, 0)
    assert data[2:4] == (4).to_bytes(2, "little")
    assert data[9] == 254 and data[20:] == b"loop"


# -- IP_HDRINCL --------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["9.0", "9.3", "10.0"])
def test_hdrincl_g23(profile, match_frame, delta):
    """rip_output (IP_HDRINCL) / ip_output(IP_RAWOUTPUT), G2.3: ip_len host
    order (9.x, 10.x); ip_id 0 -> next counter value; ip_src 0 -> egress
    address; checksum recomputed; TTL kept; ips_rawout, not ips_localout."""
    k = host(profile)
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    with delta(k) as d:
        assert s.sendto(_hdrincl(28), (PEER, 0)) == 28
    assert d == {"ip": {"ips_rawout": 1}}
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(ttl=33, proto=253, id=BOOT_IP_ID))


def test_hdrincl_network_order_einval_9x(k):
    """rip_output (IP_HDRINCL), G2.2: on 9.x amd64 ip_len is read in host
    order, so htons(28) reads as 7168 > 28 bytes written -> EINVAL."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    assert _oserr(s.sendto, _hdrincl(28, order="big"), (PEER, 0)) == errno.EINVAL


def test_hdrincl_11_network_order(match_frame):
    """rip_output (IP_HDRINCL), FreeBSD 11.0: ip_len / ip_off are expected in
    network order (ntohs(ip_len) checked); DF given in network order."""
    k = host("11.0")
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.sendto(_hdrincl(28, order="big", ip_off=0x4000), (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(ttl=33, proto=253, id=BOOT_IP_ID, flags="DF"))


def test_hdrincl_11_host_order_einval():
    """rip_output (IP_HDRINCL), FreeBSD 11.0: a little-endian ip_len (the
    9.x/10.x convention) reads as 7168 > 28 -> EINVAL."""
    k = host("11.0")
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    assert _oserr(s.sendto, _hdrincl(28, order="little"), (PEER, 0)) == errno.EINVAL


def test_hdrincl_big_endian_host(match_frame):
    """rip_output (IP_HDRINCL) on a big-endian 9.0 machine: host order is
    network order, so a big-endian ip_len is accepted."""
    import kstack

    k = host(k=kstack.Kernel(profile="9.0", seed=0, options={"BIG_ENDIAN"}))
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.sendto(_hdrincl(28, order="big"), (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(ttl=33, proto=253, id=BOOT_IP_ID))


def test_hdrincl_host_order_ip_off_df(k, match_frame):
    """rip_output (IP_HDRINCL), 9.x: ip_off in host order; DF (0x4000) goes
    out as DF on the wire."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.sendto(_hdrincl(28, ip_off=0x4000), (PEER, 0))
    (frame,) = k.transmitted("em0")
    match_frame(frame, _to_peer(ttl=33, proto=253, id=BOOT_IP_ID, flags="DF"))


def test_hdrincl_keeps_nonzero_id_and_source(k, match_frame):
    """rip_output (IP_HDRINCL): a non-zero ip_id and a given ip_src are kept
    (ip_output with IP_RAWOUTPUT does not rewrite them)."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.sendto(_hdrincl(28, ip_id=0x4242, src="192.0.2.77"), (PEER, 0))
    (frame,) = k.transmitted("em0")
    expect = (
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src="192.0.2.77", dst=PEER, ttl=33, proto=253, id=0x4242)
        / Raw(PAYLOAD)
    )
    match_frame(frame, expect)


def test_hdrincl_multicast_ttl_override(k, match_frame):
    """ip_output (IP_RAWOUTPUT), G2.4: a multicast destination gets the
    socket's multicast TTL (default 1) even with IP_HDRINCL."""
    k.route_add("default", ROUTER)
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.sendto(_hdrincl(28, dst="239.1.1.1"), ("239.1.1.1", 0))
    (frame,) = k.transmitted("em0")
    expect = (
        Ether(src=HOST_MAC, dst="01:00:5e:01:01:01")
        / ScapyIP(src=HOST, dst="239.1.1.1", ttl=1, proto=253, id=BOOT_IP_ID)
        / Raw(PAYLOAD)
    )
    match_frame(frame, expect)


def test_hdrincl_multicast_ttl_option(k, match_frame):
    """ip_output (IP_RAWOUTPUT): IP_MULTICAST_TTL replaces the user's TTL for
    multicast destinations."""
    k.route_add("default", ROUTER)
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    s.setsockopt(S.IPPROTO_IP, S.IP_MULTICAST_TTL, 7)
    s.sendto(_hdrincl(28, dst="239.1.1.1"), ("239.1.1.1", 0))
    (frame,) = k.transmitted("em0")
    expect = (
        Ether(src=HOST_MAC, dst="01:00:5e:01:01:01")
        / ScapyIP(src=HOST, dst="239.1.1.1", ttl=7, proto=253, id=BOOT_IP_ID)
        / Raw(PAYLOAD)
    )
    match_frame(frame, expect)


def test_hdrincl_ip_len_shorter_than_write_accepted(k):
    """rip_output (IP_HDRINCL): ip_len smaller than the bytes written is
    accepted (only ip_len > written is EINVAL); the datagram goes out with
    the user's ip_len (trailing bytes: dossier 2.4.3, not asserted)."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    assert s.sendto(_hdrincl(24), (PEER, 0)) == 28
    (frame,) = k.transmitted("em0")
    assert frame[14 + 2 : 14 + 4] == (24).to_bytes(2, "big")


def test_hdrincl_ip_len_too_big_einval(k):
    """rip_output (IP_HDRINCL): ip_len > bytes written -> EINVAL."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    assert _oserr(s.sendto, _hdrincl(29), (PEER, 0)) == errno.EINVAL


def test_hdrincl_ip_len_below_header_einval(k):
    """rip_output (IP_HDRINCL): ip_len < ip_hl*4 -> EINVAL."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    assert _oserr(s.sendto, _hdrincl(19), (PEER, 0)) == errno.EINVAL


def test_hdrincl_options_and_ip_options_einval(k):
    """rip_output (IP_HDRINCL): ip_hl != 5 while the socket has IP_OPTIONS
    set -> EINVAL; without IP_OPTIONS the same header is sent."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    pkt = _hdrincl(32, ihl=6)
    assert s.sendto(pkt, (PEER, 0)) == 32
    assert len(k.transmitted("em0")) == 1
    s.setsockopt(S.IPPROTO_IP, S.IP_OPTIONS, b"\x01\x01\x01\x00")
    assert _oserr(s.sendto, pkt, (PEER, 0)) == errno.EINVAL


def test_hdrincl_too_big_emsgsize(k):
    """rip_output (IP_HDRINCL): more than IP_MAXPACKET (65535) bytes written
    -> EMSGSIZE (SO_SNDBUF raised so sosend lets it through)."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 70000)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    pkt = _hdrincl(65535, payload=bytes(65516))
    assert _oserr(s.sendto, pkt, (PEER, 0)) == errno.EMSGSIZE


def test_hdrincl_df_too_big_emsgsize(k):
    """ip_output (IP_RAWOUTPUT): DF set and ip_len > MTU -> EMSGSIZE."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    pkt = _hdrincl(1520, ip_off=0x4000, payload=bytes(1500))
    assert _oserr(s.sendto, pkt, (PEER, 0)) == errno.EMSGSIZE


# -- sizes -------------------------------------------------------------------------


def test_payload_plus_header_over_65535_emsgsize(k):
    """rip_output: without HDRINCL, payload + 20 > 65535 -> EMSGSIZE
    (SO_SNDBUF raised so sosend_generic lets it through)."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 70000)
    assert _oserr(s.sendto, bytes(65516), (PEER, 0)) == errno.EMSGSIZE


def test_sosend_above_sndbuf_emsgsize(k):
    """sosend_generic (kern/uipc_socket.c): an atomic send larger than
    so_snd.sb_hiwat (9216, net.inet.raw.maxdgram) -> EMSGSIZE; 9216 passes
    (fragmented on em0)."""
    s = _raw(k)
    assert _oserr(s.sendto, bytes(9217), (PEER, 0)) == errno.EMSGSIZE
    assert k.transmitted("em0") == []
    assert s.sendto(bytes(9216), (PEER, 0)) == 9216
    assert len(k.transmitted("em0")) == 7  # 9236 bytes, 1480 per fragment


# -- user requests: errors ---------------------------------------------------------


def test_sendto_on_connected_eisconn(k):
    """rip_send: connected socket given an address -> EISCONN."""
    s = _raw(k)
    s.connect((PEER, 0))
    assert _oserr(s.sendto, PAYLOAD, (PEER, 0)) == errno.EISCONN


def test_send_unconnected_edestaddrreq(k):
    """sosend_generic (kern/uipc_socket.c), Errata 1: send(2) on an
    unconnected raw socket -> EDESTADDRREQ (not rip_send's ENOTCONN)."""
    s = _raw(k)
    assert _oserr(s.send, PAYLOAD) == errno.EDESTADDRREQ


def test_bind_nonlocal_eaddrnotavail(k):
    """rip_bind: a non-local address without IP_BINDANY -> EADDRNOTAVAIL."""
    s = _raw(k)
    assert _oserr(s.bind, (PEER, 0)) == errno.EADDRNOTAVAIL


def test_bind_nonlocal_with_bindany(k):
    """rip_bind: IP_BINDANY allows a non-local address."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_BINDANY, 1)
    s.bind((PEER, 0))
    assert s.getsockname() == (PEER, 0)


def test_bind_bad_sa_len_einval(k):
    """rip_bind: sa_len != sizeof(struct sockaddr_in) -> EINVAL."""
    s = _raw(k)
    sa = bytes((8, S.AF_INET, 0, 0, 192, 0, 2, 1))
    assert _oserr(s.bind, sa) == errno.EINVAL


def test_bind_bad_family_eaddrnotavail(k):
    """rip_bind: family neither AF_INET nor AF_IMPLINK -> EADDRNOTAVAIL."""
    s = _raw(k)
    sa = bytes((16, S.AF_UNIX, 0, 0, 192, 0, 2, 1)) + bytes(8)
    assert _oserr(s.bind, sa) == errno.EADDRNOTAVAIL


def test_rebind_allowed_port_ignored(k):
    """rip_bind: no "already bound" check; the port is ignored."""
    s = _raw(k)
    s.bind((HOST, 1234))
    assert s.getsockname() == (HOST, 0)
    s.bind((HOST1, 0))
    assert s.getsockname() == (HOST1, 0)


def test_connect_bad_family_eafnosupport(k):
    """rip_connect: family not AF_INET/AF_IMPLINK -> EAFNOSUPPORT."""
    s = _raw(k)
    sa = bytes((16, S.AF_UNIX, 0, 0, 192, 0, 2, 7)) + bytes(8)
    assert _oserr(s.connect, sa) == errno.EAFNOSUPPORT


def test_connect_bad_sa_len_einval(k):
    """rip_connect: sa_len != 16 -> EINVAL."""
    s = _raw(k)
    sa = bytes((8, S.AF_INET, 0, 0, 192, 0, 2, 7))
    assert _oserr(s.connect, sa) == errno.EINVAL


def test_failed_reconnect_leaves_unconnected(k):
    """soconnect / rip_disconnect: reconnecting disconnects first; a failing
    connect (AF_UNSPEC -> EAFNOSUPPORT) leaves the socket unconnected:
    getpeername is ENOTCONN and send(2) is EDESTADDRREQ."""
    s = _raw(k)
    s.connect((PEER, 0))
    assert s.getpeername() == (PEER, 0)
    sa = bytes((16, S.AF_UNSPEC)) + bytes(14)
    assert _oserr(s.connect, sa) == errno.EAFNOSUPPORT
    assert _oserr(s.getpeername) == errno.ENOTCONN
    assert _oserr(s.send, PAYLOAD) == errno.EDESTADDRREQ


def test_connect_any_allowed(k):
    """rip_connect: INADDR_ANY is accepted as the foreign address (no
    substitution)."""
    s = _raw(k)
    s.connect(("0.0.0.0", 0))
    assert s.getpeername() == ("0.0.0.0", 0)


def test_unprivileged_eperm(k):
    """rip_attach: priv_check(PRIV_NETINET_RAW) -> EPERM for a non-root
    credential, checked before the protocol range."""
    assert _oserr(_raw, k, 253, 1) == errno.EPERM
    assert _oserr(_raw, k, 256, 1) == errno.EPERM


def test_protocol_256_eprotonosupport(k):
    """rip_attach: protocol >= IPPROTO_MAX (256) -> EPROTONOSUPPORT."""
    assert _oserr(_raw, k, 256) == errno.EPROTONOSUPPORT
    assert _oserr(_raw, k, -1) == errno.EPROTONOSUPPORT
