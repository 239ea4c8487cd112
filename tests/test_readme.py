"""The README's Python sample runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_sample_runs() -> None:
    text = README.read_text()
    m = re.search(r"## The Python API\n\n```python\n(.*?)```", text, re.S)
    assert m is not None, "the README lost its Python sample"
    namespace: dict[str, object] = {}
    exec(compile(m.group(1), str(README), "exec"), namespace)
    k = namespace["k"]
    assert k.netstat("udp")["udps_ipackets"] >= 1  # type: ignore[attr-defined]


def test_setup_commands_are_the_two_documented() -> None:
    text = README.read_text()
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"```sh\n(.*?)\n```", setup, re.S) == [
        "pip install . && kstack replay pcaps/replay/mixed.pcap",
        "pip install tox && tox",
    ]
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install tox && tox" in ci
