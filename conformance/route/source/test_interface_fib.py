"""An interface's FIB (ifconfig IF fib N): SIOCSIFFIB and the FIB of received packets.

if.c SIOCSIFFIB 2140-2147 and ether_input's M_SETFIB(m, ifp->if_fib)
(if_ethersubr.c 699) are in 9.1 but not in the Feb 2011 head; they came
with the interface-FIB work of July 2011 (before the 9.0 branch) and the
9.0 ifconfig(8) has the fib keyword, so they are taken as 9.0 behaviour.

Host: net.fibs=2, em1 in FIB 1. FIB 1 alone has a default route (via
198.51.100.254 on em1) unless a test says otherwise.
"""

import pytest

from conformance.route.source.common import (
    EM0,
    EM1,
    GW,
    GW1,
    GW1_MAC,
    GW_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    REMOTE,
    Ether,
    echo_reply_frame,
    echo_request,
    errno,
    mac,
    make_host,
    oserr,
    sent,
    settle,
    udp_in,
)


@pytest.fixture
def k():
    k = make_host(fibs=2, em1_fib=1)
    k.route_add("default", GW1, fib=1)
    return k


def test_interface_fib_default_zero():
    """if_var.h 199 if_fib, zeroed at if_alloc: a new interface is in FIB 0."""
    k = make_host(fibs=2)
    assert k.iface("em0").fib == 0
    assert k.iface("em1").fib == 0


def test_interface_fib_set(k):
    """if.c SIOCSIFFIB 2140-2147 store ifr_fib in if_fib."""
    assert k.iface("em1").fib == 1
    assert k.iface("em0").fib == 0


@pytest.mark.parametrize("fib", [2, 16, -1])
def test_interface_fib_out_of_range_einval(k, fib):
    """if.c SIOCSIFFIB 2144-2145: ifr_fib (an unsigned int, so -1 is huge) >=
    rt_numfibs is EINVAL; the interface keeps its FIB."""
    assert oserr(k.ifconfig, "em1", fib=fib) == errno.EINVAL
    assert k.iface("em1").fib == 1


def test_interface_fib_wrong_type(k):
    """Not a kernel rule: the FIB number is an int; a str is a TypeError."""
    with pytest.raises(TypeError):
        k.ifconfig("em1", fib="1")


def test_echo_reply_routed_in_receiving_interface_fib(k):
    """ether_input M_SETFIB(m, if_fib); icmp_input reflects the request mbuf
    itself (ip_icmp.c icmp_reflect 660-850, ip_rtaddr with M_GETFIB 762) and
    icmp_send's ip_output looks the route up in M_GETFIB(m) (ip_output.c
    272-278): the reply to an off-link host leaves em1 via FIB 1's gateway."""
    k.input("em1", echo_request(k, "em1", REMOTE, EM1, GW1_MAC))
    settle(k)
    assert sent(k, "em0") == []
    (frame,) = sent(k, "em1")
    assert frame == echo_reply_frame(frame, mac(k, "em1"), GW1_MAC, EM1, REMOTE)


def test_echo_reply_from_fib0_interface_has_no_route(k):
    """Same request on em0 (FIB 0, no default route): icmp_reflect finds the
    source (the request was for our address) but ip_output finds no route in
    FIB 0 (ip_output.c 280-297): ips_noroute, nothing sent."""
    before = k.netstat("ip")["ips_noroute"]
    k.input("em0", echo_request(k, "em0", REMOTE, EM0, GW_MAC))
    settle(k)
    assert sent(k, "em0") == []
    assert sent(k, "em1") == []
    assert k.netstat("ip")["ips_noroute"] - before == 1


def test_port_unreachable_routed_in_packet_fib(k):
    """ip_icmp.c icmp_error 264-268: the error mbuf gets the FIB of the
    offending packet, so the port unreachable for a datagram received on
    em1 goes back through FIB 1's default route."""
    udp_in(k, "em1", REMOTE, EM1, GW1_MAC, dport=9999)
    assert sent(k, "em0") == []
    (raw,) = sent(k, "em1")
    frame = Ether(raw)
    assert (frame.src, frame.dst) == (mac(k, "em1"), GW1_MAC)
    assert (frame[IP].src, frame[IP].dst) == (EM1, REMOTE)
    assert (frame[ICMP].type, frame[ICMP].code) == (3, 3)


def test_forwarding_uses_receiving_interface_fib(k):
    """ip_input.c ip_forward 1391 (ip_rtaddr in M_GETFIB) and ip_output with
    no inpcb (272-278): a packet received on em1 is forwarded by FIB 1's
    route for 10.0.0.0/8 (via 192.0.2.254 on em0), TTL decremented."""
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("10.0.0.0/8", GW, fib=1)
    udp_in(k, "em1", REMOTE, "10.1.1.1", GW1_MAC, payload=b"fwd")
    assert sent(k, "em1") == []
    (raw,) = sent(k, "em0")
    frame = Ether(raw)
    assert (frame.src, frame.dst) == (mac(k, "em0"), GW_MAC)
    assert (frame[IP].src, frame[IP].dst, frame[IP].ttl) == (REMOTE, "10.1.1.1", 63)


def test_fib1_route_not_used_for_packet_from_fib0_interface(k):
    """ip_forward 1391-1401: a packet received on em0 is routed in FIB 0,
    which has no route to 10.0.0.0/8 even though FIB 1 has: ICMP host
    unreachable goes back to the sender, from em0's address (icmp_reflect
    ip_rtaddr in the packet's FIB)."""
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("10.0.0.0/8", GW, fib=1)
    udp_in(k, "em0", PEER, "10.1.1.1", PEER_MAC)
    assert sent(k, "em1") == []
    (raw,) = sent(k, "em0")
    frame = Ether(raw)
    assert frame.dst == PEER_MAC
    assert (frame[IP].src, frame[IP].dst) == (EM0, PEER)
    assert (frame[ICMP].type, frame[ICMP].code) == (3, 1)
