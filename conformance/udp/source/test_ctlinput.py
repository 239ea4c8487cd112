"""ICMP errors reaching UDP sockets: icmp_input (ip_icmp.c) -> udp_ctlinput
-> udp_notify (udp_usrreq.c); the errno comes from inetctlerrmap
(ip_input.c 1341-1348). Line numbers are from 9.1; head of February 2011
agrees (only locking differs).
"""

import pytest

from .common import (
    EM0_MAC,
    ICMP,
    IP,
    PEER,
    PEER_MAC,
    UDP,
    Ether,
    err,
    errno,
    sock,
    udp_sock,
)


def icmp_error_in(
    k, sport, dport=53, type=3, code=3, quoted_src="192.0.2.1", quoted_dst=PEER, **icmpkw
):
    """An ICMP error from PEER quoting a UDP datagram we sent."""
    f = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src=PEER, dst="192.0.2.1")
        / ICMP(type=type, code=code, **icmpkw)
        / IP(src=quoted_src, dst=quoted_dst, proto=17, len=36)
        / UDP(sport=sport, dport=dport, len=16, chksum=0)
    )
    return k.input("em0", bytes(f))


def so_error(s):
    return s.getsockopt(sock.SOL_SOCKET, sock.SO_ERROR)


@pytest.mark.parametrize(
    "type, code, want",
    [
        (3, 3, errno.ECONNREFUSED),  # port: PRC_UNREACH_PORT
        (3, 2, errno.ECONNREFUSED),  # protocol: PRC_UNREACH_PORT
        (3, 0, errno.EHOSTUNREACH),  # net: PRC_UNREACH_NET
        (3, 1, errno.EHOSTUNREACH),  # host: PRC_UNREACH_NET
        (3, 4, errno.EMSGSIZE),  # needfrag: PRC_MSGSIZE
        (3, 13, errno.ECONNREFUSED),  # filter prohibited: PRC_UNREACH_ADMIN_PROHIB
        (11, 0, errno.EHOSTUNREACH),  # TTL exceeded in transit: PRC_TIMXCEED_INTRANS
        (12, 0, errno.ENOPROTOOPT),  # parameter problem: PRC_PARAMPROB
    ],
)
def test_error_posted_on_connected_socket(k, type, code, want):
    """ip_icmp.c icmp_input 411-466 map the ICMP type/code to a PRC_ command,
    467-492 hand it to udp_ctlinput, which finds the connected pcb by the
    quoted 4-tuple (udp_usrreq.c 678-688) and udp_notify sets so_error
    (632-647) to inetctlerrmap[cmd] (ip_input.c 1341-1348). SO_ERROR reads it
    once (it is cleared by the read)."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    icmp_error_in(k, port, type=type, code=code)
    assert so_error(s) == want
    assert so_error(s) == 0


def test_pending_error_returned_by_next_send(k):
    """uipc_socket.c sosend_dgram 1031-1036: a pending so_error is returned by
    the next send and cleared; the send after it goes out."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    k.transmitted("em0")
    icmp_error_in(k, port)
    assert err(s.send, b"x") == errno.ECONNREFUSED
    assert k.transmitted("em0") == []
    assert s.send(b"y") == 1
    assert len(k.transmitted("em0")) == 1


def test_unconnected_socket_not_notified(k):
    """udp_usrreq.c udp_ctlinput 680-681: the lookup has no INPLOOKUP_WILDCARD,
    so a socket that is not connected to the quoted destination gets nothing."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.sendto(b"x", (PEER, 53))
    icmp_error_in(k, 7000)
    assert so_error(s) == 0
    b = udp_sock(k)
    b.bind(("192.0.2.1", 7001))
    icmp_error_in(k, 7001)
    assert so_error(b) == 0


def test_quoted_ports_must_match(k):
    """udp_usrreq.c udp_ctlinput 679-681: the pcb is looked up by the quoted
    source and destination ports too."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    icmp_error_in(k, port, dport=54)
    icmp_error_in(k, port + 1 if port < 65535 else port - 1)
    assert so_error(s) == 0


def test_source_quench_ignored(k):
    """ip_icmp.c icmp_input 463-466 (PRC_QUENCH); inetctlerrmap[PRC_QUENCH]
    is 0, so udp_ctlinput returns at 676-677."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    icmp_error_in(k, port, type=4, code=0)
    assert so_error(s) == 0


def test_redirect_ignored(k):
    """udp_usrreq.c udp_ctlinput 665-666: redirects are not UDP's business."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    icmp_error_in(k, port, type=5, code=1, gw="192.0.2.254")
    assert so_error(s) == 0


def test_error_about_multicast_ignored(k):
    """ip_icmp.c icmp_input 476-478: an error quoting a datagram sent to a
    multicast address is dropped (badcode) before any protocol hears of it."""
    s = udp_sock(k)
    k.route_add("default", "192.0.2.254")
    s.connect(("239.1.2.3", 53))
    port = s.getsockname()[1]
    before = k.netstat("icmp")["icps_badcode"]
    icmp_error_in(k, port, quoted_dst="239.1.2.3")
    assert so_error(s) == 0
    assert k.netstat("icmp")["icps_badcode"] == before + 1


def test_pending_error_returned_by_receive(k):
    """uipc_socket.c soreceive_dgram 2163-2171: with nothing queued a pending
    so_error is returned by the read and cleared; the next read is EAGAIN."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    icmp_error_in(k, port)
    assert err(s.recvfrom, 100) == errno.ECONNREFUSED
    assert err(s.recvfrom, 100) == errno.EAGAIN
