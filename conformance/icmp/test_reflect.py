"""icmp_reflect() (netinet/ip_icmp.c): the source address of replies and
errors, in the kernel's order of preference, and the FIB they are routed
in (icmp_error copies the offending packet's FIB; replies reuse the
request's mbuf)."""

from __future__ import annotations

import pytest

import kstack
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    REMOTE,
    UDP,
    Ether,
    Raw,
    echo_request,
    eth,
    eth1,
    host,
    ip_bytes,
    reply_eth,
)

DATA = b"kstack-echo-data"
ECHO_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
}
TIMXCEED_DELTA = {
    "ip": {"ips_total": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[11]": 1},
}
MCAST = {"dst": "224.0.0.1", "eth_dst": "01:00:5e:00:00:01"}
R1 = "198.51.100.254"  # a router on em1's network
R1_MAC = "02:00:00:00:01:fe"
OFFLINK = "203.0.113.5"


def _echo_reply(src: str, dst: str = PEER, ether: object = None, **ip: object):
    return (
        (ether if ether is not None else reply_eth())
        / IP(src=src, dst=dst, id=BOOT_IP_ID, **ip)
        / ICMP(type=0, id=0x1234, seq=1)
        / Raw(DATA)
    )


def _source(frame: bytes) -> str:
    return ".".join(str(b) for b in frame[26:30])


def test_reply_from_destination_on_other_interface(k, delta, match_frame):
    """icmp_reflect (netinet/ip_icmp.c): the request's destination is one of our addresses (em1's,
    though it came in on em0) -> that address is the reply's source."""
    with delta(k) as d:
        k.input("em0", echo_request(dst=HOST1))
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(HOST1))


def test_reply_to_alias_broadcast_from_that_alias(k, delta, match_frame):
    """icmp_reflect (netinet/ip_icmp.c): the destination is the broadcast address of one of the
    receiving interface's addresses (an alias here) -> that address; the
    reply is routed back to the peer by em0's first network."""
    k.ifconfig("em0", "10.1.1.1/24", alias=True)
    k.transmitted("em0")
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    with delta(k) as d:
        k.input("em0", echo_request(dst="10.1.1.255", eth_dst=BCAST_MAC))
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply("10.1.1.1"))


@pytest.mark.parametrize(("rfi", "src"), [(0, HOST), (1, HOST1)], ids=["route", "rfi"])
def test_limited_broadcast_reply_source(k, match_frame, rfi, src):
    """icmp_reflect (netinet/ip_icmp.c): 255.255.255.255 is no interface's broadcast address, so
    the source is the address toward the requester (em0's) -- or, with
    net.inet.icmp.reply_from_interface=1, the first address of the
    interface it arrived on (em1 here); the reply leaves by em0 either way."""
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    k.sysctl("net.inet.icmp.reply_from_interface", rfi)
    req = (
        Ether(src=PEER_MAC, dst=BCAST_MAC)
        / IP(src=PEER, dst="255.255.255.255")
        / ICMP(type=8, id=0x1234, seq=1)
        / Raw(DATA)
    )
    k.input("em1", req)
    assert k.transmitted("em1") == []
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(src))


def test_reply_from_interface_does_not_override_local_destination(k, match_frame):
    """icmp_reflect (netinet/ip_icmp.c): a request to one of our addresses is answered from it
    even with reply_from_interface=1 (that rule comes later)."""
    k.sysctl("net.inet.icmp.reply_from_interface", 1)
    k.input("em0", echo_request(dst=HOST1))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(HOST1))


@pytest.mark.parametrize("name", ["em2", "em9"], ids=["no-address", "no-interface"])
def test_reply_src_unusable_falls_back_to_route(k, match_frame, name):
    """icmp_reflect (netinet/ip_icmp.c): net.inet.icmp.reply_src naming an interface without an
    IPv4 address, or no interface at all, is passed over: the route back
    to the requester gives the source."""
    k.ifconfig("em2")
    k.sysctl("net.inet.icmp.bmcastecho", 1)
    k.sysctl("net.inet.icmp.reply_src", name)
    k.input("em0", echo_request(**MCAST))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(HOST))


def _transit(ttl: int = 1, src: str = PEER, dst: str = REMOTE, ether: object = None) -> object:
    return (
        (ether if ether is not None else eth())
        / IP(src=src, dst=dst, ttl=ttl)
        / UDP(sport=1, dport=2)
        / Raw(b"abcd")
    )


@pytest.mark.parametrize(
    ("sysctl", "value", "src"),
    [
        ("net.inet.icmp.reply_src", "", HOST),
        ("net.inet.icmp.reply_src", "em1", HOST1),
        ("net.inet.icmp.reply_from_interface", 1, HOST),
    ],
    ids=["route", "reply_src", "rfi"],
)
def test_transit_error_source(fwd, delta, sysctl, value, src):
    """icmp_reflect (netinet/ip_icmp.c) for an error about a packet in transit (its destination
    is not ours): net.inet.icmp.reply_src's address, else the route back."""
    fwd.sysctl(sysctl, value)
    with delta(fwd) as d:
        fwd.input("em0", _transit())
    assert d == TIMXCEED_DELTA
    (err,) = fwd.transmitted("em0")
    assert _source(err) == src


def test_transit_error_rfi_uses_arrival_interface(fwd, delta):
    """icmp_reflect (netinet/ip_icmp.c): with reply_from_interface=1 a packet from the peer that
    arrived on em1 is answered from em1's address, though the error is
    routed out of em0 (without it: em0's address)."""
    fwd.sysctl("net.inet.icmp.reply_from_interface", 1)
    with delta(fwd) as d:
        fwd.input("em1", _transit(ether=eth1(src=PEER_MAC)))
    assert d == TIMXCEED_DELTA
    assert fwd.transmitted("em1") == []
    (err,) = fwd.transmitted("em0")
    assert _source(err) == HOST1


def test_error_routed_back_by_other_interface(fwd, match_frame):
    """icmp_reflect/ip_rtaddr (netinet/ip_icmp.c, netinet/ip_input.c): the
    source comes from the route back to the offending packet's sender: a
    packet from the far host (em1's network) that came in on em0 is
    answered from em1's address, out of em1."""
    fwd.arp_add(FAR, FAR_MAC)
    req = _transit(src=FAR)
    fwd.input("em0", req)
    assert fwd.transmitted("em0") == []
    (err,) = fwd.transmitted("em1")
    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST1, dst=FAR, id=BOOT_IP_ID, proto=1)
        / ICMP(type=11, code=0)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_error_without_route_back(k, delta):
    """icmp_reflect (netinet/ip_icmp.c): no route back to the sender of a transit packet ->
    icps_noroute after the error was counted, nothing sent."""
    k.sysctl("net.inet.ip.forwarding", 1)
    with delta(k) as d:
        k.input("em0", _transit(src="203.0.113.77", dst="198.51.100.50"))
    assert d == {
        "ip": {"ips_total": 1},
        "icmp": {"icps_error": 1, "icps_outhist[11]": 1, "icps_noroute": 1},
    }
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


def _fib1_host() -> kstack.Kernel:
    """net.fibs=2; em1 is in FIB 1, whose default route is R1 on em1; FIB 0
    has no default route."""
    k = host(k=kstack.Kernel(fibs=2))
    k.ifconfig("em1", fib=1)
    k.arp_add(R1, R1_MAC)
    k.route_add("default", R1, fib=1)
    return k


def test_echo_reply_routed_in_request_fib(delta, match_frame):
    """icmp_input/icmp_reflect (netinet/ip_icmp.c): the echo reply reuses the request's mbuf and
    so its FIB (em1's, 1): it leaves through FIB 1's default route (G7.2).
    The same request on em0 (FIB 0, no default route) is answered from the
    address it was sent to, so icmp_reflect needs no route; ip_output then
    finds none in FIB 0 (EHOSTUNREACH, ips_noroute)."""
    k = _fib1_host()
    req1 = eth1(src=R1_MAC) / IP(src=OFFLINK, dst=HOST1) / ICMP(type=8, id=0x1234, seq=1) / DATA
    with delta(k) as d:
        k.input("em1", req1)
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em1")
    match_frame(reply, _echo_reply(HOST1, OFFLINK, Ether(src=HOST1_MAC, dst=R1_MAC)))
    req0 = eth() / IP(src=OFFLINK, dst=HOST) / ICMP(type=8, id=0x1234, seq=1) / DATA
    with delta(k) as d:
        k.input("em0", req0)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1, "ips_noroute": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
    }
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


def test_port_unreachable_routed_in_offending_fib(delta, match_frame):
    """icmp_error (netinet/ip_icmp.c): M_SETFIB(m, M_GETFIB(n)): the port unreachable for a
    datagram that came in on em1 (FIB 1) is routed by FIB 1."""
    k = _fib1_host()
    req = eth1(src=R1_MAC) / IP(src=OFFLINK, dst=HOST1) / UDP(sport=1, dport=9) / b"abcd"
    k.input("em1", req)
    (err,) = k.transmitted("em1")
    want = (
        Ether(src=HOST1_MAC, dst=R1_MAC)
        / IP(src=HOST1, dst=OFFLINK, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_transit_error_source_and_route_in_packet_fib(match_frame):
    """icmp_error/icmp_reflect (netinet/ip_icmp.c): a transit packet from FIB 1 (em1) is
    answered through FIB 1's route back (ip_rtaddr(dst, M_GETFIB(m))),
    from em1's address; FIB 0 has no route to the sender at all."""
    k = _fib1_host()
    k.sysctl("net.inet.ip.forwarding", 1)
    req = eth1(src=R1_MAC) / IP(src=OFFLINK, dst="192.0.2.50", ttl=1) / UDP(sport=1, dport=2)
    k.input("em1", req / b"abcd")
    (err,) = k.transmitted("em1")
    assert err[0:6] == bytes.fromhex(R1_MAC.replace(":", ""))
    assert _source(err) == HOST1


@pytest.mark.parametrize("dst", ["192.0.2.255", "224.0.0.1"], ids=["subnet-broadcast", "multicast"])
def test_ip_broadcast_in_unicast_frame_answered(k, delta, match_frame, dst):
    """icmp_input (netinet/ip_icmp.c): net.inet.icmp.bmcastecho looks at the
    link-layer flags only (M_BCAST/M_MCAST, set by ether_input); an echo
    to a broadcast or multicast IP address in a unicast frame is answered
    with bmcastecho=0, from em0's address (icmp_reflect)."""
    with delta(k) as d:
        k.input("em0", echo_request(dst=dst))
    assert d == ECHO_DELTA
    (reply,) = k.transmitted("em0")
    match_frame(reply, _echo_reply(HOST))
