"""The IPv4 header bytes a raw socket reads (rip_input in netinet/raw_ip.c;
dossier 2.3; docs/sockets.md, "Raw sockets: which header you read"):
ip_len / ip_off conventions of FreeBSD 9.x, 10.x and 11+, reassembled
datagrams, IP options and the quoted header of ICMP errors.

Every expected value is derived from the wire bytes of the input packet and
the documented rule, never from kstack's output.
"""

from __future__ import annotations

import pytest

import kstack
from kstack import sock as S
from kstack.testing import (
    HOST,
    ICMP,
    IP,
    PEER,
    ROUTER,
    UDP,
    Raw,
    eth,
    from_peer,
    host,
    ip_bytes,
)

PROFILES = ["9.0", "9.3", "10.0", "11.0"]


def _raw(k: kstack.Kernel, proto: int = 253):
    return k.socket(S.AF_INET, S.SOCK_RAW, proto)


def _seen(wire: bytes, profile: str, big_endian: bool = False) -> bytes:
    """The header rule of docs/sockets.md's table applied to wire bytes:
    9.x  ip_len = total - ip_hl*4, host order; ip_off host order;
    10.x ip_len = total, host order; ip_off host order;
    11+  untouched. Host order is little-endian unless BIG_ENDIAN."""
    if profile.startswith("11"):
        return wire
    order = "big" if big_endian else "little"
    hl = (wire[0] & 0x0F) * 4
    total = int.from_bytes(wire[2:4], "big")
    ip_len = total - hl if profile.startswith("9") else total
    out = bytearray(wire)
    out[2:4] = ip_len.to_bytes(2, order)
    out[6:8] = int.from_bytes(wire[6:8], "big").to_bytes(2, order)
    return bytes(out)


# -- a plain packet (G2.1) -------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_plain_packet(profile):
    """rip_input (netinet/raw_ip.c) after ip_input: G2.1, proto 253, DF,
    TTL 9, 10 bytes of payload. 9.x: ip_len payload-only host order
    (ip_input deducted hlen, r241913 not merged to stable/9); 10.x: total
    length host order (r241923 keeps the stack in network order and
    rip_input swaps); 11.0: as received. ip_sum always the wire value."""
    k = host(profile)
    s = _raw(k)
    frame = from_peer(proto=253, flags="DF", ttl=9) / Raw(b"A" * 10)
    k.input("em0", frame)
    data, src = s.recvfrom(2048)
    wire = ip_bytes(frame)
    assert len(data) == 30
    assert data == _seen(wire, profile)
    assert src == (PEER, 0)


def test_plain_packet_9x_literal_bytes():
    """rip_input (netinet/raw_ip.c), 9.x on amd64, G2.1 spelled out: bytes
    2-3 are 0a 00, bytes 6-7 are 00 40, TTL 9, checksum as sent."""
    k = host("9.0")
    s = _raw(k)
    frame = from_peer(proto=253, flags="DF", ttl=9) / Raw(b"A" * 10)
    k.input("em0", frame)
    data = s.recv(2048)
    wire = ip_bytes(frame)
    assert data[2:4] == b"\x0a\x00"
    assert data[6:8] == b"\x00\x40"
    assert data[8] == 9
    assert data[10:12] == wire[10:12]
    assert data[:2] + data[4:6] + data[8:] == wire[:2] + wire[4:6] + wire[8:]


@pytest.mark.parametrize("profile", PROFILES)
def test_ethernet_padding_trimmed(profile):
    """ip_input (netinet/ip_input.c) trims bytes beyond ip_len (Ethernet
    padding) before rip_input: the raw reader gets the datagram only."""
    k = host(profile)
    s = _raw(k)
    pkt = IP(src=PEER, dst=HOST, proto=253) / Raw(b"z")
    wire = bytes(pkt)
    k.input("em0", bytes(eth()) + wire + b"\x00" * 25)
    assert s.recv(2048) == _seen(wire, profile)


@pytest.mark.parametrize("profile", ["9.0", "10.0", "11.0"])
def test_big_endian_host_order_is_network_order(profile):
    """rip_input (netinet/raw_ip.c) on a big-endian machine (options
    BIG_ENDIAN): host order equals network order, so 10.x and 11.0 readers
    see the wire header and 9.x only the payload-only ip_len."""
    k = host(k=kstack.Kernel(profile=profile, seed=0, options={"BIG_ENDIAN"}))
    s = _raw(k)
    frame = from_peer(proto=253, flags="DF", ttl=9) / Raw(b"A" * 10)
    k.input("em0", frame)
    wire = ip_bytes(frame)
    data = s.recv(2048)
    assert data == _seen(wire, profile, big_endian=True)
    if profile == "9.0":
        assert data[2:4] == b"\x00\x0a" and data[6:8] == b"\x40\x00"
    else:
        assert data == wire


# -- IP options ------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_nop_eol_options_kept(profile):
    """rip_input (netinet/raw_ip.c): the whole header including options is
    delivered (dossier 5.3.1); ip_dooptions leaves NOP/EOL padding alone and
    ip_len is reduced by the full ip_hl*4 (24) in 9.x."""
    k = host(profile)
    s = _raw(k)
    frame = from_peer(proto=253, options=b"\x01\x01\x01\x00") / Raw(b"opts")
    k.input("em0", frame)
    wire = ip_bytes(frame)
    assert wire[0] == 0x46
    data = s.recv(2048)
    assert data == _seen(wire, profile)
    if profile.startswith("9"):
        assert data[2:4] == (4).to_bytes(2, "little")


@pytest.mark.parametrize("profile", PROFILES)
def test_record_route_unprocessed_when_process_options_0(profile):
    """ip_dooptions (netinet/ip_options.c) with net.inet.ip.process_options=0
    ignores options: a Record Route option reaches the raw reader unfilled."""
    k = host(profile)
    k.sysctl("net.inet.ip.process_options", 0)
    s = _raw(k)
    rr = b"\x07\x0b\x04" + b"\x00" * 8 + b"\x00"  # RR len 11 ptr 4, 2 slots, EOL pad
    frame = from_peer(proto=253, options=rr) / Raw(b"x")
    k.input("em0", frame)
    assert s.recv(2048) == _seen(ip_bytes(frame), profile)


def test_record_route_filled_for_raw_reader():
    """ip_dooptions (netinet/ip_options.c) then rip_input, G5.3: the first RR
    slot is filled with our address, the pointer advanced to 8, ip_sum left
    stale (as received)."""
    k = host("9.0")
    s = _raw(k)
    rr = b"\x07\x0b\x04" + b"\x00" * 8 + b"\x00"
    frame = from_peer(proto=253, options=rr) / Raw(b"x")
    k.input("em0", frame)
    wire = bytearray(ip_bytes(frame))
    wire[22] = 8
    wire[23:27] = bytes([192, 0, 2, 1])
    assert s.recv(2048) == _seen(bytes(wire), "9.0")


# -- reassembled datagrams (G1.7) ----------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_reassembled_datagram(profile, delta):
    """ip_reass (netinet/ip_input.c) + rip_input: the offset-0 fragment's
    header carries the datagram; ip_off 0 (flags shifted out), ip_sum the
    first fragment's wire checksum (stale); ip_len = 24 payload host order
    (9.x), 44 host order (10.x), 44 network order (11.0). G1.7."""
    k = host(profile)
    s = _raw(k)
    f1 = from_peer(proto=253, id=7, flags="MF", frag=0) / Raw(b"B" * 16)
    f2 = from_peer(proto=253, id=7, frag=2) / Raw(b"C" * 8)
    w1 = ip_bytes(f1)
    with delta(k) as d:
        k.input("em0", f1)
        k.input("em0", f2)
    assert d == {
        "ip": {"ips_total": 2, "ips_fragments": 2, "ips_reassembled": 1, "ips_delivered": 1}
    }
    hdr = bytearray(w1[:20])
    if profile.startswith("9"):
        hdr[2:4] = (24).to_bytes(2, "little")
    elif profile.startswith("10"):
        hdr[2:4] = (44).to_bytes(2, "little")
    else:
        hdr[2:4] = (44).to_bytes(2, "big")
    hdr[6:8] = b"\x00\x00"
    assert hdr[10:12] == w1[10:12]
    assert s.recv(2048) == bytes(hdr) + b"B" * 16 + b"C" * 8


def test_reassembled_out_of_order_uses_offset0_header():
    """ip_reass (netinet/ip_input.c): the header of the fragment at offset 0
    becomes the datagram header even when it arrives last (TTL, checksum
    of that fragment)."""
    k = host("9.0")
    s = _raw(k)
    f1 = from_peer(proto=253, id=9, flags="MF", frag=0, ttl=50) / Raw(b"B" * 8)
    f2 = from_peer(proto=253, id=9, frag=1, ttl=60) / Raw(b"C" * 8)
    k.input("em0", f2)
    k.input("em0", f1)
    hdr = bytearray(ip_bytes(f1)[:20])
    hdr[2:4] = (16).to_bytes(2, "little")
    hdr[6:8] = b"\x00\x00"
    assert s.recv(2048) == bytes(hdr) + b"B" * 8 + b"C" * 8


# -- ICMP errors: the quoted header (G2.6) --------------------------------------


def _unreach(code: int = 3, inner_len: int = 28):
    return (
        eth()
        / IP(src=ROUTER, dst=HOST)
        / ICMP(type=3, code=code)
        / IP(src=HOST, dst=PEER, len=inner_len, proto=17)
        / UDP(sport=5000, dport=6000, len=8, chksum=0)
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_icmp_error_inner_ip_len(profile):
    """icmp_input (netinet/ip_icmp.c) then rip_input, G2.6: in 9.x the quoted
    ip_len is swapped to host order in place (1c 00); 10.x/11.0 leave the
    quote as received (r241923 removed the swap). Outer header per profile."""
    k = host(profile)
    s = _raw(k, S.IPPROTO_ICMP)
    frame = _unreach()
    k.input("em0", frame)
    wire = ip_bytes(frame)
    expect = bytearray(_seen(wire, profile))
    if profile.startswith("9"):
        expect[30:32] = (28).to_bytes(2, "little")
        assert expect[30:32] == b"\x1c\x00"
    assert s.recv(2048) == bytes(expect)


@pytest.mark.parametrize("profile", ["9.0", "11.0"])
def test_icmp_time_exceeded_inner_ip_len(profile):
    """icmp_input (netinet/ip_icmp.c): time exceeded in transit is one of the
    deliverable error types; quoted ip_len host order in 9.x only."""
    k = host(profile)
    s = _raw(k, S.IPPROTO_ICMP)
    frame = (
        eth()
        / IP(src=ROUTER, dst=HOST)
        / ICMP(type=11, code=0)
        / IP(src=HOST, dst=PEER, len=300, proto=253)
        / Raw(b"q" * 8)
    )
    k.input("em0", frame)
    wire = ip_bytes(frame)
    expect = bytearray(_seen(wire, profile))
    if profile == "9.0":
        expect[30:32] = (300).to_bytes(2, "little")
    assert s.recv(2048) == bytes(expect)


def test_icmp_error_badcode_not_swapped():
    """icmp_input (netinet/ip_icmp.c): an unreachable with an unknown code
    (16) is badcode and goes to raw before the swap: quote untouched."""
    k = host("9.0")
    s = _raw(k, S.IPPROTO_ICMP)
    frame = _unreach(code=16)
    k.input("em0", frame)
    assert s.recv(2048) == _seen(ip_bytes(frame), "9.0")


def test_icmp_redirect_inner_not_swapped():
    """icmp_input (netinet/ip_icmp.c): a redirect's quoted header is not
    byte-swapped (only the deliverable error types are)."""
    k = host("9.0")
    s = _raw(k, S.IPPROTO_ICMP)
    frame = (
        eth()
        / IP(src=ROUTER, dst=HOST)
        / ICMP(type=5, code=1, gw=PEER)
        / IP(src=HOST, dst="203.0.113.9", len=28, proto=17)
        / UDP(sport=1, dport=2, len=8, chksum=0)
    )
    k.input("em0", frame)
    assert s.recv(2048) == _seen(ip_bytes(frame), "9.0")


def test_icmp_error_too_short_not_delivered(delta):
    """icmp_input (netinet/ip_icmp.c): an error shorter than ICMP_ADVLENMIN
    (36) is icps_badlen and freed, not given to raw sockets."""
    k = host("9.0")
    s = _raw(k, S.IPPROTO_ICMP)
    frame = eth() / IP(src=ROUTER, dst=HOST) / ICMP(type=3, code=3) / Raw(b"\x45" + b"\x00" * 19)
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "icmp": {"icps_inhist[3]": 1, "icps_badlen": 1},
    }
    with pytest.raises(BlockingIOError):
        s.recv(2048)
