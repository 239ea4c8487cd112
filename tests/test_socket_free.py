"""Closed sockets leave nothing behind, and an exhausted ephemeral port
range is answered without walking it again.

A socket the kernel has closed must be collectable as soon as the caller
drops it: no socket list, pcb list or hash, port table, connection group,
multicast membership, callout or event may still reach it. The port search
must keep in_pcb_lport's order and results while a range that is known to
be full fails at once.
"""

from __future__ import annotations

import errno
import gc
import weakref
from collections.abc import Callable

import pytest

import kstack
from kstack import sock
from kstack.kern.jail import Jail
from kstack.kern.uipc_socket import Socket
from kstack.testing import FAR, HOST, PEER, eth, udp_to

GROUP = "239.1.2.3"


def _kernel(options: tuple[str, ...] = ()) -> kstack.Kernel:
    from kstack.testing import host

    return host(k=kstack.Kernel(seed=0, options=options))


def _udp_bound(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    return s


def _udp_connected(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.connect((PEER, 53))
    return s


def _udp_fixed_port_with_data(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_TIMESTAMP, 1)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_RECVDSTADDR, 1)
    s.bind((HOST, 7000))
    out = k.input("em0", udp_to(7000, data=b"queued"))
    assert (out.kind, out.to) == ("delivered", s.name)
    return s


def _udp_multicast_member(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5353))
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(GROUP, HOST))
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, sock.ip_mreq(HOST)[:4])
    return s


def _udp_sent(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"x", (FAR, 9))  # held waiting for ARP: an mbuf and a timer
    return s


def _raw(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.bind((HOST, 0))
    s.connect((PEER, 0))
    return s


def _raw_unbound_with_data(k: kstack.Kernel) -> Socket:
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    from kstack.testing import IP

    out = k.input("em0", eth() / IP(src=PEER, dst=HOST, proto=253) / b"raw")
    assert out.to == s.name
    return s


MAKERS: list[Callable[[kstack.Kernel], Socket]] = [
    _udp_bound,
    _udp_connected,
    _udp_fixed_port_with_data,
    _udp_multicast_member,
    _udp_sent,
    _raw,
    _raw_unbound_with_data,
]


def _assert_collected(make: Callable[[kstack.Kernel], Socket], k: kstack.Kernel) -> None:
    s = make(k)
    ref = weakref.ref(s)
    s.close()
    del s
    gc.collect()
    assert ref() is None, [type(r).__name__ for r in gc.get_referrers(ref())]


@pytest.mark.parametrize("make", MAKERS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("options", [(), ("PCBGROUP",)], ids=["plain", "pcbgroup"])
def test_soclose_frees_the_socket(
    make: Callable[[kstack.Kernel], Socket], options: tuple[str, ...]
) -> None:
    """kern/uipc_socket.c soclose -> sofree, netinet/in_pcb.c in_pcbdetach /
    in_pcbfree (in_pcbremlists, in_pcbgroup_remove), netinet/in_mcast.c
    inp_freemoptions: once closed and dropped by the caller, the socket and
    its pcb are garbage; the stack keeps no reference to either."""
    k = _kernel(options=options)
    _assert_collected(make, k)
    v = k.vnet0
    assert v.sockets == {}
    for info in (v.udbinfo, v.ripcbinfo):
        assert info.listhead == []
        assert info.hash == {}
        assert info.porthash == {}
        assert info.wild_hash == {}
        assert all(table == {} for table in info.group_hash)
    assert v.ripcbinfo.wild == [] and v.ripcbinfo.exact == {}


def test_soclose_frees_a_jailed_socket() -> None:
    """kern/kern_jail.c: a jail does not hold its processes' sockets;
    soclose frees them like any other."""
    k = _kernel()
    j = k.jail("j1", ip4=[HOST])
    _assert_collected(lambda _k: _udp_bound_in(j), k)


def _udp_bound_in(j: Jail) -> Socket:
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    return s


def test_open_bind_close_rounds_leave_the_kernel_as_it_was() -> None:
    """netinet/in_pcb.c in_pcbfree: rounds of socket/bind/connect/close end
    with empty pcb tables and no live socket objects, however many rounds
    ran; socket names keep counting (a closed socket's name is not reused)."""
    k = _kernel(options=("PCBGROUP",))
    refs = []
    for i in range(300):
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        if i % 2:
            s.connect((PEER, 1000 + i))
        refs.append(weakref.ref(s))
        s.close()
    del s
    gc.collect()
    assert [r for r in refs if r() is not None] == []
    assert k.vnet0.sockets == {}
    assert k.vnet0.udbinfo.wild_hash == {}
    assert all(table == {} for table in k.vnet0.udbinfo.group_hash)
    last = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert last.name == "udp socket 301"


def test_vnet_destroy_still_closes_open_sockets() -> None:
    """net/vnet.c vnet_destroy: a vnet jail's open sockets are closed with
    its stack; one already closed is left alone."""
    k = kstack.Kernel(seed=0)
    v = k.jail("v1", vnet=True)
    a = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    b = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    b.close()
    assert list(v.vnet.sockets) == [a]
    vnet = v.vnet
    v.remove()
    assert a.closed and vnet.sockets == {}


# -- ephemeral ports (netinet/in_pcb.c in_pcb_lport) ----------------------------


def _fill(k: kstack.Kernel, first: int, last: int) -> list[Socket]:
    k.sysctl("net.inet.ip.portrange.first", first)
    k.sysctl("net.inet.ip.portrange.last", last)
    out = []
    for _ in range(last - first + 1):
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        out.append(s)
    assert sorted(s.getsockname()[1] for s in out) == list(range(first, last + 1))
    return out


def _fail_bind(k: kstack.Kernel, addr: str = "0.0.0.0") -> int:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        s.bind((addr, 0))
    s.close()
    return int(e.value.errno or 0)


@pytest.mark.parametrize("randomized", [1, 0])
def test_in_pcb_lport_exhausted_range_answers_as_the_full_walk(randomized: int) -> None:
    """netinet/in_pcb.c in_pcb_lport: with every port of the range taken
    each search fails with EADDRNOTAVAIL after drawing its random start,
    and leaves the range's last port where the whole walk stops. A kernel
    that forgets what it learnt before each search (and so walks the range
    every time) ends in the same state: same errors, same lastport after
    each search, same generator state, same port for the next bind once
    one is freed."""
    results = []
    for forget in (False, True):
        k = _kernel()
        k.sysctl("net.inet.ip.portrange.randomized", randomized)
        socks = _fill(k, 40000, 40099)
        info = k.vnet0.udbinfo
        seen = []
        for _ in range(5):
            if forget:
                info.exhausted.clear()
            seen.append((_fail_bind(k), info.lastport))
        # A socket bound to one address: a search for another address
        # collides with every wildcard socket all the same.
        seen.append((_fail_bind(k, HOST), info.lastport))
        (holder,) = [x for x in socks if x.getsockname()[1] == 40037]
        holder.close()
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        seen.append((s.getsockname()[1], info.lastport))
        seen.append((k.vnet0.rng.arc4random(), 0))
        results.append(seen)
    cached, walked = results
    assert cached == walked
    assert [e for e, _ in cached[:6]] == [errno.EADDRNOTAVAIL] * 6
    assert cached[6][0] == 40037


def test_in_pcb_lport_fixed_walk_end_when_exhausted() -> None:
    """netinet/in_pcb.c in_pcb_lport: without randomisation the walk starts
    after the last port given (first when that is outside the range) and,
    finding the range full, stops on the last port it tried."""
    k = _kernel()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    _fill(k, 40000, 40009)
    info = k.vnet0.udbinfo
    assert info.lastport == 40009
    assert _fail_bind(k) == errno.EADDRNOTAVAIL
    assert info.lastport == 40009  # 40000 .. 40009 tried, in that order
    info.lastport = 40004
    assert _fail_bind(k) == errno.EADDRNOTAVAIL
    assert info.lastport == 40004  # 40005 .. 40009, 40000 .. 40004
    info.lastport = 65535  # wraps to 0, below the range: starts at first
    assert _fail_bind(k) == errno.EADDRNOTAVAIL
    assert info.lastport == 40009


def test_in_pcb_lport_full_range_memo_is_per_address_and_jail() -> None:
    """netinet/in_pcb.c in_pcb_lport, in_pcblookup_local: a range full for
    wildcard searches is not full for a SO_REUSEADDR socket binding a
    specific address when the holders are bound to another address; what
    the search learnt for one case does not answer the other."""
    k = _kernel()
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40004)
    held = []
    for _ in range(5):
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.bind((HOST, 0))
        held.append(s)
    assert _fail_bind(k) == errno.EADDRNOTAVAIL  # a wildcard bind meets them all
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
    s.bind(("192.0.2.9", 0))  # exact lookups: 192.0.2.9 holds none of them
    assert 40000 <= s.getsockname()[1] <= 40004
    j = k.jail("j1", ip4=["192.0.2.9"])
    js = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    js.bind(("0.0.0.0", 0))  # the jail's own pcbs only: the range is free for it
    assert js.getsockname() == ("192.0.2.9", js.getsockname()[1])
