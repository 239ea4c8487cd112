"""socket(2): socreate() (kern/uipc_socket.c), pffindproto/pffindtype
(kern/uipc_domain.c), udp_attach() and rip_attach() (sheet section 1)."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S


@pytest.mark.parametrize(
    ("family", "type_", "proto"),
    [
        (99, S.SOCK_DGRAM, 0),  # no such domain
        (S.AF_UNSPEC, S.SOCK_DGRAM, 0),  # pffindtype finds no domain 0
        (S.AF_INET, 99, 0),  # unknown type
        (S.AF_INET, 0, 0),  # type 0 entries are never matched
        (S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_TCP),  # no (DGRAM, 6) entry
        (S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_RAW),
        (S.AF_INET, S.SOCK_STREAM, S.IPPROTO_UDP),
    ],
    ids=["family99", "AF_UNSPEC", "type99", "type0", "dgram-tcp", "dgram-255", "stream-udp"],
)
def test_socket_eprotonosupport(k, family, type_, proto):
    """socreate: no protosw for (family, type, protocol) -> EPROTONOSUPPORT,
    an unknown address family included (9.1 socreate never returns
    EAFNOSUPPORT)."""
    with pytest.raises(OSError) as ei:
        k.socket(family, type_, proto)
    assert ei.value.errno == errno.EPROTONOSUPPORT


@pytest.mark.parametrize("proto", [253, 300, -1, 0, 255])
def test_raw_socket_unprivileged_eperm(k, proto):
    """rip_attach: priv_check(PRIV_NETINET_RAW) comes before the protocol
    range test, so uid 1 gets EPERM even for protocol 300 or -1."""
    with pytest.raises(PermissionError) as ei:
        k.socket(S.AF_INET, S.SOCK_RAW, proto, uid=1)
    assert ei.value.errno == errno.EPERM


@pytest.mark.parametrize("proto", [256, 300, -1])
def test_raw_socket_protocol_out_of_range(k, proto):
    """rip_attach: root, protocol < 0 or >= IPPROTO_MAX -> EPROTONOSUPPORT
    (reached through the raw wildcard protosw)."""
    with pytest.raises(OSError) as ei:
        k.socket(S.AF_INET, S.SOCK_RAW, proto)
    assert ei.value.errno == errno.EPROTONOSUPPORT


def test_udp_socket_unprivileged_ok(k):
    """udp_attach: no privilege check; uid 1 gets a UDP socket."""
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_UDP, uid=1)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_TYPE) == S.SOCK_DGRAM


@pytest.mark.parametrize(
    ("type_", "proto", "so_type", "so_protocol"),
    [
        (S.SOCK_DGRAM, 0, S.SOCK_DGRAM, 17),
        (S.SOCK_DGRAM, 17, S.SOCK_DGRAM, 17),
        (S.SOCK_RAW, 0, S.SOCK_RAW, 255),  # pffindtype -> IPPROTO_RAW entry
        (S.SOCK_RAW, 255, S.SOCK_RAW, 255),
        (S.SOCK_RAW, 1, S.SOCK_RAW, 1),  # ICMP has its own entry
        (S.SOCK_RAW, 253, S.SOCK_RAW, 0),  # raw wildcard entry, pr_protocol 0
    ],
    ids=["udp0", "udp17", "raw0", "raw255", "raw1", "raw253"],
)
@pytest.mark.parametrize("profile", ["9.0", "9.1"], indirect=True)
def test_so_type_and_so_protocol(k, profile, type_, proto, so_type, so_protocol):
    """sogetopt SO_TYPE (so_type) and SO_PROTOCOL (the protosw's
    pr_protocol, not inp_ip_p: 255 for SOCK_RAW 0, 0 for the wildcard).
    SO_PROTOCOL reached head in February 2012, after 9.0: 9.0's sogetopt
    has no case for it (ENOPROTOOPT); 9.1 answers."""
    s = k.socket(S.AF_INET, type_, proto)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_TYPE) == so_type
    if profile == "9.0":
        with pytest.raises(OSError) as e:
            s.getsockopt(S.SOL_SOCKET, S.SO_PROTOCOL)
        assert e.value.errno == errno.ENOPROTOOPT
    else:
        assert s.getsockopt(S.SOL_SOCKET, S.SO_PROTOCOL) == so_protocol
