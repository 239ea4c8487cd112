"""Each packet the netisr IP queue refuses is reported exactly once.

A frame handed to ``input()`` under the deferred policy is reported by the
outcome ``input()`` returns; a packet the stack queued itself (looped back
by looutput/if_simloop) has no input outcome, so its drop is an event.
"""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock
from kstack.testing import ICMP, IP, Raw


def _lo_echo(seq: int) -> bytes:
    return bytes(
        IP(src="127.0.0.1", dst="127.0.0.1", id=seq) / ICMP(type=8, id=1, seq=seq) / Raw(b"x")
    )


def _drop_events(k: kstack.Kernel) -> list[tuple[str, str]]:
    return [
        (e.what, e.outcome.reason)
        for e in k.vnet0.take_events()
        if e.outcome is not None and e.outcome.reason == "intr_queue_drops"
    ]


def test_netisr_queue_full_input_reported_by_its_outcome_only() -> None:
    """net/netisr.c netisr_queue_internal (via netisr_dispatch under the
    deferred policy): a full IP queue frees the packet, counts it in the
    queue's drops (net.inet.ip.intr_queue_drops) and gives ENOBUFS to the
    caller. The caller here is input(): its outcome is the one report."""
    k = kstack.Kernel()
    k.sysctl("net.isr.dispatch", "deferred")
    k.sysctl("net.inet.ip.intr_queue_maxlen", 1)
    k.vnet0.take_events()
    outs = [k.input("lo0", _lo_echo(i)) for i in range(3)]
    assert [(o.kind, o.reason) for o in outs] == [
        ("held", "netisr"),
        ("dropped", "intr_queue_drops"),
        ("dropped", "intr_queue_drops"),
    ]
    assert _drop_events(k) == []
    assert k.sysctl("net.inet.ip.intr_queue_drops") == 2
    assert len(k.vnet0.ipintrq) == 1


@pytest.mark.parametrize("dispatch", ["direct", "deferred"])
def test_netisr_queue_full_looped_packet_reported_by_one_event(dispatch: str) -> None:
    """net/if_loop.c if_simloop -> net/netisr.c netisr_queue: a datagram
    looped to 127.0.0.1 while the queue is full is dropped, counted once in
    intr_queue_drops, and its sender gets ENOBUFS; no input() covers it, so
    one event reports it."""
    k = kstack.Kernel()
    k.sysctl("net.isr.dispatch", dispatch)
    k.sysctl("net.inet.ip.intr_queue_maxlen", 1)
    r = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    r.bind(("127.0.0.1", 7))
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    k.vnet0.take_events()
    assert s.sendto(b"a", ("127.0.0.1", 7)) == 1
    with pytest.raises(OSError) as e:
        s.sendto(b"b", ("127.0.0.1", 7))
    assert e.value.errno == errno.ENOBUFS
    assert _drop_events(k) == [("netisr queue full", "intr_queue_drops")]
    assert k.sysctl("net.inet.ip.intr_queue_drops") == 1
    k.advance(0)
    assert r.recv(10) == b"a"
    with pytest.raises(BlockingIOError):
        r.recv(10)
