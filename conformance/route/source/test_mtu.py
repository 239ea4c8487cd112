"""Interface and route MTUs: if.c/if_ethersubr.c SIOCSIFMTU, rt_setmetrics, ip_output.

ip_output.c 313-326: with a route, the MTU used is the route's rmx_mtu,
first lowered to the interface MTU when it is larger (the route entry itself
is changed); in_rmx.c in_addroute 108-109 gives a new route the interface
MTU when none was set. Nothing raises a route's MTU again in 9.x: SIOCSIFMTU
(if.c 2295-2320) only tells IPv6.
"""

import pytest

from conformance.route.source.common import (
    EM0,
    GW,
    GW_MAC,
    IP,
    PEER,
    PEER_MAC,
    Ether,
    errno,
    ip_frames,
    mac,
    make_host,
    oserr,
    sent,
    udp_in,
    udp_send,
    udp_socket,
)


@pytest.mark.parametrize("mtu", [72, 576, 1280, 1500])
def test_ifconfig_mtu_accepted(k, mtu):
    """if.c ifhwioctl SIOCSIFMTU 2302 (IF_MINMTU 72 .. IF_MAXMTU 65535) and
    if_ethersubr.c ether_ioctl SIOCSIFMTU 1197-1206 (no more than ETHERMTU,
    1500)."""
    k.ifconfig("em0", mtu=mtu)
    assert k.iface("em0").mtu == mtu


@pytest.mark.parametrize("mtu", [71, 0, -1, 1501, 9000, 65536])
def test_ifconfig_mtu_out_of_bounds_einval(k, mtu):
    """if.c ifhwioctl 2302-2303: below 72 or above 65535 is EINVAL;
    if_ethersubr.c ether_ioctl 1201-1202: above ETHERMTU (1500) is EINVAL for an
    Ethernet interface. The MTU is unchanged."""
    k.ifconfig("em0", mtu=1280)
    assert oserr(k.ifconfig, "em0", mtu=mtu) == errno.EINVAL
    assert k.iface("em0").mtu == 1280


@pytest.mark.parametrize("mtu", [1500.0, "1500"])
def test_ifconfig_mtu_wrong_type(k, mtu):
    """Not a kernel rule: ifr_mtu is an int; a float or a str is a TypeError."""
    with pytest.raises(TypeError):
        k.ifconfig("em0", mtu=mtu)


def test_route_without_mtu_gets_interface_mtu(k):
    """in_rmx.c in_addroute 108-109: rmx_mtu 0 becomes the interface MTU."""
    k.ifconfig("em1", mtu=1400)
    k.route_add("10.0.0.0/8", "198.51.100.254")
    assert k.route_get("10.1.1.1").mtu == 1400


def test_route_mtu_reported(k):
    """rtsock.c route_output 670-676 -> rt_setmetrics 980 stores rmx_mtu;
    RTM_GET returns it (rt_getmetrics 994)."""
    k.route_add("10.0.0.0/8", GW, mtu=1280)
    assert k.route_get("10.1.1.1").mtu == 1280


@pytest.mark.parametrize("mtu", [1280.5, "1280"])
def test_route_mtu_wrong_type(k, mtu):
    """Not a kernel rule: rmx_mtu is an integer; a float or a str is a
    TypeError and no route is added."""
    with pytest.raises(TypeError):
        k.route_add("10.0.0.0/8", GW, mtu=mtu)
    assert k.route_get("10.1.1.1") is None


def test_route_mtu_fragments_datagram(k):
    """ip_output.c 313-326 take the route MTU (576); ip_fragment: (576 - 20)
    & ~7 = 552 bytes per fragment, so 1008 bytes of UDP become 552 (MF, offset
    0) and 456 (offset 69)."""
    k.route_add("10.0.0.0/8", GW, mtu=576)
    s = udp_socket(k)
    assert udp_send(s, "10.1.1.1", b"z" * 1000) == 0
    frags = ip_frames(k, "em0")
    assert [(f.dst, f[IP].len, f[IP].flags.value, f[IP].frag) for f in frags] == [
        (GW_MAC, 572, 1, 0),
        (GW_MAC, 476, 0, 69),
    ]


def test_route_mtu_above_interface_clamped_on_use(k):
    """ip_output.c 320-322: a route MTU above the interface MTU is lowered to
    it the first time the route carries a packet; until then route get
    shows the configured value. A 1428-byte datagram is not fragmented."""
    k.route_add("10.0.0.0/8", GW, mtu=9000)
    assert k.route_get("10.1.1.1").mtu == 9000
    s = udp_socket(k)
    assert udp_send(s, "10.1.1.1", b"y" * 1400) == 0
    (frame,) = ip_frames(k, "em0")
    assert (frame[IP].len, frame[IP].flags.value, frame[IP].frag) == (1428, 0, 0)
    assert k.route_get("10.1.1.1").mtu == 1500


def test_interface_mtu_change_does_not_touch_prefix_route_until_used(k):
    """if.c SIOCSIFMTU 2295-2320 does not update routes: after ifconfig mtu
    1280 the em0 prefix route still holds 1500 (set by in_addroute when the
    address was configured) until ip_output lowers it."""
    k.ifconfig("em0", mtu=1280)
    assert k.route_get(PEER).mtu == 1500
    s = udp_socket(k)
    udp_send(s, PEER, b"small")
    sent(k, "em0")
    assert k.route_get(PEER).mtu == 1280


def test_raising_interface_mtu_leaves_route_mtu_low(k):
    """ip_output.c 320-323 only ever lower rmx_mtu; raising the interface MTU
    back to 1500 leaves the em0 prefix route at 1280, so a 1408-byte UDP
    payload is fragmented at 1280: (1280 - 20) & ~7 = 1256, then 152."""
    k.ifconfig("em0", mtu=1280)
    s = udp_socket(k)
    udp_send(s, PEER, b"small")
    sent(k, "em0")
    k.ifconfig("em0", mtu=1500)
    assert k.route_get(PEER).mtu == 1280
    assert udp_send(s, PEER, b"w" * 1400) == 0
    frags = ip_frames(k, "em0")
    assert [(f.dst, f[IP].len, f[IP].flags.value, f[IP].frag) for f in frags] == [
        (PEER_MAC, 1276, 1, 0),
        (PEER_MAC, 172, 0, 157),
    ]


def test_needfrag_reports_route_mtu():
    """ip_input.c ip_forward: ip_output fails with EMSGSIZE for a DF packet
    above the route MTU (ip_output.c 642-646), ip_forward takes rmx_mtu
    (1280), bounds it by the outgoing interface MTU and sends ICMP
    unreachable / need-frag with that next-hop MTU, from em0's address
    (icmp_reflect, ip_rtaddr toward the sender)."""
    k = make_host(fibs=1)
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("10.0.0.0/8", "198.51.100.254", mtu=1280)
    udp_in(k, "em0", PEER, "10.1.1.1", PEER_MAC, payload=b"d" * 1372, flags=2)
    assert sent(k, "em1") == []
    (raw,) = sent(k, "em0")
    f = Ether(raw)
    assert (f.src, f.dst) == (mac(k, "em0"), PEER_MAC)
    assert (f[IP].src, f[IP].dst, f[IP].proto) == (EM0, PEER, 1)
    icmp = raw[34:]
    assert (icmp[0], icmp[1], int.from_bytes(icmp[6:8], "big")) == (3, 4, 1280)
