"""Output MTU for locally sent datagrams (ip_output, ip_fragment,
netinet/ip_output.c): the route or interface MTU, DF, broadcasts, and
the bytes of each fragment."""

from __future__ import annotations

import errno
import struct

import pytest

from kstack import sock as S
from kstack.netinet.ip import in_cksum
from kstack.testing import BOOT_IP_ID, FAR, FAR_MAC, HOST1, HOST1_MAC, IP, UDP, Ether, Raw

from .helpers import BEYOND, FAR_GW, FAR_GW_MAC, router

SEC = bytes((0x82, 11)) + bytes(range(1, 10))  # Security: copied into every fragment
RR = bytes((0x07, 7, 4)) + bytes(4)  # Record Route: first fragment only


def _udp(k, port: int = 5000):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def _fragments(dgram: bytes, mtu: int, later_opts: bytes) -> list[bytes]:
    """ip_fragment done by hand: data per fragment (mtu - hlen) & ~7, MF on
    all but the last, later fragments with ``later_opts`` (what ip_optcopy
    keeps, EOL-padded) and their own header checksum."""
    hl = (dgram[0] & 0x0F) * 4
    chunk = (mtu - hl) & ~7
    payload = dgram[hl:]
    out = []
    for pos in range(0, len(payload), chunk):
        piece = payload[pos : pos + chunk]
        last = pos + chunk >= len(payload)
        if pos == 0:
            hdr = bytearray(dgram[:hl])
        else:
            hdr = bytearray(dgram[:20]) + later_opts
            hdr[0] = 0x40 | (len(hdr) // 4)
        struct.pack_into("!H", hdr, 2, len(hdr) + len(piece))
        struct.pack_into("!H", hdr, 6, (0 if last else 0x2000) | (pos // 8))
        hdr[10:12] = b"\0\0"
        struct.pack_into("!H", hdr, 10, in_cksum(bytes(hdr)))
        out.append(bytes(hdr) + piece)
    return out


def test_udp_fragmented_at_the_interface_mtu(delta):
    """ip_output: 1208 bytes of UDP on em1 with MTU 576 -> three fragments
    of 536, 536 and 136 data bytes; ips_localout+1, ips_fragmented+1,
    ips_ofragments+3; the UDP checksum covers the whole datagram."""
    k = router()
    k.ifconfig("em1", mtu=576)
    s = _udp(k)
    data = bytes(range(256)) * 4 + bytes(176)
    with delta(k) as d:
        assert s.sendto(data, (FAR, 9)) == 1200
    assert d == {
        "ip": {"ips_localout": 1, "ips_fragmented": 1, "ips_ofragments": 3},
        "udp": {"udps_opackets": 1},
    }
    whole = bytes(IP(src=HOST1, dst=FAR, id=BOOT_IP_ID, ttl=64) / UDP(sport=5000, dport=9) / data)
    frames = k.transmitted("em1")
    assert [f[14:] for f in frames] == _fragments(whole, 576, b"")
    assert all(f[:14] == bytes(Ether(src=HOST1_MAC, dst=FAR_MAC, type=0x0800)) for f in frames)


def test_udp_fragmented_at_the_route_mtu():
    """ip_output: the route's rmx_mtu (1280) below the interface's 1500
    decides the fragment size: (1280 - 20) & ~7 = 1256 data bytes each."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280)
    s = _udp(k)
    data = bytes(2000)
    s.sendto(data, (BEYOND, 9))
    whole = bytes(
        IP(src=HOST1, dst=BEYOND, id=BOOT_IP_ID, ttl=64) / UDP(sport=5000, dport=9) / data
    )
    frames = k.transmitted("em1")
    assert [len(f) - 14 for f in frames] == [1276, 772]
    assert [f[14:] for f in frames] == _fragments(whole, 1280, b"")
    assert frames[0][:6] == bytes.fromhex(FAR_GW_MAC.replace(":", ""))


def test_options_copied_by_ip_optcopy():
    """ip_fragment + ip_optcopy: the first fragment has the socket's
    IP_OPTIONS (Security + Record Route, EOL-padded to 20 bytes); later ones
    only the options with the copied bit (Security), padded to 12 bytes;
    the data per fragment is computed once from the first header:
    (576 - 40) & ~7 = 536."""
    k = router()
    k.ifconfig("em1", mtu=576)
    s = _udp(k)
    opts = SEC + RR + bytes(2)
    s.setsockopt(S.IPPROTO_IP, S.IP_OPTIONS, opts)  # ip_pcbopts wants a multiple of 4
    data = bytes(1200)
    s.sendto(data, (FAR, 9))
    hdr = bytearray(bytes(IP(src=HOST1, dst=FAR, id=BOOT_IP_ID, ttl=64, proto=17))[:20])
    udp = bytes(IP(src=HOST1, dst=FAR) / UDP(sport=5000, dport=9) / data)[20:]
    whole = bytearray(hdr + opts + udp)
    whole[0] = 0x4A
    struct.pack_into("!H", whole, 2, len(whole))
    frames = [f[14:] for f in k.transmitted("em1")]
    assert [len(f) for f in frames] == [576, 568, 168]
    assert frames == _fragments(bytes(whole), 576, SEC + b"\x00")


def test_broadcast_never_fragmented():
    """ip_output: a broadcast larger than the MTU is refused with EMSGSIZE
    even without DF (broadcasts are not fragmented)."""
    k = router()
    s = _udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    with pytest.raises(OSError) as e:
        s.sendto(bytes(1600), ("192.0.2.255", 9))
    assert e.value.errno == errno.EMSGSIZE
    assert k.transmitted("em0") == []


def test_broadcast_that_fits_goes_out():
    """ip_output: the same broadcast within the MTU is sent (M_BCAST), to the
    Ethernet broadcast address."""
    k = router()
    s = _udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    s.sendto(bytes(1472), ("192.0.2.255", 9))
    (fr,) = k.transmitted("em0")
    assert fr[:6] == b"\xff" * 6 and len(fr) == 14 + 1500


def _hdrincl_socket(k):
    s = k.socket(S.AF_INET, S.SOCK_RAW, 253)
    s.setsockopt(S.IPPROTO_IP, S.IP_HDRINCL, 1)
    return s


def _hdrincl(ip_off: int, src: str) -> bytes:
    """A 20-byte header for 1500 bytes to FAR, protocol 253, ID 0x1234, as
    a 9.0 amd64 program writes it: ip_len and ip_off in host (little-endian)
    order."""
    hdr = bytearray(20)
    hdr[0] = 0x45
    hdr[2:4] = (1500).to_bytes(2, "little")
    hdr[4:6] = b"\x12\x34"
    hdr[6:8] = ip_off.to_bytes(2, "little")
    hdr[8] = 64
    hdr[9] = 253
    hdr[12:16] = bytes(int(x) for x in src.split("."))
    hdr[16:20] = bytes(int(x) for x in FAR.split("."))
    return bytes(hdr)


def test_raw_hdrincl_df_too_big(delta):
    """rip_output (IP_HDRINCL) -> ip_output(IP_RAWOUTPUT): ip_off DF (host
    order on 9.0 amd64) and 1500 bytes on em1 with MTU 1400 -> EMSGSIZE,
    ips_rawout+1 and ips_cantfrag+1; nothing sent."""
    k = router()
    k.ifconfig("em1", mtu=1400)
    s = _hdrincl_socket(k)
    with delta(k) as d, pytest.raises(OSError) as e:
        s.sendto(_hdrincl(0x4000, "0.0.0.0") + bytes(1480), (FAR, 0))
    assert e.value.errno == errno.EMSGSIZE
    assert d == {"ip": {"ips_rawout": 1, "ips_cantfrag": 1}}
    assert k.transmitted("em1") == []


def test_raw_hdrincl_without_df_fragmented(delta):
    """ip_output(IP_RAWOUTPUT): the same datagram without DF is fragmented
    at 1400: (1400 - 20) & ~7 = 1376 data bytes, then 104."""
    k = router()
    k.ifconfig("em1", mtu=1400)
    s = _hdrincl_socket(k)
    body = bytes(range(256)) * 5 + bytes(200)
    with delta(k) as d:
        s.sendto(_hdrincl(0, HOST1) + body, (FAR, 0))
    assert d == {"ip": {"ips_rawout": 1, "ips_fragmented": 1, "ips_ofragments": 2}}
    whole = bytes(IP(src=HOST1, dst=FAR, id=0x1234, ttl=64, proto=253) / Raw(body))
    assert [f[14:] for f in k.transmitted("em1")] == _fragments(whole, 1400, b"")
