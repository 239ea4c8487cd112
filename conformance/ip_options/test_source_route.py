"""Loose and strict source routes (ip_dooptions, save_rte, ip_srcroute,
ip_forward with srcrt) under net.inet.ip.sourceroute and
net.inet.ip.accept_sourceroute, in all four combinations (dossier 5.2.1,
G5.6, G5.7)."""

from __future__ import annotations

import pytest

from kstack.testing import (
    HOST,
    HOST1,
    HOST_MAC,
    ICMP,
    PEER,
    PEER_MAC,
    REMOTE,
    ROUTER,
    ROUTER_MAC,
    Ether,
    Raw,
    host,
)

from .helpers import ECHO_DATA, FAR, addr, echo, forwarded, frame, on_em1, router, srcroute

LSRR, SSRR = 131, 137
COMBOS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def _setup(sourceroute: int, accept: int, forwarding: int = 1):
    k = router() if forwarding else host()
    k.sysctl("net.inet.ip.sourceroute", sourceroute)
    k.sysctl("net.inet.ip.accept_sourceroute", accept)
    return k


def _srcfail(pkt: bytes) -> bytes:
    """icmp_error(ICMP_UNREACH, ICMP_UNREACH_SRCFAIL) quoting header + 8."""
    from .helpers import with_options

    hl = (pkt[0] & 0x0F) * 4
    err = ICMP(type=3, code=5) / Raw(pkt[: hl + 8])
    return bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + with_options(
        b"", err, src=HOST, dst=PEER, id=0, tos=0
    )


REFUSED = {
    "ip": {"ips_total": 1, "ips_badoptions": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
}


@pytest.mark.parametrize("sourceroute, accept", COMBOS)
def test_route_ending_here(sourceroute, accept, delta, match_frame):
    """A loose source route whose last hop (192.0.2.254) brought it here:
    accept_sourceroute=0 -> ICMP 3/5 and ips_badoptions (G5.6); =1 ->
    accepted, the route saved (save_rte) and the echo reply sent back along
    it reversed (ip_srcroute: the last recorded hop is the first hop, the
    original source the end of the route). sourceroute does not matter."""
    k = _setup(sourceroute, accept)
    pkt = echo(srcroute(LSRR, (ROUTER,), ptr=8))
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    if not accept:
        assert (out.kind, out.reason) == ("dropped", "ips_badoptions")
        assert d == REFUSED
        match_frame(k.transmitted("em0")[0], _srcfail(pkt), {"ip.id"})
        return
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    (reply,) = k.transmitted("em0")
    from .helpers import with_options

    opts = b"\x01\x83\x07\x04" + addr(PEER)
    want = with_options(
        opts, ICMP(type=0, id=0x77, seq=1) / Raw(ECHO_DATA), src=HOST, dst=ROUTER, id=0
    )
    match_frame(reply, bytes(Ether(src=HOST_MAC, dst=ROUTER_MAC, type=0x0800)) + want, {"ip.id"})


@pytest.mark.parametrize("sourceroute, accept", COMBOS)
def test_hops_left_router(sourceroute, accept, delta, match_frame):
    """Hops left after us, forwarding on: sourceroute=0 -> ICMP 3/5; =1 ->
    the next hop becomes the destination, our outgoing address (em1's,
    ip_rtaddr) goes into its slot, pointer + 4, ip_forward(srcrt=1).
    accept_sourceroute does not matter."""
    k = _setup(sourceroute, accept)
    pkt = echo(srcroute(LSRR, (FAR,)))
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    if not sourceroute:
        assert out.reason == "ips_badoptions" and d == REFUSED
        (err,) = k.transmitted("em0")
        match_frame(err, _srcfail(pkt), {"ip.id"})
        return
    assert (out.kind, out.reason) == ("forwarded", "ips_forward")
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    new = b"\x01\x83\x07\x08" + addr(HOST1)
    assert k.transmitted("em1") == [on_em1(forwarded(pkt, new, dst=FAR))]


@pytest.mark.parametrize("sourceroute", [0, 1])
def test_hops_left_host(sourceroute, delta):
    """Hops left, forwarding off: sourceroute=0 -> dropped silently,
    ips_cantforward (G5.7); sourceroute=1 -> the destination is rewritten to
    the next hop, which is not ours, so ip_input drops it (ips_cantforward)
    without an answer either."""
    k = _setup(sourceroute, 1, forwarding=0)
    with delta(k) as d:
        out = k.input("em0", frame(echo(srcroute(LSRR, (FAR,)))))
    assert (out.kind, out.reason) == ("dropped", "ips_cantforward")
    assert d == {"ip": {"ips_total": 1, "ips_cantforward": 1}}
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


@pytest.mark.parametrize("sourceroute", [0, 1])
@pytest.mark.parametrize("forwarding", [0, 1])
def test_not_at_a_listed_hop(sourceroute, forwarding, delta, match_frame):
    """A loose source route whose current destination is not ours: with
    sourceroute=0 it is refused with ICMP 3/5 (router or not); with
    sourceroute=1 it is an ordinary packet (forwarded, or dropped by a
    host)."""
    k = _setup(sourceroute, 0, forwarding)
    pkt = echo(srcroute(LSRR, (REMOTE,)), dst=FAR)
    with delta(k) as d:
        out = k.input("em0", frame(pkt))
    if not sourceroute:
        assert out.reason == "ips_badoptions" and d == REFUSED
        match_frame(k.transmitted("em0")[0], _srcfail(pkt), {"ip.id"})
    elif forwarding:
        assert out.reason == "ips_forward"
        assert k.transmitted("em1") == [on_em1(forwarded(pkt))]
    else:
        assert out.reason == "ips_cantforward"


@pytest.mark.parametrize("sourceroute", [0, 1])
def test_strict_route_not_at_a_listed_hop(sourceroute, delta, match_frame):
    """A strict source route whose current destination is not ours: ICMP
    3/5 whatever the sysctls."""
    k = _setup(sourceroute, 1)
    pkt = echo(srcroute(SSRR, (REMOTE,)), dst=FAR)
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == REFUSED
    match_frame(k.transmitted("em0")[0], _srcfail(pkt), {"ip.id"})


def test_strict_next_hop_connected():
    """SSRR: the next hop must be on a connected network (ifa_ifwithnet);
    the slot gets that network's address."""
    k = _setup(1, 0)
    pkt = echo(srcroute(SSRR, (FAR,)))
    assert k.input("em0", frame(pkt)).reason == "ips_forward"
    new = b"\x01\x89\x07\x08" + addr(HOST1)
    assert k.transmitted("em1") == [on_em1(forwarded(pkt, new, dst=FAR))]


def test_strict_next_hop_not_connected(delta, match_frame):
    """SSRR with a next hop that is not on a connected network (a default
    route does not help) -> ICMP 3/5."""
    k = _setup(1, 0)
    k.route_add("default", ROUTER)
    pkt = echo(srcroute(SSRR, (REMOTE,)))
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == REFUSED
    match_frame(k.transmitted("em0")[0], _srcfail(pkt), {"ip.id"})


def test_loose_next_hop_by_route():
    """LSRR: the next hop may be anywhere a route reaches (ip_rtaddr); the
    default route via 192.0.2.254 leaves on em0 again, and no redirect is
    sent for a source-routed packet (ip_forward srcrt)."""
    k = _setup(1, 0)
    k.route_add("default", ROUTER)
    pkt = echo(srcroute(LSRR, (REMOTE,)))
    assert k.input("em0", frame(pkt)).reason == "ips_forward"
    new = b"\x01\x83\x07\x08" + addr(HOST)
    (out,) = k.transmitted("em0")
    assert out == bytes(Ether(src=HOST_MAC, dst=ROUTER_MAC, type=0x0800)) + forwarded(
        pkt, new, dst=REMOTE
    )


def test_loose_next_hop_without_route(delta, match_frame):
    """LSRR with a next hop no route reaches -> ICMP 3/5."""
    k = _setup(1, 0)
    pkt = echo(srcroute(LSRR, (REMOTE,)))
    with delta(k) as d:
        k.input("em0", frame(pkt))
    assert d == REFUSED
    match_frame(k.transmitted("em0")[0], _srcfail(pkt), {"ip.id"})


@pytest.mark.parametrize(
    "opts, pointer",
    [
        (b"\x01\x83\x02\x00", 22),  # length 2 < 3: the length byte
        (b"\x83\x07\x03" + bytes(5), 22),  # pointer 3 < 4: the pointer byte
    ],
)
def test_source_route_malformed(opts, pointer, delta):
    """ip_dooptions: LSRR with a length under 3 is blamed on its length
    byte, a pointer under 4 on the pointer byte."""
    k = _setup(1, 1)
    with delta(k) as d:
        out = k.input("em0", frame(echo(opts)))
    assert out.reason == "ips_badoptions"
    assert d["ip"]["ips_badoptions"] == 1
    (err,) = k.transmitted("em0")
    assert (err[34], err[35], err[38]) == (12, 0, pointer)


def test_reply_route_and_record_route_together(match_frame):
    """icmp_reflect: the reversed source route comes first, then the copied
    (processed) Record Route, padded with EOL."""
    from .helpers import rr, with_options

    k = _setup(0, 1)
    opts = srcroute(LSRR, ("10.1.1.1", ROUTER), ptr=12) + rr(1)
    k.input("em0", frame(echo(opts)))
    (reply,) = k.transmitted("em0")
    want_opts = b"\x01\x83\x0b\x04" + addr("10.1.1.1") + addr(PEER) + rr(1, ptr=8, filled=(HOST,))
    want = with_options(
        want_opts, ICMP(type=0, id=0x77, seq=1) / Raw(ECHO_DATA), src=HOST, dst=ROUTER, id=0
    )
    match_frame(reply, bytes(Ether(src=HOST_MAC, dst=ROUTER_MAC, type=0x0800)) + want, {"ip.id"})


def test_multicast_next_hop_is_not_forwarded(delta, match_frame):
    """ip_dooptions: a multicast next hop is written in (via the default
    route's address) but not forwarded from here; ip_input then takes the
    multicast destination as ours, and icmp_input answers the (link-layer
    unicast) echo from the address of the route back."""
    from .helpers import with_options

    k = _setup(1, 0)
    k.route_add("default", ROUTER)
    with delta(k) as d:
        out = k.input("em0", frame(echo(srcroute(LSRR, ("224.1.2.3",)))))
    assert (out.kind, out.reason) == ("answered", "icps_reflect")
    assert d["ip"] == {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1}
    assert k.transmitted("em1") == []
    want = with_options(b"", ICMP(type=0, id=0x77, seq=1) / Raw(ECHO_DATA), src=HOST, dst=PEER)
    match_frame(
        k.transmitted("em0")[0],
        bytes(Ether(src=HOST_MAC, dst=PEER_MAC, type=0x0800)) + want,
        {"ip.id"},
    )


def test_no_source_route_without_route_saved_in_reply(match_frame):
    """Without a saved route the reply goes straight back (first hop 0)."""
    k = host()
    k.input("em0", frame(echo(b"\x01\x01\x01\x01")))
    (reply,) = k.transmitted("em0")
    assert reply[30:34] == addr(PEER) and reply[14] == 0x45
