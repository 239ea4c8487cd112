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
    # The lo0 route to a local address: the kernel's rt_ifa is lo0's
    # link-level address; ``ifa`` keeps the local address it stands for.
    self_route: bool = False

    @property
    def prefix(self) -> str:
        """``dst/plen``; a host route shows as /32 (its flags have H)."""
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
    """One FIB's IPv4 table.

    Host routes (RTF_HOST: no netmask) are kept apart from prefixes: a host
    route and a /32 prefix to the same address can both exist (an address
    added with a /32 mask gets its interface's /32 prefix route and the lo0
    host route to itself), and the host route is the one a lookup finds.
    """

    __slots__ = ("fib", "by_len", "lens", "hosts")

    def __init__(self, fib: int) -> None:
        self.fib = fib
        self.by_len: dict[int, dict[int, Rtentry]] = {}
        self.lens: list[tuple[int, int, dict[int, Rtentry]]] = []  # (plen, mask, table)
        self.hosts: dict[int, Rtentry] = {}

    def _relens(self) -> None:
        self.lens = [
            (plen, prefix_mask(plen), t)
            for plen, t in sorted(self.by_len.items(), reverse=True)
            if t
        ]

    def add(self, rt: Rtentry) -> bool:
        """Insert; False (EEXIST) when the same route is already present."""
        if rt.flags & RTF_HOST:
            if rt.dst in self.hosts:
                return False
            self.hosts[rt.dst] = rt
            return True
        t = self.by_len.setdefault(rt.plen, {})
        if rt.dst in t:
            return False
        t[rt.dst] = rt
        self._relens()
        return True

    def get(self, dst: int, plen: int, host: bool | None = None) -> Rtentry | None:
        """The route to exactly ``dst/plen``. For /32, ``host`` picks the
        host route (True) or the /32 prefix (False); None takes the host
        route when there is one."""
        if plen == 32 and host is not False:
            rt = self.hosts.get(dst)
            if rt is not None or host:
                return rt
        t = self.by_len.get(plen)
        return t.get(dst & prefix_mask(plen)) if t else None

    def delete(self, dst: int, plen: int, host: bool | None = None) -> Rtentry | None:
        rt = self.get(dst, plen, host)
        if rt is not None:
            self.remove(rt)
        return rt

    def remove(self, rt: Rtentry) -> None:
        """Take this very entry out of the table."""
        if self.hosts.get(rt.dst) is rt:
            del self.hosts[rt.dst]
            return
        t = self.by_len.get(rt.plen)
        if t is not None and t.get(rt.dst) is rt:
            del t[rt.dst]
            self._relens()

    def lookup(self, dst: int) -> Rtentry | None:
        """Longest-prefix match (rtalloc1_fib); a host route comes first."""
        rt = self.hosts.get(dst)
        if rt is not None:
            return rt
        for _plen, mask, t in self.lens:
            rt = t.get(dst & mask)
            if rt is not None:
                return rt
        return None

    def entries(self) -> list[Rtentry]:
        return [rt for _p, _m, t in self.lens for rt in t.values()] + list(self.hosts.values())
