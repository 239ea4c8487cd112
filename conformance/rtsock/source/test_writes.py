"""Messages written to a routing socket (route_output), from the 9.1 source.

RTS = sys/net/rtsock.c (route_output 565-969), RT = sys/net/route.c,
RAWU = sys/net/raw_usrreq.c. The kernel's errno values inside messages are
FreeBSD's numbers (sys/errno.h): EPERM 1, ESRCH 3, EEXIST 17, EINVAL 22,
EPROTONOSUPPORT 43, EOPNOTSUPP 45, ENETUNREACH 51.
"""

import pytest

from .common import (
    AF_INET,
    EM1_MAC,
    RT_MSGHDR_LEN,
    RTA_DST,
    RTA_GATEWAY,
    RTA_IFA,
    RTA_IFP,
    RTA_NETMASK,
    RTF_DONE,
    RTF_GATEWAY,
    RTF_STATIC,
    RTF_UP,
    RTM_ADD,
    RTM_CHANGE,
    RTM_DELETE,
    RTM_GET,
    RTM_LOCK,
    RTM_MISS,
    RTV_MTU,
    Expect,
    add_link_gateway,
    add_sa,
    drain,
    errno,
    hdr_field,
    kpid,
    make_host,
    rn_mask,
    route_socket,
    rt_header,
    rtmsg,
    sdl_ifp,
    settle,
    sin,
    sock,
    types,
    with_fields,
)

F_EPERM = 1
F_ESRCH = 3
F_EEXIST = 17
F_EINVAL = 22
F_EPROTONOSUPPORT = 43
F_EOPNOTSUPP = 45
F_ENETUNREACH = 51

UGS = RTF_UP | RTF_GATEWAY | RTF_STATIC
MASK24 = sin("255.255.255.0")


def get_msg(k, dst, seq=0, addrs=()):
    return rtmsg(k, RTM_GET, [(RTA_DST, sin(dst)), *addrs], seq=seq)


def add_msg(k, dst="203.0.113.0", gw="192.0.2.254", mask=MASK24, seq=0, **kw):
    sas = [(RTA_DST, sin(dst)), (RTA_GATEWAY, sin(gw))]
    if mask is not None:
        sas.append((RTA_NETMASK, mask))
    return rtmsg(k, RTM_ADD, sas, flags=kw.pop("flags", UGS), seq=seq, **kw)


def del_msg(k, dst="203.0.113.0", mask=MASK24, seq=0):
    sas = [(RTA_DST, sin(dst))]
    if mask is not None:
        sas.append((RTA_NETMASK, mask))
    return rtmsg(k, RTM_DELETE, sas, flags=UGS, seq=seq)


def change_msg(k, dst="203.0.113.0", gw="198.51.100.254", mask=MASK24, seq=0):
    sas = [(RTA_DST, sin(dst)), (RTA_GATEWAY, sin(gw))]
    if mask is not None:
        sas.append((RTA_NETMASK, mask))
    return rtmsg(k, RTM_CHANGE, sas, flags=UGS, seq=seq)


def rts_write(s, msg):
    """write(2) of one message; the errno, 0 on success (and then the whole
    message was taken)."""
    try:
        n = s.send(msg)
    except OSError as e:
        return e.errno
    assert n == len(msg)
    return 0


def prefix_reply(k, ifname, prefix, seq, index=None, pid=True, extra=()):
    """route_output's RTM_GET report (RTS 788-839) for an interface route:
    DST (rt_key), GATEWAY (the AF_LINK sockaddr), NETMASK (radix mask),
    rtm_flags = rt_flags (RTF_UP) | RTF_DONE (921), rtm_index (816/822),
    rtm_pid = the writer's (599), rtm_seq as written, metrics from
    rt_getmetrics (989-999): mtu from in_addroute (the interface's 1500),
    weight 1 (RT 1214)."""
    e = Expect()
    addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK
    extra_len = 0
    for bit, sa in extra:
        addrs |= bit
        extra_len += len(sa)
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 56 + 8 + extra_len,
        type=RTM_GET,
        index=k.iface(ifname).index if index is None else index,
        flags=RTF_UP | RTF_DONE,
        addrs=addrs,
        pid=kpid(k) if pid else None,
        seq=seq,
        rmx={"rmx_mtu": 1500, "rmx_weight": 1},
    )
    add_sa(e, "dst", sin(prefix))
    add_link_gateway(k, e, k.iface(ifname).index)
    add_sa(e, "netmask", rn_mask("255.255.255.0"))
    for bit, sa in extra:
        add_sa(e, {RTA_IFP: "ifp", RTA_IFA: "ifa"}[bit], sa)
    return e


# --------------------------------------------------------------------------
# RTM_GET


def test_get_connected_route(k):
    """RTM_GET 198.51.100.7: rnh_lookup without a mask (RTS 703-713) finds
    em1's prefix route; the reply is rewritten by rt_msg2 (1113-1204) into a
    longer message (824-834) and copied back (941-946); it goes to every
    routing socket, the writer included (SO_USELOOPBACK, 343, 930)."""
    s = route_socket(k)
    msg = get_msg(k, "198.51.100.7", seq=42)
    assert rts_write(s, msg) == 0
    settle(k)
    (m,) = drain(s)
    prefix_reply(k, "em1", "198.51.100.0", 42).check(m, "RTM_GET reply")


def test_get_with_ifp_and_ifa(k):
    """With RTA_IFP in rtm_addrs the report adds IFP (the interface's link
    address, RTS 803-806) and IFA (rt_ifa's address, rtm_get_jailed 464-466
    for an unjailed writer): addrs DST|GATEWAY|NETMASK|IFP|IFA."""
    s = route_socket(k)
    msg = get_msg(k, "198.51.100.7", seq=5, addrs=[(RTA_IFP, bytes((8, 18)) + bytes(6))])
    assert rts_write(s, msg) == 0
    settle(k)
    (m,) = drain(s)
    extra = [(RTA_IFP, sdl_ifp(k, "em1", EM1_MAC)), (RTA_IFA, sin("198.51.100.1"))]
    prefix_reply(k, "em1", "198.51.100.0", 5, extra=extra).check(m, "RTM_GET reply")


def test_get_needs_no_privilege(k):
    """RTS 613-621: RTM_GET is the one request an unprivileged writer may
    make; the reply carries the same process id (599)."""
    s = route_socket(k, uid=1000)
    assert rts_write(s, get_msg(k, "198.51.100.7", seq=1)) == 0
    settle(k)
    (m,) = drain(s)
    prefix_reply(k, "em1", "198.51.100.0", 1).check(m, "RTM_GET reply")


def test_get_no_route_esrch(k):
    """No route to 203.0.113.9 (no default): RTS 710-713 -> ESRCH; the
    message is still sent back (916-961) with rtm_errno ESRCH and pid set,
    nothing else changed, and write(2) fails with ESRCH. rnh_lookup is not
    rtalloc1: no RTM_MISS."""
    s = route_socket(k)
    msg = get_msg(k, "203.0.113.9", seq=3)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_ESRCH)]


def test_reply_reaches_inet_listener(k):
    """rt_dispatch tags the reply with the family of its destination (RTS
    612, 958-961; in 9.0, info.rti_info[RTAX_DST]): a socket opened with
    protocol AF_INET gets it; one with AF_INET6 does not."""
    s = route_socket(k)
    inet = route_socket(k, AF_INET)
    inet6 = route_socket(k, 28)
    assert rts_write(s, get_msg(k, "198.51.100.7", seq=9)) == 0
    settle(k)
    (m,) = drain(s)
    assert drain(inet) == [m]
    assert drain(inet6) == []


# --------------------------------------------------------------------------
# RTM_ADD


def test_add_route(k):
    """RTM_ADD 203.0.113.0/24 via 192.0.2.254 with rtm_inits RTV_MTU, mtu
    1400: the gateway lookup (RTS 631-654) finds em0's prefix (no miss);
    rtrequest1_fib (670) adds the route (rt_flags RTF_UP | the message's
    flags, RT 1180); rt_setmetrics (674-675, 971-987) stores the MTU;
    rtm_index = em0 (676). The reply is the message as written with pid,
    index and RTF_DONE (921)."""
    s = route_socket(k)
    msg = add_msg(k, seq=7, inits=RTV_MTU, rmx={"rmx_mtu": 1400})
    assert rts_write(s, msg) == 0
    settle(k)
    assert drain(s) == [
        with_fields(k, msg, pid=kpid(k), index=k.iface("em0").index, flags=UGS | RTF_DONE)
    ]
    rt = k.route_get("203.0.113.9")
    assert (rt.gateway, rt.ifname, rt.mtu) == ("192.0.2.254", "em0", 1400)


def test_add_then_get(k):
    """The route made by RTM_ADD, read back with RTM_GET: its key (masked by
    rt_maskedcopy, RT 1202-1205), the gateway as written, the radix mask,
    rt_flags UGS | DONE, mtu 1500 (in_addroute), weight 1."""
    s = route_socket(k)
    assert rts_write(s, add_msg(k)) == 0
    assert rts_write(s, get_msg(k, "203.0.113.9", seq=11)) == 0
    settle(k)
    m = drain(s)[-1]
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 16 + 8,
        type=RTM_GET,
        index=k.iface("em0").index,
        flags=UGS | RTF_DONE,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
        pid=kpid(k),
        seq=11,
        rmx={"rmx_mtu": 1500, "rmx_weight": 1},
    )
    add_sa(e, "dst", sin("203.0.113.0"))
    add_sa(e, "gateway", sin("192.0.2.254"))
    add_sa(e, "netmask", rn_mask("255.255.255.0"))
    e.check(m, "RTM_GET reply")


def test_add_existing_eexist(k):
    """The same prefix twice: rn_addroute refuses the duplicate, EEXIST (RT
    1284-1299); the reply has rtm_errno 17, no RTF_DONE, no index."""
    s = route_socket(k)
    msg = add_msg(k, seq=1)
    assert rts_write(s, msg) == 0
    assert rts_write(s, msg) == errno.EEXIST
    settle(k)
    replies = drain(s)
    assert replies[1] == with_fields(k, msg, pid=kpid(k), errno=F_EEXIST)


@pytest.mark.parametrize(
    "make",
    [add_msg, del_msg, change_msg],
    ids=["add", "delete", "change"],
)
def test_changes_need_privilege(k, make):
    """RTS 617-621: any request but RTM_GET needs PRIV_NET_ROUTE; uid 1000
    gets EPERM; the reply carries rtm_errno 1 and the pid (set at 599,
    before the check) and nothing changes."""
    k.route_add("203.0.113.0/24", "192.0.2.254")
    settle(k)
    s = route_socket(k, uid=1000)
    msg = make(k, seq=4)
    assert rts_write(s, msg) == errno.EPERM
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_EPERM)]
    rt = k.route_get("203.0.113.9")
    assert (rt.gateway, rt.ifname) == ("192.0.2.254", "em0")


def test_add_in_classic_jail_eperm(k):
    """priv_check(PRIV_NET_ROUTE) for jailed root: kern_jail.c
    prison_priv_check does not list it, so EPERM (RTS 617-621)."""
    j = k.jail("j1", ip4=["192.0.2.1"])
    s = j.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    msg = add_msg(k)
    assert rts_write(s, msg) == errno.EPERM
    settle(k)
    (m,) = drain(s)
    assert hdr_field(k, m, "errno") == F_EPERM
    assert k.route_get("203.0.113.9") is None


def test_add_unreachable_gateway(k):
    """Gateway 10.9.9.9 on no connected network and no default: route_output
    looks the gateway up with rtalloc_ign_fib, report = 1 (RTS 631-637): an
    RTM_MISS for the gateway sockaddr as written; rtrequest1_fib ->
    rt_getifa_fib -> ifa_ifwithroute_fib finds nothing (RT 687-758,
    818-859): ENETUNREACH, reply with rtm_errno 51 after the miss."""
    s = route_socket(k)
    msg = add_msg(k, gw="10.9.9.9", seq=2)
    assert rts_write(s, msg) == errno.ENETUNREACH
    settle(k)
    msgs = drain(s)
    assert types(msgs) == [RTM_MISS, RTM_ADD]
    e = Expect()
    rt_header(k, e, msglen=RT_MSGHDR_LEN + 16, type=RTM_MISS, flags=RTF_DONE, addrs=RTA_DST)
    add_sa(e, "dst", sin("10.9.9.9"))
    e.check(msgs[0], "RTM_MISS")
    assert msgs[1] == with_fields(k, msg, pid=kpid(k), errno=F_ENETUNREACH)


def test_add_without_gateway_einval(k):
    """RTS 659-661: RTM_ADD without RTA_GATEWAY is EINVAL."""
    s = route_socket(k)
    msg = rtmsg(k, RTM_ADD, [(RTA_DST, sin("203.0.113.0")), (RTA_NETMASK, MASK24)], flags=UGS)
    assert rts_write(s, msg) == errno.EINVAL
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_EINVAL)]


# --------------------------------------------------------------------------
# RTM_DELETE


def test_delete_route(k):
    """RTM_DELETE 203.0.113.0/24: rtrequest1_fib removes it and clears RTF_UP
    (RT 1119-1152); route_output goes to report (RTS 691-697, 788-839): the
    reply describes the removed route, rtm_flags = GATEWAY | STATIC | DONE,
    mtu 1500, weight 1, index em0, pid and seq of the writer."""
    s = route_socket(k)
    assert rts_write(s, add_msg(k)) == 0
    settle(k)
    drain(s)
    assert rts_write(s, del_msg(k, seq=8)) == 0
    settle(k)
    (m,) = drain(s)
    e = Expect()
    rt_header(
        k,
        e,
        msglen=RT_MSGHDR_LEN + 16 + 16 + 8,
        type=RTM_DELETE,
        index=k.iface("em0").index,
        flags=RTF_GATEWAY | RTF_STATIC | RTF_DONE,
        addrs=RTA_DST | RTA_GATEWAY | RTA_NETMASK,
        pid=kpid(k),
        seq=8,
        rmx={"rmx_mtu": 1500, "rmx_weight": 1},
    )
    add_sa(e, "dst", sin("203.0.113.0"))
    add_sa(e, "gateway", sin("192.0.2.254"))
    add_sa(e, "netmask", rn_mask("255.255.255.0"))
    e.check(m, "RTM_DELETE reply")
    assert k.route_get("203.0.113.9") is None


def test_delete_missing_esrch(k):
    """RT 1119-1121: nothing to delete, ESRCH; the reply has rtm_errno 3."""
    s = route_socket(k)
    msg = del_msg(k, seq=6)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_ESRCH)]


# --------------------------------------------------------------------------
# RTM_CHANGE and RTM_LOCK


def test_change_gateway(k):
    """RTM_CHANGE 203.0.113.0/24 to 198.51.100.254: exact lookup with the mask
    (RTS 703-713, 780-784); the route has RTF_GATEWAY and a gateway is given,
    so rt_getifa_fib picks em1's address (847-867); rt_setgate (876-889),
    rt_ifa/rt_ifp moved (890-895), RTF_FMASK flags from the message (897-898),
    rtm_index = em1 (901). The reply is the message with pid, index, DONE;
    RTM_GET then shows the new gateway on em1."""
    s = route_socket(k)
    assert rts_write(s, add_msg(k)) == 0
    settle(k)
    drain(s)
    msg = change_msg(k, seq=12)
    assert rts_write(s, msg) == 0
    settle(k)
    assert drain(s) == [
        with_fields(k, msg, pid=kpid(k), index=k.iface("em1").index, flags=UGS | RTF_DONE)
    ]
    rt = k.route_get("203.0.113.9")
    assert (rt.gateway, rt.ifname) == ("198.51.100.254", "em1")
    assert rts_write(s, get_msg(k, "203.0.113.9", seq=13)) == 0
    settle(k)
    (m,) = drain(s)
    assert hdr_field(k, m, "index") == k.iface("em1").index
    assert hdr_field(k, m, "flags") == UGS | RTF_DONE
    assert m[RT_MSGHDR_LEN + 16 : RT_MSGHDR_LEN + 32] == sin("198.51.100.254")


def test_change_missing_esrch(k):
    """RTS 708-713: no route with that key and mask, ESRCH."""
    s = route_socket(k)
    msg = change_msg(k, seq=14)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_ESRCH)]


def test_change_without_mask_on_a_network_route_esrch(k):
    """RTS 767-784 (PR 82974): RTM_CHANGE needs the same kind of match: a
    network route looked up without a netmask is refused with ESRCH and
    left alone."""
    s = route_socket(k)
    assert rts_write(s, add_msg(k)) == 0
    settle(k)
    drain(s)
    msg = change_msg(k, mask=None, seq=15)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_ESRCH)]
    assert k.route_get("203.0.113.9").gateway == "192.0.2.254"


def test_lock_is_accepted_and_ignored(k):
    """RTS 700-765, 905-907: RTM_LOCK finds the route and does nothing ("We
    don't support locks anymore"); the reply gets RTF_DONE, index untouched."""
    s = route_socket(k)
    msg = rtmsg(k, RTM_LOCK, [(RTA_DST, sin("198.51.100.0")), (RTA_NETMASK, MASK24)], seq=16)
    assert rts_write(s, msg) == 0
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), flags=RTF_DONE)]


# --------------------------------------------------------------------------
# Malformed messages


def test_short_message_einval_echoed_raw(k):
    """RTS 584-588: a message shorter than struct rt_msghdr is EINVAL before
    it is copied (rtm stays NULL), so flush (916-961) sends the bytes as
    written, unchanged and untagged (no family): protocol-0 sockets get
    them, an AF_INET one does not."""
    s = route_socket(k)
    inet = route_socket(k, AF_INET)
    junk = bytes(range(16))
    assert rts_write(s, junk) == errno.EINVAL
    settle(k)
    assert drain(s) == [junk]
    assert drain(inet) == []


def test_length_mismatch_einval_echoed_raw(k):
    """RTS 584-588: rtm_msglen differs from the write's length: EINVAL, the
    bytes are sent back unchanged."""
    s = route_socket(k)
    msg = get_msg(k, "198.51.100.7")
    bad = with_fields(k, msg, msglen=len(msg) + 8)
    assert rts_write(s, bad) == errno.EINVAL
    settle(k)
    assert drain(s) == [bad]


def test_tiny_message_enobufs(k):
    """RTS 578-580: fewer than sizeof(long) bytes: m_pullup fails, ENOBUFS
    is returned before flush, nothing is sent to anyone."""
    s = route_socket(k)
    other = route_socket(k)
    assert rts_write(s, b"\x04\x00\x05\x04") == errno.ENOBUFS
    settle(k)
    assert drain(s) == [] and drain(other) == []


def test_bad_version(k):
    """RTS 595-598: rtm_version != 5 is EPROTONOSUPPORT, checked before
    rtm_pid is set (599): the reply has rtm_errno 43 and the pid field as
    written; it is untagged (no destination parsed yet)."""
    s = route_socket(k)
    inet = route_socket(k, AF_INET)
    msg = rtmsg(k, RTM_GET, [(RTA_DST, sin("198.51.100.7"))], version=4, pid=0)
    assert rts_write(s, msg) == errno.EPROTONOSUPPORT
    settle(k)
    assert drain(s) == [with_fields(k, msg, errno=F_EPROTONOSUPPORT)]
    assert drain(inet) == []


def test_no_destination_einval(k):
    """RTS 607-611: no RTA_DST: EINVAL, after rtm_pid was set; untagged."""
    s = route_socket(k)
    inet = route_socket(k, AF_INET)
    msg = rtmsg(k, RTM_GET, [])
    assert rts_write(s, msg) == errno.EINVAL
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_EINVAL)]
    assert drain(inet) == []


def test_address_overrun_einval(k):
    """rt_xaddrs (RTS 1007-1038): a sockaddr whose sa_len runs past the end
    of the message is EINVAL (1020-1021, then 602-605)."""
    s = route_socket(k)
    dst = bytes((32, AF_INET)) + bytes(14)
    msg = rtmsg(k, RTM_GET, [(RTA_DST, dst)])
    assert len(msg) == RT_MSGHDR_LEN + 16
    assert rts_write(s, msg) == errno.EINVAL
    settle(k)
    assert drain(s) == [with_fields(k, msg, pid=kpid(k), errno=F_EINVAL)]


def test_unknown_type_eopnotsupp(k):
    """RTS 912-913: a type route_output does not handle (RTM_MISS written by
    root) is EOPNOTSUPP; the destination is parsed, so the reply is tagged
    AF_INET and an AF_INET socket gets it too."""
    s = route_socket(k)
    inet = route_socket(k, AF_INET)
    msg = rtmsg(k, RTM_MISS, [(RTA_DST, sin("198.51.100.7"))])
    assert rts_write(s, msg) == errno.EOPNOTSUPP
    settle(k)
    want = with_fields(k, msg, pid=kpid(k), errno=F_EOPNOTSUPP)
    assert drain(s) == [want]
    assert drain(inet) == [want]


# --------------------------------------------------------------------------
# SO_USELOOPBACK


def test_no_loopback_when_alone(k):
    """RTS 930-936: without SO_USELOOPBACK and with no other routing socket
    (route_cb.any_count <= 1) nothing is sent, success or error; write(2)
    still reports the error."""
    s = route_socket(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_USELOOPBACK, 0)
    assert rts_write(s, get_msg(k, "198.51.100.7")) == 0
    msg = add_msg(k)
    assert rts_write(s, msg) == 0
    assert rts_write(s, msg) == errno.EEXIST
    settle(k)
    assert drain(s) == []


def test_no_loopback_others_still_hear(k):
    """RTS 937-961: with another routing socket open the reply is built and
    dispatched; the other socket gets it. (Whether the writer itself is
    skipped depends on when the netisr thread runs: rcb_proto.sp_family is
    zeroed only around the netisr_queue call, RTS 951-959; not asserted.)"""
    s = route_socket(k)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_USELOOPBACK, 0)
    other = route_socket(k)
    msg = get_msg(k, "203.0.113.9", seq=21)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    assert drain(other) == [with_fields(k, msg, pid=kpid(k), errno=F_ESRCH)]


def test_jail_get_of_network_route_esrch(k):
    """RTS 788-797: a network route is hidden from a classic jail
    (jailed_without_vnet): ESRCH, the reply carries rtm_errno 3."""
    j = k.jail("j1", ip4=["192.0.2.1"])
    s = j.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    msg = get_msg(k, "198.51.100.7", seq=17)
    assert rts_write(s, msg) == errno.ESRCH
    settle(k)
    (m,) = drain(s)
    assert hdr_field(k, m, "errno") == F_ESRCH
    assert hdr_field(k, m, "flags") & RTF_DONE == 0


def test_add_goes_to_the_socket_fib():
    """route_output passes so->so_fibnum to rtrequest1_fib (RTS 670-671);
    so_fibnum is the process FIB when the socket was made (SOCK socreate
    394-397, RTS rts_attach 319): a socket made under setfib 1 adds to FIB 1
    only."""
    k = make_host(fibs=2)
    k.setfib(1)
    s = route_socket(k)
    k.setfib(0)
    assert rts_write(s, add_msg(k)) == 0
    assert k.route_get("203.0.113.9", fib=0) is None
    assert k.route_get("203.0.113.9", fib=1).gateway == "192.0.2.254"
