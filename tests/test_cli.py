"""The kstack command, called in-process through main([...])."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kstack.cli import main
from kstack.pcapio import open_capture, write_pcap

ROOT = Path(__file__).resolve().parents[1]
MIXED = str(ROOT / "pcaps" / "replay" / "mixed.pcap")
TOML = str(ROOT / "pcaps" / "replay" / "mixed.toml")
ECHO = str(ROOT / "pcaps" / "replay" / "echo.pcapng")


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
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    packets = [o for o in objs if o["type"] == "packet"]
    assert len(packets) == 40
    assert packets[1]["outcome"]["kind"] == "answered"
    assert packets[1]["counters"]["icmp"]["icps_reflect"] == 1
    assert objs[-1]["type"] == "summary" and objs[-1]["frames_read"] == 40


def test_replay_default_host_json_notes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", ECHO, "--json"]) == 0
    objs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert objs[0]["type"] == "note" and objs[0]["text"].startswith("host: 10.0.0.1/24")
    assert objs[-1]["skipped"] == 1


def test_replay_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sent.pcapng"
    assert main(["replay", MIXED, "--scenario", TOML, "--out", str(out), "--quiet"]) == 0
    with open_capture(out) as cap:
        recs = list(cap)
    assert len(recs) == 31
    assert recs[0].comment == "arp reply 192.0.2.1 is-at 00:00:5e:00:53:01; in reply to packet #1"
    assert all(r.comment and "in reply to packet #" in r.comment for r in recs)


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
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


def _bad_files(tmp: Path) -> dict[str, list[str]]:
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
    return {
        "missing": ["replay", str(tmp / "nope.pcap")],
        "empty": ["replay", str(empty)],
        "text": ["replay", str(text)],
        "truncated": ["replay", str(trunc)],
        "linktype": ["replay", str(lt)],
        "sysctl-unknown": ["replay", MIXED, "--sysctl", "net.inet.ip.nonesuch=1"],
        "sysctl-bad-value": ["replay", MIXED, "--sysctl", "net.inet.ip.ttl=banana"],
        "sysctl-no-eq": ["replay", MIXED, "--sysctl", "net.inet.ip.ttl"],
        "scenario-bad": ["replay", MIXED, "--scenario", str(bad_toml)],
        "scenario-syntax": ["replay", MIXED, "--scenario", str(syntax)],
        "scenario-missing": ["replay", MIXED, "--scenario", str(tmp / "no.toml")],
        "host-bad": ["replay", MIXED, "--host", "10.0.0.256/24"],
        "host-bad-len": ["replay", MIXED, "--host", "10.0.0.1/40"],
        "profile-bad": ["replay", MIXED, "--profile", "7.4"],
        "sysctl-cmd-unknown": ["sysctl", "kern.nonesuch"],
        "sysctl-cmd-readonly": ["sysctl", "net.inet.ip.fragpackets=3"],
        "netstat-bad-scenario": ["netstat", "--scenario", str(syntax)],
        "usage": ["replay"],
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
    "host-bad",
    "host-bad-len",
    "profile-bad",
    "sysctl-cmd-unknown",
    "sysctl-cmd-readonly",
    "netstat-bad-scenario",
    "usage",
]


@pytest.mark.parametrize("case", CASES)
def test_errors(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _bad_files(tmp_path)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kstack: error:"), err
