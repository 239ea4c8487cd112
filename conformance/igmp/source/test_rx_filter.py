"""Receive-side multicast filtering: in_mcast.c imo_multi_filter,
udp_usrreq.c udp_input (multicast branch), raw_ip.c rip_input (FreeBSD 9.1)."""

import pytest

from conformance.igmp.source.common import (
    EM0_IP,
    G1,
    G2,
    MCAST_EXCLUDE,
    MCAST_INCLUDE,
    S1,
    S2,
    S3,
    Delta,
    add_src,
    block,
    drop_src,
    igmpv3_query,
    inject,
    join,
    mk,
    query_frame,
    raw_frame,
    recv_all,
    rx,
    set_msf,
    udp_frame,
    udp_sock,
    unblock,
)
from kstack import sock

IPP = sock.IPPROTO_IP


def counters(d):
    return (
        d("ip", "ips_notmember"),
        d("udp", "udps_filtermcast"),
        d("udp", "udps_noportbcast"),
        d("udp", "udps_noport"),
        d("udp", "udps_noportmcast"),
    )


# ------------------------------------------------------------ UDP, ASM
def test_udp_member_receives(k):
    """udp_input: imo_multi_filter -> MCAST_PASS for an ASM member on the
    receiving ifp; datagram and source address delivered."""
    s = udp_sock(k)
    join(s, G1)
    d = Delta(k)
    assert rx(k, s, "em0", src=S1) == [(b"mcast", (S1, 40000))]
    assert counters(d) == (0, 0, 0, 0, 0)
    assert d("udp", "udps_ipackets") == 1


def test_udp_member_on_other_interface(k):
    """imo_match_group matches (ifp, group): a membership on em0 does not
    accept the group on em1 -> MCAST_NOTGMEMBER: ips_notmember, and with no
    taker udps_noportbcast (never udps_noport in the multicast branch)."""
    s = udp_sock(k)
    join(s, G1, EM0_IP)
    d = Delta(k)
    assert rx(k, s, "em1") == []
    assert counters(d) == (1, 0, 1, 0, 0)


def test_udp_socket_without_moptions_skipped_silently(k):
    """udp_input: imo == NULL -> continue, no counter; then no taker ->
    udps_noportbcast."""
    s = udp_sock(k)
    d = Delta(k)
    assert rx(k, s, "em0") == []
    assert counters(d) == (0, 0, 1, 0, 0)


def test_udp_socket_with_moptions_not_member(k):
    """udp_input: moptions without the group (only IP_MULTICAST_TTL set) ->
    MCAST_NOTGMEMBER -> ips_notmember."""
    s = udp_sock(k)
    s.setsockopt(IPP, sock.IP_MULTICAST_TTL, 4)
    join(s, G2)
    d = Delta(k)
    assert rx(k, s, "em0") == []
    assert counters(d) == (1, 0, 1, 0, 0)


# ------------------------------------------------------------ UDP, SSM
def test_udp_include_mode(k):
    """imo_multi_filter: INCLUDE mode passes a listed source (imsl_st[0] ==
    mode) and rejects an unlisted one (ims == NULL && mode == INCLUDE) ->
    MCAST_NOTSMEMBER -> udps_filtermcast."""
    s = udp_sock(k)
    add_src(s, G1, S1)
    add_src(s, G1, S3)
    d = Delta(k)
    assert len(rx(k, s, "em0", src=S1)) == 1
    assert rx(k, s, "em0", src=S2) == []
    assert counters(d) == (0, 1, 1, 0, 0)
    # IP_DROP_SOURCE_MEMBERSHIP: imf_prune + imf_commit + imf_reap remove
    # S1, which is then rejected like any unlisted source.
    drop_src(s, G1, S1)
    assert rx(k, s, "em0", src=S1) == []
    assert len(rx(k, s, "em0", src=S3)) == 1
    assert counters(d) == (0, 2, 2, 0, 0)


def test_udp_block_source_does_not_filter(k):
    """imo_multi_filter compares ims->imsl_st[0] with imf_st[1]: a blocked
    source was grafted with imsl_st[1] = EXCLUDE (imf_graft with fmode) and
    committed to imsl_st[0] = EXCLUDE, which equals the EXCLUDE mode, so the
    NOTSMEMBER test is false and the datagram from the blocked source is
    delivered (the block only reaches IGMP)."""
    s = udp_sock(k)
    join(s, G1)
    block(s, G1, S1)
    d = Delta(k)
    assert rx(k, s, "em0", src=S1) == [(b"mcast", (S1, 40000))]
    assert len(rx(k, s, "em0", src=S2)) == 1
    assert counters(d) == (0, 0, 0, 0, 0)
    unblock(s, G1, S1)
    assert len(rx(k, s, "em0", src=S1)) == 1


def test_udp_msfilter_exclude_list_does_not_filter(k):
    """inp_set_source_filters EXCLUDE {S1}: imsl_st[0] == EXCLUDE == mode,
    so imo_multi_filter passes S1 as it passes every other source."""
    s = udp_sock(k)
    join(s, G1)
    set_msf(s, k.iface("em0").index, G1, MCAST_EXCLUDE, [S1])
    d = Delta(k)
    assert len(rx(k, s, "em0", src=S1)) == 1
    assert len(rx(k, s, "em0", src=S3)) == 1
    assert counters(d) == (0, 0, 0, 0, 0)


def test_udp_msfilter_exclude_to_include_empty_blocks_all(k):
    """inp_set_source_filters with nsrcs 0 keeps old entries: EXCLUDE {S1}
    -> INCLUDE {} leaves S1 at EXCLUDE (!= INCLUDE -> NOTSMEMBER) and every
    other source unlisted in INCLUDE mode (NOTSMEMBER)."""
    s = udp_sock(k)
    join(s, G1)
    i = k.iface("em0").index
    set_msf(s, i, G1, MCAST_EXCLUDE, [S1])
    set_msf(s, i, G1, MCAST_INCLUDE, [])
    d = Delta(k)
    assert rx(k, s, "em0", src=S1) == []
    assert rx(k, s, "em0", src=S2) == []
    assert counters(d) == (0, 2, 2, 0, 0)


# ------------------------------------------------------------ UDP fan-out
def test_fanout_all_reuse_members_newest_first(k):
    """udp_input: every matching socket, newest first, while each accepted
    socket has SO_REUSEPORT|SO_REUSEADDR."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    join(a, G1)
    join(b, G1)
    inject(k, udp_frame(G1, 5000))
    assert len(recv_all(a)) == 1 and len(recv_all(b)) == 1


def test_fanout_stops_at_newest_without_reuse(k):
    """udp_input: after appending to a socket without SO_REUSEPORT/REUSEADDR
    the loop breaks (so_options read at input time): the older member gets
    nothing."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    join(a, G1)
    join(b, G1)
    b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    d = Delta(k)
    inject(k, udp_frame(G1, 5000))
    assert len(recv_all(b)) == 1
    assert recv_all(a) == []
    assert counters(d) == (0, 0, 0, 0, 0)


def test_fanout_filtered_socket_does_not_stop_loop(k):
    """udp_input: a socket rejected by imo_multi_filter is skipped with
    'continue' before the SO_REUSE* test, so an older member still gets the
    datagram; the rejection counts ips_notmember."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    join(a, G1)
    join(b, G2)
    b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    d = Delta(k)
    inject(k, udp_frame(G1, 5000))
    assert recv_all(b) == []
    assert len(recv_all(a)) == 1
    assert counters(d) == (1, 0, 0, 0, 0)


def test_fanout_break_hides_older_non_member(k):
    """udp_input: the loop breaks at the newest member without SO_REUSE*, so
    an older non-member is never examined: ips_notmember does not move."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    join(a, G2)
    join(b, G1)
    b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    d = Delta(k)
    inject(k, udp_frame(G1, 5000))
    assert len(recv_all(b)) == 1
    assert counters(d) == (0, 0, 0, 0, 0)


def test_fanout_counts_each_filtered_socket(k):
    """udp_input: one ips_notmember / udps_filtermcast per rejecting socket."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    c = udp_sock(k, 5000, reuse=True)
    join(a, G2)
    join(b, G2)
    add_src(c, G1, S2)
    d = Delta(k)
    inject(k, udp_frame(G1, 5000, src=S1))
    assert counters(d) == (2, 1, 1, 0, 0)


# ------------------------------------------------------------ raw sockets
def test_raw_socket_filtering(k):
    """rip_input: a raw socket without ip_moptions gets every multicast of
    its protocol; one with ip_moptions is filtered by imo_multi_filter and
    each rejection (NOTGMEMBER or NOTSMEMBER) counts ips_notmember."""
    plain = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    member = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    join(member, G1)
    ssm = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    add_src(ssm, G1, S1)
    d = Delta(k)
    inject(k, raw_frame(G1, src=S2))
    assert len(recv_all(plain)) == 1
    assert len(recv_all(member)) == 1
    assert recv_all(ssm) == []
    assert d("ip", "ips_notmember") == 1
    inject(k, raw_frame(G2, src=S1))
    assert len(recv_all(plain)) == 1
    assert recv_all(member) == [] and recv_all(ssm) == []
    assert d("ip", "ips_notmember") == 3
    assert d("ip", "ips_noproto") == 0


def test_raw_socket_all_rejected_is_noproto(k):
    """rip_input: no raw socket takes the datagram -> ips_noproto, and
    ips_delivered is decremented back (net 0)."""
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    join(r, G2)
    d = Delta(k)
    inject(k, raw_frame(G1))
    assert recv_all(r) == []
    assert (d("ip", "ips_notmember"), d("ip", "ips_noproto"), d("ip", "ips_delivered")) == (1, 1, 0)


@pytest.mark.parametrize(
    "profile,delivered",
    [
        ("9.0", True),
        ("9.0,raw_igmp_ignores_membership=0", False),
    ],
)
def test_raw_igmp_socket_with_moptions(profile, delivered):
    """rip_input: 'if (proto != IPPROTO_IGMP)' lets IGMP through a raw
    socket's membership filter (9.0); without that exception the query to
    224.0.0.1, a group the socket never joined, is MCAST_NOTGMEMBER."""
    k = mk(profile)
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    join(r, G1)
    plain = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100)))
    assert len(recv_all(r)) == (1 if delivered else 0)
    assert len(recv_all(plain)) == 1
    assert d("ip", "ips_notmember") == (0 if delivered else 1)
