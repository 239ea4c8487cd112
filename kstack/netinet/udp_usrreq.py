"""UDP (netinet/udp_usrreq.c): udp_input and delivery to sockets,
udp_output, ICMP error notification (udp_ctlinput) and the UDP user
requests."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from kstack.kern.cred import jailed_ip4
from kstack.kern.mbuf import M_BCAST, M_MCAST, Mbuf
from kstack.net.if_loop import M_CSUM_DATA_VALID
from kstack.netinet.in_ import in_broadcast
from kstack.netinet.in_mcast import MCAST_NOTGMEMBER, MCAST_PASS
from kstack.netinet.in_pcb import (
    INP_ANONPORT,
    INP_CONTROLOPTS,
    INP_DONTFRAG,
    INP_ONESBCAST,
    in_pcbbind,
    in_pcbbind_setup,
    in_pcbconnect,
    in_pcbconnect_setup,
    in_pcbdisconnect,
    prison_remote_ip4,
)
from kstack.netinet.ip import (
    IP_ALLOWBROADCAST,
    IP_DF,
    IP_MAXPACKET,
    IP_ROUTETOIF,
    IP_SENDONES,
    IP_SRCDST,
    IPPROTO_IP,
    IPPROTO_UDP,
    U16,
    cksum_with_pseudo,
    in_multicast,
    in_pseudo,
    ntoa,
)
from kstack.netinet.ip_ctloutput import ip_ctloutput, ip_savecontrol
from kstack.netinet.ip_icmp import BANDLIM_ICMP_UNREACH, badport_bandlim, icmp_error
from kstack.netinet.ip_output import M_UDP_CSUM, ip_output, udp_pseudo_sum
from kstack.outcome import DELIVERED, Outcome, dropped
from kstack.sock import (
    IP_SENDSRCADDR,
    IP_TOS,
    SO_BINTIME,
    SO_BROADCAST,
    SO_DONTROUTE,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_TIMESTAMP,
)

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Socket
    from kstack.net.vnet import VNet

UDP_ENCAP = 1  # the one IPPROTO_UDP option (netinet/udp.h)


UDP_HDR = struct.Struct("!HHHH")  # struct udphdr

ICMP_UNREACH = 3
ICMP_UNREACH_PORT = 3

_HDROPS = dropped("udps_hdrops")
_DPORT0 = dropped("udp_input: destination port 0")
_BADLEN = dropped("udps_badlen")
_BADSUM = dropped("udps_badsum")
_NOPORTBCAST = dropped("udps_noportbcast")
_NOPORT_SILENT = dropped("udps_noport", "no ICMP: net.inet.udp.blackhole")
_NOPORT_LIMITED = dropped("udps_noport", "no ICMP: net.inet.icmp.icmplim")
_NOPORT = dropped("udps_noport", "ICMP port unreachable sent")
_MINTTL = dropped("udp_input: IP_MINTTL", "TTL below the socket's minimum")


def udp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """Validate a datagram and find its socket; a closed port is answered
    with ICMP port unreachable (rate limited, never for broadcasts)."""
    udpstat = vnet.udpstat
    udpstat.udps_ipackets += 1
    data = m.data
    if hlen > 20:
        # ip_stripoptions: the header shrinks to 20 bytes.
        del data[20:hlen]
        data[0] = 0x45
        hlen = 20
    if len(data) < hlen + 8:
        udpstat.udps_hdrops += 1
        return _HDROPS
    sport, dport, ulen, usum = UDP_HDR.unpack_from(data, hlen)
    if dport == 0:
        return _DPORT0
    if ulen != plen:
        if ulen > plen or ulen < 8:
            udpstat.udps_badlen += 1
            return _BADLEN
        del data[hlen + ulen :]
    src, dst = IP_SRCDST.unpack_from(data, 12)
    if usum:
        # A checksum the interface already verified (lo0: CSUM_DATA_VALID)
        # is trusted; only a zero checksum counts as "no checksum".
        if not m.flags & M_CSUM_DATA_VALID:
            pseudo = in_pseudo(src, dst, IPPROTO_UDP, ulen)
            if cksum_with_pseudo(memoryview(data)[hlen : hlen + ulen], pseudo) != 0:
                udpstat.udps_badsum += 1
                return _BADSUM
    else:
        udpstat.udps_nosum += 1
    ifp = m.rcvif
    udbinfo = vnet.udbinfo
    if (dst & 0xF0000000) == 0xE0000000 or (ifp is not None and in_broadcast(dst, ifp)):
        if udbinfo.listhead:
            got = udp_deliver_multi(vnet, m, hlen, ulen, src, dst, sport, dport)
            if got is not None:
                return got
        udpstat.udps_noportbcast += 1
        return _NOPORTBCAST
    if udbinfo.hash:
        inp = udbinfo.lookup(src, sport, dst, dport, wildcard=True)
        if inp is not None:
            if inp.minttl and inp.minttl > data[8]:
                return _MINTTL
            return udp_append(inp.so, m, hlen, ulen, src, sport)
    udpstat.udps_noport += 1
    if m.flags & (M_BCAST | M_MCAST):
        udpstat.udps_noportbcast += 1
        return _NOPORTBCAST
    if vnet.sc["net.inet.udp.blackhole"]:
        return _NOPORT_SILENT
    if not badport_bandlim(vnet, BANDLIM_ICMP_UNREACH):
        return _NOPORT_LIMITED
    # The quoted header is the option-stripped one with ip_len = 20 + payload.
    U16.pack_into(data, 2, hlen + plen)
    icmp_error(vnet, m, ICMP_UNREACH, ICMP_UNREACH_PORT, 0, 0)
    return _NOPORT


# -- delivery ------------------------------------------------------------------


def udp_append(so: Socket, m: Mbuf, hlen: int, ulen: int, src: int, sport: int) -> Outcome:
    """Queue the datagram's payload with its source address and any control
    messages; a full receive buffer drops it (udps_fullsock)."""
    data = m.data
    control = []
    if so.inp.flags & INP_CONTROLOPTS or so.so_options & (SO_TIMESTAMP | SO_BINTIME):
        control = ip_savecontrol(so, data, m.rcvif)
    payload = bytes(data[hlen + 8 : hlen + ulen])
    if not so.so_rcv.appendaddr((ntoa(src), sport), payload, control):
        so.vnet.udpstat.udps_fullsock += 1
        return Outcome(DELIVERED, "udps_fullsock", so.name, "receive buffer full; dropped")
    return Outcome(DELIVERED, "ips_delivered", so.name)


def udp_deliver_multi(
    vnet: VNet, m: Mbuf, hlen: int, ulen: int, src: int, dst: int, sport: int, dport: int
) -> Outcome | None:
    """Broadcast and multicast: every matching socket, newest first, for as
    long as the matched sockets allow sharing (SO_REUSEADDR/SO_REUSEPORT)."""
    mcast = in_multicast(dst)
    matched: list[Socket] = []
    for inp in vnet.udbinfo.listhead:
        if inp.lport != dport:
            continue
        if inp.laddr and inp.laddr != dst:
            continue
        if inp.faddr and inp.faddr != src:
            continue
        if inp.fport and inp.fport != sport:
            continue
        if mcast:
            imo = inp.moptions
            if imo is None:
                continue
            blocked = imo.filter(m.rcvif, dst, src)
            if blocked != MCAST_PASS:
                if blocked == MCAST_NOTGMEMBER:
                    vnet.ipstat.ips_notmember += 1
                else:
                    vnet.udpstat.udps_filtermcast += 1
                continue
        matched.append(inp.so)
        if not inp.so.so_options & (SO_REUSEADDR | SO_REUSEPORT):
            break
    if not matched:
        return None
    outs = [udp_append(so, m, hlen, ulen, src, sport) for so in matched]
    if len(outs) == 1:
        return outs[0]
    full = sum(1 for o in outs if o.reason == "udps_fullsock")
    detail = f"{full} receive buffer(s) full" if full else ""
    return Outcome(DELIVERED, "ips_delivered", ", ".join(so.name for so in matched), detail)


# -- ICMP errors (udp_ctlinput) --------------------------------------------------

# PRC_* -> errno (inetctlerrmap), for the commands icmp_input passes on.
_ICMP_ERRNO = {
    (3, 0): errno.EHOSTUNREACH,
    (3, 1): errno.EHOSTUNREACH,
    (3, 2): errno.ECONNREFUSED,
    (3, 3): errno.ECONNREFUSED,
    (3, 4): errno.EMSGSIZE,
    (3, 9): errno.ECONNREFUSED,
    (3, 10): errno.ECONNREFUSED,
    (3, 13): errno.ECONNREFUSED,
    (11, 0): errno.EHOSTUNREACH,
    (12, 0): errno.ENOPROTOOPT,
    (12, 1): errno.ENOPROTOOPT,
}
for _code in (5, 6, 7, 8, 11, 12, 14, 15):
    _ICMP_ERRNO[(3, _code)] = errno.EHOSTUNREACH


def udp_ctlinput(vnet: VNet, icmp_type: int, code: int, m: Mbuf, hlen: int) -> None:
    """An ICMP error quoting one of our datagrams sets so_error on the socket
    connected to exactly that 4-tuple; unconnected sockets never hear of it."""
    err = _ICMP_ERRNO.get((icmp_type, code))
    if not err:
        return
    data = m.data
    inner = hlen + 8
    ihl = (data[inner] & 0x0F) << 2
    qsrc = int.from_bytes(data[inner + 12 : inner + 16], "big")
    qdst = int.from_bytes(data[inner + 16 : inner + 20], "big")
    if qdst == 0 or len(data) < inner + ihl + 4:
        return
    qsport, qdport = struct.unpack_from("!HH", data, inner + ihl)
    inp = vnet.udbinfo.lookup(qdst, qdport, qsrc, qsport, wildcard=False)
    if inp is not None:
        inp.so.so_error = err
        inp.so.sorwakeup()  # udp_notify


# -- output ------------------------------------------------------------------------


def udp_output(
    so: Socket,
    data: bytes,
    sa: tuple[int, int, int, int] | None,
    control: list[tuple[int, int, bytes]],
) -> int:
    """Send one datagram (udp_output): pick or check the addresses, build
    the header, hand it to ip_output."""
    vnet = so.vnet
    inp = so.inp
    n = len(data)
    if n + 28 > IP_MAXPACKET:
        return errno.EMSGSIZE
    tos = inp.tos
    src_override: int | None = None
    for level, ctype, cdata in control:
        if level != IPPROTO_IP:
            continue
        if ctype == IP_SENDSRCADDR:
            if len(cdata) != 4:
                return errno.EINVAL
            src_override = int.from_bytes(cdata, "big")
        elif ctype == IP_TOS and vnet.kernel.profile.udp_tos_cmsg:
            if len(cdata) != 1:
                return errno.EINVAL
            tos = cdata[0]
        else:
            return errno.ENOPROTOOPT
    laddr = inp.laddr
    lport = inp.lport
    if src_override is not None:
        if lport == 0 or (laddr == 0 and src_override == 0):
            return errno.EINVAL
        err, laddr, lport = in_pcbbind_setup(
            inp, (16, 2, src_override, lport), laddr, lport, so.cred
        )
        if err:
            return err
    if sa is not None:
        if inp.faddr:
            return errno.EISCONN
        _sa_len, _family, faddr, fport = sa
        err, faddr = prison_remote_ip4(so.cred, faddr)
        if err:
            return err
        if laddr == 0 or lport == 0 or faddr in (0, 0xFFFFFFFF):
            err, laddr, lport, faddr, fport = in_pcbconnect_setup(
                inp, (sa[0], sa[1], faddr, fport), so.cred, laddr=laddr, lport=lport
            )
            if err:
                return err
            if inp.laddr == 0 and inp.lport == 0:
                # The implicit bind commits the port (and, in a jail with
                # restricted addresses, the source address too).
                if jailed_ip4(so.cred):
                    inp.laddr = laddr
                inp.lport = lport
                inp.pcbinfo.inshash(inp)
                inp.flags |= INP_ANONPORT
    else:
        faddr = inp.faddr
        fport = inp.fport
        if faddr == 0:
            return errno.ENOTCONN
    ulen = n + 8
    hdr = bytearray(28)
    hdr[0] = 0x45
    hdr[1] = tos
    struct.pack_into("!H", hdr, 2, 28 + n)
    if inp.flags & INP_DONTFRAG:
        struct.pack_into("!H", hdr, 6, IP_DF)
    hdr[8] = inp.ttl
    hdr[9] = IPPROTO_UDP
    hdr[12:16] = laddr.to_bytes(4, "big")
    hdr[16:20] = faddr.to_bytes(4, "big")
    struct.pack_into("!HHHH", hdr, 20, lport, fport, ulen, 0)
    flags = 0
    if so.so_options & SO_DONTROUTE:
        flags |= IP_ROUTETOIF
    if so.so_options & SO_BROADCAST:
        flags |= IP_ALLOWBROADCAST
    if inp.flags & INP_ONESBCAST:
        flags |= IP_SENDONES
    csum = bool(vnet.sc["net.inet.udp.checksum"])
    if csum:
        # The pseudo-header sum now, for the final destination (all ones
        # for an IP_ONESBCAST broadcast); ip_output completes it.
        sum_dst = 0xFFFFFFFF if inp.flags & INP_ONESBCAST else faddr
        struct.pack_into("!H", hdr, 26, udp_pseudo_sum(laddr, sum_dst, ulen))
    pkt = hdr + data
    vnet.udpstat.udps_opackets += 1
    m = Mbuf(pkt, None, inp.fibnum, M_UDP_CSUM if csum else 0, f"udp output ({so.name})")
    return ip_output(
        vnet, m, flags=flags, imo=inp.moptions, fib=inp.fibnum, opt=inp.options or None
    )


class UdpProto:
    """udp_usrreqs."""

    name = "udp"
    sosend_dgram = True  # sosend_dgram / soreceive_dgram

    def attach(self, so: Socket, proto: int) -> int:
        vnet = so.vnet
        sc = vnet.kernel.sc
        err = so.soreserve(int(sc["net.inet.udp.maxdgram"]), int(sc["net.inet.udp.recvspace"]))
        if err:
            return err
        inp = vnet.udbinfo.alloc(so, so.cred)
        inp.ttl = int(vnet.sc["net.inet.ip.ttl"]) & 0xFF
        inp.fibnum = so.so_fibnum
        so.inp = inp
        return 0

    def detach(self, so: Socket) -> None:
        if so.inp.moptions is not None:
            from kstack.netinet.in_mcast import inp_freemoptions

            inp_freemoptions(so.inp.moptions)
            so.inp.moptions = None
        so.vnet.udbinfo.detach(so.inp)
        so.soisdisconnected()

    def bind(self, so: Socket, sa: tuple[int, int, int, int]) -> int:
        return in_pcbbind(so.inp, sa, so.cred)

    def connect(self, so: Socket, sa: tuple[int, int, int, int]) -> int:
        inp = so.inp
        if inp.faddr:
            return errno.EISCONN
        err, addr = prison_remote_ip4(so.cred, sa[2])
        if err:
            return err
        err = in_pcbconnect(inp, (sa[0], sa[1], addr, sa[3]), so.cred)
        if err == 0:
            so.soisconnected()
        return err

    def disconnect(self, so: Socket) -> int:
        inp = so.inp
        if inp.faddr == 0:
            return errno.ENOTCONN
        in_pcbdisconnect(inp)
        inp.laddr = 0
        so.soisdisconnected()
        return 0

    def send(
        self,
        so: Socket,
        data: bytes,
        sa: tuple[int, int, int, int] | None,
        control: list[tuple[int, int, bytes]],
    ) -> int:
        return udp_output(so, data, sa, control)

    def ctloutput(
        self, so: Socket, is_set: bool, level: int, name: int, raw: bytes
    ) -> tuple[int, bytes]:
        """udp_ctloutput: UDP_ENCAP at IPPROTO_UDP, the rest at ip_ctloutput."""
        if level == IPPROTO_UDP:
            if is_set and name == UDP_ENCAP:
                if len(raw) < 4:
                    return errno.EINVAL, b""
                return (0 if so.int_value(raw[:4]) == 0 else errno.EINVAL), b""
            return errno.ENOPROTOOPT, b""
        return ip_ctloutput(so, is_set, level, name, raw)


UDP_PROTO = UdpProto()
