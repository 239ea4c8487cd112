"""Replay of a corpus (several captures or a directory, --jobs, --scheduler)
and the per-packet counter marks that make text and JSON output cheap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

from kstack.cli import main
from kstack.corpus import find_captures
from kstack.pcapio import open_capture, write_pcap
from kstack.replay import CounterMarks, Replay, counter_delta

ROOT = Path(__file__).resolve().parents[1]
MIXED = ROOT / "pcaps" / "replay" / "mixed.pcap"
ECHO = ROOT / "pcaps" / "replay" / "echo.pcapng"
HOST_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:07"
HOST, PEER = "192.0.2.1", "192.0.2.7"
T0 = 1_326_153_600 * 10**9


def _udp_capture(path: Path, n: int = 6) -> None:
    frames = []
    for i in range(n):
        eth = Ether(src=PEER_MAC, dst=HOST_MAC)
        if i % 2:
            pkt = eth / IP(src=PEER, dst=HOST, id=i) / UDP(sport=4000, dport=9) / b"x"
        else:
            pkt = eth / IP(src=PEER, dst=HOST, id=i) / ICMP(type=8, id=1, seq=i) / b"ping"
        frames.append((T0 + i * 10**9, bytes(pkt)))
    write_pcap(path, frames)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    shutil.copy(MIXED, d / "b_mixed.pcap")
    shutil.copy(ECHO, d / "sub" / "a_echo.pcapng")
    _udp_capture(d / "a_udp.pcap")
    (d / "notes.txt").write_text("not a capture\n")
    (d / ".hidden.pcap").write_bytes(b"")
    return d


def _lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines()]


# -- counter marks ---------------------------------------------------------------------


def test_counter_marks_equal_snapshot_deltas() -> None:
    """CounterMarks.moved() gives, record by record, exactly the delta of two
    full netstat() snapshots (same keys, order and values)."""
    with Replay(MIXED) as r:
        marks = CounterMarks(r.stack)
        before = r.stack.netstat()
        seen = 0
        for _res in r:
            after = r.stack.netstat()
            got = marks.moved()
            want = counter_delta(before, after)
            assert got == want
            assert [list(b) for b in got.values()] == [list(b) for b in want.values()]
            assert list(got) == list(want)
            before = after
            seen += bool(got)
        assert seen > 30  # most records move counters


def test_counter_marks_histogram_slots() -> None:
    """A histogram slot is reported as NAME[TYPE]; an idle interval as {}."""
    with Replay(MIXED) as r:
        marks = CounterMarks(r.stack)
        assert marks.moved() == {}
        r.stack.icmpstat.icps_inhist[13] += 2
        r.stack.udpstat.udps_noport += 1
        assert marks.moved() == {"icmp": {"icps_inhist[13]": 2}, "udp": {"udps_noport": 1}}
        assert marks.moved() == {}


def test_replay_counters_unchanged_by_marks() -> None:
    """Per-record counters in results equal a snapshot diff over the run."""
    totals: dict[str, dict[str, int]] = {}
    with Replay(MIXED, counters=True) as r:
        start = r.stack.netstat()
        for res in r:
            for blk, d in (res.counters or {}).items():
                for key, v in d.items():
                    totals.setdefault(blk, {}).setdefault(key, 0)
                    totals[blk][key] += v
        end = r.stack.netstat()
    want = counter_delta(start, end)
    assert {b: dict(sorted(d.items())) for b, d in totals.items()} == {
        b: dict(sorted(d.items())) for b, d in want.items()
    }


# -- finding captures --------------------------------------------------------------------


def test_find_captures_directory_sorted_recursive(corpus: Path) -> None:
    got = [p for p, _ in find_captures([str(corpus)])]
    assert got == [
        str(corpus / "a_udp.pcap"),
        str(corpus / "b_mixed.pcap"),
        str(corpus / "sub" / "a_echo.pcapng"),
    ]


def test_find_captures_files_kept_in_order(corpus: Path) -> None:
    b, a = str(corpus / "b_mixed.pcap"), str(corpus / "notes.txt")
    assert [p for p, _ in find_captures([b, a])] == [b, a]


@pytest.mark.parametrize("specs", [["-", "x.pcap"], ["EMPTY"]])
def test_find_captures_refused(tmp_path: Path, specs: list[str]) -> None:
    (tmp_path / "EMPTY").mkdir()
    specs = [str(tmp_path / s) if s == "EMPTY" else s for s in specs]
    with pytest.raises(ValueError):
        find_captures(specs)


# -- the command -----------------------------------------------------------------------------


def _single(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> tuple[int, str]:
    rc = main(["replay", str(path), *extra])
    return rc, capsys.readouterr().out


def test_corpus_reports_equal_single_runs(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each capture's report is byte for byte its own `kstack replay`'s, in
    capture order, after a `== CAPTURE ==` line; then the table."""
    caps = [p for p, _ in find_captures([str(corpus)])]
    want = ""
    for c in caps:
        rc, out = _single(capsys, Path(c))
        assert rc == 0
        want += f"== {c} ==\n{out}"
    assert main(["replay", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(want)
    table = out[len(want) :].splitlines()
    assert table[0] == "corpus: 3 captures; exit status 0"
    assert table[1].split() == [
        "capture",
        "packets",
        "delivered",
        "answered",
        "forwarded",
        "held",
        "dropped",
        "skipped",
        "status",
    ]
    rows = [line.split() for line in table[2:]]
    assert rows[0] == [caps[0], "6", "0", "3", "0", "0", "3", "0", "ok"]
    assert rows[1] == [caps[1], "40", "1", "29", "0", "1", "9", "0", "ok"]
    assert rows[2] == [caps[2], "5", "0", "4", "0", "0", "0", "1", "ok"]
    assert rows[3] == ["total", "51", "1", "36", "0", "1", "12", "1"]


@pytest.mark.parametrize("mode", [[], ["--json"], ["--quiet"], ["--check", "--json"]])
def test_corpus_jobs_identical_to_serial(
    corpus: Path, capsys: pytest.CaptureFixture[str], mode: list[str]
) -> None:
    """--jobs 2 (processes) writes exactly what --jobs 1 writes."""
    rc1 = main(["replay", str(corpus), "--jobs", "1", *mode])
    serial = capsys.readouterr().out
    rc2 = main(["replay", str(corpus), "--jobs", "2", *mode])
    parallel = capsys.readouterr().out
    assert (rc1, parallel) == (rc2, serial)


def test_corpus_json_table_and_worst_exit(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated capture is one error line and exit 2; the others run; the
    corpus line carries a row per capture."""
    bad = tmp_path / "trunc.pcap"
    bad.write_bytes(MIXED.read_bytes()[:60])
    good = corpus / "a_udp.pcap"
    rc = main(["replay", str(good), str(bad), str(MIXED), "--json", "--jobs", "2"])
    cap = capsys.readouterr()
    assert rc == 2
    assert cap.err.splitlines() == [
        f"kstack: error: {bad}: truncated record data at byte 24 (20 of 60 bytes)"
    ]
    objs = _lines(cap.out)
    assert [o["capture"] for o in objs if o["type"] == "capture"] == [
        str(good),
        str(bad),
        str(MIXED),
    ]
    (corp,) = [o for o in objs if o["type"] == "corpus"]
    assert objs[-1] is corp
    assert corp["exit"] == 2 and corp["captures"] == 3
    assert [(r["status"], r["exit"], r["packets"]) for r in corp["rows"]] == [
        ("ok", 0, 6),
        ("error", 2, 0),
        ("ok", 0, 40),
    ]
    assert corp["rows"][2]["outcomes"] == {
        "delivered": 1,
        "answered": 29,
        "forwarded": 0,
        "held": 1,
        "dropped": 9,
    }
    assert corp["totals"]["packets"] == 46 and corp["totals"]["error"] == 1


def test_corpus_compare_differences(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under --compare the table counts differing records per capture and
    the exit status is the worst (1 when any capture differs)."""
    rc = main(["replay", str(MIXED), str(corpus / "a_udp.pcap"), "--compare", "11.0", "-q"])
    out = capsys.readouterr().out
    want = []
    for c in (MIXED, corpus / "a_udp.pcap"):
        rci, single = _single(capsys, c, "--compare", "11.0", "-q")
        line = next(x for x in single.splitlines() if x.startswith("compare:"))
        want.append((rci, int(line.split()[3])))
    assert rc == max(r for r, _ in want)
    rows = [x.split() for x in out.splitlines() if x.startswith((str(MIXED), str(corpus)))]
    rows = [r for r in rows if len(r) > 2]
    assert [int(r[-2]) for r in rows] == [n for _, n in want]
    assert [r[-1] for r in rows] == ["differ" if r else "ok" for r, _ in want]


def test_corpus_out_directory(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out DIR with a corpus: one pcapng per capture, subdirectories kept."""
    out = tmp_path / "artefacts"
    assert main(["replay", str(corpus), "-q", "--out", str(out), "--jobs", "2"]) == 0
    capsys.readouterr()
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.pcapng"))
    assert files == ["a_udp.pcapng", "b_mixed.pcapng", "sub/a_echo.pcapng"]
    with open_capture(out / "b_mixed.pcapng") as cap:
        assert sum(1 for _ in cap) == 31  # the 31 frames the host sent


def test_corpus_out_inside_corpus_refused(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(corpus), "--out", str(corpus / "out")]) == 2
    err = capsys.readouterr().err
    assert "inside the corpus directory" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("jobs", ["-1", "x"])
def test_corpus_bad_jobs(corpus: Path, jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(corpus), "--jobs", jobs]) == 2
    assert capsys.readouterr().err.startswith("kstack: error: ")


def test_scheduler_without_dask(
    corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without dask installed, --scheduler is a one-line error naming the extra."""
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    assert main(["replay", str(corpus), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == (
        "kstack: error: --scheduler needs dask.distributed, which is not installed: "
        "pip install 'kstack[dask]'\n"
    )


def test_scheduler_local_cluster(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Dask LocalCluster runs one task per capture; the output equals the
    serial run's, in capture order."""
    distributed = pytest.importorskip("distributed")
    main(["replay", str(corpus), "--json"])
    serial = capsys.readouterr().out
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        rc = main(["replay", str(corpus), "--json", "--scheduler", cluster.scheduler_address])
    assert rc == 0
    assert capsys.readouterr().out == serial
