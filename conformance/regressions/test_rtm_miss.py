"""RTM_MISS for forwarded packets: seed 002:447, PRs kern/123621 and
kern/124540.

The FreeBSD change whose message ends "generating an RTM_MISS for every IP
packet forwarded making user space routing daemons unhappy" (revision
unverified). Kernel functions: net/route.c rtalloc1_fib (its report path,
rt_missmsg) as called from netinet/ip_input.c ip_forward through
ip_rtaddr.

Before: ``kstack.PROFILES["9.0"].derive("pre-rtm-miss-fix",
rtm_miss_per_forward=True)`` -- each forwarded packet sends an RTM_MISS for
its destination although its route exists. After: "9.0" -- packets
forwarded over a valid route send nothing; a packet with no route still
sends one RTM_MISS (its ip_rtaddr lookup reports the failure).
"""

from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import kstack
from kstack import sock as S
from kstack.rtsock import parse

BEFORE = kstack.PROFILES["9.0"].derive("pre-rtm-miss-fix", rtm_miss_per_forward=True)
SIDES = {"before": BEFORE, "after": kstack.PROFILES["9.0"]}
PEER_MAC = "02:00:00:00:0a:02"


def _router(profile: kstack.Profile) -> kstack.Kernel:
    k = kstack.Kernel(profile=profile, seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    k.ifconfig("em1", "198.51.100.1/24")
    k.sysctl("net.inet.ip.forwarding", 1)
    k.arp_add("198.51.100.7", "02:00:00:00:0b:07")
    k.route_add("203.0.113.0/24", "198.51.100.7")
    return k


def _frame(k: kstack.Kernel, dst: str, i: int) -> bytes:
    em0 = k.iface("em0").ether
    return bytes(
        Ether(src=PEER_MAC, dst=em0)
        / IP(src="192.0.2.2", dst=dst, ttl=64, id=i)
        / UDP(sport=5000, dport=9)
        / b"x"
    )


def _drain(s: kstack.Socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(4096))
        except BlockingIOError:
            return out


def _miss(dst: str) -> bytes:
    """The RTM_MISS rt_missmsg builds: an rt_msghdr (flags RTF_DONE, one
    address, pid and seq 0) and the destination as a sockaddr_in."""
    hdr = struct.pack(
        "<HBBH2xiiiiiiQ14Q",
        168,
        5,
        S.RTM_MISS,
        0,
        S.RTF_DONE,
        S.RTA_DST,
        0,
        0,
        0,
        0,
        0,
        *([0] * 14),
    )
    return hdr + bytes((16, 2, 0, 0)) + bytes(int(x) for x in dst.split(".")) + bytes(8)


@pytest.mark.parametrize("side", sorted(SIDES))
def test_rtm_miss_per_forwarded_packet(side: str) -> None:
    """rtalloc1_fib (net/route.c) via ip_forward/ip_rtaddr: 10 packets
    forwarded over a valid route; RTM_MISS count 10 before the fix, 0 after
    (seed 002:447, PRs kern/123621, kern/124540, revision unverified)."""
    k = _router(SIDES[side])
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    _drain(s)
    before = k.netstat("ip")["ips_forward"]
    for i in range(10):
        k.input("em0", _frame(k, "203.0.113.9", i))
    k.advance(0)
    assert k.netstat("ip")["ips_forward"] - before == 10
    msgs = _drain(s)
    misses = [m for m in msgs if parse(m)["type"] == S.RTM_MISS]
    assert len(misses) == {"before": 10, "after": 0}[side]
    assert all(m == _miss("203.0.113.9") for m in misses)
    assert len(msgs) == len(misses)


@pytest.mark.parametrize("side", sorted(SIDES))
def test_rtm_miss_no_route_both_sides(side: str) -> None:
    """rtalloc1_fib (net/route.c) report path through ip_rtaddr: a packet
    with no route gives one RTM_MISS on both sides (seed 002:447)."""
    k = _router(SIDES[side])
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    _drain(s)
    k.input("em0", _frame(k, "10.9.9.9", 1))
    k.advance(0)
    assert _drain(s) == [_miss("10.9.9.9")]
