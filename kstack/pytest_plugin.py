"""pytest fixtures and assertion helpers for suites that drive kstack.

The plugin is registered as a ``pytest11`` entry point, so any pytest run in
an environment where kstack is installed loads it. The helpers are also plain
functions: ``from kstack.pytest_plugin import delta, match_frame``.

Fixtures
--------
``profile``
    The FreeBSD profile, ``"9.0"`` by default. Run a test under other
    profiles with indirect parametrisation: a name, a derived spec or a
    ``Profile`` object (for example the "before" side of a fix)::

        BEFORE = kstack.PROFILES["9.0"].derive("9.0-bug", sorflush_clears_state=True)

        @pytest.mark.parametrize(
            "profile", ["9.0", "8.0-prefix", "9.0,sorflush_clears_state=1", BEFORE],
            indirect=True,
        )
        def test_x(kernel): ...

``kernel``
    A fresh ``kstack.Kernel(profile=<profile>, seed=0)``: vnet0 with lo0
    127.0.0.1/8 and nothing else.

``delta``
    The :func:`delta` context manager::

        with delta(k) as d:
            k.input("em0", frame)
        assert d == {"ip": {"ips_total": 1, "ips_badsum": 1}}

    ``d`` holds only the counters that moved, per protocol (``"ip"``,
    ``"icmp"``, ``"udp"``, ``"igmp"``); a protocol where nothing moved is
    left out, so an idle block gives ``{}``. A failed comparison prints one
    line per counter that differs.

``match_frame``
    The :func:`match_frame` function: compare two frames byte for byte
    except for the named don't-care fields (see :data:`FIELD_NAMES`), and
    raise ``AssertionError`` with a field-by-field diff::

        match_frame(actual, expected, dont_care={"ip.id", "ip.sum", "icmp.sum"})

    Frames are Ethernet by default; pass ``link=False`` for bare IPv4
    packets (lo0).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import kstack
from kstack.frames import FIELD_NAMES, diff_frames, frame_fields
from kstack.netinet.stats import delta as _stat_delta

__all__ = ["Delta", "delta", "match_frame", "frame_fields", "FIELD_NAMES"]

# ---------------------------------------------------------------------------
# Counter deltas


class Delta(dict[str, dict[str, int]]):
    """The counters that moved inside a ``with delta(k)`` block, per protocol.

    Empty until the block exits.
    """

    def diff_lines(self, other: object) -> list[str]:
        """One line per counter where ``self`` and ``other`` disagree."""
        if not isinstance(other, dict):
            return [f"expected a dict, got {type(other).__name__}"]
        lines: list[str] = []
        for proto in sorted(set(self) | set(other)):
            got = self.get(proto, {})
            want = other.get(proto, {})
            if not isinstance(want, dict):
                lines.append(f"{proto}: expected a dict of counters, got {want!r}")
                continue
            for name in sorted(set(got) | set(want)):
                g = got.get(name, 0)
                w = want.get(name, 0)
                if g != w:
                    lines.append(f"{proto}.{name}: moved by {g:+d}, expected {w:+d}")
            if proto in other and not want and proto in self:
                lines.append(f"{proto}: expected no counter to move")
        return lines


@contextmanager
def delta(k: Any) -> Iterator[Delta]:
    """Record the counter changes of ``k`` (a Kernel or VNet) in a block."""
    before: dict[str, dict[str, int]] = k.netstat()
    d = Delta()
    yield d
    after: dict[str, dict[str, int]] = k.netstat()
    for proto, snap in after.items():
        moved = _stat_delta(before.get(proto, {}), snap)
        if moved:
            d[proto] = moved


# ---------------------------------------------------------------------------
# Frame matching (the field table lives in kstack.frames)


def _render(frame: bytes, link: bool) -> str:
    try:
        if link:
            from scapy.layers.l2 import Ether

            pkt: Any = Ether(frame)
        else:
            from scapy.layers.inet import IP

            pkt = IP(frame)
        return str(pkt.show(dump=True))
    except Exception:  # pragma: no cover - rendering is best effort
        return frame.hex()


def match_frame(
    actual: bytes | bytearray,
    expected: Any,
    dont_care: Iterable[str] = (),
    *,
    link: bool = True,
) -> None:
    """Assert ``actual`` equals ``expected`` byte for byte outside the
    ``dont_care`` fields. ``expected`` may be bytes or a scapy packet."""
    got = bytes(actual)
    want = bytes(expected)
    ignore = set(dont_care)
    unknown = ignore - set(FIELD_NAMES)
    if unknown:
        raise ValueError(f"unknown don't-care field(s): {', '.join(sorted(unknown))}")
    problems = [str(d) for d in diff_frames(got, want, ignore, link=link)]
    if not problems:
        return
    msg = ["frames differ:", *("  " + p for p in problems)]
    if ignore:
        msg.append(f"  (don't care: {', '.join(sorted(ignore))})")
    msg += ["--- got ---", _render(got, link), "--- expected ---", _render(want, link)]
    raise AssertionError("\n".join(msg))


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(name="profile")
def _profile_fixture(request: pytest.FixtureRequest) -> str | kstack.Profile:
    """The profile: "9.0" unless parametrised indirectly, with a name, a
    derived spec ("9.0,sorflush_clears_state=1") or a Profile object."""
    param = getattr(request, "param", "9.0")
    if isinstance(param, kstack.Profile):
        return param
    return str(param)


@pytest.fixture(name="kernel")
def _kernel_fixture(profile: str | kstack.Profile) -> kstack.Kernel:
    """A fresh Kernel(profile=profile, seed=0)."""
    return kstack.Kernel(profile=profile, seed=0)


@pytest.fixture(name="delta")
def _delta_fixture() -> Any:
    """The delta() context manager."""
    return delta


@pytest.fixture(name="match_frame")
def _match_frame_fixture() -> Any:
    """The match_frame() function."""
    return match_frame


def pytest_assertrepr_compare(op: str, left: object, right: object) -> list[str] | None:
    """A per-counter explanation when a Delta is compared with a dict."""
    if op != "==":
        return None
    if isinstance(left, Delta):
        return ["counter deltas differ:", *left.diff_lines(right)]
    if isinstance(right, Delta) and isinstance(left, dict):
        return ["counter deltas differ:", *right.diff_lines(left)]
    return None
