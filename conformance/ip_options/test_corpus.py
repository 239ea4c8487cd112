"""The corpus captures that carry IP options, replayed with the default
host: the outcome of each packet with options, derived from ip_dooptions'
rules (the expectation is stated per packet). Skipped without the shared
corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.replay import PacketResult, replay

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pcaps"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def _results(rel: str, **kw: object) -> dict[int, PacketResult]:
    got: dict[int, PacketResult] = {}
    replay(CORPUS / rel, on_event=lambda r: got.__setitem__(r.index, r), **kw)  # type: ignore[arg-type]
    return got


def _outcome(r: PacketResult) -> tuple[str, str]:
    assert r.outcome is not None, r.skipped
    return r.outcome.kind, r.outcome.reason


def test_pcapplusplus_ipv4_options():
    """ping -T (TS, 40 bytes, pointer 9): the time goes into the next slot
    and the reply copies the option (icmp_reflect); SSRR and LSRR to us with
    a hop left, on a host that does not forward: dropped silently
    (ips_cantforward). Records 3-5 are the host's own replies."""
    got = _results("PcapPlusPlus/Tests/Packet++Test/PacketExamples/ipv4-options.pcap")
    assert _outcome(got[2]) == ("answered", "icps_reflect")
    reply = got[2].sent[0].data
    opts = reply[34 : 34 + 40]
    assert opts[:4] == b"\x44\x28\x0d\x00" and opts[4:8] == bytes.fromhex("04eb39b9")
    assert [got[i].own for i in (3, 4, 5)] == [True, True, True]
    assert _outcome(got[6]) == ("dropped", "ips_cantforward")
    assert _outcome(got[7]) == ("dropped", "ips_cantforward")


def test_suricata_detect_ipopts():
    """Crafted TCP segments, one option each: a full Record Route (length
    3), EOL, NOP, a full Timestamp (length 8, pointer 9: its overflow counter
    moves), Security and Stream ID pass (tcp_input); LSRR and SSRR to us with
    hops left are dropped silently on a host (ips_cantforward)."""
    got = _results("suricata-verify/tests/detect-ipopts/input.pcap")
    delivered = ("delivered", "ips_delivered")
    assert [_outcome(got[i]) for i in range(1, 9)] == [
        delivered,
        ("dropped", "ips_cantforward"),
        delivered,
        delivered,
        delivered,
        delivered,
        ("dropped", "ips_cantforward"),
        delivered,
    ]


def test_malformed_option_after_security():
    """A Security option of length 2 passes; the next option claims 53 bytes
    with 10 left: parameter problem pointing at its length byte (23)."""
    got = _results("suricata-verify/tests/bug-7414-decoder-event-01/ip_secopt.pcap")
    assert _outcome(got[3]) == ("dropped", "ips_badoptions")
    (err,) = got[3].sent
    assert (err.data[34], err.data[35], err.data[38]) == (12, 0, 23)


@pytest.mark.parametrize(
    "rel, index, outcome",
    [
        ("tcpdump/tests/ip_ts_opts_asan.pcap", 1, ("dropped", "ips_badsum")),
        ("tcpdump/tests/ip_printroute_asan.pcap", 1, ("dropped", "ips_badhlen")),
        ("suricata-verify/tests/ipopts-esec/test.pcap", 1, ("delivered", "ips_delivered")),
        ("tcpdump/tests/rsvp-inf-loop-2.pcapng", 1, ("dropped", "rsvp_input")),
    ],
)
def test_fuzzed_and_passed_options(rel, index, outcome):
    """ip_input checks the header checksum and length before any option is
    read (the fuzzer-made captures); Extended Security and Router Alert are
    passed over."""
    assert _outcome(_results(rel)[index]) == outcome


@pytest.mark.parametrize(
    "rel",
    [
        "tcpdump/tests/IGMP_V1.pcap",
        "tcpdump/tests/IGMP_V2.pcap",
        "tcpdump/tests/igmpv3-queries.pcap",
        "zeek/testing/btest/Traces/igmp/igmp.pcap",
        "suricata-verify/tests/igmp/igmp-v1-v2-rgmp-01/wireshark-wiki-IGMP-dataset.pcap",
    ],
)
def test_router_alert_is_passed_over(rel):
    """ip_dooptions does not process Router Alert: every IGMP packet ends
    as it does with options ignored (process_options=0)."""
    one = _results(rel)
    zero = _results(rel, sysctls=[("net.inet.ip.process_options", 0)])
    assert [str(r.outcome) for r in one.values()] == [str(r.outcome) for r in zero.values()]
    assert not any(r.outcome and r.outcome.reason == "ips_badoptions" for r in one.values())
