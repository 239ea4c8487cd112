"""IGMPv3 host state-change reports: igmp.c igmp_change_state,
igmp_initial_join, igmp_handle_state_change, igmp_final_leave,
igmp_v3_enqueue_group_record, igmp_v3_enqueue_filter_change,
igmp_v3_process_group_timers, igmp_v3_merge_state_changes, igmp_intr,
igmp_v3_encap_report (FreeBSD 9.1).

Timing: the fast timer fires at 200 ms boundaries; a state change made at
t = x.05 is first sent at the next boundary (inm_sctimer = 1), then
retransmitted igi_rv - 1 times, each 1..igi_uri*PR_FASTHZ (1..15) ticks
later (uri_fasthz = IGMP_RANDOM_DELAY(3 * 5))."""

import pytest

from conformance.igmp.source.common import (
    ALLOW_NEW,
    BLOCK_OLD,
    G1,
    G2,
    MCAST_EXCLUDE,
    MCAST_INCLUDE,
    S1,
    S2,
    TO_EX,
    TO_IN,
    Delta,
    add_src,
    at,
    block,
    check_v3_report_frame,
    drop_src,
    igmp_sent,
    igmpv3_query,
    inject,
    join,
    leave,
    mk,
    query_frame,
    set_msf,
    udp_sock,
    unblock,
)
from kstack import sock


def state_change_reports(k, t):
    """Reports for a change made at t (x.05): the first exactly at the next
    tick, the retransmission 1..15 ticks after it; returns both."""
    first_tick = t + 0.15
    at(k, first_tick - 0.01)
    assert igmp_sent(k) == [], "nothing before the next fast-timer tick"
    at(k, first_tick + 0.01)
    first = igmp_sent(k)
    assert len(first) == 1
    at(k, first_tick + FAST_MIN - 0.01)
    assert igmp_sent(k) == [], "retransmission at least one tick later"
    at(k, first_tick + 15 * 0.2 + 0.01)
    second = igmp_sent(k)
    assert len(second) == 1
    return first[0], second[0]


FAST_MIN = 0.2


def test_no_reports_at_boot(k):
    """in.c joins 224.0.0.1 at address configuration (in_joingroup with a
    NULL filter); igmp_isgroupreported() is 0 for all-hosts, so
    igmp_initial_join leaves it IGMP_SILENT_MEMBER: nothing is ever sent."""
    at(k, 30)
    assert igmp_sent(k) == [] and igmp_sent(k, "em1") == []
    s = udp_sock(k)
    join(s, "224.0.0.1")  # a socket join of all-hosts is silent too
    at(k, 40)
    assert igmp_sent(k) == []
    assert k.netstat("igmp")["igps_snd_reports"] == 0


def test_v3_join_report_bytes(k):
    """igmp_initial_join (v3): TO_EX {} state-change record; igmp_intr/
    igmp_v3_encap_report: TOS 0xc0, DF, TTL 1, Router Alert, 224.0.0.22,
    source = first address of em0; type 0x22, numgrps 1."""
    s = udp_sock(k)
    at(k, 1.05)
    d = Delta(k)
    join(s, G1)
    assert igmp_sent(k) == []
    at(k, 1.19)
    assert igmp_sent(k) == []
    at(k, 1.21)
    (p,) = igmp_sent(k)
    check_v3_report_frame(p, k, [(TO_EX, G1, [])])
    assert d("igmp") == {"igps_snd_reports": 1}


def test_v3_join_robustness_retransmission(k):
    """igmp_initial_join: inm_scrv = igi_rv (2): exactly two identical
    copies, the second 1..15 ticks after the first; nothing more."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    a, b = state_change_reports(k, 1.05)
    assert a.payload == b.payload
    check_v3_report_frame(b, k, [(TO_EX, G1, [])])
    at(k, 30)
    assert igmp_sent(k) == []
    assert k.netstat("igmp")["igps_snd_reports"] == 2


def test_v3_leave_to_in_empty(k):
    """igmp_final_leave (v3): TO_IN {} enqueued, sent at the next tick and
    retransmitted once (inm_scrv = igi_rv). Both IP_DROP_MEMBERSHIP
    (inp_leave_group) and close() (inp_freemoptions -> in_leavegroup) get
    there."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    join(s, G2)
    at(k, 5.05)
    igmp_sent(k)
    leave(s, G1)
    a, b = state_change_reports(k, 5.05)
    check_v3_report_frame(a, k, [(TO_IN, G1, [])])
    check_v3_report_frame(b, k, [(TO_IN, G1, [])])
    at(k, 10.05)
    assert igmp_sent(k) == []
    s.close()
    a, b = state_change_reports(k, 10.05)
    check_v3_report_frame(a, k, [(TO_IN, G2, [])])
    check_v3_report_frame(b, k, [(TO_IN, G2, [])])
    at(k, 30)
    assert igmp_sent(k) == []


def test_v3_leave_of_one_socket_is_silent(k):
    """inm_merge/igmp_change_state: a second socket still holds the group in
    EXCLUDE mode, so st[1] fmode is unchanged and no record is generated."""
    a = udp_sock(k, 5000, reuse=True)
    b = udp_sock(k, 5000, reuse=True)
    at(k, 1.05)
    join(a, G1)
    join(b, G1)
    at(k, 5.05)
    igmp_sent(k)
    leave(a, G1)
    at(k, 20)
    assert igmp_sent(k) == []


def test_v3_ssm_join_is_to_in_with_sources(k):
    """igmp_initial_join for an INCLUDE membership: mode INCLUDE !=
    st[0] UNDEFINED -> IGMP_CHANGE_TO_INCLUDE_MODE with the in-mode sources.
    A second source added before the first transmission re-runs the initial
    join (st[0] still UNDEFINED), so one TO_IN {S1,S2} is sent."""
    s = udp_sock(k)
    at(k, 1.05)
    add_src(s, G1, S2)
    add_src(s, G1, S1)
    a, b = state_change_reports(k, 1.05)
    check_v3_report_frame(a, k, [(TO_IN, G1, [S1, S2])])
    assert b.payload == a.payload


def test_v3_allow_new_sources(k):
    """igmp_v3_enqueue_filter_change: a source added to a settled INCLUDE
    membership is INCLUDE at t1 and UNDEFINED at t0 -> ALLOW_NEW {S2}."""
    s = udp_sock(k)
    at(k, 1.05)
    add_src(s, G1, S1)
    at(k, 5.05)
    igmp_sent(k)
    add_src(s, G1, S2)
    a, b = state_change_reports(k, 5.05)
    check_v3_report_frame(a, k, [(ALLOW_NEW, G1, [S2])])
    assert b.payload == a.payload


def test_v3_block_old_on_drop_source(k):
    """igmp_v3_enqueue_filter_change: a source leaving an INCLUDE filter is
    UNDEFINED at t1 -> record type ~INCLUDE & REC_FULL = BLOCK_OLD."""
    s = udp_sock(k)
    at(k, 1.05)
    add_src(s, G1, S1)
    add_src(s, G1, S2)
    at(k, 5.05)
    igmp_sent(k)
    drop_src(s, G1, S1)
    a, b = state_change_reports(k, 5.05)
    check_v3_report_frame(a, k, [(BLOCK_OLD, G1, [S1])])
    assert b.payload == a.payload


def test_v3_block_and_unblock_on_asm(k):
    """IP_BLOCK_SOURCE on an EXCLUDE membership: S1 becomes EXCLUDE at t1
    -> BLOCK_OLD {S1}; IP_UNBLOCK_SOURCE: EXCLUDE at t0, UNDEFINED at t1
    -> ~EXCLUDE & REC_FULL = ALLOW_NEW {S1}."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    at(k, 5.05)
    igmp_sent(k)
    block(s, G1, S1)
    a, _ = state_change_reports(k, 5.05)
    check_v3_report_frame(a, k, [(BLOCK_OLD, G1, [S1])])
    at(k, 10.05)
    igmp_sent(k)
    unblock(s, G1, S1)
    a, _ = state_change_reports(k, 10.05)
    check_v3_report_frame(a, k, [(ALLOW_NEW, G1, [S1])])


def test_v3_msfilter_mode_changes(k):
    """igmp_handle_state_change -> igmp_v3_enqueue_group_record: EXCLUDE {}
    -> INCLUDE {S1} is TO_IN {S1}; INCLUDE {S1} -> EXCLUDE {S2} is TO_EX
    {S2} (only sources in-mode at t1)."""
    s = udp_sock(k)
    i = k.iface("em0").index
    at(k, 1.05)
    join(s, G1)
    at(k, 5.05)
    igmp_sent(k)
    set_msf(s, i, G1, MCAST_INCLUDE, [S1])
    a, _ = state_change_reports(k, 5.05)
    check_v3_report_frame(a, k, [(TO_IN, G1, [S1])])
    at(k, 10.05)
    igmp_sent(k)
    set_msf(s, i, G1, MCAST_EXCLUDE, [S2])
    a, _ = state_change_reports(k, 10.05)
    check_v3_report_frame(a, k, [(TO_EX, G1, [S2])])


def test_v3_state_changes_merged_into_one_packet(k):
    """igmp_v3_merge_state_changes: both groups' records go into one report
    in if_multiaddrs order (if_addmulti inserts at the head: newest first);
    both retransmission timers get the same uri_fasthz, so the
    retransmission is merged too."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    at(k, 1.10)
    join(s, G2)
    a, b = state_change_reports(k, 1.05)
    check_v3_report_frame(a, k, [(TO_EX, G2, []), (TO_EX, G1, [])])
    assert b.payload == a.payload
    at(k, 30)
    assert igmp_sent(k) == []
    assert k.netstat("igmp")["igps_snd_reports"] == 2


def test_sendlocal():
    """igmp_isgroupreported: 224.0.0.0/24 groups are reported unless
    net.inet.igmp.sendlocal is 0 (then IGMP_SILENT_MEMBER)."""
    for sendlocal in (1, 0):
        k = mk()
        assert k.sysctl("net.inet.igmp.sendlocal", sendlocal) == 1
        s = udp_sock(k)
        at(k, 1.05)
        join(s, "224.0.0.251")
        at(k, 10)
        got = igmp_sent(k)
        if sendlocal:
            assert len(got) == 2
            check_v3_report_frame(got[0], k, [(TO_EX, "224.0.0.251", [])])
        else:
            assert got == []


@pytest.mark.parametrize("qrv,copies", [(3, 3), (1, 2)])
def test_robustness_from_query(qrv, copies):
    """igmp_input_v3_query: igi_rv = QRV, clamped to IGMP_RV_INIT (2) when
    below 2; igmp_initial_join then sends inm_scrv = igi_rv copies. (The
    query's code 1 -> 0 fast ticks -> 1: its answer, empty, is due at 1.2,
    before the join.)"""
    k = mk()
    s = udp_sock(k)
    at(k, 1.05)
    inject(k, query_frame(igmpv3_query(1, qrv=qrv)))
    at(k, 2.05)
    assert igmp_sent(k) == []
    join(s, G1)
    at(k, 2.05 + 0.15 + 0.2 * 15 * (copies - 1) + 0.01)
    got = igmp_sent(k)
    assert len(got) == copies
    for p in got:
        check_v3_report_frame(p, k, [(TO_EX, G1, [])])
    at(k, 40)
    assert igmp_sent(k) == []


def test_join_on_em1_reports_on_em1(k):
    """igmp_intr: imo_multicast_ifp = the group's ifp; source = its first
    address."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1, "198.51.100.1")
    at(k, 1.21)
    assert igmp_sent(k) == []
    (p,) = igmp_sent(k, "em1")
    check_v3_report_frame(p, k, [(TO_EX, G1, [])], ifname="em1", src="198.51.100.1")


def groups_n(n):
    return [f"239.1.{i >> 8}.{i & 255}" for i in range(n)]


def test_v3_state_change_packing_1000_groups(k):
    """igmp_v3_merge_state_changes: records are merged into the tail packet
    while len + reclen <= if_mtu - IGMP_LEADINGSPACE (1500 - 32): 183 records
    of 8 bytes per report (IP length 24 + 8 + 183*8 = 1496); 1000 groups
    joined in one window -> 6 reports (5 x 183 + 85) at the next tick, in
    if_multiaddrs order (newest first), and 6 again for the retransmission,
    all at one tick (same uri_fasthz)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    gs = groups_n(1000)
    i0 = k.iface("em0").index
    at(k, 1.05)
    for g in gs:
        s.setsockopt(sock.IPPROTO_IP, sock.MCAST_JOIN_GROUP, sock.group_req(i0, g))
    at(k, 1.19)
    assert igmp_sent(k) == []
    at(k, 1.21)
    first = igmp_sent(k)
    newest = list(reversed(gs))
    chunks = [newest[i : i + 183] for i in range(0, 1000, 183)]
    assert [len(c) for c in chunks] == [183, 183, 183, 183, 183, 85]
    assert len(first) == 6
    for p, c in zip(first, chunks, strict=False):
        check_v3_report_frame(p, k, [(TO_EX, g, []) for g in c])
    t = 1.21
    second = []
    while not second and t < 4.3:
        t += 0.2
        at(k, t)
        second = igmp_sent(k)
    assert [p.payload for p in second] == [p.payload for p in first]
    at(k, 20)
    assert igmp_sent(k) == []
