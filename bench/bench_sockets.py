"""Socket lifetime and ephemeral port search: memory and time.

* RSS growth of many socket/bind/close rounds (UDP, port 0) on one kernel,
  measured in a fresh child process: closed sockets are freed, so the
  growth stays flat whatever the number of rounds;
* the ephemeral port range filled by binds to port 0, then binds that find
  it exhausted: the first failing search walks the whole range, the next
  ones (nothing changed in between) answer at once; after one socket is
  closed the next bind gets its port.

Usage: python bench/bench_sockets.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _rss_kib() -> int:
    """Current resident set size (KiB), from /proc when there is one."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rounds(n: int) -> tuple[int, int, float]:
    """(RSS before, RSS after in KiB, seconds) for ``n`` rounds of
    socket/bind/close, after a warm-up of 1000."""
    import gc

    import kstack
    from kstack import sock

    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")

    def go(count: int) -> None:
        for _ in range(count):
            s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
            s.bind(("0.0.0.0", 0))
            s.close()

    go(1000)
    gc.collect()
    before = _rss_kib()
    t0 = time.perf_counter()
    go(n)
    took = time.perf_counter() - t0
    gc.collect()
    return before, _rss_kib(), took


def child_rounds(n: int) -> tuple[int, int, float]:
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import bench_sockets as b;print(*b.rounds({n}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    before, after, took = out.stdout.split()
    return int(before), int(after), float(took)


def exhaustion(tries: int = 1000) -> dict[str, float | int]:
    """Fill net.inet.ip.portrange.first..last with UDP binds to port 0,
    then time the binds that find it full."""
    import kstack
    from kstack import sock

    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")
    first = int(k.sysctl("net.inet.ip.portrange.first"))
    last = int(k.sysctl("net.inet.ip.portrange.last"))
    held = []
    t0 = time.perf_counter()
    for _ in range(last - first + 1):
        s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
        s.bind(("0.0.0.0", 0))
        held.append(s)
    fill = time.perf_counter() - t0
    probe = k.socket(sock.AF_INET, sock.SOCK_DGRAM)

    def failing_bind() -> float:
        t = time.perf_counter()
        try:
            probe.bind(("0.0.0.0", 0))
        except OSError:
            return time.perf_counter() - t
        raise AssertionError("the range should be full")

    first_fail = failing_bind()
    later = [failing_bind() for _ in range(tries)]
    held.pop(len(held) // 2).close()
    t = time.perf_counter()
    probe.bind(("0.0.0.0", 0))
    after_free = time.perf_counter() - t
    return {
        "ports": last - first + 1,
        "fill_seconds": round(fill, 3),
        "first_exhausted_bind_ms": round(first_fail * 1e3, 3),
        "later_exhausted_bind_ms": round(sum(later) / len(later) * 1e3, 4),
        "bind_after_one_freed_ms": round(after_free * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    before, after, took = child_rounds(args.rounds)
    res: dict[str, object] = {
        "rounds": args.rounds,
        "rounds_seconds": round(took, 3),
        "rounds_per_second": round(args.rounds / took),
        "rss_kib_before": before,
        "rss_kib_after": after,
        "rss_growth_kib": after - before,
        **exhaustion(),
        "python": sys.version.split()[0],
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print(
        f"socket/bind/close       {res['rounds']:>10} rounds, {res['rounds_per_second']} per second"
    )
    print(
        f"RSS growth              {res['rss_growth_kib']:>10} KiB "
        f"({before} -> {after} KiB; target: flat)"
    )
    print(f"fill the port range     {res['ports']:>10} binds in {res['fill_seconds']} s")
    print(f"first bind, range full  {res['first_exhausted_bind_ms']:>10} ms (walks the range)")
    print(f"later binds, range full {res['later_exhausted_bind_ms']:>10} ms (mean of 1000)")
    print(f"bind after one close    {res['bind_after_one_freed_ms']:>10} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
