"""ARP statistics: struct arpstat (sys/net/if_arp.h), ARPSTAT_INC/ADD in if_ether.c.

9.0 has the structure (VNET_DEFINE at if_ether.c 92, exported as
net.link.ether.arp.stats at 118-120; the same in the February 2011 head).
Every test checks the exact delta of all eight counters.
"""

from conformance.arp.source.common import (
    BCAST,
    EM0,
    OTHER_MAC,
    TARGET,
    TARGET_MAC,
    arp_in,
    mac,
    make_host,
    reply_in,
    sender,
    sent,
    udp_send,
)

FIELDS = (
    "txrequests",
    "txreplies",
    "rxrequests",
    "rxreplies",
    "received",
    "dropped",
    "timeouts",
    "dupips",
)


def snapshot(k):
    st = k.netstat("arp")
    return {f: st[f] for f in FIELDS}


def delta(k, before, **expected):
    after = snapshot(k)
    got = {f: after[f] - before[f] for f in FIELDS}
    want = {f: expected.get(f, 0) for f in FIELDS}
    assert got == want


def test_gratuitous_arp_counts_as_request():
    """arprequest 264: every request sent, the one of arp_ifinit included,
    counts in txrequests."""
    k = make_host()
    before = snapshot(k)
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    sent(k)
    delta(k, before, txrequests=1)


def test_request_for_us_answered(k):
    """arpintr 463 (received), in_arpinput 771 (rxrequests) and 869
    (txreplies)."""
    before = snapshot(k)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    delta(k, before, received=1, rxrequests=1, txreplies=1)


def test_request_for_other_address_counted_not_answered(k):
    """in_arpinput 768-771: rxrequests is counted at the reply label, before
    the request is found to be for somebody else (794-795 drop)."""
    before = snapshot(k)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, "192.0.2.99")
    delta(k, before, received=1, rxrequests=1)


def test_reply_counted(k):
    """arpintr 463 and in_arpinput 557-558 (rxreplies)."""
    before = snapshot(k)
    reply_in(k, TARGET, TARGET_MAC)
    delta(k, before, received=1, rxreplies=1)


def test_packet_from_own_mac_counted_received_only(k):
    """in_arpinput 648-649 drop before the reply label: only received."""
    before = snapshot(k)
    arp_in(k, "em0", 1, mac(k, "em0"), TARGET, EM0, eth_src=OTHER_MAC)
    delta(k, before, received=1)


def test_multicast_sender_counted_received_only(k):
    """in_arpinput 547-551 return before rxreplies/rxrequests: a reply from a
    multicast hardware address counts only in received."""
    before = snapshot(k)
    arp_in(k, "em0", 2, "01:00:5e:00:00:01", TARGET, EM0, tha=mac(k, "em0"), eth_src=OTHER_MAC)
    delta(k, before, received=1)


def test_unknown_hardware_type_not_received(k):
    """arpintr 441-452 free the packet before received is counted (463)."""
    before = snapshot(k)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0, hwtype=2)
    delta(k, before)


def test_duplicate_address_counted(k):
    """in_arpinput 662-669 (dupips) then 771 and 869: the defending reply."""
    before = snapshot(k)
    arp_in(k, "em0", 1, OTHER_MAC, EM0, EM0)
    delta(k, before, received=1, rxrequests=1, txreplies=1, dupips=1)


def test_duplicate_address_in_reply_counted(k):
    """in_arpinput 557-558 (rxreplies) and 662-669 (dupips); no reply."""
    before = snapshot(k)
    arp_in(k, "em0", 2, OTHER_MAC, EM0, EM0, eth_dst=BCAST)
    delta(k, before, received=1, rxreplies=1, dupips=1)


def test_requests_and_hold_overflow_counted(k):
    """arprequest 264 for the one request; arpresolve 367-374: each datagram
    that pushes the oldest out of the one-packet hold queue adds to dropped."""
    before = snapshot(k)
    s = sender(k)
    for p in (b"1", b"2", b"3"):
        udp_send(s, TARGET, p)
    sent(k)
    delta(k, before, txrequests=1, dropped=2)


def test_incomplete_entry_timeout_counted(k):
    """arptimer 187-189: freeing the incomplete entry adds its held packet to
    dropped and counts one timeout."""
    s = sender(k)
    udp_send(s, TARGET)
    sent(k)
    before = snapshot(k)
    k.advance(21)
    delta(k, before, dropped=1, timeouts=1)


def test_resolved_entry_expiry_counted(k):
    """arptimer 187-189 for an entry that expired after max_age: one
    timeout, nothing held so nothing dropped."""
    reply_in(k, TARGET, TARGET_MAC)
    before = snapshot(k)
    k.advance(1201)
    delta(k, before, timeouts=1)


def test_address_removal_drops_held_packets(k):
    """in.c in_lltable_prefix_free 1393-1394: entries freed with the prefix
    add their held packets to dropped (no timeout is counted)."""
    s = sender(k)
    udp_send(s, TARGET)
    sent(k)
    before = snapshot(k)
    k.ifconfig("em0", EM0, delete=True)
    delta(k, before, dropped=1)
