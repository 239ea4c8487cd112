"""Statistics blocks (kstack.netinet.stats) and netstat -s text (kstack.netstat).

The expected member lists below were copied by hand from the FreeBSD 9.x
headers, in declaration order:

* ``struct ipstat``   -- sys/netinet/ip_var.h,   release/9.1.0 r223666
* ``struct icmpstat`` -- sys/netinet/icmp_var.h, release/9.1.0 r237913
* ``struct udpstat``  -- sys/netinet/udp_var.h,  release/9.1.0 r234780
* ``struct igmpstat`` -- sys/netinet/igmp_var.h, release/9.1.0 r190965

(the 9.1.0 tree vendored in pkelsey/libuinet under sys/). The releng/9.3
copies (dcui/FreeBSD-9.3_kernel) declare the same four structures member for
member. ``__igps_pad[4]`` at the end of struct igmpstat is reserved padding
and is deliberately not modelled.

The expected netstat text follows usr.bin/netstat/inet.c (releng/9.3 r252555;
its ip/icmp/udp/igmp print routines read the same as the 2009 CVS r1.93).
"""

from __future__ import annotations

import pytest

from kstack.netinet.stats import (
    ICMP_MAXTYPE,
    ICMP_NHIST,
    IcmpStat,
    IgmpStat,
    IpStat,
    UdpStat,
    delta,
)
from kstack.netstat import ICMP_NAMES, PROTOCOLS, format_netstat_s

IPSTAT_9X = [
    "ips_total",
    "ips_badsum",
    "ips_tooshort",
    "ips_toosmall",
    "ips_badhlen",
    "ips_badlen",
    "ips_fragments",
    "ips_fragdropped",
    "ips_fragtimeout",
    "ips_forward",
    "ips_fastforward",
    "ips_cantforward",
    "ips_redirectsent",
    "ips_noproto",
    "ips_delivered",
    "ips_localout",
    "ips_odropped",
    "ips_reassembled",
    "ips_fragmented",
    "ips_ofragments",
    "ips_cantfrag",
    "ips_badoptions",
    "ips_noroute",
    "ips_badvers",
    "ips_rawout",
    "ips_toolong",
    "ips_notmember",
    "ips_nogif",
    "ips_badaddr",
]

ICMPSTAT_9X = [
    "icps_error",
    "icps_oldshort",
    "icps_oldicmp",
    "icps_outhist",
    "icps_badcode",
    "icps_tooshort",
    "icps_checksum",
    "icps_badlen",
    "icps_reflect",
    "icps_inhist",
    "icps_bmcastecho",
    "icps_bmcasttstamp",
    "icps_badaddr",
    "icps_noroute",
]

UDPSTAT_9X = [
    "udps_ipackets",
    "udps_hdrops",
    "udps_badsum",
    "udps_nosum",
    "udps_badlen",
    "udps_noport",
    "udps_noportbcast",
    "udps_fullsock",
    "udpps_pcbcachemiss",
    "udpps_pcbhashmiss",
    "udps_opackets",
    "udps_fastout",
    "udps_noportmcast",
    "udps_filtermcast",
]

IGMPSTAT_9X = [
    "igps_version",
    "igps_len",
    "igps_rcv_total",
    "igps_rcv_tooshort",
    "igps_rcv_badttl",
    "igps_rcv_badsum",
    "igps_rcv_v1v2_queries",
    "igps_rcv_v3_queries",
    "igps_rcv_badqueries",
    "igps_rcv_gen_queries",
    "igps_rcv_group_queries",
    "igps_rcv_gsr_queries",
    "igps_drop_gsr_queries",
    "igps_rcv_reports",
    "igps_rcv_badreports",
    "igps_rcv_ourreports",
    "igps_rcv_nora",
    "igps_snd_reports",
]

ALL = [
    (IpStat, IPSTAT_9X),
    (IcmpStat, ICMPSTAT_9X),
    (UdpStat, UDPSTAT_9X),
    (IgmpStat, IGMPSTAT_9X),
]


# --- structure layout -------------------------------------------------------


@pytest.mark.parametrize(("cls", "expected"), ALL)
def test_fields_match_9x_header(cls: type[IpStat], expected: list[str]) -> None:
    assert list(cls.fields()) == expected


@pytest.mark.parametrize(("cls", "expected"), ALL)
def test_snapshot_keys_and_order(cls: type[IpStat], expected: list[str]) -> None:
    snap = cls().snapshot()
    assert list(snap) == list(cls.snapshot_keys())
    scalar = [k for k in snap if "[" not in k]
    assert scalar == [f for f in expected if not f.endswith("hist")]


def test_blocks_are_slotted() -> None:
    ip = IpStat()
    assert not hasattr(ip, "__dict__")
    with pytest.raises(AttributeError):
        ip.ips_totl = 1  # type: ignore[attr-defined]


def test_counters_start_at_zero() -> None:
    for cls, _ in ALL:
        if cls is IgmpStat:
            continue
        assert set(cls().snapshot().values()) == {0}


def test_igmp_header_words() -> None:
    snap = IgmpStat().snapshot()
    assert snap["igps_version"] == 3
    assert snap["igps_len"] == 168
    assert all(v == 0 for k, v in snap.items() if k not in ("igps_version", "igps_len"))


def test_icmp_histograms_flattened() -> None:
    assert ICMP_MAXTYPE == 40 and ICMP_NHIST == 41
    st = IcmpStat()
    assert len(st.icps_outhist) == 41 and len(st.icps_inhist) == 41
    st.icps_inhist[8] += 2
    st.icps_outhist[0] += 1
    st.icps_outhist[40] += 5
    st.icps_reflect += 1
    snap = st.snapshot()
    out = [f"icps_outhist[{i}]" for i in range(41)]
    inh = [f"icps_inhist[{i}]" for i in range(41)]
    assert list(snap) == (
        ["icps_error", "icps_oldshort", "icps_oldicmp"]
        + out
        + ["icps_badcode", "icps_tooshort", "icps_checksum", "icps_badlen", "icps_reflect"]
        + inh
        + ["icps_bmcastecho", "icps_bmcasttstamp", "icps_badaddr", "icps_noroute"]
    )
    assert len(snap) == 12 + 2 * 41
    assert snap["icps_inhist[8]"] == 2
    assert snap["icps_outhist[0]"] == 1
    assert snap["icps_outhist[40]"] == 5
    assert snap["icps_reflect"] == 1
    assert sum(snap.values()) == 9


def test_histograms_not_shared_between_instances() -> None:
    a, b = IcmpStat(), IcmpStat()
    a.icps_inhist[3] += 1
    assert b.icps_inhist[3] == 0


def test_snapshot_is_a_copy() -> None:
    st = IcmpStat()
    snap = st.snapshot()
    st.icps_inhist[0] += 1
    st.icps_error += 1
    assert snap["icps_inhist[0]"] == 0 and snap["icps_error"] == 0


# --- delta ------------------------------------------------------------------


def test_delta_reports_only_changes() -> None:
    st = IcmpStat()
    before = st.snapshot()
    st.icps_error += 2
    st.icps_outhist[3] += 2
    st.icps_inhist[8] += 1
    after = st.snapshot()
    assert delta(before, after) == {
        "icps_error": 2,
        "icps_outhist[3]": 2,
        "icps_inhist[8]": 1,
    }
    assert list(delta(before, after)) == ["icps_error", "icps_outhist[3]", "icps_inhist[8]"]
    assert delta(after, after) == {}


def test_delta_igmp_header_never_moves() -> None:
    st = IgmpStat()
    before = st.snapshot()
    st.igps_rcv_total += 1
    assert delta(before, st.snapshot()) == {"igps_rcv_total": 1}


def test_delta_is_after_minus_before_and_treats_missing_as_zero() -> None:
    assert delta({"a": 5, "b": 1}, {"a": 3, "b": 1}) == {"a": -2}
    assert delta({}, {"a": 0, "b": 4}) == {"b": 4}
    assert delta({"a": 2, "z": 7}, {"a": 2}) == {"z": -7}


# --- netstat -s text ----------------------------------------------------------


def _sample() -> dict[str, dict[str, int]]:
    ip = IpStat(
        ips_total=5,
        ips_badsum=1,
        ips_tooshort=1,
        ips_delivered=4,
        ips_forward=2,
        ips_fastforward=1,
        ips_localout=3,
    )
    icmp = IcmpStat(icps_error=2, icps_reflect=3, icps_badaddr=1)
    icmp.icps_outhist[0] = 3
    icmp.icps_outhist[3] = 2
    icmp.icps_inhist[8] = 3
    icmp.icps_inhist[0] = 1
    udp = UdpStat(udps_ipackets=10, udps_noport=2, udps_noportbcast=1, udps_opackets=7)
    igmp = IgmpStat(
        igps_rcv_total=3,
        igps_rcv_v3_queries=1,
        igps_rcv_gen_queries=1,
        igps_rcv_reports=2,
        igps_rcv_ourreports=2,
        igps_snd_reports=1,
    )
    return {
        "ip": ip.snapshot(),
        "icmp": icmp.snapshot(),
        "udp": udp.snapshot(),
        "igmp": igmp.snapshot(),
    }


IP_TEXT = (
    "ip:\n"
    "\t5 total packets received\n"
    "\t1 bad header checksum\n"
    "\t1 with data size < data length\n"
    "\t4 packets for this host\n"
    "\t2 packets forwarded (1 packet fast forwarded)\n"
    "\t3 packets sent from this host\n"
)

ICMP_TEXT = (
    "icmp:\n"
    "\t2 calls to icmp_error\n"
    "\tOutput histogram:\n"
    "\t\techo reply: 3\n"
    "\t\tdestination unreachable: 2\n"
    "\tInput histogram:\n"
    "\t\techo reply: 1\n"
    "\t\techo: 3\n"
    "\t3 message responses generated\n"
    "\t1 invalid return address\n"
    "\tICMP address mask responses are disabled\n"
)

UDP_TEXT = (
    "udp:\n"
    "\t10 datagrams received\n"
    "\t2 dropped due to no socket\n"
    "\t1 broadcast/multicast datagram undelivered\n"
    "\t7 delivered\n"
    "\t7 datagrams output\n"
)

IGMP_TEXT = (
    "igmp:\n"
    "\t3 messages received\n"
    "\t1 V3 membership query received\n"
    "\t1 general query received\n"
    "\t2 membership reports received\n"
    "\t2 membership reports received for groups to which we belong\n"
    "\t1 membership report sent\n"
)


def test_netstat_ip() -> None:
    assert format_netstat_s(_sample(), ["ip"]) == IP_TEXT


def test_netstat_icmp() -> None:
    assert format_netstat_s(_sample(), ["icmp"]) == ICMP_TEXT


def test_netstat_icmp_maskrepl() -> None:
    text = format_netstat_s(_sample(), ["icmp"], icmp_maskrepl=1)
    assert text == ICMP_TEXT.replace("are disabled", "are enabled")


def test_netstat_udp() -> None:
    assert format_netstat_s(_sample(), ["udp"]) == UDP_TEXT


def test_netstat_igmp() -> None:
    assert format_netstat_s(_sample(), ["igmp"]) == IGMP_TEXT


def test_netstat_igmp_of_the_v1v2_host() -> None:
    """The v1/v2-only host (switch igmpv3 off, seed 000:344) has the nine
    counters of the old struct igmpstat, printed as the old netstat's
    igmp_stats() did (usr.bin/netstat/inet.c before IGMPv3)."""
    import kstack

    k = kstack.Kernel(profile="9.0,igmpv3=0")
    vals = k.netstat("igmp")
    vals.update(igps_rcv_total=3, igps_rcv_queries=1, igps_rcv_reports=2, igps_snd_reports=1)
    assert format_netstat_s({"igmp": vals}) == (
        "igmp:\n"
        "\t3 messages received\n"
        "\t1 membership query received\n"
        "\t2 membership reports received\n"
        "\t1 membership report sent\n"
    )


def test_netstat_default_order_is_netstats() -> None:
    assert PROTOCOLS == ("udp", "ip", "icmp", "igmp")
    assert format_netstat_s(_sample()) == UDP_TEXT + IP_TEXT + ICMP_TEXT + IGMP_TEXT


def test_netstat_order_as_requested() -> None:
    assert format_netstat_s(_sample(), ["igmp", "ip"]) == IGMP_TEXT + IP_TEXT
    assert format_netstat_s(_sample(), "udp") == UDP_TEXT
    assert format_netstat_s(_sample(), []) == ""


def test_netstat_default_skips_absent_blocks() -> None:
    stats = _sample()
    del stats["udp"], stats["igmp"]
    assert format_netstat_s(stats) == IP_TEXT + ICMP_TEXT


def test_netstat_hand_made_sparse_dict() -> None:
    text = format_netstat_s({"ip": {"ips_total": 1, "ips_odropped": 2}})
    assert text == (
        "ip:\n\t1 total packet received\n\t2 output packets dropped due to no bufs, etc.\n"
    )


def test_netstat_zeros_udp_full_block() -> None:
    assert format_netstat_s(_sample(), ["udp"], zeros=True) == (
        "udp:\n"
        "\t10 datagrams received\n"
        "\t0 with incomplete header\n"
        "\t0 with bad data length field\n"
        "\t0 with bad checksum\n"
        "\t0 with no checksum\n"
        "\t2 dropped due to no socket\n"
        "\t1 broadcast/multicast datagram undelivered\n"
        "\t0 dropped due to full socket buffers\n"
        "\t0 not for hashed pcb\n"
        "\t7 delivered\n"
        "\t7 datagrams output\n"
        "\t0 times multicast source filter matched\n"
    )


def test_netstat_zeros_every_line() -> None:
    empty = {
        "ip": IpStat().snapshot(),
        "icmp": IcmpStat().snapshot(),
        "udp": UdpStat().snapshot(),
        "igmp": IgmpStat().snapshot(),
    }
    # Without zeros only the headers and the sysctl-derived ICMP line remain.
    assert format_netstat_s(empty) == (
        "udp:\nip:\nicmp:\n\tICMP address mask responses are disabled\nigmp:\n"
    )
    lines = format_netstat_s(empty, zeros=True).splitlines()
    # udp 12, ip 28 (forward and fast-forward share a line), icmp 11 plus
    # the mask line (histograms stay empty), igmp 16; plus four headers.
    assert len(lines) == 4 + 12 + 28 + 12 + 16
    assert "\t0 packets forwarded (0 packets fast forwarded)" in lines
    assert "\t0 total packets received" in lines
    assert "\t0 invalid return addresses" in lines
    assert "\t0 V1/V2 membership queries received" in lines
    assert "\t0 delivered" in lines
    assert not any("histogram" in line for line in lines)


def test_netstat_igmp_zeros_block() -> None:
    text = format_netstat_s({"igmp": IgmpStat(igps_rcv_gsr_queries=1).snapshot()}, zeros=True)
    assert text == (
        "igmp:\n"
        "\t0 messages received\n"
        "\t0 messages received with too few bytes\n"
        "\t0 messages received with wrong TTL\n"
        "\t0 messages received with bad checksum\n"
        "\t0 V1/V2 membership queries received\n"
        "\t0 V3 membership queries received\n"
        "\t0 membership queries received with invalid field(s)\n"
        "\t0 general queries received\n"
        "\t0 group queries received\n"
        "\t1 group-source query received\n"
        "\t0 group-source queries dropped\n"
        "\t0 membership reports received\n"
        "\t0 membership reports received with invalid field(s)\n"
        "\t0 membership reports received for groups to which we belong\n"
        "\t0 V3 reports received without Router Alert\n"
        "\t0 membership reports sent\n"
    )


def test_netstat_fastforward_without_forward_runs_on() -> None:
    # netstat ends the forwarding line only when ips_forward is printed.
    text = format_netstat_s({"ip": {"ips_fastforward": 1, "ips_localout": 2}})
    assert text == "ip:\n (1 packet fast forwarded)\t2 packets sent from this host\n"


def test_netstat_udp_delivered_wraps_like_u_long() -> None:
    text = format_netstat_s({"udp": {"udps_ipackets": 1, "udps_noport": 2}})
    assert text == (
        f"udp:\n\t1 datagram received\n\t2 dropped due to no socket\n\t{2**64 - 1} delivered\n"
    )


def test_icmp_names_table() -> None:
    assert len(ICMP_NAMES) == 41
    assert ICMP_NAMES[0] == "echo reply"
    assert ICMP_NAMES[3] == "destination unreachable"
    assert ICMP_NAMES[8] == "echo"
    assert ICMP_NAMES[11] == "time exceeded"
    assert ICMP_NAMES[40] == "icmp photuris"
    st = IcmpStat()
    for t in range(41):
        st.icps_inhist[t] = 1
    text = format_netstat_s({"icmp": st.snapshot()}, ["icmp"])
    hist = [line for line in text.splitlines() if line.startswith("\t\t")]
    assert hist == [f"\t\t{name}: 1" for name in ICMP_NAMES]


def test_unknown_protocol_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown or uninstrumented protocol") as exc:
        format_netstat_s(_sample(), ["ip", "tcp"])
    assert "\n" not in str(exc.value)
    assert "'tcp'" in str(exc.value)


def test_missing_protocol_is_value_error() -> None:
    with pytest.raises(ValueError, match="no statistics"):
        format_netstat_s({"ip": {}}, ["udp"])


def test_stray_counter_is_value_error() -> None:
    with pytest.raises(ValueError, match="ips_totl"):
        format_netstat_s({"ip": {"ips_totl": 1}})
