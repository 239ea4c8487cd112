"""arpresolve(), arprequest(), arptimer() and arp_ifinit() (sys/netinet/if_ether.c).

Every datagram here is a UDP datagram from 192.0.2.1:5555 sent with sendto();
ether_output() (net/if_ethersubr.c 193-199) turns arpresolve()'s EWOULDBLOCK
into a success and hands any other error back to ip_output() and so to the
caller. Times are whole seconds apart, so time_uptime moves by exactly the
seconds advanced.
"""

import kstack
from conformance.arp.source.common import (
    EM0,
    GW,
    GW_MAC,
    OTHER_MAC,
    PEER,
    PEER_MAC,
    TARGET,
    TARGET_MAC,
    arp_in,
    errno,
    is_arp,
    is_ip,
    mac,
    make_host,
    reply_in,
    request_from_us,
    sender,
    sent,
    settle,
    udp_frame,
    udp_payloads,
    udp_send,
)


def test_gratuitous_arp_when_address_configured():
    """net/if_ethersubr.c ether_ioctl SIOCSIFADDR (if_init, then arp_ifinit);
    if_ether.c arp_ifinit 882-884 calls arprequest with sender = target = the
    new address; arprequest 244-263 builds a 28-byte request (ar_tha zeroed),
    ether_output AF_ARP 202-225 fills ar_hrd = 1 and, M_BCAST being set, sends
    it to ff:ff:ff:ff:ff:ff from the interface MAC."""
    k = kstack.Kernel(profile="9.0", seed=0)
    k.ifconfig("em0", EM0 + "/24")
    assert sent(k, "em0") == [request_from_us(k, "em0", EM0, EM0)]


def test_gratuitous_arp_for_alias():
    """netinet/in.c in_ifinit 855-856: every address added (aliases too) goes
    through the interface's SIOCSIFADDR, so arp_ifinit announces the alias."""
    k = make_host()
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    assert sent(k, "em0") == [request_from_us(k, "em0", "192.0.2.9", "192.0.2.9")]


def test_gratuitous_arp_when_mac_changes(k):
    """net/if.c if_setlladdr: on an interface that is up, after the new
    address is stored, arp_ifinit runs for every AF_INET address, so a
    request announcing 192.0.2.1 leaves from the new MAC."""
    k.ifconfig("em0", ether="02:00:00:00:aa:01")
    frames = [f for f in sent(k, "em0") if is_arp(f)]
    assert mac(k, "em0") == "02:00:00:00:aa:01"
    assert frames == [request_from_us(k, "em0", EM0, EM0)]


def test_own_address_is_a_permanent_entry(k):
    """if_ether.c arp_ifinit 890-892: lla_lookup with LLE_CREATE|LLE_IFADDR|
    LLE_STATIC; netinet/in.c in_lltable_lookup 1523-1526 copies the
    interface MAC and marks the entry valid and static (arp -a shows it
    permanent)."""
    table = k.vnet0.arp_table()
    assert table[EM0] == (mac(k, "em0"), "em0", True)
    assert table["198.51.100.1"] == (mac(k, "em1"), "em1", True)


def test_first_datagram_sends_request_and_succeeds(k):
    """arpresolve 309-315 creates the entry, 354 renew (la_asked == 0), 366-383
    holds the datagram, 396-397 EWOULDBLOCK, 402-415 arms the timer and
    broadcasts a request (arprequest with sip NULL picks the address of
    em0 on the target's subnet, 227-235); ether_output 199 returns 0."""
    s = sender(k)
    assert udp_send(s, TARGET) == 0
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_request_source_is_the_address_on_the_target_subnet(k):
    """arprequest 227-235: with no sender address given, the first AF_INET
    address of the interface whose subnet holds the target is used, not the
    interface's first address."""
    k.ifconfig("em0", "10.0.0.1/8", alias=True)
    sent(k)
    s = sender(k)
    assert udp_send(s, "10.0.0.5") == 0
    assert sent(k) == [request_from_us(k, "em0", "10.0.0.1", "10.0.0.5")]


def test_reply_releases_held_datagram(k):
    """in_arpinput 728-729 stores the MAC and marks the entry valid, 752-764
    sends the held packet through if_output with the new address."""
    s = sender(k)
    assert udp_send(s, TARGET, b"held") == 0
    sent(k)
    reply_in(k, TARGET, TARGET_MAC)
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), TARGET_MAC, EM0, TARGET, b"held")


def test_resolved_entry_used_without_arp_traffic(k):
    """arpresolve 325-343: a valid entry not near expiry gives the MAC at
    once; no request is sent."""
    s = sender(k)
    udp_send(s, TARGET, b"one")
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    k.advance(10)
    assert udp_send(s, TARGET, b"two") == 0
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), TARGET_MAC, EM0, TARGET, b"two")


def test_one_request_per_second(k):
    """arpresolve 354: a request is sent only when la_asked is 0 or the
    second has changed since the last one (la_expire = time_uptime, 406);
    later datagrams in the same second send nothing."""
    s = sender(k)
    udp_send(s, TARGET, b"a")
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]
    udp_send(s, TARGET, b"b")
    udp_send(s, TARGET, b"c")
    assert sent(k) == []
    k.advance(1)
    udp_send(s, TARGET, b"d")
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_maxhold_default_keeps_only_the_newest(k):
    """arpresolve 366-383 with arp_maxhold = 1: each new datagram drops the
    oldest held one, so the reply releases only the last."""
    s = sender(k)
    for p in (b"first", b"second", b"third"):
        assert udp_send(s, TARGET, p) == 0
    sent(k)
    reply_in(k, TARGET, TARGET_MAC)
    assert udp_payloads(sent(k)) == [b"third"]


def test_maxhold_three_keeps_all_in_order():
    """arpresolve 366-383: up to net.link.ether.inet.maxhold packets are
    chained at the tail of la_hold; in_arpinput 760-764 sends them oldest
    first."""
    k = make_host(maxhold=3)
    s = sender(k)
    for p in (b"first", b"second", b"third"):
        udp_send(s, TARGET, p)
    sent(k)
    reply_in(k, TARGET, TARGET_MAC)
    assert udp_payloads(sent(k)) == [b"first", b"second", b"third"]


def test_maxhold_two_drops_the_oldest():
    """arpresolve 367-374: when la_numheld reaches maxhold the head of the
    chain (oldest) is freed before the new packet is appended."""
    k = make_host(maxhold=2)
    s = sender(k)
    for p in (b"first", b"second", b"third"):
        udp_send(s, TARGET, p)
    sent(k)
    reply_in(k, TARGET, TARGET_MAC)
    assert udp_payloads(sent(k)) == [b"second", b"third"]


def test_maxtries_then_ehostdown_and_requests_continue(k):
    """arpresolve 396-400: while la_asked < arp_maxtries (5) the caller gets
    EWOULDBLOCK (success); afterwards EHOSTDOWN for an on-link destination
    (the route has no RTF_GATEWAY). The renew branch 402-415 still sends one
    request per second, so a sixth request goes out with the failing send."""
    s = sender(k)
    for _ in range(5):
        assert udp_send(s, TARGET) == 0
        assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]
        k.advance(1)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    assert sent(k) == []


def test_ehostunreach_through_a_gateway(k):
    """arpresolve 399-400: when the route to the final destination (rt0,
    passed by ip_output through ether_output 175) has RTF_GATEWAY the error
    after maxtries is EHOSTUNREACH; the requests are for the gateway."""
    k.route_add("default", GW)
    s = sender(k)
    for _ in range(5):
        assert udp_send(s, "203.0.113.9") == 0
        assert sent(k) == [request_from_us(k, "em0", EM0, GW)]
        k.advance(1)
    assert udp_send(s, "203.0.113.9") == errno.EHOSTUNREACH


def test_packet_held_even_when_send_fails(k):
    """arpresolve 366-389 queue the packet before 396-400 choose the error,
    so the datagram whose send failed with EHOSTDOWN is still released by a
    later reply."""
    s = sender(k)
    for _ in range(5):
        udp_send(s, TARGET, b"early")
        k.advance(1)
    assert udp_send(s, TARGET, b"late") == errno.EHOSTDOWN
    sent(k)
    reply_in(k, TARGET, TARGET_MAC)
    assert udp_payloads(sent(k)) == [b"late"]


def test_maxtries_zero_fails_from_the_first_send():
    """arpresolve 396: with maxtries = 0, la_asked (0) is not below it, so the
    very first send fails with EHOSTDOWN; the renew branch still arms the
    timer and broadcasts a request."""
    k = make_host(maxtries=0)
    s = sender(k)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    assert sent(k) == []
    k.advance(1)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_maxtries_zero_timer_frees_entry_and_reply_still_releases():
    """With maxtries = 0 the timer (arpt_down, 407) still runs: a reply
    before it fires releases the held datagram (in_arpinput 752-764); once
    arptimer 183-189 has freed the entry and its held packet (20 s after the
    last request), a late reply has nothing to send."""
    k = make_host(maxtries=0)
    s = sender(k)
    assert udp_send(s, TARGET, b"kept") == errno.EHOSTDOWN
    sent(k)
    k.advance(19)
    reply_in(k, TARGET, TARGET_MAC)
    assert udp_payloads(sent(k)) == [b"kept"]

    k2 = make_host(maxtries=0)
    s2 = sender(k2)
    udp_send(s2, TARGET, b"lost")
    sent(k2)
    k2.advance(21)
    reply_in(k2, TARGET, TARGET_MAC)
    assert sent(k2) == []


def test_incomplete_entry_dropped_after_wait(k):
    """arpresolve 406-408 arms la_timer for arpt_down (20 s) at each request;
    arptimer 183-189 frees the entry and its held packet. A reply arriving
    afterwards creates a fresh entry (in_arpinput 678) with nothing to send."""
    s = sender(k)
    udp_send(s, TARGET, b"stale")
    sent(k)
    k.advance(21)
    reply_in(k, TARGET, TARGET_MAC)
    assert sent(k) == []


def test_wait_sysctl_sets_incomplete_lifetime():
    """arpresolve 407 (timer = net.link.ether.inet.wait seconds), arptimer
    183-189. With maxtries = 1 and wait = 5: the send at t=1 fails
    (EHOSTDOWN) and re-arms the timer for t=6; at t=6 the entry is gone, so
    a send starts over (la_asked 0, EWOULDBLOCK -> success)."""
    k = make_host(maxtries=1, wait=5)
    s = sender(k)
    assert udp_send(s, TARGET) == 0
    k.advance(1)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    k.advance(5)
    sent(k)
    assert udp_send(s, TARGET) == 0
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_default_wait_keeps_incomplete_entry_at_seven_seconds():
    """Same sequence with the default wait (20 s): at t=7 the entry still
    exists with la_asked >= maxtries, so the send fails (arpresolve 396-400)."""
    k = make_host(maxtries=1)
    s = sender(k)
    assert udp_send(s, TARGET) == 0
    k.advance(1)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN
    k.advance(6)
    assert udp_send(s, TARGET) == errno.EHOSTDOWN


def test_preemptive_request_before_expiry(k):
    """in_arpinput 737 (la_expire = now + max_age) and 744 (la_preempt =
    maxtries = 5); arpresolve 333-339: while the entry is valid, a send with
    now + la_preempt > la_expire also broadcasts a request and decrements
    la_preempt. Resolved at R: no request at R+1195, one at R+1196, none for a
    second send in that second (preempt 4), one at R+1197."""
    s = sender(k)
    udp_send(s, TARGET)
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    req = request_from_us(k, "em0", EM0, TARGET)

    k.advance(1195)
    assert udp_send(s, TARGET, b"t1195") == 0
    frames = sent(k)
    assert [f for f in frames if is_arp(f)] == []
    assert udp_payloads(frames) == [b"t1195"]

    k.advance(1)
    assert udp_send(s, TARGET, b"t1196") == 0
    frames = sent(k)
    assert frames[0] == req
    assert frames[1] == udp_frame(frames[1], mac(k, "em0"), TARGET_MAC, EM0, TARGET, b"t1196")
    assert len(frames) == 2

    assert udp_send(s, TARGET, b"again") == 0
    frames = sent(k)
    assert [f for f in frames if is_arp(f)] == []
    assert udp_payloads(frames) == [b"again"]

    k.advance(1)
    udp_send(s, TARGET, b"t1197")
    frames = sent(k)
    assert [f for f in frames if is_arp(f)] == [req]


def test_max_age_expiry(k):
    """arptimer 183-189: la_timer armed for arpt_keep (1200 s) by in_arpinput
    738-739 frees the entry; the next send starts a new resolution and the
    datagram is held (no IP frame). At exactly +1200 the outcome does not
    depend on whether the callout ran first: arpresolve 325-326 no longer
    treats the entry as valid once la_expire <= time_uptime."""
    s = sender(k)
    udp_send(s, TARGET)
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    k.advance(1200)
    assert udp_send(s, TARGET, b"after") == 0
    frames = sent(k)
    assert frames == [request_from_us(k, "em0", EM0, TARGET)]


def test_max_age_sysctl():
    """in_arpinput 737-739 use net.link.ether.inet.max_age when the reply
    arrives: with 60, the entry still answers at +59 (valid, la_expire >
    time_uptime, 325-326) and is gone at +60."""
    k = make_host(max_age=60)
    s = sender(k)
    udp_send(s, TARGET)
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    k.advance(59)
    udp_send(s, TARGET, b"t59")
    assert udp_payloads(sent(k)) == [b"t59"]
    k.advance(1)
    udp_send(s, TARGET, b"t60")
    assert sent(k) == [request_from_us(k, "em0", EM0, TARGET)]


def test_arp_traffic_from_host_refreshes_entry(k):
    """in_arpinput 733-742: every ARP packet from a known host re-arms the
    entry for max_age from now. Resolved at R, refreshed by a request at
    R+1000: at R+1500 the entry is valid and far from expiry, so no request."""
    s = sender(k)
    udp_send(s, TARGET)
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    k.advance(1000)
    arp_in(k, "em0", 1, TARGET_MAC, TARGET, EM0)
    sent(k)
    k.advance(500)
    assert udp_send(s, TARGET, b"t1500") == 0
    frames = sent(k)
    assert [f for f in frames if is_arp(f)] == []
    assert udp_payloads(frames) == [b"t1500"]


def test_static_entry_never_requests(k):
    """arpresolve 325-343: a static entry (arp -s, LLE_STATIC) is used
    whatever the time, and 333 skips the pre-expiry request; arptimer 180-181
    never frees it."""
    k.arp_add(PEER, PEER_MAC)
    s = sender(k)
    k.advance(3000)
    assert udp_send(s, PEER, b"static") == 0
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), PEER_MAC, EM0, PEER, b"static")


def test_useloopback_off_own_address_looped_not_sent():
    """netinet/in.c in_ifinit 936: with useloopback = 0 no lo0 host route is
    added, so a datagram to our own address takes the em0 prefix route;
    arpresolve finds the LLE_IFADDR entry of arp_ifinit and ether_output
    306-317 loops it back with if_simloop instead of transmitting it."""
    k = make_host(useloopback=0)
    r = k.socket(kstack.sock.AF_INET, kstack.sock.SOCK_DGRAM)
    r.bind(("0.0.0.0", 7777))
    s = sender(k)
    assert udp_send(s, EM0, b"self", dport=7777) == 0
    settle(k)
    assert [f for f in sent(k) if is_ip(f)] == []
    data, (addr, port) = r.recvfrom(100)
    assert (data, addr, port) == (b"self", EM0, 5555)


def test_gateway_resolution_uses_gateway_mac(k):
    """ip_output 300-303 (next hop = rt_gateway for RTF_GATEWAY routes) and
    arpresolve: the frame for an off-link destination carries the gateway's
    MAC once the gateway has answered."""
    k.route_add("default", GW)
    s = sender(k)
    udp_send(s, "203.0.113.9", b"via-gw")
    sent(k)
    reply_in(k, GW, GW_MAC)
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), GW_MAC, EM0, "203.0.113.9", b"via-gw")


def test_moved_entry_used_for_next_datagram(k):
    """in_arpinput 696-718 then 728: a non-static valid entry takes the new
    sender hardware address (logged as a move); later datagrams go there."""
    s = sender(k)
    udp_send(s, TARGET)
    reply_in(k, TARGET, TARGET_MAC)
    sent(k)
    reply_in(k, TARGET, OTHER_MAC)
    sent(k)
    udp_send(s, TARGET, b"moved")
    (frame,) = sent(k)
    assert frame == udp_frame(frame, mac(k, "em0"), OTHER_MAC, EM0, TARGET, b"moved")
