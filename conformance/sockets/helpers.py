"""Shared helpers for the socket-layer conformance suite."""

from __future__ import annotations

from typing import Any

from kstack import sock as S
from kstack.testing import HOST, ICMP, IP, PEER, UDP, Raw, eth

UDP_PORT = 5000
PEER_PORT = 53


def udp(k: Any) -> Any:
    """A root UDP socket."""
    return k.socket(S.AF_INET, S.SOCK_DGRAM, 0)


def raw(k: Any, proto: int = 253) -> Any:
    """A root raw socket."""
    return k.socket(S.AF_INET, S.SOCK_RAW, proto)


def connected_udp(k: Any, dport: int = PEER_PORT) -> Any:
    """A UDP socket connected to the peer (local address chosen, ephemeral port)."""
    s = udp(k)
    s.connect((PEER, dport))
    return s


def port_unreach(lport: int, dport: int = PEER_PORT) -> Any:
    """An ICMP port unreachable from the peer quoting our datagram
    HOST:lport -> PEER:dport (8 bytes of data quoted)."""
    quoted = IP(src=HOST, dst=PEER, id=1, ttl=64) / UDP(sport=lport, dport=dport) / Raw(b"q" * 8)
    return eth() / IP(src=PEER, dst=HOST) / ICMP(type=3, code=3) / Raw(bytes(quoted)[:36])


def udp_from_peer(dport: int, sport: int = PEER_PORT, data: bytes = b"abcd") -> Any:
    return eth() / IP(src=PEER, dst=HOST) / UDP(sport=sport, dport=dport) / Raw(data)
