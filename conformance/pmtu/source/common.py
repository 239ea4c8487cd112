"""Shared set-up for the forwarding, PMTU and pfil expectations written from
the FreeBSD 9.1 source (see README.md).

Topology (``make_kernel``): em0 192.0.2.1/24, em1 198.51.100.1/24, static
ARP entries for 192.0.2.7 (PEER), 192.0.2.254 (GW), 198.51.100.7 (PEER1) and
198.51.100.254 (GW1). ICMP rate limiting is off unless a test turns it on.

Expected frames are built byte by byte here; the only don't-care field is
the IP id of datagrams the stack itself originates (taken from the frame),
and link-level padding of short frames to 60 bytes.
"""

import errno
import socket as _socket
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

import kstack
from kstack import sock

LOCAL0 = "192.0.2.1"
LOCAL1 = "198.51.100.1"
PEER = "192.0.2.7"
GW = "192.0.2.254"
PEER1 = "198.51.100.7"
GW1 = "198.51.100.254"
FAR = "203.0.113.5"  # beyond the gateways

PEER_MAC = "02:00:00:00:00:07"
GW_MAC = "02:00:00:00:00:fe"
PEER1_MAC = "02:00:00:00:01:07"
GW1_MAC = "02:00:00:00:01:fe"

IP_DF = 0x4000
IP_MF = 0x2000
IP_RF = 0x8000


def make_kernel(forwarding=False, default=None, options=(), fibs=1, icmplim=0):
    """The two-interface host; ``default`` is the default gateway, if any."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs, options=set(options))
    k.ifconfig("em0", LOCAL0 + "/24")
    k.ifconfig("em1", LOCAL1 + "/24")
    k.arp_add(PEER, PEER_MAC)
    k.arp_add(GW, GW_MAC)
    k.arp_add(PEER1, PEER1_MAC)
    k.arp_add(GW1, GW1_MAC)
    if default is not None:
        k.route_add("default", default)
    if forwarding:
        k.sysctl("net.inet.ip.forwarding", 1)
    k.sysctl("net.inet.icmp.icmplim", icmplim)
    drain(k)
    return k


def drain(k):
    """Run queued work and forget every frame sent so far."""
    for _ in range(5):
        k.advance(0)
    for name in ("em0", "em1"):
        k.transmitted(name)


@pytest.fixture
def host():
    """Forwarding off, default route via GW."""
    return make_kernel(default=GW)


@pytest.fixture
def router():
    """Forwarding on, no default route."""
    return make_kernel(forwarding=True)


# ---------------------------------------------------------------- counters


def snapshot(k):
    d = {}
    for proto in ("ip", "icmp", "udp"):
        d.update(k.netstat(proto))
    return d


class Counters:
    """Counter deltas since creation: only the counters that moved."""

    def __init__(self, k):
        self.k = k
        self.start = snapshot(k)

    def delta(self):
        now = snapshot(self.k)
        return {n: v - self.start.get(n, 0) for n, v in now.items() if v != self.start.get(n, 0)}


# ---------------------------------------------------------------- bytes


def aton(a):
    return _socket.inet_aton(a)


def mac(m):
    return bytes.fromhex(m.replace(":", ""))


def cksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0, ttl=64, tos=0, off=0, options=b"", total=None):
    """An IPv4 datagram with a correct header checksum (off: flags|offset)."""
    assert len(options) % 4 == 0
    hl = 20 + len(options)
    if total is None:
        total = hl + len(payload)
    h = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | (hl // 4),
        tos,
        total,
        ident,
        off,
        ttl,
        proto,
        0,
        aton(src),
        aton(dst),
    )
    h += options
    return h[:10] + struct.pack("!H", cksum(h)) + h[12:] + payload


def udp(src, dst, sport, dport, data):
    """A UDP datagram with its checksum (0 is sent as 0xffff)."""
    length = 8 + len(data)
    pseudo = aton(src) + aton(dst) + struct.pack("!BBH", 0, 17, length)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    c = cksum(pseudo + hdr + data) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + data


def icmp_msg(type_, code, rest, body):
    """An ICMP message; ``rest`` is the 32-bit word after the checksum."""
    h = struct.pack("!BBHI", type_, code, 0, rest) + body
    return h[:2] + struct.pack("!H", cksum(h)) + h[4:]


def icmp_error_frame(
    k, frame, ifname, dst_mac, src, dst, type_, code, quote, rest=0, off=0, ttl=64
):
    """The frame an ICMP error should be: outer TTL net.inet.ip.ttl (64),
    TOS 0, ``off`` as copied from the offending datagram, the IP id taken
    from ``frame`` (don't-care)."""
    body = icmp_msg(type_, code, rest, quote)
    datagram = ipv4(src, dst, 1, body, ident=ip_id(frame), ttl=ttl, tos=0, off=off)
    return ether(dst_mac, k.iface(ifname).ether, datagram)


def echo(type_, ident, seq, data):
    return icmp_msg(type_, 0, (ident << 16) | seq, data)


def ether(dst_mac, src_mac, payload, ethertype=0x0800):
    return mac(dst_mac) + mac(src_mac) + struct.pack("!H", ethertype) + payload


def frame_in(k, ifname, src_mac, datagram, dst_mac=None):
    """A received Ethernet frame carrying ``datagram`` (bytes), built with scapy."""
    if dst_mac is None:
        dst_mac = k.iface(ifname).ether
    return Ether(src=src_mac, dst=dst_mac, type=0x0800) / Raw(load=datagram)


def inject(k, ifname, src_mac, datagram, dst_mac=None):
    out = k.input(ifname, bytes(frame_in(k, ifname, src_mac, datagram, dst_mac)))
    for _ in range(3):
        k.advance(0)
    return out


def ip_id(frame):
    return struct.unpack("!H", frame[18:20])[0]


def strip_pad(frame, expected_len):
    """Drop zero padding a short frame may carry up to 60 bytes."""
    if expected_len < 60 and len(frame) == 60 and frame[expected_len:] == bytes(60 - expected_len):
        return frame[:expected_len]
    return frame


def assert_frame(frame, expected):
    assert strip_pad(frame, len(expected)).hex() == expected.hex()


def hdrincl(k, src, dst, payload, proto=253, ident=0x1234, off=0, ttl=64, tos=0, options=b""):
    """An IP_HDRINCL datagram as a 9.x raw socket takes it: ip_len and
    ip_off in host byte order, the rest in network order."""
    order = ">" if k.big_endian else "<"
    hl = 20 + len(options)
    total = hl + len(payload)
    return (
        bytes([0x40 | (hl // 4), tos])
        + struct.pack(order + "H", total)
        + struct.pack("!H", ident)
        + struct.pack(order + "H", off)
        + bytes([ttl, proto])
        + b"\x00\x00"
        + aton(src)
        + aton(dst)
        + options
        + payload
    )


def oserr(fn, *a, **kw):
    """Run fn and return the errno it raised (0 if it did not raise)."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


__all__ = [
    "errno",
    "sock",
    "kstack",
    "IP",
    "UDP",
    "ICMP",
    "ARP",
    "Ether",
    "Raw",
    "LOCAL0",
    "LOCAL1",
    "PEER",
    "GW",
    "PEER1",
    "GW1",
    "FAR",
    "PEER_MAC",
    "GW_MAC",
    "PEER1_MAC",
    "GW1_MAC",
    "IP_DF",
    "IP_MF",
    "IP_RF",
    "make_kernel",
    "drain",
    "snapshot",
    "Counters",
    "aton",
    "mac",
    "cksum",
    "ipv4",
    "udp",
    "icmp_msg",
    "echo",
    "icmp_error_frame",
    "ether",
    "frame_in",
    "inject",
    "ip_id",
    "strip_pad",
    "assert_frame",
    "hdrincl",
    "oserr",
    "host",
    "router",
]
