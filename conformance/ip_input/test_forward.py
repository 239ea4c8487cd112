"""ip_forward(), icmp_error() suppressions and arpresolve() on the
forwarding path (dossier 1.5, 4.2, 4.3)."""

from __future__ import annotations

import pytest

from kstack.testing import (
    ARP,
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
    REMOTE,
    ROUTER,
    ROUTER_MAC,
    UDP,
    Ether,
    Raw,
    arp_reply,
    eth,
    ip_bytes,
    reply_eth,
)

ERR_DELTA = {"ip": {"ips_total": 1, "ips_localout": 1}}


def _icmp_err(type_: int, code: int, quote: bytes, flags: int = 0, **icmp: object):
    return (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1, flags=flags)
        / ICMP(type=type_, code=code, **icmp)
        / Raw(quote)
    )


def test_ttl_expired_time_exceeded(fwd, delta, match_frame):
    """ip_forward: ip_ttl <= 1 -> icmp_error(TIMXCEED, INTRANS) before the
    route lookup; quote = received header (ttl 1) + 8 bytes; outer TTL 64,
    TOS 0, DF copied from the offending packet (G1.6)."""
    req = (
        eth()
        / IP(src=PEER, dst=REMOTE, ttl=1, flags="DF", tos=0x28)
        / UDP(sport=1, dport=2)
        / Raw(b"abcd")
    )
    with delta(fwd) as d:
        out = fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[11]": 1},
    }
    assert out.kind == "dropped"
    (err,) = fwd.transmitted("em0")
    match_frame(err, _icmp_err(11, 0, ip_bytes(req)[:28], flags=2))
    assert len(err) - 14 == 56


def test_no_route_host_unreachable(k, delta, match_frame):
    """ip_forward: no route and not source routed -> ICMP unreach HOST
    (code 1, not NET); no ips_cantforward."""
    k.sysctl("net.inet.ip.forwarding", 1)
    req = eth() / IP(src=PEER, dst=REMOTE) / UDP(sport=1, dport=2) / Raw(b"abcdefgh")
    with delta(k) as d:
        k.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    (err,) = k.transmitted("em0")
    match_frame(err, _icmp_err(3, 1, ip_bytes(req)[:28]))


def test_needfrag(fwd, delta, match_frame):
    """ip_forward: EMSGSIZE from ip_output -> ICMP 3/4 with the next-hop MTU
    of the egress interface, quote 28 bytes, outer DF copied;
    ips_cantforward+1 and ips_cantfrag+2 (G4.1)."""
    fwd.ifconfig("em1", mtu=1400)
    req = eth() / IP(src=PEER, dst=FAR, flags="DF") / UDP(sport=7, dport=9) / Raw(b"z" * 1472)
    assert len(ip_bytes(req)) == 1500
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_cantfrag": 2, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    (err,) = fwd.transmitted("em0")
    match_frame(err, _icmp_err(3, 4, ip_bytes(req)[:28], flags=2, nexthopmtu=1400))
    assert fwd.transmitted("em1") == []


def test_forward_resolves_next_hop_with_arp(fwd, delta, match_frame):
    """ip_forward + arpresolve: TTL decremented, checksum recomputed, ID kept;
    the packet is held while an ARP request goes out, then released when
    the reply arrives (in_arpinput)."""
    req = eth() / IP(src=PEER, dst=FAR, id=0x0707, ttl=64) / UDP(sport=7, dport=9) / Raw(b"data")
    with delta(fwd) as d:
        out = fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    assert out.kind == "forwarded"
    (who_has,) = fwd.transmitted("em1")
    match_frame(
        who_has,
        Ether(src=HOST1_MAC, dst=BCAST_MAC)
        / ARP(op=1, hwsrc=HOST1_MAC, psrc=HOST1, hwdst="00:00:00:00:00:00", pdst=FAR),
    )
    with delta(fwd) as d:
        fwd.input("em1", arp_reply(FAR, FAR_MAC, HOST1, HOST1_MAC))
    assert d == {}
    (fwded,) = fwd.transmitted("em1")
    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=PEER, dst=FAR, id=0x0707, ttl=63)
        / UDP(sport=7, dport=9)
        / Raw(b"data")
    )
    match_frame(fwded, want)
    assert fwd.transmitted("em0") == []
    # Now resolved: the next packet goes straight out.
    fwd.input("em0", req)
    (again,) = fwd.transmitted("em1")
    match_frame(again, want)


def test_forward_via_gateway(fwd, delta, match_frame):
    """ip_forward: default route -> frame to the router's MAC; no redirect
    for the default route even though it leaves by em0."""
    req = eth() / IP(src=PEER, dst=REMOTE, id=9, ttl=10) / UDP(sport=7, dport=9) / Raw(b"data")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    (fwded,) = fwd.transmitted("em0")
    want = (
        Ether(src="02:00:00:00:00:01", dst=ROUTER_MAC)
        / IP(src=PEER, dst=REMOTE, id=9, ttl=9)
        / UDP(sport=7, dport=9)
        / Raw(b"data")
    )
    match_frame(fwded, want)


def test_redirect_when_leaving_by_incoming_interface(fwd, delta, match_frame):
    """ip_forward: the route leaves by the receiving interface, is not the
    default route and the source is on the egress subnet -> the packet is
    forwarded and an ICMP host redirect (type 5 code 1, gateway = route
    gateway) quoting the pre-decrement header is sent; ips_redirectsent."""
    fwd.route_add("203.0.113.0/24", ROUTER)
    req = eth() / IP(src=PEER, dst=REMOTE, id=9, ttl=10) / UDP(sport=7, dport=9) / Raw(b"data")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_forward": 1, "ips_redirectsent": 1, "ips_localout": 1},
        "icmp": {"icps_outhist[5]": 1},
    }
    fwded, redirect = fwd.transmitted("em0")
    match_frame(
        fwded,
        Ether(src="02:00:00:00:00:01", dst=ROUTER_MAC)
        / IP(src=PEER, dst=REMOTE, id=9, ttl=9)
        / UDP(sport=7, dport=9)
        / Raw(b"data"),
    )
    match_frame(redirect, _icmp_err(5, 1, ip_bytes(req)[:28], gw=ROUTER))


def test_redirect_disabled(fwd, delta):
    """ip_forward: net.inet.ip.redirect=0 -> forwarded, no redirect."""
    fwd.sysctl("net.inet.ip.redirect", 0)
    fwd.route_add("203.0.113.0/24", ROUTER)
    req = eth() / IP(src=PEER, dst=REMOTE) / UDP(sport=7, dport=9) / Raw(b"data")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    assert len(fwd.transmitted("em0")) == 1


def test_link_broadcast_frame_not_forwarded(fwd, delta):
    """ip_forward: a link-layer broadcast frame is never forwarded, not even
    answered with time exceeded."""
    req = (
        eth(dst=BCAST_MAC) / IP(src=PEER, dst=REMOTE, ttl=1) / UDP(sport=1, dport=2) / Raw(b"abcd")
    )
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1, "ips_cantforward": 1}}
    assert fwd.transmitted("em0") == []


def test_no_error_about_icmp_error(fwd, delta):
    """icmp_error: the offending packet is an ICMP error -> icps_oldicmp,
    nothing sent (G4.6)."""
    inner = IP(src=REMOTE, dst=PEER) / UDP(sport=2, dport=1)
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / ICMP(type=3, code=3) / inner
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1}, "icmp": {"icps_error": 1, "icps_oldicmp": 1}}
    assert fwd.transmitted("em0") == []


def test_error_about_icmp_echo_is_sent(fwd, delta):
    """icmp_error: an ICMP informational message (echo) may be quoted."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1) / ICMP(type=8) / Raw(b"abcd")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[11]": 1},
    }
    assert len(fwd.transmitted("em0")) == 1


@pytest.mark.parametrize(
    "ip_kw", [{"frag": 1}, {"flags": 4}], ids=["non-first-fragment", "evil-bit"]
)
def test_no_error_for_fragment_or_evil_bit(fwd, delta, ip_kw):
    """icmp_error: ip_off with any bit beyond MF/DF -> no error (G4.7)."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1, **ip_kw) / UDP(sport=1, dport=2) / Raw(b"abcd")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1}, "icmp": {"icps_error": 1}}
    assert fwd.transmitted("em0") == []


def test_no_error_for_short_payload(fwd, delta):
    """icmp_error: fewer than 8 payload bytes -> no error (G4.8)."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1, proto=253) / Raw(b"abcd")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {"ip": {"ips_total": 1}, "icmp": {"icps_error": 1}}
    assert fwd.transmitted("em0") == []


def test_forwarding_errors_not_rate_limited(fwd, delta):
    """icmp_error has no limiter: 250 TTL expiries give 250 errors."""
    with delta(fwd) as d:
        for i in range(250):
            fwd.input(
                "em0",
                eth() / IP(src=PEER, dst=REMOTE, ttl=1) / UDP(sport=i + 1, dport=2) / Raw(b"abcd"),
            )
    assert d == {
        "ip": {"ips_total": 250, "ips_localout": 250},
        "icmp": {"icps_error": 250, "icps_outhist[11]": 250},
    }
    assert len(fwd.transmitted("em0")) == 250
    assert HOST


def test_time_exceeded_for_short_tcp_segment(fwd, delta, match_frame):
    """icmp_error: a TCP segment too short for a TCP header takes the
    standard 8-byte quote ("goto stdreply"), it is not dropped."""
    req = eth() / IP(src=PEER, dst=REMOTE, ttl=1, proto=6) / Raw(b"0123456789")
    with delta(fwd) as d:
        fwd.input("em0", req)
    assert d == {
        "ip": {"ips_total": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[11]": 1},
    }
    (err,) = fwd.transmitted("em0")
    match_frame(err, _icmp_err(11, 0, ip_bytes(req)[:28]))


def test_time_exceeded_quotes_whole_tcp_header(fwd, match_frame):
    """icmp_error: for TCP the whole TCP header (with options) is quoted."""
    from scapy.layers.inet import TCP

    req = (
        eth()
        / IP(src=PEER, dst=REMOTE, ttl=1)
        / TCP(
            sport=1,
            dport=2,
            seq=5,
            flags="S",
            options=[("MSS", 1460), ("NOP", None), ("NOP", None)],
        )
    )
    fwd.input("em0", req)
    (err,) = fwd.transmitted("em0")
    assert len(ip_bytes(req)) == 48
    match_frame(err, _icmp_err(11, 0, ip_bytes(req)))
