"""ip_input() header validation, in the kernel's order (dossier 1.1)."""

from __future__ import annotations

from kstack.testing import (
    BOOT_IP_ID,
    HOST,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    Raw,
    eth,
    reply_eth,
)

NOPROTO = {"ip": {"ips_total": 1, "ips_noproto": 1}}


def _ip(**kw: object) -> bytes:
    kw.setdefault("src", PEER)
    kw.setdefault("dst", HOST)
    kw.setdefault("proto", 253)
    return bytes(IP(**kw) / Raw(b"x" * 8))


def _with_sum(hdr: bytearray) -> bytearray:
    """Recompute the header checksum of a hand-edited header."""
    from kstack.netinet.ip import set_cksum

    set_cksum(hdr, 0, (hdr[0] & 0x0F) * 4)
    return hdr


def test_tooshort_below_20_bytes(k, delta):
    """ip_input: m_pkthdr.len < sizeof(struct ip) -> ips_tooshort."""
    with delta(k) as d:
        out = k.input("em0", bytes(eth()) + _ip()[:19])
    assert d == {"ip": {"ips_total": 1, "ips_tooshort": 1}}
    assert out.kind == "dropped" and out.reason == "ips_tooshort"
    assert k.transmitted("em0") == []


def test_tooshort_ip_len_beyond_data(k, delta):
    """ip_input: m_pkthdr.len < ip_len -> ips_tooshort (G1.2)."""
    pkt = bytes(IP(src=PEER, dst=HOST, len=60, proto=253) / Raw(b"x" * 20))
    assert len(pkt) == 40
    with delta(k) as d:
        out = k.input("em0", bytes(eth()) + pkt)
    assert d == {"ip": {"ips_total": 1, "ips_tooshort": 1}}
    assert out.reason == "ips_tooshort"


def test_badvers(k, delta):
    """ip_input: ip_v != IPVERSION -> ips_badvers (before the hlen check)."""
    hdr = bytearray(_ip())
    hdr[0] = 0x64  # version 6, and a bad header length as well
    with delta(k) as d:
        k.input("em0", bytes(eth()) + bytes(hdr))
    assert d == {"ip": {"ips_total": 1, "ips_badvers": 1}}


def test_badhlen_below_20(k, delta):
    """ip_input: ip_hl << 2 < sizeof(struct ip) -> ips_badhlen (G1.3)."""
    hdr = bytearray(_ip())
    hdr[0] = 0x44
    with delta(k) as d:
        k.input("em0", bytes(eth()) + bytes(hdr))
    assert d == {"ip": {"ips_total": 1, "ips_badhlen": 1}}


def test_badhlen_beyond_data(k, delta):
    """ip_input: header length larger than the packet (m_pullup fails) ->
    ips_badhlen, even from a loopback source (checked before 127/8)."""
    hdr = bytearray(_ip(src="127.0.0.1"))  # 28 bytes
    hdr[0] = 0x4F  # 60-byte header
    with delta(k) as d:
        k.input("em0", bytes(eth()) + bytes(hdr))
    assert d == {"ip": {"ips_total": 1, "ips_badhlen": 1}}


def test_badaddr_loopback_source_on_wire(k, delta):
    """ip_input: 127/8 source on a non-loopback interface -> ips_badaddr (G1.4)."""
    with delta(k) as d:
        k.input("em0", bytes(eth()) + _ip(src="127.0.0.1"))
    assert d == {"ip": {"ips_total": 1, "ips_badaddr": 1}}


def test_badaddr_loopback_destination_on_wire(k, delta):
    """ip_input: 127/8 destination on a non-loopback interface -> ips_badaddr."""
    with delta(k) as d:
        k.input("em0", bytes(eth()) + _ip(dst="127.0.0.5"))
    assert d == {"ip": {"ips_total": 1, "ips_badaddr": 1}}


def test_badaddr_checked_before_checksum(k, delta):
    """ip_input: the 127/8 check comes before the header checksum."""
    with delta(k) as d:
        k.input("em0", bytes(eth()) + _ip(src="127.0.0.1", chksum=0x1234))
    assert d == {"ip": {"ips_total": 1, "ips_badaddr": 1}}


def test_loopback_addresses_accepted_on_lo0(k, delta):
    """ip_input: 127/8 is fine on a loopback interface; an unclaimed
    protocol then ends in rip_input (ips_noproto, ips_delivered net 0)."""
    with delta(k) as d:
        out = k.input("lo0", _ip(src="127.0.0.1", dst="127.0.0.1"))
    assert d == NOPROTO
    assert out.reason == "ips_noproto"


def test_badsum(k, delta):
    """ip_input: header checksum wrong -> ips_badsum, no ICMP (G1.1)."""
    frame = bytes(eth() / IP(src=PEER, dst=HOST, chksum=0x1234) / ICMP(type=8))
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {"ip": {"ips_total": 1, "ips_badsum": 1}}
    assert k.transmitted("em0") == []


def test_badsum_checked_before_badlen(k, delta):
    """ip_input: checksum before the ip_len < hlen check."""
    with delta(k) as d:
        k.input("em0", bytes(eth()) + _ip(len=19, chksum=0x1234))
    assert d == {"ip": {"ips_total": 1, "ips_badsum": 1}}


def test_badlen(k, delta):
    """ip_input: ip_len < hlen -> ips_badlen."""
    with delta(k) as d:
        k.input("em0", bytes(eth()) + _ip(len=19))
    assert d == {"ip": {"ips_total": 1, "ips_badlen": 1}}


def test_badlen_checked_before_tooshort(k, delta):
    """ip_input: ip_len < hlen is reported as badlen, not tooshort, even when
    the options make the header longer than ip_len."""
    pkt = IP(src=PEER, dst=HOST, proto=253, options=b"\x01\x01\x01\x00") / Raw(b"y" * 4)
    hdr = bytearray(bytes(pkt))
    hdr[2:4] = (20).to_bytes(2, "big")  # ip_len 20 < hlen 24
    with delta(k) as d:
        k.input("em0", bytes(eth()) + bytes(_with_sum(hdr)))
    assert d == {"ip": {"ips_total": 1, "ips_badlen": 1}}


def test_trailing_bytes_trimmed(k, delta, match_frame):
    """ip_input: m_pkthdr.len > ip_len -> the excess (Ethernet padding) is
    trimmed; the echo reply carries ip_len bytes only."""
    req = eth() / IP(src=PEER, dst=HOST) / ICMP(type=8, id=7, seq=9) / Raw(b"pad-me")
    with delta(k) as d:
        out = k.input("em0", bytes(req) + b"\x00" * 12)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
    }
    assert out.kind == "answered"
    (reply,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, ttl=64)
        / ICMP(type=0, id=7, seq=9)
        / Raw(b"pad-me")
    )
    match_frame(reply, want)


def test_frame_to_another_mac_ignored(k, delta):
    """ether_input: a unicast frame for another station never reaches IP."""
    with delta(k) as d:
        k.input("em0", bytes(eth(dst="02:00:00:00:00:99")) + _ip())
    assert d == {}
    assert HOST_MAC != PEER_MAC
