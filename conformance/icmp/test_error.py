"""icmp_error() (netinet/ip_icmp.c): when no error is generated, how much of
the offending packet is quoted, and what the error's own header copies.
Errors are provoked through udp_input (closed port), ip_forward (TTL 1)
and ip_dooptions (a malformed option)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import TCP

import kstack
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    REMOTE,
    UDP,
    Ether,
    Raw,
    eth,
    ip_bytes,
    reply_eth,
    udp_to,
)

UNREACH_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    "udp": {"udps_ipackets": 1, "udps_noport": 1},
}
TIMXCEED_DELTA = {
    "ip": {"ips_total": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[11]": 1},
}
SUPPRESSED_TIMXCEED = {"ip": {"ips_total": 1}, "icmp": {"icps_error": 1}}


def _err(type_: int, code: int, quote: bytes, **ip: object):
    return (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1, **ip)
        / ICMP(type=type_, code=code)
        / Raw(quote)
    )


def test_error_copies_mf_of_first_fragment(fwd, delta, match_frame):
    """icmp_error (netinet/ip_icmp.c) (9.0): a first fragment (MF, offset 0) may be answered,
    and the error's header copies the offending ip_off, MF included, so the
    error itself looks like a first fragment."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1, flags="MF") / UDP(sport=1, dport=2) / b"abcd"
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == TIMXCEED_DELTA
    (err,) = fwd.transmitted("em0")
    match_frame(err, _err(11, 0, ip_bytes(req)[:28], flags="MF"))


BAD_OPTION = b"\x07\x01\x00\x00"  # record route with length 1: pointer 21


@pytest.mark.parametrize(
    "eth_dst", [BCAST_MAC, "01:00:5e:00:00:01"], ids=["link-broadcast", "link-multicast"]
)
def test_no_error_for_link_broadcast_or_multicast(k, delta, eth_dst):
    """icmp_error (netinet/ip_icmp.c): a packet that came in a link-layer broadcast or
    multicast frame (M_BCAST/M_MCAST) is never answered, even when it is
    unicast to us at the IP layer; icps_error still counts the call
    (here from ip_dooptions, which counts ips_badoptions)."""
    req = Ether(src=PEER_MAC, dst=eth_dst) / IP(src=PEER, dst=HOST, options=BAD_OPTION) / (b"x" * 8)
    with delta(k) as d:
        k.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_badoptions": 1}, "icmp": {"icps_error": 1}}
    assert k.transmitted("em0") == []


def test_param_problem_for_unicast_frame(k, delta, match_frame):
    """icmp_error (netinet/ip_icmp.c): the same malformed option in a unicast frame is answered
    with a parameter problem whose pointer is the option's length byte."""
    req = eth() / IP(src=PEER, dst=HOST, options=BAD_OPTION) / (b"x" * 8)
    with delta(k) as d:
        k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_badoptions": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[12]": 1},
    }
    (err,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=12, code=0, ptr=21)
        / Raw(ip_bytes(req)[:32])
    )
    match_frame(err, want)


@pytest.mark.parametrize("src", ["0.1.2.3", "224.0.0.5", "240.0.0.1", "255.255.255.255"])
def test_no_error_to_unusable_source(k, delta, src):
    """icmp_reflect (netinet/ip_icmp.c): the error would go to a source in 0/8, 224/4 or 240/4
    (255.255.255.255 included) -> icps_badaddr after icps_error and the
    output histogram, nothing sent."""
    with delta(k) as d:
        k.input("em0", udp_to(9, src=src))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1, "icps_badaddr": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    assert k.transmitted("em0") == []


def test_error_to_subnet_broadcast_source_refused_by_ip_output(k, delta):
    """icmp_reflect (netinet/ip_icmp.c) lets a subnet broadcast source through ("ip_output will
    check for broadcast"); icmp_send calls ip_output without
    IP_ALLOWBROADCAST, which refuses it (EACCES) after counting
    ips_localout: nothing goes out."""
    with delta(k) as d:
        k.input("em0", udp_to(9, src="192.0.2.255"))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    assert k.transmitted("em0") == []


@pytest.mark.parametrize(
    ("quotelen", "quoted"),
    [(0, 28), (8, 28), (64, 84), (1000, 128), (-1, 128)],
    ids=["0", "default-8", "64", "beyond-packet", "negative"],
)
def test_quotelen(k, delta, match_frame, quotelen, quoted):
    """icmp_error (netinet/ip_icmp.c): the quote is the header plus max(8, min(quotelen,
    payload)) bytes, computed as u_int (a negative quotelen is huge, so the
    whole packet is quoted); a 128-byte datagram here."""
    k.sysctl("net.inet.icmp.quotelen", quotelen)
    req = udp_to(9, data=bytes(range(100)))
    with delta(k) as d:
        k.input("em0", req)
    assert d == UNREACH_DELTA
    (err,) = k.transmitted("em0")
    match_frame(err, _err(3, 3, ip_bytes(req)[:quoted]))


def test_quote_capped_at_one_cluster(delta, match_frame):
    """icmp_error (netinet/ip_icmp.c): the quote never exceeds a 2048-byte cluster less the
    new IP and ICMP headers: 2020 bytes of a 3028-byte datagram, for an
    error of 2048 bytes (on an epair end with a 9000-byte MTU from the
    start, so that its network route has it too)."""
    k = kstack.Kernel()
    a, _b = k.epair(k.vnet0, k.jail("v", vnet=True))
    k.ifconfig(a, "192.0.2.1/24", mtu=9000)
    k.arp_add(PEER, PEER_MAC)
    k.transmitted(a)
    k.sysctl("net.inet.icmp.quotelen", 5000)
    req = udp_to(9, data=bytes(i & 0xFF for i in range(3000)), eth_dst=k.iface(a).ether)
    with delta(k) as d:
        k.input(a, req)
    assert d == UNREACH_DELTA
    (err,) = k.transmitted(a)
    assert len(err) - 14 == 2048
    want = (
        Ether(src=k.iface(a).ether, dst=PEER_MAC)
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:2020])
    )
    match_frame(err, want)


@pytest.mark.parametrize(("quotelen", "quoted"), [(8, 40), (64, 84)])
def test_tcp_quote_at_least_tcp_header(fwd, delta, match_frame, quotelen, quoted):
    """icmp_error (netinet/ip_icmp.c): for TCP the quote is max(TCP header length, min(quotelen,
    payload)): the 20-byte header even with quotelen 8; 64 bytes with 64."""
    fwd.sysctl("net.inet.icmp.quotelen", quotelen)
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / TCP(sport=1, dport=2, flags="A") / (b"t" * 100)
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == TIMXCEED_DELTA
    (err,) = fwd.transmitted("em0")
    match_frame(err, _err(11, 0, ip_bytes(req)[:quoted]))


@pytest.mark.parametrize("dataofs", [4, 15], ids=["below-20", "beyond-ip_len"])
def test_no_error_for_bad_tcp_offset(fwd, delta, dataofs):
    """icmp_error (netinet/ip_icmp.c): a TCP header length below 20 bytes, or reaching past
    ip_len, makes icmp_error give up (freeit) after counting icps_error."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / TCP(sport=1, dport=2, dataofs=dataofs)
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == SUPPRESSED_TIMXCEED
    assert fwd.transmitted("em0") == []


@pytest.mark.parametrize("inner", [0, 9, 10, 13, 14, 15, 16, 17, 18])
def test_error_about_icmp_informational(fwd, delta, inner):
    """icmp_error (netinet/ip_icmp.c): ICMP_INFOTYPE (echo reply, router advertisement and
    solicitation, timestamp, information and mask request/reply) may be
    quoted in an error."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / ICMP(type=inner) / b"abcd"
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == TIMXCEED_DELTA
    assert len(fwd.transmitted("em0")) == 1


@pytest.mark.parametrize("inner", [4, 5, 11, 12, 40, 41])
def test_no_error_about_icmp_error_types(fwd, delta, inner):
    """icmp_error (netinet/ip_icmp.c): any ICMP type outside the informational set (errors,
    redirects, unknown types) -> icps_oldicmp, nothing sent."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / ICMP(type=inner) / b"abcd"
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1}, "icmp": {"icps_error": 1, "icps_oldicmp": 1}}
    assert fwd.transmitted("em0") == []


def test_error_header_tos_zero_ttl_sysctl(fwd, match_frame):
    """icmp_error/icmp_reflect (netinet/ip_icmp.c): the error's TOS is 0 whatever the offending
    packet had, its TTL net.inet.ip.ttl (not the offending TTL)."""
    fwd.sysctl("net.inet.ip.ttl", 99)
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1, tos=0xB8) / UDP(sport=1, dport=2) / b"abcd"
    fwd.input("em0", req)
    (err,) = fwd.transmitted("em0")
    match_frame(err, _err(11, 0, ip_bytes(req)[:28], ttl=99))


@pytest.mark.parametrize("dst", ["192.0.2.255", "224.0.0.1"], ids=["subnet-broadcast", "multicast"])
def test_no_port_unreachable_for_ip_broadcast_destination(k, delta, dst):
    """udp_input (netinet/udp_usrreq.c): a datagram to a broadcast or
    multicast IP address takes the broadcast path even in a unicast frame;
    with no socket there: udps_noportbcast and icmp_error is never called."""
    with delta(k) as d:
        k.input("em0", udp_to(9, dst=dst))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_noportbcast": 1},
    }
    assert k.transmitted("em0") == []
