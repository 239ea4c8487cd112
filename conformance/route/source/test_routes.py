"""route add / delete / get per FIB: net/rtsock.c route_output() and net/route.c.

route(8) talks to a routing socket whose so_fibnum is the FIB it runs in
(setfib N route ...; rtsock.c 319 takes p_fibnum at attach): RTM_ADD and
RTM_DELETE go to rtrequest1_fib(..., so_fibnum) (rtsock.c 670-692), RTM_GET
looks up that FIB's table (700-713). Host: net.fibs=2, em0 192.0.2.1/24 and
em1 198.51.100.1/24 in both FIBs, static ARP for the gateways.
"""

import pytest

from conformance.route.source.common import (
    EM0,
    GW,
    GW1,
    GW_MAC,
    IP,
    PEER,
    REMOTE,
    UDP,
    Ether,
    errno,
    ip_frames,
    mac,
    make_host,
    oserr,
    route,
    sent,
    settle,
    sock,
    udp_in,
    udp_send,
    udp_socket,
)


def test_route_added_in_one_fib_only(k):
    """rtsock.c 670-671: the route goes to the table of the caller's FIB;
    RTM_GET (700-713) in the other FIB does not see it."""
    k.route_add("10.0.0.0/8", GW, fib=1)
    assert route(k, "10.1.2.3", fib=1) == ("10.0.0.0/8", GW, "em0")
    assert route(k, "10.1.2.3", fib=0) is None
    assert "10.0.0.0/8" in {r.prefix for r in k.routes(1)}
    assert "10.0.0.0/8" not in {r.prefix for r in k.routes(0)}


def test_same_destination_in_two_fibs(k):
    """Each FIB is its own radix tree (route.c vnet_route_init 228-242): the
    same destination can have a different gateway in each."""
    k.route_add("default", GW, fib=0)
    k.route_add("default", GW1, fib=1)
    assert route(k, REMOTE, fib=0) == ("0.0.0.0/0", GW, "em0")
    assert route(k, REMOTE, fib=1) == ("0.0.0.0/0", GW1, "em1")


def test_route_delete_per_fib(k):
    """rtsock.c 691-692, route.c rtrequest1_fib 1119-1121: deleting in a FIB
    that lacks the route is ESRCH; deleting in its own FIB removes it."""
    k.route_add("10.0.0.0/8", GW, fib=1)
    assert oserr(k.route_delete, "10.0.0.0/8", fib=0) == errno.ESRCH
    assert route(k, "10.1.2.3", fib=1) == ("10.0.0.0/8", GW, "em0")
    k.route_delete("10.0.0.0/8", fib=1)
    assert route(k, "10.1.2.3", fib=1) is None


def test_route_delete_needs_exact_prefix(k):
    """route.c rtrequest1_fib 1099-1121: RTM_DELETE masks the destination and
    removes only an exact key/mask match (rnh_deladdr); 10.0.0.0/16 is not
    10.0.0.0/8."""
    k.route_add("10.0.0.0/8", GW)
    assert oserr(k.route_delete, "10.0.0.0/16") == errno.ESRCH
    assert route(k, "10.0.1.1") == ("10.0.0.0/8", GW, "em0")


def test_route_delete_missing_esrch(k):
    """route.c rtrequest1_fib 1120-1121: nothing to delete is ESRCH."""
    assert oserr(k.route_delete, "10.0.0.0/8") == errno.ESRCH


def test_route_add_duplicate_eexist(k):
    """route.c rtrequest1_fib 1284-1299: rnh_addaddr refuses a second entry
    with the same key and mask: EEXIST; the first stays."""
    k.route_add("10.0.0.0/8", GW)
    assert oserr(k.route_add, "10.0.0.0/8", GW1) == errno.EEXIST
    assert route(k, "10.1.1.1") == ("10.0.0.0/8", GW, "em0")


def test_route_add_same_prefix_other_fib_no_conflict(k):
    """The EEXIST of rtrequest1_fib 1299 is per table: the same prefix in the
    other FIB is accepted."""
    k.route_add("10.0.0.0/8", GW, fib=0)
    k.route_add("10.0.0.0/8", GW1, fib=1)
    assert route(k, "10.1.1.1", fib=1) == ("10.0.0.0/8", GW1, "em1")


def test_host_route_beats_network_route(k):
    """radix longest match: a host route (RTF_HOST, no mask) for 10.1.1.1 is
    chosen over 10.0.0.0/8."""
    k.route_add("10.0.0.0/8", GW)
    k.route_add("10.1.1.1", GW1)
    assert route(k, "10.1.1.1") == ("10.1.1.1/32", GW1, "em1")
    assert route(k, "10.1.1.2") == ("10.0.0.0/8", GW, "em0")


@pytest.mark.parametrize("fib", [2, 15, -1])
def test_route_fib_out_of_range_einval(k, fib):
    """A routing socket cannot be in a FIB outside 0..net.fibs-1: setfib(2)
    refuses it (route.c sys_setfib 286-287) and SO_SETFIB too (uipc_socket.c
    2507-2510), both with EINVAL; no table is touched."""
    assert oserr(k.route_add, "10.0.0.0/8", GW, fib=fib) == errno.EINVAL
    assert oserr(k.route_delete, "10.0.0.0/8", fib=fib) == errno.EINVAL
    assert route(k, "10.1.1.1", fib=0) is None
    assert route(k, "10.1.1.1", fib=1) is None


@pytest.mark.parametrize("fib", [2, -1])
def test_route_get_fib_out_of_range_einval(k, fib):
    """Same for route get (RTM_GET): the FIB cannot be selected, EINVAL."""
    assert oserr(k.route_get, "192.0.2.7", fib=fib) == errno.EINVAL


def test_route_fib_wrong_type(k):
    """Not a kernel rule: the FIB is an int; a str is a TypeError."""
    with pytest.raises(TypeError):
        k.route_add("10.0.0.0/8", GW, fib="1")


def test_gateway_not_reachable_enetunreach(k):
    """route.c rt_getifa_fib 835-853 via ifa_ifwithroute_fib 706-743: a
    gateway on no connected network and with no route is ENETUNREACH."""
    assert oserr(k.route_add, "10.0.0.0/8", "203.0.113.1") == errno.ENETUNREACH
    assert route(k, "10.1.1.1") is None


def test_gateway_only_via_default_route_enetunreach(k):
    """route.c ifa_ifwithroute_fib 716-743: a gateway reachable only through
    the default route is dismissed (not_found), so ENETUNREACH."""
    k.route_add("default", GW)
    assert oserr(k.route_add, "10.0.0.0/8", "203.0.113.1") == errno.ENETUNREACH


def test_gateway_via_non_default_route_accepted(k):
    """route.c ifa_ifwithroute_fib 716-743: when no interface address covers
    the gateway, a non-default route to it in the same FIB lends its ifa."""
    k.route_add("203.0.113.0/24", GW)
    k.route_add("10.0.0.0/8", "203.0.113.1")
    r = k.route_get("10.1.1.1")
    assert (r.prefix, r.gateway, r.ifname, r.ifaddr) == ("10.0.0.0/8", "203.0.113.1", "em0", EM0)


def test_gateway_route_must_be_in_the_same_fib(k):
    """route.c ifa_ifwithroute_fib 717: the fallback lookup is in the FIB of
    the request, so a route to the gateway that exists only in FIB 0 does not
    help in FIB 1."""
    k.route_add("203.0.113.0/24", GW, fib=0)
    assert oserr(k.route_add, "10.0.0.0/8", "203.0.113.1", fib=1) == errno.ENETUNREACH


def test_connected_gateway_accepted_in_fib_without_prefix():
    """route.c ifa_ifwithroute_fib 715: ifa_ifwithnet is not FIB-aware, so a
    gateway on em1's network is accepted in FIB 1 even though, with
    add_addr_allfibs 0, em1's prefix route is only in FIB 0."""
    k = make_host(fibs=2, allfibs=0)
    assert route(k, GW1, fib=1) is None
    k.route_add("default", GW1, fib=1)
    assert route(k, REMOTE, fib=1) == ("0.0.0.0/0", GW1, "em1")


def test_own_address_as_gateway_makes_interface_route(k):
    """rtsock.c route_output 631-651: a gateway whose route is the lo0 route
    of an interface address (AF_LINK gateway, IFF_LOOPBACK) clears
    RTF_GATEWAY; route.c ifa_ifwithroute_fib 701-705 then picks that address
    (ifa_ifwithaddr), so 10.0.0.0/8 becomes a direct route on em0."""
    k.route_add("10.0.0.0/8", EM0)
    r = k.route_get("10.1.2.3")
    assert (r.prefix, r.ifname, r.ifaddr) == ("10.0.0.0/8", "em0", EM0)
    assert "G" not in r.flags


def test_interface_route_via_own_address_arps_for_destination(k):
    """With 10.0.0.0/8 a direct route on em0 (no RTF_GATEWAY), ip_output
    300-301 keeps the destination as next hop and arpresolve asks for
    10.1.2.3 itself; arprequest 227-239 takes the last AF_INET address of
    em0 when none shares the target's subnet."""
    k.route_add("10.0.0.0/8", EM0)
    s = udp_socket(k)
    assert udp_send(s, "10.1.2.3") == 0
    (raw,) = sent(k, "em0")
    a = Ether(raw)
    assert (a.dst, a.type, a.pdst, a.psrc, a.op) == (
        "ff:ff:ff:ff:ff:ff",
        0x0806,
        "10.1.2.3",
        EM0,
        1,
    )


def bound_socket(k, port=5560):
    """A UDP socket bound to 192.0.2.1, so udp_output does not go through
    in_pcbladdr's source selection (in_pcbconnect_setup uses the bound
    address)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind((EM0, port))
    return s


def test_reject_route_via_loopback(k):
    """if_loop.c looutput 235-238: a route with RTF_REJECT whose interface is
    lo0 fails the send with ENETUNREACH (network route) or EHOSTUNREACH (host
    route); nothing is transmitted. (route add ... 127.0.0.1: rtsock.c
    631-651 clears RTF_GATEWAY, the lo0 address is the route's ifa.)"""
    k.route_add("10.0.0.0/8", "127.0.0.1", reject=True)
    k.route_add("10.9.9.9", "127.0.0.1", reject=True)
    s = bound_socket(k)
    assert udp_send(s, "10.1.1.1") == errno.ENETUNREACH
    assert udp_send(s, "10.9.9.9") == errno.EHOSTUNREACH
    assert sent(k, "em0") == []
    assert sent(k, "em1") == []


def test_blackhole_route_via_loopback(k):
    """if_loop.c looutput 235-237: RTF_BLACKHOLE on lo0 discards the packet
    and reports success; nothing is transmitted or delivered."""
    k.route_add("10.0.0.0/8", "127.0.0.1", blackhole=True)
    s = bound_socket(k)
    assert udp_send(s, "10.1.1.1") == 0
    settle(k)
    assert sent(k, "em0") == []
    assert sent(k, "em1") == []


def test_unbound_socket_to_loopback_route_enetunreach(k):
    """in_pcb.c in_pcbladdr 838-857 (called from in_pcbconnect_setup 974-975
    for an unbound socket): when the route's interface is lo0 the
    source is the address of the interface holding the destination
    (ifa_ifwithdstaddr, ifa_ifwithnet, ifa_ifwithaddr); for 10.1.1.1 there is
    none, so an unbound socket gets ENETUNREACH before ip_output, blackhole
    or not."""
    k.route_add("10.0.0.0/8", "127.0.0.1", blackhole=True)
    s = udp_socket(k)
    assert udp_send(s, "10.1.1.1") == errno.ENETUNREACH


def test_reject_flag_ignored_on_ethernet(k):
    """9.x checks RTF_REJECT/RTF_BLACKHOLE only in looutput (if_loop.c 235):
    neither ip_output nor ether_output/arpresolve looks at them, so a reject
    route through an Ethernet gateway still transmits."""
    k.route_add("10.0.0.0/8", GW, reject=True)
    s = udp_socket(k)
    assert udp_send(s, "10.1.1.1", b"through") == 0
    (frame,) = ip_frames(k, "em0")
    assert (frame.dst, frame[IP].dst, bytes(frame[UDP].payload)) == (GW_MAC, "10.1.1.1", b"through")


def test_forwarded_packet_uses_route(k):
    """ip_forward 1391 and ip_output with IP_FORWARDING: a packet from em0's
    network to 10.1.1.1 follows the FIB 0 route via 198.51.100.254."""
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("10.0.0.0/8", GW1)
    udp_in(k, "em0", PEER, "10.1.1.1", "02:00:00:00:00:07")
    (frame,) = ip_frames(k, "em1")
    assert (frame.src, frame.dst) == (mac(k, "em1"), "02:00:00:00:01:fe")
    assert (frame[IP].src, frame[IP].dst, frame[IP].ttl) == (PEER, "10.1.1.1", 63)


def test_address_delete_removes_routes_through_it(k):
    """in.c in_control SIOCDIFADDR 572-580 calls in_ifadown(ifa, 1);
    in_rmx.c in_ifadown 440-458 walks every FIB and in_ifadownkill 408-432
    removes each route whose ifa is the deleted address, static ones too:
    the FIB 1 route to 10.0.0.0/8 via 192.0.2.254 goes with 192.0.2.1,
    the one via em1's network stays."""
    k.route_add("10.0.0.0/8", GW, fib=1)
    k.route_add("172.16.0.0/12", GW1, fib=1)
    k.ifconfig("em0", EM0, delete=True)
    assert route(k, "10.1.1.1", fib=1) is None
    assert route(k, "172.16.1.1", fib=1) == ("172.16.0.0/12", GW1, "em1")
