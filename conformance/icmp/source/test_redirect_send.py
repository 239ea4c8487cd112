"""Redirects sent by ip_forward().

Line numbers: FreeBSD 9.1 sys/netinet/ip_input.c (ip_forward 1365-1595,
redirect choice 1446-1489); the same in the Feb 2011 head.
"""

import pytest

from .common import (
    FAR,
    GW,
    GW1,
    GW1_MAC,
    GW_MAC,
    IP,
    IP_DF,
    LOCAL0,
    PEER,
    PEER_MAC,
    UDP,
    Counters,
    assert_frame,
    aton,
    cksum,
    ether,
    icmp_error_frame,
    icmp_msg,
    inject,
    ipv4,
    make_kernel,
)

REDIRECT_COUNTS = {
    "ips_total": 1,
    "ips_forward": 1,
    "ips_redirectsent": 1,
    "ips_localout": 1,
    "icps_outhist[5]": 1,
}
NEAR = "192.0.2.50"
NEAR_MAC = "02:00:00:00:00:50"
ALT_GW = "192.0.2.253"
ALT_GW_MAC = "02:00:00:00:00:fd"


def gw_word(a):
    return int.from_bytes(aton(a), "big")


def dgram(dst, src=PEER, size=60, df=False):
    p = IP(src=src, dst=dst, ttl=64, id=0x3333, flags="DF" if df else 0) / UDP(sport=40000, dport=9)
    return bytes(p / (b"r" * (size - 28)))


def forwarded(d):
    h = bytearray(d[:20])
    h[8] -= 1
    h[10:12] = b"\x00\x00"
    h[10:12] = cksum(bytes(h)).to_bytes(2, "big")
    return bytes(h) + d[20:]


@pytest.fixture
def router():
    k = make_kernel(forwarding=True)
    k.arp_add(NEAR, NEAR_MAC)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    k.route_add("203.0.113.0/24", GW)
    k.transmitted("em0")
    return k


def test_redirect_to_the_route_gateway(router):
    """ip_forward 1454-1487: the route goes back out the receiving interface,
    is neither dynamic/modified nor the default route, and the sender is
    on that interface's subnet: a host redirect (type 5 code 1) naming the
    route's gateway. The packet is forwarded first (1494), then
    ips_forward and ips_redirectsent (1503-1506) and icmp_error (1594),
    which does not count icps_error for redirects (192-193) and quotes the
    header as received."""
    d = dgram(FAR)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    fwd, red = router.transmitted("em0")
    assert_frame(fwd, ether(GW_MAC, router.iface("em0").ether, forwarded(d)))
    exp = icmp_error_frame(
        router, red, "em0", PEER_MAC, LOCAL0, PEER, 5, 1, d[:28], rest=gw_word(GW)
    )
    assert_frame(red, exp)
    assert c.delta() == REDIRECT_COUNTS


def test_redirect_for_a_direct_route_names_the_destination(router):
    """ip_forward 1475-1478: with a connected (non-gateway) route the
    redirect's gateway is the destination itself."""
    d = dgram(NEAR)
    inject(router, "em0", PEER_MAC, d)
    fwd, red = router.transmitted("em0")
    assert_frame(fwd, ether(NEAR_MAC, router.iface("em0").ether, forwarded(d)))
    exp = icmp_error_frame(
        router, red, "em0", PEER_MAC, LOCAL0, PEER, 5, 1, d[:28], rest=gw_word(NEAR)
    )
    assert_frame(red, exp)


def test_no_redirect_via_default_route():
    """ip_forward 1468-1469: a route whose key is 0.0.0.0 (the default
    route) never triggers a redirect."""
    k = make_kernel(forwarding=True, default=GW)
    d = dgram(FAR)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (fwd,) = k.transmitted("em0")
    assert_frame(fwd, ether(GW_MAC, k.iface("em0").ether, forwarded(d)))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_no_redirect_when_sender_is_off_subnet(router):
    """ip_forward 1472-1474: the sender must be inside the subnet of the
    route's interface address."""
    d = dgram(FAR, src="10.1.1.1")
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (fwd,) = router.transmitted("em0")
    assert_frame(fwd, ether(GW_MAC, router.iface("em0").ether, forwarded(d)))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_no_redirect_when_net_inet_ip_redirect_is_0(router):
    """ip_input.c 97-101 (net.inet.ip.redirect, default 1) and ip_forward
    1454: with 0 nothing is sent."""
    assert router.sysctl("net.inet.ip.redirect") == 1
    router.sysctl("net.inet.ip.redirect", 0)
    d = dgram(FAR)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (fwd,) = router.transmitted("em0")
    assert_frame(fwd, ether(GW_MAC, router.iface("em0").ether, forwarded(d)))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_no_redirect_when_egress_is_another_interface():
    """ip_forward 1455: the egress interface (ia from ip_rtaddr) must be the
    receiving one."""
    k = make_kernel(forwarding=True)
    k.route_add("203.0.113.0/24", GW1)
    d = dgram(FAR)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    assert k.transmitted("em0") == []
    (fwd,) = k.transmitted("em1")
    assert_frame(fwd, ether(GW1_MAC, k.iface("em1").ether, forwarded(d)))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


@pytest.mark.parametrize("kind", ["dynamic", "modified"])
def test_no_redirect_through_a_route_learned_from_a_redirect(kind):
    """ip_forward 1468: routes flagged RTF_DYNAMIC (created by a redirect)
    or RTF_MODIFIED (gateway changed by one) never cause redirects. The
    route is learned while forwarding is off (icmp_input ignores redirects
    on a router, ip_icmp.c 594-595), then forwarding is turned on."""
    k = make_kernel(default=GW)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    if kind == "modified":
        k.route_add(FAR, GW)
    quote = bytes(IP(src=LOCAL0, dst=FAR, ttl=64, id=1) / UDP(sport=1, dport=2))[:28]
    red = ipv4(GW, LOCAL0, 1, icmp_msg(5, 1, gw_word(ALT_GW), quote), ident=1)
    inject(k, "em0", GW_MAC, red)
    assert k.route_get(FAR).gateway == ALT_GW
    k.sysctl("net.inet.ip.forwarding", 1)
    k.transmitted("em0")
    d = dgram(FAR)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (fwd,) = k.transmitted("em0")
    assert_frame(fwd, ether(ALT_GW_MAC, k.iface("em0").ether, forwarded(d)))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_redirect_sent_for_packet_with_options(router):
    """ip_forward 1454 tests only srcrt: options other than a source route do
    not prevent the redirect; icmp_error quotes the header with its options
    (ip_icmp.c 246-248)."""
    opts = b"\x01\x01\x01\x01"
    d = ipv4(
        PEER, FAR, 17, b"\x9c\x40\x00\x09\x00\x10\x00\x00" + b"o" * 8, ident=0x44, options=opts
    )
    inject(router, "em0", PEER_MAC, d)
    fwd, red = router.transmitted("em0")
    h = bytearray(d[:24])
    h[8] -= 1
    h[10:12] = b"\x00\x00"
    h[10:12] = cksum(bytes(h)).to_bytes(2, "big")
    assert_frame(fwd, ether(GW_MAC, router.iface("em0").ether, bytes(h) + d[24:]))
    exp = icmp_error_frame(
        router, red, "em0", PEER_MAC, LOCAL0, PEER, 5, 1, d[:32], rest=gw_word(GW)
    )
    assert_frame(red, exp)


def test_failed_forward_sends_needfrag_not_redirect():
    """ip_forward 1501-1502 + 1536-1564: when ip_output fails the pending
    redirect is dropped (type and code are replaced), no ips_redirectsent;
    here DF over the route MTU gives a needfrag."""
    k = make_kernel(forwarding=True)
    k.route_add("203.0.113.0/24", GW, mtu=1280)
    d = dgram(FAR, size=1300, df=True)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em0")
    assert_frame(
        f, icmp_error_frame(k, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1280, off=IP_DF)
    )
    assert c.delta() == {
        "ips_total": 1,
        "ips_cantfrag": 2,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_redirect_copies_df_and_is_sent_even_about_icmp_errors(router):
    """icmp_error 207-212 skips the 'no error about an ICMP error' rule for
    redirects, and 311 copies ip_off: a DF datagram carrying an ICMP
    unreachable still gets a redirect, and the redirect has DF."""
    inner = icmp_msg(3, 3, 0, b"\x45" + b"\x00" * 27)
    d = ipv4(PEER, FAR, 1, inner, ident=0x77, off=IP_DF)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    fwd, red = router.transmitted("em0")
    assert_frame(fwd, ether(GW_MAC, router.iface("em0").ether, forwarded(d)))
    exp = icmp_error_frame(
        router, red, "em0", PEER_MAC, LOCAL0, PEER, 5, 1, d[:28], rest=gw_word(GW), off=IP_DF
    )
    assert_frame(red, exp)
    assert c.delta() == REDIRECT_COUNTS
