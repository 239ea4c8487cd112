"""Expiry of the host routes learned from ICMP redirects (netinet/in_rmx.c).

A route created by a redirect (RTF_DYNAMIC) is managed here whenever nobody
holds it, which in kstack is always between two packets:

* each use ends with its release (``in_clsroute``): the route is marked
  RTF_PROTO3 and expires ``net.inet.ip.rtexpire`` seconds later; with
  rtexpire 0 it is deleted right after that use;
* the next lookup takes the mark and the expiry off again
  (``in_matroute``), so an expiry always counts from the last use;
* a timer (``in_rtqtimo``) walks every FIB: it runs one tick after boot and
  then every RTQ_TIMEOUT seconds (600 s, plus the tick tvtohz adds), and
  deletes the marked routes whose time has come. When more than
  ``net.inet.ip.rtmaxcache`` marked routes survive a walk, it lowers
  rtexpire to two thirds (not below ``net.inet.ip.rtminexpire``, at most
  once per RTQ_TIMEOUT seconds) and pulls every later expiry in to the new
  value.

The timer is started by the first routing table the kernel initialises
(a flag shared by all vnets), so only vnet0 has one: in a vnet jail the
learned routes get their expiry but are never deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstack.kern.clock import TICK_NS
from kstack.net.route import RTF_DYNAMIC, RTF_PROTO3, RTF_UP, RouteTable, Rtentry, RtStat
from kstack.netinet.ip import ntoa

if TYPE_CHECKING:
    from kstack.kern.clock import Callout
    from kstack.net.vnet import VNet

RTPRF_OURS = RTF_PROTO3
RTQ_TIMEOUT = 60 * 10  # seconds between two walks
# tvtohz() of RTQ_TIMEOUT seconds: rounded up, plus one tick.
_RTQ_PERIOD_NS = (RTQ_TIMEOUT * 1000 + 1) * TICK_NS

_RTEXPIRE = "net.inet.ip.rtexpire"
_RTMINEXPIRE = "net.inet.ip.rtminexpire"
_RTMAXCACHE = "net.inet.ip.rtmaxcache"


_U_LONG = (1 << 64) - 1  # rmx_expire is a u_long


def _two_thirds(x: int) -> int:
    """``2 * x / 3`` in C ints: the product wraps at 32 bits, the division
    truncates toward zero."""
    p = ((2 * x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return p // 3 if p >= 0 else -(-p // 3)


class InRmx:
    """in_rmx.c's state for one vnet: its timer and when the timer last
    shortened rtexpire (the kernel keeps that in a function static; only
    vnet0 ever runs the timer, so one per vnet is the same thing)."""

    __slots__ = ("vnet", "timer", "last_adjusted")

    def __init__(self, vnet: VNet) -> None:
        self.vnet = vnet
        self.timer: Callout | None = None
        self.last_adjusted = 0

    def used(self, table: RouteTable, rt: Rtentry) -> None:
        """A lookup found ``rt`` (in_matroute: not ours while held) and the
        caller released it (in_clsroute)."""
        rt.flags &= ~RTPRF_OURS
        rt.expire = 0
        self.released(table, rt)

    def released(self, table: RouteTable, rt: Rtentry) -> None:
        """in_clsroute: the last reference to ``rt`` went away."""
        flags = rt.flags
        if not flags & RTF_UP or flags & RTPRF_OURS or not flags & RTF_DYNAMIC:
            return
        reallyold = int(self.vnet.sc[_RTEXPIRE])
        if reallyold != 0:
            rt.flags = flags | RTPRF_OURS
            # A negative rtexpire can take it below zero: a huge u_long.
            rt.expire = (self.vnet.kernel.clock.time_uptime + reallyold) & _U_LONG
        else:
            # rtexpunge: out of the table at once. The caller still holds
            # the entry for the packet at hand, so it stays RTF_UP for it.
            table.remove(rt)

    def start(self) -> None:
        """in_inithead's callout_reset(1 tick)."""
        self.timer = self.vnet.kernel.clock.callout(TICK_NS, self._run)

    def _run(self) -> None:
        """in_rtqtimo: walk every FIB, then come back in RTQ_TIMEOUT seconds."""
        for table in self.vnet.rt:
            self._walk_one(table)
        self.timer = self.vnet.kernel.clock.callout(_RTQ_PERIOD_NS, self._run)

    def _walk_one(self, table: RouteTable) -> None:
        """in_rtqtimo_one for one FIB."""
        vnet = self.vnet
        sc = vnet.sc
        now = vnet.kernel.clock.time_uptime
        found, killed = self._kill(table, now, updating=False)
        reallyold = int(sc[_RTEXPIRE])
        minreallyold = int(sc[_RTMINEXPIRE])
        if (
            found - killed > int(sc[_RTMAXCACHE])
            and now - self.last_adjusted >= RTQ_TIMEOUT
            and reallyold > minreallyold
        ):
            reallyold = max(_two_thirds(reallyold), minreallyold)
            sc[_RTEXPIRE] = reallyold
            self.last_adjusted = now
            self._kill(table, now, updating=True)

    def _kill(self, table: RouteTable, now: int, *, updating: bool) -> tuple[int, int]:
        """in_rtqkill over the whole table: delete the marked routes that
        are due; when updating, bring the others' expiry within rtexpire.
        Returns (marked routes found, routes deleted)."""
        found = killed = 0
        reallyold = int(self.vnet.sc[_RTEXPIRE])
        for rt in sorted(table.entries(), key=lambda r: (r.dst, r.plen)):
            if not rt.flags & RTPRF_OURS:
                continue
            found += 1
            if rt.expire <= now:
                table.remove(rt)
                rt.flags &= ~RTF_UP
                killed += 1
                self.vnet.note(
                    None,
                    f"route {rt.prefix} via {ntoa(rt.gateway)} (FIB {table.fib}) expired: "
                    "in_rtqkill deleted it",
                )
            elif updating and (rt.expire - now) & _U_LONG > reallyold & _U_LONG:
                rt.expire = (now + reallyold) & _U_LONG
        return found, killed


def in_rmx_attach(vnet: VNet) -> tuple[RtStat, InRmx]:
    """Give the vnet's FIBs their shared route statistics and in_rmx state;
    the kernel's first vnet also starts the expiry timer. Returns both for
    the vnet to keep (``vnet.rtstat``, ``vnet.rtq``)."""
    rtstat = RtStat()
    rmx = InRmx(vnet)
    for table in vnet.rt:
        table.rtstat = rtstat
        table.rmx = rmx
    if not vnet.kernel.vnets:
        rmx.start()
    return rtstat, rmx
