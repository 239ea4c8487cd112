"""Frames and counter helpers shared by the ARP conformance tests.

Every scapy packet is built with all its addresses given. The standard
topology (``k`` fixture, kstack.testing.host) has em0 192.0.2.1/24 with
permanent entries for the peer and the router, and em1 198.51.100.1/24 with
the far host unresolved.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kstack.netinet.stats import delta as stat_delta
from kstack.testing import (
    ARP,
    BCAST_MAC,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    IP,
    UDP,
    Ether,
    Raw,
)

NEWBIE = "192.0.2.8"
NEWBIE_MAC = "02:00:00:00:00:08"
OTHER_MAC = "02:00:00:00:00:66"
ZERO_MAC = "00:00:00:00:00:00"

LOG_ERR = 3
LOG_WARNING = 4
LOG_INFO = 6
LOG_DEBUG = 7


def who_has(
    tip: str,
    sip: str,
    sha: str,
    *,
    eth_src: str | None = None,
    eth_dst: str = BCAST_MAC,
    hwtype: int = 1,
) -> Any:
    """An ARP request as a host sends it (tha zero). Another ``hwtype`` is
    patched into the bytes (scapy would change the address format)."""
    pkt = Ether(src=eth_src or sha, dst=eth_dst) / ARP(
        op=1, hwsrc=sha, psrc=sip, hwdst=ZERO_MAC, pdst=tip
    )
    if hwtype == 1:
        return pkt
    raw = bytearray(bytes(pkt))
    raw[14:16] = hwtype.to_bytes(2, "big")
    return bytes(raw)


def is_at(sip: str, sha: str, tip: str, tha: str, *, eth_dst: str | None = None) -> Any:
    """An ARP reply "sip is-at sha" sent to tha (unicast unless eth_dst)."""
    return Ether(src=sha, dst=eth_dst or tha) / ARP(op=2, hwsrc=sha, psrc=sip, hwdst=tha, pdst=tip)


def our_who_has(tip: str, sip: str, mac: str) -> Any:
    """The request the host broadcasts from an interface with MAC ``mac``."""
    return who_has(tip, sip, mac)


def udp_far(payload: bytes, ip_id: int, sport: int, dport: int = 9) -> Any:
    """A datagram from em1 to the far host (checksums computed by scapy)."""
    return (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST1, dst=FAR, id=ip_id, ttl=64)
        / UDP(sport=sport, dport=dport)
        / Raw(payload)
    )


def far_reply() -> Any:
    """The far host answering the host's request on em1."""
    return is_at(FAR, FAR_MAC, HOST1, HOST1_MAC)


def payloads(frames: list[bytes]) -> list[bytes]:
    """The UDP payloads of the IPv4 frames in ``frames``, in order."""
    out = []
    for f in frames:
        p = Ether(f)
        if p.haslayer(UDP):
            out.append(bytes(p[UDP].payload))
    return out


def arp_ops(frames: list[bytes]) -> list[tuple[int, str, str]]:
    """(op, psrc, pdst) of the ARP frames in ``frames``."""
    out = []
    for f in frames:
        p = Ether(f)
        if p.haslayer(ARP):
            out.append((p[ARP].op, p[ARP].psrc, p[ARP].pdst))
    return out


class ArpDelta(dict[str, int]):
    """The arpstat counters that moved inside an ``arp_delta`` block."""


@contextmanager
def arp_delta(k: Any) -> Iterator[ArpDelta]:
    """Record the struct arpstat changes of ``k`` (Kernel or VNet)."""
    before = k.netstat("arp")
    d = ArpDelta()
    yield d
    d.update(stat_delta(before, k.netstat("arp")))


def drops(k: Any) -> list[tuple[str, str]]:
    """(reason, what) of the drop events recorded since the last call."""
    return [
        (e.outcome.reason, e.what)
        for e in k.vnet0.take_events()
        if e.outcome is not None and e.outcome.kind == "dropped"
    ]


__all__ = [
    "HOST",
    "HOST_MAC",
    "LOG_DEBUG",
    "LOG_ERR",
    "LOG_INFO",
    "LOG_WARNING",
    "NEWBIE",
    "NEWBIE_MAC",
    "OTHER_MAC",
    "ZERO_MAC",
    "arp_delta",
    "arp_ops",
    "drops",
    "far_reply",
    "is_at",
    "our_who_has",
    "payloads",
    "udp_far",
    "who_has",
]
