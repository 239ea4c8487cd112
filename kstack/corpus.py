"""Replaying a corpus: several captures, one emulated host each.

``kstack replay A.pcap B.pcap DIR/ [--jobs N | --scheduler ADDRESS]``
replays every capture exactly as ``kstack replay CAPTURE`` would, each in
its own kernel, and writes the reports in the order the captures were
named (a directory's captures sorted by path), never in the order they
finish. A summary table follows. A capture is one host's history (rate
limits, ARP and reassembly are per host), so a capture is never split:
the unit of work is the whole capture, run in a process of a local pool or
as a task on a Dask cluster. See docs/replay.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from kstack.outcome import KINDS

__all__ = [
    "CAPTURE_SUFFIXES",
    "CaptureRun",
    "CorpusJob",
    "find_captures",
    "run_corpus",
    "run_job",
]

#: File names a directory scan takes as captures (gzip-compressed too).
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")

DASK_MISSING = (
    "--scheduler needs dask.distributed, which is not installed: pip install 'kstack[dask]'"
)


def _is_capture_name(name: str) -> bool:
    n = name.lower()
    if n.endswith(".gz"):
        n = n[:-3]
    return n.endswith(CAPTURE_SUFFIXES)


def _stem(name: str) -> str:
    n = name[:-3] if name.lower().endswith(".gz") else name
    root, ext = os.path.splitext(n)
    return root if ext.lower() in CAPTURE_SUFFIXES else n


def find_captures(specs: Sequence[str]) -> list[tuple[str, str]]:
    """The captures named by ``specs``, as ``(path, label)`` pairs in order.

    A file is taken as named, whatever its name. A directory gives every
    file below it (subdirectories too, hidden ones left out) whose name
    ends in .pcap, .pcapng or .cap (or those plus .gz), sorted by its path
    relative to the directory; the label is the directory as given joined
    with that relative path. ``-`` (standard input) cannot be part of a
    corpus."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        if spec == "-":
            raise ValueError("- (standard input) cannot be replayed with other captures")
        if not os.path.isdir(spec):
            out.append((spec, spec))
            continue
        found: list[str] = []
        for root, dirs, files in os.walk(spec):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = os.path.relpath(root, spec)
            for f in files:
                if f.startswith(".") or not _is_capture_name(f):
                    continue
                found.append(f if rel == "." else os.path.join(rel, f))
        if not found:
            raise ValueError(f"{spec}: no capture in the directory (*.pcap, *.pcapng, *.cap)")
        for r in sorted(found, key=lambda p: p.split(os.sep)):
            out.append((os.path.join(spec, r), os.path.join(spec, r)))
    return out


@dataclass(slots=True)
class CorpusJob:
    """One capture of a corpus, with the options to replay it (picklable)."""

    index: int  # 0-based position in the corpus
    capture: str  # the path replayed
    options: dict[str, Any]  # the replay command's options (argparse's namespace)
    spool_dir: str | None = None  # write the report to a file here, else return it


@dataclass(slots=True)
class CaptureRun:
    """What one capture of a corpus gave."""

    index: int
    capture: str
    exit: int  # as the capture's own ``kstack replay`` would exit
    packets: int = 0
    skipped: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    differences: int | None = None  # --check / --compare only
    error: str | None = None  # the one-line error (exit 2)
    report: bytes = b""  # the report, zlib-compressed (when not spooled)
    report_path: str | None = None  # the spooled report

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "differ" if self.exit == 1 else "ok"

    def row(self) -> dict[str, Any]:
        return {
            "capture": self.capture,
            "status": self.status,
            "exit": self.exit,
            "packets": self.packets,
            "skipped": self.skipped,
            "outcomes": {k: self.outcomes.get(k, 0) for k in KINDS},
            "differences": self.differences,
            "error": self.error,
        }


def run_job(job: CorpusJob) -> CaptureRun:
    """Replay one capture (in a pool process, a Dask worker or here)."""
    from kstack.cli import _one_line, _oserror, replay_capture
    from kstack.pcapio import PcapError
    from kstack.replay import ReplayError
    from kstack.scenario import ScenarioError

    a = argparse.Namespace(**job.options)
    a.capture = job.capture
    a.no_progress = True
    if job.spool_dir is not None:
        fd, path = tempfile.mkstemp(prefix=f"{job.index:08d}-", suffix=".out", dir=job.spool_dir)
        out: IO[str] = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    else:
        path = None
        out = io.StringIO(newline="")
    run = CaptureRun(job.index, job.capture, 0, report_path=path)
    try:
        run.exit, tally = replay_capture(a, out)
        run.packets = tally.get("packets", 0)
        run.skipped = tally.get("skipped", 0)
        run.outcomes = dict(tally.get("outcomes", {}))
        run.differences = tally.get("differences")
    except (PcapError, ReplayError, ScenarioError, ValueError) as e:
        run.exit, run.error = 2, _one_line(e)
    except OSError as e:
        run.exit, run.error = 2, _one_line(_oserror(e))
    finally:
        if isinstance(out, io.StringIO):
            run.report = zlib.compress(out.getvalue().encode("utf-8"), 1)
        else:
            out.close()
    if run.error is not None and job.capture not in run.error:
        run.error = f"{job.capture}: {run.error}"
    return run


# -- running the jobs -------------------------------------------------------------------


def _serial(jobs: list[CorpusJob]) -> Iterator[CaptureRun]:
    for job in jobs:
        yield run_job(job)


def _pool(jobs: list[CorpusJob], workers: int) -> Iterator[CaptureRun]:
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as ex:
        yield from ex.map(run_job, jobs)  # in submission order


def _import_dask() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise ValueError(DASK_MISSING) from None


def _dask(jobs: list[CorpusJob], address: str) -> Iterator[CaptureRun]:
    distributed = _import_dask()
    try:
        client = distributed.Client(address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise ValueError(f"--scheduler {address}: cannot reach the scheduler ({e})") from None
    try:
        futures = client.map(run_job, jobs, pure=False)
        for fut in futures:  # capture order, whatever order they finish in
            yield fut.result()
            fut.release()
    finally:
        client.close()


# -- the command --------------------------------------------------------------------------


def _out_paths(captures: list[tuple[str, str]], out_dir: str, specs: Sequence[str]) -> list[str]:
    """``--out DIR`` in a corpus: DIR/<the capture's name, without its
    extension>.pcapng (a directory's captures keep their subdirectories)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"--out {out_dir}: with several captures, --out names a directory")
    real_out = os.path.realpath(out_dir)
    for spec in specs:
        if os.path.isdir(spec):
            d = os.path.realpath(spec)
            if real_out == d or real_out.startswith(d + os.sep):
                raise ValueError(
                    f"--out {out_dir} is inside the corpus directory {spec}: its files "
                    "would be replayed next time"
                )
    paths: list[str] = []
    seen: dict[str, str] = {}
    for path, _label in captures:
        rel = None
        for spec in specs:
            if os.path.isdir(spec) and path.startswith(os.path.join(spec, "")):
                rel = os.path.relpath(path, spec)
                break
        name = _stem(rel if rel is not None else os.path.basename(path)) + ".pcapng"
        target = os.path.join(out_dir, name)
        if target in seen:
            raise ValueError(
                f"--out {out_dir}: {seen[target]} and {path} would both write {target}"
            )
        seen[target] = path
        paths.append(target)
    return paths


def run_corpus(a: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """``kstack replay`` with several captures or a directory: the reports in
    capture order, then the summary table; exit status the worst of them."""
    specs = list(a.capture)
    captures = find_captures(specs)
    options = {k: v for k, v in vars(a).items() if k != "fn"}
    out_paths = _out_paths(captures, a.out, specs) if a.out else None
    workers = a.jobs if a.jobs > 0 else (os.cpu_count() or 1)
    if a.scheduler:
        _import_dask()  # fail before anything is written
    spool_dir = None
    if not a.scheduler and workers > 1 and len(captures) > 1:
        spool_dir = tempfile.mkdtemp(prefix="kstack-corpus-")
    jobs: list[CorpusJob] = []
    for i, (path, _label) in enumerate(captures):
        opts = dict(options)
        if out_paths is not None:
            opts["out"] = out_paths[i]
            os.makedirs(os.path.dirname(out_paths[i]) or ".", exist_ok=True)
        jobs.append(CorpusJob(i, path, opts, spool_dir))
    runs: Iterable[CaptureRun]
    if a.scheduler:
        runs = _dask(jobs, a.scheduler)
    elif spool_dir is not None:
        runs = _pool(jobs, min(workers, len(jobs)))
    else:
        runs = _serial(jobs)
    done: list[CaptureRun] = []
    try:
        for run in runs:
            _write_report(a, run, stdout, stderr)
            done.append(run)
    finally:
        if spool_dir is not None:
            shutil.rmtree(spool_dir, ignore_errors=True)
    rc = max((r.exit for r in done), default=0)
    _write_table(a, done, rc, stdout)
    return rc


def _write_report(a: argparse.Namespace, run: CaptureRun, stdout: IO[str], stderr: IO[str]) -> None:
    if a.json:
        stdout.write(
            json.dumps({"type": "capture", "index": run.index + 1, "capture": run.capture}) + "\n"
        )
    else:
        stdout.write(f"== {run.capture} ==\n")
    if run.report_path is not None:
        with open(run.report_path, encoding="utf-8", newline="") as f:
            shutil.copyfileobj(f, stdout, 1 << 20)
        with contextlib.suppress(OSError):
            os.unlink(run.report_path)
    elif run.report:
        stdout.write(zlib.decompress(run.report).decode("utf-8"))
    if run.error is not None:
        if a.json:
            stdout.write(json.dumps({"type": "error", "capture": run.capture, "text": run.error}))
            stdout.write("\n")
        stdout.flush()
        print(f"kstack: error: {run.error}", file=stderr)


def _write_table(a: argparse.Namespace, runs: list[CaptureRun], rc: int, stdout: IO[str]) -> None:
    compared = bool(a.check or a.compare)
    if a.json:
        obj = {
            "type": "corpus",
            "captures": len(runs),
            "exit": rc,
            "rows": [r.row() for r in runs],
            "totals": _totals(runs),
        }
        stdout.write(json.dumps(obj) + "\n")
        return
    width = max([len("capture"), *(len(r.capture) for r in runs)])
    cols = [*KINDS, "skipped"] + (["differ"] if compared else [])
    head = f"{'capture':<{width}} {'packets':>8} " + " ".join(f"{c:>9}" for c in cols)
    lines = [f"corpus: {len(runs)} captures; exit status {rc}", head + "  status"]
    for r in runs:
        vals: list[int | str] = [*(r.outcomes.get(k, 0) for k in KINDS), r.skipped]
        if compared:
            vals.append(r.differences if r.differences is not None else "-")
        cells = " ".join(f"{v:>9}" for v in vals)
        status = f"error: {r.error}" if r.error is not None else r.status
        lines.append(f"{r.capture:<{width}} {r.packets:>8} {cells}  {status}")
    t = _totals(runs)
    totals: list[int | str] = [*(t["outcomes"][k] for k in KINDS), t["skipped"]]
    if compared:
        totals.append(t["differences"])
    cells = " ".join(f"{v:>9}" for v in totals)
    lines.append(f"{'total':<{width}} {t['packets']:>8} {cells}")
    stdout.write("".join(s + "\n" for s in lines))


def _totals(runs: list[CaptureRun]) -> dict[str, Any]:
    return {
        "packets": sum(r.packets for r in runs),
        "skipped": sum(r.skipped for r in runs),
        "outcomes": {k: sum(r.outcomes.get(k, 0) for r in runs) for k in KINDS},
        "differences": sum(r.differences or 0 for r in runs),
        "ok": sum(r.status == "ok" for r in runs),
        "differ": sum(r.status == "differ" for r in runs),
        "error": sum(r.status == "error" for r in runs),
    }
