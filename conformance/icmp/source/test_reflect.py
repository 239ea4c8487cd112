"""icmp_reflect(): the source address of replies and errors, and when
nothing can be sent.

Line numbers: FreeBSD 9.1 sys/netinet/ip_icmp.c (icmp_reflect 660-856);
the same in the Feb 2011 head.
"""

import pytest

from .common import (
    FAR,
    IP,
    LOCAL0,
    LOCAL1,
    PEER,
    PEER1,
    PEER1_MAC,
    PEER_MAC,
    UDP,
    Counters,
    assert_frame,
    echo,
    errno,
    ether,
    icmp_error_frame,
    inject,
    ip_id,
    ipv4,
    make_kernel,
    oserr,
)


def transit(src, dst=FAR, ttl=1):
    return bytes(IP(src=src, dst=dst, ttl=ttl, id=0x2222) / UDP(sport=40000, dport=9) / b"transit!")


@pytest.fixture
def router():
    """Forwarding on, default route via 192.0.2.254 (em0)."""
    return make_kernel(forwarding=True, default="192.0.2.254")


def test_transit_error_source_is_interface_toward_sender(router):
    """icmp_reflect 758-768: for a transit packet with no sysctl override the
    source is the address of the interface on the route back to the sender
    -- em1 for 198.51.100.7 even though the packet came in on em0 -- and the
    error leaves by em1."""
    d = transit(PEER1)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(f, icmp_error_frame(router, f, "em1", PEER1_MAC, LOCAL1, PEER1, 11, 0, d[:28]))
    assert router.transmitted("em0") == []


def test_reply_from_interface_uses_receiving_interface(router):
    """icmp_reflect 721-738: net.inet.icmp.reply_from_interface=1 takes the
    first IPv4 address of the receiving interface (em0) as source; the
    route still decides where the error goes (em1)."""
    router.sysctl("net.inet.icmp.reply_from_interface", 1)
    d = transit(PEER1)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(f, icmp_error_frame(router, f, "em1", PEER1_MAC, LOCAL0, PEER1, 11, 0, d[:28]))


def test_reply_src_names_the_source_interface(router):
    """icmp_reflect 739-757: net.inet.icmp.reply_src names an interface whose
    first IPv4 address becomes the source of errors for transit packets."""
    router.sysctl("net.inet.icmp.reply_src", "em1")
    d = transit(PEER)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL1, PEER, 11, 0, d[:28]))


def test_reply_from_interface_is_tried_before_reply_src(router):
    """icmp_reflect 721-738 come before 739-757: with both set, the
    receiving interface wins."""
    router.sysctl("net.inet.icmp.reply_src", "em1")
    router.sysctl("net.inet.icmp.reply_from_interface", 1)
    d = transit(PEER)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 11, 0, d[:28]))


def test_reply_src_unknown_interface_is_ignored(router):
    """icmp_reflect 744: ifunit() finds no such interface, so the normal
    route-back selection applies."""
    router.sysctl("net.inet.icmp.reply_src", "em9")
    d = transit(PEER1)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em1")
    assert_frame(f, icmp_error_frame(router, f, "em1", PEER1_MAC, LOCAL1, PEER1, 11, 0, d[:28]))


def test_reply_src_longer_than_ifnamsiz_is_einval(router):
    """ip_icmp.c 123-127 declares reply_src as a string of IFNAMSIZ (16)
    bytes; kern_sysctl.c sysctl_handle_string 1135-1136 refuses a value
    that does not fit with its terminating NUL: EINVAL, value unchanged."""
    assert oserr(router.sysctl, "net.inet.icmp.reply_src", "x" * 16) == errno.EINVAL
    assert router.sysctl("net.inet.icmp.reply_src") == ""
    router.sysctl("net.inet.icmp.reply_src", "y" * 15)
    assert router.sysctl("net.inet.icmp.reply_src") == "y" * 15


def test_error_for_our_own_address_comes_from_that_address():
    """icmp_reflect 686-698: when the offending packet was addressed to one
    of our addresses, that address is the source, whatever
    reply_from_interface and reply_src say (em1's address reached through
    em0 here)."""
    k = make_kernel(default="192.0.2.254")
    k.sysctl("net.inet.icmp.reply_from_interface", 1)
    k.sysctl("net.inet.icmp.reply_src", "em0")
    d = bytes(IP(src=PEER, dst=LOCAL1, ttl=64, id=5) / UDP(sport=40000, dport=9) / b"closed!!")
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em0")
    assert_frame(f, icmp_error_frame(k, f, "em0", PEER_MAC, LOCAL1, PEER, 3, 3, d[:28]))


@pytest.mark.parametrize(
    ("alias", "bcast", "src"),
    [(None, "192.0.2.255", LOCAL0), ("10.0.0.1/8", "10.255.255.255", "10.0.0.1")],
)
def test_echo_to_subnet_broadcast_answered_from_matching_address(alias, bcast, src):
    """An echo to a subnet broadcast address in a unicast frame is ours
    (ip_input 615-633) and, with no M_BCAST, answered (ip_icmp.c 498-508);
    icmp_reflect 699-720 picks the receiving interface's address whose
    broadcast address it was. TOS and DF of the request are kept (only
    addresses and TTL are rewritten, 768-770)."""
    k = make_kernel()
    if alias:
        k.ifconfig("em0", alias, alias=True)
        k.advance(0)
        k.transmitted("em0")
    req = echo(8, 0x1111, 7, b"bcast-echo")
    d = ipv4(PEER, bcast, 1, req, ident=0x0101, ttl=60, tos=0x28, off=0x4000)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em0")
    exp = ipv4(
        src,
        PEER,
        1,
        echo(0, 0x1111, 7, b"bcast-echo"),
        ident=ip_id(f),
        ttl=64,
        tos=0x28,
        off=0x4000,
    )
    assert_frame(f, ether(PEER_MAC, k.iface("em0").ether, exp))
    assert c.delta() == {
        "ips_total": 1,
        "ips_delivered": 1,
        "icps_inhist[8]": 1,
        "icps_reflect": 1,
        "icps_outhist[0]": 1,
        "ips_localout": 1,
    }


@pytest.mark.parametrize("src", ["224.1.2.3", "240.0.0.1", "255.255.255.255", "0.1.2.3"])
def test_no_reply_to_bad_return_address(src):
    """icmp_reflect 670-677: a multicast, class E or 0/8 source gets nothing;
    icps_badaddr is counted after icmp_input already counted icps_reflect
    and the reply's outhist (567-571)."""
    k = make_kernel(default="192.0.2.254")
    d = ipv4(src, LOCAL0, 1, echo(8, 1, 1, b"badsrc!!"), ident=9)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    assert k.transmitted("em0") == []
    assert k.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_delivered": 1,
        "icps_inhist[8]": 1,
        "icps_reflect": 1,
        "icps_outhist[0]": 1,
        "icps_badaddr": 1,
    }


def test_transit_error_without_route_back_is_icps_noroute():
    """icmp_reflect 758-767: for a transit packet the source is found by a
    route lookup toward the sender; without one nothing is sent and
    icps_noroute is counted."""
    k = make_kernel(forwarding=True)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, transit("203.0.113.9", dst=PEER1))
    assert k.transmitted("em0") == []
    assert k.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "icps_error": 1,
        "icps_outhist[11]": 1,
        "icps_noroute": 1,
    }


def test_local_error_without_route_back_fails_in_ip_output():
    """For a packet to one of our addresses icmp_reflect takes the source
    without a lookup (686-698), so the missing route only shows in
    ip_output (ip_output.c 280-296): ips_localout and ips_noroute."""
    k = make_kernel()
    d = bytes(
        IP(src="203.0.113.9", dst=LOCAL0, ttl=64, id=5) / UDP(sport=40000, dport=9) / b"closed!!"
    )
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    assert k.transmitted("em0") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_delivered": 1,
        "udps_ipackets": 1,
        "udps_noport": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
        "ips_localout": 1,
        "ips_noroute": 1,
    }


def test_error_follows_the_fib_of_the_offending_packet():
    """icmp_error 268 gives the error the offending packet's FIB, and
    icmp_reflect 762 and ip_output look the way back up in it: a transit
    packet put in FIB 1 by an input hook is answered through FIB 1's
    default route (em1), from em1's address; in FIB 0 there is no way
    back (icps_noroute)."""
    from kstack.net import pfil

    for fib in (0, 1):
        k = make_kernel(forwarding=True, fibs=2)
        k.route_add("default", "198.51.100.254", fib=1)
        k.transmitted("em1")

        def setfib(pkt, fib=fib):
            if pkt.dir == "in":
                pkt.fib = fib

        k.pfil_add_hook(setfib, pfil.IN)
        d = transit("203.0.113.9", dst=PEER)
        c = Counters(k)
        inject(k, "em0", PEER_MAC, d)
        assert k.transmitted("em0") == []
        if fib == 0:
            assert k.transmitted("em1") == []
            assert c.delta()["icps_noroute"] == 1
        else:
            (f,) = k.transmitted("em1")
            exp = icmp_error_frame(
                k, f, "em1", "02:00:00:00:01:fe", LOCAL1, "203.0.113.9", 11, 0, d[:28]
            )
            assert_frame(f, exp)
