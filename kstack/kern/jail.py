"""Jails (kern/kern_jail.c): prisons, their IPv4 address rules and
privileges, and vnet jails with a network stack of their own.

A classic jail shares the host's network stack (vnet0) and restricts what
its processes may use of it: a list of IPv4 addresses (the first is the
primary; the others are kept sorted), or no IPv4 at all. Every socket call
of a jailed process passes its addresses through the prison helpers
(``prison_check_ip4``, ``prison_local_ip4``, ``prison_get_ip4``,
``prison_remote_ip4``). A vnet jail (``vnet=True``) has its own stack,
starting with a down lo0 and nothing else, and no address restrictions:
it is its own host (``jailed_without_vnet()`` is false for it), with the
privileges a vnet jail's root has (interfaces, routes, raw sockets,
IP_BINDANY).

``Kernel.jail()`` creates a jail as 9.0's jail(8) does from its command
line: ``allow.raw_sockets`` follows ``security.jail.allow_raw_sockets``
unless given.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from kstack.kern.cred import (
    PRIV_NETINET_BINDANY,
    PRIV_NETINET_DUMMYNET,
    PRIV_NETINET_IPFW,
    PRIV_NETINET_MROUTE,
    PRIV_NETINET_RAW,
    PRIV_NETINET_RESERVEDPORT,
    PRIV_NETINET_REUSEPORT,
    PRIV_NETINET_SETHDROPTS,
    Ucred,
)
from kstack.netinet.ip import aton, ntoa

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.kern.sysctl import Ctx, Oid, SysctlTree, Value
    from kstack.kern.uipc_socket import Socket
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet

JAIL_MAX = 999999
INADDR_LOOPBACK = 0x7F000001

PRIV_NETINET_GETCRED = "PRIV_NETINET_GETCRED"
PRIV_NET_ROUTE = "PRIV_NET_ROUTE"
PRIV_NET_ADDIFADDR = "PRIV_NET_ADDIFADDR"
PRIV_NET_SETIFVNET = "PRIV_NET_SETIFVNET"
PRIV_SYSCTL_WRITE = "PRIV_SYSCTL_WRITE"
PRIV_SYSCTL_WRITEJAIL = "PRIV_SYSCTL_WRITEJAIL"

# prison_priv_check: what a jail's root keeps. A classic jail: these, and
# PRIV_NETINET_RAW with allow.raw_sockets; a vnet jail adds its own stack's
# administration.
_CLASSIC_PRIVS = frozenset(
    {
        PRIV_NETINET_RESERVEDPORT,
        PRIV_NETINET_REUSEPORT,
        PRIV_NETINET_SETHDROPTS,
        PRIV_NETINET_GETCRED,
        PRIV_SYSCTL_WRITEJAIL,
    }
)
_VNET_PRIVS = _CLASSIC_PRIVS | {
    PRIV_NETINET_RAW,
    PRIV_NETINET_BINDANY,
    PRIV_NETINET_MROUTE,
    PRIV_NETINET_IPFW,
    PRIV_NETINET_DUMMYNET,
    PRIV_NET_ROUTE,
    PRIV_NET_ADDIFADDR,
    PRIV_NET_SETIFVNET,
}

IP4_RESTRICTED = "new"  # PR_IP4 with an address list
IP4_DISABLED = "disable"  # PR_IP4 without addresses: helpers answer EAFNOSUPPORT
IP4_INHERIT = "inherit"  # no PR_IP4: the host's addresses, helpers pass everything


class Prison:
    """struct prison, as far as the network stack reads it."""

    __slots__ = (
        "kernel",
        "jid",
        "name",
        "ip4",
        "ip4_mode",
        "allow_raw_sockets",
        "saddrsel",
        "own_vnet",
        "vnet",
        "fib",
        "alive",
        "sockets",
        "__weakref__",
    )

    def __init__(
        self,
        kernel: Kernel,
        jid: int,
        name: str,
        ip4: tuple[int, ...] | None,
        ip4_mode: str,
        allow_raw_sockets: bool,
        saddrsel: bool,
        vnet: VNet | None,
        fib: int,
    ) -> None:
        self.kernel = kernel
        self.jid = jid
        self.name = name
        self.ip4 = ip4
        self.ip4_mode = ip4_mode
        self.allow_raw_sockets = allow_raw_sockets
        self.saddrsel = saddrsel
        self.own_vnet = vnet
        self.vnet = vnet if vnet is not None else kernel.vnet0
        self.fib = fib
        self.alive = True
        self.sockets: list[weakref.ref[Socket]] = []

    def __repr__(self) -> str:
        return f"<prison {self.jid} {self.name!r}>"

    # -- flags -----------------------------------------------------------------

    @property
    def is_vnet(self) -> bool:
        """PR_VNET: the jail owns its network stack."""
        return self.own_vnet is not None

    @property
    def ip4_restricted(self) -> bool:
        """PR_IP4: the jail restricts IPv4 (to a list, or to nothing)."""
        return self.ip4_mode != IP4_INHERIT

    @property
    def ip4_disabled(self) -> bool:
        """PR_IP4 without addresses: no IPv4 at all (socket(AF_INET) fails)."""
        return self.ip4_restricted and self.ip4 is None

    @property
    def primary(self) -> int:
        assert self.ip4 is not None
        return self.ip4[0]

    # -- the helpers (each answers for a credential in this prison) ----------------

    def check_ip4(self, addr: int) -> int:
        """prison_check_ip4: 0 for one of the jail's addresses, else
        EADDRNOTAVAIL (0.0.0.0 and 127.0.0.1 included); EAFNOSUPPORT without
        IPv4."""
        if not self.ip4_restricted:
            return 0
        if self.ip4 is None:
            return errno.EAFNOSUPPORT
        return 0 if addr in self.ip4 else errno.EADDRNOTAVAIL

    def local_ip4(self, addr: int) -> tuple[int, int]:
        """prison_local_ip4: a local address to bind or send from. 127.0.0.1
        becomes the primary, and so does 0.0.0.0 in a single-address jail;
        any other address must be the jail's."""
        if not self.ip4_restricted:
            return 0, addr
        if self.ip4 is None:
            return errno.EAFNOSUPPORT, addr
        if addr == INADDR_LOOPBACK:
            return 0, self.ip4[0]
        if addr == 0:
            return 0, (self.ip4[0] if len(self.ip4) == 1 else 0)
        return (0, addr) if addr in self.ip4 else (errno.EADDRNOTAVAIL, addr)

    def get_ip4(self) -> tuple[int, int]:
        """prison_get_ip4: the primary address."""
        if self.ip4 is None:
            return errno.EAFNOSUPPORT, 0
        return 0, self.ip4[0]

    def remote_ip4(self, addr: int) -> tuple[int, int]:
        """prison_remote_ip4: a destination; only 127.0.0.1 is rewritten
        (to the primary)."""
        if not self.ip4_restricted:
            return 0, addr
        if self.ip4 is None:
            return errno.EAFNOSUPPORT, addr
        if addr == INADDR_LOOPBACK:
            return 0, self.ip4[0]
        return 0, addr

    def priv_check(self, priv: str) -> int:
        """prison_priv_check: 0 when a jail's root keeps ``priv``."""
        if self.is_vnet:
            return 0 if priv in _VNET_PRIVS else errno.EPERM
        if priv in _CLASSIC_PRIVS:
            return 0
        if priv == PRIV_NETINET_RAW and self.allow_raw_sockets:
            return 0
        return errno.EPERM

    def ip4_strings(self) -> list[str] | None:
        return None if self.ip4 is None else [ntoa(a) for a in self.ip4]


def jailed(cred: Ucred) -> bool:
    return cred.prison is not None


def jailed_without_vnet(cred: Ucred) -> bool:
    """jailed() and not a vnet jail: the jail does not own its stack."""
    prison = cred.prison
    return prison is not None and not prison.is_vnet


_UNSET: Any = object()


def parse_ip4(ip4: object) -> tuple[str, tuple[int, ...] | None]:
    """The ip4 argument of Kernel.jail: a list of addresses (or one as a
    string), None or "disable", "inherit", or "new" without addresses.
    Returns (mode, addresses: primary first, the rest sorted ascending).
    Refuses what jail_set(2) refuses: 0.0.0.0, 255.255.255.255, duplicates
    (EINVAL)."""
    if ip4 is None or ip4 == IP4_DISABLED:
        return IP4_DISABLED, None
    if ip4 == IP4_INHERIT:
        return IP4_INHERIT, None
    if ip4 == IP4_RESTRICTED:
        return IP4_RESTRICTED, None  # new without addresses: behaves as disabled
    items: list[str]
    if isinstance(ip4, str):
        items = [x.strip() for x in ip4.split(",") if x.strip()]
    elif isinstance(ip4, Iterable):
        items = [str(x) for x in ip4]
    else:
        raise TypeError(
            f"ip4 must be a list of addresses, None, 'inherit' or 'disable', not {ip4!r}"
        )
    if not items:
        return IP4_DISABLED, None
    addrs: list[int] = []
    for a in items:
        try:
            v = aton(a)
        except (ValueError, OSError):
            raise OSError(errno.EINVAL, f"ip4: not an IPv4 address: {a!r}") from None
        if v in (0, 0xFFFFFFFF):
            raise OSError(errno.EINVAL, f"ip4: {a} cannot be a jail address")
        addrs.append(v)
    primary, rest = addrs[0], sorted(addrs[1:])
    if primary in rest or len(set(rest)) != len(rest):
        raise OSError(errno.EINVAL, "ip4: the same address is given twice")
    return IP4_RESTRICTED, (primary, *rest)


class Jail:
    """A running jail: create sockets in it with ``j.socket(...)``; a vnet
    jail also has its own interfaces, routes and sysctls (``j.vnet``)."""

    def __init__(self, kernel: Kernel, prison: Prison) -> None:
        self.kernel = kernel
        self.prison = prison

    def __repr__(self) -> str:
        kind = "vnet jail" if self.prison.is_vnet else "jail"
        return f"<kstack {kind} {self.jid} {self.name!r}>"

    @property
    def name(self) -> str:
        return self.prison.name

    @property
    def jid(self) -> int:
        return self.prison.jid

    @property
    def vnet(self) -> VNet:
        """The network stack the jail's sockets use (its own, or vnet0)."""
        return self.prison.vnet

    @property
    def ip4(self) -> list[str] | None:
        """The jail's IPv4 addresses, primary first; None without IPv4 (and
        for an inherit or vnet jail, which has no list)."""
        return self.prison.ip4_strings()

    @property
    def alive(self) -> bool:
        return self.prison.alive

    def _check(self) -> None:
        if not self.prison.alive:
            raise OSError(errno.ENOENT, f"jail {self.name} was removed")

    @contextmanager
    def _process(self) -> Iterator[None]:
        """Run a command as one of the jail's processes: its FIB is the
        process FIB meanwhile (route(8) and ifconfig(8) in the jail)."""
        k = self.kernel
        saved = k.proc_fibnum
        k.proc_fibnum = self.prison.fib
        try:
            yield
        finally:
            k.proc_fibnum = saved

    def setfib(self, fib: int) -> None:
        """setfib(2) by the jail's processes (no privilege needed): their
        later sockets and route commands use FIB ``fib``; EINVAL outside
        0..net.fibs-1. Sockets already open keep theirs."""
        self._check()
        self.prison.fib = self.kernel.fibnum(fib, what="setfib")

    def cred(self, uid: int = 0) -> Ucred:
        """A credential of a process in the jail (it inherited the FIB of the
        process that started the jail)."""
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise TypeError(f"a uid is an int, not {type(uid).__name__}")
        if not 0 <= uid <= 0xFFFFFFFF:
            raise ValueError(f"uid {uid} is not a uid_t")
        return Ucred(uid, self.prison, fib=self.prison.fib)

    # -- sockets -----------------------------------------------------------------

    def socket(self, family: int, type: int, proto: int = 0, *, uid: int = 0) -> Socket:
        """socket(2) by a process in the jail (``uid != 0``: unprivileged)."""
        from kstack.kern.uipc_socket import socreate

        self._check()
        so = socreate(self.vnet, family, type, proto, self.cred(uid))
        refs = self.prison.sockets
        if len(refs) >= 64 and not len(refs) & (len(refs) - 1):
            # Forget closed sockets now and then (at each power of two).
            refs[:] = [r for r in refs if r() is not None]
        refs.append(weakref.ref(so))
        return so

    # -- sysctl --------------------------------------------------------------------

    def sysctl(self, name: str, value: object = None, *, uid: int = 0) -> Value:
        """sysctl(8) in the jail: reads as the host (per-vnet values of the
        jail's stack); a write needs PRIV_SYSCTL_WRITEJAIL, which only the
        per-vnet values of a vnet jail's own stack grant (EPERM otherwise)."""
        from kstack.kern.sysctl import sysctl_read, sysctl_write

        tree, oid, ctx, store = self._sysctl_at(name, uid)
        if name == "security.jail.jailed":
            if value is not None:
                raise OSError(errno.EPERM, f"sysctl {name}: read-only")
            return 1
        if name == "security.jail.allow_raw_sockets" and value is None:
            return 1 if self.prison.allow_raw_sockets else 0
        if value is None:
            with self._process():  # net.my_fibnum: the jail's FIB
                return sysctl_read(tree, ctx, store, name)
        if uid != 0:
            raise OSError(errno.EPERM, f"sysctl {name}: not root")
        priv = PRIV_SYSCTL_WRITEJAIL if (oid.vnet and self.prison.is_vnet) else PRIV_SYSCTL_WRITE
        if self.prison.priv_check(priv):
            raise OSError(errno.EPERM, f"sysctl {name}: not writable from a jail")
        return sysctl_write(tree, ctx, store, name, value)

    def sysctl_size(self, name: str, *, uid: int = 0) -> int:
        """The size a read of ``name`` with no buffer reports, in the jail
        (the pcb lists count every pcb of the jail's stack, as the kernel's
        estimate does)."""
        from kstack.netinet.in_pcblist import sysctl_size

        tree, _oid, ctx, store = self._sysctl_at(name, uid)
        with self._process():
            return sysctl_size(tree, ctx, store, name)

    def _sysctl_at(self, name: str, uid: int) -> tuple[SysctlTree, Oid, Ctx, dict[str, Value]]:
        """The tree, the leaf, the jailed caller's context and the store (the
        jail's stack's or the machine's) for sysctl ``name``."""
        from kstack.kern.sysctl import Ctx

        self._check()
        if not isinstance(name, str):
            raise TypeError(f"a sysctl name is a str, not {type(name).__name__}")
        tree = self.kernel.sysctl_tree
        oid = tree.lookup(name)
        vnet = self.vnet
        store = vnet.sc if oid.vnet else self.kernel.sc
        return tree, oid, Ctx(self.kernel, vnet, self.cred(uid)), store

    # -- the jail's own stack (vnet jails) ---------------------------------------------

    def _own(self, what: str, priv: str) -> VNet:
        self._check()
        if self.prison.priv_check(priv):
            raise OSError(errno.EPERM, f"{what}: not permitted in a jail without its own vnet")
        return self.vnet

    def ifconfig(self, name: str, addr: str | None = None, **kw: Any) -> Ifnet:
        vnet = self._own("ifconfig", PRIV_NET_ADDIFADDR)
        with self._process():
            return vnet.ifconfig(name, addr, **kw)

    def iface(self, name: str) -> Ifnet:
        self._check()
        return self.vnet.iface(name)

    def route_add(self, dest: str, gateway: str | None = None, **kw: Any) -> None:
        """route add in the jail's stack, into the jail's FIB unless ``fib=``."""
        vnet = self._own("route add", PRIV_NET_ROUTE)
        with self._process():
            vnet.route_add(dest, gateway, **kw)

    def route_delete(self, dest: str, **kw: Any) -> None:
        vnet = self._own("route delete", PRIV_NET_ROUTE)
        with self._process():
            vnet.route_delete(dest, **kw)

    def arp_add(self, addr: str, ether: str, iface: str | None = None) -> None:
        self._own("arp -s", PRIV_NET_ROUTE).arp_add(addr, ether, iface)

    def route_get(self, dest: str, fib: int | None = None) -> Any:
        """route get (RTM_GET) from the jail: a network route is hidden
        (ESRCH) from a jail without its own vnet; a host route only shows if
        its destination is one of the jail's addresses, and the interface
        address reported is one of the jail's (rtm_get_jailed)."""
        from kstack.net.route import RTF_HOST

        self._check()
        vnet = self.vnet
        f = self.kernel.fibnum(self.prison.fib if fib is None else fib, what="route get")
        info = vnet.route_get(dest, f)
        if info is None:
            raise OSError(errno.ESRCH, f"route get {dest}: not in table")
        prison = self.prison
        if prison.is_vnet and self.kernel.profile.jailed_without_vnet:
            return info
        rt = vnet.rt[f].match(aton(dest))
        assert rt is not None
        if not rt.flags & RTF_HOST:
            raise OSError(errno.ESRCH, f"route get {dest}: network routes are hidden in a jail")
        if prison.check_ip4(rt.dst):
            raise OSError(errno.ESRCH, f"route get {dest}: not a route of this jail")
        ifa = info.ifaddr
        # The lo0 route to a local address carries lo0's link-level address,
        # which prison_if never accepts (no allow.socket_af here).
        if rt.self_route or (ifa is not None and prison.check_ip4(aton(ifa))):
            pick = next((ia.addr for ia in rt.ifp.addrs_in if prison.check_ip4(ia.addr) == 0), None)
            if pick is None:
                err, pick = prison.get_ip4()
                if err:
                    raise OSError(errno.ESRCH, f"route get {dest}: no address of this jail")
            from dataclasses import replace

            info = replace(info, ifaddr=ntoa(pick))
        return info

    def input(self, ifname: str, frame: Any) -> Any:
        self._check()
        return self.vnet.input(ifname, frame)

    def transmitted(self, ifname: str) -> list[bytes]:
        self._check()
        return self.vnet.transmitted(ifname)

    def netstat(self, proto: str | None = None) -> Any:
        """The counters of the jail's stack (the host's for a classic jail)."""
        self._check()
        return self.vnet.netstat(proto)

    def capture(self, ifname: str) -> Any:
        self._check()
        return self.vnet.capture(ifname)

    def interfaces(self) -> list[Ifnet]:
        self._check()
        return list(self.vnet.ifnets)

    def ifmcstat(self, ifname: str | None = None) -> list[dict[str, object]]:
        self._check()
        return self.vnet.ifmcstat(ifname)

    # -- removal -------------------------------------------------------------------------

    def remove(self) -> None:
        """jail -r: the jail's processes die (their sockets close); a vnet
        jail's stack is destroyed, the interfaces moved into it going back
        down and without addresses to the vnet they were created in."""
        self.kernel.jail_remove(self.name)


def prison_remove(kernel: Kernel, prison: Prison) -> None:
    """prison_remove_one + prison_deref + vnet_destroy."""
    if not prison.alive:
        return
    for ref in prison.sockets:
        so = ref()
        if so is not None and not so.closed:
            so.close()
    prison.sockets.clear()
    prison.alive = False
    vnet = prison.own_vnet
    if vnet is not None:
        vnet.destroy()
        prison.own_vnet = None
        prison.vnet = kernel.vnet0
