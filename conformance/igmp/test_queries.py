"""Query handling, report suppression, version compatibility and input
checks of netinet/igmp.c (igmp_input, igmp_input_v1_query,
igmp_input_v2_query, igmp_input_v3_query, igmp_input_v3_group_query,
igmp_input_v1_report, igmp_input_v2_report, igmp_set_version,
igmp_v1v2_process_querier_timers, igmp_fasttimo), FreeBSD 9.0.

A response to a query with a Max Resp of T fast ticks (200 ms) leaves at
one of the next T ticks: random() % T + 1."""

from __future__ import annotations

import pytest

import kstack
from conformance.igmp.helpers import (
    ALLHOSTS,
    DONT_CARE,
    FAST,
    IS_EX,
    IS_IN,
    QUERIER,
    RA,
    TO_EX,
    frame,
    host_v1v2,
    host_v3_report,
    igmp,
    igmp_frames,
    ipv4,
    join,
    query_frame,
    record,
    report_v1,
    report_v2,
    run,
    v1_query,
    v2_query,
    v3_query,
)
from kstack import sock
from kstack.testing import HOST

IP = sock.IPPROTO_IP
G = "239.1.1.1"
S1 = "10.0.0.1"
S2 = "10.0.0.2"


@pytest.fixture
def joined(k):
    """The host with a socket in 239.1.1.1 (any source) and its two
    unsolicited v3 reports already sent."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    run(k, 5)
    k.socket_in_group = s
    return k


def _within(frames, start, ticks):
    """Every frame left after ``start`` and no later than ``ticks`` fast
    ticks after it."""
    for t, _f in frames:
        assert start < t <= start + ticks * FAST + 1e-9, (t, start, ticks)


def _version(k, iface="em0"):
    return k.vnet0.igmp_ifinfo(iface)["version"]


# -- v1 / v2 queries --------------------------------------------------------------------


def test_v1_query_v1_report_and_v1_mode(joined, match_frame, delta):
    """igmp_input_v1_query: a general query to 224.0.0.1 switches the link
    to v1 mode and schedules a v1 report within 10 s (50 ticks)."""
    k = joined
    t0 = k.now
    with delta(k) as d:
        k.input("em0", query_frame(v1_query()))
        frames = igmp_frames(run(k, 11))
    assert _version(k) == 1
    assert len(frames) == 1
    _within(frames, t0, 50)
    match_frame(frames[0][1], host_v1v2(report_v1(G), G), DONT_CARE)
    assert d["igmp"] == {
        "igps_rcv_total": 1,
        "igps_rcv_v1v2_queries": 1,
        "igps_rcv_gen_queries": 1,
        "igps_snd_reports": 1,
    }


def test_v2_query_v2_report(joined, match_frame):
    """igmp_input_v2_query (G6.1): v2 mode; a v2 report (TOS 0, no DF, TTL
    1, RA, to the group) within code x 5 / 10 = 50 ticks."""
    k = joined
    t0 = k.now
    k.input("em0", query_frame(v2_query(100)))
    frames = igmp_frames(run(k, 11))
    assert _version(k) == 2
    assert len(frames) == 1
    _within(frames, t0, 50)
    match_frame(frames[0][1], host_v1v2(report_v2(G), G), DONT_CARE)


def test_v2_group_query(joined, match_frame, delta):
    """igmp_input_v2_query: a group-specific query (igps_rcv_group_queries;
    its destination is not checked) with code 10: within 5 ticks."""
    k = joined
    t0 = k.now
    with delta(k) as d:
        k.input("em0", query_frame(v2_query(10, G), dst=G))
        frames = igmp_frames(run(k, 2))
    assert len(frames) == 1
    _within(frames, t0, 5)
    match_frame(frames[0][1], host_v1v2(report_v2(G), G), DONT_CARE)
    assert d["igmp"]["igps_rcv_group_queries"] == 1


def test_v2_general_query_not_to_all_hosts_ignored(joined, delta):
    """igmp_input_v2_query: a general query not sent to 224.0.0.1 is
    ignored without a counter of its own (and still given to raw sockets)."""
    k = joined
    with delta(k) as d:
        k.input("em0", query_frame(v2_query(100), dst=G))
        frames = igmp_frames(run(k, 11))
    assert frames == []
    assert _version(k) == 3
    assert d["igmp"] == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1}
    assert d["ip"]["ips_noproto"] == 1


def test_v1_query_with_group_badqueries(joined, delta):
    """igmp_input_v1_query: a v1 query with a group (or not to 224.0.0.1)
    is igps_rcv_badqueries, not acted on."""
    k = joined
    with delta(k) as d:
        k.input("em0", query_frame(v1_query(group=G)))
    assert d["igmp"] == {
        "igps_rcv_total": 1,
        "igps_rcv_v1v2_queries": 1,
        "igps_rcv_badqueries": 1,
    }
    assert _version(k) == 3


def test_v2_query_ignored_in_v1_mode(joined):
    """igmp_input_v2_query: v2 queries are ignored while in v1 mode."""
    k = joined
    k.input("em0", query_frame(v1_query()))
    run(k, 11)
    t0 = k.now
    k.input("em0", query_frame(v2_query(10, G), dst=G))
    assert igmp_frames(run(k, 3)) == []
    assert _version(k) == 1
    assert k.now > t0


def test_v1_disabled(joined, delta):
    """igmp_input: with net.inet.igmp.v1enable=0 a v1 query is counted
    (igps_rcv_v1v2_queries) and otherwise ignored."""
    k = joined
    k.sysctl("net.inet.igmp.v1enable", 0)
    with delta(k) as d:
        k.input("em0", query_frame(v1_query()))
        frames = igmp_frames(run(k, 11))
    assert frames == [] and _version(k) == 3
    assert d["igmp"] == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1}


# -- version compatibility -----------------------------------------------------------------


def test_older_querier_timer_260s(joined):
    """igmp_set_version: (RV 2 x QI 125 + QRI 10) x PR_SLOWHZ = 520 slow
    ticks; igmp_v1v2_process_querier_timers counts it down and returns to
    v3 on the tick after it reaches 0."""
    k = joined
    k.input("em0", query_frame(v2_query(100)))
    assert k.vnet0.igmp_ifinfo("em0")["v2_timer"] == 260
    k.advance(259.5)
    assert _version(k) == 2
    k.advance(2)
    assert _version(k) == 3


def test_v3_query_ignored_in_v2_mode(joined):
    """igmp_input_v3_query: v3 queries are discarded in compatibility mode."""
    k = joined
    k.input("em0", query_frame(v2_query(100)))
    run(k, 11)
    k.input("em0", query_frame(v3_query(100)))
    assert igmp_frames(run(k, 11)) == []


def test_v2enable_off_leaves_v2_mode_next_slow_tick(joined):
    """igmp_v1v2_process_querier_timers: v2 disabled while in v2 mode ->
    back to v3 at the next slow tick (500 ms)."""
    k = joined
    k.input("em0", query_frame(v2_query(100)))
    k.sysctl("net.inet.igmp.v2enable", 0)
    k.advance(0.5)
    assert _version(k) == 3


def test_v3_query_sets_qri_in_tenths(joined):
    """igmp_input_v3_query stores the Max Resp (tenths of a second) as
    igi_qri, which igmp_set_version adds as seconds: after a v3 query with
    code 100 and QQIC 125, a v2 query sets (2 x 125 + 100) x 2 slow ticks."""
    k = joined
    k.input("em0", query_frame(v3_query(100, qqic=125)))
    k.input("em0", query_frame(v2_query(100)))
    assert k.vnet0.igmp_ifinfo("em0")["v2_timer"] == 350


def test_switch_to_v2_cancels_pending_v3_reports(k):
    """igmp_v3_cancel_link_timers: entering v2 mode stops the pending v3
    state-change retransmission."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    first = igmp_frames(run(k, FAST))
    assert len(first) == 1
    k.input("em0", query_frame(v2_query(1, "239.9.9.9"), dst="239.9.9.9"))
    assert igmp_frames(run(k, 5)) == []


# -- v3 queries ------------------------------------------------------------------------------


def test_v3_general_query_current_state(joined, match_frame, delta):
    """igmp_input_v3_query + igmp_v3_dispatch_general_query: one current-state
    report with IS_EX {} for an any-source group and IS_IN {S1, S2} for an
    include group, within the Max Resp (code 100: 50 ticks)."""
    k = joined
    s2 = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s2.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source("232.1.1.1", S2))
    s2.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source("232.1.1.1", S1))
    run(k, 5)
    t0 = k.now
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(100)))
        frames = igmp_frames(run(k, 11))
    assert len(frames) == 1
    _within(frames, t0, 50)
    want = host_v3_report([record(IS_IN, "232.1.1.1", [S1, S2]), record(IS_EX, G)])
    match_frame(frames[0][1], want, DONT_CARE)
    assert d["igmp"] == {
        "igps_rcv_total": 1,
        "igps_rcv_v3_queries": 1,
        "igps_rcv_gen_queries": 1,
        "igps_snd_reports": 1,
    }


def test_v3_group_query(joined, match_frame, delta):
    """igmp_input_v3_group_query: a group query -> G_QUERY_PENDING, then an
    IS_EX {} record for that group alone."""
    k = joined
    t0 = k.now
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(20, G), dst=G))
        frames = igmp_frames(run(k, 3))
    assert len(frames) == 1
    _within(frames, t0, 10)
    match_frame(frames[0][1], host_v3_report([record(IS_EX, G)]), DONT_CARE)
    assert d["igmp"]["igps_rcv_group_queries"] == 1


def test_v3_gsr_query_on_any_source_group_ignored(joined, delta):
    """igmp_input_v3_group_query: a group-and-source query for a group with
    no source state (a plain any-source join) records nothing: no answer."""
    k = joined
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(20, G, [S1]), dst=G))
        frames = igmp_frames(run(k, 5))
    assert frames == []
    assert d["igmp"]["igps_rcv_gsr_queries"] == 1


def test_v3_gsr_query_answers_recorded_sources(k, match_frame):
    """igmp_input_v3_group_query + igmp_v3_enqueue_group_record: the listed
    sources are recorded; the answer lists those in the group's mode: IS_IN
    {S1} for include {S1} asked about {S1, 10.0.0.9}."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    run(k, 5)
    t0 = k.now
    k.input("em0", query_frame(v3_query(20, G, [S1, "10.0.0.9"]), dst=G))
    frames = igmp_frames(run(k, 3))
    assert len(frames) == 1
    _within(frames, t0, 10)
    match_frame(frames[0][1], host_v3_report([record(IS_IN, G, [S1])]), DONT_CARE)


def test_v3_gsr_query_rate_limited(k, delta):
    """igmp_input_v3_query: group-and-source queries for a group pass
    ratecheck at most once per net.inet.igmp.gsrdelay (10 s)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    run(k, 5)
    k.input("em0", query_frame(v3_query(20, G, [S1]), dst=G))
    run(k, 3)
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(20, G, [S1]), dst=G))
        assert igmp_frames(run(k, 3)) == []
    assert d["igmp"]["igps_drop_gsr_queries"] == 1
    run(k, 5)
    k.input("em0", query_frame(v3_query(20, G, [S1]), dst=G))
    assert len(igmp_frames(run(k, 3))) == 1


def test_v3_max_resp_exponent_without_implicit_bit(joined):
    """igmp_input_v3_query: code 0x80 decodes as 0 << 3 = 0 (RFC 3376: 12.8
    s), so the timer is the minimum of one tick: the answer leaves at the
    next fast tick."""
    k = joined
    t0 = k.now
    k.input("em0", query_frame(v3_query(0x80)))
    frames = igmp_frames(run(k, 1))
    assert len(frames) == 1
    _within(frames, t0, 1)


def test_v3_query_robustness_sets_retransmissions(joined):
    """igmp_input_v3_query stores the querier's robustness (QRV 3): the next
    state change is sent three times."""
    k = joined
    k.input("em0", query_frame(v3_query(0x80, qrv=3)))
    run(k, 1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, "239.3.3.3")
    frames = igmp_frames(run(k, 10))
    assert len(frames) == 3


def test_v3_query_robustness_below_two_raised(joined):
    """igmp_input_v3_query: QRV 1 (or 0) is raised to 2."""
    k = joined
    k.input("em0", query_frame(v3_query(0x80, qrv=1)))
    run(k, 1)
    assert k.vnet0.igmp_ifinfo("em0")["rv"] == 2


def test_v3_general_query_with_sources_badqueries(joined, delta):
    """igmp_input_v3_query: a general query with sources is counted as a
    general query and as bad, then ignored."""
    k = joined
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(100, "0.0.0.0", [S1])))
        assert igmp_frames(run(k, 11)) == []
    assert d["igmp"]["igps_rcv_gen_queries"] == 1
    assert d["igmp"]["igps_rcv_badqueries"] == 1


# -- reports from others ------------------------------------------------------------------


def test_v2_report_suppresses_our_report_and_leave(joined, delta):
    """igmp_input_v2_report (v2 mode): another member's report while ours is
    pending stops our timer (REPORTING -> LAZY): no report, and no leave
    later since we were not the last reporter."""
    k = joined
    k.input("em0", query_frame(v2_query(100)))
    with delta(k) as d:
        k.input("em0", frame(ipv4("192.0.2.8", G, report_v2(G), opts=RA)))
    assert d["igmp"]["igps_rcv_ourreports"] == 1
    assert igmp_frames(run(k, 11)) == []
    k.socket_in_group.setsockopt(IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G))
    assert igmp_frames(run(k, 2)) == []


def test_v1_report_in_v1_mode_makes_us_lazy(joined):
    """igmp_input_v1_report (v1 mode): REPORTING -> LAZY, timer stopped."""
    k = joined
    k.input("em0", query_frame(v1_query()))
    k.input("em0", frame(ipv4("192.0.2.8", G, report_v1(G), opts=RA)))
    assert igmp_frames(run(k, 11)) == []
    assert [g["state"] for g in k.vnet0.ifmcstat("em0") if g["group"] == G] == ["lazy"]


def test_v3_mode_no_suppression_even_with_legacysupp(joined):
    """igmp_input_v2_report: in v3 mode legacysupp calls a suppression whose
    guard is always true, so it returns at once: the v3 answer still goes."""
    k = joined
    k.sysctl("net.inet.igmp.legacysupp", 1)
    k.input("em0", query_frame(v3_query(20, G), dst=G))
    k.input("em0", frame(ipv4("192.0.2.8", G, report_v2(G), opts=RA)))
    assert len(igmp_frames(run(k, 3))) == 1


def test_own_v2_report_not_counted(joined, delta):
    """igmp_input_v2_report: a report from our own first address is ignored
    before it is counted."""
    k = joined
    with delta(k) as d:
        k.input("em0", frame(ipv4(HOST, G, report_v2(G), opts=RA)))
    assert d["igmp"] == {"igps_rcv_total": 1}


def test_v2_report_without_router_alert_nora(joined, delta):
    """igmp_input: a v2 report without Router Alert counts igps_rcv_nora and
    is still processed."""
    k = joined
    with delta(k) as d:
        k.input("em0", frame(ipv4("192.0.2.8", G, report_v2(G))))
    assert d["igmp"] == {
        "igps_rcv_total": 1,
        "igps_rcv_nora": 1,
        "igps_rcv_reports": 1,
        "igps_rcv_ourreports": 1,
    }


def test_bad_report_dropped_before_raw(joined, delta):
    """igmp_input_v2_report (G6.5): a report whose group is not its
    destination is igps_rcv_badreports and freed: raw sockets see nothing."""
    k = joined
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    with delta(k) as d:
        k.input("em0", frame(ipv4("192.0.2.8", G, report_v2("239.2.2.2"), opts=RA)))
    assert d["igmp"]["igps_rcv_badreports"] == 1
    with pytest.raises(BlockingIOError):
        r.recv(100)


def test_recvifkludge_rewrites_zero_source(joined):
    """igmp_input_v2_report: with recvifkludge a report from 0.0.0.0 is
    rewritten to come from the interface's subnet, as raw sockets see it."""
    k = joined
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    k.input("em0", frame(ipv4("0.0.0.0", G, report_v2(G), opts=RA)))
    data, addr = r.recvfrom(100)
    assert addr[0] == "192.0.2.0"
    assert data[12:16] == bytes((192, 0, 2, 0))


# -- input validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "pkt,counter",
    [
        (ipv4(QUERIER, ALLHOSTS, v2_query(100), ttl=2, opts=RA), "igps_rcv_badttl"),
        (ipv4(QUERIER, ALLHOSTS, v2_query(100)[:7], opts=RA), "igps_rcv_tooshort"),
        (
            ipv4(QUERIER, ALLHOSTS, v2_query(100)[:2] + b"\0\0" + v2_query(100)[4:], opts=RA),
            "igps_rcv_badsum",
        ),
        (
            ipv4(QUERIER, ALLHOSTS, igmp(0x11, 100, "0.0.0.0", b"\0\0"), opts=RA),
            "igps_rcv_tooshort",
        ),
    ],
    ids=["ttl2", "7-bytes", "bad-checksum", "10-byte-query"],
)
def test_input_drops_before_raw(joined, delta, pkt, counter):
    """igmp_input: TTL other than 1 (G6.4), fewer than 8 bytes, a bad
    checksum, a query of 9 to 11 bytes: counted, dropped, not given to raw."""
    k = joined
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d["igmp"][counter] == 1
    with pytest.raises(BlockingIOError):
        r.recv(100)


def test_dvmrp_exempt_from_ttl(joined):
    """igmp_input: DVMRP (0x13) may come from beyond the link: any TTL."""
    k = joined
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    k.input("em0", frame(ipv4(QUERIER, ALLHOSTS, igmp(0x13, 1, "0.0.0.0"), ttl=30)))
    assert r.recv(100)[20] == 0x13
    assert k.netstat("igmp")["igps_rcv_badttl"] == 0


@pytest.mark.parametrize("nsrc,ok", [(33, True), (34, False)])
def test_v3_query_source_list_must_fit_one_mbuf(k, delta, nsrc, ok):
    """igmp_input: the v3 query and its sources are pulled up into one
    packet-header mbuf (MHLEN 168 bytes on amd64): with the Router Alert
    option 24 + 12 + 4 x 33 = 168 fits, 34 sources do not (tooshort)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    run(k, 5)
    srcs = [f"10.1.0.{i}" for i in range(1, nsrc)] + [S1]
    with delta(k) as d:
        k.input("em0", query_frame(v3_query(20, G, srcs), dst=G))
        frames = igmp_frames(run(k, 3))
    if ok:
        assert d["igmp"]["igps_rcv_gsr_queries"] == 1
        assert len(frames) == 1
    else:
        assert d["igmp"] == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_tooshort": 1}
        assert frames == []


def test_v3_query_claiming_more_sources_than_sent(joined, delta):
    """igmp_input: a v3 query whose source count runs past the packet fails
    the pull-up: igps_rcv_tooshort."""
    k = joined
    msg = bytearray(v3_query(20, G, [S1]))
    msg[10:12] = (3).to_bytes(2, "big")
    from kstack.netinet.ip import in_cksum

    msg[2:4] = b"\0\0"
    msg[2:4] = in_cksum(bytes(msg)).to_bytes(2, "big")
    with delta(k) as d:
        k.input("em0", frame(ipv4(QUERIER, G, bytes(msg), opts=RA)))
    assert d["igmp"]["igps_rcv_tooshort"] == 1


def test_query_on_interface_other_than_membership(k):
    """igmp_input_v2_query acts on the receiving interface's groups only."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G, "198.51.100.1")
    run(k, 5, "em1")
    k.input("em0", query_frame(v2_query(10)))
    assert igmp_frames(run(k, 3)) == []
    assert _version(k, "em1") == 3


def test_v2_report_bytes_in_v2_mode_after_query_with_source_list(k, match_frame):
    """igmp_v1v2_process_group_timer: the v2 report for an include-mode
    (source-specific) group is a plain v2 report: v2 has no sources."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    run(k, 5)
    k.input("em0", query_frame(v2_query(10)))
    frames = igmp_frames(run(k, 3))
    assert len(frames) == 1
    match_frame(frames[0][1], host_v1v2(report_v2(G), G), DONT_CARE)


def test_default_version_sysctl_range():
    """sysctl_igmp_default_version: only 1..3 (EINVAL otherwise)."""
    k = kstack.Kernel()
    for bad in (0, 4):
        with pytest.raises(OSError):
            k.sysctl("net.inet.igmp.default_version", bad)
    assert k.sysctl("net.inet.igmp.default_version", 2) == 3


def test_gsrdelay_sysctl_range():
    """sysctl_igmp_gsr: -1..59 (EINVAL otherwise)."""
    k = kstack.Kernel()
    for bad in (-2, 60):
        with pytest.raises(OSError):
            k.sysctl("net.inet.igmp.gsrdelay", bad)
    assert k.sysctl("net.inet.igmp.gsrdelay", -1) == 10


def test_to_ex_after_v2_mode_expires(joined, match_frame):
    """Back in v3 mode after the older-querier timer, joins are v3 again."""
    k = joined
    k.input("em0", query_frame(v2_query(100)))
    k.advance(262)
    k.transmitted("em0")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, "239.4.4.4")
    frames = igmp_frames(run(k, 5))
    assert len(frames) == 2
    match_frame(frames[0][1], host_v3_report([record(TO_EX, "239.4.4.4")]), DONT_CARE)
