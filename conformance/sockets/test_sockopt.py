"""SOL_SOCKET options: sosetopt()/sogetopt() (kern/uipc_socket.c),
sooptcopyin/sooptcopyout, soreserve()/sbreserve_locked()
(kern/uipc_sockbuf.c); sheet sections 1 and 2."""

from __future__ import annotations

import errno
import struct

import pytest

from kstack import sock as S

from .helpers import connected_udp, port_unreach, raw, udp

SB_MAX_ADJ = 2 * 1024 * 1024 * 2048 // 2304  # 1864135 with kern.ipc.maxsockbuf 2 MiB


@pytest.mark.parametrize(
    ("kind", "opt", "value"),
    [
        ("udp", S.SO_SNDBUF, 9216),
        ("udp", S.SO_RCVBUF, 42080),  # dossier Errata 2: 40 * (1024 + 28)
        ("udp", S.SO_SNDLOWAT, 2048),
        ("udp", S.SO_RCVLOWAT, 1),
        ("raw", S.SO_SNDBUF, 9216),
        ("raw", S.SO_RCVBUF, 9216),
        ("raw", S.SO_SNDLOWAT, 2048),
        ("raw", S.SO_RCVLOWAT, 1),
    ],
)
def test_buffer_defaults(k, kind, opt, value):
    """udp_attach/rip_attach -> soreserve(): UDP 9216/42080, raw 9216/9216;
    soreserve sets rcv lowat 1 and snd lowat MCLBYTES (2048)."""
    s = udp(k) if kind == "udp" else raw(k)
    assert s.getsockopt(S.SOL_SOCKET, opt) == value


BOOL_OPTS = [
    S.SO_DEBUG,
    S.SO_REUSEADDR,
    S.SO_KEEPALIVE,
    S.SO_DONTROUTE,
    S.SO_BROADCAST,
    S.SO_USELOOPBACK,
    S.SO_OOBINLINE,
    S.SO_REUSEPORT,
    S.SO_TIMESTAMP,
    S.SO_NOSIGPIPE,
    S.SO_BINTIME,
]


@pytest.mark.parametrize("opt", BOOL_OPTS, ids=[hex(o) for o in BOOL_OPTS])
def test_boolean_option_get_returns_bit(k, opt):
    """sosetopt/sogetopt boolean options: any non-zero sets the bit, get
    returns so_options & bit, i.e. the option's own value (SO_REUSEADDR ->
    4, SO_BROADCAST -> 0x20), not 1; zero clears it."""
    s = udp(k)
    assert s.getsockopt(S.SOL_SOCKET, opt) == 0
    s.setsockopt(S.SOL_SOCKET, opt, 7)
    assert s.getsockopt(S.SOL_SOCKET, opt) == opt
    s.setsockopt(S.SOL_SOCKET, opt, 0)
    assert s.getsockopt(S.SOL_SOCKET, opt) == 0


@pytest.mark.parametrize("opt", [S.SO_NO_OFFLOAD, S.SO_NO_DDP, S.SO_USER_COOKIE])
def test_set_only_options(k, opt):
    """sosetopt accepts SO_NO_OFFLOAD/SO_NO_DDP/SO_USER_COOKIE; sogetopt has
    no case for them -> ENOPROTOOPT."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, opt, 1)
    with pytest.raises(OSError) as ei:
        s.getsockopt(S.SOL_SOCKET, opt)
    assert ei.value.errno == errno.ENOPROTOOPT


@pytest.mark.parametrize(
    "opt",
    [
        S.SO_ACCEPTCONN,
        S.SO_ERROR,
        S.SO_TYPE,
        S.SO_PROTOCOL,
        S.SO_PEERLABEL,
        S.SO_LISTENQLIMIT,
        S.SO_LISTENQLEN,
        S.SO_LISTENINCQLEN,
        0x1234,
        0x7777,
    ],
)
def test_set_unknown_or_readonly_enoprotoopt(k, opt):
    """sosetopt default case: read-only and unknown SOL_SOCKET options ->
    ENOPROTOOPT."""
    s = udp(k)
    with pytest.raises(OSError) as ei:
        s.setsockopt(S.SOL_SOCKET, opt, 1)
    assert ei.value.errno == errno.ENOPROTOOPT


def test_get_unknown_enoprotoopt(k):
    """sogetopt default case: unknown option -> ENOPROTOOPT."""
    s = udp(k)
    with pytest.raises(OSError) as ei:
        s.getsockopt(S.SOL_SOCKET, 0x1234)
    assert ei.value.errno == errno.ENOPROTOOPT


@pytest.mark.parametrize(
    "opt", [S.SO_ACCEPTCONN, S.SO_LISTENQLIMIT, S.SO_LISTENQLEN, S.SO_LISTENINCQLEN]
)
def test_listen_options_read_zero(k, opt):
    """sogetopt: a datagram socket never listens: SO_ACCEPTCONN and the
    listen queue counters read 0."""
    assert udp(k).getsockopt(S.SOL_SOCKET, opt) == 0


def test_linger_round_trip(k):
    """sosetopt/sogetopt SO_LINGER: struct linger in, l_onoff read back as
    so_options & SO_LINGER (128), l_linger verbatim."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_LINGER, struct.pack("<ii", 1, 30))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_LINGER, 8) == struct.pack("<ii", 128, 30)
    s.setsockopt(S.SOL_SOCKET, S.SO_LINGER, struct.pack("<ii", 0, 5))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_LINGER, 8) == struct.pack("<ii", 0, 5)


def test_linger_short_einval(k):
    """sooptcopyin(minlen sizeof(struct linger) = 8): 4 bytes -> EINVAL."""
    with pytest.raises(OSError) as ei:
        udp(k).setsockopt(S.SOL_SOCKET, S.SO_LINGER, struct.pack("<i", 1))
    assert ei.value.errno == errno.EINVAL


@pytest.mark.parametrize("opt", [S.SO_SNDBUF, S.SO_RCVBUF])
@pytest.mark.parametrize(
    ("value", "err"),
    [(0, errno.EINVAL), (-1, errno.EINVAL), (SB_MAX_ADJ + 1, errno.ENOBUFS)],
)
def test_sockbuf_size_errors(k, opt, value, err):
    """sosetopt SO_SNDBUF/SO_RCVBUF: optval < 1 -> EINVAL; sbreserve refuses
    more than sb_max_adj = 2097152*2048/2304 = 1864135 -> ENOBUFS; the old
    size stays."""
    s = udp(k)
    before = s.getsockopt(S.SOL_SOCKET, opt)
    with pytest.raises(OSError) as ei:
        s.setsockopt(S.SOL_SOCKET, opt, value)
    assert ei.value.errno == err
    assert s.getsockopt(S.SOL_SOCKET, opt) == before


@pytest.mark.parametrize("opt", [S.SO_SNDBUF, S.SO_RCVBUF])
@pytest.mark.parametrize("value", [1, 1000, SB_MAX_ADJ])
def test_sockbuf_size_exact(k, opt, value):
    """sbreserve_locked: sb_hiwat = optval exactly (no doubling, no
    rounding) up to 1864135."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, opt, value)
    assert s.getsockopt(S.SOL_SOCKET, opt) == value


def test_maxsockbuf_moves_the_limit(k):
    """sbreserve_locked: the limit follows kern.ipc.maxsockbuf (sb_max):
    262144 -> sb_max_adj 262144*2048/2304 = 233016."""
    assert k.sysctl("kern.ipc.maxsockbuf", 262144) == 2097152
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 233016)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 233016
    with pytest.raises(OSError) as ei:
        s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 233017)
    assert ei.value.errno == errno.ENOBUFS


def test_maxsockbuf_below_minimum_einval(k):
    """sysctl_handle_sb_max: kern.ipc.maxsockbuf < MSIZE + MCLBYTES (2304)
    -> EINVAL, value unchanged."""
    with pytest.raises(OSError) as ei:
        k.sysctl("kern.ipc.maxsockbuf", 2303)
    assert ei.value.errno == errno.EINVAL
    assert k.sysctl("kern.ipc.maxsockbuf") == 2097152


def test_rcvlowat_clamped_to_hiwat(k):
    """sosetopt SO_RCVLOWAT: min(optval, so_rcv.sb_hiwat)."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 100)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT, 500)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT) == 100
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT, 50)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT) == 50


def test_sndbuf_shrink_clamps_sndlowat(k):
    """sbreserve_locked: a smaller SO_SNDBUF pulls sb_lowat (2048) down to
    the new sb_hiwat."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 1000)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDLOWAT) == 1000


@pytest.mark.parametrize("opt", [S.SO_SNDLOWAT, S.SO_RCVLOWAT])
def test_lowat_below_one_einval(k, opt):
    """sosetopt SO_SNDLOWAT/SO_RCVLOWAT: optval < 1 -> EINVAL."""
    with pytest.raises(OSError) as ei:
        udp(k).setsockopt(S.SOL_SOCKET, opt, 0)
    assert ei.value.errno == errno.EINVAL


def _tv(sec: int, usec: int) -> bytes:
    return struct.pack("<qq", sec, usec)


@pytest.mark.parametrize("opt", [S.SO_SNDTIMEO, S.SO_RCVTIMEO])
@pytest.mark.parametrize(
    ("tv_in", "tv_out"),
    [
        ((0, 0), (0, 0)),
        ((1, 500000), (1, 500000)),
        ((0, 1), (0, 1000)),  # 0 ticks but usec != 0 -> 1 tick (hz 1000)
        ((0, 1500), (0, 1000)),  # truncated to whole ticks
        ((2147483, 647000), (2147483, 647000)),  # INT_MAX ticks
    ],
)
def test_timeo_round_trip(k, opt, tv_in, tv_out):
    """sosetopt/sogetopt SO_SNDTIMEO/SO_RCVTIMEO: stored in ticks (hz 1000),
    read back rebuilt from ticks with 1/hz granularity."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, opt, _tv(*tv_in))
    assert s.getsockopt(S.SOL_SOCKET, opt, 16) == _tv(*tv_out)


@pytest.mark.parametrize("opt", [S.SO_SNDTIMEO, S.SO_RCVTIMEO])
@pytest.mark.parametrize(
    "tv",
    [(-1, 0), (0, -1), (0, 1000000), (2147484, 0), (2147483, 648000)],
    ids=["sec<0", "usec<0", "usec=1e6", "sec>INT_MAX/hz", "ticks>INT_MAX"],
)
def test_timeo_edom(k, opt, tv):
    """sosetopt SO_SNDTIMEO/SO_RCVTIMEO: out-of-range timeval -> EDOM."""
    with pytest.raises(OSError) as ei:
        udp(k).setsockopt(S.SOL_SOCKET, opt, _tv(*tv))
    assert ei.value.errno == errno.EDOM


def test_timeo_short_einval(k):
    """sooptcopyin(minlen sizeof(struct timeval) = 16 on amd64): 8 -> EINVAL."""
    with pytest.raises(OSError) as ei:
        udp(k).setsockopt(S.SOL_SOCKET, S.SO_RCVTIMEO, struct.pack("<ii", 1, 0))
    assert ei.value.errno == errno.EINVAL


def test_so_error_read_clears(k):
    """sogetopt SO_ERROR: returns so_error (an ICMP port unreachable
    delivered by udp_ctlinput -> ECONNREFUSED) and zeroes it."""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == errno.ECONNREFUSED
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


def test_so_error_truncated_read_still_clears(k):
    """sogetopt SO_ERROR: so_error is cleared even when sooptcopyout only
    copies 1 byte. (kstack reports error numbers as Python's errno module
    numbers them, ARCHITECTURE section 3, so the byte is the low byte of
    errno.ECONNREFUSED; FreeBSD's own number is 61.)"""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR, 1) == bytes([errno.ECONNREFUSED & 0xFF])
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


@pytest.mark.parametrize("value", [1, -1, 16])
def test_setfib_single_fib_einval(k, value):
    """sosetopt SO_SETFIB: optval < 0 or >= rt_numfibs (net.fibs 1) -> EINVAL."""
    with pytest.raises(OSError) as ei:
        udp(k).setsockopt(S.SOL_SOCKET, S.SO_SETFIB, value)
    assert ei.value.errno == errno.EINVAL


def test_setfib_zero_ok_and_get_enoprotoopt(k):
    """sosetopt SO_SETFIB 0 is accepted; sogetopt has no SO_SETFIB case in
    9.1 -> ENOPROTOOPT."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SETFIB, 0)
    with pytest.raises(OSError) as ei:
        s.getsockopt(S.SOL_SOCKET, S.SO_SETFIB)
    assert ei.value.errno == errno.ENOPROTOOPT


def test_setfib_two_fibs():
    """sosetopt SO_SETFIB with net.fibs=2: 1 accepted, 2 -> EINVAL."""
    import kstack

    k2 = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    s = k2.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    s.setsockopt(S.SOL_SOCKET, S.SO_SETFIB, 1)
    with pytest.raises(OSError) as ei:
        s.setsockopt(S.SOL_SOCKET, S.SO_SETFIB, 2)
    assert ei.value.errno == errno.EINVAL


@pytest.mark.parametrize(
    "opt", [S.SO_REUSEADDR, S.SO_BROADCAST, S.SO_SNDBUF, S.SO_RCVLOWAT, S.SO_SETFIB]
)
def test_short_optlen_einval(k, opt):
    """sooptcopyin: optlen 2 < sizeof(int) -> EINVAL (int options)."""
    s = udp(k)
    with pytest.raises(OSError) as ei:
        s.setsockopt(S.SOL_SOCKET, opt, b"\x01\x00")
    assert ei.value.errno == errno.EINVAL


def test_long_optlen_excess_ignored(k):
    """sooptcopyin: optlen larger than sizeof(int) is truncated; only the
    first 4 bytes count (SO_BROADCAST then reads 0x20)."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, b"\x01\x00\x00\x00\xff\xff\xff\xff")
    assert s.getsockopt(S.SOL_SOCKET, S.SO_BROADCAST) == 0x20
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, b"\x00\x00\x00\x00\xff\xff\xff\xff")
    assert s.getsockopt(S.SOL_SOCKET, S.SO_BROADCAST) == 0


@pytest.mark.parametrize(
    ("buflen", "out"),
    [(1, b"\x60"), (2, b"\x60\xa4"), (4, b"\x60\xa4\x00\x00"), (8, b"\x60\xa4\x00\x00")],
)
def test_getsockopt_truncation(k, buflen, out):
    """sooptcopyout: copies min(len, optlen) bytes with no error; SO_RCVBUF
    42080 = 0xa460 little-endian."""
    assert udp(k).getsockopt(S.SOL_SOCKET, S.SO_RCVBUF, buflen) == out
