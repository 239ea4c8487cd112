"""Multicast loopback of local sends: ip_output / ip_mloopback (FreeBSD
9.0), net.inet.ip.mcast.loop (the 2009 change: the stack-wide default of
new sockets' IP_MULTICAST_LOOP) and IP_MULTICAST_LOOP per socket."""

from __future__ import annotations

import pytest

from conformance.igmp.helpers import join
from kstack import sock
from kstack.testing import HOST, ROUTER

IP = sock.IPPROTO_IP
G = "239.1.1.1"


@pytest.fixture
def k(k):
    """The standard topology with a default route: a multicast send needs
    a route (in_pcbladdr) unless IP_MULTICAST_IF names an interface."""
    k.route_add("default", ROUTER)
    return k


def _pair(k, loop=None):
    rx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5000))
    join(rx, G)
    tx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    if loop is not None:
        tx.setsockopt(IP, sock.IP_MULTICAST_LOOP, loop)
    k.advance(5)
    k.transmitted("em0")
    return rx, tx


def test_send_is_looped_back_and_transmitted(k):
    """ip_output: a copy of a multicast send is looped back (through the
    netisr queue, received on the outgoing interface) when loop is on, and
    the datagram still leaves with the multicast TTL (1)."""
    rx, tx = _pair(k)
    tx.sendto(b"hi", (G, 5000))
    with pytest.raises(BlockingIOError):
        rx.recv(10)  # queued for netisr until the clock runs
    k.advance(0)
    assert rx.recvfrom(10) == (b"hi", (HOST, tx.getsockname()[1]))
    frames = k.transmitted("em0")
    assert len(frames) == 1 and frames[0][14 + 8] == 1


def test_loop_off_no_copy(k):
    """ip_output: IP_MULTICAST_LOOP 0 -> no local copy."""
    rx, tx = _pair(k, loop=0)
    tx.sendto(b"hi", (G, 5000))
    k.advance(0)
    with pytest.raises(BlockingIOError):
        rx.recv(10)
    assert len(k.transmitted("em0")) == 1


def test_sysctl_loop_default_for_new_option_blocks(k):
    """inp_findmoptions reads net.inet.ip.mcast.loop when a socket's options
    are created; a socket created before keeps its value; getsockopt on a
    socket without options answers IP_DEFAULT_MULTICAST_LOOP (1)."""
    old = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    old.setsockopt(IP, sock.IP_MULTICAST_TTL, 1)
    k.sysctl("net.inet.ip.mcast.loop", 0)
    new = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert new.getsockopt(IP, sock.IP_MULTICAST_LOOP) == 1
    new.setsockopt(IP, sock.IP_MULTICAST_TTL, 1)
    assert new.getsockopt(IP, sock.IP_MULTICAST_LOOP) == 0
    assert old.getsockopt(IP, sock.IP_MULTICAST_LOOP) == 1


def test_sysctl_loop_off_no_copy_for_socket_without_options(k):
    """ip_output: a socket without multicast options loops back only while
    net.inet.ip.mcast.loop is 1."""
    rx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5000))
    join(rx, G)
    k.sysctl("net.inet.ip.mcast.loop", 0)
    tx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    tx.sendto(b"x", (G, 5000))
    k.advance(0)
    with pytest.raises(BlockingIOError):
        rx.recv(10)


def test_looped_copy_without_member_is_noportbcast(k, delta):
    """ip_output loops the copy back whatever the memberships; udp_input
    then finds no member: udps_noportbcast, no ICMP."""
    tx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with delta(k) as d:
        tx.sendto(b"x", (G, 5000))
        k.advance(0)
    assert d["udp"]["udps_noportbcast"] == 1
    assert [f for f in k.transmitted("em0") if f[14 + 9] == 1] == []


def test_ttl_zero_looped_not_sent(k):
    """ip_output: TTL 0 multicast is looped back but not transmitted."""
    rx, tx = _pair(k)
    tx.setsockopt(IP, sock.IP_MULTICAST_TTL, 0)
    tx.sendto(b"z", (G, 5000))
    k.advance(0)
    assert rx.recv(10) == b"z"
    assert k.transmitted("em0") == []


def test_multicast_if_picks_the_interface(k):
    """ip_output: with IP_MULTICAST_IF the datagram leaves by that interface
    (no route lookup) from its first address."""
    tx = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    tx.setsockopt(IP, sock.IP_MULTICAST_IF, sock._in_addr("198.51.100.1"))
    tx.sendto(b"e", (G, 5000))
    k.transmitted("em0")
    frames = k.transmitted("em1")
    assert len(frames) == 1 and frames[0][14 + 12 : 14 + 16] == bytes((198, 51, 100, 1))


def test_hdrincl_multicast_over_lo0_reaches_raw_socket(k, delta):
    """ip_mloopback computes the IP header checksum of its copy in software:
    a multicast datagram sent over lo0 with IP_HDRINCL comes back with a
    valid header and reaches a raw socket (not ips_badsum)."""
    from conformance.igmp.helpers import ipv4

    rx = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    join(rx, G, "127.0.0.1")
    tx = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    tx.setsockopt(IP, sock.IP_HDRINCL, 1)
    tx.setsockopt(IP, sock.IP_MULTICAST_IF, sock._in_addr("127.0.0.1"))
    pkt = bytearray(ipv4("127.0.0.1", G, b"raw!", ttl=1, proto=253))
    pkt[2:4] = len(pkt).to_bytes(2, "little")  # 9.x: ip_len in host order
    pkt[10:12] = b"\0\0"
    with delta(k) as d:
        tx.sendto(bytes(pkt), (G, 0))
        k.advance(0)
    assert rx.recv(100)[20:] == b"raw!"
    assert "ips_badsum" not in d["ip"]
