"""ICMP redirects sent by a router: ip_forward() (netinet/ip_input.c) decides,
icmp_error() (netinet/ip_icmp.c) builds the message from the copy of the
packet taken before the TTL was decremented."""

from __future__ import annotations

import kstack
from kstack.testing import (
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    ICMP,
    IP,
    PEER,
    REMOTE,
    ROUTER,
    UDP,
    Ether,
    Raw,
    eth,
    eth1,
    host,
    ip_bytes,
    reply_eth,
)

from .helpers import ROUTER2, ROUTER2_MAC, redirect

REDIRECT_SENT = {
    "ip": {"ips_total": 1, "ips_forward": 1, "ips_redirectsent": 1, "ips_localout": 1},
    "icmp": {"icps_outhist[5]": 1},
}
FORWARDED = {"ip": {"ips_total": 1, "ips_forward": 1}}


def _redirect_msg(quote: bytes, gw: str, **ip: object):
    return (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1, **ip)
        / ICMP(type=5, code=1, gw=gw)
        / Raw(quote)
    )


def _transit(dst: str = REMOTE, src: str = PEER, payload: bytes = b"data", **ip: object):
    return eth() / IP(src=src, dst=dst, ttl=10, id=9, **ip) / UDP(sport=7, dport=9) / Raw(payload)


def test_redirect_to_destination_on_same_network(fwd, delta, match_frame):
    """ip_forward (netinet/ip_input.c): the destination is on the network the packet came from
    (an interface route, no gateway): the redirect names the destination
    itself as the gateway; the packet is forwarded to it."""
    fwd.arp_add("192.0.2.50", "02:00:00:00:00:32")
    req = _transit(dst="192.0.2.50")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == REDIRECT_SENT
    fwded, msg = fwd.transmitted("em0")
    assert fwded[0:6] == bytes.fromhex("020000000032")
    match_frame(msg, _redirect_msg(ip_bytes(req)[:28], "192.0.2.50"))


def test_no_redirect_for_sender_off_the_subnet(fwd, delta):
    """ip_forward (netinet/ip_input.c): the packet's source is not inside the egress address's
    subnet (ia_subnet): it is forwarded without a redirect."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    with delta(fwd) as d:
        fwd.input("em0", _transit(src="10.9.9.9"))
    assert d == FORWARDED
    assert len(fwd.transmitted("em0")) == 1


def test_no_redirect_over_learned_route(k, delta):
    """ip_forward (netinet/ip_input.c): no redirect over a route that a redirect created
    (RTF_DYNAMIC); learned while forwarding was off, since a router
    ignores redirects."""
    k.route_add("default", ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    k.input("em0", redirect())
    k.sysctl("net.inet.ip.forwarding", 1)
    with delta(k) as d:
        k.input("em0", _transit())
    assert d == FORWARDED
    (fwded,) = k.transmitted("em0")
    assert fwded[0:6] == bytes.fromhex("0200000000fd")


def test_no_redirect_over_modified_route(k, delta):
    """ip_forward (netinet/ip_input.c): no redirect over a route a redirect modified
    (RTF_MODIFIED), though it is a static host route."""
    k.route_add(REMOTE, ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    k.input("em0", redirect())
    k.sysctl("net.inet.ip.forwarding", 1)
    with delta(k) as d:
        k.input("em0", _transit())
    assert d == FORWARDED
    assert len(k.transmitted("em0")) == 1


def test_redirect_over_static_host_route(k, delta, match_frame):
    """ip_forward (netinet/ip_input.c): a static host route through a router on the arrival
    network does draw a redirect naming that router."""
    k.route_add(REMOTE, ROUTER)
    k.sysctl("net.inet.ip.forwarding", 1)
    req = _transit()
    with delta(k) as d:
        k.input("em0", req)
    assert d == REDIRECT_SENT
    _fwded, msg = k.transmitted("em0")
    match_frame(msg, _redirect_msg(ip_bytes(req)[:28], ROUTER))


def test_redirects_not_rate_limited(fwd, delta):
    """icmp_error (netinet/ip_icmp.c) has no limiter: 250 redirected packets in one second
    give 250 redirects (ips_redirectsent 250), and icps_error does not
    count redirects."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    with delta(fwd) as d:
        for _ in range(250):
            fwd.input("em0", _transit())
    assert d == {
        "ip": {"ips_total": 250, "ips_forward": 250, "ips_redirectsent": 250, "ips_localout": 250},
        "icmp": {"icps_outhist[5]": 250},
    }
    assert len(fwd.transmitted("em0")) == 500


def test_redirect_quote_limited_to_saved_copy(fwd, match_frame):
    """ip_forward (netinet/ip_input.c) keeps at most one packet-header mbuf (MHLEN, 168 bytes on
    amd64) of the packet for later errors: with quotelen 1000 a redirect
    about a 240-byte packet quotes its first 168 bytes."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    fwd.sysctl("net.inet.icmp.quotelen", 1000)
    req = _transit(payload=bytes(range(212)))
    assert len(ip_bytes(req)) == 240
    fwd.input("em0", req)
    _fwded, msg = fwd.transmitted("em0")
    match_frame(msg, _redirect_msg(ip_bytes(req)[:168], ROUTER))


def test_redirect_about_icmp_error(fwd, delta, match_frame):
    """icmp_error (netinet/ip_icmp.c): the "never about an ICMP error" rule does not apply to
    redirects: a forwarded destination unreachable draws one."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    inner = bytes(IP(src=REMOTE, dst=PEER) / UDP(sport=2, dport=1))
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=10, id=9) / ICMP(type=3, code=3) / Raw(inner)
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == REDIRECT_SENT
    _fwded, msg = fwd.transmitted("em0")
    match_frame(msg, _redirect_msg(ip_bytes(req)[:28], ROUTER))


def test_redirect_copies_df(fwd, match_frame):
    """icmp_error (netinet/ip_icmp.c) (9.0): the redirect's header copies ip_off (DF) of the
    saved copy of the forwarded packet."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    req = _transit(flags="DF")
    fwd.input("em0", req)
    _fwded, msg = fwd.transmitted("em0")
    match_frame(msg, _redirect_msg(ip_bytes(req)[:28], ROUTER, flags="DF"))


def test_failed_forward_sends_error_not_redirect(fwd, delta):
    """ip_forward (netinet/ip_input.c): a redirect is only sent when ip_output succeeded; here
    the route's MTU (576) refuses a 1000-byte DF packet: a needfrag with
    next-hop MTU 576 goes back instead, no ips_redirectsent."""
    fwd.route_add("203.0.113.0/24", ROUTER, mtu=576)
    req = _transit(payload=b"x" * 972, flags="DF")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_cantfrag": 2, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    (msg,) = fwd.transmitted("em0")
    assert (msg[34], msg[35], int.from_bytes(msg[40:42], "big")) == (3, 4, 576)


def test_redirect_decided_in_packet_fib(match_frame):
    """ip_forward (netinet/ip_input.c): the redirect check uses the packet's FIB: a packet that
    came in on em1 (FIB 1, whose route to 203.0.113.0/24 goes back out of
    em1) draws a redirect; FIB 0's default route would have taken it to
    em0 without one."""
    k = host(k=kstack.Kernel(fibs=2))
    k.ifconfig("em1", fib=1)
    k.sysctl("net.inet.ip.forwarding", 1)
    k.arp_add(FAR, FAR_MAC)
    k.arp_add("198.51.100.254", "02:00:00:00:01:fe")
    k.route_add("default", ROUTER, fib=0)
    k.route_add("203.0.113.0/24", "198.51.100.254", fib=1)
    req = eth1() / IP(src=FAR, dst=REMOTE, ttl=10, id=9) / UDP(sport=7, dport=9) / Raw(b"data")
    k.input("em1", req)
    assert k.transmitted("em0") == []
    fwded, msg = k.transmitted("em1")
    assert fwded[0:6] == bytes.fromhex("0200000001fe")
    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST1, dst=FAR, id=BOOT_IP_ID, proto=1)
        / ICMP(type=5, code=1, gw="198.51.100.254")
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(msg, want)
