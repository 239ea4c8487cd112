"""bind(2) on UDP sockets: in_pcbbind / in_pcbbind_setup (sys/netinet/in_pcb.c).

Line numbers are from 9.1 (release/9.1.0). Where head of February 2011
differs on a tested rule, the test says so.
"""

import pytest

from .common import (
    EM1_MAC,
    PEER1,
    PEER1_MAC,
    add_default,
    err,
    errno,
    make_host,
    moved,
    pending,
    reuseaddr,
    reuseport,
    sin,
    snap,
    sock,
    udp_in,
    udp_sock,
)


def test_bind_twice_einval(k):
    """in_pcb.c in_pcbbind 332-333: a pcb that already has a local port (or
    address) cannot be bound again: EINVAL, and the first binding stays."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    assert err(s.bind, ("0.0.0.0", 7001)) == errno.EINVAL
    assert err(s.bind, ("192.0.2.1", 7000)) == errno.EINVAL
    assert s.getsockname() == ("0.0.0.0", 7000)


def test_bind_after_implicit_bind_einval(k):
    """udp_usrreq.c udp_output 1142-1159 commits an ephemeral port on the
    first sendto; in_pcb.c in_pcbbind 332-333 then refuses bind with EINVAL."""
    s = udp_sock(k)
    s.sendto(b"x", ("192.0.2.7", 53))
    port = s.getsockname()[1]
    assert port != 0
    assert err(s.bind, ("0.0.0.0", 7000)) == errno.EINVAL
    assert s.getsockname() == ("0.0.0.0", port)


def test_bind_address_not_local(k):
    """in_pcb.c in_pcbbind_setup 540-550: a unicast address that no interface
    has (ifa_ifwithaddr_check) is EADDRNOTAVAIL; the socket stays unbound."""
    s = udp_sock(k)
    assert err(s.bind, ("203.0.113.1", 7000)) == errno.EADDRNOTAVAIL
    assert err(s.bind, ("192.0.2.7", 7000)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == ("0.0.0.0", 0)


def test_bind_address_not_local_with_bindany(k):
    """in_pcb.c in_pcbbind_setup 548-549 skip the local-address check when
    INP_BINDANY is set (ip_output.c ip_ctloutput 974-980, 1054-1055: root may
    set IP_BINDANY)."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_BINDANY, 1)
    s.bind(("203.0.113.1", 7000))
    assert s.getsockname() == ("203.0.113.1", 7000)


def test_bindany_needs_privilege(k):
    """ip_output.c ip_ctloutput 974-980: IP_BINDANY needs PRIV_NETINET_BINDANY,
    which an unprivileged credential lacks (kern_priv.c priv_check_cred 142: EPERM)."""
    s = udp_sock(k, uid=1000)
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_BINDANY, 1) == errno.EPERM
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_BINDANY) == 0


def test_bind_subnet_broadcast_address(k):
    """in_pcb.c in_pcbbind_setup 548-549 calls ifa_ifwithaddr_check, which
    also matches the broadcast address of a broadcast interface (net/if.c
    ifa_ifwithaddr_internal 1546-1554): binding 192.0.2.255 succeeds.
    udp_usrreq.c udp_input 444-460 then hands that socket the subnet
    broadcasts (its bound address equals ip_dst), and a unicast to
    192.0.2.1 finds no socket (in_pcb.c in_pcblookup_hash_locked 1722-1738)."""
    s = udp_sock(k)
    s.bind(("192.0.2.255", 7000))
    assert s.getsockname() == ("192.0.2.255", 7000)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac="ff:ff:ff:ff:ff:ff", payload=b"bc")
    assert pending(s) == (b"bc", ("192.0.2.7", 40000))
    before = snap(k)
    udp_in(k, 7000, payload=b"uc")
    assert pending(s) is None
    assert moved(k, before)["udps_noport"] == 1


def test_bind_multicast_address_not_checked(k):
    """in_pcb.c in_pcbbind_setup 530-539: for a multicast address there is no
    local-address check; the socket is bound to the group address."""
    s = udp_sock(k)
    s.bind(("239.1.2.3", 7000))
    assert s.getsockname() == ("239.1.2.3", 7000)


def test_reserved_port_needs_privilege(k):
    """in_pcb.c in_pcbbind_setup 557-562: a port in reservedlow..reservedhigh
    (0..1023 by default, 118-119) needs PRIV_NETINET_RESERVEDPORT: EACCES for
    an unprivileged credential, allowed for root."""
    assert k.sysctl("net.inet.ip.portrange.reservedhigh") == 1023
    assert k.sysctl("net.inet.ip.portrange.reservedlow") == 0
    u = udp_sock(k, uid=1000)
    assert err(u.bind, ("0.0.0.0", 1023)) == errno.EACCES
    assert err(u.bind, ("192.0.2.1", 1)) == errno.EACCES
    assert u.getsockname() == ("0.0.0.0", 0)
    u.bind(("0.0.0.0", 1024))
    r = udp_sock(k)
    r.bind(("0.0.0.0", 1023))
    assert r.getsockname() == ("0.0.0.0", 1023)


def test_reserved_range_follows_sysctls(k):
    """in_pcb.c in_pcbbind_setup 558-559 compare the port with
    net.inet.ip.portrange.reservedhigh and reservedlow (185-188)."""
    k.sysctl("net.inet.ip.portrange.reservedhigh", 99)
    a = udp_sock(k, uid=1000)
    assert err(a.bind, ("0.0.0.0", 99)) == errno.EACCES
    a.bind(("0.0.0.0", 100))
    k.sysctl("net.inet.ip.portrange.reservedlow", 50)
    b = udp_sock(k, uid=1000)
    assert err(b.bind, ("0.0.0.0", 50)) == errno.EACCES
    b.bind(("0.0.0.0", 49))
    assert b.getsockname() == ("0.0.0.0", 49)


def test_port_zero_is_not_a_reserved_port(k):
    """in_pcb.c in_pcbbind_setup 553: the reserved-port check runs only for a
    non-zero port; port 0 asks for an ephemeral one (612-617) from the default
    range net.inet.ip.portrange.first..last (108-109: 10000..65535)."""
    u = udp_sock(k, uid=1000)
    u.bind(("0.0.0.0", 0))
    addr, port = u.getsockname()
    assert addr == "0.0.0.0"
    assert 10000 <= port <= 65535


def test_wildcard_conflicts(k):
    """in_pcb.c in_pcbbind_setup 503-504 (no SO_REUSEADDR/SO_REUSEPORT: a
    wildcard lookup), 583-606; in_pcblookup_local 1414-1480 (a wildcard pcb
    matches any local address): *:7000 taken makes *:7000 and
    192.0.2.1:7000 EADDRINUSE."""
    a = udp_sock(k)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    assert err(b.bind, ("0.0.0.0", 7000)) == errno.EADDRINUSE
    assert err(b.bind, ("192.0.2.1", 7000)) == errno.EADDRINUSE
    assert b.getsockname() == ("0.0.0.0", 0)


def test_specific_then_wildcard_conflicts(k):
    """in_pcb.c in_pcblookup_local 1463-1467: looking up the wildcard address
    finds a pcb bound to a specific one (EADDRINUSE, in_pcbbind_setup 596-606),
    while a different specific address is skipped and binds."""
    a = udp_sock(k)
    a.bind(("192.0.2.1", 7000))
    b = udp_sock(k)
    assert err(b.bind, ("0.0.0.0", 7000)) == errno.EADDRINUSE
    b.bind(("198.51.100.1", 7000))
    assert b.getsockname() == ("198.51.100.1", 7000)


def test_reuseaddr_binds_specific_beside_wildcard(k):
    """in_pcb.c in_pcbbind_setup 503-504: with SO_REUSEADDR the lookup is not a
    wildcard one (in_pcblookup_local 1384-1413: exact local address only), so
    192.0.2.1:7000 binds beside *:7000. Unicast lookup (in_pcblookup_hash_locked
    1718-1745) then prefers the exact local address over the wildcard."""
    a = udp_sock(k)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseaddr(b)
    b.bind(("192.0.2.1", 7000))
    udp_in(k, 7000, payload=b"to-em0")
    udp_in(
        k,
        7000,
        dst="198.51.100.1",
        src=PEER1,
        ifname="em1",
        src_mac=PEER1_MAC,
        dst_mac=EM1_MAC,
        payload=b"to-em1",
    )
    assert pending(b) == (b"to-em0", ("192.0.2.7", 40000))
    assert pending(b) is None
    assert pending(a) == (b"to-em1", (PEER1, 40000))
    assert pending(a) is None


def test_reuseaddr_same_unicast_address_conflicts(k):
    """in_pcb.c in_pcbbind_setup 489, 530-539: SO_REUSEADDR counts as
    SO_REUSEPORT only for multicast addresses; for a unicast (or wildcard)
    address two SO_REUSEADDR sockets conflict (596-606: reuseport == 0)."""
    a = udp_sock(k)
    reuseaddr(a)
    a.bind(("192.0.2.1", 7000))
    b = udp_sock(k)
    reuseaddr(b)
    assert err(b.bind, ("192.0.2.1", 7000)) == errno.EADDRINUSE
    c = udp_sock(k)
    reuseaddr(c)
    c.bind(("0.0.0.0", 7001))
    d = udp_sock(k)
    reuseaddr(d)
    assert err(d.bind, ("0.0.0.0", 7001)) == errno.EADDRINUSE


def test_reuseport_same_address_newest_gets_unicast(k):
    """in_pcb.c in_pcbbind_setup 596-607: both sockets with SO_REUSEPORT may
    share 192.0.2.1:7000. A unicast datagram goes to one socket only: the
    first exact match in the hash chain (in_pcblookup_hash_locked 1718-1726),
    i.e. the one bound last (in_pcbinshash_internal 1902-1903 inserts at the
    head)."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("192.0.2.1", 7000))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("192.0.2.1", 7000))
    udp_in(k, 7000, payload=b"one")
    assert pending(b) == (b"one", ("192.0.2.7", 40000))
    assert pending(a) is None


def test_reuseport_wildcard_oldest_gets_unicast(k):
    """in_pcb.c in_pcblookup_hash_locked 1727-1737, 1744-1745: among wildcard
    sockets local_wild is overwritten along the chain, so the last one in the
    chain, the one bound first, takes a unicast datagram."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("0.0.0.0", 7000))
    udp_in(k, 7000, payload=b"one")
    assert pending(a) == (b"one", ("192.0.2.7", 40000))
    assert pending(b) is None


def test_reuseport_needs_it_on_the_holder(k):
    """in_pcb.c in_pcbbind_setup 596-597: the pcb already holding the port must
    have SO_REUSEPORT too (INP_REUSEPORT in 9.1, so_options in head 2011: the
    same here)."""
    a = udp_sock(k)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseport(b)
    assert err(b.bind, ("0.0.0.0", 7000)) == errno.EADDRINUSE


def test_reuseport_across_unprivileged_users(k):
    """in_pcb.c in_pcbbind_setup 563-581: for an unprivileged credential a
    holder of the port with another uid makes the bind EADDRINUSE, unless both
    are wildcard binds and the holder has SO_REUSEPORT (576-578). Root skips
    this block (PRIV_NETINET_REUSEPORT)."""
    a = udp_sock(k, uid=1000)
    reuseport(a)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k, uid=2000)
    reuseport(b)
    b.bind(("0.0.0.0", 7000))
    assert b.getsockname() == ("0.0.0.0", 7000)

    c = udp_sock(k, uid=1000)
    reuseport(c)
    c.bind(("0.0.0.0", 7001))
    d = udp_sock(k, uid=2000)
    reuseport(d)
    assert err(d.bind, ("192.0.2.1", 7001)) == errno.EADDRINUSE
    e = udp_sock(k, uid=1000)
    reuseport(e)
    e.bind(("192.0.2.1", 7001))
    r = udp_sock(k)
    reuseport(r)
    r.bind(("198.51.100.1", 7001))

    f = udp_sock(k, uid=1000)
    f.bind(("0.0.0.0", 7002))
    g = udp_sock(k, uid=2000)
    reuseport(g)
    assert err(g.bind, ("0.0.0.0", 7002)) == errno.EADDRINUSE


def test_multicast_reuseport_shares(k):
    """in_pcb.c in_pcbbind_setup 530-539, 563 (no uid block for multicast),
    596-607: two SO_REUSEPORT sockets share 239.1.2.3:7000, also when they
    belong to two unprivileged users."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("239.1.2.3", 7000))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("239.1.2.3", 7000))
    assert b.getsockname() == ("239.1.2.3", 7000)
    c = udp_sock(k, uid=1000)
    reuseport(c)
    c.bind(("239.1.2.4", 7000))
    d = udp_sock(k, uid=2000)
    reuseport(d)
    d.bind(("239.1.2.4", 7000))
    assert d.getsockname() == ("239.1.2.4", 7000)


def test_multicast_reuseaddr_set_on_bound_holder(k):
    """in_pcb.c in_pcbbind_setup 538-539: SO_REUSEADDR counts as SO_REUSEPORT
    on a multicast bind. The holder here set SO_REUSEADDR after binding to the
    group, which marks it reusable in 9.1 (ip_output.c ip_ctloutput 909-917)
    and in head 2011 (so_options read directly): the second bind succeeds.
    A holder without either option refuses it (596-606)."""
    a = udp_sock(k)
    a.bind(("239.1.2.3", 7000))
    reuseaddr(a)
    b = udp_sock(k)
    reuseaddr(b)
    b.bind(("239.1.2.3", 7000))
    c = udp_sock(k)
    c.bind(("239.1.2.3", 7001))
    d = udp_sock(k)
    reuseaddr(d)
    assert err(d.bind, ("239.1.2.3", 7001)) == errno.EADDRINUSE


def test_sockaddr_length_checked_family_not(k):
    """in_pcb.c in_pcbbind_setup 510-511: sa_len other than 16 is EINVAL;
    512-519: the family is deliberately not checked (under notdef), so a
    16-byte sockaddr with family AF_UNSPEC binds like an AF_INET one."""
    s = udp_sock(k)
    assert err(s.bind, sin("0.0.0.0", 7000, length=8, sa_len=8)) == errno.EINVAL
    assert s.getsockname() == ("0.0.0.0", 0)
    s.bind(sin("0.0.0.0", 7000, family=sock.AF_UNSPEC))
    assert s.getsockname() == ("0.0.0.0", 7000)


def test_sa_len_comes_from_the_address_length(k):
    """kern/uipc_syscalls.c getsockaddr 1701-1710: the kernel overwrites sa_len
    with the length the caller passed, so a 16-byte sockaddr_in whose sa_len
    byte says 0 passes in_pcbbind_setup 510."""
    s = udp_sock(k)
    s.bind(sin("192.0.2.1", 7000, sa_len=0))
    assert s.getsockname() == ("192.0.2.1", 7000)


def test_ephemeral_port_default_range(k):
    """in_pcb.c in_pcb_lport 385-389 (default range first..last = 10000..65535,
    108-109), 396-400 (UDP always randomises): an ephemeral bind lands in the
    range and keeps the wildcard address."""
    ports = set()
    for _ in range(20):
        s = udp_sock(k)
        s.bind(("0.0.0.0", 0))
        addr, port = s.getsockname()
        assert addr == "0.0.0.0"
        assert 10000 <= port <= 65535
        ports.add(port)
    assert len(ports) == 20


def test_sequential_when_not_randomized():
    """in_pcb.c in_pcb_lport 396-400 (randomized=0: no random start), 438-444:
    the search starts after the pcbinfo's last port (initially 0, so at
    'first') and continues from there, even after an earlier port was freed."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 20000)
    socks = []
    for want in (20000, 20001, 20002):
        s = udp_sock(k)
        s.bind(("0.0.0.0", 0))
        assert s.getsockname() == ("0.0.0.0", want)
        socks.append(s)
    socks[0].close()
    s = udp_sock(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname() == ("0.0.0.0", 20003)


def test_sequential_skips_ports_in_use():
    """in_pcb.c in_pcb_lport 438-458: a candidate port that in_pcblookup_local
    finds in use is skipped."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40005)
    held = udp_sock(k)
    held.bind(("0.0.0.0", 40000))
    s = udp_sock(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname() == ("0.0.0.0", 40001)


def test_high_range():
    """in_pcb.c in_pcb_lport 374-377: IP_PORTRANGE_HIGH takes hifirst..hilast
    (110-111: 49152..65535) and its own last-port cursor (ipi_lasthi)."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    for want in (49152, 49153):
        s = udp_sock(k)
        s.setsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE, sock.IP_PORTRANGE_HIGH)
        s.bind(("0.0.0.0", 0))
        assert s.getsockname() == ("0.0.0.0", want)
    d = udp_sock(k)
    d.bind(("0.0.0.0", 0))
    assert d.getsockname() == ("0.0.0.0", 10000)


def test_low_range_counts_upward_from_lowlast():
    """in_pcb.c in_pcb_lport 378-384: IP_PORTRANGE_LOW takes lowfirst=1023 and
    lowlast=600 (106-107); 415-419 swap them so the walk goes 600, 601, ..."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    for want in (600, 601):
        s = udp_sock(k)
        s.setsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE, sock.IP_PORTRANGE_LOW)
        s.bind(("0.0.0.0", 0))
        assert s.getsockname() == ("0.0.0.0", want)


def test_low_range_needs_privilege(k):
    """in_pcb.c in_pcb_lport 378-381: the low range needs
    PRIV_NETINET_RESERVEDPORT; priv_check_cred's error is EPERM
    (kern_priv.c 142), not the EACCES of an explicit reserved port."""
    s = udp_sock(k, uid=1000)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE, sock.IP_PORTRANGE_LOW)
    assert err(s.bind, ("0.0.0.0", 0)) == errno.EPERM
    assert s.getsockname() == ("0.0.0.0", 0)
    assert err(s.connect, ("192.0.2.7", 53)) == errno.EPERM


def test_single_port_range_exhausted():
    """in_pcb.c in_pcb_lport 405-406 (first == last: no randomisation),
    436-440: one candidate; when it is taken the bind is EADDRNOTAVAIL."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40000)
    a = udp_sock(k)
    a.bind(("0.0.0.0", 0))
    assert a.getsockname() == ("0.0.0.0", 40000)
    b = udp_sock(k)
    assert err(b.bind, ("0.0.0.0", 0)) == errno.EADDRNOTAVAIL
    assert err(b.sendto, b"x", ("192.0.2.7", 53)) == errno.EADDRNOTAVAIL


def test_randomized_range_covers_every_port_once():
    """in_pcb.c in_pcb_lport 433-458: from a random start the walk tries
    last-first+1 candidates, wrapping at 'last'; so 20 binds in a 20-port range
    get 20 distinct ports of the range, and the 21st is EADDRNOTAVAIL."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40019)
    assert k.sysctl("net.inet.ip.portrange.randomized") == 1
    got = []
    for _ in range(20):
        s = udp_sock(k)
        s.bind(("0.0.0.0", 0))
        got.append(s.getsockname()[1])
    assert sorted(got) == list(range(40000, 40020))
    s = udp_sock(k)
    assert err(s.bind, ("0.0.0.0", 0)) == errno.EADDRNOTAVAIL


def test_reversed_range_is_swapped():
    """in_pcb.c in_pcb_lport 415-419: first > last is walked as last..first."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 40010)
    k.sysctl("net.inet.ip.portrange.last", 40000)
    s = udp_sock(k)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname() == ("0.0.0.0", 40000)


def test_portrange_sysctls_are_clamped(k):
    """in_pcb.c sysctl_net_ipport_check 142-161: after a write every range
    variable is clamped: low ones to 1..1023, the others to 1024..65535."""
    assert k.sysctl("net.inet.ip.portrange.first", 5) == 10000
    assert k.sysctl("net.inet.ip.portrange.first") == 1024
    k.sysctl("net.inet.ip.portrange.last", 70000)
    assert k.sysctl("net.inet.ip.portrange.last") == 65535
    k.sysctl("net.inet.ip.portrange.lowfirst", 2000)
    assert k.sysctl("net.inet.ip.portrange.lowfirst") == 1023
    k.sysctl("net.inet.ip.portrange.lowlast", 0)
    assert k.sysctl("net.inet.ip.portrange.lowlast") == 1
    k.sysctl("net.inet.ip.portrange.hifirst", 100)
    assert k.sysctl("net.inet.ip.portrange.hifirst") == 1024


def test_portrange_defaults(k):
    """in_pcb.c 106-124: the compiled-in defaults."""
    want = {
        "lowfirst": 1023,
        "lowlast": 600,
        "first": 10000,
        "last": 65535,
        "hifirst": 49152,
        "hilast": 65535,
        "reservedhigh": 1023,
        "reservedlow": 0,
        "randomized": 1,
        "randomcps": 10,
        "randomtime": 45,
    }
    got = {n: k.sysctl("net.inet.ip.portrange." + n) for n in want}
    assert got == want


@pytest.mark.parametrize(
    "value, reads",
    [
        (sock.IP_PORTRANGE_DEFAULT, 0),
        (sock.IP_PORTRANGE_HIGH, 1),
        (sock.IP_PORTRANGE_LOW, 2),
    ],
)
def test_ip_portrange_option(k, value, reads):
    """ip_output.c ip_ctloutput 1088-1113 (set), 1206-1212 (get)."""
    s = udp_sock(k)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE) == 0
    s.setsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE, value)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_PORTRANGE) == reads


def test_ip_portrange_bad_value(k):
    """ip_output.c ip_ctloutput 1108-1111: any other value is EINVAL."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_PORTRANGE, 3) == errno.EINVAL


def test_bind_port_held_by_connected_socket(k):
    """in_pcb.c in_pcblookup_local 1461-1462: a connected pcb still matches a
    wildcard lookup of its port (with one more 'wildcard' point), so binding
    *:port without options is EADDRINUSE."""
    add_default(k)
    a = udp_sock(k)
    a.connect(("192.0.2.7", 53))
    port = a.getsockname()[1]
    b = udp_sock(k)
    assert err(b.bind, ("0.0.0.0", port)) == errno.EADDRINUSE
    c = udp_sock(k)
    assert err(c.bind, ("198.51.100.1", port)) == 0


def test_connect_ephemeral_port_checked_against_chosen_address():
    """in_pcb.c in_pcbconnect_setup 1016-1021 -> in_pcbbind_setup with the
    selected source -> in_pcb_lport 455-456: the candidate port is looked up
    with that address, so a port another socket holds on a different address
    is taken (in_pcblookup_local 1466-1467 skips it), while a wildcard
    ephemeral bind skips it (1463-1465)."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40001)
    a = udp_sock(k)
    a.bind(("198.51.100.1", 40000))
    c = udp_sock(k)
    c.bind(("0.0.0.0", 0))
    assert c.getsockname() == ("0.0.0.0", 40001)
    b = udp_sock(k)
    b.connect(("192.0.2.7", 53))
    assert b.getsockname() == ("192.0.2.1", 40000)


def test_sendto_implicit_port_coexists_with_other_address():
    """udp_usrreq.c udp_output 1127-1159: the implicit bind chooses the port
    for the selected source (as above) but commits it with the wildcard
    address, leaving *:40000 beside 198.51.100.1:40000, a pair bind() would
    refuse. Unicast lookup then gives each address its socket
    (in_pcb.c in_pcblookup_hash_locked 1722-1745)."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40001)
    a = udp_sock(k)
    a.bind(("198.51.100.1", 40000))
    b = udp_sock(k)
    b.sendto(b"x", ("192.0.2.7", 53))
    assert b.getsockname() == ("0.0.0.0", 40000)
    udp_in(k, 40000, payload=b"em0")
    udp_in(
        k,
        40000,
        dst="198.51.100.1",
        src=PEER1,
        ifname="em1",
        src_mac=PEER1_MAC,
        dst_mac=EM1_MAC,
        payload=b"em1",
    )
    assert pending(b) == (b"em0", ("192.0.2.7", 40000))
    assert pending(a) == (b"em1", (PEER1, 40000))


def test_randomized_two_port_range_is_deterministic():
    """in_pcb.c in_pcb_lport 433-444: the random start is first +
    arc4random() % (last - first), and the walk increments before trying, so
    with first=40000, last=40001 the start is always 40000 and the first
    candidate always 40001; the second bind wraps to 40000."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40001)
    a = udp_sock(k)
    a.bind(("0.0.0.0", 0))
    b = udp_sock(k)
    b.bind(("0.0.0.0", 0))
    assert (a.getsockname()[1], b.getsockname()[1]) == (40001, 40000)


def test_randomized_first_port_of_range_never_chosen_first():
    """in_pcb.c in_pcb_lport 433-444: the random start lies in first..last-1
    and the candidate after it is tried first, so with nothing in use the
    port 'first' itself is never picked."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40002)
    seen = set()
    for _ in range(60):
        s = udp_sock(k)
        s.bind(("0.0.0.0", 0))
        seen.add(s.getsockname()[1])
        s.close()
    assert seen <= {40001, 40002}
    assert len(seen) == 2


def test_ephemeral_search_uses_the_reuse_lookup():
    """in_pcb.c in_pcbbind_setup 503-504, 613: the ephemeral search gets the
    same lookup flags as the bind: without SO_REUSEADDR a wildcard lookup
    (a *:40000 holder makes 40000 busy for 192.0.2.1), with it an exact one
    (in_pcblookup_local 1384-1413), which does not see the wildcard holder."""
    k = make_host()
    k.sysctl("net.inet.ip.portrange.randomized", 0)
    k.sysctl("net.inet.ip.portrange.first", 40000)
    k.sysctl("net.inet.ip.portrange.last", 40010)
    held = udp_sock(k)
    held.bind(("0.0.0.0", 40000))
    plain = udp_sock(k)
    plain.bind(("192.0.2.1", 0))
    assert plain.getsockname() == ("192.0.2.1", 40001)

    k2 = make_host()
    k2.sysctl("net.inet.ip.portrange.randomized", 0)
    k2.sysctl("net.inet.ip.portrange.first", 40000)
    k2.sysctl("net.inet.ip.portrange.last", 40010)
    held2 = udp_sock(k2)
    held2.bind(("0.0.0.0", 40000))
    reuse = udp_sock(k2)
    reuseaddr(reuse)
    reuse.bind(("192.0.2.1", 0))
    assert reuse.getsockname() == ("192.0.2.1", 40000)
