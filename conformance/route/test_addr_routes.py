"""The routes an IPv4 address brings, per FIB, FreeBSD 9.0: in_ifinit ->
in_addprefix -> rtinit (net/route.c rtinit1 over the FIBs chosen by
net.add_addr_allfibs) and ifa_add_loopback_route (net/if.c, FIB 0 only);
removal through in_scrubprefix (netinet/in.c). Multiple FIBs: r178888."""

from __future__ import annotations

import errno

import kstack
from conformance.route.helpers import NET10, err, fib_host, route_tuple
from kstack.testing import HOST, HOST1, ROUTER

ALIAS = "192.0.2.9"


def _prefix_routes(k: kstack.Kernel, fib: int, prefix: str) -> list[tuple[object, ...]]:
    return [route_tuple(r) for r in k.routes(fib) if r.prefix == prefix]


def test_prefix_route_in_every_fib_lo0_route_in_fib0_only():
    """rtinit1 with net.add_addr_allfibs=1 (the default) puts the connected
    route into every FIB (dossier G7.3); ifa_add_loopback_route asks for
    FIB 0 alone, so only FIB 0 routes the address itself through lo0."""
    k = kstack.Kernel(seed=0, fibs=3)
    assert k.sysctl("net.add_addr_allfibs") == 1
    k.ifconfig("em0", "10.0.0.1/24")
    for fib in (0, 1, 2):
        assert _prefix_routes(k, fib, "10.0.0.0/24") == [("10.0.0.0/24", None, "em0", 1500, "U")]
    assert route_tuple(k.route_get("10.0.0.1", fib=0)) == ("10.0.0.1/32", None, "lo0", 16384, "UHS")
    for fib in (1, 2):
        assert route_tuple(k.route_get("10.0.0.1", fib=fib)) == (
            "10.0.0.0/24",
            None,
            "em0",
            1500,
            "U",
        )


def test_add_addr_allfibs_0_uses_the_process_fib():
    """rtinit1: with net.add_addr_allfibs=0 an address's prefix route goes
    only into the FIB of the process adding it (curthread's p_fibnum); the
    lo0 route is still FIB 0's (ifa_add_loopback_route)."""
    k = kstack.Kernel(seed=0, fibs=3)
    assert k.sysctl("net.add_addr_allfibs", 0) == 1
    k.setfib(2)
    k.ifconfig("em0", "10.0.0.1/24")
    assert [f for f in (0, 1, 2) if _prefix_routes(k, f, "10.0.0.0/24")] == [2]
    assert k.route_get("10.0.0.1", fib=0).ifname == "lo0"
    assert k.route_get("10.0.0.1", fib=1) is None


def test_add_addr_allfibs_tunable():
    """net/route.c: net.add_addr_allfibs is also a loader tunable
    (TUNABLE_INT); 0 at boot keeps the first addresses to FIB 0 when the
    process never called setfib."""
    k = kstack.Kernel(seed=0, fibs=2, tunables={"net.add_addr_allfibs": 0})
    k.ifconfig("em0", "10.0.0.1/24")
    assert _prefix_routes(k, 0, "10.0.0.0/24") != []
    assert _prefix_routes(k, 1, "10.0.0.0/24") == []


def test_add_addr_allfibs_0_in_a_vnet_jail_uses_the_jail_fib():
    """rtinit1 reads the FIB of the process configuring the address: in a
    vnet jail made under setfib 1, ifconfig puts the prefix route into FIB
    1 of the jail's stack only (net.add_addr_allfibs is global)."""
    k = kstack.Kernel(seed=0, fibs=2)
    k.sysctl("net.add_addr_allfibs", 0)
    k.setfib(1)
    v = k.jail("v", vnet=True)
    k.setfib(0)
    _a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.0.0.2/24")
    assert [r.prefix for r in v.vnet.routes(1) if r.ifname == b] == ["10.0.0.0/24"]
    assert [r.prefix for r in v.vnet.routes(0) if r.ifname == b] == []


def test_address_removal_deletes_its_route_from_every_fib():
    """rtinit1 (RTM_DELETE) walks every FIB whatever add_addr_allfibs says,
    deleting the route that belongs to the address: a route added to FIB 1
    only (setfib 1, allfibs 0) goes away when the address is removed by a
    process in FIB 0."""
    k = kstack.Kernel(seed=0, fibs=2)
    k.sysctl("net.add_addr_allfibs", 0)
    k.setfib(1)
    k.ifconfig("em0", "10.0.0.1/24")
    k.setfib(0)
    assert _prefix_routes(k, 1, "10.0.0.0/24") != []
    k.ifconfig("em0", "10.0.0.1/24", delete=True)
    assert _prefix_routes(k, 1, "10.0.0.0/24") == []
    assert k.route_get("10.0.0.1", fib=0) is None


def test_interface_route_deleted_from_one_fib_only():
    """route_output RTM_DELETE -> rtrequest1_fib in the socket's FIB: an
    interface route can be deleted from FIB 1 and stays in FIB 0 (seed
    001:233: "You CAN delete an interface route from one FIB"); removing
    the address later deletes the FIB 0 copy without an error."""
    k = fib_host()
    k.route_delete("192.0.2.0/24", fib=1)
    assert k.route_get("192.0.2.7", fib=1) is None
    assert k.route_get("192.0.2.7", fib=0).prefix == "192.0.2.0/24"
    k.ifconfig("em0", f"{HOST}/24", delete=True)
    assert k.route_get("192.0.2.7", fib=0) is None
    assert k.iface("em0").addrs == []


def test_same_prefix_second_address_shares_the_route():
    """in_addprefix: a second address with the same prefix and mask adds no
    route (the first holder keeps IFA_ROUTE); in_scrubprefix hands the
    route over to it, in every FIB, when the holder is removed, so the
    prefix stays reachable."""
    k = fib_host()
    k.ifconfig("em0", f"{ALIAS}/24", alias=True)
    for fib in (0, 1):
        assert _prefix_routes(k, fib, "192.0.2.0/24") == [("192.0.2.0/24", None, "em0", 1500, "U")]
    k.ifconfig("em0", f"{HOST}/24", delete=True)
    for fib in (0, 1):
        info = k.route_get("192.0.2.7", fib=fib)
        assert (info.prefix, info.ifname, info.ifaddr) == ("192.0.2.0/24", "em0", ALIAS)


def test_prefix_route_moves_to_another_interface_on_ifdown():
    """rip_ctlinput PRC_IFDOWN -> in_scrubprefix: em0 going down hands its
    prefix route to em2, which has an address in the same prefix and is
    up; em0 coming back up finds the route taken (rtinit EEXIST) and
    leaves it with em2."""
    k = fib_host()
    k.ifconfig("em2", "192.0.2.5/24")
    assert k.route_get("192.0.2.7").ifname == "em0"
    k.ifconfig("em0", down=True)
    assert (k.route_get("192.0.2.7").ifname, k.route_get("192.0.2.7", fib=1).ifname) == (
        "em2",
        "em2",
    )
    k.ifconfig("em0", up=True)
    assert k.route_get("192.0.2.7").ifname == "em2"


def test_address_refused_when_its_prefix_route_exists():
    """in_control SIOCAIFADDR: in_ifinit fails when rtinit finds a route to
    the prefix already in the table (EEXIST) and the new address is taken
    off again; the gratuitous ARP went out first (ether_ioctl SIOCSIFADDR
    runs before the route is added); the static route is untouched."""
    k = fib_host(fibs=1)
    k.route_add(NET10, ROUTER)
    assert err(k.ifconfig, "em1", "10.0.0.1/24", alias=True) == errno.EEXIST
    assert k.iface("em1").addrs == [f"{HOST1}/24"]
    (garp,) = k.transmitted("em1")
    assert garp[12:14] == b"\x08\x06" and garp[38:42] == bytes((10, 0, 0, 1))
    assert route_tuple(k.route_get("10.0.0.5")) == ("10.0.0.0/24", ROUTER, "em0", 1500, "UGS")
    assert k.route_get("10.0.0.1").gateway == ROUTER


def test_address_refused_in_one_fib_keeps_the_route_of_the_other():
    """rtinit1 tries every FIB and returns the failure of any: with the
    static route only in FIB 1, FIB 0 takes the new prefix route, FIB 1
    refuses it (EEXIST), the address is removed, and FIB 0 keeps a route
    through em1 for a prefix no address holds any more."""
    k = fib_host()
    k.route_add(NET10, ROUTER, fib=1)
    assert err(k.ifconfig, "em1", "10.0.0.1/24", alias=True) == errno.EEXIST
    assert k.iface("em1").addrs == [f"{HOST1}/24"]
    assert route_tuple(k.route_get("10.0.0.5", fib=0)) == ("10.0.0.0/24", None, "em1", 1500, "U")
    assert route_tuple(k.route_get("10.0.0.5", fib=1)) == (
        "10.0.0.0/24",
        ROUTER,
        "em0",
        1500,
        "UGS",
    )
    assert k.route_get("10.0.0.1", fib=0).ifname == "em1"


def test_removed_address_takes_the_routes_through_it():
    """in_control SIOCDIFADDR -> in_ifadown(ifa, 1) (in_rmx.c): every route
    whose interface address is the one removed goes, static ones too, in
    every FIB; a route through em1's address stays. An interface going down
    (in_ifadown(ifa, 0)) keeps static routes."""
    k = fib_host()
    k.route_add("10.0.0.0/8", ROUTER, fib=1)
    k.route_add("172.16.0.0/12", "198.51.100.254", fib=1)
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    assert route_tuple(k.route_get("10.1.1.1", fib=1)) == ("10.0.0.0/8", ROUTER, "em0", 1500, "UGS")
    k.ifconfig("em0", f"{HOST}/24", delete=True)
    assert k.route_get("10.1.1.1", fib=1) is None
    assert k.route_get("172.16.0.1", fib=1).gateway == "198.51.100.254"
