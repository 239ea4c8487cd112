"""Builders and probes shared by the ICMP suites (standard topology of
kstack.testing: em0 192.0.2.1/24 with the peer .7 and the router .254,
em1 198.51.100.1/24)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kstack.netinet.stats import delta as stat_delta
from kstack.testing import (
    HOST,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Ether,
    Raw,
)

#: A second router on em0's network, the usual target of a redirect.
ROUTER2 = "192.0.2.253"
ROUTER2_MAC = "02:00:00:00:00:fd"
#: A third one.
ROUTER3 = "192.0.2.252"
ROUTER3_MAC = "02:00:00:00:00:fc"
#: A host beyond the routers.
REMOTE = "203.0.113.9"


def redirect(
    dst: str = REMOTE,
    gw: str = ROUTER2,
    *,
    src: str = ROUTER,
    code: int = 1,
    inner_src: str = HOST,
    eth_src: str = ROUTER_MAC,
    to: str = HOST,
    eth_dst: str = HOST_MAC,
) -> Any:
    """An ICMP redirect arriving on em0 from ``src``: "for ``dst`` use
    ``gw``", quoting one of our datagrams (header + 8 bytes)."""
    inner = bytes(IP(src=inner_src, dst=dst, id=0x4321, ttl=63) / UDP(sport=40000, dport=53))
    return (
        Ether(src=eth_src, dst=eth_dst)
        / IP(src=src, dst=to, id=0x777)
        / ICMP(type=5, code=code, gw=gw)
        / Raw(inner[:28])
    )


#: Counter movement of one redirect that no raw socket reads: ip_input
#: counts it delivered, rip_input takes that back as ips_noproto.
REDIRECT_DELTA = {"ip": {"ips_total": 1, "ips_noproto": 1}, "icmp": {"icps_inhist[5]": 1}}


class RtDelta(dict[str, int]):
    """The rtstat counters that moved inside a ``with rtstat(k)`` block."""


@contextmanager
def rtstat(k: Any) -> Iterator[RtDelta]:
    """Record the struct rtstat changes of ``k`` (a Kernel or Jail's vnet
    0 stack, or a VNet) in a block."""
    vnet = getattr(k, "vnet0", None) or getattr(k, "vnet", None) or k
    before = vnet.rtstat.snapshot()
    d = RtDelta()
    yield d
    d.update(stat_delta(before, vnet.rtstat.snapshot()))


def routes(k: Any, fib: int = 0) -> dict[str, tuple[str | None, str, str]]:
    """netstat -rn as {prefix: (gateway, interface, flags)}; listing the
    table is not a use of its routes."""
    return {r.prefix: (r.gateway, r.ifname, r.flags) for r in k.routes(fib)}


def udp_send(k: Any, dst: str = REMOTE, port: int = 9, fib: int | None = None) -> None:
    """Send one datagram to ``dst`` from a fresh socket (a route lookup,
    so a use of the route)."""
    from kstack import sock as S

    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    if fib is not None:
        s.setsockopt(S.SOL_SOCKET, S.SO_SETFIB, fib)
    s.sendto(b"data", (dst, port))
    s.close()


def next_hop_mac(frame: bytes) -> str:
    return ":".join(f"{b:02x}" for b in frame[0:6])


def peer_frame(**ip: Any) -> Any:
    """Ether/IP from the peer on em0 (IP fields as keyword arguments)."""
    ip.setdefault("src", PEER)
    ip.setdefault("dst", HOST)
    return Ether(src=PEER_MAC, dst=HOST_MAC) / IP(**ip)


__all__ = [
    "REDIRECT_DELTA",
    "REMOTE",
    "ROUTER2",
    "ROUTER2_MAC",
    "ROUTER3",
    "ROUTER3_MAC",
    "ICMP",
    "Raw",
    "UDP",
    "next_hop_mac",
    "peer_frame",
    "redirect",
    "routes",
    "rtstat",
    "udp_send",
]
