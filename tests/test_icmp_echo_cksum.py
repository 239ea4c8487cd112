"""The echo reply's checksum derived from the request's (ip_icmp.py) equals
the full in_cksum over the reply, for every length and content tried."""

from __future__ import annotations

import pytest

from kstack.netinet.ip import in_cksum, in_cksum_ok
from kstack.netinet.ip_icmp import _echo_reply_cksum


def _request(body: bytes) -> bytearray:
    """An echo request (type 8, code 0) carrying ``body``, with its checksum."""
    msg = bytearray(b"\x08\x00\x00\x00") + body
    c = in_cksum(msg)
    msg[2], msg[3] = c >> 8, c & 0xFF
    assert in_cksum_ok(msg)
    return msg


def _bodies() -> list[bytes]:
    out = [bytes(n) for n in (4, 5, 60)]  # all-zero replies (the fallback)
    x = 12345
    for n in range(4, 70):
        b = bytearray()
        for _ in range(n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            b.append(x >> 16 & 0xFF)
        out.append(bytes(b))
    out.append(b"\xff" * 1372)
    out.append(bytes(range(256)) * 5)
    return out


@pytest.mark.parametrize("body", _bodies(), ids=lambda b: f"{len(b)}B")
def test_echo_reply_cksum_matches_in_cksum(body: bytes) -> None:
    """icmp_input (ip_icmp.c) turns ICMP_ECHO into ICMP_ECHOREPLY and
    icmp_send checksums the reply in full; the shortcut gives the same
    bytes, or -1 (compute in full) when its residue is 0."""
    req = _request(body)
    reply = bytearray(req)
    reply[0] = 0
    reply[2] = reply[3] = 0
    got = _echo_reply_cksum(req[2] << 8 | req[3])
    if got < 0:
        assert (-((8 << 8) + (req[2] << 8 | req[3]))) % 0xFFFF == 0
    else:
        assert got == in_cksum(reply)
