"""pytest fixtures and assertion helpers for suites that drive kstack.

The plugin is registered as a ``pytest11`` entry point, so any pytest run in
an environment where kstack is installed loads it. The helpers are also plain
functions: ``from kstack.pytest_plugin import delta, match_frame``.

Fixtures
--------
``profile``
    The FreeBSD profile name, ``"9.0"`` by default. Run a test under other
    profiles with indirect parametrisation::

        @pytest.mark.parametrize("profile", ["9.0", "8.0-prefix"], indirect=True)
        def test_x(kernel): ...

``kernel``
    A fresh ``kstack.Kernel(profile=<profile>, seed=0)``: vnet0 with lo0
    127.0.0.1/8 and nothing else.

``delta``
    The :func:`delta` context manager::

        with delta(k) as d:
            k.input("em0", frame)
        assert d == {"ip": {"ips_total": 1, "ips_badsum": 1}}

    ``d`` holds only the counters that moved, per protocol (``"ip"``,
    ``"icmp"``, ``"udp"``, ``"igmp"``); a protocol where nothing moved is
    left out, so an idle block gives ``{}``. A failed comparison prints one
    line per counter that differs.

``match_frame``
    The :func:`match_frame` function: compare two frames byte for byte
    except for the named don't-care fields (see :data:`FIELD_NAMES`), and
    raise ``AssertionError`` with a field-by-field diff::

        match_frame(actual, expected, dont_care={"ip.id", "ip.sum", "icmp.sum"})

    Frames are Ethernet by default; pass ``link=False`` for bare IPv4
    packets (lo0).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import kstack
from kstack.netinet.stats import delta as _stat_delta

__all__ = ["Delta", "delta", "match_frame", "frame_fields", "FIELD_NAMES"]

# ---------------------------------------------------------------------------
# Counter deltas


class Delta(dict[str, dict[str, int]]):
    """The counters that moved inside a ``with delta(k)`` block, per protocol.

    Empty until the block exits.
    """

    def diff_lines(self, other: object) -> list[str]:
        """One line per counter where ``self`` and ``other`` disagree."""
        if not isinstance(other, dict):
            return [f"expected a dict, got {type(other).__name__}"]
        lines: list[str] = []
        for proto in sorted(set(self) | set(other)):
            got = self.get(proto, {})
            want = other.get(proto, {})
            if not isinstance(want, dict):
                lines.append(f"{proto}: expected a dict of counters, got {want!r}")
                continue
            for name in sorted(set(got) | set(want)):
                g = got.get(name, 0)
                w = want.get(name, 0)
                if g != w:
                    lines.append(f"{proto}.{name}: moved by {g:+d}, expected {w:+d}")
            if proto in other and not want and proto in self:
                lines.append(f"{proto}: expected no counter to move")
        return lines


@contextmanager
def delta(k: Any) -> Iterator[Delta]:
    """Record the counter changes of ``k`` (a Kernel or VNet) in a block."""
    before: dict[str, dict[str, int]] = k.netstat()
    d = Delta()
    yield d
    after: dict[str, dict[str, int]] = k.netstat()
    for proto, snap in after.items():
        moved = _stat_delta(before.get(proto, {}), snap)
        if moved:
            d[proto] = moved


# ---------------------------------------------------------------------------
# Frame matching

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
    "udp.sport": "UDP source port",
    "udp.dport": "UDP destination port",
    "udp.len": "UDP length",
    "udp.sum": "UDP checksum",
    "udp.data": "UDP payload",
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
for _name, _, _ in _IP_FIELDS:
    FIELD_NAMES[f"inner.ip.{_name}"] = f"quoted IPv4 {_name}"
FIELD_NAMES["inner.ip.options"] = "quoted IPv4 options"
for _name, _, _ in _UDP_FIELDS:
    FIELD_NAMES[f"inner.udp.{_name}"] = f"quoted UDP {_name}"
FIELD_NAMES["inner.payload"] = "quoted bytes after the quoted IPv4 header"
FIELD_NAMES["arp"] = "the whole ARP packet"

_ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))


def _clip(spans: dict[str, tuple[int, int]], n: int) -> dict[str, tuple[int, int]]:
    return {k: (a, min(b, n)) for k, (a, b) in spans.items() if a < n}


def _ip_spans(buf: bytes, off: int, prefix: str) -> dict[str, tuple[int, int]]:
    spans: dict[str, tuple[int, int]] = {}
    if len(buf) < off + 1:
        return spans
    for name, o, ln in _IP_FIELDS:
        spans[f"{prefix}ip.{name}"] = (off + o, off + o + ln)
    hlen = (buf[off] & 0x0F) * 4
    if hlen < 20:
        hlen = 20
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
        if len(buf) > l4 and buf[l4] in _ICMP_ERRORS and len(buf) >= l4 + 8 + 20:
            spans.update(_ip_spans(buf, l4 + 8, "inner."))
    elif proto == 17:
        for name, o, ln in _UDP_FIELDS:
            spans[f"udp.{name}"] = (l4 + o, l4 + o + ln)
        spans["udp.data"] = (l4 + 8, len(buf))
    return spans


def frame_fields(frame: bytes, link: bool = True) -> dict[str, tuple[int, int]]:
    """Field name -> (start, end) byte span in ``frame``."""
    buf = bytes(frame)
    spans: dict[str, tuple[int, int]] = {}
    off = 0
    if link:
        spans = {"eth.dst": (0, 6), "eth.src": (6, 12), "eth.type": (12, 14)}
        off = 14
        etype = struct.unpack_from("!H", buf, 12)[0] if len(buf) >= 14 else 0
        if etype == 0x0806:
            spans["arp"] = (14, len(buf))
            return _clip(spans, len(buf))
        if etype != 0x0800:
            return _clip(spans, len(buf))
    spans.update(_ip_spans(buf, off, ""))
    return _clip(spans, len(buf))


def _render(frame: bytes, link: bool) -> str:
    try:
        if link:
            from scapy.layers.l2 import Ether

            pkt: Any = Ether(frame)
        else:
            from scapy.layers.inet import IP

            pkt = IP(frame)
        return str(pkt.show(dump=True))
    except Exception:  # pragma: no cover - rendering is best effort
        return frame.hex()


def match_frame(
    actual: bytes | bytearray,
    expected: Any,
    dont_care: Iterable[str] = (),
    *,
    link: bool = True,
) -> None:
    """Assert ``actual`` equals ``expected`` byte for byte outside the
    ``dont_care`` fields. ``expected`` may be bytes or a scapy packet."""
    got = bytes(actual)
    want = bytes(expected)
    ignore = set(dont_care)
    unknown = ignore - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown don't-care field(s): {', '.join(sorted(unknown))}")
    spans_w = frame_fields(want, link)
    spans_g = frame_fields(got, link)
    problems: list[str] = []
    if len(got) != len(want):
        problems.append(f"length: got {len(got)} bytes, expected {len(want)}")
    g = bytearray(got)
    w = bytearray(want)
    masked = [False] * max(len(g), len(w))
    for name in ignore:
        for spans in (spans_w, spans_g):
            if name in spans:
                a, b = spans[name]
                for i in range(a, min(b, len(masked))):
                    masked[i] = True
    differing = [i for i in range(min(len(g), len(w))) if g[i] != w[i] and not masked[i]]
    if not differing and not problems:
        return
    if differing:
        # Name the innermost (smallest) field covering each differing byte.
        named: dict[str, tuple[int, int]] = {}
        for i in differing:
            best: tuple[str, tuple[int, int]] | None = None
            for name, (a, b) in spans_w.items():
                if a <= i < b and (best is None or b - a < best[1][1] - best[1][0]):
                    best = (name, (a, b))
            key, span = best if best is not None else (f"byte {i}", (i, i + 1))
            named.setdefault(key, span)
        for name, (a, b) in sorted(named.items(), key=lambda kv: kv[1][0]):
            problems.append(
                f"{name} [{a}:{b}]: got {bytes(g[a:b]).hex()}, expected {bytes(w[a:b]).hex()}"
            )
    msg = ["frames differ:", *("  " + p for p in problems)]
    if ignore:
        msg.append(f"  (don't care: {', '.join(sorted(ignore))})")
    msg += ["--- got ---", _render(got, link), "--- expected ---", _render(want, link)]
    raise AssertionError("\n".join(msg))


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(name="profile")
def _profile_fixture(request: pytest.FixtureRequest) -> str:
    """The profile name: "9.0" unless parametrised indirectly."""
    return str(getattr(request, "param", "9.0"))


@pytest.fixture(name="kernel")
def _kernel_fixture(profile: str) -> kstack.Kernel:
    """A fresh Kernel(profile=profile, seed=0)."""
    return kstack.Kernel(profile=profile, seed=0)


@pytest.fixture(name="delta")
def _delta_fixture() -> Any:
    """The delta() context manager."""
    return delta


@pytest.fixture(name="match_frame")
def _match_frame_fixture() -> Any:
    """The match_frame() function."""
    return match_frame


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """A per-counter explanation when a Delta is compared with a dict."""
    if op != "==":
        return None
    if isinstance(left, Delta):
        return ["counter deltas differ:", *left.diff_lines(right)]
    if isinstance(right, Delta) and isinstance(left, dict):
        return ["counter deltas differ:", *right.diff_lines(left)]
    return None
