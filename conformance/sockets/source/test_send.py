"""Sending: sendit / kern_sendit / getsockaddr / sockargs (kern/uipc_syscalls.c),
sosend_dgram / sosend_generic (kern/uipc_socket.c), udp_output
(netinet/udp_usrreq.c), rip_send (netinet/raw_ip.c) of FreeBSD 9.1.

SYS = sys/kern/uipc_syscalls.c, US = sys/kern/uipc_socket.c, UDP =
sys/netinet/udp_usrreq.c, RAW = sys/netinet/raw_ip.c, PCB =
sys/netinet/in_pcb.c, IPO = sys/netinet/ip_output.c (9.1 line numbers).
"""

import pytest

from conformance.sockets.source.common import (
    DG,
    HOST,
    IP,
    PEER,
    RAW,
    delta,
    errno,
    ip_frames,
    oserr,
    raw_socket,
    settle,
    snapshot,
    sock,
    sockaddr,
    udp_frame,
    udp_socket,
)

IPL = sock.IPPROTO_IP


def struct_int(v):
    return v.to_bytes(4, "little", signed=True)


def add_alias(k, addr="192.0.2.9"):
    k.ifconfig("em0", addr + "/32", alias=True)
    settle(k)
    k.transmitted("em0")


# --- sizes --------------------------------------------------------------------


def test_udp_datagram_limit_is_the_send_buffer(k):
    """US sosend_dgram 1064-1072: space = sbspace(so_snd) (9216, nothing is
    ever queued on a UDP send buffer); resid > space is EMSGSIZE before
    anything is built or counted."""
    s = udp_socket(k, port=5000)
    assert s.sendto(b"x" * 9216, (PEER, 53)) == 9216
    k.transmitted("em0")
    before = snapshot(k)
    assert oserr(s.sendto, b"x" * 9217, (PEER, 53)) == errno.EMSGSIZE
    assert delta(before, snapshot(k), "udp") == {}
    assert delta(before, snapshot(k), "ip") == {}
    assert k.transmitted("em0") == []


def test_udp_sndbuf_option_moves_the_limit(k):
    """US sosetopt 2550-2558 reserves the new high-water mark, which
    sosend_dgram 1064-1072 uses as the datagram limit."""
    s = udp_socket(k, port=5000)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF, 100)
    assert s.sendto(b"x" * 100, (PEER, 53)) == 100
    assert oserr(s.sendto, b"x" * 101, (PEER, 53)) == errno.EMSGSIZE


def test_udp_maxdgram_sysctl_applies_to_new_sockets(k):
    """UDP 121-124 (net.inet.udp.maxdgram is udp_sendspace) and udp_attach
    1427: soreserve uses the value current when the socket is created."""
    old = udp_socket(k)
    k.sysctl("net.inet.udp.maxdgram", 1000)
    new = udp_socket(k)
    assert new.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 1000
    assert old.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 9216
    assert oserr(new.sendto, b"x" * 1001, (PEER, 53)) == errno.EMSGSIZE
    assert old.sendto(b"x" * 1001, (PEER, 53)) == 1001


def test_udp_msg_oob_adds_1024_bytes_of_space(k):
    """US sosend_dgram 1066-1067: MSG_OOB adds 1024 to the space, and
    udp_send/udp_output ignore the flag (UDP 1585-1592), so 10240 bytes go
    out (7 fragments at MTU 1500) and only 10241 is EMSGSIZE."""
    s = udp_socket(k, port=5000)
    assert s.sendto(b"o" * 10240, sock.MSG_OOB, (PEER, 53)) == 10240
    frags = ip_frames(k)
    assert len(frags) == 7
    assert sum(len(f[IP].payload) for f in frags) == 8 + 10240
    assert oserr(s.sendto, b"o" * 10241, sock.MSG_OOB, (PEER, 53)) == errno.EMSGSIZE


def test_raw_datagram_limit(k):
    """US sosend_generic 1241-1245: an atomic protocol's write larger than
    sb_hiwat (raw 9216, RAW 134) is EMSGSIZE; MSG_OOB's extra 1024 (1239-1240)
    only changes `space`, not this test."""
    r = raw_socket(k)
    assert r.sendto(b"r" * 9216, (PEER, 0)) == 9216
    assert oserr(r.sendto, b"r" * 9217, (PEER, 0)) == errno.EMSGSIZE
    assert oserr(r.sendto, b"r" * 9217, sock.MSG_OOB, (PEER, 0)) == errno.EMSGSIZE


def test_control_data_counts_against_the_space(k):
    """SYS sendit 710-725 copies msg_control into one mbuf; US sosend_dgram
    1022-1023 and 1068 subtract its length (clen) from the space.  A
    SOL_SOCKET message with 1500 data bytes leaves less than 7700 bytes; UDP
    then skips non-IPPROTO_IP messages (UDP 997-998)."""
    s = udp_socket(k, port=5000)
    ctl = [(sock.SOL_SOCKET, sock.SCM_TIMESTAMP, bytes(1500))]
    assert oserr(s.sendmsg, [b"c" * 8000], ctl, 0, (PEER, 53)) == errno.EMSGSIZE
    assert s.sendmsg([b"c" * 7000], ctl, 0, (PEER, 53)) == 7000


def test_control_larger_than_a_cluster_einval(k):
    """SYS sockargs 1657-1665: control data longer than MCLBYTES (2048) is
    EINVAL before the socket is looked at."""
    s = udp_socket(k, port=5000)
    ctl = [(sock.SOL_SOCKET, sock.SCM_TIMESTAMP, bytes(2100))]
    assert oserr(s.sendmsg, [b"c"], ctl, 0, (PEER, 53)) == errno.EINVAL
    assert k.transmitted("em0") == []


# --- addresses ----------------------------------------------------------------


@pytest.mark.parametrize("kind", [DG, RAW])
def test_unconnected_send_without_address_edestaddrreq(k, kind):
    """US sosend_dgram 1037-1058 (UDP) and sosend_generic 1214-1237 (raw):
    not connected, no address, not PR_CONNREQUIRED -> EDESTADDRREQ."""
    s = k.socket(sock.AF_INET, kind, 253 if kind == RAW else 0)
    assert oserr(s.send, b"x") == errno.EDESTADDRREQ


def test_connected_sendto_eisconn(k):
    """UDP udp_output 1101-1106 and RAW rip_send 981-985: an address on a
    connected socket is EISCONN."""
    u = udp_socket(k)
    u.connect((PEER, 53))
    assert oserr(u.sendto, b"x", (PEER, 53)) == errno.EISCONN
    r = raw_socket(k)
    r.connect((PEER, 0))
    assert oserr(r.sendto, b"x", (PEER, 0)) == errno.EISCONN
    assert k.transmitted("em0") == []


def test_sockaddr_length_checked_by_getsockaddr(k):
    """SYS getsockaddr 1697-1700: a name longer than SOCK_MAXADDRLEN (255)
    is ENAMETOOLONG, one shorter than the sa_len/sa_family header (2) is
    EINVAL."""
    s = udp_socket(k)
    assert oserr(s.sendto, b"x", b"\x10") == errno.EINVAL
    assert oserr(s.sendto, b"x", sockaddr(2, PEER, 53, length=256)) == errno.ENAMETOOLONG


def test_udp_sendto_short_sockaddr_on_unbound_socket(k):
    """UDP udp_output 1127-1136 -> PCB in_pcbconnect_setup 938-939: sa_len,
    which getsockaddr 1710 sets from the name length (8 here, whatever the
    first byte says), != 16 is EINVAL."""
    s = udp_socket(k)
    assert oserr(s.sendto, b"x", sockaddr(2, PEER, 53, length=8)) == errno.EINVAL
    assert k.transmitted("em0") == []


def test_udp_sendto_bad_family_or_port_on_unbound_socket(k):
    """UDP udp_output 1127-1136 -> PCB in_pcbconnect_setup 940-943: a family
    other than AF_INET is EAFNOSUPPORT, port 0 is EADDRNOTAVAIL."""
    s = udp_socket(k)
    assert oserr(s.sendto, b"x", sockaddr(0, PEER, 53)) == errno.EAFNOSUPPORT
    assert oserr(s.sendto, b"x", (PEER, 0)) == errno.EADDRNOTAVAIL
    assert k.transmitted("em0") == []


def test_udp_bound_socket_fast_path_skips_the_sockaddr_checks(k):
    """UDP udp_output 1127-1164: with a local address and port already
    bound and a destination that is neither INADDR_ANY nor broadcast, the
    fast path takes sin_addr and sin_port as they are; family and length
    are not looked at, so an AF_UNSPEC name still sends."""
    s = udp_socket(k)
    s.bind((HOST, 5000))
    assert s.sendto(b"fast", sockaddr(0, PEER, 53)) == 4
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5000, 53, b"fast")


# --- control messages on UDP --------------------------------------------------


def test_ip_sendsrcaddr_sets_source(k):
    """UDP udp_output 1001-1013 and 1079-1091: IP_SENDSRCADDR on a socket
    bound to the wildcard address with a port sends from that address and
    the socket's port (in_pcbbind_setup on a copy, nothing is rebound)."""
    add_alias(k)
    s = udp_socket(k, port=5004)
    assert (
        s.sendmsg([b"src"], [(IPL, sock.IP_SENDSRCADDR, bytes((192, 0, 2, 9)))], 0, (PEER, 53)) == 3
    )
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, "192.0.2.9", PEER, 5004, 53, b"src")
    assert s.getsockname() == ("0.0.0.0", 5004)


def test_ip_sendsrcaddr_errors(k):
    """UDP udp_output 1002-1006 (cmsg_len must be CMSG_LEN(4): EINVAL),
    1081-1086 (no local port, or wildcard address with a wildcard source:
    EINVAL), PCB in_pcbbind_setup 501-502 (socket bound to an address:
    EINVAL) and the local-address check (EADDRNOTAVAIL)."""
    me = bytes((192, 0, 2, 1))
    unbound = udp_socket(k)
    assert (
        oserr(unbound.sendmsg, [b"x"], [(IPL, sock.IP_SENDSRCADDR, me)], 0, (PEER, 53))
        == errno.EINVAL
    )
    wild = udp_socket(k, port=5005)
    assert (
        oserr(wild.sendmsg, [b"x"], [(IPL, sock.IP_SENDSRCADDR, me + bytes(4))], 0, (PEER, 53))
        == errno.EINVAL
    )
    assert (
        oserr(wild.sendmsg, [b"x"], [(IPL, sock.IP_SENDSRCADDR, bytes(4))], 0, (PEER, 53))
        == errno.EINVAL
    )
    assert (
        oserr(
            wild.sendmsg,
            [b"x"],
            [(IPL, sock.IP_SENDSRCADDR, bytes((203, 0, 113, 1)))],
            0,
            (PEER, 53),
        )
        == errno.EADDRNOTAVAIL
    )
    fixed = udp_socket(k)
    fixed.bind((HOST, 5006))
    assert (
        oserr(fixed.sendmsg, [b"x"], [(IPL, sock.IP_SENDSRCADDR, me)], 0, (PEER, 53))
        == errno.EINVAL
    )
    assert k.transmitted("em0") == []


def test_ip_tos_control_message_absent_in_9_0(k):
    """In 9.1 udp_output accepts an IP_TOS message (UDP 1015-1021); the
    February 2011 head and the May 2012 head (projects/armv6 udp_usrreq.c
    r234858) have only IP_SENDSRCADDR, so the IP_TOS case arrived in head
    after May 2012 and reached stable/9 for 9.1, after 9.0.  In 9.0 an
    IPPROTO_IP message other than IP_SENDSRCADDR hits the default:
    ENOPROTOOPT, nothing is sent."""
    s = udp_socket(k, port=5007)
    assert (
        oserr(s.sendmsg, [b"x"], [(IPL, sock.IP_TOS, b"\x10")], 0, (PEER, 53)) == errno.ENOPROTOOPT
    )
    assert k.transmitted("em0") == []


def test_unknown_ip_control_message_enoprotoopt(k):
    """UDP udp_output 1023-1025: unknown IPPROTO_IP message type ->
    ENOPROTOOPT."""
    s = udp_socket(k, port=5008)
    assert (
        oserr(s.sendmsg, [b"x"], [(IPL, sock.IP_TTL, struct_int(5))], 0, (PEER, 53))
        == errno.ENOPROTOOPT
    )


def test_non_ip_control_messages_are_skipped(k):
    """UDP udp_output 997-998: messages of another level are skipped."""
    s = udp_socket(k, port=5009)
    assert (
        s.sendmsg([b"skip"], [(sock.SOL_SOCKET, sock.SCM_TIMESTAMP, bytes(16))], 0, (PEER, 53)) == 4
    )
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5009, 53, b"skip")


def test_raw_send_ignores_control(k):
    """RAW rip_send 969-994 never looks at the control mbuf: an
    IP_SENDSRCADDR message does not change the source (rip_output picks
    it as usual)."""
    add_alias(k)
    r = raw_socket(k, 253)
    assert (
        r.sendmsg([b"rawctl"], [(IPL, sock.IP_SENDSRCADDR, bytes((192, 0, 2, 9)))], 0, (PEER, 0))
        == 6
    )
    (f,) = ip_frames(k)
    assert (f[IP].src, f[IP].dst, f[IP].proto, bytes(f[IP].payload)) == (HOST, PEER, 253, b"rawctl")


# --- MSG_DONTROUTE / SO_DONTROUTE ---------------------------------------------


def test_msg_dontroute_sends_with_ttl_1(k):
    """US sosend_dgram 1018-1019, 1104-1108, 1131-1135: MSG_DONTROUTE sets
    SO_DONTROUTE for this send only; UDP 1213-1214 passes IP_ROUTETOIF and
    IPO ip_output 246-255 sends on the interface of the destination's
    network with TTL 1."""
    s = udp_socket(k, port=5010)
    assert s.sendto(b"dr", sock.MSG_DONTROUTE, (PEER, 53)) == 2
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5010, 53, b"dr", ttl=1)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE) == 0
    s.sendto(b"dr", (PEER, 53))
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5010, 53, b"dr", ttl=64)


def test_dontroute_off_link_enetunreach(k):
    """in_pcb.c in_pcbladdr 715-733 (reached from udp_output through
    in_pcbconnect_setup for a socket with no local address): with
    SO_DONTROUTE in force (MSG_DONTROUTE sets it for the call, sosend_dgram)
    no route is looked up, and a destination on no attached network is
    ENETUNREACH before udp_output counts udps_opackets or calls ip_output:
    no counter moves, even with a default route."""
    s = udp_socket(k, port=5011)
    before = snapshot(k)
    assert oserr(s.sendto, b"dr", sock.MSG_DONTROUTE, ("203.0.113.5", 53)) == errno.ENETUNREACH
    after = snapshot(k)
    assert delta(before, after, "ip") == {}
    assert delta(before, after, "udp") == {}
    s.setsockopt(sock.SOL_SOCKET, sock.SO_DONTROUTE, 1)
    assert oserr(s.sendto, b"dr", ("203.0.113.5", 53)) == errno.ENETUNREACH
    assert k.transmitted("em0") == []


def test_udp_header_fields_of_a_plain_send(k):
    """UDP udp_output 1193-1238: the reference frame for the tests above
    (source from in_pcbladdr, TTL from the socket, TOS 0, no DF)."""
    s = udp_socket(k, port=5012)
    s.sendto(b"plain", (PEER, 53))
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5012, 53, b"plain")
