"""Source address selection for jailed sockets (in_pcb.c in_pcbladdr,
in_pcbconnect_setup, in_pcbbind_setup; udp_usrreq.c udp_output; raw_ip.c
rip_output, rip_bind; kern_jail.c prison_*_ip4), FreeBSD 9.0.

Jails: S = single address 192.0.2.2 (on em0); M = primary 192.0.2.3 (on
em0) and secondary 198.51.100.2 (on em1). Expectations follow in_pcbladdr:
the route's interface address if it is the jail's, else the jail's first
address on that interface, else the primary."""

from __future__ import annotations

import errno

import pytest

from conformance.jail.helpers import (
    A2,
    A3,
    B2,
    BCAST0,
    FAR,
    GROUP,
    HOST,
    PEER,
    REMOTE,
    hdrincl,
    host,
    raw_socket,
    sent,
    udp_socket,
)
from kstack import sock

S = [A2]
M = [A3, B2]


def _err(fn, *a, **kw):
    with pytest.raises(OSError) as e:
        fn(*a, **kw)
    return e.value.errno


def _jail(ip4, **kw):
    k = host()
    return k, k.jail("j", ip4=ip4, allow_raw_sockets=True, **kw)


# destination -> (interface it leaves by, expected source) per jail
UDP_CASES = [
    ("S", PEER, "em0", A2),  # connected route on em0: the jail's address there
    ("S", FAR, "em1", A2),  # em1 has no S address: the primary
    ("S", REMOTE, "em0", A2),  # default route via em0
    ("M", PEER, "em0", A3),
    ("M", FAR, "em1", B2),  # the secondary on em1 wins over the primary
    ("M", REMOTE, "em0", A3),
]


@pytest.mark.parametrize("jail,dst,iface,src", UDP_CASES)
def test_udp_unbound_source(jail, dst, iface, src):
    """in_pcbladdr (restricted): the route's ifa if it is a jail address,
    else the first jail address on the route's interface, else the primary."""
    k, j = _jail(S if jail == "S" else M)
    s = udp_socket(j)
    s.sendto(b"q", (dst, 9))
    assert sent(k, iface) == [(src, dst)]


@pytest.mark.parametrize("jail,dst,iface,src", UDP_CASES)
def test_udp_nosaddrsel_uses_primary(jail, dst, iface, src):
    """in_pcbladdr: with ip4.nosaddrsel the primary, without looking at
    the route (which still decides the interface in ip_output)."""
    k, j = _jail(S if jail == "S" else M, saddrsel=False)
    s = udp_socket(j)
    s.sendto(b"q", (dst, 9))
    primary = A2 if jail == "S" else A3
    assert sent(k, iface) == [(primary, dst)]


def test_udp_implicit_bind_latches_source():
    """udp_output: in a jail with restricted addresses the implicit bind of
    the first sendto keeps the chosen source as the local address."""
    k, j = _jail(M)
    s = udp_socket(j)
    s.sendto(b"q", (FAR, 9))
    addr, port = s.getsockname()
    assert addr == B2 and port >= 10000
    s.sendto(b"r", (PEER, 9))
    assert sent(k, "em1") == [(B2, FAR)]
    assert sent(k, "em0") == [(B2, PEER)]


def test_udp_host_implicit_bind_stays_wildcard():
    """udp_output: an unjailed socket's implicit bind leaves laddr wildcard."""
    k = host()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"q", (FAR, 9))
    assert s.getsockname()[0] == "0.0.0.0"


@pytest.mark.parametrize("jail,primary", [("S", A2), ("M", A3)])
def test_udp_to_localhost_goes_to_primary(jail, primary):
    """udp_output: prison_remote_ip4 turns 127.0.0.1 into the primary, and
    in_pcbladdr picks the primary as source: a jailed receiver bound to
    127.0.0.1 (that is, to the primary) gets the datagram from the primary.
    (The primary is an alias of em0 here: ether_output loops it back.)"""
    k, j = _jail(S if jail == "S" else M)
    r = udp_socket(j)
    r.bind(("127.0.0.1", 9))
    assert r.getsockname() == (primary, 9)
    s = udp_socket(j)
    s.sendto(b"q", ("127.0.0.1", 9))
    k.advance(0)
    data, (src, _port) = r.recvfrom(10)
    assert (data, src) == (b"q", primary)


def test_udp_connect_to_zero_goes_to_primary():
    """in_pcbconnect_setup: a connect to 0.0.0.0 is to the first host
    address, replaced in a jail by the primary (prison_get_ip4)."""
    k, j = _jail(M)
    s = udp_socket(j)
    s.connect(("0.0.0.0", 9))
    assert s.getpeername() == (A3, 9)


def test_udp_broadcast_source():
    """in_pcbladdr: a subnet broadcast is routed by the connected route of
    em0; the jail's address on em0 is the source; SO_BROADCAST needed."""
    k, j = _jail(M)
    s = udp_socket(j)
    assert _err(s.sendto, b"q", (BCAST0, 9)) == errno.EACCES
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.sendto(b"q", (BCAST0, 9))
    assert sent(k, "em0") == [(A3, BCAST0)]


def test_udp_multicast_source_by_route():
    """in_pcbladdr: a multicast destination follows the route (default via
    em0): the jail's address on em0."""
    k, j = _jail(M)
    s = udp_socket(j)
    s.sendto(b"q", (GROUP, 9))
    assert sent(k, "em0") == [(A3, GROUP)]


def test_udp_multicast_if_without_jail_address_eaddrnotavail():
    """in_pcbconnect_setup: with IP_MULTICAST_IF the source is the first
    address of that interface the jail may use; none -> EADDRNOTAVAIL."""
    k, j = _jail(S)
    s = udp_socket(j)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, sock._in_addr("198.51.100.1"))
    assert _err(s.sendto, b"q", (GROUP, 9)) == errno.EADDRNOTAVAIL


def test_udp_multicast_if_with_jail_address():
    """in_pcbconnect_setup: the jail's address on the IP_MULTICAST_IF
    interface is the source."""
    k, j = _jail(M)
    s = udp_socket(j)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, sock._in_addr("198.51.100.1"))
    s.sendto(b"q", (GROUP, 9))
    assert sent(k, "em1") == [(B2, GROUP)]


# -- bind ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "jail,addr,result",
    [
        ("S", "0.0.0.0", A2),  # a single-address jail binds its address
        ("M", "0.0.0.0", "0.0.0.0"),  # several: the wildcard stays
        ("S", "127.0.0.1", A2),
        ("M", "127.0.0.1", A3),
        ("M", B2, B2),
        ("M", "127.0.0.2", errno.EADDRNOTAVAIL),
        ("M", HOST, errno.EADDRNOTAVAIL),
        ("M", GROUP, errno.EADDRNOTAVAIL),  # a group is no jail address
    ],
)
def test_udp_bind(jail, addr, result):
    """in_pcbbind_setup: prison_local_ip4 rewrites 127.0.0.1 (and 0.0.0.0
    in a single-address jail) to the primary and refuses other addresses
    that are not the jail's (EADDRNOTAVAIL)."""
    k, j = _jail(S if jail == "S" else M)
    s = udp_socket(j)
    if isinstance(result, int):
        assert _err(s.bind, (addr, 5000)) == result
    else:
        s.bind((addr, 5000))
        assert s.getsockname() == (result, 5000)


def test_udp_bind_jail_address_not_configured():
    """in_pcbbind_setup: a jail address must still be configured on an
    interface (EADDRNOTAVAIL)."""
    k = host()
    j = k.jail("j", ip4=["192.0.2.44"])
    assert _err(udp_socket(j).bind, ("192.0.2.44", 5000)) == errno.EADDRNOTAVAIL


@pytest.mark.parametrize("uid,want", [(0, 0), (1000, errno.EACCES)])
def test_reserved_port_in_jail(uid, want):
    """in_pcbbind_setup: ports 0..1023 need PRIV_NETINET_RESERVEDPORT, which
    a jail's root keeps; others get EACCES."""
    k, j = _jail(S)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=uid)
    if want:
        assert _err(s.bind, ("0.0.0.0", 53)) == want
    else:
        s.bind(("0.0.0.0", 53))
        assert s.getsockname() == (A2, 53)


@pytest.mark.parametrize(
    "addr,want",
    [
        ("0.0.0.0", errno.EADDRNOTAVAIL),
        ("127.0.0.1", errno.EADDRNOTAVAIL),
        (B2, 0),
        (HOST, errno.EADDRNOTAVAIL),
    ],
)
def test_raw_bind(addr, want):
    """rip_bind: prison_check_ip4 first: the wildcard and 127.0.0.1 are not
    jail addresses (EADDRNOTAVAIL)."""
    k, j = _jail(M)
    s = raw_socket(j)
    if want:
        assert _err(s.bind, (addr, 0)) == want
    else:
        s.bind((addr, 0))


# -- raw output ------------------------------------------------------------------------


@pytest.mark.parametrize("dst,iface", [(PEER, "em0"), (FAR, "em1"), (REMOTE, "em0")])
def test_raw_unbound_sends_from_primary(dst, iface):
    """rip_output: an unbound jailed raw socket sends from the primary
    (prison_get_ip4), whatever the route; no source selection."""
    k, j = _jail(M)
    raw_socket(j).sendto(b"r", (dst, 0))
    assert sent(k, iface) == [(A3, dst)]


def test_raw_bound_sends_from_bound_address():
    """rip_output: a bound jailed raw socket (ping -S) sends from its
    address (prison_local_ip4 keeps it)."""
    k, j = _jail(M)
    s = raw_socket(j)
    s.bind((B2, 0))
    s.sendto(b"r", (PEER, 0))
    assert sent(k, "em0") == [(B2, PEER)]


@pytest.mark.parametrize(
    "src,want", [(B2, B2), (A3, A3), ("0.0.0.0", errno.EADDRNOTAVAIL), (HOST, errno.EADDRNOTAVAIL)]
)
def test_raw_hdrincl_source(src, want):
    """rip_output (IP_HDRINCL): prison_check_ip4 on ip_src: any of the
    jail's addresses is sent as is; 0.0.0.0 or a host address is
    EADDRNOTAVAIL."""
    k, j = _jail(M)
    s = raw_socket(j)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    if isinstance(want, int):
        assert _err(s.sendto, hdrincl(src, PEER), (PEER, 0)) == want
        assert sent(k, "em0") == []
    else:
        s.sendto(hdrincl(src, PEER), (PEER, 0))
        assert sent(k, "em0") == [(want, PEER)]


def test_raw_hdrincl_checked_before_length():
    """rip_output: the source check comes before the ip_len checks."""
    k, j = _jail(M)
    s = raw_socket(j)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    bad = bytearray(hdrincl(HOST, PEER))
    bad[2:4] = (999).to_bytes(2, "little")
    assert _err(s.sendto, bytes(bad), (PEER, 0)) == errno.EADDRNOTAVAIL


def test_unrestricted_inherit_jail_behaves_as_host():
    """ip4=inherit: no PR_IP4, every helper passes: the route's address."""
    k = host()
    j = k.jail("j", ip4="inherit")
    udp_socket(j).sendto(b"q", (FAR, 9))
    assert sent(k, "em1") == [("198.51.100.1", FAR)]


def test_unconfigured_primary_is_still_the_source():
    """in_pcbladdr: when no jail address is on the route's interface the
    primary is used even if no interface has it."""
    k = host()
    j = k.jail("j", ip4=["10.99.0.1"])
    udp_socket(j).sendto(b"q", (PEER, 9))
    assert sent(k, "em0") == [("10.99.0.1", PEER)]
