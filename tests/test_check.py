"""kstack.frames (field diffs), kstack.check (pairing), kstack.compare and
kstack.decode, as units."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from kstack.check import Checker, pair_key
from kstack.compare import Comparison, compare_frames
from kstack.decode import decode
from kstack.frames import CHECK_DONT_CARE, diff_frames, expand_fields, frame_fields
from kstack.outcome import Outcome
from kstack.replay import PacketResult, SentFrame

H, HM, P, PM = "192.0.2.1", "02:00:00:00:00:01", "192.0.2.2", "02:00:00:00:00:02"


def _reply(seq: int = 1, ident: int = 1000, ttl: int = 64, data: bytes = b"x" * 16) -> bytes:
    return bytes(
        Ether(src=HM, dst=PM)
        / IP(src=H, dst=P, id=ident, ttl=ttl)
        / ICMP(type=0, id=7, seq=seq)
        / Raw(data)
    )


# -- diff_frames ----------------------------------------------------------------------


def test_ip_id_is_dont_care_and_its_checksum_follows() -> None:
    assert diff_frames(_reply(ident=1), _reply(ident=2), CHECK_DONT_CARE) == []
    names = [d.name for d in diff_frames(_reply(ident=1), _reply(ident=2))]
    assert names == ["ip.id", "ip.sum"]


def test_a_wrong_checksum_still_shows() -> None:
    """The checksum is compared by validity when a don't-care field it covers
    differs: a broken checksum on one side is still a difference."""
    good = bytearray(_reply(ident=2))
    bad = bytearray(good)
    bad[24] ^= 0xFF  # ip.sum
    assert [d.name for d in diff_frames(bytes(bad), _reply(ident=1), CHECK_DONT_CARE)] == ["ip.sum"]


def test_real_differences_are_named() -> None:
    diffs = diff_frames(_reply(ttl=63), _reply(ttl=64), CHECK_DONT_CARE)
    assert [str(d) for d in diffs] == [
        "ip.ttl [22:23]: got 3f, expected 40",
        "ip.sum [24:26]: got f3e5, expected f2e5",
    ]
    # With a differing (don't-care) ID as well, the checksum is judged by validity.
    diffs = diff_frames(_reply(ttl=63, ident=5), _reply(ttl=64), CHECK_DONT_CARE)
    assert [str(d) for d in diffs] == ["ip.ttl [22:23]: got 3f, expected 40"]
    diffs = diff_frames(_reply(seq=2), _reply(seq=1), CHECK_DONT_CARE)
    assert [d.name for d in diffs] == ["icmp.sum", "icmp.seq"]


def test_length_difference() -> None:
    diffs = diff_frames(_reply(data=b"x" * 17), _reply(), CHECK_DONT_CARE)
    assert str(diffs[0]) == "length: got 59 bytes, expected 58"


def test_timestamp_reply_times_are_dont_care() -> None:
    def ts(rx: int) -> bytes:
        return bytes(
            Ether(src=HM, dst=PM)
            / IP(src=H, dst=P, id=1)
            / ICMP(type=14, id=1, seq=1, ts_ori=5, ts_rx=rx, ts_tx=rx)
        )

    assert diff_frames(ts(100), ts(200), CHECK_DONT_CARE) == []
    assert [d.name for d in diff_frames(ts(100), ts(200))] == [
        "icmp.sum",
        "icmp.rtime",
        "icmp.ttime",
    ]


def test_udp_checksum_covers_the_pseudo_header() -> None:
    def u(src: str) -> bytes:
        return bytes(Ether(src=HM, dst=PM) / IP(src=src, dst=P, id=1) / UDP(sport=1, dport=2))

    assert [d.name for d in diff_frames(u("192.0.2.9"), u(H), {"ip.src"})] == []
    assert [d.name for d in diff_frames(u("192.0.2.9"), u(H))] == ["ip.sum", "ip.src", "udp.sum"]


def test_expand_fields() -> None:
    assert expand_fields(["icmp.*"]) >= {"icmp.type", "icmp.rtime"}
    assert expand_fields(["ip.id", "arp"]) == {"ip.id", "arp"}
    with pytest.raises(ValueError, match="unknown field 'ip.nonesuch'"):
        expand_fields(["ip.nonesuch"])
    with pytest.raises(ValueError, match="no field matches"):
        expand_fields(["zz.*"])


def test_arp_fields() -> None:
    f = bytes(Ether(src=HM, dst=PM) / ARP(op=2, hwsrc=HM, psrc=H, hwdst=PM, pdst=P))
    spans = frame_fields(f)
    assert spans["arp.op"] == (20, 22) and spans["arp.tpa"] == (38, 42)


# -- pairing ----------------------------------------------------------------------------


def test_pair_key_names_the_conversation() -> None:
    k1, loose1 = pair_key(_reply(seq=1))
    k2, loose2 = pair_key(_reply(seq=2))
    assert k1 != k2 and loose1 == loose2


def test_checker_pairs_by_key_then_loosely() -> None:
    c = Checker()
    assert c.actual(1, 10, _reply(seq=1, ident=5)) == []
    assert c.actual(3, 30, _reply(seq=2, ident=6)) == []
    (item,) = c.expected(4, 40, _reply(seq=2, ident=99))  # pairs with the seq 2 frame
    assert (item.status, item.actual.index) == ("match", 3)
    (item,) = c.expected(2, 20, _reply(seq=9, ttl=1))  # only the seq 1 frame is left
    assert item.status == "differ"
    assert [d.name for d in item.diffs] == ["ip.ttl", "icmp.sum", "icmp.seq"]
    assert c.finish() == []
    assert c.counts == {"match": 1, "differ": 1, "missing": 0, "extra": 0}


def test_checker_waits_for_a_late_frame_then_reports_missing_and_extra() -> None:
    c = Checker()
    assert c.expected(2, 20, _reply(seq=1)) == []  # kstack has not sent it yet
    (item,) = c.actual(0, 25, _reply(seq=1, ident=3), "timer")
    assert item.status == "match" and item.actual.why == "timer"
    assert c.expected(5, 50, _reply(seq=5)) == []
    arp = bytes(Ether(src=HM, dst=PM) / ARP(op=1, hwsrc=HM, psrc=H, pdst="192.0.2.9"))
    assert c.actual(6, 60, arp) == []
    left = c.finish()
    assert [(i.status, (i.expected or i.actual).ts_ns) for i in left] == [
        ("missing", 50),
        ("extra", 60),
    ]
    assert c.failed


def test_checker_ignores_ethernet_padding() -> None:
    c = Checker()
    arp = bytes(Ether(src=HM, dst=PM) / ARP(op=2, hwsrc=HM, psrc=H, hwdst=PM, pdst=P))
    c.actual(1, 1, arp)
    (item,) = c.expected(2, 2, arp + b"\0" * 18)
    assert item.status == "match"


def test_checker_without_a_link_layer() -> None:
    """Raw-IP captures: kstack's frames lose their Ethernet header and its
    ARP frames are not compared."""
    c = Checker(link=False)
    arp = bytes(Ether(src=HM, dst=PM) / ARP(op=1, hwsrc=HM, psrc=H, pdst=P))
    assert c.actual(1, 1, arp) == []
    c.actual(1, 1, _reply(ident=1))
    (item,) = c.expected(2, 2, _reply(ident=2)[14:])
    assert item.status == "match"
    assert c.finish() == []


# -- compare -------------------------------------------------------------------------


def _res(index: int, outcome: Outcome, sent: list[bytes]) -> PacketResult:
    r = PacketResult(index, index, 1, b"", outcome)
    r.sent = [SentFrame("em0", f, "why", index) for f in sent]
    return r


def test_comparison_counts_outcome_changes_and_frames() -> None:
    c = Comparison("A9", "B9")
    same = Outcome("answered", "icps_reflect")
    assert c.packet(_res(1, same, [_reply(ident=1)]), _res(1, same, [_reply(ident=9)])) is None
    d = c.packet(_res(2, same, [_reply()]), _res(2, Outcome("dropped", "ips_badsum"), []))
    assert d is not None and d.outcome_differs
    assert [(p.a is not None, p.b is None) for p in d.frames] == [(True, True)]
    d = c.packet(_res(3, same, [_reply(ttl=1)]), _res(3, same, [_reply()]))
    assert d is not None and not d.outcome_differs and d.frames[0].diffs[0].name == "ip.ttl"
    assert c.as_dict() == {
        "a": "A9",
        "b": "B9",
        "records": 3,
        "differ": 2,
        "frame_differences": 2,
        "outcome_changes": {"answered: icps_reflect -> dropped: ips_badsum": 1},
    }


def test_compare_frames_on_different_interfaces() -> None:
    a = [SentFrame("em0", _reply(), "x", 1)]
    b = [SentFrame("em1", _reply(), "x", 1)]
    (p,) = compare_frames(a, b)
    assert p.diffs == [] and p.a is not None and p.b is not None


# -- decode ------------------------------------------------------------------------------


@settings(max_examples=400, derandomize=True, database=None, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([1, 101, 228, 9, 0, 147]))
def test_decode_is_total(data: bytes, linktype: int) -> None:
    assert isinstance(decode(data, linktype), str)


@pytest.mark.parametrize(
    "frame, text",
    [
        (b"", "runt Ethernet frame (0 bytes)"),
        (bytes(14)[:12] + b"\x08\x00", "empty IP packet"),
        (bytes(12) + b"\x08\x00\x45", "IP truncated (1 bytes)"),
        (bytes(12) + b"\x08\x06" + bytes(10), "ARP truncated (10 bytes)"),
        (bytes(12) + b"\x81\x00", "802.1Q VLAN ?, 14 bytes"),
        (bytes(12) + b"\x00\x40", "802.3 frame, length 64"),
    ],
)
def test_decode_short_frames(frame: bytes, text: str) -> None:
    assert decode(frame) == text
