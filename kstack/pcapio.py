"""Streaming pcap / pcapng reading and pcapng (and classic pcap) writing.

Reading is on the replay hot path, so the readers work on large chunks of
the file with precompiled :class:`struct.Struct` objects and never hold more
than one chunk (plus the record being decoded) in memory: peak memory is flat
in the number of frames.

Every problem with the *input bytes* (or with opening/reading the file) is
reported as :class:`PcapError` whose ``str()`` is a single human readable line
naming the file.  Header and magic checks happen in :func:`open_capture`
itself; problems further into the file are raised lazily while iterating,
after every good record before them has been yielded.

Writing is byte-deterministic: the same calls produce the same bytes (no wall
clock, no host information).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Final, cast

__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LOOP",
    "LINKTYPE_NULL",
    "LINKTYPE_PPP",
    "LINKTYPE_RAW",
    "MAX_CAPLEN",
    "TS_LIMIT_NS",
    "CaptureReader",
    "PcapError",
    "PcapngWriter",
    "Record",
    "open_capture",
    "write_pcap",
    "write_pcapng",
]


class PcapError(Exception):
    """Bad capture input.

    ``str(e)`` is one line, human readable, naming the file, e.g.
    ``'capture.pcap: truncated record header at byte 1234'`` or
    ``'x.txt: not a pcap or pcapng file'``.
    """


# --------------------------------------------------------------------------
# Link types (LINKTYPE_ values as stored in capture files)
# --------------------------------------------------------------------------

LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_PPP: Final = 9
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228

#: Historical DLT_RAW numbers found in old BSD (12) and OpenBSD (14) files;
#: the reader reports them as :data:`LINKTYPE_RAW`.
_RAW_ALIASES: Final = frozenset({12, 14})

#: Timestamps are nanoseconds since 1970 that fit in 64 unsigned bits (the
#: pcapng form kstack writes); a record outside [0, TS_LIMIT_NS) is refused.
TS_LIMIT_NS: Final = 1 << 64

#: Largest captured length accepted for one record (256 MiB).
MAX_CAPLEN: Final = 256 * 1024 * 1024

# Largest pcapng block accepted: a maximal packet plus generous room for
# headers and options.
_MAX_BLOCK: Final = MAX_CAPLEN + 1024 * 1024

_CHUNK: Final = 1 << 20  # bytes read from the file at a time


def _norm_linktype(linktype: int) -> int:
    return LINKTYPE_RAW if linktype in _RAW_ALIASES else linktype


@dataclass(slots=True)
class Record:
    """One captured frame."""

    ts_ns: int
    """Timestamp in integer nanoseconds since the epoch."""
    data: bytes
    """Captured bytes (caplen of them)."""
    wirelen: int
    """Original length on the wire."""
    linktype: int
    """Link type of the interface the record came from (12/14 reported as 101)."""
    ifindex: int
    """pcapng interface id within its section (0 for pcap)."""
    comment: str | None = None
    """First ``opt_comment`` of a pcapng EPB / packet block, if any."""


# --------------------------------------------------------------------------
# Binary layouts
# --------------------------------------------------------------------------

# classic pcap
_PCAP_MAGIC_US: Final = 0xA1B2C3D4
_PCAP_MAGIC_NS: Final = 0xA1B23C4D
_PCAP_MAGIC_KUZNETZOV: Final = 0xA1B2CD34  # "modified" pcap, 24-byte records
_PCAP_GHDR_LE: Final = struct.Struct("<IHHiIII")
_PCAP_GHDR_BE: Final = struct.Struct(">IHHiIII")
_PCAP_REC_LE: Final = struct.Struct("<IIII")
_PCAP_REC_BE: Final = struct.Struct(">IIII")

# pcapng
_BT_SHB: Final = 0x0A0D0D0A
_BT_IDB: Final = 0x00000001
_BT_PB: Final = 0x00000002
_BT_SPB: Final = 0x00000003
_BT_EPB: Final = 0x00000006
_BOM: Final = 0x1A2B3C4D
_BOM_LE: Final = b"\x4d\x3c\x2b\x1a"
_BOM_BE: Final = b"\x1a\x2b\x3c\x4d"

_OPT_ENDOFOPT: Final = 0
_OPT_COMMENT: Final = 1
_OPT_SHB_USERAPPL: Final = 4
_OPT_IF_NAME: Final = 2
_OPT_IF_TSRESOL: Final = 9
_OPT_IF_TSOFFSET: Final = 14

_SHB_MIN: Final = 28
_IDB_MIN: Final = 20
_EPB_MIN: Final = 32
_PB_MIN: Final = 32
_SPB_MIN: Final = 16


class _NgLayout:
    """Precompiled structs for one pcapng byte order."""

    __slots__ = ("u32", "blkhdr", "shb", "idb", "epb", "pb", "opt", "i64", "end")

    def __init__(self, e: str) -> None:
        self.end = e
        self.u32 = struct.Struct(e + "I")
        self.blkhdr = struct.Struct(e + "II")
        # BOM, major, minor, section length
        self.shb = struct.Struct(e + "IHHq")
        # linktype, reserved, snaplen
        self.idb = struct.Struct(e + "HHI")
        # interface id, ts high, ts low, caplen, origlen
        self.epb = struct.Struct(e + "IIIII")
        # interface id, drops, ts high, ts low, caplen, origlen
        self.pb = struct.Struct(e + "HHIIII")
        # option code, option length
        self.opt = struct.Struct(e + "HH")
        self.i64 = struct.Struct(e + "q")


_NG_LE: Final = _NgLayout("<")
_NG_BE: Final = _NgLayout(">")

_ALL_MAGICS: Final = (
    _PCAP_MAGIC_US.to_bytes(4, "little"),
    _PCAP_MAGIC_US.to_bytes(4, "big"),
    _PCAP_MAGIC_NS.to_bytes(4, "little"),
    _PCAP_MAGIC_NS.to_bytes(4, "big"),
    _PCAP_MAGIC_KUZNETZOV.to_bytes(4, "little"),
    _PCAP_MAGIC_KUZNETZOV.to_bytes(4, "big"),
    _BT_SHB.to_bytes(4, "little"),
)


def _display_name(path: str) -> str:
    """The file name as shown in messages, guaranteed to stay on one line."""
    if path.isprintable():
        return path
    return repr(path)


def _iter_options(body: bytes, start: int, end: int, lay: _NgLayout) -> Iterator[tuple[int, bytes]]:
    """Yield ``(code, value)`` for the options in ``body[start:end]``.

    Options are informational; a malformed option area simply ends the walk
    (the block structure itself has already been validated).
    """
    opt = lay.opt
    while start + 4 <= end:
        code, olen = opt.unpack_from(body, start)
        if code == _OPT_ENDOFOPT:
            return
        vstart = start + 4
        vend = vstart + olen
        if vend > end:
            return
        yield code, body[vstart:vend]
        start = vstart + ((olen + 3) & ~3)


def _first_comment(body: bytes, start: int, end: int, lay: _NgLayout) -> str | None:
    for code, value in _iter_options(body, start, end, lay):
        if code == _OPT_COMMENT:
            return value.decode("utf-8", errors="replace")
    return None


class _Interface:
    """Decoded IDB: everything needed to turn raw timestamps into ns."""

    __slots__ = ("linktype", "snaplen", "mul", "div", "offset_ns")

    def __init__(self, linktype: int, snaplen: int, mul: int, div: int, offset_ns: int) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.mul = mul
        self.div = div
        self.offset_ns = offset_ns


def _parse_idb(body: bytes, blen: int, lay: _NgLayout) -> _Interface:
    linktype, _reserved, snaplen = lay.idb.unpack_from(body, 8)
    mul = 1000  # default resolution: microseconds
    div = 1
    offset_ns = 0
    for code, value in _iter_options(body, 16, blen - 4, lay):
        if code == _OPT_IF_TSRESOL and len(value) == 1:
            v = value[0]
            if v & 0x80:
                mul, div = 1_000_000_000, 1 << (v & 0x7F)
            elif v <= 9:
                mul, div = 10 ** (9 - v), 1
            else:
                mul, div = 1, 10 ** (v - 9)
        elif code == _OPT_IF_TSOFFSET and len(value) == 8:
            offset_ns = lay.i64.unpack(value)[0] * 1_000_000_000
    return _Interface(_norm_linktype(linktype), snaplen, mul, div, offset_ns)


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------


class CaptureReader:
    """Streaming reader of one pcap or pcapng file.

    Use :func:`open_capture` to create one.  A context manager and a
    single-pass iterator of :class:`Record`.
    """

    format: str
    """``"pcap"`` or ``"pcapng"``."""
    path: str
    """The path the capture was opened from (as given)."""
    linktype: int
    """pcap: the file's link type; pcapng: link type of the first interface
    seen so far (``-1`` before any IDB has been read)."""

    def __init__(
        self, f: BinaryIO, path: str, *, close_file: bool = True, inner: BinaryIO | None = None
    ) -> None:
        """Check the global header of an already opened binary file ``f``.

        ``path`` is only used for messages.  Prefer :func:`open_capture`.
        ``inner`` is a file under ``f`` (a gzip stream's) closed with it.
        """
        self.path = path
        self._name = _display_name(path)
        self._f = f
        self._inner = inner
        self._close_file = close_file
        self.records = 0
        """Records yielded so far."""
        self._buf = b""
        self._off = 0  # file offset of self._buf[0]
        self.linktype = -1
        self._gen: Generator[Record, None, None] | None = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- helpers ----------------------------------------------------------

    def _error(self, msg: str) -> PcapError:
        return PcapError(f"{self._name}: {msg}")

    def _ts_error(self, ts: int, where: int) -> PcapError:
        when = "before 1970" if ts < 0 else "after the year 2554"
        return self._error(
            f"record {self.records + 1} (block at byte {where}): timestamp {when} "
            "(check the interface's if_tsresol and if_tsoffset); kstack keeps "
            "nanoseconds since 1970 in 64 bits"
        )

    def _read(self, n: int) -> bytes:
        try:
            data = self._f.read(n)
        except (gzip.BadGzipFile, zlib.error) as e:
            raise self._error(f"bad gzip data: {e}") from e
        except EOFError as e:
            raise self._error(f"gzip stream truncated: {e}") from e
        except OSError as e:
            raise self._error(f"read error: {e.strerror or e}") from e
        except ValueError as e:  # e.g. file closed underneath us
            raise self._error(f"read error: {e}") from e
        return data

    def _refill(self, buf: bytes, pos: int, off: int, need: int) -> tuple[bytes, int]:
        """Return ``(buf, off)`` with ``buf`` starting at old ``buf[pos]``
        and holding at least ``need`` bytes unless the file ended."""
        rest = buf[pos:]
        more = self._read(_CHUNK)
        if len(rest) + len(more) >= need or len(more) < _CHUNK:
            return (rest + more if rest else more), off + pos
        # A record larger than a chunk: read on in bounded pieces, so that a
        # corrupt length field in a short file never makes us allocate much.
        parts = [rest, more]
        got = len(rest) + len(more)
        while got < need:
            more = self._read(min(need - got, 16 * _CHUNK))
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts), off + pos

    def _start(self) -> None:
        head = self._read(_CHUNK)
        if not head:
            raise self._error("empty file")
        if len(head) < 4:
            if any(m.startswith(head) for m in _ALL_MAGICS):
                raise self._error(f"truncated file header ({len(head)} bytes)")
            raise self._error("not a pcap or pcapng file")
        magic4 = head[:4]
        if magic4 == _BT_SHB.to_bytes(4, "little"):
            self.format = "pcapng"
            self._start_pcapng(head)
            return
        le = int.from_bytes(magic4, "little")
        be = int.from_bytes(magic4, "big")
        if le in (_PCAP_MAGIC_US, _PCAP_MAGIC_NS, _PCAP_MAGIC_KUZNETZOV):
            self._start_pcap(head, le, _PCAP_GHDR_LE, _PCAP_REC_LE)
        elif be in (_PCAP_MAGIC_US, _PCAP_MAGIC_NS, _PCAP_MAGIC_KUZNETZOV):
            self._start_pcap(head, be, _PCAP_GHDR_BE, _PCAP_REC_BE)
        else:
            raise self._error("not a pcap or pcapng file")

    # -- classic pcap -----------------------------------------------------

    def _start_pcap(self, head: bytes, magic: int, ghdr: struct.Struct, rec: struct.Struct) -> None:
        self.format = "pcap"
        if len(head) < ghdr.size:
            raise self._error(f"truncated pcap global header ({len(head)} of {ghdr.size} bytes)")
        _m, vmaj, _vmin, _zone, _sigfigs, _snaplen, linktype = ghdr.unpack_from(head, 0)
        if vmaj != 2:
            raise self._error(f"unsupported pcap version {vmaj}")
        # Upper bits of the link type field carry FCS information.
        self.linktype = _norm_linktype(linktype & 0x03FFFFFF)
        self._buf = head
        self._off = 0
        nano = magic == _PCAP_MAGIC_NS
        extra = 8 if magic == _PCAP_MAGIC_KUZNETZOV else 0
        self._gen = self._iter_pcap(ghdr.size, rec, nano, extra)

    def _iter_pcap(
        self, pos: int, rec: struct.Struct, nano: bool, extra: int
    ) -> Generator[Record, None, None]:
        buf = self._buf
        self._buf = b""
        off = self._off
        unpack_from = rec.unpack_from
        hlen = rec.size + extra
        frac_mul = 1 if nano else 1000
        linktype = self.linktype
        refill = self._refill
        while True:
            avail = len(buf) - pos
            if avail < hlen:
                buf, off = refill(buf, pos, off, hlen)
                pos = 0
                avail = len(buf)
                if avail < hlen:
                    if avail:
                        raise self._error(
                            f"truncated record header at byte {off} ({avail} of {hlen} bytes)"
                        )
                    return
            sec, frac, caplen, wirelen = unpack_from(buf, pos)
            if caplen > MAX_CAPLEN:
                raise self._error(f"record caplen {caplen} too large at byte {off + pos}")
            start = pos + hlen
            end = start + caplen
            if end > len(buf):
                buf, off = refill(buf, pos, off, hlen + caplen)
                pos = 0
                start = hlen
                end = hlen + caplen
                if end > len(buf):
                    raise self._error(
                        f"truncated record data at byte {off} ({len(buf) - hlen} of {caplen} bytes)"
                    )
            yield Record(
                sec * 1_000_000_000 + frac * frac_mul,
                buf[start:end],
                wirelen,
                linktype,
                0,
            )
            pos = end

    # -- pcapng -----------------------------------------------------------

    def _check_shb(self, buf: bytes, pos: int, off: int) -> tuple[_NgLayout, int]:
        """Validate the SHB header starting at ``buf[pos]`` (12 bytes
        available); return its layout and block length."""
        bom = buf[pos + 8 : pos + 12]
        if bom == _BOM_LE:
            lay = _NG_LE
        elif bom == _BOM_BE:
            lay = _NG_BE
        else:
            raise self._error(f"bad pcapng byte-order magic at byte {off + pos}")
        blen = lay.u32.unpack_from(buf, pos + 4)[0]
        self._check_blen(blen, _SHB_MIN, "section header", off + pos)
        return lay, blen

    def _check_blen(self, blen: int, minimum: int, what: str, where: int) -> None:
        if blen < minimum:
            raise self._error(f"{what} block length {blen} too small at byte {where}")
        if blen & 3:
            raise self._error(f"{what} block length {blen} not a multiple of 4 at byte {where}")
        if blen > _MAX_BLOCK:
            raise self._error(f"{what} block length {blen} too large at byte {where}")

    def _start_pcapng(self, head: bytes) -> None:
        if len(head) < 12:
            raise self._error(f"truncated pcapng section header ({len(head)} of {_SHB_MIN} bytes)")
        lay, blen = self._check_shb(head, 0, 0)
        if len(head) < blen:
            head, _ = self._refill(head, 0, 0, blen)
            if len(head) < blen:
                raise self._error(f"truncated pcapng section header ({len(head)} of {blen} bytes)")
        self._buf = head
        self._off = 0
        # Validates version and trailer now so a broken header fails in
        # open_capture(); the generator re-reads this SHB from the buffer.
        self._parse_shb(head, 0, blen, lay, 0)
        self._gen = self._iter_pcapng(lay)

    def _parse_shb(self, buf: bytes, pos: int, blen: int, lay: _NgLayout, where: int) -> None:
        if lay.u32.unpack_from(buf, pos + blen - 4)[0] != blen:
            raise self._error(f"section header block length mismatch at byte {where}")
        _bom, vmaj, vmin, _seclen = lay.shb.unpack_from(buf, pos + 8)
        if vmaj != 1:
            raise self._error(f"unsupported pcapng version {vmaj}.{vmin} at byte {where}")

    def _iter_pcapng(self, lay: _NgLayout) -> Generator[Record, None, None]:
        buf = self._buf
        self._buf = b""
        off = self._off
        pos = 0
        refill = self._refill
        ifaces: list[_Interface] = []
        hdr_unpack = lay.blkhdr.unpack_from
        u32_unpack = lay.u32.unpack_from
        epb_unpack = lay.epb.unpack_from
        last_ts = 0
        while True:
            # ---- block header ----
            avail = len(buf) - pos
            if avail < 12:
                buf, off = refill(buf, pos, off, 12)
                pos = 0
                avail = len(buf)
                if avail < 12:
                    # Every block is at least 12 bytes long.
                    if avail == 0:
                        return
                    raise self._error(f"truncated block header at byte {off} ({avail} bytes)")
            btype, blen = hdr_unpack(buf, pos)
            where = off + pos
            if btype == _BT_SHB:
                lay, blen = self._check_shb(buf, pos, off)
                hdr_unpack = lay.blkhdr.unpack_from
                u32_unpack = lay.u32.unpack_from
                epb_unpack = lay.epb.unpack_from
            elif btype == _BT_EPB:
                self._check_blen(blen, _EPB_MIN, "enhanced packet", where)
            elif btype == _BT_IDB:
                self._check_blen(blen, _IDB_MIN, "interface description", where)
            elif btype == _BT_SPB:
                self._check_blen(blen, _SPB_MIN, "simple packet", where)
            elif btype == _BT_PB:
                self._check_blen(blen, _PB_MIN, "packet", where)
            else:
                self._check_blen(blen, 12, f"type 0x{btype:08x}", where)
            # ---- whole block ----
            end = pos + blen
            if end > len(buf):
                buf, off = refill(buf, pos, off, blen)
                pos = 0
                end = blen
                if end > len(buf):
                    raise self._error(f"truncated block at byte {off} ({len(buf)} of {blen} bytes)")
            if u32_unpack(buf, end - 4)[0] != blen:
                raise self._error(
                    f"block length mismatch at byte {where} "
                    f"(header {blen}, trailer {u32_unpack(buf, end - 4)[0]})"
                )
            # ---- decode ----
            if btype == _BT_EPB:
                ifid, hi, lo, caplen, wirelen = epb_unpack(buf, pos + 8)
                if caplen > MAX_CAPLEN or caplen > blen - _EPB_MIN:
                    raise self._error(
                        f"enhanced packet caplen {caplen} exceeds block at byte {where}"
                    )
                if ifid >= len(ifaces):
                    raise self._error(
                        f"enhanced packet references undefined interface {ifid} at byte {where}"
                    )
                iface = ifaces[ifid]
                start = pos + 28
                dend = start + caplen
                ts = ((hi << 32) | lo) * iface.mul // iface.div + iface.offset_ns
                if not 0 <= ts < TS_LIMIT_NS:
                    raise self._ts_error(ts, where)
                last_ts = ts
                comment = None
                ostart = start + ((caplen + 3) & ~3)
                if ostart + 4 <= end - 4:
                    comment = _first_comment(buf, ostart, end - 4, lay)
                yield Record(ts, buf[start:dend], wirelen, iface.linktype, ifid, comment)
            elif btype == _BT_IDB:
                block = buf[pos:end]
                ifaces.append(_parse_idb(block, blen, lay))
                if self.linktype == -1:
                    self.linktype = ifaces[-1].linktype
            elif btype == _BT_SPB:
                if not ifaces:
                    raise self._error(f"simple packet block without an interface at byte {where}")
                iface = ifaces[0]
                wirelen = u32_unpack(buf, pos + 8)[0]
                caplen = min(wirelen, blen - _SPB_MIN)
                if iface.snaplen:
                    caplen = min(caplen, iface.snaplen)
                start = pos + 12
                yield Record(last_ts, buf[start : start + caplen], wirelen, iface.linktype, 0)
            elif btype == _BT_PB:
                ifid, _drops, hi, lo, caplen, wirelen = lay.pb.unpack_from(buf, pos + 8)
                if caplen > MAX_CAPLEN or caplen > blen - _PB_MIN:
                    raise self._error(f"packet block caplen {caplen} exceeds block at byte {where}")
                if ifid >= len(ifaces):
                    raise self._error(
                        f"packet block references undefined interface {ifid} at byte {where}"
                    )
                iface = ifaces[ifid]
                start = pos + 28
                ts = ((hi << 32) | lo) * iface.mul // iface.div + iface.offset_ns
                if not 0 <= ts < TS_LIMIT_NS:
                    raise self._ts_error(ts, where)
                last_ts = ts
                ostart = start + ((caplen + 3) & ~3)
                comment = None
                if ostart + 4 <= end - 4:
                    comment = _first_comment(buf, ostart, end - 4, lay)
                data = buf[start : start + caplen]
                yield Record(ts, data, wirelen, iface.linktype, ifid, comment)
            elif btype == _BT_SHB:
                self._parse_shb(buf, pos, blen, lay, where)
                ifaces = []
            pos = end

    # -- public -----------------------------------------------------------

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        if self._gen is None:
            raise StopIteration
        rec = next(self._gen)
        self.records += 1
        return rec

    def close(self) -> None:
        """Stop iteration and close the file (idempotent)."""
        gen, self._gen = self._gen, None
        if gen is not None:
            gen.close()
        if self._close_file:
            with contextlib.suppress(OSError):
                self._f.close()
            if self._inner is not None:
                with contextlib.suppress(OSError):
                    self._inner.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        fmt = getattr(self, "format", "?")
        return f"<CaptureReader {fmt} {self.path!r}>"


_GZIP_MAGIC: Final = b"\x1f\x8b"


def _maybe_gunzip(f: BinaryIO, name: str) -> BinaryIO:
    """``f`` itself, or a decompressing reader when it starts with the gzip
    magic (the file must be seekable or offer ``peek``)."""
    peek = getattr(f, "peek", None)
    if peek is not None:
        head = bytes(peek(2)[:2])
    else:
        head = f.read(2)
        f.seek(0)
    if head != _GZIP_MAGIC:
        return f
    return cast(BinaryIO, gzip.GzipFile(fileobj=f, mode="rb"))


def open_capture(
    path: str | os.PathLike[str] | BinaryIO, *, name: str | None = None
) -> CaptureReader:
    """Open a pcap or pcapng file for streaming reading.

    ``path`` is a file name or an open binary file (seekable, or with
    ``peek`` such as ``sys.stdin.buffer``; it is closed with the reader).
    A gzip-compressed capture (``.pcap.gz``, by its magic bytes, not its
    name) is decompressed on the fly. ``name`` is the name used in
    messages. The file's magic and global header (pcap) or first section
    header block (pcapng) are checked here; :class:`PcapError` is raised at
    once for a missing, unreadable, empty or non-capture file.
    """
    if isinstance(path, (str, os.PathLike)):
        spath = os.fspath(path)
        shown = name if name is not None else spath
        try:
            f: BinaryIO = open(spath, "rb")  # noqa: SIM115 - owned by the CaptureReader
        except OSError as e:
            raise PcapError(f"{_display_name(shown)}: {e.strerror or e}") from e
        except ValueError as e:  # embedded NUL byte in path
            raise PcapError(f"{_display_name(shown)}: {e}") from e
    else:
        f = path
        shown = name if name is not None else str(getattr(f, "name", "<stream>"))
    try:
        g = _maybe_gunzip(f, shown)
    except OSError as e:
        f.close()
        raise PcapError(f"{_display_name(shown)}: {e.strerror or e}") from e
    if g is not f:
        return CaptureReader(g, shown, inner=f)
    return CaptureReader(f, shown)


# --------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------

_W_BLKHDR: Final = struct.Struct("<II")
_W_U32: Final = struct.Struct("<I")
_W_OPT: Final = struct.Struct("<HH")
_W_SHB: Final = struct.Struct("<IHHq")
_W_IDB: Final = struct.Struct("<HHI")
_W_EPB: Final = struct.Struct("<IIIII")
_W_PCAP_GHDR: Final = struct.Struct("<IHHiIII")
_W_PCAP_REC: Final = struct.Struct("<IIII")
_PAD: Final = (b"", b"\0\0\0", b"\0\0", b"\0")
_OPT_END_BYTES: Final = b"\0\0\0\0"


def _opt(code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise ValueError(f"pcapng option {code} too long ({len(value)} bytes)")
    return _W_OPT.pack(code, len(value)) + value + _PAD[len(value) & 3]


def _block(btype: int, body: bytes) -> bytes:
    blen = 12 + len(body)
    return _W_BLKHDR.pack(btype, blen) + body + _W_U32.pack(blen)


class PcapngWriter:
    """Write a little-endian pcapng stream (one section) to ``f``.

    The Section Header Block is written by the constructor; call
    :meth:`add_interface` before writing packets for an interface.  All
    timestamps are written with nanosecond resolution (``if_tsresol=9``).
    The caller owns ``f`` (it is neither flushed nor closed here).
    """

    def __init__(self, f: BinaryIO, *, shb_comment: str | None = None) -> None:
        self._f = f
        self._snaplens: list[int] = []
        opts = b""
        if shb_comment is not None:
            opts += _opt(_OPT_COMMENT, shb_comment.encode("utf-8"))
        opts += _opt(_OPT_SHB_USERAPPL, b"kstack") + _OPT_END_BYTES
        f.write(_block(_BT_SHB, _W_SHB.pack(_BOM, 1, 0, -1) + opts))

    def add_interface(self, linktype: int, name: str | None = None, snaplen: int = 0) -> int:
        """Write an Interface Description Block; return its interface id."""
        if not 0 <= linktype <= 0xFFFF:
            raise ValueError(f"link type {linktype} out of range")
        if not 0 <= snaplen <= 0xFFFFFFFF:
            raise ValueError(f"snaplen {snaplen} out of range")
        opts = b""
        if name is not None:
            opts += _opt(_OPT_IF_NAME, name.encode("utf-8"))
        opts += _opt(_OPT_IF_TSRESOL, b"\x09") + _OPT_END_BYTES
        self._f.write(_block(_BT_IDB, _W_IDB.pack(linktype, 0, snaplen) + opts))
        self._snaplens.append(snaplen)
        return len(self._snaplens) - 1

    def write(
        self,
        ifid: int,
        ts_ns: int,
        data: bytes,
        comment: str | None = None,
        wirelen: int | None = None,
    ) -> None:
        """Write one Enhanced Packet Block.

        ``data`` longer than the interface's non-zero snaplen is truncated
        (``wirelen`` then still records the full length).  ``wirelen``
        defaults to ``len(data)``.
        """
        if not 0 <= ifid < len(self._snaplens):
            raise ValueError(f"undefined interface id {ifid}")
        if not 0 <= ts_ns < 1 << 64:
            raise ValueError(f"timestamp {ts_ns} out of range")
        if wirelen is None:
            wirelen = len(data)
        snaplen = self._snaplens[ifid]
        if snaplen and len(data) > snaplen:
            data = data[:snaplen]
        caplen = len(data)
        if caplen > MAX_CAPLEN:
            raise ValueError(f"packet of {caplen} bytes too large")
        if not 0 <= wirelen <= 0xFFFFFFFF:
            raise ValueError(f"wirelen {wirelen} out of range")
        opts = b""
        if comment is not None:
            opts = _opt(_OPT_COMMENT, comment.encode("utf-8")) + _OPT_END_BYTES
        body = (
            _W_EPB.pack(ifid, ts_ns >> 32, ts_ns & 0xFFFFFFFF, caplen, wirelen)
            + data
            + _PAD[caplen & 3]
            + opts
        )
        self._f.write(_block(_BT_EPB, body))


def write_pcapng(
    path: str | os.PathLike[str],
    frames: Iterable[tuple[int, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    ifname: str | None = None,
) -> None:
    """Write ``(ts_ns, data)`` pairs as a one-interface pcapng file."""
    with open(path, "wb") as f:
        w = PcapngWriter(f)
        ifid = w.add_interface(linktype, ifname)
        for ts_ns, data in frames:
            w.write(ifid, ts_ns, data)


def write_pcap(
    path: str | os.PathLike[str],
    frames: Iterable[tuple[int, bytes]],
    linktype: int = LINKTYPE_ETHERNET,
    snaplen: int = 65535,
) -> None:
    """Write ``(ts_ns, data)`` pairs as a classic little-endian microsecond
    pcap file (timestamps truncated to microseconds, frames to ``snaplen``)."""
    if not 0 <= linktype <= 0xFFFFFFFF:
        raise ValueError(f"link type {linktype} out of range")
    if not 0 < snaplen <= 0xFFFFFFFF:
        raise ValueError(f"snaplen {snaplen} out of range")
    with open(path, "wb") as f:
        f.write(_W_PCAP_GHDR.pack(_PCAP_MAGIC_US, 2, 4, 0, 0, snaplen, linktype))
        for ts_ns, data in frames:
            if ts_ns < 0:
                raise ValueError(f"timestamp {ts_ns} out of range")
            sec, rem = divmod(ts_ns, 1_000_000_000)
            if sec > 0xFFFFFFFF:
                raise ValueError(f"timestamp {ts_ns} out of range")
            wirelen = len(data)
            if wirelen > snaplen:
                data = data[:snaplen]
            f.write(_W_PCAP_REC.pack(sec, rem // 1000, len(data), wirelen))
            f.write(data)
