"""The example of docs/icmp.md runs as written (a redirect learned, then
expired by in_rtqtimo, netinet/in_rmx.c)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "icmp.md"


def test_icmp_doc_example_runs() -> None:
    """rtredirect_fib (net/route.c) and in_rtqkill (netinet/in_rmx.c) as the
    documentation shows them: the example's own assertions must hold."""
    m = re.search(r"## Example\n\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert m is not None, "docs/icmp.md lost its example"
    namespace: dict[str, object] = {}
    exec(compile(m.group(1), str(DOC), "exec"), namespace)
    k = namespace["k"]
    assert k.vnet0.rtstat.snapshot()["rts_dynamic"] == 1  # type: ignore[attr-defined]
