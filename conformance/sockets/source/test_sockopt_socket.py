"""SOL_SOCKET options: sosetopt / sogetopt (kern/uipc_socket.c of FreeBSD 9.1).

US = sys/kern/uipc_socket.c, SB = sys/kern/uipc_sockbuf.c (9.1 line numbers).
hz is 1000 and tick 1000 us on amd64 (kern/subr_param.c 63, 217-218).
"""

import pytest

from conformance.sockets.source.common import (
    DG,
    RAW,
    errno,
    make_host,
    oserr,
    sock,
    struct,
    timeval,
    udp_socket,
)

SOL = sock.SOL_SOCKET

# The options sosetopt turns on and off as one bit of so_options (US
# sosetopt 2479-2500) and sogetopt reads back as that bit (US 2717-2730).
FLAG_OPTIONS = [
    ("SO_DEBUG", 0x1),
    ("SO_REUSEADDR", 0x4),
    ("SO_KEEPALIVE", 0x8),
    ("SO_DONTROUTE", 0x10),
    ("SO_BROADCAST", 0x20),
    ("SO_USELOOPBACK", 0x40),
    ("SO_OOBINLINE", 0x100),
    ("SO_REUSEPORT", 0x200),
    ("SO_TIMESTAMP", 0x400),
    ("SO_NOSIGPIPE", 0x800),
    ("SO_BINTIME", 0x2000),
]


@pytest.mark.parametrize("kind", [DG, RAW])
@pytest.mark.parametrize("name,bit", FLAG_OPTIONS)
def test_flag_option_reads_back_as_its_bit(k, kind, name, bit):
    """US sosetopt 2479-2500: any non-zero int sets the option's bit in
    so_options, 0 clears it; sogetopt 2717-2730 answers so_options & name,
    i.e. the bit itself, not 1."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    opt = getattr(sock, name)
    assert s.getsockopt(SOL, opt) == 0
    s.setsockopt(SOL, opt, 7)
    assert s.getsockopt(SOL, opt) == bit
    s.setsockopt(SOL, opt, 0)
    assert s.getsockopt(SOL, opt) == 0


def test_flag_option_short_value_einval(k):
    """US sooptcopyin 2403-2404: fewer bytes than an int -> EINVAL (sosetopt 2493)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_BROADCAST, b"\x01\x00") == errno.EINVAL
    assert s.getsockopt(SOL, sock.SO_BROADCAST) == 0


def test_flag_option_long_value_reads_first_int(k):
    """US sooptcopyin 2405-2406: a longer value is cut to sizeof(int); only
    the first four bytes decide (here 0 -> the bit is cleared)."""
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_BROADCAST, 1)
    s.setsockopt(SOL, sock.SO_BROADCAST, b"\x00\x00\x00\x00\x01\x00\x00\x00")
    assert s.getsockopt(SOL, sock.SO_BROADCAST) == 0
    s.setsockopt(SOL, sock.SO_BROADCAST, b"\x02\x00\x00\x00\x00\x00\x00\x00")
    assert s.getsockopt(SOL, sock.SO_BROADCAST) == 0x20


@pytest.mark.parametrize("name", ["SO_NO_DDP", "SO_NO_OFFLOAD"])
def test_set_only_flags(k, name):
    """US sosetopt 2489-2490 accepts SO_NO_DDP and SO_NO_OFFLOAD, but
    sogetopt's list (2717-2730) does not have them: default 2826-2827
    ENOPROTOOPT."""
    s = udp_socket(k)
    s.setsockopt(SOL, getattr(sock, name), 1)
    assert oserr(s.getsockopt, SOL, getattr(sock, name)) == errno.ENOPROTOOPT


@pytest.mark.parametrize(
    "name",
    [
        "SO_ACCEPTCONN",
        "SO_TYPE",
        "SO_ERROR",
        "SO_LISTENQLIMIT",
        "SO_LISTENQLEN",
        "SO_LISTENINCQLEN",
        "SO_PEERLABEL",
    ],
)
def test_get_only_options_cannot_be_set(k, name):
    """US sosetopt: these names are not in its switch, default 2639-2640
    ENOPROTOOPT (SO_PEERLABEL included: only SO_LABEL is settable, 2626)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, getattr(sock, name), 1) == errno.ENOPROTOOPT


@pytest.mark.parametrize("kind,expected", [(DG, 2), (RAW, 3)])
def test_so_type(k, kind, expected):
    """US sogetopt 2732-2734: SO_TYPE is so_type (SOCK_DGRAM 2, SOCK_RAW 3)."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    assert s.getsockopt(SOL, sock.SO_TYPE) == expected


def test_listen_queue_options_of_a_datagram_socket(k):
    """US sogetopt 2722 (SO_ACCEPTCONN bit never set without listen) and
    2814-2824 (so_qlimit, so_qlen, so_incqlen of a new socket are 0)."""
    s = udp_socket(k)
    for name in ("SO_ACCEPTCONN", "SO_LISTENQLIMIT", "SO_LISTENQLEN", "SO_LISTENINCQLEN"):
        assert s.getsockopt(SOL, getattr(sock, name)) == 0, name


def test_so_protocol_absent_in_9_0(k):
    """SO_PROTOCOL (0x1016) is in sogetopt of 9.1 (US 2736-2738) but not in
    the February 2011 head (bz-vimage uipc_socket.c 1.354 has no such case):
    it was added to head in February 2012 and merged to stable/9 after
    9.0-RELEASE (January 2012).  In 9.0 the name falls to sogetopt's
    default: ENOPROTOOPT."""
    s = udp_socket(k)
    assert oserr(s.getsockopt, SOL, sock.SO_PROTOCOL) == errno.ENOPROTOOPT


def test_unknown_sol_socket_option(k):
    """US sosetopt 2639-2640 and sogetopt 2826-2827: ENOPROTOOPT."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, 0x1234, 1) == errno.ENOPROTOOPT
    assert oserr(s.getsockopt, SOL, 0x1234) == errno.ENOPROTOOPT


def test_linger_roundtrip_reports_the_option_bit(k):
    """US sosetopt 2465-2477 stores l_linger and sets the SO_LINGER bit
    when l_onoff != 0; sogetopt 2707-2713 answers l_onoff = so_options &
    SO_LINGER, i.e. 0x80, not 1."""
    s = udp_socket(k)
    assert s.getsockopt(SOL, sock.SO_LINGER, 8) == struct.pack("<ii", 0, 0)
    s.setsockopt(SOL, sock.SO_LINGER, struct.pack("<ii", 1, 30))
    assert s.getsockopt(SOL, sock.SO_LINGER, 8) == struct.pack("<ii", 0x80, 30)
    s.setsockopt(SOL, sock.SO_LINGER, struct.pack("<ii", 0, 5))
    assert s.getsockopt(SOL, sock.SO_LINGER, 8) == struct.pack("<ii", 0, 5)


def test_linger_short_value_einval(k):
    """US sosetopt 2466-2468: sooptcopyin with minlen sizeof(struct linger) (8)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_LINGER, 1) == errno.EINVAL


def test_user_cookie_is_set_only(k):
    """US sosetopt 2523-2529 stores a uint32 cookie; sogetopt has no case for
    SO_USER_COOKIE (default 2826-2827: ENOPROTOOPT).  Short value: EINVAL."""
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_USER_COOKIE, 0x12345678)
    assert oserr(s.getsockopt, SOL, sock.SO_USER_COOKIE) == errno.ENOPROTOOPT
    assert oserr(s.setsockopt, SOL, sock.SO_USER_COOKIE, b"\x01\x02") == errno.EINVAL


def test_setfib_out_of_range_and_get(k):
    """US sosetopt 2504-2509: a negative FIB is EINVAL; sogetopt has no
    SO_SETFIB case (2826-2827: ENOPROTOOPT).  (Whether optval == rt_numfibs
    is refused differs: 9.1 has `>=`, February 2011 head `>`; not tested.)"""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_SETFIB, -1) == errno.EINVAL
    assert oserr(s.setsockopt, SOL, sock.SO_SETFIB, 5) == errno.EINVAL
    assert oserr(s.getsockopt, SOL, sock.SO_SETFIB) == errno.ENOPROTOOPT


def test_setfib_routes_the_socket_in_that_fib():
    """US sosetopt 2504-2521 sets so_fibnum, then calls pr_ctloutput, and
    ip_ctloutput (netinet/ip_output.c 930-935) copies it to inc_fibnum,
    which in_pcbladdr (in_pcb.c 716) and ip_output use.  A route present only
    in FIB 1 serves the FIB-1 socket; the FIB-0 socket has no route
    (in_pcb.c in_pcbladdr 726-734: ENETUNREACH)."""
    k = make_host(fibs=2, default_route=False)
    k.route_add("198.51.100.0/24", "192.0.2.254", fib=1)
    s1 = udp_socket(k)
    s1.setsockopt(SOL, sock.SO_SETFIB, 1)
    assert s1.sendto(b"fib1", ("198.51.100.9", 53)) == 4
    (f,) = [bytes(x) for x in k.transmitted("em0")]
    assert f[0:6] == bytes.fromhex("0200000000fe")
    assert f[30:34] == bytes((198, 51, 100, 9))
    s0 = udp_socket(k)
    assert oserr(s0.sendto, b"fib0", ("198.51.100.9", 53)) == errno.ENETUNREACH
    assert k.transmitted("em0") == []


def test_label_options_with_mac_framework(k):
    """GENERIC 9.x has `options MAC` (sys/amd64/conf/GENERIC 64).  SO_LABEL
    set and get, and SO_PEERLABEL get, copy in a struct mac first (US
    2628-2631, 2784-2787, 2800-2803): sooptcopyin's minlen is
    sizeof(struct mac) = 16 on amd64, so an int-sized buffer is EINVAL."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_LABEL, 0) == errno.EINVAL
    assert oserr(s.getsockopt, SOL, sock.SO_LABEL) == errno.EINVAL
    assert oserr(s.getsockopt, SOL, sock.SO_PEERLABEL) == errno.EINVAL


def test_accept_filter_on_a_datagram_socket(k):
    """US 2459-2463 / 2703-2705 -> kern/uipc_accf.c: set copies in a
    256-byte struct accept_filter_arg (233: EINVAL for an int); get refuses
    a socket that is not listening (175-177: EINVAL)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_ACCEPTFILTER, 1) == errno.EINVAL
    assert oserr(s.getsockopt, SOL, sock.SO_ACCEPTFILTER, 256) == errno.EINVAL


def test_getsockopt_buffer_sizes(k):
    """US sooptcopyout 2655-2677: the answer is truncated to the caller's
    buffer without error, and never longer than the value (an int here)."""
    s = udp_socket(k)
    assert s.getsockopt(SOL, sock.SO_TYPE, 2) == b"\x02\x00"
    assert s.getsockopt(SOL, sock.SO_TYPE, 8) == b"\x02\x00\x00\x00"


# --- socket buffer sizes and low-water marks ---------------------------------


def test_default_buffer_sizes_and_low_water_marks(k):
    """udp_usrreq.c udp_attach 1427 soreserve(udp_sendspace 9216,
    udp_recvspace 40*(1024+sizeof(sockaddr_in6)) = 42080, 121-135);
    raw_ip.c rip_attach 795 soreserve(9216, 9216, 134-139).  SB soreserve
    251-256: receive low-water 1, send low-water MCLBYTES (2048)."""
    u = udp_socket(k)
    r = k.socket(sock.AF_INET, RAW, 253)
    assert [
        u.getsockopt(SOL, getattr(sock, n))
        for n in ("SO_SNDBUF", "SO_RCVBUF", "SO_SNDLOWAT", "SO_RCVLOWAT")
    ] == [9216, 42080, 2048, 1]
    assert [
        r.getsockopt(SOL, getattr(sock, n))
        for n in ("SO_SNDBUF", "SO_RCVBUF", "SO_SNDLOWAT", "SO_RCVLOWAT")
    ] == [9216, 9216, 2048, 1]


@pytest.mark.parametrize("name", ["SO_SNDBUF", "SO_RCVBUF", "SO_SNDLOWAT", "SO_RCVLOWAT"])
def test_buffer_values_below_one_einval(k, name):
    """US sosetopt 2544-2547: values < 1 are EINVAL for all four."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, getattr(sock, name), 0) == errno.EINVAL
    assert oserr(s.setsockopt, SOL, getattr(sock, name), -5) == errno.EINVAL


def test_buffer_size_limit_is_sb_max_adj(k):
    """US sosetopt 2550-2558 -> SB sbreserve_locked 303-304: cc > sb_max_adj
    fails, ENOBUFS.  sb_max_adj = SB_MAX (2 MiB, sys/sockbuf.h 40) * MCLBYTES
    / (MSIZE + MCLBYTES) = 2097152 * 2048 / 2304 = 1864135 (SB 62-64)."""
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_RCVBUF, 1864135)
    assert s.getsockopt(SOL, sock.SO_RCVBUF) == 1864135
    assert oserr(s.setsockopt, SOL, sock.SO_RCVBUF, 1864136) == errno.ENOBUFS
    assert oserr(s.setsockopt, SOL, sock.SO_SNDBUF, 1864136) == errno.ENOBUFS
    assert s.getsockopt(SOL, sock.SO_RCVBUF) == 1864135
    assert s.getsockopt(SOL, sock.SO_SNDBUF) == 9216


def test_maxsockbuf_sysctl_moves_the_limit(k):
    """SB sysctl_handle_sb_max 269-282: values below MSIZE + MCLBYTES (2304)
    are EINVAL; otherwise sb_max_adj = sb_max * 2048 / 2304, so 262144
    gives 233016."""
    assert oserr(k.sysctl, "kern.ipc.maxsockbuf", 2303) == errno.EINVAL
    k.sysctl("kern.ipc.maxsockbuf", 262144)
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_SNDBUF, 233016)
    assert oserr(s.setsockopt, SOL, sock.SO_SNDBUF, 233017) == errno.ENOBUFS
    assert s.getsockopt(SOL, sock.SO_SNDBUF) == 233016


def test_low_water_marks_are_clamped_to_high_water(k):
    """US sosetopt 2565-2578: SO_SNDLOWAT/SO_RCVLOWAT above sb_hiwat are set
    to sb_hiwat; SB sbreserve_locked 315-316 lowers sb_lowat when a smaller
    buffer is reserved."""
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_SNDLOWAT, 100000)
    s.setsockopt(SOL, sock.SO_RCVLOWAT, 100000)
    assert s.getsockopt(SOL, sock.SO_SNDLOWAT) == 9216
    assert s.getsockopt(SOL, sock.SO_RCVLOWAT) == 42080
    s.setsockopt(SOL, sock.SO_SNDBUF, 1000)
    s.setsockopt(SOL, sock.SO_RCVBUF, 500)
    assert s.getsockopt(SOL, sock.SO_SNDLOWAT) == 1000
    assert s.getsockopt(SOL, sock.SO_RCVLOWAT) == 500


# --- timeouts ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["SO_SNDTIMEO", "SO_RCVTIMEO"])
def test_timeout_roundtrip_in_ticks(k, name):
    """US sosetopt 2583-2624: the timeval becomes ticks, tv_sec*hz +
    tv_usec/tick, a non-zero timeval below one tick becomes 1 tick;
    sogetopt 2763-2780 converts back (ticks/hz, (ticks%hz)*tick)."""
    s = udp_socket(k)
    opt = getattr(sock, name)
    assert s.getsockopt(SOL, opt, 16) == timeval(0, 0)
    s.setsockopt(SOL, opt, timeval(2, 345678))
    assert s.getsockopt(SOL, opt, 16) == timeval(2, 345000)
    s.setsockopt(SOL, opt, timeval(0, 1))
    assert s.getsockopt(SOL, opt, 16) == timeval(0, 1000)
    s.setsockopt(SOL, opt, timeval(2147483, 647000))
    assert s.getsockopt(SOL, opt, 16) == timeval(2147483, 647000)


@pytest.mark.parametrize(
    "tv",
    [(-1, 0), (0, -1), (0, 1000000), (2147484, 0), (2147483, 648000)],
    ids=["neg-sec", "neg-usec", "usec-1e6", "sec-over-INT_MAX/hz", "ticks-over-INT_MAX"],
)
def test_timeout_out_of_range_edom(k, tv):
    """US sosetopt 2601-2612: tv_sec < 0, tv_sec > INT_MAX/hz (2147483),
    tv_usec outside 0..999999, or more than INT_MAX ticks -> EDOM."""
    s = udp_socket(k)
    s.setsockopt(SOL, sock.SO_RCVTIMEO, timeval(1, 0))
    assert oserr(s.setsockopt, SOL, sock.SO_RCVTIMEO, timeval(*tv)) == errno.EDOM
    assert s.getsockopt(SOL, sock.SO_RCVTIMEO, 16) == timeval(1, 0)


def test_timeout_short_value_einval(k):
    """US sosetopt 2594-2597: sooptcopyin needs a whole struct timeval (16
    bytes on amd64)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, SOL, sock.SO_SNDTIMEO, struct.pack("<q", 1)) == errno.EINVAL


def test_sol_socket_set_on_ip_level_handler_is_not_an_error(k):
    """US sosetopt 2643-2644 calls pr_ctloutput after a successful SOL_SOCKET
    set and ignores its answer; ip_ctloutput (ip_output.c 903-940) and
    rip_ctloutput (raw_ip.c 547-553) return EINVAL for SO_KEEPALIVE, which
    the caller never sees."""
    for s in (udp_socket(k), k.socket(sock.AF_INET, RAW, 253)):
        s.setsockopt(SOL, sock.SO_KEEPALIVE, 1)
        assert s.getsockopt(SOL, sock.SO_KEEPALIVE) == 8
