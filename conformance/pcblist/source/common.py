"""Shared set-up for the pcb list expectations written from the FreeBSD 9.1 source.

Layouts (amd64: size_t, u_long, pointers and u_quad_t are 8 bytes; padding
per the C ABI), from `sys/netinet/in_pcb.h`, `sys/sys/socketvar.h` and
`sys/sys/sockbuf.h`:

- `struct xinpgen` (32 bytes): xig_len size_t @0, xig_count u_int @8,
  (pad) @12, xig_gen u_quad_t @16, xig_sogen u_quad_t @24.
- `struct xinpcb` (552 bytes): xi_len size_t @0, `struct inpcb` @8 (392
  bytes), `struct xsocket` @400 (144 bytes), xi_alignment_hack @544.
- `struct xsocket`: xso_len @0, xso_so @8, so_type/options/linger/state
  shorts @16, so_pcb @24, xso_protocol @32, xso_family @36, so_qlen @40,
  so_incqlen @42, so_qlimit @44, so_timeo @46, so_error @48, (pad) @50,
  so_pgid @52, so_oobmark @56, so_rcv @64, so_snd @100, so_uid @136,
  (pad) @140.
- `struct xsockbuf` (36 bytes): sb_cc, sb_hiwat, sb_mbcnt, sb_mcnt, sb_ccnt,
  sb_mbmax (u_int), sb_lowat, sb_timeo (int), sb_flags (short), (pad).

struct inpcb is the 9.1 one; it is the same in 9.3 (stable/9 keeps the
xinpcb ABI that netstat reads), and it already carries the pcbgroup fields
of June 2011, before stable/9 was branched, so it is 9.0's too. The
February 2011 tree predates those fields (and had inp_pspare[4],
inp_ispare[4]).
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field

import pytest

import kstack
from kstack import sock

XINPGEN_LEN = 32
XINPCB_LEN = 552
XSOCKET_LEN = 144

AF_INET = 2
SOCK_DGRAM = 2
SOCK_RAW = 3
IPPROTO_UDP = 17

INP_IPV4 = 0x1
INP_RECVDSTADDR = 0x4
INP_HDRINCL = 0x8
INP_INHASHLIST = 0x2000

SS_ISCONNECTED = 0x2
SO_REUSEADDR = 0x4
SO_BROADCAST = 0x20

MSIZE = 256
MCLBYTES = 2048

# Socket buffer defaults: udp_usrreq.c 121-135 (9216 / 40 * (1024 + 28)),
# raw_ip.c 134-140 (9216 / 9216); sbreserve_locked (uipc_sockbuf.c 314)
# sets sb_mbmax = min(cc * 8, sb_max = 2 MB); soreserve (251-256) sets
# sb_lowat to 1 (receive) and MCLBYTES (send).
UDP_SNDBUF = 9216
UDP_RCVBUF = 42080
RAW_SNDBUF = 9216
RAW_RCVBUF = 9216


def sb(hiwat: int, lowat: int, cc: int = 0, mbcnt: int = 0, mcnt: int = 0, ccnt: int = 0):
    return {
        "sb_cc": cc,
        "sb_hiwat": hiwat,
        "sb_mbcnt": mbcnt,
        "sb_mcnt": mcnt,
        "sb_ccnt": ccnt,
        "sb_mbmax": min(hiwat * 8, 2 * 1024 * 1024),
        "sb_lowat": lowat,
        "sb_timeo": 0,
        "sb_flags": 0,
    }


def udp_rcv(**kw):
    return sb(UDP_RCVBUF, 1, **kw)


def udp_snd(**kw):
    return sb(UDP_SNDBUF, MCLBYTES, **kw)


def raw_rcv(**kw):
    return sb(RAW_RCVBUF, 1, **kw)


def raw_snd(**kw):
    return sb(RAW_SNDBUF, MCLBYTES, **kw)


# --------------------------------------------------------------------------
# The host

PEER_MAC = "02:00:00:00:00:07"


def make_host(fibs: int = 1) -> kstack.Kernel:
    k = kstack.Kernel(profile="9.0", seed=0, fibs=fibs)
    k.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    k.arp_add("192.0.2.7", PEER_MAC)
    k.sysctl("net.inet.icmp.icmplim", 0)
    settle(k)
    k.transmitted("em0")
    return k


@pytest.fixture
def k():
    return make_host()


def settle(stack, rounds: int = 10) -> None:
    for _ in range(rounds):
        stack.advance(0)


def order(stack) -> str:
    return ">" if getattr(stack, "big_endian", False) else "<"


def oserr(fn, *a, **kw) -> int:
    try:
        fn(*a, **kw)
    except OSError as e:
        return e.errno
    return 0


def ip4(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


# --------------------------------------------------------------------------
# Decoding


@dataclass
class PcbList:
    head: dict
    records: list[bytes]
    tail: dict


def xinpgen(stack, b: bytes) -> dict:
    o = order(stack)
    xig_len, count, gen, sogen = struct.unpack(o + "QI4xQQ", b[:32])
    return {"xig_len": xig_len, "xig_count": count, "xig_gen": gen, "xig_sogen": sogen}


def parse(stack, blob: bytes) -> PcbList:
    """Split a pcblist reply: xinpgen, the xinpcb records, xinpgen."""
    head = xinpgen(stack, blob)
    assert head["xig_len"] == XINPGEN_LEN, head
    recs = []
    off = XINPGEN_LEN
    while off + 8 <= len(blob):
        (reclen,) = struct.unpack_from(order(stack) + "Q", blob, off)
        if reclen <= XINPGEN_LEN:
            break
        recs.append(blob[off : off + reclen])
        off += reclen
    tail = xinpgen(stack, blob[off:])
    assert off + XINPGEN_LEN == len(blob), f"{len(blob) - off} bytes after the records"
    return PcbList(head, recs, tail)


def udp_list(stack, **kw) -> PcbList:
    return parse(stack, stack.sysctl("net.inet.udp.pcblist", **kw))


def raw_list(stack, **kw) -> PcbList:
    return parse(stack, stack.sysctl("net.inet.raw.pcblist", **kw))


def rec_field(stack, rec: bytes, name: str) -> int | bytes:
    o = order(stack)
    offs = {
        "inp_flags": (116, "i"),
        "inp_vflag": (124, "B"),
        "inp_ip_ttl": (125, "B"),
        "inp_ip_p": (126, "B"),
        "inp_refcount": (132, "I"),
        "inc_fibnum": (202, "H"),
        "ie_fport": (204, "!H"),
        "ie_lport": (206, "!H"),
        "inp_gencnt": (344, "Q"),
        "so_type": (416, "h"),
        "so_state": (422, "h"),
        "xso_protocol": (432, "i"),
        "so_rcv.sb_cc": (464, "I"),
        "so_uid": (536, "I"),
    }
    off, fmt = offs[name]
    if fmt.startswith("!"):
        return struct.unpack_from(fmt, rec, off)[0]
    return struct.unpack_from(o + fmt, rec, off)[0]


def laddr(rec: bytes) -> str:
    return ".".join(str(x) for x in rec[236:240])


def lport(rec: bytes) -> int:
    return struct.unpack_from("!H", rec, 206)[0]


# --------------------------------------------------------------------------
# Expected records with named fields and named don't-care fields


@dataclass
class Expect:
    buf: bytearray = field(default_factory=bytearray)
    fields: list[tuple[str, int, int, bool]] = field(default_factory=list)

    def add(self, name: str, data: bytes, dontcare: bool = False) -> Expect:
        self.fields.append((name, len(self.buf), len(data), dontcare))
        self.buf += data
        return self

    def dontcare(self, name: str, size: int) -> Expect:
        return self.add(name, bytes(size), dontcare=True)

    def check(self, got: bytes, what: str = "record") -> None:
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


def xinpgen_expect(stack, *, count: int, gen: int, sogen: int | None) -> Expect:
    o = order(stack)
    e = Expect()
    e.add("xig_len", struct.pack(o + "Q", XINPGEN_LEN))
    e.add("xig_count", struct.pack(o + "I", count))
    e.add("(pad)", bytes(4))
    e.add("xig_gen", struct.pack(o + "Q", gen))
    if sogen is None:
        e.dontcare("xig_sogen", 8)
    else:
        e.add("xig_sogen", struct.pack(o + "Q", sogen))
    return e


def xinpcb_expect(
    stack,
    *,
    gencnt: int,
    so_type: int,
    protocol: int,
    rcv: dict,
    snd: dict,
    inp_flags: int = 0,
    ip_p: int = 0,
    ttl: int = 64,
    tos: int = 0,
    fib: int = 0,
    laddr: str = "0.0.0.0",
    lport: int = 0,
    faddr: str = "0.0.0.0",
    fport: int = 0,
    so_options: int = 0,
    so_state: int = 0,
    so_error: int = 0,
    uid: int = 0,
    refcount: int = 2,
) -> Expect:
    """One struct xinpcb as udp_pcblist/rip_pcblist write it: a bzero'd
    record, a bcopy of the inpcb (kernel pointers named don't-care) and
    sotoxsocket's fields (uipc_socket.c 3502-3524)."""
    o = order(stack)
    e = Expect()
    e.add("xi_len", struct.pack(o + "Q", XINPCB_LEN))
    # struct inpcb
    e.dontcare("inp_hash", 16)
    e.dontcare("inp_pcbgrouphash", 16)
    e.dontcare("inp_list", 16)
    e.dontcare("inp_ppcb", 8)
    e.dontcare("inp_pcbinfo", 8)
    e.dontcare("inp_pcbgroup", 8)
    e.dontcare("inp_pcbgroup_wild", 16)
    e.dontcare("inp_socket", 8)
    e.dontcare("inp_cred", 8)
    e.add("inp_flow", struct.pack(o + "I", 0))
    e.add("inp_flags", struct.pack(o + "i", inp_flags))
    e.add("inp_flags2", struct.pack(o + "i", 0))
    e.add("inp_vflag", bytes((INP_IPV4,)))
    e.add("inp_ip_ttl", bytes((ttl,)))
    e.add("inp_ip_p", bytes((ip_p,)))
    e.add("inp_ip_minttl", bytes((0,)))
    e.add("inp_flowid", struct.pack(o + "I", 0))
    e.add("inp_refcount", struct.pack(o + "I", refcount))
    e.add("inp_pspare", bytes(40))
    e.add("inp_ispare", bytes(24))
    e.add("inc_flags", bytes((0,)))
    e.add("inc_len", bytes((0,)))
    e.add("inc_fibnum", struct.pack(o + "H", fib))
    e.add("ie_fport", struct.pack("!H", fport))
    e.add("ie_lport", struct.pack("!H", lport))
    e.add("ie_faddr (ia46_pad32)", bytes(12))
    e.add("ie_faddr", ip4(faddr))
    e.add("ie_laddr (ia46_pad32)", bytes(12))
    e.add("ie_laddr", ip4(laddr))
    e.dontcare("inp_label", 8)
    e.dontcare("inp_sp", 8)
    e.add("inp4_ip_tos", bytes((tos,)))
    e.add("(pad)", bytes(7))
    e.dontcare("inp4_options", 8)
    e.dontcare("inp4_moptions", 8)
    e.dontcare("inp6_options", 8)
    e.dontcare("inp6_outputopts", 8)
    e.dontcare("inp6_moptions", 8)
    e.dontcare("inp6_icmp6filt", 8)
    e.add("inp6_cksum", struct.pack(o + "i", 0))
    e.add("inp6_hops", struct.pack(o + "h", 0))
    e.add("(pad)", bytes(2))
    e.dontcare("inp_portlist", 16)
    e.dontcare("inp_phd", 8)
    e.add("inp_gencnt", struct.pack(o + "Q", gencnt))
    e.dontcare("inp_lle", 8)
    e.dontcare("inp_rt", 8)
    e.dontcare("inp_lock", 32)
    # struct xsocket
    e.add("xso_len", struct.pack(o + "Q", XSOCKET_LEN))
    e.dontcare("xso_so", 8)
    e.add("so_type", struct.pack(o + "h", so_type))
    e.add("so_options", struct.pack(o + "h", so_options))
    e.add("so_linger", struct.pack(o + "h", 0))
    e.add("so_state", struct.pack(o + "h", so_state))
    e.dontcare("so_pcb", 8)
    e.add("xso_protocol", struct.pack(o + "i", protocol))
    e.add("xso_family", struct.pack(o + "i", AF_INET))
    e.add("so_qlen", struct.pack(o + "H", 0))
    e.add("so_incqlen", struct.pack(o + "H", 0))
    e.add("so_qlimit", struct.pack(o + "H", 0))
    e.add("so_timeo", struct.pack(o + "h", 0))
    e.add("so_error", struct.pack(o + "H", so_error))
    e.add("(pad)", bytes(2))
    e.add("so_pgid", struct.pack(o + "i", 0))
    e.add("so_oobmark", struct.pack(o + "Q", 0))
    for which, d in (("so_rcv", rcv), ("so_snd", snd)):
        for name in ("sb_cc", "sb_hiwat", "sb_mbcnt", "sb_mcnt", "sb_ccnt", "sb_mbmax"):
            e.add(f"{which}.{name}", struct.pack(o + "I", d[name]))
        e.add(f"{which}.sb_lowat", struct.pack(o + "i", d["sb_lowat"]))
        e.add(f"{which}.sb_timeo", struct.pack(o + "i", d["sb_timeo"]))
        e.add(f"{which}.sb_flags", struct.pack(o + "h", d["sb_flags"]))
        e.add(f"{which} (pad)", bytes(2))
    e.add("so_uid", struct.pack(o + "I", uid))
    e.add("(pad)", bytes(4))
    e.add("xi_alignment_hack", struct.pack(o + "Q", 0))
    assert len(e.buf) == XINPCB_LEN
    return e


def size_probe(n: int) -> int:
    """udp_pcblist / rip_pcblist with oldptr NULL (udp_usrreq.c 707-711,
    raw_ip.c 1010-1014): n + max(n / 8, 10) records plus two xinpgen."""
    return 2 * XINPGEN_LEN + (n + max(n // 8, 10)) * XINPCB_LEN


__all__ = ["errno", "sock", "struct"]
