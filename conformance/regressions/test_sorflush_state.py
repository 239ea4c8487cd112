"""shutdown(SHUT_RD) and sorflush() keeping sb_state.

The FreeBSD commit with the message "sb_state shouldn't be erased, when socket buffer is flushed by
sorflush(). When sb_state was bzero'ed, a recently set SBS_CANTRCVMORE flag
was cleared. If a socket was shutdown(SHUT_RD), a subsequent read() would
block on it." (kern/uipc_socket.c sorflush; reported by Ed Maste, Gerrit
Nagelhout).

Before: kstack.PROFILES["9.0"].derive("pre-sorflush-fix",
sorflush_clears_state=True) -- the read would block, which kstack (that
never sleeps) reports as EWOULDBLOCK. After: "9.0" -- the read returns EOF.
"""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock as S
from kstack import testing as packets
from kstack.testing import HOST, IP, PEER, UDP, Raw, eth

BEFORE = kstack.PROFILES["9.0"].derive("pre-sorflush-fix", sorflush_clears_state=True)
SIDES = {"before": BEFORE, "after": kstack.PROFILES["9.0"]}
PORT = 5000


@pytest.fixture(params=sorted(SIDES))
def side(request):
    return request.param


@pytest.fixture
def host(side):
    return packets.host(k=kstack.Kernel(profile=SIDES[side], seed=0))


def _bound(k):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    s.bind(("", PORT))
    return s


def _datagram(data: bytes = b"queued"):
    return eth() / IP(src=PEER, dst=HOST) / UDP(sport=53, dport=PORT) / Raw(data)


def test_read_after_shut_rd(host, side):
    """sorflush / soreceive_dgram: after the fix SBS_CANTRCVMORE survives
    the flush and recv returns b'' (EOF); before it the flag was zeroed and
    the read would block (BlockingIOError, errno EAGAIN)."""
    s = _bound(host)
    s.shutdown(S.SHUT_RD)
    if side == "before":
        with pytest.raises(BlockingIOError) as ei:
            s.recv(100)
        assert ei.value.errno == errno.EAGAIN
    else:
        assert s.recv(100) == b""


def test_queued_data_discarded_both_sides(host, side):
    """sorflush: the queued datagram is freed on both sides; what the next
    read sees is the side's EOF-or-block outcome, never the data."""
    s = _bound(host)
    host.input("em0", _datagram())
    s.shutdown(S.SHUT_RD)
    if side == "before":
        with pytest.raises(BlockingIOError):
            s.recvmsg(100)
    else:
        assert s.recvmsg(100) == (b"", [], 0, None)


def test_later_datagrams_dropped_both_sides(host, side, delta):
    """sorflush zeroes sb_hiwat on both sides: a later datagram is refused
    by sbappendaddr (udps_fullsock +1, no ICMP); only the read differs."""
    s = _bound(host)
    s.shutdown(S.SHUT_RD)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 0
    with delta(host) as d:
        host.input("em0", _datagram(b"late"))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_fullsock": 1},
    }
    assert host.transmitted("em0") == []
    if side == "before":
        with pytest.raises(BlockingIOError):
            s.recv(100, S.MSG_DONTWAIT)
    else:
        assert s.recv(100, S.MSG_DONTWAIT) == b""


def test_shut_rdwr_read(host, side):
    """soshutdown(SHUT_RDWR) -> sorflush: same read outcome as SHUT_RD on
    each side; sending fails with EPIPE on both."""
    s = _bound(host)
    s.shutdown(S.SHUT_RDWR)
    with pytest.raises(BrokenPipeError):
        s.sendto(b"x", (PEER, 9))
    if side == "before":
        with pytest.raises(BlockingIOError):
            s.recv(100)
    else:
        assert s.recv(100) == b""
