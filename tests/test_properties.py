"""Property tests of ip_input() (and what it calls) on arbitrary and mutated
packets: it never raises, every frame ends in exactly one Outcome of a known
kind, and the counters agree with the outcome (conservation, ARCHITECTURE 1.5).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kstack.outcome import DROPPED, KINDS, Outcome  # noqa: E402
from kstack.testing import (  # noqa: E402
    HOST,
    HOST1,
    ICMP,
    IP,
    PEER,
    REMOTE,
    ROUTER,
    SUBNET_BCAST,
    UDP,
    Raw,
    eth,
    host,
)

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

ETH = bytes(eth())
BLOCK_OF = {"ips_": "ip", "icps_": "icmp", "udps_": "udp", "igps_": "igmp"}


def _seeds() -> list[bytes]:
    """Valid IPv4 packets the mutations start from."""
    nop_opts = b"\x01\x01\x01\x00"
    rr = b"\x07\x07\x04\x00\x00\x00\x00\x00"  # record route with one slot
    pkts = [
        IP(src=PEER, dst=HOST) / ICMP(type=8, id=1, seq=1) / Raw(b"ping-data"),
        IP(src=PEER, dst=HOST) / ICMP(type=13, ts_ori=1, ts_rx=0, ts_tx=0),
        IP(src=PEER, dst=HOST)
        / ICMP(type=3, code=3)
        / IP(src=HOST, dst=PEER)
        / UDP(sport=1, dport=2),
        IP(src=PEER, dst=HOST)
        / ICMP(type=5, code=1, gw=ROUTER)
        / IP(src=HOST, dst=REMOTE)
        / UDP(sport=1, dport=2),
        IP(src=PEER, dst=HOST) / UDP(sport=1234, dport=9) / Raw(b"hello"),
        IP(src=PEER, dst=SUBNET_BCAST) / UDP(sport=1234, dport=9) / Raw(b"hello"),
        IP(src=PEER, dst=HOST, id=5, flags="MF", frag=0, proto=17) / Raw(b"f" * 16),
        IP(src=PEER, dst=HOST, id=5, frag=2, proto=17) / Raw(b"g" * 8),
        IP(src=PEER, dst=HOST, options=nop_opts) / ICMP(type=8) / Raw(b"opts"),
        IP(src=PEER, dst=HOST, options=rr) / UDP(sport=1, dport=9) / Raw(b"rr"),
        IP(src=PEER, dst=REMOTE, ttl=1) / UDP(sport=1, dport=2) / Raw(b"abcdefgh"),
        IP(src=PEER, dst="198.51.100.7", flags="DF") / UDP(sport=1, dport=2) / Raw(b"x" * 100),
        IP(src=PEER, dst="224.0.0.1", ttl=1, proto=2) / Raw(b"\x11\x64\xee\x9b\x00\x00\x00\x00"),
        IP(src=PEER, dst=HOST1, proto=253) / Raw(b"unknown"),
    ]
    return [bytes(p) for p in pkts]


SEEDS = _seeds()


def _kernel(forwarding: int):
    k = host()
    k.route_add("default", ROUTER)
    k.sysctl("net.inet.ip.forwarding", forwarding)
    k.ifconfig("em1", mtu=576)
    return k


def _check(k, ifname: str, frame: bytes) -> Outcome:
    before = k.netstat()
    out = k.input(ifname, frame)
    after = k.netstat()
    assert isinstance(out, Outcome)
    assert out.kind in KINDS, out
    moved = {
        proto: {n: after[proto][n] - v for n, v in snap.items() if after[proto][n] != v}
        for proto, snap in before.items()
    }
    # Every frame handed to IP is counted exactly once.
    assert moved["ip"].get("ips_total", 0) == 1, (out, moved)
    if out.kind == DROPPED:
        for prefix, block in BLOCK_OF.items():
            if out.reason.startswith(prefix) and out.reason in after[block]:
                assert moved[block].get(out.reason, 0) != 0, (out, moved)
    # No counter ever goes negative.
    for block in after.values():
        assert min(block.values()) >= 0, block
    return out


def _mutate(data: st.DataObject, pkt: bytes) -> bytes:
    buf = bytearray(pkt)
    for _ in range(data.draw(st.integers(0, 4), label="edits")):
        how = data.draw(st.sampled_from(["set", "truncate", "extend", "header"]), label="how")
        if how == "set" and buf:
            i = data.draw(st.integers(0, len(buf) - 1), label="pos")
            buf[i] = data.draw(st.integers(0, 255), label="byte")
        elif how == "header" and len(buf) >= 20:
            i = data.draw(st.integers(0, 19), label="hdrpos")
            buf[i] = data.draw(st.integers(0, 255), label="hdrbyte")
        elif how == "truncate" and buf:
            del buf[data.draw(st.integers(0, len(buf) - 1), label="cut") :]
        else:
            buf += data.draw(st.binary(max_size=24), label="tail")
    if len(buf) >= 20 and data.draw(st.booleans(), label="fixsum"):
        # Keep the header checksum valid so the mutation reaches later checks.
        from kstack.netinet.ip import set_cksum

        hlen = min((buf[0] & 0x0F) * 4, len(buf))
        if hlen >= 12:
            set_cksum(buf, 0, hlen)
    return bytes(buf)


@SETTINGS
@given(payload=st.binary(max_size=120), forwarding=st.sampled_from([0, 1]))
def test_arbitrary_bytes_em0(payload: bytes, forwarding: int) -> None:
    """ip_input via ether_input on em0 with arbitrary IP bytes."""
    _check(_kernel(forwarding), "em0", ETH + payload)


@SETTINGS
@given(payload=st.binary(max_size=120))
def test_arbitrary_bytes_lo0(payload: bytes) -> None:
    """ip_input via lo0 (no checksum offload on input from the harness)."""
    _check(_kernel(0), "lo0", payload)


@SETTINGS
@given(data=st.data(), seed=st.sampled_from(SEEDS), forwarding=st.sampled_from([0, 1]))
def test_mutated_packets_em0(data: st.DataObject, seed: bytes, forwarding: int) -> None:
    """Mutations of valid echo, UDP, fragment, option, ICMP error, IGMP
    and forwarded packets."""
    k = _kernel(forwarding)
    _check(k, "em0", ETH + _mutate(data, seed))
    # A second packet on the same kernel: state left by the first (held
    # fragments, ARP holds, rate-limit windows) must not break the next.
    _check(k, "em0", ETH + _mutate(data, data.draw(st.sampled_from(SEEDS), label="seed2")))


@SETTINGS
@given(data=st.data(), seed=st.sampled_from(SEEDS))
def test_mutated_packets_lo0(data: st.DataObject, seed: bytes) -> None:
    _check(_kernel(0), "lo0", _mutate(data, seed))


@SETTINGS
@given(data=st.data(), seeds=st.lists(st.sampled_from(SEEDS), min_size=1, max_size=6))
def test_sequences_with_time(data: st.DataObject, seeds: list[bytes]) -> None:
    """Several packets with virtual time moving between them (reassembly
    and ARP timers fire); advance() never raises."""
    k = _kernel(data.draw(st.sampled_from([0, 1]), label="forwarding"))
    for s in seeds:
        _check(k, "em0", ETH + _mutate(data, s))
        k.advance(data.draw(st.sampled_from([0, 0.5, 1, 31]), label="dt"))
