"""icmp_error(): when an error is sent, what it quotes, and its header.

Line numbers: FreeBSD 9.1 sys/netinet/ip_icmp.c (icmp_error 179-321) unless
noted; icmp_error is the same in the Feb 2011 head. 9.3 changed the outer
ip_off (reset to 0), so the DF/MF cases below are 9.0/9.1 behaviour.
"""

import struct

import pytest

from .common import (
    IP,
    IP_DF,
    IP_MF,
    IP_RF,
    LOCAL0,
    PEER,
    PEER1,
    PEER_MAC,
    UDP,
    Counters,
    assert_frame,
    icmp_error_frame,
    inject,
    ipv4,
)

TIMXCEED_COUNTS = {
    "ips_total": 1,
    "ips_localout": 1,
    "icps_error": 1,
    "icps_outhist[11]": 1,
}


def expired(payload, proto=253, off=0, ident=0x4242, options=b""):
    """A transit datagram with TTL 1 (ip_forward answers time exceeded)."""
    return ipv4(PEER, PEER1, proto, payload, ident=ident, ttl=1, off=off, options=options)


def test_time_exceeded_copies_df_into_the_error(router):
    """icmp_error 311 copies the offending header (ip_off included) into the
    error and only resets length, version, hl, protocol and TOS (312-316):
    the error to a DF datagram carries DF."""
    d = expired(b"x" * 32, off=IP_DF)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[:28], off=IP_DF)
    )
    assert c.delta() == TIMXCEED_COUNTS


def test_time_exceeded_for_first_fragment_copies_mf(router):
    """icmp_error 203 lets a first fragment (MF, offset 0) through, and 311
    copies its ip_off: the error itself has MF set."""
    d = expired(b"y" * 40, off=IP_MF)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[:28], off=IP_MF)
    )


@pytest.mark.parametrize("off", [IP_MF | 100, 100, IP_RF, IP_RF | IP_DF])
def test_no_error_for_later_fragments_or_reserved_bit(router, off):
    """icmp_error 203-204: any ip_off bit besides MF/DF -- a non-zero offset
    or the reserved flag -- means no error; icps_error (193) is still
    counted."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, expired(b"z" * 32, off=off))
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "icps_error": 1}


@pytest.mark.parametrize("inner_type", [3, 4, 5, 11, 12, 41])
def test_no_error_about_an_icmp_error(router, inner_type):
    """icmp_error 207-212: an offending ICMP message whose type is not an
    informational one (ip_icmp.h ICMP_INFOTYPE 201-206) draws no error;
    icps_oldicmp and icps_error are counted."""
    body = struct.pack("!BBHI", inner_type, 0, 0, 0) + b"q" * 8
    c = Counters(router)
    inject(router, "em0", PEER_MAC, expired(body, proto=1))
    assert router.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "icps_error": 1, "icps_oldicmp": 1}


@pytest.mark.parametrize("inner_type", [0, 8, 9, 10, 13, 14, 15, 16, 17, 18])
def test_error_about_an_informational_icmp(router, inner_type):
    """ICMP_INFOTYPE (ip_icmp.h 201-206): echo, router advert/solicit,
    timestamp, info and mask requests/replies are not errors, so the time
    exceeded is sent, quoting the first 8 ICMP bytes."""
    body = struct.pack("!BBHI", inner_type, 0, 0, 0x01020304) + b"q" * 8
    d = expired(body, proto=1)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[:28]))


def test_short_icmp_error_is_not_counted_as_oldicmp(router):
    """icmp_error 207-209 looks at the inner ICMP type only when 8 ICMP bytes
    are there; with 4 the packet is dropped by 214-215 instead, so
    icps_oldicmp is not counted."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, expired(b"\x03\x03\x00\x00", proto=1))
    assert router.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "icps_error": 1}


@pytest.mark.parametrize("size", [0, 4, 7])
def test_no_error_when_less_than_8_bytes_follow_the_header(router, size):
    """icmp_error 214-215: the header plus 8 bytes must be in the first
    mbuf; a datagram with fewer than 8 payload bytes draws no error."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, expired(b"s" * size))
    assert router.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "icps_error": 1}


def test_error_when_exactly_8_bytes_follow_the_header(router):
    """icmp_error 214: 8 payload bytes are enough; the quote is all of it."""
    d = expired(b"eightbyt")
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d))


@pytest.mark.parametrize(("quotelen", "quoted"), [(0, 8), (8, 8), (9, 9), (64, 64), (1000, 100)])
def test_quote_length_follows_quotelen(router, quotelen, quoted):
    """icmp_error 246-248: the quote is the header plus max(8,
    min(net.inet.icmp.quotelen, payload)) bytes, capped by the datagram
    length (here 100 payload bytes)."""
    assert router.sysctl("net.inet.icmp.quotelen") == 8
    router.sysctl("net.inet.icmp.quotelen", quotelen)
    d = expired(bytes(range(100)))
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[: 20 + quoted])
    )


def tcp_segment(th_off, total):
    hdr = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, th_off << 4, 0x10, 65535, 0, 0)
    return (hdr + bytes(range(1, 64)))[:total]


@pytest.mark.parametrize(("th_off", "tcp_len", "quoted"), [(5, 30, 20), (8, 42, 32), (5, 12, 8)])
def test_tcp_quote_covers_the_whole_tcp_header(router, th_off, tcp_len, quoted):
    """icmp_error 223-244: for TCP the quote is at least the TCP header with
    its options (max(th_off*4, ...)); a segment shorter than a TCP header
    falls back to the standard 8 bytes (227-229)."""
    d = expired(tcp_segment(th_off, tcp_len), proto=6)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[: 20 + quoted])
    )


@pytest.mark.parametrize(("th_off", "tcp_len"), [(3, 24), (15, 24)])
def test_no_error_for_malformed_tcp_offset(router, th_off, tcp_len):
    """icmp_error 235-238: a TCP data offset below 5 words, or one reaching
    past the datagram, means no error at all."""
    c = Counters(router)
    inject(router, "em0", PEER_MAC, expired(tcp_segment(th_off, tcp_len), proto=6))
    assert router.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "icps_error": 1}


def test_param_problem_pointer_in_first_unused_byte(host):
    """ip_options.c ip_dooptions 123-127 + 364-366: a Record Route option of
    length 1 is bad at byte 21; icmp_error 280-282 puts that pointer in the
    first byte after the checksum and sends code 0; the quote keeps the
    offending header's options (24 bytes + 8)."""
    d = ipv4(
        PEER,
        LOCAL0,
        17,
        b"\x9c\x40\x00\x09\x00\x10\x00\x00datadata",
        ident=3,
        options=b"\x07\x01\x00\x00",
    )
    c = Counters(host)
    inject(host, "em0", PEER_MAC, d)
    (f,) = host.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(host, f, "em0", PEER_MAC, LOCAL0, PEER, 12, 0, d[:32], rest=21 << 24)
    )
    assert c.delta() == {
        "ips_total": 1,
        "ips_badoptions": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[12]": 1,
    }


def test_no_error_for_link_level_broadcast(host):
    """icmp_error 205-206: a datagram that came in a link-level broadcast
    frame (M_BCAST) draws no error, here the parameter problem for a bad
    option (still counted in ips_badoptions and icps_error)."""
    d = ipv4(
        PEER,
        LOCAL0,
        17,
        b"\x9c\x40\x00\x09\x00\x10\x00\x00datadata",
        ident=3,
        options=b"\x07\x01\x00\x00",
    )
    c = Counters(host)
    inject(host, "em0", PEER_MAC, d, dst_mac="ff:ff:ff:ff:ff:ff")
    assert host.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1, "ips_badoptions": 1, "icps_error": 1}


def test_port_unreachable_quotes_the_original_header(host):
    """udp_usrreq.c udp_input 409 saves the header and 603-605 restores it
    (total length back) before icmp_error, whose 294-297 put ip_len/ip_off
    back in network order: the quote is the datagram's first 28 bytes as
    received; the error comes from the address it was sent to."""
    d = bytes(
        IP(src=PEER, dst=LOCAL0, ttl=17, id=0x7777, tos=0x20)
        / UDP(sport=40000, dport=9)
        / b"closed-port"
    )
    c = Counters(host)
    inject(host, "em0", PEER_MAC, d)
    (f,) = host.transmitted("em0")
    assert_frame(f, icmp_error_frame(host, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 3, d[:28]))
    assert c.delta() == {
        "ips_total": 1,
        "ips_delivered": 1,
        "udps_ipackets": 1,
        "udps_noport": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_error_ttl_is_net_inet_ip_ttl(router):
    """icmp_reflect 774-775 gives every reply and error TTL
    net.inet.ip.ttl."""
    router.sysctl("net.inet.ip.ttl", 33)
    d = expired(b"t" * 8)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d, ttl=33))
