"""shutdown(2): soshutdown/sorflush (kern/uipc_socket.c), udp_shutdown,
rip_shutdown; close(2): soclose -> udp_detach; connect(2): soconnect ->
udp_connect/in_pcbconnect_setup; sheet sections 5 and 8."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import HOST, PEER

from .helpers import UDP_PORT, connected_udp, port_unreach, raw, udp, udp_from_peer

AF_UNSPEC_SA = bytes((16, S.AF_UNSPEC)) + bytes(14)


@pytest.mark.parametrize("how", [3, -1, 100])
def test_shutdown_bad_how_einval(k, how):
    """soshutdown: how not SHUT_RD/SHUT_WR/SHUT_RDWR -> EINVAL."""
    with pytest.raises(OSError) as ei:
        udp(k).shutdown(how)
    assert ei.value.errno == errno.EINVAL


@pytest.mark.parametrize("kind", ["udp", "raw"])
@pytest.mark.parametrize("how", [S.SHUT_RD, S.SHUT_WR, S.SHUT_RDWR])
def test_shutdown_unconnected_succeeds(k, kind, how):
    """soshutdown: 9.1 has no ENOTCONN test; shutdown of an unconnected
    datagram socket succeeds."""
    s = udp(k) if kind == "udp" else raw(k)
    s.shutdown(how)


def _bound(k):
    s = udp(k)
    s.bind(("", UDP_PORT))
    return s


def test_shut_rd_discards_queue_and_reads_eof(k):
    """sorflush: queued datagrams are freed and SBS_CANTRCVMORE makes
    soreceive_dgram return 0 bytes at once, even with MSG_DONTWAIT."""
    s = _bound(k)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"queued"))
    s.shutdown(S.SHUT_RD)
    assert s.recv(100) == b""
    assert s.recv(100, S.MSG_DONTWAIT) == b""
    assert s.recvmsg(100, 0, S.MSG_DONTWAIT) == (b"", [], S.MSG_DONTWAIT, None)


def test_shut_rd_zeroes_rcvbuf(k):
    """sorflush zeroes the sockbuf from sb_startzero: SO_RCVBUF and
    SO_RCVLOWAT read 0; the send side keeps its defaults."""
    s = _bound(k)
    s.shutdown(S.SHUT_RD)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVLOWAT) == 0
    assert s.getsockopt(S.SOL_SOCKET, S.SO_SNDBUF) == 9216


def test_shut_rd_later_datagrams_fullsock(k, delta):
    """udp_input/udp_append after SHUT_RD: the socket still matches (no ICMP
    port unreachable) but sbappendaddr fails on hiwat 0: udps_fullsock +1."""
    s = _bound(k)
    s.shutdown(S.SHUT_RD)
    with delta(k) as d:
        k.input("em0", udp_from_peer(UDP_PORT))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_fullsock": 1},
    }
    assert k.transmitted("em0") == []
    assert s.recv(100) == b""


def test_shut_rd_rcvbuf_can_be_re_reserved_but_eof_stays(k):
    """sorflush leaves SBS_CANTRCVMORE: a new SO_RCVBUF reservation is
    accepted and read back, reads still return EOF."""
    s = _bound(k)
    s.shutdown(S.SHUT_RD)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 1000)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 1000
    assert s.recv(100) == b""


def test_shut_rd_does_not_affect_sending(k):
    """soshutdown(SHUT_RD) does not call pru_shutdown: sending works."""
    s = _bound(k)
    s.shutdown(S.SHUT_RD)
    assert s.sendto(b"x", (PEER, 9)) == 1
    assert len(k.transmitted("em0")) == 1


def test_shut_wr_epipe_and_receive_still_works(k):
    """udp_shutdown -> socantsendmore: send -> EPIPE (BrokenPipeError);
    receiving is unaffected."""
    s = _bound(k)
    s.shutdown(S.SHUT_WR)
    with pytest.raises(BrokenPipeError) as ei:
        s.sendto(b"x", (PEER, 9))
    assert ei.value.errno == errno.EPIPE
    k.input("em0", udp_from_peer(UDP_PORT, data=b"in"))
    assert s.recv(100) == b"in"


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.send(b"x"),
        lambda s: s.sendto(b"x", (PEER, 9)),
        lambda s: s.recv(10),
        lambda s: s.bind(("", 0)),
        lambda s: s.connect((PEER, 9)),
        lambda s: s.getsockname(),
        lambda s: s.getpeername(),
        lambda s: s.shutdown(S.SHUT_RD),
        lambda s: s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1),
        lambda s: s.getsockopt(S.SOL_SOCKET, S.SO_TYPE),
    ],
    ids=[
        "send",
        "sendto",
        "recv",
        "bind",
        "connect",
        "getsockname",
        "getpeername",
        "shutdown",
        "setsockopt",
        "getsockopt",
    ],
)
def test_closed_socket_ebadf(k, call):
    """close(2) frees the descriptor: every later call -> EBADF."""
    s = udp(k)
    s.close()
    with pytest.raises(OSError) as ei:
        call(s)
    assert ei.value.errno == errno.EBADF


def test_closed_port_is_free(k, delta):
    """udp_detach -> in_pcbfree: after close no pcb holds the port, so a
    datagram to it gets an ICMP port unreachable (udps_noport), and a new
    socket can bind it."""
    s = _bound(k)
    s.close()
    with delta(k) as d:
        k.input("em0", udp_from_peer(UDP_PORT))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    assert len(k.transmitted("em0")) == 1
    t = udp(k)
    t.bind(("", UDP_PORT))
    assert t.getsockname() == ("0.0.0.0", UDP_PORT)


def test_reconnect_connected_udp(k):
    """soconnect: a connected UDP socket is disconnected (udp_disconnect)
    and connected again; the local port is kept."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    s.connect((PEER, 54))
    assert s.getpeername() == (PEER, 54)
    assert s.getsockname() == (HOST, lport)


def test_connect_af_unspec_disconnects_eafnosupport(k):
    """soconnect disconnects first, then in_pcbconnect_setup rejects the
    AF_UNSPEC family -> EAFNOSUPPORT; the socket is left unconnected with
    laddr reset to ANY and the port kept."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    with pytest.raises(OSError) as ei:
        s.connect(AF_UNSPEC_SA)
    assert ei.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(OSError) as ei2:
        s.getpeername()
    assert ei2.value.errno == errno.ENOTCONN
    assert s.getsockname() == ("0.0.0.0", lport)
    with pytest.raises(OSError) as ei3:
        s.send(b"x")
    assert ei3.value.errno == errno.EDESTADDRREQ


def test_connect_bad_len_disconnects_einval(k):
    """in_pcbconnect_setup: sa_len != 16 -> EINVAL, after soconnect has
    already disconnected the socket."""
    s = connected_udp(k)
    with pytest.raises(OSError) as ei:
        s.connect(bytes((8, S.AF_INET)) + bytes(6))
    assert ei.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        s.getpeername()


def test_connect_clears_pending_so_error(k):
    """soconnect: so_error = 0 before pru_connect; a pending ICMP error is
    discarded and the next send goes out."""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    k.transmitted("em0")
    s.connect((PEER, 53))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0
    assert s.send(b"x") == 1
    assert len(k.transmitted("em0")) == 1


def test_unconnected_udp_ignores_icmp(k):
    """udp_ctlinput: exact 4-tuple lookup only; a socket that was
    disconnected by connect(AF_UNSPEC) gets no so_error."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    with pytest.raises(OSError):
        s.connect(AF_UNSPEC_SA)
    k.input("em0", port_unreach(lport))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0
