"""Raw sockets and IGMP: rip_input's exception for IGMP (FreeBSD 2009,
"omit the imo filter check if the proto is IGMP"; in 9.0), and the profile
switch raw_igmp_ignores_membership that shows the behaviour before it."""

from __future__ import annotations

import pytest

import kstack
from conformance.igmp.helpers import RA, frame, ipv4, join, report_v2
from kstack import sock
from kstack import testing as T

OTHER = "224.1.2.3"


def _kernel(profile: str) -> kstack.Kernel:
    return T.host(k=kstack.Kernel(profile=profile, seed=0))


@pytest.mark.parametrize(
    "profile,delivered",
    [("9.0", True), ("9.0,raw_igmp_ignores_membership=0", False)],
    ids=["after-fix", "before-fix"],
)
def test_raw_igmp_socket_sees_reports_for_groups_it_did_not_join(profile, delivered, delta):
    """rip_input: a raw IPPROTO_IGMP socket that joined 239.1.1.1 gets a v2
    report for 224.1.2.3 with the fix; before it the socket's group filter
    refused it (ips_notmember, and ips_noproto as nobody took it)."""
    k = _kernel(profile)
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    join(r, "239.1.1.1")
    k.advance(5)
    k.transmitted("em0")
    with delta(k) as d:
        k.input("em0", frame(ipv4("192.0.2.8", OTHER, report_v2(OTHER), opts=RA)))
    if delivered:
        data = r.recv(100)
        assert data[24:] == report_v2(OTHER)
        assert "ips_notmember" not in d["ip"]
    else:
        with pytest.raises(BlockingIOError):
            r.recv(100)
        assert d["ip"]["ips_notmember"] == 1
        assert d["ip"]["ips_noproto"] == 1


def test_raw_igmp_socket_sees_its_group_either_way():
    """rip_input before the fix: IGMP for a joined group still passes the
    socket's filter."""
    k = _kernel("9.0,raw_igmp_ignores_membership=0")
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    join(r, OTHER)
    k.advance(5)
    k.input("em0", frame(ipv4("192.0.2.8", OTHER, report_v2(OTHER), opts=RA)))
    assert r.recv(100)[24:] == report_v2(OTHER)


def test_raw_non_igmp_still_filtered():
    """rip_input: the exception is for IGMP only; other protocols are
    filtered by membership in every profile."""
    k = _kernel("9.0")
    r = k.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    join(r, "239.1.1.1")
    k.input("em0", frame(ipv4("192.0.2.8", OTHER, b"zz", ttl=3, proto=253)))
    with pytest.raises(BlockingIOError):
        r.recv(100)


def test_raw_socket_sees_the_query_igmp_acted_on(k):
    """igmp_input passes every valid message on to rip_input after acting
    on it: a raw IGMP socket reads the general query."""
    from conformance.igmp.helpers import query_frame, v2_query

    r = k.socket(sock.AF_INET, sock.SOCK_RAW, sock.IPPROTO_IGMP)
    k.input("em0", query_frame(v2_query(100)))
    assert r.recv(100)[24:] == v2_query(100)


def test_switch_listed():
    """kstack profiles: the switch is documented and on in every named
    profile (the fix predates 9.0)."""
    from kstack.profiles import SWITCHES

    assert "raw_igmp_ignores_membership" in SWITCHES
    assert all(p.raw_igmp_ignores_membership for p in kstack.PROFILES.values())
