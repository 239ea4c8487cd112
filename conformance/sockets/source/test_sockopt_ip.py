"""IPPROTO_IP options: ip_ctloutput (netinet/ip_output.c), rip_ctloutput
(netinet/raw_ip.c), udp_ctloutput (netinet/udp_usrreq.c), ip_rsvp_init
(netinet/ip_input.c) of FreeBSD 9.1.

IPO = sys/netinet/ip_output.c, RAW = sys/netinet/raw_ip.c, UDP =
sys/netinet/udp_usrreq.c, PCB = sys/netinet/in_pcb.c (9.1 line numbers).
"""

import pytest

from conformance.sockets.source.common import (
    BCAST,
    HOST,
    PEER,
    RAW,
    delta,
    errno,
    oserr,
    raw_socket,
    snapshot,
    sock,
    udp_frame,
    udp_in,
    udp_socket,
)

IPL = sock.IPPROTO_IP


# --- defaults and read-back ---------------------------------------------------


def test_defaults(k):
    """UDP udp_attach 1439 and RAW rip_attach 807 copy net.inet.ip.ttl (64);
    IPO ip_ctloutput get 1158-1231: TOS 0, MINTTL 0, PORTRANGE 0, flags 0."""
    for s in (udp_socket(k), raw_socket(k)):
        assert s.getsockopt(IPL, sock.IP_TTL) == 64
        for name in (
            "IP_TOS",
            "IP_MINTTL",
            "IP_PORTRANGE",
            "IP_RECVDSTADDR",
            "IP_RECVTTL",
            "IP_RECVIF",
            "IP_RECVOPTS",
            "IP_RECVRETOPTS",
            "IP_FAITH",
            "IP_ONESBCAST",
            "IP_DONTFRAG",
            "IP_BINDANY",
        ):
            assert s.getsockopt(IPL, getattr(sock, name)) == 0, name


@pytest.mark.parametrize(
    "name",
    [
        "IP_RECVOPTS",
        "IP_RECVRETOPTS",
        "IP_RECVDSTADDR",
        "IP_RECVTTL",
        "IP_RECVIF",
        "IP_FAITH",
        "IP_ONESBCAST",
        "IP_DONTFRAG",
    ],
)
def test_boolean_options_read_back_as_0_or_1(k, name):
    """IPO ip_ctloutput set 994-1058 (OPTSET: non-zero sets the inp flag)
    and get 1184-1231 (OPTBIT: 1 when set, not the flag value)."""
    s = udp_socket(k)
    opt = getattr(sock, name)
    s.setsockopt(IPL, opt, 1000)
    assert s.getsockopt(IPL, opt) == 1
    s.setsockopt(IPL, opt, 0)
    assert s.getsockopt(IPL, opt) == 0


@pytest.mark.parametrize(
    "name", ["IP_TTL", "IP_TOS", "IP_MINTTL", "IP_PORTRANGE", "IP_RECVDSTADDR", "IP_DONTFRAG"]
)
def test_int_options_short_value_einval(k, name):
    """IPO 994-997 and 1089-1092: sooptcopyin with minlen sizeof(int)."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, IPL, getattr(sock, name), b"\x01") == errno.EINVAL


def test_ttl_and_tos_are_stored_in_a_byte(k):
    """IPO 1000-1006 assign the int to inp_ip_tos / inp_ip_ttl, both u_char
    (in_pcb.h 177, 195): 300 reads back 44, 0x1b4 reads back 0xb4, and the
    datagram carries those bytes (UDP udp_output 1237-1238)."""
    s = udp_socket(k, port=5000)
    s.setsockopt(IPL, sock.IP_TTL, 300)
    s.setsockopt(IPL, sock.IP_TOS, 0x1B4)
    assert s.getsockopt(IPL, sock.IP_TTL) == 44
    assert s.getsockopt(IPL, sock.IP_TOS) == 0xB4
    s.sendto(b"ttl", (PEER, 53))
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5000, 53, b"ttl", ttl=44, tos=0xB4)


def test_minttl_range(k):
    """IPO 1008-1013: IP_MINTTL accepts 0..MAXTTL (255), else EINVAL and the
    old value stays."""
    s = udp_socket(k)
    s.setsockopt(IPL, sock.IP_MINTTL, 255)
    assert s.getsockopt(IPL, sock.IP_MINTTL) == 255
    assert oserr(s.setsockopt, IPL, sock.IP_MINTTL, 256) == errno.EINVAL
    assert oserr(s.setsockopt, IPL, sock.IP_MINTTL, -1) == errno.EINVAL
    assert s.getsockopt(IPL, sock.IP_MINTTL) == 255


def test_minttl_drops_udp_silently(k):
    """UDP udp_input 613-617: a datagram whose TTL is below inp_ip_minttl is
    freed after the lookup, without a counter of its own and without ICMP
    (udps_ipackets and ips_delivered still moved)."""
    s = udp_socket(k, port=7000)
    s.setsockopt(IPL, sock.IP_MINTTL, 65)
    before = snapshot(k)
    udp_in(k, 7000, ttl=64)
    after = snapshot(k)
    assert delta(before, after, "udp") == {"udps_ipackets": 1}
    assert delta(before, after, "ip") == {"ips_total": 1, "ips_delivered": 1}
    assert k.transmitted("em0") == []
    udp_in(k, 7000, payload=b"ok65", ttl=65)
    assert s.recvfrom(100) == (b"ok65", (PEER, 40000))


def test_portrange_values(k):
    """IPO 1088-1118: DEFAULT/HIGH/LOW set the inp flags, anything else is
    EINVAL; get 1206-1213 answers 0, 1 (HIGH) or 2 (LOW)."""
    s = udp_socket(k)
    s.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_HIGH)
    assert s.getsockopt(IPL, sock.IP_PORTRANGE) == 1
    s.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_LOW)
    assert s.getsockopt(IPL, sock.IP_PORTRANGE) == 2
    assert oserr(s.setsockopt, IPL, sock.IP_PORTRANGE, 3) == errno.EINVAL
    assert s.getsockopt(IPL, sock.IP_PORTRANGE) == 2
    s.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_DEFAULT)
    assert s.getsockopt(IPL, sock.IP_PORTRANGE) == 0


def test_portrange_high_picks_from_hifirst_hilast(k):
    """PCB in_pcb_lport 374-377: INP_HIGHPORT uses portrange.hifirst..hilast
    (49152..65535)."""
    s = udp_socket(k)
    s.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_HIGH)
    s.bind(("0.0.0.0", 0))
    assert 49152 <= s.getsockname()[1] <= 65535


def test_portrange_low_needs_privilege(k):
    """PCB in_pcb_lport 378-384: INP_LOWPORT checks PRIV_NETINET_RESERVEDPORT
    (priv_check_cred: EPERM for an unprivileged credential); root gets a port
    in lowlast..lowfirst (600..1023)."""
    u = udp_socket(k, uid=1000)
    u.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_LOW)
    assert oserr(u.bind, ("0.0.0.0", 0)) == errno.EPERM
    r = udp_socket(k)
    r.setsockopt(IPL, sock.IP_PORTRANGE, sock.IP_PORTRANGE_LOW)
    r.bind(("0.0.0.0", 0))
    assert 600 <= r.getsockname()[1] <= 1023


def test_bindany_needs_privilege(k):
    """IPO 974-980: IP_BINDANY checks PRIV_NETINET_BINDANY before anything
    else (EPERM unprivileged); PCB in_pcbbind_setup then lets the socket bind
    a foreign address."""
    u = udp_socket(k, uid=1000)
    assert oserr(u.setsockopt, IPL, sock.IP_BINDANY, 1) == errno.EPERM
    assert u.getsockopt(IPL, sock.IP_BINDANY) == 0
    r = udp_socket(k)
    assert oserr(r.bind, ("203.0.113.9", 5000)) == errno.EADDRNOTAVAIL
    r2 = udp_socket(k)
    r2.setsockopt(IPL, sock.IP_BINDANY, 1)
    assert r2.getsockopt(IPL, sock.IP_BINDANY) == 1
    r2.bind(("203.0.113.9", 5000))
    assert r2.getsockname() == ("203.0.113.9", 5000)


def test_recvtos_absent_in_9_0(k):
    """IP_RECVTOS (68) is in ip_ctloutput of 9.1 (IPO 993, 1057-1059, 1169,
    1228-1229) but not in the February 2011 head; it was committed to head on
    2012-06-12 (ip(4) dated November 14, 2011 until then, and the May 2012
    projects/armv6 tree still lacks it) and merged to stable/9 for 9.1.  In
    9.0 the option is unknown: ENOPROTOOPT both ways."""
    s = udp_socket(k)
    assert oserr(s.setsockopt, IPL, sock.IP_RECVTOS, 1) == errno.ENOPROTOOPT
    assert oserr(s.getsockopt, IPL, sock.IP_RECVTOS) == errno.ENOPROTOOPT


def test_unknown_ip_option_enoprotoopt(k):
    """IPO set default 1137-1139 and get default 1267-1269; IP_RETOPTS is
    only settable `#ifdef notyet` (IPO 947-949) and IP_IPSEC_POLICY needs
    `options IPSEC`, absent from GENERIC."""
    for s in (udp_socket(k), raw_socket(k)):
        assert oserr(s.setsockopt, IPL, 99, 1) == errno.ENOPROTOOPT
        assert oserr(s.getsockopt, IPL, 99) == errno.ENOPROTOOPT
        assert oserr(s.setsockopt, IPL, sock.IP_RETOPTS, b"\x01\x01\x01\x00") == errno.ENOPROTOOPT
        assert oserr(s.setsockopt, IPL, sock.IP_IPSEC_POLICY, 1) == errno.ENOPROTOOPT


def test_ip_options_empty_get_and_too_long_set(k):
    """IPO get 1145-1154: without options the answer is empty (valsize 0),
    for IP_OPTIONS and IP_RETOPTS; set 952-955: more than MLEN bytes (216 on
    amd64: MSIZE 256 - 40-byte m_hdr) is EMSGSIZE before ip_pcbopts runs."""
    s = udp_socket(k)
    assert s.getsockopt(IPL, sock.IP_OPTIONS, 40) == b""
    assert s.getsockopt(IPL, sock.IP_RETOPTS, 40) == b""
    assert oserr(s.setsockopt, IPL, sock.IP_OPTIONS, b"\x01" * 217) == errno.EMSGSIZE


def test_hdrincl_is_raw_only(k):
    """RAW rip_ctloutput 560-563 / 613-622: IP_HDRINCL reads back as
    inp_flags & INP_HDRINCL (8, in_pcb.h 501).  UDP: ip_ctloutput has no
    such case (IPO 1137-1139): ENOPROTOOPT."""
    r = raw_socket(k)
    assert r.getsockopt(IPL, sock.IP_HDRINCL) == 0
    r.setsockopt(IPL, sock.IP_HDRINCL, 1)
    assert r.getsockopt(IPL, sock.IP_HDRINCL) == 8
    assert oserr(r.setsockopt, IPL, sock.IP_HDRINCL, b"\x01") == errno.EINVAL
    u = udp_socket(k)
    assert oserr(u.setsockopt, IPL, sock.IP_HDRINCL, 1) == errno.ENOPROTOOPT
    assert oserr(u.getsockopt, IPL, sock.IP_HDRINCL) == errno.ENOPROTOOPT


def test_other_levels_einval(k):
    """UDP udp_ctloutput 857-873 hands levels other than IPPROTO_UDP to
    ip_ctloutput, which answers EINVAL for any level but IPPROTO_IP (IPO
    903-940); RAW rip_ctloutput 547-553 likewise."""
    for s in (udp_socket(k), raw_socket(k)):
        assert oserr(s.setsockopt, sock.IPPROTO_TCP, 1, 1) == errno.EINVAL
        assert oserr(s.getsockopt, sock.IPPROTO_TCP, 1) == errno.EINVAL


def test_firewall_and_mroute_options_without_modules(k):
    """RAW rip_ctloutput 565-575 / 624-638: ipfw and dummynet options are
    ENOPROTOOPT while no firewall module is loaded; 674-691: MRT_INIT (100)
    is EOPNOTSUPP without the multicast-routing module (GENERIC has no
    MROUTING).  On UDP, ip_ctloutput does not know them (ENOPROTOOPT)."""
    r = k.socket(sock.AF_INET, RAW, sock.IPPROTO_IGMP)
    assert oserr(r.getsockopt, IPL, sock.IP_FW_GET, 64) == errno.ENOPROTOOPT
    assert oserr(r.setsockopt, IPL, sock.IP_FW_FLUSH, 0) == errno.ENOPROTOOPT
    assert oserr(r.setsockopt, IPL, sock.IP_DUMMYNET_FLUSH, 0) == errno.ENOPROTOOPT
    assert oserr(r.setsockopt, IPL, 100, 1) == errno.EOPNOTSUPP
    u = udp_socket(k)
    assert oserr(u.setsockopt, IPL, sock.IP_FW_FLUSH, 0) == errno.ENOPROTOOPT


# --- effects on output --------------------------------------------------------


def test_dontfrag_sets_df_and_refuses_to_fragment(k):
    """UDP udp_output 1205-1210 sets IP_DF when INP_DONTFRAG; ip_output then
    refuses a datagram larger than the MTU (EMSGSIZE, ips_cantfrag)."""
    s = udp_socket(k, port=5001)
    s.setsockopt(IPL, sock.IP_DONTFRAG, 1)
    s.sendto(b"d" * 1472, (PEER, 53))
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(got, HOST, PEER, 5001, 53, b"d" * 1472, flags="DF")
    before = snapshot(k)
    assert oserr(s.sendto, b"d" * 1473, (PEER, 53)) == errno.EMSGSIZE
    assert delta(before, snapshot(k), "ip") == {"ips_localout": 1, "ips_cantfrag": 1}
    assert k.transmitted("em0") == []


def test_onesbcast_sends_to_all_ones(k):
    """UDP udp_output 1215-1218 passes IP_SENDONES; IPO ip_output 234-245
    rewrites the destination to 255.255.255.255 with TTL 1 for a subnet
    broadcast, and the UDP checksum uses the all-ones address (UDP
    1227-1231).  SO_BROADCAST supplies IP_ALLOWBROADCAST (IPO 465-468)."""
    s = udp_socket(k, port=5002)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.setsockopt(IPL, sock.IP_ONESBCAST, 1)
    s.sendto(b"ones", (BCAST, 9))
    (got,) = k.transmitted("em0")
    assert bytes(got) == udp_frame(
        got, HOST, "255.255.255.255", 5002, 9, b"ones", ttl=1, eth_dst="ff:ff:ff:ff:ff:ff"
    )


def test_broadcast_needs_so_broadcast(k):
    """IPO ip_output 461-468: a broadcast destination without
    IP_ALLOWBROADCAST (no SO_BROADCAST, UDP 1215-1216) is EACCES."""
    s = udp_socket(k, port=5003)
    assert oserr(s.sendto, b"b", (BCAST, 9)) == errno.EACCES
    s.setsockopt(IPL, sock.IP_ONESBCAST, 1)
    assert oserr(s.sendto, b"b", (BCAST, 9)) == errno.EACCES
    assert k.transmitted("em0") == []


# --- RSVP ---------------------------------------------------------------------


def test_rsvp_on_needs_a_raw_rsvp_socket(k):
    """UDP: ip_ctloutput has no IP_RSVP_* case (ENOPROTOOPT).  RAW
    rip_ctloutput 651-656 -> ip_input.c ip_rsvp_init 1707-1713: a raw socket
    of another protocol is EOPNOTSUPP."""
    assert oserr(udp_socket(k).setsockopt, IPL, sock.IP_RSVP_ON, 1) == errno.ENOPROTOOPT
    assert oserr(raw_socket(k, 253).setsockopt, IPL, sock.IP_RSVP_ON, 1) == errno.EOPNOTSUPP


def test_rsvp_on_one_socket_at_a_time(k):
    """ip_input.c ip_rsvp_init 1715-1718: a second RSVP socket is EADDRINUSE;
    IP_RSVP_OFF (ip_rsvp_done 1732) or closing the first (RAW rip_detach
    831-832) frees the slot."""
    a = raw_socket(k, sock.IPPROTO_RSVP)
    b = raw_socket(k, sock.IPPROTO_RSVP)
    a.setsockopt(IPL, sock.IP_RSVP_ON, 1)
    assert oserr(b.setsockopt, IPL, sock.IP_RSVP_ON, 1) == errno.EADDRINUSE
    a.setsockopt(IPL, sock.IP_RSVP_OFF, 1)
    b.setsockopt(IPL, sock.IP_RSVP_ON, 1)
    assert oserr(a.setsockopt, IPL, sock.IP_RSVP_ON, 1) == errno.EADDRINUSE
    b.close()
    a.setsockopt(IPL, sock.IP_RSVP_ON, 1)


def test_rsvp_vif_without_mroute_module(k):
    """RAW rip_ctloutput 665-672: ip_rsvp_vif is only set by the
    multicast-routing module (ip_mroute.c 2887), not in GENERIC: EINVAL.
    (With the module loaded its stub, ip_mroute.c 1715-1719, would answer
    EOPNOTSUPP.)"""
    a = raw_socket(k, sock.IPPROTO_RSVP)
    assert oserr(a.setsockopt, IPL, sock.IP_RSVP_VIF_ON, 1) == errno.EINVAL
    assert oserr(a.setsockopt, IPL, sock.IP_RSVP_VIF_OFF, 1) == errno.EINVAL


def test_rsvp_in_a_jail_is_eperm(k):
    """RAW rip_ctloutput 652-654: PRIV_NETINET_MROUTE; kern_jail.c
    prison_priv_check grants it only to vnet jails (3748, 3779-3780); for
    any other jail the final default (3964-3970) denies it, so jailed root
    with allow.raw_sockets gets EPERM."""
    j = k.jail("j1", ip4=[HOST], allow_raw_sockets=True)
    r = j.socket(sock.AF_INET, RAW, sock.IPPROTO_RSVP)
    assert oserr(r.setsockopt, IPL, sock.IP_RSVP_ON, 1) == errno.EPERM
