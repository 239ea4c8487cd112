"""Shared pieces of the routing suites: the standard topology booted with
several FIBs, an errno catcher and the exact frames a UDP sender emits."""

from __future__ import annotations

from typing import Any

import kstack
from kstack import sock
from kstack.testing import (
    BOOT_IP_ID,
    HOST,
    HOST_MAC,
    IP,
    PEER,
    PEER_MAC,
    UDP,
    Ether,
    Raw,
    host,
)

FAR_NET = "203.0.113.0/24"
FAR_HOST = "203.0.113.9"
NET10 = "10.0.0.0/24"


def fib_host(fibs: int = 2, **kw: Any) -> kstack.Kernel:
    """The standard topology (kstack.testing.host) on a kernel booted with
    ``fibs`` routing tables; gratuitous ARP frames already collected."""
    return host(k=kstack.Kernel(seed=0, fibs=fibs, **kw))


def err(fn: Any, *args: Any, **kw: Any) -> int:
    """The errno ``fn`` fails with (AssertionError if it does not fail)."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return int(e.errno or 0)
    raise AssertionError(f"{getattr(fn, '__name__', fn)} did not fail")


def udp(k: Any, port: int = 5000, uid: int = 0) -> Any:
    """A UDP socket bound to *:port."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, uid=uid)
    s.bind(("0.0.0.0", port))
    return s


def udp_frame(
    dst: str,
    mac_dst: str,
    *,
    src: str = HOST,
    mac_src: str = HOST_MAC,
    sport: int = 5000,
    dport: int = 9,
    data: bytes = b"x",
    n: int = 0,
) -> Any:
    """The frame of the ``n``-th locally generated datagram of a fresh
    kernel (IP IDs count up from the boot value)."""
    return (
        Ether(src=mac_src, dst=mac_dst)
        / IP(src=src, dst=dst, id=BOOT_IP_ID + n, ttl=64)
        / UDP(sport=sport, dport=dport)
        / Raw(data)
    )


def to_peer(n: int = 0, **kw: Any) -> Any:
    return udp_frame(PEER, PEER_MAC, n=n, **kw)


def route_tuple(info: Any) -> tuple[str, str | None, str, int, str]:
    """(prefix, gateway, interface, mtu, flags) of a route_get / routes row."""
    return (info.prefix, info.gateway, info.ifname, info.mtu, info.flags)
