"""White-box tests of the machine-level pieces: clock, callouts, sysctl
errors, FIBs, route lookup, the seeded generator."""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack.kern.clock import NS, Clock
from kstack.kern.rand import Rng
from kstack.net.route import RouteTable, Rtentry


def test_callouts_fire_in_deadline_order_fifo_on_ties() -> None:
    """callout(9): same-deadline callouts run in the order scheduled."""
    c = Clock(0)
    fired: list[str] = []
    c.callout(2 * NS, fired.append, "b")
    c.callout(1 * NS, fired.append, "a1")
    c.callout(1 * NS, fired.append, "a2")
    stopped = c.callout(1 * NS, fired.append, "x")
    stopped.stop()
    while (co := c.pop_due(3 * NS)) is not None:
        co.fn(*co.args)
    assert fired == ["a1", "a2", "b"]
    assert c.now == 2 * NS


def test_advance_moves_time_and_runs_timers() -> None:
    k = kstack.Kernel()
    seen: list[int] = []
    k.clock.callout(NS // 2, lambda: seen.append(k.clock.now))
    k.advance(0)
    assert seen == []
    k.advance(1)
    assert seen == [NS // 2]
    assert k.clock.now == NS
    with pytest.raises(ValueError):
        k.advance(-1)


def test_sysctl_errors_as_sysctl_root() -> None:
    """sysctl_root(): ENOENT for unknown names, EISDIR for inner nodes, EPERM
    for read-only leaves, EINVAL for values out of range (intr_queue_maxlen
    must be within 1..net.isr.maxqlimit)."""
    k = kstack.Kernel()
    for name, code in (
        ("net.inet.ip.nosuchthing", errno.ENOENT),
        ("net.inet.ip", errno.EISDIR),
    ):
        with pytest.raises(OSError) as ei:
            k.sysctl(name)
        assert ei.value.errno == code
    with pytest.raises(OSError) as ei:
        k.sysctl("net.fibs", 4)
    assert ei.value.errno == errno.EPERM
    for bad in (0, 20000):
        with pytest.raises(OSError) as ei:
            k.sysctl("net.inet.ip.intr_queue_maxlen", bad)
        assert ei.value.errno == errno.EINVAL
    assert k.sysctl("net.inet.ip.forwarding", 1) == 0
    assert k.sysctl("net.inet.ip.forwarding") == 1


def test_vnet_sysctls_are_per_stack() -> None:
    """VNET_DEFINE'd variables: each vnet has its own value."""
    k = kstack.Kernel()
    v1 = k.new_vnet("v1")
    k.sysctl("net.inet.ip.ttl", 32)
    assert v1.sysctl("net.inet.ip.ttl") == 64


def test_fibs_boot_tunable_clamped() -> None:
    """net.fibs is clamped to 1..RT_MAXFIBS (16) at boot."""
    assert kstack.Kernel(fibs=0).sysctl("net.fibs") == 1
    assert kstack.Kernel(fibs=99).sysctl("net.fibs") == 16
    k = kstack.Kernel(fibs=2)
    assert len(k.vnet0.rt) == 2
    with pytest.raises(OSError) as ei:
        k.setfib(2)
    assert ei.value.errno == errno.EINVAL


def test_connected_routes_in_every_fib() -> None:
    """rtinit() with net.add_addr_allfibs=1 (dossier G7.3)."""
    k = kstack.Kernel(fibs=2)
    k.ifconfig("em0", "10.0.0.1/24")
    for fib in (0, 1):
        info = k.route_get("10.0.0.9", fib=fib)
        assert info is not None and info.prefix == "10.0.0.0/24" and info.ifname == "em0"


def test_longest_prefix_match() -> None:
    """rtalloc1_fib(): the most specific route wins."""
    k = kstack.Kernel()
    ifp = k.ifconfig("em0", "10.0.0.1/24")
    t = RouteTable(0)
    t.add(Rtentry(0, 0, ifp, None, 1, gateway=1))
    t.add(Rtentry(0x0A000000, 8, ifp, None, 1, gateway=2))
    t.add(Rtentry(0x0A010000, 16, ifp, None, 1, gateway=3))
    got = t.lookup(0x0A010203)
    assert got is not None and got.gateway == 3
    got = t.lookup(0x0A020304)
    assert got is not None and got.gateway == 2
    got = t.lookup(0x0B000001)
    assert got is not None and got.gateway == 1
    assert not t.add(Rtentry(0x0A000000, 8, ifp, None, 1))


def test_route_add_errors() -> None:
    k = kstack.Kernel()
    k.ifconfig("em0", "10.0.0.1/24")
    with pytest.raises(OSError) as ei:
        k.route_add("default", "192.168.5.5")
    assert ei.value.errno == errno.ENETUNREACH
    k.route_add("default", "10.0.0.254")
    with pytest.raises(OSError) as ei:
        k.route_add("default", "10.0.0.253")
    assert ei.value.errno == errno.EEXIST


def test_rng_is_seeded_and_deterministic() -> None:
    a, b, c = Rng(1), Rng(1), Rng(2)
    xs = [a.arc4random() for _ in range(5)]
    assert xs == [b.arc4random() for _ in range(5)]
    assert xs != [c.arc4random() for _ in range(5)]
    assert all(0 <= x < 2**32 for x in xs)


def test_ip_id_starts_from_boot_time() -> None:
    """ip_init(): the IP ID counter starts at time_second & 0xffff."""
    k = kstack.Kernel(boottime_ns=1_326_153_600 * NS)
    assert k.vnet0.ip_id == 1_326_153_600 & 0xFFFF


def test_unknown_profile_and_option() -> None:
    with pytest.raises(ValueError):
        kstack.Kernel(profile="7.4")
    with pytest.raises(ValueError):
        kstack.Kernel(options={"NOPE"})


def test_capture_writes_pcapng_with_reasons(tmp_path) -> None:
    """bpf taps: a capture sees frames both ways; written as pcapng with a
    comment per frame naming the direction and why it was sent."""
    from kstack.pcapio import open_capture

    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    cap = k.capture("em0")
    k.ifconfig("em0", "192.0.2.9/32", alias=True)  # gratuitous ARP for the alias
    arp_req = (
        b"\xff" * 6
        + bytes.fromhex("020000000007")
        + b"\x08\x06"
        + bytes.fromhex("0001080006040001")
        + bytes.fromhex("020000000007")
        + bytes([192, 0, 2, 7])
        + b"\x00" * 6
        + bytes([192, 0, 2, 1])
    )
    k.input("em0", arp_req)
    assert [(f.direction, (f.why.split() or [""])[0]) for f in cap.frames] == [
        ("out", "gratuitous"),
        ("in", ""),
        ("out", "arp"),
    ]
    path = tmp_path / "em0.pcapng"
    cap.write(path)
    with open_capture(path) as r:
        recs = list(r)
    assert [rec.data for rec in recs] == [f.data for f in cap.frames]
    assert recs[0].comment == "out: gratuitous arp for 192.0.2.9"
    assert recs[2].comment == "out: arp reply 192.0.2.1 is-at 02:00:00:00:00:01"


def _lo_echo() -> bytes:
    from kstack.netinet.ip import build_header, in_cksum

    icmp = bytearray(b"\x08\x00\x00\x00\x00\x01\x00\x01" + b"ping")
    icmp[2:4] = in_cksum(icmp).to_bytes(2, "big")
    hdr = build_header(
        tos=0, total=20 + len(icmp), ident=1, off=0, ttl=64, proto=1, src=0x7F000001, dst=0x7F000001
    )
    return bytes(hdr + icmp)


def test_loopback_reply_goes_through_the_netisr_queue() -> None:
    """looutput() -> if_simloop() -> netisr_queue(NETISR_IP): a reply to a
    local address is queued and processed when queued work runs (the echo
    reply then reaches rip_input, where nobody listens: ips_noproto)."""
    k = kstack.Kernel()
    before = k.netstat("ip")
    out = k.input("lo0", _lo_echo())
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    assert len(k.vnet0.ipintrq) == 1
    k.advance(0)
    ev = k.vnet0.take_events()
    assert [(e.what, e.outcome.reason if e.outcome else None) for e in ev] == [
        ("ip_input from lo0 queue", "ips_noproto")
    ]
    after = k.netstat("ip")
    moved = {n: after[n] - before[n] for n in after if after[n] != before[n]}
    assert moved == {"ips_total": 2, "ips_delivered": 1, "ips_localout": 1, "ips_noproto": 1}


def test_deferred_dispatch_and_queue_drops() -> None:
    """netisr deferred policy: input is queued; a full IP queue drops and
    counts the drop in net.inet.ip.intr_queue_drops."""
    k = kstack.Kernel()
    k.sysctl("net.isr.dispatch", "deferred")
    k.sysctl("net.inet.ip.intr_queue_maxlen", 1)
    first = k.input("lo0", _lo_echo())
    second = k.input("lo0", _lo_echo())
    assert (first.kind, second.kind, second.reason) == ("held", "dropped", "intr_queue_drops")
    assert k.sysctl("net.inet.ip.intr_queue_drops") == 1
    assert k.netstat("ip")["ips_total"] == 0
    k.advance(0)
    assert k.netstat("ip")["ips_total"] == 2  # the request, then its reply
