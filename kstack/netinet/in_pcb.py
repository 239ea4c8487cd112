"""Internet protocol control blocks (netinet/in_pcb.c, in_pcbgroup.c).

One :class:`Pcbinfo` per protocol per vnet holds every :class:`Inpcb` in
creation order (newest first, as LIST_INSERT_HEAD leaves them), a hash of
bound sockets keyed by (foreign address, local port, foreign port) and a
port hash for bind-time conflict checks. Lookups walk those lists in the
kernel's order, so when several sockets could take a packet the one FreeBSD
picks is the one returned.

With ``options PCBGROUP`` connected sockets also live in one connection
group chosen by a hash of their 4-tuple, and wildcard sockets in a table
shared by every group; a lookup consults the group of the packet's 4-tuple.
Groups change where the search happens, never what it finds.
"""

from __future__ import annotations

import errno
import zlib
from itertools import chain, filterfalse
from typing import TYPE_CHECKING, Any

from kstack.kern.cred import (
    PRIV_NETINET_RESERVEDPORT,
    PRIV_NETINET_REUSEPORT,
    Ucred,
    jailed_ip4,
    priv_check_cred,
)
from kstack.net.if_var import IFF_BROADCAST, IFF_LOOPBACK
from kstack.netinet.in_ import ifa_ifwithaddr, ifa_ifwithdstaddr, ifa_ifwithnet
from kstack.netinet.ip import INADDR_ANY, INADDR_BROADCAST, in_multicast
from kstack.sock import SO_DONTROUTE, SO_REUSEADDR, SO_REUSEPORT

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Socket
    from kstack.net.vnet import VNet

# inp_flags (netinet/in_pcb.h, 9.x values)
INP_RECVOPTS = 0x00000001
INP_RECVRETOPTS = 0x00000002
INP_RECVDSTADDR = 0x00000004
INP_HDRINCL = 0x00000008
INP_HIGHPORT = 0x00000010
INP_LOWPORT = 0x00000020
INP_ANONPORT = 0x00000040
INP_RECVIF = 0x00000080
INP_MTUDISC = 0x00000100
INP_FAITH = 0x00000200
INP_RECVTTL = 0x00000400
INP_DONTFRAG = 0x00000800
INP_BINDANY = 0x00001000
INP_INHASHLIST = 0x00002000
INP_RECVTOS = 0x00004000
INP_ONESBCAST = 0x02000000
INP_CONTROLOPTS = (
    INP_RECVOPTS | INP_RECVRETOPTS | INP_RECVDSTADDR | INP_RECVIF | INP_RECVTTL | INP_RECVTOS
)

INP_REUSEPORT = 0x00000008  # inp_flags2: SO_REUSEPORT as the pcb last heard it

INPLOOKUP_WILDCARD = 1

NPCBGROUPS = 4  # connection groups with options PCBGROUP (one per CPU)


class Inpcb:
    """struct inpcb: addresses and ports (host order ints), per-socket IP
    settings, and the lists it sits on."""

    __slots__ = (
        "so",
        "pcbinfo",
        "cred",
        "laddr",
        "lport",
        "faddr",
        "fport",
        "ip_p",
        "ttl",
        "tos",
        "minttl",
        "flags",
        "flags2",
        "moptions",
        "options",
        "fibnum",
        "hashed",
        "group",
        "group_key",
        "serial",
    )

    def __init__(self, so: Socket, pcbinfo: Pcbinfo, cred: Ucred) -> None:
        self.so = so
        self.pcbinfo = pcbinfo
        self.cred = cred
        self.laddr = INADDR_ANY
        self.lport = 0
        self.faddr = INADDR_ANY
        self.fport = 0
        self.ip_p = 0
        self.ttl = 64
        self.tos = 0
        self.minttl = 0
        self.flags = 0
        self.flags2 = 0
        self.moptions: Any = None  # struct ip_moptions, once a multicast option was used
        self.options = b""  # IP_OPTIONS as set by the user
        self.fibnum = 0
        self.hashed = False
        self.group: int | None = None
        self.group_key: Any = None  # where _group_update filed it
        self.serial = 0

    def __repr__(self) -> str:
        from kstack.netinet.ip import ntoa

        return (
            f"<inpcb {self.pcbinfo.name} {ntoa(self.laddr)}:{self.lport} "
            f"{ntoa(self.faddr)}:{self.fport}>"
        )


def _tuple_hash(laddr: int, lport: int, faddr: int, fport: int) -> int:
    """The connection-group hash of a 4-tuple (any fixed hash serves: the
    choice of group is not observable)."""
    return zlib.crc32(
        laddr.to_bytes(4, "big")
        + faddr.to_bytes(4, "big")
        + bytes((lport >> 8, lport & 0xFF, fport >> 8, fport & 0xFF))
    )


class Pcbinfo:
    """struct inpcbinfo for one protocol in one vnet."""

    def __init__(self, vnet: VNet, name: str, *, groups: bool = False) -> None:
        self.vnet = vnet
        self.name = name
        self.listhead: list[Inpcb] = []  # every pcb, newest first
        self.hash: dict[tuple[int, int, int], list[Inpcb]] = {}
        self.porthash: dict[int, list[Inpcb]] = {}
        self.lastport = 0
        self.lasthi = 0
        self.lastlow = 0
        self.serial = 0
        self.groups_enabled = groups
        # Connection groups: exact (4-tuple) tables, and the shared wildcard table.
        self.group_hash: list[dict[tuple[int, int, int, int], list[Inpcb]]] = [
            {} for _ in range(NPCBGROUPS if groups else 0)
        ]
        self.wild_hash: dict[int, list[Inpcb]] = {}
        # Bumped by every change to the hashes; in_pcb_lport remembers, per
        # range, address and jail, the generation at which it found every
        # port of the range taken, and answers at once while it holds.
        self.generation = 0
        self.exhausted: dict[tuple[Any, ...], int] = {}
        self.jailed_hashed = 0  # hashed pcbs of jails that restrict IPv4

    # -- list maintenance --------------------------------------------------

    def alloc(self, so: Socket, cred: Ucred) -> Inpcb:
        inp = Inpcb(so, self, cred)
        self.serial += 1
        inp.serial = self.serial
        self.listhead.insert(0, inp)
        return inp

    def inshash(self, inp: Inpcb) -> int:
        """in_pcbinshash: enter a bound pcb into the lookup tables."""
        key = (inp.faddr, inp.lport, inp.fport)
        self.hash.setdefault(key, []).insert(0, inp)
        self.porthash.setdefault(inp.lport, []).insert(0, inp)
        inp.hashed = True
        self.generation += 1
        if jailed_ip4(inp.cred):
            self.jailed_hashed += 1
        if self.groups_enabled:
            self._group_update(inp)
        return 0

    def remhash(self, inp: Inpcb) -> None:
        if not inp.hashed:
            return
        self.generation += 1
        if jailed_ip4(inp.cred):
            self.jailed_hashed -= 1
        key = (inp.faddr, inp.lport, inp.fport)
        bucket = self.hash.get(key)
        if bucket is not None and inp in bucket:
            bucket.remove(inp)
            if not bucket:
                del self.hash[key]
        ports = self.porthash.get(inp.lport)
        if ports is not None and inp in ports:
            ports.remove(inp)
            if not ports:
                del self.porthash[inp.lport]
        inp.hashed = False
        if self.groups_enabled:
            self._group_remove(inp)

    def rehash(self, inp: Inpcb, old: tuple[int, int, int]) -> None:
        """in_pcbrehash: the pcb moves to the head of its new hash chain."""
        self.generation += 1
        bucket = self.hash.get(old)
        if bucket is not None and inp in bucket:
            bucket.remove(inp)
            if not bucket:
                del self.hash[old]
        self.hash.setdefault((inp.faddr, inp.lport, inp.fport), []).insert(0, inp)
        if self.groups_enabled:
            self._group_remove(inp)
            self._group_update(inp)

    def detach(self, inp: Inpcb) -> None:
        """in_pcbdetach + in_pcbfree: off every list and hash."""
        self.remhash(inp)
        if inp in self.listhead:
            self.listhead.remove(inp)

    # -- connection groups (in_pcbgroup.c) ----------------------------------

    def _group_update(self, inp: Inpcb) -> None:
        if inp.faddr == INADDR_ANY:  # in_pcbwild: a member of every group
            self.wild_hash.setdefault(inp.lport, []).insert(0, inp)
            inp.group = -1
            inp.group_key = inp.lport
        else:
            g = _tuple_hash(inp.laddr, inp.lport, inp.faddr, inp.fport) % NPCBGROUPS
            key = (inp.faddr, inp.lport, inp.fport, inp.laddr)
            self.group_hash[g].setdefault(key, []).insert(0, inp)
            inp.group = g
            inp.group_key = key

    def _group_remove(self, inp: Inpcb) -> None:
        """Take the pcb out of the table it was filed in (by the key it was
        filed under: its addresses may have changed since); an emptied
        chain goes too."""
        g = inp.group
        if g is None:
            return
        table: dict[Any, list[Inpcb]] = self.wild_hash if g == -1 else self.group_hash[g]
        key = inp.group_key
        lst = table.get(key)
        if lst is not None and inp in lst:
            lst.remove(inp)
            if not lst:
                del table[key]
        inp.group = None
        inp.group_key = None

    # -- lookups ------------------------------------------------------------

    def lookup_local(
        self, laddr: int, lport: int, wildcard: bool, cred: Ucred | None
    ) -> Inpcb | None:
        """in_pcblookup_local: the pcb a bind to (laddr, lport) collides with.

        Without ``wildcard`` only an unconnected pcb bound to exactly
        ``laddr`` counts; with it, the pcb needing the fewest wildcards.
        """
        if not wildcard:
            for inp in self.hash.get((INADDR_ANY, lport, 0), ()):
                if (
                    inp.faddr == INADDR_ANY
                    and inp.laddr == laddr
                    and inp.lport == lport
                    and (cred is None or _prison_equal(cred, inp.cred))
                ):
                    return inp
            return None
        match = None
        matchwild = 3
        for inp in self.porthash.get(lport, ()):
            if cred is not None and not _prison_equal(cred, inp.cred):
                continue
            wild = 0
            if inp.faddr != INADDR_ANY:
                wild += 1
            if inp.laddr != INADDR_ANY:
                if laddr == INADDR_ANY:
                    wild += 1
                elif inp.laddr != laddr:
                    continue
            elif laddr != INADDR_ANY:
                wild += 1
            if wild < matchwild:
                match = inp
                matchwild = wild
                if wild == 0:
                    break
        return match

    def lookup(
        self, faddr: int, fport: int, laddr: int, lport: int, wildcard: bool = True
    ) -> Inpcb | None:
        """in_pcblookup: the pcb an arriving packet belongs to. With
        connection groups the packet's group is searched instead."""
        if self.groups_enabled:
            return self._lookup_group(faddr, fport, laddr, lport, wildcard)
        return self._lookup_hash(faddr, fport, laddr, lport, wildcard)

    def _lookup_hash(
        self, faddr: int, fport: int, laddr: int, lport: int, wildcard: bool
    ) -> Inpcb | None:
        chain = self.hash.get((faddr, lport, fport))
        got = _exact_match(chain, faddr, fport, laddr, lport) if chain else None
        if got is not None or not wildcard:
            return got
        return _wild_match(self.hash.get((INADDR_ANY, lport, 0), ()), laddr, lport)

    def _lookup_group(
        self, faddr: int, fport: int, laddr: int, lport: int, wildcard: bool
    ) -> Inpcb | None:
        g = _tuple_hash(laddr, lport, faddr, fport) % NPCBGROUPS
        chain = self.group_hash[g].get((faddr, lport, fport, laddr), ())
        got = _exact_match(chain, faddr, fport, laddr, lport)
        if got is not None or not wildcard:
            return got
        return _wild_match(self.wild_hash.get(lport, ()), laddr, lport)


def _exact_match(
    chain: list[Inpcb] | tuple[()], faddr: int, fport: int, laddr: int, lport: int
) -> Inpcb | None:
    """The exact pass of in_pcblookup_hash: a jailed match wins at once,
    else the first host socket with the whole 4-tuple."""
    tmp = None
    for inp in chain:
        if inp.laddr == laddr and inp.faddr == faddr and inp.fport == fport and inp.lport == lport:
            if jailed_ip4(inp.cred):
                return inp
            if tmp is None:
                tmp = inp
    return tmp


def _wild_match(chain: list[Inpcb] | tuple[()], laddr: int, lport: int) -> Inpcb | None:
    """The wildcard pass of in_pcblookup_hash: a jailed socket bound to the
    address wins at once; then a jailed wildcard, a host socket bound to the
    address (the first met, newest), a host wildcard (the last met: the
    oldest, since later ones overwrite it)."""
    local_wild: Inpcb | None = None
    local_exact: Inpcb | None = None
    jail_wild: Inpcb | None = None
    for inp in chain:
        if inp.faddr != INADDR_ANY or inp.lport != lport:
            continue
        injail = jailed_ip4(inp.cred)
        if injail:
            if not _prison_has(inp.cred, laddr):
                continue
        elif local_exact is not None:
            continue
        if inp.laddr == laddr:
            if injail:
                return inp
            local_exact = inp
        elif inp.laddr == INADDR_ANY:
            if injail:
                jail_wild = inp
            else:
                local_wild = inp
    if jail_wild is not None:
        return jail_wild
    if local_exact is not None:
        return local_exact
    return local_wild


def _prison_equal(a: Ucred, b: Ucred) -> bool:
    """prison_equal_ip4: both credentials see the same address set."""
    pa = a.prison if jailed_ip4(a) else None
    pb = b.prison if jailed_ip4(b) else None
    return pa is pb


def _prison_has(cred: Ucred, addr: int) -> bool:
    prison = cred.prison
    check = getattr(prison, "check_ip4", None)
    return check is None or check(addr) == 0


# -- bind and connect ---------------------------------------------------------


def in_pcb_lport(inp: Inpcb, laddr: int, cred: Ucred, wildcard: bool) -> tuple[int, int]:
    """Pick an ephemeral port: (errno, port).

    The range comes from IP_PORTRANGE (default, high, low). With
    net.inet.ip.portrange.randomized the search starts at a random point;
    the first candidate is the one after the starting point, and the search
    walks upward, wrapping, until a free port or the range is exhausted.

    A walk that found every port taken is remembered (per range, local
    address, wildcard mode and jail) until a pcb enters, leaves or moves in
    the hashes: the next search in that state fails at once, drawing the
    random start and leaving the range's last port where the whole walk
    would have left it.
    """
    pcbinfo = inp.pcbinfo
    sc = pcbinfo.vnet.sc
    if inp.flags & INP_HIGHPORT:
        first = int(sc["net.inet.ip.portrange.hifirst"])
        last = int(sc["net.inet.ip.portrange.hilast"])
        which = "lasthi"
    elif inp.flags & INP_LOWPORT:
        err = priv_check_cred(cred, PRIV_NETINET_RESERVEDPORT)
        if err:
            return err, 0
        first = int(sc["net.inet.ip.portrange.lowfirst"])
        last = int(sc["net.inet.ip.portrange.lowlast"])
        which = "lastlow"
    else:
        first = int(sc["net.inet.ip.portrange.first"])
        last = int(sc["net.inet.ip.portrange.last"])
        which = "lastport"
    # UDP always randomises; the randomcps/randomtime pause (ipport_tick)
    # applies to TCP allocations only, and TCP has no sockets here.
    dorandom = bool(sc["net.inet.ip.portrange.randomized"])
    if first == last:
        dorandom = False
    if first > last:
        first, last = last, first
    lastport = int(getattr(pcbinfo, which))
    if dorandom:
        lastport = (first + pcbinfo.vnet.rng.arc4random() % (last - first)) & 0xFFFF
    count = last - first
    # The kernel's walk: from the port after lastport (first when that is
    # outside the range) upward, wrapping from last to first, each of the
    # count + 1 ports once; lastport is left on the port it stopped at.
    start = (lastport + 1) & 0xFFFF
    if start < first or start > last:
        start = first
    walk_end = first + (start - first + count) % (count + 1)
    full_key = (which, first, last, laddr, wildcard, id(cred.prison) if jailed_ip4(cred) else 0)
    if pcbinfo.exhausted.get(full_key) == pcbinfo.generation:
        setattr(pcbinfo, which, walk_end)
        return errno.EADDRNOTAVAIL, 0
    porthash = pcbinfo.porthash
    ring = chain(range(start, last + 1), range(first, start))
    # A port no pcb holds is free (both lookups search pcbs by port).
    # Without jails on either side, a wildcard search for INADDR_ANY
    # collides with whatever pcb holds the port: membership says it all.
    if wildcard and laddr == INADDR_ANY and not pcbinfo.jailed_hashed and not jailed_ip4(cred):
        port = next(filterfalse(porthash.__contains__, ring), None)
    else:
        lookup_local = pcbinfo.lookup_local
        port = next(
            (
                p
                for p in ring
                if p not in porthash or lookup_local(laddr, p, wildcard, cred) is None
            ),
            None,
        )
    if port is None:
        setattr(pcbinfo, which, walk_end)
        if len(pcbinfo.exhausted) >= 64:
            pcbinfo.exhausted.clear()
        pcbinfo.exhausted[full_key] = pcbinfo.generation
        return errno.EADDRNOTAVAIL, 0
    setattr(pcbinfo, which, port)
    return 0, port


def in_pcbbind_setup(
    inp: Inpcb, sa: tuple[int, int, int, int] | None, laddr: int, lport: int, cred: Ucred
) -> tuple[int, int, int]:
    """The checks of bind(2) and of an implicit bind: (errno, laddr, lport).

    ``sa`` is (sa_len, family, addr, port) or None for an implicit bind.
    """
    vnet = inp.pcbinfo.vnet
    so = inp.so
    if not vnet.in_ifaddrhead:
        return errno.EADDRNOTAVAIL, 0, 0
    if sa is not None and laddr != INADDR_ANY:
        return errno.EINVAL, 0, 0
    reuseport = so.so_options & SO_REUSEPORT
    wildcard = not so.so_options & (SO_REUSEADDR | SO_REUSEPORT)
    cur_lport = lport
    # The port to claim: only a new one is checked for conflicts; naming
    # the port the pcb already holds (IP_SENDSRCADDR does) checks nothing.
    lport = 0
    if sa is None:
        err, laddr = prison_local_ip4(cred, laddr)
        if err:
            return err, 0, 0
    else:
        sa_len, _family, addr, port = sa
        if sa_len != 16:
            return errno.EINVAL, 0, 0
        err, addr = prison_local_ip4(cred, addr)
        if err:
            # Before seed 000:358 the caller answered a fixed EINVAL.
            if not so.vnet.kernel.profile.prison_errno_passthrough:
                err = errno.EINVAL
            return err, 0, 0
        if port != cur_lport:
            if cur_lport != 0:
                return errno.EINVAL, 0, 0
            lport = port
        if in_multicast(addr):
            # SO_REUSEADDR means SO_REUSEPORT for a multicast address.
            if so.so_options & SO_REUSEADDR:
                reuseport = SO_REUSEADDR | SO_REUSEPORT
        elif (
            addr != INADDR_ANY
            and not inp.flags & INP_BINDANY
            and ifa_ifwithaddr(vnet, addr) is None
        ):
            return errno.EADDRNOTAVAIL, 0, 0
        laddr = addr
        if lport:
            sc = vnet.sc
            if int(sc["net.inet.ip.portrange.reservedlow"]) <= lport <= int(
                sc["net.inet.ip.portrange.reservedhigh"]
            ) and priv_check_cred(cred, PRIV_NETINET_RESERVEDPORT):
                return errno.EACCES, 0, 0
            if not in_multicast(addr) and priv_check_cred(inp.cred, PRIV_NETINET_REUSEPORT):
                t = inp.pcbinfo.lookup_local(addr, lport, True, cred)
                if (
                    t is not None
                    and (
                        addr != INADDR_ANY or t.laddr != INADDR_ANY or not t.flags2 & INP_REUSEPORT
                    )
                    and inp.cred.uid != t.cred.uid
                ):
                    return errno.EADDRINUSE, 0, 0
            t = inp.pcbinfo.lookup_local(addr, lport, wildcard, cred)
            # The existing socket's consent is its INP_REUSEPORT flag, which
            # ip_ctloutput keeps in step with SO_REUSEPORT (and SO_REUSEADDR
            # on a socket already bound to a group).
            if t is not None and (not reuseport or not t.flags2 & INP_REUSEPORT):
                return errno.EADDRINUSE, 0, 0
    if cur_lport != 0:
        lport = cur_lport
    if lport == 0:
        err, lport = in_pcb_lport(inp, laddr, cred, wildcard)
        if err:
            return err, 0, 0
    return 0, laddr, lport


def in_pcbbind(inp: Inpcb, sa: tuple[int, int, int, int] | None, cred: Ucred) -> int:
    if inp.lport != 0 or inp.laddr != INADDR_ANY:
        return errno.EINVAL
    anonport = sa is None or sa[3] == 0
    err, laddr, lport = in_pcbbind_setup(inp, sa, inp.laddr, inp.lport, cred)
    if err:
        return err
    inp.laddr = laddr
    inp.lport = lport
    inp.pcbinfo.inshash(inp)
    if anonport:
        inp.flags |= INP_ANONPORT
    return 0


def in_pcbladdr(inp: Inpcb, faddr: int, cred: Ucred) -> tuple[int, int]:
    """The source address for ``faddr`` (in_pcbladdr): (errno, laddr).

    The route in the socket's FIB decides: its interface address, or for a
    route through loopback (a local destination) the address of the
    interface that owns the destination; with no route, an interface whose
    point-to-point peer or connected network holds the destination.
    """
    vnet = inp.pcbinfo.vnet
    prison = cred.prison if jailed_ip4(cred) else None
    if prison is not None and not prison.saddrsel and prison.ip4 is not None:
        # ip4.nosaddrsel: the primary, without a route lookup.
        return 0, prison.primary
    rt = None
    if not inp.so.so_options & SO_DONTROUTE:
        rt = vnet.rt[inp.fibnum].lookup(faddr, 1)  # in_rtalloc_ign: a miss reports
        if rt is not None and not rt.flags & 0x1:  # RTF_UP
            rt = None
    if rt is None:
        ia = ifa_ifwithdstaddr(vnet, faddr) or ifa_ifwithnet(vnet, faddr)
        if ia is None:
            return errno.ENETUNREACH, 0
        if prison is None:
            return 0, ia.addr
        return _jail_pick(prison, ia.ifp, None)
    if not rt.ifp.flags & IFF_LOOPBACK:
        if prison is None:
            if rt.ifa is None:
                return errno.ENETUNREACH, 0
            return 0, rt.ifa.addr
        first = rt.ifa.addr if rt.ifa is not None else None
        return _jail_pick(prison, rt.ifp, first)
    ia = ifa_ifwithaddr(vnet, faddr)
    if prison is None:
        if ia is None:
            return errno.ENETUNREACH, 0
        return 0, ia.addr
    return _jail_pick(prison, ia.ifp if ia is not None else None, None)


def _jail_pick(prison: Any, ifp: Any, first: int | None) -> tuple[int, int]:
    if first is not None and prison.check_ip4(first) == 0:
        return 0, first
    if ifp is not None:
        for ia in ifp.addrs_in:
            if prison.check_ip4(ia.addr) == 0:
                return 0, ia.addr
    err, addr = prison.get_ip4()
    return err, addr


def in_pcbconnect_setup(
    inp: Inpcb,
    sa: tuple[int, int, int, int],
    cred: Ucred,
    *,
    laddr: int | None = None,
    lport: int | None = None,
) -> tuple[int, int, int, int, int]:
    """Validate a destination and pick the local end:
    (errno, laddr, lport, faddr, fport). ``laddr``/``lport`` default to
    the pcb's own (udp_output passes a per-datagram source)."""
    sa_len, family, faddr, fport = sa
    if sa_len != 16:
        return errno.EINVAL, 0, 0, 0, 0
    if family != 2:
        return errno.EAFNOSUPPORT, 0, 0, 0, 0
    if fport == 0:
        return errno.EADDRNOTAVAIL, 0, 0, 0, 0
    vnet = inp.pcbinfo.vnet
    if laddr is None:
        laddr = inp.laddr
    if lport is None:
        lport = inp.lport
    head = vnet.in_ifaddrhead
    if head:
        # A connect to 0.0.0.0 goes to the first configured address; one to
        # 255.255.255.255 to the first interface's broadcast address.
        if faddr == INADDR_ANY:
            faddr = head[0].addr
            err, faddr = prison_get_ip4(cred, faddr)
            if err:
                return err, 0, 0, 0, 0
        elif faddr == INADDR_BROADCAST and head[0].ifp.flags & IFF_BROADCAST:
            faddr = head[0].broadaddr
    if laddr == INADDR_ANY:
        err, laddr = in_pcbladdr(inp, faddr, cred)
        imo = inp.moptions
        if in_multicast(faddr) and imo is not None and imo.multicast_ifp is not None:
            ifp = imo.multicast_ifp
            err = errno.EADDRNOTAVAIL
            for ia in head:
                if ia.ifp is ifp and (not jailed_ip4(cred) or cred.prison.check_ip4(ia.addr) == 0):
                    laddr = ia.addr
                    err = 0
                    break
        if err:
            return err, 0, 0, 0, 0
    if inp.pcbinfo.lookup(faddr, fport, laddr, lport, wildcard=False) is not None and lport:
        return errno.EADDRINUSE, 0, 0, 0, 0
    if lport == 0:
        err, laddr, lport = in_pcbbind_setup(inp, None, laddr, lport, cred)
        if err:
            return err, 0, 0, 0, 0
    return 0, laddr, lport, faddr, fport


def in_pcbconnect(inp: Inpcb, sa: tuple[int, int, int, int], cred: Ucred) -> int:
    err, laddr, lport, faddr, fport = in_pcbconnect_setup(inp, sa, cred)
    if err:
        return err
    pcbinfo = inp.pcbinfo
    if inp.lport == 0:
        inp.flags |= INP_ANONPORT
    # A hashed pcb already has its port (connect keeps it), so only the
    # hash chain changes; an unbound one is entered now.
    old = (inp.faddr, inp.lport, inp.fport)
    inp.laddr, inp.lport, inp.faddr, inp.fport = laddr, lport, faddr, fport
    if inp.hashed:
        pcbinfo.rehash(inp, old)
    else:
        pcbinfo.inshash(inp)
    return 0


def in_pcbdisconnect(inp: Inpcb) -> None:
    old = (inp.faddr, inp.lport, inp.fport)
    inp.faddr = INADDR_ANY
    inp.fport = 0
    if inp.hashed:
        inp.pcbinfo.rehash(inp, old)


# -- jail helpers (kern_jail.c); unjailed credentials pass through ------------


def prison_local_ip4(cred: Ucred, addr: int) -> tuple[int, int]:
    if not jailed_ip4(cred):
        return 0, addr
    result: tuple[int, int] = cred.prison.local_ip4(addr)
    return result


def prison_get_ip4(cred: Ucred, addr: int) -> tuple[int, int]:
    if not jailed_ip4(cred):
        return 0, addr
    result: tuple[int, int] = cred.prison.get_ip4()
    return result


def prison_remote_ip4(cred: Ucred, addr: int) -> tuple[int, int]:
    if not jailed_ip4(cred):
        return 0, addr
    result: tuple[int, int] = cred.prison.remote_ip4(addr)
    return result


def prison_check_ip4(cred: Ucred, addr: int) -> int:
    if not jailed_ip4(cred):
        return 0
    return int(cred.prison.check_ip4(addr))
