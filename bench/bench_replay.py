"""Throughput of answered traffic, kind by kind, next to dpkt; replay memory.

Each kind is a list of frames fed one by one to ``Kernel.input`` while the
virtual clock advances with them (``Kernel.advance_to`` before every frame,
the way a replay drives the host). The spacing keeps every reply under
net.inet.icmp.icmplim (default 200 per second): echo requests and closed-port
datagrams arrive 10 ms apart, so each one is really answered, its reply built,
checksummed, framed and queued on the interface. The bench counts what was
sent and read and refuses to report a kind whose replies were suppressed.

Kinds (kstack pkt/s, dpkt pkt/s, ratio):

* ``echo``: ICMP echo requests (64-byte datagrams), each answered;
* ``unreach``: UDP to a closed port, each answered with ICMP port
  unreachable;
* ``udp``: UDP to a bound socket, each datagram read back with recvfrom();
* ``frag``: 3000-byte UDP datagrams in three fragments, reassembled and
  read with recvfrom();
* ``forward``: UDP forwarded from em0 to em1 (net.inet.ip.forwarding=1,
  static ARP entry for the next hop);
* ``echo1400``: echo requests of 1400 bytes, each answered;
* ``replay``: the ``kstack replay --quiet`` command (a child process, its
  start-up included) over a capture of ``--frames`` records of mixed
  traffic (echo, unknown protocol, bad checksum, broadcast, UDP to a closed
  and an open port, not ours, truncated, bad version), 2 ms apart.

The dpkt figure of a kind is ``dpkt.ethernet.Ethernet`` parsing the same
frames in the same run (for ``replay``: dpkt reading the capture file and
parsing each frame), which is the floor a Python tool pays. Each kind runs
``--repeat`` times, alternating kstack and dpkt, and the best time of each
counts (other processes share the CPU).

Peak memory (ru_maxrss of a child process replaying a small and the large
capture) shows that replay streams.

Usage: python bench/bench_replay.py [--frames N] [--kind-frames N]
       [--repeat N] [--kinds echo,udp,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST_MAC = "02:00:00:00:00:01"
HOST1_MAC = "02:00:00:00:00:02"
PEER_MAC = "02:00:00:00:00:07"
FAR_MAC = "02:00:00:00:00:09"
ROUTER_MAC = "02:00:00:00:00:fe"
HOST, PEER = "192.0.2.1", "192.0.2.7"
HOST1, FAR = "198.51.100.1", "198.51.100.9"

MS = 1_000_000
US = 1_000

# -- per-kind workloads ----------------------------------------------------------


@dataclass
class Kind:
    name: str
    title: str
    frames: Callable[[], list[bytes]]  # templates, cycled
    step_ns: int  # virtual time between two frames
    target: float  # ratio to dpkt the kind should reach
    sent_per_frame: float = 0.0  # frames the host should send per input frame
    read_every: int = 0  # one datagram to read after every N-th frame (0: none)
    forwarding: bool = False


def _eth(src: str = PEER_MAC, dst: str = HOST_MAC) -> Any:
    from scapy.layers.l2 import Ether

    return Ether(src=src, dst=dst)


def echo_frames(size: int = 64) -> list[bytes]:
    """Echo requests whose IP datagram is ``size`` bytes."""
    from scapy.layers.inet import ICMP, IP

    pad = b"e" * (size - 28)
    return [
        (
            _eth() / IP(src=PEER, dst=HOST, id=i + 1, ttl=64) / ICMP(type=8, id=0x1234, seq=i) / pad
        ).build()
        for i in range(16)
    ]


def unreach_frames() -> list[bytes]:
    from scapy.layers.inet import IP, UDP

    return [
        (
            _eth()
            / IP(src=PEER, dst=HOST, id=200 + i, ttl=64)
            / UDP(sport=40000 + i, dport=9)
            / (b"c" * 32)
        ).build()
        for i in range(16)
    ]


def udp_frames() -> list[bytes]:
    from scapy.layers.inet import IP, UDP

    return [
        (
            _eth()
            / IP(src=PEER, dst=HOST, id=300 + i, ttl=64)
            / UDP(sport=40000 + i, dport=7000)
            / (b"d" * (32 + 16 * i))
        ).build()
        for i in range(16)
    ]


FRAG_PAYLOAD = 3000  # UDP payload: three fragments at MTU 1500


def frag_frames() -> list[bytes]:
    from scapy.layers.inet import IP, UDP, fragment

    out: list[bytes] = []
    for i in range(8):
        dgram = (
            IP(src=PEER, dst=HOST, id=400 + i, ttl=64)
            / UDP(sport=41000 + i, dport=7000)
            / (bytes([0x61 + i]) * FRAG_PAYLOAD)
        )
        frags = fragment(dgram, fragsize=1480)
        assert len(frags) == 3
        out.extend((_eth() / f).build() for f in frags)
    return out


def forward_frames() -> list[bytes]:
    from scapy.layers.inet import IP, UDP

    return [
        (
            _eth()
            / IP(src=PEER, dst=FAR, id=500 + i, ttl=64)
            / UDP(sport=42000 + i, dport=53)
            / (b"f" * 64)
        ).build()
        for i in range(16)
    ]


KINDS = [
    Kind("echo", "Kernel.input, ICMP echo answered", echo_frames, 10 * MS, 1.5, 1.0),
    Kind(
        "unreach", "UDP to a closed port, ICMP unreachable sent", unreach_frames, 10 * MS, 1.0, 1.0
    ),
    Kind("udp", "UDP delivered and read", udp_frames, 10 * US, 1.0, 0.0, 1),
    Kind("frag", "fragments reassembled and read", frag_frames, 10 * US, 1.0, 0.0, 3),
    Kind("forward", "forwarding", forward_frames, 10 * US, 1.0, 1.0, 0, True),
    Kind("echo1400", "1400-byte echo", lambda: echo_frames(1400), 10 * MS, 1.0, 1.0),
]


def _host(forwarding: bool) -> tuple[Any, Any]:
    """The emulated host: em0 192.0.2.1/24 with a static ARP entry for the
    peer; with ``forwarding``, em1 198.51.100.1/24 too and a static entry
    for the far host. Returns (kernel, UDP socket bound to port 7000)."""
    import kstack
    from kstack import sock

    k = kstack.Kernel(boottime_ns=1_326_153_600 * 1_000_000_000)
    k.ifconfig("em0", f"{HOST}/24", ether=HOST_MAC)
    k.arp_add(PEER, PEER_MAC)
    if forwarding:
        k.ifconfig("em1", f"{HOST1}/24", ether=HOST1_MAC)
        k.arp_add(FAR, FAR_MAC)
        k.sysctl("net.inet.ip.forwarding", 1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.bind(("0.0.0.0", 7000))
    k.advance(1)
    for ifp in k.vnet0.ifnets:
        ifp.txq.clear()
    return k, s


def run_kind_stack(kind: Kind, frames: list[bytes]) -> tuple[float, int, int]:
    """Feed ``frames`` through Kernel.input with the clock advancing;
    returns (seconds, frames sent, datagrams read)."""
    k, s = _host(kind.forwarding)
    vnet = k.vnet0
    vnet.record_events = False
    txqs = [ifp.txq for ifp in vnet.ifnets]
    inp = k.input
    adv = k.advance_to
    recv = s.recvfrom
    every = kind.read_every
    step = kind.step_ns
    t = k.clock.now
    sent = read = 0
    t0 = time.perf_counter()
    for i, f in enumerate(frames, 1):
        t += step
        adv(t)
        inp("em0", f)
        if every and i % every == 0:
            recv(65536)
            read += 1
        for q in txqs:
            if q:
                sent += len(q)
                q.clear()
    took = time.perf_counter() - t0
    return took, sent, read


def run_kind_dpkt(frames: list[bytes]) -> float:
    import dpkt

    eth = dpkt.ethernet.Ethernet
    t0 = time.perf_counter()
    for f in frames:
        eth(f)
    return time.perf_counter() - t0


def bench_kind(kind: Kind, n: int, repeat: int) -> dict[str, Any]:
    tpl = kind.frames()
    n -= n % len(tpl)
    frames = [tpl[i % len(tpl)] for i in range(n)]
    best_k = best_d = float("inf")
    sent = read = 0
    for _ in range(repeat):
        best_d = min(best_d, run_kind_dpkt(frames))
        took, sent, read = run_kind_stack(kind, frames)
        best_k = min(best_k, took)
    want_sent = round(n * kind.sent_per_frame)
    want_read = n // kind.read_every if kind.read_every else 0
    if sent != want_sent or read != want_read:
        raise SystemExit(
            f"bench {kind.name}: {sent} frames sent and {read} datagrams read, "
            f"expected {want_sent} and {want_read}: not the answered path"
        )
    return _figures(kind.name, kind.title, n, best_k, best_d, kind.target, sent=sent, read=read)


def _figures(
    name: str, title: str, n: int, t_k: float, t_d: float, target: float, **extra: int
) -> dict[str, Any]:
    return {
        "kind": name,
        "title": title,
        "frames": n,
        **extra,
        "kstack_pps": round(n / t_k),
        "dpkt_pps": round(n / t_d),
        "ratio": round(t_d / t_k, 3),
        "target": target,
    }


# -- the replay command over a mixed capture ---------------------------------------


def templates() -> list[bytes]:
    """One of each kind of frame; the capture cycles through them."""
    from scapy.layers.inet import ICMP, IP, UDP

    far = "198.51.100.9"
    frames = [
        _eth() / IP(src=PEER, dst=HOST, id=1) / ICMP(type=8, id=1, seq=1) / (b"x" * 56),
        _eth(src=ROUTER_MAC)
        / IP(src=far, dst=HOST, id=2)
        / ICMP(type=8, id=2, seq=1)
        / (b"y" * 56),
        _eth() / IP(src=PEER, dst=HOST, proto=253, id=3) / (b"u" * 40),
        _eth() / IP(src=PEER, dst=HOST, id=4, chksum=0x1234) / ICMP(type=8) / b"bad",
        _eth(dst="ff:ff:ff:ff:ff:ff") / IP(src=PEER, dst="192.0.2.255", id=5) / ICMP(type=8) / b"b",
        _eth() / IP(src=PEER, dst=HOST, id=6) / UDP(sport=5000, dport=9) / b"closed",
        _eth() / IP(src=PEER, dst=HOST, id=7) / UDP(sport=5000, dport=7000) / b"open",
        _eth() / IP(src=PEER, dst="192.0.2.99", id=8) / UDP(sport=1, dport=2) / b"notours",
    ]
    out = [f.build() for f in frames]
    out.append(out[0][: 14 + 12])  # truncated IP header
    out.append(out[2][:14] + b"\x65" + out[2][15:])  # bad version
    return out


def write_capture(path: Path, n: int) -> None:
    from kstack.pcapio import write_pcap

    tpl = templates()
    step = 2 * MS  # 2 ms apart: every echo stays under the ICMP rate limit
    base = 1_326_153_600 * 1_000_000_000

    def gen():  # type: ignore[no-untyped-def]
        for i in range(n):
            yield base + i * step, tpl[i % len(tpl)]

    write_pcap(path, gen())


def run_replay_command(path: Path) -> float:
    """``kstack replay --quiet`` as a user runs it (a child process)."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "kstack", "replay", "--quiet", "--no-progress", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def run_replay(path: Path) -> tuple[float, int]:
    """The whole ``kstack replay`` path without printing: default host
    derived by a prescan of the file, then the streaming replay."""
    from kstack.replay import replay

    t0 = time.perf_counter()
    summary = replay(path)
    return time.perf_counter() - t0, summary.frames_read


def run_dpkt_file(path: Path) -> tuple[float, int]:
    import dpkt

    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            dpkt.ethernet.Ethernet(buf)
            n += 1
    return time.perf_counter() - t0, n


def child_maxrss(path: Path) -> int:
    """Peak RSS (KiB) of a fresh process running replay() on ``path``."""
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import bench_replay as b, pathlib, resource;"
        f"b.run_replay(pathlib.Path({str(path)!r}));"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def compiled() -> bool:
    """Whether the hot modules were built with mypyc (extension modules)."""
    import kstack.netinet.ip_input as m

    return not str(m.__file__).endswith(".py")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=300_000, help="records in the replay capture")
    ap.add_argument("--kind-frames", type=int, default=48_000, help="frames per kind")
    ap.add_argument("--repeat", type=int, default=3, help="runs per kind (best counts)")
    ap.add_argument("--kinds", default="", help="comma-separated kinds to run (default: all)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory figures")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    wanted = set(filter(None, args.kinds.split(","))) or {k.name for k in KINDS} | {"replay"}
    unknown = wanted - {k.name for k in KINDS} - {"replay"}
    if unknown:
        ap.error(f"unknown kind(s): {', '.join(sorted(unknown))}")
    t_start = time.perf_counter()
    kinds = [bench_kind(k, args.kind_frames, args.repeat) for k in KINDS if k.name in wanted]
    res: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        big = Path(d) / "mixed.pcap"
        small = Path(d) / "mixed-small.pcap"
        if "replay" in wanted:
            write_capture(big, args.frames)
            best_k = best_d = float("inf")
            n = 0
            for _ in range(max(1, args.repeat - 1)):
                t_d, n = run_dpkt_file(big)
                best_d = min(best_d, t_d)
                best_k = min(best_k, run_replay_command(big))
            title = "kstack replay --quiet (command, mixed capture)"
            kinds.append(_figures("replay", title, n, best_k, best_d, 1.0))
            if not args.no_memory:
                write_capture(small, max(1, args.frames // 8))
                res["peak_rss_kib_small"] = child_maxrss(small)
                res["peak_rss_kib_large"] = child_maxrss(big)
                res["frames_small"] = max(1, args.frames // 8)
                res["frames_large"] = args.frames
    res = {
        "kinds": kinds,
        **res,
        "compiled": compiled(),
        "seconds": round(time.perf_counter() - t_start, 1),
        "self_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"{'kind':<48} {'kstack pkt/s':>12} {'dpkt pkt/s':>11} {'ratio':>6} {'target':>7}")
    for r in kinds:
        mark = "" if r["ratio"] >= r["target"] else "  below"
        print(
            f"{r['title']:<48} {r['kstack_pps']:>12} {r['dpkt_pps']:>11} "
            f"{r['ratio']:>6.2f} {r['target']:>6.1f}x{mark}"
        )
    if "peak_rss_kib_large" in res:
        print(
            f"peak RSS of a replay: {res['peak_rss_kib_small']} KiB at {res['frames_small']} "
            f"frames, {res['peak_rss_kib_large']} KiB at {res['frames_large']} frames"
        )
    print(
        f"({'mypyc build' if res['compiled'] else 'pure Python'}, Python {res['python']}, "
        f"{res['cpus']} CPUs, load {res['loadavg']}, {res['seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
