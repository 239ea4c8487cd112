"""Packet filter hooks (net/pfil.c): the IPv4 pfil head of a vnet.

A hook is a Python callable registered for input, output or both. It is
called where FreeBSD 9.0 runs ``pfil_run_hooks`` for AF_INET:

* ``ip_input``, after the header checks and before options processing and
  the "is it for us" decision (``PFIL_IN``, with the receiving interface);
* ``ip_output``, after the route lookup and the broadcast checks, before
  the 127/8 check and fragmentation (``PFIL_OUT``, with the outgoing
  interface). Forwarded packets pass here too, from ``ip_forward``.

Input hooks run newest first, output hooks oldest first. The hook gets a
:class:`PfilPacket` and returns ``None`` (or 0) to let the
packet go on, or an errno to drop it: on output that errno is what
``ip_output`` returns (a UDP ``send`` fails with it; ``ip_forward`` sends no
ICMP error for EACCES). A hook may instead take the packet
(:meth:`PfilPacket.consume`), and the stack stops without an error.

What a hook may change, and what the stack does about it (as 9.0 does):

* the destination (:meth:`PfilPacket.set_dst`, a NAT rewrite). On input
  the strong-ES interface check is skipped and, when the new destination is
  not ours, ``ip_forward`` runs in source-route mode (``srcrt``). On output
  the packet is marked M_SKIP_FIREWALL and routed again; a destination that
  became one of our addresses is queued to ``ip_input`` through netisr.
  9.0 and 9.1 route it again wrongly when the route first used had a
  gateway: the new destination is written into that route's gateway and the
  old destination is looked up again, so the packet leaves by the old route
  towards the new destination as next hop, and the route keeps the new
  gateway (fixed by 9.3: switch ``ip_output_again_resets_dst``).
* the FIB (``pkt.fib = n``, M_SETFIB), read by the later route lookups of
  ``ip_forward``. On output the current lookup is already done.
* a next hop (:meth:`PfilPacket.fwd`, the ``ipfw fwd`` tag
  PACKET_TAG_IPFORWARD) or local delivery (:meth:`PfilPacket.ours`,
  M_FASTFWD_OURS). 9.0 acts on these only in a kernel built with ``options
  IPFIREWALL_FORWARD`` (``Kernel(options={"IPFIREWALL_FORWARD"})``);
  without it they are ignored and the stack records an event saying so.
  Profiles from 9.3 on (switch ``ipfw_fwd_always``) have them always.
  An input packet with a next hop goes straight to ``ip_forward`` in
  source-route mode: no options processing, no "ours" decision, no redirect
  and no early "no route" error. ``ip_output`` then routes to the next hop
  instead of the destination.

Hooks see the datagram as bytes with the header in network byte order (the
kernel's hooks see ip_len and ip_off in host order in 9.x).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING

from kstack.kern.mbuf import M_FASTFWD_OURS, M_SKIP_FIREWALL
from kstack.netinet.ip import U16, aton, in_cksum, ntoa

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.kern.mbuf import Mbuf
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet

PFIL_IN = 0x1
PFIL_OUT = 0x2
IN = PFIL_IN
OUT = PFIL_OUT

Hook = Callable[["PfilPacket"], "int | None"]

__all__ = ["IN", "OUT", "PFIL_IN", "PFIL_OUT", "PfilHead", "PfilHook", "PfilPacket"]


NO_IPFW_FWD = (
    "pfil: next hop or local delivery requested, ignored: the kernel is built "
    "without options IPFIREWALL_FORWARD"
)


def ipfw_fwd(kernel: Kernel) -> bool:
    """Whether the stack acts on a hook's next hop or M_FASTFWD_OURS."""
    return "IPFIREWALL_FORWARD" in kernel.options or kernel.profile.ipfw_fwd_always


def fwd_requested(vnet: VNet, m: Mbuf) -> bool:
    """Whether a hook asked for a next hop or local delivery that this
    kernel acts on. A request the kernel cannot honour is dropped from the
    packet, with an event saying so."""
    if not (m.fwd or m.flags & M_FASTFWD_OURS):
        return False
    if ipfw_fwd(vnet.kernel):
        return True
    m.fwd = 0
    m.flags &= ~M_FASTFWD_OURS
    vnet.note(m, NO_IPFW_FWD)
    return False


class PfilHook:
    """A registered hook (what ``pfil_add_hook`` returns; pass it to
    ``pfil_remove_hook``)."""

    __slots__ = ("func", "flags", "name")

    def __init__(self, func: Hook, flags: int, name: str) -> None:
        self.func = func
        self.flags = flags
        self.name = name

    def __repr__(self) -> str:
        d = "/".join(x for x, f in (("in", PFIL_IN), ("out", PFIL_OUT)) if self.flags & f)
        return f"PfilHook({self.name}, {d})"


class PfilPacket:
    """The packet a hook sees, and what it may do to it."""

    __slots__ = ("m", "ifp", "dir", "consumed", "_options")

    def __init__(self, m: Mbuf, ifp: Ifnet | None, direction: int, options: frozenset[str]):
        self.m = m
        self.ifp = ifp
        self.dir = "in" if direction == PFIL_IN else "out"
        self.consumed = False
        self._options = options

    @property
    def data(self) -> bytearray:
        """The IP datagram (header in network byte order). Edits are seen by
        the stack; keep the header checksum right (``fix_checksum``)."""
        return self.m.data

    @property
    def ifname(self) -> str:
        """The receiving interface (in) or the outgoing one (out)."""
        return self.ifp.name if self.ifp is not None else ""

    @property
    def src(self) -> str:
        return ntoa(int.from_bytes(self.m.data[12:16], "big"))

    @property
    def dst(self) -> str:
        return ntoa(int.from_bytes(self.m.data[16:20], "big"))

    @property
    def proto(self) -> int:
        return self.m.data[9]

    @property
    def fib(self) -> int:
        return self.m.fib

    @fib.setter
    def fib(self, fib: int) -> None:
        """M_SETFIB. A FIB this kernel does not have is refused (ValueError),
        as ipfw refuses a setfib rule beyond net.fibs."""
        if isinstance(fib, bool) or not isinstance(fib, int):
            raise TypeError(f"a FIB is an int, not {type(fib).__name__}")
        ifp = self.ifp
        fibs = len(ifp.vnet.rt) if ifp is not None else 1
        if not 0 <= fib < fibs:
            raise ValueError(f"FIB {fib} out of range (net.fibs is {fibs})")
        self.m.fib = fib

    @property
    def skip_firewall(self) -> bool:
        """M_SKIP_FIREWALL: a hook already rewrote or forwarded this packet
        (ipfw and pf pass such packets without looking at them)."""
        return bool(self.m.flags & M_SKIP_FIREWALL)

    @property
    def next_hop(self) -> str | None:
        """The ``fwd`` next hop set on this packet, if any."""
        nh = self.m.fwd
        return ntoa(nh) if nh else None

    def set_dst(self, addr: str) -> None:
        """Rewrite the destination (NAT): the header checksum and a UDP or
        TCP checksum are adjusted for the change (RFC 1624)."""
        self._rewrite(16, aton(addr))

    def set_src(self, addr: str) -> None:
        """Rewrite the source, adjusting checksums as :meth:`set_dst`."""
        self._rewrite(12, aton(addr))

    def fwd(self, next_hop: str) -> None:
        """``ipfw fwd``: send the packet to ``next_hop`` (an address) whatever
        its destination; an address of ours means local delivery."""
        a = aton(next_hop)
        if a == 0:
            raise ValueError("fwd needs a next-hop address, not 0.0.0.0")
        self.m.fwd = a

    def ours(self) -> None:
        """``ipfw fwd`` to a local address: deliver the packet here
        (M_FASTFWD_OURS), whatever its destination."""
        self.m.flags |= M_FASTFWD_OURS

    def consume(self) -> None:
        """Take the packet: the stack stops handling it, without an error."""
        self.consumed = True

    def fix_checksum(self) -> None:
        """Recompute the IP header checksum after editing ``data``."""
        data = self.m.data
        hlen = (data[0] & 0x0F) << 2
        data[10] = data[11] = 0
        U16.pack_into(data, 10, in_cksum(memoryview(data)[:hlen]))

    def _rewrite(self, off: int, new: int) -> None:
        data = self.m.data
        old = int.from_bytes(data[off : off + 4], "big")
        if old == new:
            return
        data[off : off + 4] = new.to_bytes(4, "big")
        _adjust(data, 10, old, new)
        hlen = (data[0] & 0x0F) << 2
        ip_off = U16.unpack_from(data, 6)[0]
        if ip_off & 0x1FFF:
            return  # a later fragment carries no transport header
        proto = data[9]
        if proto == 17 and len(data) >= hlen + 8:
            if data[hlen + 6] or data[hlen + 7]:  # 0: no UDP checksum
                _adjust(data, hlen + 6, old, new, udp=True)
        elif proto == 6 and len(data) >= hlen + 18:
            _adjust(data, hlen + 16, old, new)


def _adjust(data: bytearray, off: int, old: int, new: int, udp: bool = False) -> None:
    """Incremental checksum update for one 32-bit word (RFC 1624, eqn. 3)."""
    s = (~U16.unpack_from(data, off)[0]) & 0xFFFF
    s += ((~old >> 16) & 0xFFFF) + ((~old) & 0xFFFF) + (new >> 16) + (new & 0xFFFF)
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    c = (~s) & 0xFFFF
    if udp and c == 0:
        c = 0xFFFF
    U16.pack_into(data, off, c)


class PfilHead:
    """The AF_INET pfil head of one vnet (V_inet_pfil_hook). pfil_add_hook
    puts a new input hook at the head of the input list and a new output
    hook at the tail of the output list, so the newest hook sees input
    first and output last: a packet crosses the filters in the same order
    on its way in and out."""

    __slots__ = ("in_hooks", "out_hooks", "options", "hooked")

    def __init__(self, options: frozenset[str]) -> None:
        self.in_hooks: list[PfilHook] = []
        self.out_hooks: list[PfilHook] = []
        self.options = options
        # PFIL_HOOKED: any hook at all, in or out. The stack skips the
        # whole pfil section (next-hop tags included) when there is none.
        self.hooked = False

    def add(self, func: Hook, flags: int = PFIL_IN | PFIL_OUT, name: str | None = None) -> PfilHook:
        if not callable(func):
            raise TypeError(f"a pfil hook is a callable, not {type(func).__name__}")
        if isinstance(flags, bool) or not isinstance(flags, int):
            raise TypeError("flags is pfil.IN, pfil.OUT or both")
        if flags & ~(PFIL_IN | PFIL_OUT) or not flags:
            raise ValueError("flags is pfil.IN, pfil.OUT or both")
        hook = PfilHook(func, flags, name or str(getattr(func, "__name__", "hook")))
        # pfil_list_add refuses a function already in the list it adds to
        # (the same function may filter input and, separately, output).
        for want, lst in ((PFIL_IN, self.in_hooks), (PFIL_OUT, self.out_hooks)):
            if flags & want and any(h.func is func for h in lst):
                raise OSError(errno.EEXIST, f"pfil hook {hook.name} is already registered")
        if flags & PFIL_IN:
            self.in_hooks.insert(0, hook)
        if flags & PFIL_OUT:
            self.out_hooks.append(hook)
        self.hooked = True
        return hook

    def remove(self, hook: PfilHook) -> None:
        found = False
        for lst in (self.in_hooks, self.out_hooks):
            if hook in lst:
                lst.remove(hook)
                found = True
        if not found:
            raise OSError(errno.ENOENT, f"pfil hook {hook!r} is not registered")
        self.hooked = bool(self.in_hooks or self.out_hooks)

    def run(self, m: Mbuf, ifp: Ifnet | None, direction: int) -> tuple[int, bool, str]:
        """pfil_run_hooks: (error, consumed, name of the hook that stopped
        the packet). The first hook that drops or takes the packet ends the
        run."""
        hooks = self.in_hooks if direction == PFIL_IN else self.out_hooks
        for hook in list(hooks):
            pkt = PfilPacket(m, ifp, direction, self.options)
            rv = hook.func(pkt)
            if rv is None:
                rv = 0
            if isinstance(rv, bool) or not isinstance(rv, int) or rv < 0:
                raise TypeError(
                    f"pfil hook {hook.name} returned {rv!r}: return None or 0 to pass, "
                    "or an errno to drop"
                )
            if rv:
                return rv, False, hook.name
            if pkt.consumed:
                return 0, True, hook.name
        return 0, False, ""
