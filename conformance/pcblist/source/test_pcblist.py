"""net.inet.udp.pcblist and net.inet.raw.pcblist, from the 9.1 source.

UDP = sys/netinet/udp_usrreq.c, RAW = sys/netinet/raw_ip.c, PCB =
sys/netinet/in_pcb.c, SOCK = sys/kern/uipc_socket.c, SB =
sys/kern/uipc_sockbuf.c, PROT = sys/kern/kern_prot.c, SYS =
sys/kern/kern_sysctl.c.
"""

import pytest

from .common import (
    INP_HDRINCL,
    INP_INHASHLIST,
    INP_RECVDSTADDR,
    IPPROTO_UDP,
    MSIZE,
    SO_BROADCAST,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOCK_RAW,
    SS_ISCONNECTED,
    XINPCB_LEN,
    XINPGEN_LEN,
    errno,
    laddr,
    lport,
    make_host,
    oserr,
    parse,
    raw_list,
    raw_rcv,
    raw_snd,
    rec_field,
    settle,
    size_probe,
    sock,
    udp_list,
    udp_rcv,
    udp_snd,
    xinpcb_expect,
    xinpgen_expect,
)

LISTS = ["net.inet.udp.pcblist", "net.inet.raw.pcblist"]


def udp(k, port=None, addr="0.0.0.0", uid=0):
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=uid)
    if port is not None:
        s.bind((addr, port))
    return s


# --------------------------------------------------------------------------
# Header and trailer


@pytest.mark.parametrize("name", LISTS)
def test_empty_list_is_header_and_trailer(k, name):
    """UDP udp_pcblist 720-736 / RAW rip_pcblist 1023-1033: an xinpgen with
    xig_len 32, the count and generation of the pcbinfo (no pcb was ever
    made: ipi_count 0, ipi_gencnt 0) and so_gencnt; then, no records, the
    trailer 784-797 with the same values. Nothing else: 64 bytes."""
    blob = k.sysctl(name)
    assert len(blob) == 2 * XINPGEN_LEN
    lst = parse(k, blob)
    sogen = lst.head["xig_sogen"]
    xinpgen_expect(k, count=0, gen=0, sogen=sogen).check(blob[:32], "header")
    xinpgen_expect(k, count=0, gen=0, sogen=sogen).check(blob[32:], "trailer")


def test_generation_counts_alloc_and_free(k):
    """PCB in_pcballoc 311 (++ipi_gencnt per pcb, recorded in inp_gencnt);
    in_pcbfree 1172 and in_pcbremlists 1995 each bump ipi_gencnt again (UDP
    udp_detach 1541 calls in_pcbfree), so a
    closed pcb moves the generation by 2 (the same in the February 2011
    tree, in_pcbfree_internal 975 + in_pcbremlists 1567). ipi_count
    (304/2010) is the header and trailer count."""
    a = udp(k, 7001)
    b = udp(k, 7002)
    lst = udp_list(k)
    assert (lst.head["xig_count"], lst.head["xig_gen"]) == (2, 2)
    assert (lst.tail["xig_count"], lst.tail["xig_gen"]) == (2, 2)
    assert [rec_field(k, r, "inp_gencnt") for r in lst.records] == [2, 1]
    a.close()
    lst = udp_list(k)
    assert (lst.head["xig_count"], lst.head["xig_gen"]) == (1, 4)
    assert [lport(r) for r in lst.records] == [7002]
    b.close()
    lst = udp_list(k)
    assert (lst.head["xig_count"], lst.head["xig_gen"], len(lst.records)) == (0, 6, 0)


def test_records_newest_first(k):
    """PCB in_pcballoc 303 inserts at the head of ipi_listhead; UDP
    udp_pcblist 743-744 walks it from LIST_FIRST: newest pcb first."""
    for port in (7001, 7002, 7003):
        udp(k, port)
    lst = udp_list(k)
    assert [lport(r) for r in lst.records] == [7003, 7002, 7001]


def test_socket_generation_is_global(k):
    """SOCK soalloc 305 and sodealloc 330 bump the one global so_gencnt for
    every socket of any family (a routing socket too); xig_sogen is read at
    the header (UDP 733) and again at the trailer (793)."""
    s0 = udp_list(k).head["xig_sogen"]
    u = udp(k)
    assert udp_list(k).head["xig_sogen"] == s0 + 1
    r = k.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    assert raw_list(k).head["xig_sogen"] == s0 + 2
    u.close()
    lst = udp_list(k)
    assert (lst.head["xig_sogen"], lst.tail["xig_sogen"]) == (s0 + 3, s0 + 3)
    r.close()
    assert udp_list(k).tail["xig_sogen"] == s0 + 4


@pytest.mark.parametrize("name", LISTS)
def test_write_is_eperm(k, name):
    """SYS sysctl_root 1448-1449: the nodes are CTLFLAG_RD (UDP 802-804, RAW
    1099-1101), so a new value is EPERM before the handler runs."""
    assert oserr(k.sysctl, name, bytes(32)) == errno.EPERM


# --------------------------------------------------------------------------
# The size probe


@pytest.mark.parametrize("name", LISTS)
def test_size_probe_empty(k, name):
    """UDP 707-711 / RAW 1010-1014: with no buffer the handler reports
    2 * sizeof(xinpgen) + (n + max(n/8, 10)) * sizeof(xinpcb): 64 + 10 * 552."""
    assert k.sysctl_size(name) == 64 + 10 * 552 == size_probe(0)


def test_size_probe_small_udp(k):
    """UDP 708-710: n = 3 -> 3 + 10 slack records."""
    for port in (7001, 7002, 7003):
        udp(k, port)
    assert k.sysctl_size("net.inet.udp.pcblist") == 64 + 13 * 552


def test_size_probe_large_udp(k):
    """UDP 708-710: n = 96 -> 96 + 96/8 = 108 records."""
    socks = [udp(k) for _ in range(96)]
    assert len(socks) == 96
    assert k.sysctl_size("net.inet.udp.pcblist") == 64 + 108 * 552


def test_size_probe_raw(k):
    """RAW 1010-1014: n = 2 raw pcbs -> 12 records."""
    socks = [k.socket(sock.AF_INET, sock.SOCK_RAW, 253) for _ in range(2)]
    assert len(socks) == 2
    assert k.sysctl_size("net.inet.raw.pcblist") == 64 + 12 * 552


def test_full_read_length_matches_records(k):
    """UDP 725-797: header, one record per visible pcb, trailer."""
    udp(k, 7001)
    udp(k, 7002)
    assert len(k.sysctl("net.inet.udp.pcblist")) == 2 * XINPGEN_LEN + 2 * XINPCB_LEN


# --------------------------------------------------------------------------
# Records


def test_udp_bound_record(k):
    """One bound UDP socket. UDP udp_attach 1420-1439 (soreserve 9216/42080,
    inp_vflag INP_IPV4, inp_ip_ttl = ip_defttl 64, inp_ip_p untouched 0);
    PCB in_pcballoc 266-312 (inc_fibnum = so_fibnum 280, refcount 1 at 312),
    in_pcbbind -> in_pcbinshash_internal 1904 (INP_INHASHLIST); udp_pcblist
    748 takes a
    reference before the copy at 766, so the record shows inp_refcount 2;
    763 zeroes the record, sotoxsocket (SOCK 3502-3524) fills the xsocket:
    so_type SOCK_DGRAM, xso_protocol 17, family AF_INET, so_uid 0; SB
    soreserve 251-256 and sbreserve_locked 314 give the buffer limits."""
    s = udp(k, 7001, "192.0.2.1")
    assert s is not None
    (rec,) = udp_list(k).records
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_DGRAM,
        protocol=IPPROTO_UDP,
        rcv=udp_rcv(),
        snd=udp_snd(),
        inp_flags=INP_INHASHLIST,
        laddr="192.0.2.1",
        lport=7001,
    ).check(rec)


def test_udp_connected_record(k):
    """UDP udp_connect 1512-1535: in_pcbconnect fills the foreign address and
    port (network order in the record), soisconnected sets SS_ISCONNECTED;
    the local port was not chosen for the socket, so no INP_ANONPORT."""
    s = udp(k, 7001, "192.0.2.1")
    s.connect(("192.0.2.7", 53))
    (rec,) = udp_list(k).records
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_DGRAM,
        protocol=IPPROTO_UDP,
        rcv=udp_rcv(),
        snd=udp_snd(),
        inp_flags=INP_INHASHLIST,
        laddr="192.0.2.1",
        lport=7001,
        faddr="192.0.2.7",
        fport=53,
        so_state=SS_ISCONNECTED,
    ).check(rec)


def test_unbound_udp_record(k):
    """A socket that was only created: no hash insertion (inp_flags 0), no
    address or port."""
    udp(k)
    (rec,) = udp_list(k).records
    xinpcb_expect(
        k, gencnt=1, so_type=SOCK_DGRAM, protocol=IPPROTO_UDP, rcv=udp_rcv(), snd=udp_snd()
    ).check(rec)


def test_udp_options_in_record(k):
    """so_options carries SO_REUSEADDR (0x4) and SO_BROADCAST (0x20) (SOCK
    sosetopt); IP_RECVDSTADDR sets INP_RECVDSTADDR (0x4) in inp_flags, IP_TOS
    inp_ip_tos and IP_TTL inp_ip_ttl (ip_output.c ip_ctloutput 982-1032);
    SO_RCVBUF 10000 re-runs sbreserve (SOCK 2550-2559, SB 311-316): hiwat
    10000, mbmax 80000, lowat still 1; SO_SNDLOWAT 100 sets the send low
    water mark (SOCK 2566-2571)."""
    s = udp(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEADDR, 1)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_RECVDSTADDR, 1)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TOS, 0x10)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, 7)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF, 10000)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_SNDLOWAT, 100)
    s.bind(("0.0.0.0", 7001))
    (rec,) = udp_list(k).records
    rcv = udp_rcv()
    rcv.update(sb_hiwat=10000, sb_mbmax=80000)
    snd = udp_snd()
    snd.update(sb_lowat=100)
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_DGRAM,
        protocol=IPPROTO_UDP,
        rcv=rcv,
        snd=snd,
        inp_flags=INP_INHASHLIST | INP_RECVDSTADDR,
        ttl=7,
        tos=0x10,
        lport=7001,
        so_options=SO_REUSEADDR | SO_BROADCAST,
    ).check(rec)


def test_uid_in_record(k):
    """SOCK sotoxsocket 3523: so_uid is the socket credential's cr_uid."""
    udp(k, 7001, uid=1000)
    (rec,) = udp_list(k).records
    assert rec_field(k, rec, "so_uid") == 1000


def test_fib_in_record():
    """PCB in_pcballoc 280: inc_fibnum = so_fibnum, taken from the process FIB
    at socreate (SOCK 394-397)."""
    k = make_host(fibs=2)
    k.setfib(1)
    udp(k, 7001)
    (rec,) = udp_list(k).records
    assert rec_field(k, rec, "inc_fibnum") == 1


def test_receive_buffer_counts_a_loopback_datagram(k):
    """A 4-byte datagram looped through lo0. SB sbappendaddr_locked 647-659
    puts a MT_SONAME mbuf (m_len 16) before the data and sballoc (sockbuf.h
    172-182) counts both: sb_cc 16 + 4, sb_mbcnt 2 * MSIZE, sb_mcnt 2, no
    cluster (the data was built by m_uiotombuf with max_hdr leading space,
    4 + 76 bytes < MINCLSIZE, so one packet-header mbuf, and lo0 and
    udp_input only trim it). Reading the datagram frees it all."""
    a = udp(k, 9000, "127.0.0.1")
    b = udp(k)
    b.sendto(b"ping", ("127.0.0.1", 9000))
    settle(k)
    rec = next(r for r in udp_list(k).records if lport(r) == 9000)
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_DGRAM,
        protocol=IPPROTO_UDP,
        rcv=udp_rcv(cc=20, mbcnt=2 * MSIZE, mcnt=2, ccnt=0),
        snd=udp_snd(),
        inp_flags=INP_INHASHLIST,
        laddr="127.0.0.1",
        lport=9000,
    ).check(rec)
    assert a.recv(100) == b"ping"
    rec = next(r for r in udp_list(k).records if lport(r) == 9000)
    assert rec_field(k, rec, "so_rcv.sb_cc") == 0


def test_raw_record(k):
    """RAW rip_attach 782-810: soreserve(9216, 9216), inp_vflag INP_IPV4,
    inp_ip_p = the protocol asked for (253), inp_ip_ttl 64; rip_inshash does
    not set INP_INHASHLIST. socreate (SOCK 372-375) found no protosw for 253,
    so pffindproto (uipc_domain.c 321-329) gave the raw wildcard entry, whose
    pr_protocol is 0 (in_proto.c 325-335): xso_protocol 0."""
    k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    (rec,) = raw_list(k).records
    xinpcb_expect(
        k, gencnt=1, so_type=SOCK_RAW, protocol=0, rcv=raw_rcv(), snd=raw_snd(), ip_p=253
    ).check(rec)


@pytest.mark.parametrize(
    "proto, xso_protocol",
    [(1, 1), (2, 2), (255, 255), (0, 255), (253, 0)],
    ids=["icmp", "igmp", "ipproto_raw", "proto0", "unregistered"],
)
def test_raw_protocol_fields(k, proto, xso_protocol):
    """xso_protocol is the protosw's pr_protocol (SOCK 3512), inp_ip_p the
    number passed to socket() (RAW rip_attach 806). Protocol 0 goes through
    pffindtype (SOCK 375, uipc_domain.c 301-304), whose first SOCK_RAW entry
    is IPPROTO_RAW (in_proto.c 187-189); ICMP and IGMP have their own
    entries (197-208); 253 has none and takes the wildcard (pr_protocol 0)."""
    k.socket(sock.AF_INET, sock.SOCK_RAW, proto)
    (rec,) = raw_list(k).records
    assert rec_field(k, rec, "xso_protocol") == xso_protocol
    assert rec_field(k, rec, "inp_ip_p") == proto


def test_raw_connected_hdrincl_record(k):
    """RAW rip_bind 894 / rip_connect 928-948 set inp_laddr/inp_faddr (ports
    stay 0), soisconnected sets SS_ISCONNECTED; IP_HDRINCL sets INP_HDRINCL
    (0x8, rip_ctloutput)."""
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    r.bind(("192.0.2.1", 0))
    r.connect(("192.0.2.7", 0))
    (rec,) = raw_list(k).records
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_RAW,
        protocol=0,
        rcv=raw_rcv(),
        snd=raw_snd(),
        ip_p=253,
        inp_flags=INP_HDRINCL,
        laddr="192.0.2.1",
        faddr="192.0.2.7",
        so_state=SS_ISCONNECTED,
    ).check(rec)


def test_raw_receive_buffer_counts_a_packet(k):
    """A raw packet of protocol 253 with 3 bytes of data, sent to 127.0.0.1
    and looped back to the sending socket itself (RAW rip_input 276-352
    matches it): rip_append -> sbappendaddr_locked (SB 647-659) with a
    16-byte sockaddr_in; the whole datagram, header included, is data:
    sb_cc 16 + 23, two mbufs of MSIZE, no cluster."""
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    r.sendto(b"raw", ("127.0.0.1", 0))
    settle(k)
    (rec,) = raw_list(k).records
    xinpcb_expect(
        k,
        gencnt=1,
        so_type=SOCK_RAW,
        protocol=0,
        rcv=raw_rcv(cc=39, mbcnt=2 * MSIZE, mcnt=2),
        snd=raw_snd(),
        ip_p=253,
    ).check(rec)


def test_every_record_shows_the_listing_reference(k):
    """UDP 746-749 takes a reference on every listed pcb before any is copied
    (766), so each record's inp_refcount is 2 (1 from in_pcballoc)."""
    for port in (7001, 7002, 7003):
        udp(k, port)
    assert [rec_field(k, r, "inp_refcount") for r in udp_list(k).records] == [2, 2, 2]


def test_closed_socket_not_listed(k):
    """UDP udp_detach -> in_pcbfree -> in_pcbremlists takes the pcb off
    ipi_listhead (PCB 1988-2010): it is no longer listed."""
    a = udp(k, 7001)
    udp(k, 7002)
    a.close()
    assert [lport(r) for r in udp_list(k).records] == [7002]


# --------------------------------------------------------------------------
# Visibility


def test_jail_sees_only_its_own(k):
    """UDP 746-747: cr_canseeinpcb (PROT 1748-1767) -> prison_check
    (kern_jail.c 3447-3451): a jail sees the pcbs of its own prison only; the
    host (prison0) sees the jail's as a child's. The header and trailer
    counts are ipi_count (731, 794), whatever the reader sees."""
    udp(k, 7001)
    j = k.jail("j1", ip4=["192.0.2.1"])
    js = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    js.bind(("192.0.2.1", 7002))
    jl = parse(k, j.sysctl("net.inet.udp.pcblist"))
    assert (jl.head["xig_count"], jl.tail["xig_count"]) == (2, 2)
    assert [(laddr(r), lport(r)) for r in jl.records] == [("192.0.2.1", 7002)]
    hl = udp_list(k)
    assert [lport(r) for r in hl.records] == [7002, 7001]


def test_jail_raw_visibility(k):
    """RAW rip_pcblist 1044-1045: the same rule for raw pcbs."""
    k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    j = k.jail("j1", ip4=["192.0.2.1"], allow_raw_sockets=True)
    j.socket(sock.AF_INET, sock.SOCK_RAW, 254)
    jl = parse(k, j.sysctl("net.inet.raw.pcblist"))
    assert jl.head["xig_count"] == 2
    assert [rec_field(k, r, "inp_ip_p") for r in jl.records] == [254]
    assert [rec_field(k, r, "inp_ip_p") for r in raw_list(k).records] == [254, 253]


def test_see_other_uids_default(k):
    """PROT 1330-1333: security.bsd.see_other_uids defaults to 1."""
    assert k.sysctl("security.bsd.see_other_uids") == 1


def test_see_other_uids_off_hides_other_uids(k):
    """PROT cr_seeotheruids 1344-1350: with see_other_uids 0 a reader whose
    real uid differs sees only pcbs of its own real uid unless it holds
    PRIV_SEEOTHERUIDS, which jailed root does (kern_jail.c 3821-3822). Read
    here inside a jail, the jail's two sockets belonging to uid 0 and 1000."""
    j = k.jail("j1", ip4=["192.0.2.1"])
    a = j.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=0)
    a.bind(("192.0.2.1", 7001))
    b = j.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=1000)
    b.bind(("192.0.2.1", 7002))
    both = parse(k, j.sysctl("net.inet.udp.pcblist", uid=1000))
    assert [lport(r) for r in both.records] == [7002, 7001]
    k.sysctl("security.bsd.see_other_uids", 0)
    mine = parse(k, j.sysctl("net.inet.udp.pcblist", uid=1000))
    assert [lport(r) for r in mine.records] == [7002]
    assert mine.head["xig_count"] == 2
    root = parse(k, j.sysctl("net.inet.udp.pcblist", uid=0))
    assert [lport(r) for r in root.records] == [7002, 7001]


def test_vnet_jail_has_its_own_list(k):
    """V_udbinfo is per vnet (UDP 720-723 read the vnet's ipi_count and
    ipi_gencnt): a vnet jail lists its own pcbs with its own generation;
    so_gencnt is global (SOCK 177, 305), so the host's xig_sogen moves too."""
    udp(k, 7001)
    udp(k, 7002)
    s0 = udp_list(k).head["xig_sogen"]
    v = k.jail("v1", vnet=True)
    vs = v.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert vs is not None
    vl = parse(k, v.sysctl("net.inet.udp.pcblist"))
    assert (vl.head["xig_count"], vl.head["xig_gen"]) == (1, 1)
    assert [rec_field(k, r, "inp_gencnt") for r in vl.records] == [1]
    hl = udp_list(k)
    assert (hl.head["xig_count"], hl.head["xig_gen"]) == (2, 2)
    assert hl.head["xig_sogen"] == s0 + 1 == vl.head["xig_sogen"]


# --------------------------------------------------------------------------
# Size probes of other nodes (kern_sysctl.c handlers)


@pytest.mark.parametrize(
    "name, size",
    [
        ("net.inet.ip.forwarding", 4),
        ("net.route.netisr_maxqlen", 4),
        ("net.inet.udp.recvspace", 8),
        ("net.inet.raw.recvspace", 8),
        ("kern.ipc.maxsockbuf", 8),
        ("net.isr.dispatch", 7),
    ],
)
def test_size_probe_other_nodes(k, name, size):
    """SYS sysctl_handle_int 989-1000 (an int: 4), sysctl_handle_long
    1043-1067 (a u_long: 8; udp_usrreq.c 126-135, raw_ip.c 138-140,
    uipc_sockbuf.c 1048-1049 -> sysctl_handle_sb_max 274), and
    sysctl_handle_string 1110-1128 (strlen + 1: "direct" -> 7, netisr.c
    152-154, 368-376)."""
    assert k.sysctl_size(name) == size


def test_size_probe_node_is_eisdir(k):
    """SYS sysctl_root 1437-1444: a node without a handler (net.inet.udp,
    udp_usrreq.c SYSCTL_NODE) answers EISDIR."""
    assert oserr(k.sysctl_size, "net.inet.udp") == errno.EISDIR


def test_size_probe_unknown_is_enoent(k):
    """SYS sysctl_find_oid: no such name -> ENOENT."""
    assert oserr(k.sysctl_size, "net.inet.udp.no_such_node") == errno.ENOENT
