"""Per-protocol statistics blocks, laid out as in FreeBSD 9.0.

Each class mirrors one kernel structure: :class:`IpStat` is ``struct ipstat``
(``netinet/ip_var.h``), :class:`IcmpStat` is ``struct icmpstat``
(``netinet/icmp_var.h``), :class:`UdpStat` is ``struct udpstat``
(``netinet/udp_var.h``) and :class:`IgmpStat` is the IGMPv3 ``struct
igmpstat`` (``netinet/igmp_var.h``). Attribute names and their order are the C
member names and order of the 9.x headers (checked against the 9.1.0 and 9.3
release trees, whose four structures are identical), so code ported from the
kernel can bump counters with the same names: ``ipstat.ips_total += 1``.

Counters are plain ``int`` slots: the packet path does an attribute increment
and nothing else. The kernel's counters are ``u_long`` (``uint64_t`` for IGMP);
wrap-around at 2**64 is not modelled here, only when :mod:`kstack.netstat`
prints them.

:meth:`snapshot` gives a flat ``{name: value}`` dict in structure order, with
the two ICMP histograms spread out as ``icps_outhist[0]`` ... ``[40]``;
:func:`delta` compares two snapshots.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "ArpStat",
    "ICMP_MAXTYPE",
    "ICMP_NHIST",
    "IGPS_VERSION_3",
    "IGPS_VERSION3_LEN",
    "IcmpStat",
    "IgmpStat",
    "IpStat",
    "UdpStat",
    "delta",
]

#: Highest ICMP type with a histogram slot (``netinet/ip_icmp.h``).
ICMP_MAXTYPE = 40
#: Number of slots in each ICMP histogram.
ICMP_NHIST = ICMP_MAXTYPE + 1

#: ``igps_version`` of the IGMPv3-era structure.
IGPS_VERSION_3 = 3
#: ``sizeof(struct igmpstat)`` in 9.x: two uint32_t, sixteen uint64_t
#: counters and four uint64_t of reserved padding (4*2 + 8*16 + 8*4).
IGPS_VERSION3_LEN = 168

# Key under which a histogram member records its length in field metadata.
_HIST_LEN = "hist_len"


def _zero_hist() -> list[int]:
    return [0] * ICMP_NHIST


def _hist() -> list[int]:
    # A per-instance list of ICMP_NHIST zeros, tagged so snapshot() flattens it.
    return field(default_factory=_zero_hist, metadata={_HIST_LEN: ICMP_NHIST})


_LAYOUTS: dict[type, tuple[tuple[str, int], ...]] = {}


def _layout(cls: type) -> tuple[tuple[str, int], ...]:
    """(member name, histogram length or 0) for each dataclass field of cls."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = tuple((f.name, int(f.metadata.get(_HIST_LEN, 0))) for f in dataclasses.fields(cls))
        _LAYOUTS[cls] = layout
    return layout


class _StatBlock:
    """Shared read-out helpers; subclasses are slotted dataclasses."""

    __slots__ = ()

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The C member names, in structure order (a histogram counts once)."""
        return tuple(name for name, _ in _layout(cls))

    @classmethod
    def snapshot_keys(cls) -> tuple[str, ...]:
        """The keys :meth:`snapshot` returns, in the same order."""
        keys: list[str] = []
        for name, hlen in _layout(cls):
            if hlen:
                keys.extend(f"{name}[{i}]" for i in range(hlen))
            else:
                keys.append(name)
        return tuple(keys)

    def snapshot(self) -> dict[str, int]:
        """A flat copy of every counter, in structure order.

        Histogram members become one key per slot (``"icps_inhist[8]"``),
        all slots included whether zero or not.
        """
        out: dict[str, int] = {}
        for name, hlen in _layout(type(self)):
            value = getattr(self, name)
            if hlen:
                for i in range(hlen):
                    out[f"{name}[{i}]"] = int(value[i])
            else:
                out[name] = int(value)
        return out


@dataclass(slots=True)
class IpStat(_StatBlock):
    """``struct ipstat``: IPv4 input, forwarding and output counters."""

    ips_total: int = 0
    ips_badsum: int = 0
    ips_tooshort: int = 0
    ips_toosmall: int = 0
    ips_badhlen: int = 0
    ips_badlen: int = 0
    ips_fragments: int = 0
    ips_fragdropped: int = 0
    ips_fragtimeout: int = 0
    ips_forward: int = 0
    ips_fastforward: int = 0
    ips_cantforward: int = 0
    ips_redirectsent: int = 0
    ips_noproto: int = 0
    ips_delivered: int = 0
    ips_localout: int = 0
    ips_odropped: int = 0
    ips_reassembled: int = 0
    ips_fragmented: int = 0
    ips_ofragments: int = 0
    ips_cantfrag: int = 0
    ips_badoptions: int = 0
    ips_noroute: int = 0
    ips_badvers: int = 0
    ips_rawout: int = 0
    ips_toolong: int = 0
    ips_notmember: int = 0
    ips_nogif: int = 0
    ips_badaddr: int = 0


@dataclass(slots=True)
class IcmpStat(_StatBlock):
    """``struct icmpstat``: ICMP errors generated and messages handled.

    ``icps_outhist`` / ``icps_inhist`` count sent / received messages by ICMP
    type; index them by type: ``icmpstat.icps_inhist[ICMP_ECHO] += 1``.
    """

    # Errors we were asked to send.
    icps_error: int = 0
    icps_oldshort: int = 0
    icps_oldicmp: int = 0
    icps_outhist: list[int] = _hist()
    # Messages received.
    icps_badcode: int = 0
    icps_tooshort: int = 0
    icps_checksum: int = 0
    icps_badlen: int = 0
    icps_reflect: int = 0
    icps_inhist: list[int] = _hist()
    icps_bmcastecho: int = 0
    icps_bmcasttstamp: int = 0
    icps_badaddr: int = 0
    icps_noroute: int = 0


@dataclass(slots=True)
class UdpStat(_StatBlock):
    """``struct udpstat``: UDP datagrams in and out.

    The two ``udpps_`` names (with a double ``p``) are spelled that way in
    the kernel.
    """

    # Input side.
    udps_ipackets: int = 0
    udps_hdrops: int = 0
    udps_badsum: int = 0
    udps_nosum: int = 0
    udps_badlen: int = 0
    udps_noport: int = 0
    udps_noportbcast: int = 0
    udps_fullsock: int = 0
    udpps_pcbcachemiss: int = 0
    udpps_pcbhashmiss: int = 0
    # Output side.
    udps_opackets: int = 0
    udps_fastout: int = 0
    udps_noportmcast: int = 0
    udps_filtermcast: int = 0


@dataclass(slots=True)
class IgmpStat(_StatBlock):
    """``struct igmpstat`` as revised for IGMPv3 (FreeBSD 8.0 and later).

    The two header words are set once, as the kernel does when IGMP starts:
    ``igps_version`` = 3 and ``igps_len`` = 168, the structure's C size. The
    C structure ends with ``__igps_pad[4]``, four reserved 64-bit words that
    never count anything; they are left out here (they still count towards
    ``igps_len``).
    """

    # Header words describing the structure itself.
    igps_version: int = IGPS_VERSION_3
    igps_len: int = IGPS_VERSION3_LEN
    # Messages in general.
    igps_rcv_total: int = 0
    igps_rcv_tooshort: int = 0
    igps_rcv_badttl: int = 0
    igps_rcv_badsum: int = 0
    # Queries.
    igps_rcv_v1v2_queries: int = 0
    igps_rcv_v3_queries: int = 0
    igps_rcv_badqueries: int = 0
    igps_rcv_gen_queries: int = 0
    igps_rcv_group_queries: int = 0
    igps_rcv_gsr_queries: int = 0
    igps_drop_gsr_queries: int = 0
    # Reports.
    igps_rcv_reports: int = 0
    igps_rcv_badreports: int = 0
    igps_rcv_ourreports: int = 0
    igps_rcv_nora: int = 0
    igps_snd_reports: int = 0


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The counters that moved between two snapshots, as ``after - before``.

    Keys come in ``after``'s order; a key present on one side only is taken
    as 0 on the other (such keys follow, in ``before``'s order). Unchanged
    counters are left out, so an idle interval gives ``{}``.
    """
    out: dict[str, int] = {}
    for key, new in after.items():
        diff = new - before.get(key, 0)
        if diff:
            out[key] = diff
    for key, old in before.items():
        if key not in after and old:
            out[key] = -old
    return out


@dataclass(slots=True)
class ArpStat(_StatBlock):
    """``struct arpstat`` (``net/if_arp.h``), the ARP counters behind
    ``net.link.ether.arp.stats`` and ``netstat -s -p arp``.

    The C structure has ``arp_spares[4]`` between ``received`` and
    ``dropped``, reserved words that never count anything; they are left
    out here.
    """

    # Normal traffic.
    txrequests: int = 0  # requests sent (arprequest), gratuitous ones included
    txreplies: int = 0  # replies sent (in_arpinput)
    rxrequests: int = 0  # requests received that reached the reply step
    rxreplies: int = 0  # replies received
    received: int = 0  # ARP packets that passed arpintr's checks
    # Abnormal events.
    dropped: int = 0  # packets dropped while waiting for a reply
    timeouts: int = 0  # entries removed by their timer
    dupips: int = 0  # another host claiming one of our addresses


# -- Journalling copies ------------------------------------------------------
#
# A replay that reports each packet's counter deltas swaps a stack's blocks
# for journalling copies: they count like the plain blocks and also note,
# in one dict shared by the stack's copies, each counter's value before its
# first write since the dict was last emptied (keyed as snapshot() keys
# them), so a packet's deltas come from the few counters it moved instead
# of a comparison of every counter. One journalling class per block class,
# made once; the plain blocks (every other user) never pay for it.

_set = object.__setattr__
_B = TypeVar("_B", bound=_StatBlock)

#: The journal key that says the journal lost track (a histogram changed
#: other than slot by slot); no counter has it.
JOURNAL_LOST = "?"


class JournalHist(list[int]):
    """A histogram list that notes in the journal ``old`` each slot's value
    before its first write (by index) since ``old`` was emptied.

    Any other change (a slice, ``append``, ``sort``...) is beyond the
    journal: :attr:`mark` then keeps the values the list had when ``old``
    was last emptied, and ``old`` gets the key :data:`JOURNAL_LOST`.
    """

    __slots__ = ("old", "keys", "mark")

    def __init__(self, values: Iterable[int], old: dict[str, Any], keys: tuple[str, ...]) -> None:
        super().__init__(values)
        self.old = old
        self.keys = keys
        self.mark: list[int] | None = None

    def __setitem__(self, i: Any, v: Any) -> None:
        if type(i) is int:
            key = self.keys[i]
            old = self.old
            if key not in old:
                old[key] = list.__getitem__(self, i)
        else:
            self.lose()
        list.__setitem__(self, i, v)

    def lose(self) -> None:
        """Keep the values as of the last emptying of the journal, which
        can no longer tell them."""
        if self.mark is None:
            old = self.old
            self.mark = [old.get(k, v) for k, v in zip(self.keys, self, strict=True)]
        self.old[JOURNAL_LOST] = 0


def _untrusted(name: str) -> Callable[..., Any]:
    method = getattr(list, name)

    def wrapper(self: JournalHist, *args: Any, **kwargs: Any) -> Any:
        self.lose()
        return method(self, *args, **kwargs)

    wrapper.__name__ = name
    return wrapper


for _name in (
    "__delitem__",
    "__iadd__",
    "__imul__",
    "append",
    "clear",
    "extend",
    "insert",
    "pop",
    "remove",
    "reverse",
    "sort",
):
    setattr(JournalHist, _name, _untrusted(_name))


def _journal_setattr(self: Any, name: str, value: Any) -> None:
    old = self.jold
    if name not in old:
        old[name] = getattr(self, name)
    _set(self, name, value)


_JOURNALLED: dict[type, type] = {}


def journalled_class(cls: type[_B]) -> type[_B]:
    """The journalling subclass of a stat block class (made once per class).

    Its instances note in the dict ``jold`` each attribute's value before
    its first assignment since ``jold`` was emptied.
    """
    j = _JOURNALLED.get(cls)
    if j is None:
        if cls in _JOURNALLED.values():
            raise TypeError(f"{cls.__name__} is already a journalling class")
        j = type(
            f"Journalled{cls.__name__}",
            (cls,),
            {"__slots__": ("jold",), "__setattr__": _journal_setattr, "__module__": __name__},
        )
        _JOURNALLED[cls] = j
    return j


def is_journalled(block: object) -> bool:
    """Whether ``block`` is a journalling copy."""
    return type(block) in _JOURNALLED.values()


def journalled_copy(block: _B, journal: dict[str, Any]) -> _B:
    """A journalling copy of ``block`` writing to ``journal``: the same
    values, its histograms as :class:`JournalHist` lists."""
    cls = type(block)
    jcls = journalled_class(cls)
    new = jcls.__new__(jcls)
    _set(new, "jold", journal)
    for name, hlen in _layout(cls):
        value = getattr(block, name)
        if hlen:
            value = JournalHist(value, journal, tuple(f"{name}[{i}]" for i in range(hlen)))
        _set(new, name, value)
    return new


def copy_values(src: _StatBlock, dst: _StatBlock) -> None:
    """Write ``src``'s counters into ``dst`` (histograms slot by slot, into
    ``dst``'s own lists)."""
    for name, hlen in _layout(type(dst)):
        value = getattr(src, name)
        if hlen:
            getattr(dst, name)[:] = value
        else:
            setattr(dst, name, value)


for _cls in (IpStat, IcmpStat, UdpStat, IgmpStat, ArpStat):
    journalled_class(_cls)
