"""Replay every capture of the shared corpus with the default host: no
exception, every record accounted for, and no frame fed back into the host
that sent it. Named corpus cases check the default host's choices.

The corpus lives outside the repository (../shared/corpus/pcaps); without
it these tests skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_NULL, PcapError
from kstack.replay import OWN_FRAME, PacketResult, ReplayError, replay

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pcaps"
#: Keep the whole file fast: captures larger than this are left out.
MAX_BYTES = 4 * 1024 * 1024


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and p.name != "MANIFEST.md" and p.stat().st_size <= MAX_BYTES
    )


FILES = _files()
needs_corpus = pytest.mark.skipif(not FILES, reason=f"no corpus at {CORPUS}")


@needs_corpus
@pytest.mark.parametrize(
    "path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES] if FILES else []
)
def test_corpus_file(path: Path) -> None:
    got: list[PacketResult] = []
    try:
        s = replay(path, on_event=got.append)
    except (PcapError, ReplayError) as e:
        # Foreign or damaged files and non-IP link types are refused with a
        # one-line message, never a crash.
        assert "\n" not in str(e)
        return
    assert s.outcomes + s.skipped == s.frames_read == len(got)
    em0 = s.kernel.vnet0.ifnet_by_name.get("em0")
    mac = em0.lladdr if em0 is not None else None
    mine = {ia.addr for ia in s.kernel.vnet0.in_ifaddrhead}
    for r in got:
        if r.linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            assert r.iface == "lo0" and not r.own  # the host sends and receives it all
            continue
        if r.outcome is None:
            assert r.own == (r.skipped == OWN_FRAME)
            continue
        # Fed: never a frame the host itself sent.
        if r.linktype == LINKTYPE_ETHERNET:
            assert not (r.frame[6:12] == mac and r.frame[0:6] != mac), r.index
        else:
            ip = r.frame[14:]
            if len(ip) >= 20:
                src = int.from_bytes(ip[12:16], "big")
                dst = int.from_bytes(ip[16:20], "big")
                assert not (src in mine and dst not in mine), r.index


@needs_corpus
def test_corpus_present() -> None:
    assert len(FILES) == 100


def _notes(path: Path) -> tuple[list[str], list[PacketResult], object]:
    notes: list[str] = []
    got: list[PacketResult] = []
    s = replay(path, on_note=notes.append, on_event=got.append)
    return notes, got, s


@needs_corpus
def test_traceroute_capture_picks_the_tracer() -> None:
    """The target and every hop share the gateway's MAC, so they are behind a
    router; the tracer is the host, and the time-exceeded messages reach it
    (icmp_input, then rip_input with no listener)."""
    notes, got, s = _notes(CORPUS / "chrissanders-packets" / "icmp_traceroute.pcapng")
    assert notes[0].startswith("host: 192.168.100.138/24 (the on-link address")
    assert notes[1] == "em0 ether 00:16:d4:b8:59:b1 (destination MAC of 27 frames to the host)"
    fed = [r for r in got if r.outcome is not None]
    assert len(fed) == 27 and sum(r.own for r in got) == 27
    assert {r.outcome.reason for r in fed} == {"ips_noproto"}
    assert all("no raw socket listening" in r.outcome.detail for r in fed)


@needs_corpus
def test_fragmented_ping_capture_picks_the_target() -> None:
    """Requests weigh more than replies: the pinged host is chosen, its
    fragments are reassembled (ip_reass) and each echo answered."""
    notes, got, s = _notes(CORPUS / "chrissanders-packets" / "ppa1e" / "ipfragments.pcap")
    assert notes[0].startswith("host: 192.168.0.193/24")
    assert [r.outcome.reason for r in got if r.outcome is not None] == (
        ["ips_fragments", "ips_fragments", "icps_reflect"] * 4
    )
    assert sum(r.own for r in got) == 12


@needs_corpus
def test_loopback_capture_goes_to_lo0() -> None:
    """A NULL-link capture of lo0: fed to lo0, where the host both sends and
    receives; lo0's checksum offload leaves the IP checksums zero."""
    notes, got, s = _notes(CORPUS / "PCS" / "tests" / "loopping.out")
    assert notes[0].startswith("loopback capture: records go to lo0")
    assert [r.iface for r in got] == ["lo0"] * 6
    assert [r.outcome.kind for r in got if r.outcome] == ["answered", "dropped"] * 3


@needs_corpus
def test_capture_without_a_unicast_destination_reaches_ip_input() -> None:
    """A truncated IP header has no destination; the frame's own unicast MAC
    is given to em0 so that it reaches ip_input (ips_tooshort)."""
    notes, got, s = _notes(
        CORPUS / "zeek" / "testing" / "btest" / "Traces" / "trunc" / "ip4-trunc.pcap"
    )
    assert notes[1].startswith("em0 ether 00:10:db:88:d2:ef (the unicast destination MAC")
    assert [r.outcome.reason for r in got if r.outcome] == ["ips_tooshort"]


@needs_corpus
def test_checksum_offload_capture_picks_the_capturing_host() -> None:
    """Frames the capturing host sent carry checksum 0 (offload): they weigh
    nothing, so the capturing host is chosen and its own frames skipped."""
    notes, got, s = _notes(CORPUS / "chrissanders-packets" / "ip_frag_source.pcapng")
    assert notes[0].startswith("host: 10.10.0.3/24")
    assert [r.own for r in got] == [True] * 3 + [False] * 3
    assert [r.outcome.reason for r in got if r.outcome] == [
        "ips_fragments",
        "ips_fragments",
        "ips_noproto",
    ]
