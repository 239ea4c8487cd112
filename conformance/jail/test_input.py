"""What jailed sockets receive: in_pcblookup_hash_locked's preference
(jailed exact > jailed wildcard > host exact > host wildcard, jailed
sockets only for their jail's addresses), in_pcblookup_local's per-domain
bind conflicts, udp_input's broadcast path (no jail check), rip_input's
jail filter (prison_check_ip4, multicast let through), FreeBSD 9.0."""

from __future__ import annotations

import errno

import pytest

from conformance.jail.helpers import (
    A2,
    A3,
    B2,
    BCAST0,
    GROUP,
    HOST,
    PEER,
    host,
    proto_frame,
    raw_socket,
    udp_frame,
    udp_socket,
)
from kstack import sock


def _got(s):
    try:
        return s.recv(100)
    except BlockingIOError:
        return None


def _err(fn, *a):
    with pytest.raises(OSError) as e:
        fn(*a)
    return e.value.errno


def test_jailed_exact_beats_host_wildcard():
    """in_pcblookup_hash_locked: a datagram to the jail's address goes to
    the jailed socket; one to a host address to the host's wildcard."""
    k = host()
    j = k.jail("j", ip4=[A2])
    h = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    h.bind(("0.0.0.0", 5000))
    js = udp_socket(j)
    js.bind(("0.0.0.0", 5000))  # becomes A2:5000
    k.input("em0", udp_frame(PEER, A2, 5000, data=b"jail"))
    k.input("em0", udp_frame(PEER, HOST, 5000, data=b"host"))
    assert (_got(js), _got(h)) == (b"jail", b"host")


def test_jailed_wildcard_beats_host_exact():
    """in_pcblookup_hash_locked: a jailed wildcard socket shadows a host
    socket bound to that very address."""
    k = host()
    j = k.jail("j", ip4=[A3, B2])
    h = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    h.bind((A3, 5000))
    js = udp_socket(j)
    js.bind(("0.0.0.0", 5000))
    k.input("em0", udp_frame(PEER, A3, 5000, data=b"x"))
    assert (_got(js), _got(h)) == (b"x", None)


def test_jailed_wildcard_only_for_jail_addresses():
    """in_pcblookup_hash_locked: a jailed wildcard socket is not a candidate
    for a destination outside its jail: port unreachable from the host."""
    k = host()
    j = k.jail("j", ip4=[A3, B2])
    js = udp_socket(j)
    js.bind(("0.0.0.0", 5000))
    k.input("em0", udp_frame(PEER, HOST, 5000))
    assert _got(js) is None
    frames = k.transmitted("em0")
    assert len(frames) == 1 and frames[0][14 + 9] == 1 and frames[0][34] == 3  # ICMP 3/3


def test_bind_conflicts_are_per_domain():
    """in_pcblookup_local (with the binding cred): the host and a jail, or
    two single-address jails sharing one address, bind the same port
    without EADDRINUSE; inside one jail the second bind conflicts."""
    k = host()
    h = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    h.bind((A2, 5000))
    a = k.jail("a", ip4=[A2])
    b = k.jail("b", ip4=[A2])
    udp_socket(a).bind(("0.0.0.0", 5000))
    udp_socket(b).bind((A2, 5000))
    assert _err(udp_socket(a).bind, (A2, 5000)) == errno.EADDRINUSE


def test_broadcast_reaches_multi_address_jail_wildcard():
    """udp_input (broadcast path): no jail check: a jailed wildcard socket
    gets a subnet broadcast; a single-address jail's socket (bound to its
    address) does not."""
    k = host()
    m = k.jail("m", ip4=[A3, B2])
    ms = udp_socket(m)
    ms.bind(("0.0.0.0", 5000))
    k.input("em0", udp_frame(PEER, BCAST0, 5000, data=b"b", dst_mac="ff:ff:ff:ff:ff:ff"))
    assert _got(ms) == b"b"
    k2 = host()
    s = k2.jail("s", ip4=[A2])
    ss = udp_socket(s)
    ss.bind(("0.0.0.0", 5000))
    k2.input("em0", udp_frame(PEER, BCAST0, 5000, data=b"b", dst_mac="ff:ff:ff:ff:ff:ff"))
    assert _got(ss) is None


@pytest.mark.parametrize(
    "dst,dst_mac,gets",
    [
        (A2, "02:00:00:00:00:01", True),  # a jail address
        (HOST, "02:00:00:00:00:01", False),  # a host address
        (BCAST0, "ff:ff:ff:ff:ff:ff", False),  # broadcasts are not jail addresses
        (GROUP, "01:00:5e:01:01:01", True),  # multicast is let through
    ],
)
def test_raw_input_jail_filter(dst, dst_mac, gets):
    """rip_input (wildcard list): a jailed raw socket gets unicast only for
    its jail's addresses, no broadcast, and every multicast."""
    k = host()
    j = k.jail("j", ip4=[A2], allow_raw_sockets=True)
    r = raw_socket(j)
    k.input("em0", proto_frame(PEER, dst, dst_mac=dst_mac))
    got = _got(r)
    assert (got is not None) == gets
    if gets:
        assert got[20:] == b"raw"


def test_raw_input_host_socket_unaffected():
    """rip_input: the host's raw socket sees the jail's traffic too."""
    k = host()
    k.jail("j", ip4=[A2], allow_raw_sockets=True)
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    k.input("em0", proto_frame(PEER, A2))
    assert _got(r) is not None


def test_connect_same_four_tuple_as_host_eaddrinuse():
    """in_pcbconnect_setup: the exact 4-tuple lookup has no cred filter: a
    jailed socket cannot connect to a 4-tuple a host socket holds."""
    k = host()
    h = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    h.bind((A2, 5000))
    h.connect((PEER, 4000))
    j = k.jail("j", ip4=[A2])
    js = udp_socket(j)
    js.bind((A2, 5000))
    assert _err(js.connect, (PEER, 4000)) == errno.EADDRINUSE
