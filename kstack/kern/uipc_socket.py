"""Sockets (kern/uipc_socket.c, uipc_sockbuf.c, uipc_syscalls.c).

:class:`Socket` is both the kernel's ``struct socket`` and the syscall
facade a test drives: ``bind``, ``connect``, ``sendto``, ``recvmsg`` and the
rest follow Python's socket API in shape and FreeBSD's in behaviour. Every
failure is an ``OSError`` whose ``errno`` is the one FreeBSD returns
(``BlockingIOError`` for EAGAIN, as Python raises it).

Nothing blocks: the emulation has no other thread to wake a sleeper, so a
receive with nothing queued fails with EAGAIN whether or not the socket is
non-blocking, as a non-blocking socket would. A read can be left asleep
with ``recv_pending`` (:class:`PendingRecv`): the kernel's wakeups (data,
shutdown, an error, SO_RCVTIMEO) complete it.

Socket buffers count bytes as ``sb_cc`` does: a datagram takes the length of
its source address (16), its data and its control messages. The kernel also
caps the mbuf storage a buffer may hold (``sb_mbmax``); that cap depends on
how drivers lay packets out in mbufs and is not enforced; the counts
themselves (sb_mbcnt, sb_mcnt, sb_ccnt) are kept, see record_mbufs().
"""

from __future__ import annotations

import errno
import operator
import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from kstack import sock as S
from kstack.kern.clock import HZ, TICK_NS
from kstack.kern.cred import Ucred

if TYPE_CHECKING:
    from kstack.kern.clock import Callout
    from kstack.net.vnet import VNet
    from kstack.netinet.in_pcb import Inpcb

# so_state
SS_NOFDREF = 0x0001
SS_ISCONNECTED = 0x0002
SS_ISCONNECTING = 0x0004
SS_ISDISCONNECTING = 0x0008
SS_NBIO = 0x0100

# sb_state
SBS_CANTSENDMORE = 0x0010
SBS_CANTRCVMORE = 0x0020

MSIZE = 256
MCLBYTES = 2048
SB_EFFICIENCY = 8  # kern.ipc.sockbuf_waste_factor

# pr_flags
PR_ATOMIC = 0x01
PR_ADDR = 0x02
PR_CONNREQUIRED = 0x04

_INT_MAX = 0x7FFFFFFF
_INT_MIN = -0x80000000
_UINT_MAX = 0xFFFFFFFF
_SSIZE_MAX = 2**63 - 1
_SIZE_MAX = 2**64 - 1
_TICK_US = 1000000 // HZ
_INT = struct.Struct("<i")
_INT_BE = struct.Struct(">i")

Control = tuple[int, int, bytes]  # (cmsg_level, cmsg_type, data)


def _align8(n: int) -> int:
    return (n + 7) & ~7


def cmsg_space(n: int) -> int:
    """CMSG_SPACE on amd64: a 16-byte header (12 rounded to 8) plus data."""
    return 16 + _align8(n)


def cmsg_len(n: int) -> int:
    return 16 + n


class Sockbuf:
    """struct sockbuf: a queue of datagram records and its limits."""

    __slots__ = (
        "records",
        "cc",
        "hiwat",
        "mbmax",
        "lowat",
        "state",
        "timeo",
        "mbcnt",
        "mcnt",
        "ccnt",
        "readers",
    )

    def __init__(self) -> None:
        self.records: deque[tuple[tuple[str, int], bytes, list[Control]]] = deque()
        self.cc = 0
        self.hiwat = 0
        self.mbmax = 0
        # Mbuf storage held (sb_mbcnt), mbufs (sb_mcnt) and clusters
        # (sb_ccnt), as sballoc counts them: see record_mbufs().
        self.mbcnt = 0
        self.mcnt = 0
        self.ccnt = 0
        self.lowat = 0
        self.state = 0
        self.timeo = 0  # SO_RCVTIMEO / SO_SNDTIMEO in ticks
        # Readers asleep in soreceive (recv_pending), or None: see SleepQueue.
        self.readers: SleepQueue | None = None

    def space(self) -> int:
        """sbspace(): what may still be appended (bytes)."""
        return max(0, self.hiwat - self.cc)

    def reserve(self, cc: int, sb_max: int) -> bool:
        """sbreserve_locked: refuse sizes above sb_max_adj."""
        sb_max_adj = sb_max * MCLBYTES // (MSIZE + MCLBYTES)
        if cc > sb_max_adj:
            return False
        self.hiwat = cc
        self.mbmax = min(cc * SB_EFFICIENCY, sb_max)
        if self.lowat > self.hiwat:
            self.lowat = self.hiwat
        return True

    def appendaddr(self, src: tuple[str, int], data: bytes, control: list[Control]) -> bool:
        """sbappendaddr_locked: one record, or False when it does not fit."""
        size = S.SOCKADDR_IN_LEN + len(data)
        if control:
            size += sum(cmsg_space(len(c[2])) for c in control)
        if size > self.hiwat - self.cc:  # sbspace()
            return False
        self.records.append((src, data, control))
        self.cc += size
        mb, m, c = record_mbufs(len(data), control)
        self.mbcnt += mb
        self.mcnt += m
        self.ccnt += c
        if self.readers is not None:
            self.readers.wakeup()  # sorwakeup
        return True

    def droprecord(self) -> None:
        src, data, control = self.records.popleft()
        size = S.SOCKADDR_IN_LEN + len(data)
        if control:
            size += sum(cmsg_space(len(c[2])) for c in control)
        self.cc -= size
        mb, m, c = record_mbufs(len(data), control)
        self.mbcnt -= mb
        self.mcnt -= m
        self.ccnt -= c

    def flush(self) -> None:
        self.records.clear()
        self.cc = 0
        self.mbcnt = self.mcnt = self.ccnt = 0


MLEN = 216  # data bytes of a plain mbuf on amd64 (MSIZE less the 40-byte m_hdr)
MHLEN = 168  # ... of a packet-header mbuf (less the 48-byte pkthdr too)
MJUMPAGESIZE = 4096
MAX_HDR = 76  # max_linkhdr 16 + max_protohdr 60 (IPv6 + TCP headers)


# record_mbufs() of a record without control messages whose data fits a
# packet-header mbuf, or one 2048-byte cluster.
_RECORD_SMALL = (2 * MSIZE, 2, 0)
_RECORD_CLUSTER = (2 * MSIZE + MCLBYTES, 2, 1)


def record_mbufs(datalen: int, control: list[Control]) -> tuple[int, int, int]:
    """(sb_mbcnt, sb_mcnt, sb_ccnt) that sballoc adds for one datagram
    record of sbappendaddr_locked: an MT_SONAME mbuf for the source
    address, one MT_CONTROL mbuf per control message (with a cluster when
    it does not fit MLEN, sbcreatecontrol), and the data.

    The data is counted as the sending side lays out a datagram of that
    size (sosend_dgram -> m_uiotombuf(len, align max_hdr) -> m_getm2): a
    packet-header mbuf while len + max_hdr < MINCLSIZE (MHLEN + 1), a
    2048-byte cluster up to MCLBYTES, 4096-byte page clusters beyond, the
    headers prepended into the reserved room. That is the chain a datagram
    sent through lo0 arrives in; a driver's receive clusters are not
    modelled, so a datagram from an Ethernet interface is counted the same
    way."""
    if not control:
        # The usual record: the address mbuf and data that one mbuf or one
        # cluster holds (what the loop below finds for these sizes).
        left = datalen + MAX_HDR
        if left < MHLEN + 1:
            return _RECORD_SMALL
        if left <= MCLBYTES:
            return _RECORD_CLUSTER
    mbcnt, mcnt, ccnt = MSIZE, 1, 0
    for _lv, _ty, cd in control:
        mbcnt += MSIZE
        mcnt += 1
        if cmsg_space(len(cd)) > MLEN:
            mbcnt += MCLBYTES
            ccnt += 1
    left = max(datalen + MAX_HDR, 1)
    first = True
    while left > 0:
        mbcnt += MSIZE
        mcnt += 1
        if left > MCLBYTES:
            mbcnt += MJUMPAGESIZE
            ccnt += 1
            left -= MJUMPAGESIZE
        elif left >= MHLEN + 1:
            mbcnt += MCLBYTES
            ccnt += 1
            left -= MCLBYTES
        else:
            left -= MHLEN if first else MLEN
        first = False
    return mbcnt, mcnt, ccnt


def c_int(value: Any, what: str, *, lo: int = _INT_MIN, hi: int = _INT_MAX) -> int:
    """An argument the system call takes as a C integer: an int (anything
    with ``__index__``, not a bool), else TypeError; ValueError when the C
    type cannot hold it (by default an ``int``)."""
    if type(value) is int and lo <= value <= hi:
        return value
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{what} {v} does not fit the kernel's type ({lo}..{hi})")
    return v


SOCK_MAXADDRLEN = 255  # the longest name getsockaddr copies in
MCLBYTES = 2048  # sockargs: the most control data a send may carry


def parse_sockaddr(addr: Any) -> tuple[int, int, int, int]:
    """A user address: (host, port) for AF_INET, or raw sockaddr bytes to
    reach the kernel's checks of sa_len and the family. Returns
    (sa_len, family, addr, port).

    The host is a dotted quad (inet_pton's rules), "" for INADDR_ANY or
    "<broadcast>": any other string is OSError(EINVAL). The port is an int
    0..65535: TypeError for a non-int, ValueError out of range (a
    sockaddr_in cannot hold it)."""
    from kstack.netinet.ip import aton

    if isinstance(addr, (bytes, bytearray, memoryview)):
        # getsockaddr: the name's length is checked (SOCK_MAXADDRLEN, and
        # room for sa_len and sa_family), then written into sa_len,
        # whatever its first byte said.
        b = bytes(addr)
        if len(b) > SOCK_MAXADDRLEN:
            raise OSError(errno.ENAMETOOLONG, "sockaddr longer than 255 bytes")
        if len(b) < 2:
            raise OSError(errno.EINVAL, "sockaddr too short")
        sa_len, family = len(b), b[1]
        port = int.from_bytes(b[2:4], "big") if len(b) >= 4 else 0
        a = int.from_bytes(b[4:8], "big") if len(b) >= 8 else 0
        return sa_len, family, a, port
    if not isinstance(addr, tuple) or len(addr) != 2:
        raise TypeError("AF_INET address must be a tuple (host, port) or sockaddr bytes")
    host, port = addr
    if not isinstance(host, str):
        raise TypeError(f"a host is a str, not {type(host).__name__}")
    port = c_int(port, "port", lo=0, hi=0xFFFF)
    if host == "":
        host = "0.0.0.0"
    elif host == "<broadcast>":
        host = "255.255.255.255"
    try:
        a = aton(host)
    except (ValueError, OSError):
        raise OSError(errno.EINVAL, f"not an IPv4 address: {host!r}") from None
    return 16, S.AF_INET, a, port


def _payload(data: Any) -> bytes:
    """What a send takes: bytes-like objects and scapy packets; TypeError
    for an int (bytes(5) would be five zeros), a str, a list, None."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    from kstack.net.vnet import frame_bytes

    try:
        return frame_bytes(data)
    except TypeError:
        raise TypeError(
            f"data to send is a bytes-like object or a packet, not {type(data).__name__}"
        ) from None


class Socket:
    """struct socket plus the system calls on it."""

    def __init__(
        self, vnet: VNet, family: int, type_: int, proto: int, cred: Ucred, pr: Any
    ) -> None:
        self.vnet = vnet
        self.family = family
        self.type = type_
        self.proto = proto
        self.cred = cred
        self.pr = pr  # the protocol switch entry (RawProto, UdpProto)
        self.pr_protocol = proto
        self.so_options = 0
        self.so_state = 0
        self.so_error = 0
        self.so_linger = 0
        self.so_fibnum = cred.fib if cred.fib is not None else vnet.kernel.proc_fibnum
        self.so_user_cookie = 0
        self.so_rcv = Sockbuf()
        self.so_snd = Sockbuf()
        self.inp: Inpcb = None  # type: ignore[assignment]  # set by attach
        self.closed = False
        self.name = ""
        # soalloc: the machine-wide socket generation moves; inp_gencnt is
        # the pcb's generation, set once the protocol attached it.
        vnet.kernel.so_gencnt += 1
        self.inp_gencnt = 0

    def __repr__(self) -> str:
        return f"<kstack socket {self.name or id(self)} {self.inp!r}>"

    # -- helpers ------------------------------------------------------------

    def _check(self) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "socket is closed")

    @staticmethod
    def _raise(err: int, what: str) -> None:
        if err:
            raise OSError(err, f"{what}: {errno.errorcode.get(err, err)}")

    def soreserve(self, sndcc: int, rcvcc: int) -> int:
        sb_max = int(self.vnet.kernel.sc["kern.ipc.maxsockbuf"])
        if not self.so_snd.reserve(sndcc, sb_max) or not self.so_rcv.reserve(rcvcc, sb_max):
            return errno.ENOBUFS
        if self.so_rcv.lowat == 0:
            self.so_rcv.lowat = 1
        if self.so_snd.lowat == 0:
            self.so_snd.lowat = MCLBYTES
        if self.so_snd.lowat > self.so_snd.hiwat:
            self.so_snd.lowat = self.so_snd.hiwat
        return 0

    def soisconnected(self) -> None:
        self.so_state = (self.so_state & ~(SS_ISCONNECTING | SS_ISDISCONNECTING)) | SS_ISCONNECTED

    def soisdisconnected(self) -> None:
        self.so_state &= ~(SS_ISCONNECTING | SS_ISCONNECTED | SS_ISDISCONNECTING)

    # -- the system calls ---------------------------------------------------

    def setblocking(self, flag: bool) -> None:
        """FIONBIO. Receives never block in the emulation either way."""
        if flag:
            self.so_state &= ~SS_NBIO
        else:
            self.so_state |= SS_NBIO

    def bind(self, address: Any) -> None:
        self._check()
        sa = parse_sockaddr(address)
        self._raise(self.pr.bind(self, sa), "bind")

    def connect(self, address: Any) -> None:
        """soconnect: a connected datagram socket is first disconnected, so
        connecting to a bad address leaves it unconnected."""
        self._check()
        sa = parse_sockaddr(address)
        if self.so_state & (SS_ISCONNECTED | SS_ISCONNECTING):
            err = self.pr.disconnect(self)
            if err:
                self._raise(errno.EISCONN, "connect")
        self.so_error = 0
        self._raise(self.pr.connect(self, sa), "connect")

    def connect_ex(self, address: Any) -> int:
        try:
            self.connect(address)
        except OSError as e:
            return int(e.errno or 0)
        return 0

    def send(self, data: Any, flags: int = 0) -> int:
        flags = c_int(flags, "flags")
        return self._sosend(_payload(data), None, flags, [])

    def sendto(self, data: Any, flags_or_addr: Any, address: Any = None) -> int:
        if address is None:
            flags, address = 0, flags_or_addr
        else:
            flags = c_int(flags_or_addr, "flags")
        return self._sosend(_payload(data), parse_sockaddr(address), flags, [])

    def sendmsg(
        self,
        buffers: Any,
        ancdata: Any = (),
        flags: int = 0,
        address: Any = None,
    ) -> int:
        try:
            bufs = list(buffers)
        except TypeError:
            raise TypeError(f"buffers must be an iterable, not {type(buffers).__name__}") from None
        data = b"".join(_payload(b) for b in bufs)
        control: list[Control] = []
        try:
            items = list(ancdata)
        except TypeError:
            raise TypeError(f"ancdata must be an iterable, not {type(ancdata).__name__}") from None
        for item in items:
            if not isinstance(item, tuple) or len(item) != 3:
                raise TypeError("an ancillary data item is a tuple (level, type, data)")
            lv, ty, d = item
            if not isinstance(d, (bytes, bytearray, memoryview)):
                raise TypeError(f"ancillary data is bytes-like, not {type(d).__name__}")
            control.append((c_int(lv, "cmsg_level"), c_int(ty, "cmsg_type"), bytes(d)))
        flags = c_int(flags, "flags")
        sa = parse_sockaddr(address) if address is not None else None
        if control:
            # sockargs: the control buffer (each message CMSG_SPACE, the last
            # CMSG_LEN, as the C library lays them out) fits one cluster.
            clen = sum(cmsg_space(len(c[2])) for c in control[:-1]) + cmsg_len(len(control[-1][2]))
            if clen > MCLBYTES:
                self._raise(errno.EINVAL, "sendmsg")
        return self._sosend(data, sa, flags, control)

    def _sosend(
        self, data: bytes, sa: tuple[int, int, int, int] | None, flags: int, control: list[Control]
    ) -> int:
        """sosend_dgram / sosend_generic for datagram sockets."""
        self._check()
        snd = self.so_snd
        if snd.state & SBS_CANTSENDMORE:
            self._raise(errno.EPIPE, "send")
        if self.so_error:
            err, self.so_error = self.so_error, 0
            self._raise(err, "send")
        if not self.so_state & SS_ISCONNECTED and sa is None:
            self._raise(errno.EDESTADDRREQ, "send")
        clen = sum(cmsg_space(len(c[2])) for c in control)
        if self.pr.sosend_dgram:
            # sosend_dgram: data and control share the buffer's space;
            # MSG_OOB grants 1024 bytes more (and UDP then sends it as any
            # datagram).
            space = snd.space() + (1024 if flags & S.MSG_OOB else 0)
            too_big = len(data) > space - clen
        else:
            # sosend_generic: each alone must fit the buffer.
            too_big = len(data) > snd.hiwat or clen > snd.hiwat
        if too_big:
            self._raise(errno.EMSGSIZE, "send")
        dontroute = flags & S.MSG_DONTROUTE and not self.so_options & S.SO_DONTROUTE
        if dontroute:
            self.so_options |= S.SO_DONTROUTE
        try:
            err = self.pr.send(self, data, sa, control)
        finally:
            if dontroute:
                self.so_options &= ~S.SO_DONTROUTE
        self._raise(err, "send")
        return len(data)

    def _soreceive(
        self, bufsize: int, ancbufsize: int, flags: int
    ) -> tuple[bytes, list[Control], int, tuple[str, int] | None]:
        """soreceive_dgram / soreceive_generic for one datagram."""
        if not (
            type(bufsize) is int
            and type(ancbufsize) is int
            and type(flags) is int
            and 0 <= bufsize <= _SIZE_MAX
            and 0 <= ancbufsize <= _UINT_MAX
            and _INT_MIN <= flags <= _INT_MAX
        ):
            # Not three plain ints in range: each argument checked in turn.
            bufsize = c_int(bufsize, "bufsize", lo=-(2**63), hi=_SIZE_MAX)
            if bufsize < 0:
                raise ValueError("negative buffersize in recv")
            ancbufsize = c_int(ancbufsize, "ancbufsize", lo=-(2**63), hi=_UINT_MAX)
            if ancbufsize < 0:
                raise ValueError("negative buffer size in recvmsg")
            flags = c_int(flags, "flags")
        self._check()
        if bufsize > _SSIZE_MAX:
            # kern_recvit: the iovec lengths add up in a ssize_t, and a
            # total that turns negative is refused.
            self._raise(errno.EINVAL, "recv")
        rcv = self.so_rcv
        if flags & S.MSG_OOB:
            # soreceive_rcvoob: datagram protocols have no out-of-band data.
            self._raise(
                errno.EINVAL if self.so_options & S.SO_OOBINLINE else errno.EOPNOTSUPP, "recv"
            )
        # The returned msg_flags are the caller's flags (kern_recvit passes
        # them in) with what soreceive adds: MSG_EOR included.
        out_flags = flags
        if not rcv.records:
            if self.so_error:
                err = self.so_error
                if not flags & S.MSG_PEEK:
                    self.so_error = 0
                self._raise(err, "recv")
            if rcv.state & SBS_CANTRCVMORE or bufsize == 0:
                return b"", [], out_flags, None
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        src, data, control = rcv.records[0]
        got = data[:bufsize]
        if len(data) > bufsize:
            out_flags |= S.MSG_TRUNC
        anc: list[Control] = []
        room = ancbufsize
        # kern_recvit copies control messages (copies of them when peeking,
        # soreceive_generic) while the caller's buffer has room: one that
        # only partly fits is cut and sets MSG_CTRUNC; once the buffer is
        # full the rest are dropped without it, and without a buffer at all
        # nothing is said.
        for lv, ty, cd in control if room > 0 else ():
            need = cmsg_space(len(cd))
            if room >= need:
                anc.append((lv, ty, cd))
                room -= need
                if room == 0:
                    break
                continue
            out_flags |= S.MSG_CTRUNC
            if room > 16:
                anc.append((lv, ty, cd[: room - 16]))
            break
        if not flags & S.MSG_PEEK:
            rcv.droprecord()
        return got, anc, out_flags, src

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self._soreceive(bufsize, 0, flags)[0]

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[str, int] | None]:
        data, _anc, _fl, src = self._soreceive(bufsize, 0, flags)
        return data, src

    def recvmsg(
        self, bufsize: int, ancbufsize: int = 0, flags: int = 0
    ) -> tuple[bytes, list[Control], int, tuple[str, int] | None]:
        return self._soreceive(bufsize, ancbufsize, flags)

    def recv_pending(self, bufsize: int, flags: int = 0) -> PendingRecv:
        """A recv() that sleeps until the kernel would wake it: see PendingRecv."""
        return soreceive_pending(self, bufsize, 0, flags, "recv")

    def recvfrom_pending(self, bufsize: int, flags: int = 0) -> PendingRecv:
        return soreceive_pending(self, bufsize, 0, flags, "recvfrom")

    def recvmsg_pending(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> PendingRecv:
        return soreceive_pending(self, bufsize, ancbufsize, flags, "recvmsg")

    def sorwakeup(self) -> None:
        """Wake the readers asleep on the receive buffer (after so_error is set)."""
        if self.so_rcv.readers is not None:
            self.so_rcv.readers.wakeup()

    def getsockname(self) -> tuple[str, int]:
        from kstack.netinet.ip import ntoa

        self._check()
        return ntoa(self.inp.laddr), self.inp.lport

    def getpeername(self) -> tuple[str, int]:
        from kstack.netinet.ip import ntoa

        self._check()
        if not self.so_state & (SS_ISCONNECTED | SS_ISCONNECTING):
            self._raise(errno.ENOTCONN, "getpeername")
        return ntoa(self.inp.faddr), self.inp.fport

    def shutdown(self, how: int) -> None:
        """soshutdown: SHUT_RD flushes the receive buffer and keeps the socket
        unable to receive (sorflush leaves SBS_CANTRCVMORE set)."""
        how = c_int(how, "how")
        self._check()
        if how not in (S.SHUT_RD, S.SHUT_WR, S.SHUT_RDWR):
            self._raise(errno.EINVAL, "shutdown")
        if how != S.SHUT_WR:
            if self.so_rcv.readers is not None:
                sorflush_readers(self)
            self.sorflush()
        if how != S.SHUT_RD:
            self.so_snd.state |= SBS_CANTSENDMORE

    def sorflush(self) -> None:
        rcv = self.so_rcv
        rcv.state |= SBS_CANTRCVMORE
        rcv.flush()
        # The sockbuf is zeroed from sb_startzero on: no space remains, so later
        # datagrams are refused, and SO_RCVBUF reads 0.
        rcv.hiwat = 0
        rcv.mbmax = 0
        rcv.lowat = 0
        rcv.timeo = 0
        if self.vnet.kernel.profile.sorflush_clears_state:
            # Before the fix the zeroing took sb_state too, clearing
            # SBS_CANTRCVMORE: a later read waited instead of seeing EOF.
            rcv.state = 0

    def close(self) -> None:
        """soclose: detach from the protocol (pcb lists and hashes, ports,
        multicast memberships) and leave the vnet's socket list, so the
        kernel keeps no reference to a closed socket. Closing twice does
        nothing."""
        if self.closed:
            return
        if self.so_rcv.readers is not None:
            # A pending read holds its own reference to the file (fget):
            # the descriptor goes now, the socket when the read returns.
            self.closed = True
            self.so_rcv.readers.closing = True
            return
        self.pr.detach(self)
        self.closed = True
        self.vnet.kernel.so_gencnt += 1  # sodealloc
        self.so_rcv.flush()
        self.so_snd.flush()
        self.vnet.sockets.pop(self, None)

    def fileno(self) -> int:
        return -1

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- options --------------------------------------------------------------

    def setsockopt(self, level: int, optname: int, value: Any) -> None:
        """``value``: an int, passed as the 4-byte C int the kernel copies
        in (-2**31 to 2**32 - 1, the upper half as the unsigned bit pattern
        an u_int option reads; ValueError beyond), or bytes in the
        option's FreeBSD layout."""
        level = c_int(level, "level")
        optname = c_int(optname, "optname")
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, int):
            value = c_int(value, "option value", hi=_UINT_MAX)
            if value > _INT_MAX:
                value -= 1 << 32
            raw = self.int_bytes(value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        else:
            raise TypeError(f"option value must be an int or bytes, not {type(value).__name__}")
        self._check()
        self._raise(sosetopt(self, level, optname, raw), "setsockopt")

    def getsockopt(
        self, level: int, optname: int, buflen: int | bytes | bytearray | None = None
    ) -> Any:
        """Without ``buflen``: the option as an int (a 4-byte buffer).
        With an int: the bytes the kernel returns into a buffer that size.
        With bytes: they are the buffer's initial contents, which some
        options read before they answer (IP_MSFILTER, as sooptcopyin does);
        the buffer is returned as the kernel left it."""
        level = c_int(level, "level")
        optname = c_int(optname, "optname")
        self._check()
        if buflen is None:
            err, raw = sogetopt(self, level, optname, bytes(4))
            self._raise(err, "getsockopt")
            b = raw[:4].ljust(4, b"\0")
            return self.int_value(b)
        if isinstance(buflen, (bytes, bytearray)):
            inbuf = bytes(buflen)
        elif isinstance(buflen, int) and not isinstance(buflen, bool):
            if not 0 <= buflen <= 1024:
                raise OSError(errno.EINVAL, "getsockopt buflen out of range")
            inbuf = bytes(buflen)
        else:
            raise TypeError("getsockopt buflen must be an int or bytes")
        err, raw = sogetopt(self, level, optname, inbuf)
        self._raise(err, "getsockopt")
        return raw[: len(inbuf)]

    def int_bytes(self, value: int) -> bytes:
        packer = _INT_BE if self.vnet.kernel.big_endian else _INT
        try:
            return packer.pack(value)
        except struct.error:
            raise ValueError(f"{value!r} does not fit a C int") from None

    def int_value(self, raw: bytes) -> int:
        packer = _INT_BE if self.vnet.kernel.big_endian else _INT
        return int(packer.unpack_from(raw)[0])


# -- sosetopt / sogetopt ---------------------------------------------------------

_FLAG_OPTS = frozenset(
    (
        S.SO_DEBUG,
        S.SO_KEEPALIVE,
        S.SO_DONTROUTE,
        S.SO_USELOOPBACK,
        S.SO_BROADCAST,
        S.SO_REUSEADDR,
        S.SO_REUSEPORT,
        S.SO_OOBINLINE,
        S.SO_TIMESTAMP,
        S.SO_BINTIME,
        S.SO_NOSIGPIPE,
        S.SO_NO_DDP,
        S.SO_NO_OFFLOAD,
    )
)


def sooptcopyin(raw: bytes, size: int) -> tuple[int, bytes]:
    """EINVAL when the user gave fewer bytes than the option needs; extra
    bytes are ignored."""
    if len(raw) < size:
        return errno.EINVAL, b""
    return 0, raw[:size]


def sosetopt(so: Socket, level: int, name: int, raw: bytes) -> int:
    if level != S.SOL_SOCKET:
        return int(so.pr.ctloutput(so, True, level, name, raw)[0])
    err = _sosetopt_socket(so, name, raw)
    if err == 0:
        so.pr.ctloutput(so, True, level, name, raw)
    return err


def _sosetopt_socket(so: Socket, name: int, raw: bytes) -> int:
    if name == S.SO_LINGER:
        err, v = sooptcopyin(raw, 8)
        if err:
            return err
        onoff, secs = struct.unpack("<ii" if not so.vnet.kernel.big_endian else ">ii", v)
        so.so_linger = secs
        if onoff:
            so.so_options |= S.SO_LINGER
        else:
            so.so_options &= ~S.SO_LINGER
        return 0
    if name in _FLAG_OPTS:
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        if so.int_value(v):
            so.so_options |= name
        else:
            so.so_options &= ~name
        return 0
    if name == S.SO_SETFIB and so.vnet.kernel.profile.multiple_fibs:
        # Before multiple FIBs (seed 001:233) an unknown option: ENOPROTOOPT.
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        fib = so.int_value(v)
        if fib < 0 or fib >= so.vnet.kernel.fibs:
            return errno.EINVAL
        so.so_fibnum = fib
        return 0
    if name == S.SO_USER_COOKIE:
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        so.so_user_cookie = so.int_value(v) & 0xFFFFFFFF
        return 0
    if name in (S.SO_SNDBUF, S.SO_RCVBUF, S.SO_SNDLOWAT, S.SO_RCVLOWAT):
        err, v = sooptcopyin(raw, 4)
        if err:
            return err
        optval = so.int_value(v)
        if optval < 1:
            return errno.EINVAL
        sb = so.so_snd if name in (S.SO_SNDBUF, S.SO_SNDLOWAT) else so.so_rcv
        if name in (S.SO_SNDBUF, S.SO_RCVBUF):
            if not sb.reserve(optval, int(so.vnet.kernel.sc["kern.ipc.maxsockbuf"])):
                return errno.ENOBUFS
            return 0
        sb.lowat = min(optval, sb.hiwat)
        return 0
    if name in (S.SO_SNDTIMEO, S.SO_RCVTIMEO):
        err, v = sooptcopyin(raw, 16)
        if err:
            return err
        sec, usec = struct.unpack("<qq" if not so.vnet.kernel.big_endian else ">qq", v)
        if sec < 0 or sec > _INT_MAX // HZ or usec < 0 or usec >= 1000000:
            return errno.EDOM
        ticks = sec * HZ + usec // _TICK_US
        if ticks > _INT_MAX:
            return errno.EDOM
        if ticks == 0 and usec != 0:
            ticks = 1
        (so.so_snd if name == S.SO_SNDTIMEO else so.so_rcv).timeo = ticks
        return 0
    if name == S.SO_LABEL:
        # GENERIC has options MAC: the struct mac is copied in and, with no
        # label-bearing policy loaded, refused.
        return errno.EINVAL
    if name == S.SO_ACCEPTFILTER:
        return errno.EINVAL  # not a listening socket
    return errno.ENOPROTOOPT


def sogetopt(so: Socket, level: int, name: int, inbuf: bytes = b"") -> tuple[int, bytes]:
    """``inbuf`` is the caller's buffer: its length is sopt_valsize and
    its contents what an option that copies in first reads."""
    if level != S.SOL_SOCKET:
        err, raw = so.pr.ctloutput(so, False, level, name, inbuf)
        return int(err), raw
    ib = so.int_bytes
    if name == S.SO_LINGER:
        onoff = so.so_options & S.SO_LINGER  # the bit (128), not 1
        fmt = "<ii" if not so.vnet.kernel.big_endian else ">ii"
        return 0, struct.pack(fmt, onoff, so.so_linger)
    if name in (S.SO_SETFIB, S.SO_USER_COOKIE, S.SO_NO_DDP, S.SO_NO_OFFLOAD):
        return errno.ENOPROTOOPT, b""  # settable only
    if name in _FLAG_OPTS or name == S.SO_ACCEPTCONN:
        # The option's own bit, not 1 (getsockopt returns so_options & name).
        return 0, ib(so.so_options & name)
    if name == S.SO_TYPE:
        return 0, ib(so.type)
    if name == S.SO_PROTOCOL:
        if not so.vnet.kernel.profile.so_protocol:
            return errno.ENOPROTOOPT, b""  # 9.0: no such option yet
        return 0, ib(so.pr_protocol)
    if name == S.SO_ERROR:
        err, so.so_error = so.so_error, 0
        return 0, ib(err)
    if name == S.SO_SNDBUF:
        return 0, ib(so.so_snd.hiwat)
    if name == S.SO_RCVBUF:
        return 0, ib(so.so_rcv.hiwat)
    if name == S.SO_SNDLOWAT:
        return 0, ib(so.so_snd.lowat)
    if name == S.SO_RCVLOWAT:
        return 0, ib(so.so_rcv.lowat)
    if name in (S.SO_SNDTIMEO, S.SO_RCVTIMEO):
        ticks = (so.so_snd if name == S.SO_SNDTIMEO else so.so_rcv).timeo
        sec, usec = ticks // HZ, (ticks % HZ) * _TICK_US
        fmt = "<qq" if not so.vnet.kernel.big_endian else ">qq"
        return 0, struct.pack(fmt, sec, usec)
    if name in (S.SO_LISTENQLIMIT, S.SO_LISTENQLEN, S.SO_LISTENINCQLEN):
        return 0, ib(0)
    if name in (S.SO_LABEL, S.SO_PEERLABEL):
        return errno.EINVAL, b""
    if name == S.SO_ACCEPTFILTER:
        return errno.EINVAL, b""
    return errno.ENOPROTOOPT, b""


# -- socket(2) ---------------------------------------------------------------------


# Raw protocols with an inetsw entry of their own (in_proto.c); any other
# protocol number gets the wildcard raw entry, whose pr_protocol is 0.
_RAW_ENTRIES = frozenset((255, 1, 2, 46, 4, 55, 97, 47, 41, 103))


def socreate(vnet: VNet, family: int, type_: int, proto: int, cred: Ucred) -> Socket:
    """socket(2): find the protocol switch entry, check privilege, attach.

    No entry for (family, type, protocol) is EPROTONOSUPPORT, an unknown
    family included (socreate has no EAFNOSUPPORT). TCP and SCTP exist in
    GENERIC but are not emulated; asking for them is EPROTONOSUPPORT too.
    """
    from kstack.netinet.raw_ip import RAW_PROTO
    from kstack.netinet.udp_usrreq import UDP_PROTO

    family = c_int(family, "family")
    type_ = c_int(type_, "type")
    proto = c_int(proto, "protocol")
    c_int(cred.uid, "uid", lo=0, hi=_UINT_MAX)
    if family == S.AF_ROUTE:
        from kstack.net.rtsock import rts_socreate

        return rts_socreate(vnet, type_, proto, cred)
    if family != S.AF_INET:
        raise OSError(errno.EPROTONOSUPPORT, "only AF_INET is emulated")
    pr: Any
    if type_ == S.SOCK_RAW:
        pr = RAW_PROTO
        pr_protocol = 255 if proto == 0 else (proto if proto in _RAW_ENTRIES else 0)
    elif type_ == S.SOCK_DGRAM:
        if proto not in (0, S.IPPROTO_UDP):
            raise OSError(errno.EPROTONOSUPPORT, "protocol not supported")
        pr = UDP_PROTO
        pr_protocol = proto = S.IPPROTO_UDP
    elif type_ in (S.SOCK_STREAM, S.SOCK_SEQPACKET):
        raise OSError(errno.EPROTONOSUPPORT, "TCP and SCTP are not emulated")
    else:
        raise OSError(errno.EPROTONOSUPPORT, "socket type not supported")
    prison = cred.prison
    if prison is not None and getattr(prison, "ip4_disabled", False):
        raise OSError(errno.EPROTONOSUPPORT, "jail has no IPv4")  # prison_check_af
    so = Socket(vnet, family, type_, proto, cred, pr)
    so.pr_protocol = pr_protocol
    err = pr.attach(so, proto)
    if err:
        vnet.kernel.so_gencnt += 1  # sodealloc of the socket that failed to attach
        raise OSError(err, f"socket: {errno.errorcode.get(err, err)}")
    from kstack.netinet.in_pcblist import pcbinfo_gencnt

    so.inp_gencnt = pcbinfo_gencnt(so.inp.pcbinfo)
    vnet.sockets[so] = None
    vnet.sockets_created += 1
    so.name = f"{pr.name} socket {vnet.sockets_created}"
    return so


# -- readers asleep in soreceive ------------------------------------------------------

_DONE = 0
_SLEEP_SBLOCK = 1  # waiting for the sockbuf lock another reader holds (sblock)
_SLEEP_SBWAIT = 2  # asleep in sbwait() until the buffer changes

RecvResult = tuple[bytes, list[Control], int, tuple[str, int] | None]


class PendingRecv:
    """A receive call that sleeps, as a thread blocked in recv() does.

    ``s.recv_pending(bufsize, flags)`` (and ``recvfrom_pending``,
    ``recvmsg_pending``) enter soreceive at once. A call that would not
    sleep (data queued, a pending error, EOF, a non-blocking socket or
    MSG_DONTWAIT) is done straight away; otherwise it sleeps until the
    kernel wakes it: a datagram appended (it takes it, or with MSG_PEEK a
    copy), SBS_CANTRCVMORE (``b""``), so_error, or SO_RCVTIMEO elapsing in
    virtual time (EAGAIN, FreeBSD's EWOULDBLOCK).

    Raw sockets, and UDP with MSG_PEEK, read through soreceive_generic,
    which holds the receive buffer's lock (sblock) while it sleeps: a
    second such reader waits for the lock first. UDP without MSG_PEEK reads
    through soreceive_dgram, which sleeps without it. Readers woken
    together run oldest first; one that finds nothing left sleeps again
    with a fresh SO_RCVTIMEO, as the kernel's loop calls sbwait() again.
    """

    __slots__ = (
        "so",
        "bufsize",
        "ancbufsize",
        "flags",
        "shape",
        "generic",
        "state",
        "timer",
        "_out",
        "_err",
    )

    def __init__(
        self, so: Socket, bufsize: int, ancbufsize: int, flags: int, shape: str, generic: bool
    ) -> None:
        self.so = so
        self.bufsize = bufsize
        self.ancbufsize = ancbufsize
        self.flags = flags
        self.shape = shape
        self.generic = generic
        self.state = _SLEEP_SBWAIT
        self.timer: Callout | None = None
        self._out: RecvResult | None = None
        self._err = 0

    def __repr__(self) -> str:
        what = {_DONE: "done", _SLEEP_SBLOCK: "waiting for sblock", _SLEEP_SBWAIT: "in sbwait"}
        return f"<kstack pending {self.shape} on {self.so.name or id(self.so)}: {what[self.state]}>"

    @property
    def done(self) -> bool:
        """True once the call has returned (result() then gives its outcome)."""
        if self.state == _SLEEP_SBWAIT and self.so.so_error:
            q = self.so.so_rcv.readers
            if q is not None:  # an error set without a wakeup: it woke us
                q.wakeup()
        return self.state == _DONE

    def result(self) -> Any:
        """What the call returned: bytes (recv), (bytes, address) (recvfrom)
        or recvmsg's 4-tuple; its OSError if it failed. While it still
        sleeps: BlockingIOError (EAGAIN), as any call that would sleep."""
        if not self.done:
            raise BlockingIOError(errno.EAGAIN, "the read is still asleep")
        if self._err:
            raise OSError(self._err, f"{self.shape}: {errno.errorcode.get(self._err, self._err)}")
        assert self._out is not None
        data, anc, flags, src = self._out
        if self.shape == "recv":
            return data
        if self.shape == "recvfrom":
            return data, src
        return data, anc, flags, src


class SleepQueue:
    """The readers asleep on one receive buffer, oldest first, and the one
    holding its lock (sblock)."""

    __slots__ = ("so", "readers", "owner", "closing")

    def __init__(self, so: Socket) -> None:
        self.so = so
        self.readers: list[PendingRecv] = []
        self.owner: PendingRecv | None = None
        self.closing = False  # close() came while a read was pending

    def wakeup(self) -> None:
        """sorwakeup: every reader in sbwait runs again, oldest first."""
        for r in [r for r in self.readers if r.state == _SLEEP_SBWAIT]:
            if r.state == _SLEEP_SBWAIT:
                self.run(r, woken=True)
        self.settle()

    def run(self, r: PendingRecv, *, woken: bool) -> None:
        """One pass of soreceive's loop for ``r``: return, or sleep in sbwait."""
        so = self.so
        rcv = so.so_rcv
        if r.timer is not None:
            r.timer.stop()
            r.timer = None
        if woken and so.so_error:
            # Asleep while the error was set: the error's wakeup is what
            # ended the sleep, before anything queued since.
            err = so.so_error
            if not r.flags & S.MSG_PEEK:
                so.so_error = 0
            self.complete(r, None, err)
        elif (
            rcv.records
            or so.so_error
            or rcv.state & SBS_CANTRCVMORE
            or r.bufsize == 0
            or r.flags & S.MSG_OOB
        ):
            # The read returns now: what recv() would give.
            closed, so.closed = so.closed, False  # the read holds the file
            try:
                out = so._soreceive(r.bufsize, r.ancbufsize, r.flags)
            except OSError as e:
                self.complete(r, None, int(e.errno or 0))
            else:
                self.complete(r, out, 0)
            finally:
                so.closed = closed
        elif so.so_state & SS_NBIO or r.flags & (S.MSG_DONTWAIT | S.MSG_NBIO):
            self.complete(r, None, errno.EAGAIN)
        else:
            r.state = _SLEEP_SBWAIT
            timeo = rcv.timeo
            if timeo:
                # msleep(..., sb_timeo): the callout fires when the tick
                # count reaches ticks + timeo.
                clock = so.vnet.kernel.clock
                deadline = (clock.ticks + timeo) * TICK_NS
                r.timer = clock.callout(deadline - clock.now, self.timeout, r)

    def timeout(self, r: PendingRecv) -> None:
        """The sleep's SO_RCVTIMEO ran out: EWOULDBLOCK."""
        if r.state != _SLEEP_SBWAIT:
            return
        r.timer = None
        if self.so.so_error:
            self.run(r, woken=True)
        else:
            self.complete(r, None, errno.EAGAIN)
        self.settle()

    def complete(self, r: PendingRecv, out: RecvResult | None, err: int) -> None:
        r.state = _DONE
        r._out = out
        r._err = err
        if r.timer is not None:
            r.timer.stop()
            r.timer = None
        self.readers.remove(r)
        if self.owner is r:
            # sbunlock: the oldest reader waiting for the lock takes it.
            self.owner = None
            for w in self.readers:
                if w.state == _SLEEP_SBLOCK:
                    self.owner = w
                    self.run(w, woken=False)
                    break

    def settle(self) -> None:
        """No reader left: the buffer forgets the queue; a close() that came
        meanwhile finishes now (the read dropped the last file reference)."""
        so = self.so
        if self.readers or so.so_rcv.readers is not self:
            return
        so.so_rcv.readers = None
        if self.closing:
            so.closed = False
            so.close()


def soreceive_pending(
    so: Socket, bufsize: int, ancbufsize: int, flags: int, shape: str
) -> PendingRecv:
    """Enter soreceive as a blocking read does; see PendingRecv."""
    bufsize = c_int(bufsize, "bufsize", lo=-(2**63), hi=_SIZE_MAX)
    if bufsize < 0:
        raise ValueError("negative buffersize in recv")
    ancbufsize = c_int(ancbufsize, "ancbufsize", lo=-(2**63), hi=_UINT_MAX)
    if ancbufsize < 0:
        raise ValueError("negative buffer size in recvmsg")
    flags = c_int(flags, "flags")
    so._check()
    if bufsize > _SSIZE_MAX:
        so._raise(errno.EINVAL, shape)
    rcv = so.so_rcv
    q = rcv.readers
    if q is None:
        q = rcv.readers = SleepQueue(so)
    # soreceive_dgram hands MSG_PEEK (and MSG_OOB) to soreceive_generic.
    generic = so.type == S.SOCK_RAW or bool(flags & (S.MSG_PEEK | S.MSG_OOB))
    r = PendingRecv(so, bufsize, ancbufsize, flags, shape, generic)
    q.readers.append(r)
    if not generic or flags & S.MSG_OOB:
        q.run(r, woken=False)  # no lock taken (MSG_OOB fails before it)
    elif q.owner is None:
        q.owner = r
        q.run(r, woken=False)
    elif flags & S.MSG_DONTWAIT:
        q.complete(r, None, errno.EAGAIN)  # sblock without SBL_WAIT
    else:
        r.state = _SLEEP_SBLOCK
    q.settle()
    return r


def sorflush_readers(so: Socket) -> None:
    """The readers' part of sorflush (seed 003:202): mark the buffer unable
    to receive more and wake every sleeper (each returns EOF), then the
    flush takes the lock. The older order took the lock first: behind a
    reader holding it, shutdown would sleep (EAGAIN here) and do nothing."""
    q = so.so_rcv.readers
    assert q is not None
    if q.owner is not None and not so.vnet.kernel.profile.sorflush_wakes_reader:
        raise BlockingIOError(
            errno.EAGAIN, "shutdown would wait for the reader holding the receive buffer"
        )
    so.so_rcv.state |= SBS_CANTRCVMORE  # socantrcvmore
    q.wakeup()
