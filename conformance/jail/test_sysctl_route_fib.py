"""sysctl(8), route get and FIBs inside jails: kern_sysctl.c sysctl_root
with prison_priv_check (PRIV_SYSCTL_WRITE / WRITEJAIL), rtsock.c
route_output (RTM_GET) with jailed_without_vnet and rtm_get_jailed,
route.c setfib (a jail keeps its creator's FIB), FreeBSD 9.0."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.jail.helpers import A2, A3, B2, FAR, HOST, REMOTE, host, sent, udp_socket
from kstack import sock


def _err(fn, *a, **kw):
    with pytest.raises(OSError) as e:
        fn(*a, **kw)
    return e.value.errno


def test_classic_jail_reads_but_cannot_write():
    """sysctl_root: a classic jail reads the host's values; writing a net
    sysctl needs PRIV_SYSCTL_WRITE, which no jail has (EPERM)."""
    k = host()
    k.sysctl("net.inet.ip.ttl", 33)
    j = k.jail("j", ip4=[A2])
    assert j.sysctl("net.inet.ip.ttl") == 33
    assert _err(j.sysctl, "net.inet.ip.ttl", 64) == errno.EPERM
    assert _err(j.sysctl, "net.inet.ip.mcast.loop", 0) == errno.EPERM


def test_security_jail_jailed():
    """security.jail.jailed: 1 inside a jail, 0 on the host."""
    k = host()
    assert k.sysctl("security.jail.jailed") == 0
    assert k.jail("j", ip4=[A2]).sysctl("security.jail.jailed") == 1


def test_vnet_jail_writes_its_own_per_vnet_sysctls():
    """sysctl_root: a per-vnet (CTLFLAG_VNET) sysctl is PRIV_SYSCTL_WRITEJAIL
    for a jail owning its vnet: it changes that stack only; global ones
    stay EPERM."""
    k = host()
    v = k.jail("v", vnet=True)
    assert v.sysctl("net.inet.ip.forwarding", 1) == 0
    assert (v.sysctl("net.inet.ip.forwarding"), k.sysctl("net.inet.ip.forwarding")) == (1, 0)
    assert _err(v.sysctl, "net.inet.ip.mcast.loop", 0) == errno.EPERM
    assert _err(v.sysctl, "net.inet.ip.forwarding", 0, uid=1000) == errno.EPERM


def test_vnet_jail_starts_from_defaults():
    """vnet_alloc: a new stack's per-vnet variables start at their compiled
    defaults, not the host's current values; global ones are shared."""
    k = host()
    k.sysctl("net.inet.ip.ttl", 99)
    k.sysctl("net.inet.ip.mcast.loop", 0)
    v = k.jail("v", vnet=True)
    assert v.sysctl("net.inet.ip.ttl") == 64
    assert v.sysctl("net.inet.ip.mcast.loop") == 0


def test_route_get_network_route_hidden_in_jail():
    """route_output (RTM_GET): a network route is ESRCH for a caller with
    jailed_without_vnet(), the default route included."""
    j = host().jail("j", ip4=[A2])
    assert _err(j.route_get, REMOTE) == errno.ESRCH
    assert _err(j.route_get, FAR) == errno.ESRCH


def test_route_get_host_route_of_jail_address():
    """route_output: a host route shows when prison_if accepts its
    destination. The route to a local address is in_ifinit's lo0 host route
    (beside em0's /32 prefix route); rtm_get_jailed cannot report its
    link-level interface address, finds no jail address on lo0 and reports
    the jail's primary."""
    k = host()
    j = k.jail("j", ip4=[A2])
    info = j.route_get(A2)
    assert (info.prefix, info.flags, info.ifname, info.ifaddr) == ("192.0.2.2/32", "UHS", "lo0", A2)
    assert (k.route_get(A2).ifname, k.route_get(A2).ifaddr) == ("lo0", None)
    assert _err(j.route_get, A3) == errno.ESRCH


def test_route_get_in_vnet_jail():
    """route_output: jailed_without_vnet() is false for a vnet jail: it sees
    its own stack's network routes."""
    k = host()
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    v.ifconfig(b, "10.0.0.2/24")
    v.route_add("default", "10.0.0.1")
    info = v.route_get("203.0.113.1")
    assert (info.prefix, info.gateway, info.ifname) == ("0.0.0.0/0", "10.0.0.1", b)


def test_classic_jail_cannot_configure():
    """prison_priv_check: PRIV_NET_ADDIFADDR and PRIV_NET_ROUTE are refused
    in a classic jail (EPERM)."""
    j = host().jail("j", ip4=[A2])
    assert _err(j.ifconfig, "em0", "192.0.2.77/32", alias=True) == errno.EPERM
    assert _err(j.route_add, "10.0.0.0/8", "192.0.2.254") == errno.EPERM


def test_jail_uses_creators_fib():
    """setfib: a jail's processes keep the FIB of the process that started
    it; their sockets route by it (so_fibnum at socreate)."""
    k = kstack.Kernel(fibs=2, seed=0)
    k.ifconfig("em0", f"{HOST}/24")
    k.ifconfig("em0", f"{A2}/32", alias=True)
    k.ifconfig("em1", "198.51.100.1/24")
    k.ifconfig("em1", f"{B2}/32", alias=True)
    k.arp_add("192.0.2.254", "02:00:00:00:00:fe")
    k.arp_add("198.51.100.254", "02:00:00:00:01:fe")
    k.route_add("default", "192.0.2.254", fib=0)
    k.route_add("default", "198.51.100.254", fib=1)
    k.setfib(1)
    j = k.jail("j", ip4=[A2, B2])
    k.setfib(0)
    for ifp in ("em0", "em1"):
        k.transmitted(ifp)
    udp_socket(j).sendto(b"q", (REMOTE, 9))
    k.socket(sock.AF_INET, sock.SOCK_DGRAM).sendto(b"h", (REMOTE, 9))
    assert sent(k, "em1") == [(B2, REMOTE)]
    assert sent(k, "em0") == [(HOST, REMOTE)]


def test_so_setfib_in_jail_needs_no_privilege():
    """sosetopt SO_SETFIB: no privilege check, in or out of jails."""
    k = kstack.Kernel(fibs=2)
    k.ifconfig("em0", "192.0.2.1/24")
    j = k.jail("j", ip4=["192.0.2.1"])
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=1000)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    assert _err(s.setsockopt, sock.SOL_SOCKET, sock.SO_SETFIB, 2) == errno.EINVAL
