"""Redirects received: icmp_input() and rtredirect_fib().

Line numbers: FreeBSD 9.1 sys/netinet/ip_icmp.c (icmp_input, redirect case
574-631) and sys/net/route.c (rtredirect_fib 524-645); both are the same in
the Feb 2011 head. Route flags are compared as netstat -rn letters; the
'3' (RTF_PROTO3, which in_rmx.c in_clsroute sets on an idle dynamic route
to mark it for expiry) is left out of the comparison.
"""

import pytest

from .common import (
    FAR,
    GW,
    GW_MAC,
    IP,
    LOCAL0,
    PEER,
    PEER_MAC,
    UDP,
    Counters,
    aton,
    icmp_msg,
    inject,
    ipv4,
    make_kernel,
    sock,
)

ALT_GW = "192.0.2.253"
ALT_GW_MAC = "02:00:00:00:00:fd"
IGNORED = {"ips_total": 1, "ips_noproto": 1, "icps_inhist[5]": 1}


def word(a):
    return int.from_bytes(aton(a), "big")


def quote(dst=FAR):
    return bytes(IP(src=LOCAL0, dst=dst, ttl=64, id=1) / UDP(sport=5000, dport=9) / b"q")[:28]


def redirect(k, gw, dst=FAR, code=1, sender=GW, sender_mac=GW_MAC, body=None):
    msg = icmp_msg(5, code, word(gw), quote(dst) if body is None else body)
    return inject(k, "em0", sender_mac, ipv4(sender, LOCAL0, 1, msg, ident=0x5555))


def flags(k, dst, fib=0):
    return k.route_get(dst, fib=fib).flags.replace("3", "")


def route(k, dst, fib=0):
    r = k.route_get(dst, fib=fib)
    return (r.prefix, r.gateway, r.ifname)


@pytest.fixture
def host():
    k = make_kernel(default=GW)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    return k


def test_redirect_creates_dynamic_host_route(host):
    """ip_icmp.c 612-626: the quoted destination, the new gateway and the
    sender go to rtredirect_fib; the current route is the default route
    (route.c 570: mask length < 2) from the sender, so a host route
    RTF_GATEWAY|RTF_HOST|RTF_DYNAMIC is added (582-606). The message then
    goes to raw sockets (648-649; none here: ips_noproto)."""
    c = Counters(host)
    redirect(host, ALT_GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert flags(host, FAR) == "UGHD"
    assert route(host, "203.0.113.6") == ("0.0.0.0/0", GW, "em0")
    assert c.delta() == IGNORED


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_every_redirect_code_makes_a_host_route(host, code):
    """ip_icmp.c 596-597 accepts codes 0-3 and 622-626 always pass
    RTF_GATEWAY|RTF_HOST: a network redirect also gives a host route."""
    redirect(host, ALT_GW, code=code)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert flags(host, FAR) == "UGHD"


@pytest.mark.parametrize("code", [4, 9, 255])
def test_redirect_code_above_3_is_badcode(host, code):
    """ip_icmp.c 596-597 -> badcode (494-496): icps_badcode, no route; the
    message still reaches raw sockets."""
    c = Counters(host)
    redirect(host, ALT_GW, code=code)
    assert route(host, FAR) == ("0.0.0.0/0", GW, "em0")
    assert c.delta() == {**IGNORED, "icps_badcode": 1}


@pytest.mark.parametrize("code", [1, 9])
def test_router_ignores_redirects(code):
    """ip_icmp.c 594-595: with forwarding on, redirects are ignored before
    the code is looked at (no icps_badcode even for code 9)."""
    k = make_kernel(forwarding=True, default=GW)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    c = Counters(k)
    redirect(k, ALT_GW, code=code)
    assert route(k, FAR) == ("0.0.0.0/0", GW, "em0")
    assert c.delta() == IGNORED


def test_drop_redirect_sysctl(host):
    """ip_icmp.c 111-115, 594-595: net.inet.icmp.drop_redirect=1 ignores
    redirects."""
    assert host.sysctl("net.inet.icmp.drop_redirect") == 0
    host.sysctl("net.inet.icmp.drop_redirect", 1)
    c = Counters(host)
    redirect(host, ALT_GW)
    assert route(host, FAR) == ("0.0.0.0/0", GW, "em0")
    assert c.delta() == IGNORED


def test_log_redirect_only_logs(host):
    """ip_icmp.c 575-589: net.inet.icmp.log_redirect only prints the
    redirect on the console; processing goes on (the route is learned)."""
    assert host.sysctl("net.inet.icmp.log_redirect") == 0
    host.sysctl("net.inet.icmp.log_redirect", 1)
    c = Counters(host)
    redirect(host, ALT_GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert c.delta() == IGNORED


@pytest.mark.parametrize(
    "body",
    [
        quote()[:20],  # 28 bytes of ICMP < ICMP_ADVLENMIN (36)
        bytes([0x46]) + quote()[1:],  # inner hl 6: needs 8+24+8 = 40
        bytes([0x44]) + quote()[1:],  # inner hl 4 < 5
    ],
    ids=["short", "inner-options-cut", "inner-hl-4"],
)
def test_short_redirect_is_badlen(host, body):
    """ip_icmp.c 598-602: icmplen below ICMP_ADVLENMIN, below 8 + inner
    header + 8, or an inner ip_hl < 5 -> icps_badlen and no route change;
    the redirect case 'breaks' to the raw delivery (unlike the error types,
    which free the message)."""
    c = Counters(host)
    redirect(host, ALT_GW, body=body)
    assert route(host, FAR) == ("0.0.0.0/0", GW, "em0")
    assert c.delta() == {**IGNORED, "icps_badlen": 1}


@pytest.mark.parametrize(
    ("gw", "sender", "why"),
    [
        ("203.0.113.1", GW, "gateway not on a connected network (route.c 545-548)"),
        (ALT_GW, PEER, "not sent by the current gateway (555-559)"),
        (LOCAL0, GW, "gateway is one of our addresses (560-561)"),
        ("198.51.100.9", GW, "gateway on another interface than the route (558)"),
    ],
)
def test_redirect_refused(host, gw, sender, why):
    """rtredirect_fib refuses the redirect (rts_badredirect, 633-635) and the
    routing table is unchanged."""
    mac = PEER_MAC if sender == PEER else GW_MAC
    redirect(host, gw, sender=sender, sender_mac=mac)
    assert route(host, FAR) == ("0.0.0.0/0", GW, "em0"), why


def test_redirect_for_a_connected_destination_is_refused(host):
    """route.c 555-559: the route to an on-link destination has a link-level
    gateway, which never equals the sender's address: EINVAL, no route."""
    redirect(host, ALT_GW, dst="192.0.2.50")
    assert route(host, "192.0.2.50") == ("192.0.2.0/24", None, "em0")


def test_redirect_modifies_a_static_gateway_host_route(host):
    """route.c 576 + 607-624: the current route is a gateway host route, so
    its gateway is replaced in place and RTF_MODIFIED is added (netstat
    'M', which comes before 'S')."""
    host.route_add(FAR, GW)
    assert flags(host, FAR) == "UGHS"
    redirect(host, ALT_GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert flags(host, FAR) == "UGHMS"


def test_redirect_through_a_network_route_adds_a_host_route(host):
    """route.c 576-606: a gateway *network* route is not changed; a new
    dynamic host route is added for the destination."""
    host.route_add("203.0.113.0/24", GW)
    redirect(host, ALT_GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert flags(host, FAR) == "UGHD"
    assert route(host, "203.0.113.6") == ("203.0.113.0/24", GW, "em0")
    assert flags(host, "203.0.113.6") == "UGS"


def test_redirect_without_any_route_is_accepted_from_anyone():
    """route.c 557-559 checks the sender only when a route exists; with none
    (570: rt == NULL) a host route is created on the word of any on-link
    sender."""
    k = make_kernel()
    k.arp_add(ALT_GW, ALT_GW_MAC)
    redirect(k, ALT_GW, sender=PEER, sender_mac=PEER_MAC)
    assert route(k, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert flags(k, FAR) == "UGHD"


def test_second_redirect_modifies_the_dynamic_route(host):
    """A redirect route is a gateway host route: a later redirect from its
    gateway changes it in place (route.c 607-624: D and M); one from the
    old gateway is refused (555-559)."""
    redirect(host, ALT_GW)
    redirect(host, "192.0.2.252", sender=GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    redirect(host, "192.0.2.252", sender=ALT_GW, sender_mac=ALT_GW_MAC)
    assert route(host, FAR) == (FAR + "/32", "192.0.2.252", "em0")
    assert flags(host, FAR) == "UGHDM"


def test_redirect_applies_to_every_fib():
    """ip_icmp.c 622-626 calls in_rtredirect for each FIB; in FIB 1, which
    has no route to the destination, route.c 570 creates the host route
    too."""
    k = make_kernel(default=GW, fibs=2)
    k.arp_add(ALT_GW, ALT_GW_MAC)
    redirect(k, ALT_GW)
    assert route(k, FAR, fib=0) == (FAR + "/32", ALT_GW, "em0")
    assert route(k, FAR, fib=1) == (FAR + "/32", ALT_GW, "em0")
    assert flags(k, FAR, fib=1) == "UGHD"


def test_redirect_is_also_given_to_raw_sockets(host):
    """ip_icmp.c 648-649: after the route change the message goes to
    rip_input, so a raw ICMP socket receives it (no ips_noproto)."""
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_ICMP)
    msg = icmp_msg(5, 1, word(ALT_GW), quote())
    c = Counters(host)
    inject(host, "em0", GW_MAC, ipv4(GW, LOCAL0, 1, msg, ident=0x5555))
    data, (addr, _) = s.recvfrom(2048)
    assert (data[20:], addr) == (msg, GW)
    assert route(host, FAR) == (FAR + "/32", ALT_GW, "em0")
    assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "icps_inhist[5]": 1}


def test_short_unreachable_is_badlen_and_not_given_to_raw(host):
    """ip_icmp.c 466-474: for the error types a too-short quote is
    icps_badlen and the message is freed (goto freeit), so a raw ICMP
    socket gets nothing (ips_delivered stays counted)."""
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_ICMP)
    msg = icmp_msg(3, 1, 0, quote()[:20])
    c = Counters(host)
    inject(host, "em0", GW_MAC, ipv4(GW, LOCAL0, 1, msg, ident=0x5556))
    try:
        got = s.recvfrom(2048)
    except BlockingIOError:
        got = None
    assert got is None
    assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "icps_inhist[3]": 1, "icps_badlen": 1}
