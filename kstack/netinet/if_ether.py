"""ARP (netinet/if_ether.c): resolution with a held packet, replies for our
addresses, learning, static entries, expiry on the virtual clock.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from kstack.kern.clock import HZ, TICK_NS
from kstack.kern.sysctl import CTLFLAG_RW, CTLFLAG_VNET, CTLTYPE_INT, Oid
from kstack.net.if_var import IFF_NOARP, IFF_UP
from kstack.net.route import RTF_GATEWAY
from kstack.netinet.ip import ntoa
from kstack.outcome import ANSWERED, DELIVERED, Outcome, dropped

if TYPE_CHECKING:
    from kstack.kern.clock import Callout
    from kstack.kern.mbuf import Mbuf
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.route import Rtentry

ARPHRD_ETHER = 1
ARPHRD_IEEE802 = 6
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ARP_PKT = struct.Struct("!HHBBH6sI6sI")  # ether_arp
ETHER_BCAST = b"\xff" * 6
ETHER_HDR = struct.Struct("!6s6sH")
ETHERTYPE_ARP = 0x0806

LLE_VALID = 0x0008
LLE_STATIC = 0x0002

ARP_OIDS = (
    Oid(
        "net.link.ether.inet.max_age",
        CTLTYPE_INT,
        20 * 60,
        CTLFLAG_RW | CTLFLAG_VNET,
        "Seconds a learned ARP entry stays valid",
    ),
    Oid(
        "net.link.ether.inet.maxtries",
        CTLTYPE_INT,
        5,
        CTLFLAG_RW | CTLFLAG_VNET,
        "ARP requests sent for one address before it is deemed down",
    ),
    Oid(
        "net.link.ether.inet.useloopback",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW | CTLFLAG_VNET,
        "Send traffic for local addresses through the loopback interface",
    ),
    Oid(
        "net.link.ether.inet.proxyall",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW | CTLFLAG_VNET,
        "Answer ARP for every address the host has a route to",
    ),
)

ARPT_DOWN = 20  # seconds an unanswered entry lingers (arpt_down)

_BAD = dropped("in_arpinput: malformed or not Ethernet/IPv4")
_OWN = dropped("in_arpinput: our own request")
_BCAST_SHA = dropped("in_arpinput: sender link address is broadcast")
_NOADDR = dropped("in_arpinput: no IPv4 address on the interface")
_LEARNED = Outcome(DELIVERED, "in_arpinput", "arp table")
_IGNORED = Outcome(DELIVERED, "in_arpinput: not for us", "arp")
_REPLIED = Outcome(ANSWERED, "in_arpinput: reply sent", "arp")


class Llentry:
    """One ARP table entry (struct llentry)."""

    __slots__ = ("addr", "mac", "flags", "expire", "hold", "asked", "timer", "preempt", "ifp")

    def __init__(self, ifp: Ifnet, addr: int) -> None:
        self.ifp = ifp
        self.addr = addr
        self.mac: bytes | None = None
        self.flags = 0
        self.expire = 0  # time_uptime seconds
        self.hold: Mbuf | None = None
        self.asked = 0
        self.timer: Callout | None = None
        self.preempt = 0

    @property
    def static(self) -> bool:
        return bool(self.flags & LLE_STATIC)


def _table(ifp: Ifnet) -> dict[int, Llentry]:
    return ifp.lle  # type: ignore[return-value]


def _arm(lle: Llentry, seconds: int) -> None:
    _arm_ticks(lle, seconds * HZ)


def _arm_ticks(lle: Llentry, ticks: int) -> None:
    if lle.timer is not None:
        lle.timer.stop()
    clock = lle.ifp.vnet.kernel.clock
    lle.timer = clock.callout(ticks * TICK_NS, arptimer, lle)


def arptimer(lle: Llentry) -> None:
    """Expiry of a dynamic entry: it is freed along with any held packet."""
    table = _table(lle.ifp)
    if table.get(lle.addr) is lle and not lle.static:
        del table[lle.addr]
        if lle.hold is not None:
            lle.ifp.vnet.note_drop(lle.hold, "arptimer: entry expired with a held packet")
            lle.hold = None


def arprequest(ifp: Ifnet, sip: int | None, tip: int, why: str = "") -> None:
    """Broadcast a who-has for ``tip``; the sender address is one of ours on
    ``ifp`` (the one whose subnet holds ``tip``, else the first)."""
    if sip is None:
        ias = ifp.addrs_in
        if not ias:
            return
        sip = ias[0].addr
        for ia in ias:
            if (tip & ia.mask) == ia.subnet:
                sip = ia.addr
                break
    pkt = ARP_PKT.pack(ARPHRD_ETHER, 0x0800, 6, 4, ARPOP_REQUEST, ifp.lladdr, sip, b"\x00" * 6, tip)
    frame = ETHER_HDR.pack(ETHER_BCAST, ifp.lladdr, ETHERTYPE_ARP) + pkt
    ifp.output_frame(frame, None, why or f"arp who-has {ntoa(tip)} tell {ntoa(sip)}")


def arp_ifinit(ifp: Ifnet, ia: InIfaddr) -> None:
    """A new address announces itself with a gratuitous request."""
    if ifp.flags & IFF_NOARP or not ifp.flags & IFF_UP:
        return
    arprequest(ifp, ia.addr, ia.addr, f"gratuitous arp for {ntoa(ia.addr)}")


def arpresolve(ifp: Ifnet, m: Mbuf, dst: int, rt: Rtentry | None) -> bytes | int:
    """The link address for ``dst``; or, with ``m`` held while we ask, an
    errno: 0 for the EWOULDBLOCK that ether_output masks while fewer than
    net.link.ether.inet.maxtries requests went out, then EHOSTDOWN
    (EHOSTUNREACH through a gateway route). A new request goes out at most
    once a second, whatever maxtries says."""
    table = _table(ifp)
    lle = table.get(dst)
    vnet = ifp.vnet
    clock = vnet.kernel.clock
    now = clock.time_uptime
    if lle is not None and lle.flags & LLE_VALID and (lle.static or lle.expire > now):
        if not lle.static and now + lle.preempt > lle.expire:
            # About to expire: refresh it before it does.
            arprequest(ifp, None, dst)
            lle.preempt = (lle.preempt - 1) & 0xFFFF
        return lle.mac  # type: ignore[return-value]
    if lle is None:
        lle = Llentry(ifp, dst)
        table[dst] = lle
    renew = lle.asked == 0 or lle.expire != now
    if lle.hold is not None:
        vnet.note_drop(lle.hold, "arpresolve: held packet replaced by a newer one")
    lle.hold = m
    vnet.note_held(m, f"arpresolve: waiting for ARP reply from {ntoa(dst)}")
    # la_asked is a uint16_t compared with the int sysctl.
    if lle.asked < int(vnet.sc["net.link.ether.inet.maxtries"]):
        error = 0
    elif rt is not None and rt.flags & RTF_GATEWAY:
        error = errno.EHOSTUNREACH
    else:
        error = errno.EHOSTDOWN
    if renew:
        lle.expire = now
        _arm(lle, ARPT_DOWN)
        lle.asked = (lle.asked + 1) & 0xFFFF
        arprequest(ifp, None, dst)
    return error


def arp_add_static(ifp: Ifnet, addr: int, mac: bytes) -> Llentry:
    table = _table(ifp)
    lle = table.get(addr)
    if lle is None:
        lle = Llentry(ifp, addr)
        table[addr] = lle
    if lle.timer is not None:
        lle.timer.stop()
        lle.timer = None
    lle.mac = mac
    lle.flags = LLE_VALID | LLE_STATIC
    _release(ifp, lle)
    return lle


def _release(ifp: Ifnet, lle: Llentry) -> None:
    """The held packet goes out through if_output, without a route: it is
    resolved again (in_arpinput), so an entry that is already expired
    (max_age <= 0) holds it once more and asks again."""
    from kstack.net.if_ethersubr import ether_output

    m = lle.hold
    if m is not None and lle.mac is not None:
        lle.hold = None
        ether_output(ifp, m, lle.addr, None)


def arpintr(ifp: Ifnet, pkt: bytes, mflags: int) -> Outcome:
    """in_arpinput(): learn the sender, answer requests for our addresses."""
    if len(pkt) < ARP_PKT.size:
        return _BAD
    hrd, pro, hln, pln, op, sha, isaddr, _tha, itaddr = ARP_PKT.unpack_from(pkt)
    if hrd not in (ARPHRD_ETHER, ARPHRD_IEEE802) or pro != 0x0800 or hln != 6 or pln != 4:
        return _BAD
    ias = ifp.addrs_in
    ia = None
    for cand in ias:
        if cand.addr == itaddr:
            ia = cand
            break
    if ia is None:
        for cand in ias:
            if cand.addr == isaddr:
                ia = cand
                break
    if ia is None:
        if not ias:
            return _NOADDR
        ia = ias[0]
    myaddr = ia.addr
    if sha == ifp.lladdr:
        return _OWN
    if sha == ETHER_BCAST:
        return _BCAST_SHA
    vnet = ifp.vnet
    if isaddr == myaddr:
        # Someone else claims our address; the kernel logs it and answers.
        itaddr = myaddr
    elif not ifp.flags & IFF_NOARP:
        table = _table(ifp)
        lle = table.get(isaddr)
        if lle is None and itaddr == myaddr:
            lle = Llentry(ifp, isaddr)
            table[isaddr] = lle
        if lle is not None and not lle.static:
            now = vnet.kernel.clock.time_uptime
            lle.mac = bytes(sha)
            lle.flags |= LLE_VALID
            lle.asked = 0
            max_age = int(vnet.sc["net.link.ether.inet.max_age"])
            lle.expire = now + max_age
            lle.preempt = int(vnet.sc["net.link.ether.inet.maxtries"]) & 0xFFFF  # uint16_t
            # callout_reset(hz * arpt_keep): an int product; callout(9) runs a
            # delay of zero or less (overflow included) one tick later.
            ticks = ((HZ * max_age + 2**31) & 0xFFFFFFFF) - 2**31
            _arm_ticks(lle, ticks if ticks > 0 else 1)
            _release(ifp, lle)
    if op != ARPOP_REQUEST or itaddr != myaddr:
        return _LEARNED if op == ARPOP_REPLY else _IGNORED
    reply = ARP_PKT.pack(ARPHRD_ETHER, 0x0800, 6, 4, ARPOP_REPLY, ifp.lladdr, itaddr, sha, isaddr)
    frame = ETHER_HDR.pack(sha, ifp.lladdr, ETHERTYPE_ARP) + reply
    ifp.output_frame(frame, None, f"arp reply {ntoa(itaddr)} is-at {ifp.ether}")
    return _REPLIED


def arp_ifdown(ifp: Ifnet, ia: InIfaddr, keep_static: bool) -> None:
    """Flush the entries inside ``ia``'s prefix (lltable_prefix_free)."""
    table = _table(ifp)
    for addr, lle in list(table.items()):
        if (addr & ia.mask) != ia.subnet:
            continue
        if keep_static and lle.static:
            continue
        if lle.timer is not None:
            lle.timer.stop()
        del table[addr]
