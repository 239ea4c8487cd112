"""ip_reass() and ip_slowtimo() (dossier 1.6)."""

from __future__ import annotations

from kstack.testing import BOOT_IP_ID, HOST, IP, PEER, UDP, Raw, eth, reply_eth
from kstack.testing import ICMP as ICMP_

HELD = {"ip": {"ips_total": 1, "ips_fragments": 1}}


def _frag(
    payload: bytes, frag: int, mf: bool, ip_id: int = 7, proto: int = 253, **kw: object
) -> bytes:
    return bytes(
        eth()
        / IP(src=PEER, dst=HOST, id=ip_id, proto=proto, flags="MF" if mf else 0, frag=frag, **kw)
        / Raw(payload)
    )


def test_two_fragments_reassembled(k, delta):
    """ip_reass: MF fragment of 16 bytes + last fragment at offset 16 ->
    one 24-byte payload delivered (protocol 253: rip_input, ips_noproto)
    (G1.7, via counters: raw sockets do not exist yet)."""
    with delta(k) as d:
        out = k.input("em0", _frag(b"a" * 16, 0, True))
    assert d == HELD
    assert out.kind == "held"
    with delta(k) as d:
        out = k.input("em0", _frag(b"b" * 8, 2, False))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_reassembled": 1, "ips_noproto": 1}}
    assert out.reason == "ips_noproto"
    assert k.sysctl("net.inet.ip.fragpackets") == 0


def test_reassembled_udp_quoted_in_port_unreachable(k, delta, match_frame):
    """ip_reass: the datagram keeps the first fragment's header with
    ip_len = whole datagram, ip_off = 0 and the stale first-fragment
    checksum; udp_input's port unreachable quotes exactly that."""
    whole = bytes(UDP(sport=5555, dport=9, len=8 + 24) / Raw(b"q" * 24))
    # UDP checksum computed over the whole datagram.
    udp = bytes(IP(src=PEER, dst=HOST) / UDP(sport=5555, dport=9) / Raw(b"q" * 24))[20:]
    assert len(udp) == 32 and udp[:6] == whole[:6]
    first = _frag(udp[:16], 0, True, ip_id=0x77, proto=17)
    last = _frag(udp[16:], 2, False, ip_id=0x77, proto=17)
    with delta(k) as d:
        k.input("em0", last)  # out of order: the last piece first
        k.input("em0", first)
    assert d == {
        "ip": {
            "ips_total": 2,
            "ips_fragments": 2,
            "ips_reassembled": 1,
            "ips_delivered": 1,
            "ips_localout": 1,
        },
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    (err,) = k.transmitted("em0")
    quote = bytearray(first[14:34]) + udp[:8]
    quote[2:4] = (20 + 32).to_bytes(2, "big")  # ip_len of the whole datagram
    quote[6:8] = b"\x00\x00"  # ip_off cleared; ip_sum left stale
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP_(type=3, code=3)
        / Raw(bytes(quote))
    )
    match_frame(err, want)


def test_reassembly_disabled(k, delta):
    """ip_reass: maxfragsperpacket=0 -> every fragment dropped (G1.8)."""
    k.sysctl("net.inet.ip.maxfragsperpacket", 0)
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 16, 0, True))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 1}}


def test_maxfragpackets_zero(k, delta):
    """ip_reass: maxfragpackets=0 -> no reassembly at all."""
    k.sysctl("net.inet.ip.maxfragpackets", 0)
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 16, 0, True))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 1}}


def test_fragment_not_multiple_of_8(k, delta):
    """ip_reass: MF with a payload not a multiple of 8 -> ips_toosmall,
    ips_fragdropped, ips_fragments unchanged (G1.9)."""
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 7, 0, True))
    assert d == {"ip": {"ips_total": 1, "ips_toosmall": 1, "ips_fragdropped": 1}}


def test_fragment_queue_times_out_without_icmp(k, delta):
    """ip_slowtimo: a queue lives IPFRAGTTL (60) slow ticks of 0.5 s; on
    expiry ips_fragtimeout += fragments, and no ICMP time exceeded (G1.12)."""
    k.input("em0", _frag(b"a" * 16, 0, True))
    with delta(k) as d:
        k.advance(29.5)
    assert d == {}
    with delta(k) as d:
        k.advance(0.5)
    assert d == {"ip": {"ips_fragtimeout": 1}}
    assert k.transmitted("em0") == []
    assert k.sysctl("net.inet.ip.fragpackets") == 0


def test_too_many_fragments(k, delta):
    """ip_reass: more than maxfragsperpacket fragments in an incomplete queue
    -> the whole queue is dropped (so n+1 fragments arrive)."""
    k.sysctl("net.inet.ip.maxfragsperpacket", 2)
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 8, 0, True))
        k.input("em0", _frag(b"a" * 8, 2, True))
    assert d == {"ip": {"ips_total": 2, "ips_fragments": 2}}
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 8, 4, True))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 3}}


def test_overlap_fully_covered_dropped(k, delta):
    """ip_reass: a fragment entirely covered by data already queued is
    dropped (ips_fragdropped)."""
    k.input("em0", _frag(b"a" * 16, 0, True))
    with delta(k) as d:
        k.input("em0", _frag(b"b" * 8, 1, True))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 1}}


def test_forwarded_fragments_not_reassembled(fwd, delta):
    """ip_input: only datagrams that are ours are reassembled; a fragment
    in transit is forwarded as it is."""
    req = eth() / IP(src=PEER, dst="203.0.113.9", flags="MF", frag=0, id=3) / Raw(b"a" * 16)
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    assert len(fwd.transmitted("em0")) == 1
    assert HOST
