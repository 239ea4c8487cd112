"""Expiry of routes learned from redirects (sys/netinet/in_rmx.c).

Line numbers: FreeBSD 9.1 in_rmx.c (identical to the Feb 2011 head) and
sys/net/route.c. The rules used:

* rtfree (route.c 430-460) calls in_clsroute (in_rmx.c 160-185) when the
  last reference goes: an RTF_DYNAMIC route gets RTPRF_OURS and
  expire = time_uptime + net.inet.ip.rtexpire (or is deleted at once when
  rtexpire is 0).
* A lookup through in_matroute (119-132) clears the mark; the next release
  sets a fresh expiry. `route get` uses rn_lookup and does not.
* in_rtqtimo (252-268) runs once 1 tick after boot (in_inithead 370-374)
  and then every 600 s (RTQ_TIMEOUT, 242); in_rtqkill (202-233) deletes marked
  routes whose expiry is <= time_uptime. So a route dies at the first
  600 s tick at or after its expiry.
* in_rtqtimo_one (271-311): more than net.inet.ip.rtmaxcache marked routes
  left, at most once per 600 s, rtexpire := 2*rtexpire/3 (integer), never
  below net.inet.ip.rtminexpire, and longer expiries are cut to the new
  value.

Checks are made 10 s away from each 600 s tick.
"""

from .common import (
    FAR,
    GW,
    GW_MAC,
    IP,
    LOCAL0,
    UDP,
    Ether,
    Raw,
    aton,
    icmp_msg,
    inject,
    ipv4,
    make_kernel,
    sock,
)

ALT_GW = "192.0.2.253"
ALT_GW_MAC = "02:00:00:00:00:fd"
OTHER = "203.0.113.6"


def redirect(k, dst=FAR, gw=ALT_GW):
    q = bytes(IP(src=LOCAL0, dst=dst, ttl=64, id=1) / UDP(sport=5000, dport=9) / b"q")[:28]
    msg = icmp_msg(5, 1, int.from_bytes(aton(gw), "big"), q)
    inject(k, "em0", GW_MAC, ipv4(GW, LOCAL0, 1, msg, ident=0x6666))


def host():
    k = make_kernel(default=GW)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    return k


def at(k, t):
    """Advance the virtual clock to t seconds after boot."""
    k.advance(t - k.now)


def learned(k, dst=FAR):
    """Is the learned host route in the table? Read as netstat -rn does (a
    tree walk, rtsock.c sysctl_rtsock), which takes no reference."""
    return any(r.prefix == dst + "/32" and r.gateway == ALT_GW for r in k.routes())


def test_defaults():
    """in_rmx.c 135-153: rtexpire 3600, rtminexpire 10, rtmaxcache 128."""
    k = host()
    assert k.sysctl("net.inet.ip.rtexpire") == 3600
    assert k.sysctl("net.inet.ip.rtminexpire") == 10
    assert k.sysctl("net.inet.ip.rtmaxcache") == 128


def test_redirect_route_expires_at_first_timer_run_after_an_hour():
    """Learned at t=5: expiry 3605; the 3600 s run keeps it, the 4200 s run
    deletes it; traffic then follows the default route again."""
    k = host()
    at(k, 5)
    redirect(k)
    at(k, 4190)
    assert learned(k)
    at(k, 4210)
    assert not learned(k)
    assert k.route_get(FAR).prefix == "0.0.0.0/0"
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"after", (FAR, 9))
    (f,) = k.transmitted("em0")
    assert f[:6] == bytes.fromhex(GW_MAC.replace(":", ""))


def test_route_get_does_not_restart_the_expiry():
    """rtsock.c route_output RTM_GET (700-712) finds the route with
    rnh_lookup = rn_lookup (radix.c 225-244, a plain rn_match), not
    in_matroute, so the RTPRF_OURS mark and the expiry stay; in_clsroute
    returns early for a marked route (169-170) when the reference is
    dropped. Looking the route up at t=4190 does not save it from the
    4200 s run."""
    k = host()
    at(k, 5)
    redirect(k)
    at(k, 4190)
    assert k.route_get(FAR).gateway == ALT_GW
    at(k, 4210)
    assert not learned(k)


def test_rtexpire_zero_deletes_the_route_at_once():
    """in_clsroute 174-184: with rtexpire 0 the dynamic route is expunged as
    soon as rtredirect_fib drops its reference (route.c 631-632)."""
    k = host()
    k.sysctl("net.inet.ip.rtexpire", 0)
    redirect(k)
    assert k.route_get(FAR).prefix == "0.0.0.0/0"


def test_short_rtexpire_still_waits_for_the_timer():
    """rtexpire 100, learned at t=5 (expiry 105): deleted only by the 600 s
    run."""
    k = host()
    k.sysctl("net.inet.ip.rtexpire", 100)
    at(k, 5)
    redirect(k)
    at(k, 590)
    assert learned(k)
    at(k, 610)
    assert not learned(k)


def test_using_the_route_restarts_its_expiry():
    """in_matroute 119-132 + in_clsroute: a datagram sent at t=3010 through
    the learned route resets its expiry to 6610, so it survives the 4200 s
    run and dies at the 7200 s one."""
    k = host()
    at(k, 5)
    redirect(k)
    at(k, 3010)
    k.socket(sock.AF_INET, sock.SOCK_DGRAM).sendto(b"use", (FAR, 9))
    (f,) = k.transmitted("em0")
    assert f[:6] == bytes.fromhex(ALT_GW_MAC.replace(":", ""))
    at(k, 4210)
    assert learned(k)
    at(k, 7190)
    assert learned(k)
    at(k, 7210)
    assert not learned(k)


def test_rtmaxcache_exceeded_cranks_rtexpire_down():
    """in_rtqtimo_one 293-310 with rtmaxcache 1 and two learned routes
    (t=5, expiry 3605): 600 s run: 3600 -> 2400, expiries cut to 3000;
    1200: -> 1600, expiries cut to 2800; 1800: -> 1066; 2400: -> 710; the
    3000 s run deletes both routes (2800 <= 3000) and nothing changes any
    more."""
    k = host()
    k.sysctl("net.inet.ip.rtmaxcache", 1)
    at(k, 5)
    redirect(k, FAR)
    redirect(k, OTHER)
    seen = {}
    for t in (590, 610, 1210, 1810, 2410):
        at(k, t)
        seen[t] = k.sysctl("net.inet.ip.rtexpire")
    assert seen == {590: 3600, 610: 2400, 1210: 1600, 1810: 1066, 2410: 710}
    at(k, 2990)
    assert learned(k, FAR) and learned(k, OTHER)
    at(k, 3010)
    assert not learned(k, FAR) and not learned(k, OTHER)
    at(k, 3610)
    assert k.sysctl("net.inet.ip.rtexpire") == 710


def test_rtminexpire_is_the_floor():
    """in_rtqtimo_one 293-300: the reduction stops at rtminexpire (2000
    here): 3600 -> 2400 -> 2000, then no further change."""
    k = host()
    k.sysctl("net.inet.ip.rtmaxcache", 1)
    k.sysctl("net.inet.ip.rtminexpire", 2000)
    at(k, 5)
    redirect(k, FAR)
    redirect(k, OTHER)
    seen = {}
    for t in (610, 1210, 1810, 2410):
        at(k, t)
        seen[t] = k.sysctl("net.inet.ip.rtexpire")
    assert seen == {610: 2400, 1210: 2000, 1810: 2000, 2410: 2000}


def test_modified_static_route_never_expires():
    """in_clsroute 172-173: only RTF_DYNAMIC routes are marked for expiry; a
    static host route whose gateway a redirect changed (RTF_MODIFIED) stays."""
    k = host()
    k.route_add(FAR, GW)
    at(k, 5)
    redirect(k)
    at(k, 7210)
    assert learned(k)
    assert "M" in k.route_get(FAR).flags


def test_vnet_jail_redirect_routes_never_expire():
    """in_rmx.c in_inithead 370-374: the expiry callout is started only on
    the first call (the flag _in_rt_was_here is a plain global, not
    per-vnet), i.e. for vnet0. A vnet jail's stack never runs in_rtqtimo,
    so a route it learns from a redirect stays; vnet0's own expires."""
    k = host()
    v = k.jail("v1", vnet=True)
    a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.1.0.2/24")
    v.route_add("default", "10.1.0.1")
    v.transmitted(b)
    at(k, 5)
    q = bytes(IP(src="10.1.0.2", dst=FAR, ttl=64, id=1) / UDP(sport=5000, dport=9) / b"q")[:28]
    msg = icmp_msg(5, 1, int.from_bytes(aton("10.1.0.3"), "big"), q)
    d = ipv4("10.1.0.1", "10.1.0.2", 1, msg, ident=0x6767)
    v.input(
        b, bytes(Ether(src="02:00:00:00:0a:01", dst=v.iface(b).ether, type=0x0800) / Raw(load=d))
    )
    redirect(k)
    at(k, 4210)
    assert not learned(k)
    assert any(r.prefix == FAR + "/32" and r.gateway == "10.1.0.3" for r in v.vnet.routes())
