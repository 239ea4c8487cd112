"""Virtual network stacks: vnet jails (vnet.c vnet_alloc/vnet_destroy,
if.c if_vmove, kern_jail.c) and if_epair (net/if_epair.c), FreeBSD 9.0
with options VIMAGE."""

from __future__ import annotations

import errno
import gc
import struct
import weakref

import pytest

import kstack
from kstack import sock
from kstack.net.if_var import IFF_UP
from kstack.netinet.ip import in_cksum


def _pair():
    """vnet0 10.0.0.1/24 on epair0a <-> jail v 10.0.0.2/24 on epair0b."""
    k = kstack.Kernel(seed=0)
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    k.ifconfig(a, "10.0.0.1/24")
    v.ifconfig(b, "10.0.0.2/24")
    k.advance(0)  # the gratuitous ARPs cross
    k.transmitted(a)
    v.transmitted(b)
    return k, v, a, b


def _icmp_echo(ident: int = 7, seq: int = 1, data: bytes = b"ping") -> bytes:
    msg = bytearray(struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data)
    struct.pack_into("!H", msg, 2, in_cksum(bytes(msg)))
    return bytes(msg)


def _got(s):
    try:
        return s.recvfrom(200)
    except BlockingIOError:
        return None


# -- a new stack -----------------------------------------------------------------------


def test_new_vnet_has_lo0_down_without_address():
    """vnet_alloc / vnet_loif_init: a vnet jail starts with lo0 only, index
    1, down, no address; an address brings it up (loioctl SIOCSIFADDR)."""
    v = kstack.Kernel().jail("v", vnet=True)
    assert [(i.name, i.index) for i in v.interfaces()] == [("lo0", 1)]
    lo = v.iface("lo0")
    assert (lo.flags & IFF_UP, lo.addrs) == (0, [])
    v.ifconfig("lo0", "127.0.0.1/8")
    assert lo.flags & IFF_UP


def test_epair_names_macs_and_indexes():
    """epair_clone_create: epair<N>a and epair<N>b, MAC 02:..:..:<index
    high>:<index low>:0a/0b (bytes 1-2 are stack garbage in the kernel,
    zero here); created down; the b end moved into the jail gets the
    lowest free index there (lo0 holds 1)."""
    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")  # index 2
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    assert (a, b) == ("epair0a", "epair0b")
    ia, ib = k.iface(a), v.iface(b)
    assert (ia.index, ib.index) == (3, 2)
    assert ia.ether[-8:] == "00:03:0a" and ib.ether[-8:] == "00:04:0b"
    assert not ia.flags & IFF_UP and not ib.flags & IFF_UP
    assert b not in k.vnet0.ifnet_by_name and a not in v.vnet.ifnet_by_name


def test_second_epair_gets_unit_one():
    """ifc_alloc_unit: the lowest free unit."""
    k = kstack.Kernel()
    v = k.jail("v", vnet=True)
    k.epair(k.vnet0, v)
    assert k.epair(k.vnet0, v) == ("epair1a", "epair1b")


# -- isolation ---------------------------------------------------------------------------


def test_stacks_are_isolated():
    """Each vnet has its own interfaces, addresses, routes, ARP table,
    sockets and counters."""
    k, v, a, b = _pair()
    assert "10.0.0.2/24" not in k.iface(a).addrs
    assert k.route_get("10.0.0.0") is not None and v.route_get("10.0.0.0").ifname == b
    k.arp_add("10.0.0.9", "02:00:00:00:00:99")
    assert "10.0.0.9" in k.vnet0.arp_table() and "10.0.0.9" not in v.vnet.arp_table()
    hs = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    hs.bind(("0.0.0.0", 5000))
    vs = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    vs.bind(("0.0.0.0", 5000))  # no EADDRINUSE across stacks
    before = k.netstat("udp")["udps_ipackets"]
    hs.sendto(b"x", ("10.0.0.2", 5000))
    k.advance(0)
    assert _got(vs)[0] == b"x"
    assert k.netstat("udp")["udps_ipackets"] == before
    assert v.netstat("udp")["udps_ipackets"] == 1


def test_per_vnet_sysctls_do_not_leak():
    """Per-vnet sysctls are separate; machine-wide ones are shared."""
    k, v, a, b = _pair()
    v.sysctl("net.inet.ip.forwarding", 1)
    assert k.sysctl("net.inet.ip.forwarding") == 0
    k.sysctl("net.inet.ip.ttl", 10)
    assert v.sysctl("net.inet.ip.ttl") == 64
    k.sysctl("net.inet.ip.mcast.maxsocksrc", 7)
    assert v.sysctl("net.inet.ip.mcast.maxsocksrc") == 7


# -- traffic over an epair ---------------------------------------------------------------


@pytest.mark.parametrize("direction", ["host->jail", "jail->host"])
def test_ping_over_epair(direction):
    """if_epair: frames cross through the epair netisr to the other end's
    ether_input; the other stack answers the echo (icmp_reflect)."""
    k, v, a, b = _pair()
    src, dst = (k, v) if direction == "host->jail" else (v, k)
    target = "10.0.0.2" if direction == "host->jail" else "10.0.0.1"
    s = src.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_ICMP)
    s.sendto(_icmp_echo(), (target, 0))
    k.advance(0)
    data, (frm, _p) = _got(s)
    assert frm == target and data[20] == 0 and data[-4:] == b"ping"
    assert dst.netstat("icmp")["icps_reflect"] == 1
    assert src.netstat("icmp")["icps_reflect"] == 0


def test_udp_both_ways_over_epair():
    """UDP between the two stacks, each answering the other's address."""
    k, v, a, b = _pair()
    hs = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    hs.bind(("10.0.0.1", 7000))
    vs = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    vs.bind(("0.0.0.0", 7001))
    hs.sendto(b"hello", ("10.0.0.2", 7001))
    k.advance(0)
    data, peer = vs.recvfrom(100)
    assert (data, peer) == (b"hello", ("10.0.0.1", 7000))
    vs.sendto(b"back", peer)
    k.advance(0)
    assert hs.recvfrom(100) == (b"back", ("10.0.0.2", 7001))


def test_frames_cross_only_when_netisr_runs():
    """epair_transmit queues with netisr_queue: the other end receives when
    queued work runs, not during the send."""
    k, v, a, b = _pair()
    vs = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    vs.bind(("0.0.0.0", 7001))
    k.socket(sock.AF_INET, sock.SOCK_DGRAM).sendto(b"x", ("10.0.0.2", 7001))
    assert _got(vs) is None
    k.advance(0)
    assert _got(vs)[0] == b"x"


def test_peer_down_drops_with_oerror():
    """epair_transmit: the other end down -> the frame is freed, the sender
    counts an output error and sees success."""
    k, v, a, b = _pair()
    v.ifconfig(b, down=True)
    ia = k.iface(a)
    oerr, opk = ia.counters.ifi_oerrors, ia.counters.ifi_opackets
    k.arp_add("10.0.0.2", v.iface(b).ether)
    k.socket(sock.AF_INET, sock.SOCK_DGRAM).sendto(b"x", ("10.0.0.2", 7001))
    k.advance(0)
    assert (ia.counters.ifi_oerrors - oerr, ia.counters.ifi_opackets - opk) == (1, 0)
    assert v.netstat("udp")["udps_ipackets"] == 0


def test_three_stacks_with_a_router():
    """host -- epair0 -- router jail (forwarding on) -- epair1 -- far jail:
    an echo from the host to the far jail is forwarded both ways
    (ip_forward, TTL decremented) and answered."""
    k = kstack.Kernel(seed=0)
    r = k.jail("r", vnet=True)
    f = k.jail("f", vnet=True)
    h0, r0 = k.epair(k.vnet0, r)
    r1, f1 = k.epair(r, f)
    k.ifconfig(h0, "10.0.1.1/24")
    r.ifconfig(r0, "10.0.1.2/24")
    r.ifconfig(r1, "10.0.2.1/24")
    f.ifconfig(f1, "10.0.2.2/24")
    r.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("10.0.2.0/24", "10.0.1.2")
    f.route_add("default", "10.0.2.1")
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_ICMP)
    s.sendto(_icmp_echo(seq=9), ("10.0.2.2", 0))
    k.advance(0)
    data, (frm, _p) = _got(s)
    assert frm == "10.0.2.2" and data[20] == 0
    assert data[8] == 63  # 64 from the far jail, minus the router's hop
    assert r.netstat("ip")["ips_forward"] == 2
    assert f.netstat("icmp")["icps_reflect"] == 1


# -- teardown ----------------------------------------------------------------------------


def test_remove_returns_epair_end_down_without_addresses():
    """vnet_destroy: an interface moved into the jail goes back to the stack
    it was created in (if_vmove): down, addresses purged, a new index."""
    k, v, a, b = _pair()
    v.remove()
    ib = k.iface(b)
    assert (ib.flags & IFF_UP, ib.addrs, ib.vnet is k.vnet0) == (0, [], True)
    assert ib.index == 3  # the lowest free index: b's old one, freed when it left
    with pytest.raises(OSError) as e:
        v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert e.value.errno == errno.ENOENT


def test_removed_stack_is_unreachable():
    """vnet_destroy: nothing of the removed stack stays reachable from the
    kernel: sockets closed, timers stopped, the vnet gone from the list."""
    k, v, a, b = _pair()
    vs = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    vs.sendto(b"x", ("10.0.0.77", 9))  # leaves an ARP entry with its timer
    frag = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            28,
            5,
            0x2000,
            64,
            17,
            0,
            bytes((10, 0, 0, 1)),
            bytes((10, 0, 0, 2)),
        )
    ) + bytes(8)
    struct.pack_into("!H", frag, 10, in_cksum(bytes(frag[:20])))
    ib = v.iface(b)
    v.input(b, ib.lladdr + bytes(6) + b"\x08\x00" + bytes(frag))  # a reassembly timer
    assert v.vnet.pending_work()
    ref = weakref.ref(v.vnet)
    assert len(k.vnets) == 2
    v.remove()
    del vs
    gc.collect()
    assert ref() is None
    assert len(k.vnets) == 1
    k.advance(60)  # no timer of the dead stack fires


def test_curvnet_mismatch_panics():
    """CURVNET: handing one stack's packet to another's ip_input is a
    kernel bug; kstack panics loudly instead of mixing state."""
    from kstack.kern.mbuf import Mbuf
    from kstack.netinet.ip_input import ip_input

    k, v, a, b = _pair()
    m = Mbuf(bytearray(20), v.iface(b))
    with pytest.raises(kstack.Panic, match="curvnet"):
        ip_input(k.vnet0, m)


def test_move_physical_interface_in_and_back():
    """if_vmove (SIOCSIFVNET / SIOCSIFRVNET): a host interface moved into a
    vnet jail arrives down and without addresses, with the lowest free
    index there; reclaimed, it comes back the same way; its MAC stays."""
    k = kstack.Kernel()
    k.ifconfig("em1", "198.51.100.1/24")
    mac = k.iface("em1").ether
    v = k.jail("v", vnet=True)
    k.if_vmove("em1", "v")
    ifp = v.iface("em1")
    assert (ifp.index, ifp.addrs, ifp.flags & IFF_UP, ifp.ether) == (2, [], 0, mac)
    assert k.route_get("198.51.100.7") is None
    v.ifconfig("em1", "198.51.100.9/24")
    k.if_vmove_reclaim("em1", v)
    assert (k.iface("em1").addrs, k.iface("em1").index) == ([], 2)


def test_move_into_classic_jail_eexist():
    """if_vmove_loan: a jail without its own vnet is EEXIST."""
    k = kstack.Kernel()
    k.ifconfig("em1", "198.51.100.1/24")
    j = k.jail("j", ip4=["198.51.100.1"])
    with pytest.raises(OSError) as e:
        k.if_vmove("em1", j)
    assert e.value.errno == errno.EEXIST
