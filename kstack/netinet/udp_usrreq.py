"""UDP input (netinet/udp_usrreq.c)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kstack.kern.mbuf import M_BCAST, M_MCAST, Mbuf
from kstack.netinet.in_ import in_broadcast
from kstack.netinet.ip import IPPROTO_UDP, U16, cksum_with_pseudo, in_multicast, in_pseudo
from kstack.netinet.ip_icmp import BANDLIM_ICMP_UNREACH, badport_bandlim, icmp_error
from kstack.outcome import dropped

if TYPE_CHECKING:
    from kstack.net.vnet import VNet
    from kstack.outcome import Outcome

UDP_HDR = struct.Struct("!HHHH")  # struct udphdr

ICMP_UNREACH = 3
ICMP_UNREACH_PORT = 3

_HDROPS = dropped("udps_hdrops")
_DPORT0 = dropped("udp_input: destination port 0")
_BADLEN = dropped("udps_badlen")
_BADSUM = dropped("udps_badsum")
_NOPORTBCAST = dropped("udps_noportbcast")
_NOPORT_SILENT = dropped("udps_noport", "no ICMP: net.inet.udp.blackhole")
_NOPORT_LIMITED = dropped("udps_noport", "no ICMP: net.inet.icmp.icmplim")
_NOPORT = dropped("udps_noport", "ICMP port unreachable sent")


def udp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """Validate a datagram and find its socket; a closed port is answered
    with ICMP port unreachable (rate limited, never for broadcasts)."""
    udpstat = vnet.udpstat
    udpstat.udps_ipackets += 1
    data = m.data
    if hlen > 20:
        # ip_stripoptions: the header shrinks to 20 bytes.
        del data[20:hlen]
        data[0] = 0x45
        hlen = 20
    if len(data) < hlen + 8:
        udpstat.udps_hdrops += 1
        return _HDROPS
    sport, dport, ulen, usum = UDP_HDR.unpack_from(data, hlen)
    if dport == 0:
        return _DPORT0
    if ulen != plen:
        if ulen > plen or ulen < 8:
            udpstat.udps_badlen += 1
            return _BADLEN
        del data[hlen + ulen :]
    src = int.from_bytes(data[12:16], "big")
    dst = int.from_bytes(data[16:20], "big")
    if usum:
        pseudo = in_pseudo(src, dst, IPPROTO_UDP, ulen)
        if cksum_with_pseudo(memoryview(data)[hlen : hlen + ulen], pseudo) != 0:
            udpstat.udps_badsum += 1
            return _BADSUM
    else:
        udpstat.udps_nosum += 1
    ifp = m.rcvif
    if in_multicast(dst) or (ifp is not None and in_broadcast(dst, ifp)):
        got = vnet.udp_deliver_multi(m, hlen, ulen, src, dst, sport, dport)
        if got is not None:
            return got
        udpstat.udps_noportbcast += 1
        return _NOPORTBCAST
    got = vnet.udp_deliver(m, hlen, ulen, src, dst, sport, dport)
    if got is not None:
        return got
    udpstat.udps_noport += 1
    if m.flags & (M_BCAST | M_MCAST):
        udpstat.udps_noportbcast += 1
        return _NOPORTBCAST
    if vnet.sc["net.inet.udp.blackhole"]:
        return _NOPORT_SILENT
    if not badport_bandlim(vnet, BANDLIM_ICMP_UNREACH):
        return _NOPORT_LIMITED
    # The quoted header is the option-stripped one with ip_len = 20 + payload.
    U16.pack_into(data, 2, hlen + plen)
    icmp_error(vnet, m, ICMP_UNREACH, ICMP_UNREACH_PORT, 0, 0)
    return _NOPORT
