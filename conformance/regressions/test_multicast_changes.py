"""Multicast and IGMP changes from the seeds, each before and after.

* igmpv3 (seed 000:344): the IGMPv3 host replaced the v1/v2-only one.
* ip_mcast_loop_sysctl (seed 001:138): net.inet.ip.mcast.loop.
* mcast_join_default_ifp (seed 001:460): a join without interface or route.
* mcast_source_filters (seed 001:471): the in_mcast.c socket options.

Seed 000:187 (raw_igmp_ignores_membership) is reproduced on both sides by
conformance/igmp/test_raw_igmp.py.
"""

from __future__ import annotations

import errno
import struct

import pytest

import kstack
from kstack import sock
from kstack.netinet.ip import in_cksum
from kstack.testing import HOST, HOST1, HOST_MAC, IP, PEER, PEER_MAC, Ether, Raw, host

GROUP = "239.1.1.1"
V4 = "9.0"


def _igmp(body: bytes) -> bytes:
    b = bytearray(body)
    struct.pack_into("!H", b, 2, in_cksum(memoryview(b)))
    return bytes(b)


def _query(body: bytes):
    return (
        Ether(src=PEER_MAC, dst="01:00:5e:00:00:01")
        / IP(src=PEER, dst="224.0.0.1", ttl=1, proto=2, options=b"\x94\x04\x00\x00")
        / Raw(_igmp(body))
    )


def _joined(profile: str) -> kstack.Kernel:
    k = host(profile=profile, em1=False)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(GROUP, HOST))
    k._test_socket = s  # type: ignore[attr-defined]  # keep the member alive
    k.advance(30)  # every unsolicited report is out
    k.transmitted("em0")
    return k


V3_QUERY = b"\x11\x64\x00\x00" + bytes(4) + b"\x02\x7d\x00\x00"  # max resp 10 s, QRV 2, QQIC 125


@pytest.mark.parametrize("profile", [V4, "9.0,igmpv3=0"])
def test_v3_general_query_answer(profile, delta, match_frame):
    """seed 000:344, no PR, revision unverified: netinet/igmp.c igmp_input
    (igmp_input_v3_query, igmp_v3_dispatch_general_query) against the
    v1/v2-only igmp_input of before the IGMPv3 merge ("sizeof(struct
    igmpstat) has changed"). A v3 general query is answered with one v3
    report (0x22, one IS_EX record for the group) by the IGMPv3 host; the
    old host takes any query with a non-zero Max Resp Code for a v2 query
    and answers with a v2 report (0x16) to the group, Router Alert on."""
    k = _joined(profile)
    with delta(k) as d:
        k.input("em0", _query(V3_QUERY))
        k.advance(11)
    (frame,) = k.transmitted("em0")
    if profile == V4:
        assert d["igmp"] == {
            "igps_rcv_total": 1,
            "igps_rcv_v3_queries": 1,
            "igps_rcv_gen_queries": 1,
            "igps_snd_reports": 1,
        }
        report = _igmp(
            b"\x22\x00\x00\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00" + bytes((239, 1, 1, 1))
        )
        want = (
            Ether(src=HOST_MAC, dst="01:00:5e:00:00:16")
            / IP(
                src=HOST,
                dst="224.0.0.22",
                ttl=1,
                tos=0xC0,
                flags="DF",
                proto=2,
                options=b"\x94\x04\x00\x00",
            )
            / Raw(report)
        )
    else:
        assert d["igmp"] == {
            "igps_rcv_total": 1,
            "igps_rcv_queries": 1,
            "igps_snd_reports": 1,
        }
        want = (
            Ether(src=HOST_MAC, dst="01:00:5e:01:01:01")
            / IP(src=HOST, dst=GROUP, ttl=1, proto=2, options=b"\x94\x04\x00\x00")
            / Raw(_igmp(b"\x16\x00\x00\x00" + bytes((239, 1, 1, 1))))
        )
    match_frame(frame, want, dont_care=["ip.id", "ip.sum"])


@pytest.mark.parametrize("profile", [V4, "9.0,igmpv3=0"])
def test_igmp_counters_and_knobs(profile):
    """seed 000:344 (igmp_var.h struct igmpstat, igmp.c SYSCTLs), revision
    unverified: the IGMPv3 host has the 9.0 counter block and the
    net.inet.igmp knobs; the v1/v2 host has nine counters and no knob."""
    k = host(profile=profile, em1=False)
    keys = list(k.netstat("igmp"))
    if profile == V4:
        assert keys[:3] == ["igps_version", "igps_len", "igps_rcv_total"]
        assert k.sysctl("net.inet.igmp.default_version") == 3
    else:
        assert keys == [
            "igps_rcv_total",
            "igps_rcv_tooshort",
            "igps_rcv_badsum",
            "igps_rcv_queries",
            "igps_rcv_badqueries",
            "igps_rcv_reports",
            "igps_rcv_badreports",
            "igps_rcv_ourreports",
            "igps_snd_reports",
        ]
        with pytest.raises(OSError) as e:
            k.sysctl("net.inet.igmp.default_version")
        assert e.value.errno == errno.ENOENT


@pytest.mark.parametrize("profile", [V4, "9.0,ip_mcast_loop_sysctl=0"])
def test_mcast_loop_sysctl(profile):
    """seed 001:138, no PR, revision unverified: netinet/ip_output.c
    ip_output (loopback of a sender without multicast options) and
    in_mcast.c inp_findmoptions ("IPv4 multicast sends are looped back to
    senders by default on a stack-wide basis ... the sysctl only applies to
    newly created multicast sockets"). With net.inet.ip.mcast.loop=0 a new
    socket reads IP_MULTICAST_LOOP 0 and its datagram to a joined group is
    not looped; before the change the sysctl does not exist and both stay 1."""
    k = _joined(profile)
    listener = k._test_socket  # type: ignore[attr-defined]
    listener.bind(("0.0.0.0", 5000))
    k.route_add("default", "192.0.2.254")
    if profile == V4:
        assert k.sysctl("net.inet.ip.mcast.loop", 0) == 1
    else:
        with pytest.raises(OSError) as e:
            k.sysctl("net.inet.ip.mcast.loop", 0)
        assert e.value.errno == errno.ENOENT
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.sendto(b"hello", (GROUP, 5000))
    k.advance(0)
    s2 = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s2.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_TTL, 1)  # creates its options
    loop = s2.getsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_LOOP)
    if profile == V4:
        assert loop == 0
        with pytest.raises(BlockingIOError):
            listener.recvfrom(100)
    else:
        assert loop == 1
        assert listener.recvfrom(100) == (b"hello", (HOST, s.getsockname()[1]))


@pytest.mark.parametrize("profile", [V4, "9.0,mcast_join_default_ifp=0"])
def test_join_without_route_or_interface(profile):
    """seed 001:460, no PR, revision unverified: netinet/in_mcast.c
    inp_lookup_mcast_ifp ("if no interface is specified, and no route
    exists for the group destination, the IPv4 address list is walked to
    find a non-loopback, multicast-capable interface"). No default route:
    the join lands on em0 (its report leaves there) after the fix;
    EADDRNOTAVAIL before it."""
    k = host(profile=profile, em1=False)
    k.transmitted("em0")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    req = sock.ip_mreq(GROUP, "0.0.0.0")
    if profile == V4:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, req)
        k.advance(1)
        frames = k.transmitted("em0")[:1]
        assert [f[30:34] for f in frames] == [bytes((224, 0, 0, 22))]
    else:
        with pytest.raises(OSError) as e:
            s.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, req)
        assert e.value.errno == errno.EADDRNOTAVAIL
        assert k.transmitted("em0") == []


@pytest.mark.parametrize("profile", [V4, "9.0,mcast_source_filters=0"])
def test_mreqn_multicast_if_and_block_source(profile):
    """seed 001:471, no PR, revision unverified: netinet/in_mcast.c
    inp_setmoptions / inp_set_multicast_if / inp_block_unblock_source
    against ip_output.c ip_setmoptions of before ("struct ip_mreqn is now
    supported ... RFC 3678 source filters"). (a) IP_MULTICAST_IF with a
    12-byte ip_mreqn naming em1 by index: the datagram leaves em1 after,
    em0 (the default route's interface) before, where the first four
    bytes (the zero group field) clear the choice. (b) IP_BLOCK_SOURCE:
    0 after, ENOPROTOOPT before."""
    k = host(profile=profile)
    k.route_add("default", "192.0.2.254")
    k.transmitted("em0")
    k.transmitted("em1")
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    em1 = k.iface("em1").index
    s.setsockopt(sock.IPPROTO_IP, sock.IP_MULTICAST_IF, sock.ip_mreqn("0.0.0.0", "0.0.0.0", em1))
    s.sendto(b"x", (GROUP, 5000))
    sent0, sent1 = k.transmitted("em0"), k.transmitted("em1")
    if profile == V4:
        assert (len(sent0), len(sent1)) == (0, 1)
        assert sent1[0][26:30] == bytes(int(x) for x in HOST1.split("."))
    else:
        assert (len(sent0), len(sent1)) == (1, 0)
        assert sent0[0][26:30] == bytes(int(x) for x in HOST.split("."))
    r = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    r.setsockopt(sock.IPPROTO_IP, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(GROUP, HOST))
    block = sock.ip_mreq_source(GROUP, PEER, HOST)
    if profile == V4:
        r.setsockopt(sock.IPPROTO_IP, sock.IP_BLOCK_SOURCE, block)
    else:
        with pytest.raises(OSError) as e:
            r.setsockopt(sock.IPPROTO_IP, sock.IP_BLOCK_SOURCE, block)
        assert e.value.errno == errno.ENOPROTOOPT
        with pytest.raises(OSError) as e:
            r.getsockopt(sock.IPPROTO_IP, sock.IP_MSFILTER, 16)
        assert e.value.errno == errno.ENOPROTOOPT
