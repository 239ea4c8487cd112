"""bpf(4) taps: a running capture of one interface, written as pcapng."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet


class Frame(NamedTuple):
    ts_ns: int  # virtual wall-clock time
    data: bytes
    direction: str  # "in" or "out"
    why: str


class Capture:
    """Frames seen on an interface since the capture started (both ways)."""

    def __init__(self, ifp: Ifnet) -> None:
        self.ifp = ifp
        self.frames: list[Frame] = []
        self.running = True

    def tap(self, data: bytes, why: str, direction: str = "out") -> None:
        if self.running:
            clock = self.ifp.vnet.kernel.clock
            self.frames.append(Frame(clock.wall_ns, bytes(data), direction, why))

    def stop(self) -> None:
        self.running = False
        if self in self.ifp.captures:
            self.ifp.captures.remove(self)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the frames as pcapng, one comment per frame saying why."""
        from kstack.net.if_var import IFT_LOOP
        from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_NULL, PcapngWriter

        if not isinstance(path, (str, bytes, os.PathLike)):
            # open() would take an int as a file descriptor and close it.
            raise TypeError(f"a capture is written to a path, not {type(path).__name__}")
        linktype = LINKTYPE_NULL if self.ifp.type == IFT_LOOP else LINKTYPE_ETHERNET
        with open(path, "wb") as f:
            w = PcapngWriter(f)
            ifid = w.add_interface(linktype, self.ifp.name)
            for fr in self.frames:
                data = fr.data
                if linktype == LINKTYPE_NULL:
                    data = (2).to_bytes(4, "little") + data  # AF_INET, host order
                comment = f"{fr.direction}: {fr.why}" if fr.why else fr.direction
                w.write(ifid, fr.ts_ns, data, comment)
