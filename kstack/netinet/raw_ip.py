"""Raw IP sockets (netinet/raw_ip.c): rip_input, rip_append, rip_output and
the raw user requests.

``rip_input`` is the default handler of every protocol without one of its
own, and ICMP and IGMP hand their packets here after the kernel is done
with them. What header bytes a raw reader gets changed across FreeBSD
history; the kernel's profile decides (see :func:`render_header`).
"""

from __future__ import annotations

import errno
import functools
from typing import TYPE_CHECKING, Literal

from kstack import sock as S
from kstack.decode import ICMP_NAMES
from kstack.kern.cred import (
    PRIV_NETINET_MROUTE,
    PRIV_NETINET_RAW,
    priv_check_cred,
)
from kstack.kern.mbuf import Mbuf
from kstack.kern.uipc_socket import SS_ISCONNECTED, sooptcopyin
from kstack.netinet.in_ import ifa_ifwithaddr
from kstack.netinet.in_pcb import (
    INP_BINDANY,
    INP_CONTROLOPTS,
    INP_DONTFRAG,
    INP_HDRINCL,
    INP_ONESBCAST,
    Pcbinfo,
    prison_check_ip4,
    prison_get_ip4,
    prison_local_ip4,
)
from kstack.netinet.ip import (
    IP_ALLOWBROADCAST,
    IP_DF,
    IP_MAXPACKET,
    IP_RAWOUTPUT,
    IP_ROUTETOIF,
    IP_SENDONES,
    IPPROTO_IGMP,
    U16,
    in_multicast,
    ntoa,
)
from kstack.netinet.ip_ctloutput import ip_ctloutput, ip_savecontrol
from kstack.netinet.ip_output import ip_newid, ip_output
from kstack.outcome import DELIVERED, Outcome, dropped
from kstack.profiles import RAW_HDR_9, RAW_HDR_10

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Socket
    from kstack.net.vnet import VNet


# A private mbuf flag: icmp_input byte-swapped the quoted header's ip_len in
# place (FreeBSD 9 and earlier), so raw readers see it in host order.
M_ICMP_INNER_HOSTLEN = 0x2_0000_0000


class RawPcbinfo(Pcbinfo):
    """ripcbinfo: sockets with a protocol, a local and a foreign address
    are hashed on all three; every other raw socket is on the wildcard
    chain. Both chains are newest first."""

    def __init__(self, vnet: VNet) -> None:
        super().__init__(vnet, "raw")
        self.exact: dict[tuple[int, int, int], list[Socket]] = {}
        self.wild: list[Socket] = []
        # The RSVP daemon's socket (V_ip_rsvpd), whether it turned RSVP on
        # (V_ip_rsvp_on), and the count of what turned it on (V_rsvp_on;
        # multicast routing's RSVP vifs would count too, but are absent).
        self.rsvpd: Socket | None = None
        self.ip_rsvp_on = False
        self.rsvp_on = 0

    def rip_inshash(self, so: Socket) -> None:
        inp = so.inp
        if inp.ip_p and inp.laddr and inp.faddr:
            self.exact.setdefault((inp.ip_p, inp.laddr, inp.faddr), []).insert(0, so)
        else:
            self.wild.insert(0, so)

    def rip_delhash(self, so: Socket) -> None:
        if so in self.wild:
            self.wild.remove(so)
            return
        for key, lst in self.exact.items():
            if so in lst:
                lst.remove(so)
                if not lst:
                    del self.exact[key]
                return


def _host16(v: int, big_endian: bool) -> bytes:
    return v.to_bytes(2, "big" if big_endian else "little")


def render_header(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> bytes:
    """The bytes a raw socket reads for this packet under the kernel's profile.

    - "9" (FreeBSD 9 and earlier): ip_input deducted the header length from
      ip_len and left ip_len and ip_off in host byte order.
    - "10": the header as it came in, except that ip_len and ip_off are
      swapped to host order (the stack kept headers in network order from
      then on, and rip_input swapped the two fields for raw readers).
    - "11" and later: untouched, network order.

    On a little-endian host "host order" means the two bytes reversed.
    """
    data = m.data
    profile = vnet.kernel.profile
    mode = profile.raw_ip_header
    if mode != RAW_HDR_9 and mode != RAW_HDR_10 and not m.flags & M_ICMP_INNER_HOSTLEN:
        return bytes(data)
    out = bytearray(data)
    be = vnet.kernel.big_endian
    if mode == RAW_HDR_9:
        out[2:4] = _host16(plen, be)
    elif mode == RAW_HDR_10:
        out[2:4] = _host16(hlen + plen, be)
    if mode in (RAW_HDR_9, RAW_HDR_10):
        out[6:8] = _host16(U16.unpack_from(data, 6)[0], be)
    if m.flags & M_ICMP_INNER_HOSTLEN and not be:
        inner = hlen + 8 + 2
        out[inner], out[inner + 1] = out[inner + 1], out[inner]
    return bytes(out)


def _no_listener(m: Mbuf, hlen: int, why: str) -> Outcome:
    """ips_noproto, saying what the packet was and why it ended here."""
    data = m.data
    proto = data[9]
    return _no_listener_outcome(proto, data[hlen] if proto == 1 and len(data) > hlen else -1, why)


@functools.lru_cache(maxsize=4096)
def _no_listener_outcome(proto: int, icmp_type: int, why: str) -> Outcome:
    """The (immutable) outcome for one kind of unclaimed packet."""
    if icmp_type >= 0:
        name = f"ICMP {ICMP_NAMES.get(icmp_type, f'type {icmp_type}')}"
        head = f"{name}: {why}" if why else name
    elif why:
        head = why
    else:
        head = f"protocol {proto} has no handler"
    return dropped("ips_noproto", f"{head}; no raw socket listening")


def rip_input(vnet: VNet, m: Mbuf, hlen: int, plen: int, why: str = "") -> Outcome:
    """Give a copy to every raw socket that matches; none matching is
    ips_noproto and takes back the ips_delivered ip_input counted.
    ``why`` says why the caller passed the packet on (for the outcome)."""
    ripcb: RawPcbinfo = vnet.ripcbinfo
    ipstat = vnet.ipstat
    if not ripcb.wild and not ripcb.exact:
        ipstat.ips_noproto += 1
        ipstat.ips_delivered -= 1
        return _no_listener(m, hlen, why)
    data = m.data
    proto = data[9]
    src = int.from_bytes(data[12:16], "big")
    dst = int.from_bytes(data[16:20], "big")
    matches: list[Socket] = []
    for so in ripcb.exact.get((proto, dst, src), ()):
        inp = so.inp
        if prison_check_ip4(inp.cred, dst):
            continue
        matches.append(so)
    mcast = in_multicast(dst)
    igmp_exempt = vnet.kernel.profile.raw_igmp_ignores_membership
    for so in ripcb.wild:
        inp = so.inp
        if inp.ip_p and inp.ip_p != proto:
            continue
        if inp.laddr and inp.laddr != dst:
            continue
        if inp.faddr and inp.faddr != src:
            continue
        if not mcast and prison_check_ip4(inp.cred, dst):
            continue
        imo = inp.moptions
        # A socket with multicast options gets multicast datagrams only as
        # its memberships and source filters allow, IGMP excepted (routing
        # daemons need every report) unless the profile predates that fix.
        if (
            imo is not None
            and mcast
            and (proto != IPPROTO_IGMP or not igmp_exempt)
            and imo.filter(m.rcvif, dst, src) != 0
        ):
            ipstat.ips_notmember += 1
            continue
        matches.append(so)
    if not matches:
        ipstat.ips_noproto += 1
        ipstat.ips_delivered -= 1
        return _no_listener(m, hlen, why)
    payload = render_header(vnet, m, hlen, plen)
    srcaddr = (ntoa(src), 0)
    got: list[str] = []
    full = 0
    policyfail = False
    for so in matches:
        policyfail, ok = rip_append(so, payload, m, srcaddr)
        if ok:
            got.append(so.name)
        elif not policyfail:
            full += 1
    if policyfail:
        # The last socket refused the packet: the kernel counts it delivered
        # a second time.
        ipstat.ips_delivered += 1
    detail = f"{full} receive buffer(s) full" if full else ""
    return Outcome(DELIVERED, "ips_delivered", ", ".join(got) or "no raw socket took it", detail)


def rip_append(so: Socket, payload: bytes, m: Mbuf, srcaddr: tuple[str, int]) -> tuple[bool, bool]:
    """(policy refused, appended)."""
    inp = so.inp
    if inp.minttl and inp.minttl > payload[8]:
        return True, False
    control = []
    if inp.flags & INP_CONTROLOPTS or so.so_options & (S.SO_TIMESTAMP | S.SO_BINTIME):
        control = ip_savecontrol(so, payload, m.rcvif)
    return False, so.so_rcv.appendaddr(srcaddr, payload, control)


def rip_output(so: Socket, data: bytes, dst: int) -> int:
    """Send a datagram from a raw socket: build a header, or with
    IP_HDRINCL check the caller's."""
    vnet = so.vnet
    inp = so.inp
    flags = IP_ALLOWBROADCAST
    if so.so_options & S.SO_DONTROUTE:
        flags |= IP_ROUTETOIF
    if inp.flags & INP_ONESBCAST:
        flags |= IP_SENDONES
    be = vnet.kernel.big_endian
    host_order = vnet.kernel.profile.raw_ip_header in (RAW_HDR_9, RAW_HDR_10)
    if not inp.flags & INP_HDRINCL:
        if len(data) + 20 > IP_MAXPACKET:
            return errno.EMSGSIZE
        src = inp.laddr
        if inp.cred.prison is not None:
            if src == 0:
                err, src = prison_get_ip4(inp.cred, src)
            else:
                err, src = prison_local_ip4(inp.cred, src)
            if err:
                return err
        hdr = bytearray(20)
        hdr[0] = 0x45
        hdr[1] = inp.tos
        U16.pack_into(hdr, 2, 20 + len(data))
        if inp.flags & INP_DONTFRAG:
            U16.pack_into(hdr, 6, IP_DF)
        hdr[8] = inp.ttl
        hdr[9] = inp.ip_p
        hdr[12:16] = src.to_bytes(4, "big")
        hdr[16:20] = dst.to_bytes(4, "big")
        m = Mbuf(hdr + data, None, inp.fibnum, 0, f"raw output ({so.name})")
        return ip_output(
            vnet, m, flags=flags, imo=inp.moptions, fib=inp.fibnum, opt=inp.options or None
        )
    # IP_HDRINCL
    n = len(data)
    if n > IP_MAXPACKET:
        return errno.EMSGSIZE
    hdr20 = data[:20].ljust(20, b"\0")
    src = int.from_bytes(hdr20[12:16], "big")
    forced_src = -1
    if vnet.kernel.profile.raw_hdrincl_any_jail_source:
        # Any of the jail's addresses may be the source (EADDRNOTAVAIL for
        # others, 0.0.0.0 included).
        err = prison_check_ip4(inp.cred, src)
        if err:
            return err
    elif inp.cred.prison is not None:
        # Before 2009: the source is overwritten with the jail's primary.
        err, forced_src = prison_get_ip4(inp.cred, src)
        if err:
            return err
    hl = (hdr20[0] & 0x0F) << 2
    order: Literal["big", "little"] = "big" if (be or not host_order) else "little"
    ip_len = int.from_bytes(hdr20[2:4], order)
    ip_off = int.from_bytes(hdr20[6:8], order)
    if (hl != 20 and inp.options) or ip_len > n or ip_len < hl:
        return errno.EINVAL
    if n < 20 or hl < 20:
        # Only a header claiming fewer than 20 bytes gets here; the kernel
        # would read past the caller's data. kstack refuses it.
        return errno.EINVAL
    buf = bytearray(data)
    if forced_src >= 0:
        buf[12:16] = forced_src.to_bytes(4, "big")
    U16.pack_into(buf, 2, ip_len)
    U16.pack_into(buf, 6, ip_off)
    if buf[4] == 0 and buf[5] == 0:
        U16.pack_into(buf, 4, ip_newid(vnet))
    vnet.ipstat.ips_rawout += 1
    m = Mbuf(buf, None, inp.fibnum, 0, f"raw output ({so.name})")
    return ip_output(
        vnet,
        m,
        flags=flags | IP_RAWOUTPUT,
        imo=inp.moptions,
        fib=inp.fibnum,
        opt=inp.options or None,
    )


class RawProto:
    """rip_usrreqs: the raw socket's user requests."""

    name = "raw"
    sosend_dgram = False  # raw sockets use sosend_generic / soreceive_generic

    def attach(self, so: Socket, proto: int) -> int:
        vnet = so.vnet
        err = priv_check_cred(so.cred, PRIV_NETINET_RAW)
        if err:
            return err
        if not 0 <= proto < S.IPPROTO_MAX:
            return errno.EPROTONOSUPPORT
        sc = vnet.kernel.sc
        err = so.soreserve(int(sc["net.inet.raw.maxdgram"]), int(sc["net.inet.raw.recvspace"]))
        if err:
            return err
        ripcb: RawPcbinfo = vnet.ripcbinfo
        inp = ripcb.alloc(so, so.cred)
        inp.ip_p = proto
        inp.ttl = int(vnet.sc["net.inet.ip.ttl"]) & 0xFF
        inp.fibnum = so.so_fibnum
        so.inp = inp
        ripcb.rip_inshash(so)
        return 0

    def detach(self, so: Socket) -> None:
        if so is so.vnet.ripcbinfo.rsvpd:
            ip_rsvp_done(so.vnet)
        if so.inp.moptions is not None:
            from kstack.netinet.in_mcast import inp_freemoptions

            inp_freemoptions(so.inp.moptions)
            so.inp.moptions = None
        ripcb: RawPcbinfo = so.vnet.ripcbinfo
        ripcb.rip_delhash(so)
        ripcb.detach(so.inp)
        so.soisdisconnected()

    def bind(self, so: Socket, sa: tuple[int, int, int, int]) -> int:
        sa_len, family, addr, _port = sa
        if sa_len != 16:
            return errno.EINVAL
        err = prison_check_ip4(so.cred, addr)
        if err:
            return err
        vnet = so.vnet
        if family not in (S.AF_INET, S.AF_IMPLINK) or (
            addr and not so.inp.flags & INP_BINDANY and ifa_ifwithaddr(vnet, addr) is None
        ):
            return errno.EADDRNOTAVAIL
        ripcb: RawPcbinfo = vnet.ripcbinfo
        ripcb.rip_delhash(so)
        so.inp.laddr = addr
        ripcb.rip_inshash(so)
        return 0

    def connect(self, so: Socket, sa: tuple[int, int, int, int]) -> int:
        sa_len, family, addr, _port = sa
        if sa_len != 16:
            return errno.EINVAL
        if family not in (S.AF_INET, S.AF_IMPLINK):
            return errno.EAFNOSUPPORT
        ripcb: RawPcbinfo = so.vnet.ripcbinfo
        ripcb.rip_delhash(so)
        so.inp.faddr = addr
        ripcb.rip_inshash(so)
        so.soisconnected()
        return 0

    def disconnect(self, so: Socket) -> int:
        if not so.so_state & SS_ISCONNECTED:
            return errno.ENOTCONN
        ripcb: RawPcbinfo = so.vnet.ripcbinfo
        ripcb.rip_delhash(so)
        so.inp.faddr = 0
        ripcb.rip_inshash(so)
        so.soisdisconnected()
        return 0

    def send(
        self, so: Socket, data: bytes, sa: tuple[int, int, int, int] | None, control: list[object]
    ) -> int:
        if so.so_state & SS_ISCONNECTED:
            if sa is not None:
                return errno.EISCONN
            dst = so.inp.faddr
        else:
            if sa is None:
                return errno.ENOTCONN
            dst = sa[2]
        return rip_output(so, data, dst)

    def ctloutput(
        self, so: Socket, is_set: bool, level: int, name: int, raw: bytes
    ) -> tuple[int, bytes]:
        """rip_ctloutput: IP_HDRINCL and the firewall / multicast-routing
        controls here, everything else at ip_ctloutput."""
        inp = so.inp
        if level != S.IPPROTO_IP:
            if level == S.SOL_SOCKET and name == S.SO_SETFIB:
                inp.fibnum = so.so_fibnum
                return 0, b""
            return errno.EINVAL, b""
        if name == S.IP_HDRINCL:
            if not is_set:
                return 0, so.int_bytes(inp.flags & INP_HDRINCL)  # the bit, 8
            err, v = sooptcopyin(raw, 4)
            if err:
                return err, b""
            if so.int_value(v):
                inp.flags |= INP_HDRINCL
            else:
                inp.flags &= ~INP_HDRINCL
            return 0, b""
        if 40 <= name <= 64:
            # IP_FW_* and IP_DUMMYNET*: without ipfw and dummynet loaded
            # there is nothing to ask, and nothing checks privilege first.
            return errno.ENOPROTOOPT, b""
        if MRT_INIT <= name <= MRT_DEL_BW_UPCALL:  # no multicast routing
            err = priv_check_cred(so.cred, PRIV_NETINET_MROUTE)
            if err:
                return err, b""
            return errno.EOPNOTSUPP, b""
        if is_set and name in (S.IP_RSVP_ON, S.IP_RSVP_OFF, S.IP_RSVP_VIF_ON, S.IP_RSVP_VIF_OFF):
            err = priv_check_cred(so.cred, PRIV_NETINET_MROUTE)
            if err:
                return err, b""
            if name == S.IP_RSVP_ON:
                return ip_rsvp_init(so), b""
            if name == S.IP_RSVP_OFF:
                return ip_rsvp_done(so.vnet), b""
            return errno.EINVAL, b""  # RSVP vifs belong to multicast routing
        return ip_ctloutput(so, is_set, level, name, raw)


MRT_INIT = 100
MRT_DEL_BW_UPCALL = 112


def ip_rsvp_init(so: Socket) -> int:
    """IP_RSVP_ON (ip_input.c): a raw RSVP socket becomes the RSVP daemon;
    one at a time per vnet."""
    if so.type != S.SOCK_RAW or so.inp.ip_p != S.IPPROTO_RSVP:
        return errno.EOPNOTSUPP
    ripcb = so.vnet.ripcbinfo
    if ripcb.rsvpd is not None:
        return errno.EADDRINUSE
    ripcb.rsvpd = so
    if not ripcb.ip_rsvp_on:
        ripcb.ip_rsvp_on = True
        ripcb.rsvp_on += 1
    return 0


def ip_rsvp_done(vnet: VNet) -> int:
    """IP_RSVP_OFF, or the daemon's socket closing: no daemon any more.
    Any raw socket may say it."""
    ripcb = vnet.ripcbinfo
    ripcb.rsvpd = None
    if ripcb.ip_rsvp_on:
        ripcb.ip_rsvp_on = False
        ripcb.rsvp_on -= 1
    return 0


def rsvp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """rsvp_input: RSVP goes to raw sockets while a daemon has turned RSVP
    on; otherwise it is freed without a counter."""
    ripcb = vnet.ripcbinfo
    if not ripcb.rsvp_on:
        return Outcome("dropped", "rsvp_input", "", "no RSVP daemon; freed silently")
    if ripcb.rsvpd is not None:
        return rip_input(vnet, m, hlen, plen, "RSVP, for the RSVP daemon")
    return Outcome("dropped", "rsvp_input", "", "RSVP on without a daemon; freed silently")


RAW_PROTO = RawProto()
