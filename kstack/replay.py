"""Streaming replay of a capture into an emulated host, in virtual time.

:func:`replay` reads the capture record by record (memory stays flat in the
number of frames), turns each record into an Ethernet frame for the capture
interface (``em0``), feeds it at its timestamp and reports one
:class:`PacketResult` per record through ``on_event``. The returned
:class:`Summary` holds the totals. See ``docs/replay.md``.
"""

from __future__ import annotations

import os
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kstack.kern.kernel import Kernel
from kstack.net.if_var import IFT_ETHER, format_mac, parse_mac
from kstack.net.vnet import Event
from kstack.netinet.ip import aton, ntoa
from kstack.outcome import KINDS, Outcome
from kstack.pcapio import Record, open_capture

__all__ = [
    "HostChoice",
    "PacketResult",
    "ReplayError",
    "SentFrame",
    "Summary",
    "PEER_MAC",
    "choose_host",
    "replay",
    "to_ethernet",
]

#: Source MAC of the Ethernet frames synthesised for non-Ethernet link types.
PEER_MAC = "02:6b:73:00:00:01"
_PEER_MAC_B = parse_mac(PEER_MAC)

#: The kernel boots this long before the first record's timestamp.
BOOT_MARGIN_NS = 1_000_000_000

_DEFAULT_HOST = "192.0.2.1/24"
_LINK_NAMES = {
    0: "NULL",
    1: "EN10MB",
    9: "PPP",
    101: "RAW",
    108: "LOOP",
    113: "LINUX_SLL",
    228: "IPV4",
}
_ETH_IP = b"\x08\x00"
_U16 = struct.Struct("!H")


class ReplayError(Exception):
    """A capture that cannot be replayed (one-line message)."""


@dataclass(slots=True)
class SentFrame:
    iface: str
    data: bytes
    reason: str
    ts_ns: int


@dataclass(slots=True)
class PacketResult:
    """What happened to one record."""

    index: int  # 1-based record number
    ts_ns: int  # the record's timestamp
    linktype: int
    frame: bytes  # what was fed to the interface (Ethernet), or the raw record if skipped
    outcome: Outcome | None  # None when skipped
    skipped: str | None = None
    sent: list[SentFrame] = field(default_factory=list)  # during this input
    events: list[Event] = field(default_factory=list)  # timers before it, deferred work after
    before: list[SentFrame] = field(default_factory=list)  # frames timers sent before it
    counters: dict[str, dict[str, int]] | None = None  # deltas, when asked for


@dataclass
class HostChoice:
    """The default host derived from a capture."""

    addr: str
    plen: int
    ether: str | None = None
    arp: list[tuple[str, str]] = field(default_factory=list)
    gateway: str | None = None
    gateway_ether: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    path: str
    kernel: Kernel
    frames_read: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    frames_sent: int = 0
    setup_sent: list[SentFrame] = field(default_factory=list)
    tail: list[SentFrame] = field(default_factory=list)
    tail_events: list[Event] = field(default_factory=list)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    first_ts_ns: int = 0

    @property
    def outcomes(self) -> int:
        return sum(self.kinds.values())

    def check(self) -> None:
        """Conservation: every record has exactly one outcome or is skipped."""
        if self.outcomes + self.skipped != self.frames_read:
            raise AssertionError(
                f"{self.frames_read} records but {self.outcomes} outcomes + {self.skipped} skipped"
            )


# -- link layer ---------------------------------------------------------------


def link_name(linktype: int) -> str:
    return _LINK_NAMES.get(linktype, str(linktype))


def _ipv4_or_skip(ip: bytes, linktype: int) -> bytes | str:
    if ip and ip[0] >> 4 == 4:
        return ip
    return f"not IPv4 (link type {link_name(linktype)})"


def ipv4_payload(linktype: int, data: bytes) -> bytes | str:
    """The IPv4 packet inside a non-Ethernet record, or a skip reason.

    Raises ReplayError for an unsupported link type."""
    if linktype in (101, 228):
        return _ipv4_or_skip(data, linktype)
    if linktype == 0:  # BSD NULL: 4-byte AF in the capturing host's order
        if len(data) < 4:
            return f"not IPv4 (link type {link_name(linktype)}, short header)"
        if data[:4] in (b"\x02\0\0\0", b"\0\0\0\x02"):
            return _ipv4_or_skip(data[4:], linktype)
        return f"not IPv4 (link type {link_name(linktype)})"
    if linktype == 108:  # OpenBSD LOOP: AF in network order
        if data[:4] == b"\0\0\0\x02":
            return _ipv4_or_skip(data[4:], linktype)
        return f"not IPv4 (link type {link_name(linktype)})"
    if linktype == 9:  # PPP, address/control optional, protocol maybe compressed
        d = data[2:] if data[:2] == b"\xff\x03" else data
        if d[:1] and d[0] & 1:  # protocol field compression (RFC 1661 6.5)
            proto, rest = d[0], d[1:]
        else:
            if len(d) < 2:
                return f"not IPv4 (link type {link_name(linktype)}, short header)"
            proto, rest = _U16.unpack_from(d)[0], d[2:]
        if proto == 0x0021:
            return _ipv4_or_skip(rest, linktype)
        return f"not IPv4 (link type {link_name(linktype)})"
    if linktype == 113:  # Linux cooked capture: 16-byte header
        if len(data) >= 16 and data[14:16] == _ETH_IP:
            return _ipv4_or_skip(data[16:], linktype)
        return f"not IPv4 (link type {link_name(linktype)})"
    raise ReplayError(f"unsupported link type {linktype}")


def to_ethernet(linktype: int, data: bytes, dst_mac: bytes) -> bytes | str:
    """The frame to give the capture interface, or a skip reason."""
    if linktype == 1:
        return data
    ip = ipv4_payload(linktype, data)
    if isinstance(ip, str):
        return ip
    return dst_mac + _PEER_MAC_B + _ETH_IP + ip


def _eth_ipv4(data: bytes) -> bytes | None:
    if len(data) >= 34 and data[12:14] == _ETH_IP and data[14] >> 4 == 4:
        return data[14:]
    return None


# -- default host ---------------------------------------------------------------


def _unicast(a: int) -> bool:
    return a != 0 and (a >> 28) < 14 and (a >> 24) != 127 and a != 0xFFFFFFFF


def choose_host(path: str | os.PathLike[str], host: str | None = None) -> HostChoice:
    """Prescan a capture (streaming) and derive the default host; see
    docs/replay.md for the rules."""
    dst_count: Counter[int] = Counter()
    dst_mac: Counter[tuple[int, bytes]] = Counter()
    src_mac: Counter[tuple[int, bytes]] = Counter()
    seen: set[int] = set()
    with open_capture(path) as cap:
        for rec in cap:
            lt = rec.linktype
            if lt == 1:
                ip = _eth_ipv4(rec.data)
                if ip is None:
                    continue
                dmac, smac = rec.data[0:6], rec.data[6:12]
            else:
                p = ipv4_payload(lt, rec.data)
                if isinstance(p, str) or len(p) < 20:
                    continue
                ip, dmac, smac = p, b"", _PEER_MAC_B
            src = int.from_bytes(ip[12:16], "big")
            dst = int.from_bytes(ip[16:20], "big")
            seen.add(src)
            seen.add(dst)
            if _unicast(dst):
                dst_count[dst] += 1
                if dmac and not dmac[0] & 1:
                    dst_mac[dst, dmac] += 1
            if _unicast(src):
                src_mac[src, smac] += 1
    notes: list[str] = []
    if host is not None:
        try:
            a_s, _, p_s = host.partition("/")
            addr = aton(a_s)
            plen = int(p_s) if p_s else 24
        except (ValueError, OSError) as e:
            raise ValueError(f"bad --host {host!r}: {e}") from None
        if not 0 <= plen <= 32:
            raise ValueError(f"bad --host {host!r}: prefix length out of range")
        notes.append(f"host: {ntoa(addr)}/{plen} (from --host)")
    elif dst_count:
        top = max(dst_count.values())
        addr = min(a for a, n in dst_count.items() if n == top)
        plen = 24
        notes.append(
            f"host: {ntoa(addr)}/{plen} (most frequent unicast IPv4 destination, {top} packets)"
        )
    else:
        a_s, _, p_s = _DEFAULT_HOST.partition("/")
        addr, plen = aton(a_s), int(p_s)
        notes.append(f"host: {_DEFAULT_HOST} (no unicast IPv4 destination in the capture)")
    choice = HostChoice(ntoa(addr), plen, notes=notes)
    macs = [(n, m) for (a, m), n in dst_mac.items() if a == addr]
    if macs:
        n, mac = max(macs, key=lambda x: (x[0], -int.from_bytes(x[1], "big")))
        choice.ether = format_mac(mac)
        notes.append(f"em0 ether {choice.ether} (destination MAC of {n} frames to the host)")
    else:
        notes.append("em0 ether: kstack's default (no Ethernet frame addressed to the host)")
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
    net = addr & mask
    bcast = net | (~mask & 0xFFFFFFFF)
    best_src: dict[int, tuple[int, bytes]] = {}
    offlink: Counter[bytes] = Counter()
    for (a, m), n in src_mac.items():
        if (a & mask) == net:
            if a in (addr, net, bcast) or m[0] & 1:
                continue
            cur = best_src.get(a)
            if cur is None or (n, -int.from_bytes(m, "big")) > (
                cur[0],
                -int.from_bytes(cur[1], "big"),
            ):
                best_src[a] = (n, m)
        elif not m[0] & 1:
            offlink[m] += n
    for a in sorted(best_src):
        mac_s = format_mac(best_src[a][1])
        choice.arp.append((ntoa(a), mac_s))
        notes.append(f"arp {ntoa(a)} at {mac_s} (on-link source)")
    if offlink:
        gw = None
        if plen <= 30:
            c = bcast - 1
            while c > net:
                if c not in seen and c != addr:
                    gw = c
                    break
                c -= 1
        if gw is None:
            notes.append("no default route: no free address in the host's subnet for a gateway")
        else:
            top_m = max(offlink.values())
            gmac = min(m for m, n in offlink.items() if n == top_m)
            choice.gateway, choice.gateway_ether = ntoa(gw), format_mac(gmac)
            notes.append(
                f"default route via {choice.gateway} at {choice.gateway_ether}"
                " (most common source MAC of off-link traffic)"
            )
    return choice


def build_default_kernel(
    choice: HostChoice, *, boottime_ns: int, profile: str = "9.0", iface: str = "em0"
) -> Kernel:
    k = Kernel(profile, boottime_ns=boottime_ns)
    k.ifconfig(iface, f"{choice.addr}/{choice.plen}", ether=choice.ether)
    for a, m in choice.arp:
        k.arp_add(a, m, iface)
    if choice.gateway is not None and choice.gateway_ether is not None:
        k.arp_add(choice.gateway, choice.gateway_ether, iface)
        k.route_add("default", choice.gateway)
    return k


# -- the replay loop ---------------------------------------------------------------


def _collect(k: Kernel, ts_ns: int) -> list[SentFrame]:
    out: list[SentFrame] = []
    for ifp in k.vnet0.ifnets:
        if ifp.txq:
            for data, why in ifp.txq:
                out.append(SentFrame(ifp.name, data, why, ts_ns))
            ifp.txq.clear()
    return out


def _snapshot(k: Kernel) -> dict[str, dict[str, int]]:
    snap: dict[str, dict[str, int]] = k.netstat()
    return snap


def counter_delta(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """Counters that moved, by block; blocks whose dicts are equal are skipped
    without a per-key comparison."""
    out: dict[str, dict[str, int]] = {}
    for name, new in after.items():
        old = before.get(name, {})
        if old == new:
            continue
        d = {key: v - old.get(key, 0) for key, v in new.items() if v != old.get(key, 0)}
        if d:
            out[name] = d
    return out


def _chain(first: Record, it: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from it


def _peek(it: Iterator[Record]) -> tuple[Record | None, Iterator[Record]]:
    first = next(it, None)
    if first is None:
        return None, iter(())
    return first, _chain(first, it)


def replay(
    path: str | os.PathLike[str],
    kernel: Kernel | None = None,
    *,
    scenario: Any = None,
    host: str | None = None,
    sysctls: Iterable[tuple[str, object]] = (),
    profile: str = "9.0",
    iface: str = "em0",
    on_event: Callable[[PacketResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_kernel: Callable[[Kernel], None] | None = None,
    counters: bool = False,
) -> Summary:
    """Replay the capture at ``path``.

    ``kernel``: a configured Kernel (records are fed relative to its current
    time); ``scenario``: a :class:`kstack.scenario.Scenario` (or a path to
    one) booted so that virtual wall time equals the capture's timestamps;
    neither: the default host derived from the capture (``host`` overrides
    its address). ``sysctls`` are applied after configuration.
    ``on_event`` gets one :class:`PacketResult` per record; with
    ``counters=True`` each result carries its counter deltas.
    """
    spath = os.fspath(path)
    name = os.path.basename(spath)
    notes: list[str] = []

    def note(s: str) -> None:
        notes.append(s)
        if on_note is not None:
            on_note(s)

    reader = open_capture(spath)
    try:
        first, records = _peek(iter(reader))
        first_ts = first.ts_ns if first is not None else 0
        boot = max(0, first_ts - BOOT_MARGIN_NS)
        if kernel is not None:
            k = kernel
        elif scenario is not None:
            from kstack.scenario import Scenario, parse_scenario

            sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
            k = sc.build(boottime_ns=boot, profile=profile)
        else:
            choice = choose_host(spath, host)
            for s in choice.notes:
                note(s)
            k = build_default_kernel(choice, boottime_ns=boot, profile=profile, iface=iface)
        for sname, value in sysctls:
            k.sysctl(sname, value)
        try:
            cap_if = k.iface(iface)
        except OSError:
            raise ReplayError(f"{name}: the host has no capture interface {iface}") from None
        if cap_if.type != IFT_ETHER:
            raise ReplayError(f"{name}: capture interface {iface} is not Ethernet")
        summary = Summary(spath, k, notes=notes, first_ts_ns=first_ts)
        if on_kernel is not None:
            on_kernel(k)
        summary.setup_sent = _collect(k, k.clock.wall_ns)
        k.vnet0.take_events()
        base = k.clock.now + (BOOT_MARGIN_NS if kernel is None else 0)
        clock = k.clock
        start = _snapshot(k)
        snap = start
        kinds, reasons, skips = summary.kinds, summary.reasons, summary.skip_reasons
        n = 0
        sent_total = 0
        vnet = k.vnet0
        for rec in records:
            n += 1
            target = base + (rec.ts_ns - first_ts)
            if target > clock.now:
                k.advance_to(target)
            else:
                k.advance(0)
            before_ev = vnet.take_events() if vnet.events else []
            before = _collect(k, clock.wall_ns)
            frame = to_ethernet(rec.linktype, rec.data, cap_if.lladdr)
            if isinstance(frame, str):
                res = PacketResult(n, rec.ts_ns, rec.linktype, rec.data, None, frame)
                summary.skipped += 1
                skips[frame] += 1
            else:
                out = k.input(iface, frame)
                res = PacketResult(n, rec.ts_ns, rec.linktype, frame, out)
                kinds[out.kind] += 1
                reasons[f"{out.kind}: {out.reason}"] += 1
                res.sent = _collect(k, clock.wall_ns)
            res.before = before
            res.events = before_ev + vnet.take_events() if vnet.events else before_ev
            sent_total += len(res.sent) + len(before)
            if counters:
                new = _snapshot(k)
                res.counters = counter_delta(snap, new)
                snap = new
            if on_event is not None:
                on_event(res)
        summary.frames_read = n
        k.advance(0)
        summary.tail = _collect(k, clock.wall_ns)
        summary.tail_events = vnet.take_events()
        summary.frames_sent = sent_total + len(summary.tail)
        summary.counters = counter_delta(start, _snapshot(k))
    finally:
        reader.close()
    summary.check()
    return summary


def summary_dict(s: Summary) -> dict[str, Any]:
    return {
        "type": "summary",
        "capture": os.path.basename(s.path),
        "frames_read": s.frames_read,
        "skipped": s.skipped,
        "skip_reasons": dict(sorted(s.skip_reasons.items())),
        "outcomes": {k: s.kinds.get(k, 0) for k in KINDS},
        "reasons": dict(sorted(s.reasons.items())),
        "frames_sent": s.frames_sent,
        "counters": s.counters,
    }
