"""Expiry of the host routes learned from redirects (netinet/in_rmx.c:
in_clsroute, in_matroute, in_rtqkill, in_rtqtimo) on the virtual clock.

The timer runs one tick after boot (in_inithead's callout_reset(1)) and then
every tvtohz(600 s) = 600001 ticks, so at 0.001 s, 600.002 s, 1200.003 s,
... n * 600.001 + 0.001 s. time_uptime is whole seconds since boot."""

from __future__ import annotations

import kstack
from kstack import sock as S
from kstack.testing import PEER, PEER_MAC, ROUTER, host

from .helpers import REMOTE, ROUTER2, ROUTER2_MAC, redirect, routes, rtstat, udp_send

LEARNED = (ROUTER2, "em0", "UGHD3")


def _run(n: int) -> float:
    """The time of the n-th in_rtqtimo run after the first (n = 0: 1 ms)."""
    return (1 + n * 600_001) / 1000


def _at(k: kstack.Kernel, t: float) -> None:
    k.advance(round(t - k.now, 6))


def _learn(k: kstack.Kernel, dst: str = REMOTE) -> None:
    k.input("em0", redirect(dst=dst))
    assert routes(k)[f"{dst}/32"][2] == "UGHD3"


def test_learned_route_expires_rtexpire_after_creation(k):
    """in_clsroute (netinet/in_rmx.c): created at t=10 s (uptime 10) with rtexpire 3600 ->
    expires at uptime 3610; in_rtqkill deletes it on the first timer run
    at or after that: the 7th, at 4200.008 s. Listing the table is not a
    use."""
    k.route_add("default", ROUTER)
    _at(k, 10)
    _learn(k)
    _at(k, _run(6))
    assert routes(k)["203.0.113.9/32"] == LEARNED
    _at(k, _run(7) - 0.001)
    assert routes(k)["203.0.113.9/32"] == LEARNED
    k.vnet0.take_events()
    _at(k, _run(7))
    assert "203.0.113.9/32" not in routes(k)
    assert [e.what for e in k.vnet0.take_events()] == [
        "route 203.0.113.9/32 via 192.0.2.253 (FIB 0) expired: in_rtqkill deleted it"
    ]


def test_use_restarts_expiry(k):
    """in_matroute/in_clsroute (netinet/in_rmx.c): a datagram sent through the route at t=3000
    (ip_output's lookup, then the release) moves its expiry to uptime
    3000 + 3600 = 6600, so it survives the run at 4200.008 s and is
    deleted at the 11th run, 6600.012 s."""
    k.route_add("default", ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    _at(k, 10)
    _learn(k)
    _at(k, 3000)
    udp_send(k)
    _at(k, _run(7))
    assert routes(k)["203.0.113.9/32"] == LEARNED
    _at(k, _run(11) - 0.001)
    assert routes(k)["203.0.113.9/32"] == LEARNED
    _at(k, _run(11))
    assert "203.0.113.9/32" not in routes(k)
    udp_send(k)
    frames = k.transmitted("em0")
    assert frames[-1][0:6] == bytes.fromhex("0200000000fe")  # back to the default router


def test_short_rtexpire(k):
    """in_clsroute/in_rtqkill (netinet/in_rmx.c) with net.inet.ip.rtexpire
    100: a route learned at uptime 10 expires at 110 and goes at the first run after, 600.002 s."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtexpire", 100)
    _at(k, 10)
    _learn(k)
    _at(k, _run(1) - 0.001)
    assert routes(k)["203.0.113.9/32"] == LEARNED
    _at(k, _run(1))
    assert "203.0.113.9/32" not in routes(k)


def test_rtexpire_zero_deletes_at_once(k):
    """in_clsroute (netinet/in_rmx.c): with rtexpire 0 the learned route is deleted as soon as
    its creator lets go of it (rtexpunge): rts_dynamic counts it, the
    table never shows it, traffic keeps the default route."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtexpire", 0)
    with rtstat(k) as r:
        k.input("em0", redirect())
    assert r == {"rts_dynamic": 1}
    assert "203.0.113.9/32" not in routes(k)
    udp_send(k)
    (frame,) = k.transmitted("em0")
    assert frame[0:6] == bytes.fromhex("0200000000fe")


def test_rtexpire_zero_deletes_on_next_use(k):
    """in_clsroute (netinet/in_rmx.c): a route learned while rtexpire was 3600 is deleted by
    the release of its next use once rtexpire is 0. A raw datagram
    (rip_output -> ip_output, one lookup) still goes through it."""
    k.route_add("default", ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    _learn(k)
    k.sysctl("net.inet.ip.rtexpire", 0)
    assert routes(k)["203.0.113.9/32"] == LEARNED
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    s.sendto(b"data", (REMOTE, 0))
    s.sendto(b"data", (REMOTE, 0))
    first, second = k.transmitted("em0")
    assert first[0:6] == bytes.fromhex("0200000000fd")
    assert second[0:6] == bytes.fromhex("0200000000fe")
    assert "203.0.113.9/32" not in routes(k)


def test_rtexpire_zero_udp_source_selection_is_the_use(k):
    """in_clsroute (netinet/in_rmx.c) under udp_output -> in_pcbconnect_setup ->
    in_pcbladdr (netinet/udp_usrreq.c, in_pcb.c), which looks the route up
    to pick the source address and releases it: with rtexpire 0 that
    release deletes the learned route, so ip_output's own lookup already
    finds the default route."""
    k.route_add("default", ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    _learn(k)
    k.sysctl("net.inet.ip.rtexpire", 0)
    udp_send(k)
    (frame,) = k.transmitted("em0")
    assert frame[0:6] == bytes.fromhex("0200000000fe")
    assert "203.0.113.9/32" not in routes(k)


def test_too_many_routes_lower_rtexpire(k):
    """in_rtqtimo_one (netinet/in_rmx.c): more than rtmaxcache (here 2) idle learned routes
    after a walk -> rtexpire becomes 2/3 of itself (int arithmetic) at
    most once per 600 s, and a second walk pulls every expiry in to
    uptime + the new value: 3600 -> 2400 (expiries 3610 -> 3000), 1600
    (-> 2800), 1066, 710; the routes go at 3000.006 s."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtmaxcache", 2)
    _at(k, 10)
    for dst in ("203.0.113.9", "203.0.113.10", "203.0.113.11"):
        _learn(k, dst)
    seen = []
    for n in range(1, 5):
        _at(k, _run(n))
        seen.append(k.sysctl("net.inet.ip.rtexpire"))
    assert seen == [2400, 1600, 1066, 710]
    _at(k, _run(5) - 0.001)
    assert len([p for p in routes(k) if p.startswith("203.0.113.")]) == 3
    _at(k, _run(5))
    assert [p for p in routes(k) if p.startswith("203.0.113.")] == []
    assert k.sysctl("net.inet.ip.rtexpire") == 710


def test_rtminexpire_floor(k):
    """in_rtqtimo_one (netinet/in_rmx.c): rtexpire is never lowered below rtminexpire (3000
    here): 3600 -> 3000 once, expiries pulled in to 600 + 3000 = 3600,
    deleted at the run of 3600.007 s."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtmaxcache", 2)
    k.sysctl("net.inet.ip.rtminexpire", 3000)
    _at(k, 10)
    for dst in ("203.0.113.9", "203.0.113.10", "203.0.113.11"):
        _learn(k, dst)
    _at(k, _run(5))
    assert k.sysctl("net.inet.ip.rtexpire") == 3000
    assert len([p for p in routes(k) if p.startswith("203.0.113.")]) == 3
    _at(k, _run(6))
    assert [p for p in routes(k) if p.startswith("203.0.113.")] == []


def test_lowering_once_per_run_across_fibs():
    """in_rtqtimo_one (netinet/in_rmx.c) keeps the time of the last lowering in a function
    static: in a run where FIB 0 lowered rtexpire, FIB 1 may not, and its
    routes keep their expiry (3610) until the run at 3000.006 s, where FIB
    0 has nothing left to lower for: FIB 1 lowers 710 -> 473, its routes
    expire at 3473 and go at 3600.007 s, FIB 0's at 3000.006 s."""
    k = host(k=kstack.Kernel(fibs=2))
    k.sysctl("net.inet.ip.rtmaxcache", 2)
    _at(k, 10)
    for dst in ("203.0.113.9", "203.0.113.10", "203.0.113.11"):
        k.input("em0", redirect(dst=dst, src=PEER, eth_src=PEER_MAC))
    _at(k, _run(5))
    assert [p for p in routes(k, 0) if p.startswith("203.0.113.")] == []
    assert len([p for p in routes(k, 1) if p.startswith("203.0.113.")]) == 3
    assert k.sysctl("net.inet.ip.rtexpire") == 473
    _at(k, _run(6) - 0.001)
    assert len([p for p in routes(k, 1) if p.startswith("203.0.113.")]) == 3
    _at(k, _run(6))
    assert [p for p in routes(k, 1) if p.startswith("203.0.113.")] == []


def test_vnet_jail_routes_never_expire():
    """in_inithead (netinet/in_rmx.c): the expiry timer is started by the first routing table
    the kernel sets up (a flag global to all vnets), so a vnet jail's
    learned routes get an expiry but nothing ever deletes them; vnet0's go
    at 4200.008 s."""
    k = host()
    v = k.jail("v", vnet=True)
    v.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    _at(k, 10)
    k.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    v.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    assert routes(v.vnet)["203.0.113.9/32"] == LEARNED
    _at(k, 5 * 3600)
    assert "203.0.113.9/32" not in routes(k)
    assert routes(v.vnet)["203.0.113.9/32"] == LEARNED


def test_negative_rtexpire_small_expires_at_next_run(k):
    """in_clsroute (netinet/in_rmx.c): rtexpire -5 at uptime 10 gives an
    expiry of 5, already past: the route goes at the next run, 600.002 s."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtexpire", -5)
    _at(k, 10)
    _learn(k)
    _at(k, _run(1) - 0.001)
    assert routes(k)["203.0.113.9/32"] == LEARNED
    _at(k, _run(1))
    assert "203.0.113.9/32" not in routes(k)


def test_negative_rtexpire_below_zero_never_expires(k):
    """in_clsroute/in_rtqkill (netinet/in_rmx.c): rmx_expire is a u_long;
    rtexpire -100 at uptime 10 stores 10 - 100 as a huge number, which is
    never reached: the route stays."""
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.rtexpire", -100)
    _at(k, 10)
    _learn(k)
    _at(k, 10 * 3600)
    assert routes(k)["203.0.113.9/32"] == LEARNED


def test_expire_column(k):
    """in_clsroute (netinet/in_rmx.c) sets rmx_expire; netstat -rn and route
    get show rmx_expire - uptime while positive (route_info): 3600 right
    after learning at uptime 10, 600 at uptime 3010, nothing once due."""
    from kstack.net.route import route_info
    from kstack.netinet.ip import aton

    k.route_add("default", ROUTER)
    _at(k, 10)
    _learn(k)
    rt = k.vnet0.rt[0].match(aton(REMOTE))
    assert route_info(rt, 10).expire == 3600
    assert route_info(rt, 3010).expire == 600
    assert route_info(rt, 3610).expire == 0
    assert "expire 600" in str(route_info(rt, 3010))
    static = k.vnet0.rt[0].match(0)
    assert route_info(static, 3010).expire == 0
