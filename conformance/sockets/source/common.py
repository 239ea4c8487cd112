"""Shared set-up for the socket-layer expectations written from the FreeBSD 9.1 source.

Host: em0 192.0.2.1/24 (MAC 02:00:00:00:00:01), static ARP for the peer
192.0.2.7 and the router 192.0.2.254, default route via the router,
net.inet.icmp.icmplim 0.  Every frame sent while the host was set up
(the gratuitous ARP) has been drained.
"""

import errno
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

import kstack
from kstack import sock

HOST = "192.0.2.1"
HOST_MAC = "02:00:00:00:00:01"
PEER = "192.0.2.7"
PEER_MAC = "02:00:00:00:00:07"
GW = "192.0.2.254"
GW_MAC = "02:00:00:00:00:fe"
BCAST = "192.0.2.255"

DG = sock.SOCK_DGRAM
RAW = sock.SOCK_RAW

# amd64 layout of the control-message header: cmsg_len (4), level (4),
# type (4), data aligned to 8 bytes.
CMSG_HDR = 16


def cmsg_space(n):
    """CMSG_SPACE(n) on amd64 (sys/socket.h: _ALIGN to sizeof(long))."""
    return CMSG_HDR + ((n + 7) & ~7)


def settle(k, rounds=5):
    for _ in range(rounds):
        k.advance(0)


def make_host(fibs=1, default_route=True):
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs)
    k.ifconfig("em0", HOST + "/24", ether=HOST_MAC)
    k.arp_add(PEER, PEER_MAC)
    k.arp_add(GW, GW_MAC)
    if default_route:
        k.route_add("default", GW)
    k.sysctl("net.inet.icmp.icmplim", 0)
    settle(k)
    k.transmitted("em0")
    return k


@pytest.fixture
def k():
    return make_host()


def oserr(fn, *a, **kw):
    """Run fn and return the errno it raised (0 when it did not raise)."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def frames(k, ifname="em0"):
    """Frames sent on ifname since the last call, decoded."""
    return [Ether(f) for f in k.transmitted(ifname)]


def ip_frames(k, ifname="em0"):
    return [f for f in frames(k, ifname) if IP in f]


def snapshot(k):
    return k.netstat()


def delta(before, after, proto):
    """Counters of one protocol block that moved, as {name: difference}."""
    out = {}
    for name, value in after[proto].items():
        if isinstance(value, int) and value != before[proto].get(name):
            out[name] = value - before[proto].get(name, 0)
    return out


def udp_in(k, dport, payload=b"abcd", src=PEER, sport=40000, ttl=64, tos=0, dst=HOST):
    f = (
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=src, dst=dst, ttl=ttl, tos=tos)
        / UDP(sport=sport, dport=dport)
        / payload
    )
    return k.input("em0", bytes(f))


def raw_in(k, proto=253, payload=b"rawdata!", src=PEER, ttl=64, dst=HOST):
    f = Ether(src=PEER_MAC, dst=HOST_MAC) / IP(src=src, dst=dst, ttl=ttl, proto=proto) / payload
    return k.input("em0", bytes(f))


def port_unreach_in(k, lport, rport, laddr=HOST, raddr=PEER):
    """An ICMP port unreachable from raddr quoting a datagram laddr:lport -> raddr:rport."""
    inner = IP(src=laddr, dst=raddr, ttl=64, proto=17) / UDP(sport=lport, dport=rport) / b"q"
    f = (
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=raddr, dst=laddr, ttl=64)
        / ICMP(type=3, code=3)
        / bytes(inner)
    )
    return k.input("em0", bytes(f))


def udp_socket(k, port=None, uid=0):
    s = k.socket(sock.AF_INET, DG, uid=uid)
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


def raw_socket(k, proto=253):
    return k.socket(sock.AF_INET, RAW, proto)


def int_opt(value, size=4):
    """An option value of `size` bytes whose first 4 bytes are the int (amd64)."""
    return struct.pack("<i", value) + bytes(size - 4)


def timeval(sec, usec):
    """struct timeval on amd64: two signed 64-bit fields."""
    return struct.pack("<qq", sec, usec)


def sockaddr(family, addr="0.0.0.0", port=0, length=16, salen=16):
    """A struct sockaddr_in-shaped buffer of `length` bytes with the given
    family; its first byte (sin_len) is `salen`."""
    body = bytes((salen, family)) + struct.pack("!H", port) + bytes(int(x) for x in addr.split("."))
    body += bytes(8)
    if length <= len(body):
        return body[:length]
    return body + bytes(length - len(body))


def udp_frame(got, src, dst, sport, dport, payload, ttl=64, tos=0, flags=0, eth_dst=PEER_MAC):
    """The frame udp_output + ip_output build, with got's IP id (the only
    don't-care field; both checksums are computed and compared)."""
    gid = Ether(got)[IP].id
    exp = (
        Ether(src=HOST_MAC, dst=eth_dst)
        / IP(src=src, dst=dst, ttl=ttl, tos=tos, flags=flags, id=gid)
        / UDP(sport=sport, dport=dport)
        / payload
    )
    return bytes(exp)


def pending(s, n=4096):
    try:
        return s.recvfrom(n)
    except BlockingIOError:
        return None


__all__ = [
    "errno",
    "struct",
    "sock",
    "Ether",
    "IP",
    "UDP",
    "ICMP",
    "HOST",
    "HOST_MAC",
    "PEER",
    "PEER_MAC",
    "GW",
    "GW_MAC",
    "BCAST",
    "DG",
    "RAW",
    "CMSG_HDR",
    "cmsg_space",
    "settle",
    "make_host",
    "oserr",
    "frames",
    "ip_frames",
    "snapshot",
    "delta",
    "udp_in",
    "raw_in",
    "port_unreach_in",
    "udp_socket",
    "raw_socket",
    "int_opt",
    "timeval",
    "sockaddr",
    "pending",
    "udp_frame",
]
