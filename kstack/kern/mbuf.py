"""mbuf(9), reduced to what the emulation needs.

A packet is one contiguous ``bytearray`` (chains are not modelled, so the
kernel's ``m_pullup`` failures become plain length checks that bump the same
counters) plus the packet-header fields the IPv4 path reads: the receiving
interface, the FIB, the M_* flags. ``why`` records the reason a locally
generated packet was sent, for replay reports and pcapng comments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet

# m_flags, FreeBSD 9 values
M_BCAST = 0x00000200
M_MCAST = 0x00000400
M_PROTO1 = 0x00000010
M_SKIP_FIREWALL = 0x00004000
M_FASTFWD_OURS = M_PROTO1
MHLEN = 168  # data bytes of one packet-header mbuf on amd64 (MSIZE 256)
M_PROTOFLAGS = 0x000000F0 | 0x00100000 | 0x00200000 | 0x00400000 | 0x00800000


class Mbuf:
    """``srcrt`` is the PACKET_TAG_IPOPTIONS tag: a source route that ended
    at this host, saved for the reply (option bytes, original source).
    ``fwd`` is the PACKET_TAG_IPFORWARD tag (a pfil hook's next hop), 0 for
    none."""

    __slots__ = ("data", "rcvif", "fib", "flags", "why", "srcrt", "fwd")

    def __init__(
        self,
        data: bytearray,
        rcvif: Ifnet | None = None,
        fib: int = 0,
        flags: int = 0,
        why: str = "",
    ) -> None:
        self.data = data
        self.rcvif = rcvif
        self.fib = fib
        self.flags = flags
        self.why = why
        self.srcrt: tuple[bytes, int] | None = None
        self.fwd = 0

    def copy(self) -> Mbuf:
        m = Mbuf(bytearray(self.data), self.rcvif, self.fib, self.flags, self.why)
        m.srcrt = self.srcrt
        m.fwd = self.fwd
        return m

    def __len__(self) -> int:
        return len(self.data)
