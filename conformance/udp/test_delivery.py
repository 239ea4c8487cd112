"""udp_input(), udp_append() and ip_savecontrol() for unicast datagrams,
and the closed-port answer (netinet/udp_usrreq.c, netinet/ip_input.c;
docs/sockets.md, "Control messages"; dossier 6.8 and 4.3)."""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import IPOption_Router_Alert

from kstack import sock as S
from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    HOST1,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    UDP,
    Raw,
    eth,
    eth1,
    ip_bytes,
    reply_eth,
    udp_to,
)

DELIVERED = {"ip": {"ips_total": 1, "ips_delivered": 1}, "udp": {"udps_ipackets": 1}}
UNREACH_DELTA = {
    "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    "udp": {"udps_ipackets": 1, "udps_noport": 1},
}


def _udp(k, *, uid=0, opts=()):
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, uid=uid)
    for o in opts:
        s.setsockopt(S.SOL_SOCKET, o, 1)
    return s


def _bound(k, addr="0.0.0.0", port=5000, opts=()):
    s = _udp(k, opts=opts)
    s.bind((addr, port))
    return s


def _empty(s) -> bool:
    try:
        s.recv(2048)
    except BlockingIOError as e:
        assert e.errno == errno.EAGAIN
        return True
    return False


def test_unicast_payload_and_source(k, delta):
    """udp_input/udp_append: payload without headers, source address and
    port of the sender (netinet/udp_usrreq.c)."""
    s = _bound(k)
    with delta(k) as d:
        out = k.input("em0", udp_to(5000, sport=40001, data=b"hello"))
    assert d == DELIVERED
    assert out.kind == "delivered"
    assert s.recvfrom(2048) == (b"hello", (PEER, 40001))
    assert _empty(s)
    assert k.transmitted("em0") == []


def test_delivery_on_second_interface(k):
    """udp_input: a socket bound to the wildcard address hears datagrams to
    every local address (in_pcblookup_hash wildcard stage)."""
    s = _bound(k)
    k.input(
        "em1",
        eth1() / IP(src="198.51.100.7", dst=HOST1) / UDP(sport=7, dport=5000) / Raw(b"far"),
    )
    assert s.recvfrom(100) == (b"far", ("198.51.100.7", 7))


@pytest.mark.parametrize("wild_first", [True, False])
def test_specific_address_beats_wildcard(k, wild_first):
    """in_pcblookup_hash_locked: a socket bound to the destination address
    (local_exact) wins over a wildcard one whatever their age; a datagram
    for another local address goes to the wildcard socket."""
    if wild_first:
        wild = _bound(k)
        spec = _bound(k, HOST, opts=(S.SO_REUSEADDR,))
    else:
        spec = _bound(k, HOST)
        wild = _bound(k, opts=(S.SO_REUSEADDR,))
    k.input("em0", udp_to(5000, data=b"to-host"))
    k.input(
        "em1",
        eth1() / IP(src="198.51.100.7", dst=HOST1) / UDP(sport=7, dport=5000) / Raw(b"to-em1"),
    )
    assert spec.recv(100) == b"to-host"
    assert _empty(spec)
    assert wild.recv(100) == b"to-em1"
    assert _empty(wild)


def test_oldest_wildcard_socket_wins(k):
    """in_pcblookup_hash_locked: among wildcard sockets the last one on the
    hash chain (the OLDEST, since chains are LIST_INSERT_HEAD) is kept."""
    a = _bound(k, opts=(S.SO_REUSEPORT,))
    b = _bound(k, opts=(S.SO_REUSEPORT,))
    c = _bound(k, opts=(S.SO_REUSEPORT,))
    k.input("em0", udp_to(5000, data=b"x"))
    assert a.recv(10) == b"x"
    assert _empty(b) and _empty(c)


def test_newest_exact_address_socket_wins(k):
    """in_pcblookup_hash_locked: among sockets bound to the destination
    address the first met on the chain (the NEWEST) is taken."""
    a = _bound(k, HOST, opts=(S.SO_REUSEPORT,))
    b = _bound(k, HOST, opts=(S.SO_REUSEPORT,))
    k.input("em0", udp_to(5000, data=b"x"))
    assert b.recv(10) == b"x"
    assert _empty(a)


def test_socket_bound_elsewhere_never_matches(k, delta):
    """in_pcblookup_hash_locked: a socket bound to another local address is
    not a candidate -> closed port, ICMP port unreachable."""
    s = _bound(k, HOST1)
    with delta(k) as d:
        k.input("em0", udp_to(5000))
    assert d == UNREACH_DELTA
    assert _empty(s)
    assert len(k.transmitted("em0")) == 1


def test_connected_socket_only_hears_its_peer(k, delta):
    """in_pcblookup_hash_locked: the exact 4-tuple stage finds the connected
    socket; other sources fall to the wildcard stage, which never returns a
    connected socket."""
    c = _udp(k, opts=(S.SO_REUSEPORT,))
    c.bind(("0.0.0.0", 5000))
    c.connect((PEER, 7000))
    w = _bound(k, opts=(S.SO_REUSEPORT,))
    k.input("em0", udp_to(5000, sport=7000, data=b"peer"))
    k.input("em0", udp_to(5000, sport=7001, data=b"other-port"))
    k.input("em0", udp_to(5000, src="192.0.2.8", sport=7000, data=b"other-host"))
    assert c.recvfrom(100) == (b"peer", (PEER, 7000))
    assert _empty(c)
    assert w.recv(100) == b"other-port"
    assert w.recv(100) == b"other-host"
    assert _empty(w)


def test_connected_socket_alone_other_source_gets_unreach(k, delta):
    """in_pcblookup_hash_locked: a datagram from a host the only socket is
    not connected to finds no pcb -> udps_noport and ICMP 3/3."""
    c = _udp(k)
    c.connect((PEER, 7000))
    port = c.getsockname()[1]
    with delta(k) as d:
        k.input("em0", udp_to(port, sport=7001))
    assert d == UNREACH_DELTA
    assert _empty(c)


def test_minttl_drops_silently(k, delta):
    """udp_input: inp_ip_minttl > ip_ttl -> freed with no counter and no
    ICMP; equal TTL passes."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 64)
    with delta(k) as d:
        k.input("em0", udp_to(5000, ttl=63, data=b"low"))
    assert d == DELIVERED
    assert _empty(s)
    assert k.transmitted("em0") == []
    k.input("em0", udp_to(5000, ttl=64, data=b"ok"))
    assert s.recv(10) == b"ok"


def test_zero_checksum_accepted(k, delta):
    """udp_input: uh_sum == 0 -> udps_nosum, delivered."""
    s = _bound(k)
    with delta(k) as d:
        k.input("em0", eth() / IP(src=PEER, dst=HOST) / UDP(sport=1, dport=5000, chksum=0) / b"z")
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_nosum": 1},
    }
    assert s.recv(10) == b"z"


@pytest.mark.parametrize("bound", [True, False])
def test_bad_checksum_dropped_silently(k, delta, bound):
    """udp_input: a wrong checksum -> udps_badsum, dropped before the port
    lookup (no ICMP even for a closed port)."""
    s = _bound(k) if bound else None
    with delta(k) as d:
        k.input(
            "em0", eth() / IP(src=PEER, dst=HOST) / UDP(sport=1, dport=5000, chksum=0x1234) / b"z"
        )
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_badsum": 1},
    }
    assert k.transmitted("em0") == []
    if s is not None:
        assert _empty(s)


def test_loopback_checksum_trusted_not_nosum(k, delta):
    """udp_input: lo0 marks datagrams CSUM_DATA_VALID; a non-zero uh_sum is
    then trusted, and udps_nosum is counted only for uh_sum == 0."""
    r = _bound(k)
    s = _udp(k)
    with delta(k) as d:
        s.sendto(b"loop", ("127.0.0.1", 5000))
        k.advance(0)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "udp": {"udps_ipackets": 1, "udps_opackets": 1},
    }
    assert r.recvfrom(10) == (b"loop", ("127.0.0.1", s.getsockname()[1]))


def test_loopback_without_checksum_counts_nosum(k, delta):
    """udp_output with net.inet.udp.checksum=0 sends uh_sum 0; udp_input on
    the receiving side counts udps_nosum."""
    k.sysctl("net.inet.udp.checksum", 0)
    r = _bound(k)
    s = _udp(k)
    with delta(k) as d:
        s.sendto(b"loop", ("127.0.0.1", 5000))
        k.advance(0)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "udp": {"udps_ipackets": 1, "udps_opackets": 1, "udps_nosum": 1},
    }
    assert r.recv(10) == b"loop"


def test_default_recvspace_holds_40_kib_datagrams(k, delta):
    """udp_attach: so_rcv reserved at udp_recvspace = 40 x (1024 + 28) =
    42080 (Errata 2); sbappendaddr needs 16 + payload per datagram, so 40
    datagrams of 1024 bytes fit and the 41st -> udps_fullsock."""
    s = _bound(k)
    assert s.getsockopt(S.SOL_SOCKET, S.SO_RCVBUF) == 42080
    assert k.sysctl("net.inet.udp.recvspace") == 42080
    with delta(k) as d:
        for i in range(41):
            k.input("em0", udp_to(5000, sport=1000 + i, data=bytes([i]) * 1024))
    assert d == {
        "ip": {"ips_total": 41, "ips_delivered": 41},
        "udp": {"udps_ipackets": 41, "udps_fullsock": 1},
    }
    for i in range(40):
        assert s.recvfrom(2048) == (bytes([i]) * 1024, (PEER, 1000 + i))
    assert _empty(s)


def test_small_rcvbuf_fullsock(k, delta):
    """sbappendaddr_locked: space needed = 16 (sockaddr_in) + payload; with
    SO_RCVBUF 100 an 84-byte datagram fits exactly, the next is dropped
    (udps_fullsock) until the first is read."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 100)
    with delta(k) as d:
        k.input("em0", udp_to(5000, data=b"a" * 84))
        k.input("em0", udp_to(5000, data=b"b"))
    assert d == {
        "ip": {"ips_total": 2, "ips_delivered": 2},
        "udp": {"udps_ipackets": 2, "udps_fullsock": 1},
    }
    assert s.recv(200) == b"a" * 84
    k.input("em0", udp_to(5000, data=b"c"))
    assert s.recv(200) == b"c"
    assert k.transmitted("em0") == []


def test_oversized_for_rcvbuf(k, delta):
    """sbappendaddr_locked: 16 + 85 > SO_RCVBUF 100 on an empty buffer ->
    udps_fullsock."""
    s = _bound(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 100)
    with delta(k) as d:
        k.input("em0", udp_to(5000, data=b"a" * 85))
    assert d["udp"] == {"udps_ipackets": 1, "udps_fullsock": 1}
    assert _empty(s)


def _sockaddr_dl(k, name: str, mac: str) -> bytes:
    ifp = k.iface(name)
    b = bytearray(56)
    b[0] = 56
    b[1] = 18  # AF_LINK
    b[2:4] = ifp.index.to_bytes(2, "little")
    b[4] = 6  # IFT_ETHER
    b[5] = len(name)
    b[6] = 6
    b[8 : 8 + len(name)] = name.encode()
    b[8 + len(name) : 14 + len(name)] = bytes.fromhex(mac.replace(":", ""))
    return bytes(b)


@pytest.mark.parametrize("profile", ["9.0", "9.1"], indirect=True)
def test_control_messages_order_and_payloads(k, profile):
    """udp_append -> ip_savecontrol: IP_RECVDSTADDR, IP_RECVTTL, IP_RECVIF,
    then (9.1 on) IP_RECVTOS cmsgs in that order with their exact payloads.
    9.0's ip_ctloutput has no IP_RECVTOS (head 2012-06-12): ENOPROTOOPT."""
    s = _bound(k)
    if profile == "9.0":
        with pytest.raises(OSError) as e:
            s.setsockopt(S.IPPROTO_IP, S.IP_RECVTOS, 1)
        assert e.value.errno == errno.ENOPROTOOPT
    for opt in (S.IP_RECVIF, S.IP_RECVTTL, S.IP_RECVDSTADDR):
        s.setsockopt(S.IPPROTO_IP, opt, 1)
    if profile == "9.1":
        s.setsockopt(S.IPPROTO_IP, S.IP_RECVTOS, 1)
    k.input("em0", udp_to(5000, ttl=33, tos=0x28, data=b"cm"))
    data, anc, flags, addr = s.recvmsg(100, 1024)
    assert (data, flags, addr) == (b"cm", 0, (PEER, 40000))
    assert anc == [
        (S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes([192, 0, 2, 1])),
        (S.IPPROTO_IP, S.IP_RECVTTL, bytes([33])),
        (S.IPPROTO_IP, S.IP_RECVIF, _sockaddr_dl(k, "em0", HOST_MAC)),
    ] + ([(S.IPPROTO_IP, S.IP_RECVTOS, bytes([0x28]))] if profile == "9.1" else [])


def test_recvdstaddr_for_broadcast(k):
    """ip_savecontrol: IP_RECVDSTADDR carries ip_dst, here the subnet
    broadcast address."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVDSTADDR, 1)
    k.input("em0", udp_to(5000, dst="192.0.2.255", eth_dst=BCAST_MAC))
    _data, anc, _flags, _addr = s.recvmsg(100, 1024)
    assert anc == [(S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes([192, 0, 2, 255]))]


def test_recvopts_produces_no_cmsg(k):
    """ip_savecontrol: IP_RECVOPTS/IP_RECVRETOPTS are accepted flags but
    never produce a cmsg (and udp_input strips the options anyway)."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVOPTS, 1)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVRETOPTS, 1)
    k.input(
        "em0",
        eth()
        / IP(src=PEER, dst=HOST, options=[IPOption_Router_Alert()])
        / UDP(sport=9, dport=5000)
        / b"o",
    )
    assert s.recvmsg(100, 1024) == (b"o", [], 0, (PEER, 9))


def test_zero_length_datagram(k, delta):
    """soreceive_dgram: an empty datagram is a record of its own; recvmsg
    returns 0 bytes, the source, and no MSG_TRUNC."""
    s = _bound(k)
    with delta(k) as d:
        k.input("em0", udp_to(5000, data=b""))
    assert d == DELIVERED
    assert s.recvmsg(100) == (b"", [], 0, (PEER, 40000))
    assert _empty(s)


def test_truncated_read_discards_rest(k):
    """soreceive_dgram: a short buffer gets the head, MSG_TRUNC, and the
    rest of the datagram is discarded."""
    s = _bound(k)
    k.input("em0", udp_to(5000, data=b"0123456789"))
    k.input("em0", udp_to(5000, data=b"next"))
    assert s.recvmsg(4) == (b"0123", [], S.MSG_TRUNC, (PEER, 40000))
    assert s.recv(100) == b"next"


def test_destination_port_zero_dropped(k, delta):
    """udp_input: uh_dport == 0 -> freed silently: no counter beyond
    udps_ipackets, no ICMP."""
    with delta(k) as d:
        k.input("em0", udp_to(0))
    assert d == DELIVERED
    assert k.transmitted("em0") == []


def test_udp_length_longer_than_payload(k, delta):
    """udp_input: uh_ulen > IP payload -> udps_badlen."""
    s = _bound(k)
    with delta(k) as d:
        k.input("em0", eth() / IP(src=PEER, dst=HOST) / UDP(sport=1, dport=5000, len=20) / b"ab")
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_badlen": 1},
    }
    assert _empty(s)


def test_udp_length_shorter_trims(k, delta):
    """udp_input: uh_ulen < IP payload -> the excess is trimmed (m_adj) and
    the checksum covers uh_ulen bytes only."""
    s = _bound(k)
    udp11 = bytes(IP(src=PEER, dst=HOST) / UDP(sport=1, dport=5000) / b"abc")[20:]
    assert len(udp11) == 11
    pkt = eth() / IP(src=PEER, dst=HOST, proto=17) / Raw(udp11 + b"XYZ")
    with delta(k) as d:
        k.input("em0", pkt)
    assert d == DELIVERED
    assert s.recv(100) == b"abc"


def test_options_stripped_before_delivery(k):
    """udp_input -> ip_stripoptions: a datagram carrying IP options is
    delivered with the same payload."""
    s = _bound(k)
    k.input(
        "em0",
        eth()
        / IP(src=PEER, dst=HOST, options=[IPOption_Router_Alert()])
        / UDP(sport=9, dport=5000)
        / b"opt",
    )
    assert s.recvfrom(100) == (b"opt", (PEER, 9))


# -- closed port ------------------------------------------------------------


def test_closed_port_unreach_bytes(k, delta, match_frame):
    """udp_input -> icmp_error(UNREACH, PORT): 56-byte error quoting the
    original header and 8 bytes of UDP (G4.9)."""
    req = udp_to(5000, id=0x4242, data=b"payload!")
    with delta(k) as d:
        out = k.input("em0", req)
    assert d == UNREACH_DELTA
    assert out.reason == "udps_noport"
    (err,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(ip_bytes(req)[:28])
    )
    match_frame(err, want)


def test_closed_port_unreach_quotes_stripped_header(k, match_frame):
    """udp_input: ip_stripoptions ran first, so the quote is the 20-byte
    header with ip_hl 5 and ip_len = 20 + UDP length, but the checksum of
    the original (optioned) header (dossier 4.3.3)."""
    req = (
        eth()
        / IP(src=PEER, dst=HOST, id=0x4343, options=[IPOption_Router_Alert()])
        / UDP(sport=40000, dport=5000)
        / Raw(b"abcd")
    )
    orig = ip_bytes(req)
    assert len(orig) == 24 + 12
    quote = bytearray(orig[:20])
    quote[0] = 0x45
    quote[2:4] = (20 + 12).to_bytes(2, "big")
    quote += orig[24:32]
    k.input("em0", req)
    (err,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, proto=1)
        / ICMP(type=3, code=3)
        / Raw(bytes(quote))
    )
    match_frame(err, want)


def test_closed_port_blackhole(k, delta):
    """udp_input: net.inet.udp.blackhole=1 -> udps_noport, no ICMP."""
    k.sysctl("net.inet.udp.blackhole", 1)
    with delta(k) as d:
        k.input("em0", udp_to(5000))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1},
    }
    assert k.transmitted("em0") == []


def test_unicast_ip_in_link_broadcast_frame_no_icmp(k, delta):
    """udp_input: no pcb and M_BCAST (link-layer broadcast) -> udps_noport
    and udps_noportbcast, never an ICMP."""
    with delta(k) as d:
        k.input("em0", udp_to(5000, eth_dst=BCAST_MAC))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "udp": {"udps_ipackets": 1, "udps_noport": 1, "udps_noportbcast": 1},
    }
    assert k.transmitted("em0") == []


@pytest.mark.parametrize(
    ("dst", "eth_dst"),
    [
        ("192.0.2.255", BCAST_MAC),
        ("255.255.255.255", BCAST_MAC),
        ("239.1.1.1", "01:00:5e:01:01:01"),
    ],
)
def test_broadcast_multicast_closed_port(k, delta, dst, eth_dst):
    """udp_input broadcast/multicast path: nobody matched ->
    udps_noportbcast only (not udps_noport), no ICMP."""
    with delta(k) as d:
        k.input("em0", udp_to(5000, dst=dst, eth_dst=eth_dst))
    assert d["udp"] == {"udps_ipackets": 1, "udps_noportbcast": 1}
    assert k.transmitted("em0") == []


def test_multicast_to_unjoined_wildcard_socket(k, delta):
    """udp_input: a multicast datagram skips sockets without multicast
    state even when the port matches (G6.8)."""
    s = _bound(k)
    with delta(k) as d:
        k.input("em0", udp_to(5000, dst="239.1.1.1", eth_dst="01:00:5e:01:01:01"))
    assert d["udp"] == {"udps_ipackets": 1, "udps_noportbcast": 1}
    assert _empty(s)


def test_multicast_to_joined_socket(k):
    """udp_input: a socket that joined the group on the receiving interface
    gets the datagram (imo_multi_filter == MCAST_PASS)."""
    s = _bound(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_ADD_MEMBERSHIP, S.ip_mreq("239.1.1.1", HOST))
    k.transmitted("em0")
    k.input("em0", udp_to(5000, dst="239.1.1.1", eth_dst="01:00:5e:01:01:01", data=b"m"))
    assert s.recvfrom(10) == (b"m", (PEER, 40000))
