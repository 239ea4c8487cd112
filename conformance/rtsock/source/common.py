"""Shared set-up for the routing socket expectations written from the FreeBSD 9.1 source.

Layouts (amd64, `u_long` and pointers 8 bytes, little-endian unless the
profile is big-endian), from `sys/net/route.h` and `sys/net/if.h`:

- `struct rt_msghdr` (152 bytes): msglen u16 @0, version u8 @2, type u8 @3,
  index u16 @4, (pad) @6, flags int @8, addrs int @12, pid @16, seq @20,
  errno @24, fmask @28, inits u_long @32, `struct rt_metrics` @40 (14 u_long:
  locks, mtu, hopcount, expire, recvpipe, sendpipe, ssthresh, rtt, rttvar,
  pksent, weight, filler[3]).
- `struct ifa_msghdr` (20 bytes): msglen, version, type, addrs int @4,
  flags int @8, index u16 @12, (pad) @14, metric int @16.
- `struct if_msghdr` (168 bytes): msglen, version, type, addrs int @4,
  flags int @8, index u16 @12, (pad) @14, `struct if_data` @16 (152 bytes:
  8 u_char, 15 u_long, time_t epoch, struct timeval lastchange).
- `struct if_announcemsghdr` (24 bytes): msglen, version, type, index u16 @4,
  name char[16] @6, what u16 @22.

Socket addresses follow the header in RTA_* bit order, each padded to a
multiple of sizeof(long) (SA_SIZE, route.h 290-293).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

import kstack
from kstack import sock

AF_INET = 2
AF_LINK = 18
AF_ROUTE = 17
AF_INET6 = 28

RTM_VERSION = 5
RTM_ADD = 0x1
RTM_DELETE = 0x2
RTM_CHANGE = 0x3
RTM_GET = 0x4
RTM_LOSING = 0x5
RTM_REDIRECT = 0x6
RTM_MISS = 0x7
RTM_LOCK = 0x8
RTM_NEWADDR = 0xC
RTM_DELADDR = 0xD
RTM_IFINFO = 0xE
RTM_IFANNOUNCE = 0x11

RTF_UP = 0x1
RTF_GATEWAY = 0x2
RTF_HOST = 0x4
RTF_REJECT = 0x8
RTF_DYNAMIC = 0x10
RTF_MODIFIED = 0x20
RTF_DONE = 0x40
RTF_STATIC = 0x800
RTF_BLACKHOLE = 0x1000

RTA_DST = 0x1
RTA_GATEWAY = 0x2
RTA_NETMASK = 0x4
RTA_GENMASK = 0x8
RTA_IFP = 0x10
RTA_IFA = 0x20
RTA_AUTHOR = 0x40
RTA_BRD = 0x80

RTV_MTU = 0x1

IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_DRV_RUNNING = 0x40
IFF_SIMPLEX = 0x800
IFF_MULTICAST = 0x8000

IFT_ETHER = 0x6
IFA_ROUTE = RTF_UP

SO_USELOOPBACK = 0x40

RT_MSGHDR_LEN = 152
IFA_MSGHDR_LEN = 20
IF_MSGHDR_LEN = 168
IF_DATA_LEN = 152
IFAN_MSGHDR_LEN = 24

EM0_MAC = "02:00:00:00:00:01"
EM1_MAC = "02:00:00:00:01:01"
PEER_MAC = "02:00:00:00:00:07"  # 192.0.2.7 on em0
GW_MAC = "02:00:00:00:00:fe"  # 192.0.2.254 on em0
PEER1_MAC = "02:00:00:00:01:07"  # 198.51.100.7 on em1
GW1_MAC = "02:00:00:00:01:fe"  # 198.51.100.254 on em1

RT_METRIC_NAMES = (
    "rmx_locks",
    "rmx_mtu",
    "rmx_hopcount",
    "rmx_expire",
    "rmx_recvpipe",
    "rmx_sendpipe",
    "rmx_ssthresh",
    "rmx_rtt",
    "rmx_rttvar",
    "rmx_pksent",
    "rmx_weight",
    "rmx_filler0",
    "rmx_filler1",
    "rmx_filler2",
)


# --------------------------------------------------------------------------
# The host


def make_host(fibs: int = 1, default_route: bool = False) -> kstack.Kernel:
    """em0 192.0.2.1/24, em1 198.51.100.1/24, static ARP for .7 and .254 on both.

    No default route unless asked for, so that a destination off both
    networks has no route at all (rtalloc1_fib's miss path)."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs)
    k.ifconfig("em0", "192.0.2.1/24", ether=EM0_MAC)
    k.ifconfig("em1", "198.51.100.1/24", ether=EM1_MAC)
    k.arp_add("192.0.2.7", PEER_MAC)
    k.arp_add("192.0.2.254", GW_MAC)
    k.arp_add("198.51.100.7", PEER1_MAC)
    k.arp_add("198.51.100.254", GW1_MAC)
    if default_route:
        k.route_add("default", "192.0.2.254")
    k.sysctl("net.inet.icmp.icmplim", 0)
    settle(k)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


@pytest.fixture
def k():
    return make_host()


def settle(stack, rounds: int = 10) -> None:
    """Run the netisr queues: routing messages are queued (rt_dispatch ->
    netisr_queue(NETISR_ROUTE), rtsock.c 1497)."""
    for _ in range(rounds):
        stack.advance(0)


def order(stack) -> str:
    return ">" if getattr(stack, "big_endian", False) else "<"


def route_socket(stack, proto: int = 0, uid: int = 0):
    return stack.socket(sock.AF_ROUTE, sock.SOCK_RAW, proto, uid=uid)


def drain(s, n: int = 8192) -> list[bytes]:
    """Every routing message queued on s, oldest first."""
    out = []
    while True:
        try:
            out.append(s.recv(n))
        except BlockingIOError:
            return out


def msg_type(m: bytes) -> int:
    return m[3]


def types(msgs: list[bytes]) -> list[int]:
    return [msg_type(m) for m in msgs]


def oserr(fn, *a, **kw) -> int:
    """Run fn and return the errno it raised (0 if it did not raise)."""
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def kpid(stack) -> int:
    """The process id replies carry (rtsock.c route_output 599)."""
    return stack.pid


# --------------------------------------------------------------------------
# Socket addresses


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def sa_size(sa_len: int) -> int:
    """SA_SIZE (route.h 290-293): sa_len rounded up to sizeof(long), at least 8."""
    if sa_len == 0:
        return 8
    return 1 + ((sa_len - 1) | 7)


def pad(sa: bytes) -> bytes:
    return sa + bytes(sa_size(len(sa)) - len(sa))


def sin(addr: str, port: int = 0) -> bytes:
    """A full struct sockaddr_in (16 bytes)."""
    return bytes((16, AF_INET)) + struct.pack("!H", port) + ip4(addr) + bytes(8)


def sin_mask_trimmed(mask: str) -> bytes:
    """An interface netmask after in_socktrim (in.c 157-168, in_ifinit 897):
    sa_len covers the last non-zero byte; family AF_INET (in.c in_control
    SIOCAIFADDR sets it). Returned padded to SA_SIZE, the bytes the message
    carries."""
    raw = bytes((16, AF_INET, 0, 0)) + ip4(mask) + bytes(8)
    length = 0
    for i in range(7, 3, -1):
        if raw[i]:
            length = i + 1
            break
    return pad(bytes((length,)) + raw[1:length]) if length else bytes(8)


def rn_mask(mask: str) -> bytes:
    """A route's mask as the radix tree keeps it (radix.c rn_addmask 504-527,
    skip = 4 for AF_INET): byte 0 = length after trailing zeroes are trimmed,
    bytes 1-3 = 0xff (from rn_ones), then the mask bytes. Padded to SA_SIZE."""
    body = bytearray(b"\x00\xff\xff\xff" + ip4(mask))
    while len(body) > 4 and body[-1] == 0:
        body.pop()
    body[0] = len(body)
    return pad(bytes(body))


def sdl_link(stack, index: int, if_type: int = IFT_ETHER) -> bytes:
    """The AF_LINK gateway rtinit and ifa_add_loopback_route give a
    connected route: a zeroed sockaddr_dl of sizeof 54 (route.c rtinit1
    1437, 1551-1553) with sdl_type and sdl_index set after the add
    (1582-1587). 54 bytes; SA_SIZE makes 56 on the wire, the last two are
    whatever followed the static null_sdl (don't care)."""
    return (
        bytes((54, AF_LINK))
        + struct.pack(order(stack) + "H", index)
        + bytes((if_type, 0, 0, 0))
        + bytes(46)
    )


def sdl_ifp(stack, name: str, mac: str | None, if_type: int = IFT_ETHER) -> bytes:
    """An interface's link-level address (if.c if_attach_internal 640-669:
    sdl_len = roundup(max(8 + IFNAMSIZ + addrlen, 54), 8) = 56; name then
    MAC in sdl_data, if_ethersubr.c ether_ifattach)."""
    idx = stack.iface(name).index
    lladdr = bytes(int(x, 16) for x in mac.split(":")) if mac else b""
    nm = name.encode()
    body = (
        bytes((56, AF_LINK))
        + struct.pack(order(stack) + "H", idx)
        + bytes((if_type, len(nm), len(lladdr), 0))
        + nm
        + lladdr
    )
    return body + bytes(56 - len(body))


# --------------------------------------------------------------------------
# Expected bytes with named fields and named don't-care fields


@dataclass
class Expect:
    """Expected bytes built field by field; don't-care fields are named."""

    buf: bytearray = field(default_factory=bytearray)
    fields: list[tuple[str, int, int, bool]] = field(default_factory=list)

    def add(self, name: str, data: bytes, dontcare: bool = False) -> Expect:
        self.fields.append((name, len(self.buf), len(data), dontcare))
        self.buf += data
        return self

    def dontcare(self, name: str, size: int) -> Expect:
        return self.add(name, bytes(size), dontcare=True)

    def __len__(self) -> int:
        return len(self.buf)

    def check(self, got: bytes, what: str = "message") -> None:
        diffs = []
        if len(got) != len(self.buf):
            diffs.append(f"length: got {len(got)}, expected {len(self.buf)}")
        for name, off, size, dc in self.fields:
            if dc:
                continue
            g = bytes(got[off : off + size])
            w = bytes(self.buf[off : off + size])
            if g != w:
                diffs.append(f"{name} [{off}:{off + size}]: got {g.hex()}, expected {w.hex()}")
        assert not diffs, f"{what} differs:\n  " + "\n  ".join(diffs)


def rt_header(
    stack,
    e: Expect,
    *,
    msglen: int,
    type: int,
    index: int = 0,
    flags: int = 0,
    addrs: int = 0,
    pid: int | None = 0,
    seq: int | None = 0,
    errno_: int = 0,
    fmask: int = 0,
    inits: int = 0,
    rmx: dict | None = None,
) -> Expect:
    """struct rt_msghdr; pid/seq None = don't care."""
    o = order(stack)
    e.add("rtm_msglen", struct.pack(o + "H", msglen))
    e.add("rtm_version", bytes((RTM_VERSION,)))
    e.add("rtm_type", bytes((type,)))
    e.add("rtm_index", struct.pack(o + "H", index))
    e.add("(pad)", bytes(2))
    e.add("rtm_flags", struct.pack(o + "i", flags))
    e.add("rtm_addrs", struct.pack(o + "i", addrs))
    if pid is None:
        e.dontcare("rtm_pid", 4)
    else:
        e.add("rtm_pid", struct.pack(o + "i", pid))
    if seq is None:
        e.dontcare("rtm_seq", 4)
    else:
        e.add("rtm_seq", struct.pack(o + "i", seq))
    e.add("rtm_errno", struct.pack(o + "i", errno_))
    e.add("rtm_fmask", struct.pack(o + "i", fmask))
    e.add("rtm_inits", struct.pack(o + "Q", inits))
    rmx = rmx or {}
    for name in RT_METRIC_NAMES:
        e.add(name, struct.pack(o + "Q", rmx.get(name, 0)))
    return e


def add_sa(e: Expect, name: str, sa: bytes, tail_dontcare: int = 0) -> Expect:
    """A socket address padded to SA_SIZE; the last tail_dontcare bytes of
    the padded form are named don't-care."""
    padded = pad(sa)
    if tail_dontcare:
        e.add(name, padded[:-tail_dontcare])
        e.dontcare(name + " (bytes past the kernel's copy source)", tail_dontcare)
    else:
        e.add(name, padded)
    return e


def add_link_gateway(stack, e: Expect, index: int, if_type: int = IFT_ETHER) -> Expect:
    return add_sa(e, "gateway (sockaddr_dl)", sdl_link(stack, index, if_type), tail_dontcare=2)


def ifa_header(
    stack, e: Expect, *, msglen: int, type: int, addrs: int, flags, index: int, metric: int = 0
) -> Expect:
    """struct ifa_msghdr; flags None = don't care."""
    o = order(stack)
    e.add("ifam_msglen", struct.pack(o + "H", msglen))
    e.add("ifam_version", bytes((RTM_VERSION,)))
    e.add("ifam_type", bytes((type,)))
    e.add("ifam_addrs", struct.pack(o + "i", addrs))
    if flags is None:
        e.dontcare("ifam_flags", 4)
    else:
        e.add("ifam_flags", struct.pack(o + "i", flags))
    e.add("ifam_index", struct.pack(o + "H", index))
    e.add("(pad)", bytes(2))
    e.add("ifam_metric", struct.pack(o + "i", metric))
    return e


# --------------------------------------------------------------------------
# Messages written to the socket


def rtmsg(
    stack,
    type: int,
    addrs: list[tuple[int, bytes]],
    *,
    flags: int = 0,
    seq: int = 0,
    index: int = 0,
    pid: int = 0,
    errno_: int = 0,
    fmask: int = 0,
    inits: int = 0,
    rmx: dict | None = None,
    version: int = RTM_VERSION,
    msglen: int | None = None,
) -> bytes:
    """A struct rt_msghdr followed by its socket addresses (padded to
    SA_SIZE, in RTA bit order), as route(8) writes one."""
    o = order(stack)
    body = b""
    bits = 0
    for bit, sa in sorted(addrs):
        bits |= bit
        body += pad(sa)
    total = RT_MSGHDR_LEN + len(body)
    rmx = rmx or {}
    metrics = b"".join(struct.pack(o + "Q", rmx.get(n, 0)) for n in RT_METRIC_NAMES)
    hdr = (
        struct.pack(
            o + "HBBH2xiiiiiiQ",
            total if msglen is None else msglen,
            version,
            type,
            index,
            flags,
            bits,
            pid,
            seq,
            errno_,
            fmask,
            inits,
        )
        + metrics
    )
    assert len(hdr) == RT_MSGHDR_LEN
    return hdr + body


def with_fields(stack, msg: bytes, **fields: int) -> bytes:
    """msg with some rt_msghdr fields replaced: what the kernel echoes back."""
    o = order(stack)
    m = bytearray(msg)
    offs = {
        "msglen": (0, "H"),
        "index": (4, "H"),
        "flags": (8, "i"),
        "addrs": (12, "i"),
        "pid": (16, "i"),
        "seq": (20, "i"),
        "errno": (24, "i"),
    }
    for name, value in fields.items():
        off, fmt = offs[name]
        struct.pack_into(o + fmt, m, off, value)
    return bytes(m)


def hdr_field(stack, m: bytes, name: str) -> int:
    o = order(stack)
    offs = {
        "msglen": (0, "H"),
        "version": (2, "B"),
        "type": (3, "B"),
        "index": (4, "H"),
        "flags": (8, "i"),
        "addrs": (12, "i"),
        "pid": (16, "i"),
        "seq": (20, "i"),
        "errno": (24, "i"),
        "inits": (32, "Q"),
        "rmx_mtu": (48, "Q"),
        "rmx_weight": (120, "Q"),
    }
    off, fmt = offs[name]
    return struct.unpack_from(o + fmt, m, off)[0]


def sockaddrs(m: bytes, hdrlen: int, addrs: int) -> dict[int, bytes]:
    """The socket addresses of a message by RTA bit (each as the kernel
    wrote it, sa_len bytes)."""
    out = {}
    off = hdrlen
    for i in range(8):
        bit = 1 << i
        if not addrs & bit:
            continue
        sa_len = m[off]
        out[bit] = bytes(m[off : off + sa_len])
        off += sa_size(sa_len)
    return out


# --------------------------------------------------------------------------
# Packets


def raw_send_unreachable(stack, dst: str = "203.0.113.9"):
    r = stack.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    return r, oserr(r.sendto, b"raw", (dst, 0))


def icmp_redirect(
    stack, *, router: str, router_mac: str, dst: str, gw: str, code: int = 1
) -> bytes:
    """An ICMP redirect from router to 192.0.2.1 about dst, quoting a
    datagram the host sent to dst (20-byte header and 8 bytes)."""
    quoted = IP(src="192.0.2.1", dst=dst, ttl=63, id=1) / UDP(sport=40000, dport=53)
    return bytes(
        Ether(src=router_mac, dst=EM0_MAC)
        / IP(src=router, dst="192.0.2.1", ttl=64)
        / ICMP(type=5, code=code, gw=gw)
        / bytes(quoted)[:28]
    )


__all__ = [
    "errno",
    "sock",
    "struct",
    "Ether",
    "IP",
    "UDP",
    "ICMP",
]
