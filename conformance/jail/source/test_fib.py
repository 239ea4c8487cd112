"""7. FIB: socreate() sets so_fibnum = td->td_proc->p_fibnum (uipc_socket.c);
in_pcballoc() copies it to inp_inc.inc_fibnum (in_pcb.c); in_pcbladdr()/ip_output()
route by it -- FreeBSD 9.1."""

import pytest

from conformance.jail.source.common import GW1_MAC, GW_MAC, IP, Ether, make_host, sock, udp_frames


@pytest.fixture
def k2():
    k = make_host(fibs=2)
    k.route_add("default", "198.51.100.254", fib=1)
    return k


def one(k, ifname):
    fs = udp_frames(k, ifname)
    assert len(fs) == 1, fs
    return fs[0]


def test_jail_created_under_fib1_routes_by_fib1(k2):
    """socreate: so_fibnum from the process FIB (inherited by the jail's processes);
    in_pcbladdr in fib 1 -> em1, jail primary as source (no jail address on em1)."""
    k2.setfib(1)
    j = k2.jail("j1", ip4="192.0.2.2")
    k2.setfib(0)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"x", ("203.0.113.9", 9))
    f = one(k2, "em1")
    assert (f.dst, f[IP].src) == (GW1_MAC, "192.0.2.2")
    assert udp_frames(k2, "em0") == []


def test_jail_created_under_fib0_routes_by_fib0(k2):
    """socreate: a jail started from fib 0 uses fib 0 even after the host switches."""
    j = k2.jail("j0", ip4="192.0.2.2")
    k2.setfib(1)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"x", ("203.0.113.9", 9))
    f = one(k2, "em0")
    assert (f.dst, f[IP].src) == (GW_MAC, "192.0.2.2")
    assert udp_frames(k2, "em1") == []


def test_jail_raw_socket_uses_jail_fib(k2):
    """rip_attach -> in_pcballoc: inc_fibnum = so_fibnum; ip_output routes in fib 1."""
    k2.setfib(1)
    j = k2.jail("j1", ip4="192.0.2.2", allow_raw_sockets=True)
    k2.setfib(0)
    s = j.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.sendto(b"rawdata!", ("203.0.113.9", 0))
    fs = [Ether(x) for x in k2.transmitted("em1")]
    fs = [x for x in fs if IP in x]
    assert [(x.dst, x[IP].src, x[IP].proto) for x in fs] == [(GW1_MAC, "192.0.2.2", 253)]
