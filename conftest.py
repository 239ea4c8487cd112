"""Run the tests against this checkout, never against another installed kstack.

The kstack pytest plugin is an entry point, so pytest imports ``kstack``
before any test; after ``pip install .`` that is the copy in site-packages,
and the tests would silently exercise it instead of the code beside them.
Refuse, and say how to fix it. Also makes ``fixtures`` importable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import kstack  # noqa: E402

_HERE = Path(kstack.__file__).resolve().parent
if _HERE != ROOT / "kstack":
    raise pytest.UsageError(
        f"these tests belong to the checkout at {ROOT}, but kstack is imported from "
        f"{_HERE}; install the checkout in editable mode (pip install -e '.[test]') "
        "or run tox"
    )
