"""Messages the kernel sends on its own, from the 9.1 source.

RTS = sys/net/rtsock.c, RT = sys/net/route.c, IN = sys/netinet/in.c,
IF = sys/net/if.c, RAW = sys/netinet/raw_ip.c, RAWU = sys/net/raw_usrreq.c,
ICMP = sys/netinet/ip_icmp.c, PCB = sys/netinet/in_pcb.c.

Adding an address: in_control SIOCAIFADDR (IN 513-559). An address that
is new gets a fresh in_ifaddr whose ia_addr is all zeroes (IN 379-409);
the mask ifconfig passes makes in_control scrub it first (IN 525-539 ->
in_ifscrub 822-826 -> in_scrubprefix 1142-1145): it has no IFA_ROUTE, so
in_addralias_rtmsg(RTM_DELETE, 0.0.0.0) (IN 967-1003) looks 0.0.0.0 up
with rtalloc_ign_fib, report = 1 (RT 325-337, 409-418). Without a default
route that lookup fails and sends RTM_MISS for 0.0.0.0; with one it sends
RTM_DELETE and RTM_DELADDR describing the zeroed address. Then in_ifinit
(IN 833-957) -> in_addprefix (1009-1075) -> rtinit (RT 1426-1630) ->
rt_newaddrmsg (RTS 1281-1349): RTM_NEWADDR then RTM_ADD. The same code is in
the February 2011 tree (in.c 1027-1063, 1198), so this is 9.0's behaviour.
"""

import pytest

from .common import (
    AF_INET,
    AF_INET6,
    EM0_MAC,
    GW_MAC,
    IF_DATA_LEN,
    IF_MSGHDR_LEN,
    IFA_MSGHDR_LEN,
    IFA_ROUTE,
    IFAN_MSGHDR_LEN,
    IFF_BROADCAST,
    IFF_DRV_RUNNING,
    IFF_MULTICAST,
    IFF_SIMPLEX,
    IFF_UP,
    IFT_ETHER,
    IP,
    PEER_MAC,
    RT_MSGHDR_LEN,
    RTA_AUTHOR,
    RTA_BRD,
    RTA_DST,
    RTA_GATEWAY,
    RTA_IFA,
    RTA_IFP,
    RTA_NETMASK,
    RTF_DONE,
    RTF_DYNAMIC,
    RTF_GATEWAY,
    RTF_HOST,
    RTF_STATIC,
    RTF_UP,
    RTM_ADD,
    RTM_DELADDR,
    RTM_DELETE,
    RTM_IFANNOUNCE,
    RTM_IFINFO,
    RTM_MISS,
    RTM_NEWADDR,
    RTM_REDIRECT,
    RTM_VERSION,
    UDP,
    Ether,
    Expect,
    add_link_gateway,
    add_sa,
    drain,
    errno,
    hdr_field,
    icmp_redirect,
    ifa_header,
    make_host,
    order,
    oserr,
    raw_send_unreachable,
    rn_mask,
    route_socket,
    rt_header,
    sdl_ifp,
    settle,
    sin,
    sin_mask_trimmed,
    sock,
    sockaddrs,
    struct,
    types,
)

F_EINVAL = 22


def miss_expect(k, dst: str) -> Expect:
    """RTM_MISS from rtalloc1_fib's miss path (RT 406-418) -> rt_missmsg_fib
    (RTS 1212-1238): a zeroed rt_msghdr (rt_msg1 1091) with flags RTF_DONE,
    addrs RTA_DST, errno 0, and the looked-up sockaddr_in."""
    e = Expect()
    rt_header(k, e, msglen=RT_MSGHDR_LEN + 16, type=RTM_MISS, flags=RTF_DONE, addrs=RTA_DST)
    return add_sa(e, "dst", sin(dst))


def newaddr_expect(k, ifname, mac, addr, mask, brd, flags) -> Expect:
    """RTM_NEWADDR / RTM_DELADDR from rt_newaddrmsg_fib (RTS 1306-1322):
    NETMASK (the in_socktrim'd ia_sockmask), IFP (the interface's link
    address), IFA (ia_addr), BRD (ia_broadaddr), in RTA order."""
    return newaddr_like(k, RTM_NEWADDR, ifname, mac, sin(addr), mask, sin(brd), flags)


def newaddr_like(k, mtype, ifname, mac, ifa_sa, mask_sa_or_str, brd_sa, flags) -> Expect:
    mask_sa = (
        sin_mask_trimmed(mask_sa_or_str) if isinstance(mask_sa_or_str, str) else mask_sa_or_str
    )
    ifp = sdl_ifp(k, ifname, mac)
    e = Expect()
    total = IFA_MSGHDR_LEN + len(mask_sa) + 56 + max(8, len(ifa_sa)) + len(brd_sa)
    ifa_header(
        k,
        e,
        msglen=total,
        type=mtype,
        addrs=RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD,
        flags=flags,
        index=k.iface(ifname).index,
    )
    add_sa(e, "netmask", mask_sa)
    add_sa(e, "ifp (sockaddr_dl)", ifp)
    add_sa(e, "ifa", ifa_sa)
    add_sa(e, "brd", brd_sa)
    assert len(e) == total
    return e


def prefix_route_expect(k, mtype, ifname, prefix, mask, flags) -> Expect:
    """RTM_ADD / RTM_DELETE from rt_newaddrmsg_fib (RTS 1323-1339) for an
    interface route made by rtinit: DST = rt_key (the masked address,
    rt_maskedcopy RT 1402-1418), GATEWAY = the AF_LINK null_sdl with type
    and index (RT 1551-1587), NETMASK = the radix mask (radix.c rn_addmask).
    rtm_flags = rt_flags, rtm_index = the interface, nothing else set."""
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 56 + 8,
        type=mtype,
        index=k.iface(ifname).index,
        flags=flags,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
    )
    add_sa(e, "dst", sin(prefix))
    add_link_gateway(k, e, k.iface(ifname).index)
    add_sa(e, "netmask", rn_mask(mask))
    return e


def alias_route_expect(k, mtype, ifname, prefix, mask, gateway, flags) -> Expect:
    """RTM_ADD / RTM_DELETE from in_addralias_rtmsg (IN 967-1003): a copy of
    the existing prefix route with rt_gateway pointed at the alias's
    sockaddr_in."""
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 16 + 8,
        type=mtype,
        index=k.iface(ifname).index,
        flags=flags,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
    )
    add_sa(e, "dst", sin(prefix))
    add_sa(e, "gateway", sin(gateway))
    add_sa(e, "netmask", rn_mask(mask))
    return e


def ifinfo_expect(k, ifname, flags) -> Expect:
    """RTM_IFINFO from rt_ifmsg (RTS 1251-1270): if_msghdr with addrs 0,
    flags = if_flags | if_drv_flags exactly (IFF_DRV_RUNNING is the driver's:
    ifhwioctl SIOCSIFFLAGS (IF 2160-2186) calls if_down / if_up before the
    driver's ioctl, so em's stop or init has not run yet), index, and a
    copy of if_data (if.h 81-107): type IFT_ETHER, addrlen 6, hdrlen 14
    (ether_ifattach), datalen 152 (IF if_attach_internal 622), mtu, metric
    0. Statistics, baudrate, link state, hwassist, epoch and lastchange
    are the driver's or the clock's: don't care."""
    o = order(k)
    e = Expect()
    e.add("ifm_msglen", struct.pack(o + "H", IF_MSGHDR_LEN))
    e.add("ifm_version", bytes((RTM_VERSION,)))
    e.add("ifm_type", bytes((RTM_IFINFO,)))
    e.add("ifm_addrs", struct.pack(o + "i", 0))
    e.add("ifm_flags", struct.pack(o + "i", flags))
    e.add("ifm_index", struct.pack(o + "H", k.iface(ifname).index))
    e.add("(pad)", bytes(2))
    e.add("ifi_type", bytes((IFT_ETHER,)))
    e.add("ifi_physical", bytes((0,)))
    e.add("ifi_addrlen", bytes((6,)))
    e.add("ifi_hdrlen", bytes((14,)))
    e.dontcare("ifi_link_state", 1)
    e.add("ifi_spare_char1", bytes((0,)))
    e.add("ifi_spare_char2", bytes((0,)))
    e.add("ifi_datalen", bytes((IF_DATA_LEN,)))
    e.add("ifi_mtu", struct.pack(o + "Q", k.iface(ifname).mtu))
    e.add("ifi_metric", struct.pack(o + "Q", 0))
    e.dontcare("ifi_baudrate", 8)
    for name in (
        "ifi_ipackets",
        "ifi_ierrors",
        "ifi_opackets",
        "ifi_oerrors",
        "ifi_collisions",
        "ifi_ibytes",
        "ifi_obytes",
        "ifi_imcasts",
        "ifi_omcasts",
        "ifi_iqdrops",
        "ifi_noproto",
        "ifi_hwassist",
        "ifi_epoch",
    ):
        e.dontcare(name, 8)
    e.dontcare("ifi_lastchange", 16)
    assert len(e) == IF_MSGHDR_LEN
    return e


def check_ifinfo(k, m, ifname, flags):
    ifinfo_expect(k, ifname, flags).check(m, "RTM_IFINFO")


EM0_FLAGS = IFF_UP | IFF_BROADCAST | IFF_SIMPLEX | IFF_MULTICAST


# --------------------------------------------------------------------------
# Addresses


def addr_msgs(msgs):
    """The RTM_NEWADDR and RTM_ADD messages, in order."""
    return [m for m in msgs if m[3] in (RTM_NEWADDR, RTM_ADD)]


def test_new_address_scrub_without_default_route(k):
    """ifconfig em0 203.0.113.1/24 alias with no default route: the scrub of
    the fresh in_ifaddr (see the module docstring) looks up 0.0.0.0, which
    fails: RTM_MISS for {16, AF_INET, 0.0.0.0} (RT 406-418), then
    RTM_NEWADDR and RTM_ADD."""
    r = route_socket(k)
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_MISS, RTM_NEWADDR, RTM_ADD]
    miss_expect(k, "0.0.0.0").check(msgs[0], "RTM_MISS")


def test_new_address_scrub_with_default_route():
    """The same alias with a default route in the table: the scrub's lookup
    of 0.0.0.0 finds the default route, so in_addralias_rtmsg sends
    rt_newaddrmsg(RTM_DELETE) (RTS 1304-1348): RTM_DELETE with the default
    route's key and flags (UGS), its radix mask (the all-zero key, sa_len 0:
    8 zero bytes) and the fresh ia_addr as gateway (all zero: 8 bytes), then
    RTM_DELADDR with that zero address, the fresh ia_sockmask (sa_len 8,
    AF_INET, IN 405-406) and ia_broadaddr (16, AF_INET, 0.0.0.0, IN
    407-410); then RTM_NEWADDR and RTM_ADD."""
    k = make_host(default_route=True)
    r = route_socket(k)
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_DELETE, RTM_DELADDR, RTM_NEWADDR, RTM_ADD]
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 8 + 8,
        type=RTM_DELETE,
        index=k.iface("em0").index,
        flags=RTF_UP | RTF_GATEWAY | RTF_STATIC,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
    )
    add_sa(e, "dst", sin("0.0.0.0"))
    add_sa(e, "gateway (zeroed ia_addr)", bytes(8))
    add_sa(e, "netmask (the all-zero radix mask)", bytes(8))
    e.check(msgs[0], "RTM_DELETE")
    zero_mask = bytes((8, AF_INET)) + bytes(6)
    newaddr_like(k, RTM_DELADDR, "em0", EM0_MAC, bytes(8), zero_mask, sin("0.0.0.0"), 0).check(
        msgs[1], "RTM_DELADDR"
    )


def test_alias_new_prefix(k):
    """ifconfig em0 203.0.113.1/24 alias: in_ifinit -> in_addprefix -> rtinit
    -> rt_newaddrmsg: RTM_NEWADDR then RTM_ADD. NEWADDR's ifam_flags are 0
    (IFA_ROUTE is set only after rtinit returns, IN 1072-1073) and its
    metric is if_metric 0 (IN 906); the netmask is ia_sockmask trimmed by
    in_socktrim (IN 157-168, 897: sa_len 7 for /24) with family AF_INET (IN
    537); the broadcast address is computed in in_ifinit (IN 907-912). The
    prefix route's flags are RTF_UP only (rtinit1 1546 with ifa_flags 0).
    The loopback host route for the address is added by
    ifa_add_loopback_route (IF 1455-1481) through rtrequest1_fib, which
    sends nothing."""
    r = route_socket(k)
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    settle(k)
    msgs = addr_msgs(drain(r))
    assert types(msgs) == [RTM_NEWADDR, RTM_ADD]
    newaddr_expect(k, "em0", EM0_MAC, "203.0.113.1", "255.255.255.0", "203.0.113.255", 0).check(
        msgs[0], "RTM_NEWADDR"
    )
    prefix_route_expect(k, RTM_ADD, "em0", "203.0.113.0", "255.255.255.0", RTF_UP).check(
        msgs[1], "RTM_ADD"
    )


def test_host_alias_mask(k):
    """A /32 alias on an Ethernet interface: in_ifinit (IN 907-921) does not
    make it a host route, so rtinit adds a network route with an all-ones
    mask: NEWADDR's netmask has sa_len 8, the route's radix mask is
    08 ff ff ff ff ff ff ff; the broadcast address is the address itself."""
    r = route_socket(k)
    k.ifconfig("em0", "192.0.2.9/32", alias=True)
    settle(k)
    msgs = addr_msgs(drain(r))
    assert types(msgs) == [RTM_NEWADDR, RTM_ADD]
    newaddr_expect(k, "em0", EM0_MAC, "192.0.2.9", "255.255.255.255", "192.0.2.9", 0).check(
        msgs[0], "RTM_NEWADDR"
    )
    prefix_route_expect(k, RTM_ADD, "em0", "192.0.2.9", "255.255.255.255", RTF_UP).check(
        msgs[1], "RTM_ADD"
    )


def test_alias_same_prefix(k):
    """192.0.2.9/24 while 192.0.2.1/24 holds the prefix route: in_addprefix
    (IN 1024-1063) finds it (IFA_ROUTE), net.inet.ip.same_prefix_carp_only is
    0, so in_addralias_rtmsg(RTM_ADD) reports a copy of that route with the
    alias as gateway (IN 985-999): NEWADDR for the alias, then RTM_ADD with
    DST 192.0.2.0, GATEWAY sockaddr_in 192.0.2.9, the /24 radix mask and the
    route's own flags (RTF_UP); no route is added."""
    r = route_socket(k)
    k.ifconfig("em0", "192.0.2.9/24", alias=True)
    settle(k)
    msgs = addr_msgs(drain(r))
    assert types(msgs) == [RTM_NEWADDR, RTM_ADD]
    newaddr_expect(k, "em0", EM0_MAC, "192.0.2.9", "255.255.255.0", "192.0.2.255", 0).check(
        msgs[0], "RTM_NEWADDR"
    )
    alias_route_expect(k, RTM_ADD, "em0", "192.0.2.0", "255.255.255.0", "192.0.2.9", RTF_UP).check(
        msgs[1], "RTM_ADD"
    )


def test_delete_alias(k):
    """ifconfig em0 203.0.113.1 -alias: in_control SIOCDIFADDR (IN 561-574)
    -> in_scrubprefix with LLE_STATIC: the loopback route goes first
    (IN 1102-1131, no message, IFA_RTSELF cleared), then rtinit(RTM_DELETE)
    (IN 1210) -> rt_newaddrmsg: RTM_DELETE (pass 1) then RTM_DELADDR (pass 2,
    RTS 1306-1307). rtrequest1_fib cleared RTF_UP on the removed route (RT
    1127), so RTM_DELETE's flags are 0; DELADDR's ifam_flags are IFA_ROUTE,
    still set while rtinit runs (IN 1211-1212)."""
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    settle(k)
    r = route_socket(k)
    k.ifconfig("em0", "203.0.113.1", delete=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_DELETE, RTM_DELADDR]
    prefix_route_expect(k, RTM_DELETE, "em0", "203.0.113.0", "255.255.255.0", 0).check(
        msgs[0], "RTM_DELETE"
    )
    newaddr_like(
        k,
        RTM_DELADDR,
        "em0",
        EM0_MAC,
        sin("203.0.113.1"),
        "255.255.255.0",
        sin("203.0.113.255"),
        IFA_ROUTE,
    ).check(msgs[1], "RTM_DELADDR")


def test_delete_same_prefix_alias(k):
    """Removing 192.0.2.9/24, which never held the prefix route: in_scrubprefix
    (IN 1142-1145) calls in_addralias_rtmsg(RTM_DELETE): RTM_DELETE with the
    live route's flags (RTF_UP) and the alias as gateway, then RTM_DELADDR
    with ifam_flags 0 (no IFA_ROUTE, IFA_RTSELF cleared at 1125-1126)."""
    k.ifconfig("em0", "192.0.2.9/24", alias=True)
    settle(k)
    r = route_socket(k)
    k.ifconfig("em0", "192.0.2.9", delete=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_DELETE, RTM_DELADDR]
    alias_route_expect(
        k, RTM_DELETE, "em0", "192.0.2.0", "255.255.255.0", "192.0.2.9", RTF_UP
    ).check(msgs[0], "RTM_DELETE")
    newaddr_like(
        k,
        RTM_DELADDR,
        "em0",
        EM0_MAC,
        sin("192.0.2.9"),
        "255.255.255.0",
        sin("192.0.2.255"),
        0,
    ).check(msgs[1], "RTM_DELADDR")


# --------------------------------------------------------------------------
# Interface down and up


def test_ifconfig_down(k):
    """ifconfig em0 down -> if_down -> if_unroute (IF 1841-1858): IFF_UP is
    cleared, then pfctlinput(PRC_IFDOWN) for each address (the link-level
    one first, which no protocol acts on); RAW rip_ctlinput PRC_IFDOWN
    (raw_ip.c) runs in_ifscrub(ia, 0) -> in_scrubprefix, no other address of
    the prefix on an interface that is up (IN 1156-1158) -> rtinit(RTM_DELETE):
    RTM_DELETE, RTM_DELADDR; then rt_ifmsg: RTM_IFINFO with IFF_UP clear.
    DELADDR's ifam_flags are named don't-care: 9.1 keeps IFA_RTSELF here
    (0x5), the February 2011 tree had cleared it (0x1)."""
    r = route_socket(k)
    k.ifconfig("em0", down=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_DELETE, RTM_DELADDR, RTM_IFINFO]
    prefix_route_expect(k, RTM_DELETE, "em0", "192.0.2.0", "255.255.255.0", 0).check(
        msgs[0], "RTM_DELETE"
    )
    newaddr_like(
        k,
        RTM_DELADDR,
        "em0",
        EM0_MAC,
        sin("192.0.2.1"),
        "255.255.255.0",
        sin("192.0.2.255"),
        None,
    ).check(msgs[1], "RTM_DELADDR")
    # The message goes out before em's ioctl stops the driver: IFF_DRV_RUNNING
    # is still set (em_stop clears it afterwards).
    check_ifinfo(k, msgs[2], "em0", (EM0_FLAGS & ~IFF_UP) | IFF_DRV_RUNNING)
    assert k.iface("em0").flags & IFF_DRV_RUNNING == 0


def test_ifconfig_up(k):
    """ifconfig em0 up after down -> if_up -> if_route (IF 1865-1883): IFF_UP
    set, pfctlinput(PRC_IFUP); RAW rip_ctlinput PRC_IFUP re-adds the prefix
    with rtinit(RTM_ADD, RTF_UP) (ifam_flags 0 at that moment: IFA_ROUTE
    was cleared on the way down and IFA_RTSELF by ifa_del_loopback_route
    just before), then rt_ifmsg: RTM_NEWADDR, RTM_ADD, RTM_IFINFO."""
    k.ifconfig("em0", down=True)
    settle(k)
    r = route_socket(k)
    k.ifconfig("em0", up=True)
    settle(k)
    msgs = drain(r)
    assert types(msgs) == [RTM_NEWADDR, RTM_ADD, RTM_IFINFO]
    newaddr_expect(k, "em0", EM0_MAC, "192.0.2.1", "255.255.255.0", "192.0.2.255", 0).check(
        msgs[0], "RTM_NEWADDR"
    )
    prefix_route_expect(k, RTM_ADD, "em0", "192.0.2.0", "255.255.255.0", RTF_UP).check(
        msgs[1], "RTM_ADD"
    )
    # em_stop cleared IFF_DRV_RUNNING on the way down; if_up's message goes
    # out before em_init sets it again.
    check_ifinfo(k, msgs[2], "em0", EM0_FLAGS)
    assert k.iface("em0").flags & IFF_DRV_RUNNING == IFF_DRV_RUNNING


def test_new_interface_announced(k):
    """Creating em2 runs if_attach -> if_attach_internal, which ends with
    rt_ifannouncemsg(IFAN_ARRIVAL) (IF 703-704; RTS 1393-1412, 1458-1467):
    struct if_announcemsghdr (24 bytes) with the index, the name and
    ifan_what 0, before anything about its address. The address then
    brings RTM_NEWADDR before RTM_ADD."""
    r = route_socket(k)
    k.ifconfig("em2", "203.0.113.1/24", ether="02:00:00:00:02:01")
    settle(k)
    msgs = drain(r)
    o = order(k)
    want = (
        struct.pack(o + "HBBH", IFAN_MSGHDR_LEN, RTM_VERSION, RTM_IFANNOUNCE, k.iface("em2").index)
        + b"em2".ljust(16, b"\x00")
        + struct.pack(o + "H", 0)
    )
    assert msgs and msgs[0] == want
    assert [t for t in types(msgs) if t in (RTM_NEWADDR, RTM_ADD)] == [RTM_NEWADDR, RTM_ADD]


# --------------------------------------------------------------------------
# Which sockets get what


def test_protocol_filter(k):
    """RAWU raw_input_ext 88-93: a socket opened with protocol p != 0 only
    gets messages tagged p. rt_dispatch (RTS 1469-1497) tags a message with
    the family of its address (rt_newaddrmsg: the ifa or route key,
    AF_INET); RTM_IFINFO is sent untagged (RTS 1269), protocol 0, so only
    protocol-0 sockets get it."""
    all_ = route_socket(k, 0)
    inet = route_socket(k, AF_INET)
    inet6 = route_socket(k, AF_INET6)
    k.ifconfig("em0", down=True)
    k.ifconfig("em0", up=True)
    settle(k)
    assert types(drain(all_)) == [
        RTM_DELETE,
        RTM_DELADDR,
        RTM_IFINFO,
        RTM_NEWADDR,
        RTM_ADD,
        RTM_IFINFO,
    ]
    assert types(drain(inet)) == [RTM_DELETE, RTM_DELADDR, RTM_NEWADDR, RTM_ADD]
    assert drain(inet6) == []


def test_every_socket_gets_a_copy(k):
    """RAWU raw_input_ext 88-117: each matching socket gets its own copy."""
    a = route_socket(k)
    b = route_socket(k, uid=1000)
    raw_send_unreachable(k)
    settle(k)
    ma, mb = drain(a), drain(b)
    assert types(ma) == types(mb) == [RTM_MISS]
    assert ma == mb


def test_classic_jail_socket_sees_host_messages(k):
    """A classic jail shares vnet0's rawcb_list; raw_input_ext (RAWU 78-119)
    does not look at credentials: its routing socket gets the host's
    messages (here the RTM_MISS of a host raw socket's failed send)."""
    j = k.jail("j1", ip4=["192.0.2.1"])
    rj = j.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    r = route_socket(k)
    raw_send_unreachable(k)
    settle(k)
    host = drain(r)
    assert types(host) == [RTM_MISS]
    assert drain(rj) == host


def test_vnet_jail_is_separate(k):
    """V_rawcb_list is per vnet (raw_cb.c 61); rt_dispatch queues the
    message with the sending vnet's loopback as rcvif (RTS 1489-1496), so
    rts_input runs in that vnet. A vnet jail's socket hears its own stack
    only, and the host's only the host's: a failed raw send in each stack
    (no route at all in the new stack) reports to that stack alone."""
    v = k.jail("v1", vnet=True)
    rv = v.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    r = route_socket(k)
    raw_send_unreachable(k)
    settle(k)
    assert types(drain(r)) == [RTM_MISS]
    assert drain(rv) == []
    vr = v.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    assert oserr(vr.sendto, b"raw", ("198.51.100.9", 0)) == errno.EHOSTUNREACH
    settle(k)
    (m,) = drain(rv)
    miss_expect(k, "198.51.100.9").check(m, "RTM_MISS")
    assert drain(r) == []


# --------------------------------------------------------------------------
# Route changes made with the route API (route(8) writes to a routing socket)


def test_route_add_is_reported(k):
    """route add 203.0.113.0/24 192.0.2.254 writes RTM_ADD; route_output
    (RTS 659-680) adds it and sets rtm_index, then (916-961) marks it
    RTF_DONE and sends it to every routing socket. The header flags are
    route(8)'s UGS plus DONE; the destination and gateway are the
    sockaddr_in route(8) wrote. route(8)'s pid, seq and mask encoding are
    not the kernel's: don't care."""
    r = route_socket(k)
    k.route_add("203.0.113.0/24", "192.0.2.254")
    settle(k)
    (m,) = drain(r)
    assert (m[2], m[3]) == (RTM_VERSION, RTM_ADD)
    assert hdr_field(k, m, "flags") == RTF_UP | RTF_GATEWAY | RTF_STATIC | RTF_DONE
    assert hdr_field(k, m, "index") == k.iface("em0").index
    assert hdr_field(k, m, "errno") == 0
    assert hdr_field(k, m, "addrs") == RTA_DST | RTA_GATEWAY | RTA_NETMASK
    assert m[RT_MSGHDR_LEN : RT_MSGHDR_LEN + 32] == sin("203.0.113.0") + sin("192.0.2.254")


def test_route_add_existing_is_reported_with_errno(k):
    """The second identical route add: rtrequest1_fib fails with EEXIST (RT
    1284-1299); route_output still sends the message, with rtm_errno EEXIST
    (17) and without RTF_DONE (RTS 916-921)."""
    k.route_add("203.0.113.0/24", "192.0.2.254")
    settle(k)
    r = route_socket(k)
    assert oserr(k.route_add, "203.0.113.0/24", "192.0.2.254") == errno.EEXIST
    settle(k)
    (m,) = drain(r)
    assert m[3] == RTM_ADD
    assert hdr_field(k, m, "errno") == 17
    assert hdr_field(k, m, "flags") & RTF_DONE == 0


def test_route_delete_is_reported(k):
    """route delete 203.0.113.0/24: route_output RTM_DELETE (RTS 682-698) goes
    to report (788-839), which rewrites the message from the removed route:
    DST, GATEWAY, NETMASK of the route, rtm_flags = its flags (RTF_UP cleared
    by rtrequest1_fib, RT 1127) | RTF_DONE, rtm_index, metrics (mtu 1500
    from in_addroute, weight 1 from RT 1214). route(8)'s pid, seq, fmask
    and inits are named don't-care."""
    k.route_add("203.0.113.0/24", "192.0.2.254")
    settle(k)
    r = route_socket(k)
    k.route_delete("203.0.113.0/24")
    settle(k)
    (m,) = drain(r)
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 16 + 8,
        type=2,
        index=k.iface("em0").index,
        flags=RTF_GATEWAY | RTF_STATIC | RTF_DONE,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
        pid=None,
        seq=None,
        rmx={"rmx_mtu": 1500, "rmx_weight": 1},
    )
    e.fields = [
        (n, off, size, dc or n in ("rtm_fmask", "rtm_inits")) for n, off, size, dc in e.fields
    ]
    add_sa(e, "dst", sin("203.0.113.0"))
    add_sa(e, "gateway", sin("192.0.2.254"))
    add_sa(e, "netmask", rn_mask("255.255.255.0"))
    e.check(m, "RTM_DELETE")


# --------------------------------------------------------------------------
# RTM_MISS


def test_miss_on_raw_send_without_route(k):
    """rip_output -> ip_output (ip_output.c 271-296): in_rtalloc_ign ->
    rtalloc_ign_fib -> rtalloc1_fib with report = 1 (RT 325-337): the lookup
    fails, rts_unreach, rt_missmsg (RT 406-418): one RTM_MISS whose DST is
    ip_output's sockaddr_in for the destination; ip_output counts
    ips_noroute and returns EHOSTUNREACH."""
    r = route_socket(k)
    before = k.netstat("ip")["ips_noroute"]
    _, err = raw_send_unreachable(k, "203.0.113.9")
    assert err == errno.EHOSTUNREACH
    assert k.netstat("ip")["ips_noroute"] - before == 1
    settle(k)
    (m,) = drain(r)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")


def test_miss_on_unbound_udp_send(k):
    """An unbound UDP socket: udp_output -> in_pcbconnect_setup ->
    in_pcbladdr (PCB 702-736) looks the destination up with report = 1
    (716): RTM_MISS; no interface address either, so ENETUNREACH before
    ip_output (no ips_noroute)."""
    r = route_socket(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    before = k.netstat("ip")["ips_noroute"]
    assert oserr(s.sendto, b"x", ("203.0.113.9", 53)) == errno.ENETUNREACH
    assert k.netstat("ip")["ips_noroute"] == before
    settle(k)
    (m,) = drain(r)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")


def test_miss_on_bound_udp_send(k):
    """A UDP socket bound to 192.0.2.1: in_pcbconnect_setup skips in_pcbladdr
    (the local address is set), so the lookup that fails is ip_output's:
    RTM_MISS, ips_noroute, EHOSTUNREACH."""
    r = route_socket(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("192.0.2.1", 7000))
    before = k.netstat("ip")["ips_noroute"]
    assert oserr(s.sendto, b"x", ("203.0.113.9", 53)) == errno.EHOSTUNREACH
    assert k.netstat("ip")["ips_noroute"] - before == 1
    settle(k)
    (m,) = drain(r)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")


def test_miss_on_udp_connect(k):
    """udp_connect -> in_pcbconnect -> in_pcbladdr (PCB 716): RTM_MISS and
    ENETUNREACH."""
    r = route_socket(k)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    assert oserr(s.connect, ("203.0.113.9", 53)) == errno.ENETUNREACH
    settle(k)
    (m,) = drain(r)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")


def test_no_miss_with_a_route(k):
    """A destination on a connected network: every lookup succeeds, nothing
    is reported (RT 389-396)."""
    r = route_socket(k)
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    s.sendto(b"raw", ("192.0.2.7", 0))
    u = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    u.sendto(b"x", ("198.51.100.7", 53))
    settle(k)
    assert drain(r) == []


def test_miss_on_forwarding_without_route(k):
    """ip_forward (ip_input.c 1391) -> ip_rtaddr (1318-1339) -> in_rtalloc_ign
    with report = 1: one RTM_MISS for the destination; ip_forward answers
    with ICMP host unreachable (1398-1401), whose route back to 192.0.2.7
    exists."""
    k.sysctl("net.inet.ip.forwarding", 1)
    r = route_socket(k)
    f = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src="192.0.2.7", dst="203.0.113.9", ttl=64)
        / UDP(sport=40000, dport=53)
        / b"data"
    )
    k.input("em0", bytes(f))
    settle(k)
    (m,) = drain(r)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")


def test_no_miss_when_forwarding_over_a_route(k):
    """ip_forward over a valid route (ip_rtaddr and ip_output both find the
    em1 prefix): no RTM_MISS (the rtm_miss_per_forward=False side)."""
    k.sysctl("net.inet.ip.forwarding", 1)
    r = route_socket(k)
    f = (
        Ether(src=PEER_MAC, dst=EM0_MAC)
        / IP(src="192.0.2.7", dst="198.51.100.7", ttl=64)
        / UDP(sport=40000, dport=53)
        / b"data"
    )
    k.input("em0", bytes(f))
    settle(k)
    assert len(k.transmitted("em1")) == 1
    assert drain(r) == []


# --------------------------------------------------------------------------
# RTM_REDIRECT


def redirect_host():
    k = make_host(default_route=True)
    return k


def test_redirect_accepted():
    """ICMP redirect from the current router 192.0.2.254 for 203.0.113.9 to
    192.0.2.7: ICMP icmp_input 574-632 (forwarding off, drop_redirect 0,
    code 1) -> in_rtredirect -> rtredirect_fib (RT 524-646): the gateway is
    on em0, the current route is the default via the sender, its mask has
    sa_len < 2, so a host route UGHD is created (582-605) and flags become
    its rt_flags; rt_missmsg_fib(RTM_REDIRECT) (638-643): DST, GATEWAY and
    AUTHOR (the redirect's sender), rtm_flags RTF_DONE | UGHD, errno 0."""
    k = redirect_host()
    r = route_socket(k)
    f = icmp_redirect(k, router="192.0.2.254", router_mac=GW_MAC, dst="203.0.113.9", gw="192.0.2.7")
    k.input("em0", f)
    settle(k)
    (m,) = drain(r)
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 48,
        type=RTM_REDIRECT,
        flags=RTF_DONE | RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC,
        addrs=RTA_DST | RTA_GATEWAY | RTA_AUTHOR,
    )
    add_sa(e, "dst", sin("203.0.113.9"))
    add_sa(e, "gateway", sin("192.0.2.7"))
    add_sa(e, "author", sin("192.0.2.254"))
    e.check(m, "RTM_REDIRECT")
    assert k.route_get("203.0.113.9").gateway == "192.0.2.7"


def test_redirect_rejected_is_reported():
    """A redirect from 192.0.2.7, which is not the gateway of the route to
    203.0.113.9: rtredirect_fib 557-563 sets EINVAL; the message is still
    sent (RT 633-643) with rtm_errno EINVAL (22) and the flags icmp_input
    passed (RTF_GATEWAY | RTF_HOST) | RTF_DONE; the route is unchanged."""
    k = redirect_host()
    r = route_socket(k)
    f = icmp_redirect(k, router="192.0.2.7", router_mac=PEER_MAC, dst="203.0.113.9", gw="192.0.2.8")
    k.input("em0", f)
    settle(k)
    (m,) = drain(r)
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 48,
        type=RTM_REDIRECT,
        flags=RTF_DONE | RTF_GATEWAY | RTF_HOST,
        addrs=RTA_DST | RTA_GATEWAY | RTA_AUTHOR,
        errno_=F_EINVAL,
    )
    add_sa(e, "dst", sin("203.0.113.9"))
    add_sa(e, "gateway", sin("192.0.2.8"))
    add_sa(e, "author", sin("192.0.2.7"))
    e.check(m, "RTM_REDIRECT")
    assert k.route_get("203.0.113.9").gateway == "192.0.2.254"


@pytest.mark.parametrize("sysctl", ["net.inet.ip.forwarding", "net.inet.icmp.drop_redirect"])
def test_redirect_ignored_sends_nothing(sysctl):
    """ICMP 594-595: a router (forwarding on) or drop_redirect ignores
    redirects before rtredirect: no RTM_REDIRECT."""
    k = redirect_host()
    k.sysctl(sysctl, 1)
    r = route_socket(k)
    f = icmp_redirect(k, router="192.0.2.254", router_mac=GW_MAC, dst="203.0.113.9", gw="192.0.2.7")
    k.input("em0", f)
    settle(k)
    assert drain(r) == []


def test_ifp_sockaddr_layout(k):
    """The IFP address of RTM_NEWADDR is the interface's link-level address
    (RTS 1312; IF if_attach_internal 645-669: sdl_len 56, AF_LINK, index,
    IFT_ETHER, nlen 3, alen 6, "em0" then the MAC)."""
    r = route_socket(k)
    k.ifconfig("em0", "203.0.113.1/24", alias=True)
    settle(k)
    m = [x for x in drain(r) if x[3] == RTM_NEWADDR][0]
    ifp = sockaddrs(m, IFA_MSGHDR_LEN, struct.unpack_from(order(k) + "i", m, 4)[0])[RTA_IFP]
    assert ifp == sdl_ifp(k, "em0", EM0_MAC)
    assert ifp[:8] == bytes((56, 18)) + struct.pack(order(k) + "H", 2) + bytes((6, 3, 6, 0))


def test_messages_not_filtered_by_fib():
    """9.0's rt_missmsg (route.c of February 2011, 394; rtsock.c rt_dispatch
    with a sockaddr) carries no FIB, and raw_input hands every message to
    every routing socket of the protocol: a socket made under setfib 1 gets
    the RTM_MISS of a FIB 0 lookup. (9.1 filters by FIB, RTS 233-256 and
    1226-1231, from a change made after 9.0.)"""
    k = make_host(fibs=2)
    k.setfib(1)
    r1 = route_socket(k)
    k.setfib(0)
    raw_send_unreachable(k)
    settle(k)
    (m,) = drain(r1)
    miss_expect(k, "203.0.113.9").check(m, "RTM_MISS")
