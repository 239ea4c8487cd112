"""Every value a writable sysctl accepts is safe at packet time: the
emulated kernel never raises on traffic after a sysctl write, whatever the
value (the kernel's variables are ints, u_ints, u_longs; what they are
narrowed into is emulated where it matters, see conformance/sysctl)."""

from __future__ import annotations

import pytest

import kstack
from kstack import sock
from kstack.kern.sysctl import _RANGES, CTLTYPE_STRING
from kstack.outcome import KINDS
from kstack.testing import PEER, REMOTE, ROUTER, Raw, echo_request, from_peer, host, udp_to

WRITABLE = sorted(
    o.name for o in kstack.Kernel().sysctl_tree.walk() if o.writable and o.kind != CTLTYPE_STRING
)


def _values(kind: str) -> list[int]:
    lo, hi = _RANGES[kind]
    return sorted(v for v in {lo, hi, -1, 0, 1, 255, 256, 300, 65535, 65536} if lo <= v <= hi)


FRAMES = [
    bytes(echo_request()),
    bytes(udp_to(9)),
    bytes(echo_request(dst=REMOTE, ttl=1)),
    bytes(echo_request(dst=REMOTE, ttl=5)),
    bytes(from_peer(flags="MF", proto=17, id=5) / Raw(b"x" * 16)),
    bytes(from_peer(frag=2, proto=17, id=5) / Raw(b"x" * 16)),
]


def _traffic(k: kstack.Kernel) -> None:
    assert all(k.input("em0", f).kind in KINDS for f in FRAMES)
    for kind, proto in ((sock.SOCK_DGRAM, 0), (sock.SOCK_RAW, 253)):
        try:
            s = k.socket(sock.AF_INET, kind, proto)
            s.sendto(b"y" * 3000, (PEER, 9))
            s.sendto(b"z", ("224.1.2.3", 9))
            s.sendto(b"w", ("127.0.0.1", 9))
        except OSError:
            pass  # an errno is an answer
    k.advance(100)
    k.transmitted("em0")


@pytest.mark.parametrize("name", WRITABLE)
def test_any_accepted_value_is_safe(name: str) -> None:
    kind = kstack.Kernel().sysctl_tree.lookup(name).kind
    for value in _values(kind):
        k = host()
        k.route_add("default", ROUTER)
        try:
            k.sysctl(name, value)
        except OSError:
            continue  # refused, as the handler refuses it
        _traffic(k)
        k.sysctl("net.inet.ip.forwarding", 1)
        _traffic(k)
