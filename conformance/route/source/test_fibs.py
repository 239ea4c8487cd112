"""net.fibs, net.my_fibnum, setfib(2) and net.add_addr_allfibs (sys/net/route.c)."""

import pytest

import kstack
from conformance.route.source.common import (
    EM0,
    EM1,
    PEER,
    errno,
    make_host,
    oserr,
    prefixes,
    route,
)


def test_net_fibs_default_one():
    """route.c 85-90: without the ROUTETABLES option RT_NUMFIBS is 1 and
    net.fibs reports rt_numfibs."""
    assert kstack.Kernel(profile="9.0", seed=0).sysctl("net.fibs") == 1


@pytest.mark.parametrize("n", [2, 4, 16])
def test_net_fibs_as_configured(n):
    """route.c 89-100: net.fibs is the boot tunable rt_numfibs."""
    assert kstack.Kernel(profile="9.0", seed=0, fibs=n).sysctl("net.fibs") == n


@pytest.mark.parametrize("asked, got", [(17, 16), (64, 16), (0, 1)])
def test_net_fibs_clamped_at_boot(asked, got):
    """route.c route_init 198-201: a tunable above RT_MAXFIBS (16) is cut to
    16 and 0 becomes 1; the boot goes on."""
    assert kstack.Kernel(profile="9.0", seed=0, fibs=asked).sysctl("net.fibs") == got


def test_net_fibs_wrong_type():
    """Not a kernel rule: the number of FIBs is an integer, so a string is a
    TypeError."""
    with pytest.raises(TypeError):
        kstack.Kernel(profile="9.0", seed=0, fibs="2")


def test_net_fibs_read_only():
    """route.c 90: SYSCTL_UINT with CTLFLAG_RD; kern_sysctl.c sysctl_root
    1448-1449 refuses a write to a node without CTLFLAG_WR with EPERM."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    assert oserr(k.sysctl, "net.fibs", 4) == errno.EPERM
    assert k.sysctl("net.fibs") == 2


def test_my_fibnum_follows_setfib():
    """route.c sysctl_my_fibnum 148-160 reports the caller's p_fibnum;
    sys_setfib 284-290 sets it."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=3)
    assert k.sysctl("net.my_fibnum") == 0
    k.setfib(2)
    assert k.sysctl("net.my_fibnum") == 2
    k.setfib(0)
    assert k.sysctl("net.my_fibnum") == 0


def test_my_fibnum_read_only():
    """route.c 159: CTLFLAG_RD, so a write is EPERM (kern_sysctl.c 1448-1449)."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    assert oserr(k.sysctl, "net.my_fibnum", 1) == errno.EPERM


@pytest.mark.parametrize("fib", [2, 3, 16, -1])
def test_setfib_out_of_range_einval(fib):
    """route.c sys_setfib 286-287: fibnum < 0 or >= rt_numfibs is EINVAL and
    the process FIB is unchanged."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    k.setfib(1)
    assert oserr(k.setfib, fib) == errno.EINVAL
    assert k.sysctl("net.my_fibnum") == 1


def test_setfib_wrong_type():
    """Not a kernel rule: setfib takes an int; a string is a TypeError."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    with pytest.raises(TypeError):
        k.setfib("1")


def test_add_addr_allfibs_default_and_writable():
    """route.c 112-115: rt_add_addr_allfibs = 1, CTLFLAG_RW."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    assert k.sysctl("net.add_addr_allfibs") == 1
    assert k.sysctl("net.add_addr_allfibs", 0) == 1
    assert k.sysctl("net.add_addr_allfibs") == 0


def test_interface_prefix_in_every_fib():
    """in.c in_ifinit 921 -> in_addprefix 1071 -> route.c rtinit 1657-1664
    (fib -1 for AF_INET) -> rtinit1 1457-1463: with add_addr_allfibs = 1 the
    prefix route is added to FIBs 0 .. net.fibs-1."""
    k = make_host(fibs=3)
    for fib in range(3):
        r = prefixes(k, fib)["192.0.2.0/24"]
        assert (r.ifname, r.gateway, r.ifaddr) == ("em0", None, EM0)
        assert prefixes(k, fib)["198.51.100.0/24"].ifname == "em1"


def test_allfibs_off_prefix_only_in_process_fib():
    """route.c rtinit1 1458-1459: with add_addr_allfibs = 0 an RTM_ADD goes
    only to the FIB of the configuring process (p_fibnum)."""
    k = make_host(fibs=3, allfibs=0)
    k.setfib(1)
    k.ifconfig("em2", "203.0.113.1/24")
    assert "203.0.113.0/24" in prefixes(k, 1)
    assert "203.0.113.0/24" not in prefixes(k, 0)
    assert "203.0.113.0/24" not in prefixes(k, 2)


def test_allfibs_off_process_in_fib0():
    """route.c rtinit1 1458-1459: the process FIB is 0, so only FIB 0 gets
    the prefix; FIB 1 has no route to em0's network."""
    k = make_host(fibs=2, allfibs=0)
    assert route(k, "192.0.2.7", fib=0) == ("192.0.2.0/24", None, "em0")
    assert route(k, "192.0.2.7", fib=1) is None


def test_interface_fib_does_not_choose_prefix_fib():
    """route.c rtinit1 1457-1463 look at add_addr_allfibs and the process
    FIB only, never at the interface's if_fib: with allfibs 0 and a process
    in FIB 0, an interface in FIB 1 gets its prefix route in FIB 0."""
    k = make_host(fibs=2, allfibs=0, em1_fib=1)
    assert route(k, "198.51.100.7", fib=0) == ("198.51.100.0/24", None, "em1")
    assert route(k, "198.51.100.7", fib=1) is None


def test_address_delete_removes_prefix_from_every_fib():
    """route.c rtinit1 1457-1463: the add_addr_allfibs restriction applies
    to RTM_ADD only; a delete (in.c in_scrubprefix 1210) walks all FIBs, so
    a prefix added in FIB 1 alone is removed by a process in FIB 0."""
    k = make_host(fibs=2, allfibs=0)
    k.setfib(1)
    k.ifconfig("em2", "203.0.113.1/24")
    k.setfib(0)
    assert "203.0.113.0/24" in prefixes(k, 1)
    k.ifconfig("em2", "203.0.113.1", delete=True)
    assert "203.0.113.0/24" not in prefixes(k, 1)
    assert "203.0.113.0/24" not in prefixes(k, 0)


def test_loopback_address_route_in_every_fib():
    """in.c in_ifinit 913-915: lo0 (IFF_LOOPBACK) gets a host route for
    127.0.0.1 through in_addprefix -> rtinit, so with add_addr_allfibs = 1 at
    boot it is in every FIB."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=3)
    for fib in range(3):
        assert route(k, "127.0.0.1", fib=fib) == ("127.0.0.1/32", None, "lo0")


def test_own_address_lo0_route_only_in_fib0():
    """net/if.c ifa_add_loopback_route 1455-1467 calls rtrequest1_fib with FIB
    0 only (in.c in_ifinit 936-949 also checks FIB 0): in FIB 1 our address
    is reached through the em0 prefix route."""
    k = make_host(fibs=2)
    assert route(k, EM0, fib=0) == (EM0 + "/32", None, "lo0")
    assert route(k, EM0, fib=1) == ("192.0.2.0/24", None, "em0")
    assert route(k, EM1, fib=1) == ("198.51.100.0/24", None, "em1")


def test_own_address_lo0_route_flags():
    """net/if.c ifa_add_loopback_route 1464: the lo0 route of an interface
    address is RTF_HOST | RTF_STATIC (plus RTF_UP from rtrequest1_fib 1180),
    no RTF_GATEWAY; in_rmx.c in_addroute 108-109 gives it lo0's MTU."""
    k = make_host(fibs=1)
    r = k.route_get(EM0)
    assert set(r.flags) == set("UHS")
    assert r.mtu == k.iface("lo0").mtu


def test_useloopback_off_no_lo0_route():
    """in.c in_ifinit 936: the lo0 route to self is only added while
    net.link.ether.inet.useloopback is set."""
    k = kstack.Kernel(profile="9.0", seed=0)
    k.sysctl("net.link.ether.inet.useloopback", 0)
    k.ifconfig("em0", EM0 + "/24")
    assert route(k, EM0) == ("192.0.2.0/24", None, "em0")


def test_address_delete_removes_lo0_route():
    """in.c in_scrubprefix 1102-1127 (LLE_STATIC from in_control 572): the lo0
    host route of the removed address is deleted with it."""
    k = make_host(fibs=1)
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    assert route(k, "192.0.2.9") == ("192.0.2.9/32", None, "lo0")
    k.ifconfig("em0", "192.0.2.9", delete=True)
    assert route(k, "192.0.2.9") == ("192.0.2.0/24", None, "em0")


def test_alias_in_same_prefix_adds_no_second_route():
    """in.c in_addprefix 1025-1063: another address already holds IFA_ROUTE
    for 192.0.2.0/24, so the alias adds no prefix route (same_prefix_carp_only
    is 0): the route keeps the first address as its ifa."""
    k = make_host(fibs=1)
    k.ifconfig("em0", "192.0.2.9/24", alias=True)
    r = k.route_get(PEER)
    assert (r.prefix, r.ifname, r.ifaddr) == ("192.0.2.0/24", "em0", EM0)


def test_delete_primary_hands_prefix_to_alias():
    """in.c in_scrubprefix 1148-1189: when the address holding the prefix
    route goes, another up address of the same prefix takes it over (route
    deleted and re-added with that ifa)."""
    k = make_host(fibs=2)
    k.ifconfig("em0", "192.0.2.9/24", alias=True)
    k.ifconfig("em0", EM0, delete=True)
    for fib in (0, 1):
        r = k.route_get(PEER, fib=fib)
        assert (r.prefix, r.ifname, r.ifaddr) == ("192.0.2.0/24", "em0", "192.0.2.9")
