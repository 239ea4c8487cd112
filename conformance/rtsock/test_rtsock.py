"""Routing sockets (net/rtsock.c): requests, replies and kernel messages
in 9.0's amd64 layout."""

from __future__ import annotations

import errno
import struct

import pytest

import kstack
from kstack import sock as S
from kstack.rtsock import IFAN_ARRIVAL, IFAN_DEPARTURE, RTM_IFANNOUNCE, parse, rtm_get, rtm_msg

RTM = struct.Struct("<HBBH2xiiiiiiQ14Q")


def _host() -> kstack.Kernel:
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    k.route_add("198.51.100.0/24", "192.0.2.254")
    return k


def _drain(s: kstack.Socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(s.recv(4096))
        except BlockingIOError:
            return out


def _sin(a: str) -> bytes:
    return bytes((16, 2, 0, 0)) + bytes(int(x) for x in a.split(".")) + bytes(8)


def test_route_output_get_network_route_reply_bytes() -> None:
    """route_output (net/rtsock.c) RTM_GET: the reply carries the route's
    key, gateway and radix netmask (length 7, family and port bytes all
    ones), RTF_DONE, the sender's pid and seq, rmx_mtu and rmx_weight 1."""
    k = _host()
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    _drain(s)
    assert s.send(rtm_get("198.51.100.7", seq=42)) == 168
    k.advance(0)
    (reply,) = _drain(s)
    rmx = [0] * 14
    rmx[1] = 1500
    rmx[10] = 1
    flags = S.RTF_UP | S.RTF_GATEWAY | S.RTF_STATIC | S.RTF_DONE
    hdr = RTM.pack(192, 5, S.RTM_GET, 2, flags, 7, 1, 42, 0, 0, 0, *rmx)
    mask = bytes((7, 0xFF, 0xFF, 0xFF, 255, 255, 255, 0))
    assert reply == hdr + _sin("198.51.100.0") + _sin("192.0.2.254") + mask


def test_route_output_get_default_route_zero_mask() -> None:
    """route_output RTM_GET of the default route: its netmask is the radix
    tree's zero mask (length 0, 8 zero bytes in the message)."""
    k = _host()
    k.route_add("default", "192.0.2.254")
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    _drain(s)
    s.send(rtm_get("203.0.113.5"))
    k.advance(0)
    (reply,) = _drain(s)
    p = parse(reply)
    assert (p["dst_addr"], p["gateway_addr"], p["netmask"]) == ("0.0.0.0", "192.0.2.254", b"")
    assert p["rtm_addrs"] == 7 and p["msglen"] == 152 + 16 + 16 + 8


def test_route_output_get_no_route_esrch_echo() -> None:
    """route_output RTM_GET with no route: ESRCH to the writer, and the
    request echoed with rtm_errno ESRCH and no RTF_DONE."""
    k = kstack.Kernel(seed=0)
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0, uid=1001)
    msg = rtm_get("203.0.113.5", seq=7)
    with pytest.raises(OSError) as e:
        s.send(msg)
    assert e.value.errno == errno.ESRCH
    k.advance(0)
    (echo,) = _drain(s)
    p = parse(echo)
    assert (p["rtm_errno"], p["rtm_flags"], p["rtm_pid"], p["rtm_seq"]) == (
        errno.ESRCH,
        S.RTF_UP | S.RTF_HOST,
        1,
        7,
    )
    assert echo[28:] == msg[28:] and echo[:16] == msg[:16]


def test_route_output_add_by_unprivileged_user_eperm() -> None:
    """route_output: anything but RTM_GET needs PRIV_NET_ROUTE (EPERM for
    uid != 0); the request is echoed with rtm_errno EPERM."""
    k = _host()
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0, uid=1001)
    msg = rtm_msg(
        S.RTM_ADD, "203.0.113.0", gateway="192.0.2.254", mask=24, flags=S.RTF_UP | S.RTF_GATEWAY
    )
    with pytest.raises(OSError) as e:
        s.send(msg)
    assert e.value.errno == errno.EPERM
    assert k.route_get("203.0.113.1") is None
    k.advance(0)
    assert parse(_drain(s)[0])["rtm_errno"] == errno.EPERM


def test_route_output_add_then_delete_by_root() -> None:
    """route_output RTM_ADD then RTM_DELETE by root: the route appears and
    goes; the delete reply reports the route without RTF_UP."""
    k = _host()
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    add = rtm_msg(
        S.RTM_ADD,
        "203.0.113.0",
        gateway="192.0.2.254",
        mask=24,
        flags=S.RTF_UP | S.RTF_GATEWAY | S.RTF_STATIC,
        seq=1,
    )
    assert s.send(add) == len(add)
    assert str(k.route_get("203.0.113.1")).startswith("203.0.113.0/24 via 192.0.2.254")
    with pytest.raises(OSError) as e:
        s.send(add)
    assert e.value.errno == errno.EEXIST
    dele = rtm_msg(S.RTM_DELETE, "203.0.113.0", mask=24, flags=S.RTF_GATEWAY, seq=2)
    s.send(dele)
    assert k.route_get("203.0.113.1") is None
    k.advance(0)
    got = [parse(m) for m in _drain(s)]
    assert [(g["type"], g["rtm_errno"], g["rtm_seq"]) for g in got] == [
        (S.RTM_ADD, 0, 1),
        (S.RTM_ADD, errno.EEXIST, 1),
        (S.RTM_DELETE, 0, 2),
    ]
    assert got[0]["rtm_flags"] & S.RTF_DONE and got[0]["rtm_index"] == 2
    assert got[2]["rtm_flags"] == S.RTF_GATEWAY | S.RTF_STATIC | S.RTF_DONE


@pytest.mark.parametrize(
    ("msg", "err", "echo"),
    [(b"\x00" * 7, errno.ENOBUFS, False), (b"\x00" * 40, errno.EINVAL, True)],
    ids=["shorter-than-long", "shorter-than-header"],
)
def test_route_output_short_messages(msg: bytes, err: int, echo: bool) -> None:
    """route_output: fewer than sizeof(long) bytes fail the pullup
    (ENOBUFS, nothing echoed); a message shorter than rt_msghdr or whose
    rtm_msglen is wrong is EINVAL and echoed unchanged."""
    k = kstack.Kernel(seed=0)
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    with pytest.raises(OSError) as e:
        s.send(msg)
    assert e.value.errno == err
    k.advance(0)
    assert _drain(s) == ([msg] if echo else [])


def test_route_output_wrong_version_eprotonosupport() -> None:
    """route_output: rtm_version other than RTM_VERSION (5) is
    EPROTONOSUPPORT; the echo has rtm_errno set, as FreeBSD's number (43),
    and rtm_pid as written."""
    k = kstack.Kernel(seed=0)
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    with pytest.raises(OSError) as e:
        s.send(rtm_msg(S.RTM_GET, "192.0.2.1", version=4))
    assert e.value.errno == errno.EPROTONOSUPPORT
    k.advance(0)
    p = parse(_drain(s)[0])
    assert (p["rtm_errno"], p["rtm_pid"]) == (43, 0)


def test_socreate_route_dgram_eprotonosupport() -> None:
    """socreate (kern/uipc_socket.c): the routing domain has only a
    SOCK_RAW entry, so SOCK_DGRAM finds nothing: EPROTONOSUPPORT."""
    k = kstack.Kernel(seed=0)
    with pytest.raises(OSError) as e:
        k.socket(S.AF_ROUTE, S.SOCK_DGRAM, 0)
    assert e.value.errno == errno.EPROTONOSUPPORT


def test_rt_newaddrmsg_order_and_proto_filter() -> None:
    """rt_newaddrmsg (net/rtsock.c): adding an address gives RTM_NEWADDR
    then RTM_ADD of its prefix route (after the RTM_MISS of the empty
    record's scrub, in_control); deleting gives RTM_DELETE then
    RTM_DELADDR. RTM_IFANNOUNCE (if_attach) and RTM_IFINFO (rt_ifmsg) carry
    no address, so a socket opened with protocol AF_INET does not get them
    (raw_input)."""
    k = kstack.Kernel(seed=0)
    all_ = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    inet = k.socket(S.AF_ROUTE, S.SOCK_RAW, S.AF_INET)
    k.ifconfig("em0", "192.0.2.1/24")
    k.ifconfig("em0", "192.0.2.1/24", delete=True)
    k.ifconfig("em0", down=True)
    k.advance(0)
    types = [parse(m)["type"] for m in _drain(all_)]
    addr_types = [S.RTM_MISS, S.RTM_NEWADDR, S.RTM_ADD, S.RTM_DELETE, S.RTM_DELADDR]
    assert types == [RTM_IFANNOUNCE, *addr_types, S.RTM_IFINFO]
    assert [parse(m)["type"] for m in _drain(inet)] == addr_types


def test_rt_ifmsg_layout() -> None:
    """rt_ifmsg: an if_msghdr of 168 bytes with if_data (type, address and
    header lengths, its own size 152, MTU, flags without IFF_UP)."""
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.ifconfig("em0", down=True)
    k.advance(0)
    msgs = _drain(s)
    ifm = parse(msgs[-1])
    assert len(msgs[-1]) == 168
    assert (ifm["ifm_index"], ifm["ifm_addrs"], ifm["ifm_flags"] & 1) == (2, 0, 0)
    d = ifm["ifm_data"]
    assert (d["ifi_type"], d["ifi_addrlen"], d["ifi_hdrlen"], d["ifi_datalen"], d["ifi_mtu"]) == (
        6,
        6,
        14,
        152,
        1500,
    )


def test_messages_stay_in_their_vnet() -> None:
    """rts_input/raw_input: a message goes only to the routing sockets of
    the vnet it was made in (the rawcb list is per vnet)."""
    k = kstack.Kernel(seed=0)
    v = k.jail("v1", vnet=True)
    host = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    jail = v.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.ifconfig("em0", "192.0.2.1/24")
    k.advance(0)
    # RTM_IFANNOUNCE, RTM_MISS (0.0.0.0), RTM_NEWADDR, RTM_ADD
    assert len(_drain(host)) == 4
    assert _drain(jail) == []


def test_route_output_jail_hides_network_routes() -> None:
    """route_output RTM_GET from a jail without its own vnet: a network
    route is ESRCH (jailed_without_vnet); RTM_ADD by the jail's root is
    EPERM (prison_priv_check refuses PRIV_NET_ROUTE)."""
    k = _host()
    j = k.jail("j1", ip4=["192.0.2.2"])
    s = j.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    with pytest.raises(OSError) as e:
        s.send(rtm_get("198.51.100.7"))
    assert e.value.errno == errno.ESRCH
    with pytest.raises(OSError) as e:
        s.send(rtm_msg(S.RTM_ADD, "203.0.113.0", gateway="192.0.2.254", mask=24))
    assert e.value.errno == errno.EPERM


def test_receive_buffer_overflow_drops_silently() -> None:
    """raw_input: a message that does not fit the 8192-byte receive buffer
    (each record also costs the 2-byte source address) is dropped."""
    k = _host()
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    w = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    msg = rtm_get("198.51.100.7")
    for _ in range(60):
        w.send(msg)
    k.advance(0)
    assert len(_drain(s)) == 8192 // (192 + 2)  # 42 of 60


def test_redirect_sends_rtm_redirect() -> None:
    """rtredirect_fib (net/route.c): an accepted ICMP redirect sends
    RTM_REDIRECT with destination, gateway and author, and the new route's
    flags."""
    from scapy.layers.inet import ICMP, IP, UDP
    from scapy.layers.l2 import Ether

    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    k.route_add("default", "192.0.2.254")
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, S.AF_INET)
    k.advance(0)
    _drain(s)
    inner = IP(src="192.0.2.1", dst="203.0.113.9", ttl=64, id=1) / UDP(sport=1, dport=2)
    f = (
        Ether(src="02:00:00:00:00:fe", dst=k.iface("em0").ether)
        / IP(src="192.0.2.254", dst="192.0.2.1", ttl=64, id=2)
        / ICMP(type=5, code=1, gw="192.0.2.253")
        / bytes(inner)[:28]
    )
    k.input("em0", bytes(f))
    k.advance(0)
    (m,) = _drain(s)
    p = parse(m)
    assert (p["type"], p["rtm_addrs"], p["rtm_errno"]) == (S.RTM_REDIRECT, 0x43, 0)
    assert (p["dst_addr"], p["gateway_addr"], p["author_addr"]) == (
        "203.0.113.9",
        "192.0.2.253",
        "192.0.2.254",
    )
    assert p["rtm_flags"] == S.RTF_UP | S.RTF_GATEWAY | S.RTF_HOST | S.RTF_DYNAMIC | S.RTF_DONE


# -- what address configuration reports ------------------------------------------

EM0_MAC = bytes.fromhex("020000000001")
IFAM = struct.Struct("<HBBiiH2xi")
IFAN = struct.Struct("<HBBH16sH")
RMX0 = (0,) * 14
RTA_NETMASK_IFP_IFA_BRD = S.RTA_NETMASK | S.RTA_IFP | S.RTA_IFA | S.RTA_BRD


def _em0_host(default_route: bool = False) -> tuple[kstack.Kernel, kstack.Socket]:
    """em0 192.0.2.1/24 (index 2), then a routing socket with nothing queued."""
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", "192.0.2.1/24", ether="02:00:00:00:00:01")
    if default_route:
        k.route_add("default", "192.0.2.254")
    s = k.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    k.advance(0)
    return k, s


def _em0_sdl() -> bytes:
    """em0's link-level address: 56 bytes, AF_LINK, index 2, IFT_ETHER,
    name length 3, address length 6, then "em0" and the MAC."""
    return (bytes((56, 18, 2, 0, 6, 3, 6, 0)) + b"em0" + EM0_MAC).ljust(56, b"\0")


def _sin_trim(mask: str) -> bytes:
    """An in_socktrim'd netmask as a message carries it (8 bytes)."""
    m = bytes(int(x) for x in mask.split("."))
    return bytes((4 + len(m.rstrip(b"\0")) if m.rstrip(b"\0") else 0, 2, 0, 0)) + m


def _rn_mask(plen: int) -> bytes:
    m = (((1 << 32) - 1) ^ ((1 << (32 - plen)) - 1)).to_bytes(4, "big").rstrip(b"\0")
    return (bytes((4 + len(m), 0xFF, 0xFF, 0xFF)) + m).ljust(8, b"\0")


def _newaddr(mtype: int, addr: str, mask: str, brd: str, flags: int) -> bytes:
    body = _sin_trim(mask) + _em0_sdl() + _sin(addr) + _sin(brd)
    return IFAM.pack(20 + len(body), 5, mtype, RTA_NETMASK_IFP_IFA_BRD, flags, 2, 0) + body


def _miss(dst: str) -> bytes:
    return RTM.pack(168, 5, S.RTM_MISS, 0, S.RTF_DONE, S.RTA_DST, 0, 0, 0, 0, 0, *RMX0) + _sin(dst)


def test_in_control_new_address_scrub_without_default_route_miss() -> None:
    """netinet/in.c in_control (SIOCAIFADDR with a mask) scrubs the new
    address's empty record first: in_scrubprefix -> in_addralias_rtmsg
    looks up 0.0.0.0 with a report (net/route.c rtalloc1_fib), which
    misses: RTM_MISS for 0.0.0.0 and rts_unreach + 1, then RTM_NEWADDR and
    RTM_ADD (rt_newaddrmsg)."""
    k, s = _em0_host()
    before = k.netstat("route")["rts_unreach"]
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    k.advance(0)
    msgs = _drain(s)
    assert [m[3] for m in msgs] == [S.RTM_MISS, S.RTM_NEWADDR, S.RTM_ADD]
    assert msgs[0] == _miss("0.0.0.0")
    assert k.netstat("route")["rts_unreach"] - before == 1


def test_in_control_new_address_scrub_with_default_route() -> None:
    """netinet/in.c in_addralias_rtmsg(RTM_DELETE) for the empty record of
    a new address, when the lookup of 0.0.0.0 finds the default route:
    RTM_DELETE with the default route's key, flags and zero mask and the
    empty address as gateway (8 zero bytes), then RTM_DELADDR of the empty
    record (address sa_len 0, netmask {8, AF_INET}, broadcast
    {16, AF_INET, 0.0.0.0}). That RTM_DELADDR has no address family, so an
    AF_INET routing socket does not get it (rt_dispatch, raw_input)."""
    k, s = _em0_host(default_route=True)
    inet = k.socket(S.AF_ROUTE, S.SOCK_RAW, S.AF_INET)
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    k.advance(0)
    msgs = _drain(s)
    assert [m[3] for m in msgs] == [S.RTM_DELETE, S.RTM_DELADDR, S.RTM_NEWADDR, S.RTM_ADD]
    flags = S.RTF_UP | S.RTF_GATEWAY | S.RTF_STATIC
    want_delete = RTM.pack(184, 5, S.RTM_DELETE, 2, flags, 7, 0, 0, 0, 0, 0, *RMX0)
    want_delete += _sin("0.0.0.0") + bytes(8) + bytes(8)
    assert msgs[0] == want_delete
    body = bytes((8, 2)) + bytes(6) + _em0_sdl() + bytes(8) + _sin("0.0.0.0")
    want_deladdr = IFAM.pack(20 + len(body), 5, S.RTM_DELADDR, RTA_NETMASK_IFP_IFA_BRD, 0, 2, 0)
    assert msgs[1] == want_deladdr + body
    assert [m[3] for m in _drain(inet)] == [S.RTM_DELETE, S.RTM_NEWADDR, S.RTM_ADD]


@pytest.mark.parametrize(
    ("prefix", "mask", "brd"),
    [
        ("203.0.113.1/24", "255.255.255.0", "203.0.113.255"),
        ("203.0.113.1/16", "255.255.0.0", "203.0.255.255"),
        ("203.0.113.1/32", "255.255.255.255", "203.0.113.1"),
    ],
    ids=["24", "16", "32"],
)
def test_rt_newaddrmsg_netmask_trimmed(prefix: str, mask: str, brd: str) -> None:
    """netinet/in.c in_ifinit trims the interface netmask (in_socktrim)
    before rt_newaddrmsg reports it: sa_len counts up to the last non-zero
    mask byte (7 for /24, 6 for /16, 8 for /32) and the message carries 8
    bytes of it; the route's own mask is the radix one."""
    k, s = _em0_host()
    k.ifconfig("em0", prefix, alias=True)
    k.advance(0)
    _miss_msg, newaddr, add = _drain(s)
    assert newaddr == _newaddr(S.RTM_NEWADDR, "203.0.113.1", mask, brd, 0)
    assert len(newaddr) == 116
    assert parse(newaddr)["netmask_addr"] == mask
    plen = int(prefix.split("/")[1])
    net = {24: "203.0.113.0", 16: "203.0.0.0", 32: "203.0.113.1"}[plen]
    assert add[152:] == _sin(net) + add[168:224] + _rn_mask(plen)


def test_in_addprefix_alias_on_routed_prefix_reported() -> None:
    """netinet/in.c in_addprefix: an alias whose prefix another address
    already routes adds no route, but in_addralias_rtmsg reports it:
    RTM_NEWADDR, then RTM_ADD of the existing route (its key, flags and
    radix mask) with the alias as gateway. Deleting it (in_scrubprefix, no
    IFA_ROUTE) reports RTM_DELETE of the same, then RTM_DELADDR."""
    k, s = _em0_host()
    k.ifconfig("em0", "192.0.2.9/24", alias=True)
    k.advance(0)
    miss, *msgs = _drain(s)
    assert miss == _miss("0.0.0.0")  # the new record's scrub
    assert [m[3] for m in msgs] == [S.RTM_NEWADDR, S.RTM_ADD]
    assert msgs[0] == _newaddr(S.RTM_NEWADDR, "192.0.2.9", "255.255.255.0", "192.0.2.255", 0)
    route = _sin("192.0.2.0") + _sin("192.0.2.9") + _rn_mask(24)
    assert msgs[1] == RTM.pack(192, 5, S.RTM_ADD, 2, S.RTF_UP, 7, 0, 0, 0, 0, 0, *RMX0) + route
    assert str(k.route_get("192.0.2.77")).startswith("192.0.2.0/24 ")
    k.ifconfig("em0", "192.0.2.9", delete=True)
    k.advance(0)
    msgs = _drain(s)
    assert [m[3] for m in msgs] == [S.RTM_DELETE, S.RTM_DELADDR]
    assert msgs[0] == RTM.pack(192, 5, S.RTM_DELETE, 2, S.RTF_UP, 7, 0, 0, 0, 0, 0, *RMX0) + route
    assert msgs[1] == _newaddr(S.RTM_DELADDR, "192.0.2.9", "255.255.255.0", "192.0.2.255", 0)
    assert k.route_get("192.0.2.77") is not None


def test_in_addprefix_same_prefix_carp_only_eexist() -> None:
    """netinet/in.c in_addprefix with net.inet.ip.same_prefix_carp_only=1:
    a second address on a prefix already routed is refused (EEXIST; kstack
    has no carp(4) interface) and taken off again by in_control; the
    routing sockets saw only the scrub's RTM_MISS."""
    k, s = _em0_host()
    k.sysctl("net.inet.ip.same_prefix_carp_only", 1)
    with pytest.raises(OSError) as e:
        k.ifconfig("em0", "192.0.2.9/24", alias=True)
    assert e.value.errno == errno.EEXIST
    assert k.iface("em0").addrs == ["192.0.2.1/24"]
    k.advance(0)
    assert _drain(s) == [_miss("0.0.0.0")]


# -- interface arrival and departure ----------------------------------------------


def test_if_attach_announces_interface() -> None:
    """net/if.c if_attach_internal ends with rt_ifannouncemsg(IFAN_ARRIVAL):
    struct if_announcemsghdr (24 bytes: index, name, what), untagged, so
    only protocol-0 routing sockets get it."""
    k, s = _em0_host()
    inet = k.socket(S.AF_ROUTE, S.SOCK_RAW, S.AF_INET)
    k.ifconfig("em1", ether="02:00:00:00:01:01")
    k.advance(0)
    want = IFAN.pack(24, 5, RTM_IFANNOUNCE, 3, b"em1", IFAN_ARRIVAL)
    (m,) = _drain(s)
    assert m == want
    p = parse(m)
    assert (p["ifan_index"], p["ifan_name"], p["ifan_what"]) == (3, "em1", IFAN_ARRIVAL)
    assert _drain(inet) == []


def test_epair_create_and_if_vmove_announce() -> None:
    """net/if_epair.c epair_clone_create attaches epair0a then epair0b
    (two IFAN_ARRIVAL); moving epair0b into a vnet jail (net/if.c if_vmove)
    runs if_detach_internal in the host (if_down: RTM_IFINFO, then
    IFAN_DEPARTURE) and if_attach_internal in the jail (IFAN_ARRIVAL with
    its index there)."""
    k, s = _em0_host()
    v = k.jail("v1", vnet=True)
    js = v.socket(S.AF_ROUTE, S.SOCK_RAW, 0)
    a, b = k.epair(k.vnet0, v)
    k.advance(0)
    host = _drain(s)
    assert [m[3] for m in host] == [RTM_IFANNOUNCE, RTM_IFANNOUNCE, S.RTM_IFINFO, RTM_IFANNOUNCE]
    assert host[0] == IFAN.pack(24, 5, RTM_IFANNOUNCE, 3, b"epair0a", IFAN_ARRIVAL)
    assert host[1] == IFAN.pack(24, 5, RTM_IFANNOUNCE, 4, b"epair0b", IFAN_ARRIVAL)
    assert parse(host[2])["ifm_index"] == 4
    assert host[3] == IFAN.pack(24, 5, RTM_IFANNOUNCE, 4, b"epair0b", IFAN_DEPARTURE)
    idx = v.vnet.iface(b).index
    assert _drain(js) == [IFAN.pack(24, 5, RTM_IFANNOUNCE, idx, b"epair0b", IFAN_ARRIVAL)]


# -- lookups that report a miss -----------------------------------------------------


def test_in_pcbladdr_miss_on_unbound_udp_send_and_connect() -> None:
    """netinet/in_pcb.c in_pcbladdr looks the destination up with a report
    (in_rtalloc_ign): with no route and no interface on its network, an
    unbound UDP sendto or a connect sends RTM_MISS and fails ENETUNREACH,
    before ip_output (ips_noroute unchanged)."""
    k, s = _em0_host()
    u = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    before = k.netstat("ip")["ips_noroute"]
    with pytest.raises(OSError) as e:
        u.sendto(b"x", ("203.0.113.9", 53))
    assert e.value.errno == errno.ENETUNREACH
    c = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    with pytest.raises(OSError) as e:
        c.connect(("203.0.113.10", 53))
    assert e.value.errno == errno.ENETUNREACH
    assert k.netstat("ip")["ips_noroute"] == before
    k.advance(0)
    assert _drain(s) == [_miss("203.0.113.9"), _miss("203.0.113.10")]


# -- errno numbers inside messages -----------------------------------------------------


def test_route_output_rtm_errno_is_freebsd_number() -> None:
    """net/rtsock.c route_output writes the kernel's errno into rtm_errno:
    an RTM_ADD whose gateway nothing reaches (rt_getifa_fib, ENETUNREACH)
    echoes 51 after the gateway lookup's RTM_MISS; an unknown type
    (RTM_MISS written by root) echoes EOPNOTSUPP as 45. The caller's
    OSError keeps Python's errno constant."""
    k, s = _em0_host()
    add = rtm_msg(S.RTM_ADD, "203.0.113.0", gateway="10.9.9.9", mask=24, flags=S.RTF_UP | 2)
    with pytest.raises(OSError) as e:
        s.send(add)
    assert e.value.errno == errno.ENETUNREACH
    with pytest.raises(OSError) as e:
        s.send(rtm_msg(S.RTM_MISS, "198.51.100.7"))
    assert e.value.errno == errno.EOPNOTSUPP
    k.advance(0)
    got = [parse(m) for m in _drain(s)]
    assert [(g["type"], g["rtm_errno"]) for g in got] == [
        (S.RTM_MISS, 0),
        (S.RTM_ADD, 51),
        (S.RTM_MISS, 45),
    ]
    assert got[0]["dst_addr"] == "10.9.9.9"
