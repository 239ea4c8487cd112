"""options PCBGROUP (netinet/in_pcbgroup.c) changes where in_pcblookup
searches, never what it finds (dossier 8.6): the same sequence of UDP
binds, connects and closes applied to a kernel with and without
connection groups gives the same errors, the same lookup results and the
same receiving socket for every datagram."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kstack
from kstack import sock as S
from kstack.netinet.ip import aton

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kstack.testing import host, udp_to  # noqa: E402

LOCAL = ["192.0.2.1", "0.0.0.0", "127.0.0.1"]
PEERS = ["192.0.2.7", "192.0.2.8", "127.0.0.1"]
PORTS = [5000, 5001]
FPORTS = [7000, 7001]

_OPTS = st.sampled_from(
    [(S.SO_REUSEPORT,), (S.SO_REUSEPORT,), (), (S.SO_REUSEADDR,), (S.SO_REUSEADDR, S.SO_REUSEPORT)]
)
# One socket's life: socket(2) with options, then maybe bind, maybe connect,
# maybe close, in that order.
_bind_arg = st.tuples(
    st.sampled_from(["0.0.0.0", "0.0.0.0", "192.0.2.1", "127.0.0.1"]),
    st.sampled_from([5000, 5000, 5001, 0]),
)
_conn_arg = st.tuples(st.sampled_from(PEERS), st.sampled_from(FPORTS))
_life = st.tuples(
    _OPTS,
    st.one_of(st.none(), _bind_arg, _bind_arg, _bind_arg),  # bind 3 times in 4
    st.one_of(st.none(), st.none(), _conn_arg),  # connect 1 time in 3
    st.integers(0, 5).map(lambda n: n == 0),  # close 1 time in 6
)
_ops = st.lists(_life, min_size=2, max_size=8)
_lookups = st.lists(
    st.tuples(
        st.sampled_from(PEERS),
        st.sampled_from(FPORTS),
        st.sampled_from(["192.0.2.1", "192.0.2.1", "127.0.0.1", "198.51.100.1"]),
        st.sampled_from(PORTS),
        st.booleans(),
    ),
    min_size=2,
    max_size=8,
)


class World:
    """One kernel and the sockets created on it, by creation index."""

    def __init__(self, options: frozenset[str]) -> None:
        self.k = host(k=kstack.Kernel(seed=0, options=options))
        self.socks: list[Any] = []

    def apply(self, life: tuple[Any, ...]) -> list[int]:
        """Create one socket and run its bind/connect/close; the errno of
        each step (0 for success)."""
        opts, bind, conn, close = life
        s = self.k.socket(S.AF_INET, S.SOCK_DGRAM)
        for o in opts:
            s.setsockopt(S.SOL_SOCKET, o, 1)
        self.socks.append(s)
        errs = []
        for step, arg in (("bind", bind), ("connect", conn)):
            if arg is None:
                continue
            try:
                getattr(s, step)(arg)
            except OSError as e:
                errs.append(int(e.errno or 0))
            else:
                errs.append(0)
        if close:
            s.close()
        return errs

    def index(self, inp: Any) -> int | None:
        if inp is None:
            return None
        for i, s in enumerate(self.socks):
            if s.inp is inp:
                return i
        raise AssertionError(f"lookup returned an unknown pcb {inp!r}")

    def lookup(self, faddr: str, fport: int, laddr: str, lport: int, wild: bool) -> int | None:
        inp = self.k.vnet0.udbinfo.lookup(aton(faddr), fport, aton(laddr), lport, wildcard=wild)
        return self.index(inp)

    def deliver(self, src: str, sport: int, dport: int) -> list[int]:
        """Send one datagram from ``src`` to 192.0.2.1 on em0; the indices of
        the sockets that received it."""
        self.k.input("em0", udp_to(dport, src=src, sport=sport, data=b"pg"))
        self.k.transmitted("em0")
        got = []
        for i, s in enumerate(self.socks):
            if s.closed:
                continue
            try:
                s.recv(16)
            except BlockingIOError as e:
                assert e.errno == errno.EAGAIN
                continue
            got.append(i)
        return got


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(ops=_ops, lookups=_lookups)
def test_pcbgroup_lookups_match_plain_hash(ops: list[tuple[Any, ...]], lookups: list[Any]) -> None:
    """in_pcblookup_hash_locked vs in_pcblookup_group (in_pcbgroup.c): same
    pcb for every 4-tuple, exact and wildcard; bind/connect errors equal;
    udp_input delivers each datagram to the same socket."""
    plain = World(frozenset())
    grouped = World(frozenset({"PCBGROUP"}))
    assert grouped.k.vnet0.udbinfo.groups_enabled
    assert not plain.k.vnet0.udbinfo.groups_enabled
    for life in ops:
        assert plain.apply(life) == grouped.apply(life), life
    for faddr, fport, laddr, lport, wild in lookups:
        want = plain.lookup(faddr, fport, laddr, lport, wild)
        assert grouped.lookup(faddr, fport, laddr, lport, wild) == want
        if faddr != "127.0.0.1" and laddr == "192.0.2.1":
            assert grouped.deliver(faddr, fport, lport) == plain.deliver(faddr, fport, lport)


def test_pcbgroup_connected_socket_found_in_its_group() -> None:
    """in_pcbgroup: a connected socket lives in one group; the lookup of
    its exact 4-tuple finds it, and a different source falls back to the
    wildcard table shared by all groups, where the oldest wildcard wins."""
    w = World(frozenset({"PCBGROUP"}))
    rp = (S.SO_REUSEPORT,)
    assert w.apply((rp, ("0.0.0.0", 5000), None, False)) == [0]
    assert w.apply((rp, ("0.0.0.0", 5000), None, False)) == [0]
    assert w.apply((rp, ("0.0.0.0", 5000), ("192.0.2.7", 7000), False)) == [0, 0]
    assert w.lookup("192.0.2.7", 7000, "192.0.2.1", 5000, False) == 2
    assert w.lookup("192.0.2.7", 7001, "192.0.2.1", 5000, False) is None
    assert w.lookup("192.0.2.7", 7001, "192.0.2.1", 5000, True) == 0
    assert w.deliver("192.0.2.7", 7000, 5000) == [2]
    assert w.deliver("192.0.2.8", 7000, 5000) == [0]
