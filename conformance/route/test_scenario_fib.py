"""FIBs and MTUs in scenario files: checked when the file is read, against
the tables ``[kernel] fibs`` boots with (net/route.c route_init and
sys_setfib) and the ranges the kernel takes (ifioctl SIOCSIFMTU,
rt_setmetrics), so a bad value is a one-line error, never a crash later."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.scenario import ScenarioError, load_scenario

BASE = """
[kernel]
fibs = 2

[[interface]]
name = "em0"
addr = "192.0.2.1/24"

[[arp]]
addr = "192.0.2.254"
ether = "02:00:00:00:00:fe"
"""


def _load(tmp_path: Path, text: str):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return load_scenario(p)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            '[[route]]\ndest = "default"\ngateway = "192.0.2.254"\nfib = 2\n',
            "s.toml: [[route]] #1: fib = 2 is out of range (0 to 1: [kernel] fibs = 2)",
        ),
        (
            '[[interface]]\nname = "em1"\nfib = 5\n',
            "s.toml: [[interface]] #2 (em1): fib = 5 is out of range (0 to 1: [kernel] fibs = 2)",
        ),
        (
            '[[jail]]\nname = "j"\nfib = 3\n',
            "s.toml: [[jail]] #1 (j): fib = 3 is out of range (0 to 1: [kernel] fibs = 2)",
        ),
        (
            '[[route]]\ndest = "default"\ngateway = "192.0.2.254"\nfib = -1\n',
            "s.toml: [[route]] #1: fib = -1 is out of range (0 to 15)",
        ),
        (
            '[[route]]\ndest = "default"\ngateway = "192.0.2.254"\nmtu = -1\n',
            "s.toml: [[route]] #1: mtu = -1 is out of range",
        ),
        (
            '[[interface]]\nname = "em1"\nmtu = 71\n',
            "s.toml: [[interface]] #2 (em1): mtu = 71 is out of range (72 to 65535)",
        ),
        (
            '[[interface]]\nname = "em1"\nmtu = 9000\n',
            "s.toml: [[interface]] #2 (em1): mtu = 9000 is out of range (72 to 1500 on em1)",
        ),
        (
            '[[interface]]\nname = "em1"\nmtu = true\n',
            "s.toml: [[interface]] #2 (em1): mtu must be an integer, not true",
        ),
    ],
    ids=[
        "route-fib",
        "iface-fib",
        "jail-fib",
        "negative-fib",
        "route-mtu",
        "iface-mtu",
        "ether-mtu",
        "bool-mtu",
    ],
)
def test_scenario_refuses_bad_fib_or_mtu(tmp_path, extra, needle):
    """A FIB the booted kernel will not have (sys_setfib / SIOCSIFFIB /
    the routing socket's FIB would be EINVAL) or an MTU the kernel would
    refuse is reported with the file and item, in one line."""
    with pytest.raises(ScenarioError) as ei:
        _load(tmp_path, BASE + extra)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(needle)


def test_scenario_fibs_for_interface_route_and_jail(tmp_path):
    """A scenario's interface FIB (ifconfig fib), route FIB and jail FIB
    (the jail started under setfib 1: its processes' FIB) all land where
    the kernel puts them; a route MTU above the interface's is kept as
    given (rt_setmetrics)."""
    k = _load(
        tmp_path,
        BASE
        + '[[interface]]\nname = "em1"\naddr = "198.51.100.1/24"\nfib = 1\n'
        + '[[route]]\ndest = "203.0.113.0/24"\ngateway = "192.0.2.254"\nfib = 1\n'
        + "mtu = 70000\n"
        + '[[jail]]\nname = "j"\nip4 = "192.0.2.1"\nfib = 1\n',
    )
    assert k.iface("em1").fib == 1
    assert k.route_get("203.0.113.9", fib=0) is None
    info = k.route_get("203.0.113.9", fib=1)
    assert (info.gateway, info.mtu) == ("192.0.2.254", 70000)
    j = k.jails["j"]
    assert (j.sysctl("net.my_fibnum"), k.sysctl("net.my_fibnum")) == (1, 0)
