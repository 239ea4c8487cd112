"""Ethernet input and output (net/if_ethersubr.c)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kstack.kern.mbuf import M_BCAST, M_MCAST, Mbuf
from kstack.net.if_var import IFF_PROMISC, IFF_SIMPLEX, IFF_UP
from kstack.netinet.if_ether import arpintr, arpresolve
from kstack.outcome import Outcome, dropped

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet
    from kstack.net.route import Rtentry

ETHERTYPE_IP = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_IPV6 = 0x86DD
ETHER_HDR_LEN = 14
ETHER_BCAST = b"\xff" * 6
ETHER_HDR = struct.Struct("!6s6sH")
_ETHERTYPE_IP = ETHERTYPE_IP.to_bytes(2, "big")  # as the frame carries them
_ETHERTYPE_ARP = ETHERTYPE_ARP.to_bytes(2, "big")

_NOT_UP = dropped("ether_input: interface down")
_RUNT = dropped("ifi_ierrors")
_NOT_US = dropped("ether_input: frame not addressed to this interface")
_NOPROTO = dropped("ifi_noproto")
_LOOPED = dropped("ether_input: own frame looped back")


def ether_map_ip_multicast(group: int) -> bytes:
    """ETHER_MAP_IP_MULTICAST: 01:00:5e + the low 23 bits of the group."""
    return bytes((0x01, 0x00, 0x5E, (group >> 16) & 0x7F, (group >> 8) & 0xFF, group & 0xFF))


def ether_input(ifp: Ifnet, frame: bytes) -> Outcome:
    """A frame received on an Ethernet interface (ether_input/ether_demux)."""
    c = ifp.counters
    n = len(frame)
    c.ifi_ipackets += 1
    c.ifi_ibytes += n
    if ifp.captures:
        for cap in ifp.captures:
            cap.tap(frame, "", "in")
    if n < ETHER_HDR_LEN:
        c.ifi_ierrors += 1
        return _RUNT
    if not ifp.flags & IFF_UP:
        return _NOT_UP
    dst = frame[0:6]
    flags = 0
    if dst[0] & 1:
        flags = M_BCAST if dst == ETHER_BCAST else M_MCAST
        c.ifi_imcasts += 1
    elif dst != ifp.lladdr and not ifp.flags & IFF_PROMISC:
        return _NOT_US
    etype = frame[12:14]
    vnet = ifp.vnet
    if etype == _ETHERTYPE_IP:
        # m_adj: one copy of the frame, the Ethernet header cut off its
        # front (which a bytearray does without moving the rest).
        data = bytearray(frame)
        del data[:ETHER_HDR_LEN]
        return vnet.netisr_dispatch_ip(Mbuf(data, ifp, ifp.fib, flags))
    if etype == _ETHERTYPE_ARP:
        return arpintr(ifp, frame[ETHER_HDR_LEN:], flags)
    c.ifi_noproto += 1
    return _NOPROTO


def ether_output(ifp: Ifnet, m: Mbuf, nexthop: int, rt: Rtentry | None) -> int:
    """Frame an IPv4 packet for ``nexthop`` and hand it to the driver.

    Returns an errno (0 also when the packet is held waiting for ARP).
    """
    if not ifp.flags & IFF_UP:
        return 50  # ENETDOWN
    mflags = m.flags
    if mflags & M_BCAST:
        edst: bytes | None = ETHER_BCAST
    elif mflags & M_MCAST:
        edst = ether_map_ip_multicast(nexthop)
    else:
        for ia in ifp.addrs_in:
            if ia.addr == nexthop:
                # The interface's own address (its LLE_IFADDR entry): the
                # packet is looped back in on this interface, checksums
                # taken as verified (reached when a /32 alias's own route
                # leads here instead of through lo0).
                from kstack.net.if_loop import M_CSUM_DATA_VALID, M_CSUM_IP_VALID, if_simloop

                m.flags |= M_CSUM_IP_VALID | M_CSUM_DATA_VALID
                return if_simloop(ifp, m)
        resolved = arpresolve(ifp, m, nexthop, rt)
        if isinstance(resolved, int):
            return resolved
        edst = resolved
    if mflags & M_BCAST and ifp.flags & IFF_SIMPLEX:
        # A simplex interface does not hear its own broadcasts: loop a copy.
        from kstack.net.if_loop import if_simloop

        if_simloop(ifp, m.copy())
    frame = ETHER_HDR.pack(edst, ifp.lladdr, ETHERTYPE_IP) + m.data
    ifp.output_frame(frame, m, m.why)
    return 0
