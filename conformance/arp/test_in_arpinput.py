"""arpintr and in_arpinput (sys/netinet/if_ether.c): what a received ARP
packet teaches, what it releases, what is answered (our addresses,
published entries, proxyall, link-local), the checks on the sender, the log
lines and the counters. 9.0 as head of February 2011 and 9.1 agree, except
the log wording noted in docs/arp.md."""

from __future__ import annotations

import pytest

from kstack import sock
from kstack.netinet.ip import aton
from kstack.testing import (
    ARP,
    BCAST_MAC,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST_MAC,
    PEER,
    PEER_MAC,
    Ether,
    Raw,
    echo_request,
)

from .helpers import (
    LOG_ERR,
    LOG_INFO,
    LOG_WARNING,
    NEWBIE,
    NEWBIE_MAC,
    OTHER_MAC,
    ZERO_MAC,
    arp_delta,
    arp_ops,
    far_reply,
    is_at,
    payloads,
    who_has,
)


def _reply(sip: str, sha: str, tip: str, tha: str, *, eth_src: str, eth_dst: str | None = None):
    """A reply the host sends: Ethernet source is the interface's MAC."""
    return Ether(src=eth_src, dst=eth_dst or tha) / ARP(
        op=2, hwsrc=sha, psrc=sip, hwdst=tha, pdst=tip
    )


def test_request_for_our_address_answered_and_sender_learned(k, delta, match_frame):
    """if_ether.c in_arpinput: a request whose target is our address on the
    receiving interface creates an entry for the sender (LLE_CREATE) and is
    answered unicast; arpintr counts it received, the reply step counts
    rxrequests and txreplies; no IP-layer counter moves."""
    with delta(k) as d, arp_delta(k) as a:
        out = k.input("em0", who_has(HOST, NEWBIE, NEWBIE_MAC))
    assert d == {}
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
    assert (out.kind, out.reason) == ("answered", "in_arpinput: reply sent")
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, NEWBIE, NEWBIE_MAC, eth_src=HOST_MAC))
    assert len(reply) == 42
    assert k.vnet0.arp_table()[NEWBIE] == (NEWBIE_MAC, "em0", False)


def test_request_for_another_address_counted_not_answered(k):
    """if_ether.c in_arpinput: a request for someone else's address reaches
    the reply step (rxrequests counts it) and is dropped there without
    proxyall; the unknown sender is not learned (no LLE_CREATE)."""
    with arp_delta(k) as a:
        out = k.input("em0", who_has("192.0.2.77", NEWBIE, NEWBIE_MAC))
    assert a == {"received": 1, "rxrequests": 1}
    assert (out.kind, out.reason) == ("delivered", "in_arpinput: not for us")
    assert k.transmitted("em0") == []
    assert NEWBIE not in k.vnet0.arp_table()


def test_reply_releases_held_packets_before_anything_else(k, match_frame):
    """if_ether.c in_arpinput: the reply validates the entry (la_asked 0,
    la_expire = now + max_age) and every held packet goes out through
    if_output; rxreplies counts the reply."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"held", (FAR, 9))
    k.transmitted("em1")
    with arp_delta(k) as a:
        out = k.input("em1", far_reply())
    assert a == {"received": 1, "rxreplies": 1}
    assert (out.kind, out.reason, out.to) == ("delivered", "in_arpinput", "arp table")
    assert payloads(k.transmitted("em1")) == [b"held"]
    assert k.vnet0.arp_table()[FAR] == (FAR_MAC, "em1", False)
    assert k.vnet0.pending_work() == []


def test_request_for_someone_else_refreshes_a_known_sender(k):
    """if_ether.c in_arpinput: any ARP packet from an address that has an
    entry updates it, whatever its target: a broadcast who-has from the far
    host for another address resolves our pending entry and releases the
    held packet; nothing is answered."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"held", (FAR, 9))
    k.transmitted("em1")
    with arp_delta(k) as a:
        k.input("em1", who_has("198.51.100.99", FAR, FAR_MAC))
    assert a == {"received": 1, "rxrequests": 1}
    out = k.transmitted("em1")
    assert payloads(out) == [b"held"] and arp_ops(out) == []


def test_unsolicited_reply_to_us_creates_an_entry(k):
    """if_ether.c in_arpinput: LLE_CREATE depends only on the target being
    our address, not on the opcode: an unsolicited reply sent to us is
    learned; one sent to another address is not."""
    k.input("em0", is_at("192.0.2.9", "02:00:00:00:00:09", "192.0.2.99", OTHER_MAC))
    assert "192.0.2.9" not in k.vnet0.arp_table()
    k.input("em0", is_at(NEWBIE, NEWBIE_MAC, HOST, HOST_MAC))
    assert k.vnet0.arp_table()[NEWBIE] == (NEWBIE_MAC, "em0", False)


def test_requester_and_held_packet_order(k):
    """if_ether.c in_arpinput: learning (and the release of held packets)
    comes before the reply step, so the held datagram leaves before our ARP
    reply."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"held", (FAR, 9))
    k.transmitted("em1")
    k.input("em1", who_has(HOST1, FAR, FAR_MAC))
    out = k.transmitted("em1")
    kinds = ["arp" if Ether(f).haslayer(ARP) else "udp" for f in out]
    assert kinds == ["udp", "arp"]
    assert arp_ops(out) == [(2, HOST1, FAR)]


def test_sender_using_our_address_is_defended(k, match_frame):
    """if_ether.c in_arpinput: a packet whose sender address is ours (and
    not 0.0.0.0) is logged at LOG_ERR, counts dupips, and a request (a
    gratuitous ARP claiming our address) is answered with our own MAC,
    unicast to the offender; no entry is touched."""
    with arp_delta(k) as a:
        out = k.input("em0", who_has(HOST, HOST, OTHER_MAC))
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1, "dupips": 1}
    assert (out.kind, out.reason) == ("answered", "dupips")
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, HOST, OTHER_MAC, eth_src=HOST_MAC))
    assert k.vnet0.arp_log == [
        (LOG_ERR, "arp: 02:00:00:00:00:66 is using my IP address 192.0.2.1 on em0!\n")
    ]
    assert k.vnet0.arp_table()[HOST] == (HOST_MAC, "em0", True)


def test_reply_claiming_our_address_counted_not_answered(k):
    """if_ether.c in_arpinput: a reply claiming our address counts
    rxreplies and dupips, is logged, and dropped at the reply step."""
    with arp_delta(k) as a:
        out = k.input("em0", is_at(HOST, OTHER_MAC, HOST, BCAST_MAC))
    assert a == {"received": 1, "rxreplies": 1, "dupips": 1}
    assert (out.kind, out.reason) == ("dropped", "dupips")
    assert k.transmitted("em0") == []


def test_our_own_frames_are_ignored(k):
    """if_ether.c in_arpinput: a packet whose sender hardware address is
    the interface's own is dropped after the rxreplies count, before any
    other check."""
    with arp_delta(k) as a:
        out = k.input("em0", is_at("192.0.2.50", HOST_MAC, HOST, HOST_MAC))
    assert a == {"received": 1, "rxreplies": 1}
    assert out.reason == "in_arpinput: our own packet"
    assert k.vnet0.arp_log == []


@pytest.mark.parametrize("sha", ["01:00:5e:00:00:01", BCAST_MAC])
def test_multicast_or_broadcast_sender_rejected(k, sha):
    """if_ether.c in_arpinput: a multicast sender hardware address (the
    broadcast address included, so the later "link address is broadcast"
    check never fires on Ethernet) is logged and dropped before the opcode
    is looked at. 9.0's message has no newline."""
    with arp_delta(k) as a:
        out = k.input("em0", who_has(HOST, NEWBIE, sha, eth_src=NEWBIE_MAC))
    assert a == {"received": 1}
    assert out.reason == "in_arpinput: sender hardware address is multicast"
    assert k.vnet0.arp_log == [(LOG_ERR, "in_arp: source hardware address is multicast.")]
    assert k.transmitted("em0") == [] and NEWBIE not in k.vnet0.arp_table()


def test_moved_address_logged_and_updated(k):
    """if_ether.c in_arpinput: a valid dynamic entry whose sender hardware
    address changes is updated; with net.link.ether.inet.log_arp_movements
    (default 1) a LOG_INFO line says so; with 0 nothing is logged."""
    k.input("em0", is_at(NEWBIE, NEWBIE_MAC, HOST, HOST_MAC))
    k.input("em0", is_at(NEWBIE, OTHER_MAC, HOST, HOST_MAC))
    assert k.vnet0.arp_table()[NEWBIE] == (OTHER_MAC, "em0", False)
    assert k.vnet0.arp_log == [
        (LOG_INFO, "arp: 192.0.2.8 moved from 02:00:00:00:00:08 to 02:00:00:00:00:66 on em0\n")
    ]
    assert k.sysctl("net.link.ether.inet.log_arp_movements", 0) == 1
    k.input("em0", is_at(NEWBIE, NEWBIE_MAC, HOST, HOST_MAC))
    assert k.vnet0.arp_table()[NEWBIE] == (NEWBIE_MAC, "em0", False)
    assert len(k.vnet0.arp_log) == 1


def test_permanent_entry_not_modified_but_request_answered(k, match_frame):
    """if_ether.c in_arpinput: a packet that would change a permanent entry
    is logged ("attempts to modify permanent entry", LOG_ERR) and skips the
    update, going straight to the reply step: a request for our address is
    still answered, to the hardware address it came from. In 9.0 the line
    is written whatever net.link.ether.inet.log_arp_permanent_modify says
    (the sysctl exists but is not consulted)."""
    k.sysctl("net.link.ether.inet.log_arp_permanent_modify", 0)
    with arp_delta(k) as a:
        out = k.input("em0", who_has(HOST, PEER, OTHER_MAC))
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
    assert out.kind == "answered"
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, PEER, OTHER_MAC, eth_src=HOST_MAC))
    assert k.vnet0.arp_table()[PEER] == (PEER_MAC, "em0", True)
    assert k.vnet0.arp_log == [
        (
            LOG_ERR,
            "arp: 02:00:00:00:00:66 attempts to modify permanent entry for 192.0.2.7 on em0\n",
        )
    ]


def test_known_on_another_interface_is_not_a_wrong_iface_case(k):
    """if_ether.c in_arpinput: each interface has its own table and the
    entry is looked up in the receiving interface's, so the "is on X but
    got reply from Y on Z" check (log_arp_wrong_iface) can not fire in 9.0:
    the far host's address answering on em0 simply gets an em0 entry."""
    k.input("em1", far_reply())
    with arp_delta(k) as a:
        k.input("em0", is_at(FAR, FAR_MAC, HOST, HOST_MAC))
    assert a == {"received": 1, "rxreplies": 1}
    assert k.vnet0.arp_log == []
    far = aton(FAR)
    assert (
        k.iface("em0").lle[far].mac
        == k.iface("em1").lle[far].mac
        == bytes.fromhex(FAR_MAC.replace(":", ""))
    )


def test_off_link_sender_answered_but_not_learned(k, match_frame):
    """if_ether.c in_arpinput -> in.c in_lltable_rtcheck: an entry is made
    only for an address covered by a route that is not a gateway route; a
    request from an address we reach only through the default router is
    answered (the reply needs no entry) but not learned."""
    k.route_add("default", "192.0.2.254")
    with arp_delta(k) as a:
        k.input("em0", who_has(HOST, "10.0.0.5", NEWBIE_MAC))
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, "10.0.0.5", NEWBIE_MAC, eth_src=HOST_MAC))
    assert "10.0.0.5" not in k.vnet0.arp_table()


def test_probe_from_0_0_0_0_answered(k, match_frame):
    """if_ether.c in_arpinput: an address probe (sender 0.0.0.0) is not a
    duplicate (the dupip test excludes our address only), gets no entry (no
    route covers 0.0.0.0 without a default route) and is answered with
    target protocol address 0.0.0.0."""
    with arp_delta(k) as a:
        k.input("em0", who_has(HOST, "0.0.0.0", NEWBIE_MAC))
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, "0.0.0.0", NEWBIE_MAC, eth_src=HOST_MAC))
    assert "0.0.0.0" not in k.vnet0.arp_table()


def test_proxyall_answers_for_an_address_routed_elsewhere(k, match_frame):
    """if_ether.c in_arpinput: with net.link.ether.inet.proxyall, a request
    for an address whose route (FIB 0) leaves through another interface,
    from a sender whose route is the receiving interface, is answered with
    our MAC. Off by default."""
    req = who_has(FAR, PEER, PEER_MAC)
    with arp_delta(k) as a:
        out = k.input("em0", req)
    assert a == {"received": 1, "rxrequests": 1}
    assert out.reason == "in_arpinput: not for us"
    assert k.transmitted("em0") == []
    assert k.sysctl("net.link.ether.inet.proxyall", 1) == 0
    with arp_delta(k) as a:
        out = k.input("em0", req)
    assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
    assert out.reason == "in_arpinput: proxy reply sent"
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(FAR, HOST_MAC, PEER, PEER_MAC, eth_src=HOST_MAC))


def test_proxyall_answers_for_our_other_interfaces_address(k, match_frame):
    """if_ether.c in_arpinput: only addresses of the receiving interface are
    "ours" to ARP; a request on em0 for em1's address is not answered,
    unless proxyall is on (its route is the lo0 host route, not em0)."""
    req = who_has(HOST1, PEER, PEER_MAC)
    k.input("em0", req)
    assert k.transmitted("em0") == []
    k.sysctl("net.link.ether.inet.proxyall", 1)
    k.input("em0", req)
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST1, HOST_MAC, PEER, PEER_MAC, eth_src=HOST_MAC))


def test_proxyall_not_for_the_receiving_interface(k):
    """if_ether.c in_arpinput: no proxy reply for an address whose route is
    the interface the request came in on ("or we'll get into a fight")."""
    k.sysctl("net.link.ether.inet.proxyall", 1)
    with arp_delta(k) as a:
        out = k.input("em0", who_has("192.0.2.99", PEER, PEER_MAC))
    assert a == {"received": 1, "rxrequests": 1}
    assert out.reason == "in_arpinput: not for us (no proxy reply)"
    assert k.transmitted("em0") == []


def test_proxyall_sender_expected_elsewhere_logged(k):
    """if_ether.c in_arpinput: with proxyall, a requester whose own route is
    another interface is refused with a LOG_INFO "arp_proxy: ignoring
    request" line."""
    k.sysctl("net.link.ether.inet.proxyall", 1)
    k.input("em0", who_has(FAR, "198.51.100.50", NEWBIE_MAC))
    assert k.transmitted("em0") == []
    assert k.vnet0.arp_log == [
        (LOG_INFO, "arp_proxy: ignoring request from 198.51.100.50 via em0, expecting em1\n")
    ]


def test_published_entry_announced_and_answered(k, match_frame):
    """if_llatbl.c lla_rt_output (arp -s ... pub): the published entry is
    announced by a gratuitous request whose sender hardware address is the
    published one (the Ethernet source stays ours); in_arpinput answers
    requests for it (LLE_PUB) with that address, proxyall or not."""
    pub_mac = "02:00:00:00:00:55"
    with arp_delta(k) as a:
        k.vnet0.arp_add("192.0.2.55", pub_mac, pub=True)
    assert a == {"txrequests": 1}
    (ann,) = k.transmitted("em0")
    match_frame(
        ann,
        Ether(src=HOST_MAC, dst=BCAST_MAC)
        / ARP(op=1, hwsrc=pub_mac, psrc="192.0.2.55", hwdst=ZERO_MAC, pdst="192.0.2.55"),
    )
    out = k.input("em0", who_has("192.0.2.55", PEER, PEER_MAC))
    assert out.reason == "in_arpinput: proxy reply sent"
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply("192.0.2.55", pub_mac, PEER, PEER_MAC, eth_src=HOST_MAC))


def test_link_local_reply_is_broadcast(kernel, match_frame):
    """if_ether.c in_arpinput: a reply for our own IN_LINKLOCAL (169.254/16)
    address goes out with M_BCAST, so ether_output sends it to the Ethernet
    broadcast address (RFC 3927); the ARP target fields still name the
    requester."""
    kernel.ifconfig("em0", "169.254.7.1/16", ether=HOST_MAC)
    kernel.transmitted("em0")
    kernel.input("em0", who_has("169.254.7.1", "169.254.9.9", NEWBIE_MAC))
    (reply,) = kernel.transmitted("em0")
    match_frame(
        reply,
        _reply(
            "169.254.7.1", HOST_MAC, "169.254.9.9", NEWBIE_MAC, eth_src=HOST_MAC, eth_dst=BCAST_MAC
        ),
    )


def test_ieee802_request_answered_as_ethernet(k, match_frame):
    """if_ether.c arpintr accepts ARPHRD_IEEE802 (6), in_arpinput answers,
    and ether_output (AF_ARP) rewrites ar_hrd to ARPHRD_ETHER."""
    k.input("em0", who_has(HOST, NEWBIE, NEWBIE_MAC, hwtype=6))
    (reply,) = k.transmitted("em0")
    match_frame(reply, _reply(HOST, HOST_MAC, NEWBIE, NEWBIE_MAC, eth_src=HOST_MAC))


@pytest.mark.parametrize(
    ("hwtype", "ok"),
    [(1, True), (6, True), (7, True), (24, True), (32, True), (2, False), (0x0100, False)],
)
def test_arpintr_hardware_types(k, hwtype, ok):
    """if_ether.c arpintr: Ethernet, IEEE 802, ARCnet, IEEE 1394 and (since
    the OFED import of March 2011, so in 9.0) InfiniBand are accepted;
    anything else is logged with its two bytes and dropped uncounted."""
    with arp_delta(k) as a:
        k.input("em0", who_has(HOST, NEWBIE, NEWBIE_MAC, hwtype=hwtype))
    if ok:
        assert a == {"received": 1, "rxrequests": 1, "txreplies": 1}
        assert k.vnet0.arp_log == []
    else:
        assert a == {}
        assert k.vnet0.arp_log == [
            (LOG_ERR, f"arp: unknown hardware address format (0x{hwtype:04x})\n")
        ]


def _raw_arp(hln: int, pln: int, body: bytes, op: int = 1) -> bytes:
    hdr = bytes(Ether(src=NEWBIE_MAC, dst=BCAST_MAC, type=0x0806))
    return hdr + bytes((0, 1, 8, 0, hln, pln, 0, op)) + body


def test_arpintr_runt_not_counted(k):
    """if_ether.c arpintr: fewer bytes than the header and its addresses
    (8 + 2*hln + 2*pln) is a runt, logged and not counted as received."""
    frame = _raw_arp(6, 4, bytes(19))
    with arp_delta(k) as a:
        out = k.input("em0", frame)
    assert a == {}
    assert out.reason == "arpintr: runt packet"
    assert k.vnet0.arp_log == [(LOG_ERR, "arp: runt packet\n")]


def test_in_arpinput_runt_after_received(k):
    """if_ether.c in_arpinput: the packet must hold an Ethernet/IPv4 ARP
    packet (28 bytes); one that satisfied arpintr with a 4-byte hardware
    length (24 bytes) is counted received, then logged and dropped."""
    frame = _raw_arp(4, 4, bytes(16))
    with arp_delta(k) as a:
        out = k.input("em0", frame)
    assert a == {"received": 1}
    assert out.reason == "in_arpinput: runt packet"
    assert k.vnet0.arp_log == [(LOG_ERR, "in_arp: runt packet -- m_pullup failed\n")]


def test_protocol_length_not_4_dropped(k):
    """if_ether.c in_arpinput: ar_pln must be the size of an IPv4 address."""
    frame = _raw_arp(6, 6, bytes(24))
    with arp_delta(k) as a:
        out = k.input("em0", frame)
    assert a == {"received": 1}
    assert out.reason == "in_arpinput: protocol address length is not 4"
    assert k.vnet0.arp_log == [(LOG_ERR, "in_arp: requested protocol length != 4\n")]


def test_not_ipv4_counted_received_only(k):
    """if_ether.c arpintr: a well-formed ARP packet for another protocol
    counts as received and is freed."""
    frame = bytes(
        Ether(src=NEWBIE_MAC, dst=BCAST_MAC)
        / ARP(ptype=0x86DD, plen=4, op=1, hwsrc=NEWBIE_MAC, psrc=NEWBIE, hwdst=ZERO_MAC, pdst=HOST)
    )
    with arp_delta(k) as a:
        out = k.input("em0", frame)
    assert a == {"received": 1}
    assert out.reason == "arpintr: protocol is not IPv4"


def test_hardware_length_mismatch_creates_but_does_not_fill(k):
    """if_ether.c in_arpinput: the lookup that creates the sender's entry
    comes before the test of ar_hln against the interface's address length;
    an 8-byte hardware address leaves an empty entry behind, a LOG_WARNING
    line (without newline in 9.0), and no reply."""
    sha8 = bytes.fromhex("0200000000080000")
    body = sha8 + bytes((192, 0, 2, 8)) + bytes(8) + bytes((192, 0, 2, 1))
    with arp_delta(k) as a:
        out = k.input("em0", _raw_arp(8, 4, body))
    assert a == {"received": 1}
    assert out.reason == "in_arpinput: hardware address length differs from the interface's"
    assert k.transmitted("em0") == []
    assert k.vnet0.arp_table()[NEWBIE] == (None, "em0", False)
    assert k.vnet0.arp_log == [
        (LOG_WARNING, "arp from 02:00:00:00:00:08: addr len: new 8, i/f 6 (ignored)")
    ]


def test_arp_reply_learned_then_echo_goes_direct(k, match_frame):
    """if_ether.c in_arpinput then arpresolve: once learned, an echo reply
    to the asker needs no request."""
    k.input("em0", who_has(HOST, NEWBIE, NEWBIE_MAC))
    k.transmitted("em0")
    with arp_delta(k) as a:
        k.input("em0", echo_request(src=NEWBIE))
    assert a == {}
    (echo,) = k.transmitted("em0")
    assert Ether(echo).dst == NEWBIE_MAC
    assert bytes(Ether(echo)[Raw].load) == b"kstack-echo-data"
