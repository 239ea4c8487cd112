"""The router topology for the PMTU suite and the answers it expects, built
from the input bytes (never from kstack's output).

em0 192.0.2.1/24 faces the sender PEER; em1 198.51.100.1/24 faces FAR
(resolved statically); forwarding is on; ICMP rate limiting is off so
every error shows.
"""

from __future__ import annotations

import struct
from typing import Any

import kstack
from kstack.netinet.ip import in_cksum
from kstack.testing import (
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1_MAC,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    UDP,
    Ether,
    Raw,
    host,
)

BEYOND = "203.0.113.9"  # a network reached through FAR_GW on em1
FAR_GW = "198.51.100.254"
FAR_GW_MAC = "02:00:00:00:01:fe"


def router(profile: str | kstack.Profile = "9.0", **kw: Any) -> kstack.Kernel:
    k = host(profile, **kw)
    k.sysctl("net.inet.ip.forwarding", 1)
    k.sysctl("net.inet.icmp.icmplim", 0)
    k.arp_add(FAR, FAR_MAC)
    k.arp_add(FAR_GW, FAR_GW_MAC)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


def datagram(size: int, dst: str = FAR, df: bool = True, src: str = PEER, **ip: Any) -> bytes:
    """A UDP datagram of exactly ``size`` bytes (IP header included)."""
    ip.setdefault("id", 0x1234)
    ip.setdefault("ttl", 64)
    pkt = IP(src=src, dst=dst, flags="DF" if df else 0, **ip) / UDP(sport=4000, dport=9)
    body = bytes(size - 28)
    out = bytes(pkt / Raw(body))
    assert len(out) == size
    return out


def frame0(pkt: bytes) -> bytes:
    """As received on em0 from the peer."""
    return bytes(Ether(src=PEER_MAC, dst=HOST_MAC, type=0x0800)) + pkt


def forwarded(pkt: bytes, dst_mac: str = FAR_MAC) -> bytes:
    """What ip_forward sends on em1: TTL - 1, header checksum redone."""
    out = bytearray(pkt)
    out[8] -= 1
    hl = (out[0] & 0x0F) * 4
    out[10:12] = b"\0\0"
    struct.pack_into("!H", out, 10, in_cksum(out[:hl]))
    return bytes(Ether(src=HOST1_MAC, dst=dst_mac, type=0x0800)) + bytes(out)


def needfrag(pkt: bytes, mtu: int, quote: int | None = None, ip_id: int = BOOT_IP_ID) -> bytes:
    """icmp_error(ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, 0, mtu) for ``pkt`` as
    received: back to the peer from em0's address, TOS 0, TTL 64, DF copied
    from the offending packet (9.0 does not clear ip_off), the quote the
    received header plus 8 bytes unless ``quote`` says otherwise."""
    hl = (pkt[0] & 0x0F) * 4
    n = hl + 8 if quote is None else quote
    flags = struct.unpack_from("!H", pkt, 6)[0] >> 13
    return bytes(
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src=HOST, dst=PEER, id=ip_id, ttl=64, proto=1, flags=flags)
        / ICMP(type=3, code=4, nexthopmtu=mtu)
        / Raw(pkt[:n])
    )


def nextmtu(frame: bytes) -> int:
    """The next-hop MTU field of an ICMP needfrag frame."""
    hl = (frame[14] & 0x0F) * 4
    return int(struct.unpack_from("!H", frame, 14 + hl + 6)[0])


ERR_DELTA = {
    "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_cantfrag": 2, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
}

__all__ = [
    "BEYOND",
    "FAR",
    "FAR_GW",
    "FAR_GW_MAC",
    "FAR_MAC",
    "HOST",
    "PEER",
    "ICMP",
    "IP",
    "UDP",
    "Ether",
    "Raw",
    "router",
    "datagram",
    "frame0",
    "forwarded",
    "needfrag",
    "nextmtu",
    "ERR_DELTA",
]
