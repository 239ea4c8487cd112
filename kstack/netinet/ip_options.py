"""IP options (netinet/ip_options.c).

``net.inet.ip.process_options``: 0 ignores options, 2 rejects any packet
that carries them with ICMP 3/13. Mode 1 (the default: record route,
timestamps, source routing) is not emulated yet: such packets currently
continue as if their options were ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstack.outcome import dropped

if TYPE_CHECKING:
    from kstack.kern.mbuf import Mbuf
    from kstack.net.vnet import VNet
    from kstack.outcome import Outcome

ICMP_UNREACH = 3
ICMP_UNREACH_FILTER_PROHIB = 13


def ip_dooptions(vnet: VNet, m: Mbuf, hlen: int, ip_len: int) -> Outcome | None:
    """None when the packet continues; else the outcome of rejecting it."""
    mode = vnet.kernel.sc["net.inet.ip.process_options"]
    if mode == 2:
        from kstack.netinet.ip_icmp import icmp_error

        vnet.ipstat.ips_badoptions += 1
        icmp_error(vnet, m, ICMP_UNREACH, ICMP_UNREACH_FILTER_PROHIB, 0, 0)
        return dropped("ips_badoptions", "process_options=2: ICMP filter-prohibited sent")
    return None


def icmp_reflect_options(vnet: VNet, m: Mbuf, hlen: int) -> int:
    """Options of an answered packet: dropped from the reply for now."""
    data = m.data
    del data[20:hlen]
    data[0] = 0x45
    return 20
