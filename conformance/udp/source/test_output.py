"""udp_output (sys/netinet/udp_usrreq.c) and what ip_output makes of it.

Line numbers are from 9.1. The IP_TOS control message (udp_output 1015-1021)
is not in head of February 2011 and is not tested here.
"""

import pytest

from .common import (
    BCAST_MAC,
    EM0_MAC,
    EM1_MAC,
    GW_MAC,
    PEER,
    PEER1,
    PEER1_MAC,
    PEER_MAC,
    add_default,
    err,
    errno,
    expected_udp,
    frames,
    ip_id_of,
    moved,
    pending,
    pysock,
    reuseaddr,
    reuseport,
    settle,
    snap,
    sock,
    udp_sock,
)


def srcaddr(addr):
    return [(sock.IPPROTO_IP, sock.IP_SENDSRCADDR, pysock.inet_aton(addr))]


def test_unbound_sendto_frame(k):
    """udp_usrreq.c udp_output 1127-1160: an unbound socket gets an ephemeral
    port (committed, 1142-1159) while the address stays wildcard outside a jail
    (1151-1152); 1193-1238: the header (ports, length, checksum, TTL
    net.inet.ip.ttl, TOS 0). udps_opackets (1239), ips_localout (ip_output.c
    187-192). Only ip_id is not compared."""
    s = udp_sock(k)
    before = snap(k)
    assert s.sendto(b"hello", (PEER, 53)) == 5
    addr, port = s.getsockname()
    assert addr == "0.0.0.0" and 10000 <= port <= 65535
    (f,) = k.transmitted("em0")
    assert f == expected_udp(EM0_MAC, PEER_MAC, "192.0.2.1", PEER, port, 53, b"hello", ip_id_of(f))
    assert moved(k, before) == {"udps_opackets": 1, "ips_localout": 1}


def test_second_sendto_reuses_port_and_picks_source_per_destination(k):
    """udp_usrreq.c udp_output 1127-1135: with the port bound but no address,
    each sendto runs in_pcbconnect_setup again: same port, source chosen by
    in_pcbladdr for that destination (in_pcb.c 780-789)."""
    s = udp_sock(k)
    s.sendto(b"1", (PEER, 53))
    port = s.getsockname()[1]
    s.sendto(b"2", (PEER1, 53))
    (f,) = k.transmitted("em1")
    assert f == expected_udp(EM1_MAC, PEER1_MAC, "198.51.100.1", PEER1, port, 53, b"2", ip_id_of(f))


def test_bound_socket_sends_from_bound_address(k):
    """udp_usrreq.c udp_output 1161-1164: bound address and port are used as
    they are (fast path), whatever interface the route leaves by."""
    s = udp_sock(k)
    s.bind(("198.51.100.1", 7000))
    s.sendto(b"x", (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(EM0_MAC, PEER_MAC, "198.51.100.1", PEER, 7000, 53, b"x", ip_id_of(f))


def test_sendsrcaddr_on_wildcard_bound_socket(k):
    """udp_usrreq.c udp_output 1001-1013, 1079-1091: IP_SENDSRCADDR on a
    socket bound to *:7000 runs in_pcbbind_setup with the socket's own port
    (in_pcb.c 523-529: the port is not changing, so no conflict check) and
    the given local address; the datagram leaves from that address and port
    while the socket stays bound to *:7000."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    assert s.sendmsg([b"src"], srcaddr("198.51.100.1"), 0, (PEER, 53)) == 3
    (f,) = k.transmitted("em0")
    assert f == expected_udp(EM0_MAC, PEER_MAC, "198.51.100.1", PEER, 7000, 53, b"src", ip_id_of(f))
    assert s.getsockname() == ("0.0.0.0", 7000)


def test_sendsrcaddr_address_held_by_another_socket(k):
    """in_pcb.c in_pcbbind_setup 523-529, 553: with the socket's own port the
    conflict block is skipped, so IP_SENDSRCADDR may name an address another
    socket has bound with that port (in_pcbconnect_setup 1009-1015 only
    refuses a full 4-tuple match)."""
    w = udp_sock(k)
    reuseaddr(w)
    w.bind(("0.0.0.0", 7000))
    h = udp_sock(k)
    reuseaddr(h)
    h.bind(("192.0.2.1", 7000))
    w.sendmsg([b"x"], srcaddr("192.0.2.1"), 0, (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(EM0_MAC, PEER_MAC, "192.0.2.1", PEER, 7000, 53, b"x", ip_id_of(f))


def test_sendsrcaddr_unbound_socket_einval(k):
    """udp_usrreq.c udp_output 1081-1086: IP_SENDSRCADDR on a socket without a
    local port is EINVAL; nothing is sent and no port is assigned."""
    s = udp_sock(k)
    assert err(s.sendmsg, [b"x"], srcaddr("192.0.2.1"), 0, (PEER, 53)) == errno.EINVAL
    assert s.getsockname() == ("0.0.0.0", 0)
    assert k.transmitted("em0") == []


def test_sendsrcaddr_on_address_bound_socket_einval(k):
    """udp_usrreq.c udp_output 1087-1088 pass the socket's bound address to
    in_pcbbind_setup, whose first check (in_pcb.c 500-502: an address with a
    non-null sockaddr) is EINVAL."""
    s = udp_sock(k)
    s.bind(("192.0.2.1", 7000))
    assert err(s.sendmsg, [b"x"], srcaddr("192.0.2.1"), 0, (PEER, 53)) == errno.EINVAL
    assert err(s.sendmsg, [b"x"], srcaddr("198.51.100.1"), 0, (PEER, 53)) == errno.EINVAL
    assert k.transmitted("em0") == []


def test_sendsrcaddr_wildcard_address_einval(k):
    """udp_usrreq.c udp_output 1081-1086: a wildcard socket naming 0.0.0.0 is
    EINVAL."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    assert err(s.sendmsg, [b"x"], srcaddr("0.0.0.0"), 0, (PEER, 53)) == errno.EINVAL


def test_sendsrcaddr_foreign_address(k):
    """in_pcb.c in_pcbbind_setup 540-550 (reached from udp_output 1087): an
    address that is not local is EADDRNOTAVAIL."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    assert err(s.sendmsg, [b"x"], srcaddr("203.0.113.1"), 0, (PEER, 53)) == errno.EADDRNOTAVAIL
    assert k.transmitted("em0") == []


def test_sendsrcaddr_bad_length(k):
    """udp_usrreq.c udp_output 1002-1006: IP_SENDSRCADDR data must be exactly
    one struct in_addr (cmsg_len == CMSG_LEN(4)), else EINVAL."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    anc = [(sock.IPPROTO_IP, sock.IP_SENDSRCADDR, pysock.inet_aton("192.0.2.1") + bytes(4))]
    assert err(s.sendmsg, [b"x"], anc, 0, (PEER, 53)) == errno.EINVAL


def test_unknown_ip_control_message(k):
    """udp_usrreq.c udp_output 1023-1025: any other IPPROTO_IP control message
    type is ENOPROTOOPT; IP_TTL (4) here. (IP_RECVDSTADDR would not do: it
    is 7, the same number as IP_SENDSRCADDR, netinet/in.h.)"""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    anc = [(sock.IPPROTO_IP, sock.IP_TTL, bytes((1, 0, 0, 0)))]
    assert err(s.sendmsg, [b"x"], anc, 0, (PEER, 53)) == errno.ENOPROTOOPT
    assert k.transmitted("em0") == []


def test_send_buffer_limit(k):
    """uipc_socket.c sosend_dgram 1065-1073: a datagram larger than the send
    buffer (udp_attach 1427: net.inet.udp.maxdgram = 9216, udp_usrreq.c 121)
    is EMSGSIZE; 9216 bytes go out, in 7 fragments on a 1500-byte MTU."""
    assert k.sysctl("net.inet.udp.maxdgram") == 9216
    s = udp_sock(k)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 9216
    before = snap(k)
    assert err(s.sendto, b"a" * 9217, (PEER, 53)) == errno.EMSGSIZE
    assert moved(k, before) == {}
    assert s.sendto(b"a" * 9216, (PEER, 53)) == 9216
    assert len(k.transmitted("em0")) == 7


def test_ip_maxpacket_limit(k):
    """udp_usrreq.c udp_output 967-972: payload + 28 above IP_MAXPACKET
    (65535) is EMSGSIZE, before any binding."""
    s = udp_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF, 70000)
    assert err(s.sendto, b"a" * 65508, (PEER, 53)) == errno.EMSGSIZE
    assert s.getsockname() == ("0.0.0.0", 0)
    assert s.sendto(b"a" * 65507, (PEER, 53)) == 65507
    assert len(k.transmitted("em0")) == 45


def test_subnet_broadcast_needs_so_broadcast(k):
    """udp_usrreq.c udp_output 1215-1216 (IP_ALLOWBROADCAST only with
    SO_BROADCAST) and ip_output.c 460-467 (isbroadcast without IP_ALLOWBROADCAST:
    EACCES). udps_opackets is counted before ip_output (1239) even then."""
    s = udp_sock(k)
    before = snap(k)
    assert err(s.sendto, b"x", ("192.0.2.255", 9)) == errno.EACCES
    assert k.transmitted("em0") == []
    assert moved(k, before) == {"udps_opackets": 1, "ips_localout": 1}
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.sendto(b"x", ("192.0.2.255", 9))
    (f,) = k.transmitted("em0")
    port = s.getsockname()[1]
    assert f == expected_udp(
        EM0_MAC, BCAST_MAC, "192.0.2.1", "192.0.2.255", port, 9, b"x", ip_id_of(f)
    )


def test_limited_broadcast_without_route(k):
    """in_pcb.c in_pcbconnect_setup 965-971 (no rewrite: the first address is
    on lo0, which cannot broadcast) and in_pcbladdr 726-736: sendto
    255.255.255.255 with no route is ENETUNREACH; nothing counted or sent."""
    s = udp_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    before = snap(k)
    assert err(s.sendto, b"x", ("255.255.255.255", 9)) == errno.ENETUNREACH
    assert moved(k, before) == {}
    assert k.transmitted("em0") == []


def test_sendto_inaddr_any_goes_to_first_address(k):
    """in_pcb.c in_pcbconnect_setup 957-964: destination 0.0.0.0 is the first
    address of the stack (lo0's 127.0.0.1): the datagram loops back to a socket
    bound to *:7000, from 127.0.0.1."""
    r = udp_sock(k)
    r.bind(("0.0.0.0", 7000))
    s = udp_sock(k)
    s.sendto(b"any", ("0.0.0.0", 7000))
    settle(k)
    port = s.getsockname()[1]
    assert pending(r) == (b"any", ("127.0.0.1", port))
    assert k.transmitted("em0") == []


def test_ttl_and_tos_options(k):
    """udp_usrreq.c udp_output 1237-1238: IP_TTL and IP_TOS of the socket go
    into the header (ip_output.c ip_ctloutput 1000-1006)."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, 7)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0x28)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(
        EM0_MAC, PEER_MAC, "192.0.2.1", PEER, 7000, 53, b"x", ip_id_of(f), ttl=7, tos=0x28
    )


def test_ttl_follows_sysctl_at_creation(k):
    """udp_usrreq.c udp_attach 1439: a socket copies net.inet.ip.ttl when it is
    created; later changes do not reach it."""
    old = udp_sock(k)
    k.sysctl("net.inet.ip.ttl", 32)
    new = udp_sock(k)
    assert old.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 64
    assert new.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 32


def test_dontfrag_sets_df(k):
    """udp_usrreq.c udp_output 1205-1210: IP_DONTFRAG sets DF."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_DONTFRAG, 1)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(
        EM0_MAC, PEER_MAC, "192.0.2.1", PEER, 7000, 53, b"x", ip_id_of(f), flags=2
    )


def test_checksum_sysctl_off(k):
    """udp_usrreq.c udp_output 1227-1235: with net.inet.udp.checksum 0 the UDP
    checksum is left 0."""
    k.sysctl("net.inet.udp.checksum", 0)
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", (PEER, 53))
    (f,) = frames(k, "em0")
    assert f["UDP"].chksum == 0
    assert (f["UDP"].sport, f["UDP"].dport, f["UDP"].len) == (7000, 53, 9)


@pytest.mark.parametrize("how", ["sockopt", "msgflag"])
def test_dontroute_sends_ttl_one(k, how):
    """udp_usrreq.c udp_output 1213-1214 (SO_DONTROUTE, also set for one send by
    MSG_DONTROUTE: uipc_socket.c sosend_dgram 1018-1019, 1104-1108) ->
    ip_output.c 246-255 (IP_ROUTETOIF: interface route only, TTL 1)."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    if how == "sockopt":
        s.setsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE, 1)
        s.sendto(b"x", (PEER, 53))
    else:
        s.sendto(b"x", sock.MSG_DONTROUTE, (PEER, 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(
        EM0_MAC, PEER_MAC, "192.0.2.1", PEER, 7000, 53, b"x", ip_id_of(f), ttl=1
    )


def test_off_link_via_default_route(k):
    """in_pcb.c in_pcbladdr 780-789 and ip_output.c 302-303 (RTF_GATEWAY: next hop the
    gateway): the frame goes to the router's MAC."""
    add_default(k)
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", ("203.0.113.5", 53))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(
        EM0_MAC, GW_MAC, "192.0.2.1", "203.0.113.5", 7000, 53, b"x", ip_id_of(f)
    )


def test_connected_send_frame(k):
    """udp_usrreq.c udp_output 1165-1173: without a destination the connected
    peer is used."""
    s = udp_sock(k)
    s.connect((PEER1, 5353))
    port = s.getsockname()[1]
    s.send(b"peer")
    (f,) = k.transmitted("em1")
    assert f == expected_udp(
        EM1_MAC, PEER1_MAC, "198.51.100.1", PEER1, port, 5353, b"peer", ip_id_of(f)
    )


def test_sendsrcaddr_broadcast_and_multicast_sources(k):
    """in_pcb.c in_pcbbind_setup 530-551: a multicast address skips the
    local-address check and a subnet broadcast address passes it (net/if.c
    ifa_ifwithaddr_internal 1546-1554), so IP_SENDSRCADDR sends with either as
    the source (udp_output 1087-1091, 1196)."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.sendmsg([b"m"], srcaddr("239.1.2.3"), 0, (PEER, 53))
    s.sendmsg([b"b"], srcaddr("192.0.2.255"), 0, (PEER, 53))
    f1, f2 = k.transmitted("em0")
    assert f1 == expected_udp(EM0_MAC, PEER_MAC, "239.1.2.3", PEER, 7000, 53, b"m", ip_id_of(f1))
    assert f2 == expected_udp(EM0_MAC, PEER_MAC, "192.0.2.255", PEER, 7000, 53, b"b", ip_id_of(f2))


def test_onesbcast(k):
    """udp_usrreq.c udp_output 1217-1218, 1228-1231 (IP_ONESBCAST: IP_SENDONES,
    checksum over 255.255.255.255) -> ip_output.c 234-245: the subnet broadcast
    destination names the interface, the datagram goes to 255.255.255.255
    with TTL 1. It is still a broadcast: SO_BROADCAST is needed (EACCES)."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ONESBCAST, 1)
    s.bind(("0.0.0.0", 7000))
    assert err(s.sendto, b"x", ("198.51.100.255", 9)) == errno.EACCES
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.sendto(b"x", ("198.51.100.255", 9))
    (f,) = k.transmitted("em1")
    assert f == expected_udp(
        EM1_MAC, BCAST_MAC, "198.51.100.1", "255.255.255.255", 7000, 9, b"x", ip_id_of(f), ttl=1
    )


def test_onesbcast_needs_a_broadcast_destination(k):
    """ip_output.c 234-239: with IP_SENDONES a destination that is neither a
    broadcast address nor a point-to-point peer is ENETUNREACH (ips_noroute)."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ONESBCAST, 1)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    assert err(s.sendto, b"x", (PEER, 9)) == errno.ENETUNREACH
    assert moved(k, before) == {"udps_opackets": 1, "ips_localout": 1, "ips_noroute": 1}


def test_bound_socket_fast_path_skips_destination_checks(k):
    """udp_usrreq.c udp_output 1127-1164: a socket bound to an address and a
    port takes the destination as it is, without in_pcbconnect_setup, so port
    0 (refused there with EADDRNOTAVAIL, in_pcb.c 942-943) goes out; an
    unbound socket gets EADDRNOTAVAIL."""
    u = udp_sock(k)
    assert err(u.sendto, b"x", (PEER, 0)) == errno.EADDRNOTAVAIL
    s = udp_sock(k)
    s.bind(("192.0.2.1", 7000))
    assert s.sendto(b"x", (PEER, 0)) == 1
    (f,) = k.transmitted("em0")
    assert f == expected_udp(EM0_MAC, PEER_MAC, "192.0.2.1", PEER, 7000, 0, b"x", ip_id_of(f))


def test_bound_socket_limited_broadcast_without_route(k):
    """udp_usrreq.c udp_output 1127-1136: for 255.255.255.255 even a bound
    socket goes through in_pcbconnect_setup, which leaves the address as it is
    (lo0 is first and cannot broadcast, in_pcb.c 965-971) and skips source
    selection (974); ip_output then finds no route: EHOSTUNREACH and
    ips_noroute, after udps_opackets was counted."""
    s = udp_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.bind(("192.0.2.1", 7000))
    before = snap(k)
    assert err(s.sendto, b"x", ("255.255.255.255", 9)) == errno.EHOSTUNREACH
    assert moved(k, before) == {"udps_opackets": 1, "ips_localout": 1, "ips_noroute": 1}


def test_multicast_source_from_multicast_if(k):
    """in_pcb.c in_pcbconnect_setup 974-1005: for a multicast destination the
    address of the IP_MULTICAST_IF interface is the source; ip_output.c
    256-262, 330-349: the datagram leaves that interface with the socket's
    multicast TTL (1 by default)."""
    add_default(k)
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, pysock.inet_aton("198.51.100.1"))
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP, 0)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"m", ("239.1.2.3", 7000))
    assert k.transmitted("em0") == []
    (f,) = k.transmitted("em1")
    assert f == expected_udp(
        EM1_MAC,
        "01:00:5e:01:02:03",
        "198.51.100.1",
        "239.1.2.3",
        7000,
        7000,
        b"m",
        ip_id_of(f),
        ttl=1,
    )


def test_multicast_without_route_or_interface(k):
    """in_pcb.c in_pcbladdr 726-736 (no route for 239.1.2.3, no interface
    network holds it) and 981-982 (no multicast options): ENETUNREACH."""
    s = udp_sock(k)
    assert err(s.sendto, b"m", ("239.1.2.3", 7000)) == errno.ENETUNREACH


def test_send_after_shutdown_epipe(k):
    """udp_usrreq.c udp_shutdown 1597-1607 (socantsendmore) ->
    uipc_socket.c sosend_dgram 1026-1030: EPIPE; soshutdown 2315-2333 has no
    'not connected' check and refuses an unknown 'how' with EINVAL."""
    s = udp_sock(k)
    assert err(s.shutdown, 3) == errno.EINVAL
    s.shutdown(sock.SHUT_WR)
    assert err(s.sendto, b"x", (PEER, 53)) == errno.EPIPE
    assert k.transmitted("em0") == []


def test_multicast_if_overrides_missing_route(k):
    """in_pcb.c in_pcbconnect_setup 975-1007: in_pcbladdr's ENETUNREACH (no
    route to the group) is replaced by the IP_MULTICAST_IF interface's address
    (error reset at 1001), so the datagram goes out without any route
    (ip_output.c 256-262 bypasses the lookup)."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, pysock.inet_aton("198.51.100.1"))
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP, 0)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"m", ("239.1.2.3", 7000))
    (f,) = k.transmitted("em1")
    assert f == expected_udp(
        EM1_MAC,
        "01:00:5e:01:02:03",
        "198.51.100.1",
        "239.1.2.3",
        7000,
        7000,
        b"m",
        ip_id_of(f),
        ttl=1,
    )


def test_multicast_if_without_address(k):
    """in_pcb.c in_pcbconnect_setup 987-998: an IP_MULTICAST_IF interface with
    no IPv4 address gives EADDRNOTAVAIL, even when a route exists."""
    add_default(k)
    em2 = k.ifconfig("em2")
    s = udp_sock(k)
    s.setsockopt(
        sock.IPPROTO_IP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", "0.0.0.0", em2.index)
    )
    assert err(s.sendto, b"m", ("239.1.2.3", 7000)) == errno.EADDRNOTAVAIL


def test_sendto_onto_a_connected_four_tuple(k):
    """udp_usrreq.c udp_output 1127-1136 -> in_pcb.c in_pcbconnect_setup
    1009-1015: a wildcard-bound socket sending to the peer of a socket that is
    connected from the same address and port gets EADDRINUSE."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("192.0.2.1", 7000))
    a.connect((PEER, 53))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("0.0.0.0", 7000))
    assert err(b.sendto, b"x", (PEER, 53)) == errno.EADDRINUSE
    assert b.sendto(b"x", (PEER, 54)) == 1


def test_limited_broadcast_follows_default_route(k):
    """in_pcb.c in_pcbconnect_setup 965-971: 255.255.255.255 is not rewritten
    (the first address is lo0's); ip_output.c 272-307 routes it by the default
    route, whose next hop is the gateway, and in_broadcast(gateway) is false:
    no SO_BROADCAST needed, the frame goes to the gateway's MAC."""
    add_default(k)
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", ("255.255.255.255", 9))
    (f,) = k.transmitted("em0")
    assert f == expected_udp(
        EM0_MAC, GW_MAC, "192.0.2.1", "255.255.255.255", 7000, 9, b"x", ip_id_of(f)
    )
