"""IGMP input validation, counters and sysctls: igmp.c igmp_input,
igmp_input_v1_query/v2_query/v3_query, igmp_input_v1_report/v2_report,
sysctl_igmp_default_version, sysctl_igmp_gsr, igi_alloc_locked; raw_ip.c
rip_input for what reaches a raw IGMP socket (FreeBSD 9.1)."""

import errno
import struct

import pytest

import kstack
from conformance.igmp.source.common import (
    ALLHOSTS,
    EM0_IP,
    G1,
    G2,
    IGMP_DVMRP,
    IGMP_QUERY,
    IGMP_V1_REPORT,
    IGMP_V2_REPORT,
    PEER,
    PEER_MAC,
    ROUTER,
    S1,
    TO_EX,
    Delta,
    at,
    check_errnos,
    check_v1v2_frame,
    check_v3_report_frame,
    igmp_frame,
    igmp_msg,
    igmp_sent,
    igmpv3_query,
    igmpv3_report,
    inet,
    inject,
    join,
    mk,
    query_frame,
    recv_all,
    udp_sock,
    with_cksum,
)
from kstack import sock


def raw_igmp(k):
    return k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)


def feed(k, frame):
    r = raw_igmp(k)
    d = Delta(k)
    inject(k, frame)
    return d("igmp"), len(recv_all(r)), r


# ------------------------------------------------------------ validation
def test_bad_ttl(k):
    """igmp_input: ip_ttl != 1 (and not DVMRP) -> igps_rcv_badttl, freed."""
    dl, n, _ = feed(k, query_frame(igmpv3_query(100), ttl=2))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_badttl": 1}
    assert n == 0


def test_dvmrp_exempt_from_ttl_check(k):
    """igmp_input: IGMP_DVMRP (0x13) may have any TTL; unknown to the host
    switch, it is passed to rip_input."""
    dl, n, _ = feed(k, igmp_frame(igmp_msg(IGMP_DVMRP, 0, "0.0.0.0"), "224.0.0.4", ttl=64))
    assert dl == {"igps_rcv_total": 1}
    assert n == 1


def test_too_short(k):
    """igmp_input: igmplen < IGMP_MINLEN (8) -> igps_rcv_tooshort; a query
    of 9..11 bytes is neither v1/v2 (== 8) nor v3 (>= 12) -> also
    igps_rcv_tooshort (after the checksum passed). Neither is delivered."""
    dl, n, _ = feed(k, igmp_frame(with_cksum(b"\x11\x64\x00\x00", 2), ALLHOSTS))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_tooshort": 1}
    assert n == 0
    dl, n, _ = feed(k, query_frame(igmp_msg(IGMP_QUERY, 100, "0.0.0.0", b"\0\0")))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_tooshort": 1}
    assert n == 0


def test_bad_checksum(k):
    """igmp_input: in_cksum over igmplen != 0 -> igps_rcv_badsum."""
    msg = bytearray(igmpv3_query(100))
    msg[2] ^= 0xFF
    dl, n, _ = feed(k, query_frame(bytes(msg)))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_badsum": 1}
    assert n == 0


def test_v3_query_source_list_truncated(k):
    """igmp_input: a v3 query announcing 2 sources but carrying 1 fails the
    m_pullup to 12 + 4*nsrc -> igps_rcv_v3_queries and igps_rcv_tooshort."""
    msg = with_cksum(
        struct.pack("!BBH4sBBH", IGMP_QUERY, 100, 0, inet("0.0.0.0"), 2, 125, 2) + inet(S1), 2
    )
    dl, n, _ = feed(k, query_frame(msg))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_v3_queries": 1, "igps_rcv_tooshort": 1}
    assert n == 0


def test_v1_bad_query_still_delivered(k):
    """igmp_input_v1_query: not to 224.0.0.1, or a non-zero group ->
    igps_rcv_badqueries, but it returns 0 so rip_input still gets it."""
    for dst, group in ((G1, "0.0.0.0"), (ALLHOSTS, G1)):
        dl, n, _ = feed(k, query_frame(igmp_msg(IGMP_QUERY, 0, group), dst=dst))
        assert dl == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1, "igps_rcv_badqueries": 1}, (
            dst
        )
        assert n == 1


def test_v2_general_query_not_to_all_hosts_ignored(k):
    """igmp_input_v2_query: a general query not sent to 224.0.0.1 is
    silently ignored (no gen_queries, no badqueries, no version change)."""
    dl, n, _ = feed(k, query_frame(igmp_msg(IGMP_QUERY, 100, "0.0.0.0"), dst=G1))
    assert dl == {"igps_rcv_total": 1, "igps_rcv_v1v2_queries": 1}
    assert n == 1
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    assert igmp_sent(k) == []  # still IGMPv3: nothing sent at once


def test_v3_bad_general_query(k):
    """igmp_input_v3_query: gen_queries is counted first, then a general
    query not to 224.0.0.1 or with sources -> igps_rcv_badqueries; it is
    still passed to rip_input."""
    for dst, sources in ((G1, ()), (ALLHOSTS, (S1,))):
        dl, n, _ = feed(k, query_frame(igmpv3_query(100, "0.0.0.0", sources), dst=dst))
        assert dl == {
            "igps_rcv_total": 1,
            "igps_rcv_v3_queries": 1,
            "igps_rcv_gen_queries": 1,
            "igps_rcv_badqueries": 1,
        }, dst
        assert n == 1


# ------------------------------------------------------------ reports
def test_v2_bad_report(k):
    """igmp_input: v2 report without Router Alert -> igps_rcv_nora;
    igmp_input_v2_report: group != ip_dst or not multicast ->
    igps_rcv_badreports, EINVAL: the report is freed, not passed to
    rip_input."""
    for ra, group, dst in ((True, G1, G2), (False, G1, G2), (True, "10.0.0.1", G1)):
        f = igmp_frame(igmp_msg(IGMP_V2_REPORT, 0, group), dst, src=PEER, src_mac=PEER_MAC, ra=ra)
        dl, n, _ = feed(k, f)
        exp = {"igps_rcv_total": 1, "igps_rcv_reports": 1, "igps_rcv_badreports": 1}
        if not ra:
            exp["igps_rcv_nora"] = 1
        assert dl == exp, (ra, group)
        assert n == 0


def test_v2_own_report_ignored(k):
    """igmp_input_v2_report: ip_src equal to the interface's first address
    -> return 0 before igps_rcv_reports (nora was already counted)."""
    f = igmp_frame(igmp_msg(IGMP_V2_REPORT, 0, G1), G1, src=EM0_IP, src_mac=PEER_MAC, ra=False)
    dl, n, _ = feed(k, f)
    assert dl == {"igps_rcv_total": 1, "igps_rcv_nora": 1}
    assert n == 1


def test_v1_report_counters(k):
    """igmp_input_v1_report: igps_rcv_reports, igps_rcv_ourreports for a
    joined group; no Router Alert check for v1."""
    s = udp_sock(k)
    join(s, G1)
    f = igmp_frame(igmp_msg(IGMP_V1_REPORT, 0, G1), G1, src=PEER, src_mac=PEER_MAC, ra=False)
    dl, n, _ = feed(k, f)
    assert dl == {"igps_rcv_total": 1, "igps_rcv_reports": 1, "igps_rcv_ourreports": 1}
    assert n == 1


def test_v1_report_ignored_when_v1_disabled(k):
    """igmp_input: v1enable 0 -> the v1 report is not processed (no
    counters) but is passed to rip_input."""
    k.sysctl("net.inet.igmp.v1enable", 0)
    f = igmp_frame(igmp_msg(IGMP_V1_REPORT, 0, G1), G2, src=PEER, src_mac=PEER_MAC)
    dl, n, _ = feed(k, f)
    assert dl == {"igps_rcv_total": 1}
    assert n == 1


def test_v3_report_only_nora(k):
    """igmp_input: IGMPv3 reports are not processed by hosts; only the
    Router Alert check counts (igps_rcv_reports does not move); they are
    passed to rip_input."""
    for ra in (True, False):
        f = igmp_frame(
            igmpv3_report([(TO_EX, G1, [])]), "224.0.0.22", src=PEER, src_mac=PEER_MAC, ra=ra
        )
        dl, n, _ = feed(k, f)
        assert dl == ({"igps_rcv_total": 1} if ra else {"igps_rcv_total": 1, "igps_rcv_nora": 1})
        assert n == 1


def test_recvifkludge():
    """igmp_input_v2_report: with recvifkludge (default 1) a report from
    0.0.0.0 gets ip_src = the subnet address (ia_subnet) before rip_input,
    so the raw socket sees 192.0.2.0 as the source; with 0 it sees 0.0.0.0."""
    for kludge, seen in ((1, "192.0.2.0"), (0, "0.0.0.0")):
        k = mk()
        assert k.sysctl("net.inet.igmp.recvifkludge", kludge) == 1
        r = raw_igmp(k)
        inject(k, igmp_frame(igmp_msg(IGMP_V2_REPORT, 0, G1), G1, src="0.0.0.0", src_mac=PEER_MAC))
        (got,) = recv_all(r)
        assert got[1][0] == seen


# ------------------------------------------------------------ sysctls
def test_default_version_and_gsrdelay_ranges(k):
    """sysctl_igmp_default_version accepts IGMP_VERSION_1..3;
    sysctl_igmp_gsr accepts -1..59; a rejected write leaves the value."""
    dv, gd = "net.inet.igmp.default_version", "net.inet.igmp.gsrdelay"
    check_errnos(
        [
            ("dv 0", lambda: k.sysctl(dv, 0), errno.EINVAL),
            ("dv 4", lambda: k.sysctl(dv, 4), errno.EINVAL),
            ("dv -1", lambda: k.sysctl(dv, -1), errno.EINVAL),
            ("gd 60", lambda: k.sysctl(gd, 60), errno.EINVAL),
            ("gd -2", lambda: k.sysctl(gd, -2), errno.EINVAL),
        ]
    )
    assert (k.sysctl(dv), k.sysctl(gd)) == (3, 10)
    assert k.sysctl(dv, 1) == 3
    assert k.sysctl(gd, 59) == 10
    assert k.sysctl(gd, -1) == 59
    assert (k.sysctl(dv), k.sysctl(gd)) == (1, -1)


@pytest.mark.parametrize(
    "version,when,expect",
    [
        (2, "before", IGMP_V2_REPORT),
        (1, "before", IGMP_V1_REPORT),
        (2, "after", None),
    ],
)
def test_default_version_read_at_attach(version, when, expect):
    """igi_alloc_locked: igi_version = V_igmp_default_version when IGMP
    attaches to the interface; changing the sysctl later does not touch
    existing interfaces."""
    k = kstack.Kernel(profile="9.0", seed=0)
    if when == "before":
        k.sysctl("net.inet.igmp.default_version", version)
    k.ifconfig("em0", EM0_IP + "/24")
    k.route_add("default", ROUTER)
    if when == "after":
        k.sysctl("net.inet.igmp.default_version", version)
    k.transmitted("em0")
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    if expect is None:
        assert igmp_sent(k) == []
        at(k, 1.21)
        (p,) = igmp_sent(k)
        check_v3_report_frame(p, k, [(TO_EX, G1, [])])
    else:
        (p,) = igmp_sent(k)
        check_v1v2_frame(p, k, expect, G1, G1)


def test_sendra_off():
    """igmp_intr: ipopts = V_igmp_sendra ? m_raopt : NULL: with sendra 0
    both v3 and v2 reports go out with a 20-byte header."""
    k = mk()
    assert k.sysctl("net.inet.igmp.sendra", 0) == 1
    s = udp_sock(k)
    at(k, 1.05)
    join(s, G1)
    at(k, 1.21)
    (p,) = igmp_sent(k)
    check_v3_report_frame(p, k, [(TO_EX, G1, [])], ra=False)
    k = mk()
    k.sysctl("net.inet.igmp.sendra", 0)
    at(k, 1.05)
    inject(k, query_frame(igmp_msg(IGMP_QUERY, 100, "0.0.0.0")))
    s = udp_sock(k)
    at(k, 2.05)
    join(s, G1)
    (p,) = igmp_sent(k)
    check_v1v2_frame(p, k, IGMP_V2_REPORT, G1, G1, ra=False)
