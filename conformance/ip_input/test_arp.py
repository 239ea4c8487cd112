"""The routes an interface down/up cycle and a /32 alias leave
(netinet/in.c in_ifup, in_ifinit, in_scrubprefix). The ARP tests are in
conformance/arp/."""

from __future__ import annotations

import pytest

from kstack.testing import (
    HOST,
    PEER,
)


@pytest.mark.parametrize(
    ("profile", "ifname"), [("9.0", "lo0"), ("8.0-prefix", "em0")], indirect=["profile"]
)
def test_loopback_route_restored_after_down_up(k, profile, ifname):
    """in_ifup/ifa_add_loopback_route: after down/up the self-pointing host
    route of the address through lo0 is back (profile 9.0, switch
    ifup_restores_loopback_route); under "8.0-prefix" only the prefix route
    returns and the address resolves through em0."""
    assert k.route_get(HOST).ifname == "lo0"
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    rt = k.route_get(HOST)
    assert rt is not None and rt.ifname == ifname
    assert k.route_get(PEER).ifname == "em0"


def test_slash_32_alias_has_prefix_and_lo0_host_route(k):
    """in_ifinit: an address added with a /32 mask gets in_addprefix's /32
    prefix route on em0 (no RTF_HOST) and, because that route does not go
    through lo0, ifa_add_loopback_route's host route through lo0 as well;
    the radix tree puts the host route first, so lookups go to lo0.
    Deleting the address removes both (in_scrubprefix)."""
    k.ifconfig("em0", "192.0.2.60/32", alias=True)
    mine = [(r.prefix, r.ifname, r.flags) for r in k.routes() if r.prefix == "192.0.2.60/32"]
    assert sorted(mine) == [("192.0.2.60/32", "em0", "U"), ("192.0.2.60/32", "lo0", "UHS")]
    got = k.route_get("192.0.2.60")
    assert (got.ifname, got.flags, got.ifaddr) == ("lo0", "UHS", None)
    k.ifconfig("em0", "192.0.2.60", delete=True)
    assert [r for r in k.routes() if r.prefix == "192.0.2.60/32"] == []
    assert k.route_get("192.0.2.60").prefix == "192.0.2.0/24"
