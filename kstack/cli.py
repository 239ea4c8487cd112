"""The ``kstack`` command: replay, netstat, sysctl, profiles.

Every expected failure (bad capture, bad scenario, unknown sysctl, a bad
flag...) is one line on stderr, ``kstack: error: ...``, and exit status 2.
``kstack replay`` exits 0 when the replay ran, 1 when ``--check`` or
``--compare`` found a difference (as diff(1) does).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, BinaryIO

import kstack
from kstack.check import Checker, CheckItem
from kstack.compare import Comparison, PacketDiff
from kstack.decode import Decoder, decode
from kstack.frames import CHECK_DONT_CARE, FIELD_NAMES, expand_fields
from kstack.kern.clock import NS
from kstack.kern.kernel import Kernel
from kstack.net.if_var import IFT_LOOP
from kstack.netstat import format_netstat_a, format_netstat_s
from kstack.outcome import KINDS, Outcome
from kstack.pcapio import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    TS_LIMIT_NS,
    PcapError,
    PcapngWriter,
)
from kstack.profiles import PROFILES, SWITCHES, Profile, get_profile, switch_names
from kstack.replay import (
    CaptureSource,
    PacketResult,
    Replay,
    ReplayError,
    SentFrame,
    Summary,
    TimerResult,
    summary_dict,
)
from kstack.scenario import Scenario, ScenarioError, parse_scenario

__all__ = ["main", "decode"]

_EPILOG_REPLAY = """\
exit status: 0 the replay ran (and --check/--compare found no difference),
1 --check or --compare found a difference, 2 bad input or a bad flag; for
several captures (or a directory), the worst of theirs.
Precedence: a flag beats the scenario file, which beats the default.
See docs/replay.md for the default host, --check pairing and the JSON lines."""


class _UsageError(Exception):
    pass


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def _fail(msg: object) -> int:
    print(f"kstack: error: {_one_line(msg)}", file=sys.stderr)
    return 2


def _oserror(e: OSError) -> str:
    """``what: strerror (ENAME)`` instead of Python's ``[Errno N] ...``."""
    code = errno.errorcode.get(e.errno or 0, "")
    msg = e.strerror or str(e)
    if e.filename and str(e.filename) not in msg:
        msg = f"{e.filename}: {msg}"
    return f"{msg} ({code})" if code and code not in msg else msg


def _parse_sysctl_args(items: Sequence[str]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for s in items:
        name, eq, value = s.partition("=")
        if not eq or not name:
            raise ValueError(f"--sysctl {s!r}: expected NAME=VALUE")
        out.append((name, value))
    return out


def _ts(ts_ns: int, first: int) -> str:
    return f"{(ts_ns - first) / NS:.6f}"


# -- output --------------------------------------------------------------------------


def _frame_decode(f: SentFrame) -> str:
    return decode(f.data, f.linktype)


def _outcome_dict(o: Outcome | None) -> dict[str, str] | None:
    if o is None:
        return None
    return {"kind": o.kind, "reason": o.reason, "to": o.to, "detail": o.detail}


def _sent_dict(f: SentFrame) -> dict[str, Any]:
    return {"iface": f.iface, "reason": f.reason, "len": len(f.data), "decode": _frame_decode(f)}


def _counter_text(counters: dict[str, dict[str, int]]) -> str:
    parts = [f"{k}+{v}" if v > 0 else f"{k}{v}" for b in counters.values() for k, v in b.items()]
    return "    counters: " + " ".join(parts)


# json.dumps's own string encoder: a line built from pieces with it is the
# line json.dumps would write for the same object.
_json_str = json.encoder.encode_basestring_ascii
_MEMO_MAX = 4096  # entries a report's memo holds before it starts over


class _Memo(dict[str, str]):
    """A table of formatted strings that formats an entry on first use
    (a hit is a C-level dict lookup, usable with ``map``); it starts over
    when it has grown large."""

    __slots__ = ("fmt",)

    def __init__(self, fmt: Callable[[str], str]) -> None:
        super().__init__()
        self.fmt = fmt

    def __missing__(self, key: str) -> str:
        if len(self) >= _MEMO_MAX:
            self.clear()
        s = self[key] = self.fmt(key)
        return s


def _all_ones(d: dict[str, int]) -> bool:
    vals = d.values()
    return min(vals) == 1 == max(vals)


class _Pieces:
    """The parts of packet lines that repeat from record to record, each
    formatted once: outcome texts, counter names, strings in JSON form,
    address pairs (through a :class:`Decoder`)."""

    __slots__ = ("decode", "outcome_text", "outcome_json", "plus1", "jstr", "jone")

    def __init__(self) -> None:
        self.decode = Decoder().decode
        self.outcome_text: dict[Outcome | None, str] = {}
        self.outcome_json: dict[Outcome, str] = {}
        self.plus1 = _Memo(lambda k: f"{k}+1")  # "ips_total+1"
        self.jstr = _Memo(_json_str)  # '"em0"': names that recur (blocks, counters, ifaces)
        self.jone = _Memo(lambda k: f"{_json_str(k)}: 1")  # '"ips_total": 1'

    def text(self, o: Outcome | None) -> str:
        s = self.outcome_text.get(o)
        if s is None:
            if len(self.outcome_text) >= _MEMO_MAX:
                self.outcome_text.clear()
            s = self.outcome_text[o] = str(o)
        return s

    def json(self, o: Outcome | None) -> str:
        if o is None:
            return "null"
        s = self.outcome_json.get(o)
        if s is None:
            if len(self.outcome_json) >= _MEMO_MAX:
                self.outcome_json.clear()
            s = self.outcome_json[o] = json.dumps(_outcome_dict(o))
        return s

    def counters_text(self, counters: dict[str, dict[str, int]]) -> str:
        """:func:`_counter_text` (most counters move by one: those pieces
        are formatted once per name)."""
        parts = []
        for d in counters.values():
            if not d:
                continue
            vals = d.values()
            if min(vals) == 1 == max(vals):
                parts.append(" ".join(map(self.plus1.__getitem__, d)))
            else:
                parts.append(" ".join([f"{k}+{v}" if v > 0 else f"{k}{v}" for k, v in d.items()]))
        return "    counters: " + " ".join(parts)

    def counters_json(self, counters: dict[str, dict[str, int]] | None) -> str:
        """``json.dumps(counters or {})``."""
        if not counters:
            return "{}"
        jstr = self.jstr
        blocks = []
        for name, d in counters.items():
            if d and _all_ones(d):
                body = ", ".join(map(self.jone.__getitem__, d))
            else:
                body = ", ".join([f"{jstr[k]}: {v}" for k, v in d.items()])
            blocks.append(f"{jstr[name]}: {{{body}}}")
        return f"{{{', '.join(blocks)}}}"

    def sent_json(self, sent: list[SentFrame]) -> str:
        """``json.dumps([_sent_dict(f) for f in sent])``."""
        if not sent:
            return "[]"
        dec = self.decode
        jstr = self.jstr
        items = ", ".join(
            [
                f'{{"iface": {jstr[f.iface]}, "reason": {jstr[f.reason]}, '
                f'"len": {len(f.data)}, "decode": {_json_str(dec(f.data, f.linktype))}}}'
                for f in sent
            ]
        )
        return f"[{items}]"


class _Report:
    """Writes replay results to stdout as text or JSON Lines."""

    def __init__(self, out: IO[str], *, json_mode: bool, quiet: bool) -> None:
        self.out = out
        self.json = json_mode
        self.quiet = quiet
        self.first: int | None = None
        self.check_link = True  # whether --check compares Ethernet frames
        self._pieces = _Pieces()
        self.tally: dict[str, Any] = {}  # the summary's figures (a corpus table row)

    def emit(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")

    def line(self, s: str) -> None:
        self.out.write(s + "\n")

    def note(self, s: str) -> None:
        if self.json:
            self.emit({"type": "note", "text": s})
        elif not self.quiet:
            self.line(f"# {s}")

    def _rel(self, ts_ns: int) -> str:
        if self.first is None:
            self.first = ts_ns
        return _ts(ts_ns, self.first)

    def timer(self, t: TimerResult, before: int | None) -> None:
        if self.quiet:
            return
        if self.json:
            self.emit(
                {
                    "type": "event",
                    "ts_ns": t.ts_ns,
                    "what": "; ".join(e.what for e in t.events) or "timer",
                    "events": [
                        {"what": e.what, "iface": e.ifname, "outcome": _outcome_dict(e.outcome)}
                        for e in t.events
                    ],
                    "sent": [_sent_dict(f) for f in t.sent],
                    "counters": t.counters or {},
                    "before_packet": before,
                }
            )
            return
        rel = self._rel(t.ts_ns)
        if t.events:
            for e in t.events:
                self.line(f"@ {rel} timer: {e.what}" + (f": {e.outcome}" if e.outcome else ""))
        else:
            self.line(f"@ {rel} timer")
        for f in t.sent:
            self.line(f"    {f.iface} < {_frame_decode(f)} [{f.reason}]")
        if t.counters:
            self.line(_counter_text(t.counters))

    def packet(self, r: PacketResult, checks: list[CheckItem]) -> None:
        for t in r.timers:
            self.timer(t, r.index)
        if self.quiet:
            for c in checks:
                self.check(c)
            return
        pc = self._pieces
        dec = pc.decode
        if self.json:
            # The line json.dumps writes for the packet's object, built from
            # its pieces (the fixed part of the object never changes shape).
            skipped = r.skipped
            what = dec(r.frame, r.frame_linktype) if skipped is None or r.own else None
            events = (
                json.dumps(
                    [
                        {
                            "ts_ns": e.ts,
                            "what": e.what,
                            "iface": e.ifname,
                            "outcome": _outcome_dict(e.outcome),
                        }
                        for e in r.events
                    ]
                )
                if r.events
                else "[]"
            )
            self.out.write(
                f'{{"type": "packet", "index": {r.index}, "ts_ns": {r.ts_ns}, '
                f'"linktype": {r.linktype}, "iface": {pc.jstr[r.iface]}, '
                f'"decode": {"null" if what is None else _json_str(what)}, '
                f'"outcome": {pc.json(r.outcome)}, '
                f'"skipped": {"null" if skipped is None else _json_str(skipped)}, '
                f'"own": {"true" if r.own else "false"}, "sent": {pc.sent_json(r.sent)}, '
                f'"events": {events}, "counters": {pc.counters_json(r.counters)}}}\n'
            )
            for c in checks:
                self.check(c)
            return
        first = self.first
        if first is None:
            first = self.first = r.ts_ns
        rel = f"{(r.ts_ns - first) / NS:.6f}"
        if r.skipped is None:
            s = f"#{r.index} {rel} {dec(r.frame, r.frame_linktype)}: {pc.text(r.outcome)}\n"
        elif r.own:
            s = f"#{r.index} {rel} {dec(r.frame, r.frame_linktype)}: skipped: {r.skipped}\n"
        else:
            s = f"#{r.index} {rel} skipped: {r.skipped}\n"
        for e in r.events:
            s += f"    event: {e.what}" + (f": {e.outcome}\n" if e.outcome else "\n")
        for f in r.sent:
            s += f"    {f.iface} < {dec(f.data, f.linktype)} [{f.reason}]\n"
        if r.counters:
            s += pc.counters_text(r.counters) + "\n"
        self.out.write(s)
        for c in checks:
            self.check(c)

    def check(self, c: CheckItem) -> None:
        lt = LINKTYPE_ETHERNET if self.check_link else LINKTYPE_RAW
        if self.json:
            self.emit(
                {
                    "type": "check",
                    "status": c.status,
                    "expected": None
                    if c.expected is None
                    else {
                        "index": c.expected.index,
                        "ts_ns": c.expected.ts_ns,
                        "decode": decode(c.expected.frame, lt),
                    },
                    "actual": None
                    if c.actual is None
                    else {
                        "in_reply_to": c.actual.index or None,
                        "ts_ns": c.actual.ts_ns,
                        "reason": c.actual.why,
                        "decode": decode(c.actual.frame, lt),
                    },
                    "diffs": [
                        {"field": d.name, "got": d.got.hex(), "expected": d.expected.hex()}
                        for d in c.diffs
                    ],
                }
            )
            return
        if c.status == "match" and self.quiet:
            return
        act = ""
        if c.actual is not None:
            src = f"reply to #{c.actual.index}" if c.actual.index else "timer"
            act = f"kstack's frame ({src}, {c.actual.why})"
        if c.status == "match":
            assert c.expected is not None
            self.line(f"    check: #{c.expected.index} matches {act}")
        elif c.status == "differ":
            assert c.expected is not None
            self.line(f"    check: #{c.expected.index} differs from {act}:")
            for d in c.diffs:
                self.line(f"        {d}")
        elif c.status == "missing":
            assert c.expected is not None
            self.line(
                f"    check: #{c.expected.index} missing: the host sent "
                f"{decode(c.expected.frame, lt)}; kstack sent nothing like it"
            )
        else:
            assert c.actual is not None
            self.line(
                f"    check: extra: {act}: {decode(c.actual.frame, lt)}; "
                "the host sent nothing like it"
            )

    def diff(self, d: PacketDiff, cmp: Comparison) -> None:
        a, b = "A", "B"
        r = d.result
        what = decode(r.frame, r.frame_linktype) if r is not None else "after the last record"
        if self.json:
            self.emit(
                {
                    "type": "diff",
                    "index": d.index or None,
                    "ts_ns": d.ts_ns,
                    "decode": what,
                    "a": {"profile": cmp.a, "outcome": _outcome_dict(d.a), "skipped": d.a_skip},
                    "b": {"profile": cmp.b, "outcome": _outcome_dict(d.b), "skipped": d.b_skip},
                    "frames": [
                        {
                            "a": None if p.a is None else _sent_dict(p.a),
                            "b": None if p.b is None else _sent_dict(p.b),
                            "diffs": [
                                {"field": x.name, "a": x.got.hex(), "b": x.expected.hex()}
                                for x in p.diffs
                            ],
                        }
                        for p in d.frames
                    ],
                }
            )
            return
        head = f"#{d.index} {self._rel(d.ts_ns)} {what}" if d.index else f"end: {what}"
        self.line(head)
        oa = str(d.a) if d.a is not None else f"skipped: {d.a_skip}"
        ob = str(d.b) if d.b is not None else f"skipped: {d.b_skip}"
        if d.outcome_differs:
            self.line(f"    {a}: {oa}")
            self.line(f"    {b}: {ob}")
        elif d.index:
            self.line(f"    both: {oa}")
        for i, p in enumerate(d.frames, 1):
            if p.a is None or p.b is None:
                side, f = (a, p.a) if p.b is None else (b, p.b)
                assert f is not None
                self.line(f"    frame {i}: only {side} sent {f.iface} < {_frame_decode(f)}")
            elif not p.diffs:
                self.line(f"    frame {i}: {a} sent on {p.a.iface}, {b} on {p.b.iface}")
            else:
                self.line(f"    frame {i}: {_frame_decode(p.a)}")
                for x in p.diffs:
                    span = f"{x.name} [{x.start}:{x.end}]"
                    self.line(f"        {span}: {a} {x.got.hex()}, {b} {x.expected.hex()}")


class _Progress:
    """A progress bar on stderr (rich, refreshed by hand: no thread)."""

    def __init__(self, total: int | None, name: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns: list[Any] = [TextColumn("[bold]{task.description}")]
        if total:
            columns += [BarColumn(), MofNCompleteColumn()]
        else:
            columns += [TextColumn("{task.completed} records")]
        columns += [TextColumn("{task.fields[rate]}")]
        if total:
            columns.append(TimeRemainingColumn())
        self.p = Progress(
            *columns,
            console=Console(file=sys.stderr),
            transient=True,
            auto_refresh=False,
        )
        self.task = self.p.add_task(f"replaying {name}", total=total or None, rate="")
        self.p.start()

    def update(self, done: int) -> None:
        self.p.update(self.task, completed=done)
        elapsed = self.p.tasks[0].elapsed
        if elapsed:
            self.p.update(self.task, rate=f"{done / elapsed:,.0f} records/s")
        self.p.refresh()

    def stop(self) -> None:
        self.p.stop()


class _OutFile:
    """``--out``: pcapng written to a temporary file beside the target and
    renamed over it only when the replay succeeds."""

    def __init__(self, path: str) -> None:
        self.path = path
        d = os.path.dirname(os.path.abspath(path))
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=".kstack-out-", suffix=".pcapng", dir=d)
        except OSError as e:
            raise OSError(e.errno, f"--out {path}: {e.strerror}") from None
        self.fh: BinaryIO = os.fdopen(fd, "wb")
        self.w = PcapngWriter(self.fh, shb_comment="frames sent by kstack replay")
        self.ids: dict[str, tuple[int, int]] = {}
        self.count = 0

    def interfaces(self, k: Kernel, stack: Any = None) -> None:
        """One interface block per emulated interface, before any packet:
        the replayed stack's by name, other stacks' as STACK:IFNAME."""
        from kstack.replay import _stack_label

        if stack is None:
            stack = k.vnet0
        for vnet in [stack, *(v for v in k.vnets if v is not stack)]:
            prefix = "" if vnet is stack else f"{_stack_label(k, vnet)}:"
            for ifp in vnet.ifnets:
                self._iface(prefix + ifp.name, ifp.type == IFT_LOOP)

    def _iface(self, name: str, loop: bool) -> tuple[int, int]:
        got = self.ids.get(name)
        if got is None:
            lt = LINKTYPE_NULL if loop else LINKTYPE_ETHERNET
            got = (self.w.add_interface(lt, name), lt)
            self.ids[name] = got
        return got

    def add(self, f: SentFrame, why: str) -> None:
        ifid, lt = self._iface(f.iface, f.linktype == LINKTYPE_RAW)
        data = f.data
        if lt == LINKTYPE_NULL:
            data = (2).to_bytes(4, "little") + data  # AF_INET in the host's order
        ts = min(max(0, f.ts_ns), TS_LIMIT_NS - 1)
        self.w.write(ifid, ts, data, comment=f"{f.reason}; {why}")
        self.count += 1

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_out(a: argparse.Namespace) -> None:
    if a.out is None:
        return
    if a.out == "-":
        raise ValueError("--out needs a file name (standard output carries the report)")
    if os.path.isdir(a.out):
        raise ValueError(f"--out {a.out}: is a directory")
    if a.capture != "-" and _same_file(a.out, a.capture):
        raise ValueError(f"--out {a.out} would overwrite the capture being replayed")
    if a.scenario and _same_file(a.out, a.scenario):
        raise ValueError(f"--out {a.out} would overwrite the scenario file")


def _profile_name(p: str | Profile) -> str:
    return p.name if isinstance(p, Profile) else p


# -- replay ------------------------------------------------------------------------


def _cmd_replay(a: argparse.Namespace) -> int:
    captures = list(a.capture)
    if a.jobs < 0:
        raise ValueError(f"--jobs {a.jobs}: give 1 or more processes, or 0 for one per CPU")
    if len(captures) > 1 or a.scheduler or any(os.path.isdir(c) for c in captures):
        from kstack.corpus import run_corpus

        return run_corpus(a, sys.stdout, sys.stderr)
    a.capture = captures[0]
    return replay_capture(a, sys.stdout)[0]


def replay_capture(a: argparse.Namespace, stdout: IO[str]) -> tuple[int, dict[str, Any]]:
    """One capture, as ``kstack replay CAPTURE`` runs it, its report written
    to ``stdout``; returns the exit status and the figures of its summary
    (packets, skipped, outcomes by kind, differences under --check or
    --compare)."""
    # Everything is checked before any file is written.
    sysctls = _parse_sysctl_args(a.sysctl)
    if a.scenario and a.host:
        raise ValueError("--host and --scenario cannot be used together")
    if a.compare and a.check:
        raise ValueError("--compare and --check cannot be used together")
    if a.compare and a.out:
        raise ValueError("--out cannot be used with --compare (replay each profile on its own)")
    if a.drain is not None and not (math.isfinite(a.drain) and 0 <= a.drain <= 10**7):
        raise ValueError(f"--drain {a.drain}: give a number of seconds from 0 to 10000000")
    ignore = expand_fields(x for item in a.ignore for x in item.split(",") if x)
    profile = get_profile(a.profile) if a.profile is not None else None
    other = get_profile(a.compare) if a.compare else None
    scenario = parse_scenario(a.scenario) if a.scenario else None
    if scenario is not None:
        _scenario_profile(scenario)  # a bad profile in the file fails now
    _check_out(a)
    source = CaptureSource(a.capture)
    rep = _Report(stdout, json_mode=a.json, quiet=a.quiet)
    try:
        if other is not None:
            rc = _run_compare(a, source, scenario, sysctls, profile, other, ignore, rep)
        else:
            rc = _run_replay(a, source, scenario, sysctls, profile, ignore, rep)
        return rc, rep.tally
    finally:
        source.close()


def _scenario_profile(sc: Scenario) -> Profile:
    try:
        return get_profile(sc.kernel.get("profile", "9.0"))
    except ValueError as e:
        raise ScenarioError(f"{sc.name}: [kernel]: {e}") from None


def _profile_origin(a: argparse.Namespace, scenario: Scenario | None) -> str:
    if a.profile is not None:
        return "from --profile"
    if scenario is not None and "profile" in scenario.kernel:
        return f"from {scenario.name}"
    return "the default"


def _want_progress(a: argparse.Namespace) -> bool:
    if a.no_progress or not sys.stderr.isatty():
        return False
    # Never interleave with report lines on the same terminal.
    return a.quiet or not sys.stdout.isatty()


def _open_replay(
    a: argparse.Namespace,
    source: CaptureSource,
    scenario: Scenario | None,
    sysctls: list[tuple[str, object]],
    profile: str | Profile | None,
    on_note: Any,
) -> Replay:
    try:
        return Replay(
            source,
            scenario=scenario,
            host=a.host,
            sysctls=sysctls,
            profile=profile,
            seed=a.seed,
            counters=not a.quiet,
            feed_own=a.feed_all,
            on_note=on_note,
            iface=a.iface,
        )
    except OSError as e:
        for name, value in sysctls:
            if e.filename == name:
                what = _SYSCTL_ERRORS.get(e.errno or 0, "refused")
                code = errno.errorcode.get(e.errno or 0, "")
                raise ValueError(f"--sysctl {name}={value}: {what} ({code})") from None
        raise


_SYSCTL_ERRORS = {
    errno.ENOENT: "no such sysctl",
    errno.EISDIR: "a node, not a value",
    errno.EPERM: "read-only",
    errno.EINVAL: "value refused",
}


def _records_total(r: Replay, source: CaptureSource) -> int | None:
    if r.records_total is not None:
        return r.records_total
    if not source.rereadable:
        return None
    n = 0
    with source.open() as cap:
        for _ in cap:
            n += 1
    return n


def _iter_with_progress(r: Replay, source: CaptureSource, show: bool) -> Iterator[PacketResult]:
    if not show:
        yield from r
        return
    bar = _Progress(_records_total(r, source), source.basename)
    try:
        for res in r:
            if res.index & 255 == 0:
                bar.update(res.index)
            yield res
    finally:
        bar.stop()


def _run_replay(
    a: argparse.Namespace,
    source: CaptureSource,
    scenario: Scenario | None,
    sysctls: list[tuple[str, object]],
    profile: str | Profile | None,
    ignore: set[str],
    rep: _Report,
) -> int:
    out = _OutFile(a.out) if a.out else None
    try:
        with _open_replay(a, source, scenario, sysctls, profile, rep.note) as r:
            rep.first = r.summary.first_ts_ns
            k = r.kernel
            rep.note(f"profile {k.profile.name} ({_profile_origin(a, scenario)})")
            if out is not None:
                out.interfaces(k, r.stack)
            checker: Checker | None = None
            if a.check:
                if r.first_linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
                    raise ValueError(
                        f"--check: {source.basename} is a loopback capture; on lo0 the host "
                        "both sends and receives every frame, so nothing can be compared"
                    )
                link = r.first_linktype == LINKTYPE_ETHERNET
                checker = Checker(CHECK_DONT_CARE | ignore, link=link)
                rep.check_link = link
                rep.note(
                    "check: frames the host sent are compared with kstack's "
                    f"(don't care: {', '.join(sorted(checker.dont_care))})"
                )
            show = _want_progress(a)
            for res in _iter_with_progress(r, source, show):
                checks: list[CheckItem] = []
                for t in res.timers:
                    for f in t.sent:
                        if out is not None:
                            out.add(f, f"timer before packet #{res.index}")
                        if checker is not None and f.iface == r.iface:
                            checks += checker.actual(0, f.ts_ns, f.data, f.reason)
                for f in res.sent:
                    if out is not None:
                        out.add(f, f"in reply to packet #{res.index}")
                    if checker is not None and f.iface == r.iface:
                        checks += checker.actual(res.index, f.ts_ns, f.data, f.reason)
                if checker is not None and res.own:
                    checks += checker.expected(res.index, res.ts_ns, res.frame)
                rep.packet(res, checks)
            for f in r.end():
                _tail_frame(f, "after the last packet", out, checker, rep, iface=r.iface)
            for t in r.drain(a.drain) if a.drain else []:
                rep.timer(t, None)
                for f in t.sent:
                    _tail_frame(f, "while draining", out, checker, rep, line=False, iface=r.iface)
            summary = r.finish()
            if checker is not None:
                for c in checker.finish():
                    rep.check(c)
        if out is not None:
            out.commit()
            out_done = out
            out = None
        else:
            out_done = None
    finally:
        if out is not None:
            out.abort()
    _print_summary(a, rep, summary, out_done, checker)
    if a.netstat:
        _print_netstat(a, rep, summary.kernel)
    return 1 if checker is not None and checker.failed else 0


def _tail_frame(
    f: SentFrame,
    why: str,
    out: _OutFile | None,
    checker: Checker | None,
    rep: _Report,
    *,
    line: bool = True,
    iface: str = "em0",
) -> None:
    if out is not None:
        out.add(f, why)
    if line and not rep.quiet and not rep.json:
        rep.line(f"  {f.iface} < {_frame_decode(f)} [{f.reason}] ({why})")
    if checker is not None and f.iface == iface:
        for c in checker.actual(0, f.ts_ns, f.data, f.reason):
            rep.check(c)


def _run_compare(
    a: argparse.Namespace,
    source: CaptureSource,
    scenario: Scenario | None,
    sysctls: list[tuple[str, object]],
    profile: Profile | None,
    other: Profile,
    ignore: set[str],
    rep: _Report,
) -> int:
    source.spool()
    if profile is not None:
        pa = profile
    elif scenario is not None:
        pa = _scenario_profile(scenario)
    else:
        pa = get_profile("9.0")
    ra = _open_replay(a, source, scenario, sysctls, pa, rep.note)
    try:
        rb = _open_replay(a, source, scenario, sysctls, other, None)
    except BaseException:
        ra.close()
        raise
    cmp = Comparison(pa.name, other.name, CHECK_DONT_CARE | ignore)
    rep.first = ra.summary.first_ts_ns
    origin = _profile_origin(a, scenario)
    rep.note(f"compare: A is profile {pa.name} ({origin}), B is profile {other.name}")
    try:
        show = _want_progress(a)
        for res_a, res_b in zip(_iter_with_progress(ra, source, show), rb, strict=True):
            d = cmp.packet(res_a, res_b)
            if d is not None:
                rep.diff(d, cmp)
        ra.end()
        rb.end()
        da = ra.drain(a.drain) if a.drain else []
        db = rb.drain(a.drain) if a.drain else []
        sa = ra.finish()
        sb = rb.finish()
        d = cmp.tail(sa.tail, sb.tail, da, db, sa.kernel.clock.wall_ns)
        if d is not None:
            rep.diff(d, cmp)
    finally:
        ra.close()
        rb.close()
    rep.tally = _tally(sa, cmp.differ)
    if a.json:
        obj = summary_dict(sa)
        obj["compare"] = cmp.as_dict()
        obj["b"] = summary_dict(sb)
        rep.emit(obj)
    else:
        rep.line(
            f"compare: {cmp.records} records; {cmp.differ} differ between "
            f"A ({pa.name}) and B ({other.name})"
        )
        for change, n in sorted(cmp.outcome_changes.items(), key=lambda x: (-x[1], x[0])):
            rep.line(f"  {n:6d} {change}")
        if cmp.frame_differences:
            rep.line(f"  {cmp.frame_differences} sent frame(s) differ")
        for side, s in (("A", sa), ("B", sb)):
            kinds = ", ".join(f"{k} {s.kinds.get(k, 0)}" for k in KINDS)
            rep.line(f"  {side}: {kinds}; skipped {s.skipped}; frames sent {s.frames_sent}")
    if a.netstat:
        _print_netstat(a, rep, sa.kernel)
    return 1 if cmp.differ else 0


def _tally(s: Summary, differences: int | None) -> dict[str, Any]:
    return {
        "packets": s.frames_read,
        "skipped": s.skipped,
        "outcomes": {k: s.kinds.get(k, 0) for k in KINDS},
        "differences": differences,
    }


def _print_summary(
    a: argparse.Namespace,
    rep: _Report,
    s: Summary,
    out: _OutFile | None,
    checker: Checker | None,
) -> None:
    rep.tally = _tally(
        s, None if checker is None else sum(n for st, n in checker.counts.items() if st != "match")
    )
    if a.json:
        d = summary_dict(s)
        if out is not None:
            d["out"] = a.out
            d["out_frames"] = out.count
        if checker is not None:
            d["check"] = dict(checker.counts)
        rep.emit(d)
        return
    line = rep.line
    own = f", {s.own} of them sent by the host" if s.own else ""
    line(f"summary: {s.frames_read} frames read from {os.path.basename(s.path)}{own}")
    for kind, n in sorted(s.kinds.items()):
        line(f"  {kind}: {n}")
    if s.skipped:
        line(f"  skipped: {s.skipped}")
        for why, n in sorted(s.skip_reasons.items()):
            line(f"    {n} {why}")
    line("reasons:")
    for why, n in sorted(s.reasons.items(), key=lambda x: (-x[1], x[0])):
        line(f"  {n:6d} {why}")
    line(f"frames sent: {s.frames_sent}")
    line("counters moved:")
    if not s.counters:
        line("  (none)")
    for block, d in s.counters.items():
        for key, v in d.items():
            line(f"  {block}.{key}: {'+' if v > 0 else ''}{v}")
    if s.pending:
        line("pending at the end (use --drain SECONDS to run the timers on):")
        for p in s.pending:
            line(f"  {p}")
    if checker is not None:
        c = checker.counts
        line(
            f"check: {c['match']} match, {c['differ']} differ, {c['missing']} missing, "
            f"{c['extra']} extra"
        )
    if out is not None:
        line(f"wrote {out.count} frames to {a.out}")


def _print_netstat(a: argparse.Namespace, rep: _Report, k: Kernel) -> None:
    if a.json:
        rep.emit({"type": "netstat", "counters": k.netstat()})
        return
    text = format_netstat_s(
        k.netstat(), zeros=True, icmp_maskrepl=int(k.sysctl("net.inet.icmp.maskrepl"))
    )
    rep.out.write(text)


# -- netstat / sysctl / profiles -------------------------------------------------------


def _kernel(a: argparse.Namespace) -> Kernel:
    if getattr(a, "scenario", None):
        return parse_scenario(a.scenario).build()
    return Kernel()


def _cmd_netstat(a: argparse.Namespace) -> int:
    k = _kernel(a)
    if (a.all or a.x) and not a.s:
        # The socket table (netstat [-a] [-x] -n -f inet), from the pcb lists.
        lists = {m: k.sysctl(f"net.inet.{m}.pcblist") for m in ("udp", "raw")}
        sys.stdout.write(
            format_netstat_a(
                {m: v for m, v in lists.items() if isinstance(v, bytes)},
                big_endian=k.big_endian,
                all_sockets=a.all,
                extended=a.x,
            )
        )
        return 0
    protos = [a.proto] if a.proto else None
    stats = k.netstat()
    stats["arp"] = k.netstat("arp")
    text = format_netstat_s(
        stats,
        protos,
        zeros=a.s < 2,
        icmp_maskrepl=int(k.sysctl("net.inet.icmp.maskrepl")),
    )
    sys.stdout.write(text)
    return 0


def _cmd_sysctl(a: argparse.Namespace) -> int:
    k = _kernel(a)
    tree = k.sysctl_tree
    lines: list[str] = []
    names = list(a.names)
    if a.all and not names:
        names = [""]
    if not names:
        raise ValueError("sysctl: give a NAME or -a")
    for item in names:
        name, eq, value = item.partition("=")
        try:
            # Opaque leaves (the pcb lists) print nothing, as sysctl(8)
            # without -o/-x leaves out a structure it has no printer for.
            if eq:
                old = k.sysctl(name, value)
                lines.append(f"{name}: {old!s} -> {k.sysctl(name)!s}")
            elif name in tree.oids:
                v = k.sysctl(name)
                if not isinstance(v, bytes):
                    lines.append(f"{name}: {v}")
            else:
                for oid in tree.walk(name):
                    v = k.sysctl(oid.name)
                    if not isinstance(v, bytes):
                        lines.append(f"{oid.name}: {v}")
        except OSError as e:
            what = _SYSCTL_ERRORS.get(e.errno or 0, "refused")
            code = errno.errorcode.get(e.errno or 0, "")
            raise ValueError(f"sysctl {item}: {what} ({code})") from None
    sys.stdout.write("".join(s + "\n" for s in lines))
    return 0


def _cmd_profiles(a: argparse.Namespace) -> int:
    out = sys.stdout
    for name, p in PROFILES.items():
        out.write(f"{name:12s} {p.description}\n")
        if a.switches:
            for sw in switch_names():
                out.write(f"    {sw} = {_switch_value(getattr(p, sw))}\n")
    if a.switches:
        out.write("\nswitches (derive a profile with --profile BASE,SWITCH=VALUE[,...]):\n")
        for sw in switch_names():
            out.write(f"  {sw}: {SWITCHES.get(sw, '')}\n")
    return 0


def _cmd_changes(a: argparse.Namespace) -> int:
    from kstack.changes import command

    rc, text = command(a.query, json_mode=a.json)
    sys.stdout.write(text)
    return rc


def _switch_value(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


# -- argument parsing ------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's convention)
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="kstack",
        description="An emulated FreeBSD 9.0 IPv4 stack: replay captures, read its "
        "counters and sysctls.",
    )
    p.add_argument("--version", action="version", version=f"kstack {kstack.__version__}")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser, metavar="COMMAND")
    r = sub.add_parser(
        "replay",
        help="replay a capture into an emulated host",
        description="Feed every record of a pcap/pcapng capture, at its timestamp, into an "
        "emulated FreeBSD host and report, per record, what the stack did.",
        epilog=_EPILOG_REPLAY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "capture",
        metavar="CAPTURE",
        nargs="+",
        help="pcap or pcapng file (gzip-compressed too), or - for standard input; "
        "several files or a directory replay a corpus, one host per capture",
    )
    r.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        metavar="N",
        help="corpus: replay N captures at a time, one process each (0: one per CPU; default 1)",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="corpus: run each capture as a task on this Dask scheduler (tcp://HOST:8786)",
    )
    r.add_argument(
        "--scenario",
        metavar="FILE",
        help="TOML file describing the host (interfaces, routes, ARP, sysctls, "
        "sockets); without it a host is derived from the capture",
    )
    r.add_argument(
        "--profile",
        metavar="PROFILE",
        help="FreeBSD version to emulate (kstack profiles); a derived one as "
        "BASE,SWITCH=VALUE; default: the scenario's, else 9.0",
    )
    r.add_argument(
        "--seed", type=int, metavar="N", help="random seed (default: the scenario's, else 0)"
    )
    r.add_argument(
        "--sysctl",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a sysctl after the host is configured (repeatable; beats the scenario's)",
    )
    r.add_argument(
        "--host",
        metavar="ADDR[/LEN]",
        help="the default host's address (instead of the one chosen from the capture)",
    )
    r.add_argument(
        "--iface",
        metavar="[JAIL:]IFNAME",
        default="em0",
        help="the interface the capture arrives on: one of the host's, or JAIL:IFNAME "
        "of a vnet jail the scenario makes (default em0)",
    )
    r.add_argument(
        "--out",
        metavar="OUT.pcapng",
        help="write every frame the host sent to a pcapng file (replaced only on success)",
    )
    r.add_argument("--json", action="store_true", help="JSON Lines on stdout, one object per line")
    r.add_argument(
        "--quiet", "-q", action="store_true", help="print only the summary (and differences)"
    )
    r.add_argument("--netstat", action="store_true", help="print netstat -s after the replay")
    r.add_argument(
        "--check",
        action="store_true",
        help="compare what the host sent in the capture with what kstack sends; exit 1 "
        "on any difference",
    )
    r.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="FIELD",
        help="another don't-care field for --check/--compare (repeatable, comma "
        "lists and patterns such as 'icmp.*'; see --list-fields)",
    )
    r.add_argument(
        "--compare",
        metavar="PROFILE",
        help="replay under --profile (or the scenario's) and under PROFILE, and report "
        "where outcomes or sent frames differ; exit 1 if any",
    )
    r.add_argument(
        "--drain",
        type=float,
        metavar="SECONDS",
        help="after the last record, run the clock on and report what timers do",
    )
    r.add_argument(
        "--feed-all",
        action="store_true",
        help="feed also the frames the host itself sent (by default they are skipped)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
    r.add_argument(
        "--list-fields",
        action=_ListFields,
        nargs=0,
        help="list the field names --ignore takes, and exit",
    )
    r.set_defaults(fn=_cmd_replay)
    n = sub.add_parser(
        "netstat",
        help="netstat -s or -a of a fresh or scenario-configured host",
        description="Print the protocol counters (-s) or the UDP and raw IP socket "
        "table (-a: every socket, -x: with the socket buffer counters) of a freshly "
        "booted host or one configured by a scenario, as FreeBSD 9 netstat -n -f inet "
        "does.",
    )
    n.add_argument("--scenario", metavar="FILE", help="configure the host from this TOML file")
    n.add_argument(
        "-s", action="count", default=0, help="statistics (-s -s: leave out zero counters)"
    )
    n.add_argument(
        "-p",
        dest="proto",
        choices=["ip", "icmp", "udp", "igmp", "arp"],
        help="only this protocol's counters",
    )
    n.add_argument(
        "-a",
        dest="all",
        action="store_true",
        help="the socket table, every socket (those bound to no address too)",
    )
    n.add_argument(
        "-x", action="store_true", help="the socket table with the socket buffer counters"
    )
    n.set_defaults(fn=_cmd_netstat)
    s = sub.add_parser(
        "sysctl",
        help="read or set sysctls (sysctl(8)-like)",
        description="Read sysctls of a freshly booted host (or one configured by a "
        "scenario), or set them and show old -> new.",
    )
    s.add_argument("-a", dest="all", action="store_true", help="list every sysctl")
    s.add_argument(
        "names",
        nargs="*",
        metavar="NAME[=VALUE]",
        help="a sysctl or a subtree to read, or NAME=VALUE to set",
    )
    s.add_argument("--scenario", metavar="FILE", help="configure the host from this TOML file")
    s.set_defaults(fn=_cmd_sysctl)
    pr = sub.add_parser(
        "profiles",
        help="list the FreeBSD version profiles",
        description="List the named FreeBSD versions kstack emulates.",
    )
    pr.add_argument(
        "--switches", "-v", action="store_true", help="also show each profile's behaviour switches"
    )
    pr.set_defaults(fn=_cmd_profiles)
    ch = sub.add_parser(
        "changes",
        help="list the FreeBSD changes each profile switch reproduces",
        description="List every behaviour switch with its catalog id, PR, revision, "
        "before/after, the named profiles on each side and its regression test; or "
        "show one (by PR, catalog id or switch name).",
    )
    ch.add_argument(
        "query",
        nargs="?",
        metavar="PR|ID|SWITCH",
        help="e.g. kern/122338, 122338, 002:631 or needfrag_route_mtu",
    )
    ch.add_argument("--json", action="store_true", help="JSON Lines, one object per switch")
    ch.set_defaults(fn=_cmd_changes)
    return p


class _ListFields(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        for name, what in FIELD_NAMES.items():
            mark = " (don't care by default)" if name in CHECK_DONT_CARE else ""
            sys.stdout.write(f"{name:18s} {what}{mark}\n")
        parser.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    p = _parser()
    if not args:
        print(
            "usage: kstack [--version] COMMAND ... (replay, netstat, sysctl, profiles); "
            "kstack COMMAND --help for more",
            file=sys.stderr,
        )
        return 2
    try:
        a = p.parse_args(args)
    except _UsageError as e:
        return _fail(e)
    if a.cmd is None:
        return _fail("give a command: replay, netstat, sysctl or profiles (kstack --help)")
    try:
        rc: int = a.fn(a)
        return rc
    except (PcapError, ReplayError, ScenarioError, ValueError) as e:
        return _fail(e)
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except OSError as e:
        return _fail(_oserror(e))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
