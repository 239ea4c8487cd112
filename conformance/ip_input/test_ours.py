"""ip_input(): "is it for us?" (dossier 1.2), then local delivery (1.3/1.4)."""

from __future__ import annotations

import pytest

from kstack.testing import (
    BCAST_MAC,
    BOOT_IP_ID,
    HOST,
    HOST1,
    ICMP,
    IP,
    PEER,
    SUBNET1_BCAST,
    SUBNET_BCAST,
    Raw,
    echo_request,
    eth,
    reply_eth,
)

NOPROTO = {"ip": {"ips_total": 1, "ips_noproto": 1}}
CANTFORWARD = {"ip": {"ips_total": 1, "ips_cantforward": 1}}


def _frame(dst: str, eth_dst: str | None = None) -> bytes:
    e = eth() if eth_dst is None else eth(dst=eth_dst)
    return bytes(e / IP(src=PEER, dst=dst, proto=253) / Raw(b"x" * 8))


def test_local_address_is_ours(k, delta):
    """ip_input: destination = an address of the receiving interface -> ours;
    protocol 253 has no handler: rip_input, ips_noproto (errata 4)."""
    with delta(k) as d:
        out = k.input("em0", _frame(HOST))
    assert d == NOPROTO
    assert out.kind == "dropped" and out.reason == "ips_noproto"


def test_unknown_protocol_no_icmp_unreach(k, delta):
    """rip_input: unknown protocol, no raw socket -> ips_noproto, ips_delivered
    net 0, and no ICMP protocol unreachable (G1.10)."""
    with delta(k) as d:
        k.input("em0", bytes(eth() / IP(src=PEER, dst=HOST, proto=253) / Raw(b"x")))
    assert d == NOPROTO
    assert k.transmitted("em0") == []


def test_other_interface_address_weak_es(k, delta, match_frame):
    """ip_input: weak ES; em1's address arriving on em0 is ours.
    icmp_reflect answers from the original destination (a local address)."""
    with delta(k) as d:
        k.input("em0", echo_request(dst=HOST1, id=1, seq=2))
    assert d == {
        "ip": {"ips_total": 1, "ips_delivered": 1, "ips_localout": 1},
        "icmp": {"icps_inhist[8]": 1, "icps_reflect": 1, "icps_outhist[0]": 1},
    }
    (reply,) = k.transmitted("em0")
    want = (
        reply_eth()
        / IP(src=HOST1, dst=PEER, id=BOOT_IP_ID)
        / ICMP(type=0, id=1, seq=2)
        / Raw(b"kstack-echo-data")
    )
    match_frame(reply, want)
    assert k.transmitted("em1") == []


def test_check_interface_strong_es(k, delta):
    """ip_input: net.inet.ip.check_interface=1 with forwarding off -> only
    the receiving interface's addresses are ours (G1.11)."""
    k.sysctl("net.inet.ip.check_interface", 1)
    with delta(k) as d:
        k.input("em0", _frame(HOST1))
    assert d == CANTFORWARD
    with delta(k) as d:
        k.input("em0", _frame(HOST))
    assert d == NOPROTO


def test_check_interface_ignored_when_forwarding(k, delta):
    """ip_input: checkif is only in force while forwarding is off."""
    k.sysctl("net.inet.ip.check_interface", 1)
    k.sysctl("net.inet.ip.forwarding", 1)
    with delta(k) as d:
        k.input("em0", _frame(HOST1))
    assert d == NOPROTO


def test_subnet_broadcast_of_receiving_interface(k, delta):
    """ip_input: ia_broadaddr of an address on the receiving interface -> ours."""
    with delta(k) as d:
        k.input("em0", _frame(SUBNET_BCAST, BCAST_MAC))
    assert d == NOPROTO


def test_broadcast_of_other_interface_not_ours(k, delta):
    """ip_input: only the receiving interface's broadcast addresses are
    searched; em1's broadcast arriving on em0 is not ours -> cantforward."""
    with delta(k) as d:
        k.input("em0", _frame(SUBNET1_BCAST))
    assert d == CANTFORWARD


def test_directed_broadcast_not_forwarded(k, delta):
    """ip_forward: ip_output without IP_ALLOWBROADCAST returns EACCES for
    em1's broadcast address -> ips_cantforward, silent (dossier 1.5.7)."""
    k.sysctl("net.inet.ip.forwarding", 1)
    with delta(k) as d:
        k.input("em0", _frame(SUBNET1_BCAST))
    assert d == CANTFORWARD
    assert k.transmitted("em0") == [] and k.transmitted("em1") == []


@pytest.mark.parametrize("dst", ["255.255.255.255", "0.0.0.0"])
def test_limited_broadcast_and_zero_are_ours(k, delta, dst):
    """ip_input: INADDR_BROADCAST and INADDR_ANY destinations are ours."""
    with delta(k) as d:
        k.input("em0", _frame(dst, BCAST_MAC))
    assert d == NOPROTO


def test_multicast_is_ours_without_membership(k, delta):
    """ip_input: any multicast destination is ours; no group check here."""
    with delta(k) as d:
        k.input("em0", _frame("239.1.2.3", "01:00:5e:01:02:03"))
    assert d == NOPROTO


@pytest.mark.parametrize("forwarding", [0, 1])
def test_link_local_never_forwarded(k, delta, forwarding):
    """ip_input: 169.254/16 not local -> ips_cantforward (RFC 3927),
    whatever net.inet.ip.forwarding says."""
    k.sysctl("net.inet.ip.forwarding", forwarding)
    k.route_add("default", "192.0.2.254")
    with delta(k) as d:
        k.input("em0", _frame("169.254.1.1"))
    assert d == CANTFORWARD
    assert k.transmitted("em0") == []


def test_not_ours_forwarding_off(k, delta):
    """ip_input: not ours with forwarding=0 -> ips_cantforward, no ICMP (G1.5)."""
    k.route_add("default", "192.0.2.254")
    with delta(k) as d:
        k.input("em0", bytes(eth() / IP(src=PEER, dst="192.0.2.99") / Raw(b"\x00" * 12)))
    assert d == CANTFORWARD
    assert k.transmitted("em0") == []


def test_no_address_anywhere_unicast_is_ours(kernel, delta):
    """ip_input: with no IPv4 address configured at all, any unicast packet
    is ours; a link-layer broadcast one is not (then not ours -> cantforward)."""
    from kstack.testing import HOST_MAC

    kernel.ifconfig("lo0", "127.0.0.1/8", delete=True)
    kernel.ifconfig("em0", ether=HOST_MAC)
    with delta(kernel) as d:
        kernel.input("em0", _frame("10.9.8.7"))
    assert d == NOPROTO
    with delta(kernel) as d:
        kernel.input("em0", _frame("10.9.8.7", BCAST_MAC))
    assert d == CANTFORWARD
