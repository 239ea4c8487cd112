"""The IPv4 link-layer table: arp_ifinit's entries for our own addresses,
expiry of learned entries, permanent entries (arp -s, lla_rt_output),
arp -d, and what an interface down/up cycle keeps (sys/netinet/if_ether.c,
sys/net/if_llatbl.c, sys/netinet/in.c in_lltable_*)."""

from __future__ import annotations

import errno

import pytest

from kstack import sock
from kstack.net.if_var import IFF_NOARP
from kstack.testing import (
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    ROUTER,
    Ether,
    Raw,
    echo_request,
)

from .helpers import (
    NEWBIE,
    NEWBIE_MAC,
    arp_delta,
    arp_ops,
    drops,
    far_reply,
    our_who_has,
    payloads,
    who_has,
)


def _echo_reply(dst: str, dst_mac: str, ip_id: int = BOOT_IP_ID):
    return (
        Ether(src=HOST_MAC, dst=dst_mac)
        / IP(src=HOST, dst=dst, id=ip_id)
        / ICMP(type=0, id=0x1234, seq=1)
        / Raw(b"kstack-echo-data")
    )


def test_gratuitous_arp_and_own_entry_on_ifconfig(kernel, match_frame):
    """if_ether.c arp_ifinit: configuring an address on an Ethernet
    interface broadcasts a gratuitous who-has for it (txrequests) and makes
    a permanent entry with the interface's MAC, which arp -a lists."""
    with arp_delta(kernel) as a:
        kernel.ifconfig("em0", f"{HOST}/24", ether=HOST_MAC)
    assert a == {"txrequests": 1}
    (frame,) = kernel.transmitted("em0")
    match_frame(frame, our_who_has(HOST, HOST, HOST_MAC))
    assert kernel.vnet0.arp_table() == {HOST: (HOST_MAC, "em0", True)}


def test_learned_entry_expires_after_max_age(k, match_frame):
    """if_ether.c in_arpinput/arptimer: a learned entry's timer is hz *
    net.link.ether.inet.max_age; when it fires the entry is freed and
    arpstat.timeouts counts; the next packet asks again."""
    assert k.sysctl("net.link.ether.inet.max_age", 60) == 1200
    k.input("em0", who_has(HOST, NEWBIE, NEWBIE_MAC))
    k.transmitted("em0")
    k.advance(59.999)
    assert NEWBIE in k.vnet0.arp_table()
    with arp_delta(k) as a:
        k.advance(0.001)
    assert a == {"timeouts": 1}
    assert NEWBIE not in k.vnet0.arp_table()
    k.input("em0", echo_request(src=NEWBIE))
    (req,) = k.transmitted("em0")
    match_frame(req, our_who_has(NEWBIE, HOST, HOST_MAC))


def test_max_age_expiry_window_before_the_timer(k):
    """if_ether.c arpresolve: validity is la_expire > time_uptime (whole
    seconds), while the timer counts from the reply's exact instant, so an
    entry learned at t=0.5 stops being valid at t=60 and asks again
    (holding the packet) though its timer runs to t=60.5."""
    k.sysctl("net.link.ether.inet.max_age", 60)
    k.advance(0.5)
    k.input("em1", far_reply())
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    k.advance(59.5)  # t = 60.0
    s.sendto(b"x", (FAR, 9))
    out = k.transmitted("em1")
    assert arp_ops(out) == [(1, HOST1, FAR)] and payloads(out) == []
    k.input("em1", far_reply())
    assert payloads(k.transmitted("em1")) == [b"x"]


def test_static_entry_does_not_expire(k, match_frame):
    """if_ether.c arptimer/arpresolve: arp -s entries are permanent
    (LLE_STATIC): they get no timer and arpresolve uses them whatever
    la_expire says."""
    k.advance(3 * 1200)
    k.input("em0", echo_request())
    (echo,) = k.transmitted("em0")
    match_frame(echo, _echo_reply(PEER, PEER_MAC))


@pytest.mark.parametrize(
    ("profile", "kept"), [("9.0", True), ("8.0-prefix", False)], indirect=["profile"]
)
def test_static_arp_entry_across_down_up(k, match_frame, profile, kept):
    """in.c in_ifscrub -> in_lltable_prefix_free: a permanent ARP entry
    survives ifconfig down/up while its address stays configured (profile
    9.0, switch arp_static_survives_ifdown: lltable_prefix_free gets the
    LLE_STATIC flag only when the address goes); lost under "8.0-prefix",
    so the reply then waits for ARP."""
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    assert k.transmitted("em0") == []
    assert (PEER in k.vnet0.arp_table()) is kept
    k.input("em0", echo_request())
    (frame,) = k.transmitted("em0")
    if kept:
        match_frame(frame, _echo_reply(PEER, PEER_MAC))
    else:
        match_frame(frame, our_who_has(PEER, HOST, HOST_MAC))


def test_deleting_the_address_flushes_its_prefix_everywhere(k):
    """in.c in_scrubprefix -> if_llatbl.c lltable_prefix_free: deleting an
    address frees the entries of its prefix, permanent ones included, in
    every interface's table of the stack."""
    k.arp_add("192.0.2.70", "02:00:00:00:00:70", iface="em1")
    assert k.vnet0.arp_table()["192.0.2.70"] == ("02:00:00:00:00:70", "em1", True)
    k.ifconfig("em0", HOST, delete=True)
    table = k.vnet0.arp_table()
    assert {a for a in table if a.startswith("192.0.2.")} == set()
    assert table[HOST1] == (HOST1_MAC, "em1", True)


def test_arp_s_over_a_pending_entry_keeps_the_held_packet(k):
    """if_llatbl.c lla_rt_output (RTM_ADD): arp -s on an entry that holds a
    packet makes it permanent and valid but neither sends nor frees the
    packet; the next ARP packet from that address releases it."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"held", (FAR, 9))
    k.transmitted("em1")
    k.arp_add(FAR, FAR_MAC)
    assert k.transmitted("em1") == []
    assert k.vnet0.arp_table()[FAR] == (FAR_MAC, "em1", True)
    k.advance(60)  # the pending timer finds a permanent entry: nothing
    assert k.netstat("arp")["timeouts"] == 0
    assert k.vnet0.pending_work() == [
        "1 packet on em1 waiting for the ARP reply of 198.51.100.7; held until the entry goes"
    ]
    s.sendto(b"direct", (FAR, 9))
    assert payloads(k.transmitted("em1")) == [b"direct"]
    k.input("em1", far_reply())
    assert payloads(k.transmitted("em1")) == [b"held"]


def test_arp_d_hides_the_entry_but_its_timer_still_counts(k):
    """if_llatbl.c lla_rt_output (RTM_DELETE) -> in_lltable_lookup with
    LLE_DELETE: the entry is only marked LLE_DELETED; lookups skip it, but
    its timer still runs and arptimer then frees it, counting a timeout and
    its held packet."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"held", (FAR, 9))
    k.transmitted("em1")
    k.vnet0.take_events()
    k.arp_delete(FAR)
    assert FAR not in k.vnet0.arp_table()
    with arp_delta(k) as a:
        k.advance(20)
    assert a == {"timeouts": 1, "dropped": 1}
    assert drops(k) == [("arpstat.dropped", "arptimer: entry for 198.51.100.7 on em1 expired")]


def test_arp_d_of_own_entry_is_a_no_op_and_missing_is_einval(k):
    """if_llatbl.c lla_rt_output / in_lltable_lookup: deleting an
    interface's own entry (LLE_IFADDR) without LLE_IFADDR in the request
    returns success and changes nothing; no entry at all is EINVAL."""
    k.arp_delete(HOST)
    assert k.vnet0.arp_table()[HOST] == (HOST_MAC, "em0", True)
    with pytest.raises(OSError) as e:
        k.arp_delete("192.0.2.123")
    assert e.value.errno == errno.EINVAL
    k.arp_delete(ROUTER)
    assert ROUTER not in k.vnet0.arp_table()
    assert k.vnet0.arp_table()[PEER] == (PEER_MAC, "em0", True)


def test_arp_s_needs_a_connected_network(k):
    """usr.sbin/arp/arp.c set(): arp -s needs the interface whose network
    holds the address ("cannot intuit interface index" otherwise; kstack
    raises ENETUNREACH) and nothing is added."""
    with pytest.raises(OSError) as e:
        k.arp_add("203.0.113.5", "02:00:00:00:00:05")
    assert e.value.errno == errno.ENETUNREACH
    assert "203.0.113.5" not in k.vnet0.arp_table()


def test_noarp_interface(k):
    """net/if_ethersubr.c ether_demux drops ARP received on an IFF_NOARP
    interface before arpintr (nothing counted); if_ether.c arpresolve makes
    no entry there (the packet is freed, EINVAL, no log line) but still uses
    the entries it has; arp_ifinit still announces a new address
    (ether_ioctl calls it whatever the flag)."""
    k.iface("em1").flags |= IFF_NOARP
    with arp_delta(k) as a:
        out = k.input("em1", who_has(HOST1, FAR, FAR_MAC))
    assert a == {}
    assert out.reason == "ether_demux: ARP disabled on the interface (IFF_NOARP)"
    assert k.transmitted("em1") == []
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        s.sendto(b"x", (FAR, 9))
    assert e.value.errno == errno.EINVAL
    assert k.transmitted("em1") == [] and k.vnet0.arp_log == []
    k.arp_add("198.51.100.8", "02:00:00:00:01:08")
    s.sendto(b"y", ("198.51.100.8", 9))
    assert payloads(k.transmitted("em1")) == [b"y"]
    with arp_delta(k) as a:
        k.ifconfig("em1", "198.51.100.2/24", alias=True)
    assert a == {"txrequests": 1}
    assert arp_ops(k.transmitted("em1")) == [(1, "198.51.100.2", "198.51.100.2")]
