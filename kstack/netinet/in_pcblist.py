"""The pcb list sysctls: ``net.inet.udp.pcblist`` and ``net.inet.raw.pcblist``.

FreeBSD: sys/netinet/udp_usrreq.c udp_pcblist(), sys/netinet/raw_ip.c
rip_pcblist(), sys/kern/uipc_socket.c sotoxsocket(), sys/kern/uipc_sockbuf.c
sbtoxsockbuf(), sys/kern/kern_prot.c cr_canseeinpcb(). These are what
netstat(1) reads to list sockets.

A read returns what a read with a big enough buffer gets: a ``struct
xinpgen`` (the pcb count and generation numbers when the list was taken),
one ``struct xinpcb`` per pcb the reader may see, newest first, and a
closing ``struct xinpgen`` with the numbers again. The layouts are 9.0's on
amd64 (LP64, host byte order: little-endian unless the profile is
big-endian; ports and addresses in network order as in the kernel):

=================  =====  ==================================================
struct             bytes  notes
=================  =====  ==================================================
xinpgen             32    xig_len, xig_count, xig_gen, xig_sogen
xinpcb             552    xi_len, a copy of struct inpcb (392), xsocket, pad
xsocket            144    with two xsockbufs of 36 bytes
=================  =====  ==================================================

Before seed 003:10 (``xsockbuf_mbuf_counts`` off) an xsockbuf has no
``sb_mcnt``/``sb_ccnt``: 28 bytes, so xsocket is 128 and xinpcb 536.

The head's ``xig_count`` is the number of pcbs of the protocol in the vnet,
including those the reader may not see; the trailer repeats the numbers as
they are at the end of the read.

Don't-care fields. ``xi_inp`` is a byte copy of the kernel's pcb, kernel
pointers and lock words included. kstack fills every pointer of it with 0
except three stand-ins, which are deterministic and unique per pcb but not
addresses of anything: ``inp_socket`` = ``xso_so`` (the socket) and
``so_pcb`` (the pcb), both ``0xfffffe0000000000 | vnet << 32 | list << 28 |
serial << 10`` (the socket with bit 27 set too), where ``list`` is 1 for
UDP and 2 for raw. The lock words (``inp_lock``) are 0. ``inp_refcount`` is
2, as in the kernel, where the list handler holds a reference while it
copies the pcb.

The generation counts follow the kernel: a pcb's allocation takes the next
``ipi_gencnt`` (its ``inp_gencnt``), its release takes two more
(in_pcbfree, then in_pcbremlists); ``so_gencnt`` is machine-wide and moves
at each socket allocation and release.

Size probes (``Kernel.sysctl_size``, the read with no buffer) answer
``2 * 32 + (n + max(n // 8, 10)) * sizeof(xinpcb)``, n the pcb count; before
seed 000:137 (``pcblist_slack_min10`` off) the slack was ``n // 8`` alone.

Visibility (cr_canseeinpcb): a reader sees pcbs created in its own prison
or below it (the host sees every pcb of its stack, a jail only its own);
with ``security.bsd.see_other_uids`` = 0, a reader that is not root sees
only pcbs of its own uid. security.bsd.see_other_gids is not modelled
(credentials carry no groups).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from kstack.kern.sysctl import (
    CTLFLAG_RD,
    CTLFLAG_RW,
    CTLTYPE_INT,
    CTLTYPE_LONG,
    CTLTYPE_OPAQUE,
    CTLTYPE_UINT,
    CTLTYPE_ULONG,
    Ctx,
    Oid,
    SysctlTree,
    Value,
    sysctl_error,
    sysctl_read,
)

if TYPE_CHECKING:
    from kstack.kern.cred import Ucred
    from kstack.kern.uipc_socket import Sockbuf, Socket
    from kstack.netinet.in_pcb import Inpcb, Pcbinfo

__all__ = [
    "INPCB_LEN",
    "PCBLIST_OIDS",
    "XINPGEN_LEN",
    "cr_canseeinpcb",
    "pcblist",
    "pcblist_size",
    "sysctl_size",
    "xinpcb_len",
    "xsockbuf_len",
    "xsocket_len",
]

XINPGEN_LEN = 32
INPCB_LEN = 392
_XSOCKBUF_LEN = 36  # u_int x6, int x2, short, padded to 4
_XSOCKBUF_OLD_LEN = 28  # without sb_mcnt, sb_ccnt

# Offsets inside struct inpcb (9.0, amd64).
_INP_SOCKET = 88
_INP_FLAGS = 108
_INP_FLAGS2 = 112
_INP_VFLAG = 116  # then inp_ip_ttl, inp_ip_p, inp_ip_minttl
_INP_REFCOUNT = 124
_INP_FIBNUM = 194  # in_conninfo.inc_fibnum
_INP_FPORT = 196
_INP_LPORT = 198
_INP_FADDR = 212  # the IPv4 word of the 16-byte foreign address union
_INP_LADDR = 228
_INP_TOS = 248
_INP_GENCNT = 336

INP_IPV4 = 0x1
_INP_INHASHLIST = 0x00002000

_KVA = 0xFFFFFE0000000000
_LIST_TAG = {"udp": 1, "raw": 2}


def xsockbuf_len(profile: Any) -> int:
    return _XSOCKBUF_LEN if profile.xsockbuf_mbuf_counts else _XSOCKBUF_OLD_LEN


def xsocket_len(profile: Any) -> int:
    """sizeof(struct xsocket): 64 bytes of header, two xsockbufs, so_uid,
    padded to 8."""
    n = 64 + 2 * xsockbuf_len(profile) + 4
    return (n + 7) & ~7


def xinpcb_len(profile: Any) -> int:
    return 8 + INPCB_LEN + xsocket_len(profile) + 8


def _order(ctx: Ctx) -> str:
    return ">" if ctx.kernel.big_endian else "<"


def _stand_in(inp: Inpcb, socket: bool) -> int:
    """A deterministic stand-in for a kernel pointer (don't-care)."""
    pcbinfo = inp.pcbinfo
    tag = _LIST_TAG.get(pcbinfo.name, 3)
    addr = _KVA | (pcbinfo.vnet.id << 32) | (tag << 28) | ((inp.serial & 0x1FFFF) << 10)
    return addr | (1 << 27) if socket else addr


def pcbinfo_gencnt(pcbinfo: Pcbinfo) -> int:
    """ipi_gencnt: one step per allocation, two per release (in_pcbfree and
    in_pcbremlists each take one)."""
    allocated = pcbinfo.serial
    freed = allocated - len(pcbinfo.listhead)
    return allocated + 2 * freed


def cr_canseeinpcb(ctx: Ctx, inp: Inpcb) -> bool:
    """kern_prot.c cr_canseeinpcb: prison_check, then see_other_uids."""
    reader: Ucred | None = ctx.cred
    if reader is None:
        return True
    owner = inp.cred
    rp = reader.prison
    op = owner.prison
    if rp is not None and rp is not op:
        # prison_check: the same prison or one below it (kstack jails have
        # no children).
        return False
    if not int(ctx.kernel.sc["security.bsd.see_other_uids"]) and reader.uid != owner.uid:
        # PRIV_SEEOTHERUIDS: root has it, in a jail too.
        return reader.uid == 0
    return True


def _xsockbuf(sb: Sockbuf, o: str, counts: bool) -> bytes:
    if counts:
        return struct.pack(
            o + "6I2ih2x",
            sb.cc,
            sb.hiwat,
            sb.mbcnt,
            sb.mcnt,
            sb.ccnt,
            sb.mbmax,
            sb.lowat,
            sb.timeo,
            0,  # sb_flags
        )
    return struct.pack(o + "4I2ih2x", sb.cc, sb.hiwat, sb.mbcnt, sb.mbmax, sb.lowat, sb.timeo, 0)


def _xsocket(so: Socket, inp: Inpcb, o: str, profile: Any) -> bytes:
    """sotoxsocket()."""
    counts = bool(profile.xsockbuf_mbuf_counts)
    head = struct.pack(
        o + "QQHHHHQiiHHHhHxxiQ",
        xsocket_len(profile),
        _stand_in(inp, True),  # xso_so
        so.type & 0xFFFF,
        so.so_options & 0xFFFF,
        so.so_linger & 0xFFFF,
        so.so_state & 0xFFFF,
        _stand_in(inp, False),  # so_pcb
        so.pr_protocol,
        so.family,
        0,  # so_qlen
        0,  # so_incqlen
        0,  # so_qlimit
        0,  # so_timeo
        so.so_error & 0xFFFF,
        0,  # so_pgid
        0,  # so_oobmark
    )
    body = _xsockbuf(so.so_rcv, o, counts) + _xsockbuf(so.so_snd, o, counts)
    tail = struct.pack(o + "I", so.cred.uid & 0xFFFFFFFF)
    out = head + body + tail
    return out + bytes(xsocket_len(profile) - len(out))


def _inpcb(inp: Inpcb, o: str) -> bytes:
    """The copy of struct inpcb the list handlers take (bcopy)."""
    b = bytearray(INPCB_LEN)
    flags = inp.flags | (_INP_INHASHLIST if inp.hashed else 0)
    struct.pack_into(o + "Q", b, _INP_SOCKET, _stand_in(inp, True))
    struct.pack_into(o + "ii", b, _INP_FLAGS, flags, inp.flags2)
    b[_INP_VFLAG : _INP_VFLAG + 4] = bytes(
        (INP_IPV4, inp.ttl & 0xFF, inp.ip_p & 0xFF, inp.minttl & 0xFF)
    )
    struct.pack_into(o + "I", b, _INP_REFCOUNT, 2)
    struct.pack_into(o + "H", b, _INP_FIBNUM, inp.fibnum & 0xFFFF)
    struct.pack_into("!HH", b, _INP_FPORT, inp.fport, inp.lport)
    struct.pack_into("!I", b, _INP_FADDR, inp.faddr)
    struct.pack_into("!I", b, _INP_LADDR, inp.laddr)
    b[_INP_TOS] = inp.tos & 0xFF
    struct.pack_into(o + "Q", b, _INP_GENCNT, inp.so.inp_gencnt)
    return bytes(b)


def _xinpgen(o: str, count: int, gen: int, sogen: int) -> bytes:
    return struct.pack(o + "QI4xQQ", XINPGEN_LEN, count, gen, sogen)


def _pcbinfo(ctx: Ctx, which: str) -> Pcbinfo:
    vnet: Any = ctx.vnet if ctx.vnet is not None else ctx.kernel.vnet0
    info: Pcbinfo = vnet.udbinfo if which == "udp" else vnet.ripcbinfo
    return info


def pcblist(ctx: Ctx, which: str) -> bytes:
    """udp_pcblist / rip_pcblist with a big enough buffer."""
    info = _pcbinfo(ctx, which)
    profile = ctx.kernel.profile
    o = _order(ctx)
    n = len(info.listhead)
    gencnt = pcbinfo_gencnt(info)
    sogen = int(ctx.kernel.so_gencnt)
    out = [_xinpgen(o, n, gencnt, sogen)]
    xlen = xinpcb_len(profile)
    for inp in info.listhead:
        if not cr_canseeinpcb(ctx, inp):
            continue
        so = inp.so
        rec = struct.pack(o + "Q", xlen) + _inpcb(inp, o) + _xsocket(so, inp, o, profile)
        out.append(rec + bytes(xlen - len(rec)))
    out.append(_xinpgen(o, n, pcbinfo_gencnt(info), int(ctx.kernel.so_gencnt)))
    return b"".join(out)


def pcblist_size(ctx: Ctx, which: str) -> int:
    """The size probe: room for the current pcbs and some slack."""
    n = len(_pcbinfo(ctx, which).listhead)
    slack = max(n // 8, 10) if ctx.kernel.profile.pcblist_slack_min10 else n // 8
    return 2 * XINPGEN_LEN + (n + slack) * xinpcb_len(ctx.kernel.profile)


def _udp_pcblist(ctx: Ctx) -> Value:
    return pcblist(ctx, "udp")


def _raw_pcblist(ctx: Ctx) -> Value:
    return pcblist(ctx, "raw")


_PROBES = {
    "net.inet.udp.pcblist": lambda ctx: pcblist_size(ctx, "udp"),
    "net.inet.raw.pcblist": lambda ctx: pcblist_size(ctx, "raw"),
}

_SIZES = {CTLTYPE_INT: 4, CTLTYPE_UINT: 4, CTLTYPE_LONG: 8, CTLTYPE_ULONG: 8}


def sysctl_size(tree: SysctlTree, ctx: Ctx, store: dict[str, Value], name: str) -> int:
    """What sysctl(3) reports for ``name`` with no output buffer: the pcb
    lists estimate, the others report the size of their value (4 for an
    int, 8 for a long, the string with its NUL)."""
    oid = tree.lookup(name)
    probe = _PROBES.get(oid.name)
    if probe is not None:
        return int(probe(ctx))
    size = _SIZES.get(oid.kind)
    if size is not None:
        return size
    value = sysctl_read(tree, ctx, store, name)
    if isinstance(value, str):
        return len(value.encode()) + 1
    if isinstance(value, bytes):
        return len(value)
    raise sysctl_error(errno.EINVAL, name)


PCBLIST_OIDS: tuple[Oid, ...] = (
    # Per-vnet lists (the handlers read V_udbinfo / V_ripcbinfo); the oid
    # itself is a plain read-only PROC, so writes are EPERM (sysctl_root).
    Oid(
        "net.inet.udp.pcblist",
        CTLTYPE_OPAQUE,
        b"",
        CTLFLAG_RD,
        "The UDP sockets of this network stack (struct xinpcb records)",
        get=_udp_pcblist,
    ),
    Oid(
        "net.inet.raw.pcblist",
        CTLTYPE_OPAQUE,
        b"",
        CTLFLAG_RD,
        "The raw IP sockets of this network stack (struct xinpcb records)",
        get=_raw_pcblist,
    ),
    # kern_prot.c; default 1.
    Oid(
        "security.bsd.see_other_uids",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "Whether users other than root see sockets and processes of other uids",
    ),
)
