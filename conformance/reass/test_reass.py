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


# -- counter invariants: ipq_nfrags is a u_char ------------------------------------


def test_too_small_fragments_count_against_an_unsigned_counter(k, delta):
    """ip_reass, dropfrag: a fragment whose length is not a multiple of 8
    takes one off the queue's ipq_nfrags though it never added one. The
    counter is a u_char: from 1 it goes to 0, then wraps to 255, and
    ip_slowtimo adds what it holds to ips_fragtimeout (never a negative
    amount, never moving a counter backwards)."""
    k.input("em0", _frag(b"a" * 16, 0, True, ip_id=40))
    with delta(k) as d:
        for _ in range(2):
            k.input("em0", _frag(b"b" * 5, 2, True, ip_id=40))
    assert d == {"ip": {"ips_total": 2, "ips_toosmall": 2, "ips_fragdropped": 2}}
    with delta(k) as d:
        k.advance(31)
    assert d == {"ip": {"ips_fragtimeout": 255}}


def test_negative_maxfragsperpacket_holds_the_first_fragment(k, delta):
    """ip_reass (the fix that stopped checking a queue as soon as it is
    made): with maxfragsperpacket=-1 the first fragment is held; the
    second completes a two-fragment datagram, which is reassembled; a third
    fragment of an incomplete queue gets it dropped (nfrags 2 > -1)."""
    k.sysctl("net.inet.ip.maxfragsperpacket", -1)
    with delta(k) as d:
        assert k.input("em0", _frag(b"a" * 16, 0, True, ip_id=41)).kind == "held"
    assert d == HELD
    with delta(k) as d:
        k.input("em0", _frag(b"b" * 8, 2, False, ip_id=41))
    assert d["ip"]["ips_reassembled"] == 1
    k.input("em0", _frag(b"a" * 8, 0, True, ip_id=42))
    with delta(k) as d:
        k.input("em0", _frag(b"c" * 8, 2, True, ip_id=42))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 2}}


def _raw_reader(k):
    from kstack import sock

    return k.socket(sock.AF_INET, sock.SOCK_RAW, 253)


def test_exact_duplicate_is_dropped(k, delta):
    """ip_reass: a fragment wholly covered by one already queued (here an
    exact duplicate) is dropped; the datagram completes with one copy."""
    s = _raw_reader(k)
    k.input("em0", _frag(b"a" * 16, 0, True, ip_id=43))
    with delta(k) as d:
        k.input("em0", _frag(b"a" * 16, 0, True, ip_id=43))
    assert d == {"ip": {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 1}}
    k.input("em0", _frag(b"z" * 8, 2, False, ip_id=43))
    assert s.recv(2048)[20:] == b"a" * 16 + b"z" * 8


def test_overlaps_trimmed_queued_data_wins_before_new_data_wins_after(k, delta):
    """ip_reass: a new fragment is cut where it overlaps data queued before
    it; queued fragments that start after it are cut (or, wholly covered,
    removed and counted in ips_fragdropped) by it."""
    s = _raw_reader(k)
    k.input("em0", _frag(b"A" * 16, 0, True, ip_id=44))  # 0..16
    k.input("em0", _frag(b"C" * 8, 3, True, ip_id=44))  # 24..32
    k.input("em0", _frag(b"D" * 8, 5, False, ip_id=44))  # 40..48
    with delta(k) as d:
        # 8..40: its first 8 bytes lose to A; it covers C, and reaches D.
        k.input("em0", _frag(b"B" * 32, 1, True, ip_id=44))
    assert d == {
        "ip": {
            "ips_total": 1,
            "ips_fragments": 1,
            "ips_fragdropped": 1,
            "ips_reassembled": 1,
            "ips_delivered": 1,
        }
    }
    assert s.recv(2048)[20:] == b"A" * 16 + b"B" * 24 + b"D" * 8


def test_reassembled_header_is_the_first_fragments_with_its_options(k):
    """ip_reass keeps the header of the fragment at offset 0, options and all
    (as ip_dooptions left them: Record Route filled), even when it arrives
    last; later fragments' headers are discarded."""
    from conformance.ip_options.helpers import addr, frame, rr, with_options

    s = _raw_reader(k)
    second = with_options(b"", Raw(b"y" * 8), proto=253, id=45, frag=2, flags=0)
    first = with_options(rr(1), Raw(b"x" * 16), proto=253, id=45, flags="MF")
    k.input("em0", frame(second))
    k.input("em0", frame(first))
    got = s.recv(2048)
    assert got[0] == 0x47 and got[20:28] == b"\x07\x07\x08" + addr(HOST) + b"\x00"
    assert got[28:] == b"x" * 16 + b"y" * 8
    assert int.from_bytes(got[2:4], "little") == 24  # 9.x: payload length, host order


def test_saved_source_route_survives_reassembly(k, match_frame):
    """ip_dooptions saves a route that ends here on the fragment's mbuf
    (save_rte); the datagram keeps the offset-0 fragment's packet header,
    so the echo reply to a fragmented, source-routed request goes back
    along the reversed route."""
    from conformance.ip_options.helpers import addr, frame, srcroute, with_options
    from kstack.testing import ICMP, ROUTER

    k.sysctl("net.inet.ip.accept_sourceroute", 1)
    icmp = bytes(ICMP(type=8, id=9, seq=9) / Raw(b"p" * 24))
    opts = srcroute(131, (ROUTER,), ptr=8)
    f1 = with_options(opts, Raw(icmp[:16]), proto=1, id=46, flags="MF")
    f2 = with_options(opts, Raw(icmp[16:]), proto=1, id=46, frag=2)
    k.input("em0", frame(f1))
    assert k.input("em0", frame(f2)).reason == "icps_reflect"
    (reply,) = k.transmitted("em0")
    assert reply[30:34] == addr(ROUTER)  # to the first hop of the reversed route
    assert reply[34:42] == b"\x01\x83\x07\x04" + addr(PEER)
