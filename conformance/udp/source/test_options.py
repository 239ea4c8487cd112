"""Socket options of UDP sockets: udp_ctloutput (udp_usrreq.c 845-940) and
ip_ctloutput (ip_output.c). GENERIC has no IPSEC_NAT_T. Line numbers are
from 9.1; head of February 2011 agrees on these rules.
"""

import pytest

from .common import err, errno, sock, udp_sock

UDP_ENCAP = 1  # netinet/udp.h 51
MRT_INIT = 100  # netinet/ip_mroute.h 58


def test_udp_encap_zero_accepted(k):
    """udp_usrreq.c udp_ctloutput 879-898: UDP_ENCAP 0 (clear) is accepted."""
    s = udp_sock(k)
    s.setsockopt(sock.IPPROTO_UDP, UDP_ENCAP, 0)


@pytest.mark.parametrize("value", [1, 2, 3])
def test_udp_encap_other_values_einval(k, value):
    """udp_usrreq.c udp_ctloutput 892-911: without IPSEC_NAT_T every non-zero
    UDP_ENCAP value is EINVAL."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_UDP, UDP_ENCAP, value) == errno.EINVAL


def test_udp_level_unknown_option(k):
    """udp_usrreq.c udp_ctloutput 915-918 (set) and 921-935 (get: UDP_ENCAP
    is readable only with IPSEC_NAT_T): ENOPROTOOPT."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_UDP, 2, 1) == errno.ENOPROTOOPT
    assert err(s.getsockopt, sock.IPPROTO_UDP, UDP_ENCAP) == errno.ENOPROTOOPT


@pytest.mark.parametrize(
    "opt",
    [sock.IP_HDRINCL, MRT_INIT, sock.IP_FW_ADD, sock.IP_DUMMYNET_CONFIGURE, sock.IP_RSVP_ON],
)
def test_raw_only_options_enoprotoopt(k, opt):
    """udp_usrreq.c udp_ctloutput 857-873 -> ip_output.c ip_ctloutput
    1137-1139 (set) and 1267-1269 (get): options handled by rip_ctloutput
    only are ENOPROTOOPT on a UDP socket."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_IP, opt, 1) == errno.ENOPROTOOPT
    assert err(s.getsockopt, sock.IPPROTO_IP, opt) == errno.ENOPROTOOPT


def test_other_protocol_level_einval(k):
    """ip_output.c ip_ctloutput 903-941: a level other than IPPROTO_IP (and
    not SOL_SOCKET) is EINVAL."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_TCP, 1, 1) == errno.EINVAL
    assert err(s.getsockopt, sock.IPPROTO_TCP, 1) == errno.EINVAL


@pytest.mark.parametrize("value, want", [(-1, errno.EINVAL), (256, errno.EINVAL), (255, 0), (0, 0)])
def test_minttl_range(k, value, want):
    """ip_output.c ip_ctloutput 1008-1013: IP_MINTTL takes 0..MAXTTL (255)."""
    s = udp_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_MINTTL, value) == want
    if not want:
        assert s.getsockopt(sock.IPPROTO_IP, sock.IP_MINTTL) == value


def test_buffer_sizes(k):
    """udp_usrreq.c udp_attach 1427 reserves udp_sendspace 9216 and
    udp_recvspace 40 * (1024 + sizeof(struct sockaddr_in6)) = 42080
    (121-132, GENERIC has INET6)."""
    s = udp_sock(k)
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_SNDBUF) == 9216
    assert s.getsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF) == 42080
    assert k.sysctl("net.inet.udp.recvspace") == 42080
