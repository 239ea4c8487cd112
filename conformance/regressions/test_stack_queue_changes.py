"""netisr, ICMP error quoting and reassembly changes from the seeds, each
before and after.

* netisr_workstreams (seed 002:71): netisr2's queue limit.
* icmp_quote_whole_tcp_header (seed 002:784): the quote of a TCP segment.
* reass_hold_first_fragment (seed 002:812): a new queue's first fragment.
"""

from __future__ import annotations

import errno

import pytest

from kstack.testing import IP, PEER, REMOTE, Raw, eth, host, ip_bytes, udp_to

BEFORE_NETISR = "9.0,netisr_workstreams=0"


@pytest.mark.parametrize("profile", ["9.0", BEFORE_NETISR])
def test_netisr_queue_limit(profile):
    """seed 002:71, no PR, revision unverified: net/netisr.c netisr_queue
    (netisr2, "Queue limits are now per-workstream, and raised") against
    the old netisr's IFQ_MAXLEN ipintrq. Deferred dispatch, 300 packets in
    without running netisr: 256 queued and 44 dropped after; 50 queued and
    250 dropped before. Before, deferral is net.isr.direct=0 and netisr2's
    net.isr.dispatch does not exist."""
    k = host(profile=profile, em1=False)
    if profile == "9.0":
        assert k.sysctl("net.inet.ip.intr_queue_maxlen") == 256
        k.sysctl("net.isr.dispatch", "deferred")
    else:
        assert k.sysctl("net.inet.ip.intr_queue_maxlen") == 50
        with pytest.raises(OSError) as e:
            k.sysctl("net.isr.dispatch")
        assert e.value.errno == errno.ENOENT
        k.sysctl("net.isr.direct", 0)
    for _ in range(300):
        k.input("em0", udp_to(dport=9))
    drops = k.sysctl("net.inet.ip.intr_queue_drops")
    assert drops == (44 if profile == "9.0" else 250)


def _syn_ttl1():
    from scapy.layers.inet import TCP

    return (
        eth()
        / IP(src=PEER, dst=REMOTE, ttl=1)
        / TCP(
            sport=1,
            dport=2,
            seq=5,
            flags="S",
            options=[("MSS", 1460), ("NOP", None), ("NOP", None)],
        )
    )


@pytest.mark.parametrize("profile", ["9.0", "9.0,icmp_quote_whole_tcp_header=0"])
def test_time_exceeded_tcp_quote(profile):
    """seed 002:784, no PR, revision unverified: netinet/ip_icmp.c
    icmp_error ("This allows icmp_error() to quote the entire TCP header in
    error messages"). A forwarded 48-byte SYN (24-byte TCP header with
    options) with TTL 1: the time-exceeded quotes all 48 bytes after, the
    IP header and 8 bytes (28) before."""
    k = host(profile=profile)
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("default", "192.0.2.254")
    k.transmitted("em0")
    req = _syn_ttl1()
    k.input("em0", req)
    (err,) = k.transmitted("em0")
    quote = bytes(err[14 + 28 :])
    n = 48 if profile == "9.0" else 28
    assert quote == ip_bytes(req)[:n]


def _frag(ip_id: int, off: int, mf: bool):
    return (
        eth()
        / IP(src=PEER, dst="192.0.2.1", id=ip_id, proto=17, frag=off, flags="MF" if mf else 0)
        / Raw(bytes(16))
    )


@pytest.mark.parametrize("profile", ["9.0", "9.0,reass_hold_first_fragment=0"])
def test_first_fragment_with_maxfragsperpacket_zero(profile, delta):
    """seed 002:812, no PR, revision unverified: netinet/ip_input.c
    ip_reass ("Drop the fragment if maxfragsperpacket == 0" and "finish
    with the first fragment as soon as we create a queue"). Two queues
    held with maxfragpackets=1, then maxfragsperpacket=0 and a fragment of
    a third datagram: after the change it is dropped up front and both
    queues stay; before, the queue limit first evicts a held queue
    (ips_fragtimeout), then the new one-fragment queue is made and at once
    freed by the per-datagram limit."""
    k = host(profile=profile, em1=False)
    k.sysctl("net.inet.ip.maxfragpackets", 1)
    k.input("em0", _frag(1, 0, True))
    k.input("em0", _frag(2, 0, True))
    assert k.sysctl("net.inet.ip.fragpackets") == 2
    k.sysctl("net.inet.ip.maxfragsperpacket", 0)
    with delta(k) as d:
        k.input("em0", _frag(3, 0, True))
    if profile == "9.0":
        assert d["ip"] == {"ips_total": 1, "ips_fragments": 1, "ips_fragdropped": 1}
        assert k.sysctl("net.inet.ip.fragpackets") == 2
    else:
        assert d["ip"] == {
            "ips_total": 1,
            "ips_fragments": 1,
            "ips_fragdropped": 1,
            "ips_fragtimeout": 1,
        }
        assert k.sysctl("net.inet.ip.fragpackets") == 1
