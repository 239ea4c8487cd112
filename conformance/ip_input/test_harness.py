"""The kstack pytest plugin's own helpers (kstack/pytest_plugin.py)."""

from __future__ import annotations

import pytest

from kstack.pytest_plugin import Delta, delta, frame_fields, match_frame
from kstack.testing import BOOT_IP_ID, HOST, ICMP, IP, PEER, Raw, echo_request, reply_eth


def _reply(**ip: object) -> bytes:
    return bytes(
        reply_eth() / IP(src=HOST, dst=PEER, **ip) / ICMP(type=0, id=0x1234, seq=1) / Raw(b"x")
    )


def test_match_frame_names_the_differing_fields() -> None:
    with pytest.raises(AssertionError) as exc:
        match_frame(_reply(id=1, ttl=64), _reply(id=2, ttl=63))
    text = str(exc.value)
    assert "ip.id [18:20]: got 0001, expected 0002" in text
    assert "ip.ttl [22:23]" in text and "ip.sum" in text


def test_match_frame_dont_care() -> None:
    match_frame(_reply(id=1), _reply(id=2), dont_care={"ip.id", "ip.sum"})
    with pytest.raises(ValueError):
        match_frame(_reply(), _reply(), dont_care={"ip.nonsense"})


def test_match_frame_inner_fields() -> None:
    quote = bytes(IP(src=PEER, dst=HOST, proto=17) / Raw(b"\x00" * 8))
    err = reply_eth() / IP(src=HOST, dst=PEER, proto=1) / ICMP(type=3, code=3) / Raw(quote)
    spans = frame_fields(bytes(err))
    assert spans["inner.ip.sum"] == (14 + 20 + 8 + 10, 14 + 20 + 8 + 12)
    assert spans["inner.udp.dport"] == (14 + 20 + 8 + 20 + 2, 14 + 20 + 8 + 20 + 4)


def test_delta_only_what_moved(k) -> None:
    with delta(k) as d:
        pass
    assert d == {}
    with delta(k) as d:
        k.input("em0", echo_request())
    assert isinstance(d, Delta)
    assert d["ip"] == {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1}
    assert (
        d.diff_lines({"ip": {"ips_total": 2}})[0] == "icmp.icps_inhist[8]: moved by +1, expected +0"
    )
    assert BOOT_IP_ID == 32640
