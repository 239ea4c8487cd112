"""IGMP input checks (netinet/igmp.c).

The group state machine arrives with the multicast work; here every IGMP
message is validated and counted as ``igmp_input`` does before it hands
what survives to raw sockets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstack.netinet.ip import in_cksum_ok
from kstack.outcome import dropped

if TYPE_CHECKING:
    from kstack.kern.mbuf import Mbuf
    from kstack.net.vnet import VNet
    from kstack.outcome import Outcome

IGMP_MINLEN = 8
IGMP_DVMRP = 0x13

_TOOSHORT = dropped("igps_rcv_tooshort")
_BADSUM = dropped("igps_rcv_badsum")
_BADTTL = dropped("igps_rcv_badttl")


def igmp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    from kstack.netinet.raw_ip import rip_input

    igmpstat = vnet.igmpstat
    igmpstat.igps_rcv_total += 1
    data = m.data
    if plen < IGMP_MINLEN:
        igmpstat.igps_rcv_tooshort += 1
        return _TOOSHORT
    if not in_cksum_ok(memoryview(data)[hlen : hlen + plen]):
        igmpstat.igps_rcv_badsum += 1
        return _BADSUM
    igmp_type = data[hlen]
    if data[8] != 1 and igmp_type != IGMP_DVMRP:
        igmpstat.igps_rcv_badttl += 1
        return _BADTTL
    return rip_input(vnet, m, hlen, plen, f"IGMP type 0x{igmp_type:02x}, passed on by igmp_input")
