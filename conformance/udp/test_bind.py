"""bind(2) on UDP sockets: in_pcbbind(), in_pcbbind_setup() and
in_pcblookup_local() in netinet/in_pcb.c (docs/sockets.md, "What the calls
do": bind; dossier 3.3.1)."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import HOST, HOST1, PEER

ANY = "0.0.0.0"
RA = S.SO_REUSEADDR
RP = S.SO_REUSEPORT


def _udp(k, opts=(), uid=0):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, uid=uid)
    for o in opts:
        s.setsockopt(S.SOL_SOCKET, o, 1)
    return s


def _errno(fn, *args) -> int:
    try:
        fn(*args)
    except OSError as e:
        return int(e.errno or 0)
    return 0


# (existing addr, existing options, new addr, new options, expected errno)
MATRIX = [
    (ANY, (), ANY, (), errno.EADDRINUSE),
    (HOST, (), HOST, (), errno.EADDRINUSE),
    (ANY, (), HOST, (), errno.EADDRINUSE),
    (HOST, (), ANY, (), errno.EADDRINUSE),
    (HOST, (), HOST1, (), 0),
    (HOST, (), HOST, (RA,), errno.EADDRINUSE),
    (ANY, (), ANY, (RA,), errno.EADDRINUSE),
    (ANY, (RA,), ANY, (RA,), errno.EADDRINUSE),
    (ANY, (), HOST, (RA,), 0),
    (HOST, (), ANY, (RA,), 0),
    (ANY, (RP,), ANY, (RP,), 0),
    (HOST, (RP,), HOST, (RP,), 0),
    (ANY, (), ANY, (RP,), errno.EADDRINUSE),
    (ANY, (RP,), ANY, (), errno.EADDRINUSE),
    (ANY, (RP,), HOST, (), errno.EADDRINUSE),
    (ANY, (RP,), ANY, (RA,), errno.EADDRINUSE),
    (ANY, (RA, RP), ANY, (RP,), 0),
    (ANY, (RP,), HOST, (RP,), 0),
]


@pytest.mark.parametrize(("a1", "o1", "a2", "o2", "want"), MATRIX)
def test_reuse_matrix(k, a1, o1, a2, o2, want):
    """in_pcbbind_setup: the wildcard lookup (no reuse option) conflicts
    with any socket on the port whose address is equal or where either is
    ANY; with SO_REUSEADDR only an exact laddr match conflicts; SO_REUSEPORT
    shares an exact match if the existing socket has INP_REUSEPORT
    (docs/sockets.md, bind)."""
    _udp(k, o1).bind((a1, 5000))
    s = _udp(k, o2)
    assert _errno(s.bind, (a2, 5000)) == want
    assert s.getsockname() == ((a2, 5000) if want == 0 else (ANY, 0))


def test_failed_bind_leaves_socket_unbound(k):
    """in_pcbbind: nothing is committed on error; a later bind elsewhere
    succeeds."""
    _udp(k).bind((ANY, 5000))
    s = _udp(k)
    assert _errno(s.bind, (ANY, 5000)) == errno.EADDRINUSE
    s.bind((ANY, 5001))
    assert s.getsockname() == (ANY, 5001)


def test_connected_socket_conflicts_only_in_wildcard_lookup(k):
    """in_pcblookup_local: a connected socket counts in the wildcard lookup
    (score 2) but never in the exact one (faddr must be ANY), so a new
    wildcard bind conflicts without SO_REUSEADDR and succeeds with it."""
    c = _udp(k)
    c.bind((ANY, 5000))
    c.connect((PEER, 53))
    assert _errno(_udp(k).bind, (ANY, 5000)) == errno.EADDRINUSE
    s = _udp(k, (RA,))
    s.bind((ANY, 5000))
    assert s.getsockname() == (ANY, 5000)


def test_reuseport_set_after_bind_is_consent(k):
    """ip_ctloutput(SOL_SOCKET, SO_REUSEPORT) keeps INP_REUSEPORT in step
    with the option, also on an already bound socket."""
    a = _udp(k)
    a.bind((ANY, 5000))
    a.setsockopt(S.SOL_SOCKET, RP, 1)
    s = _udp(k, (RP,))
    s.bind((ANY, 5000))
    assert s.getsockname() == (ANY, 5000)


def test_reuseport_cleared_after_bind_refuses(k):
    """ip_ctloutput: clearing SO_REUSEPORT clears INP_REUSEPORT, so the
    existing socket no longer consents."""
    a = _udp(k, (RP,))
    a.bind((ANY, 5000))
    a.setsockopt(S.SOL_SOCKET, RP, 0)
    assert _errno(_udp(k, (RP,)).bind, (ANY, 5000)) == errno.EADDRINUSE


def test_exact_lookup_consults_newest_socket_only(k):
    """in_pcblookup_local without WILDCARD returns the first (newest) pcb on
    the port's chain with that exact address; only its INP_REUSEPORT is
    checked, so an older socket that withdrew consent does not block."""
    a = _udp(k, (RP,))
    a.bind((ANY, 5000))
    _udp(k, (RP,)).bind((ANY, 5000))
    a.setsockopt(S.SOL_SOCKET, RP, 0)
    s = _udp(k, (RP,))
    s.bind((ANY, 5000))
    assert s.getsockname() == (ANY, 5000)


def test_multicast_reuseaddr_before_bind_quirk(k):
    """in_pcbbind_setup + ip_ctloutput (9.1 quirk): SO_REUSEADDR set before
    binding to a group never sets INP_REUSEPORT, so a second SO_REUSEADDR
    bind to the group is EADDRINUSE."""
    _udp(k, (RA,)).bind(("239.1.1.1", 5000))
    assert _errno(_udp(k, (RA,)).bind, ("239.1.1.1", 5000)) == errno.EADDRINUSE


def test_multicast_reuseaddr_after_bind_shares(k):
    """ip_ctloutput: SO_REUSEADDR set while bound to a multicast address
    sets INP_REUSEPORT; a new SO_REUSEADDR socket is then treated as
    SO_REUSEPORT for the group and may share it."""
    a = _udp(k)
    a.bind(("239.1.1.1", 5000))
    a.setsockopt(S.SOL_SOCKET, RA, 1)
    s = _udp(k, (RA,))
    s.bind(("239.1.1.1", 5000))
    assert s.getsockname() == ("239.1.1.1", 5000)


def test_multicast_reuseport_shares(k):
    """in_pcbbind_setup: SO_REUSEPORT on both sockets shares a group:port."""
    _udp(k, (RP,)).bind(("239.1.1.1", 5000))
    s = _udp(k, (RP,))
    s.bind(("239.1.1.1", 5000))
    assert s.getsockname() == ("239.1.1.1", 5000)


def test_multicast_address_need_not_be_local(k):
    """in_pcbbind_setup: a multicast address is bound without the
    local-address check."""
    s = _udp(k)
    s.bind(("239.9.9.9", 5000))
    assert s.getsockname() == ("239.9.9.9", 5000)


@pytest.mark.parametrize(
    ("uid2", "addr", "want"),
    [
        (2, ANY, 0),
        (2, HOST, errno.EADDRINUSE),
        (1, HOST, 0),
    ],
)
def test_reuseport_across_users(k, uid2, addr, want):
    """in_pcbbind_setup cross-user check (callers without
    PRIV_NETINET_REUSEPORT): another uid may share only when both are
    wildcard and the existing socket has INP_REUSEPORT."""
    _udp(k, (RP,), uid=1).bind((addr, 5000))
    assert _errno(_udp(k, (RP,), uid=uid2).bind, (addr, 5000)) == want


def test_root_skips_cross_user_check(k):
    """in_pcbbind_setup: root (PRIV_NETINET_REUSEPORT) shares a specific
    address:port with another user's SO_REUSEPORT socket."""
    _udp(k, (RP,), uid=1).bind((HOST, 5000))
    s = _udp(k, (RP,), uid=0)
    s.bind((HOST, 5000))
    assert s.getsockname() == (HOST, 5000)


def test_rebind_is_einval(k):
    """in_pcbbind: inp_lport != 0 -> EINVAL, even for the same address."""
    s = _udp(k)
    s.bind((ANY, 5000))
    assert _errno(s.bind, (ANY, 5000)) == errno.EINVAL
    assert _errno(s.bind, (HOST, 6000)) == errno.EINVAL


def test_bind_after_implicit_bind_is_einval(k):
    """in_pcbbind: a socket implicitly bound by sendto has a local port ->
    EINVAL (netinet/in_pcb.c; docs/sockets.md, bind)."""
    s = _udp(k)
    s.sendto(b"x", (PEER, 53))
    assert _errno(s.bind, (ANY, 0)) == errno.EINVAL


def test_bind_after_connect_is_einval(k):
    """in_pcbbind: after connect the socket has laddr and lport -> EINVAL."""
    s = _udp(k)
    s.connect((PEER, 53))
    assert _errno(s.bind, (ANY, 0)) == errno.EINVAL


@pytest.mark.parametrize("addr", ["203.0.113.9", "192.0.2.7", "127.0.0.2"])
def test_non_local_address(k, addr):
    """in_pcbbind_setup: a unicast address no interface owns ->
    EADDRNOTAVAIL."""
    s = _udp(k)
    assert _errno(s.bind, (addr, 5000)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == (ANY, 0)


def test_bindany_root_binds_foreign_address(k):
    """in_pcbbind_setup: INP_BINDANY skips the local-address check."""
    s = _udp(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_BINDANY, 1)
    assert s.getsockopt(S.IPPROTO_IP, S.IP_BINDANY) == 1
    s.bind(("203.0.113.9", 5000))
    assert s.getsockname() == ("203.0.113.9", 5000)


def test_bindany_unprivileged_eperm(k):
    """ip_ctloutput(IP_BINDANY): priv_check(PRIV_NETINET_BINDANY) fails for
    a non-root user -> EPERM at setsockopt, flag stays off."""
    s = _udp(k, uid=1)
    assert _errno(s.setsockopt, S.IPPROTO_IP, S.IP_BINDANY, 1) == errno.EPERM
    assert s.getsockopt(S.IPPROTO_IP, S.IP_BINDANY) == 0
    assert _errno(s.bind, ("203.0.113.9", 5000)) == errno.EADDRNOTAVAIL


@pytest.mark.parametrize(("port", "want"), [(1, errno.EACCES), (1023, errno.EACCES), (1024, 0)])
def test_reserved_ports_unprivileged(k, port, want):
    """in_pcbbind_setup: reservedlow (0) <= port <= reservedhigh (1023)
    without PRIV_NETINET_RESERVEDPORT -> EACCES."""
    assert _errno(_udp(k, uid=1).bind, (ANY, port)) == want


def test_reserved_port_root(k):
    """in_pcbbind_setup: root may bind port 53."""
    s = _udp(k)
    s.bind((HOST, 53))
    assert s.getsockname() == (HOST, 53)


def test_reservedhigh_sysctl_moves_the_window(k):
    """in_pcbbind_setup reads net.inet.ip.portrange.reservedhigh."""
    k.sysctl("net.inet.ip.portrange.reservedhigh", 2000)
    assert _errno(_udp(k, uid=1).bind, (ANY, 1500)) == errno.EACCES
    assert _errno(_udp(k, uid=1).bind, (ANY, 2001)) == 0


def test_port_zero_unprivileged_gets_ephemeral(k):
    """in_pcbbind_setup: port 0 is never EACCES; in_pcb_lport picks one in
    [first, last]."""
    s = _udp(k, uid=1)
    s.bind((HOST, 0))
    addr, port = s.getsockname()
    assert addr == HOST
    assert 10000 <= port <= 65535


@pytest.mark.parametrize("length", [8, 15, 17])
def test_sa_len_must_be_16(k, length):
    """getsockaddr (kern/uipc_syscalls.c) sets sa_len to the length of the
    name passed, then in_pcbbind_setup: sa_len != sizeof(struct
    sockaddr_in) -> EINVAL. The first byte of the name is not looked at:
    a 16-byte name whose first byte says 8 binds."""
    body = bytes([S.AF_INET]) + (5000).to_bytes(2, "big") + bytes(4) + bytes(8)
    sa = (bytes([16]) + body)[:length] + bytes(max(0, length - 16))
    assert _errno(_udp(k).bind, sa) == errno.EINVAL
    s = _udp(k)
    s.bind(bytes([8]) + body)
    assert s.getsockname() == ("0.0.0.0", 5000)


def test_family_not_checked(k):
    """in_pcbbind_setup: sin_family is not checked (the test is under
    #ifdef notdef): an AF_UNSPEC sockaddr_in binds."""
    s = _udp(k)
    s.bind(bytes([16, S.AF_UNSPEC]) + (5000).to_bytes(2, "big") + bytes([192, 0, 2, 1]) + bytes(8))
    assert s.getsockname() == (HOST, 5000)
