"""Reports the host sends on its own: joins, leaves and source changes
(netinet/igmp.c igmp_change_state, igmp_initial_join,
igmp_handle_state_change, igmp_final_leave, igmp_v3_enqueue_group_record,
igmp_v3_enqueue_filter_change, igmp_v1v2_queue_report, igmp_intr,
igmp_v3_encap_report), FreeBSD 9.0. The bytes are built here from the
protocol; only ip_id (and the header checksum over it) is the kernel's."""

from __future__ import annotations

import pytest

import kstack
from conformance.igmp.helpers import (
    ALLOW,
    ALLRTRS,
    BLOCK,
    DONT_CARE,
    EM0,
    FAST,
    TO_EX,
    TO_IN,
    host_v1v2,
    host_v3_report,
    igmp_frames,
    join,
    leave_v2,
    record,
    report_v1,
    report_v2,
    run,
)
from kstack import sock
from kstack import testing as T

IP = sock.IPPROTO_IP
G = "239.1.1.1"
G2 = "239.2.2.2"
S1 = "10.0.0.1"


def _kernel(version: int, **sysctls: int) -> kstack.Kernel:
    """The standard topology with net.inet.igmp.default_version set before
    the interfaces attach (it applies only to interfaces attached later)."""
    k = kstack.Kernel(tunables={"net.inet.igmp.default_version": version}, seed=0)
    for name, value in sysctls.items():
        k.sysctl(f"net.inet.igmp.{name}", value)
    return T.host(k=k)


def _two_copies(frames, start=0.0):
    """The robustness-variable (2) copies of a state-change report made at
    ``start``: the first at the next fast tick, the second 1..URI*5 ticks
    later."""
    assert len(frames) == 2, frames
    (t1, f1), (t2, f2) = frames
    assert start < t1 <= start + FAST + 1e-9
    assert FAST - 1e-9 <= t2 - t1 <= 15 * FAST + 1e-9
    return f1, f2


def test_v3_asm_join_two_to_ex(k, match_frame, delta):
    """igmp_initial_join (v3): TO_EX {} queued, sent at the next fast tick
    and once more (robustness 2) after random(1..15) ticks; IP TOS 0xc0,
    DF, TTL 1, RA, to 224.0.0.22 (G6.2). igps_snd_reports counts both."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with delta(k) as d:
        join(s, G)
        frames = igmp_frames(run(k, 5))
    f1, f2 = _two_copies(frames)
    want = host_v3_report([record(TO_EX, G)])
    match_frame(f1, want, DONT_CARE)
    match_frame(f2, want, DONT_CARE)
    assert d["igmp"] == {"igps_snd_reports": 2}
    assert d["ip"] == {"ips_localout": 2}


def test_v3_ssm_join_to_in_with_source(k, match_frame):
    """igmp_v3_enqueue_group_record: the first source join is a mode change
    to include: TO_IN {S1}."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    f1, f2 = _two_copies(igmp_frames(run(k, 5)))
    want = host_v3_report([record(TO_IN, G, [S1])])
    match_frame(f1, want, DONT_CARE)
    match_frame(f2, want, DONT_CARE)


def test_v3_leave_to_in_empty(k, match_frame):
    """igmp_final_leave (v3): TO_IN {} twice; the group record lives until
    the last copy is sent."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    run(k, 5)
    s.setsockopt(IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G))
    assert [g["state"] for g in k.vnet0.ifmcstat("em0") if g["group"] == G] == ["leaving"]
    f1, f2 = _two_copies(igmp_frames(run(k, 5)), 5.0)
    want = host_v3_report([record(TO_IN, G)])
    match_frame(f1, want, DONT_CARE)
    match_frame(f2, want, DONT_CARE)
    assert not [g for g in k.vnet0.ifmcstat("em0") if g["group"] == G]


def test_v3_block_and_unblock(k, match_frame):
    """igmp_v3_enqueue_filter_change: a blocked source on an exclude-mode
    group is BLOCK_OLD {S1}; unblocking it is ALLOW_NEW {S1}."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    run(k, 5)
    s.setsockopt(IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))
    for f in _two_copies(igmp_frames(run(k, 5)), 5.0):
        match_frame(f, host_v3_report([record(BLOCK, G, [S1])]), DONT_CARE)
    s.setsockopt(IP, sock.IP_UNBLOCK_SOURCE, sock.ip_mreq_source(G, S1))
    for f in _two_copies(igmp_frames(run(k, 5)), 10.0):
        match_frame(f, host_v3_report([record(ALLOW, G, [S1])]), DONT_CARE)


def test_v3_include_add_source_allow_new(k, match_frame):
    """igmp_v3_enqueue_filter_change: a second source join on an include
    group is ALLOW_NEW with the new source only."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))
    run(k, 5)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, "10.0.0.2"))
    for f in _two_copies(igmp_frames(run(k, 5)), 5.0):
        match_frame(f, host_v3_report([record(ALLOW, G, ["10.0.0.2"])]), DONT_CARE)


def test_v3_second_asm_listener_sends_nothing(k):
    """igmp_v3_enqueue_group_record: the group stays exclude {} with any-
    source listeners at t0 and t1: nothing to report."""
    a = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(a, G)
    run(k, 5)
    b = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(b, G)
    assert igmp_frames(run(k, 5)) == []


def test_v3_changes_in_one_tick_merge(k, match_frame):
    """igmp_v3_merge_state_changes: the state changes of two groups due in
    the same fast tick leave in one packet, the groups in if_multiaddrs
    order (newest first)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    join(s, G2)
    frames = igmp_frames(run(k, FAST))
    assert len(frames) == 1
    match_frame(frames[0][1], host_v3_report([record(TO_EX, G2), record(TO_EX, G)]), DONT_CARE)


def test_v3_sendra_off(match_frame):
    """igmp_intr: without net.inet.igmp.sendra no Router Alert option."""
    k = _kernel(3, sendra=0)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    f1, _f2 = _two_copies(igmp_frames(run(k, 5)))
    match_frame(f1, host_v3_report([record(TO_EX, G)], ra=False), DONT_CARE)


def test_v2_join_one_report_at_once(match_frame, delta):
    """igmp_initial_join (v2): one report sent at once, TOS 0, no DF, TTL
    1, RA, to the group; the follow-up timer runs out in IDLE and sends
    nothing more (a single unsolicited report)."""
    k = _kernel(2)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with delta(k) as d:
        join(s, G)
        now = igmp_frames([(k.now, f) for f in k.transmitted("em0")])
    assert len(now) == 1
    match_frame(now[0][1], host_v1v2(report_v2(G), G), DONT_CARE)
    assert d["igmp"] == {"igps_snd_reports": 1}
    assert igmp_frames(run(k, 30)) == []


def test_v2_leave_to_all_routers(match_frame):
    """igmp_final_leave (v2): a leave (0x17) to 224.0.0.2 with the group in
    the group field, sent at once (G6.3)."""
    k = _kernel(2)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    k.transmitted("em0")
    s.setsockopt(IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G))
    frames = k.transmitted("em0")
    assert len(frames) == 1
    match_frame(frames[0], host_v1v2(leave_v2(G), ALLRTRS), DONT_CARE)


def test_v1_join_report_and_silent_leave(match_frame):
    """igmp_initial_join (v1): a type 0x12 report; igmp_final_leave sends
    nothing in v1 mode."""
    k = _kernel(1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    frames = k.transmitted("em0")
    assert len(frames) == 1
    match_frame(frames[0], host_v1v2(report_v1(G), G), DONT_CARE)
    s.setsockopt(IP, sock.IP_DROP_MEMBERSHIP, sock.ip_mreq(G))
    assert k.transmitted("em0") == []
    assert igmp_frames(run(k, 5)) == []


@pytest.mark.parametrize("sendlocal,reported", [(1, True), (0, False)])
def test_link_local_group_and_sendlocal(sendlocal, reported):
    """igmp_isgroupreported: 224.0.0.0/24 groups are reported only while
    net.inet.igmp.sendlocal is 1; otherwise they are SILENT members."""
    k = _kernel(2, sendlocal=sendlocal)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, "224.0.0.251")
    assert len(k.transmitted("em0")) == (1 if reported else 0)


def test_all_hosts_never_reported(k):
    """igmp_isgroupreported: 224.0.0.1 (joined on every multicast interface
    with its first address) is never reported, even when a socket joins it."""
    assert {g["group"]: g["state"] for g in k.vnet0.ifmcstat("em0")}["224.0.0.1"] == "silent"
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, "224.0.0.1")
    assert igmp_frames(run(k, 5)) == []


def test_loopback_groups_silent(k):
    """igmp_initial_join: groups on a loopback interface are SILENT."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G, "127.0.0.1")
    assert [g["state"] for g in k.vnet0.ifmcstat("lo0") if g["group"] == G] == ["silent"]
    assert run(k, 5, "lo0") == []


def test_report_source_is_first_address(match_frame):
    """ip_output picks the interface's first address for the INADDR_ANY
    source IGMP leaves in its reports."""
    k = _kernel(2)
    k.ifconfig("em0", "192.0.2.50/32", alias=True)
    k.transmitted("em0")  # the alias's gratuitous ARP
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(IP, sock.MCAST_JOIN_GROUP, sock.group_req(EM0, G))
    match_frame(k.transmitted("em0")[0], host_v1v2(report_v2(G), G), DONT_CARE)
