"""``kstack replay --check``: the capture as the oracle.

A capture taken on a real host holds what it received and what it sent.
Replay feeds in what the host received; the frames the host sent (by its
MAC, or its address on links without one) are the *expected* output.
:class:`Checker` pairs each expected frame with a frame kstack sent and
compares them field by field (:mod:`kstack.frames`).

Pairing, in capture order:

1. Each frame gets a *key* naming the conversation it belongs to: for IPv4
   the addresses, protocol and fragment position, plus the ICMP type, code,
   id and sequence (for an ICMP error: what it quotes) or the UDP ports; for
   ARP the operation and the two protocol addresses.
2. An expected frame is paired with the oldest unpaired kstack frame of the
   same key; failing that, with the oldest unpaired kstack frame of the same
   *loose key* (EtherType and IPv4 destination, or ARP target), which shows
   as a difference rather than as one missing and one extra frame. A kstack
   frame arriving later (a timer) is paired the same way with the oldest
   waiting expected frame.
3. At the end, what is left is *missing* (the host sent it, kstack did not)
   or *extra* (kstack sent it, the host did not).

Ethernet padding is not compared: a frame is cut to its IPv4 total length
(42 bytes for ARP) before comparison.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kstack.frames import CHECK_DONT_CARE, FieldDiff, diff_frames

__all__ = ["CheckItem", "Checker", "Side", "pair_key"]

MATCH = "match"
DIFFER = "differ"
MISSING = "missing"
EXTRA = "extra"

_U16 = struct.Struct("!H")
_ECHOISH = frozenset((0, 8, 13, 14, 15, 16, 17, 18))
_ERRORS = frozenset((3, 4, 5, 11, 12))


@dataclass(slots=True)
class Side:
    """One frame of a pair: from the capture (``index`` is its record) or
    from kstack (``index`` is the record it answered, 0 for a timer)."""

    index: int
    ts_ns: int
    frame: bytes
    why: str = ""


@dataclass(slots=True)
class CheckItem:
    status: str  # match, differ, missing or extra
    expected: Side | None
    actual: Side | None
    diffs: list[FieldDiff] = field(default_factory=list)


def _trim(frame: bytes, link: bool) -> bytes:
    """Cut Ethernet padding: to the IPv4 total length, or 42 bytes of ARP."""
    off = 14 if link else 0
    if link:
        if len(frame) < 14:
            return frame
        et = frame[12:14]
        if et == b"\x08\x06":
            return frame[:42]
        if et != b"\x08\x00":
            return frame
    if len(frame) >= off + 4 and frame[off] >> 4 == 4:
        tlen = _U16.unpack_from(frame, off + 2)[0]
        if off + 20 <= off + tlen < len(frame):
            return frame[: off + tlen]
    return frame


def pair_key(frame: bytes, link: bool = True) -> tuple[tuple[object, ...], tuple[object, ...]]:
    """(key, loose key) of a frame; see the module docstring."""
    off = 14 if link else 0
    et = frame[12:14] if link else b"\x08\x00"
    if link and et == b"\x08\x06" and len(frame) >= 42:
        op = frame[20:22]
        spa, tpa = frame[28:32], frame[38:42]
        return ("arp", op, spa, tpa), ("arp", tpa)
    if et != b"\x08\x00" or len(frame) < off + 20:
        return ("other", et, frame[off:]), ("other", et)
    ip = frame[off:]
    src, dst, proto = ip[12:16], ip[16:20], ip[9]
    loose: tuple[object, ...] = ("ip", dst)
    offf = _U16.unpack_from(ip, 6)[0]
    frag = offf & 0x3FFF & ~0x4000
    hl = (ip[0] & 0x0F) * 4
    l4 = ip[hl:] if hl >= 20 else b""
    rest: tuple[object, ...] = ()
    if not offf & 0x1FFF:
        if proto == 1 and len(l4) >= 8:
            t, c = l4[0], l4[1]
            if t in _ECHOISH:
                rest = (t, c, l4[4:8])
            elif t in _ERRORS:
                q = l4[8:]
                rest = (t, c, q[9:10], q[12:20], q[20:24] if len(q) >= 24 else b"")
            else:
                rest = (t, c)
        elif proto == 17 and len(l4) >= 4:
            rest = (l4[0:4],)
    return ("ip", src, dst, proto, frag, rest), loose


class Checker:
    """Pairs expected frames (the capture's) with kstack's and compares them.

    Feed it in time order with :meth:`expected` and :meth:`actual`; each
    returns the items it could settle. :meth:`finish` settles the rest.
    ``link=False`` compares bare IPv4 packets (captures without a link
    layer): kstack's frames lose their Ethernet header and its non-IPv4
    frames are not compared.
    """

    def __init__(self, dont_care: Iterable[str] = CHECK_DONT_CARE, *, link: bool = True) -> None:
        self.dont_care = frozenset(dont_care)
        self.link = link
        self._exp: deque[tuple[Side, tuple[object, ...], tuple[object, ...]]] = deque()
        self._act: deque[tuple[Side, tuple[object, ...], tuple[object, ...]]] = deque()
        self.counts = {MATCH: 0, DIFFER: 0, MISSING: 0, EXTRA: 0}

    @property
    def failed(self) -> bool:
        c = self.counts
        return bool(c[DIFFER] or c[MISSING] or c[EXTRA])

    def _item(self, exp: Side | None, act: Side | None) -> CheckItem:
        if exp is None:
            item = CheckItem(EXTRA, None, act)
        elif act is None:
            item = CheckItem(MISSING, exp, None)
        else:
            diffs = diff_frames(act.frame, exp.frame, self.dont_care, link=self.link)
            item = CheckItem(DIFFER if diffs else MATCH, exp, act, diffs)
        self.counts[item.status] += 1
        return item

    @staticmethod
    def _take(
        q: deque[tuple[Side, tuple[object, ...], tuple[object, ...]]],
        key: tuple[object, ...],
        loose: tuple[object, ...],
    ) -> Side | None:
        for i, (side, k, _) in enumerate(q):
            if k == key:
                del q[i]
                return side
        for i, (side, _, lk) in enumerate(q):
            if lk == loose:
                del q[i]
                return side
        return None

    def expected(self, index: int, ts_ns: int, frame: bytes) -> list[CheckItem]:
        """A frame the host sent (capture record ``index``)."""
        f = _trim(bytes(frame), self.link)
        key, loose = pair_key(f, self.link)
        side = Side(index, ts_ns, f)
        act = self._take(self._act, key, loose)
        if act is None:
            self._exp.append((side, key, loose))
            return []
        return [self._item(side, act)]

    def actual(self, index: int, ts_ns: int, frame: bytes, why: str = "") -> list[CheckItem]:
        """A frame kstack sent (in reply to record ``index``, 0 for a timer)."""
        f = bytes(frame)
        if not self.link:
            if len(f) < 14 or f[12:14] != b"\x08\x00":
                return []
            f = f[14:]
        f = _trim(f, self.link)
        key, loose = pair_key(f, self.link)
        side = Side(index, ts_ns, f, why)
        exp = self._take(self._exp, key, loose)
        if exp is None:
            self._act.append((side, key, loose))
            return []
        return [self._item(exp, side)]

    def finish(self) -> list[CheckItem]:
        """Pair what is left by loose key; the rest is missing or extra, in
        time order."""
        out: list[CheckItem] = []
        while self._exp:
            side, _, loose = self._exp.popleft()
            act = None
            for i, (a, _, lk) in enumerate(self._act):
                if lk == loose:
                    del self._act[i]
                    act = a
                    break
            out.append(self._item(side, act))
        while self._act:
            out.append(self._item(None, self._act.popleft()[0]))
        out.sort(
            key=lambda it: (it.expected or it.actual).ts_ns  # type: ignore[union-attr]
        )
        return out
