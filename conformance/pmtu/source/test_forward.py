"""ip_forward(): what is forwarded, and the errors it answers with.

Line numbers: FreeBSD 9.1 sys/netinet/ip_input.c unless noted; ip_forward
is the same in the Feb 2011 head.
"""

import pytest

from .common import (
    FAR,
    IP,
    LOCAL0,
    PEER,
    PEER1,
    PEER1_MAC,
    PEER_MAC,
    UDP,
    Counters,
    assert_frame,
    cksum,
    ether,
    icmp_error_frame,
    inject,
    ipv4,
    make_kernel,
)


def datagram(dst, ttl=64, src=PEER, size=60, **kw):
    p = IP(src=src, dst=dst, ttl=ttl, id=0x4242, **kw) / UDP(sport=40000, dport=9)
    return bytes(p / (b"d" * (size - 28)))


def decremented(d):
    """The datagram as forwarded: TTL - 1, header checksum recomputed."""
    hl = (d[0] & 0x0F) * 4
    h = bytearray(d[:hl])
    h[8] -= 1
    h[10:12] = b"\x00\x00"
    h[10:12] = cksum(bytes(h)).to_bytes(2, "big")
    return bytes(h) + d[hl:]


def test_forwarded_datagram_exact_bytes(router):
    """ip_forward 1365-1510: TTL decremented by one (1440), ip_output with
    IP_FORWARDING keeps the rest of the header (ip_output 187-195, 605-611:
    checksum recomputed); out em1 to the neighbour's MAC; ips_forward."""
    d = datagram(PEER1, tos=0x10)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(f, ether(PEER1_MAC, router.iface("em1").ether, decremented(d)))
    assert router.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


@pytest.mark.parametrize("ttl", [0, 1])
def test_ttl_expired_gets_time_exceeded(router, ttl):
    """ip_forward 1382-1386: ip_ttl <= IPTTLDEC -> icmp_error(TIMXCEED,
    INTRANS) on the packet itself, before any route lookup; the quote is the
    received header (TTL as received) + 8 bytes (ip_icmp.c icmp_error
    246-248, 294-297); source from icmp_reflect's route back (ip_icmp.c
    758-768); no ips_cantforward."""
    d = datagram(PEER1, ttl=ttl)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[:28]))
    assert router.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[11]": 1,
    }


def test_ttl_two_is_forwarded_with_ttl_one(router):
    """ip_forward 1382: only TTL <= 1 is refused; TTL 2 leaves with TTL 1."""
    d = datagram(PEER1, ttl=2)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert f[14 + 8] == 1
    assert_frame(f, ether(PEER1_MAC, router.iface("em1").ether, decremented(d)))


def test_no_route_is_host_unreachable(router):
    """ip_forward 1391-1402: no route (ip_rtaddr 1319-1338 returns NULL) and
    not source routed -> icmp_error(UNREACH, UNREACH_HOST) at once: code 1
    (not net), neither ips_cantforward nor ips_noroute."""
    d = datagram(FAR)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 1, d[:28]))
    assert c.delta() == {
        "ips_total": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


@pytest.mark.parametrize("dst", ["0.1.2.3", "240.0.0.1", "255.255.255.254", "169.254.1.1"])
def test_unforwardable_destination_is_dropped_silently(router, dst):
    """ip_forward 1374-1378: in_canforward (in.c 138-151) refuses 0/8 and
    240/4 before the TTL test, so even TTL 1 draws no ICMP; 169.254/16 is
    refused earlier by ip_input 637-641. ips_cantforward either way."""
    router.route_add("default", "192.0.2.254")
    c = Counters(router)
    inject(router, "em0", PEER_MAC, datagram(dst, ttl=1))
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_link_broadcast_frame_is_not_forwarded(router):
    """ip_forward 1374-1378: a frame received as link-level broadcast
    (M_BCAST) is not forwarded, even with TTL 1: no ICMP."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, datagram(PEER1, ttl=1), dst_mac="ff:ff:ff:ff:ff:ff")
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_directed_broadcast_is_not_forwarded(router):
    """ip_forward 1494 calls ip_output with IP_FORWARDING only; for em1's
    broadcast address ip_output 460-467 returns EACCES (no
    IP_ALLOWBROADCAST), and ip_forward 1502 + 1586-1590 drops it silently
    after counting ips_cantforward."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, datagram("198.51.100.255"))
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_forwarding_off_drops_without_icmp():
    """ip_input 694-697: with net.inet.ip.forwarding=0 a datagram not for us
    is counted in ips_cantforward and dropped; ip_forward never runs, so
    TTL 1 draws no time exceeded."""
    k = make_kernel(forwarding=False)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, datagram(PEER1, ttl=1))
    assert k.transmitted("em0") == []
    assert k.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_blackhole_route_counts_as_forwarded(router):
    """if_loop.c looutput 235-239 frees a packet for an RTF_BLACKHOLE route
    and returns 0, so ip_forward 1501-1508 counts ips_forward and sends
    nothing."""
    router.route_add("203.0.113.0/24", "127.0.0.1", blackhole=True)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, datagram(FAR))
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_reject_route_is_host_unreachable(router):
    """if_loop.c looutput 235-239: an RTF_REJECT network route returns
    ENETUNREACH; ip_forward 1502 counts ips_cantforward and 1526-1534 maps
    every such error to ICMP unreachable *host* (code 1)."""
    router.route_add("203.0.113.0/24", "127.0.0.1", reject=True)
    d = datagram(FAR)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 1, d[:28]))
    assert c.delta() == {
        "ips_total": 1,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_forwarded_datagram_keeps_df_and_options(router):
    """ip_forward hands the header to ip_output unchanged except the TTL
    (1440); NOP options are passed by ip_dooptions (ip_options.c) and kept;
    DF stays set."""
    opts = b"\x01\x01\x01\x01"
    d = ipv4(
        PEER,
        PEER1,
        17,
        b"\x9c\x40\x00\x09\x00\x10\x00\x00" + b"o" * 8,
        ident=7,
        off=0x4000,
        options=opts,
    )
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(f, ether(PEER1_MAC, router.iface("em1").ether, decremented(d)))
