"""Raw IP socket options: rip_ctloutput (sys/netinet/raw_ip.c 541-701), the
RSVP helpers of ip_input.c, and ip_ctloutput for the rest. GENERIC 9.0 has
neither ipfw/dummynet loaded nor multicast routing (ip_fw_ctl_ptr,
ip_dn_ctl_ptr, ip_mrouter_set/get and ip_rsvp_vif are NULL). Line numbers are
from 9.1; rip_ctloutput is the same code in head of February 2011.
"""

import pytest

from .common import IPPROTO_RSVP, MRT, err, errno, raw_sock, sock

FW_SET = [
    "IP_FW3",
    "IP_FW_ADD",
    "IP_FW_DEL",
    "IP_FW_FLUSH",
    "IP_FW_ZERO",
    "IP_FW_RESETLOG",
    "IP_FW_TABLE_ADD",
    "IP_FW_TABLE_DEL",
    "IP_FW_TABLE_FLUSH",
    "IP_FW_NAT_CFG",
    "IP_FW_NAT_DEL",
]
FW_GET = [
    "IP_FW3",
    "IP_FW_ADD",
    "IP_FW_GET",
    "IP_FW_TABLE_GETSIZE",
    "IP_FW_TABLE_LIST",
    "IP_FW_NAT_GET_CONFIG",
    "IP_FW_NAT_GET_LOG",
]
DN_SET = ["IP_DUMMYNET3", "IP_DUMMYNET_CONFIGURE", "IP_DUMMYNET_DEL", "IP_DUMMYNET_FLUSH"]
DN_GET = ["IP_DUMMYNET3", "IP_DUMMYNET_GET"]


@pytest.mark.parametrize("name", FW_SET + DN_SET)
def test_firewall_set_options_without_ipfw(k, name):
    """raw_ip.c rip_ctloutput 624-649: with no ipfw / dummynet module the set
    options are ENOPROTOOPT."""
    s = raw_sock(k)
    assert err(s.setsockopt, sock.IPPROTO_IP, getattr(sock, name), bytes(64)) == errno.ENOPROTOOPT


@pytest.mark.parametrize("name", FW_GET + DN_GET)
def test_firewall_get_options_without_ipfw(k, name):
    """raw_ip.c rip_ctloutput 565-584: with no ipfw / dummynet module the get
    options are ENOPROTOOPT."""
    s = raw_sock(k)
    assert err(s.getsockopt, sock.IPPROTO_IP, getattr(sock, name), 64) == errno.ENOPROTOOPT


@pytest.mark.parametrize("name", sorted(MRT))
def test_multicast_routing_options_eopnotsupp(k, name):
    """raw_ip.c rip_ctloutput 586-603 (get) and 674-691 (set): root passes
    PRIV_NETINET_MROUTE, then without the ip_mroute module the answer is
    EOPNOTSUPP."""
    s = raw_sock(k, 2)
    assert err(s.setsockopt, sock.IPPROTO_IP, MRT[name], 1) == errno.EOPNOTSUPP
    assert err(s.getsockopt, sock.IPPROTO_IP, MRT[name]) == errno.EOPNOTSUPP


def test_rsvp_on_needs_rsvp_socket(k):
    """raw_ip.c rip_ctloutput 651-656 -> ip_input.c ip_rsvp_init 1710-1712: only
    a raw socket of protocol IPPROTO_RSVP may be the RSVP daemon socket."""
    s = raw_sock(k, 253)
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_RSVP_ON, 1) == errno.EOPNOTSUPP


def test_rsvp_single_daemon(k):
    """ip_input.c ip_rsvp_init 1714-1717: a second daemon socket is EADDRINUSE;
    ip_rsvp_done 1731-1744 (IP_RSVP_OFF) clears the registration whichever
    socket asks, after which another socket may register."""
    a = raw_sock(k, IPPROTO_RSVP)
    b = raw_sock(k, IPPROTO_RSVP)
    a.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)
    assert err(b.setsockopt, sock.IPPROTO_IP, sock.IP_RSVP_ON, 1) == errno.EADDRINUSE
    b.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_OFF, 1)
    b.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)
    assert err(a.setsockopt, sock.IPPROTO_IP, sock.IP_RSVP_ON, 1) == errno.EADDRINUSE


def test_rsvp_daemon_released_on_close(k):
    """raw_ip.c rip_detach 831-832: closing the daemon socket runs
    ip_rsvp_done, so another socket can register."""
    a = raw_sock(k, IPPROTO_RSVP)
    a.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)
    a.close()
    b = raw_sock(k, IPPROTO_RSVP)
    b.setsockopt(sock.IPPROTO_IP, sock.IP_RSVP_ON, 1)


@pytest.mark.parametrize("name", ["IP_RSVP_VIF_ON", "IP_RSVP_VIF_OFF"])
def test_rsvp_vif_without_multicast_routing(k, name):
    """raw_ip.c rip_ctloutput 665-672: without ip_rsvp_vif (multicast routing
    module) the answer is EINVAL."""
    s = raw_sock(k, IPPROTO_RSVP)
    assert err(s.setsockopt, sock.IPPROTO_IP, getattr(sock, name), 1) == errno.EINVAL


def test_jailed_root_lacks_mroute_privilege(k):
    """raw_ip.c rip_ctloutput 651-654, 686-688: IP_RSVP_ON and MRT_* first
    check PRIV_NETINET_MROUTE, which a classic jail's root does not have
    (kern_jail.c prison_priv_check 3742-3756 list it only for vnet jails;
    default deny). The ipfw options have no privilege check of their own in
    rip_ctloutput (624-639): ENOPROTOOPT as on the host."""
    j = k.jail("j1", ip4=["192.0.2.1"], allow_raw_sockets=True)
    s = j.socket(sock.AF_INET, sock.SOCK_RAW, IPPROTO_RSVP)
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_RSVP_ON, 1) == errno.EPERM
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_RSVP_OFF, 1) == errno.EPERM
    assert err(s.setsockopt, sock.IPPROTO_IP, MRT["MRT_INIT"], 1) == errno.EPERM
    assert err(s.getsockopt, sock.IPPROTO_IP, MRT["MRT_VERSION"]) == errno.EPERM
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_FW_ADD, bytes(64)) == errno.ENOPROTOOPT


def test_hdrincl_option_value(k):
    """raw_ip.c rip_ctloutput 560-562 (get returns the flag bit INP_HDRINCL,
    0x8 in in_pcb.h 501) and 613-622 (set: any non-zero value sets it)."""
    s = raw_sock(k)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL) == 0
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 5)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL) == 8
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 0)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL) == 0


@pytest.mark.parametrize("level", [sock.IPPROTO_TCP, sock.IPPROTO_UDP, sock.IPPROTO_RAW])
def test_other_levels_einval(k, level):
    """raw_ip.c rip_ctloutput 547-554: a level other than IPPROTO_IP (and not
    SOL_SOCKET) is EINVAL."""
    s = raw_sock(k)
    assert err(s.setsockopt, level, 1, 1) == errno.EINVAL
    assert err(s.getsockopt, level, 1) == errno.EINVAL


def test_other_ip_options_go_to_ip_ctloutput(k):
    """raw_ip.c rip_ctloutput 605-607, 693-695 pass the rest to ip_ctloutput:
    IP_TTL/IP_TOS work, IP_MINTTL keeps its range check (ip_output.c
    1008-1013), an unknown option is ENOPROTOOPT (1137-1139, 1267-1269)."""
    s = raw_sock(k)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, 200)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0x10)
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 200
    assert s.getsockopt(sock.IPPROTO_IP, sock.IP_TOS) == 0x10
    assert err(s.setsockopt, sock.IPPROTO_IP, sock.IP_MINTTL, 256) == errno.EINVAL
    assert err(s.setsockopt, sock.IPPROTO_IP, 99, 1) == errno.ENOPROTOOPT
    assert err(s.getsockopt, sock.IPPROTO_IP, 99) == errno.ENOPROTOOPT
