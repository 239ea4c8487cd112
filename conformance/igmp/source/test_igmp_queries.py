"""IGMP query handling, v1/v2 compatibility and timers: igmp.c
igmp_input_v1_query, igmp_input_v2_query, igmp_v2_update_group,
igmp_input_v3_query, igmp_input_v3_group_query, igmp_v3_dispatch_general_query,
igmp_v1v2_process_group_timer, igmp_set_version,
igmp_v1v2_process_querier_timers, igmp_final_leave, igmp_input_v1_report,
igmp_input_v2_report, igmp_v3_suppress_group_record (FreeBSD 9.1).

Queries arrive at t = x.05; a delay of IGMP_RANDOM_DELAY(T) = 1..T fast
ticks puts the answer in [next tick, next tick + (T-1)*0.2 s]."""

import errno

import pytest

from conformance.igmp.source.common import (
    ALLHOSTS,
    ALLRTRS,
    G1,
    G2,
    IGMP_QUERY,
    IGMP_V1_REPORT,
    IGMP_V2_LEAVE,
    IGMP_V2_REPORT,
    MCAST_INCLUDE,
    MODE_IS_EXCLUDE,
    MODE_IS_INCLUDE,
    PEER,
    PEER_MAC,
    S1,
    S2,
    S3,
    TO_EX,
    Delta,
    add_src,
    at,
    block,
    check_v1v2_frame,
    check_v3_report_frame,
    errno_of,
    get_msf,
    igmp_frame,
    igmp_msg,
    igmp_sent,
    igmpv3_query,
    inject,
    join,
    leave,
    mk,
    now,
    query_frame,
    rx,
    udp_sock,
)
from kstack import sock


def v2_query(code=100, group="0.0.0.0", dst=ALLHOSTS):
    return query_frame(igmp_msg(IGMP_QUERY, code, group), dst=dst)


def v1_query():
    return query_frame(igmp_msg(IGMP_QUERY, 0, "0.0.0.0"), dst=ALLHOSTS)


def peer_report(typ, group, src=PEER):
    return igmp_frame(igmp_msg(typ, 0, group), group, src=src, src_mac=PEER_MAC)


def settled_member(k, *groups):
    s = udp_sock(k)
    at(k, 1.05)
    for g in groups:
        join(s, g)
    at(k, 5.05)
    igmp_sent(k)
    return s


def one_answer(k, t, span_ticks=50, settle=30):
    """Exactly one IGMP packet in [next tick after t, + (span_ticks-1) ticks],
    none before, none after (up to `settle`)."""
    first = t + 0.15
    at(k, first - 0.01)
    assert igmp_sent(k) == []
    at(k, first + 0.2 * (span_ticks - 1) + 0.01)
    got = igmp_sent(k)
    assert len(got) == 1, got
    at(k, max(settle, now(k)))
    assert igmp_sent(k) == []
    return got[0]


# ------------------------------------------------------------ IGMPv3 queries
def test_v3_general_query_response(k):
    """igmp_input_v3_query: general query -> igi_v3_timer =
    IGMP_RANDOM_DELAY(100 * 5 / 10 = 50); igmp_v3_dispatch_general_query
    sends MODE_IS_EXCLUDE {} for the ASM group (224.0.0.1 is silent)."""
    settled_member(k, G1)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100)))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_gen_queries": 1}
    p = one_answer(k, 5.05, 50)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])


def test_v3_general_query_response_records(k):
    """igmp_v3_dispatch_general_query: one current-state record per
    reporting group, packed in one packet in if_multiaddrs order (newest
    first); INCLUDE groups carry their sources (MODE_IS_INCLUDE)."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    add_src(s, G2, S2)
    add_src(s, G2, S1)
    at(k, 5.05)
    igmp_sent(k)
    inject(k, query_frame(igmpv3_query(10)))  # 1 s: timer 5 ticks
    p = one_answer(k, 5.05, 5)
    check_v3_report_frame(p, k, [(MODE_IS_INCLUDE, G2, [S1, S2]), (MODE_IS_EXCLUDE, G1, [])])


def test_v3_general_query_without_groups(k):
    """igmp_v3_dispatch_general_query: only the silent all-hosts group ->
    nothing to send."""
    at(k, 1.05)
    inject(k, query_frame(igmpv3_query(100)))
    at(k, 20)
    assert igmp_sent(k) == []


def test_v3_exponential_max_resp_code(k):
    """igmp_input_v3_query: code >= 128 is mant << (exp + 3): 0x80 ->
    0 << 3 = 0 tenths -> timer 0 -> 1 tick: answered at the next tick."""
    settled_member(k, G1)
    inject(k, query_frame(igmpv3_query(0x80)))
    p = one_answer(k, 5.05, 1)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])


def test_v3_group_query(k):
    """igmp_input_v3_group_query: nsrc 0 -> IGMP_G_QUERY_PENDING_MEMBER,
    inm_timer = 1..50 ticks; the answer is MODE_IS_EXCLUDE for that group
    only, in its own packet."""
    settled_member(k, G1, G2)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100, G1), dst=G1))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_group_queries": 1}
    p = one_answer(k, 5.05, 50)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])
    # a group query for a group not joined on the link: inm_lookup fails,
    # counted and ignored
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100, "239.9.9.9"), dst="239.9.9.9"))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_group_queries": 1}
    at(k, now(k) + 15)
    assert igmp_sent(k) == []


def test_v3_gsr_query_on_asm_group_ignored(k):
    """igmp_input_v3_group_query: with inm_nsrc == 0 (pure ASM) a
    group-and-source query records nothing and is not answered."""
    settled_member(k, G1)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100, G1, [S1]), dst=G1))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_gsr_queries": 1}
    at(k, 20)
    assert igmp_sent(k) == []


def test_v3_gsr_query_include(k):
    """igmp_input_v3_group_query + igmp_v3_enqueue_group_record
    (is_source_query): only sources both recorded and in-mode at t1 are
    reported: INCLUDE {S1,S2} queried for {S1,S3} -> MODE_IS_INCLUDE {S1}."""
    s = udp_sock(k)
    at(k, 1.05)
    add_src(s, G1, S1)
    add_src(s, G1, S2)
    at(k, 5.05)
    igmp_sent(k)
    inject(k, query_frame(igmpv3_query(100, G1, [S1, S3]), dst=G1))
    p = one_answer(k, 5.05, 50)
    check_v3_report_frame(p, k, [(MODE_IS_INCLUDE, G1, [S1])])


def test_v3_gsr_query_exclude(k):
    """igmp_v3_enqueue_group_record (is_source_query) on an EXCLUDE group
    reports the recorded sources whose t1 mode is EXCLUDE: EXCLUDE {S1}
    queried for {S1,S2} -> MODE_IS_EXCLUDE {S1} (S2 is UNDEFINED at t1)."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    at(k, 5.05)
    block(s, G1, S1)
    at(k, 10.05)
    igmp_sent(k)
    inject(k, query_frame(igmpv3_query(100, G1, [S1, S2]), dst=G1))
    p = one_answer(k, 10.05, 50)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [S1])])


def test_gsr_rate_limit(k):
    """igmp_input_v3_query: ratecheck(&inm_lastgsrtv, gsrdelay 10 s) per
    group: the first query passes (lastgsrtv zero), one 1 s later is dropped
    (igps_drop_gsr_queries), one >= 10 s after the first passes."""
    settled_member(k, G1)
    q = query_frame(igmpv3_query(100, G1, [S1]), dst=G1)
    d = Delta(k)
    inject(k, q)
    assert d("igmp", "igps_drop_gsr_queries") == 0
    at(k, 6.05)
    inject(k, q)
    assert d("igmp", "igps_drop_gsr_queries") == 1
    at(k, 15.25)
    inject(k, q)
    assert d("igmp", "igps_drop_gsr_queries") == 1
    assert d("igmp", "igps_rcv_gsr_queries") == 3


def test_gsr_rate_limit_disabled():
    """ratecheck: an interval of 0 s (or -1 s) is always satisfied."""
    for delay in (0, -1):
        k = mk()
        assert k.sysctl("net.inet.igmp.gsrdelay", delay) == 10
        settled_member(k, G1)
        q = query_frame(igmpv3_query(100, G1, [S1]), dst=G1)
        d = Delta(k)
        inject(k, q)
        at(k, 5.25)
        inject(k, q)
        assert d("igmp", "igps_drop_gsr_queries") == 0, delay
        assert d("igmp", "igps_rcv_gsr_queries") == 2, delay


def test_legacysupp_does_not_suppress_v3(k):
    """igmp_v3_suppress_group_record tests 'state != G_QUERY_PENDING ||
    state != SG_QUERY_PENDING', which is always true, so even with
    net.inet.igmp.legacysupp=1 another host's v2 report does not cancel a
    pending v3 group-query answer (it is only counted as ourreports)."""
    assert k.sysctl("net.inet.igmp.legacysupp", 1) == 0
    settled_member(k, G1)
    inject(k, query_frame(igmpv3_query(100, G1), dst=G1))
    d = Delta(k)
    inject(k, peer_report(IGMP_V2_REPORT, G1))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_reports": 1, "igps_rcv_ourreports": 1}
    p = one_answer(k, 5.05, 50)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])


# ------------------------------------------------------------ IGMPv2 mode
def test_v2_query_switches_to_v2_reports(k):
    """igmp_input_v2_query: igmp_set_version(v2) cancels v3 timers; the
    general query kicks every group to REPORTING with 1..50 ticks
    (code 100 * PR_FASTHZ / 10); igmp_v1v2_process_group_timer then sends a
    v2 report (type 0x16 to the group, TOS 0, no DF, RA option)."""
    settled_member(k, G1)
    d = Delta(k)
    inject(k, v2_query(100))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1, "igps_rcv_gen_queries": 1}
    p = one_answer(k, 5.05, 50)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1)


def test_v2_group_specific_query(k):
    """igmp_input_v2_query: non-zero group -> group-specific, only that
    group is kicked; igps_rcv_group_queries."""
    settled_member(k, G1, G2)
    d = Delta(k)
    inject(k, v2_query(20, G2, dst=G2))
    assert d("igmp") == {
        "igps_rcv_total": 1,
        "igps_rcv_v1v2_queries": 1,
        "igps_rcv_group_queries": 1,
    }
    p = one_answer(k, 5.05, 10)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G2, G2)


def v2_mode(k):
    at(k, 1.05)
    inject(k, v2_query(100))  # no groups yet: only the version changes


def test_v2_join_single_unsolicited_report(k):
    """igmp_initial_join (v2): one report sent at once, state
    IGMP_IDLE_MEMBER; when the 1..50 tick inm_timer expires
    igmp_v1v2_process_group_timer does nothing for IDLE: no repeat."""
    v2_mode(k)
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1)
    at(k, 30)
    assert igmp_sent(k) == []
    assert k.netstat("igmp")["igps_snd_reports"] == 1


def test_v2_leave_when_last_reporter(k):
    """igmp_final_leave (v2, IDLE): leave message 0x17 to 224.0.0.2 with the
    group in igmp_group, sent at once."""
    v2_mode(k)
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    igmp_sent(k)
    at(k, 3.05)
    leave(s, G1)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_LEAVE, G1, ALLRTRS)
    at(k, 4.05)
    join(s, G2)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G2, G2)
    at(k, 5.05)
    inject(k, v2_query(100))  # G2: IDLE -> REPORTING, timer set
    at(k, 5.10)
    leave(s, G2)  # REPORTING also sends the leave
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_LEAVE, G2, ALLRTRS)
    at(k, 20)
    assert igmp_sent(k) == []


def test_v2_no_leave_when_other_host_reported(k):
    """igmp_input_v2_report moves IDLE -> LAZY; igmp_final_leave sends
    nothing for LAZY (we were not the last reporter)."""
    v2_mode(k)
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    igmp_sent(k)
    d = Delta(k)
    inject(k, peer_report(IGMP_V2_REPORT, G1))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_reports": 1, "igps_rcv_ourreports": 1}
    leave(s, G1)
    at(k, 20)
    assert igmp_sent(k) == []


def test_v2_report_suppression(k):
    """igmp_input_v2_report: a peer's report for our group while our timer
    runs clears inm_timer (-> LAZY): no report for that query."""
    settled_member(k, G1)
    inject(k, v2_query(100))
    at(k, 5.10)
    inject(k, peer_report(IGMP_V2_REPORT, G1))
    at(k, 30)
    assert igmp_sent(k) == []


def test_v3_query_ignored_in_v2_mode(k):
    """igmp_input_v3_query: counted (v3_queries, gen_queries) then dropped
    because igi_version != 3: no v3 answer."""
    v2_mode(k)
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    igmp_sent(k)
    at(k, 3.05)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(100)))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_gen_queries": 1}
    at(k, 20)
    assert igmp_sent(k) == []


# ------------------------------------------------------------ IGMPv1 mode
def test_v1_query_v1_reports(k):
    """igmp_input_v1_query: 8-byte query with code 0 -> v1 mode; groups
    with no running timer get 1..50 ticks (IGMP_V1V2_MAX_RI * PR_FASTHZ);
    the report is type 0x12 and, like every IGMP message from igmp_intr,
    carries the Router Alert option while sendra is 1."""
    settled_member(k, G1)
    d = Delta(k)
    inject(k, v1_query())
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1, "igps_rcv_gen_queries": 1}
    p = one_answer(k, 5.05, 50)
    check_v1v2_frame(p, k, IGMP_V1_REPORT, G1, G1)
    # igmp_initial_join in v1 mode: one v1 report at once;
    # igmp_final_leave: IGMPv1 has no leave message.
    s = udp_sock(k, 5001)
    at(k, 30.05)
    join(s, G2)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V1_REPORT, G2, G2)
    at(k, 31.05)
    leave(s, G2)
    at(k, 50)
    assert igmp_sent(k) == []


def test_version_disabled_query_ignored():
    """igmp_input: with v1enable/v2enable 0 the v1/v2 query is only counted
    (igps_rcv_v1v2_queries); the link stays v3, so a join is reported with
    a v3 state-change at the next tick."""
    for sysctl, query in (("v1enable", v1_query()), ("v2enable", v2_query(100))):
        k = mk()
        assert k.sysctl("net.inet.igmp." + sysctl, 0) == 1
        at(k, 1.05)
        d = Delta(k)
        inject(k, query)
        assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1}, sysctl
        s = udp_sock(k)
        at(k, 2.05)
        join(s, G1)
        assert igmp_sent(k) == [], sysctl
        at(k, 2.21)
        (p,) = igmp_sent(k)
        check_v3_report_frame(p, k, [(TO_EX, G1, [])])


# ------------------------------------------------------------ compat timers
@pytest.mark.parametrize("query", ["v1", "v2"])
def test_older_querier_present_timer(query):
    """igmp_set_version: timer = (rv * qi + qri) * PR_SLOWHZ =
    (2*125 + 10) * 2 = 520 slow ticks; igmp_v1v2_process_querier_timers
    decrements it once per 500 ms tick and reverts to v3 only on the tick
    after it reached 0. Query at 1.05 -> ticks 1.5 .. 261.0 count down,
    v3 from 261.5: a join at 261.3 is still answered in the old version
    (at once), a join at 261.7 with a v3 report at the next tick."""
    for t_join in (261.3, 261.7):
        k = mk()
        at(k, 1.05)
        inject(k, v1_query() if query == "v1" else v2_query(100))
        s = udp_sock(k)
        at(k, t_join)
        join(s, G1)
        if t_join > 261.5:
            assert igmp_sent(k) == []
            at(k, t_join + 0.2)
            (p,) = igmp_sent(k)
            check_v3_report_frame(p, k, [(TO_EX, G1, [])])
        else:
            (p,) = igmp_sent(k)
            check_v1v2_frame(p, k, IGMP_V1_REPORT if query == "v1" else IGMP_V2_REPORT, G1, G1)


@pytest.mark.parametrize("t_join,expect", [(300.05, "v2"), (352.7, "v3")])
def test_querier_timer_uses_qri_in_tenths(t_join, expect):
    """igmp_input_v3_query stores igi_qri = maxresp in tenths of a second
    (100), while IGMP_QRI_INIT is 10 (seconds); igmp_set_version adds it as
    seconds: a v2 query at 2.05 after a v3 query with code 100 gives
    (2*125 + 100) * 2 = 700 slow ticks (2.5 .. 352.0), v3 again at 352.5."""
    k = mk()
    at(k, 1.05)
    inject(k, query_frame(igmpv3_query(100, qrv=2, qqic=125)))
    at(k, 2.05)
    inject(k, v2_query(100))
    s = udp_sock(k)
    at(k, t_join)
    k.transmitted("em0")
    join(s, G1)
    if expect == "v2":
        (p,) = igmp_sent(k)
        check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1)
    else:
        assert igmp_sent(k) == []
        at(k, t_join + 0.2)
        (p,) = igmp_sent(k)
        check_v3_report_frame(p, k, [(TO_EX, G1, [])])


def test_v2enable_cleared_reverts_at_next_slow_tick(k):
    """igmp_v1v2_process_querier_timers: v2 timer running but v2enable 0 ->
    igi_v2_timer = 0, back to v3 at the next slow tick (2.5)."""
    at(k, 1.05)
    inject(k, v2_query(100))
    at(k, 2.05)
    k.sysctl("net.inet.igmp.v2enable", 0)
    s = udp_sock(k)
    at(k, 2.65)
    join(s, G1)
    assert igmp_sent(k) == []
    at(k, 2.81)
    (p,) = igmp_sent(k)
    check_v3_report_frame(p, k, [(TO_EX, G1, [])])


def test_v1_report_suppression_in_v1_mode(k):
    """igmp_input_v1_report: REPORTING in v1 mode -> timer 0, LAZY: the
    pending v1 report is not sent."""
    settled_member(k, G1)
    inject(k, v1_query())
    at(k, 5.10)
    d = Delta(k)
    inject(k, peer_report(IGMP_V1_REPORT, G1))
    assert d("igmp") == {"igps_rcv_total": 1, "igps_rcv_reports": 1, "igps_rcv_ourreports": 1}
    at(k, 30)
    assert igmp_sent(k) == []


def test_pending_answer_not_postponed_by_later_query():
    """igmp_v2_update_group: REPORTING with 0 < inm_timer <= the new timer
    is left alone; igmp_input_v3_query: a pending general-query answer with
    igi_v3_timer < the new timer is kept. A 1 s query followed by a 10 s
    query is answered within the first 5 ticks."""
    for version in ("v2", "v3"):
        k = mk()
        settled_member(k, G1)
        if version == "v2":
            inject(k, v2_query(10))
            inject(k, v2_query(100))
        else:
            inject(k, query_frame(igmpv3_query(10)))
            inject(k, query_frame(igmpv3_query(100)))
        p = one_answer(k, 5.05, 5)
        if version == "v2":
            check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1)
        else:
            check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])


def test_v3_rejoin_before_leave_is_sent_goes_silent(k):
    """igmp_final_leave (v3) queues TO_IN {} and leaves st[0] uncommitted
    (IGMP_LEAVING_MEMBER). A re-join before the next tick sees st[0] and
    st[1] both EXCLUDE, so igmp_change_state takes
    igmp_handle_state_change, which drains inm_scq and queues nothing (ASM
    at t0 and t1, no sources). The LEAVING retransmissions then run with an
    empty queue and igmp_v3_process_group_timers ends in IGMP_NOT_MEMBER:
    nothing is ever sent, and igmp_v3_dispatch_general_query skips the group
    although the socket is a member (and still receives)."""
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    at(k, 5.05)
    igmp_sent(k)
    leave(s, G1)
    at(k, 5.10)
    join(s, G1)
    at(k, 10.05)
    assert igmp_sent(k) == []
    inject(k, query_frame(igmpv3_query(100)))
    at(k, 25)
    assert igmp_sent(k) == []
    assert len(rx(k, s, "em0")) == 1


def test_v3_group_query_ignored_for_group_joined_in_v2_mode():
    """A group joined in v2 compatibility mode stays IGMP_IDLE_MEMBER after
    the return to v3; igmp_input_v3_group_query ignores IDLE groups, so a
    group-specific query gets no answer until a general query
    (igmp_v3_dispatch_general_query) moves the group to REPORTING."""
    k = mk()
    at(k, 1.05)
    inject(k, v2_query(100))
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1)
    at(k, 262.05)  # v3 again since 261.5
    inject(k, query_frame(igmpv3_query(100, G1), dst=G1))
    at(k, 280.05)
    assert igmp_sent(k) == []
    inject(k, query_frame(igmpv3_query(10)))
    p = one_answer(k, 280.05, 5, settle=290)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])
    at(k, 290.05)
    inject(k, query_frame(igmpv3_query(10, G1), dst=G1))  # now REPORTING
    p = one_answer(k, 290.05, 5, settle=300)
    check_v3_report_frame(p, k, [(MODE_IS_EXCLUDE, G1, [])])


def test_gsr_query_sources_count_against_maxgrpsrc():
    """inm_record_source allocates an in_multi source node for a queried
    source the host does not filter (counted in inm_nsrc); the answer has no
    source to report (nothing sent) and inm_clear_recorded does not reap the
    node. With maxgrpsrc 2 a following IP_ADD_SOURCE_MEMBERSHIP hits
    inm_get_source's ENOSPC; that failed inm_merge reaps (inm_reap) the
    stale node, so the same call then succeeds."""
    k = mk()
    k.sysctl("net.inet.ip.mcast.maxgrpsrc", 2)
    s = udp_sock(k)
    at(k, 1.05)
    add_src(s, G1, S1)
    at(k, 5.05)
    igmp_sent(k)
    inject(k, query_frame(igmpv3_query(100, G1, [S2]), dst=G1))
    at(k, 16.05)
    assert igmp_sent(k) == []
    assert errno_of(add_src, s, G1, S3) == errno.ENOSPC
    add_src(s, G1, S3)
    assert get_msf(s, k.iface("em0").index, G1) == (MCAST_INCLUDE, 2, [S1, S3])


def test_v3_general_query_answer_repeats_when_over_4_packets(k):
    """igmp_v3_dispatch_general_query sends at most IGMP_MAX_RESPONSE_BURST
    (4) packets and re-arms igi_v3_timer = 1 + (1..2) ticks while igi_gq is
    not empty; when that timer fires, igmp_fasttimo_vnet calls
    igmp_v3_dispatch_general_query again, which walks all groups and queues
    a whole new answer behind the leftovers. With 1000 groups (6 packets of
    up to 183 records) the queue never drains: bursts of exactly 4 packets
    every 2 or 3 ticks, without end."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    i0 = k.iface("em0").index
    at(k, 1.05)
    for i in range(1000):
        g = f"239.1.{i >> 8}.{i & 255}"
        s.setsockopt(sock.IPPROTO_IP, sock.MCAST_JOIN_GROUP, sock.group_req(i0, g))
    at(k, 5.05)
    igmp_sent(k)
    d = Delta(k)
    inject(k, query_frame(igmpv3_query(10)))  # 1 s: 1..5 ticks
    bursts = []
    for n in range(1, 150):  # ticks 5.2 .. 34.8
        at(k, 5.05 + 0.2 * n - 0.05 + 0.01)
        got = igmp_sent(k)
        if got:
            bursts.append((n, got))
    assert 1 <= bursts[0][0] <= 5
    assert all(len(b) == 4 for _, b in bursts), [len(b) for _, b in bursts]
    for p in bursts[0][1]:
        recs = p.v3_records()
        assert len(recs) == 183
        assert {r[0] for r in recs} == {MODE_IS_EXCLUDE}
    gaps = [b[0] - a[0] for a, b in zip(bursts, bursts[1:], strict=False)]
    assert set(gaps) <= {2, 3}, gaps
    assert bursts[-1][0] >= 149 - 3
    assert d("igmp", "igps_snd_reports") == 4 * len(bursts)
