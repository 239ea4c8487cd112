"""6. Vnet jails and epair(4): kern_jail_set()/vnet_alloc()/vnet_destroy(), if_vmove(),
if_detach_internal(), ifindex_alloc_locked() (if.c), epair_clone_create() and
epair_transmit_locked() (if_epair.c), in_pcbbind_setup(), ip_input()/ip_forward(),
rip_output(), udp_output() -- FreeBSD 9.1."""

import gc
import weakref

import pytest

from conformance.jail.source.common import (
    ARP,
    IP,
    UDP,
    echo_request_payload,
    errno,
    frames,
    make_host,
    oserr,
    pending,
    settle,
    sock,
)

DG, RAW = sock.SOCK_DGRAM, sock.SOCK_RAW
IFF_UP = 1


def names(stack):
    return [i.name for i in stack.interfaces()]


@pytest.fixture
def pair(k):
    """Host vnet0 <-> vnet jail v over epair0 (10.0.0.1 / 10.0.0.2)."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    k.ifconfig(a, "10.0.0.1/24")
    v.ifconfig(b, "10.0.0.2/24")
    v.ifconfig("lo0", "127.0.0.1/8")
    v.route_add("default", "10.0.0.1")
    settle(k)
    k.transmitted(a)
    v.transmitted(b)
    return v, a, b


# ---------------------------------------------------------------- a fresh vnet


def test_new_vnet_has_only_lo0_down_without_address(k):
    """vnet_alloc -> vnet_sysinit: lo0 cloned in the new vnet, IFF_UP clear, no address."""
    v = k.jail("v", vnet=True)
    assert names(v) == ["lo0"]
    lo = v.iface("lo0")
    assert lo.flags & IFF_UP == 0
    assert lo.addrs == []
    assert lo.index == 1
    assert v.ip4 is None  # kern_jail_set: no PR_IP4 for PR_VNET
    assert oserr(v.iface, "em0") == errno.ENXIO  # own V_ifnet


def test_bind_in_vnet_without_addresses(k):
    """in_pcbbind_setup: TAILQ_EMPTY(&V_in_ifaddrhead) -> EADDRNOTAVAIL, even for ANY."""
    v = k.jail("v", vnet=True)
    s = v.socket(sock.AF_INET, DG)
    assert oserr(s.bind, ("0.0.0.0", 5000)) == errno.EADDRNOTAVAIL


def test_raw_socket_allowed_in_vnet_without_allow(k):
    """prison_priv_check (VIMAGE switch): PRIV_NETINET_RAW granted when PR_VNET, whatever
    allow.raw_sockets says."""
    v = k.jail("v", vnet=True, allow_raw_sockets=False)
    assert v.socket(sock.AF_INET, RAW, 253) is not None


# ---------------------------------------------------------------- epair placement


def test_epair_names_and_placement(k):
    """epair_clone_create: epairNa/epairNb created down; the b end is moved by if_vmove."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    assert (a, b) == ("epair0a", "epair0b")
    assert names(v) == ["lo0", "epair0b"]
    assert "epair0a" in names(k.vnet0) and "epair0b" not in names(k.vnet0)
    # epair_clone_create: IFF_BROADCAST|IFF_SIMPLEX|IFF_MULTICAST, no IFF_UP
    assert (k.iface(a).flags & IFF_UP, v.iface(b).flags & IFF_UP) == (0, 0)


def test_epair_index_in_jail(k):
    """if_vmove: ifindex_free_locked in vnet0, ifindex_alloc_locked in the jail (lowest free
    slot: 2 after lo0); epair0a keeps its vnet0 index (lo0 1, em0 2, em1 3 -> 4)."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    assert k.iface(a).index == 4
    assert v.iface(b).index == 2


def test_epair_mac_layout(k):
    """epair_clone_create: eaddr[0]=0x02, eaddr[3..4]=if_index at creation, eaddr[5]=0x0a/0x0b
    (b's index 5 in vnet0, kept after the move)."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    ma = bytes.fromhex(k.iface(a).ether.replace(":", ""))
    mb = bytes.fromhex(v.iface(b).ether.replace(":", ""))
    assert ma[0] == 0x02 and ma[3:6] == bytes([0x00, 0x04, 0x0A])
    assert mb[0] == 0x02 and mb[3:6] == bytes([0x00, 0x05, 0x0B])


# ---------------------------------------------------------------- traffic over the epair


def test_ping_host_to_vnet(k, pair):
    """icmp_input in the jail's vnet answers; frames cross via epair_transmit_locked ->
    netisr_queue(NETISR_EPAIR)."""
    v, a, b = pair
    s = k.socket(sock.AF_INET, RAW, sock.IPPROTO_ICMP)
    vi = v.netstat("icmp")
    hi = k.netstat("icmp")
    s.sendto(echo_request_payload(), ("10.0.0.2", 0))
    settle(k)
    got = pending(s)
    assert got is not None
    data, addr = got
    assert addr[0] == "10.0.0.2"
    hl = (data[0] & 0x0F) * 4
    assert data[hl] == 0  # echo reply
    assert v.netstat("icmp")["icps_inhist[8]"] - vi["icps_inhist[8]"] == 1
    assert v.netstat("icmp")["icps_outhist[0]"] - vi["icps_outhist[0]"] == 1
    assert k.netstat("icmp")["icps_inhist[8]"] - hi["icps_inhist[8]"] == 0


def test_ping_vnet_to_host(k, pair):
    """The vnet jail's raw ICMP socket (PRIV_NETINET_RAW granted) gets the host's reply;
    rip_output leaves ip_src ANY (no PR_IP4) and ip_output uses epair0b's address."""
    v, a, b = pair
    s = v.socket(sock.AF_INET, RAW, sock.IPPROTO_ICMP)
    before = k.netstat("icmp")["icps_inhist[8]"]
    s.sendto(echo_request_payload(), ("10.0.0.1", 0))
    settle(k)
    got = pending(s)
    assert got is not None and got[1][0] == "10.0.0.1"
    assert k.netstat("icmp")["icps_inhist[8]"] - before == 1


def test_udp_both_ways(k, pair):
    """udp_output/udp_input in each vnet over the epair."""
    v, a, b = pair
    hs = k.socket(sock.AF_INET, DG)
    hs.bind(("0.0.0.0", 7000))
    vs = v.socket(sock.AF_INET, DG)
    vs.bind(("0.0.0.0", 7000))
    hs.sendto(b"to-jail", ("10.0.0.2", 7000))
    settle(k)
    assert pending(vs) == (b"to-jail", ("10.0.0.1", 7000))
    assert pending(hs) is None
    vs.sendto(b"to-host", ("10.0.0.1", 7000))
    settle(k)
    assert pending(hs) == (b"to-host", ("10.0.0.2", 7000))
    assert pending(vs) is None


def test_udp_counters_per_vnet(k, pair):
    """V_udpstat is per vnet: only the receiving stack counts udps_ipackets."""
    v, a, b = pair
    vs = v.socket(sock.AF_INET, DG)
    vs.bind(("0.0.0.0", 7000))
    hs = k.socket(sock.AF_INET, DG)
    h0, v0 = k.netstat("udp"), v.netstat("udp")
    hs.sendto(b"x", ("10.0.0.2", 7000))
    settle(k)
    h1, v1 = k.netstat("udp"), v.netstat("udp")
    assert (
        h1["udps_opackets"] - h0["udps_opackets"],
        h1["udps_ipackets"] - h0["udps_ipackets"],
    ) == (1, 0)
    assert (
        v1["udps_opackets"] - v0["udps_opackets"],
        v1["udps_ipackets"] - v0["udps_ipackets"],
    ) == (0, 1)


def test_vnet_socket_not_latched(k, pair):
    """udp_output: a vnet jail has no PR_IP4 -> the implicit bind commits only the port."""
    v, a, b = pair
    s = v.socket(sock.AF_INET, DG)
    s.sendto(b"x", ("10.0.0.1", 9))
    addr, port = s.getsockname()
    assert addr == "0.0.0.0" and port != 0


def test_vnet_ttl_default_on_wire(k, pair):
    """udp_attach: inp_ip_ttl = V_ip_defttl of the socket's vnet (64), not the host's."""
    v, a, b = pair
    k.sysctl("net.inet.ip.ttl", 32)
    s = v.socket(sock.AF_INET, DG)
    s.sendto(b"x", ("10.0.0.1", 9))
    settle(k)
    f = [f for f in frames(v, b) if UDP in f]
    assert [x[IP].ttl for x in f] == [64]
    h = k.socket(sock.AF_INET, DG)
    h.sendto(b"x", ("10.0.0.2", 9))
    settle(k)
    assert [x[IP].ttl for x in frames(k, a) if UDP in x] == [32]


def test_vnet_reservedhigh_per_vnet(k, pair):
    """in_pcbbind_setup: V_ipport_reservedhigh is per vnet; sysctl written from the jail
    (CTLFLAG_VNET -> PRIV_SYSCTL_WRITEJAIL)."""
    v, a, b = pair
    v.sysctl("net.inet.ip.portrange.reservedhigh", 0)
    s = v.socket(sock.AF_INET, DG, uid=1000)
    s.bind(("10.0.0.2", 80))
    h = k.socket(sock.AF_INET, DG, uid=1000)
    assert oserr(h.bind, ("10.0.0.1", 80)) == errno.EACCES


def test_arp_table_isolation(k, pair):
    """Per-vnet lltable: a static entry in vnet0 does not exist in the jail, which ARPs."""
    v, a, b = pair
    k.arp_add("10.0.0.9", "02:00:00:00:99:99", a)
    s = v.socket(sock.AF_INET, DG)
    s.sendto(b"x", ("10.0.0.9", 9))
    fs = frames(v, b)
    assert [ARP in f for f in fs] == [True]
    assert fs[0][ARP].op == 1 and fs[0][ARP].pdst == "10.0.0.9"


def test_ip_counters_isolation(k, pair):
    """V_ipstat per vnet: traffic on the jail's lo0 does not move the host's counters."""
    v, a, b = pair
    r = v.socket(sock.AF_INET, DG)
    r.bind(("127.0.0.1", 7000))
    s = v.socket(sock.AF_INET, DG)
    h0, v0 = k.netstat("ip"), v.netstat("ip")
    s.sendto(b"x", ("127.0.0.1", 7000))
    settle(k)
    assert pending(r) is not None
    h1, v1 = k.netstat("ip"), v.netstat("ip")
    assert v1["ips_localout"] - v0["ips_localout"] == 1
    assert v1["ips_delivered"] - v0["ips_delivered"] == 1
    assert h1["ips_localout"] == h0["ips_localout"]
    assert h1["ips_total"] == h0["ips_total"]


def test_frames_to_down_peer_dropped(k):
    """epair_transmit_locked: peer not IFF_UP -> if_oerrors++, m_freem, return 0."""
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    k.ifconfig(a, "10.0.0.1/24")
    k.arp_add("10.0.0.2", "02:00:00:00:00:22", a)
    settle(k)
    k.transmitted(a)
    oerr = k.iface(a).counters.ifi_oerrors
    v0 = v.netstat("ip")["ips_total"]
    s = k.socket(sock.AF_INET, DG)
    assert s.sendto(b"x", ("10.0.0.2", 9)) == 1
    settle(k)
    assert v.netstat("ip")["ips_total"] == v0
    assert k.iface(a).counters.ifi_oerrors - oerr == 1


# ---------------------------------------------------------------- three stacks


@pytest.fixture
def three(k):
    """host --epair0-- r (router) --epair1-- f (far)."""
    r = k.jail("r", vnet=True)
    f = k.jail("f", vnet=True)
    a0, b0 = k.epair(k.vnet0, r)
    a1, b1 = k.epair(r, f)
    k.ifconfig(a0, "10.0.0.1/24")
    k.route_add("10.1.0.0/24", "10.0.0.2")
    r.ifconfig(b0, "10.0.0.2/24")
    r.ifconfig(a1, "10.1.0.1/24")
    f.ifconfig(b1, "10.1.0.2/24")
    f.route_add("default", "10.1.0.1")
    settle(k)
    for st, n in ((k, a0), (r, b0), (r, a1), (f, b1)):
        st.transmitted(n)
    return r, f, (a0, b0, a1, b1)


def test_three_stack_forwarding(k, three):
    """ip_input -> ip_forward in the router vnet (V_ipforwarding set in that vnet only)."""
    r, f, (a0, b0, a1, b1) = three
    assert (a1, b1) == ("epair1a", "epair1b")
    r.sysctl("net.inet.ip.forwarding", 1)
    fs = f.socket(sock.AF_INET, DG)
    fs.bind(("0.0.0.0", 7000))
    hs = k.socket(sock.AF_INET, DG)
    hs.bind(("0.0.0.0", 7001))
    fwd0 = r.netstat("ip")["ips_forward"]
    hs.sendto(b"out", ("10.1.0.2", 7000))
    settle(k)
    assert pending(fs) == (b"out", ("10.0.0.1", 7001))
    fwd = [x for x in frames(r, a1) if UDP in x]
    assert [(x[IP].src, x[IP].dst, x[IP].ttl) for x in fwd] == [("10.0.0.1", "10.1.0.2", 63)]
    fs.sendto(b"back", ("10.0.0.1", 7001))
    settle(k)
    assert pending(hs) == (b"back", ("10.1.0.2", 7000))
    assert r.netstat("ip")["ips_forward"] - fwd0 == 2
    assert k.netstat("ip")["ips_forward"] == 0


def test_three_stack_ping(k, three):
    """ICMP echo through the router vnet; the far vnet answers."""
    r, f, _ = three
    r.sysctl("net.inet.ip.forwarding", 1)
    s = k.socket(sock.AF_INET, RAW, sock.IPPROTO_ICMP)
    s.sendto(echo_request_payload(), ("10.1.0.2", 0))
    settle(k)
    got = pending(s)
    assert got is not None and got[1][0] == "10.1.0.2"


def test_router_forwarding_default_off(k):
    """vnet_alloc: V_ipforwarding starts at 0 in the router even if the host's is 1;
    ip_input -> ips_cantforward."""
    k.sysctl("net.inet.ip.forwarding", 1)
    r = k.jail("r", vnet=True)
    f = k.jail("f", vnet=True)
    a0, b0 = k.epair(k.vnet0, r)
    a1, b1 = k.epair(r, f)
    k.ifconfig(a0, "10.0.0.1/24")
    k.route_add("10.1.0.0/24", "10.0.0.2")
    r.ifconfig(b0, "10.0.0.2/24")
    r.ifconfig(a1, "10.1.0.1/24")
    f.ifconfig(b1, "10.1.0.2/24")
    settle(k)
    fs = f.socket(sock.AF_INET, DG)
    fs.bind(("0.0.0.0", 7000))
    c0 = r.netstat("ip")["ips_cantforward"]
    k.socket(sock.AF_INET, DG).sendto(b"x", ("10.1.0.2", 7000))
    settle(k)
    assert r.sysctl("net.inet.ip.forwarding") == 0
    assert pending(fs) is None
    assert r.netstat("ip")["ips_cantforward"] - c0 == 1


# ---------------------------------------------------------------- removal


def test_remove_returns_epair_down_without_addresses(k, pair):
    """vnet_destroy: if_vmove(ifp, if_home_vnet) -> if_detach_internal: if_down,
    if_purgeaddrs; new index from ifindex_alloc_locked in vnet0; lladdr kept."""
    v, a, b = pair
    mac = v.iface(b).ether
    v.remove()
    ifb = k.iface(b)
    assert "epair0b" in names(k.vnet0)
    assert ifb.flags & IFF_UP == 0
    assert ifb.addrs == []
    assert ifb.ether == mac
    assert ifb.index == 5


def test_remove_by_name(k, pair):
    """jail -r by name: same vnet_destroy path."""
    v, a, b = pair
    k.jail_remove("v")
    assert "epair0b" in names(k.vnet0)
    assert k.iface(b).flags & IFF_UP == 0


def test_removed_stack_unreachable():
    """vnet_destroy: vnet_sysuninit + free(vnet): nothing of the jail's stack survives."""
    k = make_host()
    v = k.jail("v", vnet=True)
    a, b = k.epair(k.vnet0, v)
    k.ifconfig(a, "10.0.0.1/24")
    v.ifconfig(b, "10.0.0.2/24")
    settle(k)
    s = v.socket(sock.AF_INET, DG)
    s.sendto(b"x", ("10.0.0.1", 9))  # ARP + datagram: timers, lle, pcb in v
    settle(k)
    k.advance(1)
    s.close()
    ref_vnet = weakref.ref(v.vnet)
    del s
    v.remove()
    del v
    gc.collect()
    k.advance(1)
    gc.collect()
    assert ref_vnet() is None
    # the returned interface works in vnet0 again
    assert "epair0b" in names(k.vnet0)
