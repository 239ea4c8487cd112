"""Raw IP socket creation, bind, connect and send checks: rip_attach,
rip_bind, rip_connect, rip_disconnect, rip_send (sys/netinet/raw_ip.c).
Line numbers are from 9.1; raw_ip.c of head February 2011 is the same code
for these functions (only locking differs).
"""

import pytest

from .common import (
    PEER,
    add_default,
    err,
    errno,
    ip_in,
    pending,
    raw_sock,
    sin,
    sock,
)


@pytest.mark.parametrize("proto", [0, 1, 253, 255])
def test_unprivileged_attach_eperm(k, proto):
    """raw_ip.c rip_attach 790-792: PRIV_NETINET_RAW, denied to a non-root
    credential (kern_priv.c priv_check_cred 142: EPERM)."""
    assert err(raw_sock, k, proto, uid=1000) == errno.EPERM


def test_privilege_checked_before_protocol_range(k):
    """raw_ip.c rip_attach 790-794: the privilege check comes first, so an
    out-of-range protocol is EPERM for a user and EPROTONOSUPPORT for root."""
    assert err(raw_sock, k, 256, uid=1000) == errno.EPERM
    assert err(raw_sock, k, 256) == errno.EPROTONOSUPPORT
    assert err(raw_sock, k, 300) == errno.EPROTONOSUPPORT


def test_dgram_with_raw_protocol_eprotonosupport(k):
    """kern/uipc_domain.c pffindproto 321-329: only SOCK_RAW falls back to the
    wildcard raw protocol; SOCK_DGRAM with protocol 1 finds nothing and
    socreate (uipc_socket.c 372-379) answers EPROTONOSUPPORT."""
    assert err(k.socket, sock.AF_INET, sock.SOCK_DGRAM, 1) == errno.EPROTONOSUPPORT
    assert err(k.socket, sock.AF_INET, sock.SOCK_DGRAM, 253) == errno.EPROTONOSUPPORT


def test_ttl_from_sysctl_at_attach(k):
    """raw_ip.c rip_attach 807: the socket copies net.inet.ip.ttl once."""
    old = raw_sock(k)
    k.sysctl("net.inet.ip.ttl", 32)
    new = raw_sock(k)
    assert old.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 64
    assert new.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 32


def test_buffer_sizes(k):
    """raw_ip.c 134-140 (net.inet.raw.maxdgram, recvspace 9216), rip_attach
    795 (soreserve)."""
    s = raw_sock(k)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 9216
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF) == 9216
    assert k.sysctl("net.inet.raw.maxdgram") == 9216
    assert k.sysctl("net.inet.raw.recvspace") == 9216


def test_bind_address_not_local(k):
    """raw_ip.c rip_bind 910-915: an address no interface has is
    EADDRNOTAVAIL."""
    s = raw_sock(k)
    assert err(s.bind, ("203.0.113.1", 0)) == errno.EADDRNOTAVAIL
    assert err(s.bind, (PEER, 0)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == ("0.0.0.0", 0)


def test_bind_sets_address_only(k):
    """raw_ip.c rip_bind 919-921: only the local address is stored; the port of
    the sockaddr is ignored (getsockname shows lport 0)."""
    s = raw_sock(k)
    s.bind(("192.0.2.1", 1234))
    assert s.getsockname() == ("192.0.2.1", 0)


def test_rebind_allowed(k):
    """raw_ip.c rip_bind 894-925: there is no 'already bound' check; a second
    bind replaces the address, and 0.0.0.0 is always accepted (912)."""
    s = raw_sock(k)
    s.bind(("192.0.2.1", 0))
    s.bind(("198.51.100.1", 0))
    assert s.getsockname() == ("198.51.100.1", 0)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname() == ("0.0.0.0", 0)


def test_bind_sockaddr_checks(k):
    """raw_ip.c rip_bind 900-901 (sa_len != 16: EINVAL), 910-915 (family other
    than AF_INET or AF_IMPLINK: EADDRNOTAVAIL); AF_IMPLINK is accepted."""
    s = raw_sock(k)
    assert err(s.bind, sin("192.0.2.1", length=8, sa_len=8)) == errno.EINVAL
    assert err(s.bind, sin("192.0.2.1", family=sock.AF_UNSPEC)) == errno.EADDRNOTAVAIL
    assert err(s.bind, sin("192.0.2.1", family=sock.AF_INET6)) == errno.EADDRNOTAVAIL
    assert s.getsockname() == ("0.0.0.0", 0)
    s.bind(sin("192.0.2.1", family=sock.AF_IMPLINK))
    assert s.getsockname() == ("192.0.2.1", 0)


def test_bind_broadcast_address(k):
    """raw_ip.c rip_bind 912-914 use ifa_ifwithaddr_check, which also matches
    an interface's broadcast address (net/if.c 1546-1554)."""
    s = raw_sock(k)
    s.bind(("192.0.2.255", 0))
    assert s.getsockname() == ("192.0.2.255", 0)


def test_bind_foreign_with_bindany(k):
    """raw_ip.c rip_bind 913: INP_BINDANY (IP_BINDANY, ip_output.c
    974-980/1054-1055) skips the local-address check."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_BINDANY, 1)
    s.bind(("203.0.113.1", 0))
    assert s.getsockname() == ("203.0.113.1", 0)


def test_connect_sockaddr_checks(k):
    """raw_ip.c rip_connect 933-938: sa_len != 16 is EINVAL, a family other than
    AF_INET/AF_IMPLINK EAFNOSUPPORT."""
    s = raw_sock(k)
    assert err(s.connect, sin(PEER, length=8, sa_len=8)) == errno.EINVAL
    assert err(s.connect, sin(PEER, family=sock.AF_UNSPEC)) == errno.EAFNOSUPPORT
    assert err(s.getpeername) == errno.ENOTCONN


def test_connect_needs_no_route(k):
    """raw_ip.c rip_connect 943-950: only the foreign address is stored, no
    route or source is chosen."""
    s = raw_sock(k)
    s.connect(("203.0.113.9", 77))
    assert s.getpeername() == ("203.0.113.9", 0)
    assert s.getsockname() == ("0.0.0.0", 0)


def test_connected_sendto_eisconn(k):
    """raw_ip.c rip_send 981-985: a destination on a connected socket is
    EISCONN."""
    s = raw_sock(k)
    s.connect((PEER, 0))
    assert err(s.sendto, b"x", (PEER, 0)) == errno.EISCONN
    assert k.transmitted("em0") == []


def test_unconnected_send_edestaddrreq(k):
    """uipc_socket.c sosend_generic 1216-1236: an unconnected socket without a
    destination is EDESTADDRREQ (rip_send's ENOTCONN, 988-991, is never
    reached)."""
    s = raw_sock(k)
    assert err(s.send, b"x") == errno.EDESTADDRREQ


def test_unspec_connect_disconnects(k):
    """uipc_socket.c soconnect 814-824: the connected raw socket is
    disconnected first (raw_ip.c rip_disconnect 878-891 -> rip_dodisconnect
    846-851), then rip_connect refuses AF_UNSPEC (937-938). The socket now
    needs a destination and hears every source again."""
    s = raw_sock(k)
    s.connect((PEER, 0))
    assert err(s.connect, sin("0.0.0.0", family=sock.AF_UNSPEC)) == errno.EAFNOSUPPORT
    assert err(s.getpeername) == errno.ENOTCONN
    assert err(s.send, b"x") == errno.EDESTADDRREQ
    ip_in(
        k,
        src="198.51.100.7",
        ifname="em1",
        dst="198.51.100.1",
        src_mac="02:00:00:00:01:07",
        dst_mac="02:00:00:00:01:01",
        payload=b"any",
    )
    data, addr = pending(s)
    assert (data[-3:], addr) == (b"any", ("198.51.100.7", 0))


def test_send_to_unroutable_destination(k):
    """raw_ip.c rip_output -> ip_output (no route: EHOSTUNREACH, ips_noroute);
    connect accepted the address without checking (rip_connect 943-950)."""
    s = raw_sock(k)
    s.connect(("203.0.113.9", 0))
    assert err(s.send, b"x") == errno.EHOSTUNREACH
    add_default(k)
    assert s.send(b"x") == 1


def test_send_after_shutdown_epipe(k):
    """raw_ip.c rip_shutdown 954-966 (socantsendmore) -> uipc_socket.c
    sosend_generic 1203-1207: EPIPE."""
    s = raw_sock(k)
    s.shutdown(sock.SHUT_WR)
    assert err(s.sendto, b"x", (PEER, 0)) == errno.EPIPE
    assert k.transmitted("em0") == []


def test_bind_checks_interfaces_not_addresses():
    """raw_ip.c rip_bind 910-915 only refuse when there is no interface at all;
    in a stack whose only interface (lo0) has no address, binding 0.0.0.0 is
    accepted, while UDP's in_pcbbind_setup (in_pcb.c 498-499) refuses any
    bind without an IPv4 address in the stack."""
    import kstack

    k = kstack.Kernel(profile="9.0", seed=0)
    v = k.jail("v1", vnet=True)
    r = v.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.bind(("0.0.0.0", 0))
    r.connect(("192.0.2.7", 0))
    u = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert err(u.bind, ("0.0.0.0", 7000)) == errno.EADDRNOTAVAIL
