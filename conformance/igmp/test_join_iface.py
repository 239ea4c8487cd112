"""The interface of a join that names none (in_mcast.c inp_lookup_mcast_ifp):
the interface of the route to the group in the socket's FIB, whatever it
is; with no route, the first address in the stack's address list whose
interface is multicast-capable and not a loopback (the 2009 fix that
replaced EADDRNOTAVAIL, FreeBSD 8.0); none -> EADDRNOTAVAIL (G6.11)."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.igmp.helpers import join
from kstack import sock

G = "239.1.1.1"


def _where(k):
    return [g["iface"] for g in k.vnet0.ifmcstat() if g["group"] == G]


def test_no_route_first_multicast_interface_in_address_order():
    """inp_lookup_mcast_ifp: no route for the group -> the interface of the
    first address (in configuration order) that is not on a loopback."""
    k = kstack.Kernel()
    k.ifconfig("em1", "198.51.100.1/24")
    k.ifconfig("em0", "192.0.2.1/24")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    assert _where(k) == ["em1"]


def test_route_to_group_decides(k):
    """inp_lookup_mcast_ifp: a route covering the group picks its interface."""
    k.route_add("239.0.0.0/8", "198.51.100.254")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    assert _where(k) == ["em1"]


def test_default_route_decides(k):
    """inp_lookup_mcast_ifp: usually the default route's interface."""
    k.route_add("default", "192.0.2.254")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    assert _where(k) == ["em0"]


def test_route_through_loopback_is_used(k):
    """inp_lookup_mcast_ifp takes the route's interface as it is: a
    blackhole route (through lo0) puts the membership on lo0."""
    k.route_add("239.0.0.0/8", blackhole=True)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    assert _where(k) == ["lo0"]


def test_only_loopback_eaddrnotavail():
    """inp_lookup_mcast_ifp: with lo0 alone there is no candidate:
    EADDRNOTAVAIL."""
    k = kstack.Kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        join(s, G)
    assert e.value.errno == errno.EADDRNOTAVAIL


def test_socket_fib_route():
    """inp_lookup_mcast_ifp looks the group up in the socket's FIB."""
    k = kstack.Kernel(fibs=2)
    k.ifconfig("em0", "192.0.2.1/24")
    k.ifconfig("em1", "198.51.100.1/24")
    k.route_add("239.0.0.0/8", "198.51.100.254", fib=1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    join(s, G)
    assert _where(k) == ["em1"]


def test_named_interface_address(k):
    """inp_lookup_mcast_ifp: imr_interface picks the interface holding it."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G, "198.51.100.1")
    assert _where(k) == ["em1"]


def test_send_without_route_or_interface_enetunreach(k):
    """in_pcbconnect_setup/in_pcbladdr: a multicast send needs a route to
    the group or IP_MULTICAST_IF; the join fallback does not apply."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    with pytest.raises(OSError) as e:
        s.sendto(b"x", (G, 5000))
    assert e.value.errno == errno.ENETUNREACH
