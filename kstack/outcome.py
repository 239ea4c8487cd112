"""What the stack did with one input packet.

Every frame handed to an interface, and every packet handed to ``ip_input``,
ends in exactly one :class:`Outcome`. ``reason`` is the FreeBSD counter the
kernel bumps on that path (``ips_badsum``, ``udps_noport``...) when there is
one, otherwise a short phrase naming the kernel function and the reason.
"""

from __future__ import annotations

from typing import NamedTuple

DELIVERED = "delivered"  # handed to a protocol or socket on this host
ANSWERED = "answered"  # the kernel answered it (echo reply, ARP reply...)
FORWARDED = "forwarded"
HELD = "held"  # kept by the stack: a reassembly queue, an ARP hold
DROPPED = "dropped"

KINDS = (DELIVERED, ANSWERED, FORWARDED, HELD, DROPPED)


class Outcome(NamedTuple):
    kind: str
    reason: str
    to: str = ""  # who received it, for deliveries ("raw socket 3", "icmp_input")
    detail: str = ""  # what else happened (an ICMP error sent, an errno)

    def __str__(self) -> str:
        s = f"{self.kind}: {self.reason}"
        if self.to:
            s = f"{s} -> {self.to}"
        return f"{s} ({self.detail})" if self.detail else s


def dropped(reason: str, detail: str = "") -> Outcome:
    return Outcome(DROPPED, reason, "", detail)
