"""A virtual Ethernet cable between two interfaces (net/if_epair.c).

``epair<N>a`` and ``epair<N>b`` are created together, down, with the MACs
02:00:00:<index high>:<index low>:0a and ...:0b (the index each end got when
it was created). A frame sent on one end is queued to the epair netisr and
comes in on the other end (``ether_input``) when netisr work runs
(``Kernel.advance``), in the other end's vnet. A peer that is down or not
running drops the frame and counts an output error on the sender; a full
queue (``net.link.epair.netisr_maxqlen``, 42 x ifqmaxlen by default) too.

if_epair is a module: its sysctl appears with the first epair.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from kstack.kern.sysctl import CTLFLAG_RW, CTLTYPE_INT, Oid
from kstack.net.if_var import IFF_BROADCAST, IFF_MULTICAST, IFF_RUNNING, IFF_SIMPLEX, IFF_UP

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.kern.mbuf import Mbuf
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet

NETISR_MAXQLIMIT = 10240  # net.isr.maxqlimit


def _check_qlen(ctx: object, value: object) -> None:
    v = int(value)  # type: ignore[call-overload]
    if v < 1 or v > NETISR_MAXQLIMIT:
        raise OSError(errno.EINVAL, "epair netisr queue length out of range")


EPAIR_OIDS = (
    Oid(
        "net.link.epair.netisr_maxqlen",
        CTLTYPE_INT,
        lambda k: 42 * int(k.sc.get("net.link.ifqmaxlen", 50)),
        CTLFLAG_RW,
        "Longest the epair netisr queue may grow",
        check=_check_qlen,
    ),
)


class EpairQueue:
    """The epair netisr queue of a kernel: (receiving end, frame)."""

    __slots__ = ("q", "drops", "units")

    def __init__(self) -> None:
        self.q: deque[tuple[Ifnet, bytes]] = deque()
        self.drops = 0
        self.units: set[int] = set()


def epair_queue(kernel: Kernel) -> EpairQueue:
    q = kernel._epair
    if q is None:
        q = EpairQueue()
        kernel._epair = q
        kernel.sysctl_tree.register(*EPAIR_OIDS)
        kernel.sc.update(
            {o.name: (o.default(kernel) if callable(o.default) else o.default) for o in EPAIR_OIDS}
        )
    return q


def epair_create(kernel: Kernel, vnet_a: VNet, vnet_b: VNet) -> tuple[Ifnet, Ifnet]:
    """ifconfig epair create: the lowest free unit; both ends are created in
    ``vnet_a`` (their MACs come from their indexes there) and the b end is
    then moved to ``vnet_b`` (ifconfig epairNb vnet JAIL)."""
    q = epair_queue(kernel)
    unit = 0
    while unit in q.units:
        unit += 1
    q.units.add(unit)
    flags = IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST | IFF_RUNNING  # not IFF_UP
    a = vnet_a.if_attach(f"epair{unit}a", flags=flags, lladdr_last=0x0A)
    b = vnet_a.if_attach(f"epair{unit}b", flags=flags, lladdr_last=0x0B)
    a.peer = b
    b.peer = a
    a.epair_unit = b.epair_unit = unit
    if vnet_b is not vnet_a:
        vnet_a.if_vmove(b, vnet_b)
    return a, b


def epair_output(ifp: Ifnet, frame: bytes, m: Mbuf | None, why: str) -> None:
    """epair_transmit: the frame is tapped (bpf, and the harness's
    ``transmitted``) on the sending end, then queued for the other end;
    a peer that is down or not running, or a full queue, drops it with an
    output error; otherwise it counts as sent here and received there."""
    for cap in ifp.captures:
        cap.tap(frame, why)
    ifp.txq.append((frame, why))
    peer = ifp.peer
    assert peer is not None
    c = ifp.counters
    if not (peer.flags & IFF_UP and peer.flags & IFF_RUNNING) or peer.detached:
        c.ifi_oerrors += 1
        return
    kernel = ifp.vnet.kernel
    q = epair_queue(kernel)
    if len(q.q) >= int(kernel.sc["net.link.epair.netisr_maxqlen"]):
        q.drops += 1
        c.ifi_oerrors += 1
        return
    q.q.append((peer, frame))
    c.ifi_opackets += 1
    c.ifi_obytes += len(frame)
    if m is not None and m.flags & 0x600:  # M_BCAST | M_MCAST
        c.ifi_omcasts += 1


def epair_drain(kernel: Kernel) -> int:
    """Run the epair netisr: each queued frame comes in on its end."""
    from kstack.net.if_ethersubr import ether_input
    from kstack.net.vnet import Event

    q = kernel._epair
    if q is None or not q.q:
        return 0
    n = 0
    while q.q:
        ifp, frame = q.q.popleft()
        if ifp.detached:
            continue
        out = ether_input(ifp, frame)
        n += 1
        vnet = ifp.vnet
        if vnet.record_events:
            vnet.events.append(
                Event(kernel.clock.now, f"ether_input on {ifp.name} from its epair", out, ifp.name)
            )
    return n
