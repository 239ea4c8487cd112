"""The three needfrag fixes, each before and after (profile switches):

* PR kern/122338 (``needfrag_route_mtu``), ip_forward: "Up to now we only
  looked at the interface MTU. Make sure to only use the minimum of the
  two."
* the egress address always set (``forward_always_sets_ia``), ip_forward:
  for a packet "whose destination is rewritten by some firewall code" or
  source-routed, "ip_next_mtu() is called and a guess is sent ... Thus, we
  always set ia to the outgoing interface."
* PR kern/91412 (``needfrag_mtu_plateau``), ip_forward: "use egress
  interface MTU if available or the next smaller MTU compared to the
  current packet size instead of falling back to a very small fixed MTU"
  (IP_MSS, 576).

In history 91412 came first, then the egress-address fix, then 122338; a
"before" side turns off the fix and every later one. Revisions unverified.
"""

from __future__ import annotations

import pytest

import kstack
from kstack.net import pfil
from kstack.testing import HOST

from .helpers import BEYOND, ERR_DELTA, FAR, FAR_GW, datagram, frame0, needfrag, nextmtu, router

AFTER = "9.0"
NO_122338 = "9.0,needfrag_route_mtu=0"
NO_IA = "9.0,needfrag_route_mtu=0,forward_always_sets_ia=0"
NO_91412 = "9.0,needfrag_route_mtu=0,forward_always_sets_ia=0,needfrag_mtu_plateau=0"


@pytest.mark.parametrize(("profile", "mtu"), [(AFTER, 1280), (NO_122338, 1500)])
def test_pr_122338_route_mtu(profile, mtu, delta, match_frame):
    """ip_forward on EMSGSIZE: a route with rmx_mtu 1280 on a 1500-byte
    link; a 1400-byte DF datagram. After PR kern/122338 the needfrag says
    1280 (min of route and interface MTU); before, the interface's 1500,
    which the sender cannot use."""
    k = router(profile)
    k.route_add(f"{BEYOND[:-1]}0/24", FAR_GW, mtu=1280)
    pkt = datagram(1400, dst=BEYOND)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(pkt, mtu))


def _lsrr_router(profile: str) -> kstack.Kernel:
    k = router(profile)
    k.sysctl("net.inet.ip.sourceroute", 1)
    k.ifconfig("em1", mtu=1400)
    return k


def _lsrr(size: int) -> bytes:
    """A DF datagram to us with a loose source route naming FAR next."""
    import struct

    from kstack.netinet.ip import in_cksum

    opts = b"\x01\x83\x07\x04" + bytes((198, 51, 100, 7))
    base = bytearray(datagram(size - len(opts), dst=HOST))
    pkt = base[:20] + opts + base[20:]
    pkt[0] = 0x40 | ((20 + len(opts)) >> 2)
    struct.pack_into("!H", pkt, 2, len(pkt))
    pkt[10:12] = b"\0\0"
    struct.pack_into("!H", pkt, 10, in_cksum(bytes(pkt[:28])))
    return bytes(pkt)


SIDES = [(AFTER, 1400), (NO_122338, 1400), (NO_IA, 1492), (NO_91412, 576)]


@pytest.mark.parametrize(("profile", "mtu"), SIDES)
def test_source_routed_needfrag(profile, mtu, delta):
    """ip_dooptions -> ip_forward(srcrt=1) for an LSRR packet whose next hop
    FAR is behind em1 (MTU 1400); 1500 bytes, DF. 9.0: the route MTU
    (lowered to 1400) capped by em1's MTU. Without PR kern/122338: em1's MTU
    through ia. Without the egress-address fix as well: no ia, so
    ip_next_mtu(1500) = 1492. Without PR kern/91412 too: 576."""
    k = _lsrr_router(profile)
    pkt = _lsrr(1500)
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == {
        "ip": {"ips_total": 1, "ips_cantforward": 1, "ips_cantfrag": 2, "ips_localout": 1},
        "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
    }
    (err,) = k.transmitted("em0")
    assert (err[34], err[35], nextmtu(err)) == (3, 4, mtu)
    assert k.transmitted("em1") == []


@pytest.mark.parametrize(("profile", "mtu"), SIDES)
def test_firewall_rewritten_destination_needfrag(profile, mtu, delta, match_frame):
    """ip_input: an input pfil hook rewrites the destination (NAT) to FAR,
    behind em1 (MTU 1400) -> ip_forward with srcrt set; a 1500-byte DF
    datagram gets a needfrag whose MTU depends on the same three fixes as
    the source-routed case. The quote shows the rewritten header."""
    k = router(profile)
    k.ifconfig("em1", mtu=1400)
    k.pfil_add_hook(lambda p: p.set_dst(FAR), pfil.IN)
    pkt = datagram(1500, dst="192.0.2.99")
    with delta(k) as d:
        k.input("em0", frame0(pkt))
    assert d == ERR_DELTA
    (err,) = k.transmitted("em0")
    match_frame(err, needfrag(datagram(1500, dst=FAR), mtu))


@pytest.mark.parametrize("profile", [AFTER, NO_91412])
def test_fitting_packets_unaffected(profile, match_frame):
    """The fixes only touch the needfrag MTU: a source-routed datagram that
    fits is forwarded the same on both sides."""
    k = _lsrr_router(profile)
    pkt = _lsrr(1400)
    assert k.input("em0", frame0(pkt)).kind == "forwarded"
    (fr,) = k.transmitted("em1")
    assert len(fr) == 14 + 1400 and fr[14 + 16 : 14 + 20] == bytes((198, 51, 100, 7))
