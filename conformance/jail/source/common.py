"""Shared set-up for the jail and vnet expectations written from the FreeBSD 9.1 source."""

import errno
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

import kstack
from kstack import sock

PEER_MAC = "02:00:00:00:00:07"  # 192.0.2.7 on em0
GW_MAC = "02:00:00:00:00:fe"  # 192.0.2.254 on em0 (default gateway)
PEER1_MAC = "02:00:00:00:01:07"  # 198.51.100.7 on em1
GW1_MAC = "02:00:00:00:01:fe"  # 198.51.100.254 on em1 (fib 1 gateway)
REMOTE_MAC = "02:00:00:00:09:09"  # some other station, source of injected frames


def make_host(fibs=1):
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs)
    k.ifconfig("em0", "192.0.2.1/24")
    k.ifconfig("em0", "192.0.2.2/32", alias=True)
    k.ifconfig("em1", "198.51.100.1/24")
    k.arp_add("192.0.2.7", PEER_MAC)
    k.arp_add("192.0.2.254", GW_MAC)
    k.arp_add("198.51.100.7", PEER1_MAC)
    k.arp_add("198.51.100.254", GW1_MAC)
    k.route_add("default", "192.0.2.254")
    settle(k)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


@pytest.fixture
def k():
    return make_host()


def settle(k, rounds=10):
    for _ in range(rounds):
        k.advance(0)


def frames(stack, ifname):
    """Frames sent on ifname since the last call, decoded."""
    return [Ether(f) for f in stack.transmitted(ifname)]


def ip_frames(stack, ifname):
    return [f for f in frames(stack, ifname) if IP in f]


def udp_frames(stack, ifname):
    return [f for f in frames(stack, ifname) if UDP in f]


def pending(s, n=4096):
    """The next queued datagram (data, addr) or None when nothing is queued."""
    try:
        return s.recvfrom(n)
    except BlockingIOError:
        return None


def oserr(fn, *a, **kw):
    """Run fn and return the errno it raised (0 if it did not raise)."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def udp_in(
    k,
    dst,
    dport,
    src="192.0.2.7",
    sport=40000,
    ifname="em0",
    src_mac=PEER_MAC,
    dst_mac=None,
    payload=b"data",
):
    if dst_mac is None:
        dst_mac = k.iface(ifname).ether
    f = (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=dst, ttl=64)
        / UDP(sport=sport, dport=dport)
        / payload
    )
    return k.input(ifname, f)


def raw_in(
    k,
    dst,
    proto=253,
    src="192.0.2.7",
    ifname="em0",
    src_mac=PEER_MAC,
    dst_mac=None,
    payload=b"rawdata!",
):
    if dst_mac is None:
        dst_mac = k.iface(ifname).ether
    f = Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst, ttl=64, proto=proto) / payload
    return k.input(ifname, f)


def hdrincl_packet(k, src, dst, proto=253, payload=b"hdrincl!"):
    """A raw IP packet for IP_HDRINCL: FreeBSD 9 wants ip_len/ip_off in host order."""
    order = ">" if k.big_endian else "<"
    total = 20 + len(payload)
    hdr = (
        bytes([0x45, 0])
        + struct.pack(order + "H", total)
        + b"\x00\x00"
        + struct.pack(order + "H", 0)
        + bytes([64, proto])
        + b"\x00\x00"
        + bytes(int(x) for x in src.split("."))
        + bytes(int(x) for x in dst.split("."))
    )
    return hdr + payload


def inet_cksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def echo_request_payload(ident=0x4242, seq=1, data=b"pingpong"):
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    c = inet_cksum(hdr)
    return struct.pack("!BBHHH", 8, 0, c, ident, seq) + data


__all__ = [
    "errno",
    "sock",
    "IP",
    "UDP",
    "ICMP",
    "ARP",
    "Ether",
    "make_host",
    "settle",
    "frames",
    "ip_frames",
    "udp_frames",
    "pending",
    "oserr",
    "udp_in",
    "raw_in",
    "hdrincl_packet",
    "echo_request_payload",
    "PEER_MAC",
    "GW_MAC",
    "PEER1_MAC",
    "GW1_MAC",
    "REMOTE_MAC",
]
