"""Forwarded datagrams over the next-hop MTU: fragments, or ICMP 3/4 with DF.

Line numbers: FreeBSD 9.1 sys/netinet/ip_input.c (ip_forward 1365-1595),
ip_output.c and ip_icmp.c; all three are the same in the Feb 2011 head for
these rules.
"""

from .common import (
    FAR,
    GW1,
    GW1_MAC,
    IP,
    IP_DF,
    IP_MF,
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
)

NEEDFRAG_COUNTS = {
    "ips_total": 1,
    "ips_cantfrag": 2,
    "ips_cantforward": 1,
    "ips_localout": 1,
    "icps_error": 1,
    "icps_outhist[3]": 1,
}


def big(dst, size, df=True, tos=0, ident=0x4242):
    p = IP(src=PEER, dst=dst, ttl=64, id=ident, tos=tos, flags="DF" if df else 0)
    p = p / UDP(sport=40000, dport=9) / bytes(i & 0xFF for i in range(size - 28))
    return bytes(p)


def decremented_header(h):
    h = bytearray(h)
    h[8] -= 1
    h[10:12] = b"\x00\x00"
    h[10:12] = cksum(bytes(h)).to_bytes(2, "big")
    return bytes(h)


def test_needfrag_from_interface_mtu_exact_bytes(router):
    """ip_output 642-646 refuses the DF datagram (ips_cantfrag); ip_forward
    1496-1497 takes the MTU of the route ip_output used (lowered to em1's
    1400 by ip_output 321-322), 1554-1556 clamps it to the egress
    interface, 1563 counts ips_cantfrag again, 1502 ips_cantforward.
    icmp_error (ip_icmp.c 283-286) puts 1400 in the next-hop MTU field;
    the outer header is the offending one with TOS 0 (316) and its ip_off
    copied (311: DF stays set, 9.0/9.1 only); the quote is the header as
    received (copy taken before the TTL decrement, ip_input 1420-1432)."""
    router.ifconfig("em1", mtu=1400)
    d = big(PEER1, 1500, tos=0x10)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1400, off=IP_DF
    )
    assert_frame(f, exp)
    assert router.transmitted("em1") == []
    assert c.delta() == NEEDFRAG_COUNTS


def test_needfrag_from_route_mtu(router):
    """ip_forward 1496-1497 + 1554-1556: the route's own MTU (1280, below
    em1's 1500) is the next-hop MTU."""
    router.route_add("203.0.113.0/24", GW1, mtu=1280)
    d = big(FAR, 1300)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1280, off=IP_DF
    )
    assert_frame(f, exp)
    assert c.delta() == NEEDFRAG_COUNTS


def test_needfrag_reports_min_of_route_and_interface_mtu(router):
    """Route MTU 1280, em1 MTU 1200: ip_output 321-322 lowers the route to
    1200 and that is what ip_forward reads (1497), clamped by 1556; the
    route keeps 1200 afterwards."""
    router.route_add("203.0.113.0/24", GW1, mtu=1280)
    router.ifconfig("em1", mtu=1200)
    d = big(FAR, 1250)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1200, off=IP_DF
    )
    assert_frame(f, exp)
    assert router.route_get(FAR).mtu == 1200


def test_df_datagram_of_exactly_the_mtu_is_forwarded(router):
    """ip_output 605: ip_len <= mtu is sent whole, DF or not."""
    router.ifconfig("em1", mtu=1400)
    d = big(PEER1, 1400)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(
        f, ether(PEER1_MAC, router.iface("em1").ether, decremented_header(d[:20]) + d[20:])
    )
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_forwarded_without_df_is_fragmented(router):
    """ip_output 648-678 + ip_fragment: payload unit (1400-20)&~7 = 1376;
    both fragments carry the original id and the decremented TTL; counted
    as one ips_forward plus ips_fragmented and ips_ofragments."""
    router.ifconfig("em1", mtu=1400)
    d = big(PEER1, 1500, df=False)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    frames = router.transmitted("em1")
    body = d[20:]
    src = router.iface("em1").ether
    exp = [
        ipv4(PEER, PEER1, 17, body[:1376], ident=0x4242, ttl=63, off=IP_MF),
        ipv4(PEER, PEER1, 17, body[1376:], ident=0x4242, ttl=63, off=172),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER1_MAC, src, e))
    assert c.delta() == {
        "ips_total": 1,
        "ips_forward": 1,
        "ips_fragmented": 1,
        "ips_ofragments": 2,
    }


def test_forwarded_fragments_copy_only_copied_options(router):
    """ip_fragment 707 + 806-812 and ip_options.c ip_optcopy 539-575: with a
    32-byte header (NOP, full Record Route left untouched by ip_dooptions,
    stream id) the unit is (1400-32)&~7 = 1368; the second fragment's
    header is NOP + stream id + EOL padding (28 bytes)."""
    router.ifconfig("em1", mtu=1400)
    opts = b"\x01" + b"\x07\x07\x08\x00\x00\x00\x00" + b"\x88\x04\x12\x34"
    body = bytes((i * 5) & 0xFF for i in range(1468))
    d = ipv4(PEER, PEER1, 253, body, ident=0x5151, options=opts)
    inject(router, "em0", PEER_MAC, d)
    frames = router.transmitted("em1")
    src = router.iface("em1").ether
    later = b"\x01\x88\x04\x12\x34\x00\x00\x00"
    exp = [
        ipv4(PEER, PEER1, 253, body[:1368], ident=0x5151, ttl=63, off=IP_MF, options=opts),
        ipv4(PEER, PEER1, 253, body[1368:], ident=0x5151, ttl=63, off=171, options=later),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER1_MAC, src, e))


def test_needfrag_quote_includes_ip_options(router):
    """icmp_error (ip_icmp.c 246-248): the quote is the whole offending
    header, options included, plus 8 bytes; the error's own header has no
    options (hl 5, 312-315)."""
    router.ifconfig("em1", mtu=1400)
    opts = b"\x01\x01\x01\x01"
    body = b"\x9c\x40\x00\x09" + (1476).to_bytes(2, "big") + b"\x00\x00" + b"p" * 1468
    d = ipv4(PEER, PEER1, 17, body, ident=0x0102, off=IP_DF, options=opts)
    assert len(d) == 1500
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:32], rest=1400, off=IP_DF
    )
    assert_frame(f, exp)


def test_needfrag_source_is_on_the_route_back(router):
    """icmp_reflect (ip_icmp.c 758-768): for a transit packet the source of
    the error is the address of the interface on the route back to the
    sender, here em1 (the sender 198.51.100.7 sent through em0), and the
    error leaves by em1."""
    router.route_add("203.0.113.0/24", "192.0.2.254", mtu=1280)
    d = bytes(
        IP(src=PEER1, dst=FAR, ttl=64, id=9, flags="DF") / UDP(sport=40000, dport=9) / (b"q" * 1272)
    )
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    exp = icmp_error_frame(
        router, f, "em1", PEER1_MAC, "198.51.100.1", PEER1, 3, 4, d[:28], rest=1280, off=IP_DF
    )
    assert_frame(f, exp)
    assert router.transmitted("em0") == []


def test_needfrag_via_gateway_route_on_em1(router):
    """The next-hop MTU is that of the route used, not of the destination
    network: 203.0.113.0/24 via 198.51.100.254 with em1 at 1400 gives 1400."""
    router.route_add("203.0.113.0/24", GW1)
    router.ifconfig("em1", mtu=1400)
    d = big(FAR, 1401)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1400, off=IP_DF
    )
    assert_frame(f, exp)
    assert router.transmitted("em1") == []
    d2 = big(FAR, 1400)
    inject(router, "em0", PEER_MAC, d2)
    (f2,) = router.transmitted("em1")
    assert_frame(
        f2, ether(GW1_MAC, router.iface("em1").ether, decremented_header(d2[:20]) + d2[20:])
    )


def test_forwarded_fragment_is_refragmented_keeping_offset_and_mf(router):
    """ip_fragment 815: a forwarded non-last fragment (MF, offset 50) split
    again at em1's 1400 gives offsets 50 and 50+172, both with MF."""
    router.ifconfig("em1", mtu=1400)
    body = bytes((i * 11) & 0xFF for i in range(1480))
    d = ipv4(PEER, PEER1, 17, body, ident=0x6161, off=IP_MF | 50)
    inject(router, "em0", PEER_MAC, d)
    frames = router.transmitted("em1")
    src = router.iface("em1").ether
    exp = [
        ipv4(PEER, PEER1, 17, body[:1376], ident=0x6161, ttl=63, off=IP_MF | 50),
        ipv4(PEER, PEER1, 17, body[1376:], ident=0x6161, ttl=63, off=IP_MF | 222),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER1_MAC, src, e))
