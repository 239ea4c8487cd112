"""A host with addresses for jails on two interfaces, and helpers to read
what left it.

    em0  192.0.2.1/24, aliases 192.0.2.2/32 and 192.0.2.3/32
         peer 192.0.2.7, router 192.0.2.254 (static ARP); default route
    em1  198.51.100.1/24, alias 198.51.100.2/32
         far 198.51.100.7 (static ARP)
"""

from __future__ import annotations

import struct
from typing import Any

import kstack
from kstack import sock
from kstack.netinet.ip import in_cksum

HOST = "192.0.2.1"
A2 = "192.0.2.2"
A3 = "192.0.2.3"
B1 = "198.51.100.1"
B2 = "198.51.100.2"
PEER = "192.0.2.7"
FAR = "198.51.100.7"
REMOTE = "203.0.113.9"
ROUTER = "192.0.2.254"
BCAST0 = "192.0.2.255"
GROUP = "239.1.1.1"
PEER_MAC = "02:00:00:00:00:07"
ROUTER_MAC = "02:00:00:00:00:fe"
FAR_MAC = "02:00:00:00:01:07"
HOST_MAC = "02:00:00:00:00:01"
HOST1_MAC = "02:00:00:00:01:01"


def host(**kw: Any) -> kstack.Kernel:
    k = kstack.Kernel(seed=0, **kw)
    k.ifconfig("em0", f"{HOST}/24", ether=HOST_MAC)
    k.ifconfig("em0", f"{A2}/32", alias=True)
    k.ifconfig("em0", f"{A3}/32", alias=True)
    k.ifconfig("em1", f"{B1}/24", ether=HOST1_MAC)
    k.ifconfig("em1", f"{B2}/32", alias=True)
    k.arp_add(PEER, PEER_MAC)
    k.arp_add(ROUTER, ROUTER_MAC)
    k.arp_add(FAR, FAR_MAC)
    k.route_add("default", ROUTER)
    for ifp in ("em0", "em1", "lo0"):
        k.transmitted(ifp)
    return k


def ntoa(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def sent(k: Any, iface: str) -> list[tuple[str, str]]:
    """(IP source, IP destination) of each IPv4 frame sent on ``iface``
    (lo0: bare packets), ARP left out."""
    out = []
    for f in k.transmitted(iface):
        if iface.startswith("lo"):
            ip = f
        else:
            if f[12:14] != b"\x08\x00":
                continue
            ip = f[14:]
        out.append((ntoa(ip[12:16]), ntoa(ip[16:20])))
    return out


def everything_sent(k: Any) -> dict[str, list[tuple[str, str]]]:
    return {i: sent(k, i) for i in ("em0", "em1", "lo0")}


def udp_frame(
    src: str,
    dst: str,
    dport: int,
    *,
    sport: int = 4000,
    data: bytes = b"x",
    src_mac: str = PEER_MAC,
    dst_mac: str = HOST_MAC,
) -> bytes:
    a = bytes(int(x) for x in src.split("."))
    b = bytes(int(x) for x in dst.split("."))
    ulen = 8 + len(data)
    u = bytearray(struct.pack("!HHHH", sport, dport, ulen, 0) + data)
    ck = in_cksum(
        a + b + struct.pack("!BBH", 0, 17, ulen) + bytes(u) + (b"\0" if ulen & 1 else b"")
    )
    struct.pack_into("!H", u, 6, ck or 0xFFFF)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 7, 0, 64, 17, 0, a, b))
    struct.pack_into("!H", ip, 10, in_cksum(bytes(ip)))
    return _mac(dst_mac) + _mac(src_mac) + b"\x08\x00" + bytes(ip) + bytes(u)


def proto_frame(
    src: str, dst: str, proto: int = 253, data: bytes = b"raw", *, dst_mac: str = HOST_MAC
) -> bytes:
    a = bytes(int(x) for x in src.split("."))
    b = bytes(int(x) for x in dst.split("."))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), 7, 0, 64, proto, 0, a, b))
    struct.pack_into("!H", ip, 10, in_cksum(bytes(ip)))
    return _mac(dst_mac) + _mac(PEER_MAC) + b"\x08\x00" + bytes(ip) + data


def _mac(m: str) -> bytes:
    return bytes(int(x, 16) for x in m.split(":"))


def hdrincl(src: str, dst: str, proto: int = 253, data: bytes = b"hdr") -> bytes:
    """An IP_HDRINCL datagram as a 9.x program writes it: ip_len and ip_off
    in host (little-endian) order, the rest in network order."""
    a = bytes(int(x) for x in src.split("."))
    b = bytes(int(x) for x in dst.split("."))
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, proto, 0, a, b))
    struct.pack_into("<H", ip, 2, 20 + len(data))
    return bytes(ip) + data


def raw_socket(j: Any, proto: int = 253) -> Any:
    return j.socket(sock.AF_INET, sock.SOCK_RAW, proto)


def udp_socket(j: Any) -> Any:
    return j.socket(sock.AF_INET, sock.SOCK_DGRAM)
