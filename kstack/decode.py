"""One-line, tcpdump-like summaries of frames for replay output.

Hand decoded (never scapy: replay output is on the hot path) and total:
any byte string of any length decodes to a line, never an exception.
"""

from __future__ import annotations

import struct

from kstack.pcapio import LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_RAW

__all__ = ["decode", "decode_ip", "ICMP_NAMES", "PROTO_NAMES"]

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


def _ip4(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def _quoted(p: bytes) -> str:
    """What an ICMP error quotes: ``(for src > dst proto)``."""
    q = p[8:]
    if len(q) < 20 or q[0] >> 4 != 4:
        return ""
    proto = q[9]
    hl = (q[0] & 15) * 4
    src, dst = _ip4(q[12:16]), _ip4(q[16:20])
    if proto in (6, 17) and hl >= 20 and len(q) >= hl + 4:
        sp, dp = _HH.unpack_from(q, hl)
        return f" (for {src}.{sp} > {dst}.{dp} {PROTO_NAMES[proto]})"
    return f" (for {src} > {dst} {PROTO_NAMES.get(proto, f'proto {proto}')})"


def decode_ip(ip: bytes) -> str:
    """A one-line summary of an IPv4 packet (any length)."""
    n = len(ip)
    if n == 0:
        return "empty IP packet"
    if ip[0] >> 4 != 4:
        return f"IP version {ip[0] >> 4} ({n} bytes)"
    if n < 20:
        return f"IP truncated ({n} bytes)"
    hl = (ip[0] & 15) * 4
    src, dst = _ip4(ip[12:16]), _ip4(ip[16:20])
    tlen, ident = _HH.unpack_from(ip, 2)
    off = _H.unpack_from(ip, 6)[0]
    proto, ttl = ip[9], ip[8]
    s = f"{src} > {dst} "
    frag = off & 0x1FFF
    tail = ""
    if frag or off & 0x2000:
        tail = f" frag id={ident} off={frag * 8}{'+' if off & 0x2000 else ''}"
    elif off & 0x4000:
        tail = " DF"
    if ttl <= 1:
        tail += f" ttl={ttl}"
    if hl > 20:
        tail += f" options {_option_names(ip[20:hl])}"
    p = ip[hl:] if hl >= 20 else b""
    name = PROTO_NAMES.get(proto, f"proto {proto}")
    if frag:
        return f"{s}{name}{tail}"
    if proto == 1 and len(p) >= 2:
        t, c = p[0], p[1]
        what = ICMP_NAMES.get(t, f"type {t}")
        body = f"ICMP {what}" + (f" code {c}" if c or t in _ICMP_ERRORS else "")
        if t in (0, 8, 13, 14, 15, 16, 17, 18) and len(p) >= 8:
            ident, seq = _HH.unpack_from(p, 4)
            body += f" id {ident} seq {seq}"
        elif t in _ICMP_ERRORS:
            if t == 12 and len(p) >= 5:
                body += f" pointer {p[4]}"
            body += _quoted(p)
        return f"{s}{body}, length {tlen}{tail}"
    if proto in (6, 17) and len(p) >= 4:
        sp, dp = _HH.unpack_from(p, 0)
        return f"{src}.{sp} > {dst}.{dp} {name}, length {tlen}{tail}"
    if proto == 2 and len(p) >= 1:
        msg = bytes(p[: tlen - hl]) if hl < tlen <= n else bytes(p)
        return f"{s}{_igmp(msg)}, length {tlen}{tail}"
    return f"{s}{name}, length {tlen}{tail}"


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
    return ":".join(f"{x:02x}" for x in b)


def decode(frame: bytes, linktype: int = LINKTYPE_ETHERNET) -> str:
    """One-line summary of an Ethernet frame, or of a raw IPv4 packet for
    ``linktype`` RAW/IPV4 (any length, never raises)."""
    n = len(frame)
    if linktype != LINKTYPE_ETHERNET:
        if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
            return decode_ip(frame)
        return f"link type {linktype} frame, {n} bytes"
    if n < 14:
        return f"runt Ethernet frame ({n} bytes)"
    et = _H.unpack_from(frame, 12)[0]
    if et == 0x0800:
        return decode_ip(frame[14:])
    if et == 0x0806:
        if n < 42:
            return f"ARP truncated ({n - 14} bytes)"
        op = _H.unpack_from(frame, 20)[0]
        spa, tpa = _ip4(frame[28:32]), _ip4(frame[38:42])
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
