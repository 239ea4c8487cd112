"""FreeBSD socket constants and option structures, with FreeBSD's numbers.

Use these, never the host's ``socket`` module: the values differ between
systems (``IP_HDRINCL`` is 2 here, 3 on Linux). The struct helpers return
bytes in the FreeBSD amd64 layout, ready for ``setsockopt``.
"""

from __future__ import annotations

import struct as _struct
from typing import Any as _Any

from kstack.netinet.ip import aton as _aton
from kstack.netinet.ip import ntoa as _ntoa

# -- address families, socket types (sys/socket.h) ---------------------------
AF_UNSPEC = 0
AF_UNIX = AF_LOCAL = 1
AF_INET = 2
AF_IMPLINK = 3
AF_ROUTE = PF_ROUTE = 17
AF_LINK = 18
AF_INET6 = 28

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5

# -- protocols (netinet/in.h) ------------------------------------------------
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_IPIP = IPPROTO_IPV4 = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_RSVP = 46
IPPROTO_GRE = 47
IPPROTO_ICMPV6 = 58
IPPROTO_PIM = 103
IPPROTO_SCTP = 132
IPPROTO_RAW = 255
IPPROTO_MAX = 256

# -- socket-level options (sys/socket.h) -------------------------------------
SOL_SOCKET = 0xFFFF

SO_DEBUG = 0x0001
SO_ACCEPTCONN = 0x0002
SO_REUSEADDR = 0x0004
SO_KEEPALIVE = 0x0008
SO_DONTROUTE = 0x0010
SO_BROADCAST = 0x0020
SO_USELOOPBACK = 0x0040
SO_LINGER = 0x0080
SO_OOBINLINE = 0x0100
SO_REUSEPORT = 0x0200
SO_TIMESTAMP = 0x0400
SO_NOSIGPIPE = 0x0800
SO_ACCEPTFILTER = 0x1000
SO_BINTIME = 0x2000
SO_NO_OFFLOAD = 0x4000
SO_NO_DDP = 0x8000

SO_SNDBUF = 0x1001
SO_RCVBUF = 0x1002
SO_SNDLOWAT = 0x1003
SO_RCVLOWAT = 0x1004
SO_SNDTIMEO = 0x1005
SO_RCVTIMEO = 0x1006
SO_ERROR = 0x1007
SO_TYPE = 0x1008
SO_LABEL = 0x1009
SO_PEERLABEL = 0x1010
SO_LISTENQLIMIT = 0x1011
SO_LISTENQLEN = 0x1012
SO_LISTENINCQLEN = 0x1013
SO_SETFIB = 0x1014
SO_USER_COOKIE = 0x1015
SO_PROTOCOL = SO_PROTOTYPE = 0x1016

# control message types at SOL_SOCKET
SCM_RIGHTS = 0x01
SCM_TIMESTAMP = 0x02
SCM_CREDS = 0x03
SCM_BINTIME = 0x04

# -- message flags -----------------------------------------------------------
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_EOR = 0x8
MSG_TRUNC = 0x10
MSG_CTRUNC = 0x20
MSG_WAITALL = 0x40
MSG_DONTWAIT = 0x80
MSG_EOF = 0x100
MSG_NOTIFICATION = 0x2000
MSG_NBIO = 0x4000
MSG_COMPAT = 0x8000
MSG_NOSIGNAL = 0x20000

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

# -- IPPROTO_IP options (netinet/in.h) ---------------------------------------
IP_OPTIONS = 1
IP_HDRINCL = 2
IP_TOS = 3
IP_TTL = 4
IP_RECVOPTS = 5
IP_RECVRETOPTS = 6
IP_RECVDSTADDR = 7
IP_SENDSRCADDR = IP_RECVDSTADDR
IP_RETOPTS = 8
IP_MULTICAST_IF = 9
IP_MULTICAST_TTL = 10
IP_MULTICAST_LOOP = 11
IP_ADD_MEMBERSHIP = 12
IP_DROP_MEMBERSHIP = 13
IP_MULTICAST_VIF = 14
IP_RSVP_ON = 15
IP_RSVP_OFF = 16
IP_RSVP_VIF_ON = 17
IP_RSVP_VIF_OFF = 18
IP_PORTRANGE = 19
IP_RECVIF = 20
IP_IPSEC_POLICY = 21
IP_FAITH = 22
IP_ONESBCAST = 23
IP_BINDANY = 24
IP_FW_TABLE_ADD = 40
IP_FW_TABLE_DEL = 41
IP_FW_TABLE_FLUSH = 42
IP_FW_TABLE_GETSIZE = 43
IP_FW_TABLE_LIST = 44
IP_FW3 = 48
IP_DUMMYNET3 = 49
IP_FW_ADD = 50
IP_FW_DEL = 51
IP_FW_FLUSH = 52
IP_FW_ZERO = 53
IP_FW_GET = 54
IP_FW_RESETLOG = 55
IP_FW_NAT_CFG = 56
IP_FW_NAT_DEL = 57
IP_FW_NAT_GET_CONFIG = 58
IP_FW_NAT_GET_LOG = 59
IP_DUMMYNET_CONFIGURE = 60
IP_DUMMYNET_DEL = 61
IP_DUMMYNET_FLUSH = 62
IP_DUMMYNET_GET = 64
IP_RECVTTL = 65
IP_MINTTL = 66
IP_DONTFRAG = 67
IP_RECVTOS = 68
IP_ADD_SOURCE_MEMBERSHIP = 70
IP_DROP_SOURCE_MEMBERSHIP = 71
IP_BLOCK_SOURCE = 72
IP_UNBLOCK_SOURCE = 73
IP_MSFILTER = 74
MCAST_JOIN_GROUP = 80
MCAST_LEAVE_GROUP = 81
MCAST_JOIN_SOURCE_GROUP = 82
MCAST_LEAVE_SOURCE_GROUP = 83
MCAST_BLOCK_SOURCE = 84
MCAST_UNBLOCK_SOURCE = 85

IP_DEFAULT_MULTICAST_TTL = 1
IP_DEFAULT_MULTICAST_LOOP = 1
IP_MIN_MEMBERSHIPS = 31
IP_MAX_MEMBERSHIPS = 4095
IP_MAX_SOURCE_FILTER = 1024  # netinet/in.h; nothing in the kernel checks it

# Source filter modes (RFC 3678; netinet/in.h)
MCAST_UNDEFINED = 0
MCAST_INCLUDE = 1
MCAST_EXCLUDE = 2

IP_PORTRANGE_DEFAULT = 0
IP_PORTRANGE_HIGH = 1
IP_PORTRANGE_LOW = 2

INADDR_ANY = "0.0.0.0"
INADDR_BROADCAST = "255.255.255.255"
INADDR_LOOPBACK = "127.0.0.1"

# -- structures (FreeBSD amd64 layout) ----------------------------------------

SOCKADDR_IN_LEN = 16
_SIN = _struct.Struct("!BBH4s8x")
_SS_SIZE = 128  # sizeof(struct sockaddr_storage)


def _in_addr(a: str) -> bytes:
    """A dotted quad (inet_pton's rules: ValueError otherwise) as 4 bytes."""
    return _aton(a).to_bytes(4, "big")


def _pack(fmt: str, *values: _Any) -> bytes:
    """struct.pack for the helpers: TypeError for a value that is not an
    int, ValueError for one the C field cannot hold."""
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"a structure field is an int, not {type(v).__name__}")
    try:
        return _struct.pack(fmt, *values)
    except _struct.error as e:
        raise ValueError(f"a value does not fit its field: {e}") from None


def sockaddr_in(addr: str, port: int = 0) -> bytes:
    """struct sockaddr_in: sin_len 16, sin_family AF_INET, port, address."""
    return bytes((SOCKADDR_IN_LEN, AF_INET)) + _pack("!H", port) + _in_addr(addr) + bytes(8)


def _sockaddr_storage(addr: str) -> bytes:
    sin = sockaddr_in(addr)
    return sin + bytes(_SS_SIZE - len(sin))


def ip_mreq(group: str, iface_addr: str = INADDR_ANY) -> bytes:
    """struct ip_mreq { imr_multiaddr; imr_interface; } (8 bytes)."""
    return _in_addr(group) + _in_addr(iface_addr)


def ip_mreqn(group: str, addr: str = INADDR_ANY, ifindex: int = 0) -> bytes:
    """struct ip_mreqn { imr_multiaddr; imr_address; int imr_ifindex; } (12 bytes)."""
    return _in_addr(group) + _in_addr(addr) + _pack("<i", ifindex)


def ip_mreq_source(group: str, source: str, iface_addr: str = INADDR_ANY) -> bytes:
    """struct ip_mreq_source { imr_multiaddr; imr_sourceaddr; imr_interface; }
    (FreeBSD's member order: the source comes second)."""
    return _in_addr(group) + _in_addr(source) + _in_addr(iface_addr)


def group_req(ifindex: int, group: str) -> bytes:
    """struct group_req: uint32 gr_interface, 4 bytes of padding, then a
    sockaddr_storage (136 bytes on amd64)."""
    return _pack("<I4x", ifindex) + _sockaddr_storage(group)


def group_source_req(ifindex: int, group: str, source: str) -> bytes:
    """struct group_source_req: interface, padding, group and source
    sockaddr_storage (264 bytes on amd64)."""
    return _pack("<I4x", ifindex) + _sockaddr_storage(group) + _sockaddr_storage(source)


def linger(onoff: int, seconds: int) -> bytes:
    """struct linger { int l_onoff; int l_linger; }."""
    return _pack("<ii", onoff, seconds)


def timeval(seconds: int, microseconds: int = 0) -> bytes:
    """struct timeval on amd64: two 64-bit fields."""
    return _pack("<qq", seconds, microseconds)


def int_opt(value: int) -> bytes:
    """An int option value as the kernel copies it in (little-endian, as on amd64)."""
    return _pack("<i", value)


# -- RFC 3678 full-state source filters ------------------------------------------

MSFILTERREQ_SIZE = 152  # sizeof(struct __msfilterreq) on amd64
_MSFR = _struct.Struct("<III4x")
_SRCS_PTR = 0x00007FFFFFFFE000  # any non-NULL user address
_SS_SIN = _struct.Struct("!BBH4s")


def msfilterreq(
    ifindex: int,
    group: str,
    fmode: int,
    sources: tuple[str, ...] | list[str] = (),
    nsrcs: int | None = None,
) -> bytes:
    """struct __msfilterreq, the IP_MSFILTER argument: u32 msfr_ifindex,
    u32 msfr_fmode, u32 msfr_nsrcs, 4 bytes of padding, the group as a
    sockaddr_storage, then the pointer msfr_srcs (152 bytes on amd64).

    The kernel copies the source array in from where msfr_srcs points;
    kstack models that user memory as the bytes after the structure: the
    ``sources`` follow as sockaddr_storage entries (128 bytes each). The
    pointer is non-NULL when there are sources or ``nsrcs`` > 0, zero
    (NULL) otherwise. ``nsrcs`` defaults to ``len(sources)``; a larger
    value leaves zeroed entries (room for getsockopt to fill)."""
    srcs = list(sources)
    n = len(srcs) if nsrcs is None else nsrcs
    ptr = _SRCS_PTR if (srcs or n > 0) else 0
    head = _pack("<III4x", ifindex, fmode, n) + _sockaddr_storage(group) + _pack("<Q", ptr)
    body = b"".join(_sockaddr_storage(a) for a in srcs)
    room = max(n, len(srcs)) * _SS_SIZE
    return head + body.ljust(room, b"\0")


def parse_msfilterreq(raw: bytes) -> tuple[int, int, int, list[str]]:
    """(ifindex, fmode, nsrcs, sources) from an IP_MSFILTER buffer as
    getsockopt leaves it: ``nsrcs`` is the total the kernel reported; the
    sources are the AF_INET entries it wrote after the structure."""
    if len(raw) < MSFILTERREQ_SIZE:
        raise ValueError(
            f"an IP_MSFILTER buffer is {MSFILTERREQ_SIZE} bytes or more, not {len(raw)}"
        )
    ifindex, fmode, nsrcs = _MSFR.unpack_from(raw, 0)
    out: list[str] = []
    for off in range(MSFILTERREQ_SIZE, len(raw) - _SS_SIZE + 1, _SS_SIZE):
        ln, fam, _port, addr = _SS_SIN.unpack_from(raw, off)
        if ln == 0 and fam == 0:
            break
        out.append(_ntoa(int.from_bytes(addr, "big")))
    return ifindex, fmode, nsrcs, out


def setsourcefilter(
    s: object, ifindex: int, group: str, fmode: int, sources: tuple[str, ...] | list[str] = ()
) -> None:
    """setsourcefilter(3): replace the socket's source filter for ``group``
    on interface ``ifindex`` (IP_MSFILTER). Raises OSError as the kernel
    answers."""
    s.setsockopt(IPPROTO_IP, IP_MSFILTER, msfilterreq(ifindex, group, fmode, sources))  # type: ignore[attr-defined]


def getsourcefilter(
    s: object, ifindex: int, group: str, numsrc: int = 0
) -> tuple[int, int, list[str]]:
    """getsourcefilter(3): (filter mode, the number of sources the filter
    holds, the first ``numsrc`` of them)."""
    buf = msfilterreq(ifindex, group, 0, (), nsrcs=numsrc)
    raw = s.getsockopt(IPPROTO_IP, IP_MSFILTER, buf)  # type: ignore[attr-defined]
    _ifindex, fmode, total, srcs = parse_msfilterreq(raw)
    return fmode, total, srcs[: min(numsrc, total)]


def _ifindex_of(s: object, iface_addr: str) -> int:
    """libc's __inaddr_to_index: the index of the interface holding
    ``iface_addr``, 0 when none does (the kernel then refuses index 0)."""
    vnet = s.vnet  # type: ignore[attr-defined]
    want = _aton(iface_addr)
    for ifp in vnet.ifnets:
        for ia in ifp.addrs_in:
            if ia.addr == want:
                return int(ifp.index)
    return 0


def setipv4sourcefilter(
    s: object, iface_addr: str, group: str, fmode: int, sources: tuple[str, ...] | list[str] = ()
) -> None:
    """setipv4sourcefilter(3): the interface named by one of its addresses."""
    setsourcefilter(s, _ifindex_of(s, iface_addr), group, fmode, sources)


def getipv4sourcefilter(
    s: object, iface_addr: str, group: str, numsrc: int = 0
) -> tuple[int, int, list[str]]:
    """getipv4sourcefilter(3): the interface named by one of its addresses."""
    return getsourcefilter(s, _ifindex_of(s, iface_addr), group, numsrc)


# -- routing sockets (net/route.h): message types, address bits, flags ----------

RTM_VERSION = 5
RTM_ADD = 0x1
RTM_DELETE = 0x2
RTM_CHANGE = 0x3
RTM_GET = 0x4
RTM_LOSING = 0x5
RTM_REDIRECT = 0x6
RTM_MISS = 0x7
RTM_LOCK = 0x8
RTM_RESOLVE = 0xB
RTM_NEWADDR = 0xC
RTM_DELADDR = 0xD
RTM_IFINFO = 0xE
RTM_IFANNOUNCE = 0x11
IFAN_ARRIVAL = 0  # ifan_what of RTM_IFANNOUNCE
IFAN_DEPARTURE = 1

RTA_DST = 0x1
RTA_GATEWAY = 0x2
RTA_NETMASK = 0x4
RTA_GENMASK = 0x8
RTA_IFP = 0x10
RTA_IFA = 0x20
RTA_AUTHOR = 0x40
RTA_BRD = 0x80

RTV_MTU = 0x1
RTV_EXPIRE = 0x4
RTV_WEIGHT = 0x100

RTF_UP = 0x1
RTF_GATEWAY = 0x2
RTF_HOST = 0x4
RTF_REJECT = 0x8
RTF_DYNAMIC = 0x10
RTF_MODIFIED = 0x20
RTF_DONE = 0x40
RTF_STATIC = 0x800
RTF_BLACKHOLE = 0x1000
RTF_PROTO1 = 0x8000
RTF_PROTO2 = 0x4000
RTF_PROTO3 = 0x40000
RTF_LOCAL = 0x200000
RTF_BROADCAST = 0x400000
RTF_MULTICAST = 0x800000
