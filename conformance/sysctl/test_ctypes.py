"""Sysctl values as the kernel's C variables hold them, and lo0, derived from
the FreeBSD 9.x source (9.1-RELEASE sys/ and 9.0-CURRENT of February 2011
agree on every path used here) without reading kstack's code: a value the
sysctl handler accepts behaves at packet time as its int, u_int, u_char or
uint16_t variable would. Each docstring names the kernel function checked."""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from kstack import sock
from kstack.testing import (
    FAR,
    FAR_MAC,
    HOST,
    HOST1,
    HOST1_MAC,
    HOST_MAC,
    PEER,
    PEER_MAC,
    ROUTER,
    arp_reply,
    echo_request,
    host,
    ip_bytes,
    udp_to,
)


def delta(before: dict, after: dict, name: str) -> int:
    for proto in after:
        if name in after[proto]:
            return after[proto][name] - before[proto][name]
    raise KeyError(name)


def parsed(frames):
    return [Ether(f) for f in frames]


def icmp_frames(frames, type_):
    return [p for p in parsed(frames) if p.haslayer(ICMP) and p[ICMP].type == type_]


# ---------------------------------------------------------------- 1. ip.ttl

TTL_CASES = [(300, 44), (256, 0), (-1, 255)]


@pytest.mark.parametrize("value,wire", TTL_CASES)
def test_ip_ttl_write_accepted(value, wire):
    """netinet/raw_ip.c (9.1) / ip_input.c (2011): ip_defttl is a VNET int with
    SYSCTL_VNET_INT and no handler -> kern_sysctl.c:sysctl_handle_int accepts
    any int and reads it back unchanged."""
    k = host()
    assert k.sysctl("net.inet.ip.ttl", value) == 64
    assert k.sysctl("net.inet.ip.ttl") == value


@pytest.mark.parametrize("value,wire", TTL_CASES)
def test_ip_ttl_echo_reply(value, wire):
    """ip_icmp.c:icmp_reflect: ip->ip_ttl = V_ip_defttl (u_char ip_ttl)."""
    k = host()
    k.sysctl("net.inet.ip.ttl", value)
    k.input("em0", echo_request())
    replies = icmp_frames(k.transmitted("em0"), 0)
    assert len(replies) == 1
    assert replies[0][IP].ttl == wire


@pytest.mark.parametrize("value,wire", TTL_CASES)
def test_ip_ttl_port_unreachable(value, wire):
    """ip_icmp.c:icmp_error -> icmp_reflect: ip_ttl = V_ip_defttl (u_char);
    ip_output sends unicast TTL 0 (only multicast TTL 0 is withheld)."""
    k = host()
    k.sysctl("net.inet.ip.ttl", value)
    k.input("em0", udp_to(9999))
    errs = icmp_frames(k.transmitted("em0"), 3)
    assert len(errs) == 1
    assert errs[0][IP].ttl == wire
    assert errs[0][ICMP].code == 3


@pytest.mark.parametrize("value,wire", TTL_CASES)
def test_ip_ttl_new_udp_socket(value, wire):
    """udp_usrreq.c:udp_attach: inp->inp_ip_ttl (u_char) = V_ip_defttl;
    udp_output: ip_ttl = inp->inp_ip_ttl; ip_output.c:ip_ctloutput IP_TTL
    getsockopt returns inp_ip_ttl."""
    k = host()
    k.sysctl("net.inet.ip.ttl", value)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == wire
    s.sendto(b"hi", (PEER, 53))
    out = [p for p in parsed(k.transmitted("em0")) if p.haslayer(UDP)]
    assert len(out) == 1
    assert out[0][IP].ttl == wire


def test_ip_ttl_existing_socket_keeps_snapshot():
    """udp_usrreq.c:udp_attach copies ip_defttl once; a later sysctl write
    does not change an existing socket's inp_ip_ttl."""
    k = host()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    k.sysctl("net.inet.ip.ttl", 300)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 64
    s.sendto(b"hi", (PEER, 53))
    out = [p for p in parsed(k.transmitted("em0")) if p.haslayer(UDP)]
    assert out[0][IP].ttl == 64


# ---------------------------------------------------------- 2. icmp.quotelen


@pytest.mark.parametrize(
    "quotelen,quoted", [(-1, 228), (0, 28), (8, 28), (100, 120), (100000, 228)]
)
def test_icmp_quotelen(quotelen, quoted):
    """ip_icmp.c:icmp_error: icmpelen = max(8, min(V_icmp_quotelen,
    ip_len - oiphlen)) with u_int min/max (sys/libkern.h), so -1 -> UINT_MAX
    -> whole datagram; icmplen = min(oiphlen + icmpelen, nlen); cap
    M_TRAILINGSPACE - 28 (140 in an amd64 MHLEN mbuf, 2020 in a cluster)
    does not bite for 228 bytes. Quoted header restored by udp_input
    (save_ip, ip_len += iphlen) and re-swapped with htons."""
    k = host()
    k.sysctl("net.inet.icmp.quotelen", quotelen)
    pkt = udp_to(9999, data=bytes(range(200)))
    orig = ip_bytes(pkt)
    assert len(orig) == 228
    k.input("em0", pkt)
    errs = icmp_frames(k.transmitted("em0"), 3)
    assert len(errs) == 1
    raw = bytes(errs[0])[14:]
    assert int.from_bytes(raw[2:4], "big") == 20 + 8 + quoted
    assert raw[20 + 8 :] == orig[:quoted]


def test_icmp_quotelen_cluster_cap_2020():
    """ip_icmp.c:icmp_error: icmplen = min(icmplen, M_TRAILINGSPACE(m) -
    sizeof(struct ip) - ICMP_MINLEN) with a 2048-byte cluster -> 2020 bytes
    quoted; the 2048-byte error has no DF and ip_output fragments it at MTU
    1500 (1480 + 548). ip_input.c:ip_reass 'ip_off <<= 3' turns the first
    fragment's IP_MF into 0 (u_short), so the quoted ip_off is 0 and
    ip_len is the reassembled 2528."""
    k = host()
    k.sysctl("net.inet.icmp.quotelen", 100000)
    full = bytes(IP(src=PEER, dst=HOST, id=777) / UDP(sport=40000, dport=9999) / Raw(bytes(2500)))
    payload = full[20:]
    assert len(payload) == 2508
    eth = Ether(src=PEER_MAC, dst=HOST_MAC)
    f1 = eth / IP(src=PEER, dst=HOST, id=777, flags="MF", frag=0, proto=17) / Raw(payload[:1480])
    f2 = eth / IP(src=PEER, dst=HOST, id=777, frag=185, proto=17) / Raw(payload[1480:])
    k.input("em0", f1)
    k.input("em0", f2)
    frames = [bytes(f)[14:] for f in k.transmitted("em0")]
    frags = [f for f in frames if f[9] == 1]
    assert len(frags) == 2
    assert [int.from_bytes(f[2:4], "big") for f in frags] == [1500, 568]
    body = frags[0][20:] + frags[1][20:]
    assert len(body) == 8 + 2020
    assert body[0] == 3 and body[1] == 3
    quoted = body[8:]
    assert int.from_bytes(quoted[2:4], "big") == 2528
    assert int.from_bytes(quoted[6:8], "big") == 0
    assert quoted[20:] == payload[:2000]


# ---------------------------------------------------------- 3. icmp.maskfake


@pytest.mark.parametrize(
    "fake,wire",
    [
        (0, b"\xff\xff\xff\x00"),
        (0xFFFFFF00, b"\x00\xff\xff\xff"),
        (0x00FFFFFF, b"\xff\xff\xff\x00"),
    ],
)
def test_icmp_maskfake_host_order(fake, wire):
    """ip_icmp.c:icmp_input ICMP_MASKREQ: icmp_mask = V_icmpmaskfake (u_int,
    no htonl) -> little-endian bytes on amd64; 0 -> ia_sockmask (network
    order)."""
    k = host()
    k.sysctl("net.inet.icmp.maskrepl", 1)
    k.sysctl("net.inet.icmp.maskfake", fake)
    req = (
        Ether(src=PEER_MAC, dst=HOST_MAC)
        / IP(src=PEER, dst=HOST)
        / ICMP(type=17, code=0, id=5, seq=1, addr_mask="0.0.0.0")
    )
    assert len(bytes(req)) == 14 + 20 + 12
    k.input("em0", req)
    reps = icmp_frames(k.transmitted("em0"), 18)
    assert len(reps) == 1
    raw = bytes(reps[0])
    assert raw[14 + 20 + 8 : 14 + 20 + 12] == wire


# ------------------------------------------------- 4. ip.maxfragsperpacket


def _echo_frags(nfrags, ident=4242):
    icmp = bytes(ICMP(type=8, id=7, seq=1) / Raw(bytes(range(16 * nfrags - 8))))
    assert len(icmp) == 16 * nfrags
    out = []
    for i in range(nfrags):
        mf = "MF" if i < nfrags - 1 else 0
        out.append(
            Ether(src=PEER_MAC, dst=HOST_MAC)
            / IP(src=PEER, dst=HOST, id=ident, flags=mf, frag=2 * i, proto=1)
            / Raw(icmp[16 * i : 16 * (i + 1)])
        )
    return out


@pytest.mark.parametrize(
    "value,nfrags,reassembled,fragments,dropped",
    [
        (-1, 2, 1, 2, 0),
        (-1, 3, 0, 3, 2),
        (0, 2, 0, 2, 2),
        (1, 2, 1, 2, 0),
        (1, 3, 0, 3, 2),
        (255, 3, 1, 3, 0),
        (300, 3, 1, 3, 0),
    ],
)
def test_maxfragsperpacket(value, nfrags, reassembled, fragments, dropped):
    """ip_input.c:ip_reass: ==0 -> every fragment counted in ips_fragments
    and ips_fragdropped; the first fragment creates the queue without a limit
    check; later incomplete ones: 'if (fp->ipq_nfrags > V_maxfragsperpacket)'
    (u_char promoted to int vs int) -> ADD(ips_fragdropped, nfrags) and
    ip_freef; a completing fragment is never limited."""
    k = host()
    k.sysctl("net.inet.ip.maxfragsperpacket", value)
    b = k.netstat()
    for f in _echo_frags(nfrags):
        k.input("em0", f)
    a = k.netstat()
    assert delta(b, a, "ips_reassembled") == reassembled
    assert delta(b, a, "ips_fragments") == fragments
    assert delta(b, a, "ips_fragdropped") == dropped
    assert len(icmp_frames(k.transmitted("em0"), 0)) == reassembled


def test_maxfragsperpacket_negative_leftover_times_out():
    """ip_input.c:ip_reass with maxfragsperpacket=-1: frag 2 of 3 frees the
    queue (2 > -1), frag 3 opens a new queue (nfrags=1) that
    ip_slowtimo frees after IPFRAGTTL=60 slow ticks (30 s):
    ips_fragtimeout += 1."""
    k = host()
    k.sysctl("net.inet.ip.maxfragsperpacket", -1)
    for f in _echo_frags(3):
        k.input("em0", f)
    b = k.netstat()
    k.advance(31)
    a = k.netstat()
    assert delta(b, a, "ips_fragtimeout") == 1


# ------------------------------------------------------------ 5. icmplim


@pytest.mark.parametrize("value", [0, -1])
def test_icmplim_nonpositive_is_unlimited(value):
    """ip_icmp.c:badport_bandlim: 'if (V_icmplim > 0 && ...)' -> ppsratecheck
    is skipped, returns 0 (ok) for icmplim <= 0; udp_usrreq.c:udp_input then
    calls icmp_error for each datagram."""
    k = host()
    k.sysctl("net.inet.icmp.icmplim", value)
    b = k.netstat()
    for i in range(300):
        k.input("em0", udp_to(9999, sport=30000 + i))
    a = k.netstat()
    assert len(icmp_frames(k.transmitted("em0"), 3)) == 300
    assert delta(b, a, "udps_noport") == 300
    assert delta(b, a, "icps_error") == 300


def test_icmplim_default_200_allows_199():
    """kern_time.c:ppsratecheck: first call resets (curpps=1, allowed), then
    allowed while ++curpps < maxpps -> 199 per second for icmplim=200."""
    k = host()
    b = k.netstat()
    for i in range(300):
        k.input("em0", udp_to(9999, sport=30000 + i))
    a = k.netstat()
    assert len(icmp_frames(k.transmitted("em0"), 3)) == 199
    assert delta(b, a, "udps_noport") == 300


# --------------------------------------------------------------- 6. lo0 routes


def test_lo0_127_is_host_route_only():
    """in.c:in_ifinit: IFF_LOOPBACK -> ia_dstaddr = ia_addr, flags |= RTF_HOST;
    in_addprefix/route.c:rtinit1 with RTF_HOST installs dst=ifa_dstaddr with
    no netmask: 127.0.0.1 UH, no 127.0.0.0/8 route."""
    k = host()
    assert k.route_get("127.0.0.2") is None
    r = k.route_get("127.0.0.1")
    assert r is not None and r.ifname == "lo0"
    assert r.prefix == "127.0.0.1/32"
    assert "H" in r.flags


def test_udp_to_127_0_0_2_has_no_route():
    """in_pcb.c:in_pcbladdr (no route -> ifa_ifwithnet picks 127.0.0.1/8)
    then ip_output.c:ip_output: rte == NULL -> ips_noroute, EHOSTUNREACH."""
    k = host()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    b = k.netstat()
    with pytest.raises(OSError) as e:
        s.sendto(b"x", ("127.0.0.2", 9))
    assert e.value.errno == errno.EHOSTUNREACH
    assert delta(b, k.netstat(), "ips_noroute") == 1


def test_lo0_alias_32_gets_host_route():
    """in.c:in_ifinit (IFF_LOOPBACK -> RTF_HOST) + in_addprefix: host route
    10.9.9.9 on lo0."""
    k = host()
    k.ifconfig("lo0", "10.9.9.9/32", alias=True)
    r = k.route_get("10.9.9.9")
    assert r is not None
    assert r.ifname == "lo0" and r.prefix == "10.9.9.9/32" and "H" in r.flags


def test_echo_to_lo0_alias_from_peer_answered():
    """ip_input.c:ip_input: dst found in INADDR_HASH (ip_checkinterface=0) ->
    ours; ip_icmp.c:icmp_reflect picks t=10.9.9.9 as source; reply routed to
    the peer on em0."""
    k = host()
    k.ifconfig("lo0", "10.9.9.9/32", alias=True)
    k.transmitted("em0")
    b = k.netstat()
    k.input("em0", echo_request(dst="10.9.9.9"))
    reps = icmp_frames(k.transmitted("em0"), 0)
    assert len(reps) == 1
    assert reps[0][IP].src == "10.9.9.9" and reps[0][IP].dst == PEER
    assert delta(b, k.netstat(), "icps_reflect") == 1


# ------------------------------------------------------- 7. lo0 checksums


def test_lo0_zero_ip_checksum_accepted():
    """net/if_loop.c:looutput sets csum_flags = LO_CSUM_SET (CSUM_IP_CHECKED|
    CSUM_IP_VALID|...) with IFCAP_RXCSUM on by default; ip_input.c:ip_input
    then uses sum = !(csum_flags & CSUM_IP_VALID) = 0 and never looks at
    ip_sum."""
    k = host()
    pkt = IP(src="127.0.0.1", dst="127.0.0.1") / ICMP(type=8, id=3, seq=1) / Raw(b"lo0-csum")
    raw = bytearray(bytes(pkt))
    raw[10:12] = b"\x00\x00"
    b = k.netstat()
    k.input("lo0", bytes(raw))
    k.advance(0)
    a = k.netstat()
    assert delta(b, a, "ips_badsum") == 0
    assert delta(b, a, "icps_reflect") == 1


def test_lo0_bad_udp_checksum_accepted():
    """udp_usrreq.c:udp_input: CSUM_DATA_VALID|CSUM_PSEUDO_HDR with
    csum_data=0xffff (set by if_loop.c:looutput) -> uh_sum = 0xffff ^ 0xffff
    = 0, so the datagram is accepted whatever uh_sum says."""
    k = host()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("127.0.0.1", 7777))
    good = IP(
        bytes(IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=1234, dport=7777) / Raw(b"hello"))
    )
    bogus = 0x1234 if good[UDP].chksum != 0x1234 else 0x4321
    raw = bytearray(
        bytes(
            IP(src="127.0.0.1", dst="127.0.0.1")
            / UDP(sport=1234, dport=7777, chksum=bogus)
            / Raw(b"hello")
        )
    )
    raw[10:12] = b"\x00\x00"
    b = k.netstat()
    k.input("lo0", bytes(raw))
    k.advance(0)
    a = k.netstat()
    assert delta(b, a, "ips_badsum") == 0
    assert delta(b, a, "udps_badsum") == 0
    data, (addr, port) = s.recvfrom(2048)
    assert data == b"hello" and addr == "127.0.0.1" and port == 1234


# ------------------------------------------------------------ 8. mcast.loop


def _mcast_setup(k):
    k.route_add("default", ROUTER)
    r = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    r.bind(("0.0.0.0", 5000))
    r.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq("224.1.2.3", HOST))
    k.advance(0)
    k.transmitted("em0")
    return r


def test_mcast_loop_256_with_moptions_not_looped():
    """in_mcast.c:inp_findmoptions: imo_multicast_loop (u_char) = in_mcast_loop
    -> 256 becomes 0; ip_output.c:ip_output loops back only if
    imo->imo_multicast_loop; in_mcast.c:inp_getmoptions IP_MULTICAST_LOOP
    returns imo_multicast_loop = 0."""
    k = host()
    k.sysctl("net.inet.ip.mcast.loop", 256)
    r = _mcast_setup(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_TTL, 5)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP) == 0
    s.sendto(b"m", ("224.1.2.3", 5000))
    k.advance(0)
    out = [p for p in parsed(k.transmitted("em0")) if p.haslayer(UDP)]
    assert len(out) == 1 and out[0][IP].ttl == 5 and out[0][IP].dst == "224.1.2.3"
    with pytest.raises(BlockingIOError):
        r.recvfrom(2048)


def test_mcast_loop_256_without_moptions_looped():
    """ip_output.c:ip_output: '(imo == NULL && in_mcast_loop)' -> int 256 is
    true -> ip_mloopback; in_mcast.c:inp_getmoptions with imo == NULL
    returns IP_DEFAULT_MULTICAST_LOOP (1) whatever the sysctl."""
    k = host()
    k.sysctl("net.inet.ip.mcast.loop", 256)
    r = _mcast_setup(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"m", ("224.1.2.3", 5000))
    k.advance(0)
    data, (addr, port) = r.recvfrom(2048)
    assert data == b"m" and addr == HOST
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP) == 1
    k.sysctl("net.inet.ip.mcast.loop", 0)
    s2 = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert s2.getsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP) == 1


def test_mcast_loop_default_with_moptions_looped():
    """Control: in_mcast.c:inp_findmoptions copies in_mcast_loop=1;
    ip_output.c:ip_output -> ip_mloopback -> delivered to the member."""
    k = host()
    r = _mcast_setup(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_TTL, 5)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP) == 1
    s.sendto(b"m", ("224.1.2.3", 5000))
    k.advance(0)
    data, _ = r.recvfrom(2048)
    assert data == b"m"


# ---------------------------------------------------------------- 9. ARP


def _arp_reqs(pkts):
    return [p for p in pkts if p.haslayer(ARP) and p[ARP].op == 1 and p[ARP].pdst == FAR]


def _udp_to_far(pkts):
    return [p for p in pkts if p.haslayer(UDP) and p[IP].dst == FAR]


def test_arp_default_control():
    """Control: if_ether.c:arpresolve holds the packet and sends a request;
    in_arpinput on the reply sends the held packet."""
    k = host()
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"x", (FAR, 9))
    p = parsed(k.transmitted("em1"))
    assert len(_arp_reqs(p)) == 1 and not _udp_to_far(p)
    k.input("em1", arp_reply(FAR, FAR_MAC, HOST1, HOST1_MAC))
    p = parsed(k.transmitted("em1"))
    assert len(_udp_to_far(p)) == 1 and not _arp_reqs(p)


def test_arp_max_age_0_held_packet_requeued():
    """if_ether.c:in_arpinput: la_expire = time_uptime + 0, la_asked = 0, then
    the held packet goes to ether_output (ro NULL) -> arpresolve: VALID but
    'la_expire > time_uptime' is false -> renew (la_asked == 0): packet
    re-held, EWOULDBLOCK, callout reset to arpt_down, another arprequest.
    So the reply produces a new ARP request and not the datagram."""
    k = host()
    k.sysctl("net.link.ether.inet.max_age", 0)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.sendto(b"x", (FAR, 9))
    p = parsed(k.transmitted("em1"))
    assert len(_arp_reqs(p)) == 1
    k.input("em1", arp_reply(FAR, FAR_MAC, HOST1, HOST1_MAC))
    p = parsed(k.transmitted("em1"))
    assert len(_arp_reqs(p)) == 1
    assert _udp_to_far(p) == []


def test_arp_maxtries_0_ehostdown_then_sent():
    """if_ether.c:arpresolve: 'la_asked < V_arp_maxtries' false for 0 ->
    EHOSTDOWN (interface route, no RTF_GATEWAY), yet the packet is held and
    the request sent (renew); net/if_ethersubr.c:ether_output masks only
    EWOULDBLOCK. in_arpinput later sends the held packet; la_preempt = 0 so
    no refresh request."""
    k = host()
    k.sysctl("net.link.ether.inet.maxtries", 0)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        s.sendto(b"x", (FAR, 9))
    assert e.value.errno == errno.EHOSTDOWN
    p = parsed(k.transmitted("em1"))
    assert len(_arp_reqs(p)) == 1
    k.input("em1", arp_reply(FAR, FAR_MAC, HOST1, HOST1_MAC))
    p = parsed(k.transmitted("em1"))
    assert len(_udp_to_far(p)) == 1 and not _arp_reqs(p)


def test_arp_maxtries_minus1_preempt_storm():
    """if_ether.c: maxtries=-1 -> arpresolve returns EHOSTDOWN (0 < -1 false);
    in_arpinput: la_preempt (uint16_t) = -1 -> 65535, so arpresolve's
    'time_uptime + la_preempt > la_expire' sends an arprequest before every
    packet (held one included)."""
    k = host()
    k.sysctl("net.link.ether.inet.maxtries", -1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    with pytest.raises(OSError) as e:
        s.sendto(b"x", (FAR, 9))
    assert e.value.errno == errno.EHOSTDOWN
    k.transmitted("em1")
    k.input("em1", arp_reply(FAR, FAR_MAC, HOST1, HOST1_MAC))
    p = parsed(k.transmitted("em1"))
    kinds = ["arp" if q.haslayer(ARP) else "udp" for q in p]
    assert kinds == ["arp", "udp"]
    s.sendto(b"y", (FAR, 9))
    p = parsed(k.transmitted("em1"))
    kinds = ["arp" if q.haslayer(ARP) else "udp" for q in p]
    assert kinds == ["arp", "udp"]
