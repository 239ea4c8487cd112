"""``kstack replay --compare``: one capture, two profiles, where they part.

Two :class:`~kstack.replay.Replay` runs over the same capture advance in
lock step; for each record the outcomes (kind and reason) and the frames
sent (by timers before it, and in reply to it) are compared. Frames are
compared field by field outside a don't-care set (by default the IP ID, so
that one extra frame on one side does not make every later frame differ).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from kstack.frames import CHECK_DONT_CARE, FieldDiff, diff_frames
from kstack.outcome import Outcome
from kstack.replay import PacketResult, SentFrame, TimerResult

__all__ = ["FramePair", "PacketDiff", "Comparison", "compare_frames", "compare_results"]


@dataclass(slots=True)
class FramePair:
    """The n-th frame of each side (None when that side sent fewer)."""

    a: SentFrame | None
    b: SentFrame | None
    diffs: list[FieldDiff] = field(default_factory=list)


@dataclass(slots=True)
class PacketDiff:
    """A record (index > 0) or the end of the replay (index 0) whose
    outcome or frames differ between the two sides."""

    index: int
    ts_ns: int
    result: PacketResult | None  # side A's result (for the decode)
    a: Outcome | None
    b: Outcome | None
    a_skip: str | None
    b_skip: str | None
    frames: list[FramePair] = field(default_factory=list)

    @property
    def outcome_differs(self) -> bool:
        return _outcome_key(self.a, self.a_skip) != _outcome_key(self.b, self.b_skip)


def _outcome_key(o: Outcome | None, skip: str | None) -> tuple[str, str]:
    if o is None:
        return ("skipped", skip or "")
    return (o.kind, o.reason)


def compare_frames(
    a: list[SentFrame], b: list[SentFrame], dont_care: Iterable[str] = CHECK_DONT_CARE
) -> list[FramePair]:
    """The frame pairs that differ (different interface, fields, or one
    side missing), in order."""
    ignore = frozenset(dont_care)
    out: list[FramePair] = []
    for i in range(max(len(a), len(b))):
        fa = a[i] if i < len(a) else None
        fb = b[i] if i < len(b) else None
        if fa is None or fb is None:
            out.append(FramePair(fa, fb))
            continue
        if fa.iface != fb.iface or fa.linktype != fb.linktype:
            out.append(FramePair(fa, fb))
            continue
        if fa.data == fb.data:
            continue
        diffs = diff_frames(fa.data, fb.data, ignore, link=fa.linktype == 1)
        if diffs:
            out.append(FramePair(fa, fb, diffs))
    return out


def _frames(r: PacketResult) -> list[SentFrame]:
    return [*r.before, *r.sent]


def compare_results(
    ra: PacketResult, rb: PacketResult, dont_care: Iterable[str] = CHECK_DONT_CARE
) -> PacketDiff | None:
    """How two results for the same record differ, or None."""
    pairs = compare_frames(_frames(ra), _frames(rb), dont_care)
    d = PacketDiff(ra.index, ra.ts_ns, ra, ra.outcome, rb.outcome, ra.skipped, rb.skipped, pairs)
    if pairs or d.outcome_differs:
        return d
    return None


class Comparison:
    """Running totals of a comparison."""

    def __init__(self, a: str, b: str, dont_care: Iterable[str] = CHECK_DONT_CARE) -> None:
        self.a = a
        self.b = b
        self.dont_care = frozenset(dont_care)
        self.records = 0
        self.differ = 0
        self.outcome_changes: Counter[str] = Counter()
        self.frame_differences = 0

    def packet(self, ra: PacketResult, rb: PacketResult) -> PacketDiff | None:
        self.records += 1
        d = compare_results(ra, rb, self.dont_care)
        if d is not None:
            self._count(d)
        return d

    def tail(
        self,
        ta: list[SentFrame],
        tb: list[SentFrame],
        da: list[TimerResult],
        db: list[TimerResult],
        ts_ns: int,
    ) -> PacketDiff | None:
        """The frames sent after the last record (and while draining)."""
        fa = [*ta, *(f for t in da for f in t.sent)]
        fb = [*tb, *(f for t in db for f in t.sent)]
        pairs = compare_frames(fa, fb, self.dont_care)
        if not pairs:
            return None
        d = PacketDiff(0, ts_ns, None, None, None, "end", "end", pairs)
        self._count(d)
        return d

    def _count(self, d: PacketDiff) -> None:
        self.differ += 1
        self.frame_differences += len(d.frames)
        if d.outcome_differs:
            ka = ": ".join(_outcome_key(d.a, d.a_skip))
            kb = ": ".join(_outcome_key(d.b, d.b_skip))
            self.outcome_changes[f"{ka} -> {kb}"] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "a": self.a,
            "b": self.b,
            "records": self.records,
            "differ": self.differ,
            "frame_differences": self.frame_differences,
            "outcome_changes": dict(sorted(self.outcome_changes.items())),
        }
