"""One-line, tcpdump-like summaries of frames for replay output.

Hand decoded (never scapy: replay output is on the hot path) and total:
any byte string of any length decodes to a line, never an exception.
"""

from __future__ import annotations

import socket
import struct

from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_RAW

__all__ = ["Decoder", "decode", "decode_ip", "ICMP_NAMES", "PROTO_NAMES"]

ICMP_NAMES = {
    0: "echo reply",
    3: "unreach",
    4: "source quench",
    5: "redirect",
    8: "echo request",
    9: "router advertisement",
    10: "router solicitation",
    11: "time exceeded",
    12: "param problem",
    13: "timestamp",
    14: "timestamp reply",
    15: "info request",
    16: "info reply",
    17: "mask request",
    18: "mask reply",
}
PROTO_NAMES = {
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    46: "RSVP",
    47: "GRE",
    50: "ESP",
    51: "AH",
    103: "PIM",
    112: "VRRP",
    132: "SCTP",
}
_ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))
_OPTION_NAMES = {
    7: "RR",
    68: "TS",
    130: "SEC",
    131: "LSRR",
    133: "ESEC",
    134: "CIPSO",
    136: "SID",
    137: "SSRR",
    148: "RA",
}


def _option_names(opts: bytes) -> str:
    """``RR,TS`` for the options of a header (NOP and EOL left out)."""
    names = []
    i = 0
    while i < len(opts):
        opt = opts[i]
        if opt == 0:
            break
        if opt == 1:
            i += 1
            continue
        names.append(_OPTION_NAMES.get(opt, f"opt{opt}"))
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            names.append("(malformed)")
            break
        i += opts[i + 1]
    return ",".join(names) or "NOP"


_HH = struct.Struct("!HH")
_H = struct.Struct("!H")
# The fixed IPv4 header in one call: version/IHL, TOS, length, id, offset,
# TTL, protocol, checksum, and the two addresses as one 8-byte string.
_IPH = struct.Struct("!BBHHHBBH8s")
_ntoa = socket.inet_ntoa
_QUERY_TYPES = frozenset((0, 8, 13, 14, 15, 16, 17, 18))  # ICMP messages with id and seq
#: Address pairs a :class:`Decoder` remembers before it starts over.
_PAIRS_MAX = 4096

# (source, destination) in dotted quads, by the 8 bytes of the two addresses.
_Pairs = dict[bytes, tuple[str, str]]


def _pair(a8: bytes, pairs: _Pairs) -> tuple[str, str]:
    sd = pairs.get(a8)
    if sd is None:
        sd = (_ntoa(a8[:4]), _ntoa(a8[4:]))
        if len(pairs) >= _PAIRS_MAX:
            pairs.clear()
        pairs[a8] = sd
    return sd


def _quoted(b: bytes, q: int, pairs: _Pairs) -> str:
    """What an ICMP error quotes, from offset ``q`` of ``b`` (the quoted
    header): ``(for src > dst proto)``."""
    qlen = len(b) - q
    if qlen < 20 or b[q] >> 4 != 4:
        return ""
    proto = b[q + 9]
    hl = (b[q] & 15) * 4
    src, dst = _pair(b[q + 12 : q + 20], pairs)
    if (proto == 6 or proto == 17) and hl >= 20 and qlen >= hl + 4:
        sp, dp = _HH.unpack_from(b, q + hl)
        return f" (for {src}.{sp} > {dst}.{dp} {PROTO_NAMES[proto]})"
    name = PROTO_NAMES.get(proto) or f"proto {proto}"
    return f" (for {src} > {dst} {name})"


def decode_ip(ip: bytes) -> str:
    """A one-line summary of an IPv4 packet (any length)."""
    return _decode_ip_at(ip, 0, {})


def _decode_ip_at(b: bytes, o: int, pairs: _Pairs) -> str:
    """:func:`decode_ip` of the packet at offset ``o`` of ``b`` (no copy of
    the packet: every field is read in place)."""
    n = len(b) - o
    if n < 20:
        if n <= 0:
            return "empty IP packet"
        if b[o] >> 4 != 4:
            return f"IP version {b[o] >> 4} ({n} bytes)"
        return f"IP truncated ({n} bytes)"
    vhl, _, tlen, ident, off, ttl, proto, _, a8 = _IPH.unpack_from(b, o)
    sd = pairs.get(a8)
    src, dst = sd if sd is not None else _pair(a8, pairs)
    if vhl == 0x45 and not off & 0x3FFF and ttl > 1:
        # The common case: no options, not a fragment, a TTL above 1.
        tail = " DF" if off & 0x4000 else ""
        hl = 20
        p = o + 20
        plen = n - 20
    else:
        if vhl >> 4 != 4:
            return f"IP version {vhl >> 4} ({n} bytes)"
        hl = (vhl & 15) * 4
        frag = off & 0x1FFF
        if frag or off & 0x2000:
            tail = f" frag id={ident} off={frag * 8}{'+' if off & 0x2000 else ''}"
        elif off & 0x4000:
            tail = " DF"
        else:
            tail = ""
        if ttl <= 1:
            tail += f" ttl={ttl}"
        if hl > 20:
            tail += f" options {_option_names(b[o + 20 : o + hl])}"
        if frag:
            return f"{src} > {dst} {PROTO_NAMES.get(proto) or f'proto {proto}'}{tail}"
        # The payload starts at p and holds plen bytes (none when the IHL
        # is below 5; negative when the header runs past the end).
        p = o + hl
        plen = n - hl if hl >= 20 else 0
    if proto == 1 and plen >= 2:
        t, c = b[p], b[p + 1]
        what = ICMP_NAMES.get(t) or f"type {t}"
        if t in _ICMP_ERRORS:
            ptr = f" pointer {b[p + 4]}" if t == 12 and plen >= 5 else ""
            quote = _quoted(b, p + 8, pairs) if plen >= 28 else ""
            return f"{src} > {dst} ICMP {what} code {c}{ptr}{quote}, length {tlen}{tail}"
        code = f" code {c}" if c else ""
        if plen >= 8 and t in _QUERY_TYPES:
            qid, seq = _HH.unpack_from(b, p + 4)
            return f"{src} > {dst} ICMP {what}{code} id {qid} seq {seq}, length {tlen}{tail}"
        return f"{src} > {dst} ICMP {what}{code}, length {tlen}{tail}"
    if (proto == 17 or proto == 6) and plen >= 4:
        sp, dp = _HH.unpack_from(b, p)
        return f"{src}.{sp} > {dst}.{dp} {PROTO_NAMES[proto]}, length {tlen}{tail}"
    if proto == 2 and plen >= 1:
        msg = bytes(b[p : o + tlen]) if hl < tlen <= n else bytes(b[p:])
        return f"{src} > {dst} {_igmp(msg)}, length {tlen}{tail}"
    return f"{src} > {dst} {PROTO_NAMES.get(proto) or f'proto {proto}'}, length {tlen}{tail}"


_IGMP_RECORDS = {1: "IS_IN", 2: "IS_EX", 3: "TO_IN", 4: "TO_EX", 5: "ALLOW", 6: "BLOCK"}


def _dq(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def _igmp_time(code: int) -> str:
    """A Max Resp Code in seconds (a v3 exponent form read as RFC 3376 does)."""
    if code >= 128:
        code = ((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3)
    return f"{code / 10:g}s"


def _igmp(p: bytes) -> str:
    """IGMP message summary: kind, group, response time, v3 sources or records."""
    t = p[0]
    group = _dq(p[4:8]) if len(p) >= 8 else "?"
    if t == 0x11:
        if len(p) == 8:
            if p[1] == 0:
                return f"IGMPv1 query {group}"
            return f"IGMPv2 query {group} maxresp {_igmp_time(p[1])}"
        if len(p) >= 12:
            n = int.from_bytes(p[10:12], "big")
            srcs = f" sources {n}" if n else ""
            return f"IGMPv3 query {group} maxresp {_igmp_time(p[1])} qrv {p[8] & 7}{srcs}"
        return "IGMP query (short)"
    if t == 0x12:
        return f"IGMPv1 report {group}"
    if t == 0x16:
        return f"IGMPv2 report {group}"
    if t == 0x17:
        return f"IGMPv2 leave {group}"
    if t == 0x22 and len(p) >= 8:
        n = int.from_bytes(p[6:8], "big")
        recs = []
        i = 8
        for _ in range(min(n, 8)):
            if i + 8 > len(p):
                break
            k = int.from_bytes(p[i + 2 : i + 4], "big")
            name = _IGMP_RECORDS.get(p[i], f"type{p[i]}")
            recs.append(f"{name} {_dq(p[i + 4 : i + 8])}/{k}")
            i += 8 + 4 * k + 4 * p[i + 1]
        more = ", ..." if n > len(recs) else ""
        return f"IGMPv3 report {n} record(s): {', '.join(recs)}{more}"
    names = {0x13: "DVMRP", 0x14: "PIMv1", 0x1E: "mtrace reply", 0x1F: "mtrace query"}
    return f"IGMP {names.get(t, f'type 0x{t:02x}')}"


def _mac(b: bytes) -> str:
    return b.hex(":")


def decode(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """One-line summary of an Ethernet frame, or of a raw IPv4 packet for
    ``linktype`` RAW/IPV4 (any length, never raises)."""
    return _decode(frame, linktype, {})


class Decoder:
    """:func:`decode` for a stream of frames: the same lines, with the
    dotted forms of the address pairs it has met remembered (a report
    decodes the same few flows over and over)."""

    __slots__ = ("_pairs",)

    def __init__(self) -> None:
        self._pairs: _Pairs = {}

    def decode(self, frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
        """:func:`decode` of ``frame``."""
        if linktype == LINKTYPE_ETHERNET and frame[12:14] == b"\x08\x00":
            return _decode_ip_at(frame, 14, self._pairs)
        return _decode(frame, linktype, self._pairs)


def _decode(frame: bytes, linktype: int, pairs: _Pairs) -> str:
    n = len(frame)
    if linktype != LINKTYPE_ETHERNET:
        if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
            return _decode_ip_at(frame, 0, pairs)
        return f"link type {linktype} frame, {n} bytes"
    if n < 14:
        return f"runt Ethernet frame ({n} bytes)"
    et = (frame[12] << 8) | frame[13]
    if et == 0x0800:
        return _decode_ip_at(frame, 14, pairs)
    if et == 0x0806:
        if n < 42:
            return f"ARP truncated ({n - 14} bytes)"
        op = _H.unpack_from(frame, 20)[0]
        spa, tpa = _ntoa(frame[28:32]), _ntoa(frame[38:42])
        if op == 1:
            if spa == tpa:
                return f"ARP who-has {tpa} (gratuitous)"
            return f"ARP who-has {tpa} tell {spa}"
        if op == 2:
            return f"ARP reply {spa} is-at {_mac(frame[22:28])}"
        return f"ARP op {op}"
    if et == 0x86DD:
        return f"IPv6 ({n - 14} bytes)"
    if et == 0x8100:
        return (
            f"802.1Q VLAN {(_H.unpack_from(frame, 14)[0] & 0xFFF) if n >= 16 else '?'}, {n} bytes"
        )
    if et <= 1500:
        return f"802.3 frame, length {et}"
    return f"ethertype 0x{et:04x}, {n} bytes"
