"""ARP entries as cloned routes, then a separate L2 table: seed 001:149
(dup 002:295), no PR.

The FreeBSD change (head, December 2008, first in 8.0; revision
unverified) whose message begins "separating L2 tables (ARP, NDP) from the
L3 routing tables" and says that "netstat -r" now "shows only the routing
entries". Before it an ARP entry was a host route cloned from its
interface's RTF_CLONING route, with RTF_LLINFO and RTF_WASCLONED and the
hardware address in a link-level gateway.

Kernel functions, before (7.x): net/route.c rtalloc1 (clones on a
reporting lookup, then tells routing sockets with an RTM_ADD) and
rtrequest1 (RTM_RESOLVE: the parent's flags less RTF_CLONING, plus
RTF_WASCLONED and RTF_HOST; RTM_DELETE sends no message);
netinet/if_ether.c arp_rtrequest (RTF_LLINFO, the gateway's index and
type), arpresolve and in_arpinput (the gateway's address and rmx_expire),
arptimer (deletes the route); net/rtsock.c route_output (RTM_GET,
RTM_DELETE). After (9.0): net/if_llatbl.c and netinet/in.c
in_lltable_lookup, netinet/if_ether.c arpresolve, in_arpinput, arptimer;
net/rtsock.c route_output.

Before: ``"9.0,separate_l2_table=0"``. After: ``"9.0"``. The frames and
the ARP table are the same on both sides: only what the routing table
shows of the entry differs.
"""

from __future__ import annotations

import errno

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

import kstack
from kstack import sock as S
from kstack.rtsock import parse, rtm_get, rtm_msg

BEFORE = "9.0,separate_l2_table=0"
AFTER = "9.0"
SIDES = [BEFORE, AFTER]

HOST_MAC = "02:00:00:00:00:01"
PEER = "192.0.2.7"
PEER_MAC = "02:00:00:00:00:07"
PEER_MAC_B = bytes.fromhex("020000000007")

# net/route.h flags (FreeBSD values; the 7.x ones no longer exist in 9.0).
RTF_UP = 0x1
RTF_HOST = 0x4
RTF_DONE = 0x40
RTF_CLONING = 0x100
RTF_LLINFO = 0x400
RTF_WASCLONED = 0x20000
UHLW = RTF_UP | RTF_HOST | RTF_LLINFO | RTF_WASCLONED

SOCKADDR_DL_LEN = 54
AF_LINK = 18
IFT_ETHER = 6


def _host(profile: str) -> tuple[kstack.Kernel, kstack.Socket]:
    k = kstack.Kernel(profile=profile, seed=0)
    k.ifconfig("em0", "192.0.2.1/24", ether=HOST_MAC)
    rs = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    _drain(rs)
    k.transmitted("em0")
    return k, rs


def _drain(rs: kstack.Socket) -> list[dict[str, object]]:
    out = []
    while True:
        try:
            out.append(parse(rs.recv(4096)))
        except BlockingIOError:
            return out


def _sdl(index: int, mac: bytes = b"") -> bytes:
    """An unnamed sockaddr_dl of an Ethernet interface, as rt_gateway."""
    head = bytes((SOCKADDR_DL_LEN, AF_LINK)) + index.to_bytes(2, "little")
    head += bytes((IFT_ETHER, 0, len(mac), 0))
    return (head + mac).ljust(SOCKADDR_DL_LEN, b"\0")


def _resolve(k: kstack.Kernel) -> None:
    """A datagram for the neighbour (which makes the entry), then its
    reply to our request."""
    u = k.socket(S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_UDP)
    u.sendto(b"x", (PEER, 9))
    k.advance(0)
    reply = Ether(src=PEER_MAC, dst=HOST_MAC) / ARP(
        op=2, hwsrc=PEER_MAC, psrc=PEER, hwdst=HOST_MAC, pdst="192.0.2.1"
    )
    k.input("em0", reply)
    k.advance(0)


@pytest.mark.parametrize("profile", SIDES)
def test_resolved_neighbour_is_a_cloned_route(profile: str) -> None:
    """seed 001:149: resolve a neighbour, then look at the routing table.
    Before (net/route.c rtalloc1/rtrequest1 RTM_RESOLVE,
    netinet/if_ether.c arp_rtrequest): an RTM_ADD of a UHLW host route
    with an empty link-level gateway when the entry is made; route get,
    netstat -r and RTM_GET then answer that route, gateway = the
    neighbour's MAC, expiring with the entry (max_age 1200 s); the
    interface route is UC. After (netinet/in.c in_lltable_lookup): no
    message, the lookups answer the interface route (U), and the entry
    is only in the ARP table."""
    k, rs = _host(profile)
    em0 = k.iface("em0").index
    _resolve(k)
    sent = k.transmitted("em0")
    assert len(sent) == 2  # the who-has, then the held datagram
    assert sent[1][:6] == PEER_MAC_B
    msgs = _drain(rs)
    # The table of arp -an is the same on both sides.
    assert k.vnet0.arp_table() == {
        "192.0.2.1": (HOST_MAC, "em0", True),
        PEER: (PEER_MAC, "em0", False),
    }
    info = k.route_get(PEER)
    assert info is not None
    listed = [(r.prefix, r.gateway, r.ifname, r.flags, r.expire) for r in k.routes()]
    rs.send(rtm_get(PEER, seq=7, ifp=True))
    k.advance(0)
    (got,) = _drain(rs)
    assert got["type"] == S.RTM_GET and got["rtm_errno"] == 0 and got["rtm_seq"] == 7
    assert got["rtm_index"] == em0
    assert got["ifa_addr"] == "192.0.2.1"
    if profile == BEFORE:
        (add,) = msgs
        assert add["type"] == S.RTM_ADD
        assert add["rtm_flags"] == UHLW | RTF_DONE
        assert (add["rtm_pid"], add["rtm_seq"], add["rtm_errno"]) == (0, 0, 0)
        assert add["dst_addr"] == PEER
        assert add["gateway"] == _sdl(em0)  # not yet resolved
        assert "netmask" not in add
        assert add["ifa_addr"] == "192.0.2.1"
        assert bytes(add["ifp"])[8:11] == b"em0"  # type: ignore[index]
        assert (info.prefix, info.gateway, info.ifname, info.mtu) == (
            f"{PEER}/32",
            PEER_MAC,
            "em0",
            1500,
        )
        assert (info.flags, info.ifaddr, info.expire) == ("UHLW", "192.0.2.1", 1200)
        assert listed == [
            ("127.0.0.1/32", None, "lo0", "UH", 0),
            ("192.0.2.0/24", None, "em0", "UC", 0),
            ("192.0.2.1/32", None, "lo0", "UHS", 0),
            (f"{PEER}/32", PEER_MAC, "em0", "UHLW", 1200),
        ]
        assert got["dst_addr"] == PEER
        assert got["rtm_flags"] == UHLW | RTF_DONE
        assert got["gateway"] == _sdl(em0, PEER_MAC_B)
        assert "netmask" not in got
        assert got["rtm_rmx"]["rmx_expire"] != 0  # type: ignore[index]
    else:
        assert msgs == []
        assert (info.prefix, info.gateway, info.ifname, info.mtu) == (
            "192.0.2.0/24",
            None,
            "em0",
            1500,
        )
        assert (info.flags, info.ifaddr, info.expire) == ("U", "192.0.2.1", 0)
        assert listed == [
            ("127.0.0.1/32", None, "lo0", "UH", 0),
            ("192.0.2.0/24", None, "em0", "U", 0),
            ("192.0.2.1/32", None, "lo0", "UHS", 0),
        ]
        assert got["dst_addr"] == "192.0.2.0"
        assert got["rtm_flags"] == RTF_UP | RTF_DONE
        assert got["gateway"] == _sdl(em0)
        assert got["netmask_addr"] == "255.255.255.0"
        assert got["rtm_rmx"]["rmx_expire"] == 0  # type: ignore[index]


@pytest.mark.parametrize("profile", SIDES)
def test_cloned_route_expires_silently(profile: str) -> None:
    """seed 001:149: the entry's timer. Before (netinet/if_ether.c
    arptimer -> net/route.c rtrequest1 RTM_DELETE, which sends no routing
    message): the host route goes with the entry and route get answers
    the UC interface route again. After (netinet/if_ether.c arptimer):
    the entry goes; the route never changed. No routing-socket message
    on either side."""
    k, rs = _host(profile)
    _resolve(k)
    _drain(rs)
    k.advance(1199)
    before_expiry = k.route_get(PEER)
    assert before_expiry is not None
    assert before_expiry.prefix == (f"{PEER}/32" if profile == BEFORE else "192.0.2.0/24")
    k.advance(2)
    assert PEER not in k.vnet0.arp_table()
    assert k.netstat("arp")["timeouts"] == 1
    info = k.route_get(PEER)
    assert info is not None
    assert (info.prefix, info.gateway, info.expire) == ("192.0.2.0/24", None, 0)
    assert info.flags == ("UC" if profile == BEFORE else "U")
    assert [r.prefix for r in k.routes()] == ["127.0.0.1/32", "192.0.2.0/24", "192.0.2.1/32"]
    assert _drain(rs) == []


@pytest.mark.parametrize("profile", SIDES)
def test_rtm_delete_of_the_neighbour(profile: str) -> None:
    """seed 001:149: arp -d as a routing-socket RTM_DELETE of the host
    route (no netmask). Before (net/rtsock.c route_output ->
    net/route.c rtrequest1 RTM_DELETE -> netinet/if_ether.c arp_rtrequest
    RTM_DELETE): the cloned route and its entry go at once; the echo is
    the deleted route, RTF_UP cleared, with RTF_DONE. After (the same
    route_output -> rtrequest1_fib): the routing table has no such host
    route: ESRCH, echoed with rtm_errno 3, and the ARP entry stays."""
    k, rs = _host(profile)
    em0 = k.iface("em0").index
    _resolve(k)
    _drain(rs)
    k.transmitted("em0")
    msg = rtm_msg(S.RTM_DELETE, PEER, flags=RTF_UP | RTF_HOST, seq=9)
    if profile == BEFORE:
        rs.send(msg)
    else:
        with pytest.raises(OSError) as e:
            rs.send(msg)
        assert e.value.errno == errno.ESRCH
    k.advance(0)
    (echo,) = _drain(rs)
    assert echo["type"] == S.RTM_DELETE and echo["rtm_seq"] == 9
    assert echo["dst_addr"] == PEER
    if profile == BEFORE:
        assert echo["rtm_errno"] == 0
        assert echo["rtm_flags"] == (UHLW & ~RTF_UP) | RTF_DONE
        assert echo["gateway"] == _sdl(em0, PEER_MAC_B)
        assert PEER not in k.vnet0.arp_table()
        info = k.route_get(PEER)
        assert info is not None and (info.prefix, info.flags) == ("192.0.2.0/24", "UC")
    else:
        assert echo["rtm_errno"] == 3  # FreeBSD's ESRCH
        assert k.vnet0.arp_table()[PEER] == (PEER_MAC, "em0", False)
    # Either way the next datagram goes straight out, or after a new
    # request once the entry is gone.
    u = k.socket(S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_UDP)
    u.sendto(b"y", (PEER, 9))
    k.advance(0)
    out = k.transmitted("em0")
    assert len(out) == 1
    if profile == BEFORE:
        assert out[0][:6] == b"\xff" * 6  # a new who-has; the datagram is held
        assert ARP(out[0][14:]).pdst == PEER
    else:
        ip = IP(out[0][14:])
        assert out[0][:6] == PEER_MAC_B and ip.dst == PEER and bytes(ip[UDP].payload) == b"y"
