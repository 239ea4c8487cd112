"""Receive buffers: sbappendaddr_locked / soreserve / sbreserve_locked
(kern/uipc_sockbuf.c), udp_append (netinet/udp_usrreq.c), rip_append
(netinet/raw_ip.c) of FreeBSD 9.1.

SB = sys/kern/uipc_sockbuf.c, UDP = sys/netinet/udp_usrreq.c, RAW =
sys/netinet/raw_ip.c (9.1 line numbers).  A queued datagram costs its
address (sa_len 16), its control mbufs (CMSG_SPACE each) and its data
(SB sbappendaddr_locked 633-640, sballoc in sys/sockbuf.h 172-176 counts
every mbuf's m_len into sb_cc; sbspace 167-169).  The tests keep the
mbuf-count bound (sb_mbmax = 8 x sb_hiwat) far away.
"""

from conformance.sockets.source.common import (
    PEER,
    delta,
    errno,
    oserr,
    raw_in,
    raw_socket,
    snapshot,
    sock,
    udp_in,
    udp_socket,
)

SOL = sock.SOL_SOCKET
IPL = sock.IPPROTO_IP


def test_udp_datagram_takes_address_plus_data(k):
    """SB sbappendaddr_locked 633-640: 16 + data must fit sbspace; UDP
    udp_append 323-328 counts a refused datagram in udps_fullsock.  With
    SO_RCVBUF 100 an 84-byte datagram fits and an 85-byte one does not."""
    s = udp_socket(k, port=7100)
    s.setsockopt(SOL, sock.SO_RCVBUF, 100)
    before = snapshot(k)
    udp_in(k, 7100, payload=b"x" * 85)
    after = snapshot(k)
    assert delta(before, after, "udp") == {"udps_ipackets": 1, "udps_fullsock": 1}
    assert delta(before, after, "ip") == {"ips_total": 1, "ips_delivered": 1}
    assert k.transmitted("em0") == []
    udp_in(k, 7100, payload=b"y" * 84)
    assert s.recvfrom(200) == (b"y" * 84, (PEER, 40000))


def test_control_messages_take_space_too(k):
    """SB sbappendaddr_locked 640: the control chain's length counts; an
    IP_RECVDSTADDR message is CMSG_SPACE(4) = 24 bytes, leaving 60 data
    bytes in a 100-byte buffer."""
    s = udp_socket(k, port=7101)
    s.setsockopt(SOL, sock.SO_RCVBUF, 100)
    s.setsockopt(IPL, sock.IP_RECVDSTADDR, 1)
    before = snapshot(k)
    udp_in(k, 7101, payload=b"x" * 61)
    assert delta(before, snapshot(k), "udp") == {"udps_ipackets": 1, "udps_fullsock": 1}
    udp_in(k, 7101, payload=b"y" * 60)
    data, anc, flags, addr = s.recvmsg(200, 64)
    assert (data, len(anc), flags) == (b"y" * 60, 1, 0)


def test_queued_datagrams_fill_the_buffer(k):
    """SB sbspace: hiwat - sb_cc; two 484-byte datagrams (500 each) fill a
    1000-byte buffer and even an empty datagram (16 bytes) is then refused;
    reading one frees its 500 bytes."""
    s = udp_socket(k, port=7102)
    s.setsockopt(SOL, sock.SO_RCVBUF, 1000)
    udp_in(k, 7102, payload=b"a" * 484)
    udp_in(k, 7102, payload=b"b" * 484)
    before = snapshot(k)
    udp_in(k, 7102, payload=b"")
    assert delta(before, snapshot(k), "udp") == {"udps_ipackets": 1, "udps_fullsock": 1}
    assert s.recv(1000) == b"a" * 484
    udp_in(k, 7102, payload=b"c" * 484)
    assert s.recv(1000) == b"b" * 484
    assert s.recv(1000) == b"c" * 484
    assert oserr(s.recv, 1000) == errno.EAGAIN


def test_raw_full_buffer_drops_without_a_counter(k):
    """RAW rip_append 257-263: a refused datagram is freed with no counter
    (ip_input already counted ips_delivered, rip_input 410-415 only undoes it
    when no socket matched).  Raw data includes the 20-byte IP header:
    16 + 20 + 64 = 100 fits, 65 bytes of payload do not."""
    r = raw_socket(k, 253)
    r.setsockopt(SOL, sock.SO_RCVBUF, 100)
    before = snapshot(k)
    raw_in(k, 253, payload=b"x" * 65)
    after = snapshot(k)
    assert delta(before, after, "ip") == {"ips_total": 1, "ips_delivered": 1}
    assert oserr(r.recv, 200) == errno.EAGAIN
    raw_in(k, 253, payload=b"y" * 64)
    assert r.recv(200)[20:] == b"y" * 64


def test_socket_creation_fails_when_the_default_buffer_is_too_big(k):
    """UDP udp_attach 1427-1429 and RAW rip_attach 795-797: soreserve (SB
    241-266) fails with ENOBUFS when a default size (net.inet.udp.recvspace,
    net.inet.raw.maxdgram) exceeds sb_max_adj (1864135), so socket(2)
    fails."""
    k.sysctl("net.inet.udp.recvspace", 1864136)
    assert oserr(k.socket, sock.AF_INET, sock.SOCK_DGRAM) == errno.ENOBUFS
    k.sysctl("net.inet.udp.recvspace", 1864135)
    assert udp_socket(k).getsockopt(SOL, sock.SO_RCVBUF) == 1864135
    k.sysctl("net.inet.raw.maxdgram", 1864136)
    assert oserr(k.socket, sock.AF_INET, sock.SOCK_RAW, 253) == errno.ENOBUFS
