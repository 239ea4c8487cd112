"""Packets with exact option bytes, and the expected answers built from the
wire bytes of the input (never from kstack's output)."""

from __future__ import annotations

import struct
from typing import Any

from kstack.netinet.ip import in_cksum
from kstack.testing import (
    FAR,
    FAR_MAC,
    HOST,
    HOST1_MAC,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    UDP,
    Ether,
    Raw,
    host,
)

ECHO_DATA = b"kstack-options!!"
EPOCH_MS = 0  # kstack boots at 00:00:00 UTC: iptime() is the uptime in ms


def with_options(opts: bytes, payload: Any, **ip: Any) -> bytes:
    """An IPv4 packet carrying exactly ``opts`` (a multiple of 4 bytes) after
    the 20-byte header, with a correct header checksum."""
    assert len(opts) % 4 == 0, "pad the options yourself"
    ip.setdefault("src", PEER)
    ip.setdefault("dst", HOST)
    ip.setdefault("ttl", 64)
    ip.setdefault("id", 0x4242)
    base = bytearray(bytes(IP(**ip) / payload))
    hdr, rest = base[:20], base[20:]
    hdr[0] = 0x40 | ((20 + len(opts)) >> 2)
    struct.pack_into("!H", hdr, 2, 20 + len(opts) + len(rest))
    hdr[10:12] = b"\0\0"
    pkt = bytearray(hdr + opts + rest)
    hl = 20 + len(opts)
    struct.pack_into("!H", pkt, 10, in_cksum(pkt[:hl]))
    return bytes(pkt)


def echo(opts: bytes, seq: int = 1, **ip: Any) -> bytes:
    return with_options(opts, ICMP(type=8, id=0x77, seq=seq) / Raw(ECHO_DATA), **ip)


def frame(pkt: bytes, src: str = PEER_MAC, dst: str = HOST_MAC) -> bytes:
    return bytes(Ether(src=src, dst=dst, type=0x0800)) + pkt


def rr(slots: int, ptr: int = 4, filled: tuple[str, ...] = ()) -> bytes:
    """Record Route with ``slots`` addresses (filled ones first) and EOL
    padding to a multiple of 4."""
    body = b"".join(addr(a) for a in filled) + bytes(4 * (slots - len(filled)))
    return pad(bytes((7, 3 + 4 * slots, ptr)) + body)


def ts(flag: int, length: int, ptr: int = 5, body: bytes = b"", oflw: int = 0) -> bytes:
    b = body + bytes(length - 4 - len(body))
    return pad(bytes((68, length, ptr, (oflw << 4) | flag)) + b)


def srcroute(kind: int, hops: tuple[str, ...], ptr: int = 4) -> bytes:
    """LSRR (131) or SSRR (137) with NOP in front, as ping/traceroute send it."""
    body = b"".join(addr(a) for a in hops)
    return b"\x01" + bytes((kind, 3 + len(body), ptr)) + body


def pad(opts: bytes) -> bytes:
    return opts + bytes(-len(opts) % 4)


def addr(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def ip_of(fr: bytes) -> bytes:
    return fr[14:]


def router() -> Any:
    """The standard topology as a router: forwarding on, a default route,
    the far host on em1 resolved."""
    k = host()
    k.sysctl("net.inet.ip.forwarding", 1)
    k.arp_add(FAR, FAR_MAC)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


def forwarded(pkt: bytes, new_opts: bytes | None = None, dst: str | None = None) -> bytes:
    """What ip_forward sends: TTL - 1, the options as processed, a new
    header checksum (the IP ID is kept)."""
    out = bytearray(pkt)
    out[8] -= 1
    hl = (out[0] & 0x0F) * 4
    if new_opts is not None:
        out[20:hl] = new_opts
    if dst is not None:
        out[16:20] = addr(dst)
    out[10:12] = b"\0\0"
    struct.pack_into("!H", out, 10, in_cksum(out[:hl]))
    return bytes(out)


def on_em1(pkt: bytes) -> bytes:
    return bytes(Ether(src=HOST1_MAC, dst=FAR_MAC, type=0x0800)) + pkt


def udp(opts: bytes, dport: int = 9, **ip: Any) -> bytes:
    return with_options(opts, UDP(sport=4000, dport=dport) / Raw(b"opts-udp"), **ip)


__all__ = [
    "ECHO_DATA",
    "EPOCH_MS",
    "FAR",
    "HOST",
    "PEER",
    "addr",
    "echo",
    "forwarded",
    "frame",
    "ip_of",
    "on_em1",
    "pad",
    "router",
    "rr",
    "srcroute",
    "ts",
    "udp",
    "with_options",
]
