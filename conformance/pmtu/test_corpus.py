"""Corpus captures carrying ICMP needfrag and time-exceeded messages,
replayed into the default host (the host they are addressed to).

A received error goes through icmp_input (type and code valid, length at
least ICMP_ADVLENMIN, the quoted header sane) to the quoted protocol's
ctlinput and then to raw sockets (rip_input); with none open rip_input
counts ips_noproto and takes back ips_delivered. The host answers nothing:
icmp_error never answers an ICMP error. Skipped without the shared corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.replay import PacketResult, replay

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "pcaps"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no corpus at {CORPUS}")


def _results(rel: str) -> dict[int, PacketResult]:
    got: dict[int, PacketResult] = {}
    replay(CORPUS / rel, on_event=lambda r: got.__setitem__(r.index, r), counters=True)  # type: ignore[arg-type]
    return got


def _icmp(r: PacketResult) -> tuple[int, int]:
    """Type and code of the ICMP message in an Ethernet record."""
    hl = (r.frame[14] & 0x0F) * 4
    return r.frame[14 + hl], r.frame[14 + hl + 1]


def _received_error(r: PacketResult, icmp_type: int) -> None:
    assert r.outcome is not None and (r.outcome.kind, r.outcome.reason) == (
        "dropped",
        "ips_noproto",
    )
    assert r.sent == []
    assert r.counters == {
        "ip": {"ips_total": 1, "ips_noproto": 1},
        "icmp": {f"icps_inhist[{icmp_type}]": 1},
    }


@pytest.mark.parametrize(
    ("rel", "records", "mtu"),
    [
        ("zeek/testing/btest/Traces/smtp.pcap", (26, 28, 29, 30), 1492),
        ("suricata-verify/tests/bug-3616-smtp/input.pcap", (26, 28, 29, 30), 1492),
        ("suricata-verify/tests/filestore-5408/input.pcap", (9, 20, 58, 69, 78, 117), 1500),
    ],
)
def test_needfrag_received(rel, records, mtu):
    """icmp_input, ICMP_UNREACH code 4 quoting a TCP segment: tcp_ctlinput
    (TCP is not emulated), then rip_input with no raw socket: ips_noproto,
    nothing sent. The next-hop MTU in the capture is as the manifest says."""
    got = _results(rel)
    for i in records:
        assert _icmp(got[i]) == (3, 4), i
        hl = (got[i].frame[14] & 0x0F) * 4
        assert int.from_bytes(got[i].frame[14 + hl + 6 : 14 + hl + 8], "big") == mtu
        _received_error(got[i], 3)


def test_time_exceeded_received():
    """icmp_input, ICMP_TIMXCEED code 0: reported to the quoted protocol,
    then raw delivery with no reader (ips_noproto)."""
    got = _results("zeek/testing/btest/Traces/icmp/icmp-timeexceeded.pcap")
    assert _icmp(got[1]) == (11, 0)
    _received_error(got[1], 11)
