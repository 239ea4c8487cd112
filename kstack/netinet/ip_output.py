"""ip_output() and ip_fragment() (netinet/ip_output.c), ip_newid() (ip_id.c)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from kstack.kern.mbuf import M_BCAST, M_FASTFWD_OURS, M_MCAST, M_SKIP_FIREWALL, Mbuf
from kstack.net.if_ethersubr import ether_output
from kstack.net.if_loop import M_CSUM_DATA_VALID, M_CSUM_IP_VALID, if_simloop, looutput
from kstack.net.if_var import IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST, IFF_UP, IFT_LOOP
from kstack.net.pfil import PFIL_OUT, fwd_requested
from kstack.net.route import RTF_BROADCAST, RTF_GATEWAY, RTF_HOST
from kstack.netinet.in_ import ifa_ifwithbroadaddr, ifa_ifwithnet, in_broadcast
from kstack.netinet.ip import (
    IP_ALLOWBROADCAST,
    IP_DF,
    IP_FORWARDING,
    IP_MF,
    IP_OFFMASK,
    IP_RAWOUTPUT,
    IP_ROUTETOIF,
    IP_SENDONES,
    IP_SRCDST,
    IPPROTO_UDP,
    U16,
    U32,
    in_cksum,
    in_pseudo,
)
from kstack.netinet.ip_options import ip_insertoptions, ip_optcopy

# Private mbuf flag set by udp_output (see udp_usrreq): CSUM_UDP, the
# checksum is still to be completed.
M_UDP_CSUM = 0x4_0000_0000
# Private ip_output flag: the "again" label, after a pfil hook changed the
# destination or set a next hop; the header is already filled in.
_IP_AGAIN = 0x1_0000

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.route import Rtentry
    from kstack.net.vnet import VNet


def ip_newid(vnet: VNet) -> int:
    """The next IP ID: a per-vnet counter, or a random non-repeating value
    when net.inet.ip.random_id is set (ip_randomid)."""
    if not vnet.sc.get("net.inet.ip.random_id", 0):
        v = vnet.ip_id
        vnet.ip_id = (v + 1) & 0xFFFF
        return v
    return vnet.ip_randomid()


def ip_output(
    vnet: VNet,
    m: Mbuf,
    *,
    flags: int = 0,
    imo: Any = None,
    fib: int | None = None,
    rt: Rtentry | None = None,
    opt: bytes | None = None,
    via: int = 0,
) -> int:
    """Route and send an IPv4 packet whose header is already built (network
    order). ``opt`` is IP_OPTIONS as a pcb keeps them (first hop + options),
    inserted after a 20-byte header. ``via`` routes to that address instead
    of the destination (a pfil hook's next hop). Returns 0 or an errno, as
    the kernel does."""
    ipstat = vnet.ipstat
    data = m.data
    if fib is not None:
        m.fib = fib
    if opt and not flags & _IP_AGAIN:
        raw_len = U16.unpack_from(data, 2)[0] if flags & IP_RAWOUTPUT else len(data)
        if ip_insertoptions(data, opt, raw_len) and flags & IP_RAWOUTPUT:
            U16.pack_into(data, 2, raw_len + len(opt) - 4)
    hlen = (data[0] & 0x0F) << 2
    if not flags & (IP_FORWARDING | IP_RAWOUTPUT | _IP_AGAIN):
        data[0] = 0x40 | (hlen >> 2)
        U16.pack_into(data, 4, ip_newid(vnet))
        ipstat.ips_localout += 1
    src, dst = IP_SRCDST.unpack_from(data, 12)
    mcast = (dst & 0xF0000000) == 0xE0000000  # IN_MULTICAST
    # A raw IP_HDRINCL header says its own length; bytes written beyond it
    # are not trimmed and go out after the datagram.
    ip_len = U16.unpack_from(data, 2)[0] if flags & IP_RAWOUTPUT else len(data)
    vnet.last_output_mtu = 0
    ia: InIfaddr | None = None
    ifp: Ifnet
    nexthop = dst
    isbroadcast = False
    if flags & IP_SENDONES:
        ia = ifa_ifwithbroadaddr(vnet, dst)
        if ia is None:
            ipstat.ips_noroute += 1
            return errno.ENETUNREACH
        dst = nexthop = 0xFFFFFFFF
        mcast = False
        data[16:20] = b"\xff\xff\xff\xff"
        ifp = ia.ifp
        data[8] = 1
        isbroadcast = True
        rt = None
    elif flags & IP_ROUTETOIF:
        ia = ifa_ifwithnet(vnet, dst)
        if ia is None:
            ipstat.ips_noroute += 1
            return errno.ENETUNREACH
        ifp = ia.ifp
        data[8] = 1
        isbroadcast = in_broadcast(dst, ifp)
        rt = None
    elif mcast and imo is not None and imo.multicast_ifp is not None:
        ifp = imo.multicast_ifp
        ia = ifp.addrs_in[0] if ifp.addrs_in else None
        rt = None
    else:
        if rt is None:
            rt = vnet.rt[m.fib].lookup(via or dst, 1)  # reports a miss
        if rt is None or not rt.ifp.flags & IFF_UP:
            ipstat.ips_noroute += 1
            return errno.EHOSTUNREACH
        ia = rt.ifa
        ifp = rt.ifp
        rt.pksent += 1
        rtflags = rt.flags
        if rtflags & RTF_GATEWAY:
            nexthop = rt.gateway
        elif via:
            nexthop = via
        if rtflags & RTF_HOST:
            isbroadcast = bool(rtflags & RTF_BROADCAST)
        else:
            isbroadcast = in_broadcast(nexthop, ifp)
    if ifp.vnet is not vnet:
        from kstack.panic import Panic

        raise Panic(f"curvnet mismatch: output on {ifp.name} of {ifp.vnet.name} from {vnet.name}")
    if rt is not None:
        if rt.mtu > ifp.mtu:
            rt.mtu = ifp.mtu  # lowered for good, as the kernel does
        mtu = rt.mtu
        vnet.last_output_mtu = mtu
    else:
        mtu = ifp.mtu

    if mcast:
        m.flags |= M_MCAST
        nexthop = dst
        data[8] = imo.multicast_ttl if imo is not None else 1
        if not ifp.flags & IFF_MULTICAST:
            ipstat.ips_noroute += 1
            return errno.ENETUNREACH
        if src == 0 and ia is not None:
            U32.pack_into(data, 12, ia.addr)
        if imo is not None:
            loop = imo.multicast_loop
        else:
            # Before net.inet.ip.mcast.loop existed (seed 001:138) the default
            # was IP_DEFAULT_MULTICAST_LOOP, 1.
            loop = vnet.kernel.sc.get("net.inet.ip.mcast.loop", 1)
        if loop:
            ip_mloopback(vnet, ifp, m, hlen)
        if data[8] == 0 or ifp.flags & IFF_LOOPBACK:
            return 0
        return _sendit(vnet, m, ifp, nexthop, rt, hlen, mtu, flags, imo)

    if src == 0 and ia is not None:
        U32.pack_into(data, 12, ia.addr)

    n = ip_len // mtu + 1 if mtu else 1
    if ifp.snd_len + n >= ifp.snd_maxlen:
        ipstat.ips_odropped += 1
        ifp.snd_drops += n
        return errno.ENOBUFS

    if isbroadcast:
        if not ifp.flags & IFF_BROADCAST:
            return errno.EADDRNOTAVAIL
        if not flags & IP_ALLOWBROADCAST:
            return errno.EACCES
        if ip_len > mtu:
            return errno.EMSGSIZE
        m.flags |= M_BCAST
    else:
        m.flags &= ~M_BCAST
    return _sendit(vnet, m, ifp, nexthop, rt, hlen, mtu, flags, imo)


def _sendit(
    vnet: VNet,
    m: Mbuf,
    ifp: Ifnet,
    nexthop: int,
    rt: Rtentry | None,
    hlen: int,
    mtu: int,
    flags: int,
    imo: Any = None,
) -> int:
    if vnet.pfil.hooked:
        error = _pfil_out(vnet, m, ifp, rt, hlen, flags, imo)
        if error >= 0:
            return error
    ipstat = vnet.ipstat
    data = m.data
    if (data[12] == 127 or data[16] == 127) and not ifp.flags & IFF_LOOPBACK:
        ipstat.ips_badaddr += 1
        return errno.EADDRNOTAVAIL
    raw = flags & IP_RAWOUTPUT
    ip_len = U16.unpack_from(data, 2)[0] if raw else len(data)
    if m.flags & M_UDP_CSUM:
        _udp_cksum(m, hlen, ifp.type == IFT_LOOP and ip_len <= mtu)
    if ip_len <= mtu:
        # _finish_header, inline: ip_len, then the header checksum, which
        # lo0 offloads (left zero).
        U16.pack_into(data, 2, ip_len)
        data[10] = 0
        data[11] = 0
        if ifp.type == IFT_LOOP:
            return looutput(ifp, m, rt)
        U16.pack_into(data, 10, in_cksum(data[:hlen]))
        return ether_output(ifp, m, nexthop, rt)
    if raw and len(data) > ip_len:
        del data[ip_len:]
    ip_off = U16.unpack_from(data, 6)[0]
    if ip_off & IP_DF:
        ipstat.ips_cantfrag += 1
        return errno.EMSGSIZE
    frags = ip_fragment(data, hlen, mtu)
    if frags is None:
        return errno.EMSGSIZE
    ipstat.ips_ofragments += len(frags)
    error = 0
    for fdata in frags:
        fm = Mbuf(fdata, m.rcvif, m.fib, m.flags, m.why)
        _finish_header(fdata, (fdata[0] & 0x0F) << 2, ifp)
        if error == 0:
            error = if_output(ifp, fm, nexthop, rt)
    if error == 0:
        ipstat.ips_fragmented += 1
    return error


def _pfil_out(
    vnet: VNet, m: Mbuf, ifp: Ifnet, rt: Rtentry | None, hlen: int, flags: int, imo: Any
) -> int:
    """The output hooks (the "sendit" label of ip_output). Returns the
    result of ip_output when the hooks settled the packet's fate, -1 when
    it goes on out of ``ifp``."""
    delayed = bool(m.flags & M_UDP_CSUM)
    if delayed and vnet.pfil.out_hooks:
        # Hooks see a finished UDP checksum (pf completes a delayed one
        # before it looks at the packet).
        _udp_cksum(m, hlen, False)
    data = m.data
    odst = bytes(data[16:20])
    error, consumed, name = vnet.pfil.run(m, ifp, PFIL_OUT)
    if error:
        vnet.note(m, f"pfil hook {name} refused output: {errno.errorcode.get(error, error)}")
        return error
    if consumed:
        vnet.note(m, f"pfil hook {name} took an output packet")
        return 0
    if data[16:20] != odst:
        m.flags |= M_SKIP_FIREWALL
        new = int.from_bytes(data[16:20], "big")
        if new in vnet.in_ifaddrhash:
            return _loop_ours(vnet, m, delayed)
        if (
            rt is not None
            and rt.flags & RTF_GATEWAY
            and not vnet.kernel.profile.ip_output_again_resets_dst
        ):
            # 9.0/9.1: the restart writes the new destination where "dst"
            # still points, the gateway of the route just used, and looks
            # the old destination up again.
            rt.gateway = new
            return ip_output(
                vnet, m, flags=flags | _IP_AGAIN, imo=imo, via=int.from_bytes(odst, "big")
            )
        return ip_output(vnet, m, flags=flags | _IP_AGAIN, imo=imo)
    if fwd_requested(vnet, m):
        if m.flags & M_FASTFWD_OURS:
            return _loop_ours(vnet, m, delayed)
        via = m.fwd
        m.fwd = 0
        m.flags |= M_SKIP_FIREWALL
        return ip_output(vnet, m, flags=flags | _IP_AGAIN, imo=imo, via=via)
    return -1


def _loop_ours(vnet: VNet, m: Mbuf, delayed: bool) -> int:
    """A packet a hook made ours goes to ip_input through the netisr queue,
    its checksums taken as verified, received on lo0 when it has no
    receiving interface."""
    m.flags |= M_FASTFWD_OURS | M_CSUM_IP_VALID | (M_CSUM_DATA_VALID if delayed else 0)
    if m.rcvif is None:
        m.rcvif = vnet.lo0
    return vnet.netisr_queue_ip(m)


def udp_pseudo_sum(src: int, dst: int, ulen: int) -> int:
    """What udp_output leaves in uh_sum for the delayed checksum: the
    pseudo-header sum (in_pseudo), folded to 16 bits, for the datagram's
    final destination (a source route's first hop does not change it)."""
    s = in_pseudo(src, dst, IPPROTO_UDP, ulen)
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _udp_cksum(m: Mbuf, hlen: int, offloaded: bool) -> None:
    """The delayed UDP checksum (CSUM_UDP): lo0 offloads it and carries only
    the pseudo-header sum udp_output put in the field; elsewhere it is
    completed in software over the datagram, that sum included, a computed 0
    sent as 0xffff (in_delayed_cksum)."""
    m.flags &= ~M_UDP_CSUM
    if offloaded:
        return
    data = m.data
    c = in_cksum(memoryview(data)[hlen:])
    U16.pack_into(data, hlen + 6, c or 0xFFFF)


def _finish_header(data: bytearray, hlen: int, ifp: Ifnet, ip_len: int = -1) -> None:
    """Set ip_len and the checksum; lo0 offloads the checksum (left zero)."""
    U16.pack_into(data, 2, len(data) if ip_len < 0 else ip_len)
    data[10] = 0
    data[11] = 0
    if ifp.type != IFT_LOOP:
        U16.pack_into(data, 10, in_cksum(data[:hlen]))


def if_output(ifp: Ifnet, m: Mbuf, nexthop: int, rt: Rtentry | None) -> int:
    if ifp.type == IFT_LOOP:
        return looutput(ifp, m, rt)
    return ether_output(ifp, m, nexthop, rt)


def ip_fragment(data: bytearray, hlen: int, mtu: int) -> list[bytearray] | None:
    """Split into fragments of at most ``mtu`` bytes (None: cannot)."""
    chunk = (mtu - hlen) & ~7
    if chunk < 8:
        return None
    ip_off = U16.unpack_from(data, 6)[0]
    base_off = ip_off & IP_OFFMASK
    orig_mf = ip_off & IP_MF
    flags_keep = ip_off & ~(IP_OFFMASK | IP_MF)
    payload = memoryview(data)[hlen:]
    total = len(payload)
    opts = bytes(data[20:hlen])
    later_opts = ip_optcopy(opts)
    later_hdr = bytearray(data[:20]) + later_opts
    later_hdr[0] = 0x40 | (len(later_hdr) >> 2)
    frags: list[bytearray] = []
    first = bytearray(data[:hlen]) + payload[:chunk]
    U16.pack_into(first, 6, flags_keep | base_off | IP_MF)
    frags.append(first)
    pos = chunk
    while pos < total:
        piece = payload[pos : pos + chunk]
        more = pos + len(piece) < total
        f = bytearray(later_hdr) + piece
        off = flags_keep | (base_off + (pos >> 3))
        if more or orig_mf:
            off |= IP_MF
        U16.pack_into(f, 6, off)
        frags.append(f)
        pos += len(piece)
    return frags


def ip_mloopback(vnet: VNet, ifp: Ifnet, m: Mbuf, hlen: int) -> None:
    """Loop a copy of an outgoing multicast back in through ``ifp``: a
    delayed UDP checksum is completed in software and marked valid, and the
    IP header checksum is computed (whatever the interface offloads)."""
    copy = m.copy()
    data = copy.data
    if copy.flags & M_UDP_CSUM:
        _udp_cksum(copy, hlen, False)
        copy.flags |= M_CSUM_DATA_VALID
    U16.pack_into(data, 2, len(data))
    data[10] = 0
    data[11] = 0
    U16.pack_into(data, 10, in_cksum(memoryview(data)[:hlen]))
    if_simloop(ifp, copy)
