"""ICMP errors reported to UDP sockets: icmp_input() -> udp_ctlinput() ->
udp_notify(), and how so_error comes back out of recv/send/getsockopt
(netinet/ip_icmp.c, netinet/udp_usrreq.c, kern/uipc_socket.c; docs/sockets.md,
SO_ERROR; dossier 4.5.5, G4.4)."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import HOST, ICMP, IP, PEER, UDP, Raw, eth, udp_to

LPORT = 5000
FPORT = 7000


def _errno(fn, *args) -> int:
    try:
        fn(*args)
    except OSError as e:
        return int(e.errno or 0)
    return 0


def _connected(k):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", LPORT))
    s.connect((PEER, FPORT))
    return s


def _icmp_err(icmp_type, code, *, sport=LPORT, dport=FPORT, qsrc=HOST, qdst=PEER, **icmp):
    """An ICMP error from the peer quoting our datagram's header + 8 bytes."""
    quote = bytes(IP(src=qsrc, dst=qdst, id=0x1111) / UDP(sport=sport, dport=dport) / Raw(b"abcd"))
    return (
        eth() / IP(src=PEER, dst=HOST) / ICMP(type=icmp_type, code=code, **icmp) / Raw(quote[:28])
    )


ERRMAP = [
    (3, 0, errno.EHOSTUNREACH),
    (3, 1, errno.EHOSTUNREACH),
    (3, 2, errno.ECONNREFUSED),
    (3, 3, errno.ECONNREFUSED),
    (3, 4, errno.EMSGSIZE),
    (3, 5, errno.EHOSTUNREACH),
    (3, 6, errno.EHOSTUNREACH),
    (3, 7, errno.EHOSTUNREACH),
    (3, 8, errno.EHOSTUNREACH),
    (3, 9, errno.ECONNREFUSED),
    (3, 10, errno.ECONNREFUSED),
    (3, 11, errno.EHOSTUNREACH),
    (3, 12, errno.EHOSTUNREACH),
    (3, 13, errno.ECONNREFUSED),
    (3, 14, errno.EHOSTUNREACH),
    (3, 15, errno.EHOSTUNREACH),
    (11, 0, errno.EHOSTUNREACH),
    (12, 0, errno.ENOPROTOOPT),
    (12, 1, errno.ENOPROTOOPT),
]


@pytest.mark.parametrize(("icmp_type", "code", "want"), ERRMAP)
def test_inetctlerrmap(k, icmp_type, code, want):
    """icmp_input maps type/code to a PRC command; udp_ctlinput looks up the
    exactly connected pcb and udp_notify sets so_error = inetctlerrmap[cmd];
    getsockopt(SO_ERROR) reads and clears it."""
    s = _connected(k)
    k.input("em0", _icmp_err(icmp_type, code))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == want
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


@pytest.mark.parametrize(
    ("icmp_type", "code"),
    [(11, 1), (4, 0), (3, 16)],
    ids=["timxceed-reass", "source-quench", "unreach-badcode"],
)
def test_ignored_errors(k, icmp_type, code):
    """udp_ctlinput: PRC_TIMXCEED_REASS and PRC_QUENCH map to 0 and are
    ignored; an unknown unreachable code never reaches udp_ctlinput."""
    s = _connected(k)
    k.input("em0", _icmp_err(icmp_type, code))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


def test_port_unreach_counters(k, delta):
    """icmp_input: the error is counted in icps_inhist[3], then handed to
    rip_input, which with no raw socket undoes ips_delivered and counts
    ips_noproto (Errata 4); no answer is sent."""
    _connected(k)
    with delta(k) as d:
        k.input("em0", _icmp_err(3, 3))
    assert d == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {"icps_inhist[3]": 1},
    }
    assert k.transmitted("em0") == []


def test_error_returned_by_recv_once(k):
    """soreceive_dgram: an empty queue with so_error set returns the error
    and clears it; the next recv is EAGAIN."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 3))
    assert _errno(s.recv, 100) == errno.ECONNREFUSED
    assert _errno(s.recv, 100) == errno.EAGAIN


def test_queued_data_before_error(k):
    """soreceive_dgram: queued datagrams are returned before a pending
    so_error."""
    s = _connected(k)
    k.input("em0", udp_to(LPORT, sport=FPORT, data=b"first"))
    k.input("em0", _icmp_err(3, 3))
    assert s.recv(100) == b"first"
    assert _errno(s.recv, 100) == errno.ECONNREFUSED
    assert _errno(s.recv, 100) == errno.EAGAIN


def test_peek_does_not_clear_error(k):
    """soreceive_generic (MSG_PEEK): so_error is returned but kept."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 3))
    assert _errno(s.recv, 100, S.MSG_PEEK) == errno.ECONNREFUSED
    assert _errno(s.recv, 100) == errno.ECONNREFUSED
    assert _errno(s.recv, 100) == errno.EAGAIN


def test_error_returned_by_next_send_once(k, delta):
    """sosend_dgram: so_error is returned (and cleared) before anything is
    sent; the following send goes out."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 4))
    with delta(k) as d:
        assert _errno(s.send, b"x") == errno.EMSGSIZE
    assert d == {}
    assert k.transmitted("em0") == []
    assert s.send(b"x") == 1
    assert len(k.transmitted("em0")) == 1


def test_later_error_overwrites(k):
    """udp_notify: so_error = errno overwrites an unread earlier error."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 3))
    k.input("em0", _icmp_err(3, 1))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == errno.EHOSTUNREACH


def test_connect_discards_pending_error(k):
    """soconnect: so_error = 0 before pru_connect."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 3))
    s.connect((PEER, FPORT))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


def test_unconnected_socket_never_notified(k):
    """udp_ctlinput: in_pcblookup without INPLOOKUP_WILDCARD -> a socket
    bound to the quoted local port but not connected gets nothing."""
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", LPORT))
    s.sendto(b"x", (PEER, FPORT))
    k.input("em0", _icmp_err(3, 3))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0
    assert _errno(s.recv, 100) == errno.EAGAIN


@pytest.mark.parametrize(
    "quote",
    [
        {"sport": LPORT + 1},
        {"dport": FPORT + 1},
        {"qdst": "192.0.2.8"},
        {"qsrc": "198.51.100.1"},
    ],
    ids=["other-lport", "other-fport", "other-faddr", "other-laddr"],
)
def test_other_4tuple_not_notified(k, quote):
    """udp_ctlinput: the quoted (dst, dport, src, sport) must equal the
    pcb's (faddr, fport, laddr, lport) exactly."""
    s = _connected(k)
    k.input("em0", _icmp_err(3, 3, **quote))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


def test_error_for_implicitly_bound_peer_after_reply(k):
    """udp_ctlinput + connect: a socket connected with an ephemeral port is
    found by its quoted source port (G4.4 flow: send, then needfrag)."""
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.connect((PEER, FPORT))
    port = s.getsockname()[1]
    s.send(b"x" * 100)
    k.transmitted("em0")
    k.input("em0", _icmp_err(3, 4, sport=port, nexthopmtu=1200))
    assert _errno(s.recv, 100) == errno.EMSGSIZE
    # No PMTU is learnt for UDP: the next datagram still uses MTU 1500.
    s.send(b"y" * 1400)
    (f,) = k.transmitted("em0")
    assert len(f) == 14 + 20 + 8 + 1400
