"""Which routing table (FIB) a packet is routed by, FreeBSD 9.0: the
process FIB (setfib(2)), the socket FIB (SO_SETFIB), a jail's processes'
FIB and the FIB of the interface a packet arrived on (dossier section 7;
seed 001:233, multiple FIBs, r178888; interface FIBs r223735, July 2011,
in 9.0)."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.route.helpers import FAR_HOST, FAR_NET, err, fib_host, udp, udp_frame
from kstack import sock
from kstack.testing import (
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    ICMP,
    IP,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Ether,
    Raw,
    ip_bytes,
)

A2 = "192.0.2.2"


def test_socket_keeps_the_process_fib_it_was_created_with(delta, match_frame):
    """kern/uipc_socket.c socreate: so_fibnum is the process FIB
    (net/route.c sys_setfib) when the socket is made; a later setfib does
    not move it. The route to 203.0.113/24 is only in FIB 1 (seed 001:233:
    the send fails in FIB 0 and goes out from the FIB 1 socket)."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=1)
    k.setfib(1)
    s1 = udp(k, 5001)
    k.setfib(0)
    s0 = udp(k, 5000)
    with delta(k) as d:
        assert err(s0.sendto, b"x", (FAR_HOST, 9)) == errno.ENETUNREACH
        assert s1.sendto(b"x", (FAR_HOST, 9)) == 1
    assert d == {"ip": {"ips_localout": 1}, "udp": {"udps_opackets": 1}}
    (f,) = k.transmitted("em0")
    match_frame(f, udp_frame(FAR_HOST, ROUTER_MAC, sport=5001))


def test_so_setfib_needs_no_privilege(match_frame):
    """kern/uipc_socket.c sosetopt SO_SETFIB: no privilege check; an
    unprivileged socket moves to FIB 1 and udp_ctloutput copies the FIB
    into the pcb that ip_output stamps on the packet (M_SETFIB)."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=1)
    s = udp(k, 5000, uid=1000)
    assert err(s.sendto, b"x", (FAR_HOST, 9)) == errno.ENETUNREACH
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    s.sendto(b"x", (FAR_HOST, 9))
    (f,) = k.transmitted("em0")
    match_frame(f, udp_frame(FAR_HOST, ROUTER_MAC))


def test_so_setfib_on_a_raw_socket(match_frame):
    """netinet/raw_ip.c rip_ctloutput: SO_SETFIB passed down by sosetopt
    sets inp_inc.inc_fibnum; rip_output's ip_output routes by it."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=1)
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    assert err(r.sendto, b"raw!", (FAR_HOST, 0)) == errno.EHOSTUNREACH
    r.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    assert r.sendto(b"raw!", (FAR_HOST, 0)) == 4
    (f,) = k.transmitted("em0")
    want = (
        Ether(src="02:00:00:00:00:01", dst=ROUTER_MAC)
        / IP(src=HOST, dst=FAR_HOST, id=BOOT_IP_ID + 1, ttl=64, proto=253)
        / Raw(b"raw!")
    )
    match_frame(f, want)


@pytest.mark.parametrize("value", [-1, 3, 16, 0x7FFFFFFF])
def test_so_setfib_out_of_range_keeps_the_socket_fib(value, match_frame):
    """kern/uipc_socket.c sosetopt SO_SETFIB: optval < 0 or beyond the
    tables -> EINVAL before anything changes: the socket stays in FIB 1.
    (optval == net.fibs itself is left out: 9.0's check was one off and
    let it through, fixed in 2012.)"""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=1)
    s = udp(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    assert err(s.setsockopt, sock.SOL_SOCKET, sock.SO_SETFIB, value) == errno.EINVAL
    s.sendto(b"x", (FAR_HOST, 9))
    (f,) = k.transmitted("em0")
    match_frame(f, udp_frame(FAR_HOST, ROUTER_MAC))


def test_setfib_and_net_my_fibnum():
    """net/route.c sys_setfib and sysctl_my_fibnum: with 16 tables FIB 15
    is accepted and net.my_fibnum reads it back; 16 and -1 -> EINVAL and
    nothing changes; net.my_fibnum is read-only (EPERM)."""
    k = kstack.Kernel(seed=0, tunables={"net.fibs": 16})
    assert k.sysctl("net.my_fibnum") == 0
    k.setfib(15)
    assert k.sysctl("net.my_fibnum") == 15
    assert err(k.setfib, 16) == errno.EINVAL
    assert err(k.setfib, -1) == errno.EINVAL
    assert k.sysctl("net.my_fibnum") == 15
    assert err(k.sysctl, "net.my_fibnum", 0) == errno.EPERM
    with pytest.raises(TypeError):
        k.setfib("1")  # type: ignore[arg-type]


def test_jail_process_fib_and_its_setfib():
    """net/route.c sys_setfib (no privilege check) run by a jail's
    processes: the jail starts in the FIB of the process that made it
    (net.my_fibnum reads it inside), a setfib there changes the FIB of
    sockets made later, sockets already open keep theirs (socreate)."""
    k = fib_host()
    k.ifconfig("em0", f"{A2}/32", alias=True)
    k.route_add(FAR_NET, ROUTER, fib=1)
    k.transmitted("em0")
    k.setfib(1)
    j = k.jail("j", ip4=[A2])
    k.setfib(0)
    assert (j.sysctl("net.my_fibnum"), k.sysctl("net.my_fibnum")) == (1, 0)
    before = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    j.setfib(0)
    assert j.sysctl("net.my_fibnum") == 0
    after = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert err(after.sendto, b"x", (FAR_HOST, 9)) == errno.ENETUNREACH
    before.sendto(b"x", (FAR_HOST, 9))
    (f,) = k.transmitted("em0")
    assert IP(ip_bytes(Ether(f))).src == A2
    assert err(j.setfib, 2) == errno.EINVAL


def test_vnet_jail_routes_go_to_its_fib():
    """net/rtsock.c route_output: route(8) run in a jail adds to the FIB of
    its routing socket (so_fibnum: the process FIB), here FIB 1 of the
    jail's own stack; route get there looks in FIB 1 too."""
    k = kstack.Kernel(seed=0, fibs=2)
    k.setfib(1)
    v = k.jail("v", vnet=True)
    k.setfib(0)
    a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.0.0.2/24")
    v.route_add("default", "10.0.0.1")
    assert v.vnet.route_get("203.0.113.1", fib=0) is None
    info = v.route_get("203.0.113.1")
    assert (info.prefix, info.gateway, info.ifname) == ("0.0.0.0/0", "10.0.0.1", b)
    assert v.vnet.route_get("203.0.113.1", fib=1) == info


def _echo_from_afar(dst: str, mac_dst: str, mac_src: str) -> bytes:
    return bytes(
        Ether(src=mac_src, dst=mac_dst)
        / IP(src=FAR_HOST, dst=dst, id=7, ttl=60)
        / ICMP(type=8, id=0x1234, seq=1)
        / Raw(b"ping")
    )


def test_interface_fib_routes_the_echo_reply(delta, match_frame):
    """net/if_ethersubr.c ether_input stamps ifp->if_fib on each received
    packet (ifconfig em1 fib 1, net/if.c SIOCSIFFIB, r223735); the echo
    reply reuses the mbuf and icmp_reflect/ip_output route it by FIB 1,
    where the only default route is (dossier G7.2). The same request on
    em0 (FIB 0) gets no answer: ip_output finds no route back in FIB 0
    (ips_noroute, EHOSTUNREACH)."""
    k = fib_host()
    k.arp_add(FAR, FAR_MAC)
    k.route_add("default", FAR, fib=1)
    k.ifconfig("em1", fib=1)
    assert k.iface("em1").fib == 1
    with delta(k) as d:
        k.input("em1", _echo_from_afar(HOST1, HOST1_MAC, FAR_MAC))
    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST1, dst=FAR_HOST, id=BOOT_IP_ID, ttl=64)
        / ICMP(type=0, id=0x1234, seq=1)
        / Raw(b"ping")
    )
    (f,) = k.transmitted("em1")
    match_frame(f, want)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
    }
    with delta(k) as d0:
        k.input("em0", _echo_from_afar(HOST, "02:00:00:00:00:01", ROUTER_MAC))
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []
    assert d0 == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1, "ips_noroute": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
    }


def test_interface_fib_routes_forwarded_packets(delta, match_frame):
    """netinet/ip_input.c ip_forward: the next hop is looked up in the
    packet's FIB (ip_rtaddr(dst, M_GETFIB(m))), set by ether_input from the
    receiving interface; with em1 in FIB 1 the packet takes FIB 1's route
    to 203.0.113/24 via the router on em0, TTL one less."""
    k = fib_host()
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add(FAR_NET, ROUTER, fib=1)
    k.ifconfig("em1", fib=1)
    pkt = (
        Ether(src=FAR_MAC, dst=HOST1_MAC)
        / IP(src=FAR, dst=FAR_HOST, id=0x77, ttl=9)
        / UDP(sport=4000, dport=9)
        / Raw(b"fwd")
    )
    with delta(k) as d:
        k.input("em1", bytes(pkt))
    (f,) = k.transmitted("em0")
    fwd = Ether(src="02:00:00:00:00:01", dst=ROUTER_MAC) / IP(bytes(pkt[IP]))
    fwd[IP].ttl = 8
    fwd[IP].chksum = None
    match_frame(f, fwd)
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}


def test_icmp_error_uses_the_fib_of_the_packet(match_frame):
    """netinet/ip_icmp.c icmp_error: the error takes the FIB of the packet
    it answers (M_SETFIB(m, M_GETFIB(n))), so a port unreachable for a
    datagram that came in on em1 (FIB 1) from off-link goes back by FIB
    1's default route."""
    k = fib_host()
    k.arp_add(FAR, FAR_MAC)
    k.route_add("default", FAR, fib=1)
    k.ifconfig("em1", fib=1)
    req = (
        Ether(src=FAR_MAC, dst=HOST1_MAC)
        / IP(src=FAR_HOST, dst=HOST1, id=0x4242, ttl=50)
        / UDP(sport=4000, dport=5999)
        / Raw(b"closed")
    )
    k.input("em1", bytes(req))
    (f,) = k.transmitted("em1")
    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST1, dst=FAR_HOST, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(f, want)


def test_own_address_in_fib1_loops_back_on_em0():
    """net/if.c ifa_add_loopback_route adds the lo0 route of an address to
    FIB 0 only (rtrequest1_fib(..., 0)); in FIB 1 the address is reached by
    em0's prefix route, ether_output finds its own address and loops the
    packet back on em0 (if_simloop). IP_RECVIF shows em0 (index 2) for a
    FIB 1 sender and lo0 (index 1) for a FIB 0 sender."""
    k = fib_host()
    rx = udp(k, 7000)
    rx.setsockopt(sock.IPPROTO_IP, sock.IP_RECVIF, 1)
    for fib, ifindex in ((1, 2), (0, 1)):
        tx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        tx.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, fib)
        tx.sendto(b"me", (HOST, 7000))
        k.advance(0)
        data, anc, _flags, src = rx.recvmsg(100, 256)
        assert (data, src[0]) == (b"me", HOST)
        ((level, kind, sdl),) = anc
        assert (level, kind) == (sock.IPPROTO_IP, sock.IP_RECVIF)
        assert int.from_bytes(sdl[2:4], "little") == ifindex
    assert k.transmitted("em0") == []
    assert k.route_get(HOST, fib=1).ifname == "em0"
    assert k.route_get(HOST, fib=0).ifname == "lo0"


@pytest.mark.parametrize(
    ("kw", "tables"),
    [
        ({"fibs": 1}, 1),
        ({"fibs": 0}, 1),
        ({"fibs": 4}, 4),
        ({"fibs": 17}, 16),
        ({"tunables": {"net.fibs": 4}}, 4),
        ({"tunables": {"net.fibs": "8"}}, 8),
        ({"fibs": 3, "tunables": {"net.fibs": 2}}, 2),
    ],
    ids=repr,
)
def test_net_fibs_boot_tunable(kw, tables):
    """net/route.c route_init: the net.fibs tunable (Kernel(fibs=) or a
    loader tunable; the tunable wins) is forced into 1..RT_MAXFIBS (16),
    and that many tables exist: the last one is usable, the next one is
    EINVAL. net.fibs is read-only once booted (EPERM)."""
    k = kstack.Kernel(seed=0, **kw)
    assert k.sysctl("net.fibs") == tables
    assert k.routes(fib=tables - 1) != []
    assert err(k.routes, fib=tables) == errno.EINVAL
    k.setfib(tables - 1)
    assert err(k.sysctl, "net.fibs", 2) == errno.EPERM
    assert k.sysctl("net.fibs") == tables


@pytest.mark.parametrize(
    ("kw", "exc"),
    [({"fibs": -1}, OSError), ({"fibs": "2"}, TypeError), ({"fibs": True}, TypeError)],
    ids=repr,
)
def test_net_fibs_bad_boot_value(kw, exc):
    """A negative net.fibs is no u_int (EINVAL, as for the tunable); a
    number of FIBs that is not an int is a TypeError."""
    with pytest.raises(exc) as ei:
        kstack.Kernel(seed=0, **kw)
    if exc is OSError:
        assert ei.value.errno == errno.EINVAL
