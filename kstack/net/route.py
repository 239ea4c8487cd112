"""Routing tables, one per FIB (net/route.c, net/radix.c, netinet/in_rmx.c).

A table is a dict per prefix length; lookups walk the lengths in use from
the longest down, which is the longest-prefix match the radix tree gives.

:meth:`RouteTable.lookup` is the kernel's ``rtalloc1_fib`` followed by the
release of the route: a miss counts ``rts_unreach``, and a hit on a route
learned from a redirect is a use that pushes its expiry back
(``in_matroute`` then ``in_clsroute``, see :mod:`kstack.netinet.in_rmx`).
:meth:`RouteTable.match` finds the same route with no side effect, as a
routing socket's RTM_GET does. :func:`rtredirect_fib` applies a received
ICMP redirect to one FIB.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kstack.netinet.ip import in_multicast, ntoa, prefix_mask
from kstack.netinet.stats import _StatBlock
from kstack.panic import Panic

# The route flags users see are defined once, in kstack.sock (RTF_PROTO3:
# in_rmx.c marks with it the idle redirect routes it will expire).
from kstack.sock import (
    RTF_BLACKHOLE as RTF_BLACKHOLE,
)
from kstack.sock import (
    RTF_BROADCAST as RTF_BROADCAST,
)
from kstack.sock import (
    RTF_DONE as RTF_DONE,
)
from kstack.sock import (
    RTF_DYNAMIC as RTF_DYNAMIC,
)
from kstack.sock import (
    RTF_GATEWAY as RTF_GATEWAY,
)
from kstack.sock import (
    RTF_HOST as RTF_HOST,
)
from kstack.sock import (
    RTF_LOCAL as RTF_LOCAL,
)
from kstack.sock import (
    RTF_MODIFIED as RTF_MODIFIED,
)
from kstack.sock import (
    RTF_MULTICAST as RTF_MULTICAST,
)
from kstack.sock import (
    RTF_PROTO3 as RTF_PROTO3,
)
from kstack.sock import (
    RTF_REJECT as RTF_REJECT,
)
from kstack.sock import (
    RTF_STATIC as RTF_STATIC,
)
from kstack.sock import (
    RTF_UP as RTF_UP,
)

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.vnet import VNet
    from kstack.netinet.in_rmx import InRmx

# 7.x only, for the separate_l2_table=0 model (ARP entries as cloned routes).
RTF_CLONING = 0x100
RTF_LLINFO = 0x400
RTF_WASCLONED = 0x20000

RT_MAXFIBS = 16

# RouteTable.lookup's ``report``: rtalloc1_fib(report=1), and the same for
# ip_forward's own lookup (see rtm_miss_per_forward).
RT_REPORT = 1
RT_REPORT_FORWARD = 2

_FLAG_LETTERS = (
    (RTF_UP, "U"),
    (RTF_GATEWAY, "G"),
    (RTF_HOST, "H"),
    (RTF_REJECT, "R"),
    (RTF_DYNAMIC, "D"),
    (RTF_MODIFIED, "M"),
    (RTF_CLONING, "C"),
    (RTF_LLINFO, "L"),
    (RTF_STATIC, "S"),
    (RTF_WASCLONED, "W"),
    (RTF_PROTO3, "3"),
    (RTF_BLACKHOLE, "B"),
)


@dataclass(slots=True)
class RtStat(_StatBlock):
    """struct rtstat (net/route.h): one per vnet, shared by its FIBs. The
    kernel's members are ``short``; their wrap-around is not modelled."""

    rts_badredirect: int = 0  # redirects refused by rtredirect_fib
    rts_dynamic: int = 0  # host routes created by redirects
    rts_newgateway: int = 0  # routes whose gateway a redirect changed
    rts_unreach: int = 0  # lookups that found no route
    rts_wildcard: int = 0  # never counted by 9.x


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
    expire: int = 0  # rmx_expire: time_uptime second it expires at, 0 for never
    # The lo0 route to a local address: the kernel's rt_ifa is lo0's
    # link-level address; ``ifa`` keeps the local address it stands for.
    self_route: bool = False
    # rt_gateway as a routing socket gave it when it is not simply the
    # next hop's sockaddr_in (a link-level gateway, or an address without
    # RTF_GATEWAY); None: derived from the fields above.
    gw_sa: bytes | None = None
    weight: int = 1  # rmx_weight: 1 for every route rtrequest1_fib adds

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
    # Seconds until the route expires (netstat -rn's Expire column): only a
    # route learned from a redirect and idle has one; 0 when none is left.
    expire: int = 0

    def __str__(self) -> str:
        gw = self.gateway or "link"
        s = f"{self.prefix} via {gw} dev {self.ifname} mtu {self.mtu} <{self.flags}>"
        return f"{s} expire {self.expire}" if self.expire else s


def route_info(rt: Rtentry, uptime: int) -> RouteInfo:
    """What ``route get`` and ``netstat -rn`` show of ``rt`` at time_uptime
    ``uptime``."""
    return RouteInfo(
        prefix=rt.prefix,
        gateway=ntoa(rt.gateway) if rt.flags & RTF_GATEWAY else _lladdr_gateway(rt),
        ifname=rt.ifp.name,
        mtu=rt.mtu,
        flags=rt.flag_letters,
        ifaddr=ntoa(rt.ifa.addr) if rt.ifa is not None and not rt.self_route else None,
        expire=_expire_left(rt.expire, uptime),
    )


def _lladdr_gateway(rt: Rtentry) -> str | None:
    """The hardware address an ARP route (RTF_LLINFO, profile
    separate_l2_table=0) has in its link-level gateway, as netstat prints
    it; None for every other route to an interface (netstat's link#N)."""
    sdl = rt.gw_sa
    if not rt.flags & RTF_LLINFO or sdl is None or not sdl[6]:
        return None
    return ":".join(f"{b:02x}" for b in sdl[8 + sdl[5] : 8 + sdl[5] + sdl[6]])


def _expire_left(expire: int, uptime: int) -> int:
    """netstat's Expire column: rmx_expire (a u_long) minus the uptime as
    a time_t, shown only when positive."""
    if not expire:
        return 0
    left = ((expire - uptime + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)
    return left if left > 0 else 0


class RouteTable:
    """One FIB's IPv4 table.

    Host routes (RTF_HOST: no netmask) are kept apart from prefixes: a host
    route and a /32 prefix to the same address can both exist (an address
    added with a /32 mask gets its interface's /32 prefix route and the lo0
    host route to itself), and the host route is the one a lookup finds.
    """

    __slots__ = ("fib", "by_len", "lens", "hosts", "rtstat", "rmx")

    def __init__(self, fib: int) -> None:
        self.fib = fib
        self.by_len: dict[int, dict[int, Rtentry]] = {}
        self.lens: list[tuple[int, int, dict[int, Rtentry]]] = []  # (plen, mask, table)
        self.hosts: dict[int, Rtentry] = {}
        # The vnet's route statistics and in_rmx.c state, shared by all its
        # FIBs (set by in_rmx_attach once the vnet is built).
        self.rtstat = RtStat()
        self.rmx: InRmx | None = None

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

    def lookup(self, dst: int, report: int = 0) -> Rtentry | None:
        """Longest-prefix match (rtalloc1_fib); a host route comes first.

        The caller uses the route and lets it go: a route learned from a
        redirect gets a fresh expiry (or is deleted at once when
        net.inet.ip.rtexpire is 0; the caller still holds it). A miss
        counts rts_unreach. ``report`` (rtalloc1_fib's argument, set by
        ip_output and ip_rtaddr): a miss sends RTM_MISS to the routing
        sockets. :data:`RT_REPORT_FORWARD` marks ip_forward's lookup, which
        before the fix of PRs kern/123621 and kern/124540 reported a miss
        even when it found the route (profile ``rtm_miss_per_forward``)."""
        rt = self.hosts.get(dst)
        if rt is not None:
            # Only host routes are ever RTF_DYNAMIC: rtredirect_fib creates
            # host routes and modifies only host routes.
            if rt.flags & RTF_DYNAMIC and self.rmx is not None:
                self.rmx.used(self, rt)
            if report == RT_REPORT_FORWARD:
                self._forward_miss(dst)
            return rt
        for _plen, mask, t in self.lens:
            rt = t.get(dst & mask)
            if rt is not None:
                if report == RT_REPORT_FORWARD:
                    self._forward_miss(dst)
                return rt
        self.rtstat.rts_unreach += 1
        if report and self.rmx is not None:
            from kstack.net.rtsock import rt_miss

            rt_miss(self.rmx.vnet, dst)
        return None

    def _forward_miss(self, dst: int) -> None:
        rmx = self.rmx
        if rmx is not None and rmx.vnet.kernel.profile.rtm_miss_per_forward:
            from kstack.net.rtsock import rt_miss

            rt_miss(rmx.vnet, dst)

    def match(self, dst: int) -> Rtentry | None:
        """The route :meth:`lookup` finds, without counting or using it
        (the radix match a routing socket's RTM_GET does)."""
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


# -- received redirects (net/route.c rtredirect_fib) -------------------------

RTF_REDIRECT_FLAGS = RTF_GATEWAY | RTF_HOST  # what icmp_input passes


def ifa_ifwithnet_all(vnet: VNet, addr: int) -> InIfaddr | None:
    """ifa_ifwithnet(addr, 0) (net/if.c): interfaces in attach order, up or
    down; on a point-to-point interface the address whose peer is ``addr``
    (returned at once), elsewhere the address whose network holds ``addr``
    with the longest mask (the first one among equal masks)."""
    from kstack.net.if_var import IFF_POINTOPOINT

    best: InIfaddr | None = None
    for ifp in vnet.ifnets:
        p2p = ifp.flags & IFF_POINTOPOINT
        for ia in ifp.addrs_in:
            if p2p:
                if ia.dstaddr and ia.dstaddr == addr:
                    return ia
            elif (addr & ia.mask) == ia.subnet and (best is None or ia.plen > best.plen):
                best = ia
    return best


def ifa_ifwithaddr_check(vnet: VNet, addr: int) -> bool:
    """ifa_ifwithaddr_check (net/if.c): ``addr`` is one of this vnet's
    addresses, or the broadcast address of one on a broadcast interface."""
    from kstack.net.if_var import IFF_BROADCAST

    if addr in vnet.in_ifaddrhash:
        return True
    for ifp in vnet.ifnets:
        if ifp.flags & IFF_BROADCAST:
            for ia in ifp.addrs_in:
                if ia.broadaddr == addr:
                    return True
    return False


def rtredirect_fib(vnet: VNet, dst: int, gateway: int, flags: int, src: int, fibnum: int) -> int:
    """Apply a redirect from ``src`` ("reach ``dst`` through ``gateway``")
    to FIB ``fibnum``; returns 0 or the errno it was refused with.

    Refused, in this order, counting rts_badredirect: the gateway is on no
    connected network (ENETUNREACH); the route to ``dst`` is not a gateway
    route through ``src`` leaving by that same interface address (EINVAL;
    with no route at all anybody may redirect); the gateway is one of our
    addresses or broadcast addresses (EHOSTUNREACH). Accepted: with no
    route, the default route or a network route, a new host route
    UP|GATEWAY|HOST|DYNAMIC is added (rts_dynamic); a host gateway route
    (static or learned) gets the new gateway and RTF_MODIFIED
    (rts_newgateway). Looking the route up is a use of it (a learned
    route's expiry starts again), and a miss counts rts_unreach."""
    table = vnet.rt[fibnum]
    rtstat = table.rtstat
    stat = ""
    error = 0
    ifa = ifa_ifwithnet_all(vnet, gateway)
    if ifa is None:
        error = errno.ENETUNREACH
    else:
        rt = table.lookup(dst)
        if (
            not flags & RTF_DONE
            and rt is not None
            # sa_equal(src, rt_gateway): an interface route's gateway is a
            # link-level address, never equal to an IPv4 source.
            and (not rt.flags & RTF_GATEWAY or rt.gateway != src or rt.ifa is not ifa)
        ):
            error = errno.EINVAL
        elif ifa_ifwithaddr_check(vnet, gateway):
            error = errno.EHOSTUNREACH
        elif (
            rt is None
            or (rt.plen == 0 and not rt.flags & RTF_HOST)
            or (rt.flags & RTF_GATEWAY and not rt.flags & RTF_HOST and flags & RTF_HOST)
        ):
            stat = "rts_dynamic"
            error, added = _redirect_add(vnet, table, dst, gateway, flags, ifa)
            if not error:
                flags = added
        elif rt.flags & RTF_GATEWAY:
            stat = "rts_newgateway"
            rt.flags |= RTF_MODIFIED
            flags |= RTF_MODIFIED
            rt.gateway = gateway
            # The kernel then looks the new gateway up in the default FIB
            # and releases what it found without checking for NULL.
            if vnet.rt[0].lookup(gateway) is None:
                raise Panic(
                    "page fault in rtredirect_fib: no route to the new gateway "
                    f"{ntoa(gateway)} in FIB 0 (NULL rtentry released)"
                )
        else:
            error = errno.EHOSTUNREACH  # a route to an interface
    if error:
        rtstat.rts_badredirect += 1
    elif stat == "rts_dynamic":
        rtstat.rts_dynamic += 1
    elif stat:
        rtstat.rts_newgateway += 1
    # Accepted or not, the routing sockets hear of it.
    from kstack.net.rtsock import rt_redirectmsg

    rt_redirectmsg(vnet, dst, gateway, src, flags, error)
    return error


def _redirect_add(
    vnet: VNet, table: RouteTable, dst: int, gateway: int, flags: int, ifa: InIfaddr
) -> tuple[int, int]:
    """rtrequest1_fib(RTM_ADD) of the learned host route, in_addroute's
    marks, then its release (in_clsroute gives it its expiry). Returns the
    errno and the new route's flags as they were before the release."""
    from kstack.netinet.in_ import in_broadcast

    ifp = ifa.ifp
    rflags = RTF_UP | flags | RTF_GATEWAY | RTF_DYNAMIC
    if rflags & RTF_HOST:
        if in_broadcast(dst, ifp):
            rflags |= RTF_BROADCAST
        elif ifa.addr == dst:
            rflags |= RTF_LOCAL
    if in_multicast(dst):
        rflags |= RTF_MULTICAST
    plen = 32 if rflags & RTF_HOST else 0
    rt = Rtentry(dst, plen, ifp, ifa, rflags, gateway=gateway, mtu=ifp.mtu)
    if not table.add(rt):
        return errno.EEXIST, 0
    if table.rmx is not None:
        table.rmx.released(table, rt)
    return 0, rflags
