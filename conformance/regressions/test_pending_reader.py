"""Seed 003:202: shutdown(SHUT_RD) behind a reader asleep in recv().

No PR (reported by Jos Backus); revision unverified (head, 2008, before
7.1 and 9.0). kern/uipc_socket.c sorflush(), soreceive_generic(),
soreceive_dgram(); kern/uipc_sockbuf.c sblock(), socantrcvmore().

After the change (every named profile): sorflush() first marks the receive
side unable to receive more, which wakes readers asleep in soreceive (each
returns 0, EOF), and only then takes the sockbuf lock (sblock, SBL_WAIT |
SBL_NOINTR) to flush. Before it ("9.0,sorflush_wakes_reader=0"): sorflush
took the lock first. soreceive_generic (raw sockets, UDP with MSG_PEEK)
holds that lock while it sleeps, so shutdown slept behind the reader until
a datagram came; kstack, which never sleeps, answers EAGAIN and leaves the
socket as it was. soreceive_dgram (UDP without MSG_PEEK) sleeps without
the lock: there the two orders give the same result.
"""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock as S
from kstack import testing as packets
from kstack.testing import HOST, IP, PEER, UDP, Raw, eth

SIDES = {"before": "9.0,sorflush_wakes_reader=0", "after": "9.0"}
PORT = 5000
RAW_PROTO = 253


@pytest.fixture(params=sorted(SIDES))
def side(request):
    return request.param


@pytest.fixture
def host(side):
    return packets.host(k=kstack.Kernel(profile=SIDES[side], seed=0))


def _udp(k):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    s.bind(("", PORT))
    return s


def _udp_datagram(data: bytes):
    return eth() / IP(src=PEER, dst=HOST) / UDP(sport=53, dport=PORT) / Raw(data)


def _raw_datagram(data: bytes):
    return eth() / IP(src=PEER, dst=HOST, proto=RAW_PROTO, id=7, ttl=64) / Raw(data)


def _eagain(fn, *args) -> None:
    with pytest.raises(BlockingIOError) as ei:
        fn(*args)
    assert ei.value.errno == errno.EAGAIN


def test_shut_rd_behind_raw_reader(host, side):
    """sorflush vs soreceive_generic on a raw socket. After: shutdown
    returns, the reader gets b"" and the buffer is flushed (SO_RCVBUF 0).
    Before: shutdown would sleep (EAGAIN) and changes nothing: the reader
    sleeps on and SO_RCVBUF is still 9216; the next datagram goes to the
    reader, and then shutdown goes through."""
    s = host.socket(S.AF_INET, S.SOCK_RAW, RAW_PROTO)
    p = s.recv_pending(100)
    if side == "after":
        assert s.shutdown(S.SHUT_RD) is None
        assert p.result() == b""
        assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0
        assert s.recv(100) == b""
        return
    _eagain(s.shutdown, S.SHUT_RD)
    _eagain(p.result)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 9216
    host.input("em0", _raw_datagram(b"unblocks"))
    got = p.result()
    assert (len(got), got[20:]) == (28, b"unblocks")
    assert s.shutdown(S.SHUT_RD) is None
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0
    assert s.recv(100) == b""


def test_shut_rd_behind_udp_peek_reader(host, side):
    """MSG_PEEK sends a UDP read through soreceive_generic, which holds
    sblock while asleep. Before: shutdown EAGAIN until a datagram wakes the
    reader (it peeks, the datagram stays queued); the shutdown then flushes
    it. After: the reader gets b"" at once."""
    s = _udp(host)
    p = s.recv_pending(100, S.MSG_PEEK)
    if side == "after":
        assert s.shutdown(S.SHUT_RD) is None
        assert p.result() == b""
        assert s.recv(100) == b""
        return
    _eagain(s.shutdown, S.SHUT_RD)
    host.input("em0", _udp_datagram(b"peek"))
    assert p.result() == b"peek"
    assert s.recv(100, S.MSG_PEEK) == b"peek"
    assert s.shutdown(S.SHUT_RD) is None
    assert s.recv(100) == b""


def test_shut_rd_udp_reader_without_lock(host, side):
    """soreceive_dgram sleeps without sblock: on both sides the shutdown
    goes through and socantrcvmore wakes the reader with EOF."""
    s = _udp(host)
    p = s.recv_pending(100)
    assert s.shutdown(S.SHUT_RD) is None
    assert p.result() == b""
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0


def test_shut_rdwr_behind_raw_reader(host, side, delta):
    """soshutdown(SHUT_RDWR) calls sorflush before pru_shutdown. Before:
    sorflush sleeps, so the send side is not shut either (a send still
    leaves, ips_localout +1). After: both sides shut, send is EPIPE."""
    s = host.socket(S.AF_INET, S.SOCK_RAW, RAW_PROTO)
    p = s.recv_pending(100)
    if side == "after":
        assert s.shutdown(S.SHUT_RDWR) is None
        assert p.result() == b""
        with pytest.raises(BrokenPipeError):
            s.sendto(b"x", (PEER, 0))
        return
    _eagain(s.shutdown, S.SHUT_RDWR)
    with delta(host) as d:
        assert s.sendto(b"x", (PEER, 0)) == 1
    assert d == {"ip": {"ips_localout": 1}}
    _eagain(p.result)


def test_close_behind_reader_same_on_both_sides(host, side):
    """9.x close does not reach sorflush while a read is pending: the read
    holds a file reference (kern_recvit/getsock), so close() returns at once
    on both sides and the reader sleeps on until a datagram comes."""
    s = host.socket(S.AF_INET, S.SOCK_RAW, RAW_PROTO)
    p = s.recv_pending(100)
    assert s.close() is None
    _eagain(p.result)
    host.input("em0", _raw_datagram(b"after close"))
    assert p.result()[20:] == b"after close"
