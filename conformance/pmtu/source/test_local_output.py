"""ip_output() for datagrams the host originates: MTU choice, DF, fragments.

Line numbers: FreeBSD 9.1 sys/netinet/ip_output.c unless noted; the Feb 2011
head has the same code for every rule used here.
"""

from .common import (
    FAR,
    GW,
    GW_MAC,
    IP_DF,
    IP_MF,
    LOCAL0,
    LOCAL1,
    PEER,
    PEER1,
    PEER1_MAC,
    PEER_MAC,
    Counters,
    assert_frame,
    errno,
    ether,
    hdrincl,
    ip_id,
    ipv4,
    make_kernel,
    oserr,
    sock,
    udp,
)


def udp_socket(k, port=5000, dontfrag=False):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    if dontfrag:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_DONTFRAG, 1)
    return s


def test_udp_dontfrag_too_big_is_emsgsize(host):
    """udp_usrreq.c udp_output 1205-1210 sets IP_DF for IP_DONTFRAG; ip_output
    642-646: a datagram over the MTU with DF fails with EMSGSIZE and counts
    ips_cantfrag; ips_localout (191) and udps_opackets were already counted."""
    s = udp_socket(host, dontfrag=True)
    c = Counters(host)
    assert oserr(s.sendto, b"x" * 1473, (PEER, 9)) == errno.EMSGSIZE
    assert c.delta() == {"ips_localout": 1, "ips_cantfrag": 1, "udps_opackets": 1}
    assert host.transmitted("em0") == []


def test_udp_dontfrag_that_fits_goes_out_with_df(host):
    """udp_output 1205-1210: IP_DONTFRAG puts IP_DF in the header; 1472 bytes
    of data make a 1500-byte datagram, which fits (ip_output 605-631)."""
    s = udp_socket(host, dontfrag=True)
    data = bytes(range(256)) * 5 + b"y" * (1472 - 1280)
    assert s.sendto(data, (PEER, 9)) == 1472
    (f,) = host.transmitted("em0")
    exp = ipv4(LOCAL0, PEER, 17, udp(LOCAL0, PEER, 5000, 9, data), ident=ip_id(f), off=IP_DF)
    assert_frame(f, ether(PEER_MAC, host.iface("em0").ether, exp))


def test_udp_without_dontfrag_is_fragmented(host):
    """ip_fragment 702-868: payload per fragment (1500-20)&~7 = 1480; the
    first fragment gets MF (855), the last none (816-818); offsets in 8-byte
    units (815); ips_ofragments += 2 (842), ips_fragmented once (678)."""
    s = udp_socket(host)
    data = bytes(i & 0xFF for i in range(2000))
    c = Counters(host)
    s.sendto(data, (PEER, 9))
    frames = host.transmitted("em0")
    assert len(frames) == 2
    ident = ip_id(frames[0])
    u = udp(LOCAL0, PEER, 5000, 9, data)
    src = host.iface("em0").ether
    exp1 = ipv4(LOCAL0, PEER, 17, u[:1480], ident=ident, off=IP_MF)
    exp2 = ipv4(LOCAL0, PEER, 17, u[1480:], ident=ident, off=185)
    assert_frame(frames[0], ether(PEER_MAC, src, exp1))
    assert_frame(frames[1], ether(PEER_MAC, src, exp2))
    assert c.delta() == {
        "ips_localout": 1,
        "ips_fragmented": 1,
        "ips_ofragments": 2,
        "udps_opackets": 1,
    }


def test_raw_dontfrag_too_big_is_emsgsize(host):
    """raw_ip.c rip_output 447-450: IP_DONTFRAG gives the built header IP_DF;
    ip_output 642-646 then refuses a datagram over the MTU."""
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_DONTFRAG, 1)
    c = Counters(host)
    assert oserr(s.sendto, b"r" * 1481, (PEER, 0)) == errno.EMSGSIZE
    assert c.delta() == {"ips_localout": 1, "ips_cantfrag": 1}
    assert host.transmitted("em0") == []


def test_raw_hdrincl_df_too_big_is_emsgsize(host):
    """rip_output 435, 476-507: with IP_HDRINCL the caller's header is used as is
    (IP_RAWOUTPUT, ips_rawout, no ips_localout: ip_output 187-195); its DF
    makes ip_output 642-646 fail with EMSGSIZE."""
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    pkt = hdrincl(host, LOCAL0, PEER, b"h" * 1481, off=IP_DF)
    c = Counters(host)
    assert oserr(s.sendto, pkt, (PEER, 0)) == errno.EMSGSIZE
    assert c.delta() == {"ips_rawout": 1, "ips_cantfrag": 1}
    assert host.transmitted("em0") == []


def test_raw_hdrincl_fragments_copy_only_copied_options(host):
    """ip_fragment 702-868 with a 32-byte header (NOP, a full Record Route,
    SATNET stream id): the payload unit stays (1500-32)&~7 = 1464 for every
    fragment (707, 787-841); later fragments carry ip_optcopy's header
    (ip_options.c 539-575: NOP kept, RR dropped (not 'copied'), stream id
    kept, EOL padding to 4) so they are 28 + 1464 bytes; the first keeps all
    options. The caller's ip_id is kept (rip_output 500-501, IP_RAWOUTPUT 506)."""
    opts = b"\x01" + b"\x07\x07\x08\x00\x00\x00\x00" + b"\x88\x04\x12\x34"
    payload = bytes((i * 7) & 0xFF for i in range(3000))
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    c = Counters(host)
    s.sendto(hdrincl(host, LOCAL0, PEER, payload, ident=0x1234, options=opts), (PEER, 0))
    frames = host.transmitted("em0")
    src = host.iface("em0").ether
    later = b"\x01\x88\x04\x12\x34\x00\x00\x00"
    exp = [
        ipv4(LOCAL0, PEER, 253, payload[:1464], ident=0x1234, off=IP_MF, options=opts),
        ipv4(LOCAL0, PEER, 253, payload[1464:2928], ident=0x1234, off=IP_MF | 183, options=later),
        ipv4(LOCAL0, PEER, 253, payload[2928:], ident=0x1234, off=366, options=later),
    ]
    assert len(frames) == 3
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER_MAC, src, e))
    assert c.delta() == {"ips_rawout": 1, "ips_fragmented": 1, "ips_ofragments": 3}


def test_raw_hdrincl_fragment_offsets_add_to_original_offset(host):
    """ip_fragment 815: each later fragment's ip_off is its own offset *plus*
    the original ip_off, flags included, so a datagram that was itself a
    non-last fragment (MF, offset 10) yields fragments at 10 and 10+185, all
    with MF (the last one gets MF from the original ip_off)."""
    payload = bytes((i * 3) & 0xFF for i in range(2000))
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    s.sendto(hdrincl(host, LOCAL0, PEER, payload, ident=0x0BAD, off=IP_MF | 10), (PEER, 0))
    frames = host.transmitted("em0")
    src = host.iface("em0").ether
    exp = [
        ipv4(LOCAL0, PEER, 253, payload[:1480], ident=0x0BAD, off=IP_MF | 10),
        ipv4(LOCAL0, PEER, 253, payload[1480:], ident=0x0BAD, off=IP_MF | 195),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER_MAC, src, e))


def test_route_mtu_below_interface_mtu_is_used(host):
    """ip_output 314-327: with a route, the MTU is the route's rmx_mtu (1280,
    set by route add -mtu; in_rmx.c in_addroute 107-108 only fills a zero);
    the payload unit is (1280-20)&~7 = 1256."""
    host.route_add("203.0.113.0/24", GW, mtu=1280)
    s = udp_socket(host)
    data = bytes(i & 0xFF for i in range(1400))
    s.sendto(data, (FAR, 9))
    frames = host.transmitted("em0")
    u = udp(LOCAL0, FAR, 5000, 9, data)
    src = host.iface("em0").ether
    ident = ip_id(frames[0])
    exp = [
        ipv4(LOCAL0, FAR, 17, u[:1256], ident=ident, off=IP_MF),
        ipv4(LOCAL0, FAR, 17, u[1256:], ident=ident, off=157),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(GW_MAC, src, e))


def test_interface_mtu_below_route_mtu_wins(host):
    """ip_output 321-323: a route MTU above the interface MTU is lowered to
    it before use, so the effective MTU is min(route, interface) = 1300
    (payload unit 1280)."""
    host.route_add("203.0.113.0/24", GW, mtu=1400)
    host.ifconfig("em0", mtu=1300)
    s = udp_socket(host)
    data = bytes(i & 0xFF for i in range(1400))
    s.sendto(data, (FAR, 9))
    frames = host.transmitted("em0")
    u = udp(LOCAL0, FAR, 5000, 9, data)
    src = host.iface("em0").ether
    ident = ip_id(frames[0])
    exp = [
        ipv4(LOCAL0, FAR, 17, u[:1280], ident=ident, off=IP_MF),
        ipv4(LOCAL0, FAR, 17, u[1280:], ident=ident, off=160),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(GW_MAC, src, e))


def test_route_mtu_is_lowered_only_when_the_route_is_used(host):
    """ip_output 321-322 is the only place that reconciles a route with its
    interface MTU (if.c ifhwioctl SIOCSIFMTU 2295-2319 touches no IPv4
    route), so after ifconfig mtu 1300 the route still reports 1400 until a
    datagram uses it, then 1300."""
    host.route_add("203.0.113.0/24", GW, mtu=1400)
    host.ifconfig("em0", mtu=1300)
    assert host.route_get(FAR).mtu == 1400
    udp_socket(host).sendto(b"small", (FAR, 9))
    assert host.route_get(FAR).mtu == 1300


def test_raising_interface_mtu_does_not_raise_route_mtu(host):
    """ip_output 321-322 lowers rmx_mtu permanently; nothing raises it again
    (if.c 2295-2319), so after em1 goes 1500 -> 1400 -> 1500 and one send in
    between, a 1450-byte datagram to the connected net is still fragmented
    at 1400 (payload unit 1376)."""
    host.ifconfig("em1", mtu=1400)
    s = udp_socket(host)
    s.sendto(b"small", (PEER1, 9))
    host.transmitted("em1")
    host.ifconfig("em1", mtu=1500)
    assert host.route_get(PEER1).mtu == 1400
    data = bytes(i & 0xFF for i in range(1422))
    s.sendto(data, (PEER1, 9))
    frames = host.transmitted("em1")
    u = udp(LOCAL1, PEER1, 5000, 9, data)
    src = host.iface("em1").ether
    ident = ip_id(frames[0])
    exp = [
        ipv4(LOCAL1, PEER1, 17, u[:1376], ident=ident, off=IP_MF),
        ipv4(LOCAL1, PEER1, 17, u[1376:], ident=ident, off=172),
    ]
    assert len(frames) == 2
    for f, e in zip(frames, exp, strict=True):
        assert_frame(f, ether(PEER1_MAC, src, e))


def test_connected_route_mtu_comes_from_interface_at_creation():
    """in_rmx.c in_addroute 107-108: a route added without an MTU takes the
    interface MTU at that moment; an interface configured with mtu 1400
    before its address gets a 1400 connected route."""
    k = make_kernel()
    k.ifconfig("em2", "10.9.0.1/24", mtu=1400)
    assert k.route_get("10.9.0.7").mtu == 1400
    assert k.route_get(PEER).mtu == 1500


def test_mtu_leaving_less_than_8_bytes_is_emsgsize_without_cantfrag(host):
    """ip_fragment 707 + 719-723: when (mtu - hlen) & ~7 is below 8 the datagram
    cannot be split and EMSGSIZE is returned without ips_cantfrag (that
    counter is only bumped for DF, 642-646 and 712-715); ip_output 652-654."""
    host.route_add("203.0.113.9", GW, mtu=24)
    s = udp_socket(host)
    c = Counters(host)
    assert oserr(s.sendto, b"z" * 100, ("203.0.113.9", 9)) == errno.EMSGSIZE
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}
    assert host.transmitted("em0") == []


def test_broadcast_too_big_is_emsgsize_even_without_df(host):
    """ip_output 460-476: broadcasts are never fragmented: over the MTU ->
    EMSGSIZE (469-472) although DF is clear; no ips_cantfrag."""
    s = udp_socket(host)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    c = Counters(host)
    assert oserr(s.sendto, b"b" * 1473, ("192.0.2.255", 9)) == errno.EMSGSIZE
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}
    assert host.transmitted("em0") == []


def test_broadcast_without_so_broadcast_is_eacces(host):
    """ip_output 465-467: a broadcast destination without IP_ALLOWBROADCAST
    (udp_output sets it only for SO_BROADCAST, udp_usrreq.c 1215-1216) is
    refused with EACCES."""
    s = udp_socket(host)
    c = Counters(host)
    assert oserr(s.sendto, b"b", ("192.0.2.255", 9)) == errno.EACCES
    assert c.delta() == {"ips_localout": 1, "udps_opackets": 1}
    assert host.transmitted("em0") == []


def test_loopback_source_on_the_wire_is_eaddrnotavail(host):
    """ip_output 577-584: a 127/8 source leaving a non-loopback interface is
    refused: EADDRNOTAVAIL and ips_badaddr."""
    s = host.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    c = Counters(host)
    pkt = hdrincl(host, "127.0.0.1", PEER, b"loopsrc!")
    assert oserr(s.sendto, pkt, (PEER, 0)) == errno.EADDRNOTAVAIL
    assert c.delta() == {"ips_rawout": 1, "ips_badaddr": 1}
    assert host.transmitted("em0") == []


def test_no_route_is_ehostunreach():
    """ip_output 280-296: no route for the destination -> ips_noroute and
    EHOSTUNREACH (raw socket: rip_output does no source selection)."""
    k = make_kernel()
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    c = Counters(k)
    assert oserr(s.sendto, b"noroute", (FAR, 0)) == errno.EHOSTUNREACH
    assert c.delta() == {"ips_localout": 1, "ips_noroute": 1}
