"""Routing socket messages for users: build requests, parse what a
``socket(AF_ROUTE, SOCK_RAW)`` receives (9.0 amd64 layout).

    s = k.socket(sock.AF_ROUTE, sock.SOCK_RAW, 0)
    s.send(kstack.rtsock.rtm_get("198.51.100.7", seq=1))
    k.advance(0)
    reply = kstack.rtsock.parse(s.recv(2048))   # reply["gateway_addr"] ...
"""

from __future__ import annotations

from kstack import sock as S
from kstack.net.rtsock import (
    RT_MSGHDR_LEN,
    parse,
    rt_msghdr,
    sa_in,
    sa_size,
)
from kstack.netinet.ip import aton, prefix_mask
from kstack.sock import IFAN_ARRIVAL, IFAN_DEPARTURE, RTM_IFANNOUNCE

__all__ = [
    "IFAN_ARRIVAL",
    "IFAN_DEPARTURE",
    "RTM_IFANNOUNCE",
    "parse",
    "rtm_get",
    "rtm_msg",
    "sockaddr_in",
    "netmask",
]


def sockaddr_in(addr: str) -> bytes:
    """A 16-byte sockaddr_in for ``addr`` (port 0)."""
    return sa_in(aton(addr))


def netmask(plen: int) -> bytes:
    """A netmask as route(8) writes it: a sockaddr_in cut after its last
    non-zero byte (the zero mask keeps only its 4-byte head, length 0)."""
    m = prefix_mask(plen).to_bytes(4, "big").rstrip(b"\0")
    return bytes((4 + len(m) if m else 0, S.AF_INET, 0, 0)) + m


def rtm_msg(
    mtype: int,
    dst: str,
    *,
    gateway: str | bytes | None = None,
    mask: int | bytes | None = None,
    flags: int = S.RTF_UP,
    seq: int = 0,
    addrs: int = 0,
    extra: dict[int, bytes] | None = None,
    inits: int = 0,
    mtu: int = 0,
    version: int = S.RTM_VERSION,
    big_endian: bool = False,
) -> bytes:
    """A routing request (struct rt_msghdr and its sockaddrs, each padded
    to 8 bytes). ``gateway``/``mask`` take an address string / prefix
    length or raw sockaddr bytes; ``extra`` adds sockaddrs by RTA_* bit
    (RTA_IFP, RTA_IFA ...); ``addrs`` ORs more bits into rtm_addrs (an
    RTA_IFP bit without an address asks RTM_GET for the interface)."""
    sas: dict[int, bytes] = {S.RTA_DST: sockaddr_in(dst)}
    if gateway is not None:
        sas[S.RTA_GATEWAY] = sockaddr_in(gateway) if isinstance(gateway, str) else gateway
    if mask is not None:
        sas[S.RTA_NETMASK] = netmask(mask) if isinstance(mask, int) else mask
    sas.update(extra or {})
    bits = 0
    body = b""
    for bit in sorted(sas):
        sa = sas[bit]
        bits |= bit
        body += sa + bytes(sa_size(sa[0] if sa else 0) - len(sa))
    rmx = [0] * 14
    rmx[1] = mtu
    hdr = rt_msghdr(
        big_endian,
        mtype,
        bits | addrs,
        len(body),
        flags=flags,
        seq=seq,
        inits=inits,
        rmx=tuple(rmx),
    )
    if version != S.RTM_VERSION:
        hdr = hdr[:2] + bytes((version,)) + hdr[3:]
    assert len(hdr) == RT_MSGHDR_LEN
    return hdr + body


def rtm_get(dst: str, *, seq: int = 0, mask: int | None = None, ifp: bool = False) -> bytes:
    """An RTM_GET for ``dst`` (a route(8) ``get``); ``ifp=True`` asks for
    the interface and its address too (RTA_IFP in rtm_addrs)."""
    return rtm_msg(
        S.RTM_GET,
        dst,
        mask=mask,
        seq=seq,
        flags=S.RTF_UP | S.RTF_HOST if mask is None else S.RTF_UP,
        addrs=S.RTA_IFP if ifp else 0,
    )
