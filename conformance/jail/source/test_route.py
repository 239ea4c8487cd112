"""5. route get (RTM_GET) from a classic jail and from a vnet jail: route_output() and
rtm_get_jailed() in sys/net/rtsock.c, prison_if() in kern_jail.c -- FreeBSD 9.1."""

import pytest

from conformance.jail.source.common import errno, oserr, settle


def test_network_routes_hidden_from_classic_jail(k):
    """route_output RTM_GET: !(rt_flags & RTF_HOST) && jailed_without_vnet -> ESRCH (the
    em0/em1 prefixes and the default route)."""
    j = k.jail("j", ip4="192.0.2.2")
    dests = ["192.0.2.7", "198.51.100.7", "203.0.113.9", "0.0.0.0"]
    assert [oserr(j.route_get, d) for d in dests] == [errno.ESRCH] * 4


def test_network_routes_hidden_from_inherit_jail(k):
    """route_output RTM_GET: jailed_without_vnet ignores ip4 restrictions -> ESRCH."""
    j = k.jail("j", ip4="inherit")
    assert oserr(j.route_get, "192.0.2.7") == errno.ESRCH


def test_host_route_outside_jail_esrch(k):
    """route_output RTM_GET: RTF_HOST and prison_if(rt_key) != 0 -> ESRCH (lo0's 127.0.0.1,
    the host's 192.0.2.1, a static host route to 203.0.113.5)."""
    k.route_add("203.0.113.5", "192.0.2.254")
    j = k.jail("j", ip4="192.0.2.2")
    dests = ["127.0.0.1", "192.0.2.1", "203.0.113.5"]
    assert [oserr(j.route_get, d) for d in dests] == [errno.ESRCH] * 3


def test_host_route_in_ip4_disabled_jail_esrch(k):
    """prison_if -> prison_check_ip4 -> EAFNOSUPPORT for a jail without IPv4 -> ESRCH."""
    j = k.jail("j")
    assert oserr(j.route_get, "192.0.2.1") == errno.ESRCH


def test_own_address_host_route_single(k):
    """RTM_GET on the jail's own address: lo0 host route (ifa_add_loopback_route);
    rtm_get_jailed falls back to prison_get_ip4 -> the jail address."""
    j = k.jail("j", ip4="192.0.2.1")
    r = j.route_get("192.0.2.1")
    assert r.ifname == "lo0"
    assert r.ifaddr == "192.0.2.1"
    assert r.prefix in ("192.0.2.1", "192.0.2.1/32")


def test_own_address_host_route_reports_primary(k):
    """rtm_get_jailed: rt_ifa of the lo0 route is lo0's link-level ifa (rt_getifa_fib ->
    ifaof_ifpforaddr(null_sdl, lo0)); prison_if(AF_LINK) fails without allow.socket_af,
    lo0 has no jail address, so the primary (192.0.2.3) is reported."""
    j = k.jail("j", ip4=["192.0.2.3", "192.0.2.1"])
    r = j.route_get("192.0.2.1")
    assert r.ifname == "lo0"
    assert r.ifaddr == "192.0.2.3"


def test_alias_address_resolves_to_lo0_host_route(k):
    """in_ifinit: a /32 alias gets its em0 prefix route and a lo0 host route; rn_addroute
    puts the host route first in the dupedkey chain, so RTM_GET finds lo0."""
    j = k.jail("j", ip4="192.0.2.2")
    r = j.route_get("192.0.2.2")
    assert r.ifname == "lo0"
    assert r.ifaddr == "192.0.2.2"


@pytest.mark.parametrize(
    "ip4,ifaddr",
    [
        (["192.0.2.3", "192.0.2.2"], "192.0.2.2"),  # step 2: jail address on em0
        ("192.0.2.3", "192.0.2.3"),  # step 3: primary
    ],
)
def test_static_host_route_to_jail_address(k, ip4, ifaddr):
    """rtm_get_jailed: rt_ifa (192.0.2.1) not in jail -> first jail address on the ifp,
    else prison_get_ip4."""
    k.route_add("192.0.2.3", "192.0.2.254")
    j = k.jail("j", ip4=ip4)
    r = j.route_get("192.0.2.3")
    assert r.ifname == "em0"
    assert r.gateway == "192.0.2.254"
    assert r.ifaddr == ifaddr


def test_vnet_jail_sees_its_network_routes(k):
    """route_output RTM_GET: jailed_without_vnet is 0 for a vnet jail; its own table."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.0.0.2/24")
    v.route_add("default", "10.0.0.1")
    settle(k)
    r = v.route_get("10.0.0.7")
    assert (r.prefix, r.ifname) == ("10.0.0.0/24", b)
    r = v.route_get("203.0.113.9")
    assert (r.gateway, r.ifname) == ("10.0.0.1", b)


def test_vnet_jail_has_no_host_routes(k):
    """Separate vnet: the host's routes are not in the jail's table -> ESRCH."""
    v = k.jail("v", vnet=True)
    assert oserr(v.route_get, "192.0.2.7") == errno.ESRCH


def test_classic_jail_cannot_change_routes_or_addresses(k):
    """route_output: RTM_ADD needs PRIV_NET_ROUTE; in_control: PRIV_NET_ADDIFADDR; both
    denied by prison_priv_check in a jail without its own vnet."""
    j = k.jail("j", ip4="192.0.2.2")
    assert oserr(j.route_add, "10.9.0.0/16", "192.0.2.254") == errno.EPERM
    assert oserr(j.ifconfig, "em0", "192.0.2.50/32", alias=True) == errno.EPERM
    assert "192.0.2.50/32" not in k.iface("em0").addrs
