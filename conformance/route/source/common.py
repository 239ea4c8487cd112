"""Shared set-up for the FIB and route expectations written from the FreeBSD 9.1 source.

Host (``make_host``): net.fibs as asked, em0 192.0.2.1/24 and em1
198.51.100.1/24 configured by a process in FIB 0 (so, with the default
net.add_addr_allfibs=1, their prefix routes are in every FIB), static ARP
entries for the peers and gateways of both networks, ICMP rate limiting off,
the gratuitous ARP frames drained.
"""

import errno

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

import kstack
from kstack import sock

EM0 = "192.0.2.1"
EM1 = "198.51.100.1"
PEER = "192.0.2.7"
PEER_MAC = "02:00:00:00:00:07"
GW = "192.0.2.254"
GW_MAC = "02:00:00:00:00:fe"
PEER1 = "198.51.100.7"
PEER1_MAC = "02:00:00:00:01:07"
GW1 = "198.51.100.254"
GW1_MAC = "02:00:00:00:01:fe"
REMOTE = "203.0.113.5"  # an off-link host
SPORT = 5555
DPORT = 9


def make_host(fibs=1, allfibs=None, em1_fib=None, arp=True):
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs)
    k.sysctl("net.inet.icmp.icmplim", 0)
    if allfibs is not None:
        k.sysctl("net.add_addr_allfibs", allfibs)
    k.ifconfig("em0", EM0 + "/24")
    if em1_fib is None:
        k.ifconfig("em1", EM1 + "/24")
    else:
        k.ifconfig("em1", EM1 + "/24", fib=em1_fib)
    if arp:
        k.arp_add(PEER, PEER_MAC)
        k.arp_add(GW, GW_MAC)
        k.arp_add(PEER1, PEER1_MAC)
        k.arp_add(GW1, GW1_MAC)
    settle(k)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


@pytest.fixture
def k():
    return make_host(fibs=2)


def settle(k, rounds=5):
    for _ in range(rounds):
        k.advance(0)


def mac(k, ifname):
    return k.iface(ifname).ether


def sent(k, ifname):
    settle(k)
    return list(k.transmitted(ifname))


def oserr(fn, *a, **kw):
    """Run fn; the errno of the OSError it raised, 0 if it returned."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def route(k, dest, fib=0):
    """route get DEST in FIB: (prefix, gateway, ifname) or None."""
    r = k.route_get(dest, fib=fib)
    if r is None:
        return None
    return (r.prefix, r.gateway, r.ifname)


def prefixes(k, fib):
    return {r.prefix: r for r in k.routes(fib)}


def udp_socket(k, port=SPORT, owner=None):
    s = (owner or k).socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def udp_send(s, dst, payload=b"x", dport=DPORT):
    try:
        s.sendto(payload, (dst, dport))
    except OSError as e:
        return e.errno
    return 0


def ip_frames(k, ifname):
    return [Ether(f) for f in sent(k, ifname) if f[12:14] == b"\x08\x00"]


def udp_frame(actual, eth_src, eth_dst, src, dst, payload, sport=SPORT, dport=DPORT):
    """The frame udp_output()/ip_output() build, with the IP id of ``actual``
    as the don't-care field; checksums follow."""
    ip_id = int.from_bytes(actual[18:20], "big")
    return bytes(
        Ether(src=eth_src, dst=eth_dst)
        / IP(src=src, dst=dst, ttl=64, id=ip_id, flags=0, tos=0)
        / UDP(sport=sport, dport=dport)
        / payload
    )


def echo_request(k, ifname, src, dst, src_mac, ident=0x4242, seq=1, data=b"pingpong"):
    return bytes(
        Ether(src=src_mac, dst=mac(k, ifname))
        / IP(src=src, dst=dst, ttl=64, id=0x1234, flags=0, tos=0)
        / ICMP(type=8, code=0, id=ident, seq=seq)
        / data
    )


def echo_reply_frame(actual, eth_src, eth_dst, src, dst, ident=0x4242, seq=1, data=b"pingpong"):
    """icmp_reflect()'s echo reply: TTL net.inet.ip.ttl, a new IP id (the
    don't-care field, taken from ``actual``), ICMP type 0 with id, seq and
    data of the request; checksums follow."""
    ip_id = int.from_bytes(actual[18:20], "big")
    return bytes(
        Ether(src=eth_src, dst=eth_dst)
        / IP(src=src, dst=dst, ttl=64, id=ip_id, flags=0, tos=0)
        / ICMP(type=0, code=0, id=ident, seq=seq)
        / data
    )


def udp_in(k, ifname, src, dst, src_mac, dport=DPORT, payload=b"data", ttl=64, flags=0):
    f = (
        Ether(src=src_mac, dst=mac(k, ifname))
        / IP(src=src, dst=dst, ttl=ttl, id=0x2222, flags=flags, tos=0)
        / UDP(sport=40000, dport=dport)
        / payload
    )
    out = k.input(ifname, bytes(f))
    settle(k)
    return out


__all__ = [
    "errno",
    "sock",
    "Ether",
    "IP",
    "UDP",
    "ICMP",
    "EM0",
    "EM1",
    "PEER",
    "PEER_MAC",
    "GW",
    "GW_MAC",
    "PEER1",
    "PEER1_MAC",
    "GW1",
    "GW1_MAC",
    "REMOTE",
    "SPORT",
    "DPORT",
    "make_host",
    "settle",
    "mac",
    "sent",
    "oserr",
    "route",
    "prefixes",
    "udp_socket",
    "udp_send",
    "ip_frames",
    "udp_frame",
    "echo_request",
    "echo_reply_frame",
    "udp_in",
]
