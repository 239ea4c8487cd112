"""Removing an address: netinet/in.c in_scrubprefix() and in_lltable_prefix_free().

SIOCDIFADDR calls in_ifscrub(ifp, ia, LLE_STATIC) (in.c in_control 572), so
in_scrubprefix 1196-1205 frees every entry of the prefix, static ones
included (in_lltable_prefix_free 1384-1386); the Feb 2011 head frees them
all unconditionally, so both trees agree for address removal.
"""

from conformance.arp.source.common import (
    EM0,
    PEER,
    PEER_MAC,
    TARGET,
    TARGET_MAC,
    mac,
    reply_in,
    request_from_us,
    sender,
    sent,
    udp_frame,
    udp_send,
)


def test_deleting_address_frees_static_entries_of_its_prefix(k):
    """in_scrubprefix 1196-1205 with LLE_STATIC: the arp -s entry for a host
    of 192.0.2.0/24 is gone once 192.0.2.1 is removed; after the address is
    configured again a datagram to that host needs a request."""
    k.arp_add(PEER, PEER_MAC)
    k.ifconfig("em0", EM0, delete=True)
    k.ifconfig("em0", EM0 + "/24")
    sent(k)
    s = sender(k)
    assert udp_send(s, PEER) == 0
    assert sent(k) == [request_from_us(k, "em0", EM0, PEER)]


def test_deleting_address_frees_dynamic_entries_of_its_prefix(k):
    """in_scrubprefix 1196-1205: learnt entries of the prefix are freed too."""
    reply_in(k, TARGET, TARGET_MAC)
    k.ifconfig("em0", EM0, delete=True)
    k.ifconfig("em0", EM0 + "/24")
    sent(k)
    s = sender(k)
    assert udp_send(s, TARGET) == 0
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_deleting_alias_keeps_entries_of_other_prefixes(k):
    """in_lltable_prefix_free 1384: only entries inside the removed address's
    subnet (ia_subnet/ia_subnetmask) are freed; a 192.0.2.0/24 entry survives
    the removal of 10.0.0.1/8."""
    k.ifconfig("em0", "10.0.0.1/8", alias=True)
    reply_in(k, TARGET, TARGET_MAC)
    k.ifconfig("em0", "10.0.0.1", delete=True)
    sent(k)
    s = sender(k)
    assert udp_send(s, TARGET, b"kept") == 0
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), TARGET_MAC, EM0, TARGET, b"kept")
