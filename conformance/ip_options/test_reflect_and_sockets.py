"""icmp_reflect with options (timestamp and mask replies too), and the
sending side: IP_OPTIONS (ip_pcbopts, ip_insertoptions), fragmentation
(ip_optcopy), IP_RECVOPTS / IP_RECVRETOPTS / IP_RETOPTS."""

from __future__ import annotations

import errno
import struct

import pytest
from scapy.layers.inet import IP as scapy_ip

from kstack import sock as S
from kstack.testing import (
    HOST,
    ICMP,
    PEER,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Raw,
    host,
)

from .helpers import FAR, addr, frame, pad, rr, ts, with_options

IP = S.IPPROTO_IP
SEC = pad(b"\x82\x0b" + bytes(range(1, 10)))  # Security, 11 bytes + EOL


def _err(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


def _reply_opts(reply: bytes) -> bytes:
    hl = (reply[14] & 0x0F) * 4
    return reply[34 : 14 + hl]


# -- icmp_reflect ----------------------------------------------------------------------


def test_echo_reply_copies_rr_ts_and_security_only():
    """icmp_reflect copies Record Route, Timestamp and Security (as
    processed), not NOP, Router Alert or unknown options, and pads with
    EOL."""
    k = host()
    k.advance(60)
    rr1 = b"\x07\x07\x04" + bytes(4)  # no EOL padding: it would end the list
    opts = b"\x94\x04\x00\x00" + rr1 + b"\x01" + ts(0, 12) + SEC[:11] + b"\x01\x99\x04\x00\x00"
    assert len(opts) == 40
    pkt = with_options(opts, ICMP(type=8, id=1, seq=1) / Raw(b"abc"))
    k.input("em0", frame(pkt))
    (reply,) = k.transmitted("em0")
    t = (60000).to_bytes(4, "big")
    rr_done = b"\x07\x07\x08" + addr(HOST)
    ts_done = b"\x44\x0c\x09\x00" + t + bytes(4)
    assert _reply_opts(reply) == pad(rr_done + ts_done + SEC[:11])


def test_timestamp_reply_carries_options():
    """icmp_input answers a timestamp request through icmp_reflect: the
    processed Record Route is copied into the timestamp reply."""
    k = host()
    pkt = with_options(rr(1), ICMP(type=13, id=1, seq=1, ts_ori=7, ts_rx=0, ts_tx=0))
    assert k.input("em0", frame(pkt)).reason == "icps_reflect"
    (reply,) = k.transmitted("em0")
    assert _reply_opts(reply) == rr(1, ptr=8, filled=(HOST,))
    assert reply[14 + 28] == 14  # ICMP timestamp reply after a 28-byte header


def test_mask_reply_carries_options():
    """With net.inet.icmp.maskrepl=1 the mask reply also carries the copied
    options."""
    k = host()
    k.sysctl("net.inet.icmp.maskrepl", 1)
    pkt = with_options(rr(1), ICMP(type=17, id=1, seq=1) / Raw(bytes(4)))
    assert k.input("em0", frame(pkt)).reason == "icps_reflect"
    (reply,) = k.transmitted("em0")
    assert _reply_opts(reply) == rr(1, ptr=8, filled=(HOST,))
    assert reply[14 + 28] == 18
    assert reply[14 + 28 + 8 : 14 + 28 + 12] == b"\xff\xff\xff\x00"


def test_errors_carry_no_options():
    """icmp_error builds a 20-byte header: the parameter problem sent for a
    packet with options carries none itself."""
    k = host()
    pkt = with_options(b"\x07\x00\x00\x00", ICMP(type=8) / Raw(b"x"))
    k.input("em0", frame(pkt))
    (err,) = k.transmitted("em0")
    assert err[14] == 0x45


# -- IP_OPTIONS ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_ip_options_round_trip_and_every_datagram(kind):
    """ip_pcbopts keeps [first hop 0][options]; getsockopt returns it as
    stored; ip_insertoptions puts the options in every datagram sent."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM) if kind == "udp" else k.socket(S.AF_INET, S.SOCK_RAW, 253)
    opts = b"\x01" + b"\x07\x07\x04" + bytes(4)
    s.setsockopt(IP, S.IP_OPTIONS, opts)
    assert s.getsockopt(IP, S.IP_OPTIONS, 64) == bytes(4) + opts
    for _ in range(2):
        s.sendto(b"payload", (PEER, 9))
    frames = k.transmitted("em0")
    assert len(frames) == 2
    for f in frames:
        assert f[14] == 0x47 and f[34:42] == opts and f[30:34] == addr(PEER)
        total = struct.unpack_from("!H", f, 16)[0]
        assert total == 28 + (8 if kind == "udp" else 0) + 7


def test_ip_options_lsrr_first_hop():
    """ip_pcbopts takes the first listed hop out of a source route: it is
    stored in front of the options (getsockopt shows it) and becomes the
    datagram's destination; the UDP checksum is for the final destination."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind((HOST, 5000))
    user = b"\x01\x83\x0b\x04" + addr(ROUTER) + addr(FAR)
    s.setsockopt(IP, S.IP_OPTIONS, user)
    kept = addr(ROUTER) + b"\x01\x83\x07\x04" + addr(FAR)
    assert s.getsockopt(IP, S.IP_OPTIONS, 64) == kept
    s.sendto(b"via", (FAR, 9))
    (f,) = k.transmitted("em0")
    assert f[:6] == bytes.fromhex(ROUTER_MAC.replace(":", ""))
    assert f[30:34] == addr(ROUTER) and f[34:42] == kept[4:]
    # udp_output's pseudo-header sum was taken with the final destination.
    udp = bytes(scapy_ip(src=HOST, dst=FAR) / UDP(sport=5000, dport=9) / Raw(b"via"))[20:]
    assert f[42:] == udp


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"\x01\x01\x01", errno.EINVAL),  # not a multiple of 4
        (b"\x07\x00\x00\x00", errno.EINVAL),  # length 0
        (b"\x07\x09\x04\x00", errno.EINVAL),  # length past the end
        (b"\x01\x83\x03\x04", errno.EINVAL),  # source route without a hop
        (b"\x01" * 44, errno.EINVAL),  # more than 40 bytes
        (b"\x01" * 220, errno.EMSGSIZE),  # more than MLEN
    ],
)
def test_ip_options_refused(raw, code):
    """ip_ctloutput/ip_pcbopts errors; the previous options are dropped
    first, so a refused set clears them (ip_pcbopts frees them at once)."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x01")
    assert _err(s.setsockopt, IP, S.IP_OPTIONS, raw) == code
    if code == errno.EINVAL:
        assert s.getsockopt(IP, S.IP_OPTIONS, 64) == b""


def test_ip_options_cleared_by_empty_value():
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x01")
    s.setsockopt(IP, S.IP_OPTIONS, b"")
    assert s.getsockopt(IP, S.IP_OPTIONS, 64) == b""
    s.sendto(b"x", (PEER, 9))
    assert k.transmitted("em0")[0][14] == 0x45


def test_fragments_carry_copied_options_only():
    """ip_fragment: the first fragment keeps every option; later ones get
    ip_optcopy's: NOPs and the options with the copied bit (Security), not
    Record Route, padded with EOL."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    opts = b"\x01" + SEC[:11] + rr(1)
    s.setsockopt(IP, S.IP_OPTIONS, opts)
    s.sendto(b"z" * 3000, (PEER, 0))
    frames = k.transmitted("em0")
    assert len(frames) == 3
    assert frames[0][34 : 34 + len(opts)] == opts
    for f in frames[1:]:
        assert f[14] == 0x48  # 20 + 12
        assert f[34:46] == b"\x01" + SEC[:11]


def test_hdrincl_with_options():
    """rip_output: with IP_HDRINCL, pcb options and a header of more than 20
    bytes -> EINVAL; with a 20-byte header the options are inserted."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    s.setsockopt(IP, S.IP_HDRINCL, 1)
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x01")
    hdr = bytearray(20)
    hdr[0] = 0x45
    hdr[2:4] = (24).to_bytes(2, "little")  # host order in 9.x
    hdr[8] = 7
    hdr[9] = 253
    hdr[12:16] = addr(HOST)
    hdr[16:20] = addr(PEER)
    s.sendto(bytes(hdr) + b"data", (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f[14] == 0x46 and f[34:38] == b"\x01\x01\x01\x01" and f[38:42] == b"data"
    assert struct.unpack_from("!H", f, 16)[0] == 28
    big = bytearray(hdr) + b"\x01\x01\x01\x01"
    big[0] = 0x46
    big[2:4] = (28).to_bytes(2, "little")
    assert _err(s.sendto, bytes(big) + b"data", (PEER, 0)) == errno.EINVAL


def test_recvopts_and_recvretopts_deliver_nothing():
    """ip_savecontrol: IP_RECVOPTS and IP_RECVRETOPTS are accepted but their
    control messages are under "notyet" in 9.x: nothing is delivered."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9))
    s.setsockopt(IP, S.IP_RECVOPTS, 1)
    s.setsockopt(IP, S.IP_RECVRETOPTS, 1)
    assert s.getsockopt(IP, S.IP_RECVOPTS) == 1
    pkt = with_options(rr(1), UDP(sport=7, dport=9) / Raw(b"hey"))
    k.input("em0", frame(pkt))
    data, anc, _flags, _addr = s.recvmsg(100, 256)
    assert (data, anc) == (b"hey", [])


def test_retopts():
    """ip_ctloutput: setting IP_RETOPTS is "notyet" (ENOPROTOOPT); getting
    it reads the pcb options like IP_OPTIONS."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    assert _err(s.setsockopt, IP, S.IP_RETOPTS, b"\x01\x01\x01\x01") == errno.ENOPROTOOPT
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x01")
    assert s.getsockopt(IP, S.IP_RETOPTS, 64) == bytes(4) + b"\x01\x01\x01\x01"


def test_too_long_with_options_goes_without():
    """ip_insertoptions: when the options would take the datagram past 65535
    bytes they are silently not inserted (the first hop is not applied
    either)."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 70000)
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x01")
    s.sendto(b"q" * (65535 - 20 - 2), (PEER, 0))
    frames = k.transmitted("em0")
    assert frames and all(f[14] == 0x45 for f in frames)
