"""Replay: the hand-written golden for pcaps/replay/mixed.pcap, link types,
time, the default host, conservation."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from kstack.outcome import Outcome
from kstack.pcapio import write_pcap
from kstack.replay import (
    OWN_FRAME,
    PEER_MAC,
    PacketResult,
    Replay,
    ReplayError,
    choose_host,
    replay,
)

ROOT = Path(__file__).resolve().parents[1]
MIXED = ROOT / "pcaps" / "replay" / "mixed.pcap"
MIXED_TOML = ROOT / "pcaps" / "replay" / "mixed.toml"
ECHO = ROOT / "pcaps" / "replay" / "echo.pcapng"
GOLDEN = json.loads((ROOT / "pcaps" / "replay" / "mixed.expected.json").read_text())

# Cases where kstack disagrees with the hand-derived FreeBSD behaviour:
# index -> reason (strict xfail). None at the time of writing.
KNOWN_BUGS: dict[int, str] = {}


@pytest.fixture(scope="module")
def mixed_results() -> dict[int, PacketResult]:
    out: dict[int, PacketResult] = {}
    s = replay(
        MIXED, scenario=MIXED_TOML, on_event=lambda r: out.__setitem__(r.index, r), counters=True
    )
    assert s.frames_read == len(GOLDEN["packets"])
    return out


def _params() -> list[object]:
    ps = []
    for p in GOLDEN["packets"]:
        marks = []
        if p["index"] in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[p["index"]]))
        ps.append(pytest.param(p, id=f"{p['index']:02d}-{p['what'][:40]}", marks=marks))
    return ps


@pytest.mark.parametrize("exp", _params())
def test_mixed_golden(exp: dict, mixed_results: dict[int, PacketResult]) -> None:
    r = mixed_results[exp["index"]]
    assert r.outcome is not None
    assert (r.outcome.kind, r.outcome.reason) == (exp["kind"], exp["reason"])
    assert r.counters == exp["counters"]
    assert len(r.sent) == exp["sent"]


def test_mixed_summary_conserves() -> None:
    s = replay(MIXED, scenario=MIXED_TOML)
    assert s.frames_read == 40
    assert s.outcomes + s.skipped == s.frames_read
    totals: dict[str, dict[str, int]] = {}
    for p in GOLDEN["packets"]:
        for block, d in p["counters"].items():
            for k, v in d.items():
                totals.setdefault(block, {})
                totals[block][k] = totals[block].get(k, 0) + v
    assert s.counters == totals
    assert s.frames_sent == sum(p["sent"] for p in GOLDEN["packets"])


def test_virtual_time_matches_capture() -> None:
    seen: list[tuple[int, int]] = []
    s = replay(MIXED, scenario=MIXED_TOML, on_event=lambda r: seen.append((r.ts_ns, 0)))
    assert s.kernel.clock.wall_ns == seen[-1][0]


def test_default_host_from_raw_capture() -> None:
    notes: list[str] = []
    s = replay(ECHO, on_note=notes.append)
    assert notes[0].startswith("host: 10.0.0.1/24")
    assert any("default route via 10.0.0.254" in n for n in notes)
    assert s.kinds["answered"] == 4 and s.skipped == 1
    assert s.frames_sent == 4


def test_default_host_ethernet_uses_capture_macs() -> None:
    c = choose_host(MIXED)
    assert (c.addr, c.plen, c.ether) == ("192.0.2.1", 24, "00:00:5e:00:53:01")
    assert ("192.0.2.7", "00:00:5e:00:53:07") in c.arp
    assert c.gateway == "192.0.2.254" and c.gateway_ether == "00:00:5e:00:53:fe"
    s = replay(MIXED)
    assert s.kinds["answered"] == 29


def test_host_override() -> None:
    c = choose_host(ECHO, "10.0.0.9/16")
    assert (c.addr, c.plen) == ("10.0.0.9", 16)
    with pytest.raises(ValueError):
        choose_host(ECHO, "10.0.0.300/16")


def _echo_ip(seq: int) -> bytes:
    return bytes(
        IP(src="10.0.0.5", dst="10.0.0.1", id=seq) / ICMP(type=8, seq=seq) / Raw(b"z" * 16)
    )


LINK_WRAPS = {
    9: [b"\xff\x03\x00\x21", b"\x00\x21", b"\x21"],
    113: [b"\x00\x00\x00\x01\x00\x06" + b"\x02" * 6 + b"\0\0" + b"\x08\x00"],
    101: [b""],
    228: [b""],
    12: [b""],
    14: [b""],
}


LOOP_WRAPS = {
    0: [struct.pack("<I", 2), struct.pack(">I", 2)],
    108: [struct.pack(">I", 2)],
}


@pytest.mark.parametrize("lt", sorted(LINK_WRAPS))
def test_link_types(tmp_path: Path, lt: int) -> None:
    heads = LINK_WRAPS[lt]
    frames = [(1_000_000_000 * (i + 1), h + _echo_ip(i)) for i, h in enumerate(heads)]
    p = tmp_path / "x.pcap"
    write_pcap(p, frames, lt)
    got: list[PacketResult] = []
    s = replay(p, on_event=got.append)
    assert [r.outcome.kind if r.outcome else r.skipped for r in got] == ["answered"] * len(heads)
    assert got[0].frame[6:12] == bytes.fromhex(PEER_MAC.replace(":", ""))
    assert s.frames_sent == len(heads)


@pytest.mark.parametrize("lt", sorted(LOOP_WRAPS))
def test_loopback_link_types_go_to_lo0(tmp_path: Path, lt: int) -> None:
    """Loopback captures are fed to lo0, every record (the host sent and
    received each of them); the echo reply kstack sends on lo0 comes back
    through the netisr queue (if_simloop) and reaches icmp_input."""
    heads = LOOP_WRAPS[lt]
    frames = [(1_000_000_000 * (i + 1), h + _echo_ip(i)) for i, h in enumerate(heads)]
    p = tmp_path / "x.pcap"
    write_pcap(p, frames, lt)
    got: list[PacketResult] = []
    notes: list[str] = []
    s = replay(p, on_event=got.append, on_note=notes.append)
    assert notes[0].startswith("loopback capture: records go to lo0")
    assert [r.iface for r in got] == ["lo0"] * len(heads)
    assert [r.outcome.kind if r.outcome else r.skipped for r in got] == ["answered"] * len(heads)
    assert got[0].frame == _echo_ip(0)
    assert [f.iface for r in got for f in r.sent] == ["lo0"] * len(heads)
    reply = got[0].sent[0].data
    assert (reply[12:16], reply[16:20], reply[20]) == (
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 5]),
        0,
    )
    assert s.own == 0 and s.frames_sent == len(heads)
    # The looped reply is processed before the next record (or at the end).
    looped = [e for r in got for e in r.events] + s.tail_events
    assert [str(e.outcome) for e in looped][:1] == [
        "dropped: ips_noproto (ICMP echo reply; no raw socket listening)"
    ]


def test_non_ipv4_records_skipped(tmp_path: Path) -> None:
    p = tmp_path / "null.pcap"
    write_pcap(
        p,
        [
            (10**9, struct.pack("<I", 24) + b"\x60" + b"\0" * 39),
            (2 * 10**9, struct.pack("<I", 2) + _echo_ip(1)),
        ],
        0,
    )
    s = replay(p)
    assert s.skipped == 1
    assert s.skip_reasons == {"not IPv4 (link type NULL, address family 24 IPv6)": 1}
    assert s.outcomes == 1
    p2 = tmp_path / "ppp.pcap"
    write_pcap(p2, [(10**9, b"\xff\x03\xc0\x21\x01\x01\x00\x04")], 9)
    s2 = replay(p2)
    assert s2.skip_reasons == {"not IPv4 (link type PPP, protocol 0xc021 LCP)": 1}


def test_unknown_link_type(tmp_path: Path) -> None:
    p = tmp_path / "x.pcap"
    write_pcap(p, [(10**9, b"\0" * 40)], 147)
    with pytest.raises(ReplayError, match="unsupported link type 147"):
        replay(p)


def test_backwards_timestamps_and_timers(tmp_path: Path) -> None:
    # A lone first fragment, then a packet 40 s later: the reassembly queue
    # times out (30 s) in between, reported as a timer before the later packet.
    frag = bytes(
        Ether(src="02:00:00:00:00:07", dst="ff:ff:ff:ff:ff:ff")
        / IP(src="10.0.0.5", dst="10.0.0.1", id=9, flags="MF", proto=1)
        / Raw(b"a" * 16)
    )
    ping = bytes(Ether(src="02:00:00:00:00:07", dst="ff:ff:ff:ff:ff:ff", type=0x0800)) + _echo_ip(3)
    frames = [(100 * 10**9, frag), (90 * 10**9, ping), (140 * 10**9, ping)]
    p = tmp_path / "t.pcap"
    write_pcap(p, frames, 1)
    got: list[PacketResult] = []
    s = replay(p, host="10.0.0.1/24", on_event=got.append, counters=True)
    assert s.frames_read == 3
    assert got[2].counters is not None and "ip" in got[2].counters
    assert "ips_fragtimeout" not in got[2].counters["ip"]
    (timer,) = got[2].timers
    assert timer.counters == {"ip": {"ips_fragtimeout": 1}}
    (ev,) = timer.events
    assert ev.what == "ip_slowtimo: reassembly of 10.0.0.5 > 10.0.0.1 id 9 proto 1 timed out"
    assert str(ev.outcome) == "dropped: ips_fragtimeout (1 fragment(s) freed)"
    # Fed at 100 s; 60 slow ticks of 500 ms on the boot-aligned grid.
    assert timer.ts_ns == 130 * 10**9
    assert s.kernel.clock.wall_ns == 140 * 10**9


def test_memory_is_streaming(tmp_path: Path) -> None:
    import tracemalloc

    ping = bytes(Ether(src="02:00:00:00:00:07", dst="02:00:00:00:00:01")) + _echo_ip(3)
    p = tmp_path / "big.pcap"
    write_pcap(p, ((10**9 + i * 1000, ping) for i in range(3000)), 1)
    tracemalloc.start()
    s = replay(p, host="10.0.0.1/24")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert s.frames_read == 3000
    assert peak < 8 * 1024 * 1024


def test_fixtures_regenerate_byte_identically(tmp_path: Path) -> None:
    from fixtures.make_pcaps import generate

    for p in generate(tmp_path):
        rel = p.relative_to(tmp_path)
        assert p.read_bytes() == (ROOT / "pcaps" / rel).read_bytes(), rel


def test_own_frames_are_skipped_unless_fed_on_purpose(tmp_path: Path) -> None:
    """Frames the host itself sent (its MAC as source, not as destination)
    are the capture's output: skipped, or fed with feed_own=True."""
    host_mac, peer_mac = "02:00:00:00:00:01", "02:00:00:00:00:02"
    req = Ether(src=peer_mac, dst=host_mac, type=0x0800) / IP(src="192.0.2.2", dst="192.0.2.1")
    rep = Ether(src=host_mac, dst=peer_mac, type=0x0800) / IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [bytes(req / ICMP(type=8)), bytes(rep / ICMP(type=0))]
    p = tmp_path / "own.pcap"
    write_pcap(p, [(10**18 + i * 10**6, f) for i, f in enumerate(frames)], 1)
    got: list[PacketResult] = []
    s = replay(p, on_event=got.append)
    assert [(r.own, r.skipped) for r in got] == [(False, None), (True, OWN_FRAME)]
    assert (s.own, s.skipped) == (1, 1)
    got.clear()
    s = replay(p, on_event=got.append, feed_own=True)
    assert [r.own for r in got] == [False, False] and s.skipped == 0
    # Fed back, the host's reply is a frame for the peer's MAC.
    assert got[1].outcome == Outcome(
        "dropped", "ether_input: frame not addressed to this interface"
    )


def test_replay_object_steps(tmp_path: Path) -> None:
    """Replay as an iterator: results, then end(), drain(), finish()."""
    frag = bytes(
        Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01", type=0x0800)
        / IP(src="192.0.2.2", dst="192.0.2.1", id=3, flags="MF", proto=1)
        / Raw(b"a" * 16)
    )
    p = tmp_path / "f.pcap"
    write_pcap(p, [(10**18, frag)], 1)
    with Replay(p, counters=True) as r:
        (res,) = list(r)
        assert (res.outcome.kind, res.outcome.reason) == ("held", "ips_fragments")
        assert r.end() == []
        assert r.kernel.vnet0.pending_work() != []
        (t,) = r.drain(31)
        assert t.counters == {"ip": {"ips_fragtimeout": 1}}
        s = r.finish()
    assert s.pending == [] and s.drained == [t] and s.frames_read == 1
