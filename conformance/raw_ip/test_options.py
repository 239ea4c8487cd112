"""Socket option defaults and round trips on raw sockets: rip_ctloutput
(netinet/raw_ip.c), ip_ctloutput (netinet/ip_output.c), inp_setmoptions /
inp_getmoptions (netinet/in_mcast.c), sosetopt / sogetopt
(kern/uipc_socket.c). docs/sockets.md; dossier 2.1, 8.2."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S


def _raw(k, proto=253):
    return k.socket(S.AF_INET, S.SOCK_RAW, proto)


def _err(fn, *args):
    with pytest.raises(OSError) as e:
        fn(*args)
    return e.value.errno


IP = S.IPPROTO_IP


def test_defaults(k):
    """rip_attach / in_pcballoc: HDRINCL off (even for protocol 255), TTL 64,
    TOS 0, MINTTL 0, DONTFRAG 0, every IP_RECV* flag 0."""
    s = _raw(k, S.IPPROTO_RAW)
    assert s.getsockopt(IP, S.IP_HDRINCL) == 0
    assert s.getsockopt(IP, S.IP_TTL) == 64
    assert s.getsockopt(IP, S.IP_TOS) == 0
    assert s.getsockopt(IP, S.IP_MINTTL) == 0
    assert s.getsockopt(IP, S.IP_DONTFRAG) == 0
    for opt in (
        S.IP_RECVOPTS,
        S.IP_RECVRETOPTS,
        S.IP_RECVDSTADDR,
        S.IP_RECVTTL,
        S.IP_RECVIF,
    ):
        assert s.getsockopt(IP, opt) == 0
    # IP_RECVTOS came with 9.1 (head 2012-06-12): 9.0's ip_ctloutput has no
    # case for it.
    assert _err(s.getsockopt, IP, S.IP_RECVTOS) == errno.ENOPROTOOPT
    assert _err(s.setsockopt, IP, S.IP_RECVTOS, 1) == errno.ENOPROTOOPT


def test_hdrincl_get_returns_flag_bit(k):
    """rip_ctloutput: getsockopt(IP_HDRINCL) returns inp_flags & INP_HDRINCL,
    i.e. 8 when set, not 1; 0 clears it."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_HDRINCL, 5)
    assert s.getsockopt(IP, S.IP_HDRINCL) == 8
    s.setsockopt(IP, S.IP_HDRINCL, 0)
    assert s.getsockopt(IP, S.IP_HDRINCL) == 0


def test_hdrincl_short_optlen_einval(k):
    """rip_ctloutput / sooptcopyin: IP_HDRINCL with fewer than 4 bytes ->
    EINVAL."""
    s = _raw(k)
    assert _err(s.setsockopt, IP, S.IP_HDRINCL, b"\x01\x00") == errno.EINVAL


def test_ttl_round_trip_and_truncation(k):
    """ip_ctloutput: IP_TTL has no range check; stored as u_char (256 -> 0,
    -1 -> 255)."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_TTL, 33)
    assert s.getsockopt(IP, S.IP_TTL) == 33
    s.setsockopt(IP, S.IP_TTL, 256)
    assert s.getsockopt(IP, S.IP_TTL) == 0
    s.setsockopt(IP, S.IP_TTL, -1)
    assert s.getsockopt(IP, S.IP_TTL) == 255


def test_ttl_default_from_sysctl_at_creation(k):
    """rip_attach: inp_ip_ttl = net.inet.ip.ttl at creation (G8.2); changing
    the sysctl affects only sockets created afterwards."""
    old = _raw(k)
    assert k.sysctl("net.inet.ip.ttl", 32) == 64
    new = _raw(k)
    assert old.getsockopt(IP, S.IP_TTL) == 64
    assert new.getsockopt(IP, S.IP_TTL) == 32


def test_tos_round_trip(k):
    """ip_ctloutput: IP_TOS no range check, truncated to u_char."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_TOS, 0xB8)
    assert s.getsockopt(IP, S.IP_TOS) == 0xB8
    s.setsockopt(IP, S.IP_TOS, 0x1FF)
    assert s.getsockopt(IP, S.IP_TOS) == 0xFF


def test_minttl_range(k):
    """ip_ctloutput: IP_MINTTL 0..255 (MAXTTL), else EINVAL; the old value
    is kept."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_MINTTL, 255)
    assert s.getsockopt(IP, S.IP_MINTTL) == 255
    assert _err(s.setsockopt, IP, S.IP_MINTTL, 256) == errno.EINVAL
    assert _err(s.setsockopt, IP, S.IP_MINTTL, -1) == errno.EINVAL
    assert s.getsockopt(IP, S.IP_MINTTL) == 255


@pytest.mark.parametrize(
    "opt",
    [
        S.IP_RECVOPTS,
        S.IP_RECVRETOPTS,
        S.IP_RECVDSTADDR,
        S.IP_RECVTTL,
        S.IP_RECVIF,
        S.IP_RECVTOS,
        S.IP_DONTFRAG,
        S.IP_ONESBCAST,
    ],
)
@pytest.mark.parametrize("profile", ["9.1"], indirect=True)
def test_flag_options_normalised(k, opt):
    """ip_ctloutput: IPPROTO_IP flag options read back as 0/1 (OPTBIT),
    whatever non-zero value was set (9.1, which has IP_RECVTOS)."""
    s = _raw(k)
    s.setsockopt(IP, opt, 7)
    assert s.getsockopt(IP, opt) == 1
    s.setsockopt(IP, opt, 0)
    assert s.getsockopt(IP, opt) == 0


def test_multicast_defaults(k):
    """inp_getmoptions (netinet/in_mcast.c): IP_MULTICAST_TTL 1,
    IP_MULTICAST_LOOP 1, IP_MULTICAST_IF 0.0.0.0, IP_MULTICAST_VIF -1."""
    s = _raw(k)
    assert s.getsockopt(IP, S.IP_MULTICAST_TTL) == 1
    assert s.getsockopt(IP, S.IP_MULTICAST_LOOP) == 1
    assert s.getsockopt(IP, S.IP_MULTICAST_IF, 4) == bytes(4)
    assert s.getsockopt(IP, S.IP_MULTICAST_VIF) == -1


def test_multicast_ttl_set(k):
    """inp_setmoptions (netinet/in_mcast.c): IP_MULTICAST_TTL as a u_char
    (optlen 1) or an int <= 255; an int > 255 -> EINVAL."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_MULTICAST_TTL, b"\x05")
    assert s.getsockopt(IP, S.IP_MULTICAST_TTL) == 5
    s.setsockopt(IP, S.IP_MULTICAST_TTL, 200)
    assert s.getsockopt(IP, S.IP_MULTICAST_TTL) == 200
    assert _err(s.setsockopt, IP, S.IP_MULTICAST_TTL, 256) == errno.EINVAL
    assert s.getsockopt(IP, S.IP_MULTICAST_TTL) == 200


def test_multicast_loop_set(k):
    """inp_setmoptions (netinet/in_mcast.c): IP_MULTICAST_LOOP stored as
    !!(u_char)value, so 256 turns loopback off."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_MULTICAST_LOOP, 0)
    assert s.getsockopt(IP, S.IP_MULTICAST_LOOP) == 0
    s.setsockopt(IP, S.IP_MULTICAST_LOOP, 2)
    assert s.getsockopt(IP, S.IP_MULTICAST_LOOP) == 1
    s.setsockopt(IP, S.IP_MULTICAST_LOOP, 256)
    assert s.getsockopt(IP, S.IP_MULTICAST_LOOP) == 0


@pytest.mark.parametrize("profile", ["9.1"], indirect=True)
def test_so_type_and_protocol(k):
    """sogetopt (kern/uipc_socket.c, 9.1): SO_TYPE 3; SO_PROTOCOL is the
    protosw's protocol: 255 for SOCK_RAW protocol 0 (the IPPROTO_RAW entry),
    1 for ICMP, 0 for a protocol with no entry of its own (raw wildcard)."""
    assert _raw(k).getsockopt(S.SOL_SOCKET, S.SO_TYPE) == S.SOCK_RAW
    assert _raw(k, 0).getsockopt(S.SOL_SOCKET, S.SO_PROTOCOL) == 255
    assert _raw(k, 1).getsockopt(S.SOL_SOCKET, S.SO_PROTOCOL) == 1
    assert _raw(k, 253).getsockopt(S.SOL_SOCKET, S.SO_PROTOCOL) == 0


def test_buffer_sizes(k):
    """rip_attach / soreserve: SO_SNDBUF net.inet.raw.maxdgram 9216,
    SO_RCVBUF net.inet.raw.recvspace 9216, low water marks 2048 / 1."""
    s = _raw(k)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDBUF) == 9216
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 9216
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDLOWAT) == 2048
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT) == 1


def test_buffer_sizes_follow_sysctl(k):
    """rip_attach: soreserve uses the current net.inet.raw.maxdgram and
    net.inet.raw.recvspace."""
    k.sysctl("net.inet.raw.maxdgram", 4096)
    k.sysctl("net.inet.raw.recvspace", 20000)
    s = _raw(k)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDBUF) == 4096
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 20000


def test_unknown_level_einval(k):
    """rip_ctloutput: a level other than IPPROTO_IP (e.g. IPPROTO_TCP) ->
    EINVAL for set and get."""
    s = _raw(k)
    assert _err(s.setsockopt, S.IPPROTO_TCP, 1, 1) == errno.EINVAL
    assert _err(s.getsockopt, S.IPPROTO_TCP, 1) == errno.EINVAL


def test_unknown_ip_option_enoprotoopt(k):
    """ip_ctloutput: an unknown IPPROTO_IP option -> ENOPROTOOPT (set and
    get)."""
    s = _raw(k)
    assert _err(s.setsockopt, IP, 99, 1) == errno.ENOPROTOOPT
    assert _err(s.getsockopt, IP, 99) == errno.ENOPROTOOPT


def test_unknown_socket_option_enoprotoopt(k):
    """sosetopt / sogetopt: an unknown SOL_SOCKET option -> ENOPROTOOPT."""
    s = _raw(k)
    assert _err(s.setsockopt, S.SOL_SOCKET, 0x1099, 1) == errno.ENOPROTOOPT
    assert _err(s.getsockopt, S.SOL_SOCKET, 0x1099) == errno.ENOPROTOOPT


@pytest.mark.parametrize("opt", [S.IP_TTL, S.IP_TOS, S.IP_MINTTL, S.IP_RECVTTL])
def test_short_optlen_einval(k, opt):
    """sooptcopyin (kern/uipc_socket.c): an int option given fewer than 4
    bytes -> EINVAL; the value is unchanged."""
    s = _raw(k)
    before = s.getsockopt(IP, opt)
    assert _err(s.setsockopt, IP, opt, b"\x01\x00\x00") == errno.EINVAL
    assert s.getsockopt(IP, opt) == before


def test_long_optlen_extra_ignored(k):
    """sooptcopyin: bytes beyond the 4 an int option needs are ignored."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_TTL, (17).to_bytes(4, "little") + b"\xff" * 4)
    assert s.getsockopt(IP, S.IP_TTL) == 17


def test_getsockopt_truncates_silently(k):
    """sooptcopyout: a short buffer gets the low-addressed bytes, no error."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_TTL, 0x34)
    assert s.getsockopt(IP, S.IP_TTL, 1) == b"\x34"
    assert s.getsockopt(IP, S.IP_TTL, 8) == b"\x34\x00\x00\x00"


def test_ip_options_round_trip(k):
    """ip_pcbopts (netinet/ip_options.c) / ip_ctloutput: IP_OPTIONS read back
    as struct ipoption, a 4-byte first-hop address (zero without a source
    route) followed by the options; an empty value clears; a length that
    is not a multiple of 4 -> EINVAL."""
    s = _raw(k)
    s.setsockopt(IP, S.IP_OPTIONS, b"\x01\x01\x01\x00")
    assert s.getsockopt(IP, S.IP_OPTIONS, 64) == bytes(4) + b"\x01\x01\x01\x00"
    assert _err(s.setsockopt, IP, S.IP_OPTIONS, b"\x01\x01\x01") == errno.EINVAL
    s.setsockopt(IP, S.IP_OPTIONS, b"")
    assert s.getsockopt(IP, S.IP_OPTIONS, 64) == b""


def test_ipfw_option_enoprotoopt(k):
    """rip_ctloutput: IP_FW_* with no firewall loaded -> ENOPROTOOPT."""
    s = _raw(k)
    assert _err(s.getsockopt, IP, S.IP_FW_GET) == errno.ENOPROTOOPT
    assert _err(s.setsockopt, IP, S.IP_FW_ADD, 0) == errno.ENOPROTOOPT


def test_sol_socket_set_not_forwarded_as_error(k):
    """sosetopt: a SOL_SOCKET option is applied by the socket layer; the
    EINVAL rip_ctloutput returns for it afterwards is ignored."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_REUSEADDR) == S.SO_REUSEADDR
