"""ip_input() and ip_forward() (netinet/ip_input.c).

The header checks run in the kernel's order and each bumps the counter the
kernel bumps. Header bytes stay in network order in the mbuf; the values the
kernel would have converted in place (``ip_len``, ``ip_off``) are carried as
arguments instead.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from kstack.kern.mbuf import M_BCAST, M_FASTFWD_OURS, M_MCAST, MHLEN, Mbuf
from kstack.net.if_loop import M_CSUM_IP_VALID
from kstack.net.if_var import IFF_BROADCAST, IFF_LOOPBACK
from kstack.net.pfil import PFIL_IN, fwd_requested
from kstack.net.route import RTF_DYNAMIC, RTF_GATEWAY, RTF_MODIFIED
from kstack.netinet.ip import (  # noqa: F401 (the ip_output flags, as ip_var.h gives them)
    IP_ALLOWBROADCAST,
    IP_FORWARDING,
    IP_HDR,
    IP_MF,
    IP_OFFMASK,
    IP_RAWOUTPUT,
    IP_ROUTETOIF,
    IP_SENDONES,
    in_canforward,
    in_linklocal,
    in_multicast,
)
from kstack.netinet.ip_icmp import icmp_error
from kstack.netinet.ip_output import ip_output
from kstack.netinet.ip_reass import ip_reass
from kstack.outcome import DELIVERED, FORWARDED, Outcome, dropped

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet, InIfaddr
    from kstack.net.vnet import VNet

ICMP_UNREACH = 3
ICMP_UNREACH_HOST = 1
ICMP_UNREACH_NEEDFRAG = 4
ICMP_SOURCEQUENCH = 4
ICMP_REDIRECT = 5
ICMP_REDIRECT_HOST = 1
ICMP_TIMXCEED = 11
ICMP_TIMXCEED_INTRANS = 0

IP_MSS = 576  # the minimum datagram every host accepts (netinet/ip.h)

_TOOSHORT = dropped("ips_tooshort")
_BADVERS = dropped("ips_badvers")
_BADHLEN = dropped("ips_badhlen")
_BADADDR = dropped("ips_badaddr")
_BADSUM = dropped("ips_badsum")
_BADLEN = dropped("ips_badlen")
_CANTFORWARD = dropped("ips_cantforward")
_FORWARDED = Outcome(FORWARDED, "ips_forward")
_TIMXCEED = dropped("icps_error", "ip_forward: TTL expired; ICMP time exceeded")


def _curvnet_panic(vnet: VNet, ifp: Any) -> None:
    """CURVNET: a packet of one stack handed to another is a kernel bug."""
    from kstack.panic import Panic

    raise Panic(f"curvnet mismatch: {ifp.name} belongs to {ifp.vnet.name}, not {vnet.name}")


def ip_input(vnet: VNet, m: Mbuf) -> Outcome:
    """Validate a received IPv4 packet and decide where it goes."""
    ifp = m.rcvif
    if ifp is not None and ifp.vnet is not vnet:
        _curvnet_panic(vnet, ifp)
    ipstat = vnet.ipstat
    data = m.data
    if m.flags & M_FASTFWD_OURS:
        # Looped back by ip_output after a pfil hook made it ours: straight
        # to local delivery, none of the checks again (ips_total included).
        m.flags &= ~M_FASTFWD_OURS
        return _ours(vnet, m)
    ipstat.ips_total += 1
    n = len(data)
    if n < 20:
        ipstat.ips_tooshort += 1
        return _TOOSHORT
    vhl, tos, ip_len, ip_id, ip_off, ttl, proto, ip_sum, src, dst = IP_HDR.unpack_from(data)
    if vhl >> 4 != 4:
        ipstat.ips_badvers += 1
        return _BADVERS
    hlen = (vhl & 0x0F) << 2
    if hlen < 20 or hlen > n:
        ipstat.ips_badhlen += 1
        return _BADHLEN
    assert ifp is not None
    if ((dst >> 24) == 127 or (src >> 24) == 127) and not ifp.flags & IFF_LOOPBACK:
        ipstat.ips_badaddr += 1
        return _BADADDR
    # The header sums to 0xffff when the value of its bytes is a multiple
    # of 0xffff (see in_cksum_ok); it is never all zeros (version 4).
    if not m.flags & M_CSUM_IP_VALID and int.from_bytes(data[:hlen], "big") % 0xFFFF:
        ipstat.ips_badsum += 1
        return _BADSUM
    if ip_len < hlen:
        ipstat.ips_badlen += 1
        return _BADLEN
    if n < ip_len:
        ipstat.ips_tooshort += 1
        return _TOOSHORT
    if n > ip_len:
        del data[ip_len:]

    dchg = False
    if vnet.pfil.hooked:
        verdict = _pfil_in(vnet, m)
        if verdict is not None:
            return verdict
        # A hook may have rewritten the header.
        vhl, tos, ip_len, ip_id, ip_off, ttl, proto, ip_sum, src, ndst = IP_HDR.unpack_from(data)
        hlen = (vhl & 0x0F) << 2
        dchg = ndst != dst
        dst = ndst
        if fwd_requested(vnet, m):
            if m.flags & M_FASTFWD_OURS:
                m.flags &= ~M_FASTFWD_OURS
                return _ours(vnet, m)
            # Shipped on directly: no options, no "ours" decision.
            return ip_forward(vnet, m, hlen, ip_len, ip_off, ttl, dst, srcrt=True)

    if hlen > 20:
        from kstack.netinet.ip_options import ip_dooptions

        verdict = ip_dooptions(vnet, m, hlen, ip_len, ip_off, ttl)
        if verdict is not None:
            return verdict
        # A source route may have moved the destination.
        dst = int.from_bytes(data[16:20], "big")

    # Greedy RSVP: while an RSVP daemon runs, every RSVP packet is taken
    # here, whoever it is addressed to.
    if proto == 46 and vnet.ripcbinfo.rsvp_on:
        return _deliver(vnet, m, hlen, ip_len, ip_off, ip_id, proto, src, dst, tos)

    # Is it for us?
    sc = vnet.sc
    forwarding = sc["net.inet.ip.forwarding"]
    ours = False
    if not vnet.in_ifaddrhead and not m.flags & (M_BCAST | M_MCAST):
        ours = True
    else:
        ias = vnet.in_ifaddrhash.get(dst)
        if ias is not None:
            # net.inet.ip.check_interface: the address must be on the
            # receiving interface (not when forwarding, on a loopback, or
            # after a hook changed the destination).
            if (
                not sc["net.inet.ip.check_interface"]
                or forwarding
                or ifp.flags & IFF_LOOPBACK
                or dchg
            ):
                ours = True
            else:
                for ia in ias:
                    if ia.ifp is ifp:
                        ours = True
                        break
        if not ours and ifp.flags & IFF_BROADCAST:
            for ia in ifp.addrs_in:
                if ia.broadaddr == dst:
                    ours = True
                    break
        if not ours:
            if in_multicast(dst) or dst == 0xFFFFFFFF or dst == 0:
                ours = True
            elif in_linklocal(dst):
                ipstat.ips_cantforward += 1
                return _CANTFORWARD
    if not ours:
        if not forwarding:
            ipstat.ips_cantforward += 1
            return _CANTFORWARD
        return ip_forward(vnet, m, hlen, ip_len, ip_off, ttl, dst, srcrt=dchg)

    if ip_off & (IP_MF | IP_OFFMASK):
        return _deliver(vnet, m, hlen, ip_len, ip_off, ip_id, proto, src, dst, tos)
    # Not a fragment: straight to the protocol (the rest of _deliver).
    ipstat.ips_delivered += 1
    return vnet.ip_protox(proto)(vnet, m, hlen, ip_len - hlen)


def _ours(vnet: VNet, m: Mbuf) -> Outcome:
    vhl, tos, ip_len, ip_id, ip_off, _ttl, proto, _sum, src, dst = IP_HDR.unpack_from(m.data)
    return _deliver(vnet, m, (vhl & 0x0F) << 2, ip_len, ip_off, ip_id, proto, src, dst, tos)


def _deliver(
    vnet: VNet,
    m: Mbuf,
    hlen: int,
    ip_len: int,
    ip_off: int,
    ip_id: int,
    proto: int,
    src: int,
    dst: int,
    tos: int,
) -> Outcome:
    """The "ours" label of ip_input: reassembly, then the protocol."""
    if ip_off & (IP_MF | IP_OFFMASK):
        got = ip_reass(vnet, m, hlen, ip_len, ip_off, ip_id, proto, src, dst, tos)
        if isinstance(got, Outcome):
            return got
        m, hlen, ip_len = got
    vnet.ipstat.ips_delivered += 1
    return vnet.ip_protox(proto)(vnet, m, hlen, ip_len - hlen)


def _pfil_in(vnet: VNet, m: Mbuf) -> Outcome | None:
    """pfil_run_hooks(PFIL_IN): None when the packet goes on."""
    error, consumed, name = vnet.pfil.run(m, m.rcvif, PFIL_IN)
    if error:
        return dropped("pfil", f"pfil hook {name}: {errno.errorcode.get(error, error)}")
    if consumed:
        return Outcome(DELIVERED, "pfil", f"pfil hook {name}", "taken by the hook")
    return None


def _mcopy(saved: tuple[bytearray, Ifnet | None, int, int, str, tuple[bytes, int] | None]) -> Mbuf:
    """The mbuf of ip_forward's copy (mcopy), made only when an ICMP error
    quotes it: the bytes and packet header as they were before the TTL
    dropped."""
    data, rcvif, fib, flags, why, srcrt = saved
    m = Mbuf(data, rcvif, fib, flags, why)
    m.srcrt = srcrt
    return m


def ip_forward(
    vnet: VNet, m: Mbuf, hlen: int, ip_len: int, ip_off: int, ttl: int, dst: int, srcrt: bool
) -> Outcome:
    """Forward a packet not addressed to us (forwarding is on). ``srcrt``:
    source-routed by an option, or its destination was changed by a pfil
    hook."""
    ipstat = vnet.ipstat
    if m.flags & (M_BCAST | M_MCAST) or not in_canforward(dst):
        ipstat.ips_cantforward += 1
        return _CANTFORWARD
    if ttl <= 1:
        icmp_error(vnet, m, ICMP_TIMXCEED, ICMP_TIMXCEED_INTRANS, 0, 0)
        return _TIMXCEED
    profile = vnet.kernel.profile
    # ip_rtaddr(): the address of the interface the route to dst leaves by.
    # Before the fix that always looks it up, a source-routed or rewritten
    # packet went on without it.
    rt = vnet.rt[m.fib].lookup(dst, 2)  # ip_rtaddr reports a miss (RT_REPORT_FORWARD)
    ia = rt.ifa if rt is not None and (not srcrt or profile.forward_always_sets_ia) else None
    if ia is None and not srcrt:
        icmp_error(vnet, m, ICMP_UNREACH, ICMP_UNREACH_HOST, 0, 0)
        return dropped("icps_error", "ip_forward: no route; ICMP host unreachable")
    # The copy later ICMP errors quote: taken before the TTL drops, and only
    # what one packet-header mbuf holds.
    saved = (m.data[: min(ip_len, MHLEN)], m.rcvif, m.fib, m.flags, m.why, m.srcrt)
    data = m.data
    data[8] = ttl - 1
    # Redirect when the packet leaves by the interface it came in on, to a
    # sender on the egress subnet, over a route that is neither the default
    # nor one learned from a redirect.
    redirect_dest = 0
    if (
        not srcrt
        and ia is not None
        and ia.ifp is m.rcvif
        and rt is not None
        and vnet.sc["net.inet.ip.redirect"]
        and not rt.flags & (RTF_DYNAMIC | RTF_MODIFIED)
        and rt.dst != 0
        and rt.ifa is not None
    ):
        src = int.from_bytes(data[12:16], "big")
        if (src & rt.ifa.mask) == rt.ifa.subnet:
            redirect_dest = rt.gateway if rt.flags & RTF_GATEWAY else dst
    m.why = "forwarded"
    error = ip_output(vnet, m, flags=IP_FORWARDING)
    if error == 0:
        ipstat.ips_forward += 1
        if redirect_dest:
            ipstat.ips_redirectsent += 1
            icmp_error(vnet, _mcopy(saved), ICMP_REDIRECT, ICMP_REDIRECT_HOST, redirect_dest, 0)
        return _FORWARDED
    ipstat.ips_cantforward += 1
    if error == errno.EMSGSIZE:
        ipstat.ips_cantfrag += 1
        mtu = needfrag_mtu(vnet, ia, ip_len)
        icmp_error(vnet, _mcopy(saved), ICMP_UNREACH, ICMP_UNREACH_NEEDFRAG, 0, mtu)
        return dropped("ips_cantforward", f"EMSGSIZE; ICMP needfrag sent (next-hop MTU {mtu})")
    if error == errno.ENOBUFS:
        if vnet.sc["net.inet.ip.sendsourcequench"]:
            icmp_error(vnet, _mcopy(saved), ICMP_SOURCEQUENCH, 0, 0, 0)
        return dropped("ips_cantforward", "ENOBUFS")
    if error == errno.EACCES:
        return dropped("ips_cantforward", "EACCES: not forwarded (directed broadcast or pfil)")
    icmp_error(vnet, _mcopy(saved), ICMP_UNREACH, ICMP_UNREACH_HOST, 0, 0)
    name = errno.errorcode.get(error, str(error))
    return dropped("ips_cantforward", f"{name}; ICMP host unreachable sent")


def needfrag_mtu(vnet: VNet, ia: InIfaddr | None, ip_len: int) -> int:
    """The next-hop MTU a forwarded needfrag reports (ip_forward, EMSGSIZE).

    9.0: the MTU of the route ip_output used, capped by the MTU of the
    interface ``ia`` belongs to; without a route MTU, that interface's MTU;
    without ``ia`` (a source route before ``ia`` was always looked up), the
    plateau below the packet's length. Each step has a profile switch for
    the behaviour before its fix."""
    profile = vnet.kernel.profile
    mtu = vnet.last_output_mtu if profile.needfrag_route_mtu else 0
    if mtu:
        if ia is not None:
            mtu = min(mtu, ia.ifp.mtu)
    elif ia is not None:
        mtu = ia.ifp.mtu
    elif profile.needfrag_mtu_plateau:
        from kstack.netinet.ip_icmp import ip_next_mtu

        mtu = ip_next_mtu(ip_len, 0)
    else:
        mtu = IP_MSS
    return mtu
