"""pfil(9) hooks on the IPv4 path: where they run, what their verdicts and
rewrites do.

Line numbers: FreeBSD 9.1 sys/net/pfil.c, sys/netinet/ip_input.c (hooks at
503-532, ip_forward 1365-1595) and ip_output.c (hooks at 505-574); the Feb
2011 head has the same code for all of it. ``IPFIREWALL_FORWARD`` parts
(fwd tag, M_FASTFWD_OURS set by a hook) need that kernel option.
"""

import pytest

from kstack.net import pfil

from .common import (
    FAR,
    GW,
    GW1,
    GW1_MAC,
    GW_MAC,
    IP,
    IP_DF,
    LOCAL0,
    LOCAL1,
    PEER,
    PEER1,
    PEER1_MAC,
    PEER_MAC,
    UDP,
    Counters,
    assert_frame,
    drain,
    errno,
    ether,
    icmp_error_frame,
    inject,
    ip_id,
    ipv4,
    make_kernel,
    oserr,
    sock,
    udp,
)

FWD = {"IPFIREWALL_FORWARD"}
DATA = b"pfil-data-0123456789"


def dgram(dst, dport=9, ttl=64, size=None, df=False, ident=0x4242, src=PEER):
    data = DATA if size is None else bytes(i & 0xFF for i in range(size - 28))
    p = IP(src=src, dst=dst, ttl=ttl, id=ident, flags="DF" if df else 0)
    return bytes(p / UDP(sport=40000, dport=dport) / data), data


def udp_socket(k, port=5000, addr="0.0.0.0"):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind((addr, port))
    return s


def settle(k):
    for _ in range(5):
        k.advance(0)


def pending(s):
    try:
        return s.recvfrom(2048)
    except BlockingIOError:
        return None


class Recorder:
    """A hook that records (dir, ifname, dst, skip_firewall) and then
    applies ``action(pkt)``."""

    def __init__(self, action=None):
        self.calls = []
        self.action = action

    def __call__(self, pkt):
        self.calls.append((pkt.dir, pkt.ifname, pkt.dst, pkt.skip_firewall))
        if self.action is not None:
            return self.action(pkt)
        return None


# ------------------------------------------------------------ verdicts


@pytest.mark.parametrize("how", ["errno", "consume"])
def test_input_drop_counts_only_ips_total(host, how):
    """ip_input 510-513: a hook's error (or a consumed packet) ends ip_input
    at once: after ips_total (401) nothing else is counted and no port
    unreachable is sent for the closed port."""

    def drop(pkt):
        if how == "consume":
            pkt.consume()
            return None
        return errno.EACCES

    host.pfil_add_hook(drop, pfil.IN)
    c = Counters(host)
    inject(host, "em0", PEER_MAC, dgram(LOCAL0)[0])
    assert host.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1}


def test_input_hook_runs_after_header_checks(host):
    """ip_input 401-480 validate the header before the hooks (503-513): a
    bad header checksum is counted in ips_badsum and the hook never sees
    the packet."""
    rec = Recorder()
    host.pfil_add_hook(rec, pfil.IN)
    d = bytearray(dgram(LOCAL0)[0])
    d[10] ^= 0xFF
    c = Counters(host)
    inject(host, "em0", PEER_MAC, bytes(d))
    assert rec.calls == []
    assert c.delta() == {"ips_total": 1, "ips_badsum": 1}


def test_input_hook_runs_before_options(host):
    """The hooks (510) run before ip_dooptions (542): a hook that drops a
    datagram with a malformed option prevents the parameter problem and
    ips_badoptions."""
    host.pfil_add_hook(lambda pkt: errno.EACCES, pfil.IN)
    bad = ipv4(
        PEER, LOCAL0, 17, b"\x9c\x40\x00\x09\x00\x0c\x00\x00abcd", options=b"\x07\x01\x00\x00"
    )
    c = Counters(host)
    inject(host, "em0", PEER_MAC, bad)
    assert host.transmitted("em0") == []
    assert c.delta() == {"ips_total": 1}


@pytest.mark.parametrize("err", [errno.EACCES, errno.EPERM, errno.ENOBUFS])
def test_output_drop_is_the_send_error(host, err):
    """ip_output 509-510: the hooks' error is ip_output's return value, so
    udp_output (and sendto) fail with it; ips_localout and udps_opackets
    were counted before."""
    host.pfil_add_hook(lambda pkt: err, pfil.OUT)
    s = udp_socket(host)
    c = Counters(host)
    assert oserr(s.sendto, b"x", (PEER, 9)) == err
    assert host.transmitted("em0") == []
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}


def _drop_forwarded(err):
    def hook(pkt):
        if pkt.dir == "out" and pkt.proto == 17 and pkt.dst == PEER1:
            return err
        return None

    return hook


@pytest.mark.parametrize("err", [errno.EACCES, errno.ENOBUFS])
def test_output_drop_of_forwarded_packet_is_silent(router, err):
    """ip_forward 1494 + 1502: the hook's error counts ips_cantforward;
    EACCES (1586-1590) and ENOBUFS with sendsourcequench 0 (1566-1579) send
    no ICMP."""
    router.pfil_add_hook(_drop_forwarded(err), pfil.OUT)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, dgram(PEER1)[0])
    assert router.transmitted("em0") == []
    assert router.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_output_drop_of_forwarded_packet_other_errno_is_host_unreachable(router):
    """ip_forward 1526-1534: any other error from ip_output, here the hook's
    EPERM, becomes ICMP unreachable host, quoting the copy taken before the
    TTL decrement."""
    router.pfil_add_hook(_drop_forwarded(errno.EPERM), pfil.OUT)
    d, _ = dgram(PEER1)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 1, d[:28]))
    assert c.delta() == {
        "ips_total": 1,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_output_enobufs_with_sendsourcequench_sends_source_quench(router):
    """ip_forward 1566-1584: ENOBUFS from ip_output (here from a hook) is
    silent by default, but with net.inet.ip.sendsourcequench=1 a source
    quench (type 4, code 0) goes back to the sender."""
    assert router.sysctl("net.inet.ip.sendsourcequench") == 0
    router.sysctl("net.inet.ip.sendsourcequench", 1)
    router.pfil_add_hook(_drop_forwarded(errno.ENOBUFS), pfil.OUT)
    d, _ = dgram(PEER1)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    assert_frame(f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 4, 0, d[:28]))
    assert c.delta() == {
        "ips_total": 1,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[4]": 1,
    }


# ------------------------------------------------------------ order


def test_hook_order_input_newest_first_output_oldest_first(host):
    """pfil.c pfil_list_add 254-262 inserts input hooks at the head and
    output hooks at the tail, so with A added before B the input order is
    B, A and the output order A, B. One datagram to a closed port shows
    both: its port unreachable runs the output hooks."""
    order = []

    def a(pkt):
        order.append(("A", pkt.dir))

    def b(pkt):
        order.append(("B", pkt.dir))

    host.pfil_add_hook(a, pfil.IN | pfil.OUT)
    host.pfil_add_hook(b, pfil.IN | pfil.OUT)
    inject(host, "em0", PEER_MAC, dgram(LOCAL0)[0])
    assert order == [("B", "in"), ("A", "in"), ("A", "out"), ("B", "out")]


def test_drop_stops_the_chain(host):
    """pfil.c pfil_run_hooks 80-88: the first hook returning an error ends
    the walk; the other hook is not called (whatever the order, which
    test_hook_order_input_newest_first_output_oldest_first checks)."""
    seen = []

    def one(pkt):
        seen.append(("one", pkt.dir))
        return errno.EACCES

    def two(pkt):
        seen.append(("two", pkt.dir))
        return errno.EACCES

    host.pfil_add_hook(one, pfil.IN | pfil.OUT)
    host.pfil_add_hook(two, pfil.IN | pfil.OUT)
    inject(host, "em0", PEER_MAC, dgram(LOCAL0)[0])
    assert len(seen) == 1 and seen[0][1] == "in"
    s = udp_socket(host)
    seen.clear()
    assert oserr(s.sendto, b"x", (PEER, 9)) == errno.EACCES
    assert len(seen) == 1 and seen[0][1] == "out"


def test_duplicate_hook_is_eexist_and_double_remove_enoent(host):
    """pfil.c pfil_list_add 245-252: the same function twice on one list is
    EEXIST; pfil_list_remove 268-282: removing what is not there is
    ENOENT."""

    def h(pkt):
        return None

    hk = host.pfil_add_hook(h, pfil.IN | pfil.OUT)
    assert oserr(host.pfil_add_hook, h, pfil.OUT) == errno.EEXIST
    host.pfil_remove_hook(hk)
    assert oserr(host.pfil_remove_hook, hk) == errno.ENOENT


def test_same_function_once_per_direction(host):
    """pfil.c pfil_add_hook 166-218 keeps separate input and output lists and
    pfil_list_add checks only the list it adds to: a function added for
    input may then be added for output; it runs on both paths."""
    rec = Recorder()
    host.pfil_add_hook(rec, pfil.IN)
    host.pfil_add_hook(rec, pfil.OUT)
    inject(host, "em0", PEER_MAC, dgram(LOCAL0)[0])
    assert [(d, i) for d, i, _, _ in rec.calls] == [("in", "em0"), ("out", "em0")]


def test_removed_hook_is_not_called(host):
    """pfil.c pfil_remove_hook 222-240: after removal the hook is off both
    lists (and with no hook left PFIL_HOOKED is false, ip_input 506)."""
    rec = Recorder()
    hk = host.pfil_add_hook(rec, pfil.IN | pfil.OUT)
    host.pfil_remove_hook(hk)
    inject(host, "em0", PEER_MAC, dgram(LOCAL0)[0])
    assert rec.calls == []
    assert len(host.transmitted("em0")) == 1


def test_forwarded_packet_passes_input_then_output_hooks(router):
    """Input hooks see the packet on the receiving interface (ip_input 510)
    with the received TTL; ip_forward 1494 -> ip_output 509 runs the output
    hooks with the egress interface, after the TTL decrement (1440)."""
    seen = []
    router.pfil_add_hook(lambda p: seen.append((p.dir, p.ifname, p.data[8])), pfil.IN | pfil.OUT)
    inject(router, "em0", PEER_MAC, dgram(PEER1)[0])
    assert seen == [("in", "em0", 64), ("out", "em1", 63)]


def test_icmp_errors_pass_the_output_hooks(router):
    """icmp_send (ip_icmp.c 863-887) hands the error to ip_output, whose
    hooks see it (proto 1) on the way out of em0."""
    seen = []
    router.pfil_add_hook(lambda p: seen.append((p.dir, p.ifname, p.proto)), pfil.IN | pfil.OUT)
    inject(router, "em0", PEER_MAC, dgram(PEER1, ttl=1)[0])
    assert seen == [("in", "em0", 17), ("out", "em0", 1)]


# ------------------------------------------------------------ rewrites on input


def _rewrite(direction, old, new):
    def hook(pkt):
        if pkt.dir == direction and pkt.dst == old:
            pkt.set_dst(new)
        return None

    return hook


def test_input_rewrite_to_other_host_is_forwarded_without_redirect(router):
    """ip_input 516: the changed destination sets dchg; 702 ip_forward(m, 1)
    treats it as source routed, so 1454 sends no redirect although the
    packet goes back out em0 through a non-default gateway route to a
    sender on em0's subnet."""
    router.route_add("203.0.113.0/24", GW)
    router.pfil_add_hook(_rewrite("in", FAR, "203.0.113.6"), pfil.IN)
    d, data = dgram(FAR)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    new = "203.0.113.6"
    exp = ipv4(PEER, new, 17, udp(PEER, new, 40000, 9, data), ident=0x4242, ttl=63)
    assert_frame(f, ether(GW_MAC, router.iface("em0").ether, exp))
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_input_rewrite_needfrag_mtu_from_egress(router):
    """ip_forward 1391 looks the (rewritten) destination up even with srcrt,
    so ia is em1's address and 1554-1556 clamp to em1's MTU (1400); the
    quote is the rewritten header with the received TTL."""
    router.ifconfig("em1", mtu=1400)
    router.pfil_add_hook(_rewrite("in", FAR, PEER1), pfil.IN)
    d, data = dgram(FAR, size=1500, df=True)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    rewritten = ipv4(PEER, PEER1, 17, udp(PEER, PEER1, 40000, 9, data), ident=0x4242, off=IP_DF)
    exp = icmp_error_frame(
        router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, rewritten[:28], rest=1400, off=IP_DF
    )
    assert_frame(f, exp)
    assert router.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_cantfrag": 2,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_input_rewrite_to_local_address_is_delivered(host):
    """After the hooks, ip_input 595-602 finds the new destination among our
    addresses and delivers it (758: ips_delivered)."""
    s = udp_socket(host, 7000, LOCAL0)
    host.pfil_add_hook(_rewrite("in", FAR, LOCAL0), pfil.IN)
    d, data = dgram(FAR, dport=7000)
    c = Counters(host)
    inject(host, "em0", PEER_MAC, d)
    assert pending(s) == (data, (PEER, 40000))
    assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "udps_ipackets": 1}


@pytest.mark.parametrize("rewritten", [True, False])
def test_input_rewrite_bypasses_check_interface(rewritten):
    """ip_input 582-584: the strong-ES check (net.inet.ip.check_interface)
    is off when the destination was changed by a hook (dchg): em1's
    address reached through em0 is delivered after a rewrite, but dropped
    (ips_cantforward, forwarding off) when it arrives that way unchanged."""
    k = make_kernel()
    k.sysctl("net.inet.ip.check_interface", 1)
    s = udp_socket(k, 7000)
    if rewritten:
        k.pfil_add_hook(_rewrite("in", FAR, LOCAL1), pfil.IN)
    d, data = dgram(FAR if rewritten else LOCAL1, dport=7000)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    if rewritten:
        assert pending(s) == (data, (PEER, 40000))
        assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "udps_ipackets": 1}
    else:
        assert pending(s) is None
        assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_input_rewrite_to_other_host_with_forwarding_off(host):
    """ip_input 694-697: a rewritten destination that is not ours, with
    forwarding off, is ips_cantforward like any other."""
    host.pfil_add_hook(_rewrite("in", FAR, PEER1), pfil.IN)
    c = Counters(host)
    inject(host, "em0", PEER_MAC, dgram(FAR)[0])
    assert host.transmitted("em0") == []
    assert host.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_input_rewrite_to_unroutable_fails_in_ip_output(router):
    """With srcrt ip_forward 1398 skips its early 'no route' error; ip_output
    280-296 then fails (ips_noroute, EHOSTUNREACH), ip_forward counts
    ips_cantforward and answers unreachable host from the pre-decrement copy
    of the rewritten header."""
    router.pfil_add_hook(_rewrite("in", PEER1, FAR), pfil.IN)
    d, data = dgram(PEER1)
    c = Counters(router)
    inject(router, "em0", PEER_MAC, d)
    (f,) = router.transmitted("em0")
    rewritten = ipv4(PEER, FAR, 17, udp(PEER, FAR, 40000, 9, data), ident=0x4242)
    assert_frame(
        f, icmp_error_frame(router, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 1, rewritten[:28])
    )
    assert router.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_noroute": 1,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_input_hook_fib_selects_the_forwarding_table():
    """ip_forward 1391 and ip_output 275-278 look routes up in M_GETFIB(m):
    a hook that sets the packet's FIB to 1 makes it leave by FIB 1's
    route."""
    k = make_kernel(forwarding=True, default=GW, fibs=2)
    k.route_add("default", GW1, fib=1)
    drain(k)

    def setfib(pkt):
        if pkt.dir == "in":
            pkt.fib = 1

    k.pfil_add_hook(setfib, pfil.IN)
    d, data = dgram(FAR)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em1")
    exp = ipv4(PEER, FAR, 17, udp(PEER, FAR, 40000, 9, data), ident=0x4242, ttl=63)
    assert_frame(f, ether(GW1_MAC, k.iface("em1").ether, exp))
    assert k.transmitted("em0") == []


# ------------------------------------------------------------ rewrites on output


def test_output_rewrite_is_routed_again(host):
    """ip_output 513-540: a changed destination marks M_SKIP_FIREWALL and
    goes back to 'again' for a new route lookup (the hooks run again on
    the new interface); the source chosen for the old route stays."""
    rec = Recorder(_rewrite("out", PEER, PEER1))
    host.pfil_add_hook(rec, pfil.OUT)
    s = udp_socket(host)
    c = Counters(host)
    s.sendto(DATA, (PEER, 9))
    assert host.transmitted("em0") == []
    (f,) = host.transmitted("em1")
    exp = ipv4(LOCAL0, PEER1, 17, udp(LOCAL0, PEER1, 5000, 9, DATA), ident=ip_id(f))
    assert_frame(f, ether(PEER1_MAC, host.iface("em1").ether, exp))
    assert rec.calls == [("out", "em0", PEER, False), ("out", "em1", PEER1, True)]
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}


def test_output_rewrite_to_local_address_loops_to_ip_input(host):
    """ip_output 519-535: a destination rewritten to one of our addresses is
    flagged M_FASTFWD_OURS and queued to ip_input (netisr), which jumps
    straight to delivery (ip_input 389-399: no ips_total, no input hooks)."""
    rec = Recorder(_rewrite("out", PEER, LOCAL1))
    host.pfil_add_hook(rec, pfil.IN | pfil.OUT)
    r = udp_socket(host, 7000, LOCAL1)
    s = udp_socket(host)
    c = Counters(host)
    s.sendto(DATA, (PEER, 7000))
    settle(host)
    assert host.transmitted("em0") == []
    assert host.transmitted("em1") == []
    assert pending(r) == (DATA, (LOCAL0, 5000))
    assert rec.calls == [("out", "em0", PEER, False)]
    assert c.delta() == {
        "ips_localout": 1,
        "udps_opackets": 1,
        "ips_delivered": 1,
        "udps_ipackets": 1,
    }


def test_output_rewrite_after_gateway_route_overwrites_the_gateway(host):
    """ip_output 197-198 and 220-225: 'dst' is set once, before 'again', and
    after a gateway route it points at that route's rt_gateway (303). When
    a hook changes the destination, 'again' frees the route and writes the
    new destination into that gateway, then looks up ro_dst -- still the
    old destination -- and sends to the rewritten gateway. So the datagram
    reaches 192.0.2.7 and the default route's gateway is now 192.0.2.7
    (9.0/9.1; 9.3 moved the assignment after 'again')."""
    host.pfil_add_hook(_rewrite("out", FAR, PEER), pfil.OUT)
    s = udp_socket(host)
    s.sendto(DATA, (FAR, 9))
    (f,) = host.transmitted("em0")
    exp = ipv4(LOCAL0, PEER, 17, udp(LOCAL0, PEER, 5000, 9, DATA), ident=ip_id(f))
    assert_frame(f, ether(PEER_MAC, host.iface("em0").ether, exp))
    assert host.route_get("203.0.113.99").gateway == PEER
    s.sendto(DATA, ("203.0.113.99", 9))
    (g,) = host.transmitted("em0")
    assert g[:6] == bytes.fromhex(PEER_MAC.replace(":", ""))


# ------------------------------------------------------------ ipfw fwd / ours


def _fwd_on(direction, dst, next_hop):
    def hook(pkt):
        if pkt.dir == direction and pkt.dst == dst and not pkt.skip_firewall:
            pkt.fwd(next_hop)
        return None

    return hook


def test_input_fwd_tag_goes_straight_to_ip_forward():
    """ip_input 524-531 (IPFIREWALL_FORWARD): a packet with a fwd tag goes
    to ip_forward(m, 1) directly, whatever net.inet.ip.forwarding says;
    ip_output 564-573 then routes to the next hop (the destination stays)
    and runs the output hooks a second time on the new interface."""
    k = make_kernel(default=GW, options=FWD)
    rec = Recorder(_fwd_on("in", FAR, PEER1))
    k.pfil_add_hook(rec, pfil.IN | pfil.OUT)
    d, data = dgram(FAR)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em1")
    exp = ipv4(PEER, FAR, 17, udp(PEER, FAR, 40000, 9, data), ident=0x4242, ttl=63)
    assert_frame(f, ether(PEER1_MAC, k.iface("em1").ether, exp))
    assert k.transmitted("em0") == []
    assert [(d_, i) for d_, i, _, _ in rec.calls] == [("in", "em0"), ("out", "em0"), ("out", "em1")]
    assert rec.calls[-1][3] is True
    assert c.delta() == {"ips_total": 1, "ips_forward": 1}


def test_input_fwd_tag_ignored_without_the_option(host):
    """Without IPFIREWALL_FORWARD ip_input 519-532 is compiled out: the
    packet takes the normal path (forwarding off -> ips_cantforward)."""
    host.pfil_add_hook(_fwd_on("in", FAR, PEER1), pfil.IN)
    c = Counters(host)
    inject(host, "em0", PEER_MAC, dgram(FAR)[0])
    assert host.transmitted("em0") == []
    assert host.transmitted("em1") == []
    assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_input_fwd_tag_still_needs_a_route_to_the_destination():
    """ip_output looks up the packet's own destination first (220-225,
    271-296) and only then finds the fwd tag (564): with no route to it the
    forward fails with EHOSTUNREACH (ips_noroute), ip_forward counts
    ips_cantforward and sends unreachable host."""
    k = make_kernel(options=FWD)
    k.pfil_add_hook(_fwd_on("in", FAR, PEER1), pfil.IN)
    d, _ = dgram(FAR)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em0")
    assert_frame(f, icmp_error_frame(k, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 1, d[:28]))
    assert k.transmitted("em1") == []
    assert c.delta() == {
        "ips_total": 1,
        "ips_noroute": 1,
        "ips_cantforward": 1,
        "ips_localout": 1,
        "icps_error": 1,
        "icps_outhist[3]": 1,
    }


def test_input_fwd_needfrag_clamped_by_interface_of_original_route():
    """ip_forward 1391 computes ia from the packet's own destination (route
    via em2, MTU 1300) while ip_output sends to the fwd next hop on em1
    (1400); 1497 + 1554-1556 report min(1400, 1300) = 1300."""
    k = make_kernel(options=FWD)
    k.ifconfig("em2", "10.9.0.1/24", mtu=1300)
    k.arp_add("10.9.0.254", "02:00:00:00:02:fe")
    k.route_add("default", "10.9.0.254")
    k.ifconfig("em1", mtu=1400)
    drain(k)
    k.transmitted("em2")
    k.pfil_add_hook(_fwd_on("in", FAR, PEER1), pfil.IN)
    d, _ = dgram(FAR, size=1450, df=True)
    inject(k, "em0", PEER_MAC, d)
    (f,) = k.transmitted("em0")
    exp = icmp_error_frame(k, f, "em0", PEER_MAC, LOCAL0, PEER, 3, 4, d[:28], rest=1300, off=IP_DF)
    assert_frame(f, exp)
    assert k.transmitted("em1") == []
    assert k.transmitted("em2") == []


def test_output_fwd_tag_changes_next_hop_only():
    """ip_output 564-573: the fwd tag's address becomes the route lookup key
    (ro_dst), M_SKIP_FIREWALL is set and the lookup is redone: the datagram
    leaves em1 to 198.51.100.7's MAC with its destination and source
    unchanged; the output hooks run again on em1."""
    k = make_kernel(default=GW, options=FWD)
    rec = Recorder(_fwd_on("out", FAR, PEER1))
    k.pfil_add_hook(rec, pfil.OUT)
    s = udp_socket(k)
    c = Counters(k)
    s.sendto(DATA, (FAR, 9))
    assert k.transmitted("em0") == []
    (f,) = k.transmitted("em1")
    exp = ipv4(LOCAL0, FAR, 17, udp(LOCAL0, FAR, 5000, 9, DATA), ident=ip_id(f))
    assert_frame(f, ether(PEER1_MAC, k.iface("em1").ether, exp))
    assert rec.calls == [("out", "em0", FAR, False), ("out", "em1", FAR, True)]
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}
    assert k.route_get(FAR).gateway == GW


def test_output_fwd_tag_ignored_without_the_option(host):
    """Without IPFIREWALL_FORWARD ip_output 542-574 is compiled out: the
    datagram follows its route (default via 192.0.2.254)."""
    rec = Recorder(_fwd_on("out", FAR, PEER1))
    host.pfil_add_hook(rec, pfil.OUT)
    s = udp_socket(host)
    s.sendto(DATA, (FAR, 9))
    (f,) = host.transmitted("em0")
    exp = ipv4(LOCAL0, FAR, 17, udp(LOCAL0, FAR, 5000, 9, DATA), ident=ip_id(f))
    assert_frame(f, ether(GW_MAC, host.iface("em0").ether, exp))
    assert host.transmitted("em1") == []
    assert len(rec.calls) == 1


@pytest.mark.parametrize("option", [True, False])
def test_input_ours_flag(option):
    """ip_input 520-523 (IPFIREWALL_FORWARD): M_FASTFWD_OURS set by a hook
    delivers the packet locally whatever its destination; without the
    option the flag is not looked at and the packet is not ours
    (ips_cantforward)."""
    k = make_kernel(default=GW, options=FWD if option else ())
    s = udp_socket(k, 7000)

    def ours(pkt):
        if pkt.dir == "in":
            pkt.ours()

    k.pfil_add_hook(ours, pfil.IN)
    d, data = dgram(FAR, dport=7000)
    c = Counters(k)
    inject(k, "em0", PEER_MAC, d)
    if option:
        assert pending(s) == (data, (PEER, 40000))
        assert c.delta() == {"ips_total": 1, "ips_delivered": 1, "udps_ipackets": 1}
    else:
        assert pending(s) is None
        assert c.delta() == {"ips_total": 1, "ips_cantforward": 1}


def test_output_ours_flag_loops_to_local_socket():
    """ip_output 545-561 (IPFIREWALL_FORWARD): an output packet flagged
    M_FASTFWD_OURS by a hook is queued to ip_input and delivered to the
    local socket for its (foreign) destination port; nothing is sent."""
    k = make_kernel(default=GW, options=FWD)
    r = udp_socket(k, 7000)

    def ours(pkt):
        if pkt.dir == "out":
            pkt.ours()

    k.pfil_add_hook(ours, pfil.OUT)
    s = udp_socket(k)
    c = Counters(k)
    s.sendto(DATA, (FAR, 7000))
    settle(k)
    assert k.transmitted("em0") == []
    assert k.transmitted("em1") == []
    assert pending(r) == (DATA, (LOCAL0, 5000))
    assert c.delta() == {
        "ips_localout": 1,
        "udps_opackets": 1,
        "ips_delivered": 1,
        "udps_ipackets": 1,
    }
