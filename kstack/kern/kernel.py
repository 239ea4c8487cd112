"""The machine: one virtual clock, one seeded generator, the sysctl tree,
and the virtual network stacks (vnet0 first)."""

from __future__ import annotations

import errno
import functools
import heapq
import math
import numbers
import operator
from collections.abc import Iterable, Mapping
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from kstack.kern.clock import NS, WALL_LIMIT_NS, Clock
from kstack.kern.rand import Rng
from kstack.kern.sysctl import (
    CTLFLAG_VNET,
    Ctx,
    SysctlSchema,
    SysctlTree,
    Value,
    sysctl_write,
)
from kstack.net.if_var import Ifnet
from kstack.net.vnet import VNet
from kstack.outcome import Outcome
from kstack.profiles import Profile, get_profile

if TYPE_CHECKING:
    from kstack.kern.jail import Jail
    from kstack.kern.uipc_socket import Socket
    from kstack.net.if_epair import EpairQueue

# 2012-01-10 00:00:00 UTC, the week FreeBSD 9.0 was released.
DEFAULT_BOOTTIME_NS = 1326153600 * NS

KERNEL_OPTIONS = frozenset({"PCBGROUP", "VIMAGE", "IPSTEALTH", "BIG_ENDIAN", "IPFIREWALL_FORWARD"})

_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@functools.lru_cache(maxsize=64)
def sysctl_schema(profile: Profile) -> SysctlSchema:
    """The sysctl leaves a kernel of ``profile`` boots with (the stack's
    table, ARP's, the pcb lists', the routing sockets'), built once per
    profile and shared by its kernels (a Profile is frozen, so hashable):
    leaves that exist only on one side of a switch are left out, and the
    IP option knobs are per vnet from 10.1."""
    from kstack.kern.sysctl_table import IP_OPTIONS_OIDS, OIDS, profile_oids
    from kstack.net.rtsock import RTSOCK_OIDS
    from kstack.netinet.if_ether import ARP_OIDS
    from kstack.netinet.in_pcblist import PCBLIST_OIDS

    oids = profile_oids(profile, OIDS)
    if profile.ip_options_sysctls_per_vnet:
        oids = tuple(
            replace(o, flags=o.flags | CTLFLAG_VNET) if o.name in IP_OPTIONS_OIDS else o
            for o in oids
        )
    return SysctlSchema((*oids, *ARP_OIDS, *PCBLIST_OIDS, *RTSOCK_OIDS))


def _ifnet_order(ifp: Ifnet) -> tuple[int, int]:
    return (ifp.vnet.id, ifp.attach_seq)


def _vnet_order(v: VNet) -> int:
    return v.id


# Kernel.jail without ip4: jail_set's default, IPv4 disabled.
_JAIL_DEFAULT: Any = object()


class Kernel:
    """An emulated FreeBSD host. Methods that configure or drive the network
    act on vnet0 (``k.vnet0``)."""

    def __init__(
        self,
        profile: str | Profile = "9.0",
        seed: int = 0,
        fibs: int = 1,
        *,
        options: Iterable[str] = (),
        tunables: Mapping[str, Value] | None = None,
        boottime_ns: int = DEFAULT_BOOTTIME_NS,
    ) -> None:
        self.profile = get_profile(profile)
        if not _is_int(seed):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if not _is_int(boottime_ns):
            raise TypeError(f"boottime_ns must be an int, not {type(boottime_ns).__name__}")
        if not 0 <= boottime_ns < WALL_LIMIT_NS:
            raise ValueError(
                f"boottime_ns {boottime_ns}: the wall clock counts nanoseconds "
                "since 1970 in 64 bits (0 to 2**64 - 1)"
            )
        self.seed = seed
        opts = frozenset(options)
        unknown = opts - KERNEL_OPTIONS
        if unknown:
            raise ValueError(f"unknown kernel option(s): {', '.join(sorted(unknown))}")
        self.options = opts
        # Host byte order of the emulated machine: little-endian (amd64)
        # unless the profile or "options BIG_ENDIAN" says otherwise.
        self.big_endian = self.profile.big_endian or "BIG_ENDIAN" in opts
        self.clock = Clock(boottime_ns)
        self.rng = Rng(seed)
        self.so_gencnt = 0  # so_gencnt: moves at each socket allocation and release
        tree = SysctlTree(sysctl_schema(self.profile))
        self.sysctl_tree = tree
        self.sc: dict[str, Value] = tree.defaults(self, vnet=False)
        if isinstance(fibs, bool) or not isinstance(fibs, int):
            raise TypeError(f"fibs must be an int, not {type(fibs).__name__}")
        # ``fibs`` is the net.fibs tunable (route_init keeps it in
        # 1..RT_MAXFIBS); a net.fibs given in ``tunables`` wins over it.
        tunables = dict(tunables or {})
        if self.profile.multiple_fibs:
            tunables.setdefault("net.fibs", fibs)
        elif fibs != 1:
            raise ValueError(f"fibs={fibs}: profile {self.profile.name} has one routing table")
        self.fibs = 1
        self.proc_fibnum = 0
        self.vnets: list[VNet] = []
        self._next_vid = 0
        self._epair: EpairQueue | None = None  # the epair netisr, from the first epair
        from kstack.net.rtsock import RtsState

        self.rts = RtsState()  # routing sockets and the routing netisr queue
        self.jails: dict[str, Jail] = {}
        self._jids: set[int] = set()  # the jids of self.jails, kept with it
        self._lastprid = 0
        # The vnets with packets in their netisr IP queue, by id (a heap),
        # so that running queued work does not visit idle stacks.
        self._isr_pending: list[tuple[int, VNet]] = []
        # The interfaces with frames not collected and the vnets with events
        # not taken (noted by their first one; see ifnets_with_output).
        self.tx_pending: dict[Ifnet, None] = {}
        self.ev_pending: dict[VNet, None] = {}
        # Whether received packets wait in the netisr queue instead of going
        # to ip_input at once: the net.isr.dispatch policy (net.isr.direct
        # before netisr2), kept current by those sysctls' handlers.
        policy = self.sc.get("net.isr.dispatch")
        self.isr_deferred = policy == "deferred" or (
            policy is None and not self.sc["net.isr.direct"]
        )
        boot_vnet_tunables: dict[str, Value] = {}
        for name, value in tunables.items():
            oid = tree.lookup(name)
            if oid.vnet:
                boot_vnet_tunables[name] = value
            else:
                sysctl_write(tree, Ctx(self, None), self.sc, name, value, boot=True)
        self.fibs = int(self.sc.get("net.fibs", 1))
        self.vnet0 = self.new_vnet("vnet0")
        for name, value in boot_vnet_tunables.items():
            sysctl_write(tree, Ctx(self, self.vnet0), self.vnet0.sc, name, value, boot=True)

    def new_vnet(self, name: str, *, jail: bool = False) -> VNet:
        v = VNet(self, self._next_vid, name, jail=jail)
        self._next_vid += 1
        self.vnets.append(v)
        return v

    # -- jails (kern_jail.c) ------------------------------------------------

    def jail(
        self,
        name: str | None = None,
        *,
        ip4: Any = _JAIL_DEFAULT,
        vnet: bool = False,
        allow_raw_sockets: bool | None = None,
        saddrsel: bool = True,
        jid: int | None = None,
    ) -> Jail:
        """Start a jail, as 9.0's jail(8) does.

        ``ip4``: a list of IPv4 addresses (the first is the primary, the
        others are kept sorted), ``None`` or ``"disable"`` for a jail without
        IPv4 (the default when neither ``ip4`` nor ``vnet`` is given),
        ``"inherit"`` for one that uses the host's addresses unrestricted.
        ``vnet=True``: a jail with its own network stack (no ``ip4``).
        ``allow_raw_sockets`` defaults to ``security.jail.allow_raw_sockets``.
        ``saddrsel=False`` is ip4.nosaddrsel (unbound sockets send from the
        primary). The jail keeps the FIB of the process that starts it
        (``Kernel.setfib``)."""
        from kstack.kern.jail import IP4_DISABLED, IP4_INHERIT, Jail, Prison, parse_ip4

        if vnet and ip4 is not _JAIL_DEFAULT:
            raise OSError(errno.EINVAL, "vnet jails cannot have IP address restrictions")
        if jid is not None:
            if not _is_int(jid):
                raise TypeError(f"jid must be an int, not {type(jid).__name__}")
            if not _INT_MIN <= jid <= _INT_MAX:
                raise ValueError(f"jid {jid} does not fit a C int")
        if jid == 0:
            jid = None  # jail_set: jid 0 asks for the next free one
        if jid is not None:
            if jid < 0:
                raise OSError(errno.EINVAL, f"jid {jid} is negative")
            if jid in self._jids:
                raise OSError(errno.EEXIST, f"jail {jid} exists")
        if name is not None:
            if not isinstance(name, str) or not name:
                raise OSError(errno.EINVAL, "a jail name is a non-empty string")
            if name[0] == "0":
                raise OSError(errno.EINVAL, "a jail name cannot start with 0")
            if name.isdigit() and (jid is None or int(name) != jid):
                if jid is not None:
                    raise OSError(errno.EINVAL, "a numeric jail name must be its jid")
                jid = int(name)
            if name in self.jails:
                raise OSError(errno.EEXIST, f"jail {name!r} exists")
        if vnet:
            mode, addrs = IP4_INHERIT, None
        elif ip4 is _JAIL_DEFAULT:
            mode, addrs = IP4_DISABLED, None
        else:
            mode, addrs = parse_ip4(ip4)
        if not vnet and not self.profile.jail_multi_ip and (addrs is None or len(addrs) != 1):
            # Before seed 000:413 jail(2) carried exactly one IPv4 address.
            raise OSError(errno.EINVAL, "a jail has exactly one IPv4 address in this profile")
        if addrs is not None:
            limit = int(self.sc["security.jail.jail_max_af_ips"])
            if len(addrs) > limit:
                raise OSError(errno.EINVAL, f"too many IPv4 addresses ({len(addrs)} > {limit})")
            for other in self.jails.values():
                theirs = other.prison.ip4
                if (
                    theirs is not None
                    and set(theirs) & set(addrs)
                    and not (len(theirs) == 1 and len(addrs) == 1)
                ):
                    raise OSError(errno.EADDRINUSE, f"IPv4 addresses clash with jail {other.name}")
        if jid is None:
            jid = self._next_jid()
        if name is None:
            name = str(jid)
        if allow_raw_sockets is None:
            allow_raw_sockets = bool(self.sc["security.jail.allow_raw_sockets"])
        own = self.new_vnet(f"jail {name}", jail=True) if vnet else None
        prison = Prison(
            self,
            jid,
            name,
            addrs,
            mode,
            bool(allow_raw_sockets),
            bool(saddrsel),
            own,
            self.proc_fibnum,
        )
        j = Jail(self, prison)
        self.jails[name] = j
        self._jids.add(jid)
        return j

    def _next_jid(self) -> int:
        """jids count up from 1, wrapping below JAIL_MAX; a live jail's jid
        is skipped."""
        from kstack.kern.jail import JAIL_MAX

        used = self._jids
        cand = self._lastprid
        for _ in range(JAIL_MAX):
            cand += 1
            if cand >= JAIL_MAX:
                cand = 1
            if cand not in used:
                self._lastprid = cand
                return cand
        raise OSError(errno.EAGAIN, "no available jail IDs")

    def jail_remove(self, name: str) -> None:
        """jail -r: see Jail.remove."""
        from kstack.kern.jail import prison_remove

        j = self.jails.pop(name, None)
        if j is None:
            raise OSError(errno.ENOENT, f"jail {name!r} not found")
        self._jids.discard(j.jid)
        vnet = j.prison.own_vnet
        prison_remove(self, j.prison)
        if vnet is not None and vnet in self.vnets:
            self.vnets.remove(vnet)

    def epair(self, a: Any, b: Any) -> tuple[str, str]:
        """ifconfig epair create, and its b end moved to ``b``: a virtual
        cable between two stacks (VNet or vnet Jail objects). Returns the
        names of the two ends, down until configured."""
        from kstack.net.if_epair import epair_create

        va = self._stack(a)
        vb = self._stack(b)
        ia, ib = epair_create(self, va, vb)
        return ia.name, ib.name

    def if_vmove(self, ifname: str, jail: Any) -> None:
        """ifconfig IFNAME vnet JAIL: move a host interface into a vnet jail
        (it arrives down, without addresses, with a new index there).
        ENXIO: no such interface; EEXIST: the jail shares the host's stack
        or has an interface of that name."""
        vnet = self._stack(self._jail_arg(jail))
        ifp = self.vnet0.ifnet_by_name.get(ifname)
        if ifp is None:
            raise OSError(errno.ENXIO, f"interface {ifname} does not exist")
        self.vnet0.if_vmove(ifp, vnet)

    def if_vmove_reclaim(self, ifname: str, jail: Any) -> None:
        """ifconfig IFNAME -vnet JAIL: take an interface back from a vnet
        jail (down, without addresses)."""
        vnet = self._stack(self._jail_arg(jail))
        ifp = vnet.ifnet_by_name.get(ifname)
        if ifp is None:
            raise OSError(errno.ENXIO, f"interface {ifname} is not in jail {jail}")
        vnet.if_vmove(ifp, self.vnet0)

    def _jail_arg(self, jail: Any) -> Any:
        if isinstance(jail, str):
            j = self.jails.get(jail)
            if j is None:
                raise OSError(errno.ENXIO, f"jail {jail!r} not found")
            return j
        return jail

    def _stack(self, x: Any) -> VNet:
        from kstack.kern.jail import Jail

        if isinstance(x, Jail):
            if not x.prison.is_vnet:
                raise OSError(errno.EEXIST, f"jail {x.name} has no vnet of its own")
            return x.vnet
        if isinstance(x, VNet):
            # A stack leaves self.vnets only when destroyed.
            if x.destroyed or x.kernel is not self:
                raise OSError(errno.ENXIO, f"{x.name} is not a live stack of this kernel")
            return x
        raise TypeError(f"expected a VNet or a vnet Jail, not {type(x).__name__}")

    def all_ifnets(self) -> list[Ifnet]:
        return [ifp for v in self.vnets for ifp in v.ifnets]

    def ifnets_with_output(self) -> list[Ifnet]:
        """The interfaces of live stacks holding frames not collected yet
        (``transmitted``), in the order of a walk over ``vnets`` and their
        interfaces; it costs what the interfaces with output cost, whatever
        the number of vnets."""
        pend = self.tx_pending
        if not pend:
            return []
        out = []
        for ifp in list(pend):
            if ifp.txq and not ifp.detached and not ifp.vnet.destroyed:
                out.append(ifp)
            else:
                del pend[ifp]
        out.sort(key=_ifnet_order)
        return out

    def vnets_with_events(self) -> list[VNet]:
        """The live stacks holding events not taken yet (``take_events``),
        in creation order, without visiting the others."""
        pend = self.ev_pending
        if not pend:
            return []
        out = []
        for v in list(pend):
            if v.events and not v.destroyed:
                out.append(v)
            else:
                del pend[v]
        out.sort(key=_vnet_order)
        return out

    # -- time -------------------------------------------------------------

    def isr_pending(self, vnet: VNet) -> None:
        """Note that ``vnet`` has packets in its netisr IP queue (the vnet
        calls this when it queues one and is not noted yet)."""
        vnet.isr_queued = True
        heapq.heappush(self._isr_pending, (vnet.id, vnet))

    def _drain(self) -> None:
        """Run queued netisr work (the IP queues of the vnets, then the
        epair queue) until nothing is left. Each round visits the vnets
        with queued packets in creation order, as a walk over every vnet
        would; a vnet whose queue fills again behind the walk waits for
        the next round."""
        pending = self._isr_pending
        while True:
            again = False
            behind: list[tuple[int, VNet]] = []
            last = -1
            while pending:
                entry = heapq.heappop(pending)
                vid, v = entry
                if vid <= last:
                    behind.append(entry)
                    continue
                last = vid
                v.isr_queued = False
                if v.ipintrq and not v.destroyed and v.netisr_drain():
                    again = True
            for entry in behind:
                if entry[1].ipintrq:
                    heapq.heappush(pending, entry)
                else:  # drained in its own turn
                    entry[1].isr_queued = False
            if self.rts.queue:
                from kstack.net.rtsock import rts_drain

                if rts_drain(self):
                    again = True
            q = self._epair
            if q is not None and q.q:
                from kstack.net.if_epair import epair_drain

                if epair_drain(self):
                    again = True
            if not again:
                return

    def advance(self, seconds: float | Fraction = 0) -> None:
        """Move virtual time forward; callouts fire in order and queued
        netisr work runs (advance(0) runs what is queued now).

        ``seconds``: an int, a float or a Fraction, rounded to the
        nanosecond; TypeError for anything else (a bool included),
        ValueError when negative, infinite, NaN, or past the end of the
        wall clock (:data:`~kstack.kern.clock.WALL_LIMIT_NS`)."""
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError(f"advance takes seconds as a number, not {type(seconds).__name__}")
        if isinstance(seconds, float) and not math.isfinite(seconds):
            raise ValueError(f"advance({seconds}): time moves by a finite number of seconds")
        if seconds < 0:
            raise ValueError("time does not run backwards")
        if seconds >= WALL_LIMIT_NS // NS + 1:
            raise ValueError(f"advance({seconds}): past the end of the wall clock")
        step = seconds * NS if isinstance(seconds, int) else int(round(seconds * NS))
        self.advance_to(self.clock.now + step)

    def advance_to(self, target_ns: int) -> None:
        """Run the clock to ``target_ns`` nanoseconds since boot (an int:
        a float is TypeError, convert it yourself; ``advance`` takes
        seconds as floats). A target at or before now runs the queued
        work without moving time. ValueError when boot time plus the
        target reaches :data:`~kstack.kern.clock.WALL_LIMIT_NS`."""
        if type(target_ns) is not int:
            if isinstance(target_ns, bool):
                raise TypeError("advance_to takes nanoseconds as an int, not bool")
            try:
                target_ns = operator.index(target_ns)
            except TypeError:
                raise TypeError(
                    f"advance_to takes nanoseconds as an int, not {type(target_ns).__name__}"
                ) from None
        clock = self.clock
        if clock.boottime_ns + target_ns >= WALL_LIMIT_NS:
            raise ValueError(
                f"advance_to({target_ns}): past the end of the wall clock "
                "(nanoseconds since 1970 in 64 bits)"
            )
        heap = clock._heap
        epair = self._epair
        if (
            not self._isr_pending
            and not self.rts.queue
            and (epair is None or not epair.q)
            and (not heap or heap[0][0] > target_ns)
        ):
            # Nothing queued and no callout due by then (the earliest
            # deadline, stopped or not, lies beyond): time just moves.
            if target_ns > clock.now:
                clock.now = target_ns
            return
        self._drain()
        while True:
            c = clock.pop_due(target_ns)
            if c is None:
                break
            c.fn(*c.args)
            self._drain()
        if target_ns > clock.now:
            clock.now = target_ns

    @property
    def pid(self) -> int:
        """The process id of the process driving the kernel (routing
        messages it writes carry it in rtm_pid)."""
        return 1

    @property
    def now(self) -> float:
        """Seconds since boot (virtual)."""
        return self.clock.now / NS

    # -- process FIB (setfib(2)) --------------------------------------------

    def setfib(self, fib: int) -> None:
        """setfib(2): the FIB of this process (the one driving the kernel):
        its new sockets, ``route`` commands without ``fib=`` and, with
        net.add_addr_allfibs=0, the interface routes of addresses it adds
        use that table. EINVAL outside 0..net.fibs-1; ENOSYS (no such
        system call) before multiple FIBs (seed 001:233)."""
        if not self.profile.multiple_fibs:
            raise OSError(errno.ENOSYS, "setfib: no such system call")
        self.proc_fibnum = self.fibnum(fib, what="setfib")

    def fibnum(self, fib: object, *, what: str = "fib") -> int:
        """A FIB argument checked as the kernel does: an int (TypeError
        otherwise), OSError(EINVAL) outside 0..net.fibs-1; None stands for
        the calling process's FIB."""
        if fib is None:
            return self.proc_fibnum
        if isinstance(fib, bool) or not isinstance(fib, int):
            raise TypeError(f"{what}: a FIB number is an int, not {type(fib).__name__}")
        if not 0 <= fib < self.fibs:
            raise OSError(errno.EINVAL, f"{what} {fib}: no such FIB (net.fibs is {self.fibs})")
        return fib

    # -- vnet0 shortcuts ----------------------------------------------------

    def ifconfig(self, name: str, addr: str | None = None, **kw: Any) -> Ifnet:
        return self.vnet0.ifconfig(name, addr, **kw)

    def iface(self, name: str) -> Ifnet:
        return self.vnet0.iface(name)

    def route_add(self, dest: str, gateway: str | None = None, **kw: Any) -> None:
        """route add (see VNet.route_add); without ``fib=`` the route goes
        into the process FIB (``setfib``), as route(8) run under setfib."""
        self.vnet0.route_add(dest, gateway, **kw)

    def route_delete(self, dest: str, **kw: Any) -> None:
        self.vnet0.route_delete(dest, **kw)

    def route_get(self, dest: str, fib: int | None = None) -> Any:
        """route get: the route a packet to ``dest`` takes in ``fib`` (the
        process FIB when not given), or None."""
        return self.vnet0.route_get(dest, fib)

    def routes(self, fib: int | None = None) -> Any:
        """netstat -rn: every route of the FIB, ordered by destination."""
        return self.vnet0.routes(fib)

    def arp_add(self, addr: str, ether: str, iface: str | None = None) -> None:
        self.vnet0.arp_add(addr, ether, iface)

    def arp_delete(self, addr: str, iface: str | None = None) -> None:
        """arp -d in vnet0 (see kstack.netinet.if_ether.arp_delete)."""
        from kstack.netinet.if_ether import arp_delete

        arp_delete(self.vnet0, addr, iface)

    def sysctl(self, name: str, value: object = None, *, uid: int = 0) -> Value:
        """See VNet.sysctl; ``uid`` is the reader's (pcb lists filter by it)."""
        return self.vnet0.sysctl(name, value, uid=uid)

    def sysctl_size(self, name: str, *, uid: int = 0) -> int:
        """The size a read of ``name`` with no buffer reports (sysctl(3)
        with oldp NULL); ENOENT for an unknown name."""
        return self.vnet0.sysctl_size(name, uid=uid)

    def netstat(self, proto: str | None = None) -> Any:
        return self.vnet0.netstat(proto)

    def input(self, ifname: str, frame: Any) -> Outcome:
        return self.vnet0.input(ifname, frame)

    def pfil_add_hook(self, func: Any, flags: int = 3, name: str | None = None) -> Any:
        """Register a packet filter hook on vnet0 (see :mod:`kstack.net.pfil`)."""
        return self.vnet0.pfil_add_hook(func, flags, name)

    def pfil_remove_hook(self, hook: Any) -> None:
        self.vnet0.pfil_remove_hook(hook)

    def socket(self, family: int, type: int, proto: int = 0, *, uid: int = 0) -> Socket:
        """socket(2) in vnet0; ``uid != 0`` is an unprivileged credential."""
        return self.vnet0.socket(family, type, proto, uid=uid)

    def transmitted(self, ifname: str) -> list[bytes]:
        return self.vnet0.transmitted(ifname)

    def capture(self, ifname: str) -> Any:
        return self.vnet0.capture(ifname)

    def ifmcstat(self, ifname: str | None = None) -> list[dict[str, object]]:
        """The multicast groups joined in vnet0 (see VNet.ifmcstat)."""
        return self.vnet0.ifmcstat(ifname)

    def igmp_ifinfo(self, ifname: str) -> dict[str, object]:
        """IGMP's state for an interface of vnet0 (see VNet.igmp_ifinfo)."""
        return self.vnet0.igmp_ifinfo(ifname)
