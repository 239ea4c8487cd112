"""Receive path: soreceive_dgram (UDP), soreceive_generic (raw and UDP with
MSG_PEEK/MSG_OOB) in kern/uipc_socket.c, kern_recvit (kern/uipc_syscalls.c),
getsockname/getpeername; sheet section 3."""

from __future__ import annotations

import errno
import socket as pysocket

import pytest

from kstack import sock as S
from kstack.testing import HOST, PEER

from .helpers import UDP_PORT, connected_udp, port_unreach, raw, udp, udp_from_peer

LO = "127.0.0.1"


def _pair(k):
    """A receiver bound to 127.0.0.1:5000 and a sender bound to 127.0.0.1:6000."""
    r = udp(k)
    r.bind((LO, UDP_PORT))
    c = udp(k)
    c.bind((LO, 6000))
    return r, c


def _loop(k, c, data: bytes) -> None:
    c.sendto(data, (LO, UDP_PORT))
    k.advance(0)


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_empty_queue_eagain(k, kind):
    """soreceive_dgram/soreceive_generic: empty queue -> EWOULDBLOCK (kstack
    never blocks, so a blocking socket gets it too) as BlockingIOError."""
    s = udp(k) if kind == "udp" else raw(k)
    with pytest.raises(BlockingIOError) as ei:
        s.recv(100)
    assert ei.value.errno == errno.EAGAIN


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_empty_queue_msg_dontwait(k, kind):
    """soreceive_dgram/soreceive_generic: MSG_DONTWAIT on an empty queue ->
    EWOULDBLOCK, also through recvmsg."""
    s = udp(k) if kind == "udp" else raw(k)
    s.setblocking(False)
    with pytest.raises(BlockingIOError) as ei:
        s.recvmsg(100, 0, S.MSG_DONTWAIT)
    assert ei.value.errno == errno.EAGAIN


def test_recvfrom_loopback_address(k):
    """soreceive_dgram: the MT_SONAME record gives the sender's address and
    port; the loopback send is queued on the netisr until k.advance(0)."""
    r, c = _pair(k)
    c.sendto(b"hello", (LO, UDP_PORT))
    with pytest.raises(BlockingIOError):
        r.recv(100)
    k.advance(0)
    assert r.recvfrom(100) == (b"hello", (LO, 6000))


def test_recvfrom_peer_address(k):
    """soreceive_dgram: recvfrom on a datagram from em0 returns (PEER, sport)."""
    s = udp(k)
    s.bind(("", UDP_PORT))
    k.input("em0", udp_from_peer(UDP_PORT, sport=4444, data=b"wxyz"))
    assert s.recvfrom(100) == (b"wxyz", (PEER, 4444))


def test_peek_leaves_datagram_and_copies_control(k):
    """soreceive_generic (UDP falls back to it for MSG_PEEK): the datagram
    stays queued and copies of its control messages are returned each
    time; the following plain receive returns them again and dequeues."""
    r, c = _pair(k)
    r.setsockopt(S.IPPROTO_IP, S.IP_RECVDSTADDR, 1)
    _loop(k, c, b"peek")
    cm = [(S.IPPROTO_IP, S.IP_RECVDSTADDR, pysocket.inet_aton(LO))]
    assert r.recvmsg(100, 256, S.MSG_PEEK) == (b"peek", cm, S.MSG_PEEK, (LO, 6000))
    assert r.recvmsg(100, 256, S.MSG_PEEK) == (b"peek", cm, S.MSG_PEEK, (LO, 6000))
    assert r.recvmsg(100, 256) == (
        b"peek",
        [(S.IPPROTO_IP, S.IP_RECVDSTADDR, pysocket.inet_aton(LO))],
        0,
        (LO, 6000),
    )
    with pytest.raises(BlockingIOError):
        r.recv(100)


def test_msg_trunc_output_rest_discarded(k):
    """soreceive_dgram: a short buffer gets the head, msg_flags has
    MSG_TRUNC and the rest of the datagram is discarded."""
    r, c = _pair(k)
    _loop(k, c, b"0123456789")
    _loop(k, c, b"next")
    assert r.recvmsg(4) == (b"0123", [], S.MSG_TRUNC, (LO, 6000))
    assert r.recvmsg(100) == (b"next", [], 0, (LO, 6000))


def test_peek_truncated_keeps_whole_datagram(k):
    """soreceive_generic: MSG_PEEK with a short buffer sets MSG_TRUNC but
    leaves the whole datagram queued."""
    r, c = _pair(k)
    _loop(k, c, b"0123456789")
    assert r.recvmsg(4, 0, S.MSG_PEEK) == (b"0123", [], S.MSG_PEEK | S.MSG_TRUNC, (LO, 6000))
    assert r.recv(100) == b"0123456789"


@pytest.mark.parametrize("flags", [S.MSG_DONTWAIT, S.MSG_WAITALL, S.MSG_DONTWAIT | S.MSG_PEEK])
def test_msg_flags_echo_input_flags(k, flags):
    """kern_recvit: msg_flags starts as the caller's flags and the socket
    layer ORs results in, so recvmsg returns the input flags."""
    r, c = _pair(k)
    _loop(k, c, b"abc")
    assert r.recvmsg(100, 0, flags) == (b"abc", [], flags, (LO, 6000))


def test_msg_trunc_input_not_interpreted(k):
    """soreceive_dgram: MSG_TRUNC as an input flag is not interpreted (no
    Linux-style full length): 4 bytes come back, the flag is merely
    echoed; a datagram that fits also reads MSG_TRUNC (echo)."""
    r, c = _pair(k)
    _loop(k, c, b"0123456789")
    _loop(k, c, b"ab")
    data, anc, flags, _ = r.recvmsg(4, 0, S.MSG_TRUNC)
    assert (data, anc, flags) == (b"0123", [], S.MSG_TRUNC)
    assert len(data) == 4
    assert r.recvmsg(100, 0, S.MSG_TRUNC) == (b"ab", [], S.MSG_TRUNC, (LO, 6000))


def test_zero_length_datagram(k):
    """soreceive_dgram: a zero-length datagram reads as b'' without
    MSG_TRUNC and is consumed."""
    r, c = _pair(k)
    _loop(k, c, b"")
    assert r.recvmsg(100) == (b"", [], 0, (LO, 6000))
    with pytest.raises(BlockingIOError):
        r.recv(100)


def test_recv_zero_empty_queue(k):
    """soreceive_dgram: uio_resid == 0 on an empty queue returns 0 bytes at
    once (no EWOULDBLOCK)."""
    s = udp(k)
    assert s.recv(0) == b""
    assert s.recvmsg(0) == (b"", [], 0, None)


def test_recv_zero_consumes_datagram(k):
    """soreceive_dgram: uio_resid == 0 with a datagram queued consumes it,
    returns 0 bytes and MSG_TRUNC."""
    r, c = _pair(k)
    _loop(k, c, b"abc")
    assert r.recvmsg(0) == (b"", [], S.MSG_TRUNC, (LO, 6000))
    with pytest.raises(BlockingIOError):
        r.recv(100)


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_msg_oob_eopnotsupp(k, kind):
    """soreceive_rcvoob: datagram protocols have no pru_rcvoob -> EOPNOTSUPP."""
    s = udp(k) if kind == "udp" else raw(k)
    with pytest.raises(OSError) as ei:
        s.recv(100, S.MSG_OOB)
    assert ei.value.errno == errno.EOPNOTSUPP


def test_msg_oob_with_oobinline_einval(k):
    """soreceive_rcvoob: SO_OOBINLINE set -> EINVAL first."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_OOBINLINE, 1)
    with pytest.raises(OSError) as ei:
        s.recv(100, S.MSG_OOB)
    assert ei.value.errno == errno.EINVAL


def test_queued_data_before_so_error(k):
    """soreceive_dgram: queued data is returned before a pending so_error;
    the error is then returned once and cleared."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    k.input("em0", udp_from_peer(lport, data=b"data"))
    k.input("em0", port_unreach(lport))
    assert s.recv(100) == b"data"
    with pytest.raises(ConnectionRefusedError) as ei:
        s.recv(100)
    assert ei.value.errno == errno.ECONNREFUSED
    with pytest.raises(BlockingIOError):
        s.recv(100)


def test_peek_does_not_clear_so_error(k):
    """soreceive_generic: with MSG_PEEK the pending so_error is returned but
    not cleared."""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            s.recv(100, S.MSG_PEEK)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == errno.ECONNREFUSED


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_getpeername_unconnected_enotconn(k, kind):
    """kern_getpeername: not SS_ISCONNECTED -> ENOTCONN."""
    s = udp(k) if kind == "udp" else raw(k)
    with pytest.raises(OSError) as ei:
        s.getpeername()
    assert ei.value.errno == errno.ENOTCONN


def test_getsockname_states(k):
    """udp_sockaddr/in_pcbconnect: unbound 0.0.0.0:0; connect picks the
    source address (HOST) and an ephemeral port; getpeername the peer."""
    s = udp(k)
    assert s.getsockname() == ("0.0.0.0", 0)
    s.connect((PEER, 53))
    host, port = s.getsockname()
    assert host == HOST
    assert 10000 < port <= 65535
    assert s.getpeername() == (PEER, 53)


def test_getsockname_bound(k):
    """in_pcbbind: getsockname returns the bound address and port."""
    s = udp(k)
    s.bind((HOST, UDP_PORT))
    assert s.getsockname() == (HOST, UDP_PORT)
