"""Replay throughput and memory, next to dpkt's bare parse of the same frames.

Writes a capture of mixed traffic (echo requests, unknown protocols,
malformed packets, broadcasts, UDP to a bound-and-drained socket and to a
closed port) into a temporary directory, then in one run:

* times the full stack: every frame read from the file, fed to the emulated
  host at its timestamp, answered, and the frames it sent collected;
* times dpkt reading the same file and parsing each frame
  (``dpkt.ethernet.Ethernet``), which is the floor a Python tool pays;
* measures peak memory (ru_maxrss of a child process) for a small and a
  large capture, to show that replay streams;
* times a UDP delivery workload: a capture of datagrams only, half to a
  bound socket that is drained after every frame, half to a closed port
  (port unreachable, rate limited by net.inet.icmp.icmplim), next to dpkt's
  parse of the same file.

Usage: python bench/bench_replay.py [--frames N] [--json]
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
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kstack import Kernel

HOST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:07"
ROUTER_MAC = "02:00:00:00:00:fe"


def templates() -> list[bytes]:
    """One of each kind of frame; the capture cycles through them."""
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    def eth(dst: str = HOST_MAC, src: str = PEER_MAC) -> Ether:
        return Ether(src=src, dst=dst)

    host, peer, far = "192.0.2.1", "192.0.2.7", "198.51.100.9"
    frames = [
        eth() / IP(src=peer, dst=host, id=1) / ICMP(type=8, id=1, seq=1) / (b"x" * 56),
        eth(src=ROUTER_MAC) / IP(src=far, dst=host, id=2) / ICMP(type=8, id=2, seq=1) / (b"y" * 56),
        eth() / IP(src=peer, dst=host, proto=253, id=3) / (b"u" * 40),
        eth() / IP(src=peer, dst=host, id=4, chksum=0x1234) / ICMP(type=8) / b"bad",
        eth(dst="ff:ff:ff:ff:ff:ff") / IP(src=peer, dst="192.0.2.255", id=5) / ICMP(type=8) / b"b",
        eth() / IP(src=peer, dst=host, id=6) / UDP(sport=5000, dport=9) / b"closed",
        eth() / IP(src=peer, dst=host, id=7) / UDP(sport=5000, dport=7000) / b"open",
        eth() / IP(src=peer, dst="192.0.2.99", id=8) / UDP(sport=1, dport=2) / b"notours",
    ]
    out = [f.build() for f in frames]
    out.append(out[0][: 14 + 12])  # truncated IP header
    out.append(out[2][:14] + b"\x65" + out[2][15:])  # bad version
    return out


def write_capture(path: Path, n: int) -> None:
    from kstack.pcapio import write_pcap

    tpl = templates()
    step = 1_000_000  # 1 ms apart: echo stays under the ICMP rate limit
    base = 1_326_153_600 * 1_000_000_000

    def gen():  # type: ignore[no-untyped-def]
        for i in range(n):
            yield base + i * step, tpl[i % len(tpl)]

    write_pcap(path, gen())


def run_stack(path: Path) -> tuple[float, int, int]:
    """Replay through the full stack; returns (seconds, frames in, frames out)."""
    import kstack
    from kstack.pcapio import open_capture

    t0 = time.perf_counter()
    with open_capture(path) as cap:
        k = None
        n_in = n_out = 0
        for rec in cap:
            if k is None:
                k = kstack.Kernel(boottime_ns=rec.ts_ns - 1_000_000_000)
                k.ifconfig("em0", "192.0.2.1/24", ether=HOST_MAC)
                k.arp_add("192.0.2.7", PEER_MAC)
                k.route_add("default", "192.0.2.254")
                k.arp_add("192.0.2.254", ROUTER_MAC)
                sock_drain = _open_udp(k)
                k.transmitted("em0")
                ifp = k.iface("em0")
                txq = ifp.txq
                vnet = k.vnet0
                vnet.record_events = False
                boot = k.clock.boottime_ns
            k.advance_to(rec.ts_ns - boot)
            vnet.input("em0", rec.data)
            n_in += 1
            if txq:
                n_out += len(txq)
                txq.clear()
            sock_drain()
    return time.perf_counter() - t0, n_in, n_out


def _open_udp(k: Kernel):  # type: ignore[no-untyped-def]
    """A UDP socket bound to port 7000; returns a function that drains it
    and counts the datagrams read."""
    from kstack import sock

    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.bind(("0.0.0.0", 7000))
    got = [0]
    recv = s.recvfrom

    def drain() -> int:
        while True:
            try:
                recv(65536)
            except BlockingIOError:
                return got[0]
            got[0] += 1

    return drain


def udp_templates() -> list[bytes]:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    frames = []
    for i in range(8):
        dport = 7000 if i % 2 == 0 else 9
        frames.append(
            Ether(src=PEER_MAC, dst=HOST_MAC)
            / IP(src="192.0.2.7", dst="192.0.2.1", id=100 + i)
            / UDP(sport=40000 + i, dport=dport)
            / (b"d" * (32 + 64 * i))
        )
    return [f.build() for f in frames]


def write_udp_capture(path: Path, n: int) -> None:
    from kstack.pcapio import write_pcap

    tpl = udp_templates()

    def gen():  # type: ignore[no-untyped-def]
        base = 1_326_153_600 * 1_000_000_000
        for i in range(n):
            yield base + i * 10_000, tpl[i % len(tpl)]  # 100,000 frames per second

    write_pcap(path, gen())


def run_udp(path: Path) -> tuple[float, int, int, int]:
    """(seconds, frames in, datagrams read from the socket, frames sent)."""
    import kstack
    from kstack.pcapio import open_capture

    t0 = time.perf_counter()
    with open_capture(path) as cap:
        k = None
        n_in = n_out = got = 0
        for rec in cap:
            if k is None:
                k = kstack.Kernel(boottime_ns=rec.ts_ns - 1_000_000_000)
                k.ifconfig("em0", "192.0.2.1/24", ether=HOST_MAC)
                k.arp_add("192.0.2.7", PEER_MAC)
                drain = _open_udp(k)
                txq = k.iface("em0").txq
                txq.clear()
                vnet = k.vnet0
                vnet.record_events = False
                boot = k.clock.boottime_ns
            k.advance_to(rec.ts_ns - boot)
            vnet.input("em0", rec.data)
            n_in += 1
            got = drain()
            if txq:
                n_out += len(txq)
                txq.clear()
    return time.perf_counter() - t0, n_in, got, n_out


def run_replay(path: Path) -> tuple[float, int]:
    """The whole ``kstack replay`` path without printing: default host
    derived by a prescan of the file, then the streaming replay."""
    from kstack.replay import replay

    t0 = time.perf_counter()
    summary = replay(path)
    return time.perf_counter() - t0, summary.frames_read


def run_dpkt(path: Path) -> tuple[float, int]:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        big = Path(d) / "mixed.pcap"
        small = Path(d) / "mixed-small.pcap"
        write_capture(big, args.frames)
        write_capture(small, max(1, args.frames // 8))
        t_dpkt, n_dpkt = run_dpkt(big)
        t_stack, n_in, n_out = run_stack(big)
        t_replay, n_replay = run_replay(big)
        rss_small = child_maxrss(small)
        rss_big = child_maxrss(big)
        udp = Path(d) / "udp.pcap"
        write_udp_capture(udp, args.frames)
        t_udp_dpkt, n_udp_dpkt = run_dpkt(udp)
        t_udp, n_udp, udp_read, udp_sent = run_udp(udp)
    res = {
        "frames": n_in,
        "frames_sent": n_out,
        "stack_seconds": round(t_stack, 3),
        "stack_fps": round(n_in / t_stack),
        "replay_fps": round(n_replay / t_replay),
        "replay_ratio": round((n_replay / t_replay) / (n_dpkt / t_dpkt), 3),
        "dpkt_seconds": round(t_dpkt, 3),
        "dpkt_fps": round(n_dpkt / t_dpkt),
        "ratio": round((n_in / t_stack) / (n_dpkt / t_dpkt), 3),
        "udp_frames": n_udp,
        "udp_datagrams_read": udp_read,
        "udp_frames_sent": udp_sent,
        "udp_fps": round(n_udp / t_udp),
        "udp_dpkt_fps": round(n_udp_dpkt / t_udp_dpkt),
        "udp_ratio": round((n_udp / t_udp) / (n_udp_dpkt / t_udp_dpkt), 3),
        "peak_rss_kib_small": rss_small,
        "peak_rss_kib_large": rss_big,
        "frames_small": max(1, args.frames // 8),
        "self_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(f"frames replayed         {res['frames']:>10} ({res['frames_sent']} sent)")
        print(f"full stack              {res['stack_fps']:>10} frames/s ({res['stack_seconds']} s)")
        print(
            f"replay() incl. prescan  {res['replay_fps']:>10} frames/s "
            f"(ratio {res['replay_ratio']})"
        )
        print(f"dpkt read+parse         {res['dpkt_fps']:>10} frames/s ({res['dpkt_seconds']} s)")
        print(f"ratio stack/dpkt        {res['ratio']:>10}   (target >= 0.5)")
        print(
            f"UDP delivery            {res['udp_fps']:>10} frames/s "
            f"({res['udp_datagrams_read']} read from the socket, "
            f"{res['udp_frames_sent']} port unreachables sent)"
        )
        print(f"dpkt, same UDP file     {res['udp_dpkt_fps']:>10} frames/s")
        print(f"ratio UDP/dpkt          {res['udp_ratio']:>10}   (target >= 0.5)")
        print(
            f"peak RSS                {rss_small:>10} KiB at {res['frames_small']} frames, "
            f"{rss_big} KiB at {res['frames']} frames"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
