"""Tests for kstack.pcapio: pcap/pcapng reading and writing."""

from __future__ import annotations

import io
import struct
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstack.pcapio import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    CaptureReader,
    PcapError,
    PcapngWriter,
    Record,
    open_capture,
    write_pcap,
    write_pcapng,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/corpus/pcaps"

FRAME_A = bytes(range(60))
FRAME_B = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + b"E" * 29  # odd length
FRAME_C = b"\x45\x00\x00\x14" + b"\x00" * 16  # a bare IPv4 header


# --------------------------------------------------------------------------
# hand-made capture builders (independent of the code under test)
# --------------------------------------------------------------------------


def pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def ng_opt(e: str, code: int, value: bytes) -> bytes:
    return struct.pack(e + "HH", code, len(value)) + pad4(value)


def ng_opts(e: str, *opts: tuple[int, bytes]) -> bytes:
    if not opts:
        return b""
    return b"".join(ng_opt(e, c, v) for c, v in opts) + struct.pack(e + "HH", 0, 0)


def ng_block(e: str, btype: int, body: bytes) -> bytes:
    body = pad4(body)
    n = 12 + len(body)
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def ng_shb(e: str, *opts: tuple[int, bytes], major: int = 1) -> bytes:
    return ng_block(
        e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, major, 0, -1) + ng_opts(e, *opts)
    )


def ng_idb(e: str, linktype: int = 1, snaplen: int = 0, *opts: tuple[int, bytes]) -> bytes:
    return ng_block(e, 1, struct.pack(e + "HHI", linktype, 0, snaplen) + ng_opts(e, *opts))


def ng_epb(
    e: str, ifid: int, ts: int, data: bytes, wirelen: int | None = None, *opts: tuple[int, bytes]
) -> bytes:
    wl = len(data) if wirelen is None else wirelen
    hdr = struct.pack(e + "IIIII", ifid, ts >> 32, ts & 0xFFFFFFFF, len(data), wl)
    return ng_block(e, 6, hdr + pad4(data) + ng_opts(e, *opts))


def ng_pb(e: str, ifid: int, ts: int, data: bytes, *opts: tuple[int, bytes]) -> bytes:
    hdr = struct.pack(e + "HHIIII", ifid, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return ng_block(e, 2, hdr + pad4(data) + ng_opts(e, *opts))


def ng_spb(e: str, data: bytes, wirelen: int | None = None) -> bytes:
    wl = len(data) if wirelen is None else wirelen
    return ng_block(e, 3, struct.pack(e + "I", wl) + data)


def pcap_file(
    e: str,
    recs: list[tuple[int, int, bytes]],
    *,
    magic: int = 0xA1B2C3D4,
    linktype: int = 1,
    snaplen: int = 65535,
) -> bytes:
    out = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for sec, frac, data in recs:
        out += struct.pack(e + "IIII", sec, frac, len(data), len(data)) + data
    return out


def put(tmp_path: Path, content: bytes, name: str = "cap.bin") -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


def read_all(path: Path) -> list[Record]:
    with open_capture(path) as r:
        return list(r)


def pcapng_bytes(build: Callable[[PcapngWriter], None], **kw: str | None) -> bytes:
    buf = io.BytesIO()
    w = PcapngWriter(buf, **kw)
    build(w)
    return buf.getvalue()


def walk_blocks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, whole block) for a little-endian pcapng file."""
    pos = 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        yield btype, data[pos : pos + blen]
        pos += blen


# --------------------------------------------------------------------------
# writer and round trips
# --------------------------------------------------------------------------

TS1 = 1_700_000_000_123_456_789
TS2 = TS1 + 1_000_000_001


def _two_interfaces(w: PcapngWriter) -> None:
    a = w.add_interface(LINKTYPE_ETHERNET, "em0")
    b = w.add_interface(LINKTYPE_RAW, None, snaplen=24)
    assert (a, b) == (0, 1)
    w.write(a, TS1, FRAME_A, comment="first frame")
    w.write(b, TS2, FRAME_C + b"tail-cut-by-snaplen")
    w.write(a, TS2 + 5, FRAME_B, comment="héllo, wörld ✓", wirelen=1500)
    w.write(a, 0, b"")


def test_pcapng_roundtrip(tmp_path: Path) -> None:
    content = pcapng_bytes(_two_interfaces, shb_comment="made by a test")
    assert content == pcapng_bytes(_two_interfaces, shb_comment="made by a test")
    recs = read_all(put(tmp_path, content, "rt.pcapng"))
    assert recs == [
        Record(TS1, FRAME_A, len(FRAME_A), LINKTYPE_ETHERNET, 0, "first frame"),
        Record(TS2, (FRAME_C + b"tail-cut-by-snaplen")[:24], 39, LINKTYPE_RAW, 1, None),
        Record(TS2 + 5, FRAME_B, 1500, LINKTYPE_ETHERNET, 0, "héllo, wörld ✓"),
        Record(0, b"", 0, LINKTYPE_ETHERNET, 0, None),
    ]
    with open_capture(tmp_path / "rt.pcapng") as r:
        assert r.format == "pcapng"
        assert r.path == str(tmp_path / "rt.pcapng")
        assert next(iter(r)).ts_ns == TS1
        assert r.linktype == LINKTYPE_ETHERNET


def test_pcapng_writer_layout_exact_bytes() -> None:
    content = pcapng_bytes(lambda w: w.write(w.add_interface(1, "em0"), 0x1_0000_0002, b"abcde"))
    shb_opts = ng_opt("<", 4, b"kstack") + b"\0\0\0\0"
    shb = ng_block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)
    idb_opts = ng_opt("<", 2, b"em0") + ng_opt("<", 9, b"\x09") + b"\0\0\0\0"
    idb = ng_block("<", 1, struct.pack("<HHI", 1, 0, 0) + idb_opts)
    epb = ng_block("<", 6, struct.pack("<IIIII", 0, 1, 2, 5, 5) + b"abcde\0\0\0")
    assert content == shb + idb + epb
    # every block is 32-bit aligned and carries matching leading/trailing lengths
    for _btype, block in walk_blocks(content):
        assert len(block) % 4 == 0
        assert block[4:8] == block[-4:]


def test_pcapng_writer_comment_option_layout() -> None:
    content = pcapng_bytes(lambda w: w.write(w.add_interface(1), 7, b"xy", comment="abcde"))
    epb = list(walk_blocks(content))[-1][1]
    assert epb[28:32] == b"xy\0\0"
    assert epb[32:48] == struct.pack("<HH", 1, 5) + b"abcde\0\0\0" + b"\0\0\0\0"
    assert len(epb) == 52


def test_pcapng_writer_rejects_bad_arguments() -> None:
    w = PcapngWriter(io.BytesIO())
    with pytest.raises(ValueError, match="undefined interface"):
        w.write(0, 0, b"")
    i = w.add_interface(1)
    with pytest.raises(ValueError, match="timestamp"):
        w.write(i, -1, b"")
    with pytest.raises(ValueError, match="timestamp"):
        w.write(i, 1 << 64, b"")
    with pytest.raises(ValueError, match="link type"):
        w.add_interface(70000)


def test_write_pcapng_convenience(tmp_path: Path) -> None:
    frames = [(TS1, FRAME_A), (TS2, FRAME_B), (TS2, FRAME_C)]
    p = tmp_path / "c.pcapng"
    write_pcapng(p, iter(frames), linktype=LINKTYPE_IPV4, ifname="lo0")
    first = p.read_bytes()
    write_pcapng(str(p), iter(frames), linktype=LINKTYPE_IPV4, ifname="lo0")
    assert p.read_bytes() == first
    recs = read_all(p)
    assert [(r.ts_ns, r.data, r.linktype, r.ifindex) for r in recs] == [
        (ts, d, LINKTYPE_IPV4, 0) for ts, d in frames
    ]


def test_write_pcap_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "c.pcap"
    frames = [(TS1, FRAME_A), (TS2, FRAME_B), (5, b"")]
    write_pcap(p, frames, linktype=LINKTYPE_ETHERNET, snaplen=40)
    content = p.read_bytes()
    assert content[:24] == struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 40, 1)
    with open_capture(p) as r:
        assert r.format == "pcap"
        assert r.linktype == LINKTYPE_ETHERNET
        recs = list(r)
    # microsecond precision, frames cut to snaplen, wirelen kept
    assert recs == [
        Record(TS1 // 1000 * 1000, FRAME_A[:40], 60, 1, 0),
        Record(TS2 // 1000 * 1000, FRAME_B[:40], len(FRAME_B), 1, 0),
        Record(0, b"", 0, 1, 0),
    ]


def test_dpkt_reads_our_pcapng(tmp_path: Path) -> None:
    content = pcapng_bytes(_two_interfaces, shb_comment="x")
    r = dpkt.pcapng.Reader(io.BytesIO(content))
    got = list(r)
    assert [d for _ts, d in got] == [FRAME_A, (FRAME_C + b"tail-cut-by-snaplen")[:24], FRAME_B, b""]
    assert got[0][0] == pytest.approx(TS1 / 1e9, abs=1e-6)
    assert got[2][0] == pytest.approx((TS2 + 5) / 1e9, abs=1e-6)
    assert r.idb.linktype == LINKTYPE_ETHERNET
    # dpkt decodes our blocks, options and comments as well
    epbs = [b for t, b in walk_blocks(content) if t == 6]
    comments = []
    for block in epbs:
        epb = dpkt.pcapng.EnhancedPacketBlockLE(block)
        comments.append([o.text for o in epb.opts if o.code == 1])
    assert comments == [["first frame"], [], ["héllo, wörld ✓"], []]
    shb = dpkt.pcapng.SectionHeaderBlockLE(next(walk_blocks(content))[1])
    assert [(o.code, o.data) for o in shb.opts if o.code] == [(1, b"x"), (4, b"kstack")]


def test_dpkt_reads_our_pcap(tmp_path: Path) -> None:
    p = tmp_path / "c.pcap"
    write_pcap(p, [(TS1, FRAME_A), (TS2, FRAME_B)])
    with p.open("rb") as f:
        r = dpkt.pcap.Reader(f)
        assert r.datalink() == dpkt.pcap.DLT_EN10MB
        got = list(r)
    assert [d for _ts, d in got] == [FRAME_A, FRAME_B]
    assert got[0][0] == pytest.approx(TS1 / 1e9, abs=1e-6)


@pytest.mark.parametrize("nano", [False, True])
def test_we_read_dpkt_pcap(tmp_path: Path, nano: bool) -> None:
    p = tmp_path / "d.pcap"
    with p.open("wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB, nano=nano)
        w.writepkt(FRAME_A, ts=1_700_000_000.5)
        w.writepkt(FRAME_B, ts=1_700_000_001.25)
    recs = read_all(p)
    assert [(r.ts_ns, r.data) for r in recs] == [
        (1_700_000_000_500_000_000, FRAME_A),
        (1_700_000_001_250_000_000, FRAME_B),
    ]


def test_we_read_dpkt_pcapng(tmp_path: Path) -> None:
    p = tmp_path / "d.pcapng"
    with p.open("wb") as f:
        w = dpkt.pcapng.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        w.writepkt(FRAME_A, ts=1_700_000_000.5)
        w.writepkt(FRAME_B, ts=1_700_000_001.25)
    recs = read_all(p)
    assert [(r.ts_ns, r.data, r.linktype) for r in recs] == [
        (1_700_000_000_500_000_000, FRAME_A, 1),
        (1_700_000_001_250_000_000, FRAME_B, 1),
    ]


def _scapy_packets() -> list[Any]:
    scapy_all = pytest.importorskip("scapy.all")
    pkts = []
    for i, t in enumerate((1_700_000_000.25, 1_700_000_002.5)):
        pkt = (
            scapy_all.Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / scapy_all.IP(src="192.0.2.1", dst="198.51.100.7", ttl=64, id=i)
            / scapy_all.ICMP(type=8, id=7, seq=i)
            / b"payload"
        )
        pkt.time = t
        pkts.append(pkt)
    return pkts


def test_we_read_scapy_pcap(tmp_path: Path) -> None:
    pkts = _scapy_packets()
    from scapy.utils import wrpcap

    p = tmp_path / "s.pcap"
    wrpcap(str(p), pkts)
    recs = read_all(p)
    assert [r.data for r in recs] == [bytes(x) for x in pkts]
    assert [r.ts_ns for r in recs] == [1_700_000_000_250_000_000, 1_700_000_002_500_000_000]
    assert {r.linktype for r in recs} == {LINKTYPE_ETHERNET}


def test_we_read_scapy_pcapng(tmp_path: Path) -> None:
    pkts = _scapy_packets()
    scapy_utils = pytest.importorskip("scapy.utils")
    if not hasattr(scapy_utils, "PcapNgWriter"):
        pytest.skip("scapy without PcapNgWriter")
    pkts[1].comments = [b"scapy comment"]
    p = tmp_path / "s.pcapng"
    with scapy_utils.PcapNgWriter(str(p)) as w:
        for x in pkts:
            w.write(x)
    recs = read_all(p)
    assert [r.data for r in recs] == [bytes(x) for x in pkts]
    assert [r.ts_ns for r in recs] == [1_700_000_000_250_000_000, 1_700_000_002_500_000_000]
    assert [r.comment for r in recs] == [None, "scapy comment"]


# --------------------------------------------------------------------------
# hand-made variants
# --------------------------------------------------------------------------


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcap_both_byte_orders_micro(tmp_path: Path, e: str) -> None:
    content = pcap_file(e, [(10, 999_999, FRAME_A), (11, 0, FRAME_B)], linktype=LINKTYPE_NULL)
    recs = read_all(put(tmp_path, content))
    assert recs == [
        Record(10_999_999_000, FRAME_A, 60, LINKTYPE_NULL, 0),
        Record(11_000_000_000, FRAME_B, len(FRAME_B), LINKTYPE_NULL, 0),
    ]


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcap_nanosecond_magic(tmp_path: Path, e: str) -> None:
    content = pcap_file(e, [(10, 123_456_789, FRAME_A)], magic=0xA1B23C4D)
    assert read_all(put(tmp_path, content))[0].ts_ns == 10_123_456_789


def test_pcap_big_endian_magic_bytes(tmp_path: Path) -> None:
    content = pcap_file(">", [(1, 2, FRAME_C)], linktype=LINKTYPE_RAW)
    assert content[:4] == b"\xa1\xb2\xc3\xd4"
    assert read_all(put(tmp_path, content)) == [Record(1_000_002_000, FRAME_C, 20, 101, 0)]


def test_pcap_modified_kuznetzov_records(tmp_path: Path) -> None:
    hdr = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)
    rec = struct.pack("<IIII", 3, 4, 5, 5) + b"\x01\x00\x00\x00\x08\x00\x00\x00" + b"hello"
    assert read_all(put(tmp_path, hdr + rec)) == [Record(3_000_004_000, b"hello", 5, 1, 0)]


@pytest.mark.parametrize("raw", [12, 14])
def test_historical_dlt_raw_is_reported_as_raw(tmp_path: Path, raw: int) -> None:
    recs = read_all(put(tmp_path, pcap_file("<", [(0, 0, FRAME_C)], linktype=raw)))
    assert recs[0].linktype == LINKTYPE_RAW
    ng = ng_shb("<") + ng_idb("<", raw) + ng_epb("<", 0, 0, FRAME_C)
    assert read_all(put(tmp_path, ng))[0].linktype == LINKTYPE_RAW


def test_pcap_linktype_fcs_bits_masked(tmp_path: Path) -> None:
    content = pcap_file("<", [(0, 0, FRAME_A)], linktype=0x1000_0000 | 0x0400_0000 | 1)
    assert read_all(put(tmp_path, content))[0].linktype == 1


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcapng_handmade_both_endians(tmp_path: Path, e: str) -> None:
    content = (
        ng_shb(e, (4, b"handmade"))
        + ng_idb(e, LINKTYPE_ETHERNET, 0, (2, b"eth0"))
        + ng_block(e, 4, b"\x01\x00\x08\x00" + b"\xc0\x00\x02\x01host" + b"\0\0\0\0")  # NRB
        + ng_epb(e, 0, 1_700_000_000_000_001, FRAME_A, None, (1, b"c1"), (2, b"\0\0\0\1"))
        + ng_block(e, 5, struct.pack(e + "III", 0, 0, 0))  # ISB
        + ng_block(e, 0x00000BAD, b"\0\0\x7e\x7e" + b"custom")  # custom block
        + ng_block(e, 0x0000000A, b"TLSK\0\0\0\0")  # decryption secrets
        + ng_block(e, 0x12345678, b"")  # unknown
        + ng_pb(e, 0, 1_700_000_000_000_002, FRAME_B)
        + ng_epb(e, 0, 1_700_000_000_000_003, FRAME_C)
    )
    recs = read_all(put(tmp_path, content))
    assert recs == [
        Record(1_700_000_000_000_001_000, FRAME_A, 60, 1, 0, "c1"),
        Record(1_700_000_000_000_002_000, FRAME_B, len(FRAME_B), 1, 0),
        Record(1_700_000_000_000_003_000, FRAME_C, 20, 1, 0),
    ]


@pytest.mark.parametrize(
    ("tsresol", "raw", "expected_ns"),
    [
        (0x8A, 5 * 1024 + 512, 5_500_000_000),  # 2^-10 s
        (0x80, 3, 3_000_000_000),  # 2^0 s
        (0x9E, 1 << 30, 1_000_000_000),  # 2^-30 s
        (0x00, 7, 7_000_000_000),  # 10^0 s
        (0x03, 1234, 1_234_000_000),  # milliseconds
        (0x06, 1234, 1_234_000),  # microseconds (explicit)
        (0x09, 1234, 1234),  # nanoseconds
        (0x0C, 1_234_567, 1234),  # picoseconds, floored
    ],
)
def test_pcapng_if_tsresol(tmp_path: Path, tsresol: int, raw: int, expected_ns: int) -> None:
    content = ng_shb("<") + ng_idb("<", 1, 0, (9, bytes([tsresol]))) + ng_epb("<", 0, raw, FRAME_A)
    assert read_all(put(tmp_path, content))[0].ts_ns == expected_ns


@pytest.mark.parametrize("e", ["<", ">"])
def test_pcapng_if_tsoffset(tmp_path: Path, e: str) -> None:
    content = (
        ng_shb(e)
        + ng_idb(e, 1, 0, (14, struct.pack(e + "q", 1_000_000_000)), (9, b"\x09"))
        + ng_idb(e, 1, 0, (14, struct.pack(e + "q", -5)))
        + ng_epb(e, 0, 42, FRAME_A)
        + ng_epb(e, 1, 7_000_000, FRAME_A)
    )
    recs = read_all(put(tmp_path, content))
    assert [r.ts_ns for r in recs] == [1_000_000_000_000_000_042, 2_000_000_000]
    assert [r.ifindex for r in recs] == [0, 1]


def test_pcapng_sections_reset_interfaces_and_may_change_endianness(tmp_path: Path) -> None:
    section1 = (
        ng_shb("<")
        + ng_idb("<", LINKTYPE_ETHERNET)
        + ng_idb("<", LINKTYPE_RAW)
        + ng_epb("<", 1, 1, FRAME_C)
    )
    section2 = (
        ng_shb(">") + ng_idb(">", LINKTYPE_NULL, 0, (9, b"\x09")) + ng_epb(">", 0, 2, FRAME_A)
    )
    recs = read_all(put(tmp_path, section1 + section2))
    assert [(r.ts_ns, r.linktype, r.ifindex) for r in recs] == [
        (1000, LINKTYPE_RAW, 1),
        (2, LINKTYPE_NULL, 0),
    ]
    # interface 1 existed in section 1 only
    bad = section1 + section2 + ng_epb(">", 1, 3, FRAME_A)
    p = put(tmp_path, bad)
    with open_capture(p) as r:
        it = iter(r)
        assert next(it).ifindex == 1
        assert next(it).ifindex == 0
        with pytest.raises(PcapError, match="undefined interface 1"):
            next(it)


def test_pcapng_simple_packet_block(tmp_path: Path) -> None:
    content = (
        ng_shb("<")
        + ng_idb("<", LINKTYPE_ETHERNET, 16)
        + ng_spb("<", FRAME_A[:16], wirelen=60)  # cut by the interface snaplen
        + ng_epb("<", 0, 77, FRAME_B[:16], len(FRAME_B))
        + ng_spb("<", b"abc")  # data padded inside the block, caplen = wirelen
    )
    recs = read_all(put(tmp_path, content))
    assert recs == [
        Record(0, FRAME_A[:16], 60, 1, 0),
        Record(77_000, FRAME_B[:16], len(FRAME_B), 1, 0),
        Record(77_000, b"abc", 3, 1, 0),  # SPB: previous timestamp
    ]


def test_iteration_is_single_pass_and_close_stops_it(tmp_path: Path) -> None:
    p = tmp_path / "c.pcap"
    write_pcap(p, [(i, FRAME_A) for i in range(5)])
    r = open_capture(p)
    assert isinstance(r, CaptureReader)
    assert next(r).ts_ns == 0
    assert len(list(r)) == 4
    assert list(r) == []
    r2 = open_capture(p)
    next(r2)
    r2.close()
    r2.close()
    assert list(r2) == []


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def expect_error(path: Path, fragment: str, *, at_open: bool = True, good: int = 0) -> str:
    """Assert reading ``path`` raises PcapError containing ``fragment``;
    return the message.  ``good`` records must come out before it."""
    got: list[Record] = []
    if at_open:
        with pytest.raises(PcapError) as ei:
            open_capture(path)
    else:
        with open_capture(path) as r, pytest.raises(PcapError) as ei:
            for rec in r:
                got.append(rec)
        assert len(got) == good
    msg = str(ei.value)
    assert fragment in msg
    assert "\n" not in msg
    assert msg.startswith(f"{path}: ")
    return msg


def test_error_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.pcap", "No such file or directory")


def test_error_directory(tmp_path: Path) -> None:
    expect_error(tmp_path, "Is a directory")


def test_error_empty(tmp_path: Path) -> None:
    expect_error(put(tmp_path, b""), "empty file")


def test_error_not_a_capture(tmp_path: Path) -> None:
    p = put(tmp_path, b"hello, this is text\n", "x.txt")
    assert str(pytest.raises(PcapError, open_capture, p).value) == f"{p}: not a pcap or pcapng file"
    expect_error(put(tmp_path, b"GI"), "not a pcap or pcapng file")


def test_error_truncated_magic(tmp_path: Path) -> None:
    expect_error(put(tmp_path, b"\xd4\xc3"), "truncated file header")


def test_error_truncated_pcap_global_header(tmp_path: Path) -> None:
    content = pcap_file("<", [])[:20]
    expect_error(put(tmp_path, content), "truncated pcap global header (20 of 24 bytes)")


def test_error_bad_pcap_version(tmp_path: Path) -> None:
    content = bytearray(pcap_file("<", []))
    content[4] = 9
    expect_error(put(tmp_path, bytes(content)), "unsupported pcap version 9")


def test_error_truncated_pcap_record_header(tmp_path: Path) -> None:
    content = pcap_file("<", [(1, 0, FRAME_A), (2, 0, FRAME_A)])
    p = put(tmp_path, content[: -60 - 6])
    expect_error(p, "truncated record header at byte 100 (10 of 16 bytes)", at_open=False, good=1)


def test_error_truncated_pcap_record_data(tmp_path: Path) -> None:
    content = pcap_file("<", [(1, 0, FRAME_A), (2, 0, FRAME_A)])
    p = put(tmp_path, content[:-1])
    expect_error(p, "truncated record data at byte 100 (59 of 60 bytes)", at_open=False, good=1)


def test_error_pcap_caplen_too_large(tmp_path: Path) -> None:
    content = pcap_file("<", [(1, 0, FRAME_A)]) + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 60)
    p = put(tmp_path, content + b"x" * 100)
    expect_error(p, "record caplen 2147483647 too large at byte 100", at_open=False, good=1)


def test_error_pcapng_bad_byte_order_magic(tmp_path: Path) -> None:
    content = bytearray(ng_shb("<"))
    content[8:12] = b"\x00\x00\x00\x00"
    expect_error(put(tmp_path, bytes(content)), "bad pcapng byte-order magic at byte 0")


def test_error_pcapng_truncated_section_header(tmp_path: Path) -> None:
    expect_error(put(tmp_path, ng_shb("<")[:10]), "truncated pcapng section header")
    expect_error(
        put(tmp_path, ng_shb("<")[:20]), "truncated pcapng section header (20 of 28 bytes)"
    )


def test_error_pcapng_section_header_mismatch(tmp_path: Path) -> None:
    content = ng_shb("<")[:-4] + struct.pack("<I", 32)
    expect_error(put(tmp_path, content), "section header block length mismatch at byte 0")


def test_error_pcapng_bad_version(tmp_path: Path) -> None:
    expect_error(put(tmp_path, ng_shb("<", major=2)), "unsupported pcapng version 2.0")


def test_error_pcapng_block_too_small(tmp_path: Path) -> None:
    content = ng_shb("<") + struct.pack("<II", 6, 16) + b"\0" * 4 + struct.pack("<I", 16)
    expect_error(
        put(tmp_path, content),
        "enhanced packet block length 16 too small at byte 28",
        at_open=False,
    )


def test_error_pcapng_block_not_multiple_of_4(tmp_path: Path) -> None:
    content = ng_shb("<") + struct.pack("<II", 4, 13) + b"\0" * 8
    expect_error(
        put(tmp_path, content),
        "type 0x00000004 block length 13 not a multiple of 4 at byte 28",
        at_open=False,
    )


def test_error_pcapng_block_too_large(tmp_path: Path) -> None:
    content = ng_shb("<") + struct.pack("<II", 4, 0xFFFFFFF0) + b"\0" * 8
    expect_error(put(tmp_path, content), "block length 4294967280 too large", at_open=False)


def test_error_pcapng_trailer_mismatch(tmp_path: Path) -> None:
    good = ng_shb("<") + ng_idb("<") + ng_epb("<", 0, 1, FRAME_A)
    bad = ng_epb("<", 0, 2, FRAME_A)
    bad = bad[:-4] + struct.pack("<I", len(bad) + 4)
    msg = expect_error(
        put(tmp_path, good + bad), "block length mismatch at byte", at_open=False, good=1
    )
    assert f"at byte {len(good)} (header 92, trailer 96)" in msg


def test_error_pcapng_truncated_block(tmp_path: Path) -> None:
    content = ng_shb("<") + ng_idb("<") + ng_epb("<", 0, 1, FRAME_A) + ng_epb("<", 0, 2, FRAME_A)
    expect_error(
        put(tmp_path, content[:-10]),
        "truncated block at byte 140 (82 of 92 bytes)",
        at_open=False,
        good=1,
    )
    expect_error(
        put(tmp_path, content[:-88]),
        "truncated block header at byte 140 (4 bytes)",
        at_open=False,
        good=1,
    )


def test_error_pcapng_undefined_interface(tmp_path: Path) -> None:
    content = ng_shb("<") + ng_idb("<") + ng_epb("<", 0, 1, FRAME_A) + ng_epb("<", 3, 2, FRAME_A)
    expect_error(
        put(tmp_path, content),
        "enhanced packet references undefined interface 3 at byte 140",
        at_open=False,
        good=1,
    )
    expect_error(
        put(tmp_path, ng_shb("<") + ng_epb("<", 0, 1, FRAME_A)),
        "undefined interface 0",
        at_open=False,
    )
    expect_error(
        put(tmp_path, ng_shb("<") + ng_pb("<", 0, 1, FRAME_A)),
        "packet block references undefined interface 0",
        at_open=False,
    )
    expect_error(
        put(tmp_path, ng_shb("<") + ng_spb("<", FRAME_A)),
        "simple packet block without an interface",
        at_open=False,
    )


def test_error_pcapng_caplen_exceeds_block(tmp_path: Path) -> None:
    epb = bytearray(ng_epb("<", 0, 1, FRAME_A))
    epb[20:24] = struct.pack("<I", 61)
    content = ng_shb("<") + ng_idb("<") + bytes(epb)
    expect_error(
        put(tmp_path, content), "enhanced packet caplen 61 exceeds block at byte 48", at_open=False
    )
    epb[20:24] = struct.pack("<I", 0x7FFFFFFF)
    content = ng_shb("<") + ng_idb("<") + bytes(epb)
    expect_error(put(tmp_path, content), "caplen 2147483647 exceeds block", at_open=False)


def test_error_message_names_file_on_one_line(tmp_path: Path) -> None:
    p = put(tmp_path, b"garbage\n", "we\nird.pcap")
    with pytest.raises(PcapError) as ei:
        open_capture(p)
    assert "\n" not in str(ei.value)
    assert "not a pcap or pcapng file" in str(ei.value)


# --------------------------------------------------------------------------
# robustness: only PcapError may escape, for any input bytes
# --------------------------------------------------------------------------


def _seed_files() -> list[bytes]:
    seeds = [
        pcap_file("<", [(1, 2, FRAME_A), (3, 4, FRAME_B), (5, 6, b"")]),
        pcap_file(">", [(1, 2, FRAME_C), (3, 4, FRAME_A)], magic=0xA1B23C4D, linktype=12),
        pcapng_bytes(_two_interfaces, shb_comment="seed"),
        ng_shb(">", (4, b"x"))
        + ng_idb(">", 1, 32, (9, b"\x8a"), (14, b"\0" * 7 + b"\1"))
        + ng_spb(">", FRAME_A)
        + ng_pb(">", 0, 5, FRAME_B, (1, b"pb comment"))
        + ng_block(">", 4, b"\0" * 8)
        + ng_shb("<")
        + ng_idb("<", 101)
        + ng_epb("<", 0, 9, FRAME_C, 100, (1, b"\xff\xfe not utf-8")),
    ]
    return seeds


SEEDS = _seed_files()
INTERESTING = [0, 1, 3, 4, 11, 12, 13, 16, 28, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000000, 0x10000001]

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("u32"), st.integers(0, 10_000), st.sampled_from(INTERESTING)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.integers(0, 0)),
    st.tuples(st.just("del"), st.integers(0, 10_000), st.integers(1, 16)),
    st.tuples(st.just("ins"), st.integers(0, 10_000), st.integers(0, 255)),
)


def _mutate(content: bytes, muts: list[tuple[str, int, int]]) -> bytes:
    b = bytearray(content)
    for kind, where, val in muts:
        if not b:
            break
        i = where % len(b)
        if kind == "set":
            b[i] = val
        elif kind == "u32":
            b[i : i + 4] = struct.pack("<I" if where & 1 else ">I", val)
        elif kind == "cut":
            del b[i:]
        elif kind == "del":
            del b[i : i + val]
        else:
            b[i:i] = bytes([val]) * (1 + where % 7)
    return bytes(b)


def _consume_expecting_only_pcap_error(path: Path) -> None:
    try:
        with open_capture(path) as r:
            for rec in r:
                assert isinstance(rec.data, bytes)
                assert isinstance(rec.ts_ns, int)
                assert rec.comment is None or isinstance(rec.comment, str)
    except PcapError as e:
        msg = str(e)
        assert msg.startswith(f"{path}: ")
        assert "\n" not in msg


_HYP = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_HYP
@given(data=st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_pcap_error(tmp_path: Path, data: bytes) -> None:
    _consume_expecting_only_pcap_error(put(tmp_path, data, "fuzz.bin"))


@_HYP
@given(
    prefix=st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"]),
    data=st.binary(max_size=512),
)
def test_magic_plus_garbage_only_raises_pcap_error(
    tmp_path: Path, prefix: bytes, data: bytes
) -> None:
    _consume_expecting_only_pcap_error(put(tmp_path, prefix + data, "fuzz.bin"))


@_HYP
@given(seed=st.sampled_from(SEEDS), muts=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_valid_files_only_raise_pcap_error(
    tmp_path: Path, seed: bytes, muts: list[tuple[str, int, int]]
) -> None:
    _consume_expecting_only_pcap_error(put(tmp_path, _mutate(seed, muts), "fuzz.bin"))


@pytest.mark.parametrize("seed", range(len(SEEDS)))
def test_every_truncation_of_seeds_only_raises_pcap_error(tmp_path: Path, seed: int) -> None:
    content = SEEDS[seed]
    assert len(read_all(put(tmp_path, content, "full.bin"))) >= 2
    for n in range(len(content)):
        _consume_expecting_only_pcap_error(put(tmp_path, content[:n], "cut.bin"))


# --------------------------------------------------------------------------
# streaming: memory is flat in the number of frames
# --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_reading_is_streaming(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / f"big.{fmt}"
    n = 30_000  # several MiB of frames: well over the read chunk size
    frames = ((i * 1000, FRAME_A + i.to_bytes(4, "big")) for i in range(n))
    (write_pcap if fmt == "pcap" else write_pcapng)(p, frames)
    assert p.stat().st_size > 2 * (1 << 20)
    tracemalloc.start()
    try:
        count = 0
        with open_capture(p) as r:
            for rec in r:
                assert rec.data[-4:] == count.to_bytes(4, "big")
                count += 1
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 4 * (1 << 20), peak


def test_large_record_spanning_chunks(tmp_path: Path) -> None:
    big = bytes(range(256)) * 12_289  # ~3 MiB, bigger than a read chunk
    p = tmp_path / "jumbo.pcapng"
    write_pcapng(p, [(1, FRAME_A), (2, big), (3, FRAME_B)])
    assert [r.data for r in read_all(p)] == [FRAME_A, big, FRAME_B]
    p2 = tmp_path / "jumbo.pcap"
    write_pcap(p2, [(1, big), (2, FRAME_A)], snaplen=1 << 24)
    assert [r.data for r in read_all(p2)] == [big, FRAME_A]
    p2.write_bytes(p2.read_bytes()[: 24 + 16 + 2_000_000])
    expect_error(p2, "truncated record data at byte 24 (2000000 of 3145984 bytes)", at_open=False)


# --------------------------------------------------------------------------
# the shared corpus
# --------------------------------------------------------------------------


def _corpus_files() -> list[Path | None]:
    if not CORPUS.is_dir():
        return [None]
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.md")
    return list(files) or [None]


def _dpkt_count(path: Path) -> int:
    with path.open("rb") as f:
        magic = f.read(4)
        f.seek(0)
        reader = dpkt.pcapng.Reader(f) if magic == b"\n\r\r\n" else dpkt.pcap.Reader(f)
        return sum(1 for _ in reader)


@pytest.mark.parametrize(
    "path",
    _corpus_files(),
    ids=lambda p: "absent" if p is None else str(p.relative_to(CORPUS)),
)
def test_corpus_file(path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no capture corpus at {CORPUS}")
    count = 0
    with open_capture(path) as r:
        assert r.format in ("pcap", "pcapng")
        for rec in r:
            assert len(rec.data) <= max(rec.wirelen, len(rec.data))
            count += 1
    assert count == _dpkt_count(path)
