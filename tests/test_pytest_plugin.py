"""The pytest plugin's profile fixture takes names, derived specs and
Profile objects (the "before" side of a fix)."""

from __future__ import annotations

import pytest

import kstack

BEFORE = kstack.PROFILES["9.0"].derive("9.0-before-sorflush-fix", sorflush_clears_state=True)


@pytest.mark.parametrize(
    "profile, name, switch",
    [
        ("9.0", "9.0", False),
        ("9.0,sorflush_clears_state=1", "9.0,sorflush_clears_state=1", True),
        (BEFORE, "9.0-before-sorflush-fix", True),
    ],
    indirect=["profile"],
)
def test_profile_fixture(kernel: kstack.Kernel, name: str, switch: bool) -> None:
    assert kernel.profile.name == name
    assert kernel.profile.sorflush_clears_state is switch


def test_profile_specs() -> None:
    from kstack.profiles import get_profile, parse_profile

    p = parse_profile("10.0, raw_ip_header=11, big_endian=yes")
    assert (p.name, p.raw_ip_header, p.big_endian) == (
        "10.0,raw_ip_header=11,big_endian=1",
        "11",
        True,
    )
    assert get_profile("9.3") is kstack.PROFILES["9.3"]
    for bad, msg in (
        ("9.0,raw_ip_header=12", "raw_ip_header must be one of 9, 10, 11"),
        ("9.0,big_endian=maybe", "takes 1 or 0"),
        ("9.0,big_endian", "needs a value"),
        ("9.0,name=x", "unknown profile switch 'name'"),
        ("7.4,big_endian=1", "unknown profile '7.4'"),
    ):
        with pytest.raises(ValueError, match=msg):
            parse_profile(bad)
