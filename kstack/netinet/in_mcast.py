"""IPv4 multicast group membership (netinet/in_mcast.c).

Three layers, as in the kernel:

* the socket layer: ``IpMoptions`` (struct ip_moptions) holds a socket's
  multicast settings and its memberships, each with an ``InMfilter``
  (include or exclude mode and a source list, with the state before and
  after the change being made: t0 and t1);
* the group layer: one ``InMulti`` per (interface, group), shared by every
  socket that joined, reference counted, with per-source listener counts
  merged from the socket filters (``inm_merge``);
* IGMP (kstack.netinet.igmp), told of each change by ``igmp_change_state``.

Every socket option of RFC 3678 and the older BSD API is here with the
errno each path returns, and ``imo_multi_filter``, the receive check UDP and
raw sockets apply to multicast datagrams. The kernel's own quirks are kept:
``imo_multi_filter`` compares a source's committed state with the filter's
new mode, so a source blocked in exclude mode still passes at the socket
(the block reaches only IGMP); IP_MULTICAST_IF stores an interface, not the
address it was given; IP_ADD_MEMBERSHIP reads only the first 8 bytes of an
``ip_mreqn``.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Literal

from kstack import sock as S
from kstack.net.if_var import IFF_LOOPBACK, IFF_MULTICAST
from kstack.netinet.ip import in_multicast, ntoa

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Socket
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet

# Filter modes (netinet/in.h)
MCAST_UNDEFINED = 0
MCAST_INCLUDE = 1
MCAST_EXCLUDE = 2

# imo_multi_filter() results
MCAST_PASS = 0
MCAST_NOTGMEMBER = 1
MCAST_NOTSMEMBER = 2
MCAST_MUTED = 3  # defined, never returned

IP_MIN_MEMBERSHIPS = 31
IP_MAX_MEMBERSHIPS = 4095

# in_multi states (netinet/igmp_var.h)
IGMP_NOT_MEMBER = 0
IGMP_SILENT_MEMBER = 1
IGMP_REPORTING_MEMBER = 2
IGMP_IDLE_MEMBER = 3
IGMP_LAZY_MEMBER = 4
IGMP_SLEEPING_MEMBER = 5
IGMP_AWAKENING_MEMBER = 6
IGMP_G_QUERY_PENDING_MEMBER = 7
IGMP_SG_QUERY_PENDING_MEMBER = 8
IGMP_LEAVING_MEMBER = 9

STATE_NAMES = (
    "not-member",
    "silent",
    "reporting",
    "idle",
    "lazy",
    "sleeping",
    "awakening",
    "query-pending",
    "sg-query-pending",
    "leaving",
)
MODE_NAMES = ("undefined", "include", "exclude")

_U16 = 0xFFFF
_SIN_LEN = 16
_GROUP_REQ = 136  # struct group_req on amd64
_GROUP_SOURCE_REQ = 264  # struct group_source_req
_MSFR = 152  # struct __msfilterreq
_SS = 128  # struct sockaddr_storage


# -- socket layer ------------------------------------------------------------------


class Lsrc:
    """A source in a socket's filter (struct in_msource): its mode before
    (st0) and after (st1) the change being made."""

    __slots__ = ("st0", "st1")

    def __init__(self, st0: int, st1: int) -> None:
        self.st0 = st0
        self.st1 = st1


class InMfilter:
    """A socket's filter for one membership (struct in_mfilter)."""

    __slots__ = ("st0", "st1", "srcs")

    def __init__(self, st0: int = MCAST_UNDEFINED, st1: int = MCAST_EXCLUDE) -> None:
        self.st0 = st0
        self.st1 = st1
        self.srcs: dict[int, Lsrc] = {}

    def graft(self, haddr: int, st1: int) -> Lsrc:
        lims = Lsrc(MCAST_UNDEFINED, st1)
        self.srcs[haddr] = lims
        return lims

    def get_source(self, haddr: int, limit: int) -> tuple[int, Lsrc | None]:
        """imf_get_source: the entry, created (undefined at t0) when absent;
        ENOSPC once the filter holds exactly ``limit`` entries."""
        lims = self.srcs.get(haddr)
        if lims is None:
            if len(self.srcs) == limit:
                return errno.ENOSPC, None
            lims = self.srcs[haddr] = Lsrc(MCAST_UNDEFINED, MCAST_UNDEFINED)
        return 0, lims

    def prune(self, haddr: int) -> int:
        lims = self.srcs.get(haddr)
        if lims is None:
            return errno.ENOENT
        lims.st1 = MCAST_UNDEFINED
        return 0

    def rollback(self) -> None:
        for haddr, lims in list(self.srcs.items()):
            if lims.st0 == lims.st1:
                continue
            if lims.st0 != MCAST_UNDEFINED:
                lims.st1 = lims.st0
            else:
                del self.srcs[haddr]
        self.st1 = self.st0

    def leave(self) -> None:
        """imf_leave: every source undefined at t1, the filter INCLUDE {}."""
        for lims in self.srcs.values():
            lims.st1 = MCAST_UNDEFINED
        self.st1 = MCAST_INCLUDE

    def commit(self) -> None:
        for lims in self.srcs.values():
            lims.st0 = lims.st1
        self.st0 = self.st1

    def reap(self) -> None:
        for haddr, lims in list(self.srcs.items()):
            if lims.st0 == MCAST_UNDEFINED and lims.st1 == MCAST_UNDEFINED:
                del self.srcs[haddr]

    def purge(self) -> None:
        self.srcs.clear()
        self.st0 = self.st1 = MCAST_UNDEFINED


class IpMoptions:
    """struct ip_moptions: created the first time a multicast option is used."""

    __slots__ = (
        "multicast_ifp",
        "multicast_addr",
        "multicast_ttl",
        "multicast_loop",
        "multicast_vif",
        "max_memberships",
        "memberships",
        "mfilters",
    )

    def __init__(self, loop: int) -> None:
        self.multicast_ifp: Ifnet | None = None
        self.multicast_addr = 0
        self.multicast_ttl = S.IP_DEFAULT_MULTICAST_TTL
        self.multicast_loop = loop
        self.multicast_vif = -1
        self.max_memberships = IP_MIN_MEMBERSHIPS
        self.memberships: list[InMulti] = []
        self.mfilters: list[InMfilter] = []

    def match_group(self, ifp: Ifnet | None, group: int) -> int:
        """imo_match_group: the first membership of ``group`` (on ``ifp``
        unless it is None), or -1."""
        for idx, inm in enumerate(self.memberships):
            if inm.addr == group and (ifp is None or inm.ifp is ifp):
                return idx
        return -1

    def filter(self, ifp: Ifnet | None, group: int, src: int) -> int:
        """imo_multi_filter: NOTGMEMBER without a membership of ``group`` on
        the receiving interface; NOTSMEMBER when the filter is in include
        mode and ``src`` is not listed, or when ``src`` is listed and its
        committed state differs from the filter's current mode; else PASS."""
        idx = 0
        for inm in self.memberships:
            if inm.addr == group and inm.ifp is ifp:
                break
            idx += 1
        else:
            return MCAST_NOTGMEMBER
        imf = self.mfilters[idx]
        lims = imf.srcs.get(src)
        if lims is None:
            return MCAST_NOTSMEMBER if imf.st1 == MCAST_INCLUDE else MCAST_PASS
        return MCAST_NOTSMEMBER if lims.st0 != imf.st1 else MCAST_PASS

    def grow(self) -> int:
        """imo_grow: room for (n + 1) * 2 - 1 memberships, at most 4095."""
        newmax = (self.max_memberships + 1) * 2 - 1
        if newmax > IP_MAX_MEMBERSHIPS:
            return errno.ETOOMANYREFS
        self.max_memberships = newmax
        return 0


# -- group layer ------------------------------------------------------------------------


class Isrc:
    """A source at the group layer (struct ip_msource): how many sockets
    exclude and include it at t0 and t1, and whether a group-and-source
    query asked about it (``stp``)."""

    __slots__ = ("ex0", "in0", "ex1", "in1", "stp")

    def __init__(self) -> None:
        self.ex0 = 0
        self.in0 = 0
        self.ex1 = 0
        self.in1 = 0
        self.stp = 0


class InmSt:
    """One of in_multi's two state snapshots (struct inm_st)."""

    __slots__ = ("fmode", "asm", "ex", "in_", "rec")

    def __init__(self) -> None:
        self.fmode = MCAST_UNDEFINED
        self.asm = 0
        self.ex = 0
        self.in_ = 0
        self.rec = 0

    def set(self, other: InmSt) -> None:
        self.fmode = other.fmode
        self.asm = other.asm
        self.ex = other.ex
        self.in_ = other.in_
        self.rec = other.rec


class InMulti:
    """struct in_multi: the stack's membership of one group on one interface."""

    __slots__ = (
        "addr",
        "ifp",
        "igi",
        "refcount",
        "state",
        "timer",
        "sctimer",
        "scrv",
        "lastgsr",
        "st",
        "srcs",
        "scq",
    )

    def __init__(self, ifp: Ifnet, addr: int) -> None:
        from kstack.netinet.igmp import IGMP_MAX_STATE_CHANGES, Ifq

        self.addr = addr
        self.ifp = ifp
        self.igi = ifp.igi
        self.refcount = 1
        self.state = IGMP_NOT_MEMBER
        self.timer = 0
        self.sctimer = 0
        self.scrv = 0
        self.lastgsr = 0  # uptime (us) of the last answered G-S-R query; 0: never
        self.st = (InmSt(), InmSt())
        self.srcs: dict[int, Isrc] = {}
        self.scq = Ifq(IGMP_MAX_STATE_CHANGES)

    def mode(self, ims: Isrc, t: int) -> int:
        """ims_get_mode: excluded when every exclusive listener excludes it,
        included when some listener includes it and none excludes it."""
        if t:
            ex, in_, st = ims.ex1, ims.in1, self.st[1]
        else:
            ex, in_, st = ims.ex0, ims.in0, self.st[0]
        if st.ex > 0 and st.ex == ex:
            return MCAST_EXCLUDE
        if in_ > 0 and ex == 0:
            return MCAST_INCLUDE
        return MCAST_UNDEFINED

    def sorted_srcs(self) -> list[tuple[int, Isrc]]:
        return sorted(self.srcs.items())

    def describe(self) -> dict[str, object]:
        mode = self.st[1].fmode
        return {
            "group": ntoa(self.addr),
            "iface": self.ifp.name,
            "state": STATE_NAMES[self.state] if self.state < len(STATE_NAMES) else str(self.state),
            "mode": MODE_NAMES[mode] if mode < 3 else str(mode),
            "sources": [ntoa(h) for h, ims in self.sorted_srcs() if self.mode(ims, 1) == mode],
            "refcount": self.refcount,
        }


def inm_lookup(ifp: Ifnet, group: int) -> InMulti | None:
    inm: InMulti | None = ifp.in_multi.get(group)
    return inm


def in_getmulti(ifp: Ifnet, group: int) -> InMulti:
    """The group record for (ifp, group), with one more reference; a new
    one starts INCLUDE {} at both t0 and t1 (undefined), not yet joined."""
    inm = inm_lookup(ifp, group)
    if inm is not None:
        inm.refcount += 1
        return inm
    inm = InMulti(ifp, group)
    ifp.in_multi[group] = inm
    return inm


def inm_release(inm: InMulti) -> None:
    inm.refcount -= 1
    if inm.refcount > 0:
        return
    ifp = inm.ifp
    if ifp.in_multi.get(inm.addr) is inm:
        del ifp.in_multi[inm.addr]
    inm.srcs.clear()


def inm_clear_recorded(inm: InMulti) -> None:
    for ims in inm.srcs.values():
        if ims.stp:
            ims.stp = 0
            inm.st[1].rec = (inm.st[1].rec - 1) & _U16


def inm_record_source(inm: InMulti, haddr: int, maxgrpsrc: int) -> int:
    """Mark a source a group-and-source query asked about: 1 when newly
    marked, 0 when it already was, -ENOSPC at the group's source limit.
    A source the group does not have gets an entry of its own."""
    ims = inm.srcs.get(haddr)
    if ims is not None and ims.stp:
        return 0
    if ims is None:
        if len(inm.srcs) == maxgrpsrc:
            return -errno.ENOSPC
        ims = inm.srcs[haddr] = Isrc()
    ims.stp = (ims.stp + 1) & 0xFF
    inm.st[1].rec = (inm.st[1].rec + 1) & _U16
    return 1


def inm_commit(inm: InMulti) -> None:
    for ims in inm.srcs.values():
        ims.ex0 = ims.ex1
        ims.in0 = ims.in1
    inm.st[0].set(inm.st[1])


def _inm_reap(inm: InMulti) -> None:
    for haddr, ims in list(inm.srcs.items()):
        if ims.ex0 or ims.in0 or ims.ex1 or ims.in1 or ims.stp:
            continue
        del inm.srcs[haddr]


def _ims_merge(ims: Isrc, lims_st0: int, lims_st1: int, n: int) -> None:
    """Move one socket's vote for a source from its t0 mode to its t1 mode
    (``n`` = -1 undoes it)."""
    if lims_st0 == MCAST_EXCLUDE:
        ims.ex1 = (ims.ex1 - n) & _U16
    elif lims_st0 == MCAST_INCLUDE:
        ims.in1 = (ims.in1 - n) & _U16
    if lims_st1 == MCAST_EXCLUDE:
        ims.ex1 = (ims.ex1 + n) & _U16
    elif lims_st1 == MCAST_INCLUDE:
        ims.in1 = (ims.in1 + n) & _U16


def _maxgrpsrc(ifp: Ifnet) -> int:
    return int(ifp.vnet.kernel.sc["net.inet.ip.mcast.maxgrpsrc"])


def _maxsocksrc(vnet: VNet) -> int:
    return int(vnet.kernel.sc["net.inet.ip.mcast.maxsocksrc"])


def inm_merge(inm: InMulti, imf: InMfilter) -> int:
    """Fold a socket filter's t0 -> t1 change into the group's t1 state:
    per-source counts first (ENOSPC at net.inet.ip.mcast.maxgrpsrc), then
    the listener counts and the group's filter mode (exclude when any
    listener excludes, include when only includers remain)."""
    limit = _maxgrpsrc(inm.ifp)
    nsrc0 = nsrc1 = 0
    schanged = 0
    error = 0
    last: Isrc | None = None  # the group entry of the last merged source
    for haddr in sorted(imf.srcs):
        lims = imf.srcs[haddr]
        if lims.st0 == imf.st0:
            nsrc0 += 1
        if lims.st1 == imf.st1:
            nsrc1 += 1
        if lims.st0 == lims.st1:
            continue
        schanged += 1
        ims = inm.srcs.get(haddr)
        if ims is None:
            if len(inm.srcs) == limit:
                error = errno.ENOSPC
                break
            ims = inm.srcs[haddr] = Isrc()
        _ims_merge(ims, lims.st0, lims.st1, 1)
        last = ims
    if error:
        _merge_backout(inm, last)
        if schanged:
            _inm_reap(inm)
        return error
    st1 = inm.st[1]
    if imf.st0 == imf.st1 == MCAST_INCLUDE and nsrc1 == 0:
        st1.in_ = (st1.in_ - 1) & _U16
    if imf.st0 != imf.st1:
        if imf.st0 == MCAST_EXCLUDE:
            st1.ex = (st1.ex - 1) & _U16
        elif imf.st0 == MCAST_INCLUDE:
            st1.in_ = (st1.in_ - 1) & _U16
        if imf.st1 == MCAST_EXCLUDE:
            st1.ex = (st1.ex + 1) & _U16
        elif imf.st1 == MCAST_INCLUDE and nsrc1 > 0:
            st1.in_ = (st1.in_ + 1) & _U16
    if st1.ex > 0:
        st1.fmode = MCAST_EXCLUDE
    elif st1.in_ > 0:
        st1.fmode = MCAST_INCLUDE
    else:
        st1.fmode = MCAST_UNDEFINED
    # The any-source listener count: one fewer whenever the socket was in
    # exclude mode with no in-mode source at t0 (whatever t1 is: the kernel's
    # guard around this step covers only its trace line), one more when it
    # is so at t1.
    if imf.st0 == MCAST_EXCLUDE and nsrc0 == 0:
        st1.asm = (st1.asm - 1) & _U16
    if imf.st1 == MCAST_EXCLUDE and nsrc1 == 0:
        st1.asm = (st1.asm + 1) & _U16
    if schanged:
        _inm_reap(inm)
    return 0


def _merge_backout(inm: InMulti, start: Isrc | None) -> None:
    """The error path of inm_merge at the source limit, as the kernel runs
    it: the backout walks the *group's* source entries downwards from the
    last one merged, reading each as if it were a socket-layer entry (whose
    two state bytes overlay the low and high byte of the group entry's t0
    exclude count on amd64), and undoes a merge for what it reads. Nothing
    is undone when no source was merged before the limit was hit."""
    if start is None:
        return
    items = inm.sorted_srcs()
    pos = next(i for i, (_h, ims) in enumerate(items) if ims is start)
    for _haddr, ims in reversed(items[: pos + 1]):
        b0 = ims.ex0 & 0xFF
        b1 = (ims.ex0 >> 8) & 0xFF
        if b0 == b1:
            continue
        _ims_merge(ims, b0, b1, -1)


def in_joingroup(ifp: Ifnet, group: int, imf: InMfilter | None) -> tuple[int, InMulti | None]:
    """Join ``group`` on ``ifp`` with a socket filter (None: the kernel's
    own any-source join, as for 224.0.0.1), and tell IGMP."""
    from kstack.netinet.igmp import igmp_change_state

    if imf is None:
        imf = InMfilter(MCAST_UNDEFINED, MCAST_EXCLUDE)
    inm = in_getmulti(ifp, group)
    error = inm_merge(inm, imf)
    if not error:
        error = igmp_change_state(inm)
    if error:
        inm_release(inm)
        return error, None
    return 0, inm


def in_leavegroup(inm: InMulti, imf: InMfilter | None) -> int:
    from kstack.netinet.igmp import igmp_change_state

    if imf is None:
        imf = InMfilter(MCAST_EXCLUDE, MCAST_UNDEFINED)
    inm_merge(inm, imf)
    error = igmp_change_state(inm)
    inm_release(inm)
    return error


# -- helpers for the socket options ---------------------------------------------------


def _u32(so: Socket, raw: bytes, off: int) -> int:
    return int.from_bytes(raw[off : off + 4], "big" if so.vnet.kernel.big_endian else "little")


def _addr(raw: bytes, off: int) -> int:
    return int.from_bytes(raw[off : off + 4], "big")


def _if_index(vnet: VNet) -> int:
    """V_if_index: the highest interface index of the stack."""
    return max((ifp.index for ifp in vnet.ifnets), default=0)


def _ifnet_byindex(vnet: VNet, idx: int) -> Ifnet | None:
    for ifp in vnet.ifnets:
        if ifp.index == idx:
            return ifp
    return None


def _inaddr_to_ifp(vnet: VNet, addr: int) -> Ifnet | None:
    """INADDR_TO_IFP: the interface holding the address ``addr``."""
    lst = vnet.in_ifaddrhash.get(addr)
    return lst[0].ifp if lst else None


def _sin_ok(raw: bytes, off: int) -> bool:
    """A sockaddr_in: sin_len 16 and sin_family AF_INET."""
    return raw[off] == _SIN_LEN and raw[off + 1] == S.AF_INET


def inp_lookup_mcast_ifp(so: Socket, group: int, iface: int) -> Ifnet | None:
    """The interface of a join that names one by address, or else the
    interface of the route to the group in the socket's FIB (whatever its
    flags), or else the first address in the address list whose interface
    is multicast-capable and not a loopback."""
    vnet = so.vnet
    if iface:
        return _inaddr_to_ifp(vnet, iface)
    rt = vnet.rt[so.inp.fibnum].lookup(group)
    if rt is not None:
        ifp: Ifnet = rt.ifp
        return ifp
    if not vnet.kernel.profile.mcast_join_default_ifp:
        # Before the fallback (seed 001:460): no route, no interface.
        return None
    for ia in vnet.in_ifaddrhead:
        if not ia.ifp.flags & IFF_LOOPBACK and ia.ifp.flags & IFF_MULTICAST:
            return ia.ifp
    return None


def inp_findmoptions(so: Socket) -> IpMoptions:
    """The socket's multicast options, created on first use with the
    loopback default of net.inet.ip.mcast.loop (read now, once)."""
    inp = so.inp
    if inp.moptions is None:
        # The int sysctl is copied into the u_char imo_multicast_loop.
        loop = so.vnet.kernel.sc.get("net.inet.ip.mcast.loop", S.IP_DEFAULT_MULTICAST_LOOP)
        inp.moptions = IpMoptions(int(loop) & 0xFF)
    imo: IpMoptions = inp.moptions
    return imo


def inp_freemoptions(imo: IpMoptions) -> None:
    """Close: leave every group the socket joined."""
    for inm, imf in zip(list(imo.memberships), list(imo.mfilters), strict=True):
        imf.leave()
        in_leavegroup(inm, imf)
        imf.purge()
    imo.memberships.clear()
    imo.mfilters.clear()


# -- joins and leaves -------------------------------------------------------------------


def inp_join_group(so: Socket, name: int, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    ssrc: int | None = None
    ifp: Ifnet | None
    if name in (S.IP_ADD_MEMBERSHIP, S.IP_ADD_SOURCE_MEMBERSHIP):
        if name == S.IP_ADD_MEMBERSHIP:
            # struct ip_mreq; a longer ip_mreqn is cut to its first 8 bytes,
            # so its imr_address names the interface and imr_ifindex is unread.
            err, v = sooptcopyin(raw, 8)
            if err:
                return err
            group, iface = _addr(v, 0), _addr(v, 4)
        else:
            err, v = sooptcopyin(raw, 12)
            if err:
                return err
            group, ssrc, iface = _addr(v, 0), _addr(v, 4), _addr(v, 8)
        if not in_multicast(group):
            return errno.EINVAL
        ifp = inp_lookup_mcast_ifp(so, group, iface)
    elif name in (S.MCAST_JOIN_GROUP, S.MCAST_JOIN_SOURCE_GROUP):
        size = _GROUP_REQ if name == S.MCAST_JOIN_GROUP else _GROUP_SOURCE_REQ
        err, v = sooptcopyin(raw, size)
        if err:
            return err
        if not _sin_ok(v, 8):
            return errno.EINVAL
        group = _addr(v, 12)
        if name == S.MCAST_JOIN_SOURCE_GROUP:
            if not _sin_ok(v, 136):
                return errno.EINVAL
            ssrc = _addr(v, 140)
        if not in_multicast(group):
            return errno.EINVAL
        ifindex = _u32(so, v, 0)
        if ifindex == 0 or _if_index(vnet) < ifindex:
            return errno.EADDRNOTAVAIL
        ifp = _ifnet_byindex(vnet, ifindex)
    else:
        return errno.EOPNOTSUPP

    if ifp is None or not ifp.flags & IFF_MULTICAST:
        return errno.EADDRNOTAVAIL
    imo = inp_findmoptions(so)
    idx = imo.match_group(ifp, group)
    is_new = idx == -1
    if not is_new:
        imf = imo.mfilters[idx]
        if ssrc is not None:
            # A source join needs an include-mode membership, and a source
            # not already in its filter (in whatever state).
            if imf.st1 != MCAST_INCLUDE:
                return errno.EINVAL
            if ssrc in imf.srcs:
                return errno.EADDRNOTAVAIL
        else:
            # Joining again: EADDRINUSE on an exclude-mode membership (the
            # 4.4BSD answer), EINVAL on an include-mode one.
            return errno.EADDRINUSE if imf.st1 == MCAST_EXCLUDE else errno.EINVAL
    else:
        if len(imo.memberships) == imo.max_memberships:
            err = imo.grow()
            if err:
                return err
        imf = InMfilter(MCAST_UNDEFINED, MCAST_INCLUDE if ssrc is not None else MCAST_EXCLUDE)
    if ssrc is not None:
        imf.graft(ssrc, MCAST_INCLUDE)

    if is_new:
        err, inm = in_joingroup(ifp, group, imf)
        if err:
            imf.rollback()
            imf.purge()
            return err
        assert inm is not None
        imo.memberships.append(inm)
        imo.mfilters.append(imf)
        imf.commit()
        return 0
    inm = imo.memberships[idx]
    err = inm_merge(inm, imf)
    if not err:
        err = _change_state(inm)
    if err:
        imf.rollback()
        imf.reap()
    else:
        imf.commit()
    return err


def _change_state(inm: InMulti) -> int:
    from kstack.netinet.igmp import igmp_change_state

    return igmp_change_state(inm)


def inp_leave_group(so: Socket, name: int, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    ssrc: int | None = None
    ifp: Ifnet | None = None
    if name in (S.IP_DROP_MEMBERSHIP, S.IP_DROP_SOURCE_MEMBERSHIP):
        if name == S.IP_DROP_MEMBERSHIP:
            err, v = sooptcopyin(raw, 8)
            if err:
                return err
            group, iface = _addr(v, 0), _addr(v, 4)
        else:
            err, v = sooptcopyin(raw, 12)
            if err:
                return err
            group, ssrc, iface = _addr(v, 0), _addr(v, 4), _addr(v, 8)
        # An address that is not ours matches the group on any interface.
        if iface:
            ifp = _inaddr_to_ifp(vnet, iface)
    elif name in (S.MCAST_LEAVE_GROUP, S.MCAST_LEAVE_SOURCE_GROUP):
        size = _GROUP_REQ if name == S.MCAST_LEAVE_GROUP else _GROUP_SOURCE_REQ
        err, v = sooptcopyin(raw, size)
        if err:
            return err
        if not _sin_ok(v, 8):
            return errno.EINVAL
        group = _addr(v, 12)
        if name == S.MCAST_LEAVE_SOURCE_GROUP:
            if not _sin_ok(v, 136):
                return errno.EINVAL
            ssrc = _addr(v, 140)
        ifindex = _u32(so, v, 0)
        if ifindex == 0 or _if_index(vnet) < ifindex:
            return errno.EADDRNOTAVAIL
        ifp = _ifnet_byindex(vnet, ifindex)
        if ifp is None:
            return errno.EADDRNOTAVAIL
    else:
        return errno.EOPNOTSUPP
    if not in_multicast(group):
        return errno.EINVAL

    imo = inp_findmoptions(so)
    idx = imo.match_group(ifp, group)
    if idx == -1:
        return errno.EADDRNOTAVAIL
    inm = imo.memberships[idx]
    imf = imo.mfilters[idx]
    if ssrc is None:
        imf.leave()
        in_leavegroup(inm, imf)
        imf.commit()
        imf.reap()
        del imo.memberships[idx]
        del imo.mfilters[idx]
        return 0
    # Dropping one source: only from an include-mode membership that has it.
    if imf.st0 == MCAST_EXCLUDE:
        return errno.EADDRNOTAVAIL
    if ssrc not in imf.srcs:
        return errno.EADDRNOTAVAIL
    imf.prune(ssrc)
    err = inm_merge(inm, imf)
    if not err:
        err = _change_state(inm)
    if err:
        imf.rollback()
    else:
        imf.commit()
    imf.reap()
    return err


def inp_block_unblock_source(so: Socket, name: int, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    ifp: Ifnet | None = None
    if name in (S.IP_BLOCK_SOURCE, S.IP_UNBLOCK_SOURCE):
        err, v = sooptcopyin(raw, 12)
        if err:
            return err
        group, ssrc, iface = _addr(v, 0), _addr(v, 4), _addr(v, 8)
        if iface:
            ifp = _inaddr_to_ifp(vnet, iface)
        doblock = name == S.IP_BLOCK_SOURCE
    elif name in (S.MCAST_BLOCK_SOURCE, S.MCAST_UNBLOCK_SOURCE):
        err, v = sooptcopyin(raw, _GROUP_SOURCE_REQ)
        if err:
            return err
        if not _sin_ok(v, 8) or not _sin_ok(v, 136):
            return errno.EINVAL
        group, ssrc = _addr(v, 12), _addr(v, 140)
        ifindex = _u32(so, v, 0)
        if ifindex == 0 or _if_index(vnet) < ifindex:
            return errno.EADDRNOTAVAIL
        # An index without an interface (a gap) matches any interface.
        ifp = _ifnet_byindex(vnet, ifindex)
        doblock = name == S.MCAST_BLOCK_SOURCE
    else:
        return errno.EOPNOTSUPP
    if not in_multicast(group):
        return errno.EINVAL

    imo = inp_findmoptions(so)
    idx = imo.match_group(ifp, group)
    if idx == -1:
        return errno.EADDRNOTAVAIL
    imf = imo.mfilters[idx]
    inm = imo.memberships[idx]
    # The delta API applies to exclude-mode memberships only.
    fmode = imf.st0
    if fmode != MCAST_EXCLUDE:
        return errno.EINVAL
    have = ssrc in imf.srcs
    if have == doblock:
        return errno.EADDRNOTAVAIL  # already blocked / not blocked
    if doblock:
        imf.graft(ssrc, fmode)
    else:
        imf.prune(ssrc)
    err = inm_merge(inm, imf)
    if not err:
        err = _change_state(inm)
    if err:
        imf.rollback()
    else:
        imf.commit()
    imf.reap()
    return err


# -- full-state filters (IP_MSFILTER) -----------------------------------------------


def inp_set_source_filters(so: Socket, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    err, v = sooptcopyin(raw, _MSFR)
    if err:
        return err
    ifindex, fmode, nsrcs = _u32(so, v, 0), _u32(so, v, 4), _u32(so, v, 8)
    if nsrcs > _maxsocksrc(vnet):
        return errno.ENOBUFS
    if fmode not in (MCAST_EXCLUDE, MCAST_INCLUDE):
        return errno.EINVAL
    if not _sin_ok(v, 16):
        return errno.EINVAL
    group = _addr(v, 20)
    if not in_multicast(group):
        return errno.EINVAL
    if ifindex == 0 or _if_index(vnet) < ifindex:
        return errno.EADDRNOTAVAIL
    ifp = _ifnet_byindex(vnet, ifindex)
    if ifp is None:
        return errno.EADDRNOTAVAIL
    imo = inp_findmoptions(so)
    idx = imo.match_group(ifp, group)
    if idx == -1:
        return errno.EADDRNOTAVAIL
    inm = imo.memberships[idx]
    imf = imo.mfilters[idx]
    imf.st1 = fmode
    if nsrcs > 0:
        # The source vector is copied in from user memory. A fault returns
        # at once, leaving the new mode in place at t1 (no rollback).
        ptr = int.from_bytes(v[144:152], "big" if so.vnet.kernel.big_endian else "little")
        vec = raw[_MSFR : _MSFR + nsrcs * _SS]
        if ptr == 0 or len(vec) < nsrcs * _SS:
            return errno.EFAULT
        imf.leave()
        imf.st1 = fmode
        limit = _maxsocksrc(vnet)
        for i in range(nsrcs):
            off = i * _SS
            if vec[off + 1] != S.AF_INET:
                err = errno.EAFNOSUPPORT
                break
            if vec[off] != _SIN_LEN:
                err = errno.EINVAL
                break
            err, lims = imf.get_source(_addr(vec, off + 4), limit)
            if err:
                break
            assert lims is not None
            lims.st1 = imf.st1
    if not err:
        err = inm_merge(inm, imf)
        if not err:
            err = _change_state(inm)
    if err:
        imf.rollback()
    else:
        imf.commit()
    imf.reap()
    return err


def inp_get_source_filters(so: Socket, imo: IpMoptions, raw: bytes) -> tuple[int, bytes]:
    """getsockopt(IP_MSFILTER): the mode at t1 and the number of sources
    in-mode at t0, with as many of them as the caller made room for
    written to the user memory after the structure."""
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    err, v = sooptcopyin(raw, _MSFR)
    if err:
        return err, b""
    ifindex = _u32(so, v, 0)
    if ifindex == 0 or _if_index(vnet) < ifindex:
        return errno.EINVAL, b""
    ifp = _ifnet_byindex(vnet, ifindex)
    if ifp is None:
        return errno.EINVAL, b""
    idx = imo.match_group(ifp, _addr(v, 20))
    if idx == -1:
        return errno.EADDRNOTAVAIL, b""
    imf = imo.mfilters[idx]
    if imf.st1 == MCAST_UNDEFINED:
        return errno.EAGAIN, b""
    order: Literal["big", "little"] = "big" if so.vnet.kernel.big_endian else "little"
    want = _u32(so, v, 8)
    ptr = int.from_bytes(v[144:152], order)
    out = bytearray(raw)
    ncsrcs = 0
    vec = bytearray()
    for haddr in sorted(imf.srcs):
        lims = imf.srcs[haddr]
        if lims.st0 == MCAST_UNDEFINED or lims.st0 != imf.st0:
            continue
        ncsrcs += 1
        if ptr and len(vec) < want * _SS:
            vec += struct.pack("!BBH4s", _SIN_LEN, S.AF_INET, 0, haddr.to_bytes(4, "big"))
            vec += bytes(_SS - 8)
    if ptr and want > 0:
        room = want * _SS
        if len(out) < _MSFR + room:
            return errno.EFAULT, b""
        out[_MSFR : _MSFR + room] = vec.ljust(room, b"\0")
    out[4:8] = imf.st1.to_bytes(4, order)
    out[8:12] = ncsrcs.to_bytes(4, order)
    return 0, bytes(out)


# -- the other options --------------------------------------------------------------------


def inp_set_multicast_if(so: Socket, raw: bytes) -> int:
    """IP_MULTICAST_IF: an interface index in a 12-byte ip_mreqn, else an
    interface address; 0 removes the choice. Only the interface is kept."""
    from kstack.kern.uipc_socket import sooptcopyin

    vnet = so.vnet
    ifp: Ifnet | None
    if len(raw) == 12:
        ifindex = int.from_bytes(
            raw[8:12], "big" if vnet.kernel.big_endian else "little", signed=True
        )
        if ifindex < 0 or _if_index(vnet) < ifindex:
            return errno.EINVAL
        if ifindex == 0:
            ifp = None
        else:
            ifp = _ifnet_byindex(vnet, ifindex)
            if ifp is None:
                return errno.EADDRNOTAVAIL
    else:
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        addr = _addr(v, 0)
        if addr == 0:
            ifp = None
        else:
            ifp = _inaddr_to_ifp(vnet, addr)
            if ifp is None:
                return errno.EADDRNOTAVAIL
    if ifp is not None and not ifp.flags & IFF_MULTICAST:
        return errno.EOPNOTSUPP
    imo = inp_findmoptions(so)
    imo.multicast_ifp = ifp
    imo.multicast_addr = 0
    return 0


# The options in_mcast.c brought (seed 001:471). Before it ip_ctloutput
# knew none of them: ENOPROTOOPT for setsockopt and getsockopt alike.
IN_MCAST_ONLY = frozenset(
    {
        S.IP_ADD_SOURCE_MEMBERSHIP,
        S.IP_DROP_SOURCE_MEMBERSHIP,
        S.IP_BLOCK_SOURCE,
        S.IP_UNBLOCK_SOURCE,
        S.IP_MSFILTER,
        S.MCAST_JOIN_GROUP,
        S.MCAST_LEAVE_GROUP,
        S.MCAST_JOIN_SOURCE_GROUP,
        S.MCAST_LEAVE_SOURCE_GROUP,
        S.MCAST_BLOCK_SOURCE,
        S.MCAST_UNBLOCK_SOURCE,
    }
)


def _old_multicast_if(so: Socket, raw: bytes) -> int:
    """IP_MULTICAST_IF before in_mcast.c: the first four bytes are an
    interface address (so a 12-byte ip_mreqn is read as its group field);
    0.0.0.0/8 names an interface by index (RFC 1724) and is remembered."""
    from kstack.kern.uipc_socket import sooptcopyin

    err, v = sooptcopyin(raw, 4)
    if err:
        return err
    addr = _addr(v, 0)
    imo = inp_findmoptions(so)
    if addr == 0:
        imo.multicast_ifp = None
        return 0
    vnet = so.vnet
    if addr >> 24 == 0:
        idx = addr & 0xFFFFFF
        ifp = _ifnet_byindex(vnet, idx) if idx <= _if_index(vnet) else None
    else:
        ifp = _inaddr_to_ifp(vnet, addr)
    if ifp is None or not ifp.flags & IFF_MULTICAST:
        return errno.EADDRNOTAVAIL
    imo.multicast_ifp = ifp
    imo.multicast_addr = addr if addr >> 24 == 0 else 0
    return 0


def inp_setmoptions(so: Socket, name: int, raw: bytes) -> int:
    from kstack.kern.uipc_socket import sooptcopyin

    if not so.vnet.kernel.profile.mcast_source_filters:
        if name in IN_MCAST_ONLY:
            return errno.ENOPROTOOPT
        if name == S.IP_MULTICAST_IF:
            return _old_multicast_if(so, raw)
    if so.type not in (S.SOCK_DGRAM, S.SOCK_RAW):
        return errno.EOPNOTSUPP
    if name == S.IP_MULTICAST_VIF:
        return errno.EOPNOTSUPP  # no multicast routing in the kernel
    if name == S.IP_MULTICAST_IF:
        return inp_set_multicast_if(so, raw)
    if name in (S.IP_MULTICAST_TTL, S.IP_MULTICAST_LOOP):
        # A u_char or a u_int; the u_int TTL must fit 0..255, the u_int
        # loop flag is cut to its low byte before it is tested.
        if len(raw) == 1:
            val = raw[0]
        else:
            err, v = sooptcopyin(raw, 4)
            if err:
                return err
            val = _u32(so, v, 0)
            if name == S.IP_MULTICAST_TTL and val > 255:
                return errno.EINVAL
        imo = inp_findmoptions(so)
        if name == S.IP_MULTICAST_TTL:
            imo.multicast_ttl = val & 0xFF
        else:
            imo.multicast_loop = 1 if val & 0xFF else 0
        return 0
    if name in (
        S.IP_ADD_MEMBERSHIP,
        S.IP_ADD_SOURCE_MEMBERSHIP,
        S.MCAST_JOIN_GROUP,
        S.MCAST_JOIN_SOURCE_GROUP,
    ):
        return inp_join_group(so, name, raw)
    if name in (
        S.IP_DROP_MEMBERSHIP,
        S.IP_DROP_SOURCE_MEMBERSHIP,
        S.MCAST_LEAVE_GROUP,
        S.MCAST_LEAVE_SOURCE_GROUP,
    ):
        return inp_leave_group(so, name, raw)
    if name in (
        S.IP_BLOCK_SOURCE,
        S.IP_UNBLOCK_SOURCE,
        S.MCAST_BLOCK_SOURCE,
        S.MCAST_UNBLOCK_SOURCE,
    ):
        return inp_block_unblock_source(so, name, raw)
    if name == S.IP_MSFILTER:
        return inp_set_source_filters(so, raw)
    return errno.EOPNOTSUPP


def inp_getmoptions(so: Socket, name: int, raw: bytes = b"") -> tuple[int, bytes]:
    """getsockopt of the multicast options. ``raw`` is the caller's buffer:
    its size shapes IP_MULTICAST_IF (12 bytes: a struct ip_mreqn) and
    IP_MULTICAST_TTL/LOOP (1 byte: a u_char); IP_MSFILTER reads it."""
    old = not so.vnet.kernel.profile.mcast_source_filters
    if old and name in IN_MCAST_ONLY:
        return errno.ENOPROTOOPT, b""
    if so.type not in (S.SOCK_DGRAM, S.SOCK_RAW):
        return errno.EOPNOTSUPP, b""
    imo: IpMoptions | None = so.inp.moptions
    valsize = len(raw)
    ib = so.int_bytes
    if name == S.IP_MULTICAST_VIF:
        return 0, ib(imo.multicast_vif if imo is not None else -1)
    if name == S.IP_MULTICAST_IF:
        address = 0
        ifindex = 0
        if imo is not None:
            ifp = imo.multicast_ifp
            if imo.multicast_addr:
                address = imo.multicast_addr
            elif ifp is not None:
                ifindex = ifp.index
                if ifp.addrs_in:
                    address = ifp.addrs_in[0].addr
        if valsize == 12 and not old:  # before in_mcast.c: an in_addr only
            return 0, bytes(4) + address.to_bytes(4, "big") + ib(ifindex)
        return 0, address.to_bytes(4, "big")
    if name in (S.IP_MULTICAST_TTL, S.IP_MULTICAST_LOOP):
        if name == S.IP_MULTICAST_TTL:
            val = imo.multicast_ttl if imo is not None else S.IP_DEFAULT_MULTICAST_TTL
        else:
            # Without multicast options: IP_DEFAULT_MULTICAST_LOOP, whatever
            # net.inet.ip.mcast.loop says.
            val = imo.multicast_loop if imo is not None else S.IP_DEFAULT_MULTICAST_LOOP
        if valsize == 1:
            return 0, bytes((val & 0xFF,))
        return 0, ib(val)
    if name == S.IP_MSFILTER:
        if imo is None:
            return errno.EADDRNOTAVAIL, b""
        return inp_get_source_filters(so, imo, raw)
    return errno.ENOPROTOOPT, b""


# -- introspection (ifmcstat) --------------------------------------------------------


def ifmcstat(vnet: VNet, ifname: str | None = None) -> list[dict[str, object]]:
    """The stack's group memberships, as ifmcstat(8) lists them: per
    interface (newest group first), the IGMP state, the filter mode and the
    sources in that mode."""
    out: list[dict[str, object]] = []
    for ifp in vnet.ifnets:
        if ifname is not None and ifp.name != ifname:
            continue
        for inm in reversed(list(ifp.in_multi.values())):
            out.append(inm.describe())
    return out
