"""pfil hooks (net/pfil.c) where 9.0 runs them: ip_input before options
and the "ours" decision, ip_output at its sendit label (forwarded packets
too), with the rewrites, FIB changes and ipfw-fwd-style next hops a
firewall can ask for (netinet/ip_input.c, netinet/ip_output.c)."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.pmtu.helpers import BEYOND, FAR_GW, FAR_GW_MAC, datagram, forwarded, frame0, router
from kstack import sock as S
from kstack.net import pfil
from kstack.testing import (
    BOOT_IP_ID,
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    PEER,
    PEER_MAC,
    ROUTER,
)

FWD = {"IPFIREWALL_FORWARD"}


def _udp(k, port: int = 9, addr: str = "0.0.0.0"):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM)
    s.bind((addr, port))
    return s


def test_input_drop_is_silent(delta):
    """ip_input: a hook that fails the packet ends ip_input there (the
    hook freed it): no counter beyond ips_total, no ICMP."""
    k = router()
    k.pfil_add_hook(lambda p: errno.EACCES, pfil.IN)
    with delta(k) as d:
        out = k.input("em0", frame0(datagram(100, dst=HOST)))
    assert d == {"ip": {"ips_total": 1}}
    assert (out.kind, out.reason) == ("dropped", "pfil")
    assert k.transmitted("em0") == []


def test_input_hook_sees_the_receiving_interface():
    """pfil_run_hooks(PFIL_IN) gets rcvif; the datagram as received."""
    k = router()
    seen = []
    k.pfil_add_hook(lambda p: seen.append((p.dir, p.ifname, p.src, p.dst, p.proto)), pfil.IN)
    k.input("em0", frame0(datagram(100, dst=HOST)))
    assert seen == [("in", "em0", PEER, HOST, 17)]


def test_input_consumed(delta):
    """A hook that takes the packet (m set to NULL, 0 returned): ip_input
    stops without error or counter."""
    k = router()
    k.pfil_add_hook(lambda p: p.consume(), pfil.IN)
    with delta(k) as d:
        out = k.input("em0", frame0(datagram(100, dst=HOST)))
    assert d == {"ip": {"ips_total": 1}}
    assert out.kind == "delivered" and out.reason == "pfil"


def test_input_rewrite_to_another_host_is_forwarded(delta, match_frame):
    """ip_input: the destination changed (dchg) and is not ours -> ip_forward
    with srcrt set: forwarded to the new destination, TTL - 1."""
    k = router()
    k.pfil_add_hook(lambda p: p.set_dst(FAR), pfil.IN)
    pkt = datagram(100, dst=HOST, df=False)
    with delta(k) as d:
        out = k.input("em0", frame0(pkt))
    assert d == {"ip": {"ips_total": 1, "ips_forward": 1}}
    assert out.kind == "forwarded"
    want = bytearray(datagram(100, dst=FAR, df=False))
    (fr,) = k.transmitted("em1")
    assert fr[:14] == forwarded(bytes(want))[:14]
    assert fr[14:] == forwarded(bytes(want))[14:]


def test_input_rewrite_no_redirect():
    """ip_forward(srcrt=1) never sends a redirect, even when the new
    destination's route leaves by the receiving interface."""
    k = router()
    k.route_add(f"{BEYOND[:-1]}0/24", ROUTER)
    k.pfil_add_hook(lambda p: p.set_dst(BEYOND), pfil.IN)
    k.input("em0", frame0(datagram(100, dst="192.0.2.99", df=False)))
    (fr,) = k.transmitted("em0")
    assert fr[:6] == bytes.fromhex("0200000000fe")  # to the router, no ICMP
    assert k.netstat("ip")["ips_redirectsent"] == 0


def test_input_rewrite_to_local_skips_strong_es_check():
    """ip_input: with net.inet.ip.check_interface=1 and forwarding off, a
    packet for em1's address arriving on em0 is refused; after a hook
    rewrote its destination (dchg) the check is skipped and it is ours."""
    k = router()
    k.sysctl("net.inet.ip.forwarding", 0)
    k.sysctl("net.inet.ip.check_interface", 1)
    s = _udp(k)
    out = k.input("em0", frame0(datagram(100, dst=HOST1)))
    assert out.reason == "ips_cantforward"
    k.pfil_add_hook(lambda p: p.set_dst(HOST1), pfil.IN)
    out = k.input("em0", frame0(datagram(100, dst=HOST)))
    assert out.kind == "delivered"
    data, (addr, port) = s.recvfrom(2048)
    assert (len(data), addr, port) == (72, PEER, 4000)


def test_input_setfib_steers_forwarding():
    """M_SETFIB in an input hook: ip_forward looks the destination up in the
    packet's FIB; the route to BEYOND exists only in FIB 1."""
    k = router(k=kstack.Kernel(fibs=2))
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, fib=1)
    pkt = datagram(100, dst=BEYOND, df=False)
    out = k.input("em0", frame0(pkt))
    assert out.reason == "icps_error"  # ICMP host unreachable, FIB 0
    k.transmitted("em0")

    def to_fib1(p: pfil.PfilPacket) -> None:
        p.fib = 1

    k.pfil_add_hook(to_fib1, pfil.IN)
    assert k.input("em0", frame0(pkt)).kind == "forwarded"
    (fr,) = k.transmitted("em1")
    assert fr == forwarded(pkt, FAR_GW_MAC)


def test_output_drop_fails_the_send(delta):
    """ip_output: a hook error is ip_output's error; sosend returns it to the
    UDP sender (EACCES); ips_localout and udps_opackets moved before."""
    k = router()
    k.pfil_add_hook(lambda p: errno.EACCES, pfil.OUT)
    s = _udp(k, 5000)
    with delta(k) as d, pytest.raises(OSError) as e:
        s.sendto(b"x", (FAR, 9))
    assert e.value.errno == errno.EACCES
    assert d == {"ip": {"ips_localout": 1}, "udp": {"udps_opackets": 1}}
    assert k.transmitted("em1") == []


def test_output_hook_sees_the_outgoing_interface():
    """pfil_run_hooks(PFIL_OUT) gets the interface the route chose."""
    k = router()
    seen = []
    k.pfil_add_hook(lambda p: seen.append((p.dir, p.ifname, p.src, p.dst)), pfil.OUT)
    _udp(k, 5000).sendto(b"x", (FAR, 9))
    assert seen == [("out", "em1", HOST1, FAR)]


def test_forwarded_eacces_no_icmp(delta):
    """ip_forward: ip_output failed with EACCES (a firewall said no):
    ips_cantforward+1 and no ICMP error."""
    k = router()
    k.pfil_add_hook(lambda p: errno.EACCES, pfil.OUT)
    with delta(k) as d:
        out = k.input("em0", frame0(datagram(100, df=False)))
    assert d == {"ip": {"ips_total": 1, "ips_cantforward": 1}}
    assert out.kind == "dropped"
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


def test_forwarded_other_error_host_unreachable(delta):
    """ip_forward: any other ip_output error (here EHOSTUNREACH from a hook)
    -> ICMP 3/1."""
    k = router()
    k.pfil_add_hook(lambda p: errno.EHOSTUNREACH if p.dst == FAR else None, pfil.OUT)
    with delta(k) as d:
        k.input("em0", frame0(datagram(100, df=False)))
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    (err,) = k.transmitted("em0")
    assert (err[34], err[35]) == (3, 1)


def test_output_rewrite_is_routed_again():
    """ip_output: the destination changed by an output hook -> M_SKIP_FIREWALL
    and the route lookup again ("again"): the datagram for PEER leaves by em1
    for FAR; the hooks run once more on that pass, seeing the mark."""
    k = router()
    seen = []

    def nat(p: pfil.PfilPacket) -> None:
        seen.append((p.ifname, p.dst, p.skip_firewall))
        if p.dst == PEER:
            p.set_dst(FAR)

    k.pfil_add_hook(nat, pfil.OUT)
    _udp(k, 5000).sendto(b"hello", (PEER, 9))
    assert seen == [("em0", PEER, False), ("em1", FAR, True)]
    assert k.transmitted("em0") == []
    (fr,) = k.transmitted("em1")
    from kstack.testing import IP, UDP, Ether, Raw

    want = (
        Ether(src=HOST1_MAC, dst=FAR_MAC)
        / IP(src=HOST, dst=FAR, id=BOOT_IP_ID, ttl=64)
        / UDP(sport=5000, dport=9)
        / Raw(b"hello")
    )
    assert fr == bytes(want)


def test_output_rewrite_to_local_is_looped():
    """ip_output: rewritten to one of our addresses -> M_FASTFWD_OURS and
    netisr_queue to ip_input, which delivers it at once ("ours"); the
    receiving interface is lo0 for a locally sent packet."""
    k = router()
    r = _udp(k, 9)
    k.pfil_add_hook(lambda p: p.set_dst(HOST1) if p.dst == FAR else None, pfil.OUT)
    _udp(k, 5000).sendto(b"hello", (FAR, 9))
    assert k.transmitted("em1") == []
    with pytest.raises(BlockingIOError):
        r.recvfrom(100)
    k.advance(0)
    assert r.recvfrom(100) == (b"hello", (HOST1, 5000))


def test_fwd_ignored_without_ipfirewall_forward():
    """A next hop is honoured only in a kernel with options
    IPFIREWALL_FORWARD (GENERIC 9.0 has not): the tag is ignored and the
    datagram follows its route."""
    k = router()
    k.pfil_add_hook(lambda p: p.fwd(FAR_GW), pfil.OUT)
    _udp(k, 5000).sendto(b"x", (FAR, 9))
    (fr,) = k.transmitted("em1")
    assert fr[:6] == bytes.fromhex(FAR_MAC.replace(":", ""))


def test_fwd_on_output_changes_the_next_hop():
    """ip_output (IPFIREWALL_FORWARD): the PACKET_TAG_IPFORWARD address
    replaces the route destination: the frame goes to FAR_GW's MAC, the IP
    destination stays FAR."""
    k = router(k=kstack.Kernel(options=FWD))
    k.pfil_add_hook(lambda p: None if p.skip_firewall else p.fwd(FAR_GW), pfil.OUT)
    _udp(k, 5000).sendto(b"x", (FAR, 9))
    (fr,) = k.transmitted("em1")
    assert fr[:6] == bytes.fromhex(FAR_GW_MAC.replace(":", ""))
    assert fr[14 + 16 : 14 + 20] == bytes((198, 51, 100, 7))


def test_fwd_on_input_ships_the_packet_on():
    """ip_input (IPFIREWALL_FORWARD): a next hop set by an input hook sends
    the packet straight to ip_forward(srcrt=1), though it was addressed to
    us; ip_output first routes the destination (HOST: the lo0 route), then
    finds the tag and routes to the next hop instead."""
    k = router(k=kstack.Kernel(options=FWD))
    k.pfil_add_hook(lambda p: p.fwd(FAR), pfil.IN)
    pkt = datagram(100, dst=HOST, df=False)
    out = k.input("em0", frame0(pkt))
    assert out.kind == "forwarded"
    (fr,) = k.transmitted("em1")
    assert fr == forwarded(pkt, FAR_MAC)


def test_ours_on_input_delivers_locally():
    """ip_input (IPFIREWALL_FORWARD): M_FASTFWD_OURS from an input hook goes
    straight to local delivery, whatever the destination."""
    k = router(k=kstack.Kernel(options=FWD))
    r = _udp(k, 9)
    k.pfil_add_hook(lambda p: p.ours(), pfil.IN)
    out = k.input("em0", frame0(datagram(100, dst=BEYOND)))
    assert out.kind == "delivered"
    data, addr = r.recvfrom(2048)
    assert (len(data), addr) == (72, (PEER, 4000))


def test_hook_order():
    """pfil_list_add (net/pfil.c): a new input hook goes to the head of the
    input list, a new output hook to the tail of the output list, so the
    newest hook sees input first and output last."""
    k = router()
    calls: list[str] = []
    k.pfil_add_hook(lambda p: calls.append("a-" + p.dir), pfil.IN | pfil.OUT)
    k.pfil_add_hook(lambda p: calls.append("b-" + p.dir), pfil.IN | pfil.OUT)
    k.input("em0", frame0(datagram(100, df=False)))
    assert calls == ["b-in", "a-in", "a-out", "b-out"]


def test_remove_hook():
    """pfil_list_add refuses a function already in the list it adds to
    (EEXIST), not one in the other direction's list; pfil_remove_hook: the
    hook no longer runs; removing it again is ENOENT."""
    k = router()
    calls = []

    def hook(p: pfil.PfilPacket) -> None:
        calls.append(p.dir)

    h = k.pfil_add_hook(hook, pfil.IN)
    with pytest.raises(OSError) as e:
        k.pfil_add_hook(hook, pfil.IN | pfil.OUT)
    assert e.value.errno == errno.EEXIST
    h_out = k.pfil_add_hook(hook, pfil.OUT)
    k.pfil_remove_hook(h)
    k.input("em0", frame0(datagram(100, dst=HOST)))
    assert calls == ["out"]  # the port unreachable it answers, not the input
    k.pfil_remove_hook(h_out)
    _udp(k, 5000).sendto(b"x", (FAR, 9))
    assert calls == ["out"]
    with pytest.raises(OSError) as e:
        k.pfil_remove_hook(h)
    assert e.value.errno == errno.ENOENT


@pytest.mark.parametrize("flags", [0, 4, -1, "in", 1.0])
def test_bad_flags(flags):
    k = router()
    with pytest.raises((TypeError, ValueError)):
        k.pfil_add_hook(lambda p: None, flags)


def test_hook_returning_garbage():
    """A hook must return None/0 or an errno: anything else is a TypeError
    naming the hook."""
    k = router()
    k.pfil_add_hook(lambda p: "drop", pfil.IN)
    with pytest.raises(TypeError, match="lambda"):
        k.input("em0", frame0(datagram(100, dst=HOST)))


def test_setfib_out_of_range():
    k = router()
    seen = []

    def hook(p: pfil.PfilPacket) -> None:
        with pytest.raises(ValueError):
            p.fib = 1
        seen.append(p.fib)

    k.pfil_add_hook(hook, pfil.IN)
    k.input("em0", frame0(datagram(100, dst=HOST)))
    assert seen == [0]


def test_vnet_hooks_are_per_stack():
    """V_inet_pfil_hook is per vnet: a hook on vnet0 does not see a vnet
    jail's traffic."""
    k = kstack.Kernel()
    v = k.jail("v1", vnet=True)
    a, b = k.epair(k.vnet0, v.vnet)
    k.ifconfig(a, "10.0.0.1/24")
    v.ifconfig(b, "10.0.0.2/24")
    v.ifconfig("lo0", "127.0.0.1/8", up=True)
    seen: list[str] = []
    v.vnet.pfil_add_hook(lambda p: seen.append("v1 " + p.dir), pfil.IN | pfil.OUT)
    k.pfil_add_hook(lambda p: seen.append("vnet0 " + p.dir), pfil.OUT)
    s = v.socket(S.AF_INET, S.SOCK_DGRAM)
    s.sendto(b"x", ("10.0.0.1", 9))
    assert seen == ["v1 out"]
    assert HOST_MAC and PEER_MAC


@pytest.mark.parametrize("profile", ["9.0", "9.3"])
def test_output_rewrite_after_a_gateway_route(profile):
    """ip_output "again" after an output hook changed the destination, when
    the route used had a gateway. 9.0/9.1: "dst" still points at that
    route's rt_gateway, so the restart writes the new destination (PEER)
    into it and looks the old destination (BEYOND) up again: the datagram
    leaves by em1 towards PEER as next hop (held for ARP there) and the
    route keeps PEER as its gateway. 9.3 routes the new destination afresh:
    out of em0 to PEER's MAC, the route untouched."""
    k = router(profile)
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW)
    k.pfil_add_hook(lambda p: p.set_dst(PEER) if p.dst == BEYOND else None, pfil.OUT)
    _udp(k, 5000).sendto(b"x", (BEYOND, 9))
    if profile == "9.0":
        assert k.route_get(BEYOND).gateway == PEER
        (who_has,) = k.transmitted("em1")
        assert who_has[12:14] == b"\x08\x06" and who_has[38:42] == bytes((192, 0, 2, 7))
        assert k.transmitted("em0") == []
    else:
        assert k.route_get(BEYOND).gateway == FAR_GW
        (fr,) = k.transmitted("em0")
        assert fr[:6] == bytes.fromhex(PEER_MAC.replace(":", ""))
        assert k.transmitted("em1") == []


@pytest.mark.parametrize("profile", ["9.0", "9.3"])
def test_fwd_without_the_kernel_option(profile):
    """9.0 GENERIC has no IPFIREWALL_FORWARD, so a next hop is ignored; 9.3
    has ipfw fwd built in (M_IP_NEXTHOP)."""
    k = router(profile)
    k.pfil_add_hook(lambda p: None if p.skip_firewall else p.fwd(FAR_GW), pfil.OUT)
    _udp(k, 5000).sendto(b"x", (FAR, 9))
    (fr,) = k.transmitted("em1")
    mac = FAR_MAC if profile == "9.0" else FAR_GW_MAC
    assert fr[:6] == bytes.fromhex(mac.replace(":", ""))
