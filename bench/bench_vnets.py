"""Many virtual stacks: what one more vnet costs, and what it costs the rest.

In one run:

* ``Kernel()`` construction (boot of vnet0: sysctl tree, lo0, timers);
* vnet creation at 10, 100 and 1000 vnets, per vnet: a vnet jail alone
  (should not grow with the count), then a vnet jail with an epair between
  it and the host, both ends configured (the usual topology of a network
  test; the host's side grows with the count: each new address is checked
  against the host's others, as in_addprefix does, and each epair end
  created on the host and moved leaves the host's routing tables walked,
  as if_detach does);
* per-packet cost with few vnets and with 1000: an ICMP echo answered by
  the host (1 vnet against 1000; ``Kernel.input``, the clock moved 1 ms
  and what the stacks sent collected, as a replay does per record) and an
  echo answered by a jail on its epair end (2 vnets against 1000; the
  reply crosses the epair netisr); the ratio should be close to 1. Output
  is collected from the interfaces and vnets that have some
  (``Kernel.ifnets_with_output``, ``Kernel.vnets_with_events``);
  ``host_echo_walk`` collects by walking every vnet and interface instead,
  to show what that walk costs;
* the cost of ``advance(1 ms)`` with nothing due, with 1 vnet and with 1000.

Each figure is the best of a few repeats (the machine is shared).

Usage: python bench/bench_vnets.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable
from typing import Any

HOST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:07"


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def kernel_boot(n: int, repeat: int) -> float:
    """Seconds per ``Kernel()``."""
    import kstack

    kstack.Kernel()  # imports and one-time set-up out of the figure

    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            kstack.Kernel()
        return (time.perf_counter() - t0) / n

    return _best(run, repeat)


def build(nvnets: int, wire: bool = True) -> tuple[Any, float]:
    """A host with em0 and ``nvnets - 1`` vnet jails, each joined to the host
    by an epair (host 10.x.y.1/30, jail 10.x.y.2/30) unless ``wire`` is
    false. Returns the kernel and the seconds per created vnet."""
    import kstack

    gc.collect()  # the last topology's garbage is not this one's cost
    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24", ether=HOST_MAC)
    t0 = time.perf_counter()
    for i in range(nvnets - 1):
        j = k.jail(f"v{i}", vnet=True)
        if wire:
            a, b = k.epair(k.vnet0, j)
            net = f"10.{i >> 6}.{(i & 63) * 4}"
            k.ifconfig(a, f"{net}.1/30", up=True)
            j.ifconfig(b, f"{net}.2/30", up=True)
    took = time.perf_counter() - t0
    return k, took / max(1, nvnets - 1)


def vnet_creation(count: int, repeat: int, wire: bool) -> float:
    return _best(lambda: build(count + 1, wire)[1], repeat)


def _echo(src: str, dst: str, dst_mac: str, src_mac: str, seq: int) -> bytes:
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import Ether

    pkt = (
        Ether(src=src_mac, dst=dst_mac)
        / IP(src=src, dst=dst, id=seq, ttl=64)
        / ICMP(type=8, id=1, seq=seq)
        / (b"x" * 56)
    )
    return bytes(pkt)


def _collect_noted(k: Any) -> None:
    """Take what the stacks sent and noted, visiting only the interfaces
    and vnets that have some (Kernel.ifnets_with_output, vnets_with_events)."""
    for ifp in k.ifnets_with_output():
        ifp.txq.clear()
    for v in k.vnets_with_events():
        v.take_events()


def _collect_walk(k: Any) -> None:
    """The same by a walk over every vnet and interface."""
    for v in k.vnets:
        if v.events:
            v.take_events()
        for ifp in v.ifnets:
            if ifp.txq:
                ifp.txq.clear()


def per_packet(nvnets: int, frames: int, repeat: int) -> dict[str, float]:
    """Seconds per frame: an echo to the host on em0 and, when there is a
    jail (``nvnets >= 2``), an echo to the first jail given on its epair
    end; each followed by a 1 ms step of the clock and the collection of
    what the stacks sent, as a replay does per record. ``host_echo_walk``
    collects by walking every vnet instead."""
    k, _ = build(nvnets)
    k.arp_add("192.0.2.7", PEER_MAC)
    cases: list[tuple[str, Any, str, bytes]] = [
        ("host_echo", k.vnet0, "em0", _echo("192.0.2.7", "192.0.2.1", HOST_MAC, PEER_MAC, 1))
    ]
    stacks = [k.vnet0]
    if nvnets >= 2:
        jail = k.jails["v0"]
        jail_mac = jail.vnet.iface("epair0b").ether
        host_mac = k.iface("epair0a").ether
        jail.vnet.arp_add("10.0.0.1", host_mac)
        frame = _echo("10.0.0.1", "10.0.0.2", jail_mac, host_mac, 2)
        cases.append(("jail_echo", jail.vnet, "epair0b", frame))
        stacks.append(jail.vnet)
    for v in stacks:
        v.sysctl("net.inet.icmp.icmplim", 0)  # every echo answered
    step = 1_000_000
    clock = k.clock
    out: dict[str, float] = {}
    _collect_walk(k)
    cases.insert(1, ("host_echo_walk", *cases[0][1:]))
    for label, stack, ifname, frame in cases:
        collect = _collect_walk if label.endswith("_walk") else _collect_noted
        if not hasattr(k, "ifnets_with_output"):  # an older kstack: walk
            collect = _collect_walk

        def run(
            stack: Any = stack,
            ifname: str = ifname,
            frame: bytes = frame,
            collect: Callable[[Any], None] = collect,
        ) -> float:
            t0 = time.perf_counter()
            for _ in range(frames):
                stack.input(ifname, frame)
                k.advance_to(clock.now + step)
                collect(k)
            return (time.perf_counter() - t0) / frames

        out[label] = _best(run, repeat)
    want = {k.vnet0: 2 * frames * repeat}
    if nvnets >= 2:
        want[stacks[1]] = frames * repeat
    for v, n in want.items():
        replies = v.netstat("icmp")["icps_outhist[0]"]
        assert replies == n, f"{v.name}: {replies} echo replies, not {n}"
    return out


def advance_cost(nvnets: int, steps: int, repeat: int) -> float:
    """Seconds per ``advance_to(now + 1 ms)`` with no packet in flight."""
    k, _ = build(max(1, nvnets))
    clock = k.clock

    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            k.advance_to(clock.now + 1_000_000)
        return (time.perf_counter() - t0) / steps

    return _best(run, repeat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and frames")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    repeat = 2 if args.quick else 5
    frames = 500 if args.quick else 2000
    res: dict[str, Any] = {}
    res["kernel_us"] = kernel_boot(20 if args.quick else 100, repeat) * 1e6
    res["vnet_create_us"] = {str(n): vnet_creation(n, repeat, False) * 1e6 for n in (10, 100, 1000)}
    res["vnet_wired_us"] = {
        str(n): vnet_creation(n, 1 if n == 1000 else repeat, True) * 1e6 for n in (10, 100, 1000)
    }
    one = per_packet(1, frames, repeat)
    two = per_packet(2, frames, repeat)
    many = per_packet(1000, frames, repeat)
    res["per_packet_us"] = {
        "host_echo": {"1": one["host_echo"] * 1e6, "1000": many["host_echo"] * 1e6},
        "host_echo_walk": {
            "1": one["host_echo_walk"] * 1e6,
            "1000": many["host_echo_walk"] * 1e6,
        },
        "jail_echo": {"2": two["jail_echo"] * 1e6, "1000": many["jail_echo"] * 1e6},
    }
    res["advance_us"] = {
        "1": advance_cost(1, frames * 5, repeat) * 1e6,
        "1000": advance_cost(1000, frames * 5, repeat) * 1e6,
    }
    vc = res["vnet_create_us"]
    vw = res["vnet_wired_us"]
    res["ratios"] = {
        "vnet_create_1000_vs_10": vc["1000"] / vc["10"],
        "vnet_wired_1000_vs_10": vw["1000"] / vw["10"],
        **{
            f"{kind}_1000_vs_{small}": v["1000"] / v[small]
            for kind, v in res["per_packet_us"].items()
            for small in v
            if small != "1000"
        },
        "advance_1000_vs_1": res["advance_us"]["1000"] / res["advance_us"]["1"],
    }
    if args.json:
        json.dump(res, sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(f"Kernel()                      {res['kernel_us']:9.1f} us")
    for n, us in vc.items():
        print(f"vnet creation, {n:>4} vnets      {us:9.1f} us per vnet")
    for n, us in vw.items():
        print(f"vnet + epair,  {n:>4} vnets      {us:9.1f} us per vnet")
    for kind, v in res["per_packet_us"].items():
        small, n = next(iter(v.items()))
        print(f"{kind:<15} {small} / 1000 vnets {n:9.2f} / {v['1000']:.2f} us per frame")
    a = res["advance_us"]
    print(f"advance 1 ms, 1 / 1000 vnets  {a['1']:9.2f} / {a['1000']:.2f} us")
    print("ratios (1.0 = independent of the vnet count):")
    for name, r in res["ratios"].items():
        print(f"  {name:<28} {r:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
