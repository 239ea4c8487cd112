"""What replay output costs, and what a corpus gains from --jobs.

Writes a corpus of captures of mixed traffic (echo requests answered,
UDP to a closed port, a protocol nobody handles, bad checksums, broadcasts)
into a temporary directory, then in one run:

* replays one capture as ``kstack replay`` does with ``--quiet``, with the
  default text report and with ``--json`` (in this process, output to
  /dev/null, best of ``--repeat``, the three modes taking turns so that a
  change in the machine's load touches all three alike) and reports
  text/quiet and json/quiet;
* replays the whole corpus with ``--jobs 1`` and ``--jobs 2`` (--quiet)
  and reports the speedup (one process per capture).

On a shared machine, ``--clock cpu`` times the output figures in this
process's CPU time rather than wall time. ``--output-only`` skips the corpus.

Usage: python bench/bench_output.py [--frames N] [--captures K] [--repeat R]
       [--clock wall|cpu] [--output-only] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:07"


def templates(variant: int) -> list[bytes]:
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    eth = Ether(src=PEER_MAC, dst=HOST_MAC)
    host, peer = "192.0.2.1", f"192.0.2.{7 + variant}"
    frames = [
        eth / IP(src=peer, dst=host, id=1) / ICMP(type=8, id=variant, seq=1) / (b"x" * 56),
        eth / IP(src=peer, dst=host, id=2) / UDP(sport=5000, dport=9) / b"closed",
        eth / IP(src=peer, dst=host, proto=253, id=3) / (b"u" * 40),
        eth / IP(src=peer, dst=host, id=4, chksum=0x1234) / ICMP(type=8) / b"bad",
        Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=peer, dst="192.0.2.255", id=5)
        / ICMP(type=8, id=variant, seq=2)
        / b"b",
    ]
    return [bytes(f) for f in frames]


def write_corpus(d: Path, captures: int, frames: int) -> list[Path]:
    from kstack.pcapio import write_pcap

    base = 1_326_153_600 * 1_000_000_000
    step = 10_000_000  # 10 ms apart: replies stay under net.inet.icmp.icmplim
    paths = []
    for c in range(captures):
        tpl = templates(c)
        p = d / f"host{c:02d}.pcap"
        write_pcap(p, ((base + i * step, tpl[i % len(tpl)]) for i in range(frames)))
        paths.append(p)
    return paths


def run_cli(args: list[str], clock: Callable[[], float] = time.perf_counter) -> float:
    from kstack.cli import main

    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        t = clock()
        rc = main(args)
        elapsed = clock() - t
    if rc not in (0, 1):
        raise SystemExit(f"kstack {' '.join(args)} exited {rc}")
    return elapsed


def best(args: list[str], repeat: int) -> float:
    return min(run_cli(args) for _ in range(repeat))


def best_of_turns(runs: list[list[str]], repeat: int, clock: Callable[[], float]) -> list[float]:
    """The best time of each argument list, the lists taking turns."""
    times = [[run_cli(args, clock) for args in runs] for _ in range(repeat)]
    return [min(t[i] for t in times) for i in range(len(runs))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000, help="frames per capture")
    ap.add_argument("--captures", type=int, default=8, help="captures in the corpus")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best counts)")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time the output figures in wall time or in this process's CPU time",
    )
    ap.add_argument("--output-only", action="store_true", help="skip the corpus figures")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    a = ap.parse_args()
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    with tempfile.TemporaryDirectory(prefix="kstack-bench-output-") as tmp:
        d = Path(tmp) / "corpus"
        d.mkdir()
        caps = write_corpus(d, a.captures, a.frames)
        one = ["replay", str(caps[0]), "--no-progress"]
        quiet, text, js = best_of_turns([[*one, "--quiet"], one, [*one, "--json"]], a.repeat, clock)
        if not a.output_only:
            serial = best(["replay", str(d), "--quiet", "--jobs", "1"], a.repeat)
            par = best(["replay", str(d), "--quiet", "--jobs", "2"], a.repeat)
    figures: dict[str, object] = {
        "frames": a.frames,
        "captures": a.captures,
        "cpus": os.cpu_count(),
        "clock": a.clock,
        "quiet_s": round(quiet, 4),
        "text_s": round(text, 4),
        "json_s": round(js, 4),
        "text_over_quiet": round(text / quiet, 3),
        "json_over_quiet": round(js / quiet, 3),
    }
    if not a.output_only:
        figures["corpus_jobs1_s"] = round(serial, 4)
        figures["corpus_jobs2_s"] = round(par, 4)
        figures["jobs2_speedup"] = round(serial / par, 3)
    if a.json:
        print(json.dumps(figures))
        return 0
    print(f"replay output, one capture of {a.frames} frames (best of {a.repeat}, {a.clock} time):")
    print(f"  --quiet  {quiet:8.3f} s  {a.frames / quiet:10,.0f} frames/s")
    print(f"  text     {text:8.3f} s  {text / quiet:6.2f}x quiet")
    print(f"  --json   {js:8.3f} s  {js / quiet:6.2f}x quiet")
    if a.output_only:
        return 0
    print(f"corpus of {a.captures} captures x {a.frames} frames, --quiet:")
    print(f"  --jobs 1 {serial:8.3f} s")
    print(f"  --jobs 2 {par:8.3f} s  speedup {serial / par:.2f}x ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
