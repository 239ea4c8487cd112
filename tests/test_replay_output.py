"""The replay report, text and JSON Lines, against the hand-written golden of
pcaps/replay/mixed.pcap; the pieces that make the report cheap (decoding
with remembered addresses, counter marks guided by a hint) against the
plain functions they stand in for."""

from __future__ import annotations

import json
import operator
import random
import re
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

from kstack import Kernel
from kstack.cli import main
from kstack.decode import Decoder, decode
from kstack.net.if_var import format_mac
from kstack.netinet.stats import UdpStat, is_journalled
from kstack.outcome import Outcome
from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_RAW, open_capture, write_pcap
from kstack.replay import CounterJournal, CounterMarks, Replay, counter_delta

ROOT = Path(__file__).resolve().parents[1]
MIXED = str(ROOT / "pcaps" / "replay" / "mixed.pcap")
TOML = str(ROOT / "pcaps" / "replay" / "mixed.toml")
CHECK = str(ROOT / "pcaps" / "check" / "freebsd-host.pcap")
GOLDEN = json.loads((ROOT / "pcaps" / "replay" / "mixed.expected.json").read_text())
CAPTURES = sorted(str(p) for p in (ROOT / "pcaps").glob("*/*.pcap*"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["replay", *argv, "--no-progress"]) in (0, 1)
    return capsys.readouterr().out


def _counters_from_text(line: str) -> dict[str, int]:
    """``    counters: ips_total+1 icps_inhist[8]+1`` -> {name: delta}."""
    assert line.startswith("    counters: "), line
    out = {}
    for part in line[len("    counters: ") :].split():
        m = re.fullmatch(r"(\w+(?:\[\d+\])?)([+-]\d+)", part)
        assert m is not None, part
        out[m[1]] = int(m[2])
    return out


def _flat(counters: dict[str, dict[str, int]]) -> dict[str, int]:
    return {k: v for block in counters.values() for k, v in block.items()}


def test_mixed_report_text_and_json_match_the_golden(capsys: pytest.CaptureFixture[str]) -> None:
    """Per packet of mixed.pcap, the text and the JSON report both give the
    outcome, the counter deltas and the number of frames sent of the
    hand-derived golden (ip_input, icmp_input/icmp_reflect, udp_input,
    in_arpinput, igmp_input of FreeBSD 9.0; see mixed.expected.json), and
    say the same thing: the same decoded packet and sent frames."""
    text = _run(capsys, MIXED, "--scenario", TOML)
    objs = [json.loads(x) for x in _run(capsys, MIXED, "--scenario", TOML, "--json").splitlines()]
    packets = {o["index"]: o for o in objs if o["type"] == "packet"}
    blocks: dict[int, list[str]] = {}
    for line in text.splitlines():
        m = re.match(r"#(\d+) ", line)
        if m:
            idx = int(m[1])
            blocks[idx] = [line]
        elif line.startswith("    ") and blocks:
            blocks[idx].append(line)
    assert sorted(packets) == sorted(blocks) == [p["index"] for p in GOLDEN["packets"]]
    for exp in GOLDEN["packets"]:
        i = exp["index"]
        o, lines = packets[i], blocks[i]
        # JSON
        assert (o["outcome"]["kind"], o["outcome"]["reason"]) == (exp["kind"], exp["reason"])
        assert o["counters"] == exp["counters"]
        assert len(o["sent"]) == exp["sent"]
        # text: the head line, one line per sent frame, the counters line
        out = Outcome(**o["outcome"])
        rel = f"{(o['ts_ns'] - packets[1]['ts_ns']) / 1e9:.6f}"
        assert lines[0] == f"#{i} {rel} {o['decode']}: {out}"
        sent = [x for x in lines[1:] if " < " in x and not x.startswith("    event:")]
        assert sent == [f"    {f['iface']} < {f['decode']} [{f['reason']}]" for f in o["sent"]]
        clines = [x for x in lines[1:] if x.startswith("    counters: ")]
        if exp["counters"]:
            assert len(clines) == 1
            assert _counters_from_text(clines[0]) == _flat(exp["counters"])
        else:
            assert clines == []
    (summary,) = [o for o in objs if o["type"] == "summary"]
    assert summary["frames_read"] == len(GOLDEN["packets"])
    assert summary["frames_sent"] == sum(p["sent"] for p in GOLDEN["packets"])


@pytest.mark.parametrize(
    "argv",
    [
        [MIXED, "--scenario", TOML],
        [MIXED],
        [CHECK, "--check"],
        [CHECK, "--compare", "9.3"],
    ],
    ids=["mixed-scenario", "mixed-default-host", "check", "compare"],
)
def test_json_lines_are_what_json_dumps_writes(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line of --json is byte for byte json.dumps of the object it
    holds (the report builds the fixed-shape packet lines from pieces)."""
    out = _run(capsys, *argv, "--json")
    lines = out.splitlines()
    assert lines and out.endswith("\n")
    for line in lines:
        assert json.dumps(json.loads(line)) == line


def test_json_packet_lines_with_events_skips_and_quotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipped records (null decode, or the host's own frame decoded), ICMP
    errors quoting a header, timer events: still json.dumps's bytes."""
    host, peer = "192.0.2.1", "192.0.2.7"
    hmac, pmac = "02:00:00:00:00:01", "02:00:00:00:00:07"
    e = Ether(src=pmac, dst=hmac)
    frames = [
        e / IP(src=peer, dst=host, id=1) / UDP(sport=5, dport=9) / b"q",
        e / IP(src=peer, dst=host, id=2, flags="MF") / UDP(sport=5, dport=9) / (b"f" * 16),
        Ether(src=hmac, dst=pmac) / IP(src=host, dst=peer, id=3) / ICMP(type=0),
        bytes(e)[:12] + b"\x86\xdd" + b"\x60" + bytes(39),
        e / IP(src=peer, dst=host, id=4) / ICMP(type=3, code=1) / IP(src=host, dst=peer) / b"x",
    ]
    cap = tmp_path / "m.pcap"
    write_pcap(cap, [(10**18 + i * 10**8, bytes(f)) for i, f in enumerate(frames)])
    out = _run(capsys, str(cap), "--json", "--drain", "40")
    objs = [json.loads(x) for x in out.splitlines()]
    assert [json.dumps(o) for o in objs] == out.splitlines()
    pk = [o for o in objs if o["type"] == "packet"]
    assert [o["own"] for o in pk] == [False, False, True, False, False]
    assert pk[2]["decode"] is not None and pk[2]["skipped"] is not None
    assert [o for o in objs if o["type"] == "event"]  # the reassembly timeout
    raw = tmp_path / "raw.pcap"
    ip = bytes(IP(src=peer, dst=host, id=5) / ICMP(type=8, id=1, seq=1))
    write_pcap(raw, [(10**18, b"\x60" + bytes(39)), (10**18 + 1, ip)], LINKTYPE_RAW)
    out = _run(capsys, str(raw), "--json")
    objs = [json.loads(x) for x in out.splitlines()]
    assert [json.dumps(o) for o in objs] == out.splitlines()
    pk = [o for o in objs if o["type"] == "packet"]
    assert pk[0]["decode"] is None and pk[0]["skipped"].startswith("not IPv4")
    assert pk[1]["decode"] == "192.0.2.7 > 192.0.2.1 ICMP echo request id 1 seq 1, length 28"


def _frames() -> list[tuple[bytes, int]]:
    out = []
    for path in CAPTURES:
        with open_capture(path) as cap:
            out += [(r.data, r.linktype) for r in cap]
    return out


def test_decoder_gives_decode_lines() -> None:
    """A Decoder (addresses remembered across frames) writes exactly the
    lines decode() writes, for every record of the repository's captures,
    cut short anywhere and with its header bytes changed."""
    rng = random.Random(7)
    d = Decoder()
    seen = 0
    for data, lt in _frames():
        for cut in {len(data), 14, 20, 33, 34, 41, 42, rng.randrange(len(data) + 1)}:
            b = bytearray(data[:cut])
            for _ in range(2):
                if len(b) > 14:
                    b[rng.randrange(14, min(len(b), 62))] = rng.randrange(256)
            for link in (lt, LINKTYPE_ETHERNET, LINKTYPE_RAW):
                assert d.decode(bytes(b), link) == decode(bytes(b), link)
                seen += 1
    assert seen > 500


def test_counter_marks_any_hint_gives_counter_delta() -> None:
    """CounterMarks.moved(hint) equals counter_delta of two netstat()
    snapshots (keys, order, values) whatever the hint: a hint that moved
    other counters before, one never given, or a block zeroed on the way."""
    k = Kernel(seed=0)
    v = k.vnet0
    marks = CounterMarks(v)
    blocks = [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat]
    names = [list(type(b).fields()) for b in blocks]
    rng = random.Random(11)
    before = v.netstat()
    plan: list[tuple[int, str, int]] = []
    for step in range(600):
        if not plan or rng.random() < 0.3:
            plan = []
            for _ in range(rng.choice([0, 1, 2, 3, 6])):
                bi = rng.randrange(4)
                plan.append((bi, rng.choice(names[bi]), rng.randrange(41)))
        for bi, name, slot in plan:
            x = getattr(blocks[bi], name)
            if isinstance(x, list):
                x[slot if rng.random() < 0.8 else rng.randrange(41)] += rng.choice([1, 1, 3])
            elif rng.random() < 0.03:
                setattr(blocks[bi], name, 0)
            else:
                setattr(blocks[bi], name, x + rng.choice([1, 1, 2]))
        got = marks.moved(rng.choice([None, "echo", ("udp", 9)]))
        after = v.netstat()
        want = counter_delta(before, after)
        before = after
        assert got == want, step
        assert [list(b) for b in got.values()] == [list(b) for b in want.values()], step
        assert list(got) == list(want), step


def _bump_at_random(
    blocks: list[Any], rng: random.Random, plan: list[tuple[int, str, int]]
) -> None:
    for bi, name, slot in plan:
        x = getattr(blocks[bi], name)
        if isinstance(x, list):
            x[slot if rng.random() < 0.8 else rng.randrange(-41, 41)] += rng.choice([1, 1, 3])
        elif rng.random() < 0.03:
            setattr(blocks[bi], name, 0)
        else:
            setattr(blocks[bi], name, x + rng.choice([1, 1, 2]))


@pytest.mark.parametrize("profile", ["9.0", "9.0,igmpv3=0"])
def test_counter_journal_gives_counter_delta(profile: str) -> None:
    """CounterJournal.moved() equals counter_delta of two netstat()
    snapshots (keys, order, values) for random writes to the stack's
    journalling blocks: plain counters and histogram slots (negative
    indexes too), counters set back to 0, writes that cancel out, idle
    intervals; with the v3 and the nine-counter v1/v2 IGMP block."""
    k = Kernel(seed=0, profile=profile)
    v = k.vnet0
    journal = CounterJournal(v)
    blocks = [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat]
    assert all(is_journalled(b) for b in blocks)
    names = [list(type(b).fields()) for b in blocks]
    rng = random.Random(13)
    before = v.netstat()
    moved_total = 0
    for step in range(800):
        plan = []
        for _ in range(rng.choice([0, 1, 2, 3, 6])):
            bi = rng.randrange(4)
            plan.append((bi, rng.choice(names[bi]), rng.randrange(41)))
        _bump_at_random(blocks, rng, plan)
        if plan and rng.random() < 0.05:  # a write undone: no delta
            bi, name, _ = plan[0]
            x = getattr(blocks[bi], name)
            if not isinstance(x, list):
                setattr(blocks[bi], name, x + 5)
                setattr(blocks[bi], name, x)
        got = journal.moved(rng.choice([None, "echo"]))
        after = v.netstat()
        want = counter_delta(before, after)
        before = after
        assert got == want, step
        assert [list(b) for b in got.values()] == [list(b) for b in want.values()], step
        assert list(got) == list(want), step
        moved_total += len(got)
    assert moved_total > 400
    # Still journalling: nothing above made it fall back.
    assert [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat] == blocks
    assert journal._blocks is not None


def _journal_break(v: Any, how: str) -> None:
    if how == "block replaced":
        v.udpstat = UdpStat(udps_ipackets=v.udpstat.udps_ipackets + 4)
    elif how == "histogram replaced":
        v.icmpstat.icps_inhist = [v.icmpstat.icps_inhist[i] + (i == 3) for i in range(41)]
    elif how == "histogram assigned to itself":
        v.icmpstat.icps_outhist = v.icmpstat.icps_outhist
        v.icmpstat.icps_outhist[5] += 2
    elif how == "histogram slice":
        v.icmpstat.icps_outhist[2:4] = [7, 9]
    elif how == "histogram sorted":
        v.icmpstat.icps_inhist[0] += 9
        v.icmpstat.icps_inhist.sort()
    elif how == "histogram extended":
        v.icmpstat.icps_inhist += [0]
        v.icmpstat.icps_inhist.pop()


@pytest.mark.parametrize(
    "how",
    [
        "block replaced",
        "histogram replaced",
        "histogram assigned to itself",
        "histogram slice",
        "histogram sorted",
        "histogram extended",
    ],
)
def test_counter_journal_falls_back_when_it_cannot_be_trusted(how: str) -> None:
    """A block of the stack replaced, or a histogram replaced or changed
    other than slot by slot: the journal gives up, the delta since the
    previous call is still exactly counter_delta's (the counters written
    before the change included), and marks give the rest."""
    k = Kernel(seed=0)
    v = k.vnet0
    journal = CounterJournal(v)
    v.ipstat.ips_total += 1
    v.icmpstat.icps_inhist[8] += 1
    assert journal.moved() == {"ip": {"ips_total": 1}, "icmp": {"icps_inhist[8]": 1}}
    before = v.netstat()
    v.ipstat.ips_delivered += 2
    v.icmpstat.icps_inhist[8] += 1
    v.icmpstat.icps_reflect += 1
    _journal_break(v, how)
    got = journal.moved()
    want = counter_delta(before, v.netstat())
    assert got == want and list(got) == list(want)
    assert got["ip"] == {"ips_delivered": 2}
    assert journal._blocks is None  # marks from here on
    rng = random.Random(5)
    blocks = [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat]
    names = [list(type(b).fields()) for b in blocks]
    for step in range(50):
        before = v.netstat()
        bi = rng.randrange(4)
        _bump_at_random(blocks, rng, [(bi, rng.choice(names[bi]), rng.randrange(41))])
        got = journal.moved("x")
        assert got == counter_delta(before, v.netstat()), step


def test_counter_journal_release_gives_the_blocks_back() -> None:
    """release() puts the stack's own block objects back (references taken
    before the journal see every write made through it), and the next
    moved() still reports what moved since the previous call."""
    k = Kernel(seed=0)
    v = k.vnet0
    own = [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat]
    inhist = v.icmpstat.icps_inhist
    journal = CounterJournal(v)
    assert v.ipstat is not own[0] and v.icmpstat.icps_inhist is not inhist
    v.ipstat.ips_total += 3
    v.icmpstat.icps_inhist[0] += 1
    assert journal.moved() == {"ip": {"ips_total": 3}, "icmp": {"icps_inhist[0]": 1}}
    v.udpstat.udps_ipackets += 1
    v.icmpstat.icps_inhist[0] += 1
    journal.release()
    assert [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat] == own
    assert all(map(operator.is_, [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat], own))
    assert not any(is_journalled(b) for b in own)
    assert v.icmpstat.icps_inhist is inhist and inhist[0] == 2
    assert own[0].ips_total == 3 and own[2].udps_ipackets == 1
    v.ipstat.ips_total += 1
    assert journal.moved() == {
        "ip": {"ips_total": 1},
        "icmp": {"icps_inhist[0]": 1},
        "udp": {"udps_ipackets": 1},
    }
    v.ipstat.ips_total += 1
    assert journal.moved() == {"ip": {"ips_total": 1}}


def test_counter_journal_on_a_journalled_stack_uses_marks() -> None:
    """A second journal on the same stack (two replays of one kernel at
    once) leaves the first one's blocks alone and still gives exact
    deltas, from marks."""
    k = Kernel(seed=0)
    v = k.vnet0
    first = CounterJournal(v)
    blocks = [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat]
    second = CounterJournal(v)
    assert [v.ipstat, v.icmpstat, v.udpstat, v.igmpstat] == blocks
    v.ipstat.ips_total += 1
    v.icmpstat.icps_outhist[3] += 1
    want = {"ip": {"ips_total": 1}, "icmp": {"icps_outhist[3]": 1}}
    assert second.moved() == want
    assert first.moved() == want
    second.release()
    assert v.ipstat is blocks[0]


def test_replay_journals_only_while_it_reports_counters(tmp_path: Path) -> None:
    """A replay that reports counters journals its stack's blocks while it
    runs and gives the stack its own blocks back when it finishes; one
    without counters (--quiet) never swaps them. Either way the summary's
    counters equal the sum of the per-packet deltas."""
    host, peer = "192.0.2.1", "192.0.2.7"
    k = Kernel(seed=0)
    ifp = k.ifconfig("em0", f"{host}/24")
    e = Ether(src="02:00:00:00:00:07", dst=format_mac(ifp.lladdr))
    frames = [
        e / IP(src=peer, dst=host, id=1) / ICMP(type=8, id=1, seq=1),
        e / IP(src=peer, dst=host, id=2) / UDP(sport=5, dport=9) / b"q",
        e / IP(src=peer, dst=host, id=3, flags="MF") / UDP(sport=5, dport=9) / (b"f" * 16),
    ]
    cap = tmp_path / "j.pcap"
    write_pcap(cap, [(10**18 + i * 10**8, bytes(f)) for i, f in enumerate(frames)])
    own = k.vnet0.ipstat
    for counters in (False, True):
        total: dict[str, dict[str, int]] = {}
        with Replay(str(cap), k, counters=counters) as r:
            for res in r:
                assert is_journalled(k.vnet0.ipstat) is counters
                for name, d in (res.counters or {}).items():
                    for key, n in d.items():
                        total.setdefault(name, {}).setdefault(key, 0)
                        total[name][key] += n
            r.drain(40)  # the fragment times out: a timer's deltas
            for t in r.summary.drained:
                for name, d in (t.counters or {}).items():
                    for key, n in d.items():
                        total.setdefault(name, {}).setdefault(key, 0)
                        total[name][key] += n
            s = r.finish()
        assert k.vnet0.ipstat is own and not is_journalled(own)
        if counters:
            assert total == s.counters
            assert total["ip"]["ips_fragtimeout"] == 1
