"""Per-socket receive filtering of multicast datagrams: imo_multi_filter
(netinet/in_mcast.c) as udp_input and rip_input apply it, FreeBSD 9.0.

imo_multi_filter: no membership of the group on the receiving interface
-> MCAST_NOTGMEMBER; else with the filter's mode at t1 and the source's
entry: no entry and include mode, or an entry whose committed state
(imsl_st[0]) differs from the mode -> MCAST_NOTSMEMBER; else MCAST_PASS.
udp_input counts NOTGMEMBER as ips_notmember and NOTSMEMBER as
udps_filtermcast; rip_input counts both as ips_notmember.
"""

from __future__ import annotations

import struct

import pytest

from conformance.igmp.helpers import EM0, frame, ipv4, join, udp_to
from kstack import sock

IP = sock.IPPROTO_IP
G = "239.1.1.1"
S1, S2, S3 = "192.0.2.7", "192.0.2.8", "192.0.2.9"
PASS, NOTG, NOTS = "pass", "notgmember", "notsmember"


def _asm(s):
    join(s, G)


def _block_delta(s):
    join(s, G)
    s.setsockopt(IP, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(G, S1))


def _block_full_state(s):
    join(s, G)
    sock.setsourcefilter(s, EM0, G, sock.MCAST_EXCLUDE, [S1])


def _ssm_one(s):
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))


def _ssm_two_full_state(s):
    join(s, G)
    sock.setsourcefilter(s, EM0, G, sock.MCAST_INCLUDE, [S1, S2])


def _state_only(s):
    s.setsockopt(IP, sock.IP_MULTICAST_TTL, 4)


def _other_interface(s):
    join(s, G, "198.51.100.1")


def _include_then_exclude_empty(s):
    _ssm_one(s)
    sock.setsourcefilter(s, EM0, G, sock.MCAST_EXCLUDE, [])


def _include_then_drop_source(s):
    _ssm_one(s)
    s.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
    s.setsockopt(IP, sock.IP_DROP_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S1))


# config -> expected verdict for datagrams from S1, S2, S3 arriving on em0
MATRIX = {
    # exclude {}: everything passes
    "asm": (_asm, (PASS, PASS, PASS)),
    # exclude {S1}: S1's committed state equals the mode (exclude), so the
    # block does not filter at the socket (the 9.x quirk)
    "exclude_block_delta": (_block_delta, (PASS, PASS, PASS)),
    "exclude_block_full_state": (_block_full_state, (PASS, PASS, PASS)),
    # include {S1}: only S1
    "include_one": (_ssm_one, (PASS, NOTS, NOTS)),
    "include_two_full_state": (_ssm_two_full_state, (PASS, PASS, NOTS)),
    # multicast options but no membership
    "state_no_membership": (_state_only, (NOTG, NOTG, NOTG)),
    # membership on em1, datagram on em0
    "other_interface": (_other_interface, (NOTG, NOTG, NOTG)),
    # include {S1} -> setsourcefilter(exclude, {}): S1 keeps its include
    # state, which now differs from the mode: S1 alone is filtered
    "include_then_exclude_empty": (_include_then_exclude_empty, (NOTS, PASS, PASS)),
    # include {S1, S2} minus S1
    "include_drop_source": (_include_then_drop_source, (NOTS, PASS, NOTS)),
}
SOURCES = (S1, S2, S3)


def _cases():
    for name, (_cfg, verdicts) in MATRIX.items():
        for src, v in zip(SOURCES, verdicts, strict=True):
            yield pytest.param(name, src, v, id=f"{name}-{src}")


@pytest.mark.parametrize("config,src,verdict", list(_cases()))
def test_udp_matrix(k, delta, config, src, verdict):
    """imo_multi_filter in udp_input's multicast path: PASS delivers;
    NOTGMEMBER -> ips_notmember; NOTSMEMBER -> udps_filtermcast; with no
    socket matched, udps_noportbcast and no ICMP."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5000))
    MATRIX[config][0](s)
    k.transmitted("em0")
    with delta(k) as d:
        k.input("em0", udp_to(G, 5000, src=src, data=b"hello"))
    if verdict == PASS:
        assert s.recvfrom(100) == (b"hello", (src, 4000))
        assert d["udp"] == {"udps_ipackets": 1}
        assert "ips_notmember" not in d.get("ip", {})
    else:
        with pytest.raises(BlockingIOError):
            s.recvfrom(100)
        want_udp = {"udps_ipackets": 1, "udps_noportbcast": 1}
        if verdict == NOTS:
            want_udp["udps_filtermcast"] = 1
        assert d["udp"] == want_udp
        assert d["ip"].get("ips_notmember", 0) == (1 if verdict == NOTG else 0)
    assert k.transmitted("em0") == []


@pytest.mark.parametrize("config,src,verdict", list(_cases()))
def test_raw_matrix(k, delta, config, src, verdict):
    """imo_multi_filter in rip_input: PASS delivers the datagram; NOTGMEMBER
    and NOTSMEMBER are both ips_notmember; nobody left -> ips_noproto."""
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    MATRIX[config][0](s)
    pkt = ipv4(src, G, b"payload!", ttl=4, proto=253)
    with delta(k) as d:
        k.input("em0", frame(pkt, src_mac="02:00:00:00:00:07"))
    if verdict == PASS:
        data, _addr = s.recvfrom(100)
        assert data[20:] == b"payload!"
        assert "ips_notmember" not in d["ip"]
    else:
        with pytest.raises(BlockingIOError):
            s.recvfrom(100)
        assert d["ip"]["ips_notmember"] == 1
        assert d["ip"]["ips_noproto"] == 1


def test_raw_socket_without_multicast_state_takes_everything(k, delta):
    """rip_input: the filter applies only to sockets with multicast options."""
    s = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    with delta(k) as d:
        k.input("em0", frame(ipv4(S1, G, b"x", ttl=4, proto=253), src_mac="02:00:00:00:00:07"))
    assert s.recvfrom(100)[0][20:] == b"x"
    assert "ips_notmember" not in d["ip"]


def test_udp_socket_without_multicast_state_skipped_silently(k, delta):
    """udp_input: a socket without multicast options is skipped for a
    multicast datagram without any counter of its own (G6.8)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5000))
    with delta(k) as d:
        k.input("em0", udp_to(G, 5000))
    assert d["udp"] == {"udps_ipackets": 1, "udps_noportbcast": 1}
    assert "ips_notmember" not in d["ip"]


def _reuse(s):
    s.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 1)


def test_udp_fanout_newest_first_stops_without_reuse(k):
    """udp_input: sockets are scanned newest first and delivery stops at a
    matched socket without SO_REUSEADDR/SO_REUSEPORT (G6.10)."""
    a = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    _reuse(a)
    a.bind(("0.0.0.0", 5000))
    join(a, G)
    b = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    _reuse(b)
    b.bind(("0.0.0.0", 5000))
    join(b, G)
    k.input("em0", udp_to(G, 5000, data=b"1"))
    assert a.recv(10) == b"1" and b.recv(10) == b"1"
    b.setsockopt(sock.SOL_SOCKET, sock.SO_REUSEPORT, 0)
    k.input("em0", udp_to(G, 5000, data=b"2"))
    assert b.recv(10) == b"2"
    with pytest.raises(BlockingIOError):
        a.recv(10)


def test_udp_fanout_skips_filtered_sockets(k, delta):
    """udp_input: a socket whose filter refuses the source is passed over
    (udps_filtermcast) and the scan goes on to the older socket."""
    a = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    _reuse(a)
    a.bind(("0.0.0.0", 5000))
    join(a, G)
    b = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    _reuse(b)
    b.bind(("0.0.0.0", 5000))
    b.setsockopt(IP, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(G, S2))
    with delta(k) as d:
        k.input("em0", udp_to(G, 5000, src=S1, data=b"3"))
    assert a.recv(10) == b"3"
    with pytest.raises(BlockingIOError):
        b.recv(10)
    assert d["udp"] == {"udps_ipackets": 1, "udps_filtermcast": 1}


def test_udp_connected_foreign_port_must_match(k):
    """udp_input (multicast path): a socket connected to a foreign port
    takes only datagrams from that port (bound to the group, so that
    connect keeps the group as its local address)."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind((G, 5000))
    join(s, G)
    s.connect((S1, 4001))
    k.input("em0", udp_to(G, 5000, src=S1, sport=4000))
    with pytest.raises(BlockingIOError):
        s.recv(10)
    k.input("em0", udp_to(G, 5000, src=S1, sport=4001, data=b"ok"))
    assert s.recv(10) == b"ok"


def test_join_left_on_close(k):
    """inp_freemoptions (in_pcbfree): closing a socket leaves its groups."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    join(s, G)
    assert any(g["group"] == G for g in k.vnet0.ifmcstat("em0"))
    s.close()
    k.advance(10)
    assert not any(g["group"] == G for g in k.vnet0.ifmcstat("em0"))


def test_filter_uses_receiving_interface(k):
    """imo_multi_filter matches the membership on the receiving interface:
    a datagram arriving on em1 reaches a socket that joined on em1."""
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.bind(("0.0.0.0", 5000))
    join(s, G, "198.51.100.1")
    u = bytearray(udp_to(G, 5000, src="198.51.100.7", data=b"em1"))
    u[0:6] = bytes.fromhex("01005e010101")
    k.input("em1", bytes(u))
    assert s.recv(10) == b"em1"
    assert struct.unpack("!H", u[12:14])[0] == 0x0800
