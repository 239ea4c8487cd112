"""Routing tables, one per FIB (net/route.c, net/radix.c, netinet/in_rmx.c).

A table is a dict per prefix length; lookups walk the lengths in use from
the longest down, which is the longest-prefix match the radix tree gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kstack.netinet.ip import ntoa, prefix_mask

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet, InIfaddr

RTF_UP = 0x1
RTF_GATEWAY = 0x2
RTF_HOST = 0x4
RTF_REJECT = 0x8
RTF_DYNAMIC = 0x10
RTF_MODIFIED = 0x20
RTF_DONE = 0x40
RTF_STATIC = 0x800
RTF_BLACKHOLE = 0x1000
RTF_LOCAL = 0x200000
RTF_BROADCAST = 0x400000

RT_MAXFIBS = 16

_FLAG_LETTERS = (
    (RTF_UP, "U"),
    (RTF_GATEWAY, "G"),
    (RTF_HOST, "H"),
    (RTF_REJECT, "R"),
    (RTF_DYNAMIC, "D"),
    (RTF_MODIFIED, "M"),
    (RTF_STATIC, "S"),
    (RTF_BLACKHOLE, "B"),
)


@dataclass(slots=True, eq=False)
class Rtentry:
    dst: int
    plen: int
    ifp: Ifnet
    ifa: InIfaddr | None
    flags: int
    gateway: int = 0  # next hop when RTF_GATEWAY
    mtu: int = 0  # rmx_mtu
    pksent: int = 0
    expire: int = 0

    @property
    def prefix(self) -> str:
        return f"{ntoa(self.dst)}/{self.plen}"

    @property
    def flag_letters(self) -> str:
        return "".join(c for bit, c in _FLAG_LETTERS if self.flags & bit)


@dataclass(slots=True, frozen=True)
class RouteInfo:
    """What ``route_get`` returns (the fields `route get` prints)."""

    prefix: str
    gateway: str | None
    ifname: str
    mtu: int
    flags: str
    ifaddr: str | None

    def __str__(self) -> str:
        gw = self.gateway or "link"
        return f"{self.prefix} via {gw} dev {self.ifname} mtu {self.mtu} <{self.flags}>"


class RouteTable:
    """One FIB's IPv4 table."""

    __slots__ = ("fib", "by_len", "lens")

    def __init__(self, fib: int) -> None:
        self.fib = fib
        self.by_len: dict[int, dict[int, Rtentry]] = {}
        self.lens: list[tuple[int, int, dict[int, Rtentry]]] = []  # (plen, mask, table)

    def _relens(self) -> None:
        self.lens = [
            (plen, prefix_mask(plen), t)
            for plen, t in sorted(self.by_len.items(), reverse=True)
            if t
        ]

    def add(self, rt: Rtentry) -> bool:
        """Insert; False (EEXIST) when the same prefix is already present."""
        t = self.by_len.setdefault(rt.plen, {})
        if rt.dst in t:
            return False
        t[rt.dst] = rt
        self._relens()
        return True

    def get(self, dst: int, plen: int) -> Rtentry | None:
        t = self.by_len.get(plen)
        return t.get(dst & prefix_mask(plen)) if t else None

    def delete(self, dst: int, plen: int) -> Rtentry | None:
        t = self.by_len.get(plen)
        if not t:
            return None
        rt = t.pop(dst & prefix_mask(plen), None)
        if rt is not None:
            self._relens()
        return rt

    def lookup(self, dst: int) -> Rtentry | None:
        """Longest-prefix match (rtalloc1_fib)."""
        for _plen, mask, t in self.lens:
            rt = t.get(dst & mask)
            if rt is not None:
                return rt
        return None

    def entries(self) -> list[Rtentry]:
        return [rt for _p, _m, t in self.lens for rt in t.values()]
