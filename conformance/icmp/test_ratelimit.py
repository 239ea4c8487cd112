"""badport_bandlim() (netinet/ip_icmp.c) over ppsratecheck() (kern/kern_time.c)
on the virtual clock: one bucket per kind of response, a one-second window
opened by the first response after the previous window, count < icmplim.

The tests start half a second after boot: the kernel treats a window that
opened at tick 0 as no window at all, which only a packet arriving in the
very first millisecond could see."""

from __future__ import annotations

import pytest

from kstack.testing import (
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    echo_request,
    eth,
    udp_to,
)


def _echoes(k, n: int) -> int:
    for i in range(n):
        k.input("em0", echo_request(seq=i + 1))
    return len(k.transmitted("em0"))


def test_buckets_are_per_kind(k):
    """badport_bandlim (netinet/ip_icmp.c): echo replies, timestamp replies and port
    unreachables each have their own bucket: with the echo bucket spent
    (199 of 200 requests answered), a timestamp request and a closed-port
    datagram in the same second are still answered."""
    k.advance(0.5)
    assert _echoes(k, 200) == 199
    k.input("em0", eth() / IP(src=PEER, dst="192.0.2.1") / ICMP(type=13, id=1, seq=1))
    k.input("em0", udp_to(9))
    types = [f[34] for f in k.transmitted("em0")]
    assert types == [14, 3]


def test_window_is_one_second_from_its_first_response(k, delta):
    """ppsratecheck (kern/kern_time.c): the window opened at 0.5 s lasts hz ticks: a request
    at 1.499 s is still refused (silently: icps_inhist only), one at 1.5 s
    opens a new window and is answered."""
    k.advance(0.5)
    assert _echoes(k, 200) == 199
    k.advance(0.999)
    with delta(k) as d:
        assert _echoes(k, 1) == 0
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "icmp": {"icps_inhist[8]": 1}}
    k.advance(0.001)
    assert _echoes(k, 1) == 1


@pytest.mark.parametrize(("icmplim", "answered"), [(1, 1), (2, 1), (3, 2), (0, 250), (-1, 250)])
def test_icmplim_values(k, icmplim, answered):
    """badport_bandlim/ppsratecheck (netinet/ip_icmp.c, kern/kern_time.c):
    the first response of a window is always allowed, each later one while
    the count stays below icmplim:
    icmplim 1 and 2 both allow one per second, 3 allows two; icmplim <= 0
    turns the limiter off."""
    k.sysctl("net.inet.icmp.icmplim", icmplim)
    k.advance(0.5)
    assert _echoes(k, 250) == answered


def test_buckets_shared_by_all_vnets(k):
    """badport_bandlim (netinet/ip_icmp.c) keeps its buckets in a static array, one for the
    whole machine: echo replies sent by vnet0 use up the echo bucket of a
    vnet jail in the same second (only icmplim is per vnet)."""
    v = k.jail("v", vnet=True)
    v.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    v.arp_add(PEER, PEER_MAC)
    v.transmitted("em0")
    k.advance(0.5)
    assert _echoes(k, 199) == 199
    v.input("em0", echo_request())
    assert v.transmitted("em0") == []
    k.advance(1)
    v.input("em0", echo_request())
    assert len(v.transmitted("em0")) == 1


def test_jail_icmplim_applies_to_shared_bucket(k):
    """badport_bandlim (netinet/ip_icmp.c): each vnet compares the shared count with its own
    net.inet.icmp.icmplim: a jail allowing 1000 still answers after vnet0
    (icmplim 200) stopped at 199."""
    v = k.jail("v", vnet=True)
    v.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    v.arp_add(PEER, PEER_MAC)
    v.transmitted("em0")
    v.sysctl("net.inet.icmp.icmplim", 1000)
    k.advance(0.5)
    assert _echoes(k, 200) == 199
    v.input("em0", echo_request())
    assert len(v.transmitted("em0")) == 1
