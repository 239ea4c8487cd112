"""Helpers for the FreeBSD 9.x multicast/IGMP conformance expectations.

Everything here is derived from the FreeBSD 9.1 sources (sys/netinet/in_mcast.c,
igmp.c, ip_output.c, raw_ip.c, udp_usrreq.c); nothing is taken from kstack.
Frames are built by hand so that every byte (and every checksum) is known.
"""

import math
import os
import socket as _pysock
import struct

import pytest

import kstack
from kstack import sock

# ---------------------------------------------------------------- topology
EM0_IP = "192.0.2.1"  # em0, ifindex 2 (first Ethernet interface)
EM1_IP = "198.51.100.1"  # em1, ifindex 3
ROUTER = "192.0.2.254"  # default gateway / IGMP querier on em0
ROUTER_MAC = "02:00:00:00:00:fe"
PEER = "192.0.2.7"  # another host on em0's link
PEER_MAC = "02:00:00:00:00:07"
PEER1 = "198.51.100.7"  # another host on em1's link
G1 = "239.1.1.1"
G2 = "239.2.2.2"
S1 = "10.0.0.1"
S2 = "10.0.0.2"
S3 = "10.0.0.3"
ALLHOSTS = "224.0.0.1"
ALLRTRS = "224.0.0.2"
ALLRPTS = "224.0.0.22"

MCAST_UNDEFINED = getattr(sock, "MCAST_UNDEFINED", 0)
MCAST_INCLUDE = getattr(sock, "MCAST_INCLUDE", 1)
MCAST_EXCLUDE = getattr(sock, "MCAST_EXCLUDE", 2)

# IGMP message types (netinet/igmp.h)
IGMP_QUERY = 0x11
IGMP_V1_REPORT = 0x12
IGMP_DVMRP = 0x13
IGMP_V2_REPORT = 0x16
IGMP_V2_LEAVE = 0x17
IGMP_V3_REPORT = 0x22
# IGMPv3 record types
MODE_IS_INCLUDE, MODE_IS_EXCLUDE, TO_IN, TO_EX, ALLOW_NEW, BLOCK_OLD = 1, 2, 3, 4, 5, 6

RA_OPT = bytes([0x94, 0x04, 0x00, 0x00])  # igmp_ra_alloc(): RA, len 4, EOL, pad

FAST = 0.2  # PR_FASTHZ 5
SLOW = 0.5  # PR_SLOWHZ 2


def mk(profile="9.0", em1=True, default_route=True, **kw):
    """lo0 + em0 192.0.2.1/24 (+ em1 198.51.100.1/24), default route via em0.

    Everything configured at t=0; the transmit queues are emptied."""
    k = kstack.Kernel(
        profile=profile, seed=kw.pop("seed", int(os.environ.get("KSTACK_TEST_SEED", "0"))), **kw
    )
    k.ifconfig("em0", EM0_IP + "/24")
    if em1:
        k.ifconfig("em1", EM1_IP + "/24")
    if default_route:
        k.route_add("default", ROUTER)
    k.transmitted("em0")
    if em1:
        k.transmitted("em1")
    return k


@pytest.fixture
def k():
    """The topology of mk(): a fresh kernel per test."""
    return mk()


def at(k, t):
    """Run virtual time up to absolute time t (seconds since boot)."""
    now = k.now() if callable(k.now) else k.now
    assert t >= now - 1e-9, (t, now)
    k.advance(t - now)


def next_fast_tick(t):
    """First fast-timer boundary strictly after t (t never on a boundary here)."""
    return math.ceil(t / FAST - 1e-9) * FAST


# ---------------------------------------------------------------- bytes
def inet(a):
    return _pysock.inet_aton(a)


def ntoa(b):
    return _pysock.inet_ntoa(bytes(b))


def cksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def with_cksum(buf, off):
    buf = bytearray(buf)
    buf[off : off + 2] = b"\0\0"
    buf[off : off + 2] = struct.pack("!H", cksum(bytes(buf)))
    return bytes(buf)


def mac(m):
    if isinstance(m, (bytes, bytearray)):
        return bytes(m)
    return bytes.fromhex(str(m).replace(":", "").replace("-", ""))


def mcast_mac(group):
    a = struct.unpack("!I", inet(group))[0] & 0x7FFFFF
    return b"\x01\x00\x5e" + struct.pack("!I", a)[1:]


def ipv4(src, dst, proto, payload, ttl=1, tos=0, options=b"", ident=0x1234, df=False):
    assert len(options) % 4 == 0
    hl = 5 + len(options) // 4
    hdr = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | hl,
            tos,
            hl * 4 + len(payload),
            ident,
            0x4000 if df else 0,
            ttl,
            proto,
            0,
            inet(src),
            inet(dst),
        )
        + options
    )
    return with_cksum(hdr, 10) + payload


def ether(dst_mac, src_mac, payload, etype=0x0800):
    f = mac(dst_mac) + mac(src_mac) + struct.pack("!H", etype) + payload
    if len(f) < 60:
        f += bytes(60 - len(f))
    return f


def igmp_msg(typ, code=0, group="0.0.0.0", extra=b""):
    return with_cksum(struct.pack("!BBH4s", typ, code, 0, inet(group)) + extra, 2)


def igmpv3_query(code=100, group="0.0.0.0", sources=(), qrv=2, sflag=0, qqic=125):
    extra = struct.pack("!BBH", (sflag << 3) | qrv, qqic, len(sources))
    extra += b"".join(inet(s) for s in sources)
    return igmp_msg(IGMP_QUERY, code, group, extra)


def igmpv3_report(records):
    """records: [(type, group, [sources])]"""
    body = b""
    for typ, group, srcs in records:
        body += struct.pack("!BBH4s", typ, 0, len(srcs), inet(group))
        body += b"".join(inet(s) for s in srcs)
    return with_cksum(struct.pack("!BBHHH", IGMP_V3_REPORT, 0, 0, 0, len(records)) + body, 2)


def igmp_frame(igmp, dst, src=ROUTER, src_mac=ROUTER_MAC, ttl=1, ra=True, tos=0xC0):
    return ether(
        mcast_mac(dst),
        src_mac,
        ipv4(src, dst, 2, igmp, ttl=ttl, tos=tos, options=RA_OPT if ra else b""),
    )


def query_frame(igmp, dst=ALLHOSTS, **kw):
    return igmp_frame(igmp, dst, **kw)


def udp(src, dst, sport, dport, payload):
    ln = 8 + len(payload)
    pseudo = inet(src) + inet(dst) + struct.pack("!BBH", 0, 17, ln)
    hdr = struct.pack("!HHHH", sport, dport, ln, 0)
    c = cksum(pseudo + hdr + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, ln, c) + payload


def udp_frame(dst, dport=5000, src=PEER, sport=40000, payload=b"mcast", src_mac=PEER_MAC, ttl=1):
    return ether(
        mcast_mac(dst), src_mac, ipv4(src, dst, 17, udp(src, dst, sport, dport, payload), ttl=ttl)
    )


def raw_frame(dst, proto=253, src=PEER, payload=b"rawdata", src_mac=PEER_MAC):
    return ether(mcast_mac(dst), src_mac, ipv4(src, dst, proto, payload, ttl=1))


# ------------------------------------------------------------ parse output
class Pkt:
    """A transmitted Ethernet/IPv4 frame, split into its fields."""

    def __init__(self, frame):
        frame = bytes(frame)
        self.frame = frame
        self.eth_dst = frame[0:6]
        self.eth_src = frame[6:12]
        self.etype = struct.unpack("!H", frame[12:14])[0]
        ip = frame[14:]
        self.ip_raw = ip
        if self.etype != 0x0800 or len(ip) < 20:
            self.proto = None
            return
        self.ver_hl = ip[0]
        self.hl = (ip[0] & 0xF) * 4
        self.tos = ip[1]
        self.ip_len = struct.unpack("!H", ip[2:4])[0]
        self.ip_id = struct.unpack("!H", ip[4:6])[0]
        self.ip_off = struct.unpack("!H", ip[6:8])[0]
        self.ttl = ip[8]
        self.proto = ip[9]
        self.ip_sum = struct.unpack("!H", ip[10:12])[0]
        self.src = ntoa(ip[12:16])
        self.dst = ntoa(ip[16:20])
        self.options = ip[20 : self.hl]
        self.header = ip[: self.hl]
        self.payload = ip[self.hl : self.ip_len]
        self.datagram = ip[: self.ip_len]

    def header_ok(self):
        return cksum(self.header) == 0

    # IGMP views
    @property
    def igmp_type(self):
        return self.payload[0]

    def v3_records(self):
        """[(type, auxlen, group, [sources])] of an IGMPv3 report."""
        p = self.payload
        n = struct.unpack("!H", p[6:8])[0]
        off, recs = 8, []
        for _ in range(n):
            typ, aux, ns = p[off], p[off + 1], struct.unpack("!H", p[off + 2 : off + 4])[0]
            grp = ntoa(p[off + 4 : off + 8])
            srcs = [ntoa(p[off + 8 + 4 * i : off + 12 + 4 * i]) for i in range(ns)]
            recs.append((typ, aux, grp, srcs))
            off += 8 + 4 * ns + 4 * aux
        return recs

    def __repr__(self):
        if self.proto is None:
            return f"<Pkt etype={self.etype:#x}>"
        return f"<Pkt {self.src}->{self.dst} proto={self.proto} {self.payload[:16].hex()}>"


def sent(k, ifname="em0", proto=None):
    out = [Pkt(f) for f in k.transmitted(ifname)]
    out = [p for p in out if p.proto is not None]
    if proto is not None:
        out = [p for p in out if p.proto == proto]
    return out


def igmp_sent(k, ifname="em0"):
    return sent(k, ifname, proto=2)


def expected_v3_report_igmp(records):
    return igmpv3_report(records)


def check_v3_report_frame(p, k, records, ifname="em0", src=EM0_IP, ra=True):
    """igmp_v3_encap_report() + igmp_intr() + ip_output(): every byte except
    ip_id (and the IP header checksum, which depends on it; it must be valid)."""
    assert p.eth_dst == mcast_mac(ALLRPTS)
    assert p.eth_src == mac(k.iface(ifname).ether)
    assert p.etype == 0x0800
    assert p.ver_hl == (0x46 if ra else 0x45)
    assert p.tos == 0xC0  # IPTOS_PREC_INTERNETCONTROL
    assert p.ip_off == 0x4000  # IP_DF
    assert p.ttl == 1
    assert p.proto == 2
    assert p.src == src
    assert p.dst == ALLRPTS
    assert p.options == (RA_OPT if ra else b"")
    assert p.header_ok()
    assert p.payload == igmpv3_report(records)
    assert p.ip_len == p.hl + len(p.payload)


def check_v1v2_frame(p, k, typ, group, dst, ifname="em0", src=EM0_IP, ra=True):
    """igmp_v1v2_queue_report() + igmp_intr() + ip_output()."""
    assert p.eth_dst == mcast_mac(dst)
    assert p.eth_src == mac(k.iface(ifname).ether)
    assert p.etype == 0x0800
    assert p.ver_hl == (0x46 if ra else 0x45)
    assert p.tos == 0
    assert p.ip_off == 0
    assert p.ttl == 1
    assert p.proto == 2
    assert p.src == src
    assert p.dst == dst
    assert p.options == (RA_OPT if ra else b"")
    assert p.header_ok()
    assert p.ip_len == p.hl + 8
    assert p.payload == igmp_msg(typ, 0, group)


# ----------------------------------------------------------- counters
class Delta:
    def __init__(self, k):
        self.k = k
        self.base = {p: dict(k.netstat(p)) for p in ("ip", "udp", "igmp")}

    def __call__(self, proto, key=None):
        now = self.k.netstat(proto)
        d = {
            n: now[n] - self.base[proto].get(n, 0)
            for n in now
            if now[n] != self.base[proto].get(n, 0)
        }
        d.pop("igps_version", None)
        d.pop("igps_len", None)
        if key is not None:
            return d.get(key, 0)
        return d


# ----------------------------------------------------------- sockets
def udp_sock(k, port=5000, reuse=False):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    if reuse:
        s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 1)
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


def join(s, group=G1, iface="0.0.0.0"):
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(group, iface))


def leave(s, group=G1, iface="0.0.0.0"):
    s.setsockopt(sock.IPPROTO_IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(group, iface))


def add_src(s, group, source, iface="0.0.0.0"):
    s.setsockopt(
        sock.IPPROTO_IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(group, source, iface)
    )


def drop_src(s, group, source, iface="0.0.0.0"):
    s.setsockopt(
        sock.IPPROTO_IP, sock.IP_DROP_SOURCE_MEMBERSHIP, sock.ip_mreq_source(group, source, iface)
    )


def block(s, group, source, iface="0.0.0.0"):
    s.setsockopt(sock.IPPROTO_IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(group, source, iface))


def unblock(s, group, source, iface="0.0.0.0"):
    s.setsockopt(sock.IPPROTO_IP, sock.IP_UNBLOCK_SOURCE, sock.ip_mreq_source(group, source, iface))


def errno_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def recv_all(s):
    out = []
    while True:
        try:
            out.append(s.recvfrom(4096))
        except BlockingIOError:
            return out


# ------------------------------------------------- struct builders (amd64)
def sin(addr, family=_pysock.AF_INET, length=16, port=0):
    """struct sockaddr_in inside a 128-byte sockaddr_storage."""
    b = struct.pack("!BBH4s8s", length, family, port, inet(addr), bytes(8))
    return b + bytes(128 - len(b))


def group_req(ifindex, group, **kw):
    """struct group_req: u32 gr_interface, 4 pad, sockaddr_storage (136)."""
    return struct.pack("<I4x", ifindex) + sin(group, **kw)


def group_source_req(ifindex, group, source, gkw=None, skw=None):
    """struct group_source_req (264 bytes)."""
    return struct.pack("<I4x", ifindex) + sin(group, **(gkw or {})) + sin(source, **(skw or {}))


MSFR_LEN = 152


def msfr_fields(buf):
    """(ifindex, fmode, nsrcs, group, ptr) of a struct __msfilterreq."""
    ifindex, fmode, nsrcs = struct.unpack("<III", buf[0:12])
    group = ntoa(buf[20:24])
    ptr = struct.unpack("<Q", buf[144:152])[0]
    return ifindex, fmode, nsrcs, group, ptr


def msfr_sources(buf, n):
    out = []
    for i in range(n):
        e = buf[MSFR_LEN + 128 * i : MSFR_LEN + 128 * (i + 1)]
        out.append((e[0], e[1], ntoa(e[4:8])))
    return out


def set_msf(s, ifindex, group, fmode, sources=(), nsrcs=None):
    s.setsockopt(
        sock.IPPROTO_IP, sock.IP_MSFILTER, sock.msfilterreq(ifindex, group, fmode, sources, nsrcs)
    )


def get_msf(s, ifindex, group, numsrc=16):
    """Raw IP_MSFILTER getsockopt: returns (fmode, total, [addresses])."""
    req = sock.msfilterreq(ifindex, group, 0, (), numsrc)
    out = s.getsockopt(sock.IPPROTO_IP, sock.IP_MSFILTER, req)
    _, fmode, total, _, _ = msfr_fields(out)
    srcs = [a for (_, fam, a) in msfr_sources(out, min(numsrc, total))]
    return fmode, total, srcs


def inject(k, frame, ifname="em0"):
    out = k.input(ifname, frame)
    k.advance(0)
    return out


def rx(k, s, ifname="em0", group=G1, src=None, port=5000, payload=b"mcast"):
    """Inject one UDP datagram to group:port on ifname; return what s got."""
    if src is None:
        src = PEER if ifname == "em0" else PEER1
    inject(k, udp_frame(group, port, src=src, payload=payload), ifname)
    return recv_all(s)


def now(k):
    return k.now() if callable(k.now) else k.now


def ename(e):
    import errno as _e

    return _e.errorcode.get(e, "OK") if e else "OK"


def check_errnos(cases):
    """cases: [(label, callable, expected_errno_or_0)]; every case runs, and
    one assertion compares the whole table (errno names)."""
    got, exp = {}, {}
    for label, fn, e in cases:
        got[label] = ename(errno_of(fn))
        exp[label] = ename(e)
    assert got == exp
