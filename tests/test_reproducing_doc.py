"""docs/reproducing.md: every worked example is run here, as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from kstack.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "reproducing.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, re.S)


def _commands() -> list[list[str]]:
    return [
        shlex.split(line[2:])
        for block in _blocks("console")
        for line in block.splitlines()
        if line.startswith("$ ")
    ]


def test_doc_has_one_example_per_route():
    assert [c[:2] for c in _commands()] == [
        ["kstack", "changes"],
        ["kstack", "replay"],
        ["kstack", "sysctl"],
        ["kstack", "sysctl"],
        ["pytest", "conformance/regressions/test_catalog_changes.py::test_ip_bindany"],
    ]


def test_changes_example(capsys):
    assert main(_commands()[0][1:]) == 0
    assert "catalog:        002:631" in capsys.readouterr().out


def test_capture_example(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(_commands()[1][1:]) == 1
    out = capsys.readouterr().out
    assert "ip.off [20:22]: A 4000, B 0000" in out
    assert "1 differ between A (9.0) and B (9.3)" in out


def test_scenario_example(capsys, monkeypatch, tmp_path):
    (toml,) = _blocks("toml")
    assert toml.startswith("# before.toml\n")
    (tmp_path / "before.toml").write_text(toml)
    monkeypatch.chdir(tmp_path)
    before, after = _commands()[2:4]
    assert main(before[1:]) == 0
    assert capsys.readouterr().out == "kern.ipc.somaxconn: 128 -> 70000\n"
    assert main(after[1:]) == 2
    assert "value refused (EINVAL)" in capsys.readouterr().err


def test_pytest_example(tmp_path):
    (code,) = _blocks("python")
    ns: dict[str, object] = {}
    exec(compile(code, "reproducing.md", "exec"), ns)
    fn = ns["test_ip_bindany"]
    for profile in ("9.0", "9.0,ip_bindany=0"):
        fn(profile)  # type: ignore[operator]
    node = _commands()[4][1]
    path, _, name = node.partition("::")
    assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M)


@pytest.mark.parametrize("profile", ["9.0", "9.0,ip_bindany=0"])
def test_pytest_example_fails_with_sides_swapped(profile):
    """The example is not vacuous: with its two branches swapped, each side fails."""
    (code,) = _blocks("python")
    swapped = code.replace('if profile == "9.0":', 'if profile != "9.0":')
    assert swapped != code
    ns: dict[str, object] = {}
    exec(compile(swapped, "reproducing.md", "exec"), ns)
    with pytest.raises((AssertionError, OSError, pytest.fail.Exception)):
        ns["test_ip_bindany"](profile)  # type: ignore[operator]
