"""ARP (netinet/if_ether.c) and the IPv4 link-layer table behind it
(net/if_llatbl.c and the in_lltable_* functions of netinet/in.c), as
FreeBSD 9.0 has them.

Each interface has its own table of entries (``ifp.lle``: address ->
:class:`Llentry`). An entry is created when a packet needs the address
(arpresolve), when a request for one of our addresses arrives
(in_arpinput), by ``arp -s`` and, for each of our own addresses, when the
address is configured (arp_ifinit: a permanent entry with our MAC).

* arpresolve holds up to ``net.link.ether.inet.maxhold`` packets per
  unresolved entry (a new one beyond that drops the oldest), asks at most
  once a second, and after ``maxtries`` requests answers EHOSTDOWN
  (EHOSTUNREACH when the route has a gateway) while it keeps asking. The
  entry dies ``net.link.ether.inet.wait`` seconds after its last request,
  with its held packets.
* in_arpinput learns or refreshes the sender, releases held packets, and
  answers requests for our addresses on the receiving interface, for
  published entries (``arp -s ... pub``) and, with ``proxyall``, for
  addresses routed through another interface.
* A learned entry lives ``net.link.ether.inet.max_age`` seconds.

Every held packet that is not sent ends with a named drop event
(``vnet.note_drop``): replaced by a newer one, entry expired, prefix flushed
(address deleted, interface down), table freed (interface detached).
Kernel log lines go to ``vnet.arp_log`` as (syslog priority, text) and to
the event list. Counters are ``struct arpstat`` (``vnet.arpstat``).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, cast

from kstack.kern.clock import HZ, NS, TICK_NS
from kstack.kern.sysctl import CTLFLAG_RW, CTLFLAG_VNET, CTLTYPE_INT, Oid
from kstack.net.if_var import IFF_NOARP, IFF_UP, IFT_ETHER, format_mac
from kstack.net.route import RTF_GATEWAY, RTF_HOST
from kstack.netinet.ip import aton, ntoa
from kstack.outcome import ANSWERED, DELIVERED, Outcome, dropped

if TYPE_CHECKING:
    from kstack.kern.clock import Callout
    from kstack.kern.mbuf import Mbuf
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.route import Rtentry
    from kstack.net.vnet import VNet

# Hardware types arpintr accepts (net/if_arp.h). InfiniBand arrived with the
# OFED import of March 2011, before 9.0 branched.
ARPHRD_ETHER = 1
ARPHRD_IEEE802 = 6
ARPHRD_ARCNET = 7
ARPHRD_IEEE1394 = 24
ARPHRD_INFINIBAND = 32
_HRD_OK = frozenset(
    (ARPHRD_ETHER, ARPHRD_IEEE802, ARPHRD_ARCNET, ARPHRD_IEEE1394, ARPHRD_INFINIBAND)
)
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ARP_HDR = struct.Struct("!HHBBH")  # struct arphdr: hrd, pro, hln, pln, op
ARP_PKT = struct.Struct("!HHBBH6sI6sI")  # Ethernet/IPv4 ARP packet
ETHER_BCAST = b"\xff" * 6
ETHER_HDR = struct.Struct("!6s6sH")
ETHERTYPE_IP = 0x0800
ETHERTYPE_ARP = 0x0806
ETHER_ADDR_LEN = 6

# llentry flags (net/if_llatbl.h)
LLE_DELETED = 0x0001
LLE_STATIC = 0x0002
LLE_IFADDR = 0x0004
LLE_VALID = 0x0008
LLE_PROXY = 0x0010
LLE_PUB = 0x0020

# syslog priorities of the kernel's log() calls; None marks a printf().
LOG_ERR = 3
LOG_WARNING = 4
LOG_NOTICE = 5
LOG_INFO = 6
LOG_DEBUG = 7
#: Lines kept in ``vnet.arp_log`` (the kernel's message buffer is a ring too).
ARP_LOG_MAX = 1024

_VRW = CTLFLAG_RW | CTLFLAG_VNET

ARP_OIDS = (
    Oid(
        "net.link.ether.inet.max_age",
        CTLTYPE_INT,
        20 * 60,
        _VRW,
        "Seconds a resolved ARP entry is kept before it expires",
    ),
    Oid(
        "net.link.ether.inet.maxtries",
        CTLTYPE_INT,
        5,
        _VRW,
        "ARP requests sent for an address before senders get an error",
    ),
    Oid(
        "net.link.ether.inet.useloopback",
        CTLTYPE_INT,
        1,
        _VRW,
        "Send traffic for the host's own addresses through the loopback interface",
    ),
    Oid(
        "net.link.ether.inet.proxyall",
        CTLTYPE_INT,
        0,
        _VRW,
        "Answer ARP requests for addresses routed through another interface",
    ),
    Oid(
        "net.link.ether.inet.wait",
        CTLTYPE_INT,
        20,
        _VRW,
        "Seconds an unresolved ARP entry is kept after its last request",
    ),
    Oid(
        "net.link.ether.inet.maxhold",
        CTLTYPE_INT,
        1,
        _VRW,
        "Packets queued on an ARP entry while its address is being resolved",
    ),
    # Plain (machine-wide) integers, not per vnet.
    Oid(
        "net.link.ether.inet.log_arp_wrong_iface",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "Log ARP packets for an address known on another interface",
    ),
    Oid(
        "net.link.ether.inet.log_arp_movements",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "Log ARP packets that move an address to another hardware address",
    ),
    Oid(
        "net.link.ether.inet.log_arp_permanent_modify",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "Log ARP packets that try to change a permanent entry",
    ),
)

# What happened to an ARP packet handed to arpintr.
_RUNT = dropped("arpintr: runt packet")
_BAD_HRD = dropped("arpintr: unknown hardware address format")
_NOT_IP = dropped("arpintr: protocol is not IPv4")
_NOARP = dropped("ether_demux: ARP disabled on the interface (IFF_NOARP)")
_IN_RUNT = dropped("in_arpinput: runt packet")
_BAD_PLN = dropped("in_arpinput: protocol address length is not 4")
_MCAST_SHA = dropped("in_arpinput: sender hardware address is multicast")
_NOADDR = dropped("in_arpinput: no IPv4 address on the interface")
_OWN = dropped("in_arpinput: our own packet")
_BCAST_SHA = dropped("in_arpinput: sender hardware address is broadcast")
_BAD_HLN = dropped("in_arpinput: hardware address length differs from the interface's")
_DUPIP = dropped("dupips", "another host claims our address")
_LEARNED = Outcome(DELIVERED, "in_arpinput", "arp table")
_NO_ENTRY = Outcome(DELIVERED, "in_arpinput: no entry to update", "arp")
_KEPT_STATIC = Outcome(DELIVERED, "in_arpinput: permanent entry kept", "arp")
_IGNORED = Outcome(DELIVERED, "in_arpinput: not for us", "arp")
_NO_PROXY = Outcome(DELIVERED, "in_arpinput: not for us (no proxy reply)", "arp")
_REPLIED = Outcome(ANSWERED, "in_arpinput: reply sent", "arp")
_PROXY_REPLIED = Outcome(ANSWERED, "in_arpinput: proxy reply sent", "arp")
_DUPIP_REPLIED = Outcome(ANSWERED, "dupips", "arp", "another host claims our address; reply sent")


class Llentry:
    """One entry of an interface's IPv4 link-layer table (struct llentry)."""

    __slots__ = ("ifp", "addr", "mac", "flags", "expire", "hold", "asked", "preempt", "timer")

    def __init__(self, ifp: Ifnet, addr: int, flags: int = 0) -> None:
        self.ifp = ifp
        self.addr = addr
        self.mac: bytes | None = None
        self.flags = flags
        # in_lltable_new: born expired, so that arpresolve asks at once.
        self.expire = ifp.vnet.kernel.clock.time_uptime
        self.hold: list[Mbuf] = []  # la_hold, oldest first (la_numheld = len)
        self.asked = 0  # uint16_t la_asked
        self.preempt = 0  # uint16_t la_preempt
        self.timer: Callout | None = None

    @property
    def static(self) -> bool:
        return bool(self.flags & LLE_STATIC)

    @property
    def valid(self) -> bool:
        return bool(self.flags & LLE_VALID)

    def __repr__(self) -> str:
        mac = format_mac(self.mac) if self.mac else "(incomplete)"
        return f"Llentry({ntoa(self.addr)} {mac} on {self.ifp.name} flags={self.flags:#x})"


def _table(ifp: Ifnet) -> dict[int, Llentry]:
    return cast("dict[int, Llentry]", ifp.lle)


def _zombies(vnet: VNet) -> list[Llentry]:
    """Entries marked LLE_DELETED (arp -d, the scrubbed entry of a deleted
    address): no lookup finds them, but they keep their timer and held
    packets until that timer or a prefix flush frees them."""
    return cast("list[Llentry]", vnet.arp_zombies)


def lla_lookup(ifp: Ifnet, addr: int) -> Llentry | None:
    """The live entry for ``addr`` in ``ifp``'s table (in_lltable_lookup
    without LLE_CREATE)."""
    return _table(ifp).get(addr)


def in_lltable_rtcheck(ifp: Ifnet, addr: int) -> bool:
    """May an entry for ``addr`` be created? A route must cover it in FIB 0
    (rtalloc1), whatever FIB the packet uses; a gateway route only counts
    as a host route via an ARP-capable Ethernet whose gateway is the address
    itself. (The kernel's extra test that a prefix route on another
    interface really covers the address always passes for the route a
    longest-prefix match returns.)"""
    rt = ifp.vnet.rt[0].lookup(addr)
    if rt is None:
        return False
    if rt.flags & RTF_GATEWAY:
        rifp = rt.ifp
        if (
            not rt.flags & RTF_HOST
            or rifp.type != IFT_ETHER
            or rifp.flags & IFF_NOARP
            or rt.gateway != addr
        ):
            return False
    return True


def _lle_create(ifp: Ifnet, addr: int, flags: int = 0) -> Llentry | None:
    """in_lltable_lookup with LLE_CREATE: None when the route check fails."""
    if not flags & LLE_IFADDR and not in_lltable_rtcheck(ifp, addr):
        return None
    lle = Llentry(ifp, addr, flags)
    _table(ifp)[addr] = lle
    return lle


# -- kernel log ---------------------------------------------------------------


def _log(vnet: VNet, pri: int | None, text: str) -> None:
    """log(9) (or printf when ``pri`` is None): the exact text, trailing
    newline included where the kernel has one."""
    lines = vnet.arp_log
    lines.append((pri, text))
    if len(lines) > ARP_LOG_MAX:
        del lines[: len(lines) - ARP_LOG_MAX]
    vnet.note(None, "kernel log: " + text.rstrip("\n"))


def _hex(b: bytes) -> str:
    """printf's %*D with ":" between bytes."""
    return ":".join(f"{x:02x}" for x in b)


def _log_rework(vnet: VNet) -> bool:
    """The 2012 rework of the ARP log lines (new wording and priorities,
    log_arp_permanent_modify obeyed), after 9.0-RELEASE."""
    return vnet.kernel.profile.arp_log_rework


# -- timers and freeing entries -------------------------------------------------


def _callout_reset(lle: Llentry, seconds: int) -> None:
    """callout_reset(&la_timer, hz * seconds, arptimer): an int product; a
    delay of zero or less (overflow included) runs one tick later."""
    ticks = ((HZ * seconds + 2**31) & 0xFFFFFFFF) - 2**31
    if lle.timer is not None:
        lle.timer.stop()
    clock = lle.ifp.vnet.kernel.clock
    lle.timer = clock.callout((ticks if ticks > 0 else 1) * TICK_NS, arptimer, lle)


def _unlink(lle: Llentry) -> bool:
    table = _table(lle.ifp)
    if table.get(lle.addr) is lle:
        del table[lle.addr]
        return True
    zombies = _zombies(lle.ifp.vnet)
    for i, z in enumerate(zombies):
        if z is lle:
            del zombies[i]
            return True
    return False


def llentry_free(lle: Llentry, why: str, reason: str = "arpstat.dropped") -> int:
    """Unlink an entry, stop its timer and free its held packets, each
    reported as dropped with ``why``. Returns how many were held (the
    caller decides whether arpstat.dropped counts them)."""
    _unlink(lle)
    if lle.timer is not None:
        lle.timer.stop()
        lle.timer = None
    vnet = lle.ifp.vnet
    held = lle.hold
    lle.hold = []
    for m in held:
        vnet.note_drop(m, why, reason)
    lle.flags &= ~LLE_VALID
    return len(held)


def arptimer(lle: Llentry) -> None:
    """The entry's timer: a dynamic entry (or one marked deleted) is freed
    with its held packets; a permanent one is left alone."""
    if lle.flags & LLE_STATIC:
        return
    lle.timer = None
    vnet = lle.ifp.vnet
    if not _unlink(lle):
        return
    why = f"arptimer: entry for {ntoa(lle.addr)} on {lle.ifp.name} expired"
    st = vnet.arpstat
    st.dropped += llentry_free(lle, why)
    st.timeouts += 1


def lltable_prefix_free(vnet: VNet, prefix: int, mask: int, flags: int, why: str) -> None:
    """Free the entries inside prefix/mask in every interface's table of the
    vnet (and entries already marked deleted); permanent ones only when
    ``flags`` has LLE_STATIC. Held packets count in arpstat.dropped."""
    st = vnet.arpstat
    doomed: list[Llentry] = []
    for ifp in vnet.ifnets:
        for lle in _table(ifp).values():
            if (lle.addr ^ prefix) & mask == 0 and (flags & LLE_STATIC or not lle.static):
                doomed.append(lle)
    for lle in _zombies(vnet):
        if (lle.addr ^ prefix) & mask == 0:
            doomed.append(lle)
    for lle in doomed:
        st.dropped += llentry_free(lle, why)


def arp_ifdown(ifp: Ifnet, ia: InIfaddr, keep_static: bool, why: str = "") -> None:
    """What in_scrubprefix does to the link-layer tables when an address
    goes (SIOCDIFADDR) or its interface goes down (PRC_IFDOWN): every entry
    inside the address's prefix is freed, in every interface's table,
    permanent ones included unless ``keep_static``. ``why`` says which
    (for the reason given with any held packet freed)."""
    if not why:
        why = "address deleted"
    plen = bin(ia.mask).count("1")
    text = (
        f"lltable_prefix_free: {ntoa(ia.subnet)}/{plen} flushed "
        f"({why}: {ntoa(ia.addr)} on {ifp.name})"
    )
    lltable_prefix_free(ifp.vnet, ia.subnet, ia.mask, 0 if keep_static else LLE_STATIC, text)


def arp_ifscrub(ifp: Ifnet, addr: int) -> None:
    """arp_ifscrub: the interface's own entry for ``addr`` is marked deleted
    (when an address with its loopback route is deleted)."""
    lle = _table(ifp).get(addr)
    if lle is None:
        return
    del _table(ifp)[addr]
    lle.flags = LLE_DELETED
    _zombies(ifp.vnet).append(lle)


def lltable_free(ifp: Ifnet) -> None:
    """The interface's table goes with it (if_detach): every entry is freed,
    held packets with it, without counting them in arpstat."""
    why = f"lltable_free: {ifp.name} detached"
    for lle in list(_table(ifp).values()):
        llentry_free(lle, why, "lltable_free")
    for lle in [z for z in _zombies(ifp.vnet) if z.ifp is ifp]:
        llentry_free(lle, why, "lltable_free")


# -- output ----------------------------------------------------------------------


def _arp_output(ifp: Ifnet, pkt: bytes, edst: bytes, why: str) -> None:
    """ether_output for AF_ARP: nothing goes out on an interface that is
    down; ar_hrd is always rewritten to Ethernet."""
    if not ifp.flags & IFF_UP:
        return
    frame = ETHER_HDR.pack(edst, ifp.lladdr, ETHERTYPE_ARP) + b"\x00\x01" + pkt[2:]
    ifp.output_frame(frame, None, why)


def arprequest(
    ifp: Ifnet,
    sip: int | None,
    tip: int,
    enaddr: bytes | None = None,
    why: str = "",
) -> None:
    """Broadcast a who-has for ``tip``. Without ``sip`` the sender address
    is the first of ``ifp``'s addresses whose subnet holds ``tip``, else its
    last address. Counted in txrequests even if the interface is down."""
    vnet = ifp.vnet
    if sip is None:
        ias = ifp.addrs_in
        if not ias:
            _log(vnet, None, "arprequest: cannot find matching address\n")
            return
        sip = ias[-1].addr
        for ia in ias:
            if not (ia.addr ^ tip) & ia.mask:
                sip = ia.addr
                break
    sha = ifp.lladdr if enaddr is None else enaddr
    pkt = ARP_PKT.pack(
        ARPHRD_ETHER, ETHERTYPE_IP, ETHER_ADDR_LEN, 4, ARPOP_REQUEST, sha, sip, bytes(6), tip
    )
    _arp_output(ifp, pkt, ETHER_BCAST, why or f"arp who-has {ntoa(tip)} tell {ntoa(sip)}")
    vnet.arpstat.txrequests += 1


def arp_ifinit(ifp: Ifnet, ia: InIfaddr) -> None:
    """A new address announces itself with a gratuitous request, and gets a
    permanent entry with the interface's MAC (what ``arp -a`` shows as the
    interface's own, permanent entry). An entry that already exists for the
    address is left as it is."""
    if ia.addr == 0 or not ifp.flags & IFF_UP:
        return
    arprequest(ifp, ia.addr, ia.addr, why=f"gratuitous arp for {ntoa(ia.addr)}")
    if _table(ifp).get(ia.addr) is None:
        lle = _lle_create(ifp, ia.addr, LLE_IFADDR | LLE_STATIC | LLE_VALID)
        if lle is not None:
            lle.mac = ifp.lladdr


def arp_lladdr_changed(ifp: Ifnet) -> None:
    """if_setlladdr on an interface that is up: arp_ifinit again for each of
    its addresses, so each is announced with the new MAC. The interface's
    own entries exist already and keep the old MAC (the lookup that would
    create them returns them unchanged)."""
    if not ifp.flags & IFF_UP:
        return
    for ia in list(ifp.addrs_in):
        arp_ifinit(ifp, ia)


# -- resolution -------------------------------------------------------------------


def arpresolve(ifp: Ifnet, m: Mbuf, dst: int, rt: Rtentry | None) -> bytes | int:
    """The link address for ``dst``; or, with ``m`` held while we ask, an
    errno: 0 for the EWOULDBLOCK that ether_output masks while fewer than
    net.link.ether.inet.maxtries requests went out, then EHOSTDOWN
    (EHOSTUNREACH through a gateway route). EINVAL, the packet freed, when
    no entry can be made (no route to ``dst`` in FIB 0, IFF_NOARP)."""
    lle: Llentry | None = ifp.lle.get(dst)  # type: ignore[assignment]
    if lle is not None and lle.flags & LLE_VALID and lle.flags & LLE_STATIC:
        # A permanent entry: no clock to read, nothing to renew.
        return lle.mac  # type: ignore[return-value]
    vnet = ifp.vnet
    if lle is None:
        if not ifp.flags & IFF_NOARP:
            lle = _lle_create(ifp, dst)
            if lle is None:
                _log(vnet, LOG_DEBUG, f"arpresolve: can't allocate llinfo for {ntoa(dst)}\n")
            elif not vnet.kernel.profile.separate_l2_table:
                _clone_announce(lle)
        if lle is None:
            vnet.note_drop(
                m, f"arpresolve: no ARP entry can be made for {ntoa(dst)}", "arpresolve: EINVAL"
            )
            return errno.EINVAL
    now = vnet.kernel.clock.now // NS  # time_uptime
    if lle.flags & LLE_VALID and (lle.flags & LLE_STATIC or lle.expire > now):
        if not lle.flags & LLE_STATIC and now + lle.preempt > lle.expire:
            # About to expire: ask again while the entry is still used.
            arprequest(ifp, None, dst)
            lle.preempt = (lle.preempt - 1) & 0xFFFF
        return cast(bytes, lle.mac)
    if lle.flags & LLE_STATIC:
        _log(vnet, LOG_DEBUG, f"arpresolve: ouch, empty static llinfo for {ntoa(dst)}\n")
        vnet.note_drop(
            m, f"arpresolve: permanent entry for {ntoa(dst)} has no address", "arpresolve: EINVAL"
        )
        return errno.EINVAL
    renew = lle.asked == 0 or lle.expire != now
    hold = lle.hold
    if len(hold) >= int(vnet.sc["net.link.ether.inet.maxhold"]) and hold:
        vnet.arpstat.dropped += 1
        vnet.note_drop(
            hold.pop(0), f"arpresolve: held packet for {ntoa(dst)} replaced by a newer one"
        )
    hold.append(m)
    vnet.note_held(m, f"arpresolve: waiting for ARP reply from {ntoa(dst)}")
    # la_asked (uint16_t) against the int sysctl.
    if lle.asked < int(vnet.sc["net.link.ether.inet.maxtries"]):
        error = 0
    elif rt is not None and rt.flags & RTF_GATEWAY:
        error = errno.EHOSTUNREACH
    else:
        error = errno.EHOSTDOWN
    if renew:
        lle.expire = now
        _callout_reset(lle, int(vnet.sc["net.link.ether.inet.wait"]))
        lle.asked = (lle.asked + 1) & 0xFFFF
        arprequest(ifp, None, dst)
    return error


def _release(ifp: Ifnet, lle: Llentry) -> None:
    """The held packets go out through if_output, oldest first, without a
    route: each is resolved again, so an entry that is already expired
    (max_age <= 0) holds it once more and asks again."""
    from kstack.net.if_ethersubr import ether_output

    held = lle.hold
    if not held:
        return
    lle.hold = []
    for m in held:
        ether_output(ifp, m, lle.addr, None)


# -- input ------------------------------------------------------------------------


def arpintr(ifp: Ifnet, pkt: bytes, mflags: int) -> Outcome:
    """arpintr(): the checks common to every protocol, then in_arpinput."""
    if ifp.flags & IFF_NOARP:
        return _NOARP
    vnet = ifp.vnet
    rework = _log_rework(vnet)
    if len(pkt) < ARP_HDR.size:
        _log(vnet, LOG_NOTICE if rework else LOG_ERR, "arp: runt packet -- m_pullup failed\n")
        return _RUNT
    hrd, pro, hln, pln, _op = ARP_HDR.unpack_from(pkt)
    if hrd not in _HRD_OK:
        text = f"arp: unknown hardware address format (0x{pkt[0]:02x}{pkt[1]:02x})"
        if rework:
            sha = pkt[8:14].ljust(6, b"\x00")
            tha = pkt[8 + hln + pln : 14 + hln + pln].ljust(6, b"\x00")
            text += f" (from {_hex(sha)} to {_hex(tha)})"
        _log(vnet, LOG_NOTICE if rework else LOG_ERR, text + "\n")
        return _BAD_HRD
    if len(pkt) < ARP_HDR.size + 2 * hln + 2 * pln:
        _log(vnet, LOG_NOTICE if rework else LOG_ERR, "arp: runt packet\n")
        return _RUNT
    vnet.arpstat.received += 1
    if pro != ETHERTYPE_IP:
        return _NOT_IP
    return in_arpinput(ifp, pkt)


def _find_ia(ifp: Ifnet, itaddr: int, isaddr: int) -> InIfaddr | None:
    """The address in_arpinput works with: ours on ``ifp`` equal to the
    target, else to the sender, else the interface's first address."""
    hash_ = ifp.vnet.in_ifaddrhash
    for addr in (itaddr, isaddr):
        for ia in hash_.get(addr, ()):
            if ia.ifp is ifp:
                return ia
    return ifp.addrs_in[0] if ifp.addrs_in else None


def in_arpinput(ifp: Ifnet, pkt: bytes) -> Outcome:
    """in_arpinput(): learn or refresh the sender, release what waited for
    it, answer requests for our addresses (and published or proxied ones)."""
    vnet = ifp.vnet
    rework = _log_rework(vnet)
    notice = LOG_NOTICE if rework else LOG_ERR
    if len(pkt) < ARP_HDR.size + 2 * ETHER_ADDR_LEN + 2 * 4:
        _log(vnet, notice, "in_arp: runt packet -- m_pullup failed\n")
        return _IN_RUNT
    _hrd, _pro, hln, pln, op = ARP_HDR.unpack_from(pkt)
    if pln != 4:
        _log(vnet, notice, "in_arp: requested protocol length != 4\n")
        return _BAD_PLN
    # The kernel compares ETHER_ADDR_LEN bytes at ar_sha whatever ar_hln says.
    sha6 = bytes(pkt[8:14])
    if sha6[0] & 1:
        if rework:
            _log(vnet, notice, f"in_arp: {_hex(sha6)} is multicast\n")
        else:
            _log(vnet, LOG_ERR, "in_arp: source hardware address is multicast.")
        return _MCAST_SHA
    spa = 8 + hln
    tpa = spa + 4 + hln
    isaddr = int.from_bytes(pkt[spa : spa + 4], "big")
    itaddr = int.from_bytes(pkt[tpa : tpa + 4], "big")
    st = vnet.arpstat
    if op == ARPOP_REPLY:
        st.rxreplies += 1
    ia = _find_ia(ifp, itaddr, isaddr)
    if ia is None:
        return _NOADDR
    enaddr = ifp.lladdr
    myaddr = ia.addr
    if sha6 == enaddr:
        return _OWN
    if sha6 == ETHER_BCAST:
        # Unreachable on Ethernet: the multicast test above caught it.
        _log(vnet, notice, f"arp: link address is broadcast for IP address {ntoa(isaddr)}!\n")
        return _BCAST_SHA
    learned = False
    kept_static = False
    if isaddr == myaddr and myaddr != 0:
        _log(
            vnet,
            LOG_ERR,
            f"arp: {_hex(sha6)} is using my IP address {ntoa(isaddr)} on {ifp.name}!\n",
        )
        itaddr = myaddr
        st.dupips += 1
    else:
        lle = _table(ifp).get(isaddr)
        if lle is None and itaddr == myaddr:
            lle = _lle_create(ifp, isaddr)
            if lle is not None and not vnet.kernel.profile.separate_l2_table:
                _clone_announce(lle)
        if lle is not None:
            # (The kernel's "is on X but got reply from Y on Z" test can not
            # fire here: the entry comes from the receiving interface's own
            # table.)
            if lle.flags & LLE_VALID and sha6 != lle.mac:
                if lle.flags & LLE_STATIC:
                    if not rework or int(
                        vnet.kernel.sc["net.link.ether.inet.log_arp_permanent_modify"]
                    ):
                        _log(
                            vnet,
                            LOG_ERR,
                            f"arp: {_hex(sha6)} attempts to modify permanent entry "
                            f"for {ntoa(isaddr)} on {ifp.name}\n",
                        )
                    kept_static = True
                elif int(vnet.kernel.sc["net.link.ether.inet.log_arp_movements"]):
                    _log(
                        vnet,
                        LOG_INFO,
                        f"arp: {ntoa(isaddr)} moved from {_hex(cast(bytes, lle.mac))} "
                        f"to {_hex(sha6)} on {ifp.name}\n",
                    )
            if not kept_static:
                if hln != ETHER_ADDR_LEN:
                    text = (
                        f"arp from {_hex(sha6)}: addr len: new {hln}, "
                        f"i/f {ETHER_ADDR_LEN} (ignored)"
                    )
                    _log(vnet, LOG_WARNING, text + ("\n" if rework else ""))
                    return _BAD_HLN
                lle.mac = sha6
                lle.flags |= LLE_VALID
                if not lle.flags & LLE_STATIC:
                    max_age = int(vnet.sc["net.link.ether.inet.max_age"])
                    lle.expire = vnet.kernel.clock.time_uptime + max_age
                    _callout_reset(lle, max_age)
                lle.asked = 0
                lle.preempt = int(vnet.sc["net.link.ether.inet.maxtries"]) & 0xFFFF
                learned = True
                _release(ifp, lle)
    # reply:
    if op != ARPOP_REQUEST:
        if isaddr == myaddr and myaddr != 0:
            return _DUPIP
        if kept_static:
            return _KEPT_STATIC
        return _LEARNED if learned else _NO_ENTRY
    st.rxrequests += 1
    outcome = _REPLIED
    if itaddr == myaddr:
        reply_sha = enaddr
        if isaddr == myaddr and myaddr != 0:
            outcome = _DUPIP_REPLIED
    else:
        pub = _table(ifp).get(itaddr)
        if pub is not None and pub.flags & LLE_PUB:
            reply_sha = cast(bytes, pub.mac)
            outcome = _PROXY_REPLIED
        else:
            if not int(vnet.sc["net.link.ether.inet.proxyall"]):
                return _IGNORED
            rt = vnet.rt[0].lookup(itaddr)
            if rt is None or rt.ifp is ifp:
                return _NO_PROXY
            reply_sha = enaddr
            back = vnet.rt[0].lookup(isaddr)
            if back is None:
                return _NO_PROXY
            if back.ifp is not ifp:
                _log(
                    vnet,
                    LOG_INFO,
                    f"arp_proxy: ignoring request from {ntoa(isaddr)} via {ifp.name}, "
                    f"expecting {back.ifp.name}\n",
                )
                return _NO_PROXY
            outcome = _PROXY_REPLIED
    # RFC 3927: a reply for our link-local (169.254/16) address is broadcast.
    linklocal = itaddr == myaddr and (itaddr & 0xFFFF0000) == 0xA9FE0000
    reply = bytearray(pkt[: ARP_HDR.size + 2 * hln + 8])
    tha = spa + 4
    reply[tha : tha + hln] = pkt[8 : 8 + hln]
    reply[8 : 8 + hln] = reply_sha[:hln].ljust(hln, b"\x00")
    reply[tpa : tpa + 4] = pkt[spa : spa + 4]
    reply[spa : spa + 4] = itaddr.to_bytes(4, "big")
    struct.pack_into("!H", reply, 2, ETHERTYPE_IP)
    struct.pack_into("!H", reply, 6, ARPOP_REPLY)
    edst = ETHER_BCAST if linklocal else bytes(reply[tha : tha + ETHER_ADDR_LEN]).ljust(6, b"\0")
    _arp_output(ifp, bytes(reply), edst, f"arp reply {ntoa(itaddr)} is-at {_hex(reply_sha)}")
    st.txreplies += 1
    return outcome


# -- arp(8) ----------------------------------------------------------------------


def arp_add_static(ifp: Ifnet, addr: int, mac: bytes, pub: bool = False) -> Llentry | None:
    """arp -s (lla_rt_output, RTM_ADD): the entry becomes permanent with the
    given MAC; ``pub`` publishes it (we answer requests for it, and a
    gratuitous request announces it). An existing entry keeps its timer and
    its held packets, which the next ARP packet from that address releases.
    None when no route covers the address (the kernel then does nothing)."""
    lle = _table(ifp).get(addr)
    if lle is None:
        lle = _lle_create(ifp, addr, LLE_PUB if pub else 0)
        if lle is None:
            return None
    lle.mac = mac
    if pub:
        lle.flags |= LLE_PUB
    lle.flags = (lle.flags | LLE_VALID | LLE_STATIC) & ~LLE_DELETED
    lle.expire = 0
    if pub:
        arprequest(ifp, addr, addr, enaddr=mac, why=f"gratuitous arp for published {ntoa(addr)}")
    return lle


def arp_delete(vnet: VNet, addr: str, iface: str | None = None) -> None:
    """arp -d (lla_rt_output, RTM_DELETE): the entry for ``addr`` (on
    ``iface``, else on the first interface that has one) is marked deleted.
    It disappears from the table at once, but a dynamic entry's timer still
    runs and frees it (counting a timeout and its held packets) when due.
    Deleting an interface's own entry is accepted and changes nothing.
    OSError(EINVAL) when there is no entry."""
    a = aton(addr)
    ifps = [vnet.iface(iface)] if iface is not None else list(vnet.ifnets)
    for ifp in ifps:
        lle = _table(ifp).get(a)
        if lle is None:
            continue
        if lle.flags & LLE_IFADDR:
            return
        if not vnet.kernel.profile.separate_l2_table:
            # 7.x: the cloned route is deleted, and arp_rtrequest(RTM_DELETE)
            # stops the timer and frees the held packet with it.
            llentry_free(lle, f"arp -d: route to {addr} deleted", "arp -d")
            return
        del _table(ifp)[a]
        lle.flags = LLE_DELETED
        _zombies(vnet).append(lle)
        return
    raise OSError(errno.EINVAL, f"no ARP entry for {addr}")


def arp_pending(vnet: VNet) -> list[str]:
    """One line per entry holding packets (for pending_work)."""
    out: list[str] = []
    now = vnet.kernel.clock.now
    entries: list[Llentry] = []
    for ifp in vnet.ifnets:
        entries.extend(lle for _, lle in sorted(_table(ifp).items()))
    entries.extend(_zombies(vnet))
    for lle in entries:
        n = len(lle.hold)
        if not n:
            continue
        what = "packet" if n == 1 else "packets"
        line = f"{n} {what} on {lle.ifp.name} waiting for the ARP reply of {ntoa(lle.addr)}"
        if lle.timer is not None and lle.timer.active and not lle.static:
            left = (lle.timer.deadline - now) / NS
            line += f"; the entry expires within {left:g} s"
        else:
            line += "; held until the entry goes"
        out.append(line)
    return out


# -- before the L2 table: ARP entries as cloned routes (separate_l2_table=0) ------
#
# Until the L2/L3 split of December 2008 (seed 001:149) an ARP entry was a
# host route in the routing table, cloned from the RTF_CLONING route of its
# interface by the lookup that first needed it (rtalloc1 with report set,
# then rtrequest1(RTM_RESOLVE) and arp_rtrequest). The routing code and the
# resolution timers are the same in both models, so the old side is a view
# over the link-layer table: route get, netstat -r and RTM_GET see the
# clone, a routing socket hears its RTM_ADD, and arp -d removes it at once.
# Nothing here runs under the 9.0 profile.


def _clones(rt: Rtentry) -> bool:
    """Did the 7.x kernel mark ``rt`` RTF_CLONING? The route to a network
    on an ARP-capable Ethernet (arp_ifinit set the flag on the address's
    route; arp_rtrequest put it back on any interface route with a mask)."""
    ifp = rt.ifp
    return (
        not rt.flags & (RTF_GATEWAY | RTF_HOST)
        and not rt.self_route
        and ifp.type == IFT_ETHER
        and not ifp.flags & IFF_NOARP
    )


def _clone_gateway(ifp: Ifnet, mac: bytes | None) -> bytes:
    """The clone's rt_gateway: the parent's empty sockaddr_dl with the
    interface's index and type, and the hardware address once known."""
    from kstack.net.rtsock import _big, sa_dl_gateway

    sdl = bytearray(sa_dl_gateway(ifp, _big(ifp.vnet)))
    if mac is not None:
        sdl[6] = len(mac)  # sdl_alen; sdl_nlen is 0, so LLADDR is sdl_data
        sdl[8 : 8 + len(mac)] = mac
    return bytes(sdl)


def _clone_route(parent: Rtentry, lle: Llentry) -> Rtentry:
    """The host route a 7.x kernel kept for ``lle``: UHLW for a learned
    entry (UHLS for arp -s), the parent's interface, address and MTU
    (RTM_RESOLVE copies the metrics), rmx_expire = the entry's expiry."""
    from dataclasses import replace

    from kstack.net.route import RTF_LLINFO, RTF_STATIC, RTF_UP, RTF_WASCLONED

    static = lle.flags & LLE_STATIC
    flags = RTF_UP | RTF_HOST | RTF_LLINFO | (RTF_STATIC if static else RTF_WASCLONED)
    mac = lle.mac if lle.flags & LLE_VALID else None
    return replace(
        parent,
        dst=lle.addr,
        plen=32,
        flags=flags,
        gateway=0,
        expire=0 if static else lle.expire,
        self_route=False,
        gw_sa=_clone_gateway(lle.ifp, mac),
        pksent=0,
    )


def _with_cloning(rt: Rtentry) -> Rtentry:
    from dataclasses import replace

    from kstack.net.route import RTF_CLONING

    return replace(rt, flags=rt.flags | RTF_CLONING)


def l2_route_view(vnet: VNet, fibnum: int, rt: Rtentry, dst: int) -> Rtentry:
    """What a 7.x lookup of ``dst`` that matched ``rt`` answered: the host
    route cloned for a live ARP entry of ``dst``, else ``rt`` (an interface
    route shows RTF_CLONING). ARP lookups cloned in FIB 0, the only FIB
    the view covers."""
    if fibnum != 0 or not _clones(rt):
        return rt
    lle = _table(rt.ifp).get(dst)
    if lle is None or lle.flags & LLE_IFADDR:
        return _with_cloning(rt)
    return _clone_route(rt, lle)


def l2_routes_view(vnet: VNet, fibnum: int, entries: list[Rtentry]) -> list[Rtentry]:
    """netstat -r of FIB ``fibnum`` in the 7.x model: the routes, the
    interface routes flagged RTF_CLONING, and one cloned host route per
    ARP entry (the interface's own addresses excepted)."""
    out = [_with_cloning(rt) if fibnum == 0 and _clones(rt) else rt for rt in entries]
    if fibnum != 0:
        return out
    table = vnet.rt[0]
    for ifp in vnet.ifnets:
        for addr, lle in _table(ifp).items():
            if lle.flags & LLE_IFADDR or table.hosts.get(addr) is not None:
                continue
            parent = table.match(addr)
            if parent is not None and parent.ifp is ifp and _clones(parent):
                out.append(_clone_route(parent, lle))
    return out


def _clone_announce(lle: Llentry) -> None:
    """rtalloc1 after a successful RTM_RESOLVE: routing sockets get an
    RTM_ADD of the new host route (destination, the still empty link-level
    gateway, the interface's link address and the interface address)."""
    from kstack.net.rtsock import _any, _big, rt_missmsg, sa_dl, sa_in
    from kstack.sock import RTM_ADD

    vnet = lle.ifp.vnet
    if not _any(vnet):
        return
    parent = vnet.rt[0].match(lle.addr)
    if parent is None or not _clones(parent):
        return
    rt = _clone_route(parent, lle)
    info: list[bytes | None] = [sa_in(rt.dst), rt.gw_sa, None, None]
    info += [sa_dl(rt.ifp, _big(vnet)), sa_in(rt.ifa.addr) if rt.ifa is not None else None]
    info += [None, None]
    rt_missmsg(vnet, RTM_ADD, info, rt.flags, 0)


def l2_route_delete(vnet: VNet, fibnum: int, dst: int) -> Rtentry | None:
    """RTM_DELETE of the host route ``dst`` (what arp -d wrote) in the 7.x
    model, when no real host route has that key: the ARP entry's clone is
    removed at once, held packet included. Returns the clone as it was
    (for the echo), or None when there is none."""
    table = vnet.rt[fibnum]
    if fibnum != 0 or table.hosts.get(dst) is not None:
        return None
    parent = table.match(dst)
    if parent is None or not _clones(parent):
        return None
    lle = _table(parent.ifp).get(dst)
    if lle is None or lle.flags & LLE_IFADDR:
        return None
    rt = _clone_route(parent, lle)
    llentry_free(lle, f"RTM_DELETE: route to {ntoa(dst)} deleted", "arp -d")
    return rt
