"""Named fields of a frame, and a field-by-field comparison of two frames.

Used by the pytest plugin's ``match_frame`` and by ``kstack replay --check``
and ``--compare``. A field name (``ip.ttl``, ``icmp.seq``, ``inner.udp.dport``)
maps to a byte span of a frame; :func:`diff_frames` reports the fields in
which two frames differ, leaving out the don't-care fields.

Checksums follow the fields they cover: when a don't-care field inside a
checksum's coverage differs (``ip.id`` inside ``ip.sum``, the ICMP
timestamp-reply times inside ``icmp.sum``), the checksum is compared by
validity instead of by value, so a frame whose checksum is wrong still shows.
"""

from __future__ import annotations

import fnmatch
import struct
from collections.abc import Iterable
from typing import NamedTuple

from kstack.netinet.ip import in_cksum_ok, in_pseudo

__all__ = [
    "CHECK_DONT_CARE",
    "FIELD_NAMES",
    "FieldDiff",
    "diff_frames",
    "expand_fields",
    "frame_fields",
]

#: Fields a test may name as don't-care, with what they cover. "inner.*" are
#: the fields of the header quoted in an ICMP error.
FIELD_NAMES: dict[str, str] = {
    "eth.dst": "Ethernet destination",
    "eth.src": "Ethernet source",
    "eth.type": "EtherType",
    "ip.vhl": "IPv4 version and header length",
    "ip.tos": "IPv4 TOS",
    "ip.len": "IPv4 total length",
    "ip.id": "IPv4 identification",
    "ip.off": "IPv4 flags and fragment offset",
    "ip.ttl": "IPv4 TTL",
    "ip.proto": "IPv4 protocol",
    "ip.sum": "IPv4 header checksum",
    "ip.src": "IPv4 source",
    "ip.dst": "IPv4 destination",
    "ip.options": "IPv4 options",
    "icmp.type": "ICMP type",
    "icmp.code": "ICMP code",
    "icmp.sum": "ICMP checksum",
    "icmp.rest": "ICMP 4 bytes after the checksum (id/seq, gateway, next-hop MTU)",
    "icmp.id": "ICMP identifier",
    "icmp.seq": "ICMP sequence",
    "icmp.data": "ICMP body after the first 8 bytes",
    "icmp.otime": "ICMP timestamp (reply): originate time",
    "icmp.rtime": "ICMP timestamp (reply): receive time",
    "icmp.ttime": "ICMP timestamp (reply): transmit time",
    "udp.sport": "UDP source port",
    "udp.dport": "UDP destination port",
    "udp.len": "UDP length",
    "udp.sum": "UDP checksum",
    "udp.data": "UDP payload",
    "igmp.type": "IGMP type",
    "igmp.code": "IGMP code (max response time of a query)",
    "igmp.sum": "IGMP checksum",
    "igmp.group": "IGMP group address (v1/v2, v3 query); v3 report: reserved and record count",
    "igmp.data": "IGMP bytes after the first 8 (v3 query fields and sources, v3 report records)",
    "payload": "everything after the IPv4 header",
}
_IP_FIELDS = (
    ("vhl", 0, 1),
    ("tos", 1, 1),
    ("len", 2, 2),
    ("id", 4, 2),
    ("off", 6, 2),
    ("ttl", 8, 1),
    ("proto", 9, 1),
    ("sum", 10, 2),
    ("src", 12, 4),
    ("dst", 16, 4),
)
_UDP_FIELDS = (("sport", 0, 2), ("dport", 2, 2), ("len", 4, 2), ("sum", 6, 2))
_ARP_FIELDS = (
    ("hrd", 0, 2),
    ("pro", 2, 2),
    ("hln", 4, 1),
    ("pln", 5, 1),
    ("op", 6, 2),
    ("sha", 8, 6),
    ("spa", 14, 4),
    ("tha", 18, 6),
    ("tpa", 24, 4),
)
for _name, _, _ in _IP_FIELDS:
    FIELD_NAMES[f"inner.ip.{_name}"] = f"quoted IPv4 {_name}"
FIELD_NAMES["inner.ip.options"] = "quoted IPv4 options"
for _name, _, _ in _UDP_FIELDS:
    FIELD_NAMES[f"inner.udp.{_name}"] = f"quoted UDP {_name}"
FIELD_NAMES["inner.payload"] = "quoted bytes after the quoted IPv4 header"
FIELD_NAMES["arp"] = "the whole ARP packet"
for _name, _, _ in _ARP_FIELDS:
    FIELD_NAMES[f"arp.{_name}"] = f"ARP {_name}"

#: The don't-care set of ``kstack replay --check``: the IP ID (a counter or a
#: random number that no capture can predict) and the times an ICMP
#: timestamp reply carries; the checksums covering them are compared by
#: validity (see the module docstring).
CHECK_DONT_CARE: frozenset[str] = frozenset({"ip.id", "icmp.rtime", "icmp.ttime"})

_ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))
_ICMP_TSTAMPS = frozenset((13, 14))
_U16 = struct.Struct("!H")

Spans = dict[str, tuple[int, int]]


class FieldDiff(NamedTuple):
    """One field in which two frames differ."""

    name: str
    start: int
    end: int
    got: bytes
    expected: bytes

    def __str__(self) -> str:
        if self.name == "length":
            g, w = int.from_bytes(self.got, "big"), int.from_bytes(self.expected, "big")
            return f"length: got {g} bytes, expected {w}"
        return (
            f"{self.name} [{self.start}:{self.end}]: "
            f"got {self.got.hex()}, expected {self.expected.hex()}"
        )


def expand_fields(names: Iterable[str]) -> set[str]:
    """Field names, with shell-style patterns (``icmp.*``) expanded.

    Raises ValueError naming an unknown field (or a pattern matching none)."""
    out: set[str] = set()
    for name in names:
        if any(c in name for c in "*?["):
            hits = fnmatch.filter(FIELD_NAMES, name)
            if not hits:
                raise ValueError(f"no field matches {name!r}")
            out.update(hits)
        elif name in FIELD_NAMES:
            out.add(name)
        else:
            raise ValueError(
                f"unknown field {name!r} "
                "(known: eth.*, ip.*, icmp.*, igmp.*, udp.*, inner.*, arp.*, payload)"
            )
    return out


def _clip(spans: Spans, n: int) -> Spans:
    return {k: (a, min(b, n)) for k, (a, b) in spans.items() if a < n}


def _ip_spans(buf: bytes, off: int, prefix: str) -> Spans:
    spans: Spans = {}
    if len(buf) < off + 1:
        return spans
    for name, o, ln in _IP_FIELDS:
        spans[f"{prefix}ip.{name}"] = (off + o, off + o + ln)
    hlen = max(20, (buf[off] & 0x0F) * 4)
    if hlen > 20:
        spans[f"{prefix}ip.options"] = (off + 20, off + hlen)
    l4 = off + hlen
    proto = buf[off + 9] if len(buf) > off + 9 else -1
    if prefix:
        spans["inner.payload"] = (l4, len(buf))
        if proto == 17:
            for name, o, ln in _UDP_FIELDS:
                spans[f"inner.udp.{name}"] = (l4 + o, l4 + o + ln)
        return spans
    spans["payload"] = (l4, len(buf))
    if proto == 1:
        spans["icmp.type"] = (l4, l4 + 1)
        spans["icmp.code"] = (l4 + 1, l4 + 2)
        spans["icmp.sum"] = (l4 + 2, l4 + 4)
        spans["icmp.rest"] = (l4 + 4, l4 + 8)
        spans["icmp.id"] = (l4 + 4, l4 + 6)
        spans["icmp.seq"] = (l4 + 6, l4 + 8)
        spans["icmp.data"] = (l4 + 8, len(buf))
        icmp_type = buf[l4] if len(buf) > l4 else -1
        if icmp_type in _ICMP_TSTAMPS:
            spans["icmp.otime"] = (l4 + 8, l4 + 12)
            spans["icmp.rtime"] = (l4 + 12, l4 + 16)
            spans["icmp.ttime"] = (l4 + 16, l4 + 20)
        if icmp_type in _ICMP_ERRORS and len(buf) >= l4 + 8 + 20:
            spans.update(_ip_spans(buf, l4 + 8, "inner."))
    elif proto == 2:
        spans["igmp.type"] = (l4, l4 + 1)
        spans["igmp.code"] = (l4 + 1, l4 + 2)
        spans["igmp.sum"] = (l4 + 2, l4 + 4)
        spans["igmp.group"] = (l4 + 4, l4 + 8)
        spans["igmp.data"] = (l4 + 8, len(buf))
    elif proto == 17:
        for name, o, ln in _UDP_FIELDS:
            spans[f"udp.{name}"] = (l4 + o, l4 + o + ln)
        spans["udp.data"] = (l4 + 8, len(buf))
    return spans


def frame_fields(frame: bytes, link: bool = True) -> Spans:
    """Field name -> (start, end) byte span in ``frame`` (Ethernet, or a bare
    IPv4 packet with ``link=False``). Spans are clipped to the frame."""
    buf = bytes(frame)
    spans: Spans = {}
    off = 0
    if link:
        spans = {"eth.dst": (0, 6), "eth.src": (6, 12), "eth.type": (12, 14)}
        off = 14
        etype = _U16.unpack_from(buf, 12)[0] if len(buf) >= 14 else 0
        if etype == 0x0806:
            spans["arp"] = (14, len(buf))
            for name, o, ln in _ARP_FIELDS:
                spans[f"arp.{name}"] = (14 + o, 14 + o + ln)
            return _clip(spans, len(buf))
        if etype != 0x0800:
            return _clip(spans, len(buf))
    spans.update(_ip_spans(buf, off, ""))
    return _clip(spans, len(buf))


def _checksum_ok(buf: bytes, name: str, spans: Spans, link: bool) -> bool | None:
    """Whether the checksum ``name`` of ``buf`` verifies (None: cannot tell)."""
    off = 14 if link else 0
    try:
        if name in ("ip.sum", "inner.ip.sum"):
            start = spans["ip.vhl" if name == "ip.sum" else "inner.ip.vhl"][0]
            hlen = (buf[start] & 0x0F) * 4
            if hlen < 20 or len(buf) < start + hlen:
                return None
            return in_cksum_ok(buf[start : start + hlen])
        if buf[off] >> 4 != 4 or _U16.unpack_from(buf, off + 6)[0] & 0x3FFF:
            return None  # a fragment: the transport checksum covers more than we have
        l4 = spans["payload"][0]
        end = off + _U16.unpack_from(buf, off + 2)[0]
        if end > len(buf) or end < l4:
            return None
        if name in ("icmp.sum", "igmp.sum"):
            return in_cksum_ok(buf[l4:end])
        if name == "udp.sum":
            if buf[l4 + 6 : l4 + 8] == b"\0\0":
                return True  # no checksum
            src = int.from_bytes(buf[off + 12 : off + 16], "big")
            dst = int.from_bytes(buf[off + 16 : off + 20], "big")
            pseudo = in_pseudo(src, dst, 17, end - l4)
            v = int.from_bytes(buf[l4:end], "big") << (8 * ((end - l4) & 1))
            return bool((v + pseudo) % 0xFFFF == 0)
    except (KeyError, IndexError, struct.error):
        return None
    return None


def _coverage(name: str, spans: Spans) -> list[tuple[int, int]]:
    """Byte ranges a checksum field covers."""
    if name == "ip.sum":
        end = spans.get("ip.options", spans["ip.dst"])[1]
        return [(spans["ip.vhl"][0], end)]
    if name == "inner.ip.sum":
        end = spans.get("inner.ip.options", spans["inner.ip.dst"])[1]
        return [(spans["inner.ip.vhl"][0], end)]
    if name in ("icmp.sum", "igmp.sum"):
        return [spans["payload"]]
    if name == "udp.sum":
        return [spans["payload"], spans["ip.src"], spans["ip.dst"]]
    return []


_CHECKSUMS = ("ip.sum", "inner.ip.sum", "icmp.sum", "igmp.sum", "udp.sum")


def diff_frames(
    got: bytes | bytearray,
    expected: bytes | bytearray,
    dont_care: Iterable[str] = (),
    *,
    link: bool = True,
) -> list[FieldDiff]:
    """The fields in which ``got`` differs from ``expected``, outside the
    don't-care fields, innermost field first for each differing byte; a
    length difference is reported as the field ``length``."""
    g = bytes(got)
    w = bytes(expected)
    ignore = set(dont_care)
    spans_w = frame_fields(w, link)
    spans_g = frame_fields(g, link)
    n = max(len(g), len(w))
    masked = bytearray(n)
    for name in ignore:
        for spans in (spans_w, spans_g):
            if name in spans:
                a, b = spans[name]
                masked[a:b] = b"\1" * (b - a)
    # A checksum whose coverage holds a differing don't-care byte is
    # compared by validity.
    for ck in _CHECKSUMS:
        if ck in ignore or ck not in spans_w or ck not in spans_g:
            continue
        a, b = spans_w[ck]
        if g[a:b] == w[a:b]:
            continue
        covered = False
        for lo, hi in _coverage(ck, spans_w):
            for i in range(lo, min(hi, len(g), len(w))):
                if masked[i] and g[i] != w[i] and not (a <= i < b):
                    covered = True
                    break
            if covered:
                break
        if covered and _checksum_ok(g, ck, spans_g, link) == _checksum_ok(w, ck, spans_w, link):
            masked[a:b] = b"\1" * (b - a)
    out: list[FieldDiff] = []
    if len(g) != len(w):
        out.append(FieldDiff("length", 0, n, len(g).to_bytes(4, "big"), len(w).to_bytes(4, "big")))
    seen: set[str] = set()
    for i in range(min(len(g), len(w))):
        if g[i] == w[i] or masked[i]:
            continue
        best: tuple[str, int, int] | None = None
        for name, (a, b) in spans_w.items():
            if a <= i < b and (best is None or b - a < best[2] - best[1]):
                best = (name, a, b)
        name, a, b = best if best is not None else (f"byte {i}", i, i + 1)
        if name in seen:
            continue
        seen.add(name)
        out.append(FieldDiff(name, a, b, g[a:b], w[a:b]))
    out.sort(key=lambda d: (d.start, d.end))
    return out
