"""IPv4 address configuration and address tests (netinet/in.c, in_rmx.c).

The file is in_.py because ``in`` is a Python keyword.

Adding an address announces it with a gratuitous ARP request, installs the
connected prefix route (in every FIB while ``net.add_addr_allfibs`` is
non-zero, else only in the FIB of the process adding it; an address whose
prefix already has a route shares that route) and a host route for the
address itself through lo0 (``ifa_add_loopback_route``, FIB 0 only).
Removing an address, or bringing its interface down, hands the prefix route
over to another address with the same prefix or withdraws it with the
prefix's ARP entries; bringing the interface up puts the routes back.
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
from kstack.net.rtsock import in_addralias_rtmsg, rt_newaddrmsg
from kstack.netinet.ip import INADDR_ANY, prefix_mask
from kstack.sock import RTM_ADD, RTM_DELETE

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
    if addr in (0xFFFFFFFF, 0):  # INADDR_BROADCAST, INADDR_ANY
        return True
    if not ifp.flags & IFF_BROADCAST:
        return False
    for ia in ifp.addrs_in:
        if addr == ia.broadaddr or addr == ia.subnet:
            mask = ia.mask
            if mask != 0xFFFFFFFF and (addr == ia.broadaddr or mask != 0xFFFFFFFE):
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


def _is_host(ia: InIfaddr) -> bool:
    """rtinitflags(): a loopback address's route is a host route."""
    return bool(ia.ifp.flags & IFF_LOOPBACK)


def _addr_fibs(vnet: VNet) -> range | tuple[int]:
    """rtinit1's tables for an address route being added: all of them while
    net.add_addr_allfibs is non-zero, else the FIB of the process adding it."""
    k = vnet.kernel
    if int(k.sc.get("net.add_addr_allfibs", 1)):
        return range(len(vnet.rt))
    return (k.proc_fibnum,)


def _rtinit_add(vnet: VNet, ia: InIfaddr) -> int:
    """rtinit(RTM_ADD) for the address's prefix (a host route on a loopback
    interface; a /32 address on an Ethernet gets a /32 prefix route, not a
    host route). Every table is tried; a table that already holds a route
    to the prefix fails with EEXIST, which is returned, and the tables
    where the insert worked keep their route."""
    ifp = ia.ifp
    dst, plen = _route_prefix(ia)
    flags = RTF_UP | (RTF_HOST if _is_host(ia) else 0)
    err = 0
    for fib in _addr_fibs(vnet):
        rt = Rtentry(dst, plen, ifp, ia, flags, mtu=ifp.mtu)
        if not vnet.rt[fib].add(rt):
            err = errno.EEXIST
        else:
            rt_newaddrmsg(vnet, 1, ia, rt)  # RTM_ADD
    return err


def _rtinit_del(vnet: VNet, ia: InIfaddr) -> bool:
    """rtinit(RTM_DELETE): from every FIB, the prefix route this address
    installed (a route to the prefix through another address, or one
    deleted by hand, is left alone). False when no table had it."""
    dst, plen = _route_prefix(ia)
    host = _is_host(ia)
    done = False
    for table in vnet.rt:
        rt = table.get(dst, plen, host)
        if rt is not None and rt.ifa is ia:
            table.remove(rt)
            rt.flags &= ~RTF_UP
            rt_newaddrmsg(vnet, 2, ia, rt)  # RTM_DELETE
            done = True
    return done


def in_addprefix(vnet: VNet, target: InIfaddr) -> int:
    """Install the prefix route of a new address unless another address
    with the same prefix (and mask) already holds one: the two then share
    it, only the holder is marked (IFA_ROUTE), and the routing sockets hear
    of the new address as if it had added the route (in_addralias_rtmsg);
    with net.inet.ip.same_prefix_carp_only set, such an address is refused
    (EEXIST: kstack has no carp(4) interface). Returns rtinit's errno."""
    host = _is_host(target)
    prefix = target.addr if host else target.subnet
    mask = 0 if host else target.mask
    for ia in vnet.in_ifaddrhead:
        if _is_host(ia):
            if ia.addr != prefix:
                continue
        elif ia.subnet != prefix or ia.mask != mask:
            continue
        if ia.has_route:
            if int(vnet.sc.get("net.inet.ip.same_prefix_carp_only", 0)):
                return errno.EEXIST
            in_addralias_rtmsg(vnet, RTM_ADD, prefix, target)
            return 0
    err = _rtinit_add(vnet, target)
    if not err:
        target.has_route = True
    return err


def in_scrubprefix(vnet: VNet, target: InIfaddr, *, keep_static: bool, why: str = "") -> None:
    """Withdraw an address's prefix route. If another address of an
    interface that is up has the same prefix and no route of its own, the
    route is handed over to it (deleted, then added for that address, in
    the FIBs an address route goes to now) and the ARP entries stay;
    otherwise the ARP entries of the prefix are flushed (permanent ones
    kept when ``keep_static``) and the route is deleted from every FIB.
    An address without a route of its own is only reported as gone, with
    the route FIB 0 has for its prefix (in_addralias_rtmsg)."""
    prefix = target.addr if _is_host(target) else target.subnet
    if not target.has_route:
        in_addralias_rtmsg(vnet, RTM_DELETE, prefix, target)
        return
    for ia in vnet.in_ifaddrhead:
        p = ia.addr if _is_host(ia) else ia.subnet
        if p != prefix or not ia.ifp.flags & IFF_UP or ia.has_route:
            continue
        if _rtinit_del(vnet, target):
            target.has_route = False
        if not _rtinit_add(vnet, ia):
            ia.has_route = True
        return
    from kstack.netinet.if_ether import arp_ifdown

    arp_ifdown(target.ifp, target, keep_static=keep_static, why=why)
    if _rtinit_del(vnet, target):
        target.has_route = False


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
    fresh = True
    for other in ifp.addrs_in:
        if other.addr == addr:
            in_deladdr(vnet, other)
            fresh = False
            break
    mask = prefix_mask(plen)
    subnet = addr & mask
    if broadaddr is None:
        broadaddr = (subnet | (~mask & 0xFFFFFFFF)) if ifp.flags & IFF_BROADCAST else 0
    ia = InIfaddr(addr, mask, plen, broadaddr, ifp, subnet=subnet)
    if fresh:
        # in_control gives a new address an empty record, and the mask
        # ifconfig passes has it scrubbed before anything is set: the
        # record holds no route, so this is only the report of one, for
        # the prefix 0.0.0.0 (an RTM_MISS, or the default route).
        in_addralias_rtmsg(vnet, RTM_DELETE, INADDR_ANY, ia, fresh=True)
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
        if ifp.type == IFT_ETHER:
            # SIOCSIFADDR reaches the driver (arp_ifinit) before in_ifinit
            # installs any route.
            from kstack.netinet.if_ether import arp_ifinit

            arp_ifinit(ifp, ia)
        err = in_addprefix(vnet, ia)
        if err:
            # in_control: a new address whose prefix route cannot be added
            # is taken off again; the FIBs that did take the route keep it.
            _unlink(vnet, ia)
            raise OSError(err, f"{ia}: a route to its prefix is already in the table")
        ifa_add_loopback_route(vnet, ia)
    if first and ifp.flags & IFF_MULTICAST and ifp.ii_allhosts is None:
        # The first address joins the all-hosts group (never reported).
        from kstack.netinet.in_mcast import in_joingroup

        _err, ifp.ii_allhosts = in_joingroup(ifp, INADDR_ALLHOSTS_GROUP, None)
    return ia


def in_ifadown(vnet: VNet, ia: InIfaddr, *, delete: bool) -> None:
    """in_ifadown (in_rmx.c): from every FIB, the routes that use the
    address (rt_ifa), static ones only when ``delete`` (the address is
    being removed; not when its interface goes down). The lo0 route of the
    address is not among them: its rt_ifa is lo0's link-level address."""
    for table in vnet.rt:
        for rt in table.entries():
            if rt.ifa is ia and not rt.self_route and (delete or not rt.flags & RTF_STATIC):
                table.remove(rt)
    ia.has_route = False


def _unlink(vnet: VNet, ia: InIfaddr) -> None:
    ia.ifp.addrs_in.remove(ia)
    vnet.in_ifaddrhead.remove(ia)
    lst = vnet.in_ifaddrhash.get(ia.addr, [])
    if ia in lst:
        lst.remove(ia)
    if not lst:
        vnet.in_ifaddrhash.pop(ia.addr, None)


def in_deladdr(vnet: VNet, ia: InIfaddr) -> None:
    """SIOCDIFADDR: the address's lo0 route goes, and its prefix route
    with the prefix's ARP entries, unless another address takes the route
    over (in_scrubprefix); then every other route using the address, in
    every FIB, static ones included (in_ifadown)."""
    ifp = ia.ifp
    ifa_del_loopback_route(vnet, ia)
    in_scrubprefix(vnet, ia, keep_static=False, why="address deleted")
    in_ifadown(vnet, ia, delete=True)
    _unlink(vnet, ia)
    if not ifp.addrs_in and ifp.ii_allhosts is not None:
        # The last address leaves the all-hosts group, without a report.
        from kstack.netinet.in_mcast import in_leavegroup

        in_leavegroup(ifp.ii_allhosts, None)
        ifp.ii_allhosts = None


def in_ifdown(vnet: VNet, ifp: Ifnet) -> None:
    """PRC_IFDOWN (rip_ctlinput): withdraw the prefix and loopback routes
    (the prefix route may move to another interface, in_scrubprefix) and
    the dynamic routes using the address (in_ifadown); flush dynamic ARP
    entries, static ones stay while the address does."""
    keep_static = vnet.kernel.profile.arp_static_survives_ifdown
    for ia in ifp.addrs_in:
        if ia.has_route:
            in_scrubprefix(vnet, ia, keep_static=keep_static, why="interface down")
            in_ifadown(vnet, ia, delete=False)
            ifa_del_loopback_route(vnet, ia)


def in_ifup(vnet: VNet, ifp: Ifnet) -> None:
    """PRC_IFUP: reinstall the prefix route and, where the profile has the
    fix, the loopback route of each address."""
    for ia in ifp.addrs_in:
        if not ia.has_route:
            # rtinit directly, not in_addprefix: a prefix whose route another
            # address holds meanwhile stays with that address (EEXIST).
            if not _rtinit_add(vnet, ia):
                ia.has_route = True
            if vnet.kernel.profile.ifup_restores_loopback_route:
                ifa_add_loopback_route(vnet, ia)
