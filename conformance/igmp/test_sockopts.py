"""The multicast socket options and every errno of netinet/in_mcast.c
(inp_setmoptions, inp_join_group, inp_leave_group, inp_block_unblock_source,
inp_set_source_filters, inp_get_source_filters, inp_set_multicast_if,
inp_getmoptions), FreeBSD 9.0."""

from __future__ import annotations

import errno
import struct

import pytest

from conformance.igmp.helpers import (
    DONT_CARE,
    EM0,
    EM1,
    TO_IN,
    host_v3_report,
    igmp_frames,
    join,
    record,
    run,
    udp_to,
)
from kstack import sock
from kstack.frames import diff_frames

IP = sock.IPPROTO_IP
G = "239.1.1.1"
S1 = "10.0.0.1"
S2 = "10.0.0.2"


def _err(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


@pytest.fixture
def s(k):
    return k.socket(sock.AF_INET, sock.SOCK_DGRAM)


def _groups(k, iface="em0"):
    return {g["group"]: g for g in k.vnet0.ifmcstat(iface)}


# -- joins ------------------------------------------------------------------------------


def test_join_not_multicast_einval(s):
    """inp_join_group: a group outside 224/4 is EINVAL (before any
    interface lookup)."""
    assert _err(s.setsockopt, IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq("10.1.1.1")) == errno.EINVAL


def test_join_short_argument_einval(s):
    """inp_join_group: sooptcopyin of a struct ip_mreq needs 8 bytes."""
    assert _err(s.setsockopt, IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(G)[:7]) == errno.EINVAL


def test_join_twice_eaddrinuse(s):
    """inp_join_group: joining a group again on the same interface with an
    exclude-mode membership is EADDRINUSE (4.4BSD idempotence)."""
    join(s, G)
    assert _err(join, s, G) == errno.EADDRINUSE


def test_join_same_group_two_interfaces(k, s):
    """inp_join_group: memberships are per (group, interface)."""
    join(s, G, "192.0.2.1")
    join(s, G, "198.51.100.1")
    assert G in _groups(k, "em0") and G in _groups(k, "em1")


def test_join_foreign_interface_address_eaddrnotavail(s):
    """inp_lookup_mcast_ifp: imr_interface that is no local address finds
    no interface -> EADDRNOTAVAIL."""
    assert _err(join, s, G, "192.0.2.77") == errno.EADDRNOTAVAIL


def test_ip_mreqn_to_add_membership_reads_only_the_address(k, s):
    """inp_join_group: IP_ADD_MEMBERSHIP copies in sizeof(struct ip_mreq):
    a 12-byte ip_mreqn is cut to 8 bytes, imr_address names the interface
    and imr_ifindex (here em0's) is never read."""
    s.setsockopt(IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreqn(G, "198.51.100.1", EM0))
    assert G in _groups(k, "em1")
    assert G not in _groups(k, "em0")


def test_asm_join_on_ssm_membership_einval(s):
    """inp_join_group: an any-source join where an include-mode membership
    exists is EINVAL (the filter mode is changed with setsourcefilter)."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    assert _err(join, s, G) == errno.EINVAL


def test_source_join_on_asm_membership_einval(s):
    """inp_join_group: a source join on an exclude-mode membership is EINVAL."""
    join(s, G)
    assert (
        _err(s.setsockopt, IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
        == errno.EINVAL
    )


def test_source_join_twice_eaddrnotavail(s):
    """inp_join_group: a source already in the filter is EADDRNOTAVAIL."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    assert (
        _err(s.setsockopt, IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_source_join_adds_to_include_list(k, s):
    """inp_join_group: a second source join grafts into the include list."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    g = _groups(k)[G]
    assert (g["mode"], g["sources"]) == ("include", [S1, S2])


@pytest.mark.parametrize("ifindex", [0, 99])
def test_mcast_join_group_bad_index_eaddrnotavail(s, ifindex):
    """inp_join_group: gsr_interface 0 or above if_index is EADDRNOTAVAIL."""
    assert (
        _err(s.setsockopt, IP, sock.MCAST_JOIN_GROUP, sock.group_req(ifindex, G))
        == errno.EADDRNOTAVAIL
    )


@pytest.mark.parametrize("byte,value", [(8, 15), (9, 28)], ids=["sin_len", "family"])
def test_mcast_join_group_bad_sockaddr_einval(s, byte, value):
    """inp_join_group: a group sockaddr that is not a 16-byte AF_INET
    sockaddr_in is EINVAL."""
    req = bytearray(sock.group_req(EM0, G))
    req[byte] = value
    assert _err(s.setsockopt, IP, sock.MCAST_JOIN_GROUP, bytes(req)) == errno.EINVAL


def test_mcast_join_group_not_multicast_before_index(s):
    """inp_join_group: the multicast test comes before the index test, so a
    unicast group with index 0 is EINVAL, not EADDRNOTAVAIL."""
    assert (
        _err(s.setsockopt, IP, sock.MCAST_JOIN_GROUP, sock.group_req(0, "10.0.0.1")) == errno.EINVAL
    )


def test_mcast_join_source_group_bad_source_einval(s):
    """inp_join_group: MCAST_JOIN_SOURCE_GROUP checks the source sockaddr too."""
    req = bytearray(sock.group_source_req(EM0, G, S1))
    req[136 + 1] = 28  # AF_INET6
    assert _err(s.setsockopt, IP, sock.MCAST_JOIN_SOURCE_GROUP, bytes(req)) == errno.EINVAL


def test_membership_limit_etoomanyrefs(k, s):
    """imo_grow: the membership vector grows 31 -> 63 -> ... -> 4095 and no
    further: the 4096th membership is ETOOMANYREFS."""
    for i in range(4095):
        g = f"239.{i >> 8 & 0xFF}.{i & 0xFF}.1"
        s.setsockopt(IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(g))
    assert _err(join, s, "239.200.0.1") == errno.ETOOMANYREFS


# -- leaves ------------------------------------------------------------------------------


def test_drop_not_member_eaddrnotavail(s):
    """inp_leave_group: no membership -> EADDRNOTAVAIL."""
    assert _err(s.setsockopt, IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G)) == errno.EADDRNOTAVAIL


def test_drop_not_multicast_einval(s):
    """inp_leave_group: a unicast group is EINVAL."""
    assert _err(s.setsockopt, IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq("10.1.1.1")) == errno.EINVAL


def test_drop_without_interface_takes_the_first_membership(k, s):
    """inp_leave_group: imr_interface 0 (or an address that is not ours)
    matches the group on any interface: the first membership goes."""
    join(s, G, "198.51.100.1")
    join(s, G, "192.0.2.1")
    s.setsockopt(IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G, "192.0.2.77"))
    assert G not in _groups(k, "em1")
    assert G in _groups(k, "em0")


def test_drop_source_from_asm_membership_eaddrnotavail(s):
    """inp_leave_group: dropping a source from an exclude-mode membership
    is EADDRNOTAVAIL."""
    join(s, G)
    assert (
        _err(s.setsockopt, IP, sock.IP_DROP_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_drop_unknown_source_eaddrnotavail(s):
    """inp_leave_group: a source not in the include list is EADDRNOTAVAIL."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    assert (
        _err(s.setsockopt, IP, sock.IP_DROP_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
        == errno.EADDRNOTAVAIL
    )


def test_mcast_leave_group_hole_index_eaddrnotavail(k, s):
    """inp_leave_group: MCAST_LEAVE_GROUP with index 0 is EADDRNOTAVAIL."""
    join(s, G)
    assert (
        _err(s.setsockopt, IP, sock.MCAST_LEAVE_GROUP, sock.group_req(0, G)) == errno.EADDRNOTAVAIL
    )


# -- block / unblock --------------------------------------------------------------------


def test_block_not_member_eaddrnotavail(s):
    """inp_block_unblock_source: no membership -> EADDRNOTAVAIL."""
    assert (
        _err(s.setsockopt, IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_block_on_include_membership_einval(s):
    """inp_block_unblock_source: the delta API is for exclude mode only."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    assert _err(s.setsockopt, IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S2)) == errno.EINVAL


def test_block_twice_eaddrnotavail(s):
    """inp_block_unblock_source: blocking a blocked source is EADDRNOTAVAIL."""
    join(s, G)
    s.setsockopt(IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))
    assert (
        _err(s.setsockopt, IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_unblock_not_blocked_eaddrnotavail(s):
    """inp_block_unblock_source: unblocking a source not blocked."""
    join(s, G)
    assert (
        _err(s.setsockopt, IP, sock.IP_UNBLOCK_SOURCE, sock.ip_mreq_source(G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_mcast_block_index_zero_eaddrnotavail(s):
    """inp_block_unblock_source: MCAST_BLOCK_SOURCE index 0."""
    join(s, G)
    assert (
        _err(s.setsockopt, IP, sock.MCAST_BLOCK_SOURCE, sock.group_source_req(0, G, S1))
        == errno.EADDRNOTAVAIL
    )


def test_block_and_unblock_reach_the_group_filter(k, s):
    """inp_block_unblock_source + inm_merge: the only listener excludes S1,
    so the group's exclude list holds it; unblocking removes it."""
    join(s, G)
    s.setsockopt(IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))
    assert _groups(k)[G]["sources"] == [S1]
    s.setsockopt(IP, sock.IP_UNBLOCK_SOURCE, sock.ip_mreq_source(G, S1))
    assert _groups(k)[G]["sources"] == []


# -- IP_MSFILTER -------------------------------------------------------------------------


def test_msfilter_too_many_sources_enobufs(s):
    """inp_set_source_filters: msfr_nsrcs above net.inet.ip.mcast.maxsocksrc
    (128) is ENOBUFS, checked first."""
    join(s, G)
    srcs = [f"10.0.{i >> 8}.{i & 0xFF}" for i in range(129)]
    assert _err(sock.setsourcefilter, s, EM0, G, sock.MCAST_EXCLUDE, srcs) == errno.ENOBUFS


def test_msfilter_bad_mode_einval(s):
    """inp_set_source_filters: a mode other than include/exclude is EINVAL."""
    join(s, G)
    assert _err(sock.setsourcefilter, s, EM0, G, 3, [S1]) == errno.EINVAL


def test_msfilter_not_member_eaddrnotavail(s):
    """inp_set_source_filters: no membership on that interface."""
    join(s, G)
    assert _err(sock.setsourcefilter, s, EM1, G, sock.MCAST_INCLUDE, [S1]) == errno.EADDRNOTAVAIL


def test_msfilter_index_zero_eaddrnotavail(s):
    """inp_set_source_filters: index 0 is EADDRNOTAVAIL."""
    join(s, G)
    assert _err(sock.setsourcefilter, s, 0, G, sock.MCAST_INCLUDE, [S1]) == errno.EADDRNOTAVAIL


def test_msfilter_source_family_eafnosupport(s):
    """inp_set_source_filters: a source entry that is not AF_INET."""
    join(s, G)
    req = bytearray(sock.msfilterreq(EM0, G, sock.MCAST_INCLUDE, [S1]))
    req[sock.MSFILTERREQ_SIZE + 1] = 28
    assert _err(s.setsockopt, IP, sock.IP_MSFILTER, bytes(req)) == errno.EAFNOSUPPORT


def test_msfilter_null_vector_efault(k, s):
    """inp_set_source_filters: copyin from a NULL msfr_srcs faults, and the
    new mode stays at t1 with no rollback (it already counts at the socket:
    imo_multi_filter reads imf_st[1])."""
    join(s, G)
    req = bytearray(sock.msfilterreq(EM0, G, sock.MCAST_INCLUDE, [S1]))
    req[144:152] = bytes(8)
    assert _err(s.setsockopt, IP, sock.IP_MSFILTER, bytes(req)) == errno.EFAULT
    fmode, n, _ = sock.getsourcefilter(s, EM0, G, 4)
    assert (fmode, n) == (sock.MCAST_INCLUDE, 0)


def test_msfilter_enospc_counts_undefined_entries(k, s):
    """imf_get_source: ENOSPC when the filter already holds maxsocksrc
    entries, counting the old sources imf_leave only marked undefined."""
    k.sysctl("net.inet.ip.mcast.maxsocksrc", 2)
    join(s, G)
    sock.setsourcefilter(s, EM0, G, sock.MCAST_INCLUDE, [S1, S2])
    assert _err(sock.setsourcefilter, s, EM0, G, sock.MCAST_INCLUDE, ["10.0.0.3"]) == errno.ENOSPC
    assert sock.getsourcefilter(s, EM0, G, 4) == (sock.MCAST_INCLUDE, 2, [S1, S2])


def test_getsourcefilter_reports_total_and_copies_what_fits(s):
    """inp_get_source_filters: msfr_nsrcs comes back as the number of
    in-mode sources; only as many as the caller asked for are copied."""
    join(s, G)
    sock.setsourcefilter(s, EM0, G, sock.MCAST_EXCLUDE, ["10.0.0.3", S2, S1])
    assert sock.getsourcefilter(s, EM0, G, 2) == (sock.MCAST_EXCLUDE, 3, [S1, S2])
    assert sock.getsourcefilter(s, EM0, G, 0) == (sock.MCAST_EXCLUDE, 3, [])


def test_getsourcefilter_without_multicast_state_eaddrnotavail(s):
    """inp_getmoptions: IP_MSFILTER on a socket without multicast options."""
    assert _err(sock.getsourcefilter, s, EM0, G, 1) == errno.EADDRNOTAVAIL


def test_getsourcefilter_index_zero_einval(s):
    """inp_get_source_filters: index 0 is EINVAL (not EADDRNOTAVAIL as on set)."""
    join(s, G)
    assert _err(sock.getsourcefilter, s, 0, G, 1) == errno.EINVAL


def test_setsourcefilter_exclude_empty_keeps_old_includes(k, s):
    """inp_set_source_filters: with no sources imf_leave is not called, so
    an include-mode source keeps its state while the mode becomes exclude;
    getsourcefilter then counts none (in-mode: state equal to the mode)."""
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    sock.setsourcefilter(s, EM0, G, sock.MCAST_EXCLUDE, [])
    assert sock.getsourcefilter(s, EM0, G, 4) == (sock.MCAST_EXCLUDE, 0, [])
    assert _groups(k)[G]["mode"] == "exclude"


# -- IP_MULTICAST_IF / TTL / LOOP / VIF ------------------------------------------------------


def test_multicast_if_stores_the_interface(k, s):
    """inp_set_multicast_if stores the interface (imo_multicast_addr is
    cleared); inp_getmoptions answers with the interface's first address."""
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    s.setsockopt(IP, sock.IP_MULTICAST_IF, sock._in_addr("192.0.2.9"))
    assert s.getsockopt(IP, sock.IP_MULTICAST_IF, 4) == sock._in_addr("192.0.2.1")


def test_multicast_if_mreqn_reply_with_index(k, s):
    """inp_getmoptions: a 12-byte buffer gets a struct ip_mreqn: multiaddr
    0, the interface's first address, its index."""
    s.setsockopt(IP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", "0.0.0.0", EM1))
    got = s.getsockopt(IP, sock.IP_MULTICAST_IF, 12)
    assert got == bytes(4) + sock._in_addr("198.51.100.1") + struct.pack("<i", EM1)


@pytest.mark.parametrize("ifindex", [-1, 99])
def test_multicast_if_mreqn_bad_index_einval(s, ifindex):
    """inp_set_multicast_if: a negative index or one above if_index is EINVAL."""
    assert (
        _err(s.setsockopt, IP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", "0.0.0.0", ifindex))
        == errno.EINVAL
    )


def test_multicast_if_foreign_address_eaddrnotavail(s):
    """inp_set_multicast_if: an address that is not ours."""
    assert (
        _err(s.setsockopt, IP, sock.IP_MULTICAST_IF, sock._in_addr("192.0.2.77"))
        == errno.EADDRNOTAVAIL
    )


def test_multicast_if_ip_mreq_is_read_as_an_address(s):
    """inp_set_multicast_if: only a 12-byte value is an ip_mreqn; an 8-byte
    ip_mreq is read as an in_addr, i.e. its group, which is no local address."""
    assert (
        _err(s.setsockopt, IP, sock.IP_MULTICAST_IF, sock.ip_mreq(G, "192.0.2.1"))
        == errno.EADDRNOTAVAIL
    )


def test_multicast_ttl_int_above_255_einval(s):
    """inp_setmoptions: an int TTL above 255 is EINVAL; a 1-byte value is
    taken as is."""
    assert _err(s.setsockopt, IP, sock.IP_MULTICAST_TTL, 256) == errno.EINVAL
    s.setsockopt(IP, sock.IP_MULTICAST_TTL, b"\xff")
    assert s.getsockopt(IP, sock.IP_MULTICAST_TTL, 1) == b"\xff"
    assert s.getsockopt(IP, sock.IP_MULTICAST_TTL) == 255


def test_multicast_loop_int_cut_to_a_byte(s):
    """inp_setmoptions: the u_int loop value is cast to u_char before it is
    tested: 256 turns loopback off."""
    s.setsockopt(IP, sock.IP_MULTICAST_LOOP, 256)
    assert s.getsockopt(IP, sock.IP_MULTICAST_LOOP) == 0


def test_multicast_vif(s):
    """inp_setmoptions: without multicast routing (legal_vif_num NULL)
    IP_MULTICAST_VIF is EOPNOTSUPP; inp_getmoptions reads -1."""
    assert _err(s.setsockopt, IP, sock.IP_MULTICAST_VIF, 0) == errno.EOPNOTSUPP
    assert s.getsockopt(IP, sock.IP_MULTICAST_VIF) == -1


def test_getsockopt_membership_option_enoprotoopt(s):
    """ip_ctloutput: IP_ADD_MEMBERSHIP cannot be read back (ENOPROTOOPT)."""
    assert _err(s.getsockopt, IP, sock.IP_ADD_MEMBERSHIP) == errno.ENOPROTOOPT


def test_failed_leave_still_creates_multicast_state(k, s, delta):
    """inp_leave_group allocates the socket's ip_moptions before it finds no
    membership; from then on udp_input counts a multicast datagram to its
    port as ips_notmember instead of skipping the socket silently."""
    s.bind(("0.0.0.0", 5000))
    _err(s.setsockopt, IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G))
    with delta(k) as d:
        k.input("em0", udp_to(G, 5000))
    assert d["ip"].get("ips_notmember") == 1
    assert d["udp"] == {"udps_ipackets": 1, "udps_noportbcast": 1}


# -- the group-level source limit ------------------------------------------------------


def test_group_source_limit_enospc(k):
    """inm_merge: a group (per interface) tracks at most
    net.inet.ip.mcast.maxgrpsrc sources; a join that needs one more fails
    with ENOSPC and leaves no membership."""
    k.sysctl("net.inet.ip.mcast.maxgrpsrc", 2)
    a = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    a.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    a.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
    b = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert (
        _err(b.setsockopt, IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, "10.0.0.3"))
        == errno.ENOSPC
    )
    assert _err(sock.getsourcefilter, b, EM0, G, 1) == errno.EADDRNOTAVAIL
    assert _groups(k)[G]["refcount"] == 1


def test_group_source_limit_backout_leaves_a_phantom_source(k):
    """inm_merge's error path walks the group's own source tree downwards
    from the last source it merged, reading each entry as a socket-layer
    one; with zero t0 exclude counts it undoes nothing. The source merged
    before the limit was hit (10.0.0.0) keeps its include count: once the
    exclude-mode listener leaves, the TO_IN report lists it."""
    k.sysctl("net.inet.ip.mcast.maxgrpsrc", 3)
    a = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    a.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    a.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
    b = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(b, G)
    assert (
        _err(sock.setsourcefilter, b, EM0, G, sock.MCAST_INCLUDE, ["10.0.0.0", "10.0.0.9"])
        == errno.ENOSPC
    )
    run(k, 5)
    b.close()
    frames = igmp_frames(run(k, 5))
    assert len(frames) == 2
    want = host_v3_report([record(TO_IN, G, ["10.0.0.0", S1, S2])])
    assert not diff_frames(frames[0][1], want, DONT_CARE)
