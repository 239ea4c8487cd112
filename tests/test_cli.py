"""The kstack command, called in-process through main([...]) and, where the
process matters (stdin, python -m, a terminal), as a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from kstack.cli import _parser, main
from kstack.pcapio import open_capture, write_pcap, write_pcapng

ROOT = Path(__file__).resolve().parents[1]
MIXED = str(ROOT / "pcaps" / "replay" / "mixed.pcap")
TOML = str(ROOT / "pcaps" / "replay" / "mixed.toml")
ECHO = str(ROOT / "pcaps" / "replay" / "echo.pcapng")
CHECK = str(ROOT / "pcaps" / "check" / "freebsd-host.pcap")
HOST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kstack: error: "), err
    return lines[0]


def test_replay_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MIXED, "--scenario", TOML]) == 0
    out = capsys.readouterr().out
    assert "summary: 40 frames read from mixed.pcap" in out
    assert "#7 " in out and "udps_noport" in out
    assert "ip.ips_total: +38" in out


def test_replay_quiet_and_netstat(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MIXED, "--scenario", TOML, "--quiet", "--netstat"]) == 0
    out = capsys.readouterr().out
    assert "#1 " not in out
    assert "summary:" in out and "ip:" in out


def test_replay_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MIXED, "--scenario", TOML, "--json"]) == 0
    objs = _json_lines(capsys.readouterr().out)
    packets = [o for o in objs if o["type"] == "packet"]
    assert len(packets) == 40
    assert packets[1]["outcome"]["kind"] == "answered"
    assert packets[1]["counters"]["icmp"]["icps_reflect"] == 1
    assert objs[-1]["type"] == "summary" and objs[-1]["frames_read"] == 40


def test_replay_default_host_json_notes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", ECHO, "--json"]) == 0
    objs = _json_lines(capsys.readouterr().out)
    assert objs[0]["type"] == "note" and objs[0]["text"].startswith("host: 10.0.0.1/24")
    assert objs[1]["text"].startswith("em0 ether 02:00:00:00:00:02, kstack's default")
    assert objs[-1]["skipped"] == 1


def test_replay_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sent.pcapng"
    assert main(["replay", MIXED, "--scenario", TOML, "--out", str(out), "--quiet"]) == 0
    with open_capture(out) as cap:
        recs = list(cap)
    assert len(recs) == 31
    assert recs[0].comment == "arp reply 192.0.2.1 is-at 00:00:5e:00:53:01; in reply to packet #1"
    assert all(r.comment and "in reply to packet #" in r.comment for r in recs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kstack-out-")]


def test_sysctl_and_netstat_and_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sysctl", "net.inet.ip.forwarding"]) == 0
    assert capsys.readouterr().out == "net.inet.ip.forwarding: 0\n"
    assert main(["sysctl", "net.inet.ip.forwarding=1"]) == 0
    assert capsys.readouterr().out == "net.inet.ip.forwarding: 0 -> 1\n"
    assert main(["sysctl", "-a"]) == 0
    assert "net.inet.ip.ttl: 64" in capsys.readouterr().out
    assert main(["sysctl", "net.inet.icmp"]) == 0
    assert "net.inet.icmp.icmplim: 200" in capsys.readouterr().out
    assert main(["netstat", "-s", "-p", "ip"]) == 0
    assert "total packets received" in capsys.readouterr().out
    assert main(["netstat", "--scenario", TOML]) == 0
    assert main(["profiles"]) == 0
    assert "9.0" in capsys.readouterr().out
    assert main(["profiles", "--switches"]) == 0
    out = capsys.readouterr().out
    assert "    sorflush_clears_state = 0" in out
    assert "  raw_ip_header: what raw sockets see" in out
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


# -- the command itself ----------------------------------------------------------


def test_no_arguments_prints_usage_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    got = capsys.readouterr()
    assert got.out == ""
    assert got.err.startswith("usage: kstack ") and got.err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [["--bogus"], ["replay", MIXED, "--bogus"], ["replay", MIXED, "--drain", "x"], ["frobnicate"]],
)
def test_bad_options_one_error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "kstack: kstack" not in line


def _all_actions(p: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [(f"{name} {n}", a) for n, a in _all_actions(sub)]
        else:
            out.append((p.prog, action))
    return out


def test_every_option_has_help() -> None:
    missing = [
        f"{where}: {action.option_strings or action.dest}"
        for where, action in _all_actions(_parser())
        if not action.help
    ]
    assert missing == []


def test_python_dash_m_is_the_same_program() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run(
        [sys.executable, "-m", "kstack", "replay", MIXED, "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "summary: 40 frames read from mixed.pcap" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "kstack"], capture_output=True, text=True, env=env, timeout=120
    )
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.startswith("usage: kstack")


# -- precedence ------------------------------------------------------------------


def test_scenario_profile_applies_without_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Precedence: --profile > the scenario's [kernel] profile > 9.0."""
    sc = tmp_path / "s.toml"
    sc.write_text(Path(TOML).read_text().replace('profile = "9.0"', 'profile = "11.0"'))
    assert main(["replay", MIXED, "--scenario", str(sc), "--json", "-q"]) == 0
    notes = [o["text"] for o in _json_lines(capsys.readouterr().out) if o["type"] == "note"]
    assert "profile 11.0 (from s.toml)" in notes
    assert main(["replay", MIXED, "--scenario", str(sc), "--profile", "10.0", "--json", "-q"]) == 0
    notes = [o["text"] for o in _json_lines(capsys.readouterr().out) if o["type"] == "note"]
    assert "profile 10.0 (from --profile)" in notes
    assert main(["replay", MIXED, "--json", "-q"]) == 0
    notes = [o["text"] for o in _json_lines(capsys.readouterr().out) if o["type"] == "note"]
    assert "profile 9.0 (the default)" in notes


def test_scenario_profile_applies_in_python(tmp_path: Path) -> None:
    from kstack.replay import replay

    sc = tmp_path / "s.toml"
    sc.write_text('[kernel]\nprofile = "11.0"\nseed = 5\n[[interface]]\nname = "em0"\n')
    s = replay(MIXED, scenario=sc)
    assert (s.kernel.profile.name, s.kernel.seed) == ("11.0", 5)
    s = replay(MIXED, scenario=sc, profile="9.3", seed=7)
    assert (s.kernel.profile.name, s.kernel.seed) == ("9.3", 7)


def test_derived_profile_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", MIXED, "--profile", "9.0,sorflush_clears_state=1", "--json", "-q"]
    assert main(argv) == 0
    notes = [o["text"] for o in _json_lines(capsys.readouterr().out) if o["type"] == "note"]
    assert "profile 9.0,sorflush_clears_state=1 (from --profile)" in notes
    assert main(["replay", MIXED, "--profile", "9.0,nonesuch=1"]) == 2
    assert "unknown profile switch 'nonesuch'" in _one_error_line(capsys.readouterr().err)


# -- --out ------------------------------------------------------------------------


def test_out_untouched_when_another_flag_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "last.pcapng"
    out.write_bytes(b"the last good output")
    for bad in (
        ["--sysctl", "net.inet.ip.nonesuch=1"],
        ["--sysctl", "net.inet.ip.ttl=banana"],
        ["--profile", "7.4"],
        ["--ignore", "ip.nonesuch"],
    ):
        assert main(["replay", MIXED, "--out", str(out), *bad]) == 2
        _one_error_line(capsys.readouterr().err)
        assert out.read_bytes() == b"the last good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pcapng"]


def test_out_untouched_when_the_capture_fails_midway(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trunc = tmp_path / "trunc.pcap"
    trunc.write_bytes(Path(MIXED).read_bytes()[:1000])
    out = tmp_path / "last.pcapng"
    out.write_bytes(b"keep")
    assert main(["replay", str(trunc), "--out", str(out), "-q"]) == 2
    assert "truncated record" in _one_error_line(capsys.readouterr().err)
    assert out.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pcapng", "trunc.pcap"]


def test_out_refuses_the_capture_and_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = tmp_path / "in.pcap"
    cap.write_bytes(Path(MIXED).read_bytes())
    sc = tmp_path / "host.toml"
    sc.write_text(Path(TOML).read_text())
    link = tmp_path / "link.pcap"
    link.symlink_to(cap)
    for argv, what in (
        (["replay", str(cap), "--out", str(cap)], "overwrite the capture"),
        (["replay", str(cap), "--out", str(link)], "overwrite the capture"),
        (["replay", str(cap), "--scenario", str(sc), "--out", str(sc)], "overwrite the scenario"),
    ):
        assert main(argv) == 2
        assert what in _one_error_line(capsys.readouterr().err)
    assert cap.read_bytes() == Path(MIXED).read_bytes()
    assert sc.read_text() == Path(TOML).read_text()


def test_out_has_every_interface_when_nothing_was_sent(tmp_path: Path) -> None:
    """A replay that sent nothing still writes a file dpkt opens: one
    interface block per emulated interface, before any packet."""
    cap = tmp_path / "quiet.pcap"
    frame = bytes(
        Ether(src=PEER_MAC, dst="02:00:00:00:00:99", type=0x0800)
        / IP(src="192.0.2.2", dst="192.0.2.99")
        / ICMP()
    )
    write_pcap(cap, [(10**18, frame)], 1)
    out = tmp_path / "sent.pcapng"
    assert main(["replay", str(cap), "--host", "192.0.2.1/24", "--out", str(out), "-q"]) == 0
    with open(out, "rb") as f:
        r = dpkt.pcapng.Reader(f)
        assert list(r) == []
    blocks = []
    data = out.read_bytes()
    pos = 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        blocks.append(btype)
        pos += blen
    assert blocks == [0x0A0D0D0A, 1, 1]  # section header, lo0, em0


# -- input ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [14, 15])
def test_short_ethernet_frames_decode(
    tmp_path: Path, n: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 14- or 15-byte Ethernet frame (IPv4 EtherType, no or one IP byte)."""
    cap = tmp_path / "short.pcap"
    frame = (bytes.fromhex("020000000001020000000002") + b"\x08\x00\x45")[:n]
    write_pcap(cap, [(10**18, frame)], 1)
    assert main(["replay", str(cap)]) == 0
    out = capsys.readouterr().out
    shown = "empty IP packet" if n == 14 else "IP truncated (1 bytes)"
    assert f"#1 0.000000 {shown}: dropped: ips_tooshort" in out


def test_one_byte_raw_ipv4_record_decodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = tmp_path / "raw.pcap"
    write_pcap(cap, [(10**18, b"\x45")], 101)
    assert main(["replay", str(cap)]) == 0
    assert "#1 0.000000 IP truncated (1 bytes)" in capsys.readouterr().out


def test_json_netstat_is_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MIXED, "--json", "--netstat"]) == 0
    objs = _json_lines(capsys.readouterr().out)
    assert {o["type"] for o in objs} == {"note", "packet", "summary", "netstat"}
    netstat = objs[-1]
    assert netstat["type"] == "netstat" and netstat["counters"]["ip"]["ips_total"] == 38


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "kstack", *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
@pytest.mark.parametrize("scenario", [False, True])
def test_capture_from_standard_input(name: str, scenario: bool) -> None:
    """A pipe is read once: the default host's prescan needs a copy
    (spooled); a scenario replay streams it."""
    extra = ["--scenario", TOML] if scenario else []
    r = _run(["replay", name, "-q", *extra], stdin=Path(MIXED).read_bytes())
    assert r.returncode == 0, r.stderr
    assert b"summary: 40 frames read from" in r.stdout
    assert b"answered: 29" in r.stdout


def test_empty_standard_input() -> None:
    r = _run(["replay", "-"], stdin=b"")
    assert r.returncode == 2
    assert r.stderr == b"kstack: error: <stdin>: empty file\n"


def test_gzip_capture_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    gz = tmp_path / "mixed.pcap.gz"
    gz.write_bytes(gzip.compress(Path(MIXED).read_bytes(), mtime=0))
    assert main(["replay", str(gz), "-q"]) == 0
    assert "summary: 40 frames read from mixed.pcap.gz" in capsys.readouterr().out
    bad = tmp_path / "bad.pcap.gz"
    bad.write_bytes(gz.read_bytes()[:300])
    assert main(["replay", str(bad), "-q"]) == 2
    assert "bad.pcap.gz: gzip stream truncated" in _one_error_line(capsys.readouterr().err)


def test_timestamp_out_of_range_names_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pcapng if_tsresol = 0 (seconds) with a huge value: refused where it is
    read, naming the record; --out is left as it was."""
    cap = tmp_path / "far.pcapng"
    write_pcapng(cap, [(10**18, bytes(64)), (2**63, bytes(64))])
    data = bytearray(cap.read_bytes())
    i = data.index(b"\x09\x00\x01\x00\x09")  # the if_tsresol option: value 9 -> 0
    data[i + 4] = 0
    cap.write_bytes(bytes(data))
    out = tmp_path / "o.pcapng"
    out.write_bytes(b"old")
    assert main(["replay", str(cap), "--out", str(out), "-q"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "far.pcapng: record 1 (block at byte" in line and "after the year 2554" in line
    assert out.read_bytes() == b"old"


def _bad_files(tmp: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty.pcap"
    empty.write_bytes(b"")
    text = tmp / "notes.txt"
    text.write_text("hello, this is not a capture\n")
    good = tmp / "g.pcap"
    write_pcap(good, [(10**9, b"\0" * 60)], 1)
    trunc = tmp / "trunc.pcap"
    trunc.write_bytes(good.read_bytes()[:-10])
    lt = tmp / "lt.pcap"
    write_pcap(lt, [(10**9, b"\0" * 60)], 147)
    bad_toml = tmp / "bad.toml"
    bad_toml.write_text("[[interface]]\nname = 'em0'\naddr = ['192.0.2.300/24']\n")
    syntax = tmp / "syn.toml"
    syntax.write_text("[kernel\n")
    route = tmp / "route.toml"
    route.write_text("[[route]]\ndest = 'default'\ngateway = '10.9.9.9'\n")
    return {
        "missing": (["replay", str(tmp / "nope.pcap")], "nope.pcap: No such file or directory"),
        "empty": (["replay", str(empty)], "empty.pcap: empty file"),
        "text": (["replay", str(text)], "not a pcap or pcapng file"),
        "truncated": (["replay", str(trunc)], "truncated record data"),
        "linktype": (
            ["replay", str(lt)],
            "lt.pcap: unsupported link type 147 (supported: 0 (NULL), 1 (EN10MB)",
        ),
        "sysctl-unknown": (
            ["replay", MIXED, "--sysctl", "net.inet.ip.nonesuch=1"],
            "--sysctl net.inet.ip.nonesuch=1: no such sysctl (ENOENT)",
        ),
        "sysctl-bad-value": (
            ["replay", MIXED, "--sysctl", "net.inet.ip.ttl=banana"],
            "--sysctl net.inet.ip.ttl=banana: value refused (EINVAL)",
        ),
        "sysctl-no-eq": (["replay", MIXED, "--sysctl", "net.inet.ip.ttl"], "expected NAME=VALUE"),
        "scenario-bad": (["replay", MIXED, "--scenario", str(bad_toml)], "bad.toml: [[interface]]"),
        "scenario-syntax": (["replay", MIXED, "--scenario", str(syntax)], "TOML syntax error"),
        "scenario-missing": (["replay", MIXED, "--scenario", str(tmp / "no.toml")], "no.toml"),
        "scenario-route": (
            ["replay", MIXED, "--scenario", str(route)],
            "route.toml: [[route]] #1 (default): ENETUNREACH: gateway 10.9.9.9",
        ),
        "host-bad": (["replay", MIXED, "--host", "10.0.0.256/24"], "bad --host"),
        "host-bad-len": (["replay", MIXED, "--host", "10.0.0.1/40"], "prefix length out of range"),
        "host-and-scenario": (
            ["replay", MIXED, "--host", "10.0.0.1", "--scenario", TOML],
            "cannot be used together",
        ),
        "profile-bad": (["replay", MIXED, "--profile", "7.4"], "unknown profile '7.4'"),
        "compare-bad": (["replay", MIXED, "--compare", "7.4"], "unknown profile '7.4'"),
        "compare-and-check": (["replay", MIXED, "--compare", "9.3", "--check"], "cannot be used"),
        "drain-negative": (["replay", MIXED, "--drain", "-1"], "--drain -1.0"),
        "drain-inf": (["replay", MIXED, "--drain", "inf"], "--drain inf"),
        "ignore-bad": (["replay", MIXED, "--check", "--ignore", "ip.nonesuch"], "unknown field"),
        "out-dash": (["replay", MIXED, "--out", "-"], "--out needs a file name"),
        "sysctl-cmd-unknown": (
            ["sysctl", "kern.nonesuch"],
            "sysctl kern.nonesuch: no such sysctl (ENOENT)",
        ),
        "sysctl-cmd-readonly": (["sysctl", "net.inet.ip.fragpackets=3"], "EPERM"),
        "netstat-bad-scenario": (["netstat", "--scenario", str(syntax)], "TOML syntax error"),
        "usage": (["replay"], "the following arguments are required: CAPTURE"),
    }


CASES = [
    "missing",
    "empty",
    "text",
    "truncated",
    "linktype",
    "sysctl-unknown",
    "sysctl-bad-value",
    "sysctl-no-eq",
    "scenario-bad",
    "scenario-syntax",
    "scenario-missing",
    "scenario-route",
    "host-bad",
    "host-bad-len",
    "host-and-scenario",
    "profile-bad",
    "compare-bad",
    "compare-and-check",
    "drain-negative",
    "drain-inf",
    "ignore-bad",
    "out-dash",
    "sysctl-cmd-unknown",
    "sysctl-cmd-readonly",
    "netstat-bad-scenario",
    "usage",
]


@pytest.mark.parametrize("case", CASES)
def test_errors(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needle = _bad_files(tmp_path)[case]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert needle in line
    assert "[Errno" not in line


# -- --check ----------------------------------------------------------------------


def test_check_example_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", CHECK, "--check", "-q"]) == 0
    out = capsys.readouterr().out
    assert "check: 6 match, 0 differ, 0 missing, 0 extra" in out
    assert "summary: 12 frames read from freebsd-host.pcap, 6 of them sent by the host" in out


def test_check_finds_the_9_3_ip_off_change(capsys: pytest.CaptureFixture[str]) -> None:
    """icmp_error: 9.3 clears ip_off in the error's header, 9.0 copies DF."""
    assert main(["replay", CHECK, "--check", "--profile", "9.3", "-q"]) == 1
    out = capsys.readouterr().out
    assert (
        "    check: #10 differs from kstack's frame "
        "(reply to #9, icmp unreachable (type 3 code 3)):\n"
        "        ip.off [20:22]: got 0000, expected 4000\n"
    ) in out
    assert "check: 5 match, 1 differ, 0 missing, 0 extra" in out
    assert main(["replay", CHECK, "--check", "--profile", "9.3", "--ignore", "ip.off", "-q"]) == 0


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", CHECK, "--check", "--profile", "9.3", "--json"]) == 1
    objs = _json_lines(capsys.readouterr().out)
    checks = [o for o in objs if o["type"] == "check"]
    assert [c["status"] for c in checks] == ["match"] * 4 + ["differ", "match"]
    differ = checks[4]
    assert differ["expected"]["index"] == 10 and differ["actual"]["in_reply_to"] == 9
    assert differ["diffs"] == [{"field": "ip.off", "got": "0000", "expected": "4000"}]
    assert objs[-1]["check"] == {"match": 5, "differ": 1, "missing": 0, "extra": 0}


def test_check_missing_and_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The host answered a UDP datagram to a closed port with an echo reply
    (kstack sends a port unreachable) and did not answer the last request."""
    req = Ether(src=PEER_MAC, dst=HOST_MAC, type=0x0800) / IP(src="192.0.2.2", dst="192.0.2.1")
    rep = Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800) / IP(src="192.0.2.1", dst="192.0.2.2")
    frames = [
        bytes(req / UDP(sport=7, dport=9) / Raw(b"x")),
        bytes(rep / ICMP(type=11, code=0) / Raw(b"\0" * 28)),
        bytes(req / ICMP(type=8, id=1, seq=1)),
    ]
    cap = tmp_path / "c.pcap"
    write_pcap(cap, [(10**18 + i * 10**8, f) for i, f in enumerate(frames)], 1)
    assert main(["replay", str(cap), "--check", "-q"]) == 1
    out = capsys.readouterr().out
    assert "check: 0 match, 1 differ, 0 missing, 1 extra" in out
    assert "icmp.type [34:35]: got 03, expected 0b" in out
    assert "check: extra: kstack's frame (reply to #3, icmp echo reply)" in out


# -- --compare --------------------------------------------------------------------


def test_compare_same(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", CHECK, "--compare", "9.1", "-q"]) == 0
    assert "compare: 12 records; 0 differ between A (9.0) and B (9.1)" in capsys.readouterr().out


def test_compare_differs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", CHECK, "--compare", "9.3", "-q"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("#9 0.400000 192.0.2.2.40001 > 192.0.2.1.9 UDP, length 49 DF\n")
    assert "        ip.off [20:22]: A 4000, B 0000\n" in out
    assert "compare: 12 records; 1 differ between A (9.0) and B (9.3)" in out


def test_compare_json_and_derived_profile(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["replay", CHECK, "--profile", "9.3", "--compare", "9.3,icmp_error_clears_ip_off=0"]
    assert main([*argv, "--json"]) == 1
    objs = _json_lines(capsys.readouterr().out)
    (diff,) = [o for o in objs if o["type"] == "diff"]
    assert diff["index"] == 9
    assert (diff["a"]["profile"], diff["b"]["profile"]) == ("9.3", "9.3,icmp_error_clears_ip_off=0")
    assert diff["frames"][0]["diffs"][0] == {"field": "ip.off", "a": "0000", "b": "4000"}
    summary = objs[-1]
    assert summary["type"] == "summary" and summary["compare"]["differ"] == 1


# -- --drain and pending work -----------------------------------------------------


def _lone_fragment(tmp_path: Path) -> Path:
    cap = tmp_path / "frag.pcap"
    frag = bytes(
        Ether(src=PEER_MAC, dst=HOST_MAC, type=0x0800)
        / IP(src="192.0.2.2", dst="192.0.2.1", id=77, flags="MF", proto=17)
        / Raw(b"a" * 16)
    )
    write_pcap(cap, [(10**18, frag)], 1)
    return cap


def test_pending_work_is_summarised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(_lone_fragment(tmp_path)), "-q"]) == 0
    out = capsys.readouterr().out
    assert (
        "pending at the end (use --drain SECONDS to run the timers on):\n"
        "  reassembly queue 192.0.2.2 > 192.0.2.1 id 77 proto 17: 1 fragment(s), "
        "times out within 30 s\n"
    ) in out


def test_drain_reports_the_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ip_slowtimo: the queue times out 60 slow ticks (30 s) after it was made."""
    cap = _lone_fragment(tmp_path)
    assert main(["replay", str(cap), "--drain", "60"]) == 0
    out = capsys.readouterr().out
    assert (
        "@ 30.000000 timer: ip_slowtimo: reassembly of 192.0.2.2 > 192.0.2.1 id 77 proto 17 "
        "timed out: dropped: ips_fragtimeout (1 fragment(s) freed)\n"
        "    counters: ips_fragtimeout+1\n"
    ) in out
    assert "pending" not in out
    assert main(["replay", str(cap), "--drain", "60", "--json"]) == 0
    objs = _json_lines(capsys.readouterr().out)
    (ev,) = [o for o in objs if o["type"] == "event"]
    assert ev["ts_ns"] == 10**18 + 30 * 10**9
    assert ev["before_packet"] is None and ev["counters"] == {"ip": {"ips_fragtimeout": 1}}
    assert objs[-1]["pending"] == []


def test_drain_shorter_than_the_timer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(_lone_fragment(tmp_path)), "--drain", "10", "-q"]) == 0
    assert "times out within 20 s" in capsys.readouterr().out


# -- what outcomes say ------------------------------------------------------------


def test_outcomes_explain_themselves(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", MIXED, "--scenario", TOML]) == 0
    out = capsys.readouterr().out
    assert (
        "#6 1.250000 192.0.2.7 > 192.0.2.255 ICMP echo request id 19283 seq 100, length 76: "
        "dropped: ips_noproto (ICMP echo request: broadcast or multicast echo request not "
        "answered (net.inet.icmp.bmcastecho=0); no raw socket listening)"
    ) in out
    assert (
        "#8 1.750000 192.0.2.7 > 192.0.2.1 proto 253, length 36: dropped: ips_noproto "
        "(protocol 253 has no handler; no raw socket listening)" in out
    )


def test_ppp_skip_names_the_protocol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = tmp_path / "ppp.pcap"
    write_pcap(cap, [(10**18, b"\xff\x03\xc0\x21\x01\x01\x00\x04")], 9)
    assert main(["replay", str(cap)]) == 0
    assert (
        "#1 0.000000 skipped: not IPv4 (link type PPP, protocol 0xc021 LCP)"
        in capsys.readouterr().out
    )


def test_sysctl_ttl_300_goes_out_as_44(tmp_path: Path) -> None:
    """ip_defttl is an int stored into the u_char ip_ttl (icmp_reflect)."""
    out = tmp_path / "o.pcapng"
    assert main(["replay", CHECK, "--sysctl", "net.inet.ip.ttl=300", "--out", str(out), "-q"]) == 0
    with open_capture(out) as cap:
        ttls = {r.data[22] for r in cap if r.data[12:14] == b"\x08\x00"}
    assert ttls == {44}


# -- the progress bar ---------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal stderr, with the report redirected: a bar with records
    done of the total and the rate; stdout carries only the report."""
    import pty

    cap = tmp_path / "many.pcap"
    frame = bytes(
        Ether(src=PEER_MAC, dst=HOST_MAC, type=0x0800)
        / IP(src="192.0.2.2", dst="192.0.2.1")
        / ICMP(type=8)
    )
    write_pcap(cap, [(10**18 + i * 10**6, frame) for i in range(600)], 1)
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100", TERM="xterm")
    p = subprocess.Popen(
        [sys.executable, "-m", "kstack", "replay", str(cap), "-q"],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out, _ = p.communicate(timeout=120)
    os.close(master)
    assert p.returncode == 0
    assert b"replaying many.pcap" in err
    assert b"/600" in err and b"records/s" in err
    assert out.startswith(b"summary: 600 frames read from many.pcap")
    assert b"replaying" not in out


def test_check_refuses_a_loopback_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cap = tmp_path / "lo.pcap"
    write_pcap(
        cap, [(10**18, struct.pack("<I", 2) + bytes(IP(src="127.0.0.1", dst="127.0.0.1")))], 0
    )
    out = tmp_path / "o.pcapng"
    assert main(["replay", str(cap), "--check", "--out", str(out)]) == 2
    assert "lo.pcap is a loopback capture" in _one_error_line(capsys.readouterr().err)
    assert not out.exists()


def test_compare_from_standard_input_beyond_one_read_chunk(tmp_path: Path) -> None:
    """Both sides of --compare read their own copy of a spooled stream: a
    capture larger than one read chunk (1 MiB) still compares equal."""
    frame = bytes(
        Ether(src=PEER_MAC, dst=HOST_MAC, type=0x0800)
        / IP(src="192.0.2.2", dst="192.0.2.1")
        / UDP(sport=7, dport=9)
        / Raw(b"p" * 120)
    )
    cap = tmp_path / "big.pcap"
    write_pcap(cap, [(10**18 + i * 10**6, frame) for i in range(8000)], 1)
    assert cap.stat().st_size > 1 << 20
    r = _run(["replay", "-", "--compare", "9.1", "-q"], stdin=cap.read_bytes())
    assert r.returncode == 0, r.stderr
    assert b"compare: 8000 records; 0 differ between A (9.0) and B (9.1)" in r.stdout


def _v2_query_capture(tmp_path: Path) -> tuple[Path, Path]:
    """One IGMPv2 general query (Max Resp 10 s) and a scenario whose socket
    joined 239.1.1.1."""
    from conformance.igmp.helpers import query_frame, v2_query

    cap = tmp_path / "query.pcap"
    write_pcap(cap, [(10**18, query_frame(v2_query(100)))], 1)
    sc = tmp_path / "join.toml"
    sc.write_text(
        '[[interface]]\nname = "em0"\naddr = "192.0.2.1/24"\n\n'
        '[[socket]]\ntype = "dgram"\nport = 5000\njoin = ["239.1.1.1"]\n'
    )
    return cap, sc


def test_drain_shows_igmp_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """igmp_input_v2_query: the report falls due within 10 s of the query,
    after the last record; --drain shows it, and without --drain the
    summary lists it as pending."""
    cap, sc = _v2_query_capture(tmp_path)
    assert main(["replay", str(cap), "--scenario", str(sc), "-q"]) == 0
    out = capsys.readouterr().out
    assert "  IGMP on em0: query response for 239.1.1.1 pending\n" in out
    assert "  IGMP on em0: IGMPv2 compatibility, back to IGMPv3 after about 260 s\n" in out
    assert main(["replay", str(cap), "--scenario", str(sc), "--drain", "11"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "IGMPv2 report 239.1.1.1" in x)
    want = "    em0 < 192.0.2.1 > 239.1.1.1 IGMPv2 report 239.1.1.1, length 32 ttl=1"
    assert line.startswith(want)
    assert "query response for 239.1.1.1 pending" not in out


def test_replay_into_vnet_jail_interface(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--iface JAIL:IFNAME feeds the capture into a vnet jail's interface;
    the jail's stack answers; other stacks' frames are named STACK:IFNAME."""
    sc = tmp_path / "vj.toml"
    sc.write_text(
        '[[jail]]\nname = "v1"\nvnet = true\n\n[[epair]]\nb = "v1"\n\n'
        '[[interface]]\nname = "epair0a"\naddr = "10.0.0.1/24"\n\n'
        '[[interface]]\njail = "v1"\nname = "epair0b"\naddr = "10.0.0.2/24"\n\n'
        '[[arp]]\njail = "v1"\naddr = "10.0.0.9"\nether = "02:00:00:00:00:99"\n'
    )
    cap = tmp_path / "vj.pcap"
    echo = bytes(
        Ether(src="02:00:00:00:00:99", dst="02:00:00:00:03:0b")
        / IP(src="10.0.0.9", dst="10.0.0.2")
        / ICMP(type=8, id=5, seq=1)
    )
    write_pcap(cap, [(10**18, echo)], 1)
    assert main(["replay", str(cap), "--scenario", str(sc), "--iface", "v1:epair0b"]) == 0
    out = capsys.readouterr().out
    assert (
        "#1 0.000000 10.0.0.9 > 10.0.0.2 ICMP echo request id 5 seq 1, length 28: answered" in out
    )
    assert "    epair0b < 10.0.0.2 > 10.0.0.9 ICMP echo reply id 5 seq 1" in out
    assert "host: ether_input on epair0a from its epair" in out
    assert main(["replay", str(cap), "--scenario", str(sc), "--iface", "v9:epair0b"]) == 2
    assert "no jail named 'v9'" in capsys.readouterr().err
