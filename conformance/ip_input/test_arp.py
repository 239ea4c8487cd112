"""ARP (netinet/if_ether.c: in_arpinput, arprequest, arp_ifinit, arpresolve,
arptimer) and what an interface down/up cycle keeps (netinet/in.c)."""

from __future__ import annotations

import pytest

from kstack.testing import (
    ARP,
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    Ether,
    Raw,
    arp_reply,
    arp_request,
    echo_request,
)

NEWBIE = "192.0.2.8"
NEWBIE_MAC = "02:00:00:00:00:08"


def _who_has(tip: str, sip: str = HOST) -> Ether:
    return Ether(src=HOST_MAC, dst=BCAST_MAC) / ARP(
        op=1, hwsrc=HOST_MAC, psrc=sip, hwdst="00:00:00:00:00:00", pdst=tip
    )


def _echo_reply(dst: str, dst_mac: str, ip_id: int = BOOT_IP_ID):  # type: ignore[no-untyped-def]
    return (
        Ether(src=HOST_MAC, dst=dst_mac)
        / IP(src=HOST, dst=dst, id=ip_id)
        / ICMP(type=0, id=0x1234, seq=1)
        / Raw(b"kstack-echo-data")
    )


def test_gratuitous_arp_on_ifconfig(kernel, match_frame):
    """arp_ifinit: configuring an address on an Ethernet interface sends a
    gratuitous who-has for it (errata 3)."""
    kernel.ifconfig("em0", f"{HOST}/24", ether=HOST_MAC)
    (frame,) = kernel.transmitted("em0")
    match_frame(frame, _who_has(HOST))


def test_reply_to_request_for_our_address(k, delta, match_frame):
    """in_arpinput: a request for our address is answered (unicast to the
    asker) and the asker is learned; no protocol counter moves."""
    with delta(k) as d:
        out = k.input("em0", arp_request(HOST, sip=NEWBIE, smac=NEWBIE_MAC))
    assert d == {}
    assert out.kind == "answered"
    (reply,) = k.transmitted("em0")
    match_frame(
        reply,
        Ether(src=HOST_MAC, dst=NEWBIE_MAC)
        / ARP(op=2, hwsrc=HOST_MAC, psrc=HOST, hwdst=NEWBIE_MAC, pdst=NEWBIE),
    )
    assert k.vnet0.arp_table()[NEWBIE] == (NEWBIE_MAC, "em0", False)
    # Learned: an echo reply goes straight to the asker.
    k.input("em0", echo_request(src=NEWBIE))
    (echo,) = k.transmitted("em0")
    match_frame(echo, _echo_reply(NEWBIE, NEWBIE_MAC))


def test_request_for_other_address_ignored(k, delta):
    """in_arpinput: a request for an address that is not ours gets no reply
    and teaches nothing new."""
    with delta(k) as d:
        k.input("em0", arp_request("192.0.2.77", sip=NEWBIE, smac=NEWBIE_MAC))
    assert d == {}
    assert k.transmitted("em0") == []
    assert NEWBIE not in k.vnet0.arp_table()


def test_arpresolve_holds_packet_until_reply(k, match_frame):
    """arpresolve: an unknown next hop -> who-has, the packet held; the
    reply releases it."""
    k.input("em0", echo_request(src=NEWBIE))
    (req,) = k.transmitted("em0")
    match_frame(req, _who_has(NEWBIE))
    k.input("em0", arp_reply(NEWBIE, NEWBIE_MAC, HOST, HOST_MAC))
    (echo,) = k.transmitted("em0")
    match_frame(echo, _echo_reply(NEWBIE, NEWBIE_MAC))


def test_learned_entry_expires_after_max_age(k, match_frame):
    """arptimer: a learned entry lives net.link.ether.inet.max_age seconds
    of virtual time; after that the next packet asks again."""
    assert k.sysctl("net.link.ether.inet.max_age", 60) == 1200
    k.input("em0", arp_request(HOST, sip=NEWBIE, smac=NEWBIE_MAC))
    k.transmitted("em0")
    k.advance(59)
    assert NEWBIE in k.vnet0.arp_table()
    k.advance(1)
    assert NEWBIE not in k.vnet0.arp_table()
    k.input("em0", echo_request(src=NEWBIE))
    (req,) = k.transmitted("em0")
    match_frame(req, _who_has(NEWBIE))


def test_static_entry_does_not_expire(k, match_frame):
    """arp -s entries are permanent: no timer."""
    k.advance(3 * 1200)
    k.input("em0", echo_request())
    (echo,) = k.transmitted("em0")
    match_frame(echo, _echo_reply(PEER, PEER_MAC))


@pytest.mark.parametrize(
    ("profile", "kept"), [("9.0", True), ("8.0-prefix", False)], indirect=["profile"]
)
def test_static_arp_entry_across_down_up(k, match_frame, profile, kept):
    """in_ifdown/arp_ifdown (lltable_prefix_free): a permanent ARP entry
    survives ifconfig down/up while its address stays configured (profile
    9.0: the 8.x fix, switch arp_static_survives_ifdown); lost under
    "8.0-prefix", so the reply then waits for ARP."""
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    assert k.transmitted("em0") == []
    assert (PEER in k.vnet0.arp_table()) is kept
    k.input("em0", echo_request())
    (frame,) = k.transmitted("em0")
    if kept:
        match_frame(frame, _echo_reply(PEER, PEER_MAC))
    else:
        match_frame(frame, _who_has(PEER))


@pytest.mark.parametrize(
    ("profile", "ifname"), [("9.0", "lo0"), ("8.0-prefix", "em0")], indirect=["profile"]
)
def test_loopback_route_restored_after_down_up(k, profile, ifname):
    """in_ifup/ifa_add_loopback_route: after down/up the self-pointing host
    route of the address through lo0 is back (profile 9.0, switch
    ifup_restores_loopback_route); under "8.0-prefix" only the prefix route
    returns and the address resolves through em0."""
    assert k.route_get(HOST).ifname == "lo0"
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    rt = k.route_get(HOST)
    assert rt is not None and rt.ifname == ifname
    assert k.route_get(PEER).ifname == "em0"


def test_slash_32_alias_has_prefix_and_lo0_host_route(k):
    """in_ifinit: an address added with a /32 mask gets in_addprefix's /32
    prefix route on em0 (no RTF_HOST) and, because that route does not go
    through lo0, ifa_add_loopback_route's host route through lo0 as well;
    the radix tree puts the host route first, so lookups go to lo0.
    Deleting the address removes both (in_scrubprefix)."""
    k.ifconfig("em0", "192.0.2.60/32", alias=True)
    mine = [(r.prefix, r.ifname, r.flags) for r in k.routes() if r.prefix == "192.0.2.60/32"]
    assert sorted(mine) == [("192.0.2.60/32", "em0", "U"), ("192.0.2.60/32", "lo0", "UHS")]
    got = k.route_get("192.0.2.60")
    assert (got.ifname, got.flags, got.ifaddr) == ("lo0", "UHS", None)
    k.ifconfig("em0", "192.0.2.60", delete=True)
    assert [r for r in k.routes() if r.prefix == "192.0.2.60/32"] == []
    assert k.route_get("192.0.2.60").prefix == "192.0.2.0/24"
