"""The ``kstack`` command: replay, netstat, sysctl, profiles.

Every expected failure (bad capture, bad scenario, unknown sysctl...) is
one line on stderr, ``kstack: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import struct
import sys
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

import kstack
from kstack.kern.clock import NS
from kstack.kern.kernel import Kernel
from kstack.netstat import format_netstat_s
from kstack.outcome import Outcome
from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapError, PcapngWriter
from kstack.replay import (
    PacketResult,
    ReplayError,
    SentFrame,
    Summary,
    link_name,
    replay,
    summary_dict,
)
from kstack.scenario import ScenarioError, parse_scenario

__all__ = ["main", "decode"]

_ICMP_NAMES = {
    0: "echo reply",
    3: "unreach",
    4: "source quench",
    5: "redirect",
    8: "echo request",
    11: "time exceeded",
    12: "param problem",
    13: "timestamp",
    14: "timestamp reply",
    17: "mask request",
    18: "mask reply",
}
_PROTO_NAMES = {1: "ICMP", 2: "IGMP", 6: "TCP", 17: "UDP", 46: "RSVP", 47: "GRE", 50: "ESP"}
_HH = struct.Struct("!HH")


def _ip4(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def decode_ip(ip: bytes) -> str:
    """A tcpdump-like one-line summary of an IPv4 packet (hand decoded)."""
    if len(ip) < 20:
        return f"IP truncated ({len(ip)} bytes)"
    if ip[0] >> 4 != 4:
        return f"IP version {ip[0] >> 4}"
    hl = (ip[0] & 15) * 4
    src, dst = _ip4(ip[12:16]), _ip4(ip[16:20])
    tlen, ident = _HH.unpack_from(ip, 2)
    off = _HH.unpack_from(ip, 6)[0]
    proto, ttl = ip[9], ip[8]
    s = f"{src} > {dst} "
    frag = off & 0x1FFF
    flags = []
    if off & 0x2000:
        flags.append("MF")
    if off & 0x4000:
        flags.append("DF")
    tail = ""
    if frag or off & 0x2000:
        tail = f" frag id={ident} off={frag * 8}{'+' if off & 0x2000 else ''}"
    elif off & 0x4000:
        tail = " DF"
    if ttl <= 1:
        tail += f" ttl={ttl}"
    p = ip[hl:] if hl >= 20 else b""
    name = _PROTO_NAMES.get(proto, f"proto {proto}")
    if frag:
        return f"{s}{name}{tail}"
    if proto == 1 and len(p) >= 2:
        t, c = p[0], p[1]
        what = _ICMP_NAMES.get(t, f"type {t}")
        body = f"ICMP {what}" + (f" code {c}" if c or t in (3, 5, 11, 12) else "")
        if t in (0, 8) and len(p) >= 8:
            ident, seq = _HH.unpack_from(p, 4)
            body += f" id {ident} seq {seq}"
        return f"{s}{body}, length {tlen}{tail}"
    if proto == 17 and len(p) >= 4:
        sp, dp = _HH.unpack_from(p, 0)
        return f"{src}.{sp} > {dst}.{dp} UDP, length {tlen}{tail}"
    if proto == 6 and len(p) >= 4:
        sp, dp = _HH.unpack_from(p, 0)
        return f"{src}.{sp} > {dst}.{dp} TCP, length {tlen}{tail}"
    return f"{s}{name}, length {tlen}{tail}"


def decode(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """One-line summary of an Ethernet frame (or a raw IPv4 packet)."""
    if linktype != LINKTYPE_ETHERNET:
        if linktype == LINKTYPE_RAW:
            return decode_ip(frame)
        return f"{link_name(linktype)} frame, {len(frame)} bytes"
    if len(frame) < 14:
        return f"runt frame ({len(frame)} bytes)"
    et = _HH.unpack_from(frame, 12)[0]
    if et == 0x0800:
        return decode_ip(frame[14:])
    if et == 0x0806 and len(frame) >= 42:
        op = _HH.unpack_from(frame, 20)[0]
        spa, tpa = _ip4(frame[28:32]), _ip4(frame[38:42])
        if op == 1:
            return f"ARP who-has {tpa} tell {spa}"
        if op == 2:
            return f"ARP reply {spa} is-at {':'.join(f'{x:02x}' for x in frame[22:28])}"
        return f"ARP op {op}"
    if et == 0x86DD:
        return "IPv6"
    return f"ethertype 0x{et:04x}, {len(frame)} bytes"


def _outcome_dict(o: Outcome | None) -> dict[str, str] | None:
    if o is None:
        return None
    return {"kind": o.kind, "reason": o.reason, "to": o.to, "detail": o.detail}


def _sent_dict(f: SentFrame) -> dict[str, Any]:
    return {"iface": f.iface, "reason": f.reason, "len": len(f.data), "decode": decode(f.data)}


class _Writer:
    """pcapng output of every frame the stack sent."""

    def __init__(self, fh: BinaryIO, k: Kernel) -> None:
        self.w = PcapngWriter(fh, shb_comment="frames sent by kstack replay")
        self.k = k
        self.ids: dict[str, int] = {}
        self.count = 0

    def add(self, f: SentFrame, why: str) -> None:
        ifid = self.ids.get(f.iface)
        if ifid is None:
            ifp = self.k.iface(f.iface)
            lt = LINKTYPE_ETHERNET if ifp.lladdr else LINKTYPE_RAW
            ifid = self.w.add_interface(lt, f.iface)
            self.ids[f.iface] = ifid
        self.w.write(ifid, max(0, f.ts_ns), f.data, comment=f"{f.reason}; {why}")
        self.count += 1


def _ts(ts_ns: int, first: int) -> str:
    return f"{(ts_ns - first) / NS:.6f}"


def _fail(msg: object) -> int:
    text = " ".join(str(msg).split())
    print(f"kstack: error: {text}", file=sys.stderr)
    return 2


def _parse_sysctl_args(items: Sequence[str]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for s in items:
        name, eq, value = s.partition("=")
        if not eq or not name:
            raise ValueError(f"--sysctl {s!r}: expected NAME=VALUE")
        out.append((name, value))
    return out


def _oserror(e: OSError) -> str:
    code = errno.errorcode.get(e.errno or 0, "")
    msg = e.strerror or str(e)
    return f"{msg} ({code})" if code and code not in msg else msg


# -- replay ------------------------------------------------------------------------


def _cmd_replay(a: argparse.Namespace) -> int:
    out = sys.stdout
    sysctls = _parse_sysctl_args(a.sysctl)
    scenario = parse_scenario(a.scenario) if a.scenario else None
    if scenario is not None and a.host:
        raise ValueError("--host and --scenario cannot be used together")
    state: dict[str, Any] = {"first": None, "writer": None}
    out_fh: BinaryIO | None = None
    progress: Any = None
    task: Any = None
    if not a.quiet and not a.json and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn

        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description} {task.completed} records"),
            console=Console(file=sys.stderr),
            transient=True,
        )
        task = progress.add_task("replaying", total=None)

    def on_note(s: str) -> None:
        if a.json:
            out.write(json.dumps({"type": "note", "text": s}) + "\n")
        elif not a.quiet:
            out.write(f"# {s}\n")

    def on_event(r: PacketResult) -> None:
        if state["first"] is None:
            state["first"] = r.ts_ns
        w: _Writer | None = state["writer"]
        if w is not None:
            for f in r.before:
                w.add(f, f"timer before packet #{r.index}")
            for f in r.sent:
                w.add(f, f"in reply to packet #{r.index}")
        if progress is not None and r.index % 256 == 0:
            progress.update(task, completed=r.index)
        if a.quiet:
            return
        if a.json:
            obj = {
                "type": "packet",
                "index": r.index,
                "ts_ns": r.ts_ns,
                "linktype": r.linktype,
                "decode": decode(r.frame) if r.skipped is None else None,
                "outcome": _outcome_dict(r.outcome),
                "skipped": r.skipped,
                "before": [_sent_dict(f) for f in r.before],
                "sent": [_sent_dict(f) for f in r.sent],
                "events": [
                    {
                        "ts_ns": e.ts,
                        "what": e.what,
                        "iface": e.ifname,
                        "outcome": _outcome_dict(e.outcome),
                    }
                    for e in r.events
                ],
                "counters": r.counters or {},
            }
            out.write(json.dumps(obj) + "\n")
            return
        lines = []
        for e in r.events:
            lines.append(f"    event: {e.what}" + (f": {e.outcome}" if e.outcome else ""))
        for f in r.before:
            lines.append(f"    {f.iface} < sent by timer: {decode(f.data)} [{f.reason}]")
        t = _ts(r.ts_ns, state["first"])
        if r.skipped is not None:
            head = f"#{r.index} {t} skipped: {r.skipped}"
        else:
            head = f"#{r.index} {t} {decode(r.frame)}: {r.outcome}"
        for f in r.sent:
            lines.append(f"    {f.iface} < {decode(f.data)} [{f.reason}]")
        if r.counters:
            parts = [
                f"{k}+{v}" if v > 0 else f"{k}{v}"
                for b in r.counters.values()
                for k, v in b.items()
            ]
            lines.append("    counters: " + " ".join(parts))
        out.write(head + "\n" + "".join(s + "\n" for s in lines))

    try:
        if a.out:
            try:
                out_fh = open(a.out, "wb")  # noqa: SIM115 - closed below
            except OSError as e:
                raise OSError(e.errno, f"{a.out}: {e.strerror}") from None
        if progress is not None:
            progress.start()
        summary = _run_replay(a, scenario, sysctls, on_event, on_note, state, out_fh)
    finally:
        if progress is not None:
            progress.stop()
        if out_fh is not None:
            out_fh.close()
    _print_summary(a, summary, state)
    if a.netstat:
        k = summary.kernel
        text = format_netstat_s(
            k.netstat(), zeros=True, icmp_maskrepl=int(k.sysctl("net.inet.icmp.maskrepl"))
        )
        out.write(text)
    return 0


def _run_replay(
    a: argparse.Namespace,
    scenario: Any,
    sysctls: list[tuple[str, object]],
    on_event: Callable[[PacketResult], None],
    on_note: Callable[[str], None],
    state: dict[str, Any],
    out_fh: BinaryIO | None,
) -> Summary:
    def on_kernel(k: Kernel) -> None:
        if out_fh is not None:
            state["writer"] = _Writer(out_fh, k)

    summary = replay(
        a.capture,
        scenario=scenario,
        host=a.host,
        sysctls=sysctls,
        profile=a.profile,
        on_event=on_event,
        on_note=on_note,
        on_kernel=on_kernel,
        counters=not a.quiet,
    )
    w: _Writer | None = state["writer"]
    if w is not None:
        for f in summary.tail:
            w.add(f, "after the last packet")
    return summary


def _print_summary(a: argparse.Namespace, s: Summary, state: dict[str, Any]) -> None:
    out = sys.stdout
    if a.json:
        d = summary_dict(s)
        if a.out:
            d["out"] = a.out
        out.write(json.dumps(d) + "\n")
        return
    out.write(f"summary: {s.frames_read} frames read from {os.path.basename(s.path)}\n")
    for kind, n in sorted(s.kinds.items()):
        out.write(f"  {kind}: {n}\n")
    if s.skipped:
        out.write(f"  skipped: {s.skipped}\n")
        for why, n in sorted(s.skip_reasons.items()):
            out.write(f"    {n} {why}\n")
    out.write("reasons:\n")
    for why, n in sorted(s.reasons.items(), key=lambda x: (-x[1], x[0])):
        out.write(f"  {n:6d} {why}\n")
    out.write(f"frames sent: {s.frames_sent}\n")
    out.write("counters moved:\n")
    if not s.counters:
        out.write("  (none)\n")
    for block, d in s.counters.items():
        for key, v in d.items():
            out.write(f"  {block}.{key}: {'+' if v > 0 else ''}{v}\n")
    w: _Writer | None = state.get("writer")
    if a.out and w is not None:
        out.write(f"wrote {w.count} frames to {a.out}\n")


# -- netstat / sysctl / profiles -------------------------------------------------------


def _kernel(a: argparse.Namespace) -> Kernel:
    if getattr(a, "scenario", None):
        return parse_scenario(a.scenario).build()
    return Kernel()


def _cmd_netstat(a: argparse.Namespace) -> int:
    k = _kernel(a)
    protos = [a.proto] if a.proto else None
    text = format_netstat_s(
        k.netstat(),
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
    for item in names:
        name, eq, value = item.partition("=")
        if eq:
            old = k.sysctl(name, value)
            lines.append(f"{name}: {old} -> {k.sysctl(name)}")
            continue
        if name in tree.oids:
            lines.append(f"{name}: {k.sysctl(name)}")
            continue
        found = False
        for oid in tree.walk(name):
            found = True
            lines.append(f"{oid.name}: {k.sysctl(oid.name)}")
        if not found:
            raise OSError(errno.ENOENT, f"unknown oid '{name}'")
    if not names:
        raise ValueError("sysctl: give a NAME or -a")
    sys.stdout.write("".join(s + "\n" for s in lines))
    return 0


def _cmd_profiles(a: argparse.Namespace) -> int:
    for name, p in kstack.PROFILES.items():
        sys.stdout.write(f"{name:12s} {p.description}\n")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2 (argparse's convention)
        raise _UsageError(f"{self.prog}: {message}")


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kstack", description="An emulated FreeBSD 9.0 IPv4 stack.")
    p.add_argument("--version", action="version", version=f"kstack {kstack.__version__}")
    sub = p.add_subparsers(dest="cmd", parser_class=_Parser)
    r = sub.add_parser("replay", help="replay a capture into an emulated host")
    r.add_argument("capture")
    r.add_argument("--scenario", metavar="FILE")
    r.add_argument("--profile", default="9.0")
    r.add_argument("--sysctl", action="append", default=[], metavar="NAME=VALUE")
    r.add_argument("--host", metavar="ADDR/LEN")
    r.add_argument("--out", metavar="OUT.pcapng")
    r.add_argument("--json", action="store_true")
    r.add_argument("--quiet", "-q", action="store_true")
    r.add_argument("--netstat", action="store_true", help="print netstat -s after the replay")
    r.set_defaults(fn=_cmd_replay)
    n = sub.add_parser("netstat", help="netstat -s of a fresh or scenario-configured host")
    n.add_argument("--scenario", metavar="FILE")
    n.add_argument("-s", action="count", default=0, help="-s -s: leave out zero counters")
    n.add_argument("-p", dest="proto", choices=["ip", "icmp", "udp", "igmp"])
    n.set_defaults(fn=_cmd_netstat)
    s = sub.add_parser("sysctl", help="read or set sysctls (sysctl(8)-like)")
    s.add_argument("-a", dest="all", action="store_true")
    s.add_argument("names", nargs="*", metavar="NAME[=VALUE]")
    s.add_argument("--scenario", metavar="FILE")
    s.set_defaults(fn=_cmd_sysctl)
    pr = sub.add_parser("profiles", help="list the FreeBSD version profiles")
    pr.set_defaults(fn=_cmd_profiles)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = _parser()
    try:
        a = p.parse_args(argv)
    except _UsageError as e:
        return _fail(e)
    if a.cmd is None:
        p.print_help()
        return 2
    try:
        rc: int = a.fn(a)
        return rc
    except (PcapError, ReplayError, ScenarioError, ValueError) as e:
        return _fail(e)
    except BrokenPipeError:
        return 0
    except OSError as e:
        return _fail(_oserror(e))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
