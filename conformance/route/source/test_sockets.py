"""The FIB of a socket: socreate(), SO_SETFIB, a jail's processes.

Host: net.fibs=2; FIB 0 has a default route via 192.0.2.254 (em0), FIB 1 a
default route via 198.51.100.254 (em1), so the interface a datagram to
203.0.113.5 leaves by tells which FIB routed it.
"""

import pytest

from conformance.route.source.common import (
    EM0,
    EM1,
    GW,
    GW1,
    GW1_MAC,
    GW_MAC,
    REMOTE,
    errno,
    ip_frames,
    mac,
    make_host,
    oserr,
    sent,
    settle,
    sock,
    udp_frame,
    udp_send,
    udp_socket,
)


@pytest.fixture
def k():
    k = make_host(fibs=2)
    k.route_add("default", GW, fib=0)
    k.route_add("default", GW1, fib=1)
    return k


def leaves_by(k, s, payload=b"which-fib", sport=5555):
    """Send to 203.0.113.5; the interface the datagram left by ('em0' or
    'em1'), checked byte for byte against the route's gateway."""
    assert udp_send(s, REMOTE, payload) == 0
    f0, f1 = sent(k, "em0"), sent(k, "em1")
    if f0:
        (frame,) = f0
        assert f1 == []
        assert frame == udp_frame(frame, mac(k, "em0"), GW_MAC, EM0, REMOTE, payload, sport)
        return "em0"
    (frame,) = f1
    assert frame == udp_frame(frame, mac(k, "em1"), GW1_MAC, EM1, REMOTE, payload, sport)
    return "em1"


def test_socket_takes_process_fib_at_creation(k):
    """uipc_socket.c socreate 393-397 (so_fibnum = p_fibnum for PF_INET),
    in_pcb.c in_pcballoc 280 (inc_fibnum), ip_output.c 139 and 272-278 (route
    lookup in inc_fibnum); a later setfib does not move the socket."""
    s0 = udp_socket(k, 5550)
    k.setfib(1)
    s1 = udp_socket(k, 5551)
    k.setfib(0)
    assert leaves_by(k, s0, sport=5550) == "em0"
    assert leaves_by(k, s1, sport=5551) == "em1"


def test_so_setfib_moves_socket(k):
    """uipc_socket.c sosetopt 2504-2517 stores the FIB and calls pr_ctloutput;
    ip_output.c ip_ctloutput 930-934 copies it into inc_fibnum."""
    s = udp_socket(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    assert leaves_by(k, s) == "em1"
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 0)
    assert leaves_by(k, s) == "em0"


@pytest.mark.parametrize("fib", [3, 15, -1])
def test_so_setfib_out_of_range_einval(k, fib):
    """uipc_socket.c sosetopt 2507-2510: optval < 0 or beyond net.fibs is
    EINVAL and the socket keeps its FIB. (optval == net.fibs is left out:
    the Feb 2011 head tested `> rt_numfibs` there, 9.1 `>=`.)"""
    s = udp_socket(k)
    assert oserr(s.setsockopt, sock.SOL_SOCKET, sock.SO_SETFIB, fib) == errno.EINVAL
    assert leaves_by(k, s) == "em0"


def test_so_setfib_on_raw_socket(k):
    """uipc_socket.c 2511-2517: any PF_INET socket; rip_ctloutput copies
    SO_SETFIB straight into inc_fibnum (raw_ip.c rip_ctloutput 547-551), so a raw
    socket routes in FIB 1 (rip_output -> ip_output with the inpcb)."""
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    r.sendto(b"raw-fib1", (REMOTE, 0))
    settle(k)
    assert sent(k, "em0") == []
    (frame,) = ip_frames(k, "em1")
    assert (frame.dst, frame["IP"].src, frame["IP"].dst, frame["IP"].proto) == (
        GW1_MAC,
        EM1,
        REMOTE,
        253,
    )


def test_so_setfib_is_set_only(k):
    """uipc_socket.c sogetopt 2682-2828: SO_SETFIB has no case in the get
    switch, so getsockopt fails with ENOPROTOOPT."""
    s = udp_socket(k)
    assert oserr(s.getsockopt, sock.SOL_SOCKET, sock.SO_SETFIB) == errno.ENOPROTOOPT


def test_so_setfib_wrong_type(k):
    """Not a kernel rule: the option value is an int or packed bytes; a str
    is a TypeError."""
    s = udp_socket(k)
    with pytest.raises(TypeError):
        s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, "1")


def test_jail_processes_keep_the_fib_they_were_started_in(k):
    """kern_fork.c fork1 406-407 copies p_fibnum (proc.h 550-562, inside
    p_startcopy..p_endcopy), so the processes of a jail started from a
    process in FIB 1 create their sockets in FIB 1 (socreate 393-397), even
    after the starting process moves back to FIB 0."""
    k.ifconfig("em0", "192.0.2.2/32", alias=True)
    sent(k, "em0")
    k.setfib(1)
    j = k.jail("j1", ip4=["192.0.2.2"])
    k.setfib(0)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5556))
    assert udp_send(s, REMOTE, b"jailed") == 0
    assert sent(k, "em0") == []
    (frame,) = ip_frames(k, "em1")
    assert (frame.dst, frame["IP"].dst) == (GW1_MAC, REMOTE)


def test_fib1_socket_to_own_address_loops_on_em0(k):
    """FIB 1 has no lo0 route for 192.0.2.1 (if.c ifa_add_loopback_route adds
    it to FIB 0 only), so the datagram takes the em0 prefix route; arpresolve
    returns the LLE_IFADDR entry of arp_ifinit and ether_output 306-317 hands
    it to if_simloop: delivered, never transmitted."""
    r = udp_socket(k, 7777)
    s = udp_socket(k, 5557)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    assert udp_send(s, EM0, b"self", dport=7777) == 0
    settle(k)
    assert sent(k, "em0") == []
    data, (addr, port) = r.recvfrom(100)
    assert (data, addr, port) == (b"self", EM0, 5557)
