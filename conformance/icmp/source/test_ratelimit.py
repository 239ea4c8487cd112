"""ICMP response rate limiting: badport_bandlim() and ppsratecheck().

Line numbers: FreeBSD 9.1 sys/netinet/ip_icmp.c (badport_bandlim 954-992),
sys/kern/kern_time.c (ppsratecheck 825-843) and udp_usrreq.c; the Feb 2011
head has the same ppsratecheck (tick based). Each test first lets the
virtual clock run 10 s so that the tick counter is not 0 (ppsratecheck
treats lasttime 0 as "never").
"""

import pytest

from .common import (
    IP,
    LOCAL0,
    PEER,
    PEER1,
    PEER_MAC,
    UDP,
    Counters,
    echo,
    icmp_msg,
    inject,
    ipv4,
    make_kernel,
)


def limited_host(icmplim, forwarding=False):
    k = make_kernel(forwarding=forwarding, icmplim=icmplim)
    k.advance(10)
    k.transmitted("em0")
    return k


def closed_port(k, n=1, sport=40000):
    d = bytes(IP(src=PEER, dst=LOCAL0, ttl=64, id=1) / UDP(sport=sport, dport=9) / b"closed!!")
    for _ in range(n):
        inject(k, "em0", PEER_MAC, d)
    return len(k.transmitted("em0"))


def ping(k, n=1):
    d = ipv4(PEER, LOCAL0, 1, echo(8, 0x99, 1, b"pingpong"), ident=2)
    for _ in range(n):
        inject(k, "em0", PEER_MAC, d)
    return len(k.transmitted("em0"))


@pytest.mark.parametrize(("icmplim", "answered"), [(1, 1), (2, 1), (3, 2), (5, 4)])
def test_port_unreachables_per_window_are_icmplim_minus_one(icmplim, answered):
    """udp_usrreq.c udp_input 601-602 asks badport_bandlim(BANDLIM_ICMP_UNREACH)
    before icmp_error; ppsratecheck (kern_time.c 834-842) allows the first
    event of a window (count := 1) and then each later one while
    ++count < icmplim: icmplim - 1 per second (but at least the first)."""
    k = limited_host(icmplim)
    assert closed_port(k, 8) == answered


def test_default_icmplim_allows_199_per_second():
    """ip_icmp.c 82-86: net.inet.icmp.icmplim defaults to 200, which lets
    199 port unreachables through in one second."""
    k = limited_host(200)
    assert k.sysctl("net.inet.icmp.icmplim") == 200
    assert closed_port(k, 250) == 199


def test_limit_window_is_one_second_from_its_first_event():
    """kern_time.c 835: a new window starts when hz ticks have passed since
    the window's first event: still limited 0.99 s after it, answered again
    after 1.01 s."""
    k = limited_host(2)
    assert closed_port(k, 3) == 1
    k.advance(0.99)
    assert closed_port(k, 1) == 0
    k.advance(0.02)
    assert closed_port(k, 3) == 1


def test_icmplim_zero_disables_the_limit():
    """badport_bandlim 975: icmplim <= 0 skips the check."""
    k = limited_host(0)
    assert closed_port(k, 20) == 20


def test_echo_and_unreach_have_separate_buckets():
    """badport_bandlim 961-969 keeps one rate per kind: exhausting the port
    unreachable budget leaves echo replies (BANDLIM_ICMP_ECHO, ip_icmp.c
    505) untouched, and the reverse."""
    k = limited_host(2)
    assert closed_port(k, 3) == 1
    assert ping(k, 3) == 1
    k.advance(2)
    assert ping(k, 3) == 1
    assert closed_port(k, 3) == 1


def test_timestamp_has_its_own_bucket():
    """ip_icmp.c 510-527: timestamp replies use BANDLIM_ICMP_TSTAMP, a bucket
    of their own: after the echo budget is used up, timestamps are still
    answered (once per window with icmplim 2)."""
    k = limited_host(2)
    assert ping(k, 3) == 1
    ts = ipv4(PEER, LOCAL0, 1, icmp_msg(13, 0, (0x77 << 16) | 1, bytes(12)), ident=4)
    for _ in range(3):
        inject(k, "em0", PEER_MAC, ts)
    assert len(k.transmitted("em0")) == 1


def test_suppressed_port_unreachable_counters():
    """udp_input 593-602: udps_noport is counted before the rate check; a
    suppressed error never reaches icmp_error, so icps_error is not
    counted."""
    k = limited_host(1)
    closed_port(k, 1)
    c = Counters(k)
    assert closed_port(k, 1) == 0
    assert c.delta() == {
        "ips_total": 1,
        "ips_delivered": 1,
        "udps_ipackets": 1,
        "udps_noport": 1,
    }


def test_suppressed_echo_reply_counters():
    """icmp_input 498-508: icps_inhist is counted (407), then a rate-limited
    echo is freed before icps_reflect/outhist (567-571) and is not given to
    raw sockets."""
    k = limited_host(1)
    ping(k, 1)
    c = Counters(k)
    assert ping(k, 1) == 0
    assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "icps_inhist[8]": 1}


def test_forwarding_errors_are_not_rate_limited():
    """icmp_error (ip_icmp.c 179-321) has no rate check and ip_forward calls
    it directly (ip_input.c 1382-1386): with icmplim 1, five expiring
    transit packets get five time exceeded."""
    k = limited_host(1, forwarding=True)
    d = bytes(IP(src=PEER, dst=PEER1, ttl=1, id=3) / UDP(sport=40000, dport=9) / b"transit!")
    for _ in range(5):
        inject(k, "em0", PEER_MAC, d)
    assert len(k.transmitted("em0")) == 5
