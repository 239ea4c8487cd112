"""Corpus IGMP captures replayed into a host whose scenario joins groups:
every frame the host sends is checked against the IGMP rules (its bytes,
and a time inside the window the query that caused it allows; the random
delay inside the window is the kernel's own). Skipped without the shared
corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conformance.igmp.helpers import (
    DONT_CARE,
    IS_EX,
    IS_IN,
    TO_EX,
    TO_IN,
    host_v1v2,
    host_v3_report,
    record,
    report_v1,
    report_v2,
)
from kstack.frames import diff_frames
from kstack.replay import PacketResult, replay

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pcaps"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")
EPS = 1e-6


def _run(tmp_path: Path, rel: str, scenario: str, drain: float) -> tuple[list[Any], list[Any]]:
    """(records, sent): records as (index, t, outcome); sent as (t, frame),
    times in seconds from the first record."""
    sc = tmp_path / "host.toml"
    sc.write_text(scenario)
    results: list[PacketResult] = []
    summary = replay(CORPUS / rel, scenario=str(sc), on_event=results.append, drain=drain)
    t0 = results[0].ts_ns
    sent: list[tuple[float, bytes]] = []
    recs = []
    for r in results:
        for tr in r.timers:
            sent.extend(((tr.ts_ns - t0) / 1e9, f.data) for f in tr.sent)
        recs.append((r.index, (r.ts_ns - t0) / 1e9, r.outcome))
        sent.extend(((r.ts_ns - t0) / 1e9, f.data) for f in r.sent)
    for tr in summary.drained:
        sent.extend(((tr.ts_ns - t0) / 1e9, f.data) for f in tr.sent)
    sent.extend(((f.ts_ns - t0) / 1e9, f.data) for f in summary.tail)
    return recs, sent


def _same(got: bytes, want: bytes) -> bool:
    return not diff_frames(got, want, DONT_CARE)


def _pop(sent: list[tuple[float, bytes]], want: bytes, lo: float, hi: float) -> float:
    """Take the one frame equal to ``want`` sent in (lo, hi]; its time."""
    hits = [(t, f) for t, f in sent if _same(f, want) and lo < t <= hi + EPS]
    assert len(hits) == 1, f"{len(hits)} matching frames in ({lo}, {hi}]"
    sent.remove(hits[0])
    return hits[0][0]


def _count(sent: list[tuple[float, bytes]], want: bytes, lo: float, hi: float) -> list[float]:
    return [t for t, f in sent if _same(f, want) and lo < t <= hi + EPS]


V2_HOST = "192.168.1.10"
V2_MAC = "02:00:00:00:00:0a"
V2_SCENARIO = f"""
[[interface]]
name = "em0"
addr = "{V2_HOST}/24"
ether = "{V2_MAC}"

[[socket]]
type = "dgram"
port = 1900
join = ["239.255.255.251", "225.1.1.7", "225.1.1.3"]
"""


def test_tcpdump_igmp_v2(tmp_path):
    """IGMP_V2.pcap (a v2 querier at 192.168.1.2): igmp_initial_join sends
    TO_EX for the three groups at the first fast tick (one packet, newest
    group first), the v2 general query of record 1 (Max Resp 10 s) cancels
    the retransmission (igmp_v3_cancel_link_timers) and draws a v2 report
    per group within 10 s; 225.1.1.3 loses its turn when another host
    reports it first (record 4, igmp_input_v2_report); the group query of
    record 6 (1 s) and the general query of record 15 (10 s) are answered
    (igmp_v2_update_group, igmp_v1v2_process_group_timer)."""
    recs, sent = _run(tmp_path, "tcpdump/tests/IGMP_V2.pcap", V2_SCENARIO, drain=20)
    kw = {"src": V2_HOST, "src_mac": V2_MAC}
    a, b, c = "239.255.255.251", "225.1.1.7", "225.1.1.3"
    to_ex = host_v3_report([record(TO_EX, c), record(TO_EX, b), record(TO_EX, a)], **kw)
    setup = _count(sent, to_ex, -10, 0)
    assert setup and abs(setup[0] - (-0.8)) < EPS  # booted 1 s before record 1
    assert len(setup) in (1, 2)
    for t in setup:
        _pop(sent, to_ex, t - EPS, t)
    assert _count(sent, to_ex, 0, 1e9) == []
    q1, q6, q15 = (recs[i - 1][1] for i in (1, 6, 15))
    other_c = recs[4 - 1][1]  # 192.168.11.201 reports 225.1.1.3
    for g in (a, b):
        _pop(sent, host_v1v2(report_v2(g), g, **kw), q1, q1 + 10)
    early = _count(sent, host_v1v2(report_v2(c), c, **kw), q1, other_c)
    assert len(early) <= 1
    for t in early:
        _pop(sent, host_v1v2(report_v2(c), c, **kw), t - EPS, t)
    _pop(sent, host_v1v2(report_v2(c), c, **kw), q6, q6 + 1)
    for g in (a, b, c):
        _pop(sent, host_v1v2(report_v2(g), g, **kw), q15, q15 + 10)
    assert sent == [], [t for t, _f in sent]


V3_HOST = "192.2.0.1"
V3_MAC = "02:00:00:00:00:0b"
V3_SCENARIO = f"""
[[interface]]
name = "em0"
addr = "{V3_HOST}/24"
ether = "{V3_MAC}"

[[socket]]
type = "dgram"
port = 5000
join = ["239.1.1.1", {{ group = "232.1.1.1", sources = ["10.0.0.1"] }}]
"""


def _ticks(code: int) -> int:
    """igmp_input_v3_query: Max Resp Code -> fast ticks (exponent form
    without the implicit bit)."""
    if code >= 128:
        code = (code & 0x0F) << (((code >> 4) & 7) + 3)
    return max(1, code * 5 // 10)


def _tick(t: float) -> int:
    """The number of fast ticks from boot (1 s before record 1) to ``t``."""
    return int((t + 1.0) / 0.2 + 1e-6)


def test_tcpdump_igmpv3_queries(tmp_path):
    """igmpv3-queries.pcap: six v3 general queries (Max Resp codes 0x64,
    0xfe, 0xfe, 0x0a, 0x0a, 0x0a). igmp_input_v3_query reschedules the
    interface timer only when none runs or it would fire later than the
    new Max Resp; each expiry sends one current-state report, IS_IN
    232.1.1.1 {10.0.0.1} and IS_EX 239.1.1.1 (igmp_v3_dispatch_general_query).
    Code 0xfe is 14 << 10 = 14336 tenths (1433.6 s): the drain runs 1500 s.
    The two state-change copies of the joins go regardless."""
    recs, sent = _run(tmp_path, "tcpdump/tests/igmpv3-queries.pcap", V3_SCENARIO, drain=1500)
    kw = {"src": V3_HOST, "src_mac": V3_MAC}
    change = host_v3_report(
        [record(TO_IN, "232.1.1.1", ["10.0.0.1"]), record(TO_EX, "239.1.1.1")], **kw
    )
    first = _pop(sent, change, -1.0, -0.8)
    _pop(sent, change, first, first + 3.0)
    current = host_v3_report(
        [record(IS_IN, "232.1.1.1", ["10.0.0.1"]), record(IS_EX, "239.1.1.1")], **kw
    )
    answers = sorted(t for t, f in sent if _same(f, current))
    codes = [0x64, 0xFE, 0xFE, 0x0A, 0x0A, 0x0A]
    queries = [(recs[i][1], _ticks(codes[i])) for i in range(6)]
    # Walk the queries and answers in time order with the kernel's rule.
    pending: tuple[float, float] | None = None  # (scheduled at, latest fire time)
    events = sorted([(t, "q", n) for t, n in queries] + [(t, "a", 0) for t in answers])
    for t, kind, n in events:
        if kind == "a":
            assert pending is not None and pending[0] < t <= pending[1] + EPS, (t, pending)
            pending = None
            continue
        if pending is None:
            pending = (t, t + n * 0.2)
            continue
        # Fast ticks fall every 200 ms from boot, 1 s before record 1.
        nxt = min(x for x in answers if x > t)
        remaining = _tick(nxt) - _tick(t)  # ticks left on the running timer
        if remaining >= n:
            pending = (t, t + n * 0.2)
    assert pending is None
    assert len(answers) >= 3
    assert [f for _t, f in sent if not _same(f, current)] == []


V1_HOST = "192.168.1.50"
V1_MAC = "02:00:00:00:00:0c"
V1_SCENARIO = f"""
[[interface]]
name = "em0"
addr = "{V1_HOST}/24"
ether = "{V1_MAC}"

[[socket]]
type = "raw"
proto = 253
join = ["239.1.1.1", "239.1.1.9"]
"""


def test_zeek_igmp_v1(tmp_path):
    """multicast-igmp-version-membership-query-and-report.pcap: v1 queries
    a minute apart (igmp_input_v1_query: v1 mode, each group reporting
    within 10 s unless its timer runs) and another host reporting 239.1.1.1
    after each (igmp_input_v1_report: REPORTING -> LAZY, no report from us
    once it was heard). 239.1.1.9 is ours alone: one v1 report per query."""
    recs, sent = _run(
        tmp_path,
        "zeek/testing/btest/Traces/igmp/multicast-igmp-version-membership-query-and-report.pcap",
        V1_SCENARIO,
        drain=15,
    )
    kw = {"src": V1_HOST, "src_mac": V1_MAC}
    setup = host_v3_report([record(TO_EX, "239.1.1.9"), record(TO_EX, "239.1.1.1")], **kw)
    for t in _count(sent, setup, -10, 0):
        _pop(sent, setup, t - EPS, t)
    queries = [t for i, t, _o in recs if i % 2 == 1]
    others = [t for i, t, _o in recs if i % 2 == 0]
    assert len(queries) == 8 and len(others) == 8
    mine = host_v1v2(report_v1("239.1.1.9"), "239.1.1.9", **kw)
    shared = host_v1v2(report_v1("239.1.1.1"), "239.1.1.1", **kw)
    for q, o in zip(queries, others, strict=True):
        _pop(sent, mine, q, q + 10)
        early = _count(sent, shared, q, o)
        assert len(early) <= 1
        for t in early:
            _pop(sent, shared, t - EPS, t)
    assert sent == [], [t for t, _f in sent]
