"""Two 2009 jail changes, each before and after (kstack profile switches):

* raw_hdrincl_any_jail_source: rip_output, "allow all possible jail IPs as
  source address rather than forcing the 'primary' ... This will, for
  example, allow ping(|6) -S to work correctly for non-primary addresses."
* jailed_without_vnet: rtsock.c route_output, "If you are running with a
  vnet (virtual network stack) those will return true and defer you to
  classic IP-jails handling and thus things will be 'denied' or returned
  with an error."
"""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.jail.helpers import A3, B2, HOST, PEER, hdrincl, host, raw_socket, sent
from kstack import sock

BEFORE_RAW = "9.0,raw_hdrincl_any_jail_source=0"
BEFORE_VNET = "9.0,jailed_without_vnet=0"


@pytest.mark.parametrize("profile", ["9.0", BEFORE_RAW])
def test_hdrincl_source_in_multi_address_jail(profile):
    """rip_output (IP_HDRINCL) in a jail with primary 192.0.2.3 and
    secondary 198.51.100.2: after the change the secondary is kept and a
    foreign source refused; before it, both left with the primary."""
    k = host(profile=profile)
    j = k.jail("j", ip4=[A3, B2], allow_raw_sockets=True)
    s = raw_socket(j)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    s.sendto(hdrincl(B2, PEER), (PEER, 0))
    if profile == "9.0":
        assert sent(k, "em0") == [(B2, PEER)]
        with pytest.raises(OSError) as e:
            s.sendto(hdrincl(HOST, PEER), (PEER, 0))
        assert e.value.errno == errno.EADDRNOTAVAIL
    else:
        s.sendto(hdrincl(HOST, PEER), (PEER, 0))
        assert sent(k, "em0") == [(A3, PEER), (A3, PEER)]


@pytest.mark.parametrize("profile", ["9.0", BEFORE_VNET])
def test_vnet_jail_route_get(profile):
    """route_output (RTM_GET) from a vnet jail: its own default route
    after the change; ESRCH before it, as for an IP jail."""
    k = kstack.Kernel(profile=profile)
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.0.0.2/24")
    v.route_add("default", "10.0.0.1")
    if profile == "9.0":
        assert v.route_get("203.0.113.1").gateway == "10.0.0.1"
    else:
        with pytest.raises(OSError) as e:
            v.route_get("203.0.113.1")
        assert e.value.errno == errno.ESRCH
