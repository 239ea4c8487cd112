"""ip_dooptions (netinet/ip_options.c) under net.inet.ip.process_options 0,
1 and 2: Record Route, Timestamp, EOL/NOP, passed-over options and every
malformed option, for packets to this host, forwarded packets and raw
readers (dossier section 5; every expectation derived from the wire bytes
of the input and the rules of ip_dooptions)."""

from __future__ import annotations

import pytest

from kstack import sock as S
from kstack.testing import HOST, HOST1, HOST_MAC, ICMP, PEER, PEER_MAC, Ether, Raw, host

from .helpers import (
    ECHO_DATA,
    FAR,
    addr,
    echo,
    forwarded,
    frame,
    on_em1,
    pad,
    router,
    rr,
    ts,
    udp,
    with_options,
)

ECHO_OK = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
}


def _echo_reply(opts: bytes, seq: int = 1, dst: str = PEER, dst_mac: str = PEER_MAC) -> bytes:
    """icmp_reflect: the reply with these options (the IP ID is don't care)."""
    pkt = with_options(
        opts, ICMP(type=0, id=0x77, seq=seq) / Raw(ECHO_DATA), src=HOST, dst=dst, id=0
    )
    return bytes(Ether(src=HOST_MAC, dst=dst_mac, type=0x0800)) + pkt


def _param_problem(offending: bytes, pointer: int) -> bytes:
    """icmp_error(ICMP_PARAMPROB): a 20-byte header (TOS 0, ip_off of the
    offending packet), the pointer, and the offending header with 8 bytes."""
    hl = (offending[0] & 0x0F) * 4
    err = ICMP(type=12, code=0, ptr=pointer) / Raw(offending[: hl + 8])
    pkt = with_options(b"", err, src=HOST, dst=PEER, id=0, tos=0)
    return bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + pkt


def _unreach(offending: bytes, code: int) -> bytes:
    hl = (offending[0] & 0x0F) * 4
    err = ICMP(type=3, code=code) / Raw(offending[: hl + 8])
    pkt = with_options(b"", err, src=HOST, dst=PEER, id=0, tos=0)
    return bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + pkt


def _refused(pointer_or_code: int, kind: int = 12) -> dict[str, dict[str, int]]:
    return {
        "ip": {"ips_total": 1, "ips_badoptions": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, f"icps_outhist[{kind}]": 1},
    }


# -- process_options ---------------------------------------------------------------


def test_mode_0_options_untouched_and_copied_into_the_reply(delta, match_frame):
    """ip_dooptions with process_options=0 returns at once; icmp_reflect then
    copies the Record Route option as received (G5.2)."""
    k = host()
    k.sysctl("net.inet.ip.process_options", 0)
    opts = rr(3)
    with delta(k) as d:
        out = k.input("em0", frame(echo(opts)))
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    assert d == ECHO_OK
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(opts), {"ip.id"})


def test_mode_1_record_route_filled_and_copied_into_the_reply(delta, match_frame):
    """ip_dooptions, Record Route for us: the receiving address is recorded,
    the pointer moves to 8; icmp_reflect copies the processed option."""
    k = host()
    with delta(k) as d:
        k.input("em0", frame(echo(rr(3))))
    assert d == ECHO_OK
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(rr(3, ptr=8, filled=(HOST,))), {"ip.id"})


@pytest.mark.parametrize("opts", [b"\x01\x01\x01\x01", rr(3), b"\x94\x04\x00\x00"])
def test_mode_2_refuses_any_option(opts, delta, match_frame):
    """process_options=2: any option, even NOPs, is refused with ICMP 3/13
    (UNREACH_FILTER_PROHIB) and ips_badoptions (G5.1)."""
    k = host()
    k.sysctl("net.inet.ip.process_options", 2)
    pkt = echo(opts)
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    assert (out.kind, out.reason) == ("dropped", "ips_badoptions")
    assert d == _refused(13, kind=3)
    (err,) = k.transmitted("em0")
    match_frame(err, _unreach(pkt, 13), {"ip.id"})


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_modes_on_a_forwarded_packet(mode, delta, match_frame):
    """A forwarded UDP datagram with Record Route: mode 0 forwards it as is
    (TTL - 1); mode 1 records the outgoing interface's address (ip_rtaddr of
    the destination, em1's 198.51.100.1); mode 2 refuses it with 3/13."""
    k = router()
    k.sysctl("net.inet.ip.process_options", mode)
    pkt = udp(rr(2), dst=FAR)
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    if mode == 2:
        assert out.reason == "ips_badoptions" and k.transmitted("em1") == []
        match_frame(k.transmitted("em0")[0], _unreach(pkt, 13), {"ip.id"})
        return
    assert (out.kind, out.reason) == ("forwarded", "ips_forward")
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    new = rr(2) if mode == 0 else rr(2, ptr=8, filled=(HOST1,))
    (sent,) = k.transmitted("em1")
    assert sent == on_em1(forwarded(pkt, new))


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_modes_for_a_raw_reader(mode):
    """rip_input gets the header as ip_dooptions left it: unfilled (0),
    filled without a new header checksum (1), nothing (2)."""
    k = host()
    k.sysctl("net.inet.ip.process_options", mode)
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    pkt = with_options(rr(2), Raw(b"raw!"), proto=253)
    k.input("em0", frame(pkt))
    if mode == 2:
        with pytest.raises(BlockingIOError):
            s.recv(2048)
        return
    got = s.recv(2048)
    want = bytearray(pkt)
    want[2:4] = (len(pkt) - 32).to_bytes(2, "little")  # 9.x: payload length, host order
    if mode == 1:
        want[22] = 8
        want[23:27] = addr(HOST)
    assert got == bytes(want)


# -- Record Route ------------------------------------------------------------------


def test_record_route_full_is_left_alone(match_frame):
    """ip_dooptions: a Record Route with no room left is ignored."""
    k = host()
    full = rr(2, ptr=12, filled=("10.0.0.1", "10.0.0.2"))
    k.input("em0", frame(echo(full)))
    match_frame(k.transmitted("em0")[0], _echo_reply(full), {"ip.id"})


def test_record_route_our_other_address(match_frame):
    """ip_dooptions: for a destination that is ours, the address of the
    interface owning it (ifa_ifwithaddr), here em1's, reached via em0."""
    k = host()
    k.input("em0", frame(echo(rr(1), dst=HOST1)))
    (reply,) = k.transmitted("em0")
    want = with_options(
        rr(1, ptr=8, filled=(HOST1,)),
        ICMP(type=0, id=0x77, seq=1) / Raw(ECHO_DATA),
        src=HOST1,
        dst=PEER,
        id=0,
    )
    match_frame(reply, bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + want, {"ip.id"})


@pytest.mark.parametrize(
    "opts, pointer",
    [
        (b"\x07\x07\x03\x00" + bytes(4), 22),  # pointer 3 < 4
        (b"\x07\x02\x00\x00", 22),  # length 2 < 3: the pointer byte is blamed
        (b"\x07\x07\x00\x00" + bytes(4), 22),  # pointer 0
    ],
)
def test_record_route_malformed(opts, pointer, delta, match_frame):
    """ip_dooptions: Record Route with a length under 3 or a pointer under 4
    -> parameter problem pointing at the pointer byte, ips_badoptions."""
    k = host()
    pkt = echo(opts)
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == _refused(pointer)
    match_frame(k.transmitted("em0")[0], _param_problem(pkt, pointer), {"ip.id"})


def test_record_route_no_route_is_host_unreachable(delta, match_frame):
    """ip_dooptions: Record Route on a packet to forward with no route to its
    destination (not ours, ip_rtaddr finds nothing) -> ICMP 3/1 and
    ips_badoptions, before ip_forward is reached."""
    k = host()
    k.sysctl("net.inet.ip.forwarding", 1)
    pkt = udp(rr(1), dst="203.0.113.9")
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    assert out.reason == "ips_badoptions"
    assert d == _refused(1, kind=3)
    match_frame(k.transmitted("em0")[0], _unreach(pkt, 1), {"ip.id"})


# -- Timestamp ---------------------------------------------------------------------

T = 3723.456  # seconds after boot: 01:02:03.456 UTC, 3723456 ms since midnight
T_MS = (3723456).to_bytes(4, "big")


def _ts_reply(k, opts: bytes, match_frame) -> None:
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(opts), {"ip.id"})


def test_timestamp_only(match_frame):
    """ip_dooptions, flag 0: the time (ms since midnight UTC, iptime) in the
    next slot, pointer + 4."""
    k = host()
    k.advance(T)
    k.input("em0", frame(echo(ts(0, 12))))
    _ts_reply(k, ts(0, 12, ptr=9, body=T_MS), match_frame)


def test_timestamp_last_slot_counts_as_full(match_frame):
    """ip_dooptions: the full test is on the 1-based pointer (pointer >
    length - 4), so a 12-byte option with pointer 9 is full: the overflow
    counter goes to 1 and nothing is written (G5.5b)."""
    k = host()
    k.advance(T)
    k.input("em0", frame(echo(ts(0, 12, ptr=9))))
    _ts_reply(k, ts(0, 12, ptr=9, oflw=1), match_frame)


def test_timestamp_overflow_wraps_to_parameter_problem(delta, match_frame):
    """ip_dooptions: the 4-bit overflow counter of a full option wraps from
    15 to 0 -> parameter problem at the pointer byte."""
    k = host()
    opts = ts(0, 8, ptr=9, oflw=15)
    pkt = echo(opts)
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == _refused(22)
    seen = bytearray(pkt)
    seen[23] = 0x00  # the counter wrapped in the quoted header
    match_frame(k.transmitted("em0")[0], _param_problem(bytes(seen), 22), {"ip.id"})


def test_timestamp_with_address(match_frame):
    """ip_dooptions, flag 1: the receiving interface's address for the
    destination (ifaof_ifpforaddr), then the time; pointer + 8."""
    k = host()
    k.advance(T)
    k.input("em0", frame(echo(ts(1, 20))))
    _ts_reply(k, ts(1, 20, ptr=13, body=addr(HOST) + T_MS), match_frame)


def test_timestamp_prespecified_ours_and_not(match_frame):
    """ip_dooptions, flag 3: the time goes in only after a prespecified
    address of ours; a foreign one leaves the option untouched."""
    k = host()
    k.advance(T)
    ours = ts(3, 12, body=addr(HOST))
    k.input("em0", frame(echo(ours)))
    _ts_reply(k, ts(3, 12, ptr=13, body=addr(HOST) + T_MS), match_frame)
    other = ts(3, 12, body=addr("10.9.9.9"))
    k.input("em0", frame(echo(other, seq=2)))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(other, seq=2), {"ip.id"})


@pytest.mark.parametrize(
    "opts, pointer",
    [
        (ts(2, 12), 23),  # flag 2 is not defined: the flags byte
        (b"\x44\x03\x05\x00", 21),  # length 3 < 4: the length byte
        (ts(0, 12, ptr=4), 21),  # pointer 4 < 5: the length byte as well
        (ts(1, 16, ptr=11), 22),  # flag 1 without room for address and time
        (ts(3, 16, ptr=11), 22),  # flag 3 likewise
    ],
)
def test_timestamp_malformed(opts, pointer, delta, match_frame):
    """ip_dooptions: malformed timestamps -> parameter problem at the byte
    the kernel names (length byte for a bad length or pointer under 5, the
    pointer byte when address and time do not fit, the flags byte for an
    unknown flag)."""
    k = host()
    pkt = echo(opts)
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == _refused(pointer)
    match_frame(k.transmitted("em0")[0], _param_problem(pkt, pointer), {"ip.id"})


# -- option framing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "opts, pointer",
    [
        (b"\x07\x00\x00\x00", 21),  # length 0 (G5.4)
        (b"\x07\x01\x00\x00", 21),  # length 1
        (b"\x07\x0b\x04\x00", 21),  # length 11 > 4 bytes left
        (b"\x01\x01\x01\x44", 24),  # an option in the last byte: no length byte
        (b"\x01\x94\x08\x00", 22),  # length 8 > 3 left, after a NOP
    ],
)
def test_malformed_lengths(opts, pointer, delta, match_frame):
    """ip_dooptions: an option without a length byte, or whose length is
    under 2 or runs past the header -> parameter problem pointing at its
    length byte (offset from the start of the IP header)."""
    k = host()
    pkt = echo(opts)
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    assert (out.kind, out.reason) == ("dropped", "ips_badoptions")
    assert d == _refused(pointer)
    match_frame(k.transmitted("em0")[0], _param_problem(pkt, pointer), {"ip.id"})


@pytest.mark.parametrize(
    "opts",
    [
        b"\x94\x04\x00\x00",  # Router Alert
        b"\x99\x04\xaa\xbb",  # unknown
        b"\x01\x01\x01\x01",  # NOPs
        b"\x00\x07\x00\x00",  # EOL, then bytes that are never read
        pad(b"\x82\x0b" + bytes(9)),  # Security
    ],
)
def test_passed_over(opts, delta):
    """ip_dooptions skips options it does not process; EOL ends the list.
    The echo is answered."""
    k = host()
    with delta(k) as d:
        out = k.input("em0", frame(echo(opts)))
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    assert d == ECHO_OK


def test_options_processed_in_order_before_a_bad_one(match_frame):
    """ip_dooptions works through the list in place: a Record Route before a
    malformed option is already filled in the header the error quotes."""
    k = host()
    opts = b"\x07\x07\x04" + bytes(4) + b"\x01" + b"\x07\x00\x00\x00"
    pkt = echo(opts)
    k.input("em0", frame(pkt))
    seen = bytearray(pkt)
    seen[22] = 8
    seen[23:27] = addr(HOST)
    match_frame(k.transmitted("em0")[0], _param_problem(bytes(seen), 29), {"ip.id"})


def test_udp_delivery_strips_options():
    """udp_input: ip_stripoptions before delivery; the payload is intact."""
    k = host()
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", 9))
    k.input("em0", frame(udp(rr(2))))
    assert s.recvfrom(100) == (b"opts-udp", (PEER, 4000))


def test_port_unreachable_quotes_the_stripped_header(match_frame):
    """udp_input strips the options before icmp_error: the port unreachable
    carries no options and quotes a 20-byte header (ip_len 20 + UDP)."""
    k = host()
    pkt = udp(rr(2))
    k.input("em0", frame(pkt))
    (err,) = k.transmitted("em0")
    stripped = bytearray(pkt[:20] + pkt[32:])
    stripped[0] = 0x45
    stripped[2:4] = (20 + len(pkt) - 32).to_bytes(2, "big")
    match_frame(err, _unreach(bytes(stripped), 3), {"ip.id"})


def test_time_exceeded_quotes_the_processed_options(match_frame):
    """ip_dooptions runs before ip_forward: a TTL-1 packet with Record Route
    is answered with time exceeded quoting the option as filled in (the
    outgoing address), header and 8 bytes."""
    k = router()
    pkt = udp(rr(2), dst=FAR, ttl=1)
    k.input("em0", frame(pkt))
    seen = bytearray(pkt)
    seen[22] = 8
    seen[23:27] = addr(HOST1)
    hl = 32
    err = ICMP(type=11, code=0) / Raw(bytes(seen[: hl + 8]))
    want = with_options(b"", err, src=HOST, dst=PEER, id=0, tos=0)
    match_frame(
        k.transmitted("em0")[0],
        bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + want,
        {"ip.id"},
    )
