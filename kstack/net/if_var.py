"""struct ifnet and struct in_ifaddr (net/if_var.h, netinet/in_var.h)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kstack.netinet.ip import ntoa

if TYPE_CHECKING:
    from kstack.kern.mbuf import Mbuf
    from kstack.net.bpf import Capture
    from kstack.net.vnet import VNet

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_DEBUG = 0x4
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40  # IFF_DRV_RUNNING in if_drv_flags; shown here as ifconfig does
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_SIMPLEX = 0x800
IFF_MULTICAST = 0x8000

IFT_ETHER = 0x6
IFT_LOOP = 0x18

IFQ_MAXLEN = 50  # net.link.ifqmaxlen default


def format_mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


_HEX = frozenset("0123456789abcdefABCDEF")


def parse_mac(s: str) -> bytes:
    """Six colon-separated groups of one or two hex digits, nothing else
    (ether_aton's form): ValueError otherwise, TypeError for a non-str."""
    if not isinstance(s, str):
        raise TypeError(f"a MAC address is a str, not {type(s).__name__}")
    parts = s.split(":")
    if len(parts) != 6 or not all(0 < len(p) <= 2 and set(p) <= _HEX for p in parts):
        raise ValueError(f"not a MAC address: {s!r}")
    return bytes(int(p, 16) for p in parts)


@dataclass(slots=True, eq=False)
class InIfaddr:
    """One IPv4 address on an interface (struct in_ifaddr)."""

    addr: int
    mask: int
    plen: int
    broadaddr: int
    ifp: Ifnet
    subnet: int = 0  # ia_subnet: addr & mask
    has_route: bool = False  # IFA_ROUTE: the prefix route is installed
    dstaddr: int = 0  # for point-to-point interfaces

    def __str__(self) -> str:
        return f"{ntoa(self.addr)}/{self.plen}"


@dataclass(slots=True, eq=False)
class IfCounters:
    """Per-interface counters (if_data), FreeBSD names."""

    ifi_ipackets: int = 0
    ifi_ierrors: int = 0
    ifi_opackets: int = 0
    ifi_oerrors: int = 0
    ifi_collisions: int = 0
    ifi_ibytes: int = 0
    ifi_obytes: int = 0
    ifi_imcasts: int = 0
    ifi_omcasts: int = 0
    ifi_iqdrops: int = 0
    ifi_noproto: int = 0

    def snapshot(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class TxQueue(list[tuple[bytes, str]]):
    """The frames an interface sent that the harness has not collected yet,
    oldest first: (frame, why). The first frame queued into an empty queue
    notes the interface in its kernel's ``tx_pending``, so that collecting
    output visits only the interfaces that have some."""

    __slots__ = ("ifp",)

    def __init__(self, ifp: Ifnet | None = None) -> None:
        super().__init__()
        self.ifp = ifp

    def append(self, item: tuple[bytes, str]) -> None:
        if not self:
            ifp = self.ifp
            if ifp is not None:
                ifp.vnet.kernel.tx_pending[ifp] = None
        list.append(self, item)


@dataclass(slots=True, eq=False)
class Ifnet:
    """struct ifnet: an interface of one vnet."""

    name: str
    index: int
    vnet: VNet
    type: int
    lladdr: bytes
    mtu: int
    flags: int
    fib: int = 0
    addrs_in: list[InIfaddr] = field(default_factory=list)
    counters: IfCounters = field(default_factory=IfCounters)
    # frames sent and not yet collected by transmitted(): (frame, why)
    txq: list[tuple[bytes, str]] = field(default_factory=TxQueue)
    snd_len: int = 0  # if_snd occupancy; the emulated driver drains at once
    snd_maxlen: int = IFQ_MAXLEN
    snd_drops: int = 0
    captures: list[Capture] = field(default_factory=list)
    peer: Ifnet | None = None  # the other end of an epair
    lle: dict[int, object] = field(default_factory=dict)  # the ARP table (llentries)
    # IPv4 multicast: IGMP's per-interface state (struct igmp_ifinfo), the
    # groups joined here, oldest first (the kernel's if_multiaddrs lists
    # them newest first), and the all-hosts membership the first address
    # brings.
    igi: Any = None
    in_multi: dict[int, Any] = field(default_factory=dict)
    ii_allhosts: Any = None
    home_vnet: Any = None  # the vnet it was created in (vnet destruction returns it there)
    detached: bool = False  # destroyed (if_detach): frames still in flight to it are dropped
    epair_unit: int = -1
    attach_seq: int = 0  # its place in its vnet's list of interfaces (attach order)

    def __post_init__(self) -> None:
        if isinstance(self.txq, TxQueue):
            self.txq.ifp = self

    @property
    def ether(self) -> str:
        return format_mac(self.lladdr)

    @property
    def addrs(self) -> list[str]:
        return [str(ia) for ia in self.addrs_in]

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    def output_frame(self, frame: bytes, m: Mbuf | None, why: str) -> None:
        """The driver's transmit: count it, tap it, queue it for the harness
        (and for an epair, hand it to the other end)."""
        if self.peer is not None:
            from kstack.net.if_epair import epair_output

            epair_output(self, frame, m, why)
            return
        c = self.counters
        c.ifi_opackets += 1
        c.ifi_obytes += len(frame)
        if m is not None and m.flags & 0x400:
            c.ifi_omcasts += 1
        q = self.txq
        if not q:
            # TxQueue.append's note, made here on the per-packet path.
            self.vnet.kernel.tx_pending[self] = None
        list.append(q, (frame, why))
        if self.captures:
            for cap in self.captures:
                cap.tap(frame, why)
