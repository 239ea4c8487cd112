"""Timestamps at the far end of the wall clock, through replay.

The emulated wall clock counts nanoseconds since 1970 in 64 bits, the range
pcapng records hold. A capture's timestamps therefore always fit, and the
struct timeval a SO_TIMESTAMP socket reads from them too; what could carry
the clock beyond (a running kernel handed to replay, a long drain) is
refused with a one-line error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import kstack
from kstack import sock
from kstack.kern.clock import NS, WALL_LIMIT_NS
from kstack.pcapio import write_pcapng
from kstack.replay import Replay, ReplayError, replay
from kstack.testing import host, udp_to

LAST = WALL_LIMIT_NS - 1  # 2554-07-21T23:34:33.709551615Z


def _capture(tmp_path: Path, stamps: list[int]) -> Path:
    path = tmp_path / "far.pcapng"
    write_pcapng(path, [(ts, bytes(udp_to(7000, data=b"%d" % i))) for i, ts in enumerate(stamps)])
    return path


def test_replay_so_timestamp_at_the_last_nanosecond(tmp_path: Path) -> None:
    """netinet/ip_input.c ip_savecontrol: a record stamped at the last
    nanosecond pcapng can hold is delivered at that virtual wall time, and
    SCM_TIMESTAMP reads it as a struct timeval (microseconds truncated)."""
    path = _capture(tmp_path, [LAST - 2 * NS, LAST])
    got: list[tuple[bytes, list[tuple[int, int, bytes]]]] = []
    socks: list[kstack.Socket] = []

    def setup(k: kstack.Kernel) -> None:
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.setsockopt(sock.SOL_SOCKET, sock.SO_TIMESTAMP, 1)
        s.bind(("0.0.0.0", 7000))
        socks.append(s)

    def each(res: object) -> None:
        data, anc, _flags, _addr = socks[0].recvmsg(100, 100)
        got.append((data, anc))

    summary = replay(path, host="192.0.2.1/24", on_kernel=setup, on_event=each)
    assert summary.kinds["delivered"] == 2
    tv = sock.SOL_SOCKET, sock.SCM_TIMESTAMP
    assert got == [
        (b"0", [(*tv, sock.timeval(18446744071, 709551))]),
        (b"1", [(*tv, sock.timeval(18446744073, 709551))]),
    ]


def test_replay_into_a_running_kernel_stops_before_the_clock_ends(tmp_path: Path) -> None:
    """kern/kern_tc.c: records fed to a kernel handed in keep the capture's
    offsets from that kernel's time; one that would carry its clock past
    2**64 ns since 1970 stops the replay with a one-line error naming it,
    after the records before it were fed."""
    k = host(k=kstack.Kernel(boottime_ns=WALL_LIMIT_NS - 10 * NS))
    path = _capture(tmp_path, [0, 5 * NS, 20 * NS])
    fed = []
    with Replay(path, k) as r, pytest.raises(ReplayError) as e:
        for res in r:
            fed.append(res.outcome.kind if res.outcome else None)
    assert fed == ["dropped", "dropped"]  # port 7000 closed: ICMP unreachable
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: record 3: timestamp 20000000000 puts the host's clock past")
    assert "2554" in msg
    assert k.clock.wall_ns == WALL_LIMIT_NS - 5 * NS


def test_replay_drain_past_the_end_of_the_clock_is_refused(tmp_path: Path) -> None:
    """kern/kern_timeout.c: draining runs the clock on; a drain that would
    take it past the end of the wall clock is ValueError, and the clock
    stays where the last record left it."""
    path = _capture(tmp_path, [LAST - 5 * NS])
    with Replay(path, host="192.0.2.1/24") as r:
        list(r)
        now = r.kernel.clock.wall_ns
        with pytest.raises(ValueError):
            r.drain(10)
        assert r.kernel.clock.wall_ns == now
        r.drain(4)
        assert r.kernel.clock.wall_ns == LAST - NS


def test_cli_drain_past_the_end_of_the_clock_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kern/kern_timeout.c: kstack replay --drain that would run the clock
    past 2554 exits 2 with one line on stderr, no traceback."""
    from kstack.cli import main

    path = _capture(tmp_path, [LAST - 5 * NS])
    assert main(["replay", str(path), "--drain", "10", "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("kstack: error: drain: 10.0 seconds run the clock")
