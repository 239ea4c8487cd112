"""connect(2) on UDP sockets: udp_connect / udp_disconnect (udp_usrreq.c),
in_pcbconnect_mbuf, in_pcbconnect_setup, in_pcbladdr (in_pcb.c).

Line numbers are from 9.1; head of February 2011 agrees on these rules.
"""

from .common import (
    EM1_MAC,
    PEER,
    PEER1,
    PEER1_MAC,
    add_default,
    err,
    errno,
    frames,
    pending,
    reuseport,
    sin,
    sock,
    udp_in,
    udp_sock,
)


def test_source_from_route_interface(k):
    """in_pcb.c in_pcbladdr 715-716, 780-789: the local address is the one of
    the route's interface address; in_pcbconnect_mbuf 649-663 binds it with
    an ephemeral port (in_pcbconnect_setup 1016-1021)."""
    a = udp_sock(k)
    a.connect((PEER1, 53))
    addr, port = a.getsockname()
    assert addr == "198.51.100.1"
    assert 10000 <= port <= 65535
    assert a.getpeername() == (PEER1, 53)
    b = udp_sock(k)
    b.connect((PEER, 53))
    assert b.getsockname()[0] == "192.0.2.1"


def test_source_via_default_route(k):
    """in_pcb.c in_pcbladdr 780-789: through the default route the address is
    the gateway route's ifa, 192.0.2.1 on em0."""
    add_default(k)
    s = udp_sock(k)
    s.connect(("203.0.113.5", 53))
    assert s.getsockname()[0] == "192.0.2.1"


def test_no_route_enetunreach(k):
    """in_pcb.c in_pcbladdr 726-736: no route and no interface whose network
    or point-to-point peer holds the destination: ENETUNREACH, and the socket
    is left unbound (in_pcbconnect_mbuf 643-646 return before binding)."""
    s = udp_sock(k)
    assert err(s.connect, ("203.0.113.5", 53)) == errno.ENETUNREACH
    assert s.getsockname() == ("0.0.0.0", 0)
    assert err(s.getpeername) == errno.ENOTCONN


def test_port_zero_eaddrnotavail(k):
    """in_pcb.c in_pcbconnect_setup 942-943: a destination port of 0 is
    EADDRNOTAVAIL."""
    s = udp_sock(k)
    assert err(s.connect, (PEER, 0)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == ("0.0.0.0", 0)


def test_bad_sockaddr(k):
    """in_pcb.c in_pcbconnect_setup 938-941: sa_len other than 16 is EINVAL,
    a family other than AF_INET EAFNOSUPPORT."""
    s = udp_sock(k)
    assert err(s.connect, sin(PEER, 53, length=8, sa_len=8)) == errno.EINVAL
    assert err(s.connect, sin(PEER, 53, family=sock.AF_UNSPEC)) == errno.EAFNOSUPPORT
    assert err(s.connect, sin(PEER, 53, family=sock.AF_IMPLINK)) == errno.EAFNOSUPPORT


def test_connect_inaddr_any_means_first_address(k):
    """in_pcb.c in_pcbconnect_setup 957-964: destination 0.0.0.0 is replaced
    by the first address of the stack's address list; lo0's 127.0.0.1 was
    configured first. in_pcbladdr 838-861 then picks 127.0.0.1 as source."""
    s = udp_sock(k)
    s.connect(("0.0.0.0", 9))
    assert s.getpeername() == ("127.0.0.1", 9)
    assert s.getsockname()[0] == "127.0.0.1"


def test_connect_limited_broadcast_without_route(k):
    """in_pcb.c in_pcbconnect_setup 965-971: 255.255.255.255 is rewritten only
    when the first address's interface can broadcast; lo0 cannot, so it stays,
    and in_pcbladdr 726-736 finds neither a route nor an interface for it:
    ENETUNREACH."""
    s = udp_sock(k)
    assert err(s.connect, ("255.255.255.255", 9)) == errno.ENETUNREACH


def test_connect_limited_broadcast_with_default_route(k):
    """in_pcb.c in_pcbconnect_setup 965-971 (not rewritten, the first address
    is lo0's), in_pcbladdr 780-789 (source of the default route)."""
    add_default(k)
    s = udp_sock(k)
    s.connect(("255.255.255.255", 9))
    assert s.getpeername() == ("255.255.255.255", 9)
    assert s.getsockname()[0] == "192.0.2.1"


def test_limited_broadcast_rewritten_to_first_interface_broadcast():
    """in_pcb.c in_pcbconnect_setup 957-971 in a stack whose first address is
    on a broadcast interface (a vnet jail with no lo0 address): 0.0.0.0 becomes
    that address, 255.255.255.255 its broadcast address."""
    import kstack

    k = kstack.Kernel(profile="9.0", seed=0)
    v = k.jail("v1", vnet=True)
    a, b = k.epair(k.vnet0, v)
    k.ifconfig(a, "10.0.0.1/24")
    v.ifconfig(b, "10.0.0.2/24")
    s = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.connect(("255.255.255.255", 9))
    assert s.getpeername() == ("10.0.0.255", 9)
    assert s.getsockname()[0] == "10.0.0.2"
    t = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    t.connect(("0.0.0.0", 9))
    assert t.getpeername() == ("10.0.0.2", 9)


def test_connect_keeps_bound_address(k):
    """in_pcb.c in_pcbconnect_setup 974: source selection runs only for an
    unbound address; a socket bound to 192.0.2.1 keeps it when it connects to
    a peer on em1, and its datagrams leave em1 with that source."""
    s = udp_sock(k)
    s.bind(("192.0.2.1", 7000))
    s.connect((PEER1, 53))
    assert s.getsockname() == ("192.0.2.1", 7000)
    s.send(b"x")
    (f,) = frames(k, "em1")
    assert (f.src, f.dst) == (EM1_MAC, PEER1_MAC)
    assert (f["IP"].src, f["IP"].dst, f["UDP"].sport) == ("192.0.2.1", PEER1, 7000)


def test_wildcard_bound_socket_latches_address_on_connect(k):
    """in_pcb.c in_pcbconnect_mbuf 659-663: connect commits the selected local
    address even on a socket bound to *:port."""
    s = udp_sock(k)
    s.bind(("0.0.0.0", 7000))
    s.connect((PEER, 53))
    assert s.getsockname() == ("192.0.2.1", 7000)


def test_reconnect_moves_to_new_peer(k):
    """uipc_socket.c soconnect 814-824: a connected datagram socket is
    disconnected (udp_usrreq.c udp_disconnect 1573-1579: address back to
    wildcard, port kept) and connected again; the new source follows the new
    route."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    s.connect((PEER1, 54))
    assert s.getpeername() == (PEER1, 54)
    assert s.getsockname() == ("198.51.100.1", port)


def test_unspec_connect_disconnects(k):
    """uipc_socket.c soconnect 814-824: the old association is dropped first
    (udp_usrreq.c udp_disconnect 1562-1582: faddr and laddr cleared, port
    kept, SS_ISCONNECTED cleared), then in_pcb.c in_pcbconnect_setup 940-941
    refuses AF_UNSPEC with EAFNOSUPPORT. The socket is left unconnected."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    assert err(s.connect, sin("0.0.0.0", 0, family=sock.AF_UNSPEC)) == errno.EAFNOSUPPORT
    assert err(s.getpeername) == errno.ENOTCONN
    assert s.getsockname() == ("0.0.0.0", port)
    assert err(s.send, b"x") == errno.EDESTADDRREQ


def test_failed_reconnect_leaves_socket_unconnected(k):
    """uipc_socket.c soconnect 814-824 then in_pcb.c in_pcbladdr 726-736:
    the old peer is forgotten even though the new connect fails."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    assert err(s.connect, ("203.0.113.5", 53)) == errno.ENETUNREACH
    assert err(s.getpeername) == errno.ENOTCONN


def test_same_four_tuple_eaddrinuse(k):
    """in_pcb.c in_pcbconnect_setup 1009-1015: when a pcb already has the full
    (laddr, lport, faddr, fport) the connect is EADDRINUSE."""
    a = udp_sock(k)
    reuseport(a)
    a.bind(("192.0.2.1", 7000))
    a.connect((PEER, 53))
    b = udp_sock(k)
    reuseport(b)
    b.bind(("192.0.2.1", 7000))
    assert err(b.connect, (PEER, 53)) == errno.EADDRINUSE
    b.connect((PEER, 54))
    assert b.getpeername() == (PEER, 54)


def test_connected_sendto_eisconn(k):
    """udp_usrreq.c udp_output 1101-1106: a destination on a connected socket
    is EISCONN (even the peer itself); nothing is sent."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    assert err(s.sendto, b"x", (PEER, 53)) == errno.EISCONN
    assert err(s.sendto, b"x", (PEER1, 53)) == errno.EISCONN
    assert frames(k, "em0") == []
    assert s.send(b"ok") == 2
    (f,) = frames(k, "em0")
    assert (f["IP"].dst, f["UDP"].dport) == (PEER, 53)


def test_unconnected_send_edestaddrreq(k):
    """uipc_socket.c sosend_dgram 1037-1058: no address on an unconnected
    datagram socket is EDESTADDRREQ."""
    s = udp_sock(k)
    assert err(s.send, b"x") == errno.EDESTADDRREQ
    s.bind(("0.0.0.0", 7000))
    assert err(s.send, b"x") == errno.EDESTADDRREQ


def test_connected_socket_receives_only_from_peer(k):
    """in_pcb.c in_pcblookup_hash_locked 1650-1674 (exact 4-tuple), 1703-1705
    (wildcard pass skips connected pcbs): a connected socket gets datagrams of
    its peer address and port only; others find no socket (udps_noport)."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    udp_in(k, port, sport=53, payload=b"peer")
    udp_in(k, port, sport=54, payload=b"other-port")
    udp_in(
        k,
        port,
        dst="198.51.100.1",
        src=PEER1,
        sport=53,
        ifname="em1",
        src_mac=PEER1_MAC,
        dst_mac=EM1_MAC,
        payload=b"other-host",
    )
    assert pending(s) == (b"peer", (PEER, 53))
    assert pending(s) is None
    assert k.netstat("udp")["udps_noport"] == 2


def test_connected_and_wildcard_share_port(k):
    """in_pcb.c in_pcblookup_hash_locked 1650-1674 then 1695-1745: the
    connected socket takes its peer's datagrams, the wildcard one the rest."""
    w = udp_sock(k)
    reuseport(w)
    w.bind(("0.0.0.0", 7000))
    c = udp_sock(k)
    reuseport(c)
    c.bind(("0.0.0.0", 7000))
    c.connect((PEER, 53))
    udp_in(k, 7000, sport=53, payload=b"for-c")
    udp_in(k, 7000, sport=99, payload=b"for-w")
    assert pending(c) == (b"for-c", (PEER, 53))
    assert pending(w) == (b"for-w", (PEER, 99))
    assert pending(c) is None and pending(w) is None


def test_dontroute_connect_uses_interface_networks(k):
    """in_pcb.c in_pcbladdr 715-716: with SO_DONTROUTE the route is not looked
    up, 726-736: an on-link peer gets its interface address, an off-link one
    is ENETUNREACH even with a default route."""
    add_default(k)
    s = udp_sock(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE, 1)
    assert err(s.connect, ("203.0.113.5", 53)) == errno.ENETUNREACH
    s.connect((PEER1, 53))
    assert s.getsockname()[0] == "198.51.100.1"


def test_disconnect_then_receive_any(k):
    """udp_usrreq.c udp_disconnect 1573-1576 (address back to wildcard):
    after disconnecting, datagrams from anyone to the port arrive again."""
    s = udp_sock(k)
    s.connect((PEER, 53))
    port = s.getsockname()[1]
    assert err(s.connect, sin("0.0.0.0", 0, family=sock.AF_UNSPEC)) == errno.EAFNOSUPPORT
    udp_in(k, port, sport=777, payload=b"anyone")
    assert pending(s) == (b"anyone", (PEER, 777))


def test_connect_to_local_addresses(k):
    """in_pcb.c in_pcbladdr 838-861: a destination reached through a loopback
    route is one of ours; the source is the address of the interface holding
    it (ifa_ifwithnet), so each local address talks to itself."""
    for dst in ("127.0.0.1", "192.0.2.1", "198.51.100.1"):
        s = udp_sock(k)
        s.connect((dst, 9))
        assert s.getsockname()[0] == dst
