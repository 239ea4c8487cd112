"""Ephemeral ports: in_pcb_lport() (netinet/in_pcb.c) as reached from
bind(port 0), connect() and an implicit sendto() bind (docs/sockets.md,
"Lookups, ports and connection groups"; dossier 8.3, G8.6)."""

from __future__ import annotations

import copy
import errno

import pytest

import kstack
from kstack import sock as S
from kstack.testing import HOST, PEER, host

PR = "net.inet.ip.portrange."


def _udp(k, uid=0, portrange=None):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, uid=uid)
    if portrange is not None:
        s.setsockopt(S.IPPROTO_IP, S.IP_PORTRANGE, portrange)
    return s


def _errno(fn, *args) -> int:
    try:
        fn(*args)
    except OSError as e:
        return int(e.errno or 0)
    return 0


def _first_candidate(k, first: int, last: int) -> int:
    """The port in_pcb_lport tries first with randomisation on: the cursor
    is set to first + arc4random() % (last - first), then incremented.
    Computed from a copy of the kernel's generator, so the kernel's own
    sequence is not disturbed."""
    rng = copy.deepcopy(k.vnet0.rng)
    return first + rng.arc4random() % (last - first) + 1


def test_range_defaults(k):
    """in_pcb.c: the portrange sysctls start at IPPORT_EPHEMERALFIRST/LAST,
    HIFIRST/HILAST, the reversed low range and reservedhigh/low."""
    assert {
        n: k.sysctl(PR + n)
        for n in (
            "first",
            "last",
            "hifirst",
            "hilast",
            "lowfirst",
            "lowlast",
            "reservedhigh",
            "reservedlow",
            "randomized",
        )
    } == {
        "first": 10000,
        "last": 65535,
        "hifirst": 49152,
        "hilast": 65535,
        "lowfirst": 1023,
        "lowlast": 600,
        "reservedhigh": 1023,
        "reservedlow": 0,
        "randomized": 1,
    }


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_random_first_candidate_exact(seed):
    """in_pcb_lport: UDP always randomises; the first candidate is
    first + arc4random() % (last - first) + 1, from the kernel's seeded
    generator (same seed -> same port)."""
    k = host(k=kstack.Kernel(seed=seed))
    want = _first_candidate(k, 10000, 65535)
    s = _udp(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname() == ("0.0.0.0", want)
    k2 = host(k=kstack.Kernel(seed=seed))
    s2 = _udp(k2)
    s2.bind(("0.0.0.0", 0))
    assert s2.getsockname() == ("0.0.0.0", want)


def test_random_port_for_implicit_sendto_bind(k):
    """udp_output -> in_pcbconnect_setup -> in_pcb_lport: the implicit bind
    of an unbound sendto draws the same way (G8.6)."""
    want = _first_candidate(k, 10000, 65535)
    s = _udp(k)
    s.sendto(b"x", (PEER, 53))
    assert s.getsockname() == ("0.0.0.0", want)
    (frame,) = k.transmitted("em0")
    assert int.from_bytes(frame[34:36], "big") == want


def test_sequential_when_not_randomized(k):
    """in_pcb_lport: randomized=0 -> the shared cursor (ipi_lastport, 0 at
    boot) is incremented; out of range it wraps to `first`, so a fresh
    kernel hands out first, first+1, first+2 to bind, connect and sendto
    alike."""
    k.sysctl(PR + "randomized", 0)
    a, b, c = _udp(k), _udp(k), _udp(k)
    a.bind(("0.0.0.0", 0))
    b.connect((PEER, 53))
    c.sendto(b"x", (PEER, 53))
    assert [s.getsockname()[1] for s in (a, b, c)] == [10000, 10001, 10002]


def test_sequential_skips_used_ports(k):
    """in_pcb_lport: a candidate in use (wildcard lookup) is skipped."""
    k.sysctl(PR + "randomized", 0)
    _udp(k).bind(("0.0.0.0", 10000))
    _udp(k).bind((HOST, 10001))
    s = _udp(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname()[1] == 10002


def test_first_equal_last_no_randomisation(k):
    """in_pcb_lport: first == last -> that port, and no arc4random() draw
    (the generator is untouched)."""
    k.sysctl(PR + "first", 30000)
    k.sysctl(PR + "last", 30000)
    before = copy.deepcopy(k.vnet0.rng).arc4random()
    s = _udp(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname()[1] == 30000
    assert copy.deepcopy(k.vnet0.rng).arc4random() == before
    assert _errno(_udp(k).bind, ("0.0.0.0", 0)) == errno.EADDRNOTAVAIL


def test_exhaustion_eaddrnotavail(k):
    """in_pcb_lport: at most last - first + 1 probes cover the range; all in
    use -> EADDRNOTAVAIL, socket left unbound."""
    k.sysctl(PR + "first", 20000)
    k.sysctl(PR + "last", 20002)
    ports = set()
    for _ in range(3):
        s = _udp(k)
        s.bind(("0.0.0.0", 0))
        ports.add(s.getsockname()[1])
    assert ports == {20000, 20001, 20002}
    s = _udp(k)
    assert _errno(s.bind, ("0.0.0.0", 0)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == ("0.0.0.0", 0)
    assert _errno(s.sendto, b"x", (PEER, 53)) == errno.EADDRNOTAVAIL
    assert _errno(s.connect, (PEER, 53)) == errno.EADDRNOTAVAIL


def test_exhaustion_with_reuseaddr_uses_exact_lookup(k):
    """in_pcb_lport: a socket with SO_REUSEADDR probes without WILDCARD,
    so wildcard-bound ports do not block a specific-address bind."""
    k.sysctl(PR + "first", 20000)
    k.sysctl(PR + "last", 20001)
    for _ in range(2):
        _udp(k).bind(("0.0.0.0", 0))
    s = _udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    s.bind((HOST, 0))
    assert s.getsockname()[0] == HOST
    assert s.getsockname()[1] in (20000, 20001)


def test_portrange_high(k):
    """in_pcb_lport: IP_PORTRANGE_HIGH uses hifirst/hilast (49152..65535)."""
    want = _first_candidate(k, 49152, 65535)
    s = _udp(k, portrange=S.IP_PORTRANGE_HIGH)
    assert s.getsockopt(S.IPPROTO_IP, S.IP_PORTRANGE) == S.IP_PORTRANGE_HIGH
    s.bind(("0.0.0.0", 0))
    assert s.getsockname()[1] == want


def test_portrange_high_sequential_own_cursor(k):
    """in_pcb_lport: the high range has its own cursor (ipi_lasthi)."""
    k.sysctl(PR + "randomized", 0)
    a = _udp(k)
    a.bind(("0.0.0.0", 0))
    h = _udp(k, portrange=S.IP_PORTRANGE_HIGH)
    h.bind(("0.0.0.0", 0))
    b = _udp(k)
    b.bind(("0.0.0.0", 0))
    assert (a.getsockname()[1], h.getsockname()[1], b.getsockname()[1]) == (10000, 49152, 10001)


def test_portrange_low_root_reversed_range(k):
    """in_pcb_lport: the low range 1023..600 is swapped to [600, 1023];
    sequential from a zero cursor -> 600 first."""
    k.sysctl(PR + "randomized", 0)
    a = _udp(k, portrange=S.IP_PORTRANGE_LOW)
    a.bind(("0.0.0.0", 0))
    b = _udp(k, portrange=S.IP_PORTRANGE_LOW)
    b.bind(("0.0.0.0", 0))
    assert (a.getsockname()[1], b.getsockname()[1]) == (600, 601)


def test_portrange_low_root_random(k):
    """in_pcb_lport: random start inside the swapped low range."""
    want = _first_candidate(k, 600, 1023)
    s = _udp(k, portrange=S.IP_PORTRANGE_LOW)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname()[1] == want


def test_portrange_low_unprivileged_eperm(k):
    """ip_ctloutput accepts IP_PORTRANGE_LOW from anyone; in_pcb_lport then
    fails priv_check(PRIV_NETINET_RESERVEDPORT) -> EPERM for bind, connect
    and sendto."""
    s = _udp(k, uid=1, portrange=S.IP_PORTRANGE_LOW)
    assert s.getsockopt(S.IPPROTO_IP, S.IP_PORTRANGE) == S.IP_PORTRANGE_LOW
    assert _errno(s.bind, ("0.0.0.0", 0)) == errno.EPERM
    assert _errno(s.connect, (PEER, 53)) == errno.EPERM
    assert _errno(s.sendto, b"x", (PEER, 53)) == errno.EPERM
    assert s.getsockname() == ("0.0.0.0", 0)


def test_portrange_low_explicit_port_not_eperm(k):
    """IP_PORTRANGE only matters for port 0: binding 5000 as uid 1 works."""
    s = _udp(k, uid=1, portrange=S.IP_PORTRANGE_LOW)
    s.bind(("0.0.0.0", 5000))
    assert s.getsockname()[1] == 5000


@pytest.mark.parametrize("value", [3, -1])
def test_portrange_bad_value(k, value):
    """ip_ctloutput(IP_PORTRANGE): values other than 0/1/2 -> EINVAL."""
    assert _errno(_udp(k).setsockopt, S.IPPROTO_IP, S.IP_PORTRANGE, value) == errno.EINVAL


def test_cursor_shared_by_all_udp_sockets(k):
    """in_pcb_lport: ipi_lastport is per pcbinfo; with randomized=0 the
    next socket continues from the port the previous one got."""
    k.sysctl(PR + "first", 40000)
    k.sysctl(PR + "randomized", 0)
    ports = []
    for _ in range(3):
        s = _udp(k)
        s.bind(("0.0.0.0", 0))
        ports.append(s.getsockname()[1])
        s.close()
    assert ports == [40000, 40001, 40002]
