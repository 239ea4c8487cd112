"""bind / connect / names / shutdown / close / so_error: soconnect, soshutdown,
sorflush, soclose (kern/uipc_socket.c), kern_getpeername, getsockaddr
(kern/uipc_syscalls.c), udp_connect / udp_disconnect / udp_ctlinput /
udp_notify (netinet/udp_usrreq.c), rip_bind / rip_connect (netinet/raw_ip.c)
of FreeBSD 9.1.

US = sys/kern/uipc_socket.c, SYS = sys/kern/uipc_syscalls.c, UDP =
sys/netinet/udp_usrreq.c, RAW = sys/netinet/raw_ip.c, PCB =
sys/netinet/in_pcb.c (9.1 line numbers).
"""

import pytest

from conformance.sockets.source.common import (
    DG,
    HOST,
    ICMP,
    IP,
    PEER,
    RAW,
    delta,
    errno,
    ip_frames,
    oserr,
    port_unreach_in,
    raw_socket,
    snapshot,
    sock,
    sockaddr,
    timeval,
    udp_frame,
    udp_in,
    udp_socket,
)

SOL = sock.SOL_SOCKET


def connected_udp(k, rport=9):
    s = udp_socket(k)
    s.connect((PEER, rport))
    laddr, lport = s.getsockname()
    assert laddr == HOST
    return s, lport


# --- names --------------------------------------------------------------------


@pytest.mark.parametrize("kind", [DG, RAW])
def test_names_of_a_new_socket(k, kind):
    """in_pcb.c in_getsockaddr: the wildcard address and port 0 of a new
    pcb; SYS kern_getpeername 1597-1599: not connected -> ENOTCONN."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    assert s.getsockname() == ("0.0.0.0", 0)
    assert oserr(s.getpeername) == errno.ENOTCONN


def test_names_of_connected_sockets(k):
    """UDP udp_connect 1531-1535 (in_pcbconnect picks source and port, then
    soisconnected); RAW rip_connect 943-948 (foreign address only, port 0)."""
    s, lport = connected_udp(k, 53)
    assert s.getpeername() == (PEER, 53)
    assert (
        k.sysctl("net.inet.ip.portrange.first") <= lport <= k.sysctl("net.inet.ip.portrange.last")
    )
    r = raw_socket(k)
    r.connect((PEER, 0))
    assert r.getpeername() == (PEER, 0)
    assert r.getsockname() == ("0.0.0.0", 0)


def test_failed_reconnect_leaves_udp_disconnected(k):
    """US soconnect 816-825: a connected datagram socket is disconnected
    first (udp_disconnect 1562-1582 clears the foreign address AND the local
    address, keeps the port), then udp_connect -> in_pcbconnect_setup 940-941
    refuses AF_UNSPEC with EAFNOSUPPORT."""
    s = udp_socket(k)
    s.bind((HOST, 5100))
    s.connect((PEER, 53))
    assert oserr(s.connect, sockaddr(0)) == errno.EAFNOSUPPORT
    assert oserr(s.getpeername) == errno.ENOTCONN
    assert s.getsockname() == ("0.0.0.0", 5100)
    assert oserr(s.send, b"x") == errno.EDESTADDRREQ


def test_udp_connect_port_zero(k):
    """PCB in_pcbconnect_setup 942-943: destination port 0 -> EADDRNOTAVAIL."""
    s = udp_socket(k)
    assert oserr(s.connect, (PEER, 0)) == errno.EADDRNOTAVAIL
    assert oserr(s.getpeername) == errno.ENOTCONN


def test_udp_bind_ignores_the_family(k):
    """PCB in_pcbbind_setup 510-519: only sa_len is checked (the family test
    is `#ifdef notdef`), so an AF_UNSPEC name of 16 zero bytes binds the
    wildcard address and an ephemeral port; a second bind is EINVAL
    (in_pcbbind 332-333)."""
    s = udp_socket(k)
    s.bind(sockaddr(0))
    addr, port = s.getsockname()
    assert addr == "0.0.0.0"
    assert k.sysctl("net.inet.ip.portrange.first") <= port <= k.sysctl("net.inet.ip.portrange.last")
    assert oserr(s.bind, ("0.0.0.0", 5101)) == errno.EINVAL


def test_raw_bind_and_connect_checks(k):
    """RAW rip_bind 910-915: a family other than AF_INET/AF_IMPLINK ->
    EADDRNOTAVAIL (not EAFNOSUPPORT); rip_connect 937-938: family ->
    EAFNOSUPPORT.  AF_IMPLINK (3) is accepted by both."""
    r = raw_socket(k)
    assert oserr(r.bind, sockaddr(0, HOST)) == errno.EADDRNOTAVAIL
    assert oserr(r.connect, sockaddr(0, PEER)) == errno.EAFNOSUPPORT
    r.bind(sockaddr(sock.AF_IMPLINK, HOST))
    assert r.getsockname() == (HOST, 0)
    r.connect(sockaddr(sock.AF_IMPLINK, PEER))
    assert r.getpeername() == (PEER, 0)


def test_sa_len_comes_from_the_name_length(k):
    """SYS getsockaddr 1710: the kernel overwrites sa_len with the length the
    caller passed, so a 16-byte name whose sin_len byte says 0 (or 99) binds
    and connects normally, while an 8-byte name whose first byte says 16 is
    too short (in_pcbbind_setup 510-511, rip_bind 900-901, rip_connect
    933-934: EINVAL)."""
    u = udp_socket(k)
    u.bind(sockaddr(2, HOST, 5105, salen=0))
    assert u.getsockname() == (HOST, 5105)
    u.connect(sockaddr(2, PEER, 53, salen=99))
    assert u.getpeername() == (PEER, 53)
    r = raw_socket(k)
    r.bind(sockaddr(2, HOST, salen=99))
    assert r.getsockname() == (HOST, 0)
    assert oserr(udp_socket(k).bind, sockaddr(2, HOST, 5106, length=8)) == errno.EINVAL
    assert oserr(raw_socket(k).bind, sockaddr(2, HOST, length=8)) == errno.EINVAL
    assert oserr(raw_socket(k).connect, sockaddr(2, PEER, length=8)) == errno.EINVAL


def test_name_length_checked_for_bind_and_connect(k):
    """SYS getsockaddr 1697-1700 (used by kern_bind and kern_connect): longer
    than 255 -> ENAMETOOLONG, shorter than 2 -> EINVAL."""
    s = udp_socket(k)
    assert oserr(s.bind, sockaddr(2, HOST, 5103, length=256)) == errno.ENAMETOOLONG
    assert oserr(s.connect, b"\x10") == errno.EINVAL
    assert s.getsockname() == ("0.0.0.0", 0)


# --- shutdown -------------------------------------------------------------------


def test_shutdown_bad_how(k):
    """US soshutdown 2320-2321: how other than SHUT_RD/WR/RDWR -> EINVAL."""
    s = udp_socket(k)
    assert oserr(s.shutdown, 3) == errno.EINVAL
    assert oserr(s.shutdown, -1) == errno.EINVAL


@pytest.mark.parametrize("kind", [DG, RAW])
def test_shutdown_write_of_an_unconnected_socket(k, kind):
    """US soshutdown 2315-2336 has no ENOTCONN test; udp_shutdown /
    rip_shutdown call socantsendmore, and sosend_dgram 1026-1030 /
    sosend_generic 1203-1207 then answer EPIPE."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    s.shutdown(sock.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        s.sendto(b"x", (PEER, 53))
    assert k.transmitted("em0") == []


def test_shutdown_read_flushes_and_reads_end_of_file(k):
    """US soshutdown 2330-2331 -> sorflush 2339-2383: the queued datagram is
    thrown away and SBS_CANTRCVMORE set, so soreceive_dgram 2173-2177 returns
    0 bytes; the buffer's high-water mark is zeroed with the rest of the
    sockbuf (sys/sockbuf.h 85: everything from sb_mb on), so a later
    datagram does not fit (udp_usrreq.c 323-328: udps_fullsock)."""
    s = udp_socket(k, port=7010)
    udp_in(k, 7010)
    s.shutdown(sock.SHUT_RD)
    assert s.recv(100) == b""
    before = snapshot(k)
    udp_in(k, 7010, payload=b"late")
    assert delta(before, snapshot(k), "udp") == {"udps_ipackets": 1, "udps_fullsock": 1}
    assert s.recv(100) == b""
    assert s.recvmsg(100) == (b"", [], 0, None)


def test_shutdown_read_zeroes_receive_buffer_settings(k):
    """US sorflush 2366-2372: sb_hiwat, sb_lowat and sb_timeo lie after
    sb_startzero and are cleared; sogetopt 2751-2761, 2763-2769 read them."""
    s = udp_socket(k, port=7011)
    s.setsockopt(SOL, sock.SO_RCVTIMEO, timeval(1, 0))
    s.shutdown(sock.SHUT_RD)
    assert s.getsockopt(SOL, sock.SO_RCVBUF) == 0
    assert s.getsockopt(SOL, sock.SO_RCVLOWAT) == 0
    assert s.getsockopt(SOL, sock.SO_RCVTIMEO, 16) == timeval(0, 0)
    assert s.getsockopt(SOL, sock.SO_SNDBUF) == 9216


def test_shutdown_read_then_new_buffer_receives_again(k):
    """sbappendaddr_locked (uipc_sockbuf.c 627-670) looks only at the space,
    not at SBS_CANTRCVMORE, and soreceive_dgram 2163-2186 only looks at the
    state when the queue is empty: after SO_RCVBUF reserves room again,
    datagrams are queued and read."""
    s = udp_socket(k, port=7012)
    s.shutdown(sock.SHUT_RD)
    s.setsockopt(SOL, sock.SO_RCVBUF, 2000)
    udp_in(k, 7012, payload=b"again")
    assert s.recvfrom(100) == (b"again", (PEER, 40000))
    assert s.recv(100) == b""


# --- so_error -------------------------------------------------------------------


def test_icmp_error_sets_so_error_read_clears(k):
    """UDP udp_ctlinput 678-688 (exact 4-tuple lookup) -> udp_notify 643:
    port unreachable becomes ECONNREFUSED (inetctlerrmap); US sogetopt
    2740-2745 reads and clears it."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    assert s.getsockopt(SOL, sock.SO_ERROR) == errno.ECONNREFUSED
    assert s.getsockopt(SOL, sock.SO_ERROR) == 0


def test_so_error_reported_once_by_send(k):
    """US sosend_dgram 1031-1036: a pending so_error is returned and cleared
    before anything is sent; the next send goes out."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    assert oserr(s.send, b"x") == errno.ECONNREFUSED
    assert k.transmitted("em0") == []
    assert s.send(b"y") == 1
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, lport, 9, b"y")


def test_so_error_reported_once_by_recv(k):
    """US soreceive_dgram 2167-2172: with nothing queued the pending error is
    returned and cleared; then EAGAIN."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    assert oserr(s.recv, 100) == errno.ECONNREFUSED
    assert oserr(s.recv, 100) == errno.EAGAIN


def test_queued_data_comes_before_so_error(k):
    """US soreceive_dgram 2163: the error is only looked at when the queue is
    empty."""
    s, lport = connected_udp(k)
    udp_in(k, lport, sport=9, payload=b"first")
    port_unreach_in(k, lport, 9)
    assert s.recv(100) == b"first"
    assert oserr(s.recv, 100) == errno.ECONNREFUSED


def test_peek_does_not_clear_so_error(k):
    """US soreceive_generic 1513-1521 (MSG_PEEK goes there, 2144): the error
    is returned but cleared only without MSG_PEEK."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    assert oserr(s.recv, 100, sock.MSG_PEEK) == errno.ECONNREFUSED
    assert s.getsockopt(SOL, sock.SO_ERROR) == errno.ECONNREFUSED


def test_epipe_is_checked_before_so_error(k):
    """US sosend_dgram 1026-1036: SBS_CANTSENDMORE is tested first, and the
    pending error is left alone."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    s.shutdown(sock.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        s.send(b"x")
    assert s.getsockopt(SOL, sock.SO_ERROR) == errno.ECONNREFUSED


def test_reconnect_clears_so_error(k):
    """US soconnect 819-824: the error of the previous association is
    cleared before pru_connect."""
    s, lport = connected_udp(k)
    port_unreach_in(k, lport, 9)
    s.connect((PEER, 10))
    assert s.getsockopt(SOL, sock.SO_ERROR) == 0


def test_unconnected_socket_gets_no_so_error(k):
    """UDP udp_ctlinput 680-681: in_pcblookup without INPLOOKUP_WILDCARD
    finds only connected sockets."""
    s = udp_socket(k, port=5104)
    s.sendto(b"x", (PEER, 9))
    k.transmitted("em0")
    port_unreach_in(k, 5104, 9)
    assert s.getsockopt(SOL, sock.SO_ERROR) == 0
    assert s.sendto(b"y", (PEER, 9)) == 1


# --- close ----------------------------------------------------------------------


def test_closed_socket_is_a_bad_descriptor(k):
    """SYS getsock_cap 138-139: after close(2) the descriptor is gone, every
    call is EBADF."""
    s = udp_socket(k, port=7013)
    s.close()
    assert oserr(s.sendto, b"x", (PEER, 53)) == errno.EBADF
    assert oserr(s.recv, 100) == errno.EBADF
    assert oserr(s.getsockopt, SOL, sock.SO_TYPE) == errno.EBADF


def test_close_releases_the_port(k):
    """US soclose -> udp_close/udp_detach free the pcb: a datagram to the
    port finds no socket (udps_noport, ICMP port unreachable) and the port
    can be bound again."""
    s = udp_socket(k, port=7014)
    s.close()
    before = snapshot(k)
    udp_in(k, 7014)
    assert delta(before, snapshot(k), "udp") == {"udps_ipackets": 1, "udps_noport": 1}
    (icmp,) = ip_frames(k)
    assert (icmp[IP].dst, icmp[ICMP].type, icmp[ICMP].code) == (PEER, 3, 3)
    udp_socket(k, port=7014)
