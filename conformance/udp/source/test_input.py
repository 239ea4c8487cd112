"""udp_input and udp_append (sys/netinet/udp_usrreq.c), with the lookups of
in_pcb.c. Line numbers are from 9.1; head of February 2011 agrees on these
rules (only locking and the tunnel hook moved).
"""

import struct

from .common import (
    BCAST_MAC,
    EM0_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    UDP,
    Ether,
    moved,
    pending,
    reuseaddr,
    reuseport,
    snap,
    sock,
    udp_in,
    udp_sock,
)


def test_delivery_and_counters(k):
    """udp_usrreq.c udp_input 349 (udps_ipackets), 581-583 (wildcard lookup),
    618 -> udp_append 318-330: the payload and the sender's address and port
    reach the socket; ip_input.c 758 counts ips_delivered."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, sport=1234, payload=b"hello")
    assert pending(s) == (b"hello", (PEER, 1234))
    assert moved(k, before) == {"ips_total": 1, "ips_delivered": 1, "udps_ipackets": 1}


def test_port_unreachable_frame(k):
    """udp_usrreq.c udp_input 584-606: no socket -> udps_noport and
    icmp_error(ICMP_UNREACH, ICMP_UNREACH_PORT) with the saved header restored
    (603-604). ip_icmp.c icmp_error 246-297: quote = IP header + 8 bytes, the
    quoted ip_len/ip_off back in network order, i.e. the original bytes;
    311-316: outer header tos 0, protocol ICMP; icmp_reflect 680-695, 775: the
    source is the address the datagram was sent to, TTL net.inet.ip.ttl.
    ip_id is the one field not compared."""
    before = snap(k)
    orig = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src=PEER, dst="192.0.2.1", ttl=61, id=0x4242, tos=0x10)
        / UDP(sport=40000, dport=7000)
        / b"payload!"
    )
    k.input("em0", bytes(orig))
    quote = bytes(orig)[14 : 14 + 28]
    (f,) = k.transmitted("em0")
    ip_id = struct.unpack("!H", f[18:20])[0]
    want = bytes(
        Ether(src=EM0_MAC, dst=PEER_MAC)
        / IP(src="192.0.2.1", dst=PEER, ttl=64, tos=0, id=ip_id, proto=1)
        / ICMP(type=3, code=3)
        / quote
    )
    assert f == want
    m = moved(k, before)
    assert (m["udps_ipackets"], m["udps_noport"]) == (1, 1)
    assert "udps_noportbcast" not in m


def test_blackhole_silences_port_unreachable(k):
    """udp_usrreq.c udp_input 599-600: net.inet.udp.blackhole drops the datagram
    without an ICMP error; udps_noport still counts (594)."""
    k.sysctl("net.inet.udp.blackhole", 1)
    before = snap(k)
    udp_in(k, 7000)
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1, "udps_noport": 1}


def test_bad_checksum(k):
    """udp_usrreq.c udp_input 416-440: a non-zero checksum that does not verify
    is udps_badsum and the datagram is dropped before any lookup (no ICMP)."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, chksum=0x1234)
    udp_in(k, 7001, chksum=0x1234)
    assert pending(s) is None
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 2, "udps_badsum": 2}


def test_zero_checksum_accepted(k):
    """udp_usrreq.c udp_input 441-442: checksum 0 means none: udps_nosum and
    the datagram is delivered."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, chksum=0, payload=b"nosum")
    assert pending(s) == (b"nosum", (PEER, 40000))
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1, "udps_nosum": 1}


def test_udp_length_larger_than_ip_payload(k):
    """udp_usrreq.c udp_input 394-399: uh_ulen above the IP payload length is
    udps_badlen; dropped, no ICMP."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, len=8 + 5, chksum=0, payload=b"abcd")
    udp_in(k, 7001, len=8 + 5, chksum=0, payload=b"abcd")
    assert pending(s) is None
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 2, "udps_badlen": 2}


def test_udp_length_below_header(k):
    """udp_usrreq.c udp_input 396-398: uh_ulen below 8 is udps_badlen."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, len=7, chksum=0, payload=b"abcd")
    assert pending(s) is None
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1, "udps_badlen": 1}


def test_udp_length_shorter_than_ip_payload_trims(k):
    """udp_usrreq.c udp_input 395-401: a uh_ulen shorter than the IP payload
    trims the datagram to uh_ulen (m_adj); the socket gets uh_ulen - 8 bytes."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    udp_in(k, 7000, len=8 + 3, chksum=0, payload=b"abcdefgh")
    assert pending(s) == (b"abc", (PEER, 40000))


def test_checksum_covers_udp_length_only(k):
    """udp_usrreq.c udp_input 430-433: the checksum is computed over uh_ulen
    (+ the pseudo header), so trailing bytes past uh_ulen do not matter."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    good = bytes(IP(src=PEER, dst="192.0.2.1") / UDP(sport=40000, dport=7000) / b"abc")[20:]
    f = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src=PEER, dst="192.0.2.1", proto=17)
        / (good + b"junk")
    )
    before = snap(k)
    k.input("em0", bytes(f))
    assert pending(s) == (b"abc", (PEER, 40000))
    assert "udps_badsum" not in moved(k, before)


def test_destination_port_zero_dropped(k):
    """udp_usrreq.c udp_input 377-378: destination port 0 is dropped
    silently: only udps_ipackets moves, no ICMP."""
    before = snap(k)
    udp_in(k, 0)
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1}


def test_truncated_header(k):
    """udp_usrreq.c udp_input 365-369: fewer than 8 bytes after the IP header:
    m_pullup fails, udps_hdrops."""
    f = Ether(src=PEER_MAC, dst=EM0_MAC) / IP(src=PEER, dst="192.0.2.1", proto=17) / b"\x9c\x40\x1b"
    before = snap(k)
    k.input("em0", bytes(f))
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1, "udps_hdrops": 1}


def test_broadcast_without_socket(k):
    """udp_usrreq.c udp_input 444-445, 528-538: a broadcast nobody takes is
    udps_noportbcast only (not udps_noport) and never answered."""
    before = snap(k)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC)
    udp_in(k, 7000, dst="255.255.255.255", dst_mac=BCAST_MAC)
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {
        "udps_ipackets": 2,
        "udps_noportbcast": 2,
    }


def test_broadcast_skips_socket_bound_to_unicast_address(k):
    """udp_usrreq.c udp_input 458-460: a socket bound to 192.0.2.1 does not
    match a datagram to 192.0.2.255 or 255.255.255.255; the wildcard one does."""
    w = udp_sock(k)
    w.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseaddr(b)
    b.bind(("192.0.2.1", 7000))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"subnet")
    udp_in(k, 7000, dst="255.255.255.255", dst_mac=BCAST_MAC, payload=b"limited")
    assert pending(w) == (b"subnet", (PEER, 40000))
    assert pending(w) == (b"limited", (PEER, 40000))
    assert pending(b) is None


def test_broadcast_to_every_sharing_socket(k):
    """udp_usrreq.c udp_input 451-526: every matching socket gets a copy while
    the matched socket has SO_REUSEPORT or SO_REUSEADDR."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"both")
    assert pending(a) == (b"both", (PEER, 40000))
    assert pending(b) == (b"both", (PEER, 40000))
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1}


def test_broadcast_scan_stops_at_socket_without_reuse(k):
    """udp_usrreq.c udp_input 451, 523-525: the list is scanned newest socket
    first (in_pcb.c in_pcballoc 303 inserts at the head) and stops after a
    matching socket without SO_REUSEPORT/SO_REUSEADDR. Clearing the option on
    the newer socket leaves the older one without the datagram; clearing it
    on the older one does not."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("0.0.0.0", 7000))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("0.0.0.0", 7000))
    a.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"one")
    assert pending(a) == (b"one", (PEER, 40000))
    assert pending(b) == (b"one", (PEER, 40000))
    b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"two")
    assert pending(b) == (b"two", (PEER, 40000))
    assert pending(a) is None


def test_connected_socket_misses_broadcast_from_its_peer(k):
    """in_pcb.c in_pcbconnect_mbuf 659-661: connect latched 192.0.2.1 as the
    local address, so udp_usrreq.c udp_input 458-460 skips the socket for a
    subnet broadcast even from its peer; the wildcard sharer gets it."""
    w = udp_sock(k)
    reuseport(w)
    w.bind(("0.0.0.0", 7000))
    c = udp_sock(k)
    reuseport(c)
    c.bind(("0.0.0.0", 7000))
    c.connect((PEER, 40000))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"bc")
    assert pending(c) is None
    assert pending(w) == (b"bc", (PEER, 40000))


def test_link_broadcast_unicast_without_socket(k):
    """udp_usrreq.c udp_input 594-597: a unicast IP datagram that came in a
    link-level broadcast (M_BCAST) and finds no socket counts udps_noport and
    udps_noportbcast and gets no ICMP error."""
    before = snap(k)
    udp_in(k, 7000, dst_mac=BCAST_MAC)
    assert k.transmitted("em0") == []
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {
        "udps_ipackets": 1,
        "udps_noport": 1,
        "udps_noportbcast": 1,
    }


def test_full_receive_buffer(k):
    """udp_usrreq.c udp_append 323-328: when sbappendaddr_locked finds no room
    (sockaddr 16 + data) the datagram is dropped and udps_fullsock counted."""
    s = udp_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF, 100)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, payload=b"a" * 50)
    udp_in(k, 7000, payload=b"b" * 50)
    assert pending(s) == (b"a" * 50, (PEER, 40000))
    assert pending(s) is None
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 2, "udps_fullsock": 1}


def test_minttl_drops_silently(k):
    """udp_usrreq.c udp_input 613-617: a datagram whose TTL is below the
    socket's IP_MINTTL is freed without a counter of its own."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MINTTL, 100)
    s.bind(("0.0.0.0", 7000))
    before = snap(k)
    udp_in(k, 7000, ttl=99, payload=b"low")
    udp_in(k, 7000, ttl=100, payload=b"ok")
    assert pending(s) == (b"ok", (PEER, 40000))
    assert pending(s) is None
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 2}


def test_multicast_needs_membership(k):
    """udp_usrreq.c udp_input 481-506: for a multicast destination a socket
    without multicast options is skipped silently, one with options but no
    membership (imo_multi_filter: MCAST_NOTGMEMBER) counts ips_notmember; a
    member gets the datagram. Nobody at all: udps_noportbcast (528-538)."""
    member = udp_sock(k)
    reuseport(member)
    member.bind(("0.0.0.0", 7000))
    member.setsockopt(
        sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq("239.1.2.3", "192.0.2.1")
    )
    other = udp_sock(k)
    reuseport(other)
    other.bind(("0.0.0.0", 7000))
    other.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_TTL, 5)
    plain = udp_sock(k)
    reuseport(plain)
    plain.bind(("0.0.0.0", 7000))
    k.advance(5)
    k.transmitted("em0")
    before = snap(k)
    udp_in(k, 7000, dst="239.1.2.3", dst_mac="01:00:5e:01:02:03", payload=b"grp")
    assert pending(member) == (b"grp", (PEER, 40000))
    assert pending(other) is None
    assert pending(plain) is None
    m = moved(k, before)
    assert m["ips_notmember"] == 1
    assert {n: m[n] for n in m if n.startswith("udps")} == {"udps_ipackets": 1}
    before = snap(k)
    udp_in(k, 7000, dst="239.9.9.9", dst_mac="01:00:5e:09:09:09", payload=b"none")
    m = moved(k, before)
    assert m["ips_notmember"] == 2
    assert {n: m[n] for n in m if n.startswith("udps")} == {
        "udps_ipackets": 1,
        "udps_noportbcast": 1,
    }


def test_recvdstaddr_on_broadcast(k):
    """udp_usrreq.c udp_append 300-307 -> ip_input.c ip_savecontrol: with
    IP_RECVDSTADDR the datagram carries the destination it was sent to, here
    the subnet broadcast address."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_RECVDSTADDR, 1)
    s.bind(("0.0.0.0", 7000))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"x")
    data, anc, flags, addr = s.recvmsg(100, 100)
    assert (data, addr, flags) == (b"x", (PEER, 40000), 0)
    assert anc == [(sock.IPPROTO_IP, sock.IP_RECVDSTADDR, bytes([192, 0, 2, 255]))]


def test_unicast_to_second_address_of_interface(k):
    """in_pcb.c in_pcblookup_hash_locked 1722-1738: a wildcard socket takes
    datagrams to every local address, a bound one only to its own."""
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    w = udp_sock(k)
    w.bind(("0.0.0.0", 7000))
    udp_in(k, 7000, dst="192.0.2.9", payload=b"alias")
    assert pending(w) == (b"alias", (PEER, 40000))
    b = udp_sock(k)
    b.bind(("192.0.2.9", 7001))
    before = snap(k)
    udp_in(k, 7001, dst="192.0.2.1", payload=b"primary")
    assert pending(b) is None
    assert moved(k, before)["udps_noport"] == 1


def test_broadcast_bound_and_connected_socket_checks_peer_port(k):
    """in_pcb.c in_pcbconnect_setup 974 (a bound address is kept on connect);
    udp_usrreq.c udp_input 458-466: a socket bound to 192.0.2.255 and connected
    to PEER:53 matches subnet broadcasts from exactly that address and port."""
    s = udp_sock(k)
    s.bind(("192.0.2.255", 7000))
    s.connect((PEER, 53))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, sport=53, payload=b"yes")
    before = snap(k)
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, sport=54, payload=b"no")
    assert pending(s) == (b"yes", (PEER, 53))
    assert pending(s) is None
    m = moved(k, before)
    assert {n: m[n] for n in m if n.startswith("udps")} == {
        "udps_ipackets": 1,
        "udps_noportbcast": 1,
    }


def test_port_unreachable_quotes_header_without_options(k):
    """udp_usrreq.c udp_input 356-359: IP options are stripped first
    (ip_options.c ip_stripoptions 463-479: ip_hl becomes 5, ip_len and the
    checksum are left alone); the header saved at 408-409 and restored at
    603-604 (ip_len + 20) is what icmp_error quotes: a 20-byte header with
    ip_len of the option-less datagram and the checksum the sender computed
    over the header with options."""
    orig = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src=PEER, dst="192.0.2.1", id=0x4343, options=b"\x01\x01\x01\x00")
        / UDP(sport=40000, dport=7000)
        / b"opts"
    )
    k.input("em0", bytes(orig))
    ip_bytes = bytes(orig)[14:]
    quote = (
        bytes([0x45, ip_bytes[1]])
        + struct.pack("!H", 20 + 8 + 4)
        + ip_bytes[4:20]
        + ip_bytes[24:32]
    )
    (f,) = k.transmitted("em0")
    ip_id = struct.unpack("!H", f[18:20])[0]
    want = bytes(
        Ether(src=EM0_MAC, dst=PEER_MAC)
        / IP(src="192.0.2.1", dst=PEER, ttl=64, id=ip_id, proto=1)
        / ICMP(type=3, code=3)
        / quote
    )
    assert f == want


def test_datagram_with_ip_options_delivered(k):
    """udp_usrreq.c udp_input 356-359: after the options are stripped the UDP
    header is found at offset 20 and the datagram is delivered as usual."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    f = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src=PEER, dst="192.0.2.1", options=b"\x01\x01\x01\x00")
        / UDP(sport=40000, dport=7000)
        / b"opts"
    )
    k.input("em0", bytes(f))
    assert pending(s) == (b"opts", (PEER, 40000))


def test_broadcast_scan_order_is_creation_order(k):
    """udp_usrreq.c udp_input 451: the scan walks the pcb list, where
    in_pcb.c in_pcballoc 303 put each socket at socket() time, newest first;
    the order of bind() calls does not matter. The newest socket here has no
    SO_REUSEADDR/SO_REUSEPORT, so the scan stops there (523-525)."""
    b = udp_sock(k)
    a = udp_sock(k)
    a.bind(("0.0.0.0", 7000))
    reuseaddr(b)
    b.bind(("192.0.2.255", 7000))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"x")
    assert pending(a) == (b"x", (PEER, 40000))
    assert pending(b) is None


def test_broadcast_reaches_older_socket_after_sharing_one(k):
    """udp_usrreq.c udp_input 451-526: the newer socket (bound to the broadcast
    address with SO_REUSEADDR) matches and lets the scan go on to the older
    wildcard socket, which gets its copy too."""
    a = udp_sock(k)
    b = udp_sock(k)
    a.bind(("0.0.0.0", 7000))
    reuseaddr(b)
    b.bind(("192.0.2.255", 7000))
    udp_in(k, 7000, dst="192.0.2.255", dst_mac=BCAST_MAC, payload=b"x")
    assert pending(a) == (b"x", (PEER, 40000))
    assert pending(b) == (b"x", (PEER, 40000))
