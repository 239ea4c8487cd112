"""Interface and route MTUs, FreeBSD 9.0: checked where they are configured
(net/if.c ifioctl SIOCSIFMTU: IF_MINMTU..IF_MAXMTU; net/rtsock.c
rt_setmetrics: rmx_mtu is a u_long), filled in by in_rmx.c in_addroute
(0 -> the interface MTU) and lowered for good by netinet/ip_output.c
ip_output when a route's MTU exceeds its interface's."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.route.helpers import FAR_HOST, FAR_NET, err, fib_host, udp
from kstack.testing import IP, PEER, ROUTER, Ether

DATA = bytes(range(256)) * 11 + bytes(range(156))  # 2972 bytes: a 3000-byte datagram
SENT = {"ip": {"ips_localout": 1}, "udp": {"udps_opackets": 1}}


def _ip_lengths(frames: list[bytes]) -> list[tuple[int, int, int]]:
    """(ip_len, fragment offset in bytes, MF) of each frame."""
    out = []
    for f in frames:
        ip = Ether(f)[IP]
        out.append((ip.len, ip.frag * 8, int(ip.flags.MF)))
    return out


@pytest.mark.parametrize(
    ("ifname", "mtu"),
    [("em0", 72), ("em0", 576), ("em0", 1500), ("lo0", 72), ("lo0", 65535), ("epair", 9000)],
    ids=repr,
)
def test_ifconfig_mtu_accepted(ifname, mtu):
    """ifioctl SIOCSIFMTU lets IF_MINMTU (72) .. IF_MAXMTU (65535) reach the
    driver: an Ethernet interface takes up to ETHERMTU (ether_ioctl), lo0
    (loioctl) and epair (epair_ioctl) take any."""
    k = fib_host()
    if ifname == "epair":
        ifname, _b = k.epair(k.vnet0, k.jail("v", vnet=True))
    assert k.ifconfig(ifname, mtu=mtu).mtu == mtu
    assert k.iface(ifname).mtu == mtu


@pytest.mark.parametrize(
    ("ifname", "mtu", "exc"),
    [
        ("em0", 71, OSError),
        ("em0", 0, OSError),
        ("em0", -1, OSError),
        ("em0", 1501, OSError),
        ("em0", 9000, OSError),
        ("em0", 65536, OSError),
        ("em0", 2**32 + 1500, OSError),
        ("lo0", 71, OSError),
        ("lo0", 65536, OSError),
        ("em0", 1500.0, TypeError),
        ("em0", "1500", TypeError),
        ("em0", True, TypeError),
    ],
    ids=repr,
)
def test_ifconfig_bad_mtu_refused(ifname, mtu, exc):
    """ifioctl SIOCSIFMTU: outside IF_MINMTU..IF_MAXMTU -> EINVAL (ifr_mtu
    is an int: 2**32 + 1500 is not 1500); ether_ioctl: above ETHERMTU ->
    EINVAL; not an int -> TypeError. The MTU stays what it was."""
    k = fib_host()
    old = k.iface(ifname).mtu
    with pytest.raises(exc) as ei:
        k.ifconfig(ifname, mtu=mtu)
    if exc is OSError:
        assert ei.value.errno == errno.EINVAL
    assert k.iface(ifname).mtu == old


@pytest.mark.parametrize(
    "kw",
    [{"mtu": 10}, {"mtu": "9000"}, {"fib": 2}, {"fib": -1}, {"ether": "zz"}, {"broadcast": 5}],
    ids=repr,
)
def test_rejected_ifconfig_does_nothing(kw):
    """ifconfig(8) checks its arguments before the first ioctl: a bad MTU,
    FIB, MAC or broadcast address creates no interface, adds no address
    and sends no gratuitous ARP."""
    k = fib_host()
    with pytest.raises((OSError, TypeError, ValueError)):
        k.ifconfig("em3", "192.0.2.77/24", **kw)
    assert err(k.iface, "em3") == errno.ENXIO
    with pytest.raises((OSError, TypeError, ValueError)):
        k.ifconfig("em0", "192.0.2.77/24", alias=True, **kw)
    assert (k.iface("em0").addrs, k.iface("em0").mtu, k.iface("em0").fib) == (
        ["192.0.2.1/24"],
        1500,
        0,
    )
    assert k.transmitted("em0") == []


def test_route_mtu_zero_takes_the_interface_mtu():
    """in_addroute: a route added without an MTU (0) gets its interface's:
    1500 through em0, 16384 for a blackhole route (lo0)."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, mtu=0)
    k.route_add("198.18.0.0/15", blackhole=True)
    assert (k.route_get(FAR_HOST).mtu, k.route_get("198.18.0.1").mtu) == (1500, 16384)


def test_route_mtu_above_the_interface_is_lowered_on_first_use(delta):
    """ip_output: a route whose rmx_mtu exceeds the interface MTU is
    lowered to it for good the first time a packet uses it; route get
    shows the configured 9000 until then, 1500 after. The 3000-byte
    datagram is fragmented at 1500."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, mtu=9000)
    assert k.route_get(FAR_HOST).mtu == 9000
    with delta(k) as d:
        udp(k).sendto(DATA, (FAR_HOST, 9))
    assert _ip_lengths(k.transmitted("em0")) == [(1500, 0, 1), (1500, 1480, 1), (40, 2960, 0)]
    assert d == {
        "ip": {"ips_localout": 1, "ips_fragmented": 1, "ips_ofragments": 3},
        "udp": {"udps_opackets": 1},
    }
    assert k.route_get(FAR_HOST).mtu == 1500


def test_largest_route_mtu_is_accepted_and_clamped():
    """rt_setmetrics stores any u_long; 2**64-1 shows as given and is cut
    to the interface MTU by the first packet (ip_output)."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, mtu=2**64 - 1)
    assert k.route_get(FAR_HOST).mtu == 2**64 - 1
    udp(k).sendto(b"x", (FAR_HOST, 9))
    assert k.route_get(FAR_HOST).mtu == 1500


def test_route_mtu_below_the_interface_fragments():
    """ip_output uses the route MTU when it is the smaller: a host route
    with mtu 1300 on a 1500 link cuts the 3000-byte datagram into 1280-byte
    payloads ((1300 - 20) rounded down to 8; dossier G4.3)."""
    k = fib_host()
    k.route_add(FAR_HOST, ROUTER, mtu=1300)
    udp(k).sendto(DATA, (FAR_HOST, 9))
    assert _ip_lengths(k.transmitted("em0")) == [(1300, 0, 1), (1300, 1280, 1), (440, 2560, 0)]
    assert k.route_get(FAR_HOST).mtu == 1300


def test_raising_the_interface_mtu_leaves_its_routes():
    """SIOCSIFMTU does not touch routes in 9.0: em0's prefix route keeps
    the 1280 it was created with, so after raising the MTU to 1500 a
    3000-byte datagram to the peer is still cut at 1280; a prefix added
    after the change gets 1500 (in_addroute)."""
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", mtu=1280)
    k.ifconfig("em0", "192.0.2.1/24")
    k.arp_add(PEER, "02:00:00:00:00:07")
    k.ifconfig("em0", mtu=1500)
    k.transmitted("em0")
    assert k.route_get(PEER).mtu == 1280
    udp(k).sendto(DATA, (PEER, 9))
    assert _ip_lengths(k.transmitted("em0")) == [(1276, 0, 1), (1276, 1256, 1), (488, 2512, 0)]
    k.ifconfig("em0", "10.0.0.1/24", alias=True)
    assert (k.route_get("10.0.0.7").mtu, k.route_get(PEER).mtu) == (1500, 1280)


def test_lowering_the_interface_mtu_clamps_the_route_when_used():
    """ip_output: after ifconfig em0 mtu 1280 the prefix route still says
    1500 (route get) until a packet uses it; that packet is fragmented at
    1280 and the route says 1280 from then on, in FIB 0 only (FIB 1's copy
    of the prefix route is another entry, still unused)."""
    k = fib_host()
    k.ifconfig("em0", mtu=1280)
    assert k.route_get(PEER).mtu == 1500
    udp(k).sendto(DATA, (PEER, 9))
    assert _ip_lengths(k.transmitted("em0")) == [(1276, 0, 1), (1276, 1256, 1), (488, 2512, 0)]
    assert (k.route_get(PEER, fib=0).mtu, k.route_get(PEER, fib=1).mtu) == (1280, 1500)


@pytest.mark.parametrize("mtu", [1, 20, 27])
def test_route_mtu_too_small_to_fragment(mtu, delta):
    """ip_fragment: fewer than 8 payload bytes per fragment -> EMSGSIZE,
    with no counter beyond the output attempt; nothing is sent and the
    route keeps its MTU."""
    k = fib_host()
    k.route_add(FAR_NET, ROUTER, mtu=mtu)
    with delta(k) as d:
        assert err(udp(k).sendto, b"0123456789", (FAR_HOST, 9)) == errno.EMSGSIZE
    assert d == SENT
    assert k.transmitted("em0") == []
    assert k.route_get(FAR_HOST).mtu == mtu
