"""Per-socket multicast options (netinet/in_mcast.c), as far as sockets
need them today: the outgoing interface, TTL and loopback, and any-source
group memberships with the receive filter built on them.

Source filters and the IGMP reports that memberships cause belong to the
multicast emulation; the membership records kept here are what it builds on.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kstack import sock as S
from kstack.net.if_var import IFF_MULTICAST
from kstack.netinet.ip import in_multicast

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Socket
    from kstack.net.if_var import Ifnet

MCAST_PASS = 0
MCAST_NOTGMEMBER = 1
MCAST_NOTSMEMBER = 2
MCAST_MUTED = 3

IP_MAX_MEMBERSHIPS = 4095


class IpMoptions:
    """struct ip_moptions: created the first time a multicast option is set."""

    __slots__ = (
        "multicast_ifp",
        "multicast_addr",
        "multicast_ttl",
        "multicast_loop",
        "multicast_vif",
        "memberships",
    )

    def __init__(self, loop: int) -> None:
        self.multicast_ifp: Ifnet | None = None
        self.multicast_addr = 0
        self.multicast_ttl = S.IP_DEFAULT_MULTICAST_TTL
        self.multicast_loop = loop
        self.multicast_vif = -1
        self.memberships: list[tuple[int, Ifnet]] = []  # (group, interface)

    def filter(self, ifp: Ifnet | None, group: int, src: int) -> int:
        """imo_multi_filter: PASS when the socket joined ``group`` on the
        receiving interface."""
        for g, mifp in self.memberships:
            if g == group and mifp is ifp:
                return MCAST_PASS
        return MCAST_NOTGMEMBER


def _moptions(so: Socket) -> IpMoptions:
    inp = so.inp
    if inp.moptions is None:
        # The int sysctl is copied into the u_char imo_multicast_loop.
        inp.moptions = IpMoptions(int(so.vnet.kernel.sc["net.inet.ip.mcast.loop"]) & 0xFF)
    imo: IpMoptions = inp.moptions
    return imo


def _ifp_by_addr(so: Socket, addr: int) -> Ifnet | None:
    lst = so.vnet.in_ifaddrhash.get(addr)
    return lst[0].ifp if lst else None


def _ifp_for_group(so: Socket, group: int, iface_addr: int) -> Ifnet | None:
    """inp_lookup_mcast_ifp: the named interface, or the route to the group."""
    if iface_addr:
        return _ifp_by_addr(so, iface_addr)
    rt = so.vnet.rt[so.inp.fibnum].lookup(group)
    if rt is not None and rt.ifp.flags & IFF_MULTICAST:
        return rt.ifp
    for ia in so.vnet.in_ifaddrhead:
        if ia.ifp.flags & IFF_MULTICAST and not ia.ifp.flags & 0x8:  # not loopback
            return ia.ifp
    return None


def inp_setmoptions(so: Socket, name: int, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    if so.type not in (S.SOCK_DGRAM, S.SOCK_RAW):
        return errno.EOPNOTSUPP
    if name == S.IP_MULTICAST_VIF:
        return errno.EOPNOTSUPP  # no multicast routing in the kernel
    if name == S.IP_MSFILTER:
        return errno.EOPNOTSUPP
    if name == S.IP_MULTICAST_IF:
        if len(raw) == 12:
            group_ifindex = int.from_bytes(
                raw[8:12], "big" if so.vnet.kernel.big_endian else "little", signed=True
            )
            vnet = so.vnet
            if group_ifindex < 0 or group_ifindex > len(vnet.kernel.all_ifnets()):
                return errno.EINVAL
            if group_ifindex == 0:
                addr = int.from_bytes(raw[4:8], "big")
                ifp = None if addr == 0 else _ifp_by_addr(so, addr)
                if addr and ifp is None:
                    return errno.EADDRNOTAVAIL
            else:
                ifp = next((i for i in vnet.ifnets if i.index == group_ifindex), None)
                if ifp is None:
                    return errno.EADDRNOTAVAIL
            imo = _moptions(so)
            imo.multicast_ifp = ifp
            imo.multicast_addr = 0
            return 0
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        addr = int.from_bytes(v, "big")
        imo = _moptions(so)
        if addr == 0:
            imo.multicast_ifp = None
            imo.multicast_addr = 0
            return 0
        ifp = _ifp_by_addr(so, addr)
        if ifp is None or not ifp.flags & IFF_MULTICAST:
            return errno.EADDRNOTAVAIL
        imo.multicast_ifp = ifp
        imo.multicast_addr = addr
        return 0
    if name in (S.IP_MULTICAST_TTL, S.IP_MULTICAST_LOOP):
        if len(raw) == 1:
            val = raw[0]
        else:
            err, v = sooptcopyin(raw, 4)
            if err:
                return err
            val = int.from_bytes(v, "big" if so.vnet.kernel.big_endian else "little")
            if name == S.IP_MULTICAST_TTL and val > 255:
                return errno.EINVAL
        imo = _moptions(so)
        if name == S.IP_MULTICAST_TTL:
            imo.multicast_ttl = val & 0xFF
        else:
            imo.multicast_loop = 1 if val & 0xFF else 0
        return 0
    if name in (S.IP_ADD_MEMBERSHIP, S.IP_DROP_MEMBERSHIP):
        err, v = sooptcopyin(raw, 8)
        if err:
            return err
        group = int.from_bytes(v[0:4], "big")
        iface = int.from_bytes(v[4:8], "big")
        if not in_multicast(group):
            return errno.EINVAL
        ifp = _ifp_for_group(so, group, iface)
        if ifp is None or not ifp.flags & IFF_MULTICAST:
            return errno.EADDRNOTAVAIL
        imo = _moptions(so)
        key = (group, ifp)
        have = any(g == group and i is ifp for g, i in imo.memberships)
        if name == S.IP_ADD_MEMBERSHIP:
            if have:
                return errno.EADDRINUSE
            if len(imo.memberships) >= IP_MAX_MEMBERSHIPS:
                return errno.ETOOMANYREFS
            imo.memberships.append(key)
            return 0
        if not have:
            return errno.EADDRNOTAVAIL
        imo.memberships = [(g, i) for g, i in imo.memberships if not (g == group and i is ifp)]
        return 0
    # Source-specific and protocol-independent membership options are the
    # multicast emulation's; until then they are refused as unsupported.
    return errno.EOPNOTSUPP


def inp_getmoptions(so: Socket, name: int) -> tuple[int, bytes]:
    imo: IpMoptions | None = so.inp.moptions
    ib = so.int_bytes
    if name == S.IP_MULTICAST_IF:
        if imo is None or imo.multicast_ifp is None:
            return 0, bytes(4)
        if imo.multicast_addr:
            return 0, imo.multicast_addr.to_bytes(4, "big")
        ifp = imo.multicast_ifp
        addr = ifp.addrs_in[0].addr if ifp.addrs_in else 0
        return 0, addr.to_bytes(4, "big")
    if name == S.IP_MULTICAST_TTL:
        return 0, ib(imo.multicast_ttl if imo is not None else S.IP_DEFAULT_MULTICAST_TTL)
    if name == S.IP_MULTICAST_LOOP:
        # Without multicast options: IP_DEFAULT_MULTICAST_LOOP, whatever
        # net.inet.ip.mcast.loop says (inp_getmoptions).
        return 0, ib(imo.multicast_loop if imo is not None else S.IP_DEFAULT_MULTICAST_LOOP)
    if name == S.IP_MULTICAST_VIF:
        return 0, ib(imo.multicast_vif if imo is not None else -1)
    if name == S.IP_MSFILTER:
        return errno.EOPNOTSUPP, b""
    return errno.ENOPROTOOPT, b""
