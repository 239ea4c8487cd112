"""Raw IP header delivery across FreeBSD 9 / 10 / 11.

The FreeBSD commit whose message begins "raw IP sockets. It was deducted in ip_input() in
preparation for protocols interested only in the payload. On raw sockets
the IP header should be delivered as it at came in from the network except
for the byte order swaps in some fields." (head, 2012-10-22, before 10.0;
the svn revision is believed to be r241913, not verified).
The 11.0 step (header untouched, network order; HDRINCL expects network
order) is documented in the BUGS section of FreeBSD 11's ip(4): "Before
FreeBSD 11.0 packets received on raw IP sockets had the ip_len and ip_off
fields converted to host byte order."

Profiles: "9.0" = before (ip_len payload only, host order), "10.0" = after
(whole length, host order), "11.0" = network order, untouched.
"""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import HOST, ICMP, IP, PEER, UDP, Raw, eth, ip_bytes, reply_eth

PROFILES = ["9.0", "10.0", "11.0"]


def _host16(v: int) -> bytes:
    return v.to_bytes(2, "little")  # amd64


def _expected(wire: bytes, profile: str) -> bytes:
    """What a raw reader sees of ``wire`` (no options, hlen 20)."""
    out = bytearray(wire)
    ip_len = int.from_bytes(wire[2:4], "big")
    ip_off = int.from_bytes(wire[6:8], "big")
    if profile == "9.0":
        out[2:4] = _host16(ip_len - 20)
        out[6:8] = _host16(ip_off)
    elif profile == "10.0":
        out[2:4] = _host16(ip_len)
        out[6:8] = _host16(ip_off)
    return bytes(out)


@pytest.mark.parametrize("profile", PROFILES, indirect=True)
def test_raw_receive_header(k, profile):
    """rip_input (netinet/raw_ip.c), ip_input (netinet/ip_input.c): a
    28-byte DF datagram of protocol 253. Exact bytes per profile:
    9.0 ip_len = 08 00 (payload, host order), ip_off 00 40;
    10.0 ip_len = 1c 00 (total, host order), ip_off 00 40;
    11.0 the wire bytes (00 1c, 40 00). ip_sum is the wire value in all."""
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    frame = eth() / IP(src=PEER, dst=HOST, proto=253, id=0x1111, flags="DF") / Raw(b"payload!")
    wire = ip_bytes(frame)
    k.input("em0", frame)
    data, src = s.recvfrom(2048)
    assert src == (PEER, 0)
    want = {
        "9.0": wire[:2] + b"\x08\x00" + wire[4:6] + b"\x00\x40" + wire[8:],
        "10.0": wire[:2] + b"\x1c\x00" + wire[4:6] + b"\x00\x40" + wire[8:],
        "11.0": wire,
    }[profile]
    assert data == want
    assert data == _expected(wire, profile)


def _hdrincl_packet(host_order: bool) -> bytes:
    wire = bytes(IP(src=HOST, dst=PEER, proto=253, id=0x4242, ttl=64, flags="DF") / Raw(b"abcd"))
    if not host_order:
        return wire
    return wire[:2] + _host16(24) + wire[4:6] + _host16(0x4000) + wire[8:]


@pytest.mark.parametrize(
    ("profile", "order", "err"),
    [
        ("9.0", "host", 0),
        ("9.0", "network", errno.EINVAL),  # 00 18 read as host order = 6144 > 24
        ("10.0", "host", 0),
        ("10.0", "network", errno.EINVAL),
        ("11.0", "host", errno.EINVAL),  # 18 00 read as network order = 6144 > 24
        ("11.0", "network", 0),
    ],
    indirect=["profile"],
)
def test_hdrincl_send_byte_order(k, profile, order, err, match_frame):
    """rip_output (netinet/raw_ip.c) with IP_HDRINCL: 9.x/10.x read the
    caller's ip_len/ip_off in host byte order, 11.0 in network order; an
    ip_len larger than the bytes written -> EINVAL. When accepted the wire
    frame carries network order with DF and a recomputed checksum."""
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    pkt = _hdrincl_packet(order == "host")
    if err:
        with pytest.raises(OSError) as ei:
            s.sendto(pkt, (PEER, 0))
        assert ei.value.errno == err
        assert k.transmitted("em0") == []
        return
    assert s.sendto(pkt, (PEER, 0)) == 24
    (frame,) = k.transmitted("em0")
    match_frame(
        frame,
        reply_eth()
        / IP(src=HOST, dst=PEER, proto=253, id=0x4242, ttl=64, flags="DF")
        / Raw(b"abcd"),
    )


@pytest.mark.parametrize("profile", PROFILES, indirect=True)
def test_icmp_error_quoted_ip_len(k, profile):
    """icmp_input (netinet/ip_icmp.c) -> rip_input: for a deliverable ICMP
    error 9.x swaps the quoted ip_len to host order in place (24 00 instead
    of 00 24); 10.0 and 11.0 deliver the quoted header as received. The
    outer header follows the profile's raw convention (9.0: ip_len 2c 00 =
    44 payload; 10.0: 40 00 = 64 total; 11.0: wire)."""
    s = k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    quoted = bytes(IP(src=HOST, dst=PEER, id=1, ttl=64) / UDP(sport=5555, dport=53) / Raw(b"q" * 8))
    assert quoted[2:4] == b"\x00\x24"
    frame = eth() / IP(src=PEER, dst=HOST, id=0x2222) / ICMP(type=3, code=3) / Raw(quoted)
    wire = ip_bytes(frame)
    k.input("em0", frame)
    data = s.recv(2048)
    want = bytearray(_expected(wire, profile))
    if profile == "9.0":
        want[30:32] = b"\x24\x00"
    assert data == bytes(want)
    assert data[2:4] == {"9.0": b"\x2c\x00", "10.0": b"\x40\x00", "11.0": b"\x00\x40"}[profile]
