"""IPv4 address configuration and address tests (netinet/in.c, in_rmx.c).

The file is in_.py because ``in`` is a Python keyword.

Adding an address installs the connected prefix route (in every FIB while
``net.add_addr_allfibs`` is 1) and a host route for the address itself
through lo0 (``ifa_add_loopback_route``), then announces the address with a
gratuitous ARP request. Bringing an interface down withdraws both routes and
flushes its dynamic ARP entries; bringing it up puts the routes back.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kstack.net.if_var import (
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_RUNNING,
    IFF_UP,
    IFT_ETHER,
    InIfaddr,
)
from kstack.net.route import RTF_HOST, RTF_STATIC, RTF_UP, Rtentry
from kstack.netinet.ip import INADDR_ANY, INADDR_BROADCAST, prefix_mask

INADDR_ALLHOSTS_GROUP = 0xE0000001

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet


def ifa_ifwithaddr(vnet: VNet, addr: int) -> InIfaddr | None:
    """ifa_ifwithaddr (net/if.c): an interface address equal to ``addr``,
    or, on a broadcast-capable interface, one whose broadcast address is
    ``addr`` (so bind(2) accepts 192.0.2.255 on a /24)."""
    lst = vnet.in_ifaddrhash.get(addr)
    if lst:
        return lst[0]
    for ia in vnet.in_ifaddrhead:
        if ia.ifp.flags & IFF_BROADCAST and ia.broadaddr and ia.broadaddr == addr:
            return ia
    return None


def ifa_ifwithnet(vnet: VNet, dst: int) -> InIfaddr | None:
    """ifa_ifwithnet: an address of an up interface whose network holds ``dst``."""
    for ia in vnet.in_ifaddrhead:
        if ia.ifp.flags & IFF_UP and (dst & ia.mask) == ia.subnet:
            return ia
    return None


def ifa_ifwithdstaddr(vnet: VNet, dst: int) -> InIfaddr | None:
    """ifa_ifwithdstaddr: a point-to-point address whose peer is ``dst``."""
    for ia in vnet.in_ifaddrhead:
        if ia.dstaddr and ia.dstaddr == dst and ia.ifp.flags & IFF_UP:
            return ia
    return None


def ifaof_ifpforaddr(ifp: Ifnet, addr: int) -> InIfaddr | None:
    """ifaof_ifpforaddr (net/if.c): the address of ``ifp`` whose network
    holds ``addr`` (on a point-to-point link: whose peer is ``addr``), else
    its first address."""
    for ia in ifp.addrs_in:
        if ia.dstaddr:
            if ia.dstaddr == addr:
                return ia
        elif (addr & ia.mask) == ia.subnet:
            return ia
    return ifp.addrs_in[0] if ifp.addrs_in else None


def ifa_ifwithbroadaddr(vnet: VNet, dst: int) -> InIfaddr | None:
    for ia in vnet.in_ifaddrhead:
        if ia.ifp.flags & IFF_BROADCAST and ia.broadaddr == dst:
            return ia
    return None


def in_broadcast(addr: int, ifp: Ifnet) -> bool:
    """in_broadcast(): the all-ones and all-zeros addresses, and for each
    address of ``ifp`` its broadcast address and (except /31) its host-zero
    subnet address. A /32 address (an alias) counts for neither: its
    "broadcast address" is the address itself."""
    if addr in (INADDR_BROADCAST, INADDR_ANY):
        return True
    if not ifp.flags & IFF_BROADCAST:
        return False
    for ia in ifp.addrs_in:
        if ia.mask == 0xFFFFFFFF:
            continue
        if ia.broadaddr == addr or (ia.subnet == addr and ia.mask != 0xFFFFFFFE):
            return True
    return False


def in_localip(vnet: VNet, addr: int) -> bool:
    return addr in vnet.in_ifaddrhash


def _route_prefix(ia: InIfaddr) -> tuple[int, int]:
    """What in_addprefix installs for an address: its connected prefix, or
    on a loopback interface a host route to the address itself (in_ifinit
    sets ia_dstaddr = ia_addr and RTF_HOST): lo0's 127.0.0.1/8 gives the
    route 127.0.0.1, not 127.0.0.0/8."""
    if ia.ifp.flags & IFF_LOOPBACK:
        return ia.addr, 32
    return ia.subnet, ia.plen


def _prefix_route_add(vnet: VNet, ia: InIfaddr) -> None:
    """rtinit(RTM_ADD) for the connected prefix: a host route on a loopback
    interface, else the prefix with the address's mask (a /32 address on an
    Ethernet gets a /32 prefix route, not a host route)."""
    ifp = ia.ifp
    dst, plen = _route_prefix(ia)
    flags = RTF_UP | (RTF_HOST if ifp.flags & IFF_LOOPBACK else 0)
    fibs = (
        range(vnet.kernel.fibs)
        if int(vnet.kernel.sc["net.add_addr_allfibs"])
        else (vnet.kernel.proc_fibnum,)
    )
    for fib in fibs:
        vnet.rt[fib].add(Rtentry(dst, plen, ifp, ia, flags, mtu=ifp.mtu))
    ia.has_route = True


def _prefix_route_del(vnet: VNet, ia: InIfaddr) -> None:
    dst, plen = _route_prefix(ia)
    host = bool(ia.ifp.flags & IFF_LOOPBACK)
    for table in vnet.rt:
        rt = table.get(dst, plen, host)
        if rt is not None and rt.ifa is ia:
            table.remove(rt)
    ia.has_route = False


def ifa_add_loopback_route(vnet: VNet, ia: InIfaddr) -> None:
    """The self-pointing host route that sends traffic for a local address
    through lo0 (in_ifinit, ``ifa_add_loopback_route``, FIB 0). It is added
    unless the address already routes through lo0, and it sits beside a /32
    prefix route to the same address, winning lookups."""
    if ia.ifp.flags & IFF_LOOPBACK or not int(vnet.sc["net.link.ether.inet.useloopback"]):
        return
    table = vnet.rt[0]
    existing = table.lookup(ia.addr)
    if existing is not None and existing.ifp is vnet.lo0:
        return
    flags = RTF_UP | RTF_HOST | RTF_STATIC
    table.add(Rtentry(ia.addr, 32, vnet.lo0, ia, flags, mtu=vnet.lo0.mtu, self_route=True))


def ifa_del_loopback_route(vnet: VNet, ia: InIfaddr) -> None:
    table = vnet.rt[0]
    rt = table.get(ia.addr, 32, host=True)
    if rt is None or rt.ifp is not vnet.lo0 or rt.ifa is not ia:
        return
    # Another interface with the same address keeps the route alive.
    for other in vnet.in_ifaddrhash.get(ia.addr, ()):
        if other is not ia and other.has_route and not other.ifp.flags & IFF_LOOPBACK:
            rt.ifa = other
            return
    table.remove(rt)


def in_addaddr(vnet: VNet, ifp: Ifnet, addr: int, plen: int, broadaddr: int | None) -> InIfaddr:
    """SIOCAIFADDR: add (or replace the mask of) an address on ``ifp``."""
    if addr == INADDR_ANY:
        raise OSError(errno.EINVAL, "cannot configure 0.0.0.0")
    for other in ifp.addrs_in:
        if other.addr == addr:
            in_deladdr(vnet, other)
            break
    mask = prefix_mask(plen)
    subnet = addr & mask
    if broadaddr is None:
        broadaddr = (subnet | (~mask & 0xFFFFFFFF)) if ifp.flags & IFF_BROADCAST else 0
    ia = InIfaddr(addr, mask, plen, broadaddr, ifp, subnet=subnet)
    first = not ifp.addrs_in
    if not ifp.flags & IFF_UP:
        # SIOCSIFADDR brings the interface up (ether_ioctl, loioctl): an
        # epair end or a vnet jail's lo0 is up once it has an address.
        ifp.flags |= IFF_UP | IFF_RUNNING
        in_ifup(vnet, ifp)
    ifp.addrs_in.append(ia)
    vnet.in_ifaddrhead.append(ia)
    vnet.in_ifaddrhash.setdefault(addr, []).append(ia)
    if ifp.flags & IFF_UP:
        _prefix_route_add(vnet, ia)
        ifa_add_loopback_route(vnet, ia)
        if ifp.type == IFT_ETHER:
            from kstack.netinet.if_ether import arp_ifinit

            arp_ifinit(ifp, ia)
    if first and ifp.flags & IFF_MULTICAST and ifp.ii_allhosts is None:
        # The first address joins the all-hosts group (never reported).
        from kstack.netinet.in_mcast import in_joingroup

        _err, ifp.ii_allhosts = in_joingroup(ifp, INADDR_ALLHOSTS_GROUP, None)
    return ia


def in_deladdr(vnet: VNet, ia: InIfaddr) -> None:
    """SIOCDIFADDR: routes and ARP entries of the prefix go with it."""
    from kstack.netinet.if_ether import arp_ifdown

    ifp = ia.ifp
    _prefix_route_del(vnet, ia)
    ifa_del_loopback_route(vnet, ia)
    arp_ifdown(ifp, ia, keep_static=False)
    ifp.addrs_in.remove(ia)
    vnet.in_ifaddrhead.remove(ia)
    lst = vnet.in_ifaddrhash.get(ia.addr, [])
    if ia in lst:
        lst.remove(ia)
    if not lst:
        vnet.in_ifaddrhash.pop(ia.addr, None)
    if not ifp.addrs_in and ifp.ii_allhosts is not None:
        # The last address leaves the all-hosts group, without a report.
        from kstack.netinet.in_mcast import in_leavegroup

        in_leavegroup(ifp.ii_allhosts, None)
        ifp.ii_allhosts = None


def in_ifdown(vnet: VNet, ifp: Ifnet) -> None:
    """PRC_IFDOWN (rip_ctlinput): withdraw the prefix and loopback routes and
    flush dynamic ARP entries; static ones stay while the address does."""
    from kstack.netinet.if_ether import arp_ifdown

    keep_static = vnet.kernel.profile.arp_static_survives_ifdown
    for ia in ifp.addrs_in:
        if ia.has_route:
            arp_ifdown(ifp, ia, keep_static=keep_static)
            _prefix_route_del(vnet, ia)
            ifa_del_loopback_route(vnet, ia)


def in_ifup(vnet: VNet, ifp: Ifnet) -> None:
    """PRC_IFUP: reinstall the prefix route and, where the profile has the
    fix, the loopback route of each address."""
    for ia in ifp.addrs_in:
        if not ia.has_route:
            _prefix_route_add(vnet, ia)
            if vnet.kernel.profile.ifup_restores_loopback_route:
                ifa_add_loopback_route(vnet, ia)
