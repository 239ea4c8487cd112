"""``netstat -s`` text for the IPv4 protocol statistics blocks.

:func:`format_netstat_s` renders snapshots from :mod:`kstack.netinet.stats`
the way FreeBSD 9.0's netstat(1) prints them (``usr.bin/netstat/inet.c``:
``ip_stats()``, ``icmp_stats()``, ``udp_stats()``, ``igmp_stats()``,
``arp_stats()``), line for line and with the same wording, tab indentation
and plural endings (``arp_stats()`` says "entrys"). These print routines read
the same between the 2009 8.x-era netstat and the 9.3 release, so 9.0 prints
the same text.

Choices that follow netstat exactly:

* Protocols come in netstat's table order (udp, ip, icmp, igmp, then arp;
  tcp would come first but is not handled here), each under a ``name:``
  header. ``arp`` (``struct arpstat``) is printed when its block is given.
* netstat has two levels: ``netstat -s`` prints every line, zero or not, and
  ``netstat -s -s`` leaves out lines whose counter is zero. ``zeros=True``
  gives the former, the default ``zeros=False`` the latter.
* The ICMP histograms list only non-zero types, at either level, and their
  heading appears only when at least one type is listed.
* Some members are never printed by netstat (``icps_oldshort``,
  ``udps_fastout``, ``udpps_pcbcachemiss``, ``udps_noportmcast``, the IGMP
  header words); they are not printed here either.
* UDP's "delivered" line is derived, as netstat does, from ``udps_ipackets``
  minus the drop counters, in 64-bit unsigned arithmetic.
* The IP "forwarded" line carries the fast-forward count in parentheses and
  ends only if ``ips_forward`` is printed; with zero lines left out, a
  non-zero ``ips_fastforward`` next to a zero ``ips_forward`` therefore runs
  into the following line, as it does in netstat.
* The last ICMP line reports the ``net.inet.icmp.maskrepl`` sysctl, which a
  live netstat always prints; pass its value as ``icmp_maskrepl``.

Numbers print as netstat's ``%lu``/``%ju`` do on a 64-bit kernel (values are
taken modulo 2**64).

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence

from kstack.netinet.igmp import IgmpStatV2
from kstack.netinet.stats import ICMP_NHIST, ArpStat, IcmpStat, IgmpStat, IpStat, UdpStat

__all__ = [
    "ICMP_NAMES",
    "LINK_PROTOCOLS",
    "PROTOCOLS",
    "SOCKET_TABLE",
    "format_netstat_a",
    "format_netstat_s",
]

#: The IPv4 protocols handled, in the order netstat prints them.
PROTOCOLS: tuple[str, ...] = ("udp", "ip", "icmp", "igmp")
#: Link-layer blocks, which netstat prints after them.
LINK_PROTOCOLS: tuple[str, ...] = ("arp",)

#: ICMP type names netstat uses in its histograms (index = ICMP type).
ICMP_NAMES: tuple[str, ...] = (
    "echo reply",
    "#1",
    "#2",
    "destination unreachable",
    "source quench",
    "routing redirect",
    "#6",
    "#7",
    "echo",
    "router advertisement",
    "router solicitation",
    "time exceeded",
    "parameter problem",
    "time stamp",
    "time stamp reply",
    "information request",
    "information request reply",
    "address mask request",
    "address mask reply",
    "#19",
    "#20",
    "#21",
    "#22",
    "#23",
    "#24",
    "#25",
    "#26",
    "#27",
    "#28",
    "#29",
    "icmp traceroute",
    "datagram conversion error",
    "mobile host redirect",
    "IPv6 where-are-you",
    "IPv6 i-am-here",
    "mobile registration req",
    "mobile registration reply",
    "domain name request",
    "domain name reply",
    "icmp SKIP",
    "icmp photuris",
)
assert len(ICMP_NAMES) == ICMP_NHIST

_ULONG_MASK = (1 << 64) - 1

_KEYS: dict[str, frozenset[str]] = {
    "ip": frozenset(IpStat.snapshot_keys()),
    "icmp": frozenset(IcmpStat.snapshot_keys()),
    "udp": frozenset(UdpStat.snapshot_keys()),
    # The v3 host's struct igmpstat, or the nine counters of the v1/v2-only
    # host (profile switch igmpv3 off).
    "igmp": frozenset(IgmpStat.snapshot_keys()) | frozenset(IgmpStatV2.snapshot_keys()),
    "arp": frozenset(ArpStat.snapshot_keys()),
}

Plural = Callable[[int], str]


def _plural(n: int) -> str:
    return "s" if n != 1 else ""


def _plurales(n: int) -> str:
    return "es" if n != 1 else ""


def _pluralies(n: int) -> str:
    return "ies" if n != 1 else "y"


class _Block:
    """Accumulates one protocol's lines; mirrors netstat's p()-style macros."""

    __slots__ = ("_vals", "_zeros", "_out")

    def __init__(self, name: str, vals: Mapping[str, int], zeros: bool) -> None:
        self._vals = vals
        self._zeros = zeros
        self._out: list[str] = [f"{name}:\n"]

    def has(self, key: str) -> bool:
        return key in self._vals

    def get(self, key: str) -> int:
        """A counter as the C code sees it: 0 when absent, modulo 2**64."""
        return self._vals.get(key, 0) & _ULONG_MASK

    def shown(self, n: int) -> bool:
        """Whether a line for value n is printed at this verbosity."""
        return bool(n) or self._zeros

    def p(self, key: str, fmt: str, plural: Plural | None = _plural) -> None:
        """One counter line; fmt has a {} for the number and, unless plural
        is None, a second {} for the plural ending."""
        n = self.get(key)
        if self.shown(n):
            self._out.append(fmt.format(n) if plural is None else fmt.format(n, plural(n)))

    def raw(self, text: str) -> None:
        self._out.append(text)

    def histogram(self, key: str, heading: str) -> None:
        """The non-zero slots of an ICMP histogram under a heading."""
        first = True
        for i in range(ICMP_NHIST):
            n = self.get(f"{key}[{i}]")
            if n:
                if first:
                    self._out.append(f"\t{heading}:\n")
                    first = False
                self._out.append(f"\t\t{ICMP_NAMES[i]}: {n}\n")

    def text(self) -> str:
        return "".join(self._out)


def _ip(b: _Block) -> None:
    b.p("ips_total", "\t{} total packet{} received\n")
    b.p("ips_badsum", "\t{} bad header checksum{}\n")
    b.p("ips_toosmall", "\t{} with size smaller than minimum\n", None)
    b.p("ips_tooshort", "\t{} with data size < data length\n", None)
    b.p("ips_toolong", "\t{} with ip length > max ip packet size\n", None)
    b.p("ips_badhlen", "\t{} with header length < data size\n", None)
    b.p("ips_badlen", "\t{} with data length < header length\n", None)
    b.p("ips_badoptions", "\t{} with bad options\n", None)
    b.p("ips_badvers", "\t{} with incorrect version number\n", None)
    b.p("ips_fragments", "\t{} fragment{} received\n")
    b.p("ips_fragdropped", "\t{} fragment{} dropped (dup or out of space)\n")
    b.p("ips_fragtimeout", "\t{} fragment{} dropped after timeout\n")
    b.p("ips_reassembled", "\t{} packet{} reassembled ok\n")
    b.p("ips_delivered", "\t{} packet{} for this host\n")
    b.p("ips_noproto", "\t{} packet{} for unknown/unsupported protocol\n")
    # One line shared by two counters; its end depends on the first only.
    b.p("ips_forward", "\t{} packet{} forwarded")
    b.p("ips_fastforward", " ({} packet{} fast forwarded)")
    if b.shown(b.get("ips_forward")):
        b.raw("\n")
    b.p("ips_cantforward", "\t{} packet{} not forwardable\n")
    b.p("ips_notmember", "\t{} packet{} received for unknown multicast group\n")
    b.p("ips_redirectsent", "\t{} redirect{} sent\n")
    b.p("ips_localout", "\t{} packet{} sent from this host\n")
    b.p("ips_rawout", "\t{} packet{} sent with fabricated ip header\n")
    b.p("ips_odropped", "\t{} output packet{} dropped due to no bufs, etc.\n")
    b.p("ips_noroute", "\t{} output packet{} discarded due to no route\n")
    b.p("ips_fragmented", "\t{} output datagram{} fragmented\n")
    b.p("ips_ofragments", "\t{} fragment{} created\n")
    b.p("ips_cantfrag", "\t{} datagram{} that can't be fragmented\n")
    b.p("ips_nogif", "\t{} tunneling packet{} that can't find gif\n")
    b.p("ips_badaddr", "\t{} datagram{} with bad address in header\n")


def _icmp(b: _Block, maskrepl: int) -> None:
    b.p("icps_error", "\t{} call{} to icmp_error\n")
    b.p("icps_oldicmp", "\t{} error{} not generated in response to an icmp message\n")
    b.histogram("icps_outhist", "Output histogram")
    b.p("icps_badcode", "\t{} message{} with bad code fields\n")
    b.p("icps_tooshort", "\t{} message{} less than the minimum length\n")
    b.p("icps_checksum", "\t{} message{} with bad checksum\n")
    b.p("icps_badlen", "\t{} message{} with bad length\n")
    b.p("icps_bmcastecho", "\t{} multicast echo requests ignored\n", None)
    b.p("icps_bmcasttstamp", "\t{} multicast timestamp requests ignored\n", None)
    b.histogram("icps_inhist", "Input histogram")
    b.p("icps_reflect", "\t{} message response{} generated\n")
    b.p("icps_badaddr", "\t{} invalid return address{}\n", _plurales)
    b.p("icps_noroute", "\t{} no return route{}\n")
    # Not a counter: printed at every verbosity.
    b.raw(f"\tICMP address mask responses are {'en' if maskrepl else 'dis'}abled\n")


def _udp(b: _Block) -> None:
    b.p("udps_ipackets", "\t{} datagram{} received\n")
    b.p("udps_hdrops", "\t{} with incomplete header\n", None)
    b.p("udps_badlen", "\t{} with bad data length field\n", None)
    b.p("udps_badsum", "\t{} with bad checksum\n", None)
    b.p("udps_nosum", "\t{} with no checksum\n", None)
    b.p("udps_noport", "\t{} dropped due to no socket\n", None)
    b.p("udps_noportbcast", "\t{} broadcast/multicast datagram{} undelivered\n")
    b.p("udps_fullsock", "\t{} dropped due to full socket buffers\n", None)
    b.p("udpps_pcbhashmiss", "\t{} not for hashed pcb\n", None)
    delivered = b.get("udps_ipackets")
    for key in (
        "udps_hdrops",
        "udps_badlen",
        "udps_badsum",
        "udps_noport",
        "udps_noportbcast",
        "udps_fullsock",
    ):
        delivered -= b.get(key)
    delivered &= _ULONG_MASK
    if b.shown(delivered):
        b.raw(f"\t{delivered} delivered\n")
    b.p("udps_opackets", "\t{} datagram{} output\n")
    b.p("udps_filtermcast", "\t{} time{} multicast source filter matched\n")


def _igmp_v2(b: _Block) -> None:
    """The v1/v2-only host's counters, as netstat printed them before IGMPv3."""
    b.p("igps_rcv_total", "\t{} message{} received\n")
    b.p("igps_rcv_tooshort", "\t{} message{} received with too few bytes\n")
    b.p("igps_rcv_badsum", "\t{} message{} received with bad checksum\n")
    b.p("igps_rcv_queries", "\t{} membership quer{} received\n", _pluralies)
    b.p(
        "igps_rcv_badqueries",
        "\t{} membership quer{} received with invalid field(s)\n",
        _pluralies,
    )
    b.p("igps_rcv_reports", "\t{} membership report{} received\n")
    b.p("igps_rcv_badreports", "\t{} membership report{} received with invalid field(s)\n")
    b.p(
        "igps_rcv_ourreports",
        "\t{} membership report{} received for groups to which we belong\n",
    )
    b.p("igps_snd_reports", "\t{} membership report{} sent\n")


def _igmp(b: _Block) -> None:
    if b.has("igps_rcv_queries"):
        _igmp_v2(b)
        return
    b.p("igps_rcv_total", "\t{} message{} received\n")
    b.p("igps_rcv_tooshort", "\t{} message{} received with too few bytes\n")
    b.p("igps_rcv_badttl", "\t{} message{} received with wrong TTL\n")
    b.p("igps_rcv_badsum", "\t{} message{} received with bad checksum\n")
    b.p("igps_rcv_v1v2_queries", "\t{} V1/V2 membership quer{} received\n", _pluralies)
    b.p("igps_rcv_v3_queries", "\t{} V3 membership quer{} received\n", _pluralies)
    b.p(
        "igps_rcv_badqueries",
        "\t{} membership quer{} received with invalid field(s)\n",
        _pluralies,
    )
    b.p("igps_rcv_gen_queries", "\t{} general quer{} received\n", _pluralies)
    b.p("igps_rcv_group_queries", "\t{} group quer{} received\n", _pluralies)
    b.p("igps_rcv_gsr_queries", "\t{} group-source quer{} received\n", _pluralies)
    b.p("igps_drop_gsr_queries", "\t{} group-source quer{} dropped\n", _pluralies)
    b.p("igps_rcv_reports", "\t{} membership report{} received\n")
    b.p("igps_rcv_badreports", "\t{} membership report{} received with invalid field(s)\n")
    b.p(
        "igps_rcv_ourreports",
        "\t{} membership report{} received for groups to which we belong\n",
    )
    b.p("igps_rcv_nora", "\t{} V3 report{} received without Router Alert\n")
    b.p("igps_snd_reports", "\t{} membership report{} sent\n")


def _arp(b: _Block) -> None:
    b.p("txrequests", "\t{} ARP request{} sent\n")
    b.p("txreplies", "\t{} ARP repl{} sent\n", _pluralies)
    b.p("rxrequests", "\t{} ARP request{} received\n")
    b.p("rxreplies", "\t{} ARP repl{} received\n", _pluralies)
    b.p("received", "\t{} ARP packet{} received\n")
    b.p("dropped", "\t{} total packet{} dropped due to no ARP entry\n")
    # netstat's own spelling: plural() gives "entrys".
    b.p("timeouts", "\t{} ARP entry{} timed out\n")
    b.p("dupips", "\t{} Duplicate IP{} seen\n")


def format_netstat_s(
    stats: Mapping[str, Mapping[str, int]],
    protocols: Sequence[str] | None = None,
    *,
    zeros: bool = False,
    icmp_maskrepl: int = 0,
) -> str:
    """Render protocol statistics as ``netstat -s`` prints them.

    ``stats`` maps "ip", "icmp", "udp", "igmp" and "arp" to ``snapshot()``
    dicts (or hand-made dicts: absent counters count as 0). ``protocols``
    names the blocks wanted, printed in the order given (a single name may
    be passed as a plain string); ``None`` means every handled protocol
    present in ``stats``, in netstat's order (udp, ip, icmp, igmp, arp).

    ``zeros=False`` leaves out the lines of zero counters (``netstat -s -s``);
    ``zeros=True`` prints them too (plain ``netstat -s``).
    ``icmp_maskrepl`` is the value of ``net.inet.icmp.maskrepl`` for the last
    ICMP line.

    Raises ValueError for a protocol name that is not handled, for a
    requested protocol missing from ``stats``, or for a counter name that
    does not belong to its protocol's structure.
    """
    if protocols is None:
        wanted: Sequence[str] = [name for name in PROTOCOLS + LINK_PROTOCOLS if name in stats]
    elif isinstance(protocols, str):
        wanted = [protocols]
    else:
        wanted = protocols

    unknown = [name for name in wanted if name not in _KEYS]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))}: unknown or uninstrumented protocol")
    missing = [name for name in wanted if name not in stats]
    if missing:
        raise ValueError(f"no statistics given for {', '.join(map(repr, missing))}")

    parts: list[str] = []
    for name in wanted:
        vals = stats[name]
        stray = [key for key in vals if key not in _KEYS[name]]
        if stray:
            raise ValueError(f"{name}: not a counter of this protocol: {', '.join(stray)}")
        block = _Block(name, vals, zeros)
        if name == "ip":
            _ip(block)
        elif name == "icmp":
            _icmp(block, icmp_maskrepl)
        elif name == "udp":
            _udp(block)
        elif name == "arp":
            _arp(block)
        else:
            _igmp(block)
        parts.append(block.text())
    return "".join(parts)


# -- netstat -a: the socket table ---------------------------------------------------
#
# usr.bin/netstat/inet.c protopr() and inetprint(), driven by main.c's
# protocol table: each entry reads its pcb list sysctl and prints the
# records whose xso_protocol is the entry's protocol. kstack prints numbers,
# not names (as netstat -n: no resolver, no services file). Lists that do
# not exist (tcp, divert) are skipped, as netstat skips an ENOENT list.

#: (netstat name, pcb list, xso_protocol), in netstat's order for -f inet.
SOCKET_TABLE: tuple[tuple[str, str, int], ...] = (
    ("udp", "udp", 17),
    ("ip", "raw", 255),
    ("icmp", "raw", 1),
    ("igmp", "raw", 2),
    ("pim", "raw", 103),
)

_XIG = 32
_INP = 8  # xi_inp starts after xi_len
_XI_LEN_NEW = 552
_XI_LEN_OLD = 536
_INP_IPV4 = 0x1


def _inet_lnaof(a: int) -> int:
    """inet_lnaof(3): the host part of a classful address."""
    if not a & 0x80000000:
        return a & 0x00FFFFFF
    if a & 0xC0000000 == 0x80000000:
        return a & 0x0000FFFF
    return a & 0x000000FF


def _inetprint(addr: int, port: int) -> str:
    """inetprint() with numeric addresses and ports, 22 columns."""
    host = "*" if addr == 0 else ".".join(str((addr >> s) & 0xFF) for s in (24, 16, 8, 0))
    line = f"{host[:16]}." + ("* " if port == 0 else f"{port} ")
    return f"{line[:22]:<22} "


def _records(buf: bytes, o: str) -> tuple[int, list[bytes]]:
    """The head's generation and the xinpcb records of a pcb list."""
    if len(buf) < 2 * _XIG:
        raise ValueError(f"pcb list of {len(buf)} bytes: shorter than its two xinpgen")
    (head_len,) = struct.unpack_from(o + "Q", buf, 0)
    (gen,) = struct.unpack_from(o + "Q", buf, 16)
    out: list[bytes] = []
    off = int(head_len)
    while off + 8 <= len(buf):
        (n,) = struct.unpack_from(o + "Q", buf, off)
        if n <= _XIG:
            break
        if n not in (_XI_LEN_NEW, _XI_LEN_OLD) or off + n > len(buf):
            raise ValueError(f"pcb list: record of {n} bytes at offset {off}")
        out.append(buf[off : off + n])
        off += n
    return int(gen), out


def format_netstat_a(
    lists: Mapping[str, bytes],
    *,
    big_endian: bool = False,
    all_sockets: bool = True,
    extended: bool = False,
) -> str:
    """``netstat -a -n -f inet`` (``all_sockets``) or ``netstat -n -f inet``
    from the pcb list sysctls' bytes (``lists["udp"]``, ``lists["raw"]``;
    a missing key is a list the kernel lacks). ``extended`` adds the socket
    buffer columns of ``netstat -x`` (sb_mcnt, sb_ccnt, hiwat, lowat,
    sb_mbcnt, sb_mbmax of each buffer); it needs the xsockbuf layout that
    carries sb_mcnt/sb_ccnt (ValueError for the older one)."""
    o = ">" if big_endian else "<"
    lines: list[str] = []
    for name, mib, proto in SOCKET_TABLE:
        buf = lists.get(mib)
        if buf is None:
            continue
        gen, recs = _records(buf, o)
        for rec in recs:
            new = len(rec) == _XI_LEN_NEW
            sbl = 36 if new else 28
            xso = _INP + 392
            (xso_protocol,) = struct.unpack_from(o + "i", rec, xso + 32)
            if xso_protocol != proto:
                continue
            (gencnt,) = struct.unpack_from(o + "Q", rec, _INP + 336)
            if gencnt > gen:
                continue
            if not rec[_INP + 116] & _INP_IPV4:
                continue
            fport, lport = struct.unpack_from("!HH", rec, _INP + 196)
            (faddr,) = struct.unpack_from("!I", rec, _INP + 212)
            (laddr,) = struct.unpack_from("!I", rec, _INP + 228)
            if not all_sockets and _inet_lnaof(laddr) == 0:
                continue
            if extended and not new:
                raise ValueError(
                    "netstat -x: these xsockbufs have no sb_mcnt/sb_ccnt (before seed 003:10)"
                )
            if not lines:
                lines.append(
                    "Active Internet connections" + (" (including servers)" if all_sockets else "")
                )
                head = "{:<5.5} {:<6.6} {:<6.6} {:<22.22} {:<22.22}".format(
                    "Proto", "Recv-Q", "Send-Q", "Local Address", "Foreign Address"
                )
                if not extended:
                    head += " (state)"
                else:
                    head += (" %-6.6s" * 12) % (
                        "R-MBUF",
                        "S-MBUF",
                        "R-CLUS",
                        "S-CLUS",
                        "R-HIWA",
                        "S-HIWA",
                        "R-LOWA",
                        "S-LOWA",
                        "R-BCNT",
                        "S-BCNT",
                        "R-BMAX",
                        "S-BMAX",
                    )
                    head += (" %7.7s" * 6) % (
                        "rexmt",
                        "persist",
                        "keep",
                        "2msl",
                        "delack",
                        "rcvtime",
                    )
                lines.append(head)
            rcv = xso + 64
            snd = rcv + sbl
            (rcv_cc,) = struct.unpack_from(o + "I", rec, rcv)
            (snd_cc,) = struct.unpack_from(o + "I", rec, snd)
            row = f"{name:<3.3}{'4 ':<2.2} {rcv_cc:6d} {snd_cc:6d} "
            row += _inetprint(laddr, lport) + _inetprint(faddr, fport)
            if extended:
                r = struct.unpack_from(o + "6I2i", rec, rcv)
                t = struct.unpack_from(o + "6I2i", rec, snd)
                # (cc, hiwat, mbcnt, mcnt, ccnt, mbmax, lowat, timeo)
                row += ("%6u " * 11 + "%6u") % (
                    r[3],
                    t[3],
                    r[4],
                    t[4],
                    r[1],
                    t[1],
                    r[6] & 0xFFFFFFFF,
                    t[6] & 0xFFFFFFFF,
                    r[2],
                    t[2],
                    r[5],
                    t[5],
                )
            lines.append(row)
    return "".join(line + "\n" for line in lines)
