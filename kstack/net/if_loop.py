"""The loopback interface (net/if_loop.c)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from kstack.kern.mbuf import M_BCAST, M_MCAST, Mbuf
from kstack.net.route import RTF_BLACKHOLE, RTF_HOST, RTF_REJECT

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet
    from kstack.net.route import Rtentry

LOMTU = 16384

# Checksum offload flag private to the emulation: lo0 advertises IP checksum
# offload, so packets it carries are taken as verified on input.
M_CSUM_IP_VALID = 0x1_0000_0000
# ... and the transport checksum too (CSUM_DATA_VALID | CSUM_PSEUDO_HDR with
# csum_data 0xffff): UDP on lo0 carries only the pseudo-header sum.
M_CSUM_DATA_VALID = 0x10_0000_0000


def looutput(ifp: Ifnet, m: Mbuf, rt: Rtentry | None) -> int:
    """Output on lo0: reject and blackhole routes end here."""
    if rt is not None and rt.flags & (RTF_REJECT | RTF_BLACKHOLE):
        if rt.flags & RTF_BLACKHOLE:
            return 0
        return errno.EHOSTUNREACH if rt.flags & RTF_HOST else errno.ENETUNREACH
    c = ifp.counters
    c.ifi_opackets += 1
    c.ifi_obytes += len(m.data)
    m.flags |= M_CSUM_IP_VALID | M_CSUM_DATA_VALID  # LO_CSUM_SET: the receiver trusts both
    return if_simloop(ifp, m)


def if_simloop(ifp: Ifnet, m: Mbuf) -> int:
    """Queue a copy of an outgoing packet as input on ``ifp`` (netisr IP queue)."""
    vnet = ifp.vnet
    m.rcvif = ifp
    m.flags &= M_BCAST | M_MCAST | M_CSUM_IP_VALID | M_CSUM_DATA_VALID
    lo = vnet.lo0
    if ifp is lo:
        c = ifp.counters
        c.ifi_ipackets += 1
        c.ifi_ibytes += len(m.data)
        # What lo0 sends is what the harness sees leave it (transmitted("lo0")).
        ifp.txq.append((bytes(m.data), m.why))
    for cap in ifp.captures:
        cap.tap(bytes(m.data), m.why, "out")
    return vnet.netisr_queue_ip(m)
