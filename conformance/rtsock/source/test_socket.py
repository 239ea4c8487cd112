"""The routing socket itself: creation, options, buffer, from the 9.1 source.

RTS = sys/net/rtsock.c, RAWU = sys/net/raw_usrreq.c, RAWCB =
sys/net/raw_cb.c, SOCK = sys/kern/uipc_socket.c, DOM =
sys/kern/uipc_domain.c, SB = sys/kern/uipc_sockbuf.c.
"""

import pytest

from .common import (
    RT_MSGHDR_LEN,
    RTM_MISS,
    SO_USELOOPBACK,
    drain,
    errno,
    oserr,
    raw_send_unreachable,
    route_socket,
    settle,
    sock,
    types,
)


def test_constants():
    """sys/socket.h 190 and 319: AF_ROUTE is 17 and PF_ROUTE is AF_ROUTE."""
    assert sock.AF_ROUTE == sock.PF_ROUTE == 17


@pytest.mark.parametrize("uid", [0, 1000])
@pytest.mark.parametrize("proto", [0, 2])
def test_any_uid_may_open(k, uid, proto):
    """RTS rts_attach 298-346 calls raw_attach directly (no priv_check, unlike
    RAWU raw_uattach 162-166); the protocol, 0 or an address family, is
    kept in rcb_proto (RAWCB raw_attach 94-95). Nothing is queued yet."""
    s = route_socket(k, proto, uid=uid)
    assert oserr(s.recv, 2048) == errno.EAGAIN


@pytest.mark.parametrize(
    "stype, proto",
    [(sock.SOCK_DGRAM, 0), (sock.SOCK_DGRAM, 2), (sock.SOCK_STREAM, 0)],
    ids=["dgram", "dgram-inet", "stream"],
)
def test_other_types_refused(k, stype, proto):
    """The route domain has one protosw, SOCK_RAW (RTS 1888-1898). SOCK
    socreate 372-379: pffindtype (DOM 301-304) / pffindproto (321-329, whose
    wildcard fallback is only for SOCK_RAW) find nothing, so
    EPROTONOSUPPORT (EPROTOTYPE at 384 needs a protosw of another type)."""
    assert oserr(k.socket, sock.AF_ROUTE, stype, proto) == errno.EPROTONOSUPPORT


def test_jail_without_ipv4_may_open(k):
    """SOCK socreate 381 -> kern_jail.c prison_check_af 3384-3386: AF_ROUTE
    is never refused to a jail."""
    j = k.jail("j0", ip4=None)
    s = j.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    assert oserr(s.recv, 2048) == errno.EAGAIN


def test_useloopback_on_by_default(k):
    """RTS rts_attach 343 sets SO_USELOOPBACK; SOCK sogetopt 2715-2727 reads
    an on/off option back as its bit (0x40); setting 0 clears it."""
    s = route_socket(k)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_USELOOPBACK) == SO_USELOOPBACK
    s.setsockopt(sock.SOL_SOCKET, sock.SO_USELOOPBACK, 0)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_USELOOPBACK) == 0


def test_buffer_sizes(k):
    """RAWCB raw_attach 90 -> soreserve(raw_sendspace, raw_recvspace), both
    RAWSNDQ/RAWRCVQ = 8192 (raw_cb.h 54-55, RAWCB 64-70)."""
    s = route_socket(k)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF) == 8192
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 8192
    assert k.sysctl("net.raw.recvspace") == 8192
    assert k.sysctl("net.raw.sendspace") == 8192


def test_netisr_queue_limit_sysctl(k):
    """RTS 205-220: net.route.netisr_maxqlen reads the rtsock netisr queue
    limit; the handler has no nh_qlimit (RTS 198-203), so netisr_register
    gives it net.isr.defaultqlimit, 256 (netisr.c 203, 450-451)."""
    assert k.sysctl("net.route.netisr_maxqlen") == 256


def test_bind_is_einval(k):
    """RTS rts_bind 349-353 -> RAWU raw_ubind 171-175: EINVAL."""
    s = route_socket(k)
    assert oserr(s.bind, bytes((16, sock.AF_ROUTE)) + bytes(14)) == errno.EINVAL


def test_connect_is_eisconn(k):
    """The socket is connected from birth (RTS rts_attach 342). SOCK
    soconnect 814-817: not PR_CONNREQUIRED, so it tries sodisconnect, which
    raw_udisconnect (RAWU 198-204) refuses with ENOTCONN: EISCONN."""
    s = route_socket(k)
    assert oserr(s.connect, bytes((16, sock.AF_ROUTE)) + bytes(14)) == errno.EISCONN


def test_recv_truncates_to_the_buffer(k):
    """Each message is one record (PR_ATOMIC|PR_ADDR, RTS 1891); a short read
    returns its first bytes and discards the rest of that record."""
    s = route_socket(k)
    raw_send_unreachable(k)
    raw_send_unreachable(k, "203.0.113.10")
    settle(k)
    first = s.recv(100)
    assert len(first) == 100 and first[3] == RTM_MISS
    second = s.recv(2048)
    assert len(second) == RT_MSGHDR_LEN + 16
    assert second[RT_MSGHDR_LEN + 4 : RT_MSGHDR_LEN + 8] == bytes((203, 0, 113, 10))
    assert oserr(s.recv, 2048) == errno.EAGAIN


def test_receive_buffer_holds_48_misses(k):
    """60 RTM_MISS of 168 bytes each (RTS rt_msg1 1064-1107: a 152-byte
    header and one 16-byte address, one mbuf since 168 <= MHLEN). RAWU
    raw_input_ext 110-115 appends each with sbappendaddr and the 2-byte
    route_src (RTS 149), so each takes 170 bytes of sb_cc and 2 * MSIZE of
    sb_mbcnt; SB sbappendaddr_locked 641-642 refuses one that does not fit
    in min(8192 - cc, 65536 - mbcnt): 48 are kept, the rest dropped without a
    counter ("should notify about lost packet", RAWU 102). Each send is
    EHOSTUNREACH with ips_noroute counted (ip_output.c 282-296)."""
    s = route_socket(k)
    before = k.netstat("ip")["ips_noroute"]
    r, err = raw_send_unreachable(k)
    assert err == errno.EHOSTUNREACH
    for i in range(59):
        assert oserr(r.sendto, b"raw", (f"203.0.113.{10 + i}", 0)) == errno.EHOSTUNREACH
    settle(k)
    assert k.netstat("ip")["ips_noroute"] - before == 60
    msgs = drain(s)
    assert types(msgs) == [RTM_MISS] * 48
    assert msgs[0][RT_MSGHDR_LEN + 4 : RT_MSGHDR_LEN + 8] == bytes((203, 0, 113, 9))
    assert msgs[47][RT_MSGHDR_LEN + 4 : RT_MSGHDR_LEN + 8] == bytes((203, 0, 113, 56))


def test_closed_socket_no_longer_counts(k):
    """RTS rts_detach 366-387 and RAWCB raw_detach 106-116: a closed
    socket leaves rawcb_list; a second socket still gets the messages."""
    a = route_socket(k)
    b = route_socket(k)
    a.close()
    raw_send_unreachable(k)
    settle(k)
    assert types(drain(b)) == [RTM_MISS]
