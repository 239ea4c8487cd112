"""Streaming replay of a capture into an emulated host, in virtual time.

:class:`Replay` reads the capture record by record (memory stays flat in the
number of frames), turns each record into a frame for the interface its
link type belongs to (``em0`` for Ethernet and other IPv4 links, ``lo0`` for
loopback captures), feeds it at its timestamp and yields one
:class:`PacketResult` per record. Timers that fire between records come as
:class:`TimerResult` items inside the next record's result. :func:`replay`
is the callback form that returns the :class:`Summary`. See
``docs/replay.md``.
"""

from __future__ import annotations

import contextlib
import operator
import os
import shutil
import stat
import struct
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import is_, ne
from typing import Any, BinaryIO

from kstack.kern.clock import NS, WALL_LIMIT_NS
from kstack.kern.kernel import Kernel
from kstack.net.if_var import IFT_ETHER, IFT_LOOP, format_mac, parse_mac
from kstack.net.vnet import Event, default_lladdr
from kstack.netinet.ip import aton, in_cksum_ok, ntoa
from kstack.netinet.stats import JournalHist, copy_values, is_journalled, journalled_copy
from kstack.outcome import KINDS, Outcome
from kstack.pcapio import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_PPP,
    LINKTYPE_RAW,
    CaptureReader,
    Record,
    open_capture,
)
from kstack.profiles import Profile

__all__ = [
    "BOOT_MARGIN_NS",
    "CaptureSource",
    "CounterJournal",
    "CounterMarks",
    "HostChoice",
    "OWN_FRAME",
    "PEER_MAC",
    "PacketResult",
    "Replay",
    "ReplayError",
    "SUPPORTED_LINKTYPES",
    "SentFrame",
    "Summary",
    "TimerResult",
    "choose_host",
    "counter_delta",
    "ipv4_payload",
    "link_name",
    "replay",
    "summary_dict",
    "to_ethernet",
]

#: Source MAC of the Ethernet frames synthesised for non-Ethernet link types.
PEER_MAC = "02:6b:73:00:00:01"
_PEER_MAC_B = parse_mac(PEER_MAC)

#: The kernel boots this long before the first record's timestamp.
BOOT_MARGIN_NS = 1_000_000_000

#: The skip reason of a record the host itself sent (the capture's output).
OWN_FRAME = "sent by the host (the capture's own output)"

_DEFAULT_HOST = "192.0.2.1/24"
_LINK_NAMES = {
    LINKTYPE_NULL: "NULL",
    LINKTYPE_ETHERNET: "EN10MB",
    LINKTYPE_PPP: "PPP",
    LINKTYPE_RAW: "RAW",
    LINKTYPE_LOOP: "LOOP",
    LINKTYPE_LINUX_SLL: "LINUX_SLL",
    LINKTYPE_IPV4: "IPV4",
}
#: Link types replay accepts, by number.
SUPPORTED_LINKTYPES = tuple(sorted(_LINK_NAMES))
_LOOPBACK_LINKS = frozenset({LINKTYPE_NULL, LINKTYPE_LOOP})
_PPP_PROTOS = {
    0x0021: "IPv4",
    0x0057: "IPv6",
    0x0281: "MPLS",
    0x002B: "IPX",
    0x8021: "IPCP",
    0x8057: "IPV6CP",
    0x80FD: "CCP",
    0xC021: "LCP",
    0xC023: "PAP",
    0xC223: "CHAP",
}
_ETHERTYPES = {0x0806: "ARP", 0x86DD: "IPv6", 0x8100: "802.1Q", 0x8847: "MPLS", 0x0004: "802.2"}
_NULL_AFS = {24: "IPv6", 28: "IPv6", 30: "IPv6", 23: "IPX", 7: "OSI"}
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
    linktype: int = LINKTYPE_ETHERNET  # RAW for lo0: the bare IPv4 packet


@dataclass(slots=True)
class TimerResult:
    """What timers did between two records (or after the last one)."""

    ts_ns: int  # virtual wall time the timers fired at
    events: list[Event] = field(default_factory=list)
    sent: list[SentFrame] = field(default_factory=list)
    counters: dict[str, dict[str, int]] | None = None  # deltas, when asked for


@dataclass(slots=True)
class PacketResult:
    """What happened to one record."""

    index: int  # 1-based record number
    ts_ns: int  # the record's timestamp
    linktype: int  # the record's link type
    frame: bytes  # what was fed to the interface, or the raw record if skipped
    outcome: Outcome | None  # None when skipped
    skipped: str | None = None
    sent: list[SentFrame] = field(default_factory=list)  # during this input
    events: list[Event] = field(default_factory=list)  # deferred work it caused
    timers: list[TimerResult] = field(default_factory=list)  # timers that fired before it
    counters: dict[str, dict[str, int]] | None = None  # deltas, when asked for
    iface: str = "em0"  # the interface it was (or would have been) fed to
    frame_linktype: int = LINKTYPE_ETHERNET  # link type of ``frame``
    own: bool = False  # a frame the host itself sent (not fed; see --check)

    @property
    def before(self) -> list[SentFrame]:
        """Frames timers sent before this record."""
        return [f for t in self.timers for f in t.sent]


@dataclass
class HostChoice:
    """The default host derived from a capture."""

    addr: str | None  # None: no em0 (a capture of loopback traffic only)
    plen: int
    ether: str | None = None
    arp: list[tuple[str, str]] = field(default_factory=list)
    gateway: str | None = None
    gateway_ether: str | None = None
    loopback: list[str] = field(default_factory=list)  # aliases given to lo0
    notes: list[str] = field(default_factory=list)
    records: int = 0  # records in the capture (the prescan counts them)


@dataclass
class Summary:
    path: str
    kernel: Kernel
    frames_read: int = 0
    skipped: int = 0
    own: int = 0  # of the skipped: frames the host itself sent
    skip_reasons: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    frames_sent: int = 0
    setup_sent: list[SentFrame] = field(default_factory=list)
    tail: list[SentFrame] = field(default_factory=list)
    tail_events: list[Event] = field(default_factory=list)
    drained: list[TimerResult] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
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


# -- where records come from ----------------------------------------------------


class CaptureSource:
    """A capture to replay: a file name, or ``-`` for standard input.

    Standard input, FIFOs and character devices (``/dev/stdin``) can be read
    only once; :meth:`spool` copies them to a temporary file when a second
    pass is needed (the default host's prescan, ``--compare``). A regular
    file is simply opened again.
    """

    def __init__(self, spec: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> None:
        self.spec = os.fspath(spec)
        self._stdin = stdin
        self._spooled: str | None = None  # the path of the copy of a stream
        self._used = False
        if self.spec == "-":
            self.name = "<stdin>"
            self.path: str | None = None
        else:
            self.name = self.spec
            self.path = self.spec
            try:
                st = os.stat(self.spec)
            except OSError:
                return  # open_capture reports it
            if not stat.S_ISREG(st.st_mode):
                self.path = None  # a pipe or a device: read once

    @property
    def basename(self) -> str:
        return self.name if self.path is None else os.path.basename(self.name)

    @property
    def rereadable(self) -> bool:
        return self.path is not None or self._spooled is not None

    def _stream(self) -> BinaryIO:
        if self.spec == "-":
            return self._stdin if self._stdin is not None else sys.stdin.buffer
        try:
            return open(self.spec, "rb")  # noqa: SIM115 - handed to the reader
        except OSError as e:
            from kstack.pcapio import PcapError

            raise PcapError(f"{self.name}: {e.strerror or e}") from e

    def spool(self) -> None:
        """Make the source re-readable (a copy of a stream in a temporary file)."""
        if self.rereadable:
            return
        src = self._stream()
        fd, path = tempfile.mkstemp(prefix="kstack-capture-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                shutil.copyfileobj(src, tmp, 1 << 20)
        except OSError as e:
            os.unlink(path)
            from kstack.pcapio import PcapError

            raise PcapError(f"{self.name}: read error: {e.strerror or e}") from e
        if src is not self._stdin and src is not sys.stdin.buffer:
            src.close()
        self._spooled = path

    def open(self) -> CaptureReader:
        """A new reader from the first record."""
        if self._spooled is not None:
            return open_capture(self._spooled, name=self.name)  # readers never share an offset
        if self.path is not None:
            return open_capture(self.path, name=self.name)
        if self._used:
            raise ReplayError(f"{self.name}: a stream can be read only once")
        self._used = True
        return open_capture(self._stream(), name=self.name)

    def close(self) -> None:
        """Remove the copy of a stream, if one was made."""
        if self._spooled is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._spooled)
            self._spooled = None

    def __del__(self) -> None:
        self.close()


def _as_source(path: str | os.PathLike[str] | CaptureSource) -> CaptureSource:
    return path if isinstance(path, CaptureSource) else CaptureSource(path)


# -- link layer ---------------------------------------------------------------


def link_name(linktype: int) -> str:
    return _LINK_NAMES.get(linktype, str(linktype))


def _supported() -> str:
    return ", ".join(f"{n} ({link_name(n)})" for n in SUPPORTED_LINKTYPES)


def _ipv4_or_skip(ip: bytes, linktype: int) -> bytes | str:
    if ip and ip[0] >> 4 == 4:
        return ip
    if not ip:
        return f"not IPv4 (link type {link_name(linktype)}, empty packet)"
    return f"not IPv4 (link type {link_name(linktype)}, IP version {ip[0] >> 4})"


def ipv4_payload(linktype: int, data: bytes) -> bytes | str:
    """The IPv4 packet inside a non-Ethernet record, or a skip reason that
    names what the record holds instead.

    Raises ReplayError for an unsupported link type."""
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        return _ipv4_or_skip(data, linktype)
    name = link_name(linktype)
    if linktype == LINKTYPE_NULL:  # BSD NULL: 4-byte AF in the capturing host's order
        if len(data) < 4:
            return f"not IPv4 (link type {name}, short header)"
        if data[:4] in (b"\x02\0\0\0", b"\0\0\0\x02"):
            return _ipv4_or_skip(data[4:], linktype)
        af = min(int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big"))
        return f"not IPv4 (link type {name}, address family {af} {_NULL_AFS.get(af, '')})".rstrip()
    if linktype == LINKTYPE_LOOP:  # OpenBSD LOOP: AF in network order
        if data[:4] == b"\0\0\0\x02":
            return _ipv4_or_skip(data[4:], linktype)
        af = int.from_bytes(data[:4], "big")
        return f"not IPv4 (link type {name}, address family {af} {_NULL_AFS.get(af, '')})".rstrip()
    if linktype == LINKTYPE_PPP:  # address/control optional, protocol maybe compressed
        d = data[2:] if data[:2] == b"\xff\x03" else data
        if d[:1] and d[0] & 1:  # protocol field compression (RFC 1661 6.5)
            proto, rest = d[0], d[1:]
        else:
            if len(d) < 2:
                return f"not IPv4 (link type {name}, short header)"
            proto, rest = _U16.unpack_from(d)[0], d[2:]
        if proto == 0x0021:
            return _ipv4_or_skip(rest, linktype)
        what = _PPP_PROTOS.get(proto, "")
        return f"not IPv4 (link type {name}, protocol 0x{proto:04x} {what})".rstrip()
    if linktype == LINKTYPE_LINUX_SLL:  # Linux cooked capture: 16-byte header
        if len(data) < 16:
            return f"not IPv4 (link type {name}, short header)"
        if data[14:16] == _ETH_IP:
            return _ipv4_or_skip(data[16:], linktype)
        et = _U16.unpack_from(data, 14)[0]
        what = _ETHERTYPES.get(et, "")
        return f"not IPv4 (link type {name}, protocol 0x{et:04x} {what})".rstrip()
    raise ReplayError(f"unsupported link type {linktype} (supported: {_supported()})")


def to_ethernet(linktype: int, data: bytes, dst_mac: bytes) -> bytes | str:
    """The frame to give the capture interface, or a skip reason."""
    if linktype == LINKTYPE_ETHERNET:
        return data
    ip = ipv4_payload(linktype, data)
    if isinstance(ip, str):
        return ip
    return dst_mac + _PEER_MAC_B + _ETH_IP + ip


# -- default host ---------------------------------------------------------------


def _unicast(a: int) -> bool:
    """A unicast address a host can have: not 0/8, 127/8, class D or E."""
    return (a >> 28) < 14 and (a >> 24) not in (0, 127)


_REQUESTS = frozenset((8, 13, 15, 17))  # echo, timestamp, information, mask requests
_ERRORS = frozenset((3, 4, 5, 11, 12))


def _weight(ip: bytes) -> int:
    """How much a packet to an address exercises that address's stack:
    ICMP requests and errors 4, UDP and other protocols 2, ICMP replies and
    TCP 1; a fragment 2 more (a later fragment counts as "other"). A bad
    header checksum (often a capture taken on the sender, with checksum
    offload) counts 0: ip_input drops the packet at once."""
    hl = (ip[0] & 0x0F) * 4
    if hl < 20 or len(ip) < hl or not in_cksum_ok(ip[:hl]):
        return 0
    frag = 2 if ip[6] & 0x3F or ip[7] else 0  # MF set or a non-zero offset
    if ip[6] & 0x1F or ip[7]:
        return 2 + frag  # no transport header in a later fragment
    proto = ip[9]
    if proto == 1:
        if len(ip) <= hl:
            return 2 + frag
        t = ip[hl]
        return (4 if t in _REQUESTS or t in _ERRORS else 1) + frag
    if proto == 6:
        return 1 + frag
    return 2 + frag


def _best(counts: Counter[Any]) -> Any:
    """The most common key; ties: the smallest."""
    top = max(counts.values())
    return min(k for k, n in counts.items() if n == top)


class _Prescan:
    """What the default host is chosen from, gathered in one streaming pass."""

    def __init__(self) -> None:
        self.records = 0
        self.score: Counter[int] = Counter()  # unicast destination -> weight
        self.dst_mac: dict[int, Counter[bytes]] = {}  # destination -> its frames' dst MACs
        self.src_mac: dict[int, Counter[bytes]] = {}  # source -> its frames' src MACs
        self.src_count: Counter[int] = Counter()
        self.mac_owner: dict[bytes, int] = {}  # src MAC -> the first source seen with it
        self.shared: set[bytes] = set()  # src MACs seen with several sources (routers)
        self.seen: set[int] = set()
        self.any_dst_mac: Counter[bytes] = Counter()  # unicast dst MACs of all frames
        self.loop: set[int] = set()
        self.has_loop = False
        self.has_other = False
        self.ethernet = False

    def add(self, rec: Record) -> None:
        self.records += 1
        lt = rec.linktype
        data = rec.data
        if lt in _LOOPBACK_LINKS:
            self.has_loop = True
            p = ipv4_payload(lt, data)
            if isinstance(p, str) or len(p) < 20:
                return
            for a in (int.from_bytes(p[12:16], "big"), int.from_bytes(p[16:20], "big")):
                if _unicast(a):
                    self.loop.add(a)
            return
        self.has_other = True
        if lt == LINKTYPE_ETHERNET:
            self.ethernet = True
            if len(data) < 14:
                return
            dmac, smac = data[0:6], data[6:12]
            if not dmac[0] & 1:
                self.any_dst_mac[dmac] += 1
            if data[12:14] != _ETH_IP:
                return
            ip = data[14:]
            if len(ip) < 20 or ip[0] >> 4 != 4:
                return
        else:
            p = ipv4_payload(lt, data)
            if isinstance(p, str) or len(p) < 20:
                return
            ip, dmac, smac = p, b"", b""
        src = int.from_bytes(ip[12:16], "big")
        dst = int.from_bytes(ip[16:20], "big")
        self.seen.add(src)
        self.seen.add(dst)
        if _unicast(dst):
            self.score[dst] += _weight(ip)
            if dmac and not dmac[0] & 1:
                c = self.dst_mac.get(dst)
                if c is None:
                    c = self.dst_mac[dst] = Counter()
                c[dmac] += 1
        if _unicast(src):
            self.src_count[src] += 1
            if smac and not smac[0] & 1:
                c = self.src_mac.get(src)
                if c is None:
                    c = self.src_mac[src] = Counter()
                c[smac] += 1
                owner = self.mac_owner.setdefault(smac, src)
                if owner != src:
                    self.shared.add(smac)

    def mac_of(self, a: int) -> bytes | None:
        c = self.src_mac.get(a)
        return _best(c) if c else None

    def behind_router(self, a: int) -> bool:
        """An address whose frames carry a router's MAC: its source MAC is
        shared with other addresses, or (never a source) its frames go to a
        router's MAC or to another address's own MAC."""
        mac = self.mac_of(a)
        if mac is not None:
            return mac in self.shared
        c = self.dst_mac.get(a)
        if not c:
            return False
        dmac = _best(c)
        if dmac in self.shared:
            return True
        owner = self.mac_owner.get(dmac)
        return owner is not None and owner != a


def _common_prefix(a: int, b: int) -> int:
    x = a ^ b
    return 32 - x.bit_length()


def _parse_host(host: str) -> tuple[int, int]:
    try:
        a_s, _, p_s = host.partition("/")
        addr = aton(a_s)
        plen = int(p_s) if p_s else 24
    except (ValueError, OSError) as e:
        raise ValueError(f"bad --host {host!r}: {e}") from None
    if not 0 <= plen <= 32:
        raise ValueError(f"bad --host {host!r}: prefix length out of range")
    return addr, plen


def choose_host(
    path: str | os.PathLike[str] | CaptureSource, host: str | None = None
) -> HostChoice:
    """Prescan a capture (streaming) and derive the default host; see
    docs/replay.md for the rules. ``host`` ("ADDR[/LEN]") fixes the address."""
    src = _as_source(path)
    scan = _Prescan()
    with src.open() as cap:
        try:
            for rec in cap:
                scan.add(rec)
        except ReplayError as e:
            raise ReplayError(f"{src.name}: {e}") from None
    notes: list[str] = []
    if scan.has_loop and not scan.has_other and host is None:
        ch = HostChoice(None, 0, notes=notes, records=scan.records)
        notes.append(
            "loopback capture: records go to lo0 (127.0.0.1/8), where the host sends and "
            "receives every frame, so every record is fed"
        )
        for a in sorted(scan.loop):
            ch.loopback.append(ntoa(a))
            notes.append(f"lo0 alias {ntoa(a)}/32 (an address the loopback traffic uses)")
        return ch
    from_capture = True
    if host is not None:
        addr, plen = _parse_host(host)
        notes.append(f"host: {ntoa(addr)}/{plen} (from --host)")
    elif scan.score:
        onlink = {a: n for a, n in scan.score.items() if not scan.behind_router(a)}
        pool = onlink or dict(scan.score)
        top = max(pool.values())
        addr = min(a for a, n in pool.items() if n == top)
        plen = 24
        why = (
            "the on-link address receiving the most requests, errors and fragments"
            if onlink
            else "every destination is behind a router; the one receiving the most "
            "requests, errors and fragments"
        )
        # Widen the prefix to reach on-link neighbours in the same /16.
        for a in scan.src_count:
            if a != addr and (a >> 16) == (addr >> 16) and not scan.behind_router(a):
                mac = scan.mac_of(a)
                if mac is not None and mac != scan.mac_of(addr):
                    plen = min(plen, max(16, _common_prefix(a, addr)))
        notes.append(f"host: {ntoa(addr)}/{plen} ({why}: weight {top})")
    else:
        a_s, _, p_s = _DEFAULT_HOST.partition("/")
        addr, plen = aton(a_s), int(p_s)
        from_capture = False
        notes.append(f"host: {_DEFAULT_HOST} (no unicast IPv4 destination in the capture)")
    ch = HostChoice(ntoa(addr), plen, notes=notes, records=scan.records)
    host_mac: bytes | None = None
    dm = scan.dst_mac.get(addr)
    if dm:
        host_mac = _best(dm)
        n = dm[host_mac]
        mac_s = format_mac(host_mac)
        notes.append(f"em0 ether {mac_s} (destination MAC of {n} frames to the host)")
    elif scan.src_mac.get(addr):
        host_mac = scan.mac_of(addr)
        assert host_mac is not None
        notes.append(f"em0 ether {format_mac(host_mac)} (source MAC of the host's own frames)")
    elif not from_capture and scan.any_dst_mac:
        host_mac = _best(scan.any_dst_mac)
        notes.append(
            f"em0 ether {format_mac(host_mac)} (the unicast destination MAC of "
            f"{scan.any_dst_mac[host_mac]} frames, so they reach the stack)"
        )
    else:
        # em0 is the second interface of a fresh vnet0 (lo0 is the first).
        dflt = format_mac(default_lladdr(0, 2))
        if scan.ethernet:
            notes.append(f"em0 ether {dflt}, kstack's default (no unicast frame to the host)")
        else:
            notes.append(
                f"em0 ether {dflt}, kstack's default (not an Ethernet capture: "
                f"records are framed from {PEER_MAC})"
            )
    ch.ether = format_mac(host_mac) if host_mac is not None else None
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0
    net = addr & mask
    bcast = net | (~mask & 0xFFFFFFFF)
    offlink: Counter[bytes] = Counter()
    for a, macs in sorted(scan.src_mac.items()):
        for m, n in macs.items():
            if m == host_mac:
                continue
            if (a & mask) != net:
                offlink[m] += n
    arp: list[tuple[int, bytes]] = []
    for a in sorted(scan.src_mac):
        if (a & mask) != net or a in (addr, net, bcast):
            continue
        amac = scan.mac_of(a)
        if amac is None or amac == host_mac:
            continue
        arp.append((a, amac))
    for a, m in arp:
        ch.arp.append((ntoa(a), format_mac(m)))
        notes.append(f"arp {ntoa(a)} at {format_mac(m)} (on-link source)")
    if not scan.ethernet and any((a & mask) == net and a != addr for a in scan.src_count):
        for a in sorted(scan.src_count):
            if (a & mask) == net and a not in (addr, net, bcast):
                ch.arp.append((ntoa(a), PEER_MAC))
                notes.append(f"arp {ntoa(a)} at {PEER_MAC} (on-link source, synthetic peer)")
    offlink_srcs = [a for a in scan.src_count if (a & mask) != net and a != addr]
    if offlink_srcs:
        gw = None
        if plen <= 30:
            c = bcast - 1
            while c > net:
                if c not in scan.seen and c != addr:
                    gw = c
                    break
                c -= 1
        if gw is None:
            notes.append("no default route: no free address in the host's subnet for a gateway")
        else:
            if offlink:
                gmac = _best(offlink)
                why = "most common source MAC of off-link traffic"
            else:
                gmac = _PEER_MAC_B
                why = "the synthetic peer"
            ch.gateway, ch.gateway_ether = ntoa(gw), format_mac(gmac)
            notes.append(f"default route via {ch.gateway} at {ch.gateway_ether} ({why})")
    if scan.has_loop:
        ch.loopback = [ntoa(a) for a in sorted(scan.loop) if a != addr]
        for a_s in ch.loopback:
            notes.append(f"lo0 alias {a_s}/32 (an address the loopback records use)")
    return ch


def build_default_kernel(
    choice: HostChoice,
    *,
    boottime_ns: int,
    profile: str | Profile = "9.0",
    seed: int = 0,
    iface: str = "em0",
) -> Kernel:
    k = Kernel(profile, seed=seed, boottime_ns=boottime_ns)
    if choice.addr is not None:
        k.ifconfig(iface, f"{choice.addr}/{choice.plen}", ether=choice.ether)
        for a, m in choice.arp:
            k.arp_add(a, m, iface)
        if choice.gateway is not None and choice.gateway_ether is not None:
            k.arp_add(choice.gateway, choice.gateway_ether, iface)
            k.route_add("default", choice.gateway)
    for a in choice.loopback:
        k.ifconfig("lo0", f"{a}/32", alias=True)
    return k


# -- the replay loop ---------------------------------------------------------------


def _stack_label(k: Kernel, vnet: Any) -> str:
    """How replay output names a stack other than the replayed one: "host"
    for vnet0, else the vnet jail's name."""
    if vnet is k.vnet0:
        return "host"
    for j in k.jails.values():
        if j.prison.own_vnet is vnet:
            return str(j.name)
    return str(vnet.name)


def _collect(k: Kernel, ts_ns: int, stack: Any = None) -> list[SentFrame]:
    """Frames every stack sent; interfaces of stacks other than ``stack``
    (vnet0 by default) are named "STACK:IFNAME"."""
    if stack is None:
        stack = k.vnet0
    out: list[SentFrame] = []
    # Only the interfaces holding frames, in the order of a walk over every
    # vnet and its interfaces: the cost does not grow with the vnet count.
    for ifp in k.ifnets_with_output():
        vnet = ifp.vnet
        prefix = "" if vnet is stack else f"{_stack_label(k, vnet)}:"
        lt = LINKTYPE_RAW if ifp.type == IFT_LOOP else LINKTYPE_ETHERNET
        for data, why in ifp.txq:
            out.append(SentFrame(prefix + ifp.name, data, why, ts_ns, lt))
        ifp.txq.clear()
    return out


def _take_events(k: Kernel, stack: Any) -> list[Event]:
    out: list[Event] = []
    for vnet in k.vnets_with_events():
        evs = vnet.take_events()
        if vnet is not stack:
            label = _stack_label(k, vnet)
            for e in evs:
                e.what = f"{label}: {e.what}"
        out.extend(evs)
    return out


def _any_events(k: Kernel) -> bool:
    return bool(k.vnets_with_events() or k.ifnets_with_output())


def split_iface(k: Kernel, spec: str) -> tuple[Any, str]:
    """ "IFNAME" (vnet0) or "JAIL:IFNAME" (an interface of a vnet jail)."""
    jail, sep, ifname = spec.rpartition(":")
    if not sep:
        return k.vnet0, spec
    j = k.jails.get(jail)
    if j is None:
        raise ReplayError(f"--iface {spec}: no jail named {jail!r}")
    if not j.prison.is_vnet:
        raise ReplayError(f"--iface {spec}: jail {jail} has no network stack of its own")
    return j.vnet, ifname


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


#: The blocks a replay reports, by the name ``VNet.netstat()`` gives them.
_COUNTER_BLOCKS = (("ip", "ipstat"), ("icmp", "icmpstat"), ("udp", "udpstat"), ("igmp", "igmpstat"))
_INDEXES = range(1 << 16)  # indexes for compress(): more than all the counters
# (block name, getter of its members, its key names, histogram positions)
_Block = tuple[str, Callable[[Any], tuple[Any, ...]], tuple[str, ...], tuple[int, ...]]


class CounterMarks:
    """What moved in a stack's counters since the last mark, without a
    flat snapshot of every counter per packet.

    Each block is read in one call (an attribute getter over its members),
    which gives the live histogram lists with the plain counters; the mark
    keeps copies of those lists. A block equal to its mark costs one read
    and one C-level comparison. A block that moved is compared element by
    element as plain ints (each histogram's slots spread out in its place).
    :meth:`moved` gives exactly what :func:`counter_delta` gives for two
    ``stack.netstat()`` snapshots: the same keys, in the same order, with the
    same values. (A replay reads its counters from a :class:`CounterJournal`;
    marks are its fallback.)
    """

    __slots__ = ("_stack", "_of", "_blocks", "_marks")

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._of = operator.attrgetter(*(attr for _, attr in _COUNTER_BLOCKS))
        blocks: list[_Block] = []
        for (name, _), blk in zip(_COUNTER_BLOCKS, self._of(stack), strict=True):
            members = tuple(type(blk).fields())
            getter = operator.attrgetter(*members)
            values = getter(blk)
            keys: list[str] = []
            for m, v in zip(members, values, strict=True):
                keys.extend([m] if isinstance(v, int) else (f"{m}[{h}]" for h in range(len(v))))
            hists = tuple(i for i, v in enumerate(values) if not isinstance(v, int))
            blocks.append((name, getter, tuple(keys), hists))
        self._blocks = tuple(blocks)
        # Per block: its values as read (histograms copied), and as plain ints.
        self._marks: list[tuple[tuple[Any, ...], Sequence[int]]] = []
        for b, blk in zip(self._blocks, self._of(stack), strict=True):
            values = b[1](blk)
            self._marks.append((_copy(values, b[3]), _flat(values, b[3]) if b[3] else values))

    def moved(self, hint: Hashable = None) -> dict[str, dict[str, int]]:
        """The counters that moved since the previous call (or creation),
        by block; then the current values become the mark. ``hint`` (what
        the record ended as) is accepted for :class:`CounterJournal`'s
        signature and not needed here."""
        out: dict[str, dict[str, int]] = {}
        marks = self._marks
        for j, ((name, getter, keys, hists), blk) in enumerate(
            zip(self._blocks, self._of(self._stack), strict=True)
        ):
            values = getter(blk)
            if values == marks[j][0]:
                continue
            old = marks[j][1]
            # A tuple for a block of plain counters, a list with histograms.
            new: Sequence[int] = values
            if hists:
                new = _flat(values, hists)
                values = _copy(values, hists)
            marks[j] = (values, new)
            out[name] = {keys[i]: new[i] - old[i] for i in compress(_INDEXES, map(ne, old, new))}
        return out


def _flat(values: tuple[Any, ...], hists: tuple[int, ...]) -> list[int]:
    """A block's values with each histogram's slots spread out in its place."""
    out: list[int] = []
    start = 0
    for i in hists:
        out += values[start:i]
        out += values[i]
        start = i + 1
    out += values[start:]
    return out


def _copy(values: tuple[Any, ...], hists: tuple[int, ...]) -> tuple[Any, ...]:
    """A block's values with copies of its histogram lists (the live lists
    keep counting)."""
    if not hists:
        return values
    out = list(values)
    for i in hists:
        out[i] = out[i][:]
    return tuple(out)


class CounterJournal:
    """What :class:`CounterMarks` gives, from the counters the stack wrote.

    At creation the stack's counter blocks are swapped for journalling
    copies with the same values (:func:`kstack.netinet.stats.journalled_copy`),
    which note in one dict each counter's value before its first write
    since the last :meth:`moved`: a packet costs the few counters it moves,
    not a look at all of them. :meth:`release` gives the stack its own
    blocks back, brought up to date.

    The journal is checked at each :meth:`moved`. When it cannot be trusted
    (a block of the stack replaced, a histogram list replaced or changed
    other than slot by slot, the stack already journalled by another
    replay), the counters as of the previous call are rebuilt from it, the
    delta is taken from two snapshots, and a :class:`CounterMarks` does the
    rest. Either way the result is what :func:`counter_delta` gives for two
    ``stack.netstat()`` snapshots: the same keys, order and values.
    """

    __slots__ = (
        "_stack",
        "_of",
        "_j",
        "_copies",
        "_blocks",
        "_order",
        "_where",
        "_base",
        "_fallback",
    )

    def __init__(self, stack: Any) -> None:
        self._stack = stack
        self._of = operator.attrgetter(*(attr for _, attr in _COUNTER_BLOCKS))
        self._j: dict[str, Any] = {}
        self._base: dict[str, dict[str, int]] | None = None
        self._fallback: CounterMarks | None = None
        # (vnet attribute, journalling copy, the stack's own block)
        self._blocks: tuple[tuple[str, Any, Any], ...] | None = None
        self._copies: tuple[Any, ...] = ()
        # Per journal key: its place in netstat() order, and (block name,
        # reader, object, member name or histogram slot) to read its value.
        self._order: dict[str, int] = {}
        self._where: dict[str, tuple[str, Callable[[Any, Any], int], Any, Any]] = {}
        current = self._of(stack)
        if any(map(is_journalled, current)):
            # Another replay journals this stack: only marks are safe.
            self._fallback = CounterMarks(stack)
            return
        blocks = []
        for (name, attr), blk in zip(_COUNTER_BLOCKS, current, strict=True):
            copy = journalled_copy(blk, self._j)
            for member in type(blk).fields():
                value = getattr(copy, member)
                if isinstance(value, JournalHist):
                    for i, key in enumerate(value.keys):
                        self._order[key] = len(self._order)
                        self._where[key] = (name, list.__getitem__, value, i)
                else:
                    self._order[member] = len(self._order)
                    self._where[member] = (name, getattr, copy, member)
            blocks.append((attr, copy, blk))
        if len(self._order) != sum(len(type(b).snapshot_keys()) for b in current):
            # Two blocks with a counter of the same name would share a key of
            # the one journal: only marks can tell them apart.
            self._order, self._where = {}, {}
            self._fallback = CounterMarks(stack)
            return
        for attr, copy, _ in blocks:
            setattr(stack, attr, copy)
        self._blocks = tuple(blocks)
        self._copies = tuple(copy for _, copy, _ in blocks)

    def moved(self, hint: Hashable = None) -> dict[str, dict[str, int]]:
        """The counters that moved since the previous call (or creation), by
        block: exactly what :meth:`CounterMarks.moved` gives."""
        if self._blocks is None or not all(map(is_, self._of(self._stack), self._copies)):
            return self._from_snapshots(hint)
        j = self._j
        if not j:
            return {}
        try:
            keys = sorted(j, key=self._order.__getitem__) if len(j) > 1 else list(j)
            where = self._where
            out: dict[str, dict[str, int]] = {}
            last = ""
            d: dict[str, int] = {}
            for key in keys:
                name, read, obj, arg = where[key]
                v = read(obj, arg) - j[key]
                if v:
                    if name != last:
                        last = name
                        d = out[name] = {}
                    d[key] = v
        except KeyError:
            # A key no counter has: a histogram member assigned, or
            # JOURNAL_LOST (a histogram changed other than slot by slot).
            return self._from_snapshots(hint)
        j.clear()
        return out

    def _mark(self) -> dict[str, dict[str, int]]:
        """The counters as of the previous :meth:`moved`, rebuilt from the
        journal, laid out as ``netstat()`` lays them out."""
        assert self._blocks is not None
        j = self._j
        snap: dict[str, dict[str, int]] = {}
        for (name, _), (_, copy, _) in zip(_COUNTER_BLOCKS, self._blocks, strict=True):
            d: dict[str, int] = {}
            for member in type(copy).fields():
                # A histogram member assigned since: the journal holds the list.
                value = j.get(member, getattr(copy, member))
                if isinstance(value, JournalHist):
                    mark = value.mark
                    if mark is None:
                        mark = [j.get(k, v) for k, v in zip(value.keys, value, strict=True)]
                    d.update(zip(value.keys, map(int, mark), strict=True))
                else:
                    d[member] = int(value)
            snap[name] = d
        return snap

    def _from_snapshots(self, hint: Hashable) -> dict[str, dict[str, int]]:
        if self._blocks is not None:
            # The journal cannot be trusted: rebuild the previous counters
            # from it and let marks take over.
            self._base = self._mark()
            self._put_back()
        if self._base is not None:
            out = counter_delta(self._base, self._stack.netstat())
            self._base = None
            self._fallback = CounterMarks(self._stack)
            return out
        assert self._fallback is not None
        return self._fallback.moved(hint)

    def _put_back(self) -> None:
        """Give the stack its own blocks back, with the current values,
        wherever it still has the journalling copy."""
        assert self._blocks is not None
        for attr, copy, orig in self._blocks:
            if getattr(self._stack, attr) is copy:
                copy_values(copy, orig)
                setattr(self._stack, attr, orig)
        self._blocks = None
        self._copies = ()
        self._j = {}

    def release(self) -> None:
        """Stop journalling: the stack gets its own blocks back (up to
        date). A later :meth:`moved` still reports from the previous call."""
        if self._blocks is not None:
            self._base = self._mark()
            self._put_back()


class Replay:
    """One replay of a capture, as an iterator of :class:`PacketResult`.

    ``kernel``: a configured Kernel (records are fed relative to its current
    time); ``scenario``: a :class:`kstack.scenario.Scenario` (or a path to
    one) booted so that virtual wall time equals the capture's timestamps;
    neither: the default host derived from the capture (``host`` fixes its
    address). ``profile`` and ``seed`` override the scenario's when given
    (flag > scenario > default); ``sysctls`` are applied after the
    configuration. Frames the host itself sent are not fed (they are
    reported as skipped with ``own=True``) unless ``feed_own``.

    Iterate it for one result per record; then :meth:`drain` runs the clock
    on, and :meth:`finish` returns the :class:`Summary`. Use it as a context
    manager (or call :meth:`close`) so the capture file is closed.

    With ``counters`` each result carries its counter deltas, read from a
    :class:`CounterJournal`: until :meth:`close`, the stack's counter
    blocks are journalling copies (read them through the stack, e.g.
    ``stack.ipstat``); closing gives the stack its own blocks back, up to
    date.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | CaptureSource,
        kernel: Kernel | None = None,
        *,
        scenario: Any = None,
        host: str | None = None,
        sysctls: Iterable[tuple[str, object]] = (),
        profile: str | Profile | None = None,
        seed: int | None = None,
        iface: str = "em0",
        counters: bool = False,
        feed_own: bool = False,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.source = _as_source(path)
        src = self.source
        self.name = src.basename
        self.counters = counters
        self.notes: list[str] = []
        self._on_note = on_note
        self.host: HostChoice | None = None
        self.records_total: int | None = None
        self._reader: CaptureReader | None = None
        self._finished = False
        self._marks: CounterJournal | None = None
        self._ended: list[SentFrame] | None = None
        self._sent_before_tail = 0
        if kernel is None and scenario is None:
            src.spool()
            self.host = choose_host(src, host)
            self.records_total = self.host.records
            for s in self.host.notes:
                self._note(s)
        reader = src.open()
        self._reader = reader
        try:
            it = iter(reader)
            first = next(it, None)
            first_ts = first.ts_ns if first is not None else 0
            #: the first record's link type (Ethernet for an empty capture)
            self.first_linktype = first.linktype if first is not None else LINKTYPE_ETHERNET
            self._records: Iterator[Record] = _chain(first, it) if first is not None else iter(())
            boot = max(0, first_ts - BOOT_MARGIN_NS)
            if kernel is not None:
                k = kernel
            elif scenario is not None:
                from kstack.scenario import Scenario, parse_scenario

                sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
                k = sc.build(boottime_ns=boot, profile=profile, seed=seed)
            else:
                assert self.host is not None
                k = build_default_kernel(
                    self.host,
                    boottime_ns=boot,
                    profile=profile if profile is not None else "9.0",
                    seed=seed if seed is not None else 0,
                    iface=iface,
                )
            for sname, value in sysctls:
                k.sysctl(sname, value)
            self.kernel = k
            self.stack, ifname = split_iface(k, iface)
            self.iface = ifname
            self._cap_if = self.stack.ifnet_by_name.get(ifname)
            if self._cap_if is not None and self._cap_if.type != IFT_ETHER:
                raise ReplayError(f"{self.name}: capture interface {iface} is not Ethernet")
            self._own_mac = self._cap_if.lladdr if self._cap_if is not None else b""
            self._own_addrs = frozenset(ia.addr for ia in self.stack.in_ifaddrhead)
            self.feed_own = feed_own
            self.summary = Summary(src.name, k, notes=self.notes, first_ts_ns=first_ts)
            self.summary.setup_sent = _collect(k, k.clock.wall_ns, self.stack)
            _take_events(k, self.stack)
            self._base = k.clock.now + (BOOT_MARGIN_NS if kernel is None else 0)
            self._first_ts = first_ts
            self._start = self.stack.netstat()
            self._marks = CounterJournal(self.stack) if counters else None
        except BaseException:
            self.close()
            raise

    def _note(self, s: str) -> None:
        self.notes.append(s)
        if self._on_note is not None:
            self._on_note(s)

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._marks is not None:
            self._marks.release()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- timers ---------------------------------------------------------------

    def _step_timers(self, target: int) -> list[TimerResult]:
        """Run the clock to ``target``, one callout deadline at a time, and
        report each instant at which timers did something visible."""
        k = self.kernel
        clock = k.clock
        stack = self.stack
        out: list[TimerResult] = []
        while True:
            nd = clock.next_deadline()
            if nd is None or nd > target:
                break
            k.advance_to(nd)
            if _any_events(k):
                t = TimerResult(
                    clock.wall_ns, _take_events(k, stack), _collect(k, clock.wall_ns, stack)
                )
                if self._marks is not None:
                    t.counters = self._marks.moved("timer")
                out.append(t)
        if target > clock.now:
            k.advance_to(target)
        else:
            k.advance(0)
        return out

    # -- records --------------------------------------------------------------

    def __iter__(self) -> Iterator[PacketResult]:
        try:
            yield from self._results()
        except ReplayError as e:
            raise ReplayError(f"{self.source.name}: {e}") from None

    def _results(self) -> Iterator[PacketResult]:
        k = self.kernel
        clock = k.clock
        stack = self.stack
        summary = self.summary
        kinds, reasons, skips = summary.kinds, summary.reasons, summary.skip_reasons
        base, first_ts = self._base, self._first_ts
        cap_if = self._cap_if
        own_mac = self._own_mac
        own_addrs = self._own_addrs
        check_own = not self.feed_own
        marks = self._marks
        n = 0
        sent_total = 0
        limit = WALL_LIMIT_NS - clock.boottime_ns
        for rec in self._records:
            n += 1
            summary.frames_read = n
            target = base + (rec.ts_ns - first_ts)
            if target >= limit:
                # Only a kernel handed in, already running, gets here: the
                # capture's own timestamps are checked as they are read.
                raise ReplayError(
                    f"record {n}: timestamp {rec.ts_ns} puts the host's clock past "
                    "2554-07-21 (its wall clock counts nanoseconds since 1970 in 64 bits)"
                )
            if clock.next_deadline() is not None:
                timers = self._step_timers(target)
            else:
                timers = []
                if target > clock.now:
                    k.advance_to(target)
                else:
                    k.advance(0)
            before_ev = _take_events(k, stack)
            lt = rec.linktype
            data = rec.data
            skip: str | None = None
            own = False
            ifname = self.iface
            flt = LINKTYPE_ETHERNET
            frame: bytes = data
            if lt == LINKTYPE_ETHERNET:
                if cap_if is None:
                    skip = "no Ethernet interface in the host"
                elif check_own and data[6:12] == own_mac and data[0:6] != own_mac:
                    own = True
            elif lt in _LOOPBACK_LINKS:
                ifname, flt = "lo0", LINKTYPE_RAW
                p = ipv4_payload(lt, data)
                if isinstance(p, str):
                    skip = p
                else:
                    frame = p
            else:
                p = ipv4_payload(lt, data)
                if isinstance(p, str):
                    skip = p
                elif cap_if is None:
                    skip = "no Ethernet interface in the host"
                elif (
                    check_own
                    and len(p) >= 20
                    and int.from_bytes(p[12:16], "big") in own_addrs
                    and int.from_bytes(p[16:20], "big") not in own_addrs
                ):
                    own = True
                    frame, flt = p, LINKTYPE_RAW
                else:
                    frame = cap_if.lladdr + _PEER_MAC_B + _ETH_IP + p
            if own:
                skip = OWN_FRAME
                summary.own += 1
            if skip is not None:
                res = PacketResult(
                    n,
                    rec.ts_ns,
                    lt,
                    frame if own else data,
                    None,
                    skip,
                    iface=ifname,
                    frame_linktype=flt if own else lt,
                    own=own,
                )
                summary.skipped += 1
                skips[skip] += 1
            else:
                out = stack.input(ifname, frame)
                sent = _collect(k, clock.wall_ns, stack)
                res = PacketResult(
                    n, rec.ts_ns, lt, frame, out, None, sent, [], timers, None, ifname, flt
                )
                kinds[out.kind] += 1
                reasons[f"{out.kind}: {out.reason}"] += 1
            res.timers = timers
            after_ev = _take_events(k, stack)
            if after_ev or before_ev:
                res.events = before_ev + after_ev
            sent_total += len(res.sent)
            if timers:
                sent_total += sum(len(t.sent) for t in timers)
            if marks is not None:
                res.counters = marks.moved(res.outcome if res.skipped is None else res.skipped)
            yield res
        summary.frames_read = n
        self._sent_before_tail = sent_total

    def end(self) -> list[SentFrame]:
        """After the last record: the frames and events its queued work left
        (``Summary.tail``, ``Summary.tail_events``). Idempotent."""
        s = self.summary
        if self._ended is None:
            k = self.kernel
            k.advance(0)
            s.tail = _collect(k, k.clock.wall_ns, self.stack)
            s.tail_events = _take_events(k, self.stack)
            self._ended = list(s.tail)
        return self._ended

    def drain(self, seconds: float) -> list[TimerResult]:
        """After the last record: run the clock on by ``seconds`` and report
        what the timers do (reassembly timeouts, ARP expiry...)."""
        if not 0 <= seconds < 1e12:
            raise ValueError(f"drain: {seconds!r} is not a number of seconds >= 0")
        self.end()
        k = self.kernel
        target = k.clock.now + round(seconds * NS)
        if k.clock.boottime_ns + target >= WALL_LIMIT_NS:
            raise ValueError(
                f"drain: {seconds!r} seconds run the clock past 2554-07-21 "
                "(nanoseconds since 1970 in 64 bits)"
            )
        out = self._step_timers(target)
        self.summary.drained.extend(out)
        return out

    def finish(self) -> Summary:
        """Summarise: counters, pending work, conservation (checked);
        returns the :class:`Summary` and closes the capture."""
        s = self.summary
        if self._finished:
            return s
        self._finished = True
        k = self.kernel
        self.end()
        s.tail.extend(_collect(k, k.clock.wall_ns, self.stack))  # nothing, unless driven
        s.frames_sent = self._sent_before_tail + len(s.tail) + sum(len(t.sent) for t in s.drained)
        s.counters = counter_delta(self._start, self.stack.netstat())
        s.pending = [
            (line if v is self.stack else f"{_stack_label(k, v)}: {line}")
            for v in k.vnets
            for line in v.pending_work()
        ]
        self.close()
        s.check()
        return s


def _chain(first: Record, it: Iterator[Record]) -> Iterator[Record]:
    yield first
    yield from it


def replay(
    path: str | os.PathLike[str] | CaptureSource,
    kernel: Kernel | None = None,
    *,
    scenario: Any = None,
    host: str | None = None,
    sysctls: Iterable[tuple[str, object]] = (),
    profile: str | Profile | None = None,
    seed: int | None = None,
    iface: str = "em0",
    on_event: Callable[[PacketResult], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    on_kernel: Callable[[Kernel], None] | None = None,
    counters: bool = False,
    drain: float = 0.0,
    feed_own: bool = False,
) -> Summary:
    """Replay the capture at ``path`` (a file name, ``"-"`` or a
    :class:`CaptureSource`); see :class:`Replay` for the arguments.
    ``on_event`` gets one :class:`PacketResult` per record; with
    ``counters=True`` each result carries its counter deltas. ``drain``
    runs the clock on after the last record (``Summary.drained``)."""
    with Replay(
        path,
        kernel,
        scenario=scenario,
        host=host,
        sysctls=sysctls,
        profile=profile,
        seed=seed,
        iface=iface,
        counters=counters,
        feed_own=feed_own,
        on_note=on_note,
    ) as r:
        if on_kernel is not None:
            on_kernel(r.kernel)
        for res in r:
            if on_event is not None:
                on_event(res)
        r.end()
        if drain:
            r.drain(drain)
        return r.finish()


def summary_dict(s: Summary) -> dict[str, Any]:
    return {
        "type": "summary",
        "capture": os.path.basename(s.path),
        "frames_read": s.frames_read,
        "skipped": s.skipped,
        "own": s.own,
        "skip_reasons": dict(sorted(s.skip_reasons.items())),
        "outcomes": {k: s.kinds.get(k, 0) for k in KINDS},
        "reasons": dict(sorted(s.reasons.items())),
        "frames_sent": s.frames_sent,
        "counters": s.counters,
        "pending": s.pending,
    }
