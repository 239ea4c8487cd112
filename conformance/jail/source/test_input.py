"""3. Input: UDP socket selection (in_pcblookup_hash_locked, udp_input), bind conflicts
(in_pcbbind_setup / in_pcblookup_local with the cred filter, prison_equal_ip4),
raw sockets in jails (rip_input) -- FreeBSD 9.1."""

import pytest

from conformance.jail.source.common import errno, oserr, pending, raw_in, settle, sock, udp_in

DG, RAW = sock.SOCK_DGRAM, sock.SOCK_RAW


def multi2(k, name="m2"):
    """Multi-address jail, both addresses configured on em0."""
    k.ifconfig("em0", "192.0.2.3/32", alias=True)
    settle(k)
    k.transmitted("em0")
    return k.jail(name, ip4=["192.0.2.3", "192.0.2.2"])


def bound(stack, addr, port=5000, uid=0, reuse=False):
    s = stack.socket(sock.AF_INET, DG, uid=uid)
    if reuse:
        s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
    s.bind((addr, port))
    return s


def who(k, socks, dst, port=5000):
    """Inject one datagram and return the names of the sockets that received it."""
    udp_in(k, dst, port)
    settle(k)
    return [name for name, s in socks.items() if pending(s) is not None]


# ---------------------------------------------------------------- lookup order


def test_jail_wildcard_vs_host_wildcard_jail_address(k):
    """in_pcblookup_hash_locked: a jailed wildcard whose prison_check_ip4(laddr) passes is
    preferred over the non-jailed wildcard (both jail addresses)."""
    j = multi2(k)
    socks = {"host": bound(k, "0.0.0.0"), "jail": bound(j, "0.0.0.0")}
    assert [who(k, socks, d) for d in ("192.0.2.2", "192.0.2.3")] == [["jail"], ["jail"]]


def test_jail_wildcard_vs_host_wildcard_other_address(k):
    """in_pcblookup_hash_locked: prison_check_ip4 fails for 192.0.2.1 -> host wildcard."""
    j = multi2(k)
    socks = {"host": bound(k, "0.0.0.0"), "jail": bound(j, "0.0.0.0")}
    assert who(k, socks, "192.0.2.1") == ["host"]


@pytest.mark.parametrize("host_first", [True, False])
def test_jail_wildcard_beats_host_exact(k, host_first):
    """in_pcblookup_hash_locked: order 'jailed non-wild, jailed wild, non-jailed non-wild,
    non-jailed wild' -- jail_wild is returned before local_exact."""
    j = multi2(k)
    if host_first:
        socks = {"host": bound(k, "192.0.2.2"), "jail": bound(j, "0.0.0.0")}
    else:
        socks = {"jail": bound(j, "0.0.0.0"), "host": bound(k, "192.0.2.2")}
    assert who(k, socks, "192.0.2.2") == ["jail"]


@pytest.mark.parametrize("host_first", [True, False])
def test_jail_exact_beats_host_exact(k, host_first):
    """in_pcblookup_hash_locked: a jailed exact match returns at once."""
    j = k.jail("s", ip4="192.0.2.2")
    if host_first:
        socks = {"host": bound(k, "192.0.2.2"), "jail": bound(j, "192.0.2.2")}
    else:
        socks = {"jail": bound(j, "192.0.2.2"), "host": bound(k, "192.0.2.2")}
    assert who(k, socks, "192.0.2.2") == ["jail"]


def test_single_jail_latched_vs_host_wildcard(k):
    """in_pcbbind_setup latches the only address; in_pcblookup_hash_locked picks it for
    192.0.2.2 and leaves other addresses to the host wildcard."""
    j = k.jail("s", ip4="192.0.2.2")
    socks = {"host": bound(k, "0.0.0.0"), "jail": bound(j, "0.0.0.0")}
    assert [who(k, socks, d) for d in ("192.0.2.2", "192.0.2.1")] == [["jail"], ["host"]]


def test_two_single_jails_same_address_newest_wins(k):
    """in_pcbinshash: LIST_INSERT_HEAD; in_pcblookup_hash_locked returns the first jailed
    exact match on the chain, i.e. the most recently bound socket."""
    ja = k.jail("a", ip4="192.0.2.2")
    jb = k.jail("b", ip4="192.0.2.2")
    socks = {"a": bound(ja, "0.0.0.0"), "b": bound(jb, "0.0.0.0")}
    assert who(k, socks, "192.0.2.2") == ["b"]


def test_jailed_socket_not_found_for_foreign_address(k):
    """in_pcblookup_hash_locked: jailed wildcard skipped when prison_check_ip4 fails ->
    no socket -> udps_noport and an ICMP port unreachable."""
    j = multi2(k)
    s = bound(j, "0.0.0.0")
    before = k.netstat("udp")["udps_noport"]
    udp_in(k, "192.0.2.1", 5000)
    settle(k)
    assert pending(s) is None
    assert k.netstat("udp")["udps_noport"] - before == 1


def test_broadcast_reaches_jailed_wildcard(k):
    """udp_input broadcast path: LIST_FOREACH over udb with no prison check."""
    j = multi2(k)
    s = bound(j, "0.0.0.0")
    udp_in(k, "192.0.2.255", 5000, dst_mac="ff:ff:ff:ff:ff:ff")
    settle(k)
    assert pending(s) == (b"data", ("192.0.2.7", 40000))


def test_broadcast_misses_latched_single_jail(k):
    """udp_input broadcast path: inp_laddr (latched 192.0.2.2) != ip_dst -> skipped;
    udps_noportbcast counts the drop."""
    j = k.jail("s", ip4="192.0.2.2")
    s = bound(j, "0.0.0.0")
    before = k.netstat("udp")["udps_noportbcast"]
    udp_in(k, "192.0.2.255", 5000, dst_mac="ff:ff:ff:ff:ff:ff")
    settle(k)
    assert pending(s) is None
    assert k.netstat("udp")["udps_noportbcast"] - before == 1


# ---------------------------------------------------------------- bind conflicts


@pytest.mark.parametrize("addr", ["0.0.0.0", "192.0.2.2"])
def test_no_conflict_between_host_and_jail(k, addr):
    """in_pcbbind_setup -> in_pcblookup_local(..., cred): prison_equal_ip4 filters out
    sockets of other IP-restricted prisons (root skips the REUSEPORT block); either order."""
    j = k.jail("s", ip4="192.0.2.2")
    bound(k, addr)
    s1 = bound(j, addr)
    s2 = bound(j, addr, port=5001)
    bound(k, addr, port=5001)
    assert [s1.getsockname(), s2.getsockname()] == [("192.0.2.2", 5000), ("192.0.2.2", 5001)]


def test_no_conflict_nonroot_host_and_jail(k):
    """in_pcbbind_setup: the PRIV_NETINET_REUSEPORT block also looks up with the cred
    filter, so different uids in host and jail do not collide (unlike two host uids)."""
    j = k.jail("s", ip4="192.0.2.2")
    bound(k, "0.0.0.0", uid=1000)
    s = bound(j, "192.0.2.2", uid=1001)
    assert s.getsockname() == ("192.0.2.2", 5000)
    h = k.socket(sock.AF_INET, DG, uid=1001)
    assert oserr(h.bind, ("192.0.2.2", 5000)) == errno.EADDRINUSE


def test_conflict_within_same_jail(k):
    """in_pcblookup_local: same prison passes prison_equal_ip4 -> EADDRINUSE; with
    SO_REUSEADDR lookupflags is 0 and only an exact laddr conflicts."""
    j = multi2(k)
    bound(j, "0.0.0.0")
    s = j.socket(sock.AF_INET, DG)
    assert oserr(s.bind, ("192.0.2.2", 5000)) == errno.EADDRINUSE
    r = bound(j, "192.0.2.2", reuse=True)
    assert r.getsockname() == ("192.0.2.2", 5000)


def test_nonroot_uids_conflict_within_jail(k):
    """in_pcbbind_setup: jailed uid != 0 fails PRIV_NETINET_REUSEPORT; the wildcard lookup
    (same prison) finds another uid's socket -> EADDRINUSE even with SO_REUSEADDR."""
    j = multi2(k)
    bound(j, "0.0.0.0", uid=1000)
    s = j.socket(sock.AF_INET, DG, uid=1001)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
    assert oserr(s.bind, ("192.0.2.2", 5000)) == errno.EADDRINUSE


def test_inherit_jail_conflicts_with_host(k):
    """prison_equal_ip4: an ip4=inherit jail walks up to prison0, same as the host."""
    j = k.jail("inh", ip4="inherit")
    bound(k, "192.0.2.2")
    s = j.socket(sock.AF_INET, DG)
    assert oserr(s.bind, ("0.0.0.0", 5000)) == errno.EADDRINUSE


def test_connect_same_four_tuple_as_host(k):
    """in_pcbconnect_setup: in_pcblookup_hash_locked exact match (no cred filter) ->
    EADDRINUSE."""
    j = k.jail("s", ip4="192.0.2.2")
    h = bound(k, "192.0.2.2")
    h.connect(("192.0.2.7", 6000))
    s = bound(j, "192.0.2.2")
    assert oserr(s.connect, ("192.0.2.7", 6000)) == errno.EADDRINUSE


# ---------------------------------------------------------------- raw input


@pytest.fixture
def rawpair(k):
    j = k.jail("r", ip4="192.0.2.2", allow_raw_sockets=True)
    return j.socket(sock.AF_INET, RAW, 253), k.socket(sock.AF_INET, RAW, 253)


@pytest.mark.parametrize(
    "cases",
    [
        [("192.0.2.2", None, True), ("224.0.0.1", "01:00:5e:00:00:01", True)],
        [("192.0.2.1", None, False), ("192.0.2.255", "ff:ff:ff:ff:ff:ff", False)],
    ],
    ids=["accepted", "refused"],
)
def test_raw_jail_input(k, rawpair, cases):
    """rip_input: jailed_without_vnet -> prison_check_ip4(ip_dst) unless multicast; the
    host's raw socket always gets a copy."""
    js, hs = rawpair
    got = []
    for dst, dst_mac, _ in cases:
        raw_in(k, dst, dst_mac=dst_mac)
        settle(k)
        j = pending(js)
        got.append((dst, j[1][0] if j else None, pending(hs) is not None))
    assert got == [(d, "192.0.2.7" if ok else None, True) for d, _, ok in cases]


def test_raw_jail_only_noproto(k):
    """rip_input: no raw socket accepts -> ips_noproto++."""
    j = k.jail("r", ip4="192.0.2.2", allow_raw_sockets=True)
    s = j.socket(sock.AF_INET, RAW, 253)
    before = k.netstat("ip")["ips_noproto"]
    raw_in(k, "192.0.2.1")
    settle(k)
    assert pending(s) is None
    assert k.netstat("ip")["ips_noproto"] - before == 1
