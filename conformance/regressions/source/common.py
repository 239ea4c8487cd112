"""Shared set-up for the catalog before/after expectations written from the kernel source."""

import errno
import struct

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import Ether

import kstack
from kstack import sock

PEER_MAC = "02:00:00:00:00:07"  # 192.0.2.7 on em0
GW_MAC = "02:00:00:00:00:fe"  # 192.0.2.254 on em0
PEER1_MAC = "02:00:00:00:01:07"  # 198.51.100.7 on em1


def profile(side, switch, before_value=False):
    """The 9.0 profile ("after") or a copy with ``switch`` set to its before value."""
    if side == "after":
        return "9.0"
    return kstack.PROFILES["9.0"].derive("before", **{switch: before_value})


def make_host(
    side="after", switch=None, em1=True, default_route=True, aliases=(), before_value=False
):
    prof = profile(side, switch, before_value) if switch else "9.0"
    k = kstack.Kernel(profile=prof, seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    for a in aliases:
        k.ifconfig("em0", a + "/32", alias=True)
    if em1:
        k.ifconfig("em1", "198.51.100.1/24")
        k.arp_add("198.51.100.7", PEER1_MAC)
    k.arp_add("192.0.2.7", PEER_MAC)
    k.arp_add("192.0.2.254", GW_MAC)
    if default_route:
        k.route_add("default", "192.0.2.254")
    k.sysctl("net.inet.icmp.icmplim", 0)
    settle(k)
    k.transmitted("em0")
    if em1:
        k.transmitted("em1")
    return k


def settle(k, rounds=10):
    for _ in range(rounds):
        k.advance(0)


def frames(k, ifname):
    return [Ether(f) for f in k.transmitted(ifname)]


def oserr(fn, *a, **kw):
    """Run fn and return the errno it raised (0 if it did not raise)."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def pending(s, n=4096):
    try:
        return s.recvfrom(n)
    except BlockingIOError:
        return None


def drain_route(s):
    """Every routing message queued on a routing socket, oldest first."""
    out = []
    while True:
        try:
            out.append(s.recv(8192))
        except BlockingIOError:
            return out


def rtm_type(msg):
    # struct rt_msghdr: u_short rtm_msglen, u_char rtm_version, u_char rtm_type
    return msg[3]


def udp_frame(k, src, dst, dport, ifname="em0", src_mac=PEER_MAC, ttl=64, payload=b"data"):
    return (
        Ether(src=src_mac, dst=k.iface(ifname).ether)
        / IP(src=src, dst=dst, ttl=ttl)
        / UDP(sport=40000, dport=dport)
        / payload
    )


def u16(b, off, order="<"):
    return struct.unpack_from(order + "H", b, off)[0]


__all__ = [
    "errno",
    "struct",
    "sock",
    "kstack",
    "Ether",
    "IP",
    "UDP",
    "TCP",
    "ICMP",
    "PEER_MAC",
    "GW_MAC",
    "PEER1_MAC",
    "profile",
    "make_host",
    "settle",
    "frames",
    "oserr",
    "pending",
    "drain_route",
    "rtm_type",
    "udp_frame",
    "u16",
]
