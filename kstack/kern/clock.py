"""The virtual clock and callout(9).

Time is an integer count of nanoseconds since boot. Callouts sit on a heap
ordered by (deadline, sequence), so two callouts due at the same instant run
in the order they were scheduled. Nothing here reads the host's clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

NS = 1_000_000_000
HZ = 1000  # kern.hz of a GENERIC 9.0 kernel
TICK_NS = NS // HZ

#: The virtual wall clock (boot time plus time since boot) counts
#: nanoseconds since 1970 in 64 bits, as pcapng timestamps do: it stays
#: below this bound (2554-07-21), so every struct timeval and struct bintime
#: made from it fits its 64-bit fields and every capture records it.
WALL_LIMIT_NS = 1 << 64


class Callout:
    """A scheduled call; ``stop()`` cancels it."""

    __slots__ = ("deadline", "fn", "args", "active")

    def __init__(self, deadline: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.deadline = deadline
        self.fn = fn
        self.args = args
        self.active = True

    def stop(self) -> bool:
        was = self.active
        self.active = False
        return was

    @property
    def pending(self) -> bool:
        return self.active


class Clock:
    """One per Kernel."""

    __slots__ = ("now", "boottime_ns", "_heap", "_seq")

    def __init__(self, boottime_ns: int) -> None:
        self.now = 0
        self.boottime_ns = boottime_ns
        self._heap: list[tuple[int, int, Callout]] = []
        self._seq = 0

    @property
    def ticks(self) -> int:
        return self.now // TICK_NS

    @property
    def time_uptime(self) -> int:
        """Whole seconds since boot."""
        return self.now // NS

    @property
    def wall_ns(self) -> int:
        return self.boottime_ns + self.now

    @property
    def time_second(self) -> int:
        """Wall clock seconds (UTC epoch)."""
        return self.wall_ns // NS

    def callout(self, delay_ns: int, fn: Callable[..., Any], *args: Any) -> Callout:
        c = Callout(self.now + max(0, delay_ns), fn, args)
        self._seq += 1
        heapq.heappush(self._heap, (c.deadline, self._seq, c))
        return c

    def compact(self) -> None:
        """Forget stopped callouts (and what they refer to) now."""
        self._heap = [e for e in self._heap if e[2].active]
        heapq.heapify(self._heap)

    def next_deadline(self) -> int | None:
        heap = self._heap
        while heap and not heap[0][2].active:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop_due(self, until: int) -> Callout | None:
        """The next active callout due at or before ``until`` (time moves to it)."""
        heap = self._heap
        while heap:
            deadline, _, c = heap[0]
            if not c.active:
                heapq.heappop(heap)
                continue
            if deadline > until:
                return None
            heapq.heappop(heap)
            c.active = False
            if deadline > self.now:
                self.now = deadline
            return c
        return None
