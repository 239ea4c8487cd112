"""IP options (netinet/ip_options.c).

``net.inet.ip.process_options`` says what ip_input does with a header that
carries options: 0 passes them over untouched, 2 refuses the packet with
ICMP 3/13, and 1 (the default) processes them in place, option by option:

* EOL ends the list, NOP is one byte; every other option needs a length
  byte of at least 2 that fits in the header (else a parameter problem
  pointing at the length byte);
* Record Route writes the address of the interface that owns the
  destination (ours) or of the route towards it (forwarded);
* Timestamp writes milliseconds since midnight UTC, with the receiving
  interface's address (flag 1) or only at a prespecified address of ours
  (flag 3); a full option bumps its overflow counter;
* Loose and Strict Source Route move the destination to the next listed
  hop, record our outgoing address and forward, as far as
  ``net.inet.ip.sourceroute`` and ``net.inet.ip.accept_sourceroute`` allow;
  a route that ends here is saved for the reply (:func:`ip_srcroute`);
* anything else (Router Alert, Security, unknown) is passed over.

The header checksum is not updated: raw readers see the received one. A
refused option is answered with ICMP (a parameter problem carries the
offset of the offending byte) and counted in ``ips_badoptions``.

The sending side: :func:`ip_pcbopts` checks and stores IP_OPTIONS,
:func:`ip_insertoptions` puts them into each datagram, :func:`ip_optcopy`
picks what later fragments carry; :func:`icmp_reflect_options` builds the
options of an ICMP reply.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING

from kstack.netinet.ip import U16, in_multicast, ntoa
from kstack.outcome import Outcome, dropped

if TYPE_CHECKING:
    from kstack.kern.mbuf import Mbuf
    from kstack.net.vnet import VNet

IPOPT_EOL = 0
IPOPT_NOP = 1
IPOPT_RR = 7
IPOPT_TS = 68
IPOPT_SECURITY = 130
IPOPT_LSRR = 131
IPOPT_SSRR = 137
IPOPT_RA = 148
IPOPT_TS_TSONLY = 0
IPOPT_TS_TSANDADDR = 1
IPOPT_TS_PRESPEC = 3
MAX_IPOPTLEN = 40

ICMP_UNREACH = 3
ICMP_UNREACH_HOST = 1
ICMP_UNREACH_SRCFAIL = 5
ICMP_UNREACH_FILTER_PROHIB = 13
ICMP_PARAMPROB = 12

__all__ = [
    "icmp_reflect_options",
    "ip_dooptions",
    "ip_insertoptions",
    "ip_optcopy",
    "ip_pcbopts",
    "ip_srcroute",
]


def _opt_sysctl(vnet: VNet, name: str) -> int:
    """One of the option sysctls: machine-wide in 9.x, per vnet from 10.1."""
    v = vnet.sc.get(name)
    # Before process_options existed (seed 002:1036) options were always processed.
    return int(vnet.kernel.sc.get(name, 1) if v is None else v)


class _Refused(Exception):
    """An option ip_dooptions refuses: the ICMP error to send back."""

    def __init__(self, icmp_type: int, code: int, why: str) -> None:
        super().__init__(why)
        self.icmp_type = icmp_type
        self.code = code
        self.why = why


def _param(pointer: int, why: str) -> _Refused:
    return _Refused(ICMP_PARAMPROB, pointer, f"{why}: ICMP parameter problem, pointer {pointer}")


def _srcfail(why: str) -> _Refused:
    return _Refused(ICMP_UNREACH, ICMP_UNREACH_SRCFAIL, f"{why}: ICMP source route failed")


def _options(data: bytearray | bytes, hlen: int) -> Iterator[tuple[int, int, int]]:
    """(offset in the header, option, length) of each option before EOL;
    raises _Refused at the first option whose length is malformed."""
    i = 20
    while i < hlen:
        opt = data[i]
        if opt == IPOPT_EOL:
            return
        if opt == IPOPT_NOP:
            yield i, opt, 1
            i += 1
            continue
        left = hlen - i
        if left < 2:
            raise _param(i + 1, f"option {opt} has no length byte")
        olen = data[i + 1]
        if olen < 2 or olen > left:
            raise _param(i + 1, f"option {opt} length {olen}")
        yield i, opt, olen
        i += olen


def ip_dooptions(
    vnet: VNet, m: Mbuf, hlen: int, ip_len: int, ip_off: int, ttl: int
) -> Outcome | None:
    """Process the options of a received packet (ip_input, before the "is it
    ours" test). None: the packet goes on (its header possibly rewritten);
    otherwise the outcome: refused (ICMP sent), dropped, or forwarded along
    a source route."""
    mode = _opt_sysctl(vnet, "net.inet.ip.process_options")
    if not mode:
        return None
    from kstack.netinet.ip_icmp import icmp_error

    if mode == 2:
        vnet.ipstat.ips_badoptions += 1
        icmp_error(vnet, m, ICMP_UNREACH, ICMP_UNREACH_FILTER_PROHIB, 0, 0)
        return dropped("ips_badoptions", "process_options=2: ICMP filter-prohibited sent")
    data = m.data
    dst0 = int.from_bytes(data[16:20], "big")
    forward = False
    try:
        for o, opt, olen in _options(data, hlen):
            if opt in (IPOPT_LSRR, IPOPT_SSRR):
                step = _source_route(vnet, m, o, opt, olen)
                if isinstance(step, Outcome):
                    return step
                forward = forward or step
            elif opt == IPOPT_RR:
                _record_route(vnet, m, o, olen)
            elif opt == IPOPT_TS:
                _timestamp(vnet, m, o, olen, dst0)
    except _Refused as r:
        icmp_error(vnet, m, r.icmp_type, r.code, 0, 0)
        vnet.ipstat.ips_badoptions += 1
        return dropped("ips_badoptions", r.why)
    if forward and vnet.sc["net.inet.ip.forwarding"]:
        from kstack.netinet.ip_input import ip_forward

        dst = int.from_bytes(data[16:20], "big")
        return ip_forward(vnet, m, hlen, ip_len, ip_off, ttl, dst, srcrt=True)
    return None


def _route_ifa_addr(vnet: VNet, m: Mbuf, dst: int) -> int | None:
    """ip_rtaddr: the address of the interface the route to ``dst`` uses."""
    rt = vnet.rt[m.fib].lookup(dst, 1)  # reports a miss
    if rt is None or rt.ifa is None:
        return None
    return rt.ifa.addr


def _source_route(vnet: VNet, m: Mbuf, o: int, opt: int, olen: int) -> bool | Outcome:
    """LSRR/SSRR. True: the packet is to be forwarded to the next hop
    (its destination rewritten); False: nothing to do here; an Outcome: the
    packet is dropped without an answer."""
    from kstack.netinet.in_ import ifa_ifwithaddr, ifa_ifwithdstaddr, ifa_ifwithnet

    data = m.data
    kind = "strict source route" if opt == IPOPT_SSRR else "loose source route"
    if olen < 3:
        raise _param(o + 1, f"{kind} length {olen}")
    ptr = data[o + 2]
    if ptr < 4:
        raise _param(o + 2, f"{kind} pointer {ptr}")
    dst = int.from_bytes(data[16:20], "big")
    if ifa_ifwithaddr(vnet, dst) is None:
        # Not at a listed hop yet.
        if opt == IPOPT_SSRR:
            raise _srcfail(f"{kind} through {ntoa(dst)}, which is not ours")
        if not _opt_sysctl(vnet, "net.inet.ip.sourceroute"):
            raise _srcfail(f"{kind} (net.inet.ip.sourceroute=0)")
        return False
    p = ptr - 1
    if p > olen - 4:
        # The route ends here.
        if not _opt_sysctl(vnet, "net.inet.ip.accept_sourceroute"):
            raise _srcfail(f"{kind} ending here (net.inet.ip.accept_sourceroute=0)")
        m.srcrt = (bytes(data[o : o + olen]), int.from_bytes(data[12:16], "big"))
        return False
    if not _opt_sysctl(vnet, "net.inet.ip.sourceroute"):
        if vnet.sc["net.inet.ip.forwarding"]:
            raise _srcfail(f"{kind} with hops left (net.inet.ip.sourceroute=0)")
        vnet.ipstat.ips_cantforward += 1
        return dropped("ips_cantforward", f"{kind} with hops left; not a router: dropped")
    nxt = int.from_bytes(data[o + p : o + p + 4], "big")
    if opt == IPOPT_SSRR:
        ia = ifa_ifwithdstaddr(vnet, nxt) or ifa_ifwithnet(vnet, nxt)
        addr = ia.addr if ia is not None else None
    else:
        addr = _route_ifa_addr(vnet, m, nxt)
    if addr is None:
        raise _srcfail(f"{kind}: no way to the next hop {ntoa(nxt)}")
    data[16:20] = nxt.to_bytes(4, "big")
    data[o + p : o + p + 4] = addr.to_bytes(4, "big")
    data[o + 2] = (ptr + 4) & 0xFF
    return not in_multicast(nxt)


def _record_route(vnet: VNet, m: Mbuf, o: int, olen: int) -> None:
    from kstack.netinet.in_ import ifa_ifwithaddr

    data = m.data
    if olen < 3:
        raise _param(o + 2, f"record route length {olen}")
    ptr = data[o + 2]
    if ptr < 4:
        raise _param(o + 2, f"record route pointer {ptr}")
    p = ptr - 1
    if p > olen - 4:
        return  # full: left alone
    dst = int.from_bytes(data[16:20], "big")
    ia = ifa_ifwithaddr(vnet, dst)
    addr = ia.addr if ia is not None else _route_ifa_addr(vnet, m, dst)
    if addr is None:
        raise _Refused(ICMP_UNREACH, ICMP_UNREACH_HOST, "record route: no route; ICMP 3/1")
    data[o + p : o + p + 4] = addr.to_bytes(4, "big")
    data[o + 2] = (ptr + 4) & 0xFF


def _timestamp(vnet: VNet, m: Mbuf, o: int, olen: int, dst0: int) -> None:
    from kstack.netinet.in_ import ifa_ifwithaddr, ifaof_ifpforaddr
    from kstack.netinet.ip_icmp import iptime

    data = m.data
    if olen < 4 or olen > MAX_IPOPTLEN:
        raise _param(o + 1, f"timestamp length {olen}")
    ptr = data[o + 2]
    if ptr < 5:
        raise _param(o + 1, f"timestamp pointer {ptr}")
    if ptr > olen - 4:
        # No room (tested on the 1-based pointer, so the last slot is never
        # used): count an overflow in the high nibble, a u_char.
        data[o + 3] = (data[o + 3] + 0x10) & 0xFF
        if not data[o + 3] & 0xF0:
            raise _param(o + 2, "timestamp overflow counter wrapped")
        return
    p = ptr - 1
    flag = data[o + 3] & 0x0F
    if flag in (IPOPT_TS_TSANDADDR, IPOPT_TS_PRESPEC):
        if p + 8 > olen:
            raise _param(o + 2, f"timestamp (flag {flag}) has no room for address and time")
        if flag == IPOPT_TS_TSANDADDR:
            ia = ifaof_ifpforaddr(m.rcvif, dst0) if m.rcvif is not None else None
            if ia is None:
                return
            data[o + p : o + p + 4] = ia.addr.to_bytes(4, "big")
        elif ifa_ifwithaddr(vnet, int.from_bytes(data[o + p : o + p + 4], "big")) is None:
            return  # a prespecified address that is not ours
        p += 4
        data[o + 2] = (data[o + 2] + 4) & 0xFF
    elif flag != IPOPT_TS_TSONLY:
        raise _param(o + 3, f"timestamp flag {flag}")
    data[o + p : o + p + 4] = iptime(vnet).to_bytes(4, "big")
    data[o + 2] = (data[o + 2] + 4) & 0xFF


# -- the source route saved for replies -----------------------------------------


def ip_srcroute(m: Mbuf) -> bytes | None:
    """The reply route of a source-routed packet that ended here (save_rte),
    as IP_OPTIONS holds it: the first hop (the last address recorded), then
    NOP and the option with its pointer reset and the recorded hops in
    reverse order, ending at the original source. None without one; the
    saved route is consumed."""
    saved = m.srcrt
    if saved is None:
        return None
    m.srcrt = None
    option, src = saved
    olen = option[1]
    nhops = (olen - 3) // 4
    if nhops == 0:
        return None
    hops = [option[3 + 4 * i : 7 + 4 * i] for i in range(nhops)]
    out = bytearray(hops[-1])
    out += bytes((IPOPT_NOP, option[0], olen, 4))
    for hop in reversed(hops[:-1]):
        out += hop
    out += src.to_bytes(4, "big")
    return bytes(out)


def icmp_reflect_options(vnet: VNet, m: Mbuf, hlen: int) -> tuple[int, bytes]:
    """The options of an ICMP reply (icmp_reflect): the reversed source route
    if one was saved, then copies of the Record Route, Timestamp and
    Security options of the request (as processed), padded with EOL. The
    request's options are removed from ``m``. Returns (20, options for
    ip_output: first hop + option list)."""
    data = m.data
    opts = bytearray(ip_srcroute(m) or bytes(4))
    i = 20
    while i < hlen:
        opt = data[i]
        if opt == IPOPT_EOL:
            break
        if opt == IPOPT_NOP:
            i += 1
            continue
        if hlen - i < 2:
            break
        olen = data[i + 1]
        if olen < 2 or olen > hlen - i:
            break
        if opt in (IPOPT_RR, IPOPT_TS, IPOPT_SECURITY):
            opts += data[i : i + olen]
        i += olen
    while len(opts) & 3:
        opts.append(IPOPT_EOL)
    del data[20:hlen]
    data[0] = 0x45
    U16.pack_into(data, 2, len(data))
    return 20, bytes(opts)


# -- sending ----------------------------------------------------------------------


def ip_pcbopts(raw: bytes) -> tuple[int, bytes]:
    """IP_OPTIONS set: (errno, what the pcb keeps). An empty value clears.
    What is kept is the first-hop address (zero unless a source route gave
    one) followed by the options; a source route's first listed hop is
    taken out of the option and becomes the first hop. EINVAL: a length
    that is not a multiple of 4, a malformed option, a source route without
    a hop, more than 40 bytes of options."""
    if not raw:
        return 0, b""
    if len(raw) % 4:
        return errno.EINVAL, b""
    buf = bytearray(4) + bytearray(raw)
    i = 4
    while i < len(buf):
        opt = buf[i]
        if opt == IPOPT_EOL:
            break
        if opt == IPOPT_NOP:
            i += 1
            continue
        left = len(buf) - i
        if left < 2:
            return errno.EINVAL, b""
        olen = buf[i + 1]
        if olen < 2 or olen > left:
            return errno.EINVAL, b""
        if opt in (IPOPT_LSRR, IPOPT_SSRR):
            if olen < 7:
                return errno.EINVAL, b""
            buf[0:4] = buf[i + 3 : i + 7]
            del buf[i + 3 : i + 7]
            olen -= 4
            buf[i + 1] = olen
        i += olen
    if len(buf) > MAX_IPOPTLEN + 4:
        return errno.EINVAL, b""
    return 0, bytes(buf)


def ip_insertoptions(data: bytearray, opts: bytes, ip_len: int) -> int:
    """Put the options of ``opts`` (first hop + list) after the 20-byte
    header of ``data``; a non-zero first hop becomes the destination.
    Returns the new header length, or 0 when the datagram would pass the
    IP maximum (the options are then silently not inserted)."""
    optlen = len(opts) - 4
    if optlen + ip_len > 0xFFFF:
        return 0
    if opts[:4] != b"\0\0\0\0":
        data[16:20] = opts[:4]
    data[20:20] = opts[4:]
    hlen = 20 + optlen
    data[0] = 0x40 | (hlen >> 2)
    return hlen


def ip_optcopy(opts: bytes) -> bytes:
    """The options a later fragment carries: those with the copied bit, and
    every NOP (kept for the alignment of a source route), padded with EOL."""
    out = bytearray()
    i = 0
    n = len(opts)
    while i < n:
        opt = opts[i]
        if opt == IPOPT_EOL:
            break
        if opt == IPOPT_NOP:
            out.append(IPOPT_NOP)
            i += 1
            continue
        if i + 1 >= n:
            break
        olen = min(opts[i + 1], n - i)
        if olen < 2:
            break
        if opt & 0x80:
            out += opts[i : i + olen]
        i += olen
    while len(out) & 3:
        out.append(IPOPT_EOL)
    return bytes(out)
