"""Routing sockets (net/rtsock.c, net/raw_cb.c, net/raw_usrreq.c).

``socket(AF_ROUTE, SOCK_RAW, proto)`` gives a socket that receives the
kernel's routing messages and takes requests (RTM_GET, RTM_ADD,
RTM_DELETE, RTM_CHANGE) written to it. Messages have 9.0's amd64 layout:
struct rt_msghdr (152 bytes), ifa_msghdr (20) or if_msghdr (168), then the
sockaddrs named by the address bits, in RTA_* bit order, each padded to a
multiple of sizeof(long) (SA_SIZE).

Every message, a reply to a request included, goes through the routing
netisr queue (rt_dispatch queues it, it is never dispatched directly):
nothing reaches a socket until the kernel runs its queued work
(``k.advance(0)``). The queue is one for the whole machine, with room for
``net.route.netisr_maxqlen`` messages; a message arriving at a full queue
is dropped. When it runs, a message goes to every routing socket of the
vnet it was made in whose protocol is 0 or the message's address family;
a socket whose receive buffer (8192 bytes, net.raw.recvspace) lacks room
for it misses it, without any counter.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from kstack import sock as S
from kstack.errno_freebsd import to_freebsd
from kstack.kern.sysctl import CTLFLAG_RW, CTLFLAG_TUN, CTLTYPE_INT, CTLTYPE_ULONG, Ctx, Oid
from kstack.kern.uipc_socket import Sockbuf, Socket
from kstack.net.route import (
    RTF_BLACKHOLE,
    RTF_BROADCAST,
    RTF_DONE,
    RTF_GATEWAY,
    RTF_HOST,
    RTF_LOCAL,
    RTF_MULTICAST,
    RTF_REJECT,
    RTF_STATIC,
    RTF_UP,
    Rtentry,
)
from kstack.netinet.ip import in_multicast, prefix_mask
from kstack.sock import (  # the constants users see, one definition
    RTA_IFA,
    RTA_IFP,
    RTF_PROTO1,
    RTF_PROTO2,
    RTF_PROTO3,
    RTM_ADD,
    RTM_CHANGE,
    RTM_DELADDR,
    RTM_DELETE,
    RTM_GET,
    RTM_IFANNOUNCE,
    RTM_IFINFO,
    RTM_LOCK,
    RTM_MISS,
    RTM_NEWADDR,
    RTM_REDIRECT,
    RTM_VERSION,
    RTV_MTU,
    RTV_WEIGHT,
)

if TYPE_CHECKING:
    from kstack.kern.cred import Ucred
    from kstack.kern.kernel import Kernel
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.route import RouteTable
    from kstack.net.vnet import VNet


RTAX_MAX = 8


RTF_STICKY = 0x10000000
# The flags an RTM_CHANGE may set or clear.
RTF_FMASK = (
    RTF_PROTO1 | RTF_PROTO2 | RTF_PROTO3 | RTF_BLACKHOLE | RTF_REJECT | RTF_STATIC | RTF_STICKY
)

AF_MAX = 38
RAWSNDQ = 8192
RAWRCVQ = 8192
LINK_STATE_UP = 2

RT_MSGHDR_LEN = 152
IFA_MSGHDR_LEN = 20
IF_MSGHDR_LEN = 168
IF_DATA_LEN = 152
SOCKADDR_DL_LEN = 54

_ROUTE_SRC_LEN = 2  # the {2, PF_ROUTE} sockaddr every message is queued with

# struct rt_msghdr: msglen, version, type, index, (pad), flags, addrs, pid,
# seq, errno, fmask, inits, then struct rt_metrics (14 u_longs).
_RTM = {False: struct.Struct("<HBBH2xiiiiiiQ14Q"), True: struct.Struct(">HBBH2xiiiiiiQ14Q")}
_IFAM = {False: struct.Struct("<HBBiiH2xi"), True: struct.Struct(">HBBiiH2xi")}
# struct if_msghdr then struct if_data (8 bytes, 15 u_longs, epoch, timeval)
_IFM = {False: struct.Struct("<HBBiiH2x8B15Qqqq"), True: struct.Struct(">HBBiiH2x8B15Qqqq")}
_HDR = {False: struct.Struct("<HBB"), True: struct.Struct(">HBB")}
_U16 = {False: struct.Struct("<H"), True: struct.Struct(">H")}

# rt_metrics members in order
RMX_FIELDS = (
    "rmx_locks",
    "rmx_mtu",
    "rmx_hopcount",
    "rmx_expire",
    "rmx_recvpipe",
    "rmx_sendpipe",
    "rmx_ssthresh",
    "rmx_rtt",
    "rmx_rttvar",
    "rmx_pksent",
    "rmx_weight",
    "rmx_filler0",
    "rmx_filler1",
    "rmx_filler2",
)
IF_DATA_FIELDS = (
    "ifi_mtu",
    "ifi_metric",
    "ifi_baudrate",
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
)
RTA_NAMES = ("dst", "gateway", "netmask", "genmask", "ifp", "ifa", "author", "brd")


def sa_size(sa_len: int) -> int:
    """SA_SIZE: a sockaddr's room in a message, a multiple of 8 (an empty
    one still takes 8)."""
    return 8 if sa_len == 0 else 1 + ((sa_len - 1) | 7)


def _pad(sa: bytes) -> bytes:
    return sa + bytes(sa_size(sa[0] if sa else 0) - len(sa))


# -- sockaddrs as the kernel keeps them -------------------------------------------


def sa_in(addr: int) -> bytes:
    """A sockaddr_in (16 bytes, port 0)."""
    return bytes((16, S.AF_INET, 0, 0)) + addr.to_bytes(4, "big") + bytes(8)


def sa_mask(plen: int) -> bytes:
    """A netmask as the radix tree stores it (rn_addmask): its length byte
    counts up to the last non-zero byte, the family and port bytes are all
    ones, and the zero mask (a default route's) has length 0."""
    if plen == 0:
        return b""
    body = prefix_mask(plen).to_bytes(4, "big").rstrip(b"\0")
    return bytes((4 + len(body), 0xFF, 0xFF, 0xFF)) + body


def sa_dl(ifp: Ifnet, big: bool) -> bytes:
    """The interface's link-level address (if_addr): a sockaddr_dl holding
    the name and the hardware address, its length rounded up to 8 with
    sizeof(struct sockaddr_dl) as the least."""
    name = ifp.name.encode()
    alen = len(ifp.lladdr)
    n = max(8 + len(name) + alen, SOCKADDR_DL_LEN)
    n = (n + 7) & ~7
    head = bytes((n, S.AF_LINK)) + _U16[big].pack(ifp.index)
    head += bytes((ifp.type, len(name), alen, 0))
    return (head + name + ifp.lladdr).ljust(n, b"\0")


def sa_dl_gateway(ifp: Ifnet, big: bool) -> bytes:
    """The gateway of a route to an interface: an empty sockaddr_dl
    (54 bytes) with the interface's index and type filled in."""
    head = bytes((SOCKADDR_DL_LEN, S.AF_LINK)) + _U16[big].pack(ifp.index)
    return (head + bytes((ifp.type,))).ljust(SOCKADDR_DL_LEN, b"\0")


def _sa_addr(sa: bytes) -> int:
    """The IPv4 address in a sockaddr (missing bytes read as zero)."""
    return int.from_bytes(sa[4:8].ljust(4, b"\0"), "big")


def _mask_plen(sa: bytes) -> int | None:
    """A netmask sockaddr as a prefix length; None for a mask with holes."""
    m = _sa_addr(sa[: max(sa[0], 4)] if sa else b"")
    plen = 32 - (((~m) & 0xFFFFFFFF).bit_length())
    return plen if prefix_mask(plen) == m else None


# -- per-kernel state ------------------------------------------------------------


class RtsState:
    """What rtsock.c keeps for the whole machine: route_cb's count of open
    routing sockets (not per vnet in 9.0), the routing netisr queue, its
    limit and the messages it dropped; plus each vnet's raw control
    blocks (newest first, as raw_attach inserts them)."""

    __slots__ = ("any_count", "queue", "qlimit", "qdrops", "rawcb")

    def __init__(self) -> None:
        self.any_count = 0
        self.queue: deque[tuple[VNet, bytes, int, RouteSocket | None]] = deque()
        self.qlimit = 0  # set from net.isr.defaultqlimit at the first message
        self.qdrops = 0
        self.rawcb: dict[VNet, list[RouteSocket]] = {}


def _state(kernel: Kernel) -> RtsState:
    st: RtsState | None = getattr(kernel, "rts", None)
    if st is None:
        st = RtsState()
        kernel.rts = st
    return st


def _qlimit(kernel: Kernel, st: RtsState) -> int:
    if not st.qlimit:
        st.qlimit = int(kernel.sc.get("net.route.netisr_maxqlen", 0) or 0) or int(
            kernel.sc.get("net.isr.defaultqlimit", 256)
        )
    return st.qlimit


def rt_dispatch(vnet: VNet, msg: bytes, family: int, skip: RouteSocket | None = None) -> None:
    """Queue a message for the routing netisr (netisr_queue; a full queue
    drops it). ``family`` is the address family of the message's first
    address (0 for none), which protocol-filtered sockets match."""
    if getattr(vnet, "lo0", None) is None:
        # The message would be queued as received on the vnet's loopback
        # interface: while lo0 is being attached there is none (V_loif is
        # NULL) and the message is freed.
        return
    kernel = vnet.kernel
    st = _state(kernel)
    if len(st.queue) >= _qlimit(kernel, st):
        st.qdrops += 1
        return
    st.queue.append((vnet, msg, family, skip))


def rts_drain(kernel: Kernel) -> int:
    """The routing netisr: hand each queued message to the sockets of its
    vnet (rts_input, raw_input). Returns how many ran."""
    st = _state(kernel)
    n = 0
    q = st.queue
    while q:
        vnet, msg, family, skip = q.popleft()
        n += 1
        if vnet.destroyed:
            continue
        for so in st.rawcb.get(vnet, ()):
            if so is skip:
                continue
            if so.rts_proto and so.rts_proto != family:
                continue
            so.rts_append(msg)
    return n


def rts_pending(kernel: Kernel) -> int:
    st: RtsState | None = getattr(kernel, "rts", None)
    return len(st.queue) if st is not None else 0


# -- sysctls ---------------------------------------------------------------------


def _maxqlen_get(ctx: Ctx) -> int:
    return _qlimit(ctx.kernel, _state(ctx.kernel))


def _maxqlen_check(ctx: Ctx, value: Any) -> None:
    # netisr_setqlimit refuses more than net.isr.maxqlimit.
    if value < 1 or value > int(ctx.kernel.sc.get("net.isr.maxqlimit", 10240)):
        raise OSError(errno.EINVAL, "queue limit out of range")


def _maxqlen_set(ctx: Ctx, value: Any) -> None:
    _state(ctx.kernel).qlimit = int(value)


RTSOCK_OIDS = (
    Oid(
        "net.route.netisr_maxqlen",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW | CTLFLAG_TUN,
        "How many routing messages may wait for the routing netisr",
        check=_maxqlen_check,
        get=_maxqlen_get,
        set=_maxqlen_set,
    ),
    Oid(
        "net.raw.sendspace",
        CTLTYPE_ULONG,
        RAWSNDQ,
        CTLFLAG_RW,
        "Send buffer size of a new raw-protocol (routing) socket",
    ),
    Oid(
        "net.raw.recvspace",
        CTLTYPE_ULONG,
        RAWRCVQ,
        CTLFLAG_RW,
        "Receive buffer size of a new raw-protocol (routing) socket",
    ),
)


# -- the socket --------------------------------------------------------------------


class _RouteSockbuf(Sockbuf):
    """A routing socket's receive buffer: each record costs its message
    plus the 2-byte source address (sbappendaddr counts sa_len)."""

    __slots__ = ()

    def droprecord(self) -> None:
        _src, data, _control = self.records.popleft()
        self.cc -= _ROUTE_SRC_LEN + len(data)


class RouteSocket(Socket):
    """A PF_ROUTE socket (struct rawcb on a struct socket)."""

    def __init__(self, vnet: VNet, type_: int, proto: int, cred: Ucred) -> None:
        super().__init__(vnet, S.AF_ROUTE, type_, proto, cred, ROUTE_PROTO)
        self.so_rcv = _RouteSockbuf()
        self.rts_proto = proto  # rcb_proto.sp_protocol

    def __repr__(self) -> str:
        return f"<kstack routing socket {self.name or id(self)} proto {self.rts_proto}>"

    def rts_append(self, msg: bytes) -> None:
        """sbappendaddr of one message, or nothing when it does not fit."""
        rcv = self.so_rcv
        if self.closed or rcv.state & 0x0020:  # SBS_CANTRCVMORE
            return
        if _ROUTE_SRC_LEN + len(msg) > rcv.space():
            return
        rcv.records.append((("", 0), msg, []))
        rcv.cc += _ROUTE_SRC_LEN + len(msg)
        if rcv.readers is not None:
            rcv.readers.wakeup()  # sorwakeup

    def getsockname(self) -> tuple[str, int]:
        self._check()
        self._raise(errno.EINVAL, "getsockname")  # raw_usockaddr
        raise AssertionError  # pragma: no cover

    def getpeername(self) -> tuple[str, int]:
        self._check()
        self._raise(errno.ENOTCONN, "getpeername")  # raw_upeeraddr
        raise AssertionError  # pragma: no cover

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int] | None]:
        data, _anc, _fl, _src = self._soreceive(bufsize, 0, flags)
        return data, None


class _RouteProto:
    """The routing domain's one protocol switch entry (route_usrreqs)."""

    name = "route"
    sosend_dgram = False

    def attach(self, so: Socket, proto: int) -> int:
        return 0

    def detach(self, so: Socket) -> None:
        if not isinstance(so, RouteSocket):
            return
        st = _state(so.vnet.kernel)
        lst = st.rawcb.get(so.vnet)
        if lst is not None and so in lst:
            lst.remove(so)
            st.any_count -= 1

    def bind(self, so: Socket, sa: Any) -> int:
        return errno.EINVAL

    def connect(self, so: Socket, sa: Any) -> int:
        return errno.EINVAL

    def disconnect(self, so: Socket) -> int:
        return errno.ENOTCONN

    def send(self, so: Socket, data: bytes, sa: Any, control: list[Any]) -> int:
        if control:
            return errno.EOPNOTSUPP
        assert isinstance(so, RouteSocket)
        return route_output(so, data)

    def ctloutput(
        self, so: Socket, set_: bool, level: int, name: int, raw: bytes
    ) -> tuple[int, bytes]:
        if level == S.SOL_SOCKET:
            return 0, b""
        return errno.ENOPROTOOPT, b""


ROUTE_PROTO = _RouteProto()


def rts_socreate(vnet: VNet, type_: int, proto: int, cred: Ucred) -> Socket:
    """socket(PF_ROUTE, type, proto): the domain's only entry is SOCK_RAW
    with protocol 0, which pffindproto also hands out for any protocol
    with SOCK_RAW; any other type finds nothing (EPROTONOSUPPORT). Any
    user may open one, in any jail; it starts connected, with
    SO_USELOOPBACK set and net.raw.sendspace/recvspace buffers."""
    if type_ != S.SOCK_RAW:
        raise OSError(errno.EPROTONOSUPPORT, "the routing domain has only SOCK_RAW")
    so = RouteSocket(vnet, type_, proto, cred)
    kernel = vnet.kernel
    snd = int(kernel.sc.get("net.raw.sendspace", RAWSNDQ))
    rcv = int(kernel.sc.get("net.raw.recvspace", RAWRCVQ))
    err = so.soreserve(snd, rcv)
    if err:
        raise OSError(err, "socket: buffer space")
    so.pr_protocol = 0
    st = _state(kernel)
    st.rawcb.setdefault(vnet, []).insert(0, so)
    st.any_count += 1
    so.soisconnected()
    so.so_options |= S.SO_USELOOPBACK
    vnet.sockets[so] = None
    vnet.sockets_created += 1
    so.name = f"route socket {vnet.sockets_created}"
    return so


# -- building messages -------------------------------------------------------------


def _big(vnet: VNet) -> bool:
    return bool(vnet.kernel.big_endian)


def _addrs(info: list[bytes | None]) -> tuple[int, bytes]:
    bits = 0
    out = b""
    for i, sa in enumerate(info):
        if sa is None:
            continue
        bits |= 1 << i
        out += _pad(sa)
    return bits, out


def rt_msghdr(
    big: bool,
    mtype: int,
    addrs: int,
    body_len: int,
    *,
    index: int = 0,
    flags: int = 0,
    pid: int = 0,
    seq: int = 0,
    err: int = 0,
    fmask: int = 0,
    inits: int = 0,
    rmx: tuple[int, ...] = (0,) * 14,
) -> bytes:
    return _RTM[big].pack(
        RT_MSGHDR_LEN + body_len,
        RTM_VERSION,
        mtype,
        index,
        _i32(flags),
        addrs,
        pid,
        seq,
        err,
        fmask,
        inits,
        *rmx,
    )


def _i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def rt_metrics(vnet: VNet, rt: Rtentry) -> tuple[int, ...]:
    """rt_getmetrics: the MTU, the weight and the expiry (turned into wall
    clock seconds); everything else 0."""
    expire = 0
    if rt.expire:
        clock = vnet.kernel.clock
        expire = (rt.expire - clock.time_uptime + clock.time_second) & 0xFFFFFFFFFFFFFFFF
    w = getattr(rt, "weight", 1)
    return (0, rt.mtu & 0xFFFFFFFFFFFFFFFF, 0, expire, 0, 0, 0, 0, 0, 0, w, 0, 0, 0)


def rt_gateway_sa(vnet: VNet, rt: Rtentry) -> bytes:
    """rt_gateway as the kernel keeps it."""
    big = _big(vnet)
    if rt.gw_sa is not None:
        return rt.gw_sa
    if rt.flags & RTF_GATEWAY:
        return sa_in(rt.gateway)
    if rt.self_route and rt.ifa is not None:
        # ifa_add_loopback_route: the link address names the interface
        # that holds the address, not lo0.
        return sa_dl_gateway(rt.ifa.ifp, big)
    return sa_dl_gateway(rt.ifp, big)


def rt_key_sa(rt: Rtentry) -> bytes:
    return sa_in(rt.dst)


def rt_mask_sa(rt: Rtentry) -> bytes | None:
    return None if rt.flags & RTF_HOST else sa_mask(rt.plen)


def _any(vnet: VNet) -> bool:
    st: RtsState | None = getattr(vnet.kernel, "rts", None)
    return st is not None and st.any_count > 0


def rt_missmsg(vnet: VNet, mtype: int, info: list[bytes | None], flags: int, err: int) -> None:
    """rt_missmsg: a redirect, a failed lookup or a loss report, with the
    given addresses, RTF_DONE and the flags, and the error."""
    if not _any(vnet):
        return
    bits, body = _addrs(info)
    hdr = rt_msghdr(_big(vnet), mtype, bits, len(body), flags=RTF_DONE | flags, err=to_freebsd(err))
    dst = info[0]
    rt_dispatch(vnet, hdr + body, dst[1] if dst else 0)


def rt_miss(vnet: VNet, dst: int) -> None:
    """rtalloc1_fib(report=1) found nothing: RTM_MISS for ``dst``."""
    if _any(vnet):
        rt_missmsg(vnet, RTM_MISS, [sa_in(dst)] + [None] * 7, 0, 0)


def rt_redirectmsg(vnet: VNet, dst: int, gateway: int, src: int, flags: int, err: int) -> None:
    """The RTM_REDIRECT rtredirect_fib always sends: destination,
    gateway, no netmask (icmp_input passes none) and the redirect's
    author."""
    if _any(vnet):
        info: list[bytes | None] = [sa_in(dst), sa_in(gateway), None, None, None, None]
        info += [sa_in(src), None]
        rt_missmsg(vnet, RTM_REDIRECT, info, flags, err)


def if_data(vnet: VNet, ifp: Ifnet) -> tuple[int, ...]:
    """struct if_data of ``ifp``: type, address and header lengths, link
    state, its own size, MTU, the counters, and the time of the last
    administrative change (now: up and down set it just before the
    message). Metric, baudrate, hwassist and epoch are 0 here."""
    from kstack.kern.clock import TICK_NS
    from kstack.net.if_var import IFF_UP, IFT_ETHER

    c = ifp.counters
    ether = ifp.type == IFT_ETHER
    wall = vnet.kernel.clock.boottime_ns + vnet.kernel.clock.now
    wall -= wall % TICK_NS  # getmicrotime: as of the last tick
    link = LINK_STATE_UP if ifp.flags & IFF_UP else 1
    return (
        ifp.type,
        0,
        6 if ether else 0,
        14 if ether else 0,
        link if ether else 0,
        0,
        0,
        IF_DATA_LEN,
        ifp.mtu,
        0,
        0,
        c.ifi_ipackets,
        c.ifi_ierrors,
        c.ifi_opackets,
        c.ifi_oerrors,
        c.ifi_collisions,
        c.ifi_ibytes,
        c.ifi_obytes,
        c.ifi_imcasts,
        c.ifi_omcasts,
        c.ifi_iqdrops,
        c.ifi_noproto,
        0,
        0,
        wall // 1_000_000_000,
        (wall % 1_000_000_000) // 1000,
    )


def rt_ifmsg(vnet: VNet, ifp: Ifnet) -> None:
    """rt_ifmsg: RTM_IFINFO (an if_msghdr, no addresses) after the
    interface went up or down."""
    if not _any(vnet):
        return
    big = _big(vnet)
    msg = _IFM[big].pack(
        IF_MSGHDR_LEN, RTM_VERSION, RTM_IFINFO, 0, ifp.flags, ifp.index, *if_data(vnet, ifp)
    )
    rt_dispatch(vnet, msg, 0)


def in_socktrim(mask: int) -> bytes:
    """An interface netmask as in_ifinit leaves it (in_socktrim): a
    sockaddr_in whose length covers the mask up to its last non-zero byte
    (7 for a /24, 8 for a /32, 0 for no mask), family AF_INET. A message
    carries SA_SIZE(sa_len) = 8 bytes of it: the header and the whole mask."""
    body = mask.to_bytes(4, "big")
    trimmed = body.rstrip(b"\0")
    sa_len = 4 + len(trimmed) if trimmed else 0
    return bytes((sa_len, S.AF_INET, 0, 0)) + body


# A fresh in_ifaddr before SIOCAIFADDR sets anything: all-zero address
# (sa_len 0), the {8, AF_INET} netmask in_control gives it, and on a
# broadcast interface an empty {16, AF_INET} broadcast address.
_FRESH_ADDR = b""
_FRESH_MASK = bytes((8, S.AF_INET)) + bytes(6)


def _ifa_info(ia: InIfaddr, big: bool, fresh: bool) -> tuple[bytes, bytes, bytes]:
    """ifa_addr, ifa_netmask and ifa_dstaddr (the broadcast address, or on
    lo0 the address itself) of ``ia`` as the kernel keeps them."""
    from kstack.net.if_var import IFF_BROADCAST, IFF_LOOPBACK

    ifp = ia.ifp
    if fresh:
        return _FRESH_ADDR, _FRESH_MASK, sa_in(0) if ifp.flags & IFF_BROADCAST else b""
    if ia.dstaddr or ia.broadaddr:
        brd = sa_in(ia.dstaddr or ia.broadaddr)
    elif ifp.flags & IFF_LOOPBACK:
        brd = sa_in(ia.addr)
    elif ifp.flags & IFF_BROADCAST:
        brd = sa_in(0)
    else:
        brd = b""
    return sa_in(ia.addr), in_socktrim(ia.mask), brd


def rt_newaddrmsg(
    vnet: VNet,
    cmd: int,
    ia: InIfaddr,
    rt: Rtentry | None,
    err: int = 0,
    *,
    gateway: bytes | None = None,
    fresh: bool = False,
) -> None:
    """rt_newaddrmsg: for an added address RTM_NEWADDR then RTM_ADD of
    its route; for a deleted one RTM_DELETE of the route then
    RTM_DELADDR. ``gateway`` replaces the route's gateway (the report
    in_addralias_rtmsg makes for an address sharing another's prefix
    route); ``fresh``: ``ia`` is the still empty record of an address
    being added."""
    if not _any(vnet):
        return
    big = _big(vnet)
    ifp = ia.ifp
    msgs: list[tuple[bytes, int]] = []
    # ifa_msghdr: netmask, interface, address, broadcast (or peer) address.
    ifa_sa, mask, brd = _ifa_info(ia, big, fresh)
    info: list[bytes | None] = [None, None, mask, None, sa_dl(ifp, big), ifa_sa, None, brd]
    bits, body = _addrs(info)
    ncmd = RTM_NEWADDR if cmd == RTM_ADD else RTM_DELADDR
    # ifam_flags: IFA_ROUTE while the address holds its prefix route.
    iflags = 1 if ia.has_route else 0
    ifam = _IFAM[big].pack(
        IFA_MSGHDR_LEN + len(body), RTM_VERSION, ncmd, bits, iflags, ifp.index, 0
    )
    # rt_dispatch tags a message with its address's family: none for the
    # empty address of a fresh record.
    addr_msg = (ifam + body, ifa_sa[1] if ifa_sa else 0)
    route_msg = None
    if rt is not None:
        gw = rt_gateway_sa(vnet, rt) if gateway is None else gateway
        rinfo = [rt_key_sa(rt), gw, rt_mask_sa(rt)] + [None] * 5
        rbits, rbody = _addrs(rinfo)
        hdr = rt_msghdr(
            big, cmd, rbits, len(rbody), index=ifp.index, flags=rt.flags, err=to_freebsd(err)
        )
        route_msg = (hdr + rbody, S.AF_INET)
    if cmd == RTM_ADD:
        msgs = [addr_msg] + ([route_msg] if route_msg else [])
    else:
        msgs = ([route_msg] if route_msg else []) + [addr_msg]
    for m, fam in msgs:
        rt_dispatch(vnet, m, fam)


def in_addralias_rtmsg(
    vnet: VNet, cmd: int, prefix: int, target: InIfaddr, *, fresh: bool = False
) -> None:
    """in_addralias_rtmsg (netinet/in.c): an address that gets no prefix
    route of its own (another address holds it, or it has none to lose)
    is still reported as if it had one: the route FIB 0 finds for the
    prefix, with the address as its gateway, beside RTM_NEWADDR or
    RTM_DELADDR. The lookup reports, so a prefix nothing routes to gives
    an RTM_MISS instead."""
    rt = vnet.rt[0].lookup(prefix, 1)
    if rt is None or not _any(vnet):
        return
    gw = _FRESH_ADDR if fresh else sa_in(target.addr)
    rt_newaddrmsg(vnet, cmd, target, rt, gateway=gw, fresh=fresh)


IFAN_MSGHDR_LEN = 24
_IFAN = {False: struct.Struct("<HBBH16sH"), True: struct.Struct(">HBBH16sH")}


def rt_ifannouncemsg(vnet: VNet, ifp: Ifnet, what: int) -> None:
    """rt_ifannouncemsg: RTM_IFANNOUNCE (struct if_announcemsghdr, no
    addresses, untagged) when an interface arrives in a vnet (if_attach,
    or moved in) or leaves it (if_detach, or moved out)."""
    if not _any(vnet):
        return
    name = ifp.name.encode()[:15]
    msg = _IFAN[_big(vnet)].pack(
        IFAN_MSGHDR_LEN, RTM_VERSION, RTM_IFANNOUNCE, ifp.index, name, what
    )
    rt_dispatch(vnet, msg, 0)


# -- parsing -----------------------------------------------------------------------


def parse(msg: bytes, *, big_endian: bool = False) -> dict[str, Any]:
    """A routing message as a dict: the header fields by their C names
    (``rtm_type``, ``ifam_index``, ``ifm_data`` ...), ``"type"``, and for
    each address its RTA_* name (``"dst"``, ``"gateway"`` ...) with the raw
    sockaddr bytes, plus ``"dst_addr"`` style dotted quads for AF_INET
    ones. ValueError for a message too short for its header."""
    b = bytes(msg)
    if len(b) < 4:
        raise ValueError("a routing message is at least 4 bytes")
    msglen, version, mtype = _HDR[big_endian].unpack_from(b)
    out: dict[str, Any] = {"msglen": msglen, "version": version, "type": mtype}
    if mtype in (RTM_NEWADDR, RTM_DELADDR):
        if len(b) < IFA_MSGHDR_LEN:
            raise ValueError("message shorter than an ifa_msghdr")
        _l, _v, _t, addrs, flags, index, metric = _IFAM[big_endian].unpack_from(b)
        out.update(ifam_addrs=addrs, ifam_flags=flags, ifam_index=index, ifam_metric=metric)
        off = IFA_MSGHDR_LEN
    elif mtype == RTM_IFANNOUNCE:
        if len(b) < IFAN_MSGHDR_LEN:
            raise ValueError("message shorter than an if_announcemsghdr")
        _l, _v, _t, index, name, what = _IFAN[big_endian].unpack_from(b)
        out.update(
            ifan_index=index,
            ifan_name=name.split(b"\0", 1)[0].decode("ascii", "replace"),
            ifan_what=what,
        )
        return out
    elif mtype == RTM_IFINFO:
        if len(b) < IF_MSGHDR_LEN:
            raise ValueError("message shorter than an if_msghdr")
        f = _IFM[big_endian].unpack_from(b)
        addrs = f[3]
        names = (
            "ifi_type",
            "ifi_physical",
            "ifi_addrlen",
            "ifi_hdrlen",
            "ifi_link_state",
            "ifi_spare_char1",
            "ifi_spare_char2",
            "ifi_datalen",
            *IF_DATA_FIELDS,
            "ifi_epoch",
            "ifi_lastchange_sec",
            "ifi_lastchange_usec",
        )
        out.update(ifm_addrs=addrs, ifm_flags=f[4], ifm_index=f[5])
        out["ifm_data"] = dict(zip(names, f[6:], strict=True))
        off = IF_MSGHDR_LEN
    else:
        if len(b) < RT_MSGHDR_LEN:
            raise ValueError("message shorter than an rt_msghdr")
        f = _RTM[big_endian].unpack_from(b)
        keys = ("rtm_index", "rtm_flags", "rtm_addrs", "rtm_pid", "rtm_seq", "rtm_errno")
        out.update(dict(zip(keys, f[3:9], strict=True)))
        out["rtm_fmask"] = f[9]
        out["rtm_inits"] = f[10]
        out["rtm_rmx"] = dict(zip(RMX_FIELDS, f[11:], strict=True))
        addrs = f[5]
        off = RT_MSGHDR_LEN
    end = min(len(b), msglen) if msglen else len(b)
    for i, name in enumerate(RTA_NAMES):
        if not addrs & (1 << i) or off >= end:
            continue
        sa_len = b[off]
        sa = b[off : off + max(sa_len, 1)] if sa_len else b""
        out[name] = sa
        if sa_len >= 8 and sa[1] == S.AF_INET:
            out[f"{name}_addr"] = ".".join(str(x) for x in sa[4:8])
        elif name == "netmask" and (sa_len == 0 or sa[1] in (0xFF, S.AF_INET)):
            # a radix mask, or an interface mask trimmed by in_socktrim:
            # the bytes past sa_len are zero
            m = int.from_bytes(sa[4:8].ljust(4, b"\0"), "big") if sa_len > 4 else 0
            out["netmask_addr"] = ".".join(str((m >> s) & 0xFF) for s in (24, 16, 8, 0))
        off += sa_size(sa_len)
    return out


# -- route_output ------------------------------------------------------------------


def _sender_pid(so: Socket) -> int:
    prison = so.cred.prison
    kernel = so.vnet.kernel
    if prison is not None:
        return int(getattr(prison, "pid", 100 + int(prison.jid)))
    return int(getattr(kernel, "pid", 1))


def _xaddrs(b: bytes, start: int, end: int, addrs: int) -> list[bytes | None] | None:
    """rt_xaddrs: the sockaddrs the address bits announce; None (EINVAL)
    when one runs past the message. A zero length ends the list early
    (the address reads as an empty AF_INET sockaddr)."""
    info: list[bytes | None] = [None] * RTAX_MAX
    cp = start
    for i in range(RTAX_MAX):
        if cp >= end:
            break
        if not addrs & (1 << i):
            continue
        sa_len = b[cp]
        if cp + sa_len > end:
            return None
        if sa_len == 0:
            info[i] = bytes((16, S.AF_INET)) + bytes(14)  # sa_zero
            return info
        info[i] = b[cp : cp + sa_len]
        cp += sa_size(sa_len)
    return info


def _find_exact(table: RouteTable, dst: int, plen: int | None) -> Rtentry | None:
    """rnh_lookup: with a netmask the route with that key's best match and
    exactly that mask; without one the longest match."""
    rt = table.match(dst)
    if rt is None or plen is None:
        return rt
    key = rt.dst
    cands = [r for r in table.entries() if r.dst == key and not r.flags & RTF_HOST]
    for r in cands:
        if r.plen == plen and r.plen <= rt.plen:
            return r
    return None


class _Err(Exception):
    def __init__(self, err: int) -> None:
        self.err = err


def route_output(so: RouteSocket, data: bytes) -> int:
    """route_output: check and carry out one request, then echo it (with
    rtm_errno on failure, RTF_DONE on success; RTM_GET and RTM_DELETE
    rewritten with the route found) to the vnet's routing sockets."""
    vnet = so.vnet
    big = _big(vnet)
    if len(data) < 8:
        return errno.ENOBUFS  # m_pullup of a long fails; nothing is echoed
    rtm: bytearray | None = None
    saf = 0
    error = 0
    try:
        msglen = _U16[big].unpack_from(data)[0]
        if len(data) < RT_MSGHDR_LEN or len(data) != msglen:
            raise _Err(errno.EINVAL)
        rtm = bytearray(data)
        if rtm[2] != RTM_VERSION:
            raise _Err(errno.EPROTONOSUPPORT)
        st = _RTM[big]
        f = list(st.unpack_from(rtm))
        f[6] = _sender_pid(so)  # rtm_pid
        st.pack_into(rtm, 0, *f)
        mtype = f[2]
        rtm_flags = f[4]
        rtm_addrs = f[5]
        inits = f[10]
        rmx_in = f[11:]
        info = _xaddrs(bytes(rtm), RT_MSGHDR_LEN, len(rtm), rtm_addrs)
        if info is None:
            raise _Err(errno.EINVAL)
        dst = info[0]
        gw = info[1]
        if dst is None or dst[1] >= AF_MAX or (gw is not None and gw[1] >= AF_MAX):
            raise _Err(errno.EINVAL)
        saf = dst[1]
        if mtype != RTM_GET:
            from kstack.kern.cred import priv_check_cred

            err = priv_check_cred(so.cred, "PRIV_NET_ROUTE")
            if err:
                raise _Err(err)
        table = vnet.rt[so.so_fibnum]
        flags = rtm_flags
        if gw is not None and gw[1] != S.AF_LINK:
            # A gateway that is one of our own addresses (its route is the
            # lo0 route to it) makes an interface route. The lookup reports:
            # a gateway nothing routes to gives an RTM_MISS.
            grt = table.lookup(_sa_addr(gw), report=True) if gw[1] == S.AF_INET else None
            if grt is not None and grt.self_route:
                flags &= ~RTF_GATEWAY
        if mtype == RTM_ADD:
            if gw is None:
                raise _Err(errno.EINVAL)
            rt = _rtm_add(vnet, table, info, flags, saf)
            if inits & RTV_MTU:
                rt.mtu = rmx_in[1]
            if inits & RTV_WEIGHT:
                rt.weight = rmx_in[10]
            _set_index(rtm, big, rt.ifp.index)
        elif mtype == RTM_DELETE:
            rt_l2 = None
            if not vnet.kernel.profile.separate_l2_table and saf == S.AF_INET and info[2] is None:
                from kstack.netinet.if_ether import l2_route_delete

                rt_l2 = l2_route_delete(vnet, so.so_fibnum, _sa_addr(dst))
            rt = rt_l2 if rt_l2 is not None else _rtm_delete(table, info, flags, saf)
            rt.flags &= ~RTF_UP
            rtm = _report(so, rt, info, rtm, rtm_addrs, big)
        elif mtype in (RTM_GET, RTM_CHANGE, RTM_LOCK):
            if saf != S.AF_INET:
                raise _Err(errno.EAFNOSUPPORT)
            mask = info[2]
            plen = None
            if mask is not None:
                plen = _mask_plen(mask)
                if plen is None:
                    raise _Err(errno.ESRCH)
            rt0 = _find_exact(table, _sa_addr(dst), plen)
            if rt0 is None:
                raise _Err(errno.ESRCH)
            if mtype != RTM_GET and (rt0.flags & RTF_HOST) != (mask is None) * RTF_HOST:
                raise _Err(errno.ESRCH)
            if mtype == RTM_GET:
                if mask is None and not vnet.kernel.profile.separate_l2_table:
                    from kstack.netinet.if_ether import l2_route_view

                    rt0 = l2_route_view(vnet, so.so_fibnum, rt0, _sa_addr(dst))
                rtm = _report(so, rt0, info, rtm, rtm_addrs, big)
            elif mtype == RTM_CHANGE:
                _rtm_change(vnet, table, rt0, info, flags, rtm_flags, inits, rmx_in)
                _set_index(rtm, big, rt0.ifp.index)
        else:
            raise _Err(errno.EOPNOTSUPP)
    except _Err as e:
        error = e.err
    # flush:
    out: bytes
    if rtm is not None:
        st = _RTM[big]
        f = list(st.unpack_from(rtm))
        if error:
            f[8] = to_freebsd(error)  # rtm_errno: the kernel's number
        else:
            f[4] = _i32(f[4] | RTF_DONE)
        st.pack_into(rtm, 0, *f)
        out = bytes(rtm[: f[0]])
    else:
        out = data
    skip: RouteSocket | None = None
    if not so.so_options & S.SO_USELOOPBACK:
        if _state(vnet.kernel).any_count <= 1:
            return error
        # route_output hides the sender by clearing its protocol around
        # rt_dispatch, but rt_dispatch only queues: the netisr delivers
        # later, once the protocol is back, so the sender gets its copy.
        skip = None
    rt_dispatch(vnet, out, saf, skip)
    return error


def _set_index(rtm: bytearray, big: bool, index: int) -> None:
    _U16[big].pack_into(rtm, 4, index)


def _report(
    so: RouteSocket, rt: Rtentry, info: list[bytes | None], rtm: bytearray, addrs: int, big: bool
) -> bytearray:
    """The RTM_GET (and deleted route) reply: the route's addresses, the
    interface ones when asked for, flags and metrics. Jail rules: a
    jail without its own vnet sees no network route and only host routes
    to its own addresses."""
    from kstack.kern.jail import jailed_without_vnet

    vnet = so.vnet
    cred = so.cred
    prison = cred.prison
    hide_all = jailed_without_vnet(cred)
    if not rt.flags & RTF_HOST:
        if hide_all:
            raise _Err(errno.ESRCH)
    elif prison is not None and hide_all and prison.check_ip4(rt.dst):
        raise _Err(errno.ESRCH)
    out: list[bytes | None] = [rt_key_sa(rt), rt_gateway_sa(vnet, rt), rt_mask_sa(rt)]
    out += [None, None, None, None, None]
    index = 0
    ifp = rt.ifp
    if addrs & (RTA_IFP | RTA_IFA):
        out[4] = sa_dl(ifp, big)
        ifa_addr = _rt_ifa_addr(vnet, rt, big)
        if hide_all and prison is not None:
            ifa_addr = _jailed_ifa(rt, prison)
        out[5] = ifa_addr
        index = ifp.index
    else:
        index = ifp.index
    bits, body = _addrs(out)
    old = _RTM[big].unpack_from(rtm)
    hdr = _RTM[big].pack(
        RT_MSGHDR_LEN + len(body),
        RTM_VERSION,
        old[2],
        index,
        _i32(rt.flags),
        bits,
        old[6],
        old[7],
        old[8],
        old[9],
        old[10],
        *rt_metrics(vnet, rt),
    )
    return bytearray(hdr + body)


def _rt_ifa_addr(vnet: VNet, rt: Rtentry, big: bool) -> bytes | None:
    if rt.self_route:
        # rt_ifa of the lo0 route to a local address is lo0's link address.
        return sa_dl(vnet.lo0, big)
    if rt.ifa is None:
        return None
    return sa_in(rt.ifa.addr)


def _jailed_ifa(rt: Rtentry, prison: Any) -> bytes:
    """rtm_get_jailed: the route's address if the jail has it, else the
    first address of the interface the jail has, else its primary."""
    if rt.ifa is not None and not rt.self_route and prison.check_ip4(rt.ifa.addr) == 0:
        return sa_in(rt.ifa.addr)
    for ia in rt.ifp.addrs_in:
        if prison.check_ip4(ia.addr) == 0:
            return sa_in(ia.addr)
    err, pick = prison.get_ip4()
    if err:
        raise _Err(errno.ESRCH)
    return sa_in(pick)


def _getifa(vnet: VNet, table: RouteTable, info: list[bytes | None], flags: int) -> InIfaddr:
    """rt_getifa_fib: the interface address a new route uses."""
    from kstack.net.route import ifa_ifwithnet_all
    from kstack.netinet.in_ import ifa_ifwithaddr, ifa_ifwithdstaddr, ifaof_ifpforaddr

    dst, gw, _mask, _gen, ifpaddr, ifaaddr = info[:6]
    assert dst is not None
    ifp = None
    if ifpaddr is not None and ifpaddr[1] == S.AF_LINK and len(ifpaddr) >= 4:
        idx = _U16[_big(vnet)].unpack_from(ifpaddr, 2)[0]
        ifp = next((i for i in vnet.ifnets if i.index == idx), None)
    ia = None
    if ifaaddr is not None and ifaaddr[1] == S.AF_INET:
        ia = ifa_ifwithaddr(vnet, _sa_addr(ifaaddr))
    if ia is None:
        sa = ifaaddr if ifaaddr is not None else (gw if gw is not None else dst)
        if ifp is not None:
            ia = ifaof_ifpforaddr(ifp, _sa_addr(sa))
        elif gw is not None and gw[1] == S.AF_LINK:
            idx = _U16[_big(vnet)].unpack_from(gw, 2)[0] if len(gw) >= 4 else 0
            gifp = next((i for i in vnet.ifnets if i.index == idx), None)
            if gifp is not None:
                ia = ifaof_ifpforaddr(gifp, _sa_addr(dst))
        else:
            g = _sa_addr(gw if gw is not None else dst)
            if not flags & RTF_GATEWAY:
                if flags & RTF_HOST:
                    ia = ifa_ifwithdstaddr(vnet, _sa_addr(dst))
                if ia is None:
                    ia = ifa_ifwithaddr(vnet, g)
            else:
                ia = ifa_ifwithdstaddr(vnet, g)
            if ia is None:
                ia = ifa_ifwithnet_all(vnet, g)
            if ia is None:
                r = table.match(g)
                if r is not None and r.dst != 0 and r.ifa is not None:
                    ia = r.ifa
    if ia is None:
        raise _Err(errno.ENETUNREACH)
    return ia


def _rtm_add(
    vnet: VNet, table: RouteTable, info: list[bytes | None], flags: int, saf: int
) -> Rtentry:
    """rtrequest1_fib(RTM_ADD) and in_addroute's marks."""
    from kstack.netinet.in_ import in_broadcast

    if saf != S.AF_INET:
        raise _Err(errno.EAFNOSUPPORT)
    dst, gw, mask = info[0], info[1], info[2]
    assert dst is not None and gw is not None
    ia = _getifa(vnet, table, info, flags)
    ifp = ia.ifp
    d = _sa_addr(dst)
    if flags & RTF_HOST or mask is None:
        plen = 32
        flags |= RTF_HOST
    else:
        p = _mask_plen(mask)
        if p is None:
            raise _Err(errno.EINVAL)
        plen = p
        d &= prefix_mask(plen)
    rflags = (RTF_UP | flags) & 0xFFFFFFFF & ~RTF_DONE
    if rflags & RTF_HOST:
        if in_broadcast(d, ifp):
            rflags |= RTF_BROADCAST
        elif ia.addr == d:
            rflags |= RTF_LOCAL
    if in_multicast(d):
        rflags |= RTF_MULTICAST
    g = _sa_addr(gw) if gw[1] == S.AF_INET else 0
    gw_sa = None if (gw[1] == S.AF_INET and rflags & RTF_GATEWAY) else bytes(gw)
    rt = Rtentry(d, plen, ifp, ia, rflags, gateway=g, mtu=ifp.mtu, gw_sa=gw_sa)
    if not table.add(rt):
        raise _Err(errno.EEXIST)
    return rt


def _rtm_delete(table: RouteTable, info: list[bytes | None], flags: int, saf: int) -> Rtentry:
    """rtrequest1_fib(RTM_DELETE): the route with exactly this key and
    mask (none for RTF_HOST)."""
    if saf != S.AF_INET:
        raise _Err(errno.EAFNOSUPPORT)
    dst, mask = info[0], info[2]
    assert dst is not None
    d = _sa_addr(dst)
    if flags & RTF_HOST or mask is None:
        rt = table.get(d, 32, host=True)
    else:
        p = _mask_plen(mask)
        if p is None:
            raise _Err(errno.ESRCH)
        rt = table.get(d & prefix_mask(p), p, host=False)
        if rt is not None and rt.dst != d:
            rt = None
    if rt is None:
        raise _Err(errno.ESRCH)
    table.remove(rt)
    return rt


def _rtm_change(
    vnet: VNet,
    table: RouteTable,
    rt: Rtentry,
    info: list[bytes | None],
    flags: int,
    rtm_flags: int,
    inits: int,
    rmx_in: list[int],
) -> None:
    """RTM_CHANGE: a new gateway (and with it perhaps a new interface
    address), the RTF_FMASK flags as given, and the metrics asked for."""
    gw, ifpaddr, ifaaddr = info[1], info[4], info[5]
    new_ia = None
    if (
        (rt.flags & RTF_GATEWAY and gw is not None)
        or ifpaddr is not None
        or (ifaaddr is not None and (rt.ifa is None or _sa_addr(ifaaddr) != rt.ifa.addr))
    ):
        new_ia = _getifa(vnet, table, [rt_key_sa(rt), *info[1:]], flags)
    if gw is not None:
        if gw[1] == S.AF_INET:
            rt.gateway = _sa_addr(gw)
            rt.gw_sa = None if flags & RTF_GATEWAY or rt.flags & RTF_GATEWAY else bytes(gw)
        else:
            rt.gw_sa = bytes(gw)
        rt.flags |= RTF_GATEWAY & flags
    if new_ia is not None and new_ia is not rt.ifa:
        rt.ifa = new_ia
        rt.ifp = new_ia.ifp
    rt.flags = (rt.flags & ~RTF_FMASK) | (rtm_flags & RTF_FMASK)
    if inits & RTV_MTU:
        rt.mtu = rmx_in[1]
    if inits & RTV_WEIGHT:
        rt.weight = rmx_in[10]


# -- what route(8) writes --------------------------------------------------------------


def route_cmd_msg(
    vnet: VNet,
    mtype: int,
    dst: int,
    plen: int,
    *,
    gateway: int | None = None,
    flags: int = 0,
    mtu: int = 0,
    seq: int = 1,
) -> bytes:
    """The message route(8) writes for ``route add/delete/change``: a host
    destination without a netmask (RTF_HOST), a network with its mask
    trimmed of trailing zero bytes, RTF_STATIC for an add, the MTU as an
    initialised metric."""
    big = _big(vnet)
    host = plen == 32
    mask = None
    if not host:
        m = prefix_mask(plen).to_bytes(4, "big").rstrip(b"\0")
        mask = bytes((4 + len(m), S.AF_INET, 0, 0)) + m if m else b""
    info: list[bytes | None] = [sa_in(dst), sa_in(gateway) if gateway is not None else None, mask]
    info += [None] * 5
    bits, body = _addrs(info)
    rmx = [0] * 14
    inits = 0
    if mtu:
        rmx[1] = mtu
        inits = RTV_MTU
    f = RTF_UP | flags | (RTF_HOST if host else 0) | (RTF_GATEWAY if gateway is not None else 0)
    if mtype == RTM_ADD:
        f |= RTF_STATIC
    return (
        rt_msghdr(
            big,
            mtype,
            bits,
            len(body),
            flags=f,
            pid=int(getattr(vnet.kernel, "pid", 1)),
            seq=seq,
            inits=inits,
            rmx=tuple(rmx),
        )
        + body
    )


def route_cmd_echo(vnet: VNet, msg: bytes, rt: Rtentry | None, err: int) -> None:
    """What listeners see after route(8) wrote ``msg``: its echo, with
    RTF_DONE and the interface index on success, rtm_errno on failure (a
    delete echoes the deleted route)."""
    if not _any(vnet):
        return
    big = _big(vnet)
    b = bytearray(msg)
    st = _RTM[big]
    f = list(st.unpack_from(b))
    if err:
        f[8] = to_freebsd(err)
    else:
        f[4] = _i32(f[4] | RTF_DONE)
        if rt is not None:
            f[3] = rt.ifp.index
    st.pack_into(b, 0, *f)
    if not err and rt is not None and f[2] == RTM_DELETE:
        out: list[bytes | None] = [rt_key_sa(rt), rt_gateway_sa(vnet, rt), rt_mask_sa(rt)]
        out += [None] * 5
        bits, body = _addrs(out)
        hdr = st.pack(
            RT_MSGHDR_LEN + len(body),
            RTM_VERSION,
            RTM_DELETE,
            rt.ifp.index,
            _i32((rt.flags & ~RTF_UP) | RTF_DONE),
            bits,
            f[6],
            f[7],
            0,
            f[9],
            f[10],
            *rt_metrics(vnet, rt),
        )
        b = bytearray(hdr + body)
    rt_dispatch(vnet, bytes(b), S.AF_INET)


def route_cmd(
    vnet: VNet,
    mtype: int,
    dst: int,
    plen: int,
    gateway: int | None,
    rt: Rtentry | None,
    err: int,
    *,
    flags: int = 0,
    mtu: int = 0,
) -> None:
    """What the routing sockets see of a ``route add/delete`` run by the
    process driving the kernel (``k.route_add`` / ``k.route_delete``):
    route(8)'s message echoed back by route_output."""
    if not _any(vnet):
        return
    if rt is not None:
        flags |= rt.flags & (RTF_BLACKHOLE | RTF_REJECT)
    msg = route_cmd_msg(vnet, mtype, dst, plen, gateway=gateway, flags=flags, mtu=mtu)
    route_cmd_echo(vnet, msg, rt, err)
