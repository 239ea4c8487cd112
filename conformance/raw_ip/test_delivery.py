"""Which raw sockets get a received packet, the counters, and the control
messages (rip_input / rip_append in netinet/raw_ip.c, ip_savecontrol in
netinet/ip_input.c; dossier 2.1-2.2, 4.5, Errata 4; docs/sockets.md)."""

from __future__ import annotations

import errno

import pytest
from scapy.utils import checksum

from kstack import sock as S
from kstack.testing import (
    BCAST_MAC,
    HOST,
    HOST1,
    HOST_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    ROUTER,
    SUBNET_BCAST,
    Ether,
    Raw,
    echo_request,
    eth,
    from_peer,
    ip_bytes,
    udp_to,
)


def _raw(k, proto=253):
    return k.socket(S.AF_INET, S.SOCK_RAW, proto)


def _pkt(ttl: int = 64, dst: str = HOST, src: str = PEER, proto: int = 253, **kw):
    return from_peer(dst=dst, src=src, proto=proto, ttl=ttl, **kw) / Raw(b"payload!")


def _empty(s) -> None:
    with pytest.raises(BlockingIOError) as e:
        s.recv(2048)
    assert e.value.errno == errno.EAGAIN


def _igmp_report(group: str = "224.1.2.3"):
    body = bytearray(bytes((0x16, 0, 0, 0)) + bytes(int(x) for x in group.split(".")))
    body[2:4] = checksum(bytes(body)).to_bytes(2, "big")
    mac = "01:00:5e:01:02:03"
    return (
        Ether(src=PEER_MAC, dst=mac, type=0x0800)
        / IP(src=PEER, dst=group, ttl=1, proto=2)
        / Raw(bytes(body))
    )


# -- matching ---------------------------------------------------------------------


def test_protocol_must_match(k):
    """rip_input (netinet/raw_ip.c): a socket for protocol 253 does not get
    protocol 254; the 254 packet finds no socket (ips_noproto)."""
    s = _raw(k)
    k.input("em0", _pkt(proto=254))
    _empty(s)


def test_bound_socket_only_gets_its_address(k):
    """rip_input (netinet/raw_ip.c), G2.7: a socket bound to one local
    address does not get packets for another local address."""
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    s = _raw(k)
    s.bind((HOST, 0))
    k.input("em0", _pkt(dst="192.0.2.9"))
    _empty(s)
    k.input("em0", _pkt(dst=HOST))
    assert s.recvfrom(2048)[1] == (PEER, 0)


def test_connected_socket_only_gets_its_peer(k):
    """rip_input (netinet/raw_ip.c): a connected socket only gets packets
    whose source is its foreign address."""
    s = _raw(k)
    s.connect((PEER, 0))
    k.input("em0", _pkt(src=ROUTER))
    _empty(s)
    k.input("em0", _pkt(src=PEER))
    assert s.recvfrom(2048)[1] == (PEER, 0)


def test_bound_and_connected_exact_socket(k):
    """rip_input (netinet/raw_ip.c): a socket with protocol, local and
    foreign address sits on the exact hash; it gets the matching 3-tuple
    only."""
    s = _raw(k)
    s.bind((HOST, 0))
    s.connect((PEER, 0))
    k.input("em0", _pkt(src=ROUTER))
    k.input(
        "em1",
        Ether(src="02:00:00:00:01:07", dst="02:00:00:00:01:01")
        / IP(src=PEER, dst=HOST1, proto=253)
        / Raw(b"x"),
    )
    _empty(s)
    k.input("em0", _pkt())
    assert s.recvfrom(2048)[1] == (PEER, 0)


def test_proto0_gets_icmp_igmp_unknown_not_udp(k, delta):
    """rip_input (netinet/raw_ip.c), G2.8: a protocol-0 socket gets ICMP
    (after icmp_input), IGMP (after igmp_input) and unknown protocols; UDP
    goes to udp_input and never to raw sockets."""
    s = _raw(k, 0)
    k.input("em0", eth() / IP(src=PEER, dst=HOST) / ICMP(type=0, id=1, seq=1))
    assert s.recv(2048)[9] == 1
    k.input("em0", _igmp_report())
    assert s.recv(2048)[9] == 2
    k.input("em0", _pkt(proto=253))
    assert s.recv(2048)[9] == 253
    with delta(k) as d:
        k.input("em0", udp_to(9))
    assert d["udp"]["udps_noport"] == 1
    _empty(s)


def test_every_matching_socket_gets_a_copy(k, delta):
    """rip_input (netinet/raw_ip.c): each matching socket (protocol 253
    sockets and a protocol-0 socket) gets its own copy; ips_delivered is
    counted once."""
    socks = [_raw(k), _raw(k), _raw(k, 0)]
    other = _raw(k, 254)
    frame = _pkt()
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}}
    first = socks[0].recv(2048)
    assert len(first) == 28
    for s in socks[1:]:
        assert s.recv(2048) == first
    _empty(other)


def test_echo_request_answered_not_given_to_raw(k):
    """icmp_input (netinet/ip_icmp.c), G2.5: an echo request is answered by
    the kernel and consumed (icmp_reflect); a raw ICMP socket gets nothing."""
    s = _raw(k, S.IPPROTO_ICMP)
    k.input("em0", echo_request())
    assert len(k.transmitted("em0")) == 1
    _empty(s)


def test_broadcast_echo_given_to_raw(k, delta):
    """icmp_input (netinet/ip_icmp.c), Errata 4: a broadcast echo request
    with net.inet.icmp.bmcastecho=0 is not answered; it is handed to raw
    sockets (ips_delivered stays counted)."""
    s = _raw(k, S.IPPROTO_ICMP)
    frame = echo_request(dst=SUBNET_BCAST, eth_dst=BCAST_MAC)
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_bmcastecho": 1},
    }
    assert k.transmitted("em0") == []
    wire = ip_bytes(frame)
    data = s.recv(2048)
    assert data[20:] == wire[20:]
    assert data[16:20] == bytes((192, 0, 2, 255))


# -- counters -------------------------------------------------------------------


def test_no_socket_is_noproto(k, delta):
    """rip_input (netinet/raw_ip.c), G1.10: nobody listening -> ips_noproto,
    ips_delivered taken back (net 0), no ICMP protocol unreachable."""
    with delta(k) as d:
        k.input("em0", _pkt())
    assert d == {"ip": {"ips_total": 1, "ips_noproto": 1}}
    assert k.transmitted("em0") == []


def test_nonmatching_socket_is_noproto(k, delta):
    """rip_input (netinet/raw_ip.c): sockets exist but none matches ->
    ips_noproto, ips_delivered net 0."""
    _raw(k, 254)
    with delta(k) as d:
        k.input("em0", _pkt())
    assert d == {"ip": {"ips_total": 1, "ips_noproto": 1}}


def test_minttl_refuses(k):
    """rip_append (netinet/raw_ip.c): IP_MINTTL; ip_ttl < minttl is not
    delivered, ip_ttl == minttl is."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 10)
    k.input("em0", _pkt(ttl=9))
    _empty(s)
    k.input("em0", _pkt(ttl=10))
    assert s.recv(2048)[8] == 10


def test_minttl_last_socket_counts_delivered_twice(k, delta):
    """rip_input (netinet/raw_ip.c): when the last matching socket refuses
    by policy (IP_MINTTL), ips_delivered is incremented a second time. The
    wildcard chain is newest first, so the oldest socket is the last."""
    refusing = _raw(k)
    refusing.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 100)
    taker = _raw(k)
    with delta(k) as d:
        k.input("em0", _pkt(ttl=9))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 2}}
    assert taker.recv(2048)[8] == 9
    _empty(refusing)


def test_minttl_only_socket_counts_delivered_twice(k, delta):
    """rip_input (netinet/raw_ip.c): the only (hence last) socket refuses
    by IP_MINTTL -> nothing delivered, ips_delivered +2, no ips_noproto."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 255)
    with delta(k) as d:
        k.input("em0", _pkt(ttl=9))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 2}}
    _empty(s)


def test_minttl_not_last_counts_once(k, delta):
    """rip_input (netinet/raw_ip.c): a refusing socket that is not the last
    match changes no counter."""
    taker = _raw(k)
    refusing = _raw(k)
    refusing.setsockopt(S.IPPROTO_IP, S.IP_MINTTL, 100)
    with delta(k) as d:
        k.input("em0", _pkt(ttl=9))
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}}
    assert taker.recv(2048)[8] == 9
    _empty(refusing)


def test_full_receive_buffer_drops_silently(k, delta):
    """rip_append / sbappendaddr (netinet/raw_ip.c, kern/uipc_sockbuf.c):
    recvspace 9216; each record costs 16 (sockaddr) + datagram bytes. With
    1036-byte records 8 fit, the 9th is dropped with no counter."""
    s = _raw(k)
    frame = from_peer(proto=253) / Raw(b"F" * 1000)
    for _ in range(8):
        k.input("em0", frame)
    with delta(k) as d:
        k.input("em0", frame)
    assert d == {"ip": {"ips_total": 1, "ips_delivered": 1}}
    for _ in range(8):
        assert len(s.recv(2048)) == 1020
    _empty(s)


def test_full_buffer_other_socket_still_gets_copy(k):
    """rip_input (netinet/raw_ip.c): one socket's full buffer does not stop
    delivery to the others."""
    small = _raw(k)
    small.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 40)
    big = _raw(k)
    k.input("em0", _pkt())
    assert len(big.recv(2048)) == 28
    _empty(small)


# -- control messages ---------------------------------------------------------------


def test_recvdstaddr(k):
    """ip_savecontrol (netinet/ip_input.c): IP_RECVDSTADDR = ip_dst, 4 bytes
    network order, level IPPROTO_IP type 7."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVDSTADDR, 1)
    k.input("em0", _pkt())
    _data, anc, flags, _src = s.recvmsg(2048, 256)
    assert anc == [(S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes((192, 0, 2, 1)))]
    assert flags == 0


def test_recvdstaddr_broadcast(k):
    """ip_savecontrol (netinet/ip_input.c): IP_RECVDSTADDR reports the
    broadcast destination as received."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVDSTADDR, 1)
    k.input("em0", Ether(src=PEER_MAC, dst=BCAST_MAC) / IP(src=PEER, dst=SUBNET_BCAST, proto=253))
    assert s.recvmsg(2048, 256)[1] == [(S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes((192, 0, 2, 255)))]


def test_recvttl(k):
    """ip_savecontrol (netinet/ip_input.c): IP_RECVTTL = one byte ip_ttl."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVTTL, 1)
    k.input("em0", _pkt(ttl=9))
    assert s.recvmsg(2048, 256)[1] == [(S.IPPROTO_IP, S.IP_RECVTTL, b"\x09")]


@pytest.mark.parametrize("profile", ["9.1"], indirect=True)
def test_recvtos(k):
    """ip_savecontrol (netinet/ip_input.c, 9.1): IP_RECVTOS = one byte ip_tos."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVTOS, 1)
    k.input("em0", _pkt(tos=0xB8))
    assert s.recvmsg(2048, 256)[1] == [(S.IPPROTO_IP, S.IP_RECVTOS, b"\xb8")]


def test_recvif_sockaddr_dl(k):
    """ip_savecontrol (netinet/ip_input.c): IP_RECVIF copies the receiving
    interface's link-level sockaddr_dl, sdl_len 56 (if_attach sizing):
    len 56, AF_LINK 18, index (host order), IFT_ETHER 6, nlen 3, alen 6,
    slen 0, "em0" then the MAC, zero fill."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVIF, 1)
    k.input("em0", _pkt())
    (anc,) = s.recvmsg(2048, 256)[1]
    idx = k.iface("em0").index
    mac = bytes.fromhex(HOST_MAC.replace(":", ""))
    sdl = bytes((56, 18)) + idx.to_bytes(2, "little") + bytes((6, 3, 6, 0)) + b"em0" + mac
    assert anc == (S.IPPROTO_IP, S.IP_RECVIF, sdl.ljust(56, b"\x00"))


def test_so_timestamp_virtual_clock(k):
    """ip_savecontrol (netinet/ip_input.c): SO_TIMESTAMP = struct timeval
    (16 bytes amd64) taken at delivery from the (virtual) clock: boot at
    2012-01-10 00:00:00 UTC plus 1.25 s."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_TIMESTAMP, 1)
    k.advance(1.25)
    k.input("em0", _pkt())
    tv = (1326153601).to_bytes(8, "little") + (250000).to_bytes(8, "little")
    assert s.recvmsg(2048, 256)[1] == [(S.SOL_SOCKET, S.SCM_TIMESTAMP, tv)]


@pytest.mark.parametrize("profile", ["9.1"], indirect=True)
def test_control_message_order(k):
    """ip_savecontrol (netinet/ip_input.c): order SCM_TIMESTAMP,
    IP_RECVDSTADDR, IP_RECVTTL, IP_RECVIF, IP_RECVTOS regardless of the
    order the options were set; IP_RECVOPTS produces nothing (9.1, which
    has IP_RECVTOS)."""
    s = _raw(k)
    for opt in (S.IP_RECVTOS, S.IP_RECVIF, S.IP_RECVTTL, S.IP_RECVDSTADDR, S.IP_RECVOPTS):
        s.setsockopt(S.IPPROTO_IP, opt, 1)
    s.setsockopt(S.SOL_SOCKET, S.SO_TIMESTAMP, 1)
    k.input("em0", _pkt())
    anc = s.recvmsg(2048, 1024)[1]
    assert [(lv, ty, len(d)) for lv, ty, d in anc] == [
        (S.SOL_SOCKET, S.SCM_TIMESTAMP, 16),
        (S.IPPROTO_IP, S.IP_RECVDSTADDR, 4),
        (S.IPPROTO_IP, S.IP_RECVTTL, 1),
        (S.IPPROTO_IP, S.IP_RECVIF, 56),
        (S.IPPROTO_IP, S.IP_RECVTOS, 1),
    ]


def test_recvopts_alone_gives_nothing(k):
    """ip_savecontrol (netinet/ip_input.c): IP_RECVOPTS / IP_RECVRETOPTS are
    accepted but the code that would produce them is not compiled in."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVOPTS, 1)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVRETOPTS, 1)
    k.input("em0", from_peer(proto=253, options=b"\x01\x01\x01\x00") / Raw(b"x"))
    assert s.recvmsg(2048, 256)[1] == []


def test_control_truncated_ctrunc(k):
    """kern_recvit (kern/uipc_syscalls.c): the copy loop runs while the
    buffer has room. 24 bytes hold IP_RECVDSTADDR (CMSG_SPACE 24) exactly:
    the loop ends there and IP_RECVTTL is dropped without MSG_CTRUNC. With
    30 bytes IP_RECVTTL only partly fits: it is cut and MSG_CTRUNC is set."""
    s = _raw(k)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVDSTADDR, 1)
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVTTL, 1)
    k.input("em0", _pkt())
    data, anc, flags, _src = s.recvmsg(2048, 24)
    assert len(data) == 28
    assert anc == [(S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes((192, 0, 2, 1)))]
    assert flags == 0
    k.input("em0", _pkt())
    _data, anc, flags, _src = s.recvmsg(2048, 30)
    assert anc[0] == (S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes((192, 0, 2, 1)))
    assert flags == S.MSG_CTRUNC


def test_control_counts_against_receive_buffer(k):
    """sbappendaddr (kern/uipc_sockbuf.c): control bytes count toward the
    receive buffer: a datagram that fits alone is dropped when its control
    messages push it over (16 + 28 + 24 > 60)."""
    s = _raw(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 60)
    k.input("em0", _pkt())
    assert len(s.recv(2048)) == 28
    s.setsockopt(S.IPPROTO_IP, S.IP_RECVTTL, 1)
    k.input("em0", _pkt())
    _empty(s)
