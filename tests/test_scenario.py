"""Scenario files (TOML) -> configured kernels; every error is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.scenario import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]


def test_mixed_scenario() -> None:
    k = load_scenario(ROOT / "pcaps" / "replay" / "mixed.toml")
    assert k.iface("em0").addrs[0].startswith("192.0.2.1")
    r = k.route_get("203.0.113.1")
    assert r is not None and r.gateway == "192.0.2.254"
    assert k.vnet0.arp_table()["192.0.2.7"][0] == "00:00:5e:00:53:07"


FULL = """
[kernel]
profile = "9.0"
seed = 7
fibs = 2

[[interface]]
name = "em0"
addr = ["192.0.2.1/24", "192.0.2.9/32"]
mtu = 1400

[[interface]]
name = "em1"
addr = "198.51.100.1/24"
ether = "02:00:00:00:01:02"
fib = 1
up = false

[[route]]
dest = "203.0.113.0/24"
gateway = "192.0.2.254"
mtu = 1300

[[route]]
dest = "10.0.0.0/8"
blackhole = true

[[route]]
dest = "default"
iface = "em0"
fib = 1

[[arp]]
addr = "192.0.2.254"
ether = "02:00:00:00:00:fe"

[sysctl]
"net.inet.ip.forwarding" = 1
net.inet.icmp.icmplim = 50
"""


def test_full_schema(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(FULL)
    k = load_scenario(p)
    assert k.fibs == 2 and k.seed == 7
    assert k.iface("em0").mtu == 1400 and len(k.iface("em0").addrs) == 2
    assert not k.iface("em1").up and k.iface("em1").fib == 1
    assert k.route_get("203.0.113.5").mtu == 1300
    assert k.route_get("8.8.8.8", fib=1).ifname == "em0"
    assert k.sysctl("net.inet.ip.forwarding") == 1
    assert k.sysctl("net.inet.icmp.icmplim") == 50


BAD = {
    "syntax": ("[kernel\n", "TOML syntax error"),
    "section": ("[nonsense]\n", "unknown section 'nonsense'"),
    "kernel-key": ("[kernel]\nprofle = '9.0'\n", "[kernel]: unknown key 'profle'"),
    "profile": ("[kernel]\nprofile = '7.4'\n", "[kernel]: unknown profile"),
    "iface-key": ("[[interface]]\nname='em0'\nadress=['1.2.3.4/24']\n", "#1: unknown key 'adress'"),
    "iface-name": ("[[interface]]\naddr=['1.2.3.4/24']\n", "missing key 'name'"),
    "addr": ("[[interface]]\nname='em0'\naddr=['192.0.2.300/24']\n", "[[interface]] #1 (em0)"),
    "plen": ("[[interface]]\nname='em0'\naddr=['192.0.2.3/33']\n", "bad prefix length"),
    "mtu": ("[[interface]]\nname='em0'\nmtu=20\n", "mtu = 20 is out of range (72 to 65535)"),
    "route-gw": ("[[route]]\ndest='default'\ngateway='10.9.9.9'\n", "[[route]] #1 (default)"),
    "route-none": ("[[route]]\ndest='10.0.0.0/8'\n", "needs one of"),
    "arp": ("[[arp]]\naddr='10.0.0.1'\nether='zz'\n", "[[arp]] #1 (10.0.0.1)"),
    "sysctl": ("[sysctl]\n'net.inet.ip.nonesuch' = 1\n", "[sysctl] net.inet.ip.nonesuch"),
    "sysctl-val": ("[sysctl]\n'net.inet.ip.ttl' = 'x'\n", "EINVAL"),
    "sysctl-type": ("[sysctl]\n'net.inet.ip.ttl' = 1.5\n", "integer or a string"),
    "jail": ("[[jail]]\nname='j1'\nip4=['0.0.0.0']\n", "[[jail]] #1 (j1): EINVAL"),
    "jail-vnet-ip4": (
        "[[jail]]\nname='v1'\nvnet=true\nip4='192.0.2.2'\n",
        "vnet jails cannot have IP address restrictions",
    ),
    "jail-key": ("[[jail]]\nname='j1'\nip='192.0.2.2'\n", "[[jail]] #1: unknown key 'ip'"),
    "epair-classic": (
        "[[jail]]\nname='j1'\nip4='192.0.2.2'\n[[epair]]\nb='j1'\n",
        "[[epair]] #1: EEXIST: jail j1 has no vnet of its own",
    ),
    "sock-type": ("[[socket]]\ntype='stream'\n", "[[socket]] #1: type must be 'raw' or 'dgram'"),
    "sock-key": ("[[socket]]\ntype='dgram'\nprot=1\n", "[[socket]] #1: unknown key 'prot'"),
    "sock-opt": (
        "[[socket]]\ntype='dgram'\noptions={SO_NONSENSE=1}\n",
        "unknown socket option 'SO_NONSENSE'",
    ),
    "sock-eperm": ("[[socket]]\ntype='raw'\nproto=253\nuid=1000\n", "#1: EPERM"),
    "sock-bind": ("[[socket]]\ntype='dgram'\nbind='10.9.9.9'\nport=53\n", "EADDRNOTAVAIL"),
    # Values of the wrong type or out of range: one line, never a traceback.
    "ether-int": (
        "[[interface]]\nname='em0'\nether=5\n",
        "[[interface]] #1 (em0): ether must be a string, not 5",
    ),
    "mtu-negative": (
        "[[interface]]\nname='em0'\nmtu=-1\n",
        "[[interface]] #1 (em0): mtu = -1 is out of range (72 to 65535)",
    ),
    "up-string": ("[[interface]]\nname='em0'\nup='no'\n", "up must be true or false, not 'no'"),
    "fibs-inf": ("[kernel]\nfibs=inf\n", "[kernel]: fibs must be an integer, not inf"),
    "fibs-zero": ("[kernel]\nfibs=0\n", "[kernel]: fibs = 0 is out of range (1 to 16)"),
    "seed-string": ("[kernel]\nseed='x'\n", "[kernel]: seed must be an integer, not 'x'"),
    "port-range": (
        "[[socket]]\ntype='dgram'\nport=70000\n",
        "[[socket]] #1: port = 70000 is out of range (0 to 65535)",
    ),
    "rcvbuf-range": (
        "[[socket]]\ntype='dgram'\noptions={SO_RCVBUF=99999999999}\n",
        "[[socket]] #1: option SO_RCVBUF = 99999999999 does not fit the C int setsockopt reads",
    ),
    "option-type": (
        "[[socket]]\ntype='dgram'\noptions={SO_RCVBUF='big'}\n",
        "option SO_RCVBUF must be an integer, not 'big'",
    ),
    "socket-jail": (
        "[[socket]]\ntype='dgram'\njail='j1'\n",
        "[[socket]] #1: jail 'j1' does not exist",
    ),
    "route-mtu": (
        "[[route]]\ndest='default'\ngateway='10.0.0.1'\nmtu=1e3\n",
        "[[route]] #1: mtu must be an integer, not 1000.0",
    ),
    "route-errno": (
        "[[interface]]\nname='em0'\naddr='192.0.2.1/24'\n"
        "[[route]]\ndest='default'\ngateway='10.9.9.9'\n",
        "[[route]] #1 (default): ENETUNREACH: gateway 10.9.9.9 is not on a connected network",
    ),
}


SOCKETS = """
[[interface]]
name = "em0"
addr = ["192.0.2.1/24"]

[[socket]]
name = "dns"
type = "dgram"
port = 53
options = { SO_REUSEADDR = 1, IP_RECVTTL = 1 }

[[socket]]
type = "raw"
proto = 253
connect = "192.0.2.7"
"""


def test_sockets(tmp_path: Path) -> None:
    """[[socket]] entries are opened, configured, bound and connected in order."""
    from kstack import sock

    p = tmp_path / "s.toml"
    p.write_text(SOCKETS)
    k = load_scenario(p)
    dns, raw = k.scenario_sockets
    assert dns.name == "dns" and dns.getsockname() == ("0.0.0.0", 53)
    assert dns.getsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR) == sock.SO_REUSEADDR
    assert dns.getsockopt(sock.IPPROTO_IP, sock.IP_RECVTTL) == 1
    assert raw.getpeername() == ("192.0.2.7", 0)
    assert raw.name == "raw socket 2"


@pytest.mark.parametrize("case", sorted(BAD))
def test_errors(case: str, tmp_path: Path) -> None:
    text, needle = BAD[case]
    p = tmp_path / f"{case}.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{case}.toml: ")
    assert needle in msg
    assert "[Errno" not in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="nope.toml"):
        parse_scenario(tmp_path / "nope.toml")


def test_docs_replay_example_loads(tmp_path: Path) -> None:
    """The scenario example of docs/replay.md works as written."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "replay.md").read_text()
    section = doc[doc.index("## Scenario files (TOML)") :]
    block = section[section.index("```toml") + 7 :]
    block = block[: block.index("```")]
    p = tmp_path / "example.toml"
    p.write_text(block)
    k = load_scenario(p)
    assert set(k.jails) == {"j1", "v1"}
    assert k.jails["j1"].ip4 == ["192.0.2.2", "192.0.2.3"]
    v = k.jails["v1"]
    assert v.iface("epair0b").addrs == ["10.0.0.2/24"]
    assert v.sysctl("net.inet.ip.forwarding") == 1
    assert len(k.scenario_sockets) >= 2
