"""Shared set-up for the UDP / inpcb expectations written from the FreeBSD 9.1 source.

Host: em0 192.0.2.1/24 and em1 198.51.100.1/24, static ARP entries for the
peers 192.0.2.7, 198.51.100.7 and the router 192.0.2.254, no default route
(``add_default`` adds one), ICMP rate limiting off.
"""

import errno
import socket as pysock
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

import kstack
from kstack import sock

EM0_MAC = "02:00:00:00:00:01"
EM1_MAC = "02:00:00:00:01:01"
PEER = "192.0.2.7"
PEER_MAC = "02:00:00:00:00:07"
PEER1 = "198.51.100.7"
PEER1_MAC = "02:00:00:00:01:07"
GW = "192.0.2.254"
GW_MAC = "02:00:00:00:00:fe"
BCAST_MAC = "ff:ff:ff:ff:ff:ff"


def make_host(**kernel_kw):
    k = kstack.Kernel(profile="9.0", seed=0, **kernel_kw)
    k.ifconfig("em0", "192.0.2.1/24", ether=EM0_MAC)
    k.ifconfig("em1", "198.51.100.1/24", ether=EM1_MAC)
    k.arp_add(PEER, PEER_MAC)
    k.arp_add(PEER1, PEER1_MAC)
    k.arp_add(GW, GW_MAC)
    k.sysctl("net.inet.icmp.icmplim", 0)
    settle(k)
    drain(k)
    return k


@pytest.fixture
def k():
    return make_host()


def add_default(k):
    k.route_add("default", GW)


def settle(k, rounds=5):
    for _ in range(rounds):
        k.advance(0)


def drain(k):
    for name in ("em0", "em1", "lo0"):
        k.transmitted(name)


def frames(k, ifname="em0"):
    """Frames sent on ifname since the last call, decoded with scapy."""
    return [Ether(f) for f in k.transmitted(ifname)]


def udp_sock(k, uid=0):
    return k.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=uid)


def reuseport(s):
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 1)


def reuseaddr(s):
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)


def err(fn, *a, **kw):
    """The errno fn raised, 0 when it did not raise."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def pending(s, n=65536):
    """The next queued datagram as (data, addr), or None."""
    try:
        return s.recvfrom(n)
    except BlockingIOError:
        return None


def all_pending(s):
    out = []
    while (d := pending(s)) is not None:
        out.append(d)
    return out


def snap(k):
    return {p: dict(k.netstat(p)) for p in ("ip", "udp", "icmp")}


def moved(k, before):
    """Every counter of ip/udp/icmp that changed since ``before``: {name: delta}."""
    out = {}
    for p, old in before.items():
        for name, value in k.netstat(p).items():
            if isinstance(value, int) and value != old.get(name, 0):
                out[name] = value - old.get(name, 0)
    return out


def udp_in(
    k,
    dport,
    dst="192.0.2.1",
    src=PEER,
    sport=40000,
    payload=b"data",
    ifname="em0",
    src_mac=PEER_MAC,
    dst_mac=EM0_MAC,
    ttl=64,
    **udpkw,
):
    """Feed one UDP datagram to ifname; returns the Outcome."""
    f = (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=dst, ttl=ttl)
        / UDP(sport=sport, dport=dport, **udpkw)
        / payload
    )
    return k.input(ifname, bytes(f))


def inet_cksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def udp_cksum(src, dst, udp_bytes):
    pseudo = (
        pysock.inet_aton(src) + pysock.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp_bytes))
    )
    c = inet_cksum(pseudo + udp_bytes)
    return c or 0xFFFF


def expected_udp(src_mac, dst_mac, src, dst, sport, dport, payload, ip_id, ttl=64, tos=0, flags=0):
    """The exact frame udp_output + ip_output produce (checksums computed here);
    ip_id is the one don't-care field, taken from the frame actually sent."""
    return bytes(
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=dst, ttl=ttl, tos=tos, id=ip_id, flags=flags)
        / UDP(sport=sport, dport=dport)
        / payload
    )


def ip_id_of(frame_bytes):
    return struct.unpack("!H", frame_bytes[14 + 4 : 14 + 6])[0]


def sin(addr, port, family=sock.AF_INET, length=16, sa_len=16):
    """A raw struct sockaddr_in of ``length`` bytes (for the sa_len/family checks)."""
    raw = bytes((sa_len, family)) + struct.pack("!H", port) + pysock.inet_aton(addr) + bytes(8)
    return raw[:length]


__all__ = [
    "ARP",
    "BCAST_MAC",
    "EM0_MAC",
    "EM1_MAC",
    "Ether",
    "GW",
    "GW_MAC",
    "ICMP",
    "IP",
    "PEER",
    "PEER1",
    "PEER1_MAC",
    "PEER_MAC",
    "UDP",
    "add_default",
    "all_pending",
    "drain",
    "err",
    "errno",
    "expected_udp",
    "frames",
    "inet_cksum",
    "ip_id_of",
    "make_host",
    "moved",
    "pending",
    "pysock",
    "reuseaddr",
    "reuseport",
    "settle",
    "sin",
    "snap",
    "sock",
    "struct",
    "udp_cksum",
    "udp_in",
    "udp_sock",
]
