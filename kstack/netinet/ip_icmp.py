"""ICMP (netinet/ip_icmp.c): icmp_input, icmp_error, icmp_reflect and the
response rate limiter (badport_bandlim over ppsratecheck). Received
redirects are applied by rtredirect_fib (kstack.net.route) and the routes
they create expire in kstack.netinet.in_rmx."""

from __future__ import annotations

import errno
import functools
import struct
from typing import TYPE_CHECKING

from kstack.kern.clock import HZ, NS, TICK_NS
from kstack.kern.mbuf import M_BCAST, M_MCAST, Mbuf
from kstack.net.if_var import IFF_BROADCAST
from kstack.net.route import RTF_REDIRECT_FLAGS, rtredirect_fib
from kstack.netinet.in_ import ifaof_ifpforaddr
from kstack.netinet.ip import (
    IP_DF,
    IP_HDR,
    IP_MF,
    IP_SRCDST,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    U16,
    U32,
    in_cksum,
    in_cksum_ok,
    in_multicast,
    ntoa,
)
from kstack.netinet.ip_output import ip_output
from kstack.netinet.raw_ip import M_ICMP_INNER_HOSTLEN, rip_input
from kstack.outcome import ANSWERED, DELIVERED, Outcome, dropped
from kstack.profiles import RAW_HDR_9

if TYPE_CHECKING:
    from kstack.net.vnet import VNet

ICMP_ECHOREPLY = 0
ICMP_UNREACH = 3
ICMP_SOURCEQUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO = 8
ICMP_ROUTERADVERT = 9
ICMP_ROUTERSOLICIT = 10
ICMP_TIMXCEED = 11
ICMP_PARAMPROB = 12
ICMP_TSTAMP = 13
ICMP_TSTAMPREPLY = 14
ICMP_IREQ = 15
ICMP_IREQREPLY = 16
ICMP_MASKREQ = 17
ICMP_MASKREPLY = 18
ICMP_MAXTYPE = 40
ICMP_MINLEN = 8
ICMP_TSLEN = 20
ICMP_MASKLEN = 12
ICMP_ADVLENMIN = 36  # header + inner IP header + 8 bytes

ICMP_UNREACH_NEEDFRAG = 4

# type, code, checksum, and the second word (struct icmp's icmp_hun)
ICMP_HEAD = struct.Struct("!BBHI")
_ICMP_HDR_ROOM = bytes(ICMP_MINLEN)  # an error's ICMP header, before it is filled in

_INFO_TYPES = frozenset(
    (
        ICMP_ECHOREPLY,
        ICMP_ECHO,
        ICMP_ROUTERADVERT,
        ICMP_ROUTERSOLICIT,
        ICMP_TSTAMP,
        ICMP_TSTAMPREPLY,
        ICMP_IREQ,
        ICMP_IREQREPLY,
        ICMP_MASKREQ,
        ICMP_MASKREPLY,
    )
)

# The error messages icmp_input reports to the protocol they quote.
_ERROR_TYPES = frozenset((ICMP_UNREACH, ICMP_TIMXCEED, ICMP_PARAMPROB, ICMP_SOURCEQUENCH))

# Rate-limit buckets (BANDLIM_*)
BANDLIM_ICMP_UNREACH = 0
BANDLIM_ICMP_ECHO = 1
BANDLIM_ICMP_TSTAMP = 2
BANDLIM_RST_CLOSEDPORT = 3
BANDLIM_RST_OPENPORT = 4
BANDLIM_MAX = 7

# Plateau table of ip_next_mtu(), largest first.
MTU_PLATEAUS = (65535, 32000, 17914, 8166, 4352, 2002, 1492, 1280, 1006, 508, 296, 68)

_TOOSHORT = dropped("icps_tooshort")
_CHECKSUM = dropped("icps_checksum")
_BADLEN = dropped("icps_badlen")
_RATELIMITED = dropped("icmp_input: reply suppressed by net.inet.icmp.icmplim")
_REFLECTED = Outcome(ANSWERED, "icps_reflect", "icmp_input")


def ip_next_mtu(mtu: int, direction: int) -> int:
    """The next plateau below ``mtu`` (direction >= 0) or above it (< 0)."""
    if direction >= 0:
        for p in MTU_PLATEAUS:
            if p < mtu:
                return p
        return 0
    if mtu == 65535:
        return 65535
    for p in reversed(MTU_PLATEAUS):
        if p > mtu:
            return p
    return 0


# Why icmp_input passed a message on to rip_input (said when no raw socket takes it).
_WHY_MCAST_QUOTE = "ICMP error quoting a multicast packet (icps_badcode)"
_WHY_BMCAST_ECHO = "broadcast or multicast echo request not answered (net.inet.icmp.bmcastecho=0)"
_WHY_BMCAST_TSTAMP = (
    "broadcast or multicast timestamp request not answered (net.inet.icmp.bmcastecho=0)"
)
_WHY_SHORT_TSTAMP = "short timestamp request not answered (icps_badlen)"
_WHY_NO_MASKREPL = "mask request not answered (net.inet.icmp.maskrepl=0, or too short)"
_WHY_MASK_NOADDR = "mask request: no address on the receiving interface"
_WHY_BADCODE = "ICMP error with a bad code (icps_badcode)"
_WHY_CTLINPUT = "ICMP error, reported to the protocol it quotes"
_WHY_MAXTYPE = "ICMP type above ICMP_MAXTYPE"
_WHY_REDIRECT = "redirect, applied to the routing tables"
_WHY_REDIRECT_IGNORED = (
    "redirect ignored (net.inet.icmp.drop_redirect=1 or net.inet.ip.forwarding=1)"
)
_WHY_REDIRECT_BADLEN = "redirect too short for the header it quotes (icps_badlen)"
_WHY_REDIRECT_BADCODE = "redirect with a code above 3 (icps_badcode)"


def badport_bandlim(vnet: VNet, which: int) -> bool:
    """True when a response of kind ``which`` may be sent now.

    ppsratecheck(): a window of one second opens with the first event after
    the previous window closed; that event is allowed and counts 1, later
    ones are allowed while the count stays below net.inet.icmp.icmplim.

    The limit is per vnet but the windows and counts are not: the kernel
    keeps them in a static table of badport_bandlim(), one per machine
    (kstack keeps it on vnet0), so every stack draws on the same buckets.
    """
    limit = int(vnet.sc["net.inet.icmp.icmplim"])
    if limit <= 0:
        return True
    kernel = vnet.kernel
    rates = kernel.vnet0
    ticks = kernel.clock.now // TICK_NS
    lasttime = rates.icmp_lasttime
    last = lasttime[which]
    if last < 0 or ticks - last >= HZ:
        lasttime[which] = ticks
        rates.icmp_curpps[which] = 1
        return True
    curpps = rates.icmp_curpps
    pps = curpps[which] + 1
    curpps[which] = pps
    return pps < limit


def iptime(vnet: VNet) -> int:
    """Milliseconds since midnight UTC, as ICMP timestamps carry them."""
    wall = vnet.kernel.clock.wall_ns
    return ((wall // NS) % 86400) * 1000 + (wall % NS) // 1_000_000


def icmp_input(vnet: VNet, m: Mbuf, hlen: int, icmplen: int) -> Outcome:
    """A received ICMP message addressed to us (or broadcast/multicast)."""
    icmpstat = vnet.icmpstat
    data = m.data
    if icmplen < ICMP_MINLEN:
        icmpstat.icps_tooshort += 1
        return _TOOSHORT
    if not in_cksum_ok(data[hlen:]):
        icmpstat.icps_checksum += 1
        return _CHECKSUM
    icmp_type = data[hlen]
    code = data[hlen + 1]
    if icmp_type > ICMP_MAXTYPE:
        return rip_input(vnet, m, hlen, icmplen, _WHY_MAXTYPE)
    icmpstat.icps_inhist[icmp_type] += 1

    if icmp_type in _ERROR_TYPES:
        bad = False
        if icmp_type == ICMP_UNREACH:
            bad = code > 15
        elif icmp_type in (ICMP_TIMXCEED, ICMP_PARAMPROB):
            bad = code > 1
        else:
            bad = code != 0
        if bad:
            icmpstat.icps_badcode += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_BADCODE)
        inner = hlen + 8
        if icmplen < ICMP_ADVLENMIN or len(data) < inner + 20:
            icmpstat.icps_badlen += 1
            return _BADLEN
        inner_hl = (data[inner] & 0x0F) << 2
        if inner_hl < 20 or icmplen < 8 + inner_hl + 8:
            icmpstat.icps_badlen += 1
            return _BADLEN
        if vnet.kernel.profile.raw_ip_header == RAW_HDR_9:
            # 9.x swaps the quoted ip_len to host order in place; raw
            # readers see it that way (rendered in rip_input).
            m.flags |= M_ICMP_INNER_HOSTLEN
        inner_dst = int.from_bytes(data[inner + 16 : inner + 20], "big")
        if in_multicast(inner_dst):
            icmpstat.icps_badcode += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_MCAST_QUOTE)
        if hlen > 20 and vnet.kernel.profile.icmp_error_input_strips_options:
            # ip_stripoptions before the protocols see it (11.0 on).
            del data[20:hlen]
            data[0] = (data[0] & 0xF0) | 5
            U16.pack_into(data, 2, len(data))
            hlen = 20
        vnet.icmp_ctlinput(icmp_type, code, m, hlen)
        return rip_input(vnet, m, hlen, icmplen, _WHY_CTLINPUT)

    if icmp_type == ICMP_ECHO:
        if m.flags & (M_BCAST | M_MCAST) and not vnet.sc["net.inet.icmp.bmcastecho"]:
            icmpstat.icps_bmcastecho += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_BMCAST_ECHO)
        data[hlen] = ICMP_ECHOREPLY
        if not badport_bandlim(vnet, BANDLIM_ICMP_ECHO):
            return _RATELIMITED
        # The reply differs from the verified request only in its type and
        # checksum bytes: its checksum follows from the old one, without a
        # second pass over the data (the same value in_cksum gives).
        cksum = _echo_reply_cksum(data[hlen + 2] << 8 | data[hlen + 3])
        return _reflect(vnet, m, hlen, ICMP_ECHOREPLY, "icmp echo reply", cksum)

    if icmp_type == ICMP_TSTAMP:
        if not vnet.sc["net.inet.icmp.bmcastecho"] and m.flags & (M_BCAST | M_MCAST):
            icmpstat.icps_bmcasttstamp += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_BMCAST_TSTAMP)
        if icmplen < ICMP_TSLEN:
            # "break" out of the switch: the request still goes to raw.
            icmpstat.icps_badlen += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_SHORT_TSTAMP)
        data[hlen] = ICMP_TSTAMPREPLY
        now = iptime(vnet)
        U32.pack_into(data, hlen + 12, now)  # receive time
        U32.pack_into(data, hlen + 16, now)  # transmit time
        if not badport_bandlim(vnet, BANDLIM_ICMP_TSTAMP):
            return _RATELIMITED
        return _reflect(vnet, m, hlen, ICMP_TSTAMPREPLY, "icmp timestamp reply")

    if icmp_type == ICMP_MASKREQ:
        if not vnet.sc["net.inet.icmp.maskrepl"] or icmplen < ICMP_MASKLEN:
            return rip_input(vnet, m, hlen, icmplen, _WHY_NO_MASKREPL)
        dst = int.from_bytes(data[16:20], "big")
        src = int.from_bytes(data[12:16], "big")
        # ifaof_ifpforaddr(): the receiving interface's address whose
        # subnet holds the destination (the source for a request sent to
        # 0.0.0.0 or 255.255.255.255), else its first address.
        icmpdst = src if dst in (0, 0xFFFFFFFF) else dst
        rcvif = m.rcvif
        ia = ifaof_ifpforaddr(rcvif, icmpdst) if rcvif is not None else None
        if ia is None:
            return rip_input(vnet, m, hlen, icmplen, _WHY_MASK_NOADDR)
        data[hlen] = ICMP_MASKREPLY
        fake = int(vnet.sc["net.inet.icmp.maskfake"])
        if fake:
            # Stored as the host-order u_int it is, without htonl().
            le = not vnet.kernel.big_endian
            data[hlen + 8 : hlen + 12] = fake.to_bytes(4, "little" if le else "big")
        else:
            U32.pack_into(data, hlen + 8, ia.mask)
        if src == 0 and ia.ifp.flags & IFF_BROADCAST:
            # A request from 0.0.0.0 is answered to the subnet broadcast.
            data[12:16] = ia.broadaddr.to_bytes(4, "big")
        return _reflect(vnet, m, hlen, ICMP_MASKREPLY, "icmp mask reply")

    if icmp_type == ICMP_REDIRECT:
        if vnet.sc["net.inet.icmp.log_redirect"]:
            vnet.note(m, "kernel log: " + _redirect_log_line(data, hlen))
        # RFC 1812: a router ignores redirects.
        if vnet.sc["net.inet.icmp.drop_redirect"] or vnet.sc["net.inet.ip.forwarding"]:
            return rip_input(vnet, m, hlen, icmplen, _WHY_REDIRECT_IGNORED)
        if code > 3:
            icmpstat.icps_badcode += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_REDIRECT_BADCODE)
        inner_hl = (data[hlen + 8] & 0x0F) << 2 if len(data) > hlen + 8 else 0
        if icmplen < ICMP_ADVLENMIN or icmplen < 8 + inner_hl + 8 or inner_hl < 20:
            # "break": counted, then still handed to raw sockets.
            icmpstat.icps_badlen += 1
            return rip_input(vnet, m, hlen, icmplen, _WHY_REDIRECT_BADLEN)
        vnet.icmp_redirect(m, hlen)
        return rip_input(vnet, m, hlen, icmplen, _WHY_REDIRECT)

    return rip_input(vnet, m, hlen, icmplen)


def _redirect_log_line(data: bytearray, hlen: int) -> str:
    """The console line (a printf) of net.inet.icmp.log_redirect: sender,
    quoted destination, new gateway (whatever bytes are there, even in a
    redirect too short to quote a header)."""
    fields = bytes(data[hlen + 4 : hlen + 8]) + bytes(data[hlen + 24 : hlen + 28])
    fields = fields.ljust(8, b"\0")
    src = ntoa(int.from_bytes(data[12:16], "big"))
    gw = ntoa(int.from_bytes(fields[0:4], "big"))
    dst = ntoa(int.from_bytes(fields[4:8], "big"))
    return f"icmp redirect from {src}: {dst} => {gw}"


def icmp_redirect(vnet: VNet, m: Mbuf, hlen: int) -> None:
    """The redirect case of icmp_input once the message passed its checks:
    in_rtredirect in every FIB (whatever FIB the message came in on), then
    pfctlinput(PRC_REDIRECT_HOST), which UDP and raw IP ignore (TCP, not
    emulated, would drop its cached routes)."""
    data = m.data
    src = int.from_bytes(data[12:16], "big")
    gateway = int.from_bytes(data[hlen + 4 : hlen + 8], "big")
    dst = int.from_bytes(data[hlen + 24 : hlen + 28], "big")
    for fibnum in range(len(vnet.rt)):
        rtredirect_fib(vnet, dst, gateway, RTF_REDIRECT_FLAGS, src, fibnum)


def _echo_reply_cksum(old: int) -> int:
    """The checksum of an echo reply made from a request whose checksum
    ``old`` verified: the request's bytes summed to a multiple of 0xffff;
    the reply has type 0 instead of 8 (the high byte of the first word) and
    a zero checksum field, so its sum is -(0x0800 + old) modulo 0xffff.
    -1 when that residue is 0 (all-zero reply, or a sum of exactly 0xffff):
    icmp_send then computes it in full."""
    s = -((ICMP_ECHO << 8) + old) % 0xFFFF
    return (~s) & 0xFFFF if s else -1


def _reflect(vnet: VNet, m: Mbuf, hlen: int, rtype: int, why: str, cksum: int = -1) -> Outcome:
    icmpstat = vnet.icmpstat
    icmpstat.icps_reflect += 1
    icmpstat.icps_outhist[rtype] += 1
    m.why = why
    failure = icmp_reflect(vnet, m, cksum)
    return Outcome(DELIVERED, "icps_reflect", "icmp_input", failure) if failure else _REFLECTED


def icmp_error(vnet: VNet, n: Mbuf, icmp_type: int, code: int, dest: int, mtu: int) -> None:
    """Build an ICMP error quoting ``n`` (network-order header bytes) and send
    it back to its source. ``code`` is the pointer for parameter problems."""
    icmpstat = vnet.icmpstat
    if icmp_type != ICMP_REDIRECT:
        icmpstat.icps_error += 1
    data = n.data
    vhl, _tos, ip_len, _id, ip_off, _ttl, proto, _sum, _src, _dst = IP_HDR.unpack_from(data)
    hlen = (vhl & 0x0F) << 2
    if ip_off & ~(IP_MF | IP_DF):
        return
    if n.flags & (M_BCAST | M_MCAST):
        return
    if len(data) < hlen + ICMP_MINLEN:
        return
    if proto == IPPROTO_ICMP and icmp_type != ICMP_REDIRECT and data[hlen] not in _INFO_TYPES:
        icmpstat.icps_oldicmp += 1
        return
    # min() and max() work on u_int: a negative quotelen is a huge one.
    quotelen = int(vnet.sc["net.inet.icmp.quotelen"]) & 0xFFFFFFFF
    # Before seed 002:784 a TCP segment got the standard quote.
    if (
        proto == IPPROTO_TCP
        and len(data) >= hlen + 20
        and vnet.kernel.profile.icmp_quote_whole_tcp_header
    ):
        th_off = (data[hlen + 12] >> 4) << 2
        if th_off < 20 or th_off + hlen > ip_len:
            return
        icmpelen = max(th_off, min(quotelen, ip_len - hlen))
    else:
        # stdreply: also a TCP segment too short to hold a TCP header.
        icmpelen = max(8, min(quotelen, ip_len - hlen))
    icmplen = min(hlen + icmpelen, len(data), 2048 - 20 - ICMP_MINLEN)
    if icmplen < hlen + ICMP_MINLEN:
        return
    # The second word of the ICMP header: the pointer of a parameter
    # problem, the next-hop MTU of a needfrag, the gateway of a redirect.
    hcode = code
    if icmp_type == ICMP_PARAMPROB:
        word, hcode = code << 24, 0
    elif icmp_type == ICMP_UNREACH and code == ICMP_UNREACH_NEEDFRAG:
        word = mtu & 0xFFFF
    elif icmp_type == ICMP_REDIRECT:
        word = dest
    else:
        word = 0
    icmpstat.icps_outhist[icmp_type] += 1
    # One buffer: the outer header (a copy of the offending one), the ICMP
    # header, then the quote.
    pkt = bytearray().join((data[:20], _ICMP_HDR_ROOM, data[:icmplen]))
    pkt[0] = 0x45
    pkt[1] = 0
    U16.pack_into(pkt, 2, 28 + icmplen)
    if vnet.kernel.profile.icmp_error_clears_ip_off:
        pkt[6] = 0
        pkt[7] = 0
    pkt[9] = IPPROTO_ICMP
    ICMP_HEAD.pack_into(pkt, 20, icmp_type, hcode, 0, word)
    m = Mbuf(pkt, n.rcvif, n.fib, 0)
    m.why = _why(icmp_type, code)
    icmp_reflect(vnet, m)


_ERROR_NAMES = {
    ICMP_UNREACH: "icmp unreachable",
    ICMP_TIMXCEED: "icmp time exceeded",
    ICMP_PARAMPROB: "icmp parameter problem",
    ICMP_REDIRECT: "icmp redirect",
    ICMP_SOURCEQUENCH: "icmp source quench",
}


@functools.cache
def _why(icmp_type: int, code: int) -> str:
    if icmp_type == ICMP_PARAMPROB:
        return f"icmp parameter problem (type 12, pointer {code})"
    return f"{_ERROR_NAMES.get(icmp_type, 'icmp')} (type {icmp_type} code {code})"


def _reflect_source(vnet: VNet, m: Mbuf, src: int, t: int) -> int | None:
    """icmp_reflect's source for a reply to a message not sent to one of
    our addresses: the broadcast address of the receiving interface it was
    sent to, then (net.inet.icmp.reply_from_interface) the receiving
    interface's first address, then the first address of the interface
    net.inet.icmp.reply_src names, then the address of the interface the
    route back leaves by. None: no route back."""
    ifp = m.rcvif
    if ifp is not None and ifp.flags & IFF_BROADCAST:
        for ia in ifp.addrs_in:
            if ia.broadaddr == t:
                return ia.addr
    if ifp is not None and vnet.sc["net.inet.icmp.reply_from_interface"] and ifp.addrs_in:
        return ifp.addrs_in[0].addr
    name = str(vnet.sc["net.inet.icmp.reply_src"])
    rifp = vnet.ifnet_by_name.get(name) if name else None
    if rifp is not None and rifp.addrs_in:
        return rifp.addrs_in[0].addr
    rt = vnet.rt[m.fib].lookup(src, 1)  # ip_rtaddr reports a miss
    if rt is None or rt.ifa is None:
        return None
    return rt.ifa.addr


def icmp_reflect(vnet: VNet, m: Mbuf, cksum: int = -1) -> str:
    """Send an ICMP message back to the source of the packet it answers.
    ``cksum``: the message's checksum when the caller already knows it
    (-1: computed here).

    Returns "" when it went out, else why it did not."""
    icmpstat = vnet.icmpstat
    data = m.data
    src, t = IP_SRCDST.unpack_from(data, 12)
    top = src >> 24
    if top >= 224 or top == 0:  # multicast, experimental, broadcast, 0/8
        icmpstat.icps_badaddr += 1
        return "icps_badaddr"
    # The reply's source: the address it was sent to when that is ours
    # (the common case), else searched for.
    newsrc = t if t in vnet.in_ifaddrhash else _reflect_source(vnet, m, src, t)
    if newsrc is None:
        icmpstat.icps_noroute += 1
        return "icps_noroute"
    IP_SRCDST.pack_into(data, 12, newsrc, src)
    data[8] = int(vnet.sc["net.inet.ip.ttl"]) & 0xFF  # the int ip_defttl into u_char ip_ttl
    hlen = (data[0] & 0x0F) << 2
    opts: bytes | None = None
    if hlen > 20:
        from kstack.netinet.ip_options import icmp_reflect_options

        hlen, opts = icmp_reflect_options(vnet, m, hlen)
    m.flags &= ~(M_BCAST | M_MCAST)
    # icmp_send(): checksum the ICMP part, then ip_output inserts the options.
    data = m.data
    if cksum < 0:
        data[hlen + 2] = 0
        data[hlen + 3] = 0
        cksum = in_cksum(memoryview(data)[hlen:])
    U16.pack_into(data, hlen + 2, cksum)
    error = ip_output(vnet, m, opt=opts) if opts else ip_output(vnet, m)
    if error:
        return f"ip_output: {errno.errorcode.get(error, error)}"
    return ""
