"""Shared set-up for the raw IP expectations written from the FreeBSD 9.1 source.

Host: em0 192.0.2.1/24 and em1 198.51.100.1/24, static ARP entries for the
peers 192.0.2.7, 198.51.100.7 and the router 192.0.2.254, no default route
(``add_default`` adds one), ICMP rate limiting off. The default profile is
amd64: fields 9.x keeps in host order read little-endian.
"""

import errno
import socket as pysock
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

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

IPPROTO_RSVP = 46
MRT = {
    "MRT_INIT": 100,
    "MRT_DONE": 101,
    "MRT_ADD_VIF": 102,
    "MRT_DEL_VIF": 103,
    "MRT_ADD_MFC": 104,
    "MRT_DEL_MFC": 105,
    "MRT_VERSION": 106,
    "MRT_ASSERT": 107,
    "MRT_API_SUPPORT": 109,
    "MRT_API_CONFIG": 110,
    "MRT_ADD_BW_UPCALL": 111,
    "MRT_DEL_BW_UPCALL": 112,
}  # netinet/ip_mroute.h 58-70


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


def raw_sock(k, proto=253, uid=0):
    return k.socket(sock.AF_INET, sock.SOCK_RAW, proto, uid=uid)


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


def snap(k):
    return {p: dict(k.netstat(p)) for p in ("ip", "icmp", "udp")}


def moved(k, before):
    """Every counter of ip/icmp/udp that changed since ``before``: {name: delta}."""
    out = {}
    for p, old in before.items():
        for name, value in k.netstat(p).items():
            if isinstance(value, int) and value != old.get(name, 0):
                out[name] = value - old.get(name, 0)
    return out


def ip_in(
    k,
    dst="192.0.2.1",
    proto=253,
    src=PEER,
    payload=b"rawdata!",
    ifname="em0",
    src_mac=PEER_MAC,
    dst_mac=EM0_MAC,
    **ipkw,
):
    """Feed one IP datagram; returns (Outcome, the IP bytes as sent)."""
    ip = bytes(IP(src=src, dst=dst, proto=proto, **ipkw) / payload)
    out = k.input(ifname, bytes(Ether(src=src_mac, dst=dst_mac, type=0x0800)) + ip)
    return out, ip


def as_raw_reader_sees(ip_bytes):
    """9.x: ip_input leaves ip_len as the payload length and ip_len/ip_off in
    host (little-endian) order when the datagram reaches a raw socket."""
    hl = (ip_bytes[0] & 0x0F) * 4
    total, off = struct.unpack("!H", ip_bytes[2:4])[0], struct.unpack("!H", ip_bytes[6:8])[0]
    return (
        ip_bytes[:2]
        + struct.pack("<H", total - hl)
        + ip_bytes[4:6]
        + struct.pack("<H", off)
        + ip_bytes[8:]
    )


def hdrincl(
    src,
    dst,
    payload=b"hdrincl!",
    proto=253,
    ttl=33,
    tos=0,
    ip_id=0,
    ip_len=None,
    ip_off=0,
    ihl=5,
    cksum=0xDEAD,
    options=b"",
):
    """An IP_HDRINCL buffer: ip_len and ip_off in host (little-endian) order
    as 9.x wants them, everything else in network order."""
    hlen = ihl * 4
    if ip_len is None:
        ip_len = hlen + len(payload)
    hdr = (
        bytes([0x40 | ihl, tos])
        + struct.pack("<H", ip_len)
        + struct.pack("!H", ip_id)
        + struct.pack("<H", ip_off)
        + bytes([ttl, proto])
        + struct.pack("!H", cksum)
        + pysock.inet_aton(src)
        + pysock.inet_aton(dst)
        + options
    )
    return hdr + payload


def ip_id_of(frame_bytes):
    return struct.unpack("!H", frame_bytes[18:20])[0]


def expected_ip(src_mac, dst_mac, ip_id, **ipkw):
    payload = ipkw.pop("payload", b"")
    return bytes(Ether(src=src_mac, dst=dst_mac) / IP(id=ip_id, **ipkw) / payload)


def sin(addr, port=0, family=sock.AF_INET, length=16, sa_len=16):
    """A raw struct sockaddr_in of ``length`` bytes (for the sa_len/family checks)."""
    raw = bytes((sa_len, family)) + struct.pack("!H", port) + pysock.inet_aton(addr) + bytes(8)
    return raw[:length]


__all__ = [
    "BCAST_MAC",
    "EM0_MAC",
    "EM1_MAC",
    "Ether",
    "GW",
    "GW_MAC",
    "ICMP",
    "IP",
    "IPPROTO_RSVP",
    "MRT",
    "PEER",
    "PEER1",
    "PEER1_MAC",
    "PEER_MAC",
    "UDP",
    "add_default",
    "as_raw_reader_sees",
    "drain",
    "err",
    "errno",
    "expected_ip",
    "hdrincl",
    "ip_id_of",
    "ip_in",
    "make_host",
    "moved",
    "pending",
    "pysock",
    "raw_sock",
    "settle",
    "sin",
    "snap",
    "sock",
    "struct",
]
