"""ICMP needfrag sent while forwarding (ip_forward on EMSGSIZE from
ip_output, netinet/ip_input.c) and the route/interface MTU it reports."""

from __future__ import annotations

import kstack
from kstack.testing import ROUTER

from .helpers import (
    BEYOND,
    ERR_DELTA,
    FAR,
    FAR_GW,
    FAR_GW_MAC,
    datagram,
    forwarded,
    frame0,
    needfrag,
    router,
)


def test_interface_mtu(delta, match_frame):
    """ip_forward: a 1500-byte DF datagram for em1 (MTU 1400) -> ip_output
    EMSGSIZE (ips_cantfrag) -> ICMP 3/4 with the egress interface MTU;
    ips_cantforward+1, ips_cantfrag+1 again; nothing leaves em1."""
    k = router()
    k.ifconfig("em1", mtu=1400)
    pkt = datagram(1500)
    with delta(k) as d:
        out = k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    assert (out.kind, out.reason) == ("dropped", "ips_cantforward")
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, 1400))
    assert k.transmitted("em1") == []


def test_route_mtu_below_interface_mtu(delta, match_frame):
    """ip_forward, PR kern/122338: the route ip_output used has rmx_mtu 1280
    on a 1500-byte link; the needfrag reports min(route MTU, interface MTU
    of ia) = 1280."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280)
    pkt = datagram(1400, dst=BEYOND)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, 1280))


def test_route_mtu_above_interface_mtu_is_lowered(delta, match_frame):
    """ip_output: a route whose rmx_mtu (9000) exceeds the interface MTU is
    lowered to it for good when used; the needfrag reports 1500."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=9000)
    assert k.route_get(BEYOND).mtu == 9000
    pkt = datagram(1600, dst=BEYOND)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    match_frame(k.transmitted("em0")[0], needfrag(pkt, 1500))
    assert k.route_get(BEYOND).mtu == 1500


def test_interface_mtu_lowered_after_route_creation(match_frame):
    """in_addroute gave the route the interface MTU (1500) when it was made;
    the interface then goes to 1300: ip_output lowers the route to 1300 on
    its next use, and that is what the needfrag says."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW)
    assert k.route_get(BEYOND).mtu == 1500
    k.ifconfig("em1", mtu=1300)
    pkt = datagram(1400, dst=BEYOND)
    k.input("em0", frame0(pkt))
    match_frame(k.transmitted("em0")[0], needfrag(pkt, 1300))
    assert k.route_get(BEYOND).mtu == 1300


def test_fits_the_route_mtu(delta, match_frame):
    """ip_output: ip_len == mtu is sent whole (only ip_len > mtu needs
    fragmenting); TTL - 1, ID kept, header checksum redone."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280)
    pkt = datagram(1280, dst=BEYOND)
    with delta(k) as d:
        out = k.input("em0", frame0(pkt))
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    assert out.kind == "forwarded"
    (fr,) = k.transmitted("em1")
    match_frame(fr, forwarded(pkt, FAR_GW_MAC))


def test_without_df_the_packet_is_fragmented(delta):
    """ip_output -> ip_fragment for a forwarded datagram without DF: data per
    fragment (1280 - 20) & ~7 = 1256 bytes; the first keeps the ID, gets MF;
    the second carries the rest at offset 1256/8 = 157 without MF; TTL - 1
    in both; ips_fragmented+1, ips_ofragments+2, ips_forward+1."""
    import struct

    from kstack.netinet.ip import in_cksum

    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280)
    pkt = datagram(1500, dst=BEYOND, df=False)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1, "ips_fragmented": 1, "ips_ofragments": 2}}
    f1, f2 = k.transmitted("em1")
    payload = pkt[20:]
    for fr, off, mf, piece in ((f1, 0, 1, payload[:1256]), (f2, 157, 0, payload[1256:])):
        ip = bytearray(pkt[:20])
        ip[8] -= 1
        struct.pack_into("!H", ip, 2, 20 + len(piece))
        struct.pack_into("!H", ip, 6, (mf << 13) | off)
        ip[10:12] = b"\0\0"
        struct.pack_into("!H", ip, 10, in_cksum(ip))
        assert fr[14:] == bytes(ip) + piece
        assert fr[:6] == bytes.fromhex(FAR_GW_MAC.replace(":", ""))
    assert len(f1) - 14 == 1276 and len(f2) - 14 == 244


def test_quote_limited_to_one_mbuf(match_frame):
    """ip_forward keeps at most one packet-header mbuf (MHLEN, 168 bytes on
    amd64) of the packet for later errors, and icmp_error quotes no more
    than that copy holds: with net.inet.icmp.quotelen 1000 the needfrag
    quotes 168 bytes."""
    k = router()
    k.ifconfig("em1", mtu=1400)
    k.sysctl("net.inet.icmp.quotelen", 1000)
    pkt = datagram(1500)
    k.input("em0", frame0(pkt))
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, 1400, quote=168))


def test_time_exceeded_quote_not_limited(match_frame):
    """The TTL check runs before the copy is taken: icmp_error gets the whole
    packet and quotes header + min(quotelen, payload) = 20 + 1000 bytes."""
    from .helpers import ICMP, IP, Ether, Raw

    k = router()
    k.sysctl("net.inet.icmp.quotelen", 1000)
    pkt = datagram(1500, ttl=1)
    k.input("em0", frame0(pkt))
    (err,) = k.transmitted("em0")
    from kstack.testing import BOOT_IP_ID, HOST, HOST_MAC, PEER, PEER_MAC

    want = (
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, ttl=64, proto=1, flags=2)
        / ICMP(type=11, code=0)
        / Raw(pkt[:1020])
    )
    match_frame(err, want)


def test_outer_df_copied_in_9_0_cleared_in_9_3(match_frame):
    """icmp_error: 9.0 builds the error's header from the offending one and
    keeps its ip_off (DF stays set); 9.3 clears ip_off (r264222 era)."""
    for profile, flags in (("9.0", 2), ("9.3", 0)):
        k = router(profile)
        k.ifconfig("em1", mtu=1400)
        pkt = datagram(1500)
        k.input("em0", frame0(pkt))
        (err,) = k.transmitted("em0")
        assert err[14 + 6] >> 5 == flags, profile
        match_frame(err, needfrag(pkt, 1400), {"ip.off", "ip.sum"})


def test_no_error_for_a_later_fragment(delta):
    """icmp_error: a packet with offset bits set (a later fragment, DF set
    too) gets no error; icps_error still counts the call."""
    k = router()
    k.ifconfig("em1", mtu=1400)
    pkt = bytearray(datagram(1500))
    pkt[6:8] = (0x4000 | 100).to_bytes(2, "big")
    from kstack.netinet.ip import in_cksum

    pkt[10:12] = b"\0\0"
    pkt[10:12] = in_cksum(bytes(pkt[:20])).to_bytes(2, "big")
    with delta(k) as d:
        k.input("em0", frame0(bytes(pkt)))
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_cantfrag": 2},
        "icmp": {"icps_error": 1},
    }
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


def test_no_redirect_when_the_packet_is_too_big(delta, match_frame):
    """ip_forward: the route leaves by the receiving interface towards a
    sender on that subnet, so a redirect is pending; ip_output fails with
    EMSGSIZE and only the needfrag goes out (ips_redirectsent stays)."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", ROUTER)
    k.ifconfig("em0", mtu=1400)
    pkt = datagram(1500, dst=BEYOND)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, 1400))


def test_fib_of_the_route(match_frame):
    """ip_forward looks up routes in the packet's FIB (M_GETFIB): em0 in FIB
    1 with a route of MTU 1280 there; FIB 0's route has 1500."""
    k = router(k=kstack.Kernel(fibs=2))
    k.ifconfig("em0", fib=1)
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1500)
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280, fib=1)
    pkt = datagram(1400, dst=BEYOND)
    k.input("em0", frame0(pkt))
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, 1280))
    assert FAR  # the direct route to FAR exists in both FIBs (add_addr_allfibs)
