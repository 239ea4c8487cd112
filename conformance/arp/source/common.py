"""Shared set-up for the ARP expectations written from the FreeBSD 9.1 source.

Host: em0 192.0.2.1/24 and em1 198.51.100.1/24, no static ARP entries (the
tests that need one add it), ICMP rate limiting off. The gratuitous ARP
requests sent while the addresses were configured are drained.
"""

import errno

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

import kstack
from kstack import sock

BCAST = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"

EM0 = "192.0.2.1"
EM1 = "198.51.100.1"
TARGET = "192.0.2.50"  # an on-link host of em0 with no static entry
TARGET_MAC = "02:00:00:00:00:50"
OTHER_MAC = "02:00:00:00:00:51"  # the same host after a NIC swap / a spoofer
PEER = "192.0.2.7"
PEER_MAC = "02:00:00:00:00:07"
GW = "192.0.2.254"
GW_MAC = "02:00:00:00:00:fe"
PEER1 = "198.51.100.7"
PEER1_MAC = "02:00:00:00:01:07"
SPORT = 5555
DPORT = 9


def make_host(**sysctls):
    k = kstack.Kernel(profile="9.0", seed=0)
    k.sysctl("net.inet.icmp.icmplim", 0)
    for name, value in sysctls.items():
        k.sysctl("net.link.ether.inet." + name, value)
    k.ifconfig("em0", EM0 + "/24")
    k.ifconfig("em1", EM1 + "/24")
    settle(k)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


@pytest.fixture
def k():
    return make_host()


def settle(k, rounds=5):
    for _ in range(rounds):
        k.advance(0)


def mac(k, ifname):
    return k.iface(ifname).ether


def sent(k, ifname="em0"):
    """Frames sent on ifname since the last call (bytes), after queued work ran."""
    settle(k)
    return list(k.transmitted(ifname))


def arp_frame(
    eth_src,
    eth_dst,
    op,
    sha,
    spa,
    tha,
    tpa,
    hwtype=1,
):
    """An Ethernet ARP frame with every field given (28-byte ARP body, no pad).

    The body is built as Ethernet/IPv4 ARP and ar_hrd is then set to hwtype
    (scapy would otherwise encode the addresses of a non-Ethernet hardware
    type as text)."""
    frame = bytearray(
        bytes(
            Ether(src=eth_src, dst=eth_dst, type=0x0806)
            / ARP(
                hwtype=1,
                ptype=0x0800,
                hwlen=6,
                plen=4,
                op=op,
                hwsrc=sha,
                psrc=spa,
                hwdst=tha,
                pdst=tpa,
            )
        )
    )
    frame[14:16] = hwtype.to_bytes(2, "big")
    return bytes(frame)


def request_from_us(k, ifname, spa, tpa):
    """The request arprequest() broadcasts: ar_tha zero (bzero, if_ether.c 249)."""
    ours = mac(k, ifname)
    return arp_frame(ours, BCAST, 1, ours, spa, ZERO_MAC, tpa)


def reply_from_us(k, ifname, spa, requester_mac, requester_ip, eth_dst=None):
    """The reply in_arpinput() makes of a request (if_ether.c 773-868)."""
    ours = mac(k, ifname)
    return arp_frame(
        ours,
        requester_mac if eth_dst is None else eth_dst,
        2,
        ours,
        spa,
        requester_mac,
        requester_ip,
    )


def arp_in(
    k,
    ifname,
    op,
    sha,
    spa,
    tpa,
    tha=ZERO_MAC,
    eth_src=None,
    eth_dst=None,
    hwtype=1,
):
    if eth_src is None:
        eth_src = sha
    if eth_dst is None:
        eth_dst = BCAST if op == 1 else mac(k, ifname)
    frame = arp_frame(eth_src, eth_dst, op, sha, spa, tha, tpa, hwtype=hwtype)
    out = k.input(ifname, frame)
    settle(k)
    return out


def reply_in(k, ip, hw, ifname="em0", to_ip=EM0):
    """ip is-at hw, addressed to us."""
    return arp_in(k, ifname, 2, hw, ip, to_ip, tha=mac(k, ifname), eth_dst=mac(k, ifname))


def sender(k, port=SPORT):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def udp_send(s, dst, payload=b"x", dport=DPORT):
    """sendto(); the errno it failed with, 0 when it succeeded."""
    try:
        s.sendto(payload, (dst, dport))
    except OSError as e:
        return e.errno
    return 0


def udp_frame(
    actual,
    eth_src,
    eth_dst,
    src,
    dst,
    payload,
    sport=SPORT,
    dport=DPORT,
):
    """The frame udp_output()/ip_output() build, with the IP id of ``actual``
    (don't-care field: net.inet.ip.random_id decides it); checksums follow."""
    ip_id = int.from_bytes(actual[18:20], "big") if len(actual) >= 20 else 0
    return bytes(
        Ether(src=eth_src, dst=eth_dst)
        / IP(src=src, dst=dst, ttl=64, id=ip_id, flags=0, tos=0)
        / UDP(sport=sport, dport=dport)
        / payload
    )


def is_arp(frame):
    return len(frame) >= 14 and frame[12:14] == b"\x08\x06"


def is_ip(frame):
    return len(frame) >= 14 and frame[12:14] == b"\x08\x00"


def udp_payloads(frames):
    return [bytes(Ether(f)[UDP].payload) for f in frames if is_ip(f)]


__all__ = [
    "errno",
    "sock",
    "Ether",
    "ARP",
    "IP",
    "UDP",
    "BCAST",
    "ZERO_MAC",
    "EM0",
    "EM1",
    "TARGET",
    "TARGET_MAC",
    "OTHER_MAC",
    "PEER",
    "PEER_MAC",
    "GW",
    "GW_MAC",
    "PEER1",
    "PEER1_MAC",
    "SPORT",
    "DPORT",
    "make_host",
    "settle",
    "mac",
    "sent",
    "arp_frame",
    "request_from_us",
    "reply_from_us",
    "arp_in",
    "reply_in",
    "sender",
    "udp_send",
    "udp_frame",
    "is_arp",
    "is_ip",
    "udp_payloads",
]
