"""Receiving: kern_recvit (kern/uipc_syscalls.c), soreceive_dgram /
soreceive_generic / soreceive_rcvoob (kern/uipc_socket.c), ip_savecontrol
(netinet/ip_input.c) and sbcreatecontrol (kern/uipc_sockbuf.c) of FreeBSD 9.1.

SYS = sys/kern/uipc_syscalls.c, US = sys/kern/uipc_socket.c, SB =
sys/kern/uipc_sockbuf.c, IPI = sys/netinet/ip_input.c (9.1 line numbers).
UDP sockets use soreceive_dgram (udp_usrreq.c 1620), which hands MSG_PEEK and
MSG_OOB to soreceive_generic (US 2144-2146); raw sockets use
soreceive_generic (the default of uipc_domain.c).
"""

import pytest

from conformance.sockets.source.common import (
    DG,
    HOST_MAC,
    PEER,
    RAW,
    cmsg_space,
    errno,
    oserr,
    raw_in,
    raw_socket,
    sock,
    struct,
    udp_in,
    udp_socket,
)

IPL = sock.IPPROTO_IP
DST = bytes((192, 0, 2, 1))


def queued_udp(k, *opts, payload=b"abcd"):
    """A UDP socket on port 7000 with the IPPROTO_IP options `opts` on and one
    datagram (TTL 57) queued."""
    s = udp_socket(k)
    for name in opts:
        s.setsockopt(IPL, name, 1)
    s.bind(("0.0.0.0", 7000))
    udp_in(k, 7000, payload=payload, ttl=57)
    return s


# --- data and flags -------------------------------------------------------------


def test_short_buffer_truncates_and_discards_the_rest(k):
    """US soreceive_dgram 2277-2298: what does not fit the buffer is freed
    with the record and MSG_TRUNC is set; the next read finds nothing."""
    s = queued_udp(k)
    assert s.recvmsg(2) == (b"ab", [], sock.MSG_TRUNC, (PEER, 40000))
    assert oserr(s.recv, 100) == errno.EAGAIN


def test_peek_leaves_the_datagram_and_reports_truncation(k):
    """US soreceive_generic 1590-1592 (address kept), 1762-1764 and
    1782-1783 (PEEK copies without freeing), 1873-1876 (MSG_TRUNC for an
    atomic protocol even when peeking, record not dropped)."""
    s = queued_udp(k)
    assert s.recvmsg(2, 0, sock.MSG_PEEK) == (
        b"ab",
        [],
        sock.MSG_PEEK | sock.MSG_TRUNC,
        (PEER, 40000),
    )
    assert s.recvmsg(100, 0, sock.MSG_PEEK) == (b"abcd", [], sock.MSG_PEEK, (PEER, 40000))
    assert s.recvfrom(100) == (b"abcd", (PEER, 40000))
    assert oserr(s.recv, 100) == errno.EAGAIN


def test_peek_returns_control_messages(k):
    """US soreceive_generic 1611-1615: with MSG_PEEK the control mbufs are
    copied to the caller (m_copy) and left queued; SYS kern_recvit 1006-1008
    asks for them whenever msg_control is given.  The later real read gets
    them again."""
    s = queued_udp(k, sock.IP_RECVDSTADDR)
    assert s.recvmsg(100, 100, sock.MSG_PEEK) == (
        b"abcd",
        [(IPL, sock.IP_RECVDSTADDR, DST)],
        sock.MSG_PEEK,
        (PEER, 40000),
    )
    assert s.recvmsg(100, 100) == (b"abcd", [(IPL, sock.IP_RECVDSTADDR, DST)], 0, (PEER, 40000))


@pytest.mark.parametrize(
    "flag", ["MSG_DONTWAIT", "MSG_WAITALL", "MSG_TRUNC", "MSG_EOR", "MSG_NBIO"]
)
def test_flags_passed_in_come_back_in_msg_flags(k, flag):
    """SYS sys_recvmsg 1259 starts msg_flags from the flags argument; US
    soreceive_dgram 2136 works on a copy without MSG_EOR and 2296-2297 ORs
    it back into msg_flags, so every flag passed in is reported again (with
    MSG_EOR, which was never removed from *flagsp).  MSG_WAITALL does not
    wait for an atomic protocol, MSG_TRUNC does not report the real length."""
    s = queued_udp(k)
    f = getattr(sock, flag)
    assert s.recvmsg(100, 0, f) == (b"abcd", [], f, (PEER, 40000))


@pytest.mark.parametrize("kind", [DG, RAW])
def test_msg_oob_eopnotsupp(k, kind):
    """US soreceive_generic 1478-1479 -> soreceive_rcvoob 1376: pru_rcvoob is
    the default pru_rcvoob_notsupp (US 3127-3131) for UDP and raw:
    EOPNOTSUPP, and the queued datagram stays."""
    if kind == DG:
        s = queued_udp(k)
    else:
        s = raw_socket(k, 253)
        raw_in(k, 253)
    assert oserr(s.recv, 100, sock.MSG_OOB) == errno.EOPNOTSUPP
    assert len(s.recv(100)) > 0


@pytest.mark.parametrize("kind", [DG, RAW])
def test_zero_length_read_of_an_empty_socket_returns_nothing(k, kind):
    """US soreceive_dgram 2173-2177 and soreceive_generic 1542-1545: with
    uio_resid 0 an empty socket returns 0 bytes before the EWOULDBLOCK
    test."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    if kind == DG:
        s.bind(("0.0.0.0", 7001))
    assert s.recv(0) == b""
    assert oserr(s.recv, 1) == errno.EAGAIN


def test_zero_length_read_consumes_a_datagram(k):
    """US soreceive_dgram 2208-2215 and 2277-2298: the record is taken off the queue before
    the copy; with no room, all of it is freed and MSG_TRUNC set."""
    s = queued_udp(k)
    assert s.recvmsg(0) == (b"", [], sock.MSG_TRUNC, (PEER, 40000))
    assert oserr(s.recv, 100) == errno.EAGAIN


@pytest.mark.parametrize("flags", [0, sock.MSG_PEEK, sock.MSG_DONTWAIT])
def test_nothing_queued_eagain(k, flags):
    """US soreceive_dgram 2178-2181 / soreceive_generic 1546-1550: nothing
    queued and non-blocking -> EWOULDBLOCK (EAGAIN)."""
    s = udp_socket(k, port=7002)
    assert oserr(s.recvmsg, 100, 0, flags) == errno.EAGAIN


def test_raw_recvfrom_address_has_port_0(k):
    """raw_ip.c rip_input: the source sockaddr is ip_src with port 0."""
    r = raw_socket(k, 253)
    raw_in(k, 253, payload=b"rawdata!")
    data, addr = r.recvfrom(2048)
    assert addr == (PEER, 0)
    assert data[20:] == b"rawdata!"


# --- control messages ---------------------------------------------------------


def test_control_messages_order_and_contents(k):
    """IPI ip_savecontrol 1602-1686: SCM_BINTIME, then SCM_TIMESTAMP (the
    same instant, bintime2timeval), then IP_RECVDSTADDR (ip_dst),
    IP_RECVTTL (one byte), IP_RECVIF (the interface's sockaddr_dl, 56 bytes
    for em0: if.c if_attach 645-657, if_ethersubr.c stores the MAC after the
    name)."""
    s = udp_socket(k)
    for level, name in [
        (sock.SOL_SOCKET, sock.SO_BINTIME),
        (sock.SOL_SOCKET, sock.SO_TIMESTAMP),
        (IPL, sock.IP_RECVDSTADDR),
        (IPL, sock.IP_RECVTTL),
        (IPL, sock.IP_RECVIF),
    ]:
        s.setsockopt(level, name, 1)
    s.bind(("0.0.0.0", 7003))
    udp_in(k, 7003, ttl=57)
    data, anc, flags, addr = s.recvmsg(100, 1024)
    assert (data, flags, addr) == (b"abcd", 0, (PEER, 40000))
    assert [(lv, ty) for lv, ty, _ in anc] == [
        (sock.SOL_SOCKET, sock.SCM_BINTIME),
        (sock.SOL_SOCKET, sock.SCM_TIMESTAMP),
        (IPL, sock.IP_RECVDSTADDR),
        (IPL, sock.IP_RECVTTL),
        (IPL, sock.IP_RECVIF),
    ]
    bt_sec, bt_frac = struct.unpack("<qQ", anc[0][2])
    tv_sec, tv_usec = struct.unpack("<qq", anc[1][2])
    assert (tv_sec, tv_usec) == (bt_sec, (1000000 * (bt_frac >> 32)) >> 32)
    assert anc[2][2] == DST
    assert anc[3][2] == bytes([57])
    idx = k.iface("em0").index
    mac = bytes.fromhex(HOST_MAC.replace(":", ""))
    sdl = bytes([56, 18]) + struct.pack("<H", idx) + bytes([6, 3, 6, 0]) + b"em0" + mac
    assert anc[4][2] == sdl + bytes(56 - len(sdl))


def test_recvopts_and_recvretopts_produce_nothing(k):
    """IPI ip_savecontrol 1634-1653: the IP_RECVOPTS / IP_RECVRETOPTS code is
    `#ifdef notyet`; the options are accepted (ip_output.c 1024-1030) and the
    datagram comes without control messages."""
    s = queued_udp(k, sock.IP_RECVOPTS, sock.IP_RECVRETOPTS)
    assert s.recvmsg(100, 256) == (b"abcd", [], 0, (PEER, 40000))


def test_raw_socket_control_messages(k):
    """raw_ip.c rip_append 253-255 calls ip_savecontrol as udp_append does."""
    r = raw_socket(k, 253)
    r.setsockopt(IPL, sock.IP_RECVTTL, 1)
    r.setsockopt(IPL, sock.IP_RECVDSTADDR, 1)
    raw_in(k, 253, ttl=33)
    data, anc, flags, addr = r.recvmsg(2048, 256)
    assert anc == [(IPL, sock.IP_RECVDSTADDR, DST), (IPL, sock.IP_RECVTTL, b"\x21")]
    assert (flags, addr) == (0, (PEER, 0))


def test_no_control_buffer_means_no_ctrunc(k):
    """SYS kern_recvit 1006-1008 and 1045: without msg_control no control is
    asked for and MSG_CTRUNC is never set; the control messages are freed."""
    s = queued_udp(k, sock.IP_RECVDSTADDR)
    assert s.recvmsg(100, 0) == (b"abcd", [], 0, (PEER, 40000))


def test_control_buffer_exactly_full_drops_the_rest_without_ctrunc(k):
    """SYS kern_recvit 1067-1089: control mbufs (each CMSG_SPACE long, SB
    sbcreatecontrol 1016) are copied while room is left; a buffer that the
    first message fills exactly stops the loop (len == 0) before the second
    one is looked at, so it is lost without MSG_CTRUNC."""
    s = queued_udp(k, sock.IP_RECVDSTADDR, sock.IP_RECVTTL)
    assert s.recvmsg(100, cmsg_space(4)) == (
        b"abcd",
        [(IPL, sock.IP_RECVDSTADDR, DST)],
        0,
        (PEER, 40000),
    )


def test_control_buffer_too_short_sets_ctrunc(k):
    """SYS kern_recvit 1074-1078: a message that does not fit in what is left
    is copied in part and MSG_CTRUNC set (a 6-byte stub is not a whole
    cmsghdr, so only the first message is readable)."""
    s = queued_udp(k, sock.IP_RECVDSTADDR, sock.IP_RECVTTL)
    assert s.recvmsg(100, cmsg_space(4) + 6) == (
        b"abcd",
        [(IPL, sock.IP_RECVDSTADDR, DST)],
        sock.MSG_CTRUNC,
        (PEER, 40000),
    )


def test_control_buffer_cutting_padding_only(k):
    """SYS kern_recvit 1074-1078: 20 bytes hold CMSG_LEN(4) (header and the
    address) but not the padding of CMSG_SPACE(4) = 24: the message is whole,
    and MSG_CTRUNC is set all the same."""
    s = queued_udp(k, sock.IP_RECVDSTADDR)
    assert s.recvmsg(100, 20) == (
        b"abcd",
        [(IPL, sock.IP_RECVDSTADDR, DST)],
        sock.MSG_CTRUNC,
        (PEER, 40000),
    )
