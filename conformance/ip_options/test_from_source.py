"""IPv4 options in FreeBSD 9.0, a second, independent derivation.

Written from the FreeBSD 9.x kernel sources alone (sys/netinet/ip_options.c,
ip_input.c, ip_icmp.c, ip_output.c, udp_usrreq.c, raw_ip.c of 9.1-RELEASE
and of 9.0-CURRENT, February 2011), without reading kstack's code, and
kept beside test_processing.py and friends, which come from another
reading. Every expectation names the kernel function it comes from.
"""

from __future__ import annotations

import errno
import socket as _pysock
import struct

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from kstack import sock
from kstack.testing import (
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST_MAC,
    PEER,
    PEER_MAC,
    REMOTE,
    ROUTER,
    ROUTER_MAC,
    host,
)

# --------------------------------------------------------------------------
# helpers

NOP, EOL = b"\x01", b"\x00"
REMOTE_SRC = "203.0.113.50"  # a source beyond the router
R1 = "203.0.113.1"
ECHO_DATA = b"kstack-echo-data"
T_SECONDS = 3723  # k.advance(T_SECONDS) after boot: time of day 01:02:03 UTC
T_MS = T_SECONDS * 1000


def a(addr: str) -> bytes:
    return _pysock.inet_aton(addr)


def cksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def with_opts(pkt, opts: bytes) -> bytes:
    """Serialise an Ether/IP/... scapy packet and insert `opts` after its
    20-byte IP header (ihl, total length and header checksum fixed up)."""
    raw = bytes(pkt)
    eh, ip = raw[:14], raw[14:]
    assert len(opts) % 4 == 0 and len(opts) <= 40
    hdr = bytearray(ip[:20] + opts)
    hdr[0] = 0x40 | (len(hdr) >> 2)
    struct.pack_into("!H", hdr, 2, len(ip) + len(opts))
    hdr[10:12] = b"\0\0"
    struct.pack_into("!H", hdr, 10, cksum(bytes(hdr)))
    return eh + bytes(hdr) + ip[20:]


def echo(
    opts: bytes, *, src=PEER, dst=HOST, smac=PEER_MAC, dmac=HOST_MAC, ttl=64, itype=8, extra=b""
) -> bytes:
    l4 = ICMP(type=itype, id=0x1234, seq=1) / Raw(extra or ECHO_DATA)
    return with_opts(
        Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, ttl=ttl, id=0x1111) / l4, opts
    )


def proto253(opts: bytes, *, src=PEER, dst=HOST, payload=b"raw-253-payload!", **ipkw) -> bytes:
    ipkw.setdefault("id", 0x2222)
    return with_opts(
        Ether(src=PEER_MAC, dst=HOST_MAC) / IP(src=src, dst=dst, proto=253, **ipkw) / Raw(payload),
        opts,
    )


def udp_frame(opts: bytes, dport=7000, *, data=b"abcd") -> bytes:
    return with_opts(
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=PEER, dst=HOST, id=0x3333)
        / UDP(sport=40000, dport=dport)
        / Raw(data),
        opts,
    )


def ip_of(frame: bytes) -> bytes:
    return frame[14:]


def ihl(frame: bytes) -> int:
    return (frame[14] & 0x0F) * 4


def opts_of(frame: bytes) -> bytes:
    return frame[34 : 14 + ihl(frame)]


def l4_of(frame: bytes) -> bytes:
    return frame[14 + ihl(frame) :]


def hdr_ok(frame: bytes) -> bool:
    return cksum(frame[14 : 14 + ihl(frame)]) == 0


def snap(k):
    return {p: dict(v) for p, v in k.netstat().items()}


def delta(before, k):
    after = k.netstat()
    out = {}
    for p, d in after.items():
        for name, v in d.items():
            dv = v - before[p].get(name, 0)
            if dv:
                out[name] = dv
    return out


def icmp_error_parts(frame: bytes):
    """(type, code, byte 4 (pptr), quoted bytes) of an ICMP error frame."""
    icmp = l4_of(frame)
    return icmp[0], icmp[1], icmp[4], icmp[8:]


def kernel(*, po=1, fwd=0, sr=0, acc=0, default=False):
    k = host()
    k.sysctl("net.inet.ip.process_options", po)
    k.sysctl("net.inet.ip.forwarding", fwd)
    k.sysctl("net.inet.ip.sourceroute", sr)
    k.sysctl("net.inet.ip.accept_sourceroute", acc)
    if default:
        k.route_add("default", ROUTER)
    k.arp_add(FAR, FAR_MAC)
    k.transmitted("em0")
    k.transmitted("em1")
    return k


def rr(ptr: int, slots: list[str]) -> bytes:
    return bytes([7, 3 + 4 * len(slots), ptr]) + b"".join(a(x) for x in slots)


def ts(ptr: int, flags: int, body: bytes, length: int | None = None) -> bytes:
    return bytes([0x44, length if length is not None else 4 + len(body), ptr, flags]) + body


def srr(kind: int, ptr: int, hops: list[str]) -> bytes:
    return bytes([kind, 3 + 4 * len(hops), ptr]) + b"".join(a(x) for x in hops)


LSRR, SSRR = 0x83, 0x89
Z4 = b"\0\0\0\0"
TB = struct.pack("!I", T_MS)


def expect_param_problem(
    k,
    frame: bytes,
    pointer: int,
    quoted_ip: bytes,
    *,
    code_type=12,
    code=0,
    err_src=HOST,
    err_dst=PEER,
    dst_mac=PEER_MAC,
):
    before = snap(k)
    k.input("em0", frame)
    d = delta(before, k)
    out = k.transmitted("em0")
    assert len(out) == 1, out
    f = out[0]
    e = Ether(f)
    assert (e.src, e.dst) == (HOST_MAC, dst_mac)
    assert (e[IP].src, e[IP].dst, e[IP].proto) == (err_src, err_dst, 1)
    assert ihl(f) == 20  # icmp_error builds a 20-byte header; no options
    t, c, p, q = icmp_error_parts(f)
    assert (t, c) == (code_type, code)
    if code_type == 12:
        assert p == pointer
    else:
        assert l4_of(f)[4:8] == Z4  # icmp_void = 0
    hl = (quoted_ip[0] & 0xF) * 4
    assert q == quoted_ip[: hl + 8]
    assert d.get("ips_badoptions", 0) == 1
    assert d.get("icps_error", 0) == 1
    assert d.get(f"icps_outhist[{code_type}]", 0) == 1
    assert d.get("ips_delivered", 0) == 0
    assert d.get("icps_reflect", 0) == 0
    assert d.get("ips_forward", 0) == 0
    return d


# --------------------------------------------------------------------------
# process_options 0 / 1 / 2


RR_TS_OPTS = NOP + rr(4, ["0.0.0.0", "0.0.0.0"]) + ts(5, 0, bytes(8))  # 1 + 11 + 12 = 24


@pytest.mark.parametrize("po", [0, 1])
def test_echo_reply_copies_rr_ts(po):
    """ip_options.c:ip_dooptions (ip_doopts==0 returns at once; 1 fills RR/TS) +
    ip_icmp.c:icmp_reflect (copies RR/TS/SEC, drops NOP, pads with EOL to 4)."""
    k = kernel(po=po)
    k.advance(T_SECONDS)
    before = snap(k)
    k.input("em0", echo(RR_TS_OPTS))
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    e = Ether(f)
    assert (e.dst, e[IP].src, e[IP].dst) == (PEER_MAC, HOST, PEER)
    if po == 0:
        exp = rr(4, ["0.0.0.0", "0.0.0.0"]) + ts(5, 0, bytes(8)) + EOL
    else:
        exp = rr(8, [HOST, "0.0.0.0"]) + ts(9, 0, TB + Z4) + EOL
    assert opts_of(f) == exp
    assert ihl(f) == 44
    assert hdr_ok(f)
    icmp = l4_of(f)
    assert icmp[0] == 0 and icmp[8:] == ECHO_DATA
    assert d.get("icps_reflect") == 1 and d.get("ips_badoptions", 0) == 0


@pytest.mark.parametrize("po", [0, 1])
@pytest.mark.parametrize(
    "dst,out_if,mac,rr_addr",
    [
        (REMOTE, "em0", ROUTER_MAC, HOST),  # default route via em0: rt_ifa 192.0.2.1
        (FAR, "em1", FAR_MAC, HOST1),  # connected em1: the outgoing interface address
    ],
)
def test_forwarded_rr_ts(po, dst, out_if, mac, rr_addr):
    """ip_options.c:ip_dooptions RR (ip_rtaddr -> address of the route's interface)
    and TS; ip_input.c:ip_forward sends the (possibly updated) options on."""
    k = kernel(po=po, fwd=1, default=True)
    k.advance(T_SECONDS)
    before = snap(k)
    k.input("em0", echo(RR_TS_OPTS, dst=dst))
    d = delta(before, k)
    assert k.transmitted("em0" if out_if == "em1" else "em1") == []
    (f,) = k.transmitted(out_if)
    e = Ether(f)
    assert e.dst == mac and e[IP].dst == dst and e[IP].src == PEER and e[IP].ttl == 63
    assert hdr_ok(f)
    if po == 0:
        assert opts_of(f) == RR_TS_OPTS
    else:
        assert opts_of(f) == NOP + rr(8, [rr_addr, "0.0.0.0"]) + ts(9, 0, TB + Z4)
    assert d.get("ips_forward") == 1 and d.get("ips_badoptions", 0) == 0


@pytest.mark.parametrize("po", [0, 1, 2])
def test_raw_reader_sees_options(po):
    """raw_ip.c:rip_input/rip_append deliver the header with options as left by
    ip_options.c:ip_dooptions (no checksum update); mode 2 rejects (ICMP 3/13)."""
    k = kernel(po=po)
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    opts = rr(4, ["0.0.0.0"]) + NOP
    fr = proto253(opts)
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    if po == 2:
        with pytest.raises(BlockingIOError):
            r.recv(2048)
        (f,) = k.transmitted("em0")
        assert icmp_error_parts(f)[:2] == (3, 13)
        assert d.get("ips_badoptions") == 1
        return
    got = r.recv(2048)
    sent = ip_of(fr)
    assert len(got) == len(sent)
    assert got[0] == 0x47
    assert struct.unpack("<H", got[2:4])[0] == len(sent) - 28  # 9.x: payload len, host order
    assert got[10:12] == sent[10:12]  # checksum not recomputed
    assert got[12:20] == sent[12:20]
    exp = opts if po == 0 else rr(8, [HOST]) + NOP
    assert got[20:28] == exp
    assert got[28:] == sent[28:]
    assert k.transmitted("em0") == []
    assert d.get("ips_badoptions", 0) == 0 and d.get("ips_delivered") == 1


@pytest.mark.parametrize("opts", [NOP * 4, rr(4, ["0.0.0.0"]) + NOP, b"\x94\x04\x00\x00"])
def test_po2_local_rejected(opts):
    """ip_options.c:ip_dooptions: ip_doopts==2 -> icmp_error(ICMP_UNREACH,
    ICMP_UNREACH_FILTER_PROHIB), ips_badoptions++, for any option (even NOPs)."""
    k = kernel(po=2)
    fr = echo(opts)
    expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=13)


def test_po2_forwarded_rejected():
    """ip_options.c:ip_dooptions (mode 2, called from ip_input before the
    forwarding decision): ICMP 3/13 from the interface toward the source."""
    k = kernel(po=2, fwd=1, default=True)
    fr = echo(NOP * 4, dst=REMOTE)
    expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=13)
    assert k.transmitted("em1") == []


def test_po0_source_route_ignored_local():
    """ip_options.c:ip_dooptions returns 0 at once with ip_doopts==0: an LSRR with
    hops remaining is not acted on, the echo is answered locally and (no
    save_rte) the reply carries no source route (icmp_reflect copies only
    RR/TS/SEC)."""
    k = kernel(po=0, fwd=1)
    before = snap(k)
    k.input("em0", echo(srr(LSRR, 4, [FAR]) + NOP))
    d = delta(before, k)
    assert k.transmitted("em1") == []
    (f,) = k.transmitted("em0")
    assert Ether(f)[IP].dst == PEER and ihl(f) == 20 and l4_of(f)[0] == 0
    assert d.get("icps_reflect") == 1 and d.get("ips_badoptions", 0) == 0


def test_po0_ssrr_not_ours_forwarded():
    """ip_options.c:ip_dooptions (ip_doopts==0): an SSRR whose current
    destination is not ours is forwarded by ip_input like any packet."""
    k = kernel(po=0, fwd=1, default=True)
    opts = srr(SSRR, 4, [FAR]) + NOP
    k.input("em0", echo(opts, dst=REMOTE))
    (f,) = k.transmitted("em0")
    assert Ether(f)[IP].dst == REMOTE and opts_of(f) == opts


# --------------------------------------------------------------------------
# EOL / NOP


def test_nop_eol_only_reply_has_no_options():
    """ip_icmp.c:icmp_reflect: NOPs are not copied, EOL ends the walk; with
    nothing copied the 4-byte pseudo first hop alone is inserted
    (ip_options.c:ip_insertoptions adds 0 bytes): reply ihl 5."""
    k = kernel()
    k.input("em0", echo(NOP * 3 + EOL))
    (f,) = k.transmitted("em0")
    assert ihl(f) == 20 and l4_of(f)[0] == 0 and l4_of(f)[8:] == ECHO_DATA


def test_eol_stops_parsing():
    """ip_options.c:ip_dooptions: `if (opt == IPOPT_EOL) break;` — a bad RR after
    EOL is never examined."""
    k = kernel()
    before = snap(k)
    k.input("em0", echo(EOL + b"\x07\x00\x00"))
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert l4_of(f)[0] == 0 and ihl(f) == 20
    assert d.get("ips_badoptions", 0) == 0 and d.get("icps_reflect") == 1


# --------------------------------------------------------------------------
# Record route


def test_rr_to_other_local_address_records_that_address():
    """ip_options.c:ip_dooptions RR: ifa_ifwithaddr(ip_dst) — a packet for
    198.51.100.1 received on em0 records 198.51.100.1."""
    k = kernel()
    k.input("em0", echo(rr(4, ["0.0.0.0", "0.0.0.0"]) + NOP, dst=HOST1))
    (f,) = k.transmitted("em0")
    assert Ether(f)[IP].src == HOST1
    assert opts_of(f) == rr(8, [HOST1, "0.0.0.0"]) + EOL


def test_rr_full_ignored():
    """ip_options.c:ip_dooptions RR: `if (off > optlen - 4) break;` (no space)."""
    k = kernel()
    full = rr(12, [PEER, ROUTER]) + NOP
    before = snap(k)
    k.input("em0", echo(full))
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert opts_of(f) == rr(12, [PEER, ROUTER]) + EOL
    assert d.get("ips_badoptions", 0) == 0


@pytest.mark.parametrize(
    "opts",
    [
        bytes([7, 7, 3]) + Z4 + NOP,  # pointer 3 < IPOPT_MINOFF
        bytes([7, 7, 0]) + Z4 + NOP,  # pointer 0
        bytes([7, 2]) + NOP + EOL,  # length 2 < IPOPT_OFFSET + 1
    ],
)
def test_rr_bad_pointer_or_length(opts):
    """ip_options.c:ip_dooptions RR: optlen < 3 or pointer < 4 ->
    code = &cp[IPOPT_OFFSET] - ip = 22 (ICMP 12/0 pointer 22)."""
    k = kernel()
    fr = echo(opts)
    expect_param_problem(k, fr, 22, ip_of(fr))


@pytest.mark.parametrize("fwd", [0, 1])
def test_rr_no_route_unreach_host(fwd):
    """ip_options.c:ip_dooptions RR: not ours and ip_rtaddr()==NULL ->
    ICMP_UNREACH/ICMP_UNREACH_HOST (3/1), ips_badoptions++ — before (and
    independently of) the forwarding decision in ip_input."""
    k = kernel(fwd=fwd)  # no default route
    fr = echo(rr(4, ["0.0.0.0"]) + NOP, dst=REMOTE)
    expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=1)


# --------------------------------------------------------------------------
# Timestamp


def _reply_opts(k, opts, dst=HOST):
    k.advance(T_SECONDS)
    before = snap(k)
    k.input("em0", echo(opts, dst=dst))
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert l4_of(f)[0] == 0
    assert d.get("ips_badoptions", 0) == 0
    return opts_of(f)


def test_ts_flag0_timestamp_only():
    """ip_options.c:ip_dooptions TS flag 0: iptime() (ms since 00:00 UTC, network
    order) at the pointer, pointer += 4; copied into the echo reply."""
    k = kernel()
    assert _reply_opts(k, ts(5, 0, bytes(8))) == ts(9, 0, TB + Z4)


def test_ts_flag1_addr_and_time():
    """ip_options.c:ip_dooptions TS flag 1: ifaof_ifpforaddr(dst, rcvif) then
    time; pointer += 8."""
    k = kernel()
    assert _reply_opts(k, ts(5, 1, bytes(8))) == ts(13, 1, a(HOST) + TB)


def test_ts_flag1_records_receiving_interface_address():
    """ip_options.c:ip_dooptions TS flag 1 uses ifaof_ifpforaddr(dst, rcvif):
    for 198.51.100.1 arriving on em0 the em0 address 192.0.2.1 is recorded
    (RR would record 198.51.100.1)."""
    k = kernel()
    assert _reply_opts(k, ts(5, 1, bytes(8)), dst=HOST1) == ts(13, 1, a(HOST) + TB)


def test_ts_flag3_prespecified_ours():
    """ip_options.c:ip_dooptions TS flag 3: listed address ours -> pointer += 4,
    time stored in the next word, pointer += 4."""
    k = kernel()
    body = a(HOST) + Z4 + a(REMOTE) + Z4
    got = _reply_opts(k, ts(5, 3, body))
    assert got == ts(13, 3, a(HOST) + TB + a(REMOTE) + Z4)


def test_ts_flag3_prespecified_not_ours():
    """ip_options.c:ip_dooptions TS flag 3: listed address not ours -> `continue`
    (option untouched)."""
    k = kernel()
    body = a(REMOTE) + Z4 + a(HOST) + Z4
    assert _reply_opts(k, ts(5, 3, body)) == ts(5, 3, body)


@pytest.mark.parametrize(
    "length,ptr,flags,exp_flags",
    [
        (12, 9, 0x00, 0x10),  # pointer > length-4: last slot never used
        (8, 5, 0x20, 0x30),  # room for one slot, still "full"
        (12, 13, 0xE1, 0xF1),  # genuinely full, flag 1
    ],
)
def test_ts_full_increments_overflow(length, ptr, flags, exp_flags):
    """ip_options.c:ip_dooptions TS: `if (off > optlen - 4)` on the 1-based
    pointer -> cp[3] += 0x10 (overflow nibble), nothing else changes."""
    k = kernel()
    opt = ts(ptr, flags, bytes(length - 4))
    got = _reply_opts(k, opt)
    assert got == ts(ptr, exp_flags, bytes(length - 4))


def test_ts_overflow_wrap_param_problem():
    """ip_options.c:ip_dooptions TS: overflow nibble wraps to 0 -> ICMP 12/0,
    code = &cp[IPOPT_OFFSET] = 22; the quote shows the wrapped byte."""
    k = kernel()
    fr = echo(ts(13, 0xF0, bytes(8)))
    q = bytearray(ip_of(fr))
    q[23] = 0x00
    expect_param_problem(k, fr, 22, bytes(q))


@pytest.mark.parametrize(
    "opts,pointer",
    [
        (ts(5, 2, bytes(8)), 23),  # bad flag -> flags byte
        (ts(5, 5, bytes(8)), 23),
        (bytes([0x44, 3, 5]) + NOP, 21),  # length < 4 -> length byte
        (bytes([0x44, 2]) + NOP + NOP, 21),
        (ts(4, 0, bytes(8)), 21),  # pointer < 5 -> length byte (!)
        (ts(1, 0, bytes(8)), 21),
        (ts(5, 1, bytes(6)) + NOP + NOP, 22),  # len 10: no room for addr+time -> pointer byte
        (ts(5, 3, bytes(6)) + NOP + NOP, 22),
    ],
)
def test_ts_malformed(opts, pointer):
    """ip_options.c:ip_dooptions TS error codes: optlen<4||>40 and off<5 ->
    &cp[IPOPT_OLEN]; flag 1/3 without 8 bytes -> &cp[IPOPT_OFFSET]; unknown
    flag -> &cp[IPOPT_OFFSET+1]."""
    k = kernel()
    fr = echo(opts)
    expect_param_problem(k, fr, pointer, ip_of(fr))


# --------------------------------------------------------------------------
# Generic option walk: malformed lengths


@pytest.mark.parametrize(
    "opts,pointer",
    [
        (b"\x07\x00\x00\x00", 21),  # length 0
        (b"\x07\x01\x00\x00", 21),  # length 1
        (b"\x9e\x00\x00\x00", 21),  # unknown option, length 0
        (b"\x07\x0b\x04\x00" + Z4, 21),  # length 11 overruns 8 bytes of options
        (NOP + b"\x44\x08\x05", 22),  # option at offset 21 overruns
        (NOP * 3 + b"\x44", 24),  # cnt < 2: pointer beyond the header
    ],
)
def test_malformed_lengths(opts, pointer):
    """ip_options.c:ip_dooptions generic walk: cnt < 2, optlen < 2 or
    optlen > cnt -> ICMP 12/0 with code = &cp[IPOPT_OLEN] - ip."""
    k = kernel()
    fr = echo(opts)
    expect_param_problem(k, fr, pointer, ip_of(fr))


def test_malformed_forwarded_packet():
    """ip_options.c:ip_dooptions runs before ip_forward: a transit packet with
    a bad option is answered with 12/0 from the address toward the source."""
    k = kernel(fwd=1, default=True)
    fr = echo(b"\x07\x01\x00\x00", dst=REMOTE)
    expect_param_problem(k, fr, 21, ip_of(fr))


# --------------------------------------------------------------------------
# Router alert, unknown options, security


def test_router_alert_and_unknown_passed_forwarded():
    """ip_options.c:ip_dooptions `default: break;` — RA (148) and unknown (0x9e)
    options are forwarded untouched."""
    k = kernel(fwd=1, default=True)
    opts = b"\x94\x04\x00\x00" + b"\x9e\x04\xab\xcd"
    before = snap(k)
    k.input("em0", echo(opts, dst=REMOTE))
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert Ether(f)[IP].dst == REMOTE and opts_of(f) == opts
    assert d.get("ips_forward") == 1 and d.get("ips_badoptions", 0) == 0


def test_router_alert_local_not_in_reply():
    """ip_options.c:ip_dooptions ignores RA; ip_icmp.c:icmp_reflect copies only
    RR/TS/SECURITY, so the echo reply has no options."""
    k = kernel()
    k.input("em0", echo(b"\x94\x04\x00\x00"))
    (f,) = k.transmitted("em0")
    assert ihl(f) == 20 and l4_of(f)[0] == 0


def test_security_option_copied_into_reply():
    """ip_icmp.c:icmp_reflect copies IPOPT_SECURITY (130) and EOL-pads."""
    k = kernel()
    sec = bytes([0x82, 11]) + b"\xf1\x35\x00\x00\x00\x00\x00\x00\x00"
    k.input("em0", echo(sec + NOP))
    (f,) = k.transmitted("em0")
    assert opts_of(f) == sec + EOL


# --------------------------------------------------------------------------
# LSRR / SSRR

EXHAUSTED = srr(LSRR, 12, [R1, ROUTER]) + NOP  # pointer past the end, at us


@pytest.mark.parametrize("sr", [0, 1])
@pytest.mark.parametrize("acc", [0, 1])
def test_srcroute_exhausted_at_us(sr, acc):
    """ip_options.c:ip_dooptions LSRR, dst ours, off > optlen-4: accept_sourceroute
    0 -> nosourcerouting (ICMP 3/5); 1 -> save_rte; ip_icmp.c:icmp_reflect +
    ip_srcroute: reply to first hop (last recorded address), NOP + reversed
    LSRR ending in the original source, pointer 4."""
    k = kernel(sr=sr, acc=acc, default=True)
    fr = echo(EXHAUSTED, src=REMOTE_SRC, smac=ROUTER_MAC)
    if not acc:
        expect_param_problem(
            k, fr, 0, ip_of(fr), code_type=3, code=5, err_dst=REMOTE_SRC, dst_mac=ROUTER_MAC
        )
        return
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    e = Ether(f)
    assert e.dst == ROUTER_MAC
    assert (e[IP].src, e[IP].dst) == (HOST, ROUTER)
    assert opts_of(f) == NOP + srr(LSRR, 4, [R1, REMOTE_SRC])
    assert hdr_ok(f)
    assert l4_of(f)[0] == 0 and l4_of(f)[8:] == ECHO_DATA
    assert d.get("icps_reflect") == 1 and d.get("ips_badoptions", 0) == 0


def test_srcroute_reply_with_rr_after_route():
    """ip_icmp.c:icmp_reflect: ip_srcroute() result first, then the RR option
    (filled with our address by ip_dooptions), EOL-padded."""
    k = kernel(acc=1, default=True)
    opts = srr(SSRR, 12, [R1, ROUTER]) + rr(4, ["0.0.0.0"]) + NOP * 2
    k.input("em0", echo(opts, src=REMOTE_SRC, smac=ROUTER_MAC))
    (f,) = k.transmitted("em0")
    assert Ether(f)[IP].dst == ROUTER
    assert opts_of(f) == NOP + srr(SSRR, 4, [R1, REMOTE_SRC]) + rr(8, [HOST]) + EOL


@pytest.mark.parametrize("sr", [0, 1])
@pytest.mark.parametrize("acc", [0, 1])
@pytest.mark.parametrize("fwd", [0, 1])
def test_lsrr_hops_remaining_at_us(sr, acc, fwd):
    """ip_options.c:ip_dooptions LSRR, dst ours, hops remain:
    sourceroute=0 -> forwarding ? ICMP 3/5 : silent drop (ips_cantforward);
    sourceroute=1 -> ip_dst = next hop, slot = ip_rtaddr(next) address,
    pointer += 4, ip_forward(m, 1) if forwarding, else ip_input finds the new
    destination not ours -> ips_cantforward."""
    k = kernel(sr=sr, acc=acc, fwd=fwd)
    opts = srr(LSRR, 4, [FAR]) + NOP
    fr = echo(opts)
    if sr == 0 and fwd == 1:
        expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=5)
        return
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    assert k.transmitted("em0") == []
    assert d.get("ips_badoptions", 0) == 0
    if fwd == 0:
        assert k.transmitted("em1") == []
        assert d.get("ips_cantforward") == 1 and d.get("ips_delivered", 0) == 0
        return
    (f,) = k.transmitted("em1")
    e = Ether(f)
    assert e.dst == FAR_MAC and (e[IP].src, e[IP].dst, e[IP].ttl) == (PEER, FAR, 63)
    assert opts_of(f) == srr(LSRR, 8, [HOST1]) + NOP
    assert hdr_ok(f)
    assert d.get("ips_forward") == 1


@pytest.mark.parametrize(
    "kind,nxt,result",
    [
        (SSRR, FAR, ("em1", FAR_MAC, HOST1)),
        (SSRR, REMOTE, None),  # not on a connected network -> 3/5
        (LSRR, REMOTE, ("em0", ROUTER_MAC, HOST)),
    ],
)
def test_source_route_next_hop(kind, nxt, result):
    """ip_options.c:ip_dooptions: SSRR next hop via ifa_ifwithdstaddr /
    ifa_ifwithnet (connected only, else ICMP 3/5); LSRR via ip_rtaddr (any
    route, here the default route through em0)."""
    k = kernel(sr=1, fwd=1, default=True)
    fr = echo(srr(kind, 4, [nxt]) + NOP)
    if result is None:
        expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=5)
        return
    ifname, mac, slot = result
    k.input("em0", fr)
    (f,) = k.transmitted(ifname)
    e = Ether(f)
    assert e.dst == mac and e[IP].dst == nxt and e[IP].ttl == 63
    assert opts_of(f) == srr(kind, 8, [slot]) + NOP


def test_lsrr_next_hop_no_route():
    """ip_options.c:ip_dooptions LSRR: ip_rtaddr(next hop) == NULL ->
    ICMP_UNREACH_SRCFAIL (3/5)."""
    k = kernel(sr=1, fwd=1)  # no default route
    fr = echo(srr(LSRR, 4, [REMOTE]) + NOP)
    expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=5)


@pytest.mark.parametrize("kind", [LSRR, SSRR])
@pytest.mark.parametrize("sr", [0, 1])
@pytest.mark.parametrize("acc", [0, 1])
def test_source_route_destination_not_ours(kind, sr, acc):
    """ip_options.c:ip_dooptions, ip_dst not ours: SSRR -> 3/5; LSRR with
    sourceroute=0 -> nosourcerouting 3/5; LSRR with sourceroute=1 -> nothing,
    ip_input forwards normally with the option untouched."""
    k = kernel(sr=sr, acc=acc, fwd=1, default=True)
    opts = srr(kind, 4, [FAR]) + NOP
    fr = echo(opts, dst=REMOTE)
    if kind == SSRR or sr == 0:
        expect_param_problem(k, fr, 0, ip_of(fr), code_type=3, code=5)
        return
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    e = Ether(f)
    assert e.dst == ROUTER_MAC and e[IP].dst == REMOTE and e[IP].ttl == 63
    assert opts_of(f) == opts
    assert d.get("ips_forward") == 1 and d.get("ips_badoptions", 0) == 0


@pytest.mark.parametrize("kind", [LSRR, SSRR])
@pytest.mark.parametrize(
    "opts,pointer",
    [
        (lambda k: bytes([k, 2]) + NOP + NOP, 21),  # length < 3 -> length byte
        (lambda k: bytes([k, 7, 3]) + a(FAR) + NOP, 22),  # pointer < 4 -> pointer byte
    ],
)
def test_source_route_malformed(kind, opts, pointer):
    """ip_options.c:ip_dooptions [LS]SRR: optlen < 3 -> &cp[IPOPT_OLEN];
    pointer < 4 -> &cp[IPOPT_OFFSET]."""
    k = kernel(sr=1, acc=1)
    fr = echo(opts(kind))
    expect_param_problem(k, fr, pointer, ip_of(fr))


# --------------------------------------------------------------------------
# icmp_reflect on timestamp / mask replies, ICMP errors


def test_timestamp_reply_copies_rr():
    """ip_icmp.c:icmp_input ICMP_TSTAMP -> reflect; icmp_reflect copies RR
    (filled by ip_dooptions) and pads."""
    k = kernel()
    k.advance(T_SECONDS)
    fr = with_opts(
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=PEER, dst=HOST)
        / ICMP(type=13, id=7, seq=9, ts_ori=1, ts_rx=0, ts_tx=0),
        rr(4, ["0.0.0.0"]) + NOP,
    )
    k.input("em0", fr)
    (f,) = k.transmitted("em0")
    assert opts_of(f) == rr(8, [HOST]) + EOL
    icmp = l4_of(f)
    assert icmp[0] == 14
    assert icmp[8:20] == struct.pack("!III", 1, T_MS, T_MS)


def test_mask_reply_copies_ts():
    """ip_icmp.c:icmp_input ICMP_MASKREQ (maskrepl=1) -> reflect; icmp_reflect
    copies TS and pads."""
    k = kernel()
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.advance(T_SECONDS)
    fr = with_opts(
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=PEER, dst=HOST)
        / ICMP(type=17, id=7, seq=9)
        / Raw(b"\0\0\0\0"),
        ts(5, 0, bytes(8)),
    )
    k.input("em0", fr)
    (f,) = k.transmitted("em0")
    assert opts_of(f) == ts(9, 0, TB + Z4)
    icmp = l4_of(f)
    assert icmp[0] == 18 and icmp[8:12] == a("255.255.255.0")


def test_port_unreachable_quotes_stripped_header():
    """udp_usrreq.c:udp_input strips options (ip_stripoptions: ip_hl=5, ip_len
    untouched) before the port lookup; the error restores save_ip, adds
    iphlen=20, so ip_icmp.c:icmp_error quotes a 20-byte header (ihl 5, ip_len
    = 20 + UDP length, stale checksum) + 8 bytes; the error itself has no
    options."""
    k = kernel()
    fr = udp_frame(rr(4, ["0.0.0.0"]) + NOP, dport=9999)
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert ihl(f) == 20
    t, c, _, q = icmp_error_parts(f)
    assert (t, c) == (3, 3)
    sent = ip_of(fr)
    assert len(q) == 28
    assert q[0] == 0x45
    assert struct.unpack("!H", q[2:4])[0] == 20 + 12
    assert q[4:20] == sent[4:20]  # id, off, ttl, proto, old checksum, addresses
    assert q[20:28] == sent[28:36]  # the UDP header
    assert d.get("udps_noport") == 1


def test_time_exceeded_quotes_processed_options():
    """ip_input.c:ip_forward -> icmp_error(TIMXCEED): the quote is the header
    with options as ip_dooptions left them (RR filled, checksum unchanged);
    the error carries no options (ip_icmp.c:icmp_error, nip->ip_hl = 5)."""
    k = kernel(fwd=1, default=True)
    fr = echo(rr(4, ["0.0.0.0"]) + NOP, dst=REMOTE, ttl=1)
    q = bytearray(ip_of(fr))
    q[22] = 8
    q[23:27] = a(HOST)
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    (f,) = k.transmitted("em0")
    assert ihl(f) == 20
    t, c, _, quote = icmp_error_parts(f)
    assert (t, c) == (11, 0)
    assert quote == bytes(q[: 28 + 8])
    assert d.get("ips_badoptions", 0) == 0


# --------------------------------------------------------------------------
# Socket options: IP_OPTIONS / IP_RETOPTS / IP_RECVOPTS


RR8 = rr(4, ["0.0.0.0"]) + NOP


@pytest.mark.parametrize("stype,proto", [(sock.SOCK_DGRAM, 0), (sock.SOCK_RAW, 253)])
def test_ip_options_set_get_send_clear(stype, proto):
    """ip_output.c:ip_ctloutput IP_OPTIONS set -> ip_options.c:ip_pcbopts
    (4-byte zero first hop + options); get returns inp_options whole;
    udp_output/rip_output -> ip_output -> ip_insertoptions on every datagram;
    empty value clears."""
    k = kernel()
    s = k.socket(sock.AF_INET, stype, proto)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, RR8)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == Z4 + RR8
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_RETOPTS, 64) == Z4 + RR8
    dest = (PEER, 9 if stype == sock.SOCK_DGRAM else 0)
    s.sendto(b"one", dest)
    s.sendto(b"two", dest)
    frames = k.transmitted("em0")
    assert len(frames) == 2
    for f, payload in zip(frames, [b"one", b"two"], strict=True):
        e = Ether(f)
        assert e.dst == PEER_MAC and (e[IP].src, e[IP].dst) == (HOST, PEER)
        assert ihl(f) == 28 and opts_of(f) == RR8  # not processed on output
        assert hdr_ok(f)
        assert struct.unpack("!H", f[16:18])[0] == len(f) - 14
        assert l4_of(f).endswith(payload)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, b"")
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == b""
    s.sendto(b"three", dest)
    (f,) = k.transmitted("em0")
    assert ihl(f) == 20


INVALID = [
    ("len3", NOP * 3, errno.EINVAL),  # not a multiple of 4
    ("len6", NOP * 6, errno.EINVAL),
    ("len44", NOP * 44, errno.EINVAL),  # > MAX_IPOPTLEN
    ("optlen0", b"\x07\x00\x00\x00", errno.EINVAL),
    ("overrun", b"\x07\x09\x04\x00" + Z4, errno.EINVAL),
    ("cnt1", NOP * 3 + b"\x07", errno.EINVAL),
    ("lsrr3", b"\x83\x03\x04\x00", errno.EINVAL),  # LSRR shorter than 7
    ("mlen", NOP * 300, errno.EMSGSIZE),  # > MLEN (216), ip_ctloutput
]


@pytest.mark.parametrize("value,err", [v[1:] for v in INVALID], ids=[v[0] for v in INVALID])
def test_ip_options_invalid(value, err):
    """ip_output.c:ip_ctloutput (valsize > MLEN -> EMSGSIZE) and
    ip_options.c:ip_pcbopts (length % 4, malformed, LSRR < 7, > 40 -> EINVAL)."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as ei:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, value)
    assert ei.value.errno == err
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == b""


@pytest.mark.parametrize(
    "value,err",
    [(NOP * 6, errno.EINVAL), (b"\x07\x00\x00\x00", errno.EINVAL), (NOP * 300, errno.EMSGSIZE)],
    ids=["einval-len", "einval-malformed", "emsgsize"],
)
def test_failed_set_drops_old_options(value, err):
    """ip_options.c:ip_pcbopts frees and clears inp_options ("turn off any old
    options") before validating, so an EINVAL set leaves no options; the
    EMSGSIZE of ip_output.c:ip_ctloutput returns before ip_pcbopts and keeps
    them. Datagrams sent afterwards follow."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, RR8)
    with pytest.raises(OSError) as ei:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, value)
    assert ei.value.errno == err
    kept = err == errno.EMSGSIZE
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == (Z4 + RR8 if kept else b"")
    s.sendto(b"x", (PEER, 9))
    (f,) = k.transmitted("em0")
    assert opts_of(f) == (RR8 if kept else b"")


def test_ip_options_after_eol_not_checked():
    """ip_options.c:ip_pcbopts: EOL ends the walk; the bytes stay (m_len)."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, EOL + b"\x07\x00\x00")
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == Z4 + EOL + b"\x07\x00\x00"


def test_ip_retopts_set_enoprotoopt():
    """ip_output.c:ip_ctloutput: `#ifdef notyet case IP_RETOPTS` -> set falls to
    default: ENOPROTOOPT."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as ei:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_RETOPTS, RR8)
    assert ei.value.errno == errno.ENOPROTOOPT


def test_lsrr_first_hop_extraction_udp():
    """ip_options.c:ip_pcbopts moves the first LSRR address in front (getsockopt
    shows it), shortens the option; ip_insertoptions sets ip_dst to it.
    udp_usrreq.c:udp_output: UDP checksum over the final destination."""
    k = kernel(default=True)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, NOP + srr(LSRR, 4, [PEER, REMOTE]))
    exp_opts = NOP + srr(LSRR, 4, [REMOTE])
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64) == a(PEER) + exp_opts
    s.sendto(b"srcrouted", (REMOTE, 9))
    (f,) = k.transmitted("em0")
    e = Ether(f)
    assert e.dst == PEER_MAC
    assert (e[IP].src, e[IP].dst) == (HOST, PEER)
    assert opts_of(f) == exp_opts and hdr_ok(f)
    seg = l4_of(f)
    pseudo = a(HOST) + a(REMOTE) + struct.pack("!BBH", 0, 17, len(seg))
    assert cksum(pseudo + seg) == 0


def test_lsrr_44_bytes_accepted():
    """ip_options.c:ip_pcbopts: 44 bytes with a 10-address LSRR become 4 + 40
    (m_len 44 is not > MAX_IPOPTLEN + 4) -> accepted."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    hops = [f"10.0.0.{i}" for i in range(1, 11)]
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, NOP + srr(LSRR, 4, hops))
    got = s.getsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, 64)
    assert got == a("10.0.0.1") + NOP + srr(LSRR, 4, hops[1:])


def test_raw_hdrincl_with_options():
    """raw_ip.c:rip_output: HDRINCL header with ip_hl 5 gets inp_options
    inserted (ip_insertoptions); ip_hl != 5 plus inp_options -> EINVAL."""
    k = kernel()
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, RR8)
    payload = b"hdrincl!"
    hdr = struct.pack(
        "<BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x4444, 0, 64, 253, 0, a(HOST), a(PEER)
    )
    r.sendto(hdr + payload, (PEER, 0))
    (f,) = k.transmitted("em0")
    assert ihl(f) == 28 and opts_of(f) == RR8
    assert struct.unpack("!H", f[16:18])[0] == 28 + len(payload)
    assert l4_of(f) == payload and hdr_ok(f)
    hdr6 = (
        struct.pack(
            "<BBHHHBBH4s4s", 0x46, 0, 24 + len(payload), 0x4444, 0, 64, 253, 0, a(HOST), a(PEER)
        )
        + NOP * 4
    )
    with pytest.raises(OSError) as ei:
        r.sendto(hdr6 + payload, (PEER, 0))
    assert ei.value.errno == errno.EINVAL
    assert k.transmitted("em0") == []


def test_fragments_copy_only_copied_options():
    """ip_output.c:ip_fragment -> ip_options.c:ip_optcopy: later fragments get
    options with the copied bit (RA) and every NOP, not RR; EOL-padded to 4.
    Fragment payload size from the first header: (1500 - 32) & ~7 = 1464."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    opts = b"\x94\x04\x00\x00" + NOP + rr(4, ["0.0.0.0"])
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, opts)
    s.sendto(bytes(2000), (PEER, 9))
    f1, f2 = k.transmitted("em0")
    assert ihl(f1) == 32 and opts_of(f1) == opts
    assert struct.unpack("!HH", f1[16:18] + f1[20:22]) == (1496, 0x2000)
    assert ihl(f2) == 28 and opts_of(f2) == b"\x94\x04\x00\x00" + NOP + EOL * 3
    assert struct.unpack("!HH", f2[16:18] + f2[20:22]) == (28 + 544, 1464 // 8)
    assert hdr_ok(f1) and hdr_ok(f2)


def test_recvopts_recvretopts_deliver_nothing():
    """ip_output.c:ip_ctloutput sets INP_RECVOPTS/INP_RECVRETOPTS (get reads 1);
    ip_input.c:ip_savecontrol has both under `#ifdef notyet`: no cmsg.
    udp_usrreq.c:udp_input strips options: payload delivered intact."""
    k = kernel(acc=1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 7000))
    s.setsockopt(sock.IPPROTO_IP, sock.IP_RECVOPTS, 1)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_RECVRETOPTS, 1)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_RECVOPTS) == 1
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_RECVRETOPTS) == 1
    k.input("em0", udp_frame(srr(LSRR, 8, [PEER]) + rr(4, ["0.0.0.0"]) + NOP * 2, 7000))
    data, anc, flags, addr = s.recvmsg(2048, 256)
    assert (data, anc, addr) == (b"abcd", [], (PEER, 40000))


@pytest.mark.parametrize(
    "opts", [NOP * 4, rr(4, ["0.0.0.0", "0.0.0.0"]) + NOP, ts(5, 1, bytes(32)) + bytes(4)]
)
def test_udp_delivery_strips_options(opts):
    """udp_usrreq.c:udp_input -> ip_options.c:ip_stripoptions: payload and
    source delivered intact whatever the options."""
    k = kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 7000))
    data = b"payload-bytes-123"
    before = snap(k)
    k.input("em0", udp_frame(opts, 7000, data=data))
    d = delta(before, k)
    assert s.recvfrom(2048) == (data, (PEER, 40000))
    assert d.get("udps_ipackets") == 1 and d.get("ips_delivered") == 1


def test_reassembly_keeps_first_fragment_options():
    """ip_input.c:ip_reass: the reassembled header is that of the offset-0
    fragment (options included, as processed by ip_dooptions for that
    fragment); options of later fragments are discarded."""
    k = kernel()
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    p1, p2 = b"A" * 16, b"B" * 16
    first = proto253(rr(4, ["0.0.0.0"]) + NOP, payload=p1, id=0x5151, flags="MF", frag=0)
    second = proto253(NOP * 4, payload=p2, id=0x5151, flags=0, frag=2)
    k.input("em0", second)
    k.input("em0", first)
    got = r.recv(2048)
    assert got[0] == 0x47
    assert got[20:28] == rr(8, [HOST]) + NOP
    assert struct.unpack("<H", got[2:4])[0] == 32
    assert got[28:] == p1 + p2


def test_forwarded_rr_vs_ts_addr():
    """ip_options.c:ip_dooptions: RR records ip_rtaddr(dst) (outgoing em1,
    198.51.100.1) while TS flag 1 records ifaof_ifpforaddr(dst, rcvif) — for
    FAR, not on em0's net, the first address of the receiving em0."""
    k = kernel(fwd=1)
    k.advance(T_SECONDS)
    k.input("em0", echo(rr(4, ["0.0.0.0"]) + NOP + ts(5, 1, bytes(8)), dst=FAR))
    (f,) = k.transmitted("em1")
    assert opts_of(f) == rr(8, [HOST1]) + NOP + ts(13, 1, a(HOST) + TB)


def test_rr_to_subnet_broadcast_raw_reader():
    """ip_options.c:ip_dooptions RR: the broadcast address is no interface
    address, so ip_rtaddr(192.0.2.255) -> connected route -> 192.0.2.1."""
    k = kernel()
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    fr = with_opts(
        Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=PEER, dst="192.0.2.255", proto=253, id=0x2323)
        / Raw(b"bcast"),
        rr(4, ["0.0.0.0"]) + NOP,
    )
    k.input("em0", fr)
    got = r.recv(2048)
    assert got[20:28] == rr(8, [HOST]) + NOP and got[28:] == b"bcast"


def test_source_routed_ttl_exceeded_quotes_rewritten_header():
    """ip_options.c:ip_dooptions rewrites ip_dst/slot/pointer before
    ip_input.c:ip_forward(m, 1) finds ttl <= 1 -> icmp_error(TIMXCEED) quoting
    the rewritten header (old checksum)."""
    k = kernel(sr=1, fwd=1)
    fr = echo(srr(LSRR, 4, [FAR]) + NOP, ttl=1)
    q = bytearray(ip_of(fr))
    q[16:20] = a(FAR)
    q[22] = 8
    q[23:27] = a(HOST1)
    before = snap(k)
    k.input("em0", fr)
    d = delta(before, k)
    assert k.transmitted("em1") == []
    (f,) = k.transmitted("em0")
    e = Ether(f)
    assert (e[IP].src, e[IP].dst) == (HOST, PEER) and ihl(f) == 20
    t, c, _, quote = icmp_error_parts(f)
    assert (t, c) == (11, 0)
    assert quote == bytes(q[: 28 + 8])
    assert d.get("ips_forward", 0) == 0 and d.get("ips_badoptions", 0) == 0
