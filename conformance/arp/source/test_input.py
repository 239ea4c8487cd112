"""arpintr() and in_arpinput() (sys/netinet/if_ether.c 429-874).

Requests are injected as broadcast frames on em0 (192.0.2.1/24); replies
are compared byte for byte with what in_arpinput makes of the request mbuf
(42 bytes: Ethernet header and the 28-byte ARP body, the length set at 863).
"""

import kstack
from conformance.arp.source.common import (
    BCAST,
    EM0,
    EM1,
    OTHER_MAC,
    PEER,
    PEER1,
    PEER_MAC,
    TARGET,
    TARGET_MAC,
    arp_in,
    mac,
    make_host,
    reply_from_us,
    reply_in,
    request_from_us,
    sender,
    sent,
    udp_frame,
    udp_payloads,
    udp_send,
)


def resolves_without_request(k, ip, expected_mac, payload=b"probe"):
    """Send a datagram to ip: True when it leaves at once to expected_mac
    (a valid entry), False when an ARP request goes out instead."""
    s = sender(k, port=6001)
    udp_send(s, ip, payload)
    frames = sent(k)
    if frames == [request_from_us(k, "em0", EM0, ip)]:
        return False
    (frame,) = frames
    assert frame == udp_frame(frame, mac(k, "em0"), expected_mac, EM0, ip, payload, sport=6001)
    return True


def test_reply_to_request_for_our_address(k):
    """in_arpinput 570-576 (target is an address of the receiving interface),
    768-776 (tha := requester's sha, sha := our MAC), 859-862 (tpa := spa,
    spa := target, op := reply), 857 (never broadcast), ether_output AF_ARP
    222-225 (Ethernet destination = ar_tha)."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)]


def test_reply_goes_to_the_arp_sender_address_not_the_ethernet_source(k):
    """ether_output 225: the reply's Ethernet destination is copied from
    ar_tha, which in_arpinput 775 set from the request's ar_sha, not from
    the Ethernet source of the request frame."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, eth_src=OTHER_MAC)
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)]


def test_unicast_request_answered(k):
    """arpintr/in_arpinput do not look at the Ethernet destination: a request
    sent to our MAC is answered the same way."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, eth_dst=mac(k, "em0"))
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)]


def test_reply_with_ieee802_hardware_type(k):
    """arpintr 441-452 accept ar_hrd 6 (IEEE802); ether_output 206 rewrites
    ar_hrd to 1 (Ethernet) in the reply."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, hwtype=6)
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)]


def test_unknown_hardware_type_dropped(k):
    """arpintr 441-452: ar_hrd 2 is none of Ethernet, IEEE802, ARCNET,
    IEEE1394, Infiniband: the packet is freed unanswered and creates no
    entry."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, hwtype=2)
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, TARGET_MAC)


def test_request_creates_entry_for_sender(k):
    """in_arpinput 678-681: a request whose target is our address looks the
    sender up with LLE_CREATE; 728-742 store its MAC, so a datagram to it
    leaves at once."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    sent(k)
    assert resolves_without_request(k, TARGET, TARGET_MAC)


def test_request_for_other_address_not_answered_and_no_entry(k):
    """in_arpinput 619-631 fall back to the first address of em0 as myaddr;
    678 uses no LLE_CREATE since the target is not myaddr; 785-795 drop the
    request (no published entry, proxyall 0). A later datagram to the
    sender needs a request."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, "192.0.2.99")
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, TARGET_MAC)


def test_request_for_other_address_updates_existing_entry(k):
    """in_arpinput 681-742: without LLE_CREATE the lookup still finds an
    existing entry and stores the new sender hardware address in it."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    sent(k)
    arp_in(k, "em0", 1, OTHER_MAC, TARGET, "192.0.2.99")
    assert sent(k) == []
    assert resolves_without_request(k, TARGET, OTHER_MAC)


def test_unsolicited_reply_to_us_creates_entry(k):
    """in_arpinput 678: LLE_CREATE depends only on the target being myaddr,
    not on a request having been sent; a gratuitous reply addressed to us
    creates a usable entry (and 769-770 send nothing back)."""
    reply_in(k, TARGET, TARGET_MAC)
    assert sent(k) == []
    assert resolves_without_request(k, TARGET, TARGET_MAC)


def test_reply_for_other_address_creates_no_entry(k):
    """in_arpinput 678: a reply whose target is not our address does not
    create an entry for its sender."""
    arp_in(k, "em0", 2, TARGET_MAC, TARGET, "192.0.2.99", tha=PEER_MAC, eth_dst=BCAST)
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, TARGET_MAC)


def test_entry_moves_to_new_mac(k):
    """in_arpinput 696-718: a valid, non-static entry whose MAC differs is
    overwritten (only logged, log_arp_movements) at 728."""
    reply_in(k, TARGET, TARGET_MAC)
    reply_in(k, TARGET, OTHER_MAC)
    assert sent(k) == []
    assert resolves_without_request(k, TARGET, OTHER_MAC)


def test_static_entry_not_overwritten_but_request_answered(k):
    """in_arpinput 696-707: a static entry with another MAC is left as it is
    and processing jumps to reply: the request for our address is still
    answered, to the (new) sender hardware address."""
    k.arp_add(PEER, PEER_MAC)
    arp_in(k, "em0", 1, OTHER_MAC, PEER, EM0)
    assert sent(k) == [reply_from_us(k, "em0", EM0, OTHER_MAC, PEER)]
    assert resolves_without_request(k, PEER, PEER_MAC)
    assert k.vnet0.arp_table()[PEER] == (PEER_MAC, "em0", True)


def test_from_our_own_mac_ignored(k):
    """in_arpinput 648-649: a packet whose sender hardware address is the
    interface's own MAC is dropped: no reply, no entry."""
    ours = mac(k, "em0")
    arp_in(k, "em0", 1, ours, TARGET, EM0, eth_src=OTHER_MAC)
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, ours)


def test_broadcast_sender_address_ignored(k):
    """in_arpinput 650-655: a sender hardware address equal to the broadcast
    address is dropped."""
    arp_in(k, "em0", 1, BCAST, TARGET, EM0, eth_src=OTHER_MAC)
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, BCAST)


def test_multicast_sender_address_ignored(k):
    """in_arpinput 547-551: a sender hardware address with the group bit set
    is rejected before any lookup."""
    arp_in(k, "em0", 1, "01:00:5e:00:00:01", TARGET, EM0, eth_src=OTHER_MAC)
    assert sent(k) == []
    assert not resolves_without_request(k, TARGET, "01:00:5e:00:00:01")


def test_address_of_another_interface_not_answered(k):
    """in_arpinput 570-577: the target must be an address of the receiving
    interface (no bridge); em1's address asked on em0 falls back to em0's
    first address as myaddr and, not being published, is dropped (794-795)."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM1)
    assert sent(k) == []


def test_alias_address_answered(k):
    """in_arpinput 570-576: any address of the receiving interface matches
    (INADDR_HASH), aliases included; the reply's sender address is the alias."""
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    sent(k)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, "192.0.2.9")
    assert sent(k) == [reply_from_us(k, "em0", "192.0.2.9", TARGET_MAC, TARGET)]


def test_duplicate_address_defended(k):
    """in_arpinput 662-669: a request claiming our address as its sender
    (gratuitous ARP from another station) is answered with our own mapping,
    to the claimer's hardware address; sender and target are our address."""
    arp_in(k, "em0", 1, OTHER_MAC, EM0, EM0)
    assert sent(k) == [reply_from_us(k, "em0", EM0, OTHER_MAC, EM0)]


def test_duplicate_address_in_reply_not_answered(k):
    """in_arpinput 662-670 then 769-770: a reply claiming our address is only
    logged (and counted in dupips); nothing is sent."""
    arp_in(k, "em0", 2, OTHER_MAC, EM0, EM0, eth_dst=BCAST)
    assert sent(k) == []


def test_probe_from_unspecified_address_answered(k):
    """RFC 5227 probe (sender 0.0.0.0): in_arpinput 662 does not treat it as
    a duplicate (isaddr != myaddr), the lookup of 0.0.0.0 fails the route
    check of in.c in_lltable_rtcheck 1412-1413 (no route), and the reply goes
    to the prober with target protocol address 0.0.0.0."""
    arp_in(k, "em0", 1, TARGET_MAC, "0.0.0.0", EM0)
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, "0.0.0.0")]


def test_off_net_sender_answered_without_entry(k):
    """in.c in_lltable_lookup 1513-1515 with in_lltable_rtcheck 1421-1430: a
    sender only reachable through a gateway route gets no entry (the create
    fails), but in_arpinput 768-868 still answer its request."""
    k.route_add("default", "192.0.2.254")
    arp_in(k, "em0", 1, TARGET_MAC, "10.9.9.9", EM0)
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, "10.9.9.9")]
    assert "10.9.9.9" not in k.vnet0.arp_table()


def test_link_local_reply_is_broadcast():
    """in_arpinput 846-854: for a target in 169.254/16 that is our address the
    reply is sent with M_BCAST (RFC 3927), so ether_output 222-223 uses the
    broadcast Ethernet address; the ARP body is the usual reply."""
    k = kstack.Kernel(profile="9.0", seed=0)
    k.ifconfig("em0", "169.254.10.1/16")
    sent(k)
    arp_in(k, "em0", 1, TARGET_MAC, "169.254.20.2", "169.254.10.1")
    assert sent(k) == [
        reply_from_us(k, "em0", "169.254.10.1", TARGET_MAC, "169.254.20.2", eth_dst=BCAST)
    ]


def test_proxyall_off_no_proxy_reply(k):
    """in_arpinput 794-795: without a published entry and with proxyall 0 a
    request for another host is dropped, even one routed via another
    interface."""
    arp_in(k, "em0", 1, PEER_MAC, PEER, PEER1)
    assert sent(k) == []


def test_proxyall_answers_for_other_interface_networks():
    """in_arpinput 797-843: with proxyall, a target routed (FIB 0) through
    another interface, asked by a sender routed through the receiving one,
    is answered with our MAC (814-815)."""
    k = make_host(proxyall=1)
    arp_in(k, "em0", 1, PEER_MAC, PEER, PEER1)
    assert sent(k) == [reply_from_us(k, "em0", PEER1, PEER_MAC, PEER)]
    assert sent(k, "em1") == []


def test_proxyall_not_for_same_interface():
    """in_arpinput 808-811: no proxy reply when the target's route uses the
    interface the request came in on."""
    k = make_host(proxyall=1)
    arp_in(k, "em0", 1, PEER_MAC, PEER, TARGET)
    assert sent(k) == []


def test_proxyall_sender_on_wrong_interface():
    """in_arpinput 823-836: the sender's own route must use the receiving
    interface; a sender from em1's network asking on em0 for a target behind
    em1 is ignored."""
    k = make_host(proxyall=1)
    k.route_add("203.0.113.0/24", "198.51.100.254")
    arp_in(k, "em0", 1, PEER_MAC, PEER1, "203.0.113.1")
    assert sent(k) == []


def test_proxyall_target_without_route():
    """in_arpinput 799-801: no route to the target in FIB 0, no reply."""
    k = make_host(proxyall=1)
    arp_in(k, "em0", 1, PEER_MAC, PEER, "203.0.113.1")
    assert sent(k) == []


def test_proxyall_target_via_gateway_on_other_interface():
    """in_arpinput 799-815: any route whose interface differs from the
    receiving one qualifies, a gateway route included."""
    k = make_host(proxyall=1)
    k.route_add("203.0.113.0/24", "198.51.100.254")
    arp_in(k, "em0", 1, PEER_MAC, PEER, "203.0.113.1")
    assert sent(k) == [reply_from_us(k, "em0", "203.0.113.1", PEER_MAC, PEER)]


def test_reply_on_other_interface_does_not_resolve(k):
    """in_arpinput 681: each interface has its own table (LLTABLE(ifp)); a
    reply received on em0 for a host of em1's network leaves the incomplete
    entry of em1 (and its held datagram) untouched."""
    s = sender(k)
    udp_send(s, PEER1, b"via-em1")
    assert sent(k, "em1") == [request_from_us(k, "em1", EM1, PEER1)]
    reply_in(k, PEER1, "02:00:00:00:01:07", ifname="em0")
    assert sent(k, "em1") == []
    assert sent(k, "em0") == []


def test_request_from_awaited_host_releases_held_then_replies():
    """in_arpinput 728-764: any ARP packet from the awaited host, a request
    included, validates the entry and flushes the hold queue oldest first;
    only then (768-868) is the request answered."""
    k = make_host(maxhold=2)
    s = sender(k)
    udp_send(s, TARGET, b"p1")
    udp_send(s, TARGET, b"p2")
    sent(k)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    frames = sent(k)
    assert len(frames) == 3
    assert udp_payloads(frames[:2]) == [b"p1", b"p2"]
    assert frames[2] == reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)


def test_target_hardware_field_of_request_is_ignored(k):
    """in_arpinput 775: the reply's ar_tha is the request's ar_sha whatever
    the request carried in ar_tha."""
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, tha="02:aa:bb:cc:dd:ee")
    assert sent(k) == [reply_from_us(k, "em0", EM0, TARGET_MAC, TARGET)]
