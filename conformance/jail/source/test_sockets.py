"""2. The prison helpers as seen through sockets (kern_jail.c, in_pcb.c, udp_usrreq.c,
raw_ip.c, uipc_socket.c, ip_output.c of FreeBSD 9.1)."""

import socket as pysock

import pytest

from conformance.jail.source.common import (
    IP,
    UDP,
    errno,
    hdrincl_packet,
    ip_frames,
    oserr,
    pending,
    settle,
    sock,
    udp_frames,
)

DG, RAW = sock.SOCK_DGRAM, sock.SOCK_RAW


def jail_for(k, kind, **kw):
    """Jail layouts used below.

    single : ip4 192.0.2.2 (configured on em0)
    multi  : ip4 192.0.2.3 (primary, NOT configured on the host), 192.0.2.2
    multi2 : ip4 192.0.2.3 (primary, configured as em0 alias), 192.0.2.2
    inherit: ip4=inherit
    """
    kw.setdefault("allow_raw_sockets", True)
    if kind == "single":
        return k.jail("single", ip4="192.0.2.2", **kw)
    if kind == "multi":
        return k.jail("multi", ip4=["192.0.2.3", "192.0.2.2"], **kw)
    if kind == "multi2":
        k.ifconfig("em0", "192.0.2.3/32", alias=True)
        settle(k)
        k.transmitted("em0")
        return k.jail("multi2", ip4=["192.0.2.3", "192.0.2.2"], **kw)
    if kind == "inherit":
        return k.jail("inh", ip4="inherit", **kw)
    raise AssertionError(kind)


def bind_result(j, addr, typ=DG, proto=0, port=5000):
    """errno of bind(), or the getsockname() result; the socket is closed afterwards."""
    s = j.socket(sock.AF_INET, typ, proto)
    e = oserr(s.bind, (addr, port))
    r = e if e else s.getsockname()
    s.close()
    return r


def one_udp(k, ifname):
    fs = udp_frames(k, ifname)
    assert len(fs) == 1, fs
    return fs[0]


def one_ip(k, ifname):
    fs = ip_frames(k, ifname)
    assert len(fs) == 1, fs
    return fs[0]


# ---------------------------------------------------------------- socket()


def test_socket_in_jail_without_ipv4(k):
    """socreate: prison_check_af() != 0 -> EPROTONOSUPPORT (before pru_attach), for no ip4
    parameter, ip4=disable, and raw sockets alike."""
    a = k.jail("noip", allow_raw_sockets=True)
    b = k.jail("dis", ip4="disable")
    got = [
        oserr(a.socket, sock.AF_INET, DG, 0),
        oserr(b.socket, sock.AF_INET, DG, 0),
        oserr(a.socket, sock.AF_INET, RAW, 253),
    ]
    assert got == [errno.EPROTONOSUPPORT] * 3


def test_raw_socket_needs_allow_raw_sockets(k):
    """rip_attach: priv_check(PRIV_NETINET_RAW); prison_priv_check grants it only with
    PR_ALLOW_RAW_SOCKETS."""
    no = k.jail("no", ip4="192.0.2.2")
    yes = k.jail("yes", ip4="192.0.2.2", allow_raw_sockets=True)
    assert oserr(no.socket, sock.AF_INET, RAW, 253) == errno.EPERM
    assert yes.socket(sock.AF_INET, RAW, 253).getsockname() == ("0.0.0.0", 0)


def test_raw_socket_nonroot_in_allowed_jail(k):
    """priv_check_cred: prison_priv_check passes, then cr_uid != 0 -> EPERM."""
    j = k.jail("j", ip4="192.0.2.2", allow_raw_sockets=True)
    assert oserr(j.socket, sock.AF_INET, RAW, 253, uid=1000) == errno.EPERM


def test_raw_default_follows_sysctl_at_creation(k):
    """jail(8) passes security.jail.allow_raw_sockets at creation; pr_allow is per prison."""
    old = k.jail("old", ip4="192.0.2.2")
    k.sysctl("security.jail.allow_raw_sockets", 1)
    new = k.jail("new", ip4="192.0.2.2")
    assert new.socket(sock.AF_INET, RAW, 253) is not None
    assert oserr(old.socket, sock.AF_INET, RAW, 253) == errno.EPERM


def test_ip_bindany_denied_in_classic_jail(k):
    """ip_ctloutput IP_BINDANY: priv_check(PRIV_NETINET_BINDANY) -> EPERM in a classic jail."""
    s = k.jail("j", ip4="192.0.2.2").socket(sock.AF_INET, DG)
    assert oserr(s.setsockopt, sock.IPPROTO_IP, sock.IP_BINDANY, 1) == errno.EPERM


def test_ip_bindany_allowed_in_vnet_jail(k):
    """prison_priv_check (VIMAGE switch): PRIV_NETINET_BINDANY granted to PR_VNET prisons;
    in_pcbbind_setup then skips ifa_ifwithaddr_check for INP_BINDANY."""
    v = k.jail("v", vnet=True)
    v.ifconfig("lo0", "127.0.0.1/8")
    s = v.socket(sock.AF_INET, DG)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_BINDANY, 1)
    s.bind(("203.0.113.1", 5000))
    assert s.getsockname() == ("203.0.113.1", 5000)


# ---------------------------------------------------------------- reserved ports


def test_reserved_port_jailed_root(k):
    """in_pcbbind_setup: PRIV_NETINET_RESERVEDPORT granted by prison_priv_check to root;
    prison_local_ip4 still rejects a non-jail address first."""
    j = k.jail("j", ip4="192.0.2.2")
    assert [bind_result(j, "192.0.2.2", port=80), bind_result(j, "192.0.2.1", port=81)] == [
        ("192.0.2.2", 80),
        errno.EADDRNOTAVAIL,
    ]


def test_reserved_port_jailed_nonroot(k):
    """in_pcbbind_setup: priv_check_cred(PRIV_NETINET_RESERVEDPORT) fails for uid != 0 ->
    EACCES."""
    j = k.jail("j", ip4="192.0.2.2")
    got = []
    for addr in ("192.0.2.2", "0.0.0.0"):
        s = j.socket(sock.AF_INET, DG, uid=1000)
        got.append(oserr(s.bind, (addr, 80)))
    assert got == [errno.EACCES, errno.EACCES]


# ---------------------------------------------------------------- UDP bind

UDP_BIND = {
    "single": {
        "0.0.0.0": ("192.0.2.2", 5000),
        "127.0.0.1": ("192.0.2.2", 5000),
        "192.0.2.2": ("192.0.2.2", 5000),
        "192.0.2.1": errno.EADDRNOTAVAIL,
        "198.51.100.1": errno.EADDRNOTAVAIL,
        "224.0.0.251": errno.EADDRNOTAVAIL,
    },
    "multi2": {
        "0.0.0.0": ("0.0.0.0", 5000),
        "127.0.0.1": ("192.0.2.3", 5000),
        "192.0.2.2": ("192.0.2.2", 5000),
        "192.0.2.3": ("192.0.2.3", 5000),
        "192.0.2.1": errno.EADDRNOTAVAIL,
    },
    "multi": {
        "127.0.0.1": errno.EADDRNOTAVAIL,
        "192.0.2.3": errno.EADDRNOTAVAIL,
        "192.0.2.2": ("192.0.2.2", 5000),
    },
    "inherit": {
        "192.0.2.1": ("192.0.2.1", 5000),
        "127.0.0.1": ("127.0.0.1", 5000),
        "0.0.0.0": ("0.0.0.0", 5000),
    },
}


@pytest.mark.parametrize("kind", sorted(UDP_BIND))
def test_udp_bind(k, kind):
    """in_pcbbind_setup -> prison_local_ip4 (ANY -> the only address; 127.0.0.1 -> primary;
    otherwise _prison_check_ip4), then ifa_ifwithaddr_check for a non-ANY unicast."""
    j = jail_for(k, kind)
    got = {addr: bind_result(j, addr) for addr in UDP_BIND[kind]}
    assert got == UDP_BIND[kind]


def test_udp_bind_ephemeral_single(k):
    """in_pcbbind_setup: prison_local_ip4 latches the only address; port from in_pcb_lport."""
    j = jail_for(k, "single")
    addr, port = bind_result(j, "0.0.0.0", port=0)
    assert addr == "192.0.2.2" and 10000 <= port <= 65535


# ---------------------------------------------------------------- raw bind


def test_raw_bind_multi(k):
    """rip_bind: prison_check_ip4 (no ANY/loopback rewriting), then ifa_ifwithaddr_check."""
    j = jail_for(k, "multi")
    want = {
        "0.0.0.0": errno.EADDRNOTAVAIL,
        "127.0.0.1": errno.EADDRNOTAVAIL,
        "192.0.2.2": ("192.0.2.2", 0),
        "192.0.2.3": errno.EADDRNOTAVAIL,
        "192.0.2.1": errno.EADDRNOTAVAIL,
    }
    got = {a: bind_result(j, a, RAW, 253, port=0) for a in want}
    assert got == want


def test_raw_bind_any_single(k):
    """rip_bind: prison_check_ip4(INADDR_ANY) fails even for a single-address jail."""
    j = jail_for(k, "single")
    assert bind_result(j, "0.0.0.0", RAW, 253, port=0) == errno.EADDRNOTAVAIL


# ---------------------------------------------------------------- UDP source address


def sources(k, j, dests):
    """Unbound sendto from a fresh socket per destination: {dst: (ifname, ip src)}."""
    out = {}
    for dst, ifname in dests:
        s = j.socket(sock.AF_INET, DG)
        s.sendto(b"x", (dst, 9))
        out[dst] = (ifname, one_udp(k, ifname)[IP].src)
    return out


def test_udp_source_single(k):
    """in_pcbladdr: rt_ifa not in jail -> jail address on the ifp -> else prison_get_ip4."""
    j = jail_for(k, "single")
    got = sources(k, j, [("192.0.2.7", "em0"), ("198.51.100.7", "em1"), ("203.0.113.9", "em0")])
    assert got == {
        "192.0.2.7": ("em0", "192.0.2.2"),
        "198.51.100.7": ("em1", "192.0.2.2"),
        "203.0.113.9": ("em0", "192.0.2.2"),
    }


def test_udp_source_multi(k):
    """in_pcbladdr: step 2 (jail address on em0 = 192.0.2.2) and step 3 (primary 192.0.2.3
    for em1, where the jail has no address)."""
    j = jail_for(k, "multi")
    got = sources(k, j, [("192.0.2.7", "em0"), ("198.51.100.7", "em1")])
    assert got == {"192.0.2.7": ("em0", "192.0.2.2"), "198.51.100.7": ("em1", "192.0.2.3")}


def test_udp_source_nosaddrsel(k):
    """in_pcbladdr -> prison_saddrsel_ip4 == 0 (ip4.nosaddrsel): primary, no selection."""
    j = jail_for(k, "multi", saddrsel=False)
    got = sources(k, j, [("192.0.2.7", "em0"), ("198.51.100.7", "em1")])
    assert got == {"192.0.2.7": ("em0", "192.0.2.3"), "198.51.100.7": ("em1", "192.0.2.3")}


def test_udp_source_rt_ifa_in_jail(k):
    """in_pcbladdr step 1: the route's rt_ifa (198.51.100.1) belongs to the jail; with
    nosaddrsel the primary wins instead."""
    got = []
    for name, ip4, sel in (
        ("a", ["192.0.2.2", "198.51.100.1"], True),
        ("b", ["192.0.2.5", "198.51.100.1"], False),
    ):
        j = k.jail(name, ip4=ip4, saddrsel=sel)
        got.append(sources(k, j, [("198.51.100.7", "em1")])["198.51.100.7"])
        k.jail_remove(name)
    assert got == [("em1", "198.51.100.1"), ("em1", "192.0.2.5")]


def test_udp_source_inherit_and_host(k):
    """in_pcbladdr: no PR_IP4 (host, ip4=inherit) -> the rt_ifa address."""
    j = jail_for(k, "inherit")
    got = [sources(k, st, [("198.51.100.7", "em1")])["198.51.100.7"] for st in (j, k)]
    assert got == [("em1", "198.51.100.1")] * 2


def test_udp_subnet_broadcast_source(k):
    """in_pcbladdr for 192.0.2.255 (em0 network route): jail address on em0."""
    got = []
    for kind in ("single", "multi"):
        j = jail_for(k, kind)
        s = j.socket(sock.AF_INET, DG)
        s.setsockopt(sock.SOL_SOCKET, sock.SO_BROADCAST, 1)
        s.sendto(b"x", ("192.0.2.255", 9))
        f = one_udp(k, "em0")
        got.append((f.dst, f[IP].src, f[IP].dst))
        s.close()
        k.jail_remove(j.name)
    assert got == [("ff:ff:ff:ff:ff:ff", "192.0.2.2", "192.0.2.255")] * 2


def test_udp_multicast_source_default_route(k):
    """in_pcbladdr: 239.1.2.3 follows the default route on em0 -> jail address on em0."""
    got = []
    for kind in ("single", "multi"):
        j = jail_for(k, kind)
        s = j.socket(sock.AF_INET, DG)
        s.sendto(b"x", ("239.1.2.3", 9))
        f = one_udp(k, "em0")
        got.append((f.dst, f[IP].src, f[IP].dst))
        s.close()
        k.jail_remove(j.name)
    assert got == [("01:00:5e:01:02:03", "192.0.2.2", "239.1.2.3")] * 2


def test_udp_multicast_if_with_jail_address(k):
    """in_pcbconnect_setup: IP_MULTICAST_IF ifp -> first in_ifaddrhead entry on that ifp
    passing prison_check_ip4."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, pysock.inet_aton("192.0.2.1"))
    s.sendto(b"x", ("239.1.2.3", 9))
    assert one_udp(k, "em0")[IP].src == "192.0.2.2"


def test_udp_multicast_if_without_jail_address(k):
    """in_pcbconnect_setup: no address of the multicast ifp is in the jail -> EADDRNOTAVAIL."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, pysock.inet_aton("198.51.100.1"))
    assert oserr(s.sendto, b"x", ("239.1.2.3", 9)) == errno.EADDRNOTAVAIL
    assert udp_frames(k, "em1") == []


# ---------------------------------------------------------------- implicit bind latching


def test_implicit_bind_latches_address_in_jail(k):
    """udp_output: prison_flag(PR_IP4) -> inp_laddr = laddr on the implicit bind; later
    sends take the fast path with that address."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.sendto(b"1", ("192.0.2.7", 9))
    assert one_udp(k, "em0")[IP].src == "192.0.2.2"
    addr, port = s.getsockname()
    assert addr == "192.0.2.2" and port != 0
    s.sendto(b"2", ("198.51.100.7", 9))
    f = one_udp(k, "em1")
    assert (f[IP].src, f[UDP].sport) == ("192.0.2.2", port)


def test_implicit_bind_host_does_not_latch(k):
    """udp_output: unjailed (no PR_IP4) -> only the port is committed."""
    s = k.socket(sock.AF_INET, DG)
    s.sendto(b"1", ("192.0.2.7", 9))
    addr, port = s.getsockname()
    assert addr == "0.0.0.0" and port != 0
    s.sendto(b"2", ("198.51.100.7", 9))
    assert one_udp(k, "em1")[IP].src == "198.51.100.1"


def test_implicit_bind_inherit_jail_does_not_latch(k):
    """udp_output: an ip4=inherit jail has no PR_IP4 -> address not remembered."""
    s = jail_for(k, "inherit").socket(sock.AF_INET, DG)
    s.sendto(b"1", ("192.0.2.7", 9))
    assert s.getsockname()[0] == "0.0.0.0"


def test_explicit_wildcard_bind_not_latched(k):
    """udp_output: commit only when laddr == ANY && lport == 0; an explicit wildcard bind
    keeps selecting per datagram."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.bind(("0.0.0.0", 5000))
    s.sendto(b"1", ("192.0.2.7", 9))
    assert one_udp(k, "em0")[IP].src == "192.0.2.2"
    s.sendto(b"2", ("198.51.100.7", 9))
    assert one_udp(k, "em1")[IP].src == "192.0.2.3"
    assert s.getsockname() == ("0.0.0.0", 5000)


def sendsrc(s, srcaddr):
    anc = [(sock.IPPROTO_IP, sock.IP_SENDSRCADDR, pysock.inet_aton(srcaddr))]
    return oserr(s.sendmsg, [b"x"], anc, 0, ("198.51.100.7", 9))


def test_ip_sendsrcaddr_jail_address(k):
    """udp_output IP_SENDSRCADDR -> in_pcbbind_setup(src port == inp_lport, so lport stays 0
    and no conflict lookup) -> prison_local_ip4 + ifa_ifwithaddr_check pass."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.bind(("0.0.0.0", 5000))
    assert sendsrc(s, "192.0.2.2") == 0
    assert [(f[IP].src, f[UDP].sport) for f in udp_frames(k, "em1")] == [("192.0.2.2", 5000)]


def test_ip_sendsrcaddr_refused(k):
    """in_pcbbind_setup: prison_local_ip4 -> EADDRNOTAVAIL for 192.0.2.1; 127.0.0.1 becomes
    the primary 192.0.2.3, which ifa_ifwithaddr_check rejects."""
    s = jail_for(k, "multi").socket(sock.AF_INET, DG)
    s.bind(("0.0.0.0", 5000))
    assert [sendsrc(s, "192.0.2.1"), sendsrc(s, "127.0.0.1")] == [errno.EADDRNOTAVAIL] * 2
    assert udp_frames(k, "em1") == []


# ---------------------------------------------------------------- 127.0.0.1 and 0.0.0.0


@pytest.mark.parametrize("dst", ["127.0.0.1", "0.0.0.0"])
def test_udp_sendto_loopback_and_any_go_to_primary(k, dst):
    """udp_output: prison_remote_ip4 (127.0.0.1 -> primary); in_pcbconnect_setup
    (INADDR_ANY -> prison_get_ip4 primary)."""
    j = jail_for(k, "single")
    host = k.socket(sock.AF_INET, DG)
    host.bind(("127.0.0.1", 7000))
    r = j.socket(sock.AF_INET, DG)
    r.bind(("0.0.0.0", 7000))
    s = j.socket(sock.AF_INET, DG)
    s.sendto(b"hello", (dst, 7000))
    settle(k)
    addr, sport = s.getsockname()
    assert addr == "192.0.2.2"
    assert pending(r) == (b"hello", ("192.0.2.2", sport))
    assert pending(host) is None


def test_udp_connect_loopback_and_any(k):
    """udp_connect: prison_remote_ip4; in_pcbconnect_setup ANY -> prison_get_ip4."""
    j = jail_for(k, "single")
    got = []
    for dst in ("127.0.0.1", "0.0.0.0"):
        s = j.socket(sock.AF_INET, DG)
        s.connect((dst, 7000))
        got.append((s.getpeername(), s.getsockname()[0]))
    assert got == [(("192.0.2.2", 7000), "192.0.2.2")] * 2


def test_udp_connect_loopback_multi_local_address(k):
    """udp_connect -> faddr = primary 192.0.2.3, reached by its lo0 host route -> in_pcbladdr
    loopback branch: first jail address on em0's address list (192.0.2.2)."""
    s = jail_for(k, "multi2").socket(sock.AF_INET, DG)
    s.connect(("127.0.0.1", 7000))
    assert s.getpeername() == ("192.0.2.3", 7000)
    assert s.getsockname()[0] == "192.0.2.2"


def test_udp_connect_loopback_unjailed_control(k):
    """udp_connect: prison_remote_ip4 does nothing for prison0."""
    s = k.socket(sock.AF_INET, DG)
    s.connect(("127.0.0.1", 7000))
    assert (s.getpeername(), s.getsockname()[0]) == (("127.0.0.1", 7000), "127.0.0.1")


# ---------------------------------------------------------------- raw output


def test_raw_source_unbound(k):
    """rip_output (no HDRINCL): jailed and inp_laddr ANY -> prison_get_ip4 (primary, no source
    selection), to unicast, broadcast and multicast destinations."""
    s = jail_for(k, "multi").socket(sock.AF_INET, RAW, 253)
    got = {}
    for dst, ifname in [
        ("192.0.2.7", "em0"),
        ("198.51.100.7", "em1"),
        ("192.0.2.255", "em0"),
        ("224.0.0.251", "em0"),
    ]:
        s.sendto(b"payload!", (dst, 0))
        f = one_ip(k, ifname)
        got[dst] = (ifname, f[IP].src, f[IP].proto)
    assert got == {
        "192.0.2.7": ("em0", "192.0.2.3", 253),
        "198.51.100.7": ("em1", "192.0.2.3", 253),
        "192.0.2.255": ("em0", "192.0.2.3", 253),
        "224.0.0.251": ("em0", "192.0.2.3", 253),
    }


def test_raw_source_bound(k):
    """rip_output: bound inp_laddr passes prison_local_ip4 and is used as is."""
    s = jail_for(k, "multi").socket(sock.AF_INET, RAW, 253)
    s.bind(("192.0.2.2", 0))
    s.sendto(b"payload!", ("198.51.100.7", 0))
    assert one_ip(k, "em1")[IP].src == "192.0.2.2"


def test_raw_to_loopback_not_rewritten(k):
    """rip_send/rip_output: no prison_remote_ip4 for raw; dst stays 127.0.0.1, src primary."""
    h = k.socket(sock.AF_INET, RAW, 253)
    s = jail_for(k, "multi").socket(sock.AF_INET, RAW, 253)
    s.sendto(b"payload!", ("127.0.0.1", 0))
    settle(k)
    data, addr = pending(h)
    assert addr[0] == "192.0.2.3"
    assert (pysock.inet_ntoa(data[12:16]), pysock.inet_ntoa(data[16:20])) == (
        "192.0.2.3",
        "127.0.0.1",
    )


def test_raw_inherit_jail_source_from_interface(k):
    """rip_output: prison_get_ip4 leaves ANY (no PR_IP4); ip_output uses the route's ifa."""
    s = jail_for(k, "inherit").socket(sock.AF_INET, RAW, 253)
    s.sendto(b"payload!", ("192.0.2.7", 0))
    assert one_ip(k, "em0")[IP].src == "192.0.2.1"


def test_raw_hdrincl_jail_source(k):
    """rip_output (HDRINCL): prison_check_ip4(ip_src) passes for a jail address."""
    s = jail_for(k, "multi").socket(sock.AF_INET, RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    s.sendto(hdrincl_packet(k, "192.0.2.2", "192.0.2.7"), ("192.0.2.7", 0))
    assert [(f[IP].src, f[IP].dst) for f in ip_frames(k, "em0")] == [("192.0.2.2", "192.0.2.7")]


def test_raw_hdrincl_other_sources_refused(k):
    """rip_output (HDRINCL): prison_check_ip4 -> EADDRNOTAVAIL for a host address, INADDR_ANY
    and 127.0.0.1 (no rewriting)."""
    s = jail_for(k, "multi").socket(sock.AF_INET, RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    got = [
        oserr(s.sendto, hdrincl_packet(k, src, "192.0.2.7"), ("192.0.2.7", 0))
        for src in ("192.0.2.1", "0.0.0.0", "127.0.0.1")
    ]
    assert got == [errno.EADDRNOTAVAIL] * 3
    assert ip_frames(k, "em0") == []


def test_raw_hdrincl_any_source_unjailed_control(k):
    """rip_output: prison_check_ip4 passes for prison0; ip_output fills ip_src from the ifa."""
    s = k.socket(sock.AF_INET, RAW, 253)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_HDRINCL, 1)
    s.sendto(hdrincl_packet(k, "0.0.0.0", "192.0.2.7"), ("192.0.2.7", 0))
    assert one_ip(k, "em0")[IP].src == "192.0.2.1"
