"""Pending readers: a recv() that sleeps until the kernel wakes it.

soreceive_dgram (UDP) and soreceive_generic (raw, UDP with MSG_PEEK) in
kern/uipc_socket.c, sbwait/sblock/sowakeup in kern/uipc_sockbuf.c,
kern_recvit in kern/uipc_syscalls.c, kern_close/fdrop in
kern/kern_descrip.c. ``s.recv_pending()`` enters soreceive as a blocking
read does; ``.done`` and ``.result()`` say how it returned.
"""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import HOST, IP, PEER, Raw, eth

from .helpers import PEER_PORT, UDP_PORT, connected_udp, port_unreach, raw, udp, udp_from_peer

RAW_PROTO = 253


def _bound_udp(k):
    s = udp(k)
    s.bind(("", UDP_PORT))
    return s


def _raw_from_peer(data: bytes):
    return eth() / IP(src=PEER, dst=HOST, proto=RAW_PROTO, id=7, ttl=64) / Raw(data)


def _asleep(p) -> None:
    """Not done, and asking for the result would sleep: EAGAIN."""
    assert not p.done
    with pytest.raises(BlockingIOError) as ei:
        p.result()
    assert ei.value.errno == errno.EAGAIN


def _rcvtimeo(s, sec: int, usec: int) -> None:
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVTIMEO, S.timeval(sec, usec))


def test_datagram_wakes_udp_reader(k, delta):
    """soreceive_dgram sleeps in sbwait; udp_append -> sbappendaddr_locked
    + sorwakeup wakes it and it takes the datagram with its source."""
    s = _bound_udp(k)
    p = s.recvfrom_pending(100)
    _asleep(p)
    with delta(k) as d:
        k.input("em0", udp_from_peer(UDP_PORT, data=b"wake"))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "udp": {"udps_ipackets": 1}}
    assert p.done
    assert p.result() == (b"wake", (PEER, PEER_PORT))
    with pytest.raises(BlockingIOError):
        s.recv(100)  # the reader took it: nothing left queued


def test_queued_datagram_returns_at_once(k):
    """soreceive_dgram: a queued datagram is returned without sleeping."""
    s = _bound_udp(k)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"early"))
    p = s.recvmsg_pending(100, 0)
    assert p.done
    assert p.result() == (b"early", [], 0, (PEER, PEER_PORT))


def test_raw_reader_gets_datagram(k):
    """soreceive_generic on a raw socket: sleeps holding sblock, then takes
    the datagram rip_input queued (header as 9.x raw readers see it)."""
    s = raw(k, RAW_PROTO)
    p = s.recv_pending(100)
    _asleep(p)
    k.input("em0", _raw_from_peer(b"rawdata"))
    got = p.result()
    assert len(got) == 27
    assert got[20:] == b"rawdata"
    assert got[9] == RAW_PROTO


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_shut_rd_wakes_reader_with_eof(k, kind):
    """sorflush -> socantrcvmore -> sorwakeup: the sleeping reader sees
    SBS_CANTRCVMORE with nothing queued and returns 0 (EOF)."""
    s = _bound_udp(k) if kind == "udp" else raw(k, RAW_PROTO)
    p = s.recv_pending(100)
    _asleep(p)
    assert s.shutdown(S.SHUT_RD) is None
    assert p.result() == b""
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0


def test_shut_wr_leaves_reader_asleep(k):
    """soshutdown(SHUT_WR) does not call sorflush: the reader sleeps on."""
    s = _bound_udp(k)
    p = s.recv_pending(100)
    s.shutdown(S.SHUT_WR)
    _asleep(p)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"still"))
    assert p.result() == b"still"


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_rcvtimeo_in_virtual_time(k, kind):
    """sbwait -> msleep(sb_timeo): SO_RCVTIMEO 1.5 s is 1500 ticks; the
    sleep ends with EWOULDBLOCK (EAGAIN) when they have passed, not before."""
    s = _bound_udp(k) if kind == "udp" else raw(k, RAW_PROTO)
    _rcvtimeo(s, 1, 500000)
    p = s.recv_pending(100)
    k.advance(1.499)
    _asleep(p)
    k.advance(0.001)
    assert p.done
    with pytest.raises(BlockingIOError) as ei:
        p.result()
    assert ei.value.errno == errno.EAGAIN


def test_no_rcvtimeo_sleeps_forever(k):
    """sb_timeo 0: msleep without a timeout; an hour later it still sleeps."""
    s = _bound_udp(k)
    p = s.recv_pending(100)
    k.advance(3600)
    _asleep(p)


@pytest.mark.parametrize("how", ["fionbio", "msg_dontwait", "msg_nbio"])
def test_nonblocking_returns_eagain_at_once(k, how):
    """soreceive_dgram: SS_NBIO or MSG_DONTWAIT/MSG_NBIO never sleeps."""
    s = _bound_udp(k)
    flags = 0
    if how == "fionbio":
        s.setblocking(False)
    else:
        flags = S.MSG_DONTWAIT if how == "msg_dontwait" else S.MSG_NBIO
    p = s.recv_pending(100, flags)
    assert p.done
    with pytest.raises(BlockingIOError) as ei:
        p.result()
    assert ei.value.errno == errno.EAGAIN


def test_zero_length_read_returns_at_once(k):
    """soreceive_dgram: uio_resid 0 returns 0 before any sleep."""
    s = _bound_udp(k)
    p = s.recv_pending(0)
    assert p.done
    assert p.result() == b""


def test_msg_oob_fails_at_once(k):
    """soreceive_generic -> soreceive_rcvoob before sblock: EOPNOTSUPP."""
    s = _bound_udp(k)
    p = s.recv_pending(100, S.MSG_OOB)
    assert p.done
    with pytest.raises(OSError) as ei:
        p.result()
    assert ei.value.errno == errno.EOPNOTSUPP


def test_so_error_wakes_reader(k):
    """udp_notify sets so_error and wakes the reader; soreceive_dgram
    returns the error and clears it."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    p = s.recv_pending(100)
    _asleep(p)
    k.input("em0", port_unreach(lport))
    assert p.done
    with pytest.raises(ConnectionRefusedError) as ei:
        p.result()
    assert ei.value.errno == errno.ECONNREFUSED
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0


def test_so_error_reaches_the_reader_before_anyone_else(k):
    """udp_ctlinput -> udp_notify sets so_error and calls sorwakeup at once:
    the woken reader takes the error, so a later getsockopt(SO_ERROR)
    finds it cleared."""
    s = connected_udp(k)
    lport = s.getsockname()[1]
    p = s.recv_pending(100)
    k.input("em0", port_unreach(lport))
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == 0
    assert p.done
    with pytest.raises(ConnectionRefusedError):
        p.result()


def test_routing_socket_reader_woken_by_a_message(k):
    """A routing socket reads through soreceive_generic (raw_usrreqs);
    rt_dispatch's message, appended by raw_input_ext -> sbappendaddr and
    sorwakeup (net/raw_usrreq.c), wakes the reader with the whole message."""
    r = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    while True:
        try:
            r.recv(4096)
        except BlockingIOError:
            break
    p = r.recv_pending(4096)
    _asleep(p)
    k.route_add("203.0.113.0/24", "192.0.2.254")
    _asleep(p)  # queued for the routing netisr: not delivered yet
    k.advance(0)
    assert p.done
    msg = p.result()
    assert len(msg) == int.from_bytes(msg[0:2], "little")
    assert msg[2:4] == bytes((5, S.RTM_ADD))  # rtm_version 5, rtm_type


def test_peek_reader_leaves_datagram(k):
    """MSG_PEEK goes to soreceive_generic: woken, it copies the datagram
    and leaves it queued for the next read."""
    s = _bound_udp(k)
    p = s.recv_pending(100, S.MSG_PEEK)
    _asleep(p)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"peeked"))
    assert p.result() == b"peeked"
    assert s.recvfrom(100) == (b"peeked", (PEER, PEER_PORT))


def test_raw_readers_take_turns_on_sblock(k):
    """soreceive_generic holds sblock while asleep: a second reader waits
    for the lock, so it gets the second datagram, not the first."""
    s = raw(k, RAW_PROTO)
    p1 = s.recv_pending(100)
    p2 = s.recv_pending(100)
    k.input("em0", _raw_from_peer(b"first"))
    assert p1.result()[20:] == b"first"
    _asleep(p2)
    k.input("em0", _raw_from_peer(b"second"))
    assert p2.result()[20:] == b"second"


def test_raw_second_reader_dontwait_fails_on_sblock(k):
    """sblock without SBL_WAIT (MSG_DONTWAIT) while another reader holds
    it: EWOULDBLOCK at once."""
    s = raw(k, RAW_PROTO)
    p1 = s.recv_pending(100)
    p2 = s.recv_pending(100, S.MSG_DONTWAIT)
    assert p2.done
    with pytest.raises(BlockingIOError):
        p2.result()
    _asleep(p1)


def test_udp_readers_one_datagram_one_reader(k):
    """soreceive_dgram: readers sleep without sblock and a wakeup wakes all;
    one takes the datagram, the other finds nothing and sleeps again."""
    s = _bound_udp(k)
    p1 = s.recv_pending(100)
    p2 = s.recv_pending(100)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"one"))
    assert sorted([p1.done, p2.done]) == [False, True]
    first, other = (p1, p2) if p1.done else (p2, p1)
    assert first.result() == b"one"
    _asleep(other)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"two"))
    assert other.result() == b"two"


def test_woken_reader_sleeps_again_with_fresh_timeout(k):
    """soreceive_dgram's loop calls sbwait again after a wakeup that left it
    nothing: its SO_RCVTIMEO counts again from that moment."""
    s = _bound_udp(k)
    _rcvtimeo(s, 1, 0)
    p1 = s.recv_pending(100)
    p2 = s.recv_pending(100)
    k.advance(0.6)
    k.input("em0", udp_from_peer(UDP_PORT, data=b"one"))
    other = p2 if p1.done else p1
    k.advance(0.999)
    _asleep(other)
    k.advance(0.001)
    assert other.done
    with pytest.raises(BlockingIOError):
        other.result()


def test_close_while_reader_sleeps(k, delta):
    """kern_recvit holds a reference to the file (getsock/fget): close()
    drops the descriptor but the socket lives until the read returns
    (fdrop -> soclose). The read still gets the next datagram; after it
    the port is closed (udps_noport, ICMP port unreachable)."""
    s = _bound_udp(k)
    p = s.recv_pending(100)
    assert s.close() is None
    with pytest.raises(OSError) as ei:
        s.recv(100)
    assert ei.value.errno == errno.EBADF
    _asleep(p)
    with delta(k) as d:
        k.input("em0", udp_from_peer(UDP_PORT, data=b"last"))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}, "udp": {"udps_ipackets": 1}}
    assert p.result() == b"last"
    k.transmitted("em0")
    with delta(k) as d:
        k.input("em0", udp_from_peer(UDP_PORT, data=b"late"))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    assert len(k.transmitted("em0")) == 1


def test_arguments_checked_before_sleeping(k):
    """kern_recvit's checks come first: wrong types, negative sizes, a
    closed descriptor."""
    s = _bound_udp(k)
    with pytest.raises(TypeError):
        s.recv_pending("100")
    with pytest.raises(ValueError):
        s.recv_pending(-1)
    with pytest.raises(TypeError):
        s.recvmsg_pending(100, 0, 1.5)
    s.close()
    with pytest.raises(OSError) as ei:
        s.recv_pending(100)
    assert ei.value.errno == errno.EBADF
