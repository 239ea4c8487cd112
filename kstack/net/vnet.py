"""A virtual network stack (net/vnet.c): everything one stack owns.

Kernel methods such as ``k.ifconfig`` act on ``vnet0``; a vnet jail has a
VNet of its own. Nothing is shared between two VNets but the kernel's clock
and sysctl tree.
"""

from __future__ import annotations

import errno
import heapq
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from kstack.kern.clock import NS
from kstack.kern.cred import Ucred
from kstack.kern.mbuf import Mbuf
from kstack.kern.sysctl import Ctx, Oid, SysctlTree, Value, sysctl_read, sysctl_write
from kstack.net.bpf import Capture
from kstack.net.if_loop import M_CSUM_DATA_VALID, M_CSUM_IP_VALID
from kstack.net.if_var import (
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_RUNNING,
    IFF_SIMPLEX,
    IFF_UP,
    IFT_ETHER,
    IFT_LOOP,
    Ifnet,
    InIfaddr,
    parse_mac,
)
from kstack.net.pfil import PFIL_IN, PFIL_OUT, PfilHead, PfilHook
from kstack.net.route import (
    RTF_BLACKHOLE,
    RTF_GATEWAY,
    RTF_HOST,
    RTF_REJECT,
    RTF_STATIC,
    RTF_UP,
    RouteInfo,
    RouteTable,
    Rtentry,
    route_info,
)
from kstack.netinet.in_pcb import Pcbinfo
from kstack.netinet.ip import aton, ntoa, prefix_mask
from kstack.netinet.raw_ip import RawPcbinfo
from kstack.netinet.stats import IcmpStat, IgmpStat, IpStat, UdpStat
from kstack.outcome import HELD, Outcome, dropped
from kstack.panic import Panic

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.kern.uipc_socket import Socket

ProtoInput = Callable[["VNet", Mbuf, int, int], Outcome]

_QUEUED = Outcome(HELD, "netisr", "ip input queue")
_LO_CSUM = M_CSUM_IP_VALID | M_CSUM_DATA_VALID
_QDROP = dropped("intr_queue_drops", "netisr IP queue full")


class Event:
    """Something the stack did outside the input that caused it (a queued
    packet processed later, a packet held or dropped by ARP, a timer)."""

    __slots__ = ("ts", "what", "outcome", "ifname")

    def __init__(self, ts: int, what: str, outcome: Outcome | None, ifname: str = "") -> None:
        self.ts = ts
        self.what = what
        self.outcome = outcome
        self.ifname = ifname

    def __repr__(self) -> str:
        return f"Event({self.what!r}, {self.outcome})"


class EventList(list[Event]):
    """A vnet's events not yet taken, oldest first. The first event added to
    an empty list notes the vnet in its kernel's ``ev_pending``, so that
    taking events visits only the vnets that have some."""

    __slots__ = ("vnet",)

    def __init__(self, vnet: VNet) -> None:
        super().__init__()
        self.vnet = vnet

    def append(self, item: Event) -> None:
        if not self:
            self.vnet.kernel.ev_pending[self.vnet] = None
        list.append(self, item)


def default_lladdr(vnet_id: int, ifindex: int) -> bytes:
    """The MAC an Ethernet interface gets without ``ether=``: locally
    administered, 02:00:00:<vnet id>:<ifindex high>:<ifindex low> (in a
    fresh kernel lo0 is interface 1, so em0 is 02:00:00:00:00:02)."""
    return bytes((0x02, 0x00, 0x00, vnet_id & 0xFF, (ifindex >> 8) & 0xFF, ifindex & 0xFF))


def _host_cred(uid: object) -> Ucred:
    """A credential of a host process with ``uid`` (TypeError for a
    non-int, ValueError outside uid_t)."""
    if isinstance(uid, bool) or not isinstance(uid, int):
        raise TypeError(f"a uid is an int, not {type(uid).__name__}")
    if not 0 <= uid <= 0xFFFFFFFF:
        raise ValueError(f"uid {uid} is not a uid_t")
    return Ucred(uid)


def frame_bytes(frame: Any) -> bytes:
    """A frame handed to the API as bytes: a bytes-like object (the buffer
    protocol) or an object that renders itself (a scapy packet has
    ``__bytes__``). An int would become that many zero bytes and a list of
    ints a frame of them: both are TypeError, as a str or None is."""
    if isinstance(frame, (int, str)) or frame is None:
        raise TypeError(f"a frame is bytes or a packet, not {type(frame).__name__}")
    if hasattr(type(frame), "__bytes__"):
        return bytes(frame)
    try:
        view = memoryview(frame)
    except TypeError:
        raise TypeError(f"a frame is bytes or a packet, not {type(frame).__name__}") from None
    with view:
        return view.tobytes()


def parse_prefix(s: str) -> tuple[int, int]:
    """'a.b.c.d/len' (or a bare address: /32) -> (addr, plen). TypeError
    for anything but a str, ValueError for a bad address or length."""
    if not isinstance(s, str):
        raise TypeError(f"an address or prefix is a str, not {type(s).__name__}")
    if "/" in s:
        a, _, p = s.partition("/")
        if not (p.isascii() and p.isdigit()) or int(p) > 32:
            raise ValueError(f"bad prefix length in {s!r}")
        return aton(a), int(p)
    return aton(s), 32


class VNet:
    """One network stack: vnet0 (the host's), or a vnet jail's. A jail's
    stack starts with lo0 down and without an address, and every per-vnet
    sysctl at its compiled-in default."""

    def __init__(self, kernel: Kernel, vid: int, name: str, *, jail: bool = False) -> None:
        self.kernel = kernel
        self.id = vid
        self.name = name
        self.sc: dict[str, Value] = kernel.sysctl_tree.defaults(kernel, vnet=True)
        self.rng = kernel.rng.fork(vid)
        self.ifnets: list[Ifnet] = []
        self.ifnet_by_name: dict[str, Ifnet] = {}
        # Interface indexes: every index below _if_next is in use or in
        # _if_free (a heap), so the lowest free one is found at once.
        self._if_next = 1
        self._if_free: list[int] = []
        self._if_seq = 0  # attach order (Ifnet.attach_seq)
        self.in_ifaddrhead: list[InIfaddr] = []
        self.in_ifaddrhash: dict[int, list[InIfaddr]] = {}
        self.rt = [RouteTable(f) for f in range(kernel.fibs)]
        self.ipstat = IpStat()
        self.icmpstat = IcmpStat()
        self.udpstat = UdpStat()
        self.igmpstat = IgmpStat()
        self.ip_id = kernel.clock.time_second & 0xFFFF
        self._randomid_seen: set[int] = set()
        self._randomid_ring: deque[int] = deque()
        self.ipq: dict[int, list[Any]] = {}  # reassembly buckets, made on first use
        self.ipq_count = 0
        self._slowtimo: Any = None
        self.ipintrq: deque[Mbuf] = deque()
        self.isr_queued = False  # noted in the kernel's list of queues to run
        self.netisr_ip_qdrops = 0
        self.icmp_lasttime = [-1] * 8
        self.icmp_curpps = [0] * 8
        self.last_output_mtu = 0
        self.events: list[Event] = EventList(self)
        self.record_events = True
        # Open sockets, oldest first (a close takes its socket out), and how
        # many were ever created (their names count up from 1).
        self.sockets: dict[Socket, None] = {}
        self.sockets_created = 0
        self.pfil = PfilHead(kernel.options)
        self.udbinfo = Pcbinfo(self, "udp", groups="PCBGROUP" in kernel.options)
        self.ripcbinfo = RawPcbinfo(self)
        self._protox: dict[int, ProtoInput] = {}
        self._init_protocols()
        from kstack.netinet.igmp import IgmpVnet

        self.igmp = IgmpVnet(self)
        self.destroyed = False
        if jail:
            # vnet_loif_init: lo0 exists, down, until the jail configures it.
            from kstack.net.if_loop import LOMTU

            self.lo0 = self.if_attach(
                "lo0", type_=IFT_LOOP, flags=IFF_LOOPBACK | IFF_MULTICAST, mtu=LOMTU
            )
        else:
            self.lo0 = self._if_create("lo0")
            self.ifconfig("lo0", "127.0.0.1/8")
        from kstack.netinet.in_rmx import in_rmx_attach

        # struct rtstat, and the expiry of routes learned from redirects.
        self.rtstat, self.rtq = in_rmx_attach(self)
        from kstack.netinet.stats import ArpStat

        # ARP (netinet/if_ether.c): struct arpstat, the kernel log lines ARP
        # wrote as (syslog priority, or None for a printf, text), and entries
        # marked deleted that still wait for their timer.
        self.arpstat = ArpStat()
        self.arp_log: list[tuple[int | None, str]] = []
        self.arp_zombies: list[Any] = []

    # -- protocol switch (in_proto.c, ipproto_register) -------------------

    def _init_protocols(self) -> None:
        from kstack.netinet.igmp import igmp_input
        from kstack.netinet.ip_icmp import icmp_input
        from kstack.netinet.raw_ip import rip_input, rsvp_input
        from kstack.netinet.udp_usrreq import udp_input

        self._rip_input: ProtoInput = rip_input
        self._protox = {1: icmp_input, 2: igmp_input, 17: udp_input, 6: _tcp_input, 46: rsvp_input}

    def ip_protox(self, proto: int) -> ProtoInput:
        return self._protox.get(proto, self._rip_input)

    def ipproto_register(self, proto: int, handler: ProtoInput) -> None:
        """Claim a protocol number (EPROTONOSUPPORT / EEXIST as the kernel).
        ``handler(vnet, m, hlen, len)`` must be callable (TypeError)."""
        if isinstance(proto, bool) or not isinstance(proto, int):
            raise TypeError(f"a protocol number is an int, not {type(proto).__name__}")
        if not callable(handler):
            raise TypeError(f"a protocol handler is a callable, not {type(handler).__name__}")
        if proto <= 0 or proto >= 256:
            raise OSError(errno.EPROTONOSUPPORT, "protocol out of range")
        if proto in self._protox:
            raise OSError(errno.EEXIST, "protocol already registered")
        self._protox[proto] = handler

    def ipproto_unregister(self, proto: int) -> None:
        if proto not in self._protox:
            raise OSError(errno.ENOENT, "protocol not registered")
        del self._protox[proto]

    # -- packet filter hooks (net/pfil.c) -----------------------------------

    def pfil_add_hook(
        self,
        func: Callable[..., int | None],
        flags: int = PFIL_IN | PFIL_OUT,
        name: str | None = None,
    ) -> PfilHook:
        """pfil_add_hook on this vnet's IPv4 head: ``func(pkt)`` is called for
        each input (``pfil.IN``) and/or output (``pfil.OUT``) packet; see
        :mod:`kstack.net.pfil`. Returns the hook, for ``pfil_remove_hook``."""
        return self.pfil.add(func, flags, name)

    def pfil_remove_hook(self, hook: PfilHook) -> None:
        self.pfil.remove(hook)

    # -- hooks filled in by later subsystems ------------------------------

    def icmp_ctlinput(self, icmp_type: int, code: int, m: Mbuf, hlen: int) -> None:
        """Notify the quoted datagram's protocol of an ICMP error
        (pr_ctlinput): UDP sets so_error on the connected socket."""
        if m.data[hlen + 8 + 9] == 17:
            from kstack.netinet.udp_usrreq import udp_ctlinput

            udp_ctlinput(self, icmp_type, code, m, hlen)

    # -- sockets ------------------------------------------------------------

    def socket(self, family: int, type: int, proto: int = 0, *, uid: int = 0) -> Socket:
        """socket(2) with a credential: ``uid != 0`` is unprivileged."""
        from kstack.kern.cred import Ucred
        from kstack.kern.uipc_socket import socreate

        return socreate(self, family, type, proto, Ucred(uid))

    def icmp_redirect(self, m: Mbuf, hlen: int) -> None:
        """Apply a received redirect that icmp_input accepted for
        processing: rtredirect_fib in every FIB, then pfctlinput."""
        from kstack.netinet.ip_icmp import icmp_redirect

        icmp_redirect(self, m, hlen)

    # -- netisr -----------------------------------------------------------

    def netisr_dispatch_ip(self, m: Mbuf) -> Outcome:
        """Hand a received packet to IP (direct dispatch unless configured).
        Under the deferred policy a full queue drops the packet: the
        returned outcome is its one report (no event)."""
        # Before netisr2 (seed 002:71) net.isr.direct=0 meant deferred.
        if self.kernel.isr_deferred:
            if self._netisr_enqueue(m):
                return _QDROP
            return _QUEUED
        return _ip_input(self, m)

    def netisr_queue_ip(self, m: Mbuf) -> int:
        """netisr_queue(NETISR_IP): queue a packet the stack made itself
        (looped back, or turned local by a filter). Its sender gets ENOBUFS
        when the queue is full, and the drop is reported by an event, since
        no input outcome covers it."""
        err = self._netisr_enqueue(m)
        if err:
            self.note(m, "netisr queue full", _QDROP)
        return err

    def _netisr_enqueue(self, m: Mbuf) -> int:
        limit = int(self.kernel.sc["net.inet.ip.intr_queue_maxlen"])
        if len(self.ipintrq) >= limit:
            self.netisr_ip_qdrops += 1
            return errno.ENOBUFS
        self.ipintrq.append(m)
        if not self.isr_queued:
            self.kernel.isr_pending(self)
        return 0

    def netisr_drain(self) -> int:
        """Process queued IP input; returns how many packets ran."""
        from kstack.netinet.ip_input import ip_input

        q = self.ipintrq
        n = 0
        while q:
            m = q.popleft()
            out = ip_input(self, m)
            n += 1
            if self.record_events:
                ifname = m.rcvif.name if m.rcvif is not None else ""
                self.events.append(
                    Event(self.kernel.clock.now, f"ip_input from {ifname} queue", out, ifname)
                )
        return n

    def note(self, m: Mbuf | None, what: str, outcome: Outcome | None = None) -> None:
        if self.record_events:
            self.events.append(Event(self.kernel.clock.now, what, outcome))

    def note_held(self, m: Mbuf, what: str) -> None:
        """A packet arpresolve holds until the next hop answers."""
        self.note(m, what, Outcome(HELD, "arpresolve", "", what))

    def note_drop(self, m: Mbuf, what: str, reason: str = "arpstat.dropped") -> None:
        """A packet ARP held (or was about to hold) and freed: ``what`` says
        why, ``reason`` names the counter or function (arpstat.dropped when
        it counts there)."""
        self.note(m, what, dropped(reason, what))

    def take_events(self) -> list[Event]:
        ev = self.events
        self.events = EventList(self)
        return ev

    def pending_work(self) -> list[str]:
        """What the stack still holds, one line each: reassembly queues,
        packets waiting for ARP, queued netisr work."""
        from kstack.netinet.ip_reass import SLOWTICK_NS, describe_ipq, ipq_buckets

        out: list[str] = []
        for bucket in ipq_buckets(self):
            for fp in bucket:
                left = fp.ttl * SLOWTICK_NS / NS
                out.append(
                    f"reassembly queue {describe_ipq(fp)}: {fp.nfrags} fragment(s), "
                    f"times out within {left:g} s"
                )
        from kstack.netinet.if_ether import arp_pending

        out.extend(arp_pending(self))
        if self.ipintrq:
            out.append(f"{len(self.ipintrq)} packet(s) in the netisr IP queue")
        out.extend(self.igmp.pending())
        return out

    # -- IP ID and timers ---------------------------------------------------

    def ip_randomid(self) -> int:
        """ip_randomid(): random non-zero IDs, none repeated within the last
        net.inet.ip.random_id_period values."""
        period = int(self.kernel.sc["net.inet.ip.random_id_period"])
        seen = self._randomid_seen
        while True:
            v = self.rng.arc4random() & 0xFFFF
            if v and v not in seen:
                break
            self.ipstat_random_collision()
        seen.add(v)
        ring = self._randomid_ring
        ring.append(v)
        while len(ring) > period:
            seen.discard(ring.popleft())
        self.kernel.sc["net.inet.ip.random_id_total"] = (
            int(self.kernel.sc.get("net.inet.ip.random_id_total", 0)) + 1
        )
        return v

    def ipstat_random_collision(self) -> None:
        key = "net.inet.ip.random_id_collisions"
        sc = self.kernel.sc
        sc[key] = int(sc.get(key, 0)) + 1

    def ip_slowtimo_arm(self) -> None:
        if self._slowtimo is not None and self._slowtimo.pending:
            return
        clock = self.kernel.clock
        step = NS // 2
        nxt = (clock.now // step + 1) * step
        self._slowtimo = clock.callout(nxt - clock.now, self._slowtimo_run)

    def _slowtimo_run(self) -> None:
        from kstack.netinet.ip_reass import ip_slowtimo

        self._slowtimo = None
        ip_slowtimo(self)
        if self.ipq_count:
            self.ip_slowtimo_arm()

    # -- configuration (the public API) -------------------------------------

    def _ifindex_alloc(self) -> int:
        """ifindex_alloc: the lowest index no interface of this vnet uses
        (indexes are per vnet; a moved interface gets a new one)."""
        if self._if_free:
            return heapq.heappop(self._if_free)
        idx = self._if_next
        self._if_next = idx + 1
        return idx

    def _if_create(self, name: str, ether: str | None = None, mtu: int | None = None) -> Ifnet:
        if name.startswith("lo"):
            from kstack.net.if_loop import LOMTU

            return self.if_attach(
                name,
                type_=IFT_LOOP,
                flags=IFF_UP | IFF_LOOPBACK | IFF_MULTICAST | IFF_RUNNING,
                mtu=mtu or LOMTU,
            )
        return self.if_attach(
            name,
            flags=IFF_UP | IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST | IFF_RUNNING,
            lladdr=parse_mac(ether) if ether is not None else None,
            mtu=mtu,
        )

    def if_attach(
        self,
        name: str,
        *,
        flags: int,
        type_: int = IFT_ETHER,
        lladdr: bytes | None = None,
        lladdr_last: int | None = None,
        mtu: int | None = None,
    ) -> Ifnet:
        """if_attach: a new interface of this vnet with the next free index.
        An Ethernet interface without ``lladdr`` gets kstack's default MAC,
        or with ``lladdr_last`` the 02:00:00:<index>:<last> form if_epair uses."""
        if name in self.ifnet_by_name:
            raise OSError(errno.EEXIST, f"interface {name} exists")
        index = self._ifindex_alloc()
        if type_ == IFT_LOOP:
            ifp = Ifnet(name, index, self, IFT_LOOP, b"", mtu or 16384, flags)
        else:
            if lladdr is None:
                if lladdr_last is not None:
                    lladdr = bytes((0x02, 0, 0, (index >> 8) & 0xFF, index & 0xFF, lladdr_last))
                else:
                    lladdr = default_lladdr(self.id, index)
            ifp = Ifnet(name, index, self, IFT_ETHER, lladdr, mtu or 1500, flags)
            ifp.snd_maxlen = int(self.kernel.sc.get("net.link.ifqmaxlen", 50))
        ifp.home_vnet = self
        self._if_link(ifp)
        return ifp

    def _if_link(self, ifp: Ifnet) -> None:
        from kstack.net.rtsock import rt_ifannouncemsg
        from kstack.netinet.igmp import igmp_domifattach
        from kstack.sock import IFAN_ARRIVAL

        self._if_seq += 1
        ifp.attach_seq = self._if_seq
        self.ifnets.append(ifp)
        self.ifnet_by_name[ifp.name] = ifp
        ifp.igi = igmp_domifattach(ifp)
        rt_ifannouncemsg(self, ifp, IFAN_ARRIVAL)  # if_attach_internal announces it

    def _if_detach(self, ifp: Ifnet) -> None:
        """if_detach_internal: down, addresses and their routes purged,
        every route through the interface deleted, groups left, IGMP and
        ARP state freed; off this vnet's lists."""
        from kstack.net.rtsock import rt_ifannouncemsg, rt_ifmsg
        from kstack.netinet import in_ as inet
        from kstack.netinet.if_ether import lltable_free
        from kstack.netinet.igmp import igmp_domifdetach
        from kstack.netinet.in_mcast import inm_release
        from kstack.sock import IFAN_DEPARTURE

        if ifp.flags & IFF_UP:
            ifp.flags &= ~IFF_UP
            inet.in_ifdown(self, ifp)
        rt_ifmsg(self, ifp)  # if_down, whether it was up or not
        for ia in list(ifp.addrs_in):
            inet.in_deladdr(self, ia)
        for table in self.rt:
            for rt in list(table.entries()):
                if rt.ifp is ifp:
                    table.remove(rt)
        rt_ifannouncemsg(self, ifp, IFAN_DEPARTURE)
        for inm in list(ifp.in_multi.values()):
            inm.refcount = 1
            inm_release(inm)
        ifp.in_multi.clear()
        igmp_domifdetach(ifp)
        lltable_free(ifp)
        ifp.igi = None
        ifnets = self.ifnets
        # The interface detached is often the newest one (an epair end is
        # created and moved at once): search from the end.
        for i in range(len(ifnets) - 1, -1, -1):
            if ifnets[i] is ifp:
                del ifnets[i]
                break
        del self.ifnet_by_name[ifp.name]
        heapq.heappush(self._if_free, ifp.index)

    def destroy(self) -> None:
        """vnet_destroy: sockets closed, interfaces moved in from another
        vnet returned there (down, without addresses, with a new index),
        the rest (lo0) detached, timers stopped."""
        for so in list(self.sockets):
            if not so.closed:
                so.close()
        self.sockets.clear()
        for ifp in list(self.ifnets):
            home = ifp.home_vnet
            if home is not None and home is not self and not home.destroyed:
                self.if_vmove(ifp, home)
        for ifp in list(self.ifnets):
            peer = ifp.peer
            self._if_detach(ifp)
            ifp.detached = True
            if peer is not None and not peer.detached:
                # An epair made here goes with both ends (epair_clone_destroy).
                peer.peer = None
                ifp.peer = None
                if peer.vnet is not self and peer in peer.vnet.ifnets:
                    peer.vnet._if_detach(peer)
                peer.detached = True
        for c in (self._slowtimo, self.igmp._fast, self.igmp._slow):
            if c is not None:
                c.stop()
        self.ipintrq.clear()
        self.ipq = {}
        self.ipq_count = 0
        self.events.clear()
        self.destroyed = True
        self.kernel.ev_pending.pop(self, None)
        self.kernel.clock.compact()

    def if_vmove(self, ifp: Ifnet, dst: VNet) -> None:
        """if_vmove: move an interface to another vnet (ifconfig IF vnet
        JAIL). It arrives down, without addresses, with a new index there."""
        if ifp.vnet is not self:
            raise Panic(f"if_vmove: {ifp.name} is not an interface of {self.name} (curvnet)")
        if ifp.name in dst.ifnet_by_name:
            raise OSError(errno.EEXIST, f"interface {ifp.name} exists in {dst.name}")
        self._if_detach(ifp)
        ifp.vnet = dst
        ifp.index = dst._ifindex_alloc()
        dst._if_link(ifp)

    def iface(self, name: str) -> Ifnet:
        """The interface called ``name``: OSError(ENXIO) when there is
        none, TypeError for a name that is not a str."""
        if not isinstance(name, str):
            raise TypeError(f"an interface name is a str, not {type(name).__name__}")
        try:
            return self.ifnet_by_name[name]
        except KeyError:
            raise OSError(errno.ENXIO, f"interface {name} does not exist") from None

    def ifconfig(
        self,
        name: str,
        addr: str | None = None,
        *,
        mtu: int | None = None,
        ether: str | None = None,
        alias: bool = False,
        delete: bool = False,
        broadcast: str | None = None,
        up: bool | None = None,
        down: bool | None = None,
        fib: int | None = None,
    ) -> Ifnet:
        """Create or configure an interface, as ifconfig(8) would.

        Every argument is checked before anything changes. ``mtu`` is an
        int from IF_MINMTU (72, ifioctl SIOCSIFMTU) up to what the driver
        takes: ETHERMTU (1500) for an Ethernet interface (ether_ioctl),
        IF_MAXMTU (65535) for lo and epair, which take any. ``fib`` is one
        of the kernel's FIBs (SIOCSIFFIB). OSError(EINVAL) otherwise,
        TypeError for something that is not an int. The interface's FIB is
        stamped on every packet it receives (ether_input)."""
        from kstack.net.rtsock import rt_ifmsg
        from kstack.netinet import in_ as inet

        if not isinstance(name, str):
            raise TypeError(f"an interface name is a str, not {type(name).__name__}")
        if mtu is not None:
            if isinstance(mtu, bool) or not isinstance(mtu, int):
                raise TypeError(f"mtu must be an int, not {type(mtu).__name__}")
            # IF_MINMTU / IF_MAXMTU (net/if.h); ETHERMTU (net/ethernet.h)
            top = 65535 if name.startswith(("lo", "epair")) else 1500
            if not 72 <= mtu <= top:
                raise OSError(errno.EINVAL, f"mtu {mtu}: out of range (72 to {top} on {name})")
        fibnum = None if fib is None else self.kernel.fibnum(fib, what="ifconfig fib")
        lladdr = None
        if ether is not None:
            lladdr = parse_mac(ether)
        a = plen = 0
        if addr is not None:
            a, plen = parse_prefix(addr)
        bcast = None
        if broadcast is not None:
            bcast = aton(broadcast)
        ifp = self.ifnet_by_name.get(name)
        if ifp is not None and lladdr is not None and ifp.type != IFT_ETHER:
            raise OSError(errno.ENODEV, f"{name} has no Ethernet address to set")
        if ifp is None:
            if not (name.startswith(("em", "lo", "re", "igb", "vtnet", "ix", "bge", "epair"))):
                raise OSError(errno.EINVAL, f"unknown interface type for {name!r}")
            ifp = self._if_create(name, ether, mtu)
        elif lladdr is not None:
            # if_setlladdr: an interface that is up announces each of its
            # IPv4 addresses from the new MAC (arp_ifinit).
            ifp.lladdr = lladdr
            from kstack.netinet.if_ether import arp_lladdr_changed

            arp_lladdr_changed(ifp)
        if mtu is not None:
            ifp.mtu = mtu
        if fibnum is not None:
            ifp.fib = fibnum
        if addr is not None:
            if delete:
                for ia in ifp.addrs_in:
                    if ia.addr == a:
                        inet.in_deladdr(self, ia)
                        break
                else:
                    raise OSError(errno.EADDRNOTAVAIL, f"{addr} is not on {name}")
            else:
                # Without "alias", ifconfig replaces the first address.
                replace = not alias and ifp.addrs_in and all(ia.addr != a for ia in ifp.addrs_in)
                if replace:
                    inet.in_deladdr(self, ifp.addrs_in[0])
                inet.in_addaddr(self, ifp, a, plen, bcast)
        # SIOCSIFFLAGS: if_down / if_up (and their RTM_IFINFO) run before the
        # driver's ioctl, so a NIC's message on the way down still shows
        # IFF_DRV_RUNNING and the one on the way up does not yet; the driver
        # then stops (clears it) or initialises (sets it), as em_ioctl does.
        # lo and epair leave their running flag alone.
        nic = ifp.type == IFT_ETHER and not ifp.name.startswith("epair")
        if down and ifp.flags & IFF_UP:
            ifp.flags &= ~IFF_UP
            inet.in_ifdown(self, ifp)
            rt_ifmsg(self, ifp)  # if_unroute ends with RTM_IFINFO
            if nic:
                ifp.flags &= ~IFF_RUNNING
        if up and not ifp.flags & IFF_UP:
            ifp.flags |= IFF_UP
            inet.in_ifup(self, ifp)
            rt_ifmsg(self, ifp)
            if nic:
                ifp.flags |= IFF_RUNNING
        return ifp

    def route_add(
        self,
        dest: str,
        gateway: str | None = None,
        *,
        fib: int | None = None,
        mtu: int = 0,
        blackhole: bool = False,
        reject: bool = False,
        iface: str | None = None,
    ) -> None:
        """route add: "default", a prefix, or a host, via a gateway or an
        interface. ``blackhole`` / ``reject`` only act on a route through
        lo0 (looutput): without a gateway the route goes there; through a
        gateway on an Ethernet the flags show but packets go out anyway.

        ``fib``: the table, the process FIB when not given (a routing
        socket uses its creator's FIB); EINVAL for a FIB the kernel does
        not have. The gateway must be on a connected network or reachable
        by a route of that FIB other than the default (ifa_ifwithroute_fib);
        ENETUNREACH otherwise. ``mtu``: rmx_mtu, an int that fits the
        kernel's u_long (EINVAL if negative or larger); 0 takes the
        interface's MTU (in_addroute). EEXIST when the table has the route."""
        fibnum = self.kernel.fibnum(fib, what="route add")
        if isinstance(mtu, bool) or not isinstance(mtu, int):
            raise TypeError(f"mtu must be an int, not {type(mtu).__name__}")
        if not 0 <= mtu <= 0xFFFF_FFFF_FFFF_FFFF:
            raise OSError(errno.EINVAL, f"mtu {mtu}: not a u_long")
        d, plen = (0, 0) if dest == "default" else parse_prefix(dest)
        gw = aton(gateway) if gateway is not None else 0
        d &= prefix_mask(plen)
        table = self.rt[fibnum]
        flags = RTF_UP | RTF_STATIC | (RTF_HOST if plen == 32 else 0)
        if blackhole:
            flags |= RTF_BLACKHOLE
        if reject:
            flags |= RTF_REJECT
        if gateway is None and (blackhole or reject):
            # As route(8) with the usual gateway 127.0.0.1: through lo0,
            # whose output is where the two flags take effect (looutput).
            ifp = self.lo0
            ifa = self.lo0.addrs_in[0] if self.lo0.addrs_in else None
            rt = Rtentry(d, plen, ifp, ifa, flags, mtu=mtu or ifp.mtu)
        elif gateway is not None:
            # ifa_ifwithnet: the address whose network holds the gateway,
            # the most specific one; else a route of this FIB to it.
            via = None
            for ifn in self.ifnets:
                for ia in ifn.addrs_in:
                    up = ia.ifp.flags & IFF_UP
                    if up and (gw & ia.mask) == ia.subnet and (via is None or ia.plen > via.plen):
                        via = ia
            if via is None:
                to_gw = table.lookup(gw)
                if to_gw is not None and to_gw.dst != 0 and to_gw.ifa is not None:
                    via = to_gw.ifa
                    gw_ifp = to_gw.ifp
                else:
                    raise OSError(
                        errno.ENETUNREACH,
                        f"gateway {gateway} is not on a connected network, "
                        f"nor reached by a route of FIB {fibnum} but the default",
                    )
            else:
                gw_ifp = via.ifp
            if gw == via.addr and not gw_ifp.flags & IFF_LOOPBACK:
                # Routing "via" our own address is an interface route.
                rt = Rtentry(d, plen, gw_ifp, via, flags, mtu=mtu or gw_ifp.mtu)
            else:
                rt = Rtentry(
                    d, plen, gw_ifp, via, flags | RTF_GATEWAY, gateway=gw, mtu=mtu or gw_ifp.mtu
                )
        elif iface is not None:
            ifp = self.iface(iface)
            ifa = ifp.addrs_in[0] if ifp.addrs_in else None
            rt = Rtentry(d, plen, ifp, ifa, flags, mtu=mtu or ifp.mtu)
        else:
            raise OSError(
                errno.EINVAL, "route needs a gateway, an interface, -blackhole or -reject"
            )
        from kstack.net.rtsock import route_cmd
        from kstack.sock import RTM_ADD

        if not table.add(rt):
            route_cmd(self, RTM_ADD, d, plen, gw if gateway else None, rt, errno.EEXIST, mtu=mtu)
            raise OSError(errno.EEXIST, f"route {dest} already in table {fibnum}")
        route_cmd(self, RTM_ADD, d, plen, gw if gateway else None, rt, 0, mtu=mtu)

    def route_delete(self, dest: str, *, fib: int | None = None) -> None:
        """route delete from ``fib`` (the process FIB when not given): any
        route, an interface route included; ESRCH when the table has no
        route to exactly that destination and mask."""
        fibnum = self.kernel.fibnum(fib, what="route delete")
        d, plen = (0, 0) if dest == "default" else parse_prefix(dest)
        from kstack.net.rtsock import route_cmd
        from kstack.sock import RTM_DELETE

        rt = self.rt[fibnum].delete(d & prefix_mask(plen), plen)
        route_cmd(self, RTM_DELETE, d & prefix_mask(plen), plen, None, rt, 0 if rt else errno.ESRCH)
        if rt is None:
            raise OSError(errno.ESRCH, f"route {dest} not in table {fibnum}")

    def route_get(self, dest: str, fib: int | None = None) -> RouteInfo | None:
        """route get: the route ``dest`` takes in ``fib`` (the process FIB
        when not given), or None when there is none."""
        fibnum = self.kernel.fibnum(fib, what="route get")
        if not isinstance(dest, str):
            raise TypeError(f"an address is a str, not {type(dest).__name__}")
        # RTM_GET matches without using the route: no rts_unreach on a
        # miss, no expiry pushed back (rn_lookup, not in_matroute).
        dst = 0 if dest == "default" else aton(dest)
        rt = self.rt[fibnum].match(dst)
        if rt is not None and not self.kernel.profile.separate_l2_table:
            from kstack.netinet.if_ether import l2_route_view

            rt = l2_route_view(self, fibnum, rt, dst)
        return None if rt is None else route_info(rt, self.kernel.clock.time_uptime)

    def routes(self, fib: int | None = None) -> list[RouteInfo]:
        """netstat -rn -F fib: every route of one FIB (the process FIB when
        not given), ordered by destination."""
        fibnum = self.kernel.fibnum(fib, what="netstat")
        entries = self.rt[fibnum].entries()
        if not self.kernel.profile.separate_l2_table:
            from kstack.netinet.if_ether import l2_routes_view

            entries = l2_routes_view(self, fibnum, entries)
        entries = sorted(entries, key=lambda r: (r.dst, r.plen))
        up = self.kernel.clock.time_uptime
        return [route_info(rt, up) for rt in entries]

    def arp_add(
        self, addr: str, ether: str, iface: str | None = None, *, pub: bool = False
    ) -> None:
        """arp -s: a permanent entry on the interface whose subnet holds it
        (or on ``iface``). ``pub=True`` publishes it (arp -s ... pub): the
        host answers requests for the address with ``ether`` and announces
        it with a gratuitous request."""
        from kstack.netinet.if_ether import arp_add_static

        a = aton(addr)
        mac = parse_mac(ether)
        if iface is not None:
            ifp = self.iface(iface)
        else:
            for ia in self.in_ifaddrhead:
                if ia.ifp.type == IFT_ETHER and (a & ia.mask) == ia.subnet:
                    ifp = ia.ifp
                    break
            else:
                raise OSError(errno.ENETUNREACH, f"{addr} is not on a connected Ethernet network")
        if arp_add_static(ifp, a, mac, pub) is None:
            raise OSError(errno.ENETUNREACH, f"no route to {addr}")

    def arp_table(self) -> dict[str, tuple[str | None, str, bool]]:
        """arp -an: addr -> (mac, or None while unresolved, ifname,
        permanent). The interfaces' own addresses are listed too, as
        permanent entries with the interface's MAC."""
        from kstack.net.if_var import format_mac

        out = {}
        for ifp in self.ifnets:
            for addr, lle in ifp.lle.items():
                mac = lle.mac if lle.valid else None  # type: ignore[attr-defined]
                out[ntoa(addr)] = (format_mac(mac) if mac else None, ifp.name, lle.static)  # type: ignore[attr-defined]
        return out

    def sysctl(self, name: str, value: object = None, *, uid: int = 0) -> Value:
        """Read a sysctl, or set it and get the previous value back.
        TypeError for a name that is not a str. ``uid`` is the caller's
        (host credential): the pcb lists show what it may see, and a write
        by uid != 0 is EPERM (PRIV_SYSCTL_WRITE)."""
        tree, oid, ctx, store = self._sysctl_at(name, uid)
        if value is None:
            return sysctl_read(tree, ctx, store, name)
        if uid != 0 and oid.writable:
            raise OSError(errno.EPERM, f"sysctl {name}: not root")
        return sysctl_write(tree, ctx, store, name, value)

    def sysctl_size(self, name: str, *, uid: int = 0) -> int:
        """What a read of ``name`` with no buffer reports as its size
        (sysctl(3) with oldp NULL): the pcb lists' estimate, else the
        value's size. ENOENT for an unknown name."""
        from kstack.netinet.in_pcblist import sysctl_size

        tree, _oid, ctx, store = self._sysctl_at(name, uid)
        return sysctl_size(tree, ctx, store, name)

    def _sysctl_at(self, name: str, uid: int) -> tuple[SysctlTree, Oid, Ctx, dict[str, Value]]:
        """The tree, the leaf, the caller's context (host credential ``uid``)
        and the store (this stack's or the machine's) for sysctl ``name``;
        TypeError for a name that is not a str, ENOENT for an unknown one."""
        if not isinstance(name, str):
            raise TypeError(f"a sysctl name is a str, not {type(name).__name__}")
        tree = self.kernel.sysctl_tree
        oid = tree.lookup(name)
        store = self.sc if oid.vnet else self.kernel.sc
        return tree, oid, Ctx(self.kernel, self, _host_cred(uid)), store

    def netstat(self, proto: str | None = None) -> Any:
        """Counters by FreeBSD name: one protocol's dict, or all of them."""
        blocks = {
            "ip": self.ipstat,
            "icmp": self.icmpstat,
            "udp": self.udpstat,
            "igmp": self.igmpstat,
        }
        if proto is None:
            return {k: b.snapshot() for k, b in blocks.items()}
        if proto == "arp":
            # struct arpstat (netstat -s -p arp). Not in the all-protocols
            # dict, whose deltas describe the IP layer.
            return self.arpstat.snapshot()
        if proto == "route":
            # struct rtstat (netstat -rs), also by name only.
            return self.rtstat.snapshot()
        try:
            return blocks[proto].snapshot()
        except KeyError:
            raise ValueError(
                f"unknown protocol {proto!r} (ip, icmp, udp, igmp, arp, route)"
            ) from None

    # -- packets in and out -------------------------------------------------

    def input(self, ifname: str, frame: bytes | bytearray | Any) -> Outcome:
        """A frame received on ``ifname``: Ethernet on em*, IP on lo0 (taken
        as looped by looutput: its checksums are not verified).

        ``frame``: bytes, any other bytes-like object (bytearray,
        memoryview...) or a scapy packet; TypeError for anything else (an
        int, a str, a list, None)."""
        ifp = self.ifnet_by_name.get(ifname) if type(ifname) is str else None
        if ifp is None:
            ifp = self.iface(ifname)
        if type(frame) is not bytes:
            frame = frame_bytes(frame)
        if ifp.type == IFT_LOOP:
            c = ifp.counters
            c.ifi_ipackets += 1
            c.ifi_ibytes += len(frame)
            for cap in ifp.captures:
                cap.tap(bytes(frame), "", "in")
            # Whatever lo0 receives came through looutput, which marks the
            # IP and transport checksums verified (lo0's checksum offload):
            # captures of lo0 show them as zero, and ip_input trusts them.
            m = Mbuf(bytearray(frame), ifp, ifp.fib, _LO_CSUM)
            out = self.netisr_dispatch_ip(m)
        else:
            out = _ether_input(ifp, frame)
        return out

    def ifmcstat(self, ifname: str | None = None) -> list[dict[str, object]]:
        """The multicast groups joined (ifmcstat(8)): one dict per group and
        interface with ``group``, ``iface``, the IGMP ``state``, the filter
        ``mode`` and the ``sources`` in that mode, newest group first."""
        from kstack.netinet.in_mcast import ifmcstat

        if ifname is not None:
            self.iface(ifname)
        return ifmcstat(self, ifname)

    def igmp_ifinfo(self, ifname: str) -> dict[str, object]:
        """IGMP's state for an interface (net.inet.igmp.ifinfo): the version
        it runs, the querier's robustness and intervals, and the seconds
        left on the older-querier timers."""
        ifp = self.iface(ifname)
        info: dict[str, object] = ifp.igi.describe()
        return info

    def transmitted(self, ifname: str) -> list[bytes]:
        """Frames sent on ``ifname`` since the last call, oldest first."""
        ifp = self.iface(ifname)
        frames = [f for f, _ in ifp.txq]
        ifp.txq.clear()
        return frames

    def transmitted_with_reasons(self, ifname: str) -> list[tuple[bytes, str]]:
        ifp = self.iface(ifname)
        out = list(ifp.txq)
        ifp.txq.clear()
        return out

    def capture(self, ifname: str) -> Capture:
        ifp = self.iface(ifname)
        cap = Capture(ifp)
        ifp.captures.append(cap)
        return cap

    def interfaces(self) -> Iterable[Ifnet]:
        return list(self.ifnets)


def _tcp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    return Outcome("delivered", "ips_delivered", "tcp_input", "TCP is not emulated")


from kstack.net.if_ethersubr import ether_input as _ether_input  # noqa: E402
from kstack.netinet.ip_input import ip_input as _ip_input  # noqa: E402
