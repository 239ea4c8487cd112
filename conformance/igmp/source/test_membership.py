"""ASM membership socket options: in_mcast.c inp_join_group / inp_leave_group /
inp_lookup_mcast_ifp / imo_grow (FreeBSD 9.1)."""

import errno

import kstack
from conformance.igmp.source.common import (
    EM0_IP,
    EM1_IP,
    G1,
    G2,
    S1,
    Delta,
    check_errnos,
    errno_of,
    group_req,
    join,
    leave,
    mk,
    rx,
    udp_sock,
)
from kstack import sock

IPP = sock.IPPROTO_IP


def _member_on(k, s, ifname, group=G1, port=5000):
    return len(rx(k, s, ifname, group, port=port)) == 1


def _setopt(s, opt, value):
    return lambda: s.setsockopt(IPP, opt, value)


# ------------------------------------------------------------ interface choice
def test_join_any_uses_route_to_group(k):
    """inp_lookup_mcast_ifp: INADDR_ANY -> in_rtalloc_ign(group) -> the
    default route's interface (em0)."""
    s = udp_sock(k)
    join(s, G1)
    assert _member_on(k, s, "em0")
    d = Delta(k)
    assert not _member_on(k, s, "em1")
    assert d("ip", "ips_notmember") == 1
    # the FIB lookup of the group address wins over the default route
    # (239/8 via a gateway on em1)
    k = mk()
    k.route_add("239.0.0.0/8", "198.51.100.254")
    s = udp_sock(k)
    join(s, G1)
    assert _member_on(k, s, "em1")
    assert not _member_on(k, s, "em0")


def test_join_any_without_route_takes_first_address():
    """inp_lookup_mcast_ifp: no route to the group -> first interface in
    V_in_ifaddrhead (address configuration order) that is not IFF_LOOPBACK
    and is IFF_MULTICAST; lo0 (configured first, at boot) is skipped."""
    for order in (("em0", "em1"), ("em1", "em0")):
        k = kstack.Kernel(profile="9.0", seed=0)
        addrs = {"em0": EM0_IP + "/24", "em1": EM1_IP + "/24"}
        for name in order:
            k.ifconfig(name, addrs[name])
        s = udp_sock(k)
        join(s, G1)
        assert _member_on(k, s, order[0]), order
        assert not _member_on(k, s, order[1]), order
    # Only lo0: no route, and the loop skips IFF_LOOPBACK -> ifp NULL ->
    # inp_join_group returns EADDRNOTAVAIL.
    k = kstack.Kernel(profile="9.0", seed=0)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    assert errno_of(join, s, G1) == errno.EADDRNOTAVAIL


def test_join_any_uses_socket_fib():
    """inp_lookup_mcast_ifp: the route lookup uses inp->inp_inc.inc_fibnum."""
    k = kstack.Kernel(profile="9.0", seed=0, fibs=2)
    k.ifconfig("em0", EM0_IP + "/24")
    k.ifconfig("em1", EM1_IP + "/24")
    k.route_add("default", "192.0.2.254")
    k.route_add("239.0.0.0/8", "198.51.100.254", fib=1)
    s0 = udp_sock(k, 5000)
    s1 = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s1.setsockopt(sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    s1.bind(("0.0.0.0", 5001))
    join(s0, G1)
    join(s1, G1)
    assert _member_on(k, s0, "em0")
    assert _member_on(k, s1, "em1", port=5001)
    assert not _member_on(k, s1, "em0", port=5001)


def test_join_by_address_and_ip_mreqn(k):
    """inp_lookup_mcast_ifp: imr_interface != INADDR_ANY -> INADDR_TO_IFP.
    inp_join_group: IP_ADD_MEMBERSHIP copies in only sizeof(struct ip_mreq)
    (sooptcopyin truncates a 12-byte ip_mreqn): imr_address is taken as the
    interface address and imr_ifindex is never read."""
    a = udp_sock(k, 5000, reuse=True)
    join(a, G1, EM1_IP)
    assert _member_on(k, a, "em1") and not _member_on(k, a, "em0")
    b = udp_sock(k, 5001)  # ifindex em1, address any -> em0
    b.setsockopt(IPP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreqn(G1, "0.0.0.0", k.iface("em1").index))
    assert _member_on(k, b, "em0", port=5001)
    assert not _member_on(k, b, "em1", port=5001)
    c = udp_sock(k, 5002)  # ifindex em0, address em1 -> em1
    c.setsockopt(IPP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreqn(G1, EM1_IP, k.iface("em0").index))
    assert _member_on(k, c, "em1", port=5002)
    assert not _member_on(k, c, "em0", port=5002)


def test_add_membership_errors(k):
    """inp_join_group IP_ADD_MEMBERSHIP: short option -> sooptcopyin
    EINVAL; !IN_MULTICAST -> EINVAL; no ifp for the address ->
    EADDRNOTAVAIL; an existing INCLUDE-mode membership -> EINVAL."""
    s = udp_sock(k)
    s.setsockopt(IPP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G2, S1, "0.0.0.0"))
    o = sock.IP_ADD_MEMBERSHIP
    check_errnos(
        [
            ("unicast", _setopt(s, o, sock.ip_mreq("192.0.2.99")), errno.EINVAL),
            ("broadcast", _setopt(s, o, sock.ip_mreq("255.255.255.255")), errno.EINVAL),
            ("class E", _setopt(s, o, sock.ip_mreq("240.0.0.1")), errno.EINVAL),
            ("foreign iface", _setopt(s, o, sock.ip_mreq(G1, "10.9.9.9")), errno.EADDRNOTAVAIL),
            ("4 bytes", _setopt(s, o, sock.ip_mreq(G1)[:4]), errno.EINVAL),
            ("on INCLUDE", _setopt(s, o, sock.ip_mreq(G2)), errno.EINVAL),
        ]
    )


def test_add_membership_twice_is_eaddrinuse_other_interface_ok(k):
    """inp_join_group: existing exclusive membership on the same ifp ->
    EADDRINUSE; a membership is keyed by (ifp, group), so em1 is new."""
    s = udp_sock(k)
    join(s, G1, EM0_IP)
    assert errno_of(join, s, G1, EM0_IP) == errno.EADDRINUSE
    assert errno_of(join, s, G1, "0.0.0.0") == errno.EADDRINUSE
    join(s, G1, EM1_IP)
    assert _member_on(k, s, "em0") and _member_on(k, s, "em1")


def test_drop_membership_errors(k):
    """inp_leave_group IP_DROP_MEMBERSHIP: imo_match_group fails ->
    EADDRNOTAVAIL; !IN_MULTICAST -> EINVAL; short -> EINVAL."""
    s = udp_sock(k)
    join(s, G1)
    o = sock.IP_DROP_MEMBERSHIP
    check_errnos(
        [
            ("not member", _setopt(s, o, sock.ip_mreq(G2)), errno.EADDRNOTAVAIL),
            ("unicast", _setopt(s, o, sock.ip_mreq("192.0.2.99")), errno.EINVAL),
            ("7 bytes", _setopt(s, o, sock.ip_mreq(G1)[:7]), errno.EINVAL),
        ]
    )


def test_drop_membership_unresolved_interface_matches_any(k):
    """inp_leave_group: INADDR_TO_IFP leaves ifp NULL for 0.0.0.0 or for an
    address that is not ours; imo_match_group(imo, NULL, group) then matches
    the membership on any interface (here em1), which is dropped."""
    for iface in ("0.0.0.0", "10.9.9.9"):
        s = udp_sock(k)
        join(s, G1, EM1_IP)
        leave(s, G1, iface)
        d = Delta(k)
        assert rx(k, s, "em1") == []
        assert d("ip", "ips_notmember") == 1
        assert errno_of(leave, s, G1, iface) == errno.EADDRNOTAVAIL
        s.close()
    # with memberships on both interfaces, the first one in imo_membership
    # (join order) is the one dropped
    s = udp_sock(k)
    join(s, G1, EM1_IP)
    join(s, G1, EM0_IP)
    leave(s, G1, "0.0.0.0")
    assert not _member_on(k, s, "em1")
    assert _member_on(k, s, "em0")


# ------------------------------------------------------------ RFC 3678 API
def test_mcast_join_group_by_index(k):
    """inp_join_group MCAST_JOIN_GROUP: ifnet_byindex(gr_interface)."""
    s = udp_sock(k)
    s.setsockopt(IPP, sock.MCAST_JOIN_GROUP, sock.group_req(k.iface("em1").index, G1))
    assert _member_on(k, s, "em1")
    assert not _member_on(k, s, "em0")
    assert (
        errno_of(s.setsockopt, IPP, sock.MCAST_JOIN_GROUP, sock.group_req(k.iface("em1").index, G1))
        == errno.EADDRINUSE
    )


def test_mcast_join_group_errors(k):
    """inp_join_group MCAST_JOIN_GROUP: checks in order sooptcopyin (136
    bytes), family/len (EINVAL), IN_MULTICAST (EINVAL), gr_interface 0 or
    > V_if_index (EADDRNOTAVAIL)."""
    s = udp_sock(k)
    o = sock.MCAST_JOIN_GROUP
    check_errnos(
        [
            ("ifindex 0", _setopt(s, o, group_req(0, G1)), errno.EADDRNOTAVAIL),
            ("ifindex 99", _setopt(s, o, group_req(99, G1)), errno.EADDRNOTAVAIL),
            ("AF_INET6", _setopt(s, o, group_req(2, G1, family=28)), errno.EINVAL),
            ("sin_len 8", _setopt(s, o, group_req(2, G1, length=8)), errno.EINVAL),
            ("unicast", _setopt(s, o, group_req(2, "192.0.2.99")), errno.EINVAL),
            ("family before ifindex", _setopt(s, o, group_req(0, G1, family=28)), errno.EINVAL),
            ("mcast before ifindex", _setopt(s, o, group_req(0, "192.0.2.99")), errno.EINVAL),
            ("100 bytes", _setopt(s, o, group_req(2, G1)[:100]), errno.EINVAL),
        ]
    )


def test_mcast_join_group_on_loopback_is_silent(k):
    """inp_join_group: lo0 is IFF_MULTICAST, so MCAST_JOIN_GROUP on ifindex
    1 succeeds; igmp_initial_join makes IFF_LOOPBACK groups
    IGMP_SILENT_MEMBER: nothing is sent anywhere."""
    s = udp_sock(k)
    s.setsockopt(IPP, sock.MCAST_JOIN_GROUP, sock.group_req(1, G1))
    k.advance(10)
    for ifn in ("em0", "em1"):
        assert [f for f in k.transmitted(ifn) if f[12:14] == b"\x08\x00"] == []
    assert k.netstat("igmp")["igps_snd_reports"] == 0


def test_mcast_leave_group(k):
    """inp_leave_group MCAST_LEAVE_GROUP: ifindex 0 -> EADDRNOTAVAIL; the
    membership is per ifp (leaving on em1 what was joined on em0 ->
    EADDRNOTAVAIL); bad family -> EINVAL; leaving twice -> EADDRNOTAVAIL."""
    s = udp_sock(k)
    i0, i1 = k.iface("em0").index, k.iface("em1").index
    s.setsockopt(IPP, sock.MCAST_JOIN_GROUP, sock.group_req(i0, G1))
    o = sock.MCAST_LEAVE_GROUP
    check_errnos(
        [
            ("ifindex 0", _setopt(s, o, group_req(0, G1)), errno.EADDRNOTAVAIL),
            ("other ifp", _setopt(s, o, group_req(i1, G1)), errno.EADDRNOTAVAIL),
            ("AF_INET6", _setopt(s, o, group_req(i0, G1, family=28)), errno.EINVAL),
            ("leave", _setopt(s, o, sock.group_req(i0, G1)), 0),
            ("again", _setopt(s, o, sock.group_req(i0, G1)), errno.EADDRNOTAVAIL),
        ]
    )


def test_max_memberships_is_4095():
    """imo_grow: the vector grows 31 -> 63 -> ... -> 4095
    (IP_MAX_MEMBERSHIPS); the next join finds newmax 8191 > 4095 ->
    ETOOMANYREFS."""
    k = mk()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    for i in range(4095):
        g = f"239.0.{i >> 8}.{i & 255}"
        s.setsockopt(IPP, sock.MCAST_JOIN_GROUP, sock.group_req(1, g))
    assert (
        errno_of(s.setsockopt, IPP, sock.MCAST_JOIN_GROUP, sock.group_req(1, "239.0.16.0"))
        == errno.ETOOMANYREFS
    )


def test_getsockopt_of_set_only_options_enoprotoopt(k):
    """ip_ctloutput SOPT_GET: only IP_MULTICAST_IF/VIF/TTL/LOOP and
    IP_MSFILTER reach inp_getmoptions; the rest hit default: ENOPROTOOPT."""
    s = udp_sock(k)
    join(s, G1)
    check_errnos(
        [
            (opt, (lambda o=opt: s.getsockopt(IPP, getattr(sock, o), 16)), errno.ENOPROTOOPT)
            for opt in (
                "IP_ADD_MEMBERSHIP",
                "IP_DROP_MEMBERSHIP",
                "MCAST_JOIN_GROUP",
                "IP_BLOCK_SOURCE",
                "IP_ADD_SOURCE_MEMBERSHIP",
            )
        ]
    )


def test_which_failures_create_ip_moptions(k):
    """inp_findmoptions allocates ip_moptions before the membership lookup
    in inp_leave_group, inp_block_unblock_source and inp_set_source_filters,
    so even their EADDRNOTAVAIL failures leave the socket with multicast
    state, and udp_input then counts ips_notmember for it. A join failing on
    ifp == NULL, or a leave failing the IN_MULTICAST check, returns before
    inp_findmoptions: such a socket is skipped silently."""
    socks = [udp_sock(k, 5000, reuse=True) for _ in range(5)]
    a, b, c, d_, e = socks
    assert errno_of(leave, a, G1) == errno.EADDRNOTAVAIL
    assert errno_of(join, b, G1, "10.9.9.9") == errno.EADDRNOTAVAIL
    assert errno_of(leave, c, "192.0.2.99") == errno.EINVAL
    assert (
        errno_of(
            d_.setsockopt,
            IPP,
            sock.IP_MSFILTER,
            sock.msfilterreq(k.iface("em0").index, G1, 1, [S1]),
        )
        == errno.EADDRNOTAVAIL
    )
    assert (
        errno_of(e.setsockopt, IPP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G1, S1, "0.0.0.0"))
        == errno.EADDRNOTAVAIL
    )
    d = Delta(k)
    assert rx(k, a, "em0") == []
    assert d("ip", "ips_notmember") == 3
    assert d("udp", "udps_noportbcast") == 1
