"""pcaps/options/ping-options.pcap, the example of docs/ip_options.md,
under each setting the document shows (ip_dooptions, icmp_reflect)."""

from __future__ import annotations

from pathlib import Path

from kstack.replay import PacketResult, replay

CAPTURE = Path(__file__).resolve().parents[2] / "pcaps" / "options" / "ping-options.pcap"
ANSWERED = "answered: icps_reflect -> icmp_input"


def _run(*sysctls: tuple[str, object]) -> list[PacketResult]:
    got: list[PacketResult] = []
    replay(CAPTURE, on_event=got.append, sysctls=sysctls)
    return got


def test_mode_1():
    """RR and TS answered with the options filled; a loose route with a hop
    left dropped silently (not a router); one ending here refused (3/5,
    accept_sourceroute=0); RR of length 0 refused (12, pointer 21)."""
    got = _run()
    assert [str(r.outcome).split(" (")[0] for r in got] == [
        ANSWERED,
        ANSWERED,
        "dropped: ips_cantforward",
        "dropped: ips_badoptions",
        "dropped: ips_badoptions",
    ]
    rr = got[0].sent[0].data[34:74]
    assert rr[:3] == b"\x07\x27\x08" and rr[3:7] == bytes((192, 0, 2, 1))
    ts = got[1].sent[0].data[34:74]
    assert ts[:4] == b"\x44\x28\x09\x00"
    assert int.from_bytes(ts[4:8], "big") == (1326157200 * 1000 + 250) % 86_400_000
    assert got[3].sent[0].data[34:36] == b"\x03\x05"
    assert (got[4].sent[0].data[34], got[4].sent[0].data[38]) == (12, 21)


def test_mode_0():
    """Everything answered; RR and TS copied unfilled, nothing else copied."""
    got = _run(("net.inet.ip.process_options", 0))
    assert [str(r.outcome) for r in got] == [ANSWERED] * 5
    assert got[0].sent[0].data[34:37] == b"\x07\x27\x04"
    assert [r.sent[0].data[14] for r in got] == [0x4F, 0x4F, 0x45, 0x45, 0x45]


def test_mode_2():
    """Everything refused with 3/13."""
    got = _run(("net.inet.ip.process_options", 2))
    assert all(r.outcome is not None and r.outcome.reason == "ips_badoptions" for r in got)
    assert [r.sent[0].data[34:36] for r in got] == [b"\x03\x0d"] * 5


def test_accept_sourceroute():
    """With accept_sourceroute=1 the route ending here is accepted and the
    reply goes back through 192.0.2.254 (its address needs ARP first)."""
    got = _run(("net.inet.ip.accept_sourceroute", 1))
    assert str(got[3].outcome) == ANSWERED
    (sent,) = got[3].sent
    arp = sent.data
    assert arp[12:14] == b"\x08\x06" and arp[38:42] == bytes((192, 0, 2, 254))
