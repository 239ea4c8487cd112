"""IP_MULTICAST_IF / TTL / LOOP / VIF (in_mcast.c inp_setmoptions,
inp_set_multicast_if, inp_getmoptions) and multicast output / loopback
(ip_output.c ip_output, ip_mloopback) in FreeBSD 9.1."""

import errno
import struct

import pytest

from conformance.igmp.source.common import (
    EM0_IP,
    EM1_IP,
    G1,
    Delta,
    check_errnos,
    errno_of,
    inet,
    join,
    mcast_mac,
    mk,
    recv_all,
    sent,
    udp_sock,
)
from kstack import sock

IPP = sock.IPPROTO_IP


def mreqn(k, addr="0.0.0.0", ifindex=0):
    return struct.pack("<4s4si", b"\0" * 4, inet(addr), ifindex)


# ------------------------------------------------------------ IP_MULTICAST_IF
def test_multicast_if_set_by_address_get_shapes(k):
    """inp_set_multicast_if (in_addr form) stores the ifp and clears
    imo_multicast_addr; inp_getmoptions then returns ifindex + the first
    address of the ifp: 12 bytes only for a 12-byte buffer, else an in_addr
    truncated by sooptcopyout."""
    s = udp_sock(k)
    # no ip_moptions yet: a zeroed ip_mreqn, shaped the same way
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 4) == bytes(4)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 12) == bytes(12)
    s.setsockopt(IPP, sock.IP_MULTICAST_IF, inet(EM1_IP))
    i1 = k.iface("em1").index
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 4) == inet(EM1_IP)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 12) == mreqn(k, EM1_IP, i1)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 8) == inet(EM1_IP)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 2) == inet(EM1_IP)[:2]
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 16) == inet(EM1_IP)
    s.setsockopt(IPP, sock.IP_MULTICAST_IF, inet("0.0.0.0"))  # in_nullhost: clear
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 12) == bytes(12)


def test_multicast_if_set_by_ip_mreqn_uses_only_index(k):
    """inp_set_multicast_if: a 12-byte value is an ip_mreqn and only
    imr_ifindex selects the interface (imr_address is ignored); ifindex 0
    removes the selection."""
    s = udp_sock(k)
    i1 = k.iface("em1").index
    s.setsockopt(IPP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", EM0_IP, i1))
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 12) == mreqn(k, EM1_IP, i1)
    s.setsockopt(IPP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", EM1_IP, 0))
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 12) == bytes(12)


def test_multicast_if_errors(k):
    """inp_set_multicast_if: in_addr not ours -> EADDRNOTAVAIL; ip_mreqn
    imr_ifindex < 0 or > V_if_index -> EINVAL; fewer than 4 bytes ->
    sooptcopyin EINVAL; an 8-byte value is read as an in_addr (truncated)."""
    s = udp_sock(k)

    def op(v):
        return lambda: s.setsockopt(IPP, sock.IP_MULTICAST_IF, v)

    check_errnos(
        [
            ("foreign addr", op(inet("10.9.9.9")), errno.EADDRNOTAVAIL),
            ("ifindex 99", op(struct.pack("<4s4si", bytes(4), bytes(4), 99)), errno.EINVAL),
            ("ifindex -1", op(struct.pack("<4s4si", bytes(4), bytes(4), -1)), errno.EINVAL),
            ("2 bytes", op(b"\xc0\x00"), errno.EINVAL),
            ("8 bytes", op(inet(EM1_IP) + bytes(4)), 0),
        ]
    )
    assert s.getsockopt(IPP, sock.IP_MULTICAST_IF, 4) == inet(EM1_IP)


def test_multicast_if_selects_output_interface_and_source(k):
    """ip_output: imo_multicast_ifp bypasses the route lookup; in_pcbladdr
    takes the source from the first address of that ifp."""
    s = udp_sock(k, 6000)
    s.setsockopt(IPP, sock.IP_MULTICAST_IF, inet(EM1_IP))
    s.sendto(b"x", (G1, 5000))
    k.advance(0)
    assert sent(k, "em0", 17) == []
    (p,) = sent(k, "em1", 17)
    assert (p.src, p.dst, p.ttl) == (EM1_IP, G1, 1)
    assert p.eth_dst == mcast_mac(G1)


# ------------------------------------------------------------ TTL
def test_multicast_ttl_get_set(k):
    """inp_setmoptions/inp_getmoptions IP_MULTICAST_TTL: u_char or int;
    default IP_DEFAULT_MULTICAST_TTL (1); get shaped by the buffer
    (1 byte for a u_char buffer)."""
    s = udp_sock(k)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL) == 1
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL, 1) == b"\x01"
    s.setsockopt(IPP, sock.IP_MULTICAST_TTL, b"\x40")
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL) == 64
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL, 1) == b"\x40"
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL, 2) == b"\x40\x00"  # int, truncated
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL, 8) == b"\x40\x00\x00\x00"
    s.setsockopt(IPP, sock.IP_MULTICAST_TTL, 255)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_TTL) == 255


def test_multicast_ttl_errors_and_wire(k):
    """inp_setmoptions IP_MULTICAST_TTL: int > 255 (as u_int) -> EINVAL,
    2 bytes -> EINVAL; ip_output: ip_ttl = imo_multicast_ttl for multicast
    destinations (IP_DEFAULT_MULTICAST_TTL 1 without ip_moptions)."""
    s = udp_sock(k, 6000)

    def op(v):
        return lambda: s.setsockopt(IPP, sock.IP_MULTICAST_TTL, v)

    check_errnos(
        [
            ("256", op(256), errno.EINVAL),
            ("-1 as u_int", op(struct.pack("<i", -1)), errno.EINVAL),
            ("2 bytes", op(b"\x05\x00"), errno.EINVAL),
        ]
    )
    s2 = udp_sock(k, 6001)
    s2.sendto(b"a", (G1, 5000))
    s.setsockopt(IPP, sock.IP_MULTICAST_TTL, 7)
    s.sendto(b"b", (G1, 5000))
    k.advance(0)
    assert [(p.ttl, p.src, p.payload[8:]) for p in sent(k, "em0", 17)] == [
        (1, EM0_IP, b"a"),
        (7, EM0_IP, b"b"),
    ]
    # the multicast branch of ip_output sets ip_ttl even for IP_HDRINCL
    # (IP_RAWOUTPUT) datagrams; ip_src 0 is filled from the outgoing ifp
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.setsockopt(IPP, sock.IP_HDRINCL, 1)
    hdr = struct.pack("<BBHHHBBH", 0x45, 0, 24, 0, 0, 64, 253, 0) + inet("0.0.0.0") + inet(G1)
    r.sendto(hdr + b"data", (G1, 0))
    r.setsockopt(IPP, sock.IP_MULTICAST_TTL, 9)
    r.sendto(hdr + b"data", (G1, 0))
    k.advance(0)
    assert [(p.ttl, p.src, p.dst, p.payload) for p in sent(k, "em0", 253)] == [
        (1, EM0_IP, G1, b"data"),
        (9, EM0_IP, G1, b"data"),
    ]


# ------------------------------------------------------------ LOOP
def test_multicast_loop_values(k):
    """inp_setmoptions IP_MULTICAST_LOOP: u_char or int; the int is
    truncated to u_char before imo_multicast_loop = !!loop (so 256 -> 0);
    2 bytes -> EINVAL. inp_getmoptions: int, or u_char for a 1-byte buffer."""
    s = udp_sock(k)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_LOOP) == 1
    got = {}
    for value in (b"\x00", b"\x05", 0, 7, 256, 0x101):
        s.setsockopt(IPP, sock.IP_MULTICAST_LOOP, value)
        got[repr(value)] = (
            s.getsockopt(IPP, sock.IP_MULTICAST_LOOP),
            s.getsockopt(IPP, sock.IP_MULTICAST_LOOP, 1),
        )
    assert got == {
        "b'\\x00'": (0, b"\x00"),
        "b'\\x05'": (1, b"\x01"),
        "0": (0, b"\x00"),
        "7": (1, b"\x01"),
        "256": (0, b"\x00"),
        "257": (1, b"\x01"),
    }
    assert errno_of(s.setsockopt, IPP, sock.IP_MULTICAST_LOOP, b"\0\0") == errno.EINVAL


# ------------------------------------------------------------ VIF
def test_multicast_vif(k):
    """inp_setmoptions IP_MULTICAST_VIF: legal_vif_num is NULL without the
    ip_mroute module -> EOPNOTSUPP; inp_getmoptions returns -1."""
    s = udp_sock(k)
    assert s.getsockopt(IPP, sock.IP_MULTICAST_VIF, 4) == struct.pack("<i", -1)
    assert errno_of(s.setsockopt, IPP, sock.IP_MULTICAST_VIF, 0) == errno.EOPNOTSUPP


# ------------------------------------------------------------ loopback
def test_loopback_to_member_sender(k):
    """ip_output -> ip_mloopback (imo_multicast_loop defaults to 1): the
    sender, a member bound to the port, gets its own datagram from
    if_simloop(em0), and the frame also goes out on em0."""
    s = udp_sock(k, 5000)
    join(s, G1)
    s.sendto(b"hello", (G1, 5000))
    k.advance(0)
    assert recv_all(s) == [(b"hello", (EM0_IP, 5000))]
    (p,) = sent(k, "em0", 17)
    assert (p.src, p.dst, p.ttl, p.tos) == (EM0_IP, G1, 1, 0)
    assert p.eth_dst == mcast_mac(G1)
    assert p.header_ok()
    # imo_multicast_loop == 0 -> no ip_mloopback, but still transmitted
    s.setsockopt(IPP, sock.IP_MULTICAST_LOOP, 0)
    s.sendto(b"again", (G1, 5000))
    k.advance(0)
    assert recv_all(s) == []
    assert len(sent(k, "em0", 17)) == 1


def test_loop_sysctl_read_when_moptions_created():
    """inp_findmoptions: imo_multicast_loop = in_mcast_loop at creation;
    changing net.inet.ip.mcast.loop later does not affect that socket."""
    k = mk()
    assert k.sysctl("net.inet.ip.mcast.loop", 0) == 1
    s = udp_sock(k, 5000)
    join(s, G1)  # ip_moptions created, loop 0
    assert s.getsockopt(IPP, sock.IP_MULTICAST_LOOP) == 0
    k.sysctl("net.inet.ip.mcast.loop", 1)
    s.sendto(b"x", (G1, 5000))
    k.advance(0)
    assert recv_all(s) == []
    t = udp_sock(k, 5001)  # created after: loop 1
    join(t, G1)
    t.sendto(b"y", (G1, 5001))
    k.advance(0)
    assert recv_all(t) == [(b"y", (EM0_IP, 5001))]


def test_loop_sysctl_applies_at_send_without_moptions(k):
    """ip_output: imo == NULL -> loop back iff in_mcast_loop (read at send);
    inp_getmoptions reports IP_DEFAULT_MULTICAST_LOOP (1) regardless."""
    member = udp_sock(k, 5000, reuse=True)
    join(member, G1)
    sender = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    k.sysctl("net.inet.ip.mcast.loop", 0)
    assert sender.getsockopt(IPP, sock.IP_MULTICAST_LOOP) == 1
    sender.sendto(b"a", (G1, 5000))
    k.advance(0)
    assert recv_all(member) == []
    k.sysctl("net.inet.ip.mcast.loop", 1)
    sender.sendto(b"b", (G1, 5000))
    k.advance(0)
    got = recv_all(member)
    assert [d for d, _ in got] == [b"b"] and got[0][1][0] == EM0_IP


def test_loopback_arrives_on_output_interface(k):
    """ip_mloopback: if_simloop(ifp) with the outgoing ifp, so the copy is
    received on em1 (IP_MULTICAST_IF): a member on em0 gets nothing
    (ips_notmember), a member on em1 gets it."""
    a = udp_sock(k, 5000, reuse=True)
    join(a, G1, EM0_IP)
    b = udp_sock(k, 5000, reuse=True)
    join(b, G1, EM1_IP)
    sender = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    sender.setsockopt(IPP, sock.IP_MULTICAST_IF, inet(EM1_IP))
    d = Delta(k)
    sender.sendto(b"z", (G1, 5000))
    k.advance(0)
    assert [x for x, _ in recv_all(b)] == [b"z"]
    assert recv_all(a) == []
    assert d("ip", "ips_notmember") == 1


def test_ttl_zero_looped_not_transmitted(k):
    """ip_output: ip_ttl == 0 -> looped back by ip_mloopback but freed
    before transmission."""
    s = udp_sock(k, 5000)
    join(s, G1)
    s.setsockopt(IPP, sock.IP_MULTICAST_TTL, 0)
    s.sendto(b"t0", (G1, 5000))
    k.advance(0)
    assert [x for x, _ in recv_all(s)] == [b"t0"]
    assert sent(k, "em0", 17) == []
    # multicast out of lo0 (IP_MULTICAST_IF 127.0.0.1): ip_mloopback gives
    # the one copy a member on lo0 receives; the IFF_LOOPBACK test frees the
    # original instead of sending it a second time
    m = udp_sock(k, 7000, reuse=True)
    join(m, G1, "127.0.0.1")
    out = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    out.setsockopt(IPP, sock.IP_MULTICAST_IF, inet("127.0.0.1"))
    out.sendto(b"lo", (G1, 7000))
    k.advance(0)
    assert [x for x, _ in recv_all(m)] == [b"lo"]
    assert sent(k, "em0") == [] and sent(k, "em1") == []


@pytest.mark.parametrize(
    "bind_addr,err,noroute",
    [
        ("0.0.0.0", errno.ENETUNREACH, 0),  # in_pcbladdr: no route, no ifa
        (EM0_IP, errno.EHOSTUNREACH, 1),  # ip_output: rte == NULL
    ],
)
def test_multicast_send_without_route_or_interface(bind_addr, err, noroute):
    """udp_output: an unbound-address socket selects its source with
    in_pcbladdr, which fails with ENETUNREACH without a route; a socket bound
    to an address reaches ip_output, where a multicast destination without
    imo_multicast_ifp needs a route: ips_noroute, EHOSTUNREACH."""
    k = mk(default_route=False)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.bind((bind_addr, 5000))
    d = Delta(k)
    assert errno_of(s.sendto, b"x", (G1, 5000)) == err
    assert d("ip", "ips_noroute") == noroute
    assert sent(k, "em0") == []
