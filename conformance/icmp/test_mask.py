"""Address mask requests (icmp_input, netinet/ip_icmp.c, ICMP_MASKREQ):
net.inet.icmp.maskrepl and net.inet.icmp.maskfake."""

from __future__ import annotations

import pytest

import kstack
from kstack.netinet.ip import in_cksum
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    Ether,
    Raw,
    eth,
    host,
    reply_eth,
)

MASK_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_inhist[17]": 1, "icps_reflect": 1, "icps_outhist[18]": 1},
}


def _request(src: str = PEER, dst: str = HOST, eth_dst: str | None = None):
    ether = eth() if eth_dst is None else Ether(src=PEER_MAC, dst=eth_dst)
    return ether / IP(src=src, dst=dst) / ICMP(type=17, id=3, seq=4, addr_mask="0.0.0.0")


def _reply(mask: str):
    return (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID)
        / ICMP(type=18, id=3, seq=4, addr_mask=mask)
    )


@pytest.mark.parametrize(
    ("options", "fake", "wire"),
    [
        ((), 0xFFFFFF00, "0.255.255.255"),
        ((), 0x01020304, "4.3.2.1"),
        (("BIG_ENDIAN",), 0xFFFFFF00, "255.255.255.0"),
        (("BIG_ENDIAN",), 0x01020304, "1.2.3.4"),
    ],
    ids=["le-ffffff00", "le-01020304", "be-ffffff00", "be-01020304"],
)
def test_maskfake_copied_in_host_order(delta, match_frame, options, fake, wire):
    """icmp_input (netinet/ip_icmp.c): the reply carries net.inet.icmp.maskfake, a host-order
    u_int stored into the network-order mask field without htonl(): on a
    little-endian machine (the default) its bytes come out reversed, on a
    big-endian one (options BIG_ENDIAN) as written."""
    k = host(k=kstack.Kernel(options=options))
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.sysctl("net.inet.icmp.maskfake", fake)
    with delta(k) as d:
        k.input("em0", _request())
    assert d == MASK_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(wire))


@pytest.mark.parametrize("options", [(), ("BIG_ENDIAN",)], ids=["le", "be"])
def test_real_mask_is_network_order(match_frame, options):
    """icmp_input (netinet/ip_icmp.c): without maskfake the interface address's mask is copied
    from its sockaddr, already in network order, on either byte order."""
    k = host(k=kstack.Kernel(options=options))
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.input("em0", _request())
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply("255.255.255.0"))


def test_broadcast_mask_request_answered(k, delta, match_frame):
    """icmp_input (netinet/ip_icmp.c): a mask request to 255.255.255.255 is answered (there is
    no bmcastecho check for it); the mask is that of the receiving
    interface's address on the requester's network, the source the
    address toward the requester."""
    k.sysctl("net.inet.icmp.maskrepl", 1)
    with delta(k) as d:
        k.input("em0", _request(dst="255.255.255.255", eth_dst=BCAST_MAC))
    assert d == MASK_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply("255.255.255.0"))


def test_request_from_zero_source_gets_no_reply(k, delta):
    """icmp_input (netinet/ip_icmp.c): a request from 0.0.0.0 is turned into a reply to the
    subnet broadcast address, which ip_output refuses (EACCES: icmp_send
    does not pass IP_ALLOWBROADCAST) after counting ips_localout."""
    k.sysctl("net.inet.icmp.maskrepl", 1)
    with delta(k) as d:
        k.input("em0", _request(src="0.0.0.0", dst="255.255.255.255", eth_dst=BCAST_MAC))
    assert d == MASK_DELTA
    assert k.transmitted("em0") == []


def test_short_mask_request_goes_to_raw(k, delta):
    """icmp_input (netinet/ip_icmp.c): a mask request shorter than ICMP_MASKLEN (12) is not
    answered and goes to raw sockets, without a length counter."""
    k.sysctl("net.inet.icmp.maskrepl", 1)
    msg = bytearray(b"\x11\x00\x00\x00\x00\x03\x00\x04")  # 8 bytes: no mask field
    msg[2:4] = in_cksum(bytes(msg)).to_bytes(2, "big")
    with delta(k) as d:
        k.input("em0", eth() / IP(src=PEER, dst=HOST, proto=1) / Raw(bytes(msg)))
    assert d == {"ip": {"ips_total": 1, "ips_noproto": 1}, "icmp": {"icps_inhist[17]": 1}}
    assert k.transmitted("em0") == []


def test_mask_replies_not_rate_limited(k):
    """icmp_input (netinet/ip_icmp.c): mask replies do not go through badport_bandlim: 250
    requests in one second get 250 replies."""
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.advance(0.5)
    for _ in range(250):
        k.input("em0", _request())
    assert len(k.transmitted("em0")) == 250
