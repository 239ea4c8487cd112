"""udp_input() broadcast fan-out (netinet/udp_usrreq.c; docs/sockets.md,
"Lookups, ports and connection groups"; dossier 6.8.2-4):
every matching socket, newest first, for as long as the matched socket
allows sharing with SO_REUSEADDR or SO_REUSEPORT."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import BCAST_MAC, HOST, PEER, udp_to

BCASTS = ["255.255.255.255", "192.0.2.255"]


def _bound(k, addr="0.0.0.0", port=5000, opts=(S.SO_REUSEPORT,)):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    for o in opts:
        s.setsockopt(S.SOL_SOCKET, o, 1)
    s.bind((addr, port))
    return s


def _got(s) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(2048))
        except BlockingIOError as e:
            assert e.errno == errno.EAGAIN
            return out


def _bcast(k, dst, data=b"b", **kw):
    return k.input("em0", udp_to(5000, dst=dst, eth_dst=BCAST_MAC, data=data, **kw))


@pytest.mark.parametrize("dst", BCASTS)
def test_every_sharing_socket_gets_a_copy(k, delta, dst):
    """udp_input: all three SO_REUSEPORT sockets on the port receive the
    broadcast; none needs SO_BROADCAST to receive."""
    socks = [_bound(k) for _ in range(3)]
    with delta(k) as d:
        _bcast(k, dst)
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "udp": {"udps_ipackets": 1}}
    assert [_got(s) for s in socks] == [[b"b"], [b"b"], [b"b"]]
    assert k.transmitted("em0") == []


@pytest.mark.parametrize("dst", BCASTS)
def test_newest_socket_without_reuse_stops_the_scan(k, dst):
    """udp_input: the scan is newest first; the newest socket lacks
    SO_REUSEADDR/SO_REUSEPORT (cleared after binding) -> only it receives."""
    a, b, c = (_bound(k) for _ in range(3))
    c.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 0)
    _bcast(k, dst)
    assert (_got(a), _got(b), _got(c)) == ([], [], [b"b"])


def test_middle_socket_without_reuse_stops_the_scan(k):
    """udp_input: newest (sharing) and middle (not sharing) receive; the
    oldest is never reached."""
    a, b, c = (_bound(k) for _ in range(3))
    b.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 0)
    _bcast(k, "192.0.2.255")
    assert (_got(a), _got(b), _got(c)) == ([], [b"b"], [b"b"])


def test_reuseaddr_also_continues_the_scan(k):
    """udp_input: SO_REUSEADDR on the matched socket is enough to go on."""
    a = _bound(k, opts=(S.SO_REUSEPORT,))
    b = _bound(k, opts=(S.SO_REUSEPORT,))
    b.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 0)
    b.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    _bcast(k, "255.255.255.255")
    assert (_got(a), _got(b)) == ([b"b"], [b"b"])


def test_socket_bound_to_unicast_address_skipped(k, delta):
    """udp_input: inp_laddr set and != ip_dst -> not a match; the wildcard
    socket (oldest, without reuse options) still gets it."""
    w = _bound(k, opts=())
    u = _bound(k, HOST, opts=(S.SO_REUSEADDR,))
    _bcast(k, "192.0.2.255")
    assert (_got(w), _got(u)) == ([b"b"], [])


def test_socket_bound_to_broadcast_address_matches(k):
    """in_pcbbind_setup accepts an interface broadcast address
    (ifa_ifwithaddr matches ifa_broadaddr); udp_input then matches laddr ==
    ip_dst for a subnet broadcast, and skips it for 255.255.255.255."""
    s = _bound(k, "192.0.2.255", opts=())
    _bcast(k, "192.0.2.255", data=b"subnet")
    _bcast(k, "255.255.255.255", data=b"all-ones")
    assert _got(s) == [b"subnet"]


def test_connected_socket_never_gets_broadcast(k):
    """udp_connect latches inp_laddr (192.0.2.1), and udp_input requires
    laddr ANY or == ip_dst: a connected socket hears no broadcast even from
    its peer; the wildcard socket does."""
    w = _bound(k)
    c = _bound(k)
    c.connect((PEER, 7000))
    assert c.getsockname() == (HOST, 5000)
    _bcast(k, "255.255.255.255", data=b"from-peer", sport=7000)
    assert (_got(w), _got(c)) == ([b"from-peer"], [])


def test_minttl_ignored_for_broadcast(k):
    """udp_input: IP_MINTTL is not checked on the broadcast path."""
    s = _bound(k, opts=())
    s.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 255)
    _bcast(k, "255.255.255.255", ttl=1)
    assert _got(s) == [b"b"]


def test_broadcast_fullsock_per_socket(k, delta):
    """udp_append: each copy is appended on its own; a full socket counts
    udps_fullsock while the others still receive."""
    a = _bound(k)
    b = _bound(k)
    b.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 16)
    with delta(k) as d:
        _bcast(k, "192.0.2.255")
    assert d["udp"] == {"udps_ipackets": 1, "udps_fullsock": 1}
    assert (_got(a), _got(b)) == ([b"b"], [])


def test_other_port_not_matched(k, delta):
    """udp_input: lport must equal uh_dport; nobody -> udps_noportbcast."""
    s = _bound(k, port=5001)
    with delta(k) as d:
        _bcast(k, "192.0.2.255")
    assert d["udp"] == {"udps_ipackets": 1, "udps_noportbcast": 1}
    assert _got(s) == []


def test_a_slash_32_alias_is_unicast(k, delta):
    """in_broadcast: an address with an all-ones mask (an alias added as
    /32) is never a broadcast address, although its broadcast field holds
    the address itself; udp_input takes the unicast path, so of two sharing
    wildcard sockets only one (the oldest: the last met on the hash chain)
    gets the datagram."""
    k.ifconfig("em0", "192.0.2.50/32", alias=True)
    a = _bound(k)
    b = _bound(k)
    with delta(k) as d:
        k.input("em0", udp_to(5000, dst="192.0.2.50", data=b"u"))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "udp": {"udps_ipackets": 1}}
    assert (_got(a), _got(b)) == ([b"u"], [])
