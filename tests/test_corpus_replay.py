"""Replay every capture of the shared corpus with the default host: no
exception, every record accounted for."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstack.pcapio import PcapError
from kstack.replay import ReplayError, replay

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pcaps"
SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp", ".pcap.gz")
#: Keep the whole file fast: captures larger than this are left out.
MAX_BYTES = 4 * 1024 * 1024


def _files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and p.name.endswith(SUFFIXES) and p.stat().st_size <= MAX_BYTES
    )


FILES = _files()


@pytest.mark.skipif(not FILES, reason=f"no corpus at {CORPUS}")
@pytest.mark.parametrize(
    "path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES] if FILES else []
)
def test_corpus_file(path: Path) -> None:
    try:
        s = replay(path)
    except (PcapError, ReplayError) as e:
        # Foreign or damaged files and non-IP link types are refused with a
        # one-line message, never a crash.
        assert "\n" not in str(e)
        return
    assert s.outcomes + s.skipped == s.frames_read


def test_corpus_present_or_skip() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    assert FILES
