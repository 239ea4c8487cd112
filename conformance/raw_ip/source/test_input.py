"""Delivery to raw IP sockets: rip_input and rip_append (sys/netinet/raw_ip.c),
fed by ip_input (ip_input.c) and rsvp_input. Line numbers are from 9.1;
rip_input and rip_append are the same code in head of February 2011.
"""

from .common import (
    BCAST_MAC,
    EM1_MAC,
    ICMP,
    IP,
    IPPROTO_RSVP,
    PEER,
    PEER1,
    PEER1_MAC,
    UDP,
    as_raw_reader_sees,
    ip_in,
    moved,
    pending,
    raw_sock,
    settle,
    snap,
    sock,
    struct,
)


def test_header_as_a_9x_reader_sees_it(k):
    """ip_input.c 464-469 (ip_len, ip_off to host order), 743 (header length
    deducted from ip_len) -> raw_ip.c rip_input 285-288, 407-409 -> rip_append
    257-258: the socket reads the whole datagram from the IP header on, with
    ip_len = payload length and ip_off in host (little-endian) order, the
    checksum and TTL as received; the source address with port 0."""
    s = raw_sock(k)
    before = snap(k)
    out, sent = ip_in(k, ttl=9, flags="DF", id=0x1234, tos=0x20, payload=b"A" * 10)
    data, addr = pending(s)
    assert addr == (PEER, 0)
    assert data == as_raw_reader_sees(sent)
    assert data[2:4] == b"\x0a\x00" and data[6:8] == b"\x00\x40"
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}


def test_no_socket_counts_noproto_and_sends_nothing(k):
    """raw_ip.c rip_input 411-415: nobody took the datagram: ips_noproto, and
    ips_delivered (counted by ip_input.c 758) is taken back. 9.x sends no ICMP
    protocol unreachable from here."""
    before = snap(k)
    ip_in(k, proto=253)
    assert k.transmitted("em0") == []
    assert moved(k, before) == {"ips_total": 1, "ips_noproto": 1}


def test_protocol_zero_socket_hears_every_raw_protocol(k):
    """raw_ip.c rip_input 328-330: a socket of protocol 0 matches any protocol
    that reaches rip_input, here an unknown protocol and an ICMP echo reply
    (ip_icmp.c icmp_input 648-649 passes it on to rip_input)."""
    s = raw_sock(k, 0)
    ip_in(k, proto=253, payload=b"p253")
    ip_in(k, proto=1, payload=bytes(ICMP(type=0, id=7, seq=1) / b"pong"))
    d1, _ = pending(s)
    d2, _ = pending(s)
    assert (d1[9], d1[-4:]) == (253, b"p253")
    assert (d2[9], d2[-4:]) == (1, b"pong")
    assert pending(s) is None


def test_echo_request_is_not_passed_to_raw_sockets(k):
    """ip_icmp.c icmp_input 498-508, 567-572 (ICMP_ECHO: the reply is reflected,
    the request does not reach the raw: label at 648): a raw ICMP socket gets nothing."""
    s = raw_sock(k, 1)
    ip_in(k, proto=1, payload=bytes(ICMP(type=8, id=7, seq=1) / b"ping"))
    assert pending(s) is None
    assert len(k.transmitted("em0")) == 1


def test_udp_never_reaches_raw_sockets(k):
    """in_proto.c 129-137: UDP's pr_input is udp_input, which never calls rip_input;
    neither a protocol-17 nor a protocol-0 raw socket sees a UDP datagram,
    even one without a listener."""
    s17 = raw_sock(k, 17)
    s0 = raw_sock(k, 0)
    ip_in(k, proto=17, payload=bytes(UDP(sport=1, dport=7000, chksum=0) / b"u"))
    assert pending(s17) is None and pending(s0) is None


def test_bound_socket_filters_destination(k):
    """raw_ip.c rip_input 336-338: a bound socket only gets datagrams whose
    destination is its address."""
    s = raw_sock(k)
    s.bind(("192.0.2.1", 0))
    before = snap(k)
    ip_in(k, dst="198.51.100.1", src=PEER1, ifname="em1", src_mac=PEER1_MAC, dst_mac=EM1_MAC)
    assert pending(s) is None
    assert moved(k, before) == {"ips_total": 1, "ips_noproto": 1}
    ip_in(k, dst="192.0.2.1", payload=b"mine")
    assert pending(s)[0][-4:] == b"mine"


def test_connected_socket_filters_source(k):
    """raw_ip.c rip_input 339-341: a connected socket only gets datagrams from
    its foreign address."""
    s = raw_sock(k)
    s.connect((PEER1, 0))
    ip_in(k, src=PEER, payload=b"other")
    assert pending(s) is None
    ip_in(
        k,
        dst="198.51.100.1",
        src=PEER1,
        ifname="em1",
        src_mac=PEER1_MAC,
        dst_mac=EM1_MAC,
        payload=b"peer",
    )
    data, addr = pending(s)
    assert (data[-4:], addr) == (b"peer", (PEER1, 0))


def test_bound_and_connected_socket(k):
    """raw_ip.c rip_inshash 161-167 (protocol, local and foreign address set:
    hashed bucket) and rip_input 293-315: such a socket gets exactly its
    (source, destination, protocol) datagrams."""
    s = raw_sock(k)
    s.bind(("192.0.2.1", 0))
    s.connect((PEER, 0))
    ip_in(k, payload=b"match")
    ip_in(k, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"bcast")
    ip_in(k, proto=254, payload=b"proto")
    data, addr = pending(s)
    assert (data[-5:], addr) == (b"match", (PEER, 0))
    assert pending(s) is None


def test_every_matching_socket_gets_a_copy(k):
    """raw_ip.c rip_input 316-326, 394-405: each matching socket gets a copy
    (m_copy), the last one the original; ips_delivered counts the datagram
    once."""
    a = raw_sock(k, 253)
    b = raw_sock(k, 0)
    c = raw_sock(k, 253)
    c.bind(("192.0.2.1", 0))
    other = raw_sock(k, 254)
    before = snap(k)
    _, sent = ip_in(k, payload=b"copy")
    want = (as_raw_reader_sees(sent), (PEER, 0))
    assert pending(a) == want and pending(b) == want and pending(c) == want
    assert pending(other) is None
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}


def test_minttl_refusal_counts_delivered_twice(k):
    """raw_ip.c rip_append 245-247, 266-268 (IP_MINTTL above the datagram's TTL:
    not queued, returns 1) and rip_input 407-409: when the last socket refuses
    the datagram this way ips_delivered is incremented again (ip_input.c 758
    counted it once already)."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MINTTL, 100)
    before = snap(k)
    ip_in(k, ttl=99)
    assert pending(s) is None
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 2}
    before = snap(k)
    ip_in(k, ttl=100)
    assert pending(s) is not None
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}


def test_full_receive_buffer_not_counted(k):
    """raw_ip.c rip_append 256-263: when sbappendaddr_locked finds no room the
    datagram is dropped without any counter (and rip_append returns 0, so
    ips_delivered is not touched again)."""
    s = raw_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF, 100)
    before = snap(k)
    ip_in(k, payload=b"a" * 40)
    ip_in(k, payload=b"b" * 40)
    data, _ = pending(s)
    assert data[-40:] == b"a" * 40
    assert pending(s) is None
    assert moved(k, before) == {"ips_total": 2, "ips_delivered": 2}


def test_multicast_without_multicast_options(k):
    """ip_input.c 642-672: every multicast datagram is 'ours'; raw_ip.c
    rip_input 358-359: a socket without multicast options is not filtered and
    receives it although nobody joined the group."""
    s = raw_sock(k)
    ip_in(k, dst="239.1.2.3", dst_mac="01:00:5e:01:02:03", payload=b"grp")
    assert pending(s)[0][-3:] == b"grp"


def test_multicast_with_options_but_no_membership(k):
    """raw_ip.c rip_input 358-392: a socket with multicast options filters
    with imo_multi_filter; not a member -> ips_notmember and skipped; nobody
    left -> ips_noproto (411-415)."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_TTL, 4)
    before = snap(k)
    ip_in(k, dst="239.1.2.3", dst_mac="01:00:5e:01:02:03")
    assert pending(s) is None
    assert moved(k, before) == {"ips_total": 1, "ips_notmember": 1, "ips_noproto": 1}


def test_multicast_member_receives(k):
    """raw_ip.c rip_input 358-392: a member of the group on the receiving
    interface passes imo_multi_filter."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq("239.1.2.3", "192.0.2.1"))
    k.advance(5)
    ip_in(k, dst="239.1.2.3", dst_mac="01:00:5e:01:02:03", payload=b"grp")
    assert pending(s)[0][-3:] == b"grp"


def test_broadcast_delivered(k):
    """raw_ip.c rip_input 328-405: no broadcast test at all; a wildcard raw
    socket gets subnet and limited broadcasts."""
    s = raw_sock(k)
    ip_in(k, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"b1")
    ip_in(k, dst="255.255.255.255", dst_mac=BCAST_MAC, payload=b"b2")
    assert pending(s)[0][-2:] == b"b1"
    assert pending(s)[0][-2:] == b"b2"


def test_rsvp_without_daemon_is_dropped(k):
    """in_proto.c 216-224: RSVP's pr_input is rsvp_input (ip_input.c 1746-1771): while
    no socket did IP_RSVP_ON (rsvp_on 0) the datagram is freed without reaching
    rip_input, so no raw socket sees it and ips_noproto does not move."""
    r = raw_sock(k, IPPROTO_RSVP)
    w = raw_sock(k, 0)
    before = snap(k)
    ip_in(k, proto=IPPROTO_RSVP, payload=b"path")
    assert pending(r) is None and pending(w) is None
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}


def test_rsvp_with_daemon_goes_to_rip_input(k):
    """ip_input.c ip_rsvp_init 1707-1728 (IP_RSVP_ON on a raw RSVP socket sets
    ip_rsvpd and rsvp_on), rsvp_input 1760-1768: the datagram then goes to
    rip_input and to every matching raw socket; after IP_RSVP_OFF
    (ip_rsvp_done 1731-1744) it is dropped again."""
    r = raw_sock(k, IPPROTO_RSVP)
    w = raw_sock(k, 0)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)
    before = snap(k)
    ip_in(k, proto=IPPROTO_RSVP, payload=b"resv")
    assert (pending(r) or (b"",))[0][-4:] == b"resv"
    assert (pending(w) or (b"",))[0][-4:] == b"resv"
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}
    r.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_OFF, 1)
    ip_in(k, proto=IPPROTO_RSVP, payload=b"gone")
    assert pending(r) is None and pending(w) is None


def test_options_kept_in_delivered_header(k):
    """ip_input.c 743: only ip_len loses the header length; the header with its
    options (here NOPs and EOL, ip_hl 6) is delivered as it came."""
    s = raw_sock(k)
    ip = bytes(IP(src=PEER, dst="192.0.2.1", proto=253, options=b"\x01\x01\x01\x00") / b"opt")
    k.input("em0", b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x07\x08\x00" + ip)
    data, _ = pending(s)
    assert data[0] == 0x46
    assert struct.unpack("<H", data[2:4])[0] == 3
    assert data[20:24] == b"\x01\x01\x01\x00"
    settle(k)


def test_hashed_socket_is_matched_before_wildcard_sockets(k):
    """raw_ip.c rip_input 293-327 then 328-405: the bound-and-connected
    (hashed) socket is taken first, wildcard ones after it, so the last socket
    is the wildcard one; its IP_MINTTL refusal adds the second ips_delivered
    (407-409) while the hashed socket got the datagram."""
    w = raw_sock(k)
    w.setsockopt(sock.IPPROTO_IP, sock.IP_MINTTL, 100)
    h = raw_sock(k)
    h.bind(("192.0.2.1", 0))
    h.connect((PEER, 0))
    before = snap(k)
    ip_in(k, ttl=64, payload=b"hash")
    assert pending(h)[0][-4:] == b"hash"
    assert pending(w) is None
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 2}


def test_wildcard_order_follows_last_rehash(k):
    """raw_ip.c rip_inshash 168-169 inserts at the head at attach (808), bind
    (919-921) and connect (945-947): the socket hashed first is the last one
    rip_input visits. Its IP_MINTTL refusal shows as a second ips_delivered
    (407-409); once it is re-bound it moves to the head and the other socket is
    last."""
    a = raw_sock(k)
    a.setsockopt(sock.IPPROTO_IP, sock.IP_MINTTL, 100)
    b = raw_sock(k)
    before = snap(k)
    ip_in(k, ttl=64)
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 2}
    a.bind(("0.0.0.0", 0))
    before = snap(k)
    ip_in(k, ttl=64)
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}
    assert pending(b) is not None and pending(b) is not None
    assert pending(a) is None


def test_rsvp_for_other_hosts_without_daemon(k):
    """ip_input.c 551-552 is skipped while rsvp_on is 0: an RSVP datagram for
    another host is not ours and, forwarding being off, counts
    ips_cantforward (693-695)."""
    r = raw_sock(k, IPPROTO_RSVP)
    before = snap(k)
    ip_in(k, dst="203.0.113.9", proto=IPPROTO_RSVP, payload=b"path")
    assert pending(r) is None
    assert moved(k, before) == {"ips_total": 1, "ips_cantforward": 1}


def test_rsvp_daemon_takes_rsvp_for_any_destination(k):
    """ip_input.c 551-552: once a daemon socket did IP_RSVP_ON (rsvp_on set by
    ip_rsvp_init 1722-1725) every RSVP datagram is ours, whatever its
    destination, and rsvp_input 1765-1768 hands it to rip_input."""
    r = raw_sock(k, IPPROTO_RSVP)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)
    before = snap(k)
    _, sent = ip_in(k, dst="203.0.113.9", proto=IPPROTO_RSVP, payload=b"path")
    assert pending(r) == (as_raw_reader_sees(sent), (PEER, 0))
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1}
