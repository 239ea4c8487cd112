"""The IPv4 header (netinet/ip.h): constants, codec and checksum.

Addresses inside the stack are host-order ``int``; header bytes in an mbuf
stay in network order (the wire form). Where FreeBSD 9 converted ``ip_len``
and ``ip_off`` to host order in place, kstack keeps the parsed values in
locals and renders the kernel's in-memory view only where a user can see it
(raw sockets, ICMP quotes).
"""

from __future__ import annotations

import re
import socket
import struct

IPVERSION = 4
IP_MAXPACKET = 65535
IP_RF = 0x8000  # reserved ("evil") bit
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF
IPDEFTTL = 64
IPTOS_ECN_MASK = 0x03
IPTOS_ECN_CE = 0x03
IPTOS_ECN_NOTECT = 0x00

IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_RSVP = 46
IPPROTO_GRE = 47
IPPROTO_MOBILE = 55
IPPROTO_ETHERIP = 97
IPPROTO_PIM = 103
IPPROTO_SCTP = 132
IPPROTO_RAW = 255

INADDR_ANY = 0
INADDR_BROADCAST = 0xFFFFFFFF
INADDR_LOOPBACK = 0x7F000001
INADDR_ALLHOSTS_GROUP = 0xE0000001
INADDR_ALLRTRS_GROUP = 0xE0000002
INADDR_ALLRPTS_GROUP = 0xE0000016
IN_LOOPBACKNET = 127

# version/hl, tos, len, id, off, ttl, p, sum, src, dst
IP_HDR = struct.Struct("!BBHHHBBHII")

# ip_output() flags (netinet/ip_var.h)
IP_FORWARDING = 0x1  # most of the header exists
IP_RAWOUTPUT = 0x2  # the header exists (IP_HDRINCL)
IP_ROUTETOIF = 0x10  # SO_DONTROUTE
IP_ALLOWBROADCAST = 0x20  # SO_BROADCAST
IP_SENDONES = 0x40  # IP_ONESBCAST
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
IP_SRCDST = struct.Struct("!II")  # ip_src, ip_dst (at offset 12)


def in_multicast(a: int) -> bool:
    return (a & 0xF0000000) == 0xE0000000


def in_experimental(a: int) -> bool:
    """240/4, which includes 255.255.255.255 (IN_EXPERIMENTAL)."""
    return (a & 0xF0000000) == 0xF0000000


def in_linklocal(a: int) -> bool:
    return (a & 0xFFFF0000) == 0xA9FE0000


def in_canforward(a: int) -> bool:
    """in_canforward(): whether a destination may be forwarded at all."""
    if (a & 0xF0000000) >= 0xE0000000:  # multicast, experimental, broadcast
        return False
    if in_linklocal(a):
        return False
    top = a >> 24
    return not (top == 0 or top == IN_LOOPBACKNET)


def ntoa(a: int) -> str:
    return socket.inet_ntoa(U32.pack(a & 0xFFFFFFFF))


# One part of a dotted quad as inet_pton(3) takes it: 0 to 255 in decimal,
# ASCII digits only, no leading zero (so no octal), no sign, no space.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_DOTTED_QUAD = re.compile(rf"({_OCTET})\.({_OCTET})\.({_OCTET})\.({_OCTET})")


def aton(s: str) -> int:
    """Dotted quad -> host-order int, by inet_pton's rules whatever the
    host's C library accepts: exactly four decimal parts 0..255, no leading
    zeros ("010.0.0.1" is refused, not read as octal), nothing before or
    after. ValueError for any other string, TypeError for a non-str."""
    if not isinstance(s, str):
        raise TypeError(f"an IPv4 address is a str, not {type(s).__name__}")
    m = _DOTTED_QUAD.fullmatch(s)
    if m is None:
        raise ValueError(f"not an IPv4 address: {s!r}")
    a, b, c, d = m.groups()
    return (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)


def prefix_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def in_cksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum of ``data`` (already complemented).

    The one's-complement sum of big-endian 16-bit words equals the value of
    the whole buffer, read as one big-endian integer, modulo 0xffff (with
    0xffff standing for a non-zero multiple). Python's big integers do that
    arithmetic in C, far faster than a loop over words.
    """
    n = len(data)
    v = int.from_bytes(data, "big")
    if n & 1:
        v <<= 8
    if v == 0:
        return 0xFFFF
    s = v % 0xFFFF
    if s == 0:
        s = 0xFFFF
    return (~s) & 0xFFFF


def in_cksum_ok(data: bytes | bytearray | memoryview) -> bool:
    """True when ``data`` (checksum field included) sums to 0xffff."""
    n = len(data)
    v = int.from_bytes(data, "big")
    if n & 1:
        v <<= 8
    return v != 0 and v % 0xFFFF == 0


def in_pseudo(src: int, dst: int, proto: int, length: int) -> int:
    """Pseudo-header contribution as a big integer suitable for adding."""
    return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + length


def cksum_with_pseudo(data: bytes | bytearray | memoryview, pseudo: int) -> int:
    """Checksum of ``data`` plus a pseudo-header sum (complemented)."""
    n = len(data)
    v = int.from_bytes(data, "big")
    if n & 1:
        v <<= 8
    s = (v + pseudo) % 0xFFFF
    if s == 0:
        s = 0xFFFF if (v + pseudo) else 0
    return (~s) & 0xFFFF


def build_header(
    *,
    tos: int,
    total: int,
    ident: int,
    off: int,
    ttl: int,
    proto: int,
    src: int,
    dst: int,
    hl: int = 5,
) -> bytearray:
    """A 20-byte header with a correct checksum."""
    b = bytearray(IP_HDR.pack((4 << 4) | hl, tos, total, ident, off, ttl, proto, 0, src, dst))
    U16.pack_into(b, 10, in_cksum(b))
    return b


def set_cksum(buf: bytearray, off: int, hlen: int) -> None:
    buf[off + 10] = 0
    buf[off + 11] = 0
    U16.pack_into(buf, off + 10, in_cksum(memoryview(buf)[off : off + hlen]))
