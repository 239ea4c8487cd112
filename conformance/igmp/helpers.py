"""IGMP messages with exact bytes, and the host's expected reports built
from the protocol's rules (never from kstack's output).

The host is the standard topology of kstack.testing: em0 192.0.2.1/24
(index 2), em1 198.51.100.1/24 (index 3); a querier sits at 192.0.2.254.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from kstack import sock
from kstack.netinet.ip import in_cksum
from kstack.testing import HOST, HOST_MAC, PEER, ROUTER, ROUTER_MAC

QUERIER = ROUTER
QUERIER_MAC = ROUTER_MAC
ALLHOSTS = "224.0.0.1"
ALLRTRS = "224.0.0.2"
ALLRPTS = "224.0.0.22"
EM0 = 2  # interface indexes of the standard topology (lo0 is 1)
EM1 = 3
RA = b"\x94\x04\x00\x00"
FAST = 0.2  # the fast timer's period (PR_FASTHZ = 5)
# IP fields whose values the kernel picks (ip_id from its counter) and the
# header checksum that covers them.
DONT_CARE = ("ip.id",)

# v3 record types
IS_IN, IS_EX, TO_IN, TO_EX, ALLOW, BLOCK = 1, 2, 3, 4, 5, 6


def aton(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def group_mac(group: str) -> str:
    """The Ethernet multicast address of an IPv4 group (01:00:5e + 23 bits)."""
    g = aton(group)
    return f"01:00:5e:{g[1] & 0x7F:02x}:{g[2]:02x}:{g[3]:02x}"


def ipv4(
    src: str,
    dst: str,
    payload: bytes,
    *,
    ttl: int = 1,
    tos: int = 0,
    off: int = 0,
    ident: int = 0x1234,
    opts: bytes = b"",
    proto: int = 2,
) -> bytes:
    hl = 20 + len(opts)
    hdr = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | (hl >> 2),
            tos,
            hl + len(payload),
            ident,
            off,
            ttl,
            proto,
            0,
            aton(src),
            aton(dst),
        )
    )
    hdr += opts
    struct.pack_into("!H", hdr, 10, in_cksum(bytes(hdr)))
    return bytes(hdr) + payload


def frame(pkt: bytes, *, src_mac: str = QUERIER_MAC, dst_mac: str | None = None) -> bytes:
    """An Ethernet frame carrying ``pkt``; addressed to the group MAC of
    its IP destination unless told otherwise."""
    if dst_mac is None:
        dst = ".".join(str(b) for b in pkt[16:20])
        dst_mac = group_mac(dst) if pkt[16] >> 4 == 0xE else HOST_MAC
    return _mac(dst_mac) + _mac(src_mac) + b"\x08\x00" + pkt


def _mac(m: str) -> bytes:
    return bytes(int(x, 16) for x in m.split(":"))


def igmp(t: int, code: int, group: str, rest: bytes = b"") -> bytes:
    """An IGMP message with a correct checksum."""
    body = bytearray(struct.pack("!BBH4s", t, code, 0, aton(group)) + rest)
    struct.pack_into("!H", body, 2, in_cksum(bytes(body)))
    return bytes(body)


def v1_query(*, group: str = "0.0.0.0") -> bytes:
    return igmp(0x11, 0, group)


def v2_query(code: int = 100, group: str = "0.0.0.0") -> bytes:
    return igmp(0x11, code, group)


def v3_query(
    code: int = 100,
    group: str = "0.0.0.0",
    sources: Iterable[str] = (),
    qrv: int = 2,
    qqic: int = 125,
) -> bytes:
    srcs = [aton(s) for s in sources]
    rest = struct.pack("!BBH", qrv & 7, qqic, len(srcs)) + b"".join(srcs)
    return igmp(0x11, code, group, rest)


def report_v1(group: str) -> bytes:
    return igmp(0x12, 0, group)


def report_v2(group: str) -> bytes:
    return igmp(0x16, 0, group)


def leave_v2(group: str) -> bytes:
    return igmp(0x17, 0, group)


def query_frame(
    msg: bytes, dst: str = ALLHOSTS, *, src: str = QUERIER, ttl: int = 1, ra: bool = True
) -> bytes:
    return frame(ipv4(src, dst, msg, ttl=ttl, opts=RA if ra else b""))


def record(rtype: int, group: str, sources: Iterable[str] = ()) -> bytes:
    srcs = [aton(s) for s in sources]
    return struct.pack("!BBH4s", rtype, 0, len(srcs), aton(group)) + b"".join(srcs)


def v3_report(records: Iterable[bytes]) -> bytes:
    recs = list(records)
    body = bytearray(struct.pack("!BBHHH", 0x22, 0, 0, 0, len(recs)) + b"".join(recs))
    struct.pack_into("!H", body, 2, in_cksum(bytes(body)))
    return bytes(body)


def host_v3_report(
    records: Iterable[bytes], *, src: str = HOST, src_mac: str = HOST_MAC, ra: bool = True
) -> bytes:
    """What igmp_v3_encap_report + ip_output send: TOS 0xc0, DF, TTL 1, to
    224.0.0.22, the Router Alert option (sendra), from the interface's
    first address."""
    pkt = ipv4(
        src, ALLRPTS, v3_report(records), tos=0xC0, off=0x4000, ident=0, opts=RA if ra else b""
    )
    return frame(pkt, src_mac=src_mac, dst_mac=group_mac(ALLRPTS))


def host_v1v2(
    msg: bytes, dst: str, *, src: str = HOST, src_mac: str = HOST_MAC, ra: bool = True
) -> bytes:
    """What igmp_v1v2_queue_report + ip_output send: TOS 0, no DF, TTL 1,
    the Router Alert option (sendra), from the interface's first address."""
    pkt = ipv4(src, dst, msg, ident=0, opts=RA if ra else b"")
    return frame(pkt, src_mac=src_mac, dst_mac=group_mac(dst))


def run(k: Any, seconds: float, iface: str = "em0") -> list[tuple[float, bytes]]:
    """Advance the clock in fast-timer steps; the frames sent on ``iface``
    with the (virtual, seconds since boot) time they left."""
    out: list[tuple[float, bytes]] = []
    end = k.now + seconds
    while k.now < end - 1e-9:
        step = min(FAST, end - k.now)
        k.advance(step)
        out.extend((round(k.now, 6), f) for f in k.transmitted(iface))
    return out


def igmp_frames(frames: list[tuple[float, bytes]]) -> list[tuple[float, bytes]]:
    return [(t, f) for t, f in frames if len(f) > 23 and f[12:14] == b"\x08\x00" and f[23] == 2]


def join(s: Any, group: str, iface: str = "0.0.0.0") -> None:
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(group, iface))


def udp_to(
    group: str, port: int, *, src: str = PEER, sport: int = 4000, data: bytes = b"m"
) -> bytes:
    ulen = 8 + len(data)
    u = bytearray(struct.pack("!HHHH", sport, port, ulen, 0) + data)
    pseudo = aton(src) + aton(group) + struct.pack("!BBH", 0, 17, ulen)
    ck = in_cksum(pseudo + bytes(u) + (b"\0" if ulen & 1 else b""))
    struct.pack_into("!H", u, 6, ck or 0xFFFF)
    return frame(ipv4(src, group, bytes(u), ttl=4, proto=17), src_mac="02:00:00:00:00:07")
