"""Source-specific options and IP_MSFILTER: in_mcast.c inp_join_group,
inp_leave_group, inp_block_unblock_source, inp_set_source_filters,
inp_get_source_filters, imf_get_source, inm_get_source (FreeBSD 9.1)."""

import errno
import struct

import pytest

from conformance.igmp.source.common import (
    EM1_IP,
    G1,
    G2,
    MCAST_EXCLUDE,
    MCAST_INCLUDE,
    MSFR_LEN,
    S1,
    S2,
    S3,
    Delta,
    add_src,
    block,
    check_errnos,
    drop_src,
    errno_of,
    get_msf,
    group_source_req,
    join,
    leave,
    mk,
    msfr_fields,
    rx,
    set_msf,
    sin,
    udp_sock,
    unblock,
)
from kstack import sock

IPP = sock.IPPROTO_IP


def em0(k):
    return k.iface("em0").index


# ------------------------------------------------ IP_ADD/DROP_SOURCE_MEMBERSHIP
def test_add_source_membership_and_getsourcefilter(k):
    """inp_join_group IP_ADD_SOURCE_MEMBERSHIP: new membership in INCLUDE
    mode, imf_graft of each source; inp_get_source_filters reports the
    sources in RB-tree (ascending host-order address) order."""
    s = udp_sock(k)
    add_src(s, G1, S3)
    add_src(s, G1, S1)
    add_src(s, G1, S2)
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 3, [S1, S2, S3])
    # inp_leave_group closes the gap in imo_membership/imo_mfilters: the
    # filter of a later membership moves down with it
    add_src(s, G2, S2)
    leave(s, G1)
    assert get_msf(s, em0(k), G2) == (MCAST_INCLUDE, 1, [S2])
    assert errno_of(get_msf, s, em0(k), G1) == errno.EADDRNOTAVAIL


def test_source_membership_errors(k):
    """inp_join_group IP_ADD_SOURCE_MEMBERSHIP: on an EXCLUDE membership ->
    EINVAL; duplicate source -> EADDRNOTAVAIL; 8 bytes -> EINVAL;
    !IN_MULTICAST -> EINVAL; unknown interface -> EADDRNOTAVAIL.
    inp_leave_group IP_DROP_SOURCE_MEMBERSHIP: on EXCLUDE (imf_st[0]) ->
    EADDRNOTAVAIL; unknown source / group -> EADDRNOTAVAIL."""
    s = udp_sock(k)
    join(s, G2)
    add_src(s, G1, S1)

    def add(v):
        return lambda: s.setsockopt(IPP, sock.IP_ADD_SOURCE_MEMBERSHIP, v)

    def drop(v):
        return lambda: s.setsockopt(IPP, sock.IP_DROP_SOURCE_MEMBERSHIP, v)

    mrs = sock.ip_mreq_source
    check_errnos(
        [
            ("add on ASM", add(mrs(G2, S1, "0.0.0.0")), errno.EINVAL),
            ("add duplicate", add(mrs(G1, S1, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("add 8 bytes", add(mrs(G1, S2, "0.0.0.0")[:8]), errno.EINVAL),
            ("add unicast", add(mrs("192.0.2.99", S1, "0.0.0.0")), errno.EINVAL),
            ("add bad iface", add(mrs(G1, S2, "10.9.9.9")), errno.EADDRNOTAVAIL),
            ("drop on ASM", drop(mrs(G2, S1, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("drop unknown src", drop(mrs(G1, S2, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("drop other group", drop(mrs("239.9.9.9", S1, "0.0.0.0")), errno.EADDRNOTAVAIL),
        ]
    )
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 1, [S1])


def test_drop_last_source_keeps_include_membership(k):
    """inp_leave_group: dropping the last source is not a final leave at the
    socket layer (is_final = 0): the membership stays as INCLUDE {} (no
    EAGAIN, since imf_st[1] is INCLUDE), receives nothing, and can still be
    dropped with IP_DROP_MEMBERSHIP."""
    s = udp_sock(k)
    add_src(s, G1, S1)
    drop_src(s, G1, S1)
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 0, [])
    d = Delta(k)
    assert rx(k, s, "em0", src=S1) == []
    assert d("udp", "udps_filtermcast") == 1
    leave(s, G1)
    assert errno_of(get_msf, s, em0(k), G1) == errno.EADDRNOTAVAIL


def test_mcast_join_source_group_adds_to_include(k):
    """inp_join_group MCAST_JOIN_SOURCE_GROUP on an existing INCLUDE
    membership grafts the source; MCAST_LEAVE_SOURCE_GROUP prunes it."""
    s = udp_sock(k)
    i = em0(k)
    s.setsockopt(IPP, sock.MCAST_JOIN_SOURCE_GROUP, sock.group_source_req(i, G1, S2))
    s.setsockopt(IPP, sock.MCAST_JOIN_SOURCE_GROUP, sock.group_source_req(i, G1, S1))
    assert get_msf(s, i, G1) == (MCAST_INCLUDE, 2, [S1, S2])
    s.setsockopt(IPP, sock.MCAST_LEAVE_SOURCE_GROUP, sock.group_source_req(i, G1, S2))
    assert get_msf(s, i, G1) == (MCAST_INCLUDE, 1, [S1])


def test_mcast_source_group_errors(k):
    """inp_join_group / inp_leave_group: gsr_source family/len -> EINVAL,
    gsr_interface 0 or > V_if_index -> EADDRNOTAVAIL, short -> EINVAL, (S,G)
    join on an exclusive membership -> EINVAL."""
    s = udp_sock(k)
    join(s, G2)
    J, L = sock.MCAST_JOIN_SOURCE_GROUP, sock.MCAST_LEAVE_SOURCE_GROUP

    def op(o, v):
        return lambda: s.setsockopt(IPP, o, v)

    check_errnos(
        [
            (
                "join src AF_INET6",
                op(J, group_source_req(2, G1, S1, skw={"family": 28})),
                errno.EINVAL,
            ),
            ("join src len 4", op(J, group_source_req(2, G1, S1, skw={"length": 4})), errno.EINVAL),
            ("join ifindex 0", op(J, group_source_req(0, G1, S1)), errno.EADDRNOTAVAIL),
            ("join 136 bytes", op(J, group_source_req(2, G1, S1)[:136]), errno.EINVAL),
            ("join on ASM", op(J, group_source_req(2, G2, S1)), errno.EINVAL),
            ("leave ifindex 99", op(L, group_source_req(99, G1, S1)), errno.EADDRNOTAVAIL),
            (
                "leave src AF_UNSPEC",
                op(L, group_source_req(2, G1, S1, skw={"family": 0})),
                errno.EINVAL,
            ),
        ]
    )


# ------------------------------------------------ block / unblock
def test_block_unblock_getsourcefilter(k):
    """inp_block_unblock_source: IP_BLOCK_SOURCE grafts an EXCLUDE source,
    reported by inp_get_source_filters; IP_UNBLOCK_SOURCE prunes and
    imf_reap frees it."""
    s = udp_sock(k)
    join(s, G1)
    assert get_msf(s, em0(k), G1) == (MCAST_EXCLUDE, 0, [])
    block(s, G1, S2)
    block(s, G1, S1)
    assert get_msf(s, em0(k), G1) == (MCAST_EXCLUDE, 2, [S1, S2])
    unblock(s, G1, S2)
    assert get_msf(s, em0(k), G1) == (MCAST_EXCLUDE, 1, [S1])


def test_block_source_errors(k):
    """inp_block_unblock_source: !IN_MULTICAST -> EINVAL (before the
    membership lookup); not a member -> EADDRNOTAVAIL; fmode (imf_st[0])
    != EXCLUDE -> EINVAL; block of a present / unblock of an absent source
    -> EADDRNOTAVAIL; short -> EINVAL. MCAST_BLOCK_SOURCE: family/len ->
    EINVAL, gsr_interface 0 -> EADDRNOTAVAIL."""
    s = udp_sock(k)
    join(s, G1)
    block(s, G1, S1)
    add_src(s, G2, S2)
    i = em0(k)

    def op(o, v):
        return lambda: s.setsockopt(IPP, o, v)

    B, U = sock.IP_BLOCK_SOURCE, sock.IP_UNBLOCK_SOURCE
    MB = sock.MCAST_BLOCK_SOURCE
    mrs = sock.ip_mreq_source
    check_errnos(
        [
            ("unicast group", op(B, mrs("192.0.2.99", S2, "0.0.0.0")), errno.EINVAL),
            ("not member", op(B, mrs("239.9.9.9", S2, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("include mode", op(B, mrs(G2, S1, "0.0.0.0")), errno.EINVAL),
            ("block twice", op(B, mrs(G1, S1, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("unblock absent", op(U, mrs(G1, S2, "0.0.0.0")), errno.EADDRNOTAVAIL),
            ("short", op(B, mrs(G1, S2, "0.0.0.0")[:8]), errno.EINVAL),
            ("mcast ifindex 0", op(MB, group_source_req(0, G1, S2)), errno.EADDRNOTAVAIL),
            (
                "mcast group AF_INET6",
                op(MB, group_source_req(i, G1, S2, gkw={"family": 28})),
                errno.EINVAL,
            ),
            (
                "mcast src len 0",
                op(MB, group_source_req(i, G1, S2, skw={"length": 0})),
                errno.EINVAL,
            ),
            ("mcast not member", op(MB, group_source_req(i, "239.9.9.9", S2)), errno.EADDRNOTAVAIL),
            ("mcast ok", op(MB, sock.group_source_req(i, G1, S2)), 0),
        ]
    )
    assert get_msf(s, i, G1) == (MCAST_EXCLUDE, 2, [S1, S2])


def test_block_source_unknown_interface_matches_any(k):
    """inp_block_unblock_source: INADDR_TO_IFP of an address that is not
    ours leaves ifp NULL and imo_match_group(NULL) matches the em1
    membership: the block succeeds."""
    s = udp_sock(k)
    join(s, G1, EM1_IP)
    block(s, G1, S1, "10.9.9.9")
    assert get_msf(s, k.iface("em1").index, G1) == (MCAST_EXCLUDE, 1, [S1])


# ------------------------------------------------ IP_MSFILTER set
def _patched(buf, off, val):
    b = bytearray(buf)
    b[off] = val
    return bytes(b)


def test_set_msfilter_errors(k):
    """inp_set_source_filters: checks in order sooptcopyin (152 bytes),
    msfr_nsrcs > maxsocksrc (ENOBUFS, before anything else), fmode (EINVAL),
    group family/len (EINVAL), IN_MULTICAST (EINVAL), ifindex 0 or >
    V_if_index (EADDRNOTAVAIL), membership (EADDRNOTAVAIL); then per source
    entry family != AF_INET (EAFNOSUPPORT) and sin_len (EINVAL), rolled
    back with imf_rollback: the ASM membership is left as it was."""
    s = udp_sock(k)
    join(s, G1)
    i = em0(k)
    ok = sock.msfilterreq(i, G1, MCAST_INCLUDE, [S1])

    def op(v):
        return lambda: s.setsockopt(IPP, sock.IP_MSFILTER, v)

    check_errnos(
        [
            ("short", op(ok[:100]), errno.EINVAL),
            ("129 sources", op(sock.msfilterreq(i, G1, MCAST_INCLUDE, (), 129)), errno.ENOBUFS),
            ("129 + bad mode", op(sock.msfilterreq(0, "1.2.3.4", 7, (), 129)), errno.ENOBUFS),
            ("fmode 0", op(sock.msfilterreq(i, G1, 0, [S1])), errno.EINVAL),
            ("fmode 3", op(sock.msfilterreq(i, G1, 3, [S1])), errno.EINVAL),
            ("group AF_INET6", op(_patched(ok, 17, 28)), errno.EINVAL),
            ("group len 8", op(_patched(ok, 16, 8)), errno.EINVAL),
            (
                "group unicast",
                op(sock.msfilterreq(i, "192.0.2.99", MCAST_INCLUDE, [S1])),
                errno.EINVAL,
            ),
            ("ifindex 0", op(sock.msfilterreq(0, G1, MCAST_INCLUDE, [S1])), errno.EADDRNOTAVAIL),
            ("ifindex 99", op(sock.msfilterreq(99, G1, MCAST_INCLUDE, [S1])), errno.EADDRNOTAVAIL),
            ("not member", op(sock.msfilterreq(i, G2, MCAST_INCLUDE, [S1])), errno.EADDRNOTAVAIL),
            ("source AF_INET6", op(_patched(ok, MSFR_LEN + 1, 28)), errno.EAFNOSUPPORT),
            ("source len 0", op(_patched(ok, MSFR_LEN, 0)), errno.EINVAL),
        ]
    )
    assert get_msf(s, i, G1) == (MCAST_EXCLUDE, 0, [])


def test_set_msfilter_duplicates_ignored_and_sorted(k):
    """inp_set_source_filters: duplicate entries find the same lims via
    imf_get_source and are ignored."""
    s = udp_sock(k)
    join(s, G1)
    set_msf(s, em0(k), G1, MCAST_INCLUDE, [S2, S1, S2])
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 2, [S1, S2])
    set_msf(s, em0(k), G1, MCAST_EXCLUDE, [S3])
    assert get_msf(s, em0(k), G1) == (MCAST_EXCLUDE, 1, [S3])


def test_set_msfilter_zero_sources_keeps_old_entries(k):
    """inp_set_source_filters: with msfr_nsrcs == 0 imf_leave() is never
    called, so INCLUDE {S1} -> EXCLUDE {} keeps S1 with imsl_st = INCLUDE.
    inp_get_source_filters only counts sources whose imsl_st[0] equals
    imf_st[0]: it reports EXCLUDE with 0 sources, but imo_multi_filter still
    finds S1 with imsl_st[0] (INCLUDE) != mode (EXCLUDE) and drops it."""
    s = udp_sock(k)
    join(s, G1)
    set_msf(s, em0(k), G1, MCAST_INCLUDE, [S1])
    set_msf(s, em0(k), G1, MCAST_EXCLUDE, [])
    assert get_msf(s, em0(k), G1) == (MCAST_EXCLUDE, 0, [])
    d = Delta(k)
    assert rx(k, s, "em0", src=S1) == []
    assert d("udp", "udps_filtermcast") == 1
    assert len(rx(k, s, "em0", src=S2)) == 1


def test_set_msfilter_maxsocksrc_counts_stale_entries():
    """imf_get_source: ENOSPC when imf_nsrc == maxsocksrc. imf_leave() only
    marks the old entries UNDEFINED at t1, so with maxsocksrc 2 replacing
    INCLUDE {S1,S2} by INCLUDE {S3} fails; the rollback restores {S1,S2}.
    A subset needs no allocation and succeeds."""
    k = mk()
    assert k.sysctl("net.inet.ip.mcast.maxsocksrc", 2) == 128
    s = udp_sock(k)
    join(s, G1)
    set_msf(s, em0(k), G1, MCAST_INCLUDE, [S1, S2])
    assert errno_of(set_msf, s, em0(k), G1, MCAST_INCLUDE, [S3]) == errno.ENOSPC
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 2, [S1, S2])
    assert errno_of(set_msf, s, em0(k), G1, MCAST_INCLUDE, [S1, S2, S3]) == errno.ENOBUFS
    set_msf(s, em0(k), G1, MCAST_INCLUDE, [S2])
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 1, [S2])


def test_maxsocksrc_not_applied_to_add_source_membership():
    """inp_join_group grafts with imf_graft(), which has no maxsocksrc check
    (only imf_get_source has one): with maxsocksrc 1, two sources join."""
    k = mk()
    k.sysctl("net.inet.ip.mcast.maxsocksrc", 1)
    s = udp_sock(k)
    add_src(s, G1, S1)
    add_src(s, G1, S2)
    add_src(s, G1, S3)
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 3, [S1, S2, S3])
    # imf_get_source tests imf_nsrc == maxsocksrc (not >=): with 3 entries
    # and a limit of 1 a new source is still allocated
    set_msf(s, em0(k), G1, MCAST_INCLUDE, ["10.0.0.4"])
    assert get_msf(s, em0(k), G1) == (MCAST_INCLUDE, 1, ["10.0.0.4"])


def test_maxgrpsrc_limits_group_sources_across_sockets():
    """inm_get_source: ENOSPC when inm_nsrc == maxgrpsrc (per in_multi, i.e.
    shared by all sockets on the link); inm_merge fails and the socket's
    change is rolled back (imf_rollback)."""
    k = mk()
    assert k.sysctl("net.inet.ip.mcast.maxgrpsrc", 2) == 512
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    add_src(a, G1, S1)
    add_src(a, G1, S2)
    assert errno_of(add_src, a, G1, S3) == errno.ENOSPC
    assert errno_of(add_src, b, G1, S3) == errno.ENOSPC
    # inm_get_source tests inm_nsrc == maxgrpsrc (not >=): lowering the
    # limit below the current count lets a new source in
    k.sysctl("net.inet.ip.mcast.maxgrpsrc", 1)
    add_src(b, G1, S3)
    add_src(b, G1, S1)  # already an in_multi source: no allocation
    # (inm_merge's error path walks RB_FOREACH_REVERSE_FROM from nims, which
    # inm_get_source did not set: see README)
    assert get_msf(a, em0(k), G1) == (MCAST_INCLUDE, 2, [S1, S2])
    assert get_msf(b, em0(k), G1) == (MCAST_INCLUDE, 2, [S1, S3])


# ------------------------------------------------ IP_MSFILTER get
def test_get_msfilter_errors(k):
    """inp_getmoptions: no ip_moptions -> EADDRNOTAVAIL;
    inp_get_source_filters: short -> EINVAL, ifindex 0 or > V_if_index ->
    EINVAL (not EADDRNOTAVAIL as on the set side), no membership ->
    EADDRNOTAVAIL."""
    i = em0(k)
    fresh = udp_sock(k, 5001)
    s = udp_sock(k)
    join(s, G1)

    def op(so, v):
        return lambda: so.getsockopt(IPP, sock.IP_MSFILTER, v)

    req = sock.msfilterreq(i, G1, 0, (), 4)
    check_errnos(
        [
            ("no moptions", op(fresh, req), errno.EADDRNOTAVAIL),
            ("short", op(s, req[:100]), errno.EINVAL),
            ("ifindex 0", op(s, sock.msfilterreq(0, G1, 0, (), 4)), errno.EINVAL),
            ("ifindex 99", op(s, sock.msfilterreq(99, G1, 0, (), 4)), errno.EINVAL),
            ("not member", op(s, sock.msfilterreq(i, G2, 0, (), 4)), errno.EADDRNOTAVAIL),
        ]
    )


def test_get_msfilter_reports_total_beyond_buffer(k):
    """inp_get_source_filters: copies out at most msfr_nsrcs entries but
    always returns the total count in msfr_nsrcs; with a NULL msfr_srcs
    nothing is copied and the count is still returned."""
    s = udp_sock(k)
    for src in (S3, S1, S2):
        add_src(s, G1, src)
    i = em0(k)
    out = s.getsockopt(IPP, sock.IP_MSFILTER, sock.msfilterreq(i, G1, 0, (), 1))
    ifindex, fmode, nsrcs, group, _ = msfr_fields(out)
    assert (ifindex, fmode, nsrcs, group) == (i, MCAST_INCLUDE, 3, G1)
    assert out[MSFR_LEN : MSFR_LEN + 128] == sin(S1)
    nullreq = bytearray(sock.msfilterreq(i, G1, 0))
    nullreq[8:12] = struct.pack("<I", 5)  # nsrcs 5, msfr_srcs NULL
    out = s.getsockopt(IPP, sock.IP_MSFILTER, bytes(nullreq))
    assert msfr_fields(out)[1:3] == (MCAST_INCLUDE, 3)
    # copyout() writes the whole msfr_nsrcs-entry vector (M_ZERO beyond the
    # sources), overwriting what the caller's buffer held
    req = bytearray(sock.msfilterreq(i, G1, 0, (), 5))
    req[MSFR_LEN:] = b"\xaa" * (5 * 128)
    out = s.getsockopt(IPP, sock.IP_MSFILTER, bytes(req))
    assert out[MSFR_LEN : MSFR_LEN + 5 * 128] == sin(S1) + sin(S2) + sin(S3) + bytes(256)
    # the group's family and length are never checked on the get side:
    # imo_match_group compares sin_addr only
    req = bytearray(sock.msfilterreq(i, G1, 0, (), 1))
    req[16], req[17] = 0, 28
    out = s.getsockopt(IPP, sock.IP_MSFILTER, bytes(req))
    assert msfr_fields(out)[1:3] == (MCAST_INCLUDE, 3)


def test_getsourcefilter_helpers(k):
    """RFC 3678 setsourcefilter/getsourcefilter over IP_MSFILTER
    (inp_set_source_filters / inp_get_source_filters)."""
    s = udp_sock(k)
    i = k.iface("em1").index
    join(s, G1, EM1_IP)
    sock.setsourcefilter(s, i, G1, MCAST_INCLUDE, [S2, S1])
    assert sock.getsourcefilter(s, i, G1, 1) == (MCAST_INCLUDE, 2, [S1])
    assert sock.getsourcefilter(s, i, G1, 8) == (MCAST_INCLUDE, 2, [S1, S2])
    sock.setipv4sourcefilter(s, EM1_IP, G1, MCAST_EXCLUDE, [S3])
    assert tuple(sock.getipv4sourcefilter(s, EM1_IP, G1, 8)) == (MCAST_EXCLUDE, 1, [S3])
    with pytest.raises(OSError) as ei:
        sock.getsourcefilter(s, k.iface("em0").index, G1, 8)
    assert ei.value.errno == errno.EADDRNOTAVAIL
