"""The CI kit (ci/): kstack-ci on a small user project (a pytest file using
the kstack plugin and two captures, one matching and one differing), its
JUnit XML and exit status; the pipeline definitions parse as YAML and call
the script."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from kstack.pcapio import open_capture, write_pcap

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "ci" / "kstack-ci"
HOST_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:07"
HOST, PEER = "192.0.2.1", "192.0.2.7"
T0 = 1_326_153_600 * 10**9

USER_TEST = """\
from kstack.testing import echo_request


def test_echo_answered(kernel, delta):
    kernel.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    kernel.arp_add("192.0.2.7", "02:00:00:00:00:07")
    kernel.transmitted("em0")
    with delta(kernel) as d:
        out = kernel.input("em0", echo_request())
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
                 "icmp": {"icps_outhist[0]": 1, "icps_reflect": 1, "icps_inhist[8]": 1}}


def test_{name}():
    assert {value}
"""


def _echo_capture(path: Path, reply_ttl: int) -> None:
    """An echo request to the host and the reply the host sent (TTL as given;
    FreeBSD's is 64)."""
    req = (
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=PEER, dst=HOST, id=1, ttl=64)
        / ICMP(type=8, id=7, seq=1)
        / b"ping"
    )
    rep = (
        Ether(src=HOST_MAC, dst=PEER_MAC)
        / IP(src=HOST, dst=PEER, id=99, ttl=reply_ttl)
        / ICMP(type=0, id=7, seq=1)
        / b"ping"
    )
    write_pcap(path, [(T0, bytes(req)), (T0 + 50_000, bytes(rep))])


def _project(tmp_path: Path, *, failing_test: bool, differing: bool) -> Path:
    proj = tmp_path / "project"
    (proj / "tests").mkdir(parents=True)
    (proj / "captures").mkdir()
    value = "False" if failing_test else "True"
    name = "fails" if failing_test else "passes"
    (proj / "tests" / "test_user.py").write_text(
        USER_TEST.replace("{name}", name).replace("{value}", value)
    )
    _echo_capture(proj / "captures" / "echo_ok.pcap", 64)
    if differing:
        _echo_capture(proj / "captures" / "echo_ttl.pcap", 63)
    return proj


def _kit(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(KIT), "--no-install", "--jobs", "1", *args],
        cwd=proj,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _cases(xml: Path) -> dict[str, ET.Element]:
    return {tc.get("name", ""): tc for tc in ET.parse(xml).getroot().iter("testcase")}


def test_kit_check_one_capture_differs(tmp_path: Path) -> None:
    """Exit 1; replay.xml has one case per capture, the differing one a
    failure naming the packet and field; pytest.xml has the user's test;
    the frames kstack sent are kept as pcapng artefacts."""
    proj = _project(tmp_path, failing_test=False, differing=True)
    r = _kit(proj, "--tests", "tests", "--captures", "captures", "--output", "out")
    assert r.returncode == 1, r.stderr
    out = proj / "out"
    cases = _cases(out / "replay.xml")
    assert sorted(cases) == ["captures/echo_ok.pcap", "captures/echo_ttl.pcap"]
    ok, bad = cases["captures/echo_ok.pcap"], cases["captures/echo_ttl.pcap"]
    assert ok.find("failure") is None and ok.find("error") is None
    fail = bad.find("failure")
    assert fail is not None
    assert fail.get("message") == "1 difference(s) in 2 packets"
    assert fail.text == (
        "#2 differs: 192.0.2.1 > 192.0.2.7 ICMP echo reply id 7 seq 1, length 32: "
        "ip.ttl: kstack 40, capture 3f"
    )
    suite = ET.parse(out / "replay.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    py = _cases(out / "pytest.xml")
    assert sorted(py) == ["test_echo_answered", "test_passes"]
    assert all(tc.find("failure") is None for tc in py.values())
    for name in ("echo_ok", "echo_ttl"):
        with open_capture(out / "frames" / f"{name}.pcapng") as cap:
            frames = [rec.data for rec in cap]
        assert len(frames) == 1 and frames[0][:12] == bytes.fromhex(
            (PEER_MAC + HOST_MAC).replace(":", "")
        )
    assert (out / "replay.jsonl").stat().st_size > 0


def test_kit_all_pass(tmp_path: Path) -> None:
    proj = _project(tmp_path, failing_test=False, differing=False)
    r = _kit(proj, "--captures", "captures")
    assert r.returncode == 0, r.stderr
    assert not (proj / "kstack-ci-out" / "pytest.xml").exists()
    cases = _cases(proj / "kstack-ci-out" / "replay.xml")
    assert list(cases) == ["captures/echo_ok.pcap"]


def test_kit_failing_user_test(tmp_path: Path) -> None:
    """A failing user test is exit 1 and a failure in pytest.xml."""
    proj = _project(tmp_path, failing_test=True, differing=False)
    r = _kit(proj, "--tests", "tests", "--output", "out")
    assert r.returncode == 1, r.stderr
    py = _cases(proj / "out" / "pytest.xml")
    assert py["test_fails"].find("failure") is not None
    assert py["test_echo_answered"].find("failure") is None
    assert not (proj / "out" / "replay.xml").exists()


def test_kit_unreadable_capture_is_an_error(tmp_path: Path) -> None:
    """A truncated capture is an <error> test case and exit 2; the other
    capture is still replayed."""
    proj = _project(tmp_path, failing_test=False, differing=False)
    data = (proj / "captures" / "echo_ok.pcap").read_bytes()
    (proj / "captures" / "cut.pcap").write_bytes(data[:60])
    r = _kit(proj, "--captures", "captures")
    assert r.returncode == 2
    cases = _cases(proj / "kstack-ci-out" / "replay.xml")
    err = cases["captures/cut.pcap"].find("error")
    assert err is not None and "truncated" in (err.get("message") or "")
    assert cases["captures/echo_ok.pcap"].find("error") is None


def test_kit_usage_error(tmp_path: Path) -> None:
    r = _kit(tmp_path)
    assert r.returncode == 2
    assert "give --tests PATH, --captures DIR, or both" in r.stderr


def test_kit_needs_an_install_source(tmp_path: Path) -> None:
    """Without --no-install, the kit must be told where kstack comes from: it
    never installs a package of that name from an index."""
    env = {k: v for k, v in os.environ.items() if k != "KSTACK_SPEC"}
    r = subprocess.run(
        [sys.executable, str(KIT), "--captures", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 2
    assert "--kstack-spec SPEC or $KSTACK_SPEC" in r.stderr
    assert "pip install" not in r.stderr


def _yaml(name: str) -> dict:
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load((ROOT / "ci" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_github_actions_pipeline() -> None:
    wf = _yaml("github-actions.yml")
    (job,) = wf["jobs"].values()
    runs = [s.get("run", "") for s in job["steps"]]
    assert any("ci/kstack-ci" in r for r in runs)
    uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload")]
    assert uploads and uploads[0]["with"]["path"] == "kstack-ci-out"
    assert uploads[0]["if"] == "always()"


def test_gitlab_pipeline() -> None:
    ci = _yaml("gitlab-ci.yml")
    job = ci["kstack"]
    assert any("ci/kstack-ci" in line for line in job["script"])
    art = job["artifacts"]
    assert art["when"] == "always"
    assert art["paths"] == ["kstack-ci-out/"]
    assert art["reports"]["junit"] == ["kstack-ci-out/pytest.xml", "kstack-ci-out/replay.xml"]
