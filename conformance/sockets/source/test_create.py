"""socket(2): socreate (kern/uipc_socket.c), pffindtype / pffindproto
(kern/uipc_domain.c), the inetsw table (netinet/in_proto.c) and rip_attach
(netinet/raw_ip.c) of FreeBSD 9.1.

US = sys/kern/uipc_socket.c, DOM = sys/kern/uipc_domain.c, PROTO =
sys/netinet/in_proto.c, RAW = sys/netinet/raw_ip.c (9.1 line numbers).
"""

import pytest

from conformance.sockets.source.common import errno, oserr, sock

AF = sock.AF_INET


def test_unknown_family(k):
    """DOM pffindtype 296-299 / pffindproto 314-319: no domain of that
    family -> NULL, US socreate 376-378: EPROTONOSUPPORT."""
    assert oserr(k.socket, 99, sock.SOCK_DGRAM) == errno.EPROTONOSUPPORT
    assert oserr(k.socket, 99, sock.SOCK_DGRAM, 17) == errno.EPROTONOSUPPORT


@pytest.mark.parametrize("type_", [0, sock.SOCK_RDM, 77])
def test_unknown_type(k, type_):
    """DOM pffindtype 301-304: no protosw of that type (type 0 never
    matches, 302) -> EPROTONOSUPPORT (US 376-378)."""
    assert oserr(k.socket, AF, type_) == errno.EPROTONOSUPPORT


@pytest.mark.parametrize("proto", [sock.IPPROTO_TCP, sock.IPPROTO_ICMP, 253])
def test_datagram_socket_with_another_protocol(k, proto):
    """DOM pffindproto 321-329: protocol and type must both match; the
    wildcard raw entry is only a fallback for SOCK_RAW -> EPROTONOSUPPORT."""
    assert oserr(k.socket, AF, sock.SOCK_DGRAM, proto) == errno.EPROTONOSUPPORT


def test_datagram_socket_protocol_0_or_17_is_udp(k):
    """DOM pffindtype returns the first SOCK_DGRAM entry, PROTO 129-132
    (UDP); pffindproto finds IPPROTO_UDP with SOCK_DGRAM."""
    for proto in (0, sock.IPPROTO_UDP):
        s = k.socket(AF, sock.SOCK_DGRAM, proto)
        assert s.getsockopt(sock.SOL_SOCKET, sock.SO_TYPE) == sock.SOCK_DGRAM
        assert s.getsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF) == 42080


@pytest.mark.parametrize("proto", [0, 17, 253, 255])
def test_raw_socket_any_protocol_for_root(k, proto):
    """DOM pffindproto 325-329: SOCK_RAW falls back to the wildcard raw
    entry (PROTO 325-327); RAW rip_attach 790-806 stores the protocol."""
    s = k.socket(AF, sock.SOCK_RAW, proto)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_TYPE) == sock.SOCK_RAW


def test_raw_socket_privilege_before_protocol_range(k):
    """RAW rip_attach 790-794: priv_check(PRIV_NETINET_RAW) first (EPERM for
    an unprivileged caller, whatever the protocol), then 0..255 else
    EPROTONOSUPPORT."""
    assert oserr(k.socket, AF, sock.SOCK_RAW, 253, uid=1000) == errno.EPERM
    assert oserr(k.socket, AF, sock.SOCK_RAW, 256, uid=1000) == errno.EPERM
    assert oserr(k.socket, AF, sock.SOCK_RAW, 256) == errno.EPROTONOSUPPORT
    assert oserr(k.socket, AF, sock.SOCK_RAW, -1) == errno.EPROTONOSUPPORT


def test_unprivileged_udp_socket(k):
    """udp_usrreq.c udp_attach 1420-1452: no privilege is checked."""
    s = k.socket(AF, sock.SOCK_DGRAM, uid=1000)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_TYPE) == sock.SOCK_DGRAM
