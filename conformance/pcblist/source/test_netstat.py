"""`kstack netstat -a`: the pcblist as FreeBSD's netstat -a -f inet prints it.

From usr.bin/netstat/inet.c protopr and inetprint in the February 2011
tree (the userland half; the socket line's format is the same in the June
2012 head tree).
"""

import subprocess
import sys

SCENARIO = """\
[[interface]]
name = "em0"
addr = "192.0.2.1/24"

[[socket]]
type = "dgram"
bind = "0.0.0.0"
port = 47000
"""


def test_netstat_a_udp_wildcard_socket(tmp_path):
    """protopr: the first printed socket brings the title line "Active
    Internet connections (including servers)" (-a) and the column header;
    then the socket line: "%-3.3s%-2.2s " ("udp" and "4 " for INP_IPV4),
    "%6u %6u " (so_rcv.sb_cc, so_snd.sb_cc), then inetprint for the local
    and foreign ends, each "%-22.22s " of "address.port " (INADDR_ANY and
    port 0 print as "*"; 47000 has no service name), then a newline. The
    column header's spacing changed between the two trees (two spaces
    before "Local Address" in February 2011, one in June 2012), so only its
    start is checked."""
    scenario = tmp_path / "host.toml"
    scenario.write_text(SCENARIO)
    out = subprocess.run(
        [sys.executable, "-m", "kstack", "netstat", "-a", "--scenario", str(scenario)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(lines) == 3
    assert lines[0] == "Active Internet connections (including servers)"
    assert lines[1].startswith("Proto Recv-Q Send-Q ")
    local = "*.47000 ".ljust(22) + " "
    foreign = "*.* ".ljust(22) + " "
    assert lines[2] == "udp4 " + " " + f"{0:6d} {0:6d} " + local + foreign
