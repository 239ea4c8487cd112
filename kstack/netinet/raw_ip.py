"""Raw IP sockets (netinet/raw_ip.c).

``rip_input`` is the default handler of every protocol without one of its
own. Socket matching and delivery arrive with the socket layer; until a raw
socket exists in the vnet, every packet that reaches here is counted as
having no protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstack.outcome import dropped

if TYPE_CHECKING:
    from kstack.kern.mbuf import Mbuf
    from kstack.net.vnet import VNet
    from kstack.outcome import Outcome

_NOPROTO = dropped("ips_noproto")


def rip_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """Hand a packet to the matching raw sockets; none matching gives
    ips_noproto and takes back the ips_delivered that ip_input counted."""
    ipstat = vnet.ipstat
    ipstat.ips_noproto += 1
    ipstat.ips_delivered -= 1
    return _NOPROTO
