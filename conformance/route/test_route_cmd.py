"""route add / delete / get per FIB and the answer to every bad argument,
FreeBSD 9.0: net/rtsock.c route_output (RTM_ADD/DELETE/GET in the routing
socket's FIB, so_fibnum), net/route.c rtrequest1_fib and
ifa_ifwithroute_fib. A FIB the kernel does not have is EINVAL, as
setfib(2) and SO_SETFIB answer for it (the only ways to reach one)."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.route.helpers import (
    FAR_HOST,
    FAR_NET,
    err,
    fib_host,
    route_tuple,
    udp,
    udp_frame,
)
from kstack.testing import FAR, FAR_MAC, HOST, HOST1, HOST1_MAC, PEER, ROUTER, ROUTER_MAC


def test_route_in_one_fib_is_invisible_in_the_other():
    """rtrequest1_fib adds to one radix head; rtalloc1_fib of another FIB
    does not see it."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=1)
    assert k.route_get(FAR_HOST, fib=0) is None
    assert route_tuple(k.route_get(FAR_HOST, fib=1)) == (FAR_NET, ROUTER, "em0", 1500, "UGS")
    assert [r.prefix for r in k.routes(1)] == [
        "127.0.0.1/32",
        "192.0.2.0/24",
        "198.51.100.0/24",
        FAR_NET,
    ]
    assert FAR_NET not in [r.prefix for r in k.routes(0)]


def test_route_commands_default_to_the_process_fib():
    """route_output uses the routing socket's FIB, which socreate took from
    the process (setfib 1 route add / route get / netstat -r)."""
    k = fib_host()
    k.setfib(1)
    k.route_add(FAR_NET, ROUTER)
    assert k.route_get(FAR_HOST).gateway == ROUTER
    assert FAR_NET in [r.prefix for r in k.routes()]
    k.setfib(0)
    assert k.route_get(FAR_HOST) is None
    assert FAR_NET not in [r.prefix for r in k.routes()]
    k.route_delete(FAR_NET, fib=1)
    assert k.route_get(FAR_HOST, fib=1) is None


def test_route_delete_errors():
    """rtrequest1_fib RTM_DELETE: no route with exactly that key and mask in
    the FIB -> ESRCH (the /24 of the host route's network is not the host
    route; the route of FIB 1 is not in FIB 0)."""
    k = fib_host()
    k.route_add("203.0.113.9", ROUTER, fib=1)
    assert err(k.route_delete, "203.0.113.0/24", fib=1) == errno.ESRCH
    assert err(k.route_delete, "203.0.113.9", fib=0) == errno.ESRCH
    k.route_delete("203.0.113.9", fib=1)
    assert err(k.route_delete, "203.0.113.9", fib=1) == errno.ESRCH


def test_route_add_twice_eexist_per_fib():
    """rtrequest1_fib RTM_ADD: the same key and mask in the same FIB ->
    EEXIST; in another FIB it is a different table."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, fib=0)
    assert err(k.route_add, FAR_NET, PEER, fib=0) == errno.EEXIST
    k.route_add(FAR_NET, PEER, fib=1)
    assert (k.route_get(FAR_HOST, fib=0).gateway, k.route_get(FAR_HOST, fib=1).gateway) == (
        ROUTER,
        PEER,
    )


def test_gateway_reached_through_a_route_of_that_fib():
    """ifa_ifwithroute_fib: a gateway on no connected network is accepted
    when a route of the FIB (not the default) reaches it; the new route
    takes that route's interface and address. Without such a route in FIB
    0 -> ENETUNREACH."""
    k = fib_host()
    k.route_add("10.0.0.0/8", ROUTER, fib=1)
    k.route_add(FAR_NET, "10.1.1.1", fib=1)
    info = k.route_get(FAR_HOST, fib=1)
    assert (route_tuple(info), info.ifaddr) == (
        (FAR_NET, "10.1.1.1", "em0", 1500, "UGS"),
        HOST,
    )
    assert err(k.route_add, FAR_NET, "10.1.1.1", fib=0) == errno.ENETUNREACH


def test_gateway_reached_only_by_the_default_route_is_refused():
    """ifa_ifwithroute_fib dismisses a gateway that only the default route
    reaches (rt_key is INADDR_ANY) -> ENETUNREACH."""
    k = fib_host()
    k.route_add("default", ROUTER, fib=1)
    assert err(k.route_add, FAR_NET, "10.1.1.1", fib=1) == errno.ENETUNREACH


def test_gateway_on_the_most_specific_connected_network():
    """ifa_ifwithnet: of two connected networks holding the gateway the one
    with the longer mask wins (rn_refines), whatever order the addresses
    were configured in."""
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", "10.0.0.1/16")
    k.ifconfig("em1", "10.0.1.1/24")
    k.route_add(FAR_NET, "10.0.1.200")
    info = k.route_get(FAR_HOST)
    assert (info.ifname, info.ifaddr) == ("em1", "10.0.1.1")


def test_route_to_a_gateway_in_fib1_carries_traffic(match_frame):
    """ip_output with the socket's FIB: the datagram goes to the gateway's
    MAC on the interface the FIB 1 route names."""
    k = fib_host()
    k.arp_add(FAR, FAR_MAC)
    k.route_add(FAR_NET, FAR, fib=1)
    s = udp(k)
    s.setsockopt(kstack.sock.SOL_SOCKET, kstack.sock.SO_SETFIB, 1)
    s.sendto(b"x", (FAR_HOST, 9))
    (f,) = k.transmitted("em1")
    match_frame(f, udp_frame(FAR_HOST, FAR_MAC, src=HOST1, mac_src=HOST1_MAC))


BAD_FIBS = [
    (-1, OSError),
    (2, OSError),
    (16, OSError),
    (1.0, TypeError),
    ("1", TypeError),
    (True, TypeError),
]


def _calls(k: kstack.Kernel) -> dict[str, object]:
    return {
        "route_add": lambda f: k.route_add(FAR_NET, ROUTER, fib=f),
        "route_delete": lambda f: k.route_delete("192.0.2.0/24", fib=f),
        "route_get": lambda f: k.route_get(PEER, fib=f),
        "routes": lambda f: k.routes(fib=f),
        "ifconfig": lambda f: k.ifconfig("em0", fib=f),
        "setfib": lambda f: k.setfib(f),
    }


@pytest.mark.parametrize(
    "call", ["route_add", "route_delete", "route_get", "routes", "ifconfig", "setfib"]
)
@pytest.mark.parametrize(("fib", "exc"), BAD_FIBS, ids=lambda v: repr(v))
def test_bad_fib_argument(call, fib, exc):
    """A FIB outside 0..net.fibs-1 is EINVAL (sys_setfib, SIOCSIFFIB's
    ifr_fib >= rt_numfibs, SO_SETFIB of the routing socket); a FIB that is
    not an int is a TypeError. Nothing changes: no table is touched,
    negative numbers do not count from the end."""
    k = fib_host()
    before = {f: k.routes(fib=f) for f in (0, 1)}
    with pytest.raises(exc) as ei:
        _calls(k)[call](fib)  # type: ignore[operator]
    if exc is OSError:
        assert ei.value.errno == errno.EINVAL
    assert {f: k.routes(fib=f) for f in (0, 1)} == before
    assert (k.iface("em0").fib, k.sysctl("net.my_fibnum")) == (0, 0)


@pytest.mark.parametrize(
    ("kw", "exc", "code"),
    [
        ({"dest": 5}, TypeError, None),
        ({"dest": "203.0.113.0/33"}, ValueError, None),
        ({"dest": "203.0.113.0/-1"}, ValueError, None),
        ({"dest": "203.0.113.0/+8"}, ValueError, None),
        ({"dest": "203.0.113"}, ValueError, None),
        ({"gateway": 5}, TypeError, None),
        ({"gateway": "192.0.2"}, ValueError, None),
        ({"gateway": "198.18.0.1"}, OSError, errno.ENETUNREACH),
        ({"gateway": None}, OSError, errno.EINVAL),
        ({"iface": "em7", "gateway": None}, OSError, errno.ENXIO),
        ({"iface": 0, "gateway": None}, TypeError, None),
        ({"mtu": -1}, OSError, errno.EINVAL),
        ({"mtu": 2**64}, OSError, errno.EINVAL),
        ({"mtu": 1280.0}, TypeError, None),
        ({"mtu": "1280"}, TypeError, None),
        ({"mtu": True}, TypeError, None),
    ],
    ids=lambda v: repr(v),
)
def test_bad_route_add_argument(kw, exc, code):
    """route add with a bad destination, gateway, interface or MTU: the
    errno route(8)/rtsock gives (ENETUNREACH from ifa_ifwithroute_fib,
    EINVAL for a message without a gateway or an MTU that is no u_long),
    ENXIO for an interface that does not exist (as ifconfig answers), or
    TypeError/ValueError for what route(8) could not even parse; the table
    is unchanged."""
    k = fib_host()
    before = k.routes(0)
    args = {"dest": FAR_NET, "gateway": ROUTER, **kw}
    dest, gateway = args.pop("dest"), args.pop("gateway")
    with pytest.raises(exc) as ei:
        k.route_add(dest, gateway, **args)
    if code is not None:
        assert ei.value.errno == code
    assert k.routes(0) == before


@pytest.mark.parametrize("dest", [5, None, "x", "203.0.113.9/24"], ids=repr)
def test_bad_route_get_destination(dest):
    """route get takes one address: anything else is a TypeError or a
    ValueError, never a crash inside the lookup."""
    k = fib_host()
    with pytest.raises((TypeError, ValueError)):
        k.route_get(dest)


def test_reject_and_blackhole_act_only_through_lo0(match_frame):
    """looutput is the only place RTF_REJECT / RTF_BLACKHOLE act (net/
    if_loop.c); a reject route through a gateway on em0 shows the flag and
    the datagram goes out anyway; without a gateway the routes go through
    lo0: reject -> ENETUNREACH for a network route, blackhole -> silently
    dropped (sendto succeeds) for a socket bound to an address."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, reject=True)
    assert route_tuple(k.route_get(FAR_HOST)) == (FAR_NET, ROUTER, "em0", 1500, "UGRS")
    s = udp(k)
    s.sendto(b"x", (FAR_HOST, 9))
    (f,) = k.transmitted("em0")
    match_frame(f, udp_frame(FAR_HOST, ROUTER_MAC))
    k.route_add("198.18.0.0/16", reject=True)
    k.route_add("198.19.0.0/16", blackhole=True)
    assert (k.route_get("198.18.0.1").ifname, k.route_get("198.19.0.1").ifname) == ("lo0", "lo0")
    bound = k.socket(kstack.sock.AF_INET, kstack.sock.SOCK_DGRAM)
    bound.bind((HOST, 5001))
    assert err(bound.sendto, b"x", ("198.18.0.1", 9)) == errno.ENETUNREACH
    assert bound.sendto(b"x", ("198.19.0.1", 9)) == 1
    assert k.transmitted("lo0") == [] and k.transmitted("em0") == []
    # Unbound, in_pcbladdr wants the address of the destination's own
    # interface for a route through loopback: there is none.
    assert err(s.sendto, b"x", ("198.19.0.1", 9)) == errno.ENETUNREACH
