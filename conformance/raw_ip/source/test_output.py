"""rip_output (sys/netinet/raw_ip.c) and what ip_output (ip_output.c) makes
of it, with and without IP_HDRINCL. Line numbers are from 9.1; rip_output is
the same code in head of February 2011.
"""

import pytest

from .common import (
    BCAST_MAC,
    EM0_MAC,
    GW_MAC,
    PEER,
    PEER1,
    PEER_MAC,
    add_default,
    err,
    errno,
    expected_ip,
    hdrincl,
    ip_id_of,
    moved,
    pysock,
    raw_sock,
    snap,
    sock,
    struct,
)


def inet_cksum(data):
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def on_the_wire(user, src=None, ip_id=None, ttl=None):
    """What ip_output with IP_RAWOUTPUT makes of an IP_HDRINCL buffer:
    ip_len/ip_off to network order (ip_output.c 608-609), a fresh header
    checksum (610-612); the source filled in when it was 0.0.0.0 (427-436), an
    id when it was 0 (raw_ip.c 500-501), TTL forced in the cases tested."""
    b = bytearray(user)
    hl = (b[0] & 0x0F) * 4
    b[2:4] = struct.pack("!H", struct.unpack("<H", user[2:4])[0])
    b[6:8] = struct.pack("!H", struct.unpack("<H", user[6:8])[0])
    if src is not None:
        b[12:16] = pysock.inet_aton(src)
    if ip_id is not None:
        b[4:6] = struct.pack("!H", ip_id)
    if ttl is not None:
        b[8] = ttl
    b[10:12] = b"\x00\x00"
    b[10:12] = struct.pack("!H", inet_cksum(bytes(b[:hl])))
    return bytes(b)


def eth(src_mac, dst_mac):
    return bytes.fromhex((dst_mac + src_mac).replace(":", "")) + b"\x08\x00"


def test_kernel_built_header(k):
    """raw_ip.c rip_output 435-474: header with TOS 0, ip_off 0, the socket's
    protocol, ip_len, source = bound address (0 here, filled by ip_output.c
    427-436 from the route's interface), TTL 64; ip_output 187-192 sets
    version, header length and id and counts ips_localout. ip_id is the one
    field not compared."""
    s = raw_sock(k)
    before = snap(k)
    assert s.sendto(b"payload!", (PEER, 0)) == 8
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        PEER_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst=PEER,
        proto=253,
        ttl=64,
        payload=b"payload!",
    )
    assert moved(k, before) == {"ips_localout": 1}


def test_protocol_zero_socket_sends_protocol_zero(k):
    """raw_ip.c rip_attach 806, rip_output 451: ip_p is the socket's protocol,
    0 for a socket created with protocol 0."""
    s = raw_sock(k, 0)
    s.sendto(b"zero", (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC, PEER_MAC, ip_id_of(f), src="192.0.2.1", dst=PEER, proto=0, ttl=64, payload=b"zero"
    )


def test_ipproto_raw_socket_does_not_imply_hdrincl(k):
    """raw_ip.c rip_attach 806 and rip_output 435-474: an IPPROTO_RAW (255)
    socket without IP_HDRINCL gets a kernel-built header with protocol 255; the
    data is its payload."""
    s = raw_sock(k, sock.IPPROTO_RAW)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL) == 0
    s.sendto(b"data", (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        PEER_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst=PEER,
        proto=255,
        ttl=64,
        payload=b"data",
    )


def test_tos_ttl_dontfrag(k):
    """raw_ip.c rip_output 446-450, 474: IP_TOS, IP_DONTFRAG (DF) and IP_TTL
    of the socket."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0xB8)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, 3)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_DONTFRAG, 1)
    s.sendto(b"x", (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        PEER_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst=PEER,
        proto=253,
        ttl=3,
        tos=0xB8,
        flags="DF",
        payload=b"x",
    )


def test_bound_socket_source(k):
    """raw_ip.c rip_output 453: the source is the bound address even when the
    datagram leaves by another interface."""
    s = raw_sock(k)
    s.bind(("198.51.100.1", 0))
    s.sendto(b"x", (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        PEER_MAC,
        ip_id_of(f),
        src="198.51.100.1",
        dst=PEER,
        proto=253,
        ttl=64,
        payload=b"x",
    )


def test_broadcast_without_so_broadcast(k):
    """raw_ip.c rip_output 428-429: IP_ALLOWBROADCAST is always passed, so a
    raw socket sends to a broadcast address without SO_BROADCAST."""
    s = raw_sock(k)
    s.sendto(b"x", ("192.0.2.255", 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        BCAST_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst="192.0.2.255",
        proto=253,
        ttl=64,
        payload=b"x",
    )


def test_send_buffer_and_maxpacket_limits(k):
    """uipc_socket.c sosend_generic 1241-1245 (a write above the 9216-byte send
    buffer is EMSGSIZE); raw_ip.c rip_output 436-438 (payload + 20 above
    IP_MAXPACKET: EMSGSIZE); 476-478 (IP_HDRINCL: more than IP_MAXPACKET)."""
    s = raw_sock(k)
    assert err(s.sendto, b"a" * 9217, (PEER, 0)) == errno.EMSGSIZE
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF, 70000)
    before = snap(k)
    assert err(s.sendto, b"a" * 65516, (PEER, 0)) == errno.EMSGSIZE
    assert moved(k, before) == {}
    assert s.sendto(b"a" * 65515, (PEER, 0)) == 65515
    assert len(k.transmitted("em0")) == 45
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    big = hdrincl("192.0.2.1", PEER, payload=b"a" * (65536 - 20), ip_len=65535)
    assert err(s.sendto, big, (PEER, 0)) == errno.EMSGSIZE


def test_hdrincl_header_fields(k):
    """raw_ip.c rip_output 475-508: the caller's header is used with ip_len and
    ip_off in host order; ip_id 0 is replaced (500-501), TTL and TOS are kept,
    the source 0.0.0.0 is filled in by ip_output (427-436), the checksum is
    recomputed; ips_rawout, not ips_localout (ip_output.c 187-192). ip_id is
    the one field not compared."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("0.0.0.0", PEER, ttl=33, tos=0x10, ip_id=0, ip_off=0x4000, cksum=0xDEAD)
    before = snap(k)
    assert s.sendto(user, (PEER, 0)) == len(user)
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user, src="192.0.2.1", ip_id=ip_id_of(f))
    assert f[14 + 2 : 14 + 4] == b"\x00\x1c" and f[14 + 6 : 14 + 8] == b"\x40\x00"
    assert moved(k, before) == {"ips_rawout": 1}


def test_hdrincl_nonzero_id_and_source_kept(k):
    """raw_ip.c rip_output 500-501: a non-zero ip_id is kept; ip_output.c
    427-436 leaves a non-zero source alone (any address, here one of em1's,
    out of em0)."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("198.51.100.1", PEER, ip_id=0xBEEF)
    s.sendto(user, (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user)


def test_hdrincl_destination_comes_from_the_header(k):
    """raw_ip.c rip_output 475-508: with IP_HDRINCL the address given to sendto
    is not used; ip_output routes by the header's ip_dst."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("192.0.2.1", PEER, ip_id=1)
    s.sendto(user, (PEER1, 0))
    assert k.transmitted("em1") == []
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user)


def test_hdrincl_network_order_length_einval(k):
    """raw_ip.c rip_output 493-498: ip_len is read in host order; a
    network-order 28 reads as 7168 on amd64, more than was written: EINVAL,
    nothing counted."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = bytearray(hdrincl("192.0.2.1", PEER))
    user[2:4] = struct.pack("!H", len(user))
    before = snap(k)
    assert err(s.sendto, bytes(user), (PEER, 0)) == errno.EINVAL
    assert moved(k, before) == {}
    assert k.transmitted("em0") == []


def test_hdrincl_length_shorter_than_header_einval(k):
    """raw_ip.c rip_output 495: ip_len below ip_hl * 4 is EINVAL."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    assert err(s.sendto, hdrincl("192.0.2.1", PEER, ip_len=19), (PEER, 0)) == errno.EINVAL


def test_hdrincl_bytes_past_ip_len_still_sent(k):
    """raw_ip.c rip_output 494 only refuses ip_len above the write; a shorter
    ip_len passes and ip_output (189-219) hands the whole mbuf to the
    interface: the extra bytes follow the datagram in the frame."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("192.0.2.1", PEER, payload=b"12345678", ip_len=24, ip_id=2)
    s.sendto(user, (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user)
    assert len(f) == 14 + 28


def test_hdrincl_options_with_ip_options_einval(k):
    """raw_ip.c rip_output 493: a header longer than 20 bytes while the socket
    has IP_OPTIONS is EINVAL; without IP_OPTIONS it is sent as written."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("192.0.2.1", PEER, ihl=6, options=b"\x01\x01\x01\x00", ip_id=3)
    s.sendto(user, (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, b"\x01\x01\x01\x00")
    assert err(s.sendto, user, (PEER, 0)) == errno.EINVAL
    plain = hdrincl("192.0.2.1", PEER, ip_id=4)
    assert s.sendto(plain, (PEER, 0)) == len(plain)


def test_hdrincl_multicast_ttl(k):
    """ip_output.c 330-349: for a multicast destination the TTL is the socket's
    multicast TTL, IP_DEFAULT_MULTICAST_TTL (1) without multicast options, even
    for an IP_HDRINCL header."""
    add_default(k)
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("192.0.2.1", "239.1.2.3", ttl=33, ip_id=5)
    s.sendto(user, ("239.1.2.3", 0))
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, "01:00:5e:01:02:03") + on_the_wire(user, ttl=1)


def test_hdrincl_dontroute_ttl_one(k):
    """raw_ip.c rip_output 428 (SO_DONTROUTE: IP_ROUTETOIF) -> ip_output.c
    246-255: TTL 1, even in a caller's header."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE, 1)
    user = hdrincl("192.0.2.1", PEER, ttl=33, ip_id=6)
    s.sendto(user, (PEER, 0))
    (f,) = k.transmitted("em0")
    assert f == eth(EM0_MAC, PEER_MAC) + on_the_wire(user, ttl=1)


def test_hdrincl_df_too_big(k):
    """ip_output.c 605-646: DF (host-order ip_off) on a datagram larger than the
    MTU is EMSGSIZE and ips_cantfrag; ips_rawout was counted (raw_ip.c 507)."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    user = hdrincl("192.0.2.1", PEER, payload=b"a" * 1600, ip_off=0x4000)
    before = snap(k)
    assert err(s.sendto, user, (PEER, 0)) == errno.EMSGSIZE
    assert moved(k, before) == {"ips_rawout": 1, "ips_cantfrag": 1}
    assert k.transmitted("em0") == []


def test_hdrincl_loopback_source_on_wire(k):
    """ip_output.c 577-585 (passout: 127/8 must not leave a non-loopback interface):
    EADDRNOTAVAIL and ips_badaddr, after raw_ip.c 507 counted ips_rawout."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    before = snap(k)
    assert err(s.sendto, hdrincl("127.0.0.1", PEER), (PEER, 0)) == errno.EADDRNOTAVAIL
    assert moved(k, before) == {"ips_rawout": 1, "ips_badaddr": 1}
    assert k.transmitted("em0") == []


@pytest.mark.parametrize("dst, err_want", [(PEER, 0), ("203.0.113.5", errno.ENETUNREACH)])
def test_dontroute(k, dst, err_want):
    """raw_ip.c rip_output 428 -> ip_output.c 246-255: SO_DONTROUTE sends to an
    on-link destination with TTL 1; an off-link one is ENETUNREACH (ips_noroute)
    even with a default route."""
    add_default(k)
    s = raw_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE, 1)
    before = snap(k)
    assert err(s.sendto, b"x", (dst, 0)) == err_want
    if err_want:
        assert moved(k, before) == {"ips_localout": 1, "ips_noroute": 1}
        assert k.transmitted("em0") == []
    else:
        (f,) = k.transmitted("em0")
        assert f == expected_ip(
            EM0_MAC,
            PEER_MAC,
            ip_id_of(f),
            src="192.0.2.1",
            dst=PEER,
            proto=253,
            ttl=1,
            payload=b"x",
        )


def test_off_link_via_gateway(k):
    """ip_output.c 272-307: through the default route the frame goes to the
    gateway's MAC with the route's interface address as source."""
    add_default(k)
    s = raw_sock(k)
    s.sendto(b"x", ("203.0.113.5", 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        GW_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst="203.0.113.5",
        proto=253,
        ttl=64,
        payload=b"x",
    )


def test_limited_broadcast_follows_default_route(k):
    """ip_output.c 272-307: 255.255.255.255 is routed by the default route;
    the next hop is the gateway and in_broadcast(gateway) is false, so the
    frame goes to the gateway's MAC."""
    add_default(k)
    s = raw_sock(k)
    s.sendto(b"x", ("255.255.255.255", 0))
    (f,) = k.transmitted("em0")
    assert f == expected_ip(
        EM0_MAC,
        GW_MAC,
        ip_id_of(f),
        src="192.0.2.1",
        dst="255.255.255.255",
        proto=253,
        ttl=64,
        payload=b"x",
    )


def test_limited_broadcast_without_route(k):
    """ip_output.c 272-297: without a route 255.255.255.255 is EHOSTUNREACH
    (ips_noroute); raw sockets do no source selection of their own."""
    s = raw_sock(k)
    before = snap(k)
    assert err(s.sendto, b"x", ("255.255.255.255", 0)) == errno.EHOSTUNREACH
    assert moved(k, before) == {"ips_localout": 1, "ips_noroute": 1}
