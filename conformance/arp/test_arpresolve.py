"""arpresolve, arprequest and arptimer (sys/netinet/if_ether.c): the hold
queue, the request schedule, the errors a sender sees, and the end of an
entry that never resolves. Identical in head of February 2011 and 9.1."""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock
from kstack.testing import (
    FAR,
    FAR_MAC,
    HOST1,
    HOST1_MAC,
    ICMP,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Ether,
    Raw,
    from_peer,
    host,
)

from .helpers import (
    LOG_DEBUG,
    arp_delta,
    arp_ops,
    drops,
    far_reply,
    our_who_has,
    payloads,
    udp_far,
)

SPORT = 5555
IGNORE = {"ip.id", "ip.sum"}


def _sock(k):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", SPORT))
    return s


def _send(s, data: bytes, dst: str = FAR) -> int:
    """sendto's result: 0, or the errno it raised."""
    try:
        s.sendto(data, (dst, 9))
    except OSError as e:
        return int(e.errno)
    return 0


def test_arpresolve_first_packet_held_and_request_broadcast(k, match_frame):
    """if_ether.c arpresolve: an unknown next hop gets an entry, the packet
    is held, and arprequest broadcasts who-has from the interface's address
    in that subnet; the sender sees no error (EWOULDBLOCK, masked by
    ether_output)."""
    s = _sock(k)
    with arp_delta(k) as a:
        assert _send(s, b"one") == 0
    assert a == {"txrequests": 1}
    (req,) = k.transmitted("em1")
    match_frame(req, our_who_has(FAR, HOST1, HOST1_MAC))
    assert k.vnet0.arp_table()[FAR] == (None, "em1", False)
    assert k.vnet0.pending_work() == [
        "1 packet on em1 waiting for the ARP reply of 198.51.100.7; the entry expires within 20 s"
    ]


def test_arpresolve_one_request_per_second(k):
    """if_ether.c arpresolve: 'renew' is true only when la_expire (set to
    time_uptime at each request) differs from time_uptime, so packets sent
    within one second share one request; the next second asks again."""
    s = _sock(k)
    with arp_delta(k) as a:
        for _ in range(3):
            assert _send(s, b"x") == 0
    assert a == {"txrequests": 1, "dropped": 2}
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, FAR)]
    k.advance(1)
    with arp_delta(k) as a:
        assert _send(s, b"y") == 0
    assert a == {"txrequests": 1, "dropped": 1}
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, FAR)]


def test_arpresolve_maxhold_1_drops_the_oldest(k, match_frame):
    """if_ether.c arpresolve: with la_numheld >= net.link.ether.inet.maxhold
    (default 1) the head of la_hold (the oldest packet) is freed,
    arpstat.dropped counted, and the new one queued; in_arpinput sends what
    is left."""
    s = _sock(k)
    _send(s, b"first")
    k.vnet0.take_events()
    _send(s, b"second")
    assert drops(k) == [
        ("arpstat.dropped", "arpresolve: held packet for 198.51.100.7 replaced by a newer one")
    ]
    k.transmitted("em1")
    k.input("em1", far_reply())
    (out,) = k.transmitted("em1")
    match_frame(out, udp_far(b"second", 0, SPORT), IGNORE)


def test_arpresolve_maxhold_3_keeps_three_in_order(k):
    """if_ether.c arpresolve: la_hold is a list; with maxhold 3 a fourth
    packet pushes out the first, and in_arpinput sends the rest oldest
    first."""
    k.sysctl("net.link.ether.inet.maxhold", 3)
    s = _sock(k)
    with arp_delta(k) as a:
        for p in (b"p1", b"p2", b"p3", b"p4"):
            _send(s, p)
    assert a == {"txrequests": 1, "dropped": 1}
    k.transmitted("em1")
    with arp_delta(k) as a:
        k.input("em1", far_reply())
    assert a == {"received": 1, "rxreplies": 1}
    assert payloads(k.transmitted("em1")) == [b"p2", b"p3", b"p4"]


@pytest.mark.parametrize("maxhold", [0, -1])
def test_arpresolve_maxhold_0_or_less_still_holds_one(k, maxhold):
    """if_ether.c arpresolve: the oldest packet is dropped only when la_hold
    is not empty, and the new one is always queued, so maxhold 0 (or less)
    holds the newest packet, as maxhold 1 does."""
    k.sysctl("net.link.ether.inet.maxhold", maxhold)
    s = _sock(k)
    with arp_delta(k) as a:
        _send(s, b"a")
        _send(s, b"b")
    assert a == {"txrequests": 1, "dropped": 1}
    k.transmitted("em1")
    k.input("em1", far_reply())
    assert payloads(k.transmitted("em1")) == [b"b"]


def test_arpresolve_ehostdown_after_maxtries(k):
    """if_ether.c arpresolve: the error is computed before la_asked is
    bumped: EWOULDBLOCK (0 for the socket) while la_asked < maxtries (5),
    then EHOSTDOWN on an interface route; requests go on once a second
    whatever the error, each packet still held."""
    s = _sock(k)
    results = []
    requests = []
    for _ in range(7):
        results.append(_send(s, b"x"))
        requests.append(len(arp_ops(k.transmitted("em1"))))
        k.advance(1)
    assert results == [0, 0, 0, 0, 0, errno.EHOSTDOWN, errno.EHOSTDOWN]
    assert requests == [1] * 7
    # A second packet in the second of the fifth request already sees it.
    k2 = host()
    s2 = _sock(k2)
    for _ in range(4):
        _send(s2, b"x")
        k2.advance(1)
    assert [_send(s2, b"x"), _send(s2, b"x")] == [0, errno.EHOSTDOWN]


def test_arpresolve_ehostunreach_through_a_gateway(k):
    """if_ether.c arpresolve: once maxtries requests went out the error is
    EHOSTUNREACH when the route (rt0) has RTF_GATEWAY: here a route via an
    unresolved gateway on em1."""
    k.route_add("203.0.113.0/24", "198.51.100.254")
    k.sysctl("net.link.ether.inet.maxtries", 1)
    s = _sock(k)
    assert _send(s, b"x", "203.0.113.9") == 0
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, "198.51.100.254")]
    assert _send(s, b"x", "203.0.113.9") == errno.EHOSTUNREACH
    k.advance(1)
    assert _send(s, b"x", "203.0.113.9") == errno.EHOSTUNREACH
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, "198.51.100.254")]


def test_arptimer_frees_unresolved_entry_after_wait(k):
    """if_ether.c arpresolve/arptimer: each request resets the entry's timer
    to hz * net.link.ether.inet.wait (20 s); when it fires the entry is
    freed (llentry_free) with its held packet: arpstat.timeouts and
    arpstat.dropped count, and the drop is reported by name."""
    s = _sock(k)
    _send(s, b"x")
    k.vnet0.take_events()
    k.advance(19.999)
    assert FAR in k.vnet0.arp_table()
    with arp_delta(k) as a:
        k.advance(0.001)
    assert a == {"timeouts": 1, "dropped": 1}
    assert FAR not in k.vnet0.arp_table()
    assert drops(k) == [("arpstat.dropped", "arptimer: entry for 198.51.100.7 on em1 expired")]
    assert k.vnet0.pending_work() == []
    # A new packet starts over: a fresh entry, asked from zero.
    assert _send(s, b"y") == 0
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, FAR), (1, HOST1, FAR)]


@pytest.mark.parametrize(("wait", "lifetime"), [(5, 5.0), (0, 0.001), (-3, 0.001)])
def test_wait_sets_incomplete_entry_lifetime(k, wait, lifetime):
    """if_ether.c arpresolve: callout_reset(&la_timer, hz * V_arpt_down):
    net.link.ether.inet.wait seconds; callout(9) runs a delay of zero or
    less one tick (1 ms at hz=1000) later."""
    k.sysctl("net.link.ether.inet.wait", wait)
    s = _sock(k)
    _send(s, b"x")
    k.advance(lifetime - 0.001)
    assert FAR in k.vnet0.arp_table()
    with arp_delta(k) as a:
        k.advance(0.001)
    assert a == {"timeouts": 1, "dropped": 1}
    assert FAR not in k.vnet0.arp_table()


def test_maxtries_0_error_at_once_but_entry_still_expires(k):
    """if_ether.c arpresolve: with maxtries 0 the first packet already gets
    EHOSTDOWN, yet it is held, the request goes out and the timer is armed
    as always: 20 s later the entry and the packet are gone."""
    k.sysctl("net.link.ether.inet.maxtries", 0)
    s = _sock(k)
    assert _send(s, b"x") == errno.EHOSTDOWN
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, FAR)]
    with arp_delta(k) as a:
        k.advance(20)
    assert a == {"timeouts": 1, "dropped": 1}
    assert k.vnet0.pending_work() == []


def test_arpresolve_refreshes_before_expiry(k):
    """if_ether.c arpresolve: a valid entry with time_uptime + la_preempt >
    la_expire sends a request (la_preempt, set to maxtries when learned,
    then decremented) while the packet goes straight out; so at most one
    refresh per second in the last maxtries seconds of the entry's life."""
    k.sysctl("net.link.ether.inet.max_age", 60)
    s = _sock(k)
    k.input("em1", far_reply())  # addressed to us: learned at t=0, expires at 60
    assert k.vnet0.arp_table()[FAR] == (FAR_MAC, "em1", False)
    k.advance(55)
    _send(s, b"a")
    assert arp_ops(k.transmitted("em1")) == []
    k.advance(1)  # t=56: 56 + 5 > 60
    with arp_delta(k) as a:
        _send(s, b"b")
        _send(s, b"c")  # 56 + 4 > 60 is false
    assert a == {"txrequests": 1}
    out = k.transmitted("em1")
    assert arp_ops(out) == [(1, HOST1, FAR)]
    assert payloads(out) == [b"b", b"c"]
    k.advance(1)  # t=57: 57 + 4 > 60
    _send(s, b"d")
    assert arp_ops(k.transmitted("em1")) == [(1, HOST1, FAR)]


def test_arprequest_source_is_last_address_when_none_matches(k):
    """if_ether.c arprequest: without a source the loop over the interface's
    addresses stops at one whose subnet holds the target; when none does,
    the last address examined (the newest) is used."""
    k.ifconfig("em1", "10.9.9.9/32", alias=True)
    k.transmitted("em1")
    k.route_add("203.0.113.0/24", iface="em1")
    s = _sock(k)
    _send(s, b"x", "203.0.113.9")
    assert arp_ops(k.transmitted("em1")) == [(1, "10.9.9.9", "203.0.113.9")]


def test_arpresolve_einval_without_a_route_in_fib_0():
    """if_ether.c arpresolve -> in.c in_lltable_lookup/in_lltable_rtcheck:
    an entry is only created for an address covered by a route in FIB 0
    (rtalloc1), whatever FIB the packet uses. An interface whose prefix is
    only in FIB 1 (net.add_addr_allfibs=0) cannot resolve: the packet is
    freed, the sender gets EINVAL, and a LOG_DEBUG line is written."""
    k = kstack.Kernel(seed=0, fibs=2)
    k.sysctl("net.add_addr_allfibs", 0)
    k.setfib(1)
    k.ifconfig("em2", "10.1.0.1/24")
    k.transmitted("em2")
    assert k.route_get("10.1.0.5", fib=0) is None
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    k.vnet0.take_events()
    with arp_delta(k) as a:
        assert _send(s, b"x", "10.1.0.5") == errno.EINVAL
    assert a == {}
    assert k.transmitted("em2") == []
    assert k.vnet0.arp_log == [(LOG_DEBUG, "arpresolve: can't allocate llinfo for 10.1.0.5\n")]
    assert drops(k) == [("arpresolve: EINVAL", "arpresolve: no ARP entry can be made for 10.1.0.5")]


@pytest.mark.parametrize(
    ("action", "why"),
    [
        ("delete", "address deleted: 198.51.100.1 on em1"),
        ("down", "interface down: 198.51.100.1 on em1"),
    ],
)
def test_held_packet_freed_with_the_prefix(k, action, why):
    """in.c in_scrubprefix -> if_llatbl.c lltable_prefix_free ->
    in_lltable_prefix_free: deleting the address, or taking the interface
    down, frees the entries of its prefix; held packets are counted in
    arpstat.dropped and reported by name."""
    s = _sock(k)
    _send(s, b"x")
    k.vnet0.take_events()
    with arp_delta(k) as a:
        if action == "delete":
            k.ifconfig("em1", HOST1, delete=True)
        else:
            k.ifconfig("em1", down=True)
    assert a == {"dropped": 1}
    assert drops(k) == [
        ("arpstat.dropped", f"lltable_prefix_free: 198.51.100.0/24 flushed ({why})")
    ]
    assert FAR not in k.vnet0.arp_table()
    k.advance(30)
    assert k.netstat("arp")["timeouts"] == 0


def test_router_resolution_is_per_next_hop(k):
    """if_ether.c arpresolve: the entry looked up is the next hop's (the
    gateway), not the destination's: the router's permanent entry serves
    every remote destination, and no entry is made for them."""
    k.route_add("default", ROUTER)
    s = _sock(k)
    with arp_delta(k) as a:
        assert _send(s, b"x", "203.0.113.9") == 0
        assert _send(s, b"x", "203.0.113.10") == 0
    assert a == {}
    out = k.transmitted("em0")
    assert [Ether(f).dst for f in out] == [ROUTER_MAC, ROUTER_MAC]
    assert arp_ops(out) == []
    assert "203.0.113.9" not in k.vnet0.arp_table()


def test_forwarded_packet_gets_host_unreachable_yet_stays_held(fwd, delta):
    """if_ether.c arpresolve -> ip_input.c ip_forward: once maxtries
    requests went out, ip_output returns EHOSTDOWN, so ip_forward counts
    ips_cantforward and sends ICMP host unreachable from its copy; the
    packet itself stays held, and leaves when the reply comes."""
    fwd.sysctl("net.link.ether.inet.maxtries", 0)
    with delta(fwd) as d, arp_delta(fwd) as a:
        fwd.input("em0", from_peer(dst=FAR) / UDP(sport=1, dport=2) / Raw(b"fw"))
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    assert a == {"txrequests": 1}
    (err,) = fwd.transmitted("em0")
    assert (Ether(err)[ICMP].type, Ether(err)[ICMP].code) == (3, 1)
    assert arp_ops(fwd.transmitted("em1")) == [(1, HOST1, FAR)]
    fwd.input("em1", far_reply())
    assert payloads(fwd.transmitted("em1")) == [b"fw"]
