"""The machine: one virtual clock, one seeded generator, the sysctl tree,
and the virtual network stacks (vnet0 first)."""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kstack.kern.clock import NS, Clock
from kstack.kern.rand import Rng
from kstack.kern.sysctl import CTLFLAG_VNET, Ctx, SysctlTree, Value, sysctl_write
from kstack.net.if_var import Ifnet
from kstack.net.route import RT_MAXFIBS
from kstack.net.vnet import VNet
from kstack.outcome import Outcome
from kstack.profiles import Profile, get_profile

# 2012-01-10 00:00:00 UTC, the week FreeBSD 9.0 was released.
DEFAULT_BOOTTIME_NS = 1326153600 * NS

KERNEL_OPTIONS = frozenset({"PCBGROUP", "VIMAGE", "IPSTEALTH", "BIG_ENDIAN"})


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
        from kstack.kern.sysctl_table import IP_OPTIONS_OIDS, OIDS
        from kstack.netinet.if_ether import ARP_OIDS

        self.profile = get_profile(profile)
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
        tree = SysctlTree()
        oids = OIDS
        if self.profile.ip_options_sysctls_per_vnet:
            oids = tuple(
                replace(o, flags=o.flags | CTLFLAG_VNET) if o.name in IP_OPTIONS_OIDS else o
                for o in oids
            )
        tree.register(*oids)
        tree.register(*ARP_OIDS)
        self.sysctl_tree = tree
        self.sc: dict[str, Value] = tree.defaults(self, vnet=False)
        self.fibs = max(1, min(RT_MAXFIBS, int(fibs)))
        self.sc["net.fibs"] = self.fibs
        self.proc_fibnum = 0
        self.vnets: list[VNet] = []
        boot_vnet_tunables: dict[str, Value] = {}
        for name, value in (tunables or {}).items():
            oid = tree.lookup(name)
            if oid.vnet:
                boot_vnet_tunables[name] = value
            else:
                sysctl_write(tree, Ctx(self, None), self.sc, name, value, boot=True)
        self.vnet0 = self.new_vnet("vnet0")
        for name, value in boot_vnet_tunables.items():
            sysctl_write(tree, Ctx(self, self.vnet0), self.vnet0.sc, name, value, boot=True)

    def new_vnet(self, name: str) -> VNet:
        v = VNet(self, len(self.vnets), name)
        self.vnets.append(v)
        return v

    def all_ifnets(self) -> list[Ifnet]:
        return [ifp for v in self.vnets for ifp in v.ifnets]

    # -- time -------------------------------------------------------------

    def _drain(self) -> None:
        again = True
        while again:
            again = False
            for v in self.vnets:
                if v.ipintrq and v.netisr_drain():
                    again = True

    def advance(self, seconds: float = 0) -> None:
        """Move virtual time forward; callouts fire in order and queued
        netisr work runs (advance(0) runs what is queued now)."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        target = self.clock.now + round(seconds * NS)
        self.advance_to(target)

    def advance_to(self, target_ns: int) -> None:
        clock = self.clock
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
    def now(self) -> float:
        """Seconds since boot (virtual)."""
        return self.clock.now / NS

    # -- process FIB (setfib(2)) --------------------------------------------

    def setfib(self, fib: int) -> None:
        if not 0 <= fib < self.fibs:
            raise OSError(errno.EINVAL, f"setfib {fib}: out of range")
        self.proc_fibnum = fib

    # -- vnet0 shortcuts ----------------------------------------------------

    def ifconfig(self, name: str, addr: str | None = None, **kw: Any) -> Ifnet:
        return self.vnet0.ifconfig(name, addr, **kw)

    def iface(self, name: str) -> Ifnet:
        return self.vnet0.iface(name)

    def route_add(self, dest: str, gateway: str | None = None, **kw: Any) -> None:
        self.vnet0.route_add(dest, gateway, **kw)

    def route_delete(self, dest: str, **kw: Any) -> None:
        self.vnet0.route_delete(dest, **kw)

    def route_get(self, dest: str, fib: int = 0) -> Any:
        return self.vnet0.route_get(dest, fib)

    def arp_add(self, addr: str, ether: str, iface: str | None = None) -> None:
        self.vnet0.arp_add(addr, ether, iface)

    def sysctl(self, name: str, value: object = None) -> Value:
        return self.vnet0.sysctl(name, value)

    def netstat(self, proto: str | None = None) -> Any:
        return self.vnet0.netstat(proto)

    def input(self, ifname: str, frame: Any) -> Outcome:
        return self.vnet0.input(ifname, frame)

    def socket(self, family: int, type: int, proto: int = 0, *, uid: int = 0) -> Any:
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
