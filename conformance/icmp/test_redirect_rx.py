"""ICMP redirects received by a host: icmp_input()'s redirect case
(netinet/ip_icmp.c) and rtredirect_fib() (net/route.c), with the struct
rtstat counters they move. The expiry of the routes learned this way is in
test_route_expiry.py."""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock as S
from kstack.testing import (
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    ROUTER,
    ROUTER_MAC,
    SUBNET_BCAST,
    UDP,
    Ether,
    Raw,
    eth,
    host,
)

from .helpers import (
    REDIRECT_DELTA,
    REMOTE,
    ROUTER2,
    ROUTER2_MAC,
    ROUTER3,
    next_hop_mac,
    redirect,
    routes,
    rtstat,
    udp_send,
)

LEARNED = ("192.0.2.253", "em0", "UGHD3")


def test_redirect_over_default_route_creates_host_route(k, delta):
    """rtredirect_fib (net/route.c): the route to the destination is the
    default route through the redirect's sender -> a new host route
    UP|GATEWAY|HOST|DYNAMIC through the new gateway (marked RTF_PROTO3 and
    given its expiry by in_clsroute, netinet/in_rmx.c), rts_dynamic; the
    message then goes to raw sockets (icmp_input, netinet/ip_icmp.c)."""
    k.route_add("default", ROUTER)
    k.arp_add(ROUTER2, ROUTER2_MAC)
    with delta(k) as d, rtstat(k) as r:
        out = k.input("em0", redirect())
    assert d == REDIRECT_DELTA
    assert r == {"rts_dynamic": 1}
    assert out.reason == "ips_noproto"
    table = routes(k)
    assert table["203.0.113.9/32"] == LEARNED
    assert table["0.0.0.0/0"] == (ROUTER, "em0", "UGS")
    udp_send(k)
    (frame,) = k.transmitted("em0")
    assert next_hop_mac(frame) == ROUTER2_MAC


def test_redirect_from_other_than_current_gateway_refused(k, delta):
    """rtredirect_fib (net/route.c): the redirect does not come from the gateway of the
    current route (sa_equal(src, rt_gateway)) -> EINVAL, rts_badredirect;
    the route is kept (icmp_input still hands the message to raw)."""
    k.route_add("default", ROUTER)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    assert d == REDIRECT_DELTA
    assert r == {"rts_badredirect": 1}
    assert "203.0.113.9/32" not in routes(k)
    udp_send(k)
    (frame,) = k.transmitted("em0")
    assert next_hop_mac(frame) == ROUTER_MAC


def test_redirect_gateway_not_on_connected_network(k):
    """rtredirect_fib (net/route.c): ifa_ifwithnet(gateway) finds no interface address
    whose network holds the new gateway -> ENETUNREACH before any route
    lookup (no rts_unreach although no route exists), rts_badredirect."""
    with rtstat(k) as r:
        k.input("em0", redirect(gw="10.9.9.9", src=PEER, eth_src=PEER_MAC))
    assert r == {"rts_badredirect": 1}
    assert "203.0.113.9/32" not in routes(k)


@pytest.mark.parametrize("gw", [HOST, SUBNET_BCAST], ids=["our-address", "subnet-broadcast"])
def test_redirect_to_ourselves_refused(k, gw):
    """rtredirect_fib (net/route.c): the new gateway is one of our addresses or the
    broadcast address of one of them (ifa_ifwithaddr_check, net/if.c)
    -> EHOSTUNREACH, rts_badredirect."""
    k.route_add("default", ROUTER)
    with rtstat(k) as r:
        k.input("em0", redirect(gw=gw))
    assert r == {"rts_badredirect": 1}
    assert "203.0.113.9/32" not in routes(k)


def test_redirect_to_gateway_behind_other_interface_refused(k):
    """rtredirect_fib (net/route.c): the route's interface address (rt_ifa, em0's) is not
    the one ifa_ifwithnet gives for the new gateway (em1's) -> EINVAL."""
    k.route_add("default", ROUTER)
    with rtstat(k) as r:
        k.input("em0", redirect(gw="198.51.100.9"))
    assert r == {"rts_badredirect": 1}
    assert "203.0.113.9/32" not in routes(k)


def test_redirect_without_any_route_accepted_from_anyone(k, delta):
    """rtredirect_fib (net/route.c): no route to the destination -> the source check is
    skipped and a host route is created whoever sent the redirect; the
    failed lookup counts rts_unreach (rtalloc1_fib)."""
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    assert d == REDIRECT_DELTA
    assert r == {"rts_unreach": 1, "rts_dynamic": 1}
    assert routes(k)["203.0.113.9/32"] == LEARNED


def test_redirect_for_connected_destination_refused(k):
    """rtredirect_fib (net/route.c): the destination is on a connected network: its
    route has a link-level gateway that never equals the sender -> EINVAL."""
    with rtstat(k) as r:
        k.input("em0", redirect(dst="192.0.2.50"))
    assert r == {"rts_badredirect": 1}
    assert "192.0.2.50/32" not in routes(k)


def test_redirect_modifies_static_host_route(k):
    """rtredirect_fib (net/route.c): a host route with a gateway (here a static one) is
    changed in place: new gateway, RTF_MODIFIED added, still static and
    not dynamic, so it never expires (in_clsroute); rts_newgateway."""
    k.route_add(REMOTE, ROUTER)
    assert routes(k)["203.0.113.9/32"] == (ROUTER, "em0", "UGHS")
    with rtstat(k) as r:
        k.input("em0", redirect())
    assert r == {"rts_newgateway": 1}
    assert routes(k)["203.0.113.9/32"] == (ROUTER2, "em0", "UGHMS")
    k.advance(3 * 3600)
    assert routes(k)["203.0.113.9/32"] == (ROUTER2, "em0", "UGHMS")


def test_redirect_modifies_learned_route(k):
    """rtredirect_fib (net/route.c): a learned host route redirected again by its own
    gateway is modified (RTF_MODIFIED, rts_newgateway); afterwards the
    old gateway is no longer the current one and is refused (EINVAL)."""
    k.route_add("default", ROUTER)
    k.input("em0", redirect())
    with rtstat(k) as r:
        k.input("em0", redirect(gw=ROUTER3, src=ROUTER2, eth_src=ROUTER2_MAC))
    assert r == {"rts_newgateway": 1}
    assert routes(k)["203.0.113.9/32"] == (ROUTER3, "em0", "UGHDM3")
    with rtstat(k) as r:
        k.input("em0", redirect(gw=ROUTER2))
    assert r == {"rts_badredirect": 1}
    assert routes(k)["203.0.113.9/32"] == (ROUTER3, "em0", "UGHDM3")


def test_redirect_over_network_route_adds_host_route(k):
    """rtredirect_fib (net/route.c): the current route is a network route with a gateway
    and icmp_input asks for a host route (RTF_HOST) -> a host route is
    created beside it ("rather than smashing route to net"), rts_dynamic."""
    k.route_add("203.0.113.0/24", ROUTER)
    with rtstat(k) as r:
        k.input("em0", redirect())
    assert r == {"rts_dynamic": 1}
    table = routes(k)
    assert table["203.0.113.0/24"] == (ROUTER, "em0", "UGS")
    assert table["203.0.113.9/32"] == LEARNED


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_every_redirect_code_makes_a_host_route(k, delta, code):
    """icmp_input (netinet/ip_icmp.c): codes 0-3 (net, host, TOS net, TOS host) are all applied
    the same way, always as a host route (RTF_GATEWAY | RTF_HOST)."""
    k.route_add("default", ROUTER)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect(code=code))
    assert d == REDIRECT_DELTA
    assert r == {"rts_dynamic": 1}
    assert routes(k)["203.0.113.9/32"] == LEARNED


def test_redirect_bad_code(k, delta):
    """icmp_input (netinet/ip_icmp.c): redirect code > 3 -> icps_badcode, no routing change,
    still handed to raw sockets."""
    k.route_add("default", ROUTER)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect(code=4))
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[5]": 1, "icps_badcode": 1},
    }
    assert r == {}
    assert "203.0.113.9/32" not in routes(k)


@pytest.mark.parametrize(
    "sysctl", ["net.inet.icmp.drop_redirect", "net.inet.ip.forwarding"], ids=["drop", "router"]
)
def test_redirect_ignored(k, delta, sysctl):
    """icmp_input (netinet/ip_icmp.c): net.inet.icmp.drop_redirect=1, or forwarding on (a
    router ignores redirects, RFC 1812) -> no routing change and no
    counter but the type histogram; still handed to raw sockets."""
    k.route_add("default", ROUTER)
    k.sysctl(sysctl, 1)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect())
    assert d == REDIRECT_DELTA
    assert r == {}
    assert "203.0.113.9/32" not in routes(k)


def _short(inner: bytes) -> object:
    return (
        Ether(src=ROUTER_MAC, dst=HOST_MAC)
        / IP(src=ROUTER, dst=HOST)
        / ICMP(type=5, code=1, gw=ROUTER2)
        / Raw(inner)
    )


@pytest.mark.parametrize("cut", ["inner-ip_hl-4", "icmplen-35"])
def test_redirect_too_short(k, delta, cut):
    """icmp_input (netinet/ip_icmp.c): a redirect shorter than ICMP_ADVLENMIN (36), or quoting
    a header with ip_hl < 5 -> icps_badlen, no routing change, still
    handed to raw sockets."""
    inner = bytearray(bytes(IP(src=HOST, dst=REMOTE) / UDP(sport=1, dport=2)))
    if cut == "inner-ip_hl-4":
        inner[0] = 0x44
    else:
        inner = inner[:27]
    k.route_add("default", ROUTER)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", _short(bytes(inner)))
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[5]": 1, "icps_badlen": 1},
    }
    assert r == {}


def test_raw_socket_gets_refused_redirect(k, delta):
    """icmp_input (netinet/ip_icmp.c): after the routing code (whatever it decided) the redirect
    goes to rip_input: a raw ICMP socket reads it."""
    s = k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    k.route_add("default", ROUTER)
    with delta(k) as d, rtstat(k) as r:
        k.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "icmp": {"icps_inhist[5]": 1}}
    assert r == {"rts_badredirect": 1}
    data, (addr, _port) = s.recvfrom(2048)
    assert addr == PEER
    assert data[20] == 5 and data[21] == 1
    assert data[24:28] == bytes((192, 0, 2, 253))


def test_redirect_applied_to_every_fib():
    """icmp_input (netinet/ip_icmp.c) calls in_rtredirect for every FIB (net.fibs=2): FIB 0
    replaces its default route's use, FIB 1 has no route at all and
    accepts it too (rts_unreach, rts_dynamic twice)."""
    k = host(k=kstack.Kernel(fibs=2))
    k.route_add("default", ROUTER, fib=0)
    with rtstat(k) as r:
        k.input("em0", redirect())
    assert r == {"rts_unreach": 1, "rts_dynamic": 2}
    assert routes(k, 0)["203.0.113.9/32"] == LEARNED
    assert routes(k, 1)["203.0.113.9/32"] == LEARNED


def test_redirect_judged_per_fib():
    """icmp_input (netinet/ip_icmp.c) calls in_rtredirect per FIB: a
    redirect from a host that is not FIB 0's gateway is refused there
    (EINVAL) and accepted in FIB 1, which has no route for the
    destination."""
    k = host(k=kstack.Kernel(fibs=2))
    k.route_add("default", ROUTER, fib=0)
    with rtstat(k) as r:
        k.input("em0", redirect(src=PEER, eth_src=PEER_MAC))
    assert r == {"rts_badredirect": 1, "rts_unreach": 1, "rts_dynamic": 1}
    assert "203.0.113.9/32" not in routes(k, 0)
    assert routes(k, 1)["203.0.113.9/32"] == LEARNED


def test_redirect_received_in_fib1_still_applied_to_fib0():
    """icmp_input (netinet/ip_icmp.c): the FIB the redirect arrived in (em1 is in FIB 1) does
    not limit it; FIB 0's route leaves by em0 (EINVAL there), FIB 1's
    default route is through the sender on em1 (a host route is added)."""
    k = host(k=kstack.Kernel(fibs=2))
    k.ifconfig("em1", fib=1)
    k.route_add("default", ROUTER, fib=0)
    k.route_add("default", "198.51.100.254", fib=1)
    frame = redirect(
        gw="198.51.100.253",
        src="198.51.100.254",
        eth_src="02:00:00:00:01:fe",
        inner_src=HOST1,
        to=HOST1,
        eth_dst=HOST1_MAC,
    )
    with rtstat(k) as r:
        k.input("em1", frame)
    assert r == {"rts_badredirect": 1, "rts_dynamic": 1}
    assert "203.0.113.9/32" not in routes(k, 0)
    assert routes(k, 1)["203.0.113.9/32"] == ("198.51.100.253", "em1", "UGHD3")


def test_redirect_gateway_on_down_interface(k):
    """rtredirect_fib (net/route.c): ifa_ifwithnet (net/if.c) also finds the address of an
    interface that is down, so with no route to the destination a host
    route through the down em1 is created."""
    k.ifconfig("em1", down=True)
    with rtstat(k) as r:
        k.input("em0", redirect(gw="198.51.100.9", src=PEER, eth_src=PEER_MAC))
    assert r == {"rts_unreach": 1, "rts_dynamic": 1}
    assert routes(k)["203.0.113.9/32"] == ("198.51.100.9", "em1", "UGHD3")


def test_log_redirect(k):
    """icmp_input (netinet/ip_icmp.c): net.inet.icmp.log_redirect=1 prints "icmp redirect from
    SRC: DST => GW" for every redirect, before drop_redirect is looked at."""
    k.sysctl("net.inet.icmp.log_redirect", 1)
    k.sysctl("net.inet.icmp.drop_redirect", 1)
    k.vnet0.take_events()
    k.input("em0", redirect())
    lines = [e.what for e in k.vnet0.take_events() if "icmp redirect" in e.what]
    assert lines == ["kernel log: icmp redirect from 192.0.2.254: 203.0.113.9 => 192.0.2.253"]
    assert "203.0.113.9/32" not in routes(k)


def test_redirect_not_logged_by_default(k):
    """icmp_input (netinet/ip_icmp.c): net.inet.icmp.log_redirect defaults to 0."""
    k.vnet0.take_events()
    k.input("em0", redirect())
    assert [e for e in k.vnet0.take_events() if "icmp redirect" in e.what] == []


def test_redirect_leaves_udp_socket_error_alone(k):
    """icmp_input (netinet/ip_icmp.c) calls pfctlinput(PRC_REDIRECT_HOST)
    after the routing change: udp_ctlinput
    (netinet/udp_usrreq.c) returns at once for redirects, so a connected
    socket's pending error is neither cleared nor replaced."""
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5000))
    s.connect((PEER, 7000))
    quote = bytes(IP(src=HOST, dst=PEER, id=1) / UDP(sport=5000, dport=7000) / Raw(b"abcd"))[:28]
    k.input("em0", eth() / IP(src=PEER, dst=HOST) / ICMP(type=3, code=3) / Raw(quote))
    k.input("em0", redirect(dst=PEER, src=PEER, eth_src=PEER_MAC))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == errno.ECONNREFUSED


def test_modify_with_no_fib0_route_to_gateway_panics():
    """rtredirect_fib (net/route.c): after changing a host route's gateway the kernel looks
    the gateway up in the default FIB and releases the result without a
    NULL check (RTFREE_LOCKED(gwrt)); when FIB 0 has no route to it (here
    em0's network route was deleted from FIB 0) the kernel page-faults."""
    k = host(k=kstack.Kernel(fibs=2))
    k.route_add(REMOTE, ROUTER, fib=1)
    k.route_delete("192.0.2.0/24", fib=0)
    with pytest.raises(kstack.Panic, match="rtredirect_fib"):
        k.input("em0", redirect())
