"""IPPROTO_IP socket options (ip_output.c ip_ctloutput) and the control
messages a receiving socket asked for (ip_input.c ip_savecontrol)."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from kstack import sock as S
from kstack.kern.clock import NS
from kstack.kern.cred import PRIV_NETINET_BINDANY, priv_check_cred
from kstack.netinet.in_mcast import IN_MCAST_ONLY
from kstack.netinet.in_pcb import (
    INP_BINDANY,
    INP_DONTFRAG,
    INP_FAITH,
    INP_HIGHPORT,
    INP_LOWPORT,
    INP_ONESBCAST,
    INP_RECVDSTADDR,
    INP_RECVIF,
    INP_RECVOPTS,
    INP_RECVRETOPTS,
    INP_RECVTOS,
    INP_RECVTTL,
    INP_REUSEPORT,
)
from kstack.netinet.ip import in_multicast
from kstack.netinet.ip_options import ip_pcbopts

if TYPE_CHECKING:
    from kstack.kern.uipc_socket import Control, Socket
    from kstack.net.if_var import Ifnet

MLEN = 216  # bytes of data in a plain mbuf on amd64: the IP_OPTIONS limit
MAX_IPOPTLEN = 40
MAXTTL = 255

# Flag options: on/off in inp_flags; getsockopt reads them back as 0 or 1.
_FLAG_BITS = {
    S.IP_RECVOPTS: INP_RECVOPTS,
    S.IP_RECVRETOPTS: INP_RECVRETOPTS,
    S.IP_RECVDSTADDR: INP_RECVDSTADDR,
    S.IP_RECVTTL: INP_RECVTTL,
    S.IP_RECVIF: INP_RECVIF,
    S.IP_FAITH: INP_FAITH,
    S.IP_ONESBCAST: INP_ONESBCAST,
    S.IP_DONTFRAG: INP_DONTFRAG,
    S.IP_BINDANY: INP_BINDANY,
    S.IP_RECVTOS: INP_RECVTOS,
}

# The options ip_ctloutput hands to inp_setmoptions / inp_getmoptions: the
# four BSD ones, the VIF and the any-source joins, and those in_mcast.c brought.
_MCAST_OPTS = (
    frozenset(
        (
            S.IP_MULTICAST_IF,
            S.IP_MULTICAST_TTL,
            S.IP_MULTICAST_LOOP,
            S.IP_MULTICAST_VIF,
            S.IP_ADD_MEMBERSHIP,
            S.IP_DROP_MEMBERSHIP,
        )
    )
    | IN_MCAST_ONLY
)


def ip_ctloutput(so: Socket, is_set: bool, level: int, name: int, raw: bytes) -> tuple[int, bytes]:
    """(errno, value bytes). Levels other than IPPROTO_IP are EINVAL, except
    the SOL_SOCKET settings sosetopt passes down after applying them."""
    from kstack.kern.uipc_socket import sooptcopyin

    inp = so.inp
    if level != S.IPPROTO_IP:
        if level == S.SOL_SOCKET and is_set:
            if name == S.SO_REUSEADDR:
                if in_multicast(inp.laddr):
                    _set_reuseport(so, bool(so.so_options & (S.SO_REUSEADDR | S.SO_REUSEPORT)))
            elif name == S.SO_REUSEPORT:
                _set_reuseport(so, bool(so.so_options & S.SO_REUSEPORT))
            elif name == S.SO_SETFIB:
                inp.fibnum = so.so_fibnum
                return 0, b""
        return errno.EINVAL, b""
    if name == S.IP_RECVTOS and not so.vnet.kernel.profile.ip_recvtos:
        return errno.ENOPROTOOPT, b""  # 9.0: no such option yet
    if name == S.IP_BINDANY and not so.vnet.kernel.profile.ip_bindany:
        return errno.ENOPROTOOPT, b""  # before seed 000:296: not an IP option

    if is_set:
        if name in (S.IP_OPTIONS,):
            if len(raw) > MLEN:
                return errno.EMSGSIZE, b""
            # ip_pcbopts drops the old options before it checks the new ones:
            # a refused value leaves the socket without options.
            err, inp.options = ip_pcbopts(raw)
            return err, b""
        if name == S.IP_BINDANY:
            err = priv_check_cred(so.cred, PRIV_NETINET_BINDANY)
            if err:
                return err, b""
        if name in _FLAG_BITS or name in (S.IP_TOS, S.IP_TTL, S.IP_MINTTL, S.IP_PORTRANGE):
            err, v = sooptcopyin(raw, 4)
            if err:
                return err, b""
            optval = so.int_value(v)
            if name == S.IP_TOS:
                inp.tos = optval & 0xFF
            elif name == S.IP_TTL:
                inp.ttl = optval & 0xFF
            elif name == S.IP_MINTTL:
                if not 0 <= optval <= MAXTTL:
                    return errno.EINVAL, b""
                inp.minttl = optval
            elif name == S.IP_PORTRANGE:
                if optval == S.IP_PORTRANGE_DEFAULT:
                    inp.flags &= ~(INP_LOWPORT | INP_HIGHPORT)
                elif optval == S.IP_PORTRANGE_HIGH:
                    inp.flags = (inp.flags & ~INP_LOWPORT) | INP_HIGHPORT
                elif optval == S.IP_PORTRANGE_LOW:
                    inp.flags = (inp.flags & ~INP_HIGHPORT) | INP_LOWPORT
                else:
                    return errno.EINVAL, b""
            else:
                bit = _FLAG_BITS[name]
                if optval:
                    inp.flags |= bit
                else:
                    inp.flags &= ~bit
            return 0, b""
        if name in _MCAST_OPTS:
            from kstack.netinet.in_mcast import inp_setmoptions

            return inp_setmoptions(so, name, raw), b""
        return errno.ENOPROTOOPT, b""

    # getsockopt
    ib = so.int_bytes
    if name in (S.IP_OPTIONS, S.IP_RETOPTS):
        # What the pcb keeps: the first-hop address (zero unless a source
        # route gave one), then the options (struct ipoption).
        return 0, inp.options
    if name == S.IP_TOS:
        return 0, ib(inp.tos)
    if name == S.IP_TTL:
        return 0, ib(inp.ttl)
    if name == S.IP_MINTTL:
        return 0, ib(inp.minttl)
    if name == S.IP_PORTRANGE:
        if inp.flags & INP_HIGHPORT:
            return 0, ib(S.IP_PORTRANGE_HIGH)
        if inp.flags & INP_LOWPORT:
            return 0, ib(S.IP_PORTRANGE_LOW)
        return 0, ib(S.IP_PORTRANGE_DEFAULT)
    if name in _FLAG_BITS:
        return 0, ib(1 if inp.flags & _FLAG_BITS[name] else 0)
    if name in _MCAST_OPTS:
        from kstack.netinet.in_mcast import inp_getmoptions

        return inp_getmoptions(so, name, raw)
    return errno.ENOPROTOOPT, b""


def _set_reuseport(so: Socket, on: bool) -> None:
    if on:
        so.inp.flags2 |= INP_REUSEPORT
    else:
        so.inp.flags2 &= ~INP_REUSEPORT


# -- control messages (ip_savecontrol) -----------------------------------------

_BT = struct.Struct("<qQ")
_BT_BE = struct.Struct(">qQ")
_TV = struct.Struct("<qq")
_TV_BE = struct.Struct(">qq")
AF_LINK = 18
SOCKADDR_DL_SIZE = 56  # 54 rounded up to the 8-byte boundary if_attach uses


def sockaddr_dl(ifp: Ifnet | None, big_endian: bool) -> bytes:
    """The interface's link-level address as IP_RECVIF returns it."""
    if ifp is None:
        return bytes((8, AF_LINK)) + bytes(6)
    name = ifp.name.encode()
    alen = len(ifp.lladdr)
    b = bytearray(SOCKADDR_DL_SIZE)
    b[0] = SOCKADDR_DL_SIZE
    b[1] = AF_LINK
    b[2:4] = ifp.index.to_bytes(2, "big" if big_endian else "little")
    b[4] = ifp.type
    b[5] = len(name)
    b[6] = alen
    b[7] = 0
    b[8 : 8 + len(name)] = name
    b[8 + len(name) : 8 + len(name) + alen] = ifp.lladdr
    return bytes(b)


def ip_savecontrol(so: Socket, hdr: bytes | bytearray, ifp: Ifnet | None) -> list[Control]:
    """The control messages for one received datagram, in the kernel's
    order: SCM_BINTIME, SCM_TIMESTAMP, IP_RECVDSTADDR, IP_RECVTTL,
    IP_RECVIF, IP_RECVTOS. IP_RECVOPTS and IP_RECVRETOPTS produce nothing
    (that code is not compiled in)."""
    out: list[Control] = []
    opts = so.so_options
    flags = so.inp.flags
    be = so.vnet.kernel.big_endian
    if opts & (S.SO_BINTIME | S.SO_TIMESTAMP):
        wall = so.vnet.kernel.clock.wall_ns
        sec = wall // NS
        frac = ((wall % NS) << 64) // NS
        if opts & S.SO_BINTIME:
            out.append((S.SOL_SOCKET, S.SCM_BINTIME, (_BT_BE if be else _BT).pack(sec, frac)))
        if opts & S.SO_TIMESTAMP:
            usec = (1000000 * (frac >> 32)) >> 32
            out.append((S.SOL_SOCKET, S.SCM_TIMESTAMP, (_TV_BE if be else _TV).pack(sec, usec)))
    if flags & INP_RECVDSTADDR:
        out.append((S.IPPROTO_IP, S.IP_RECVDSTADDR, bytes(hdr[16:20])))
    if flags & INP_RECVTTL:
        out.append((S.IPPROTO_IP, S.IP_RECVTTL, bytes(hdr[8:9])))
    if flags & INP_RECVIF:
        out.append((S.IPPROTO_IP, S.IP_RECVIF, sockaddr_dl(ifp, be)))
    if flags & INP_RECVTOS:
        out.append((S.IPPROTO_IP, S.IP_RECVTOS, bytes(hdr[1:2])))
    return out
