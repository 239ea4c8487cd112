"""IP options behaviour that changed after 9.0, both sides of each change.

1. icmp_input strips the IP options of a received ICMP error (unreachable,
   source quench, time exceeded, parameter problem) before the protocols
   and raw sockets see it: in head in 2016 (believed r298800, the change
   whose comment says upper-layer handlers "can rely on: The outer IP header
   has no options"; revision unverified), first released in 11.0. 9.0: a raw
   ICMP socket reads the outer options (as ip_dooptions left them).
2. net.inet.ip.sourceroute, accept_sourceroute and process_options became
   per virtual network stack: head r271628 (2014-09-15), stable/10 r272869,
   first released in 10.1. 9.0: one machine-wide value.
"""

from __future__ import annotations

import pytest

import kstack
from kstack import sock as S
from kstack import testing as packets
from kstack.testing import HOST, ICMP, PEER, Raw

SIDES = {"9.0": "before", "11.0": "after"}


@pytest.mark.parametrize("profile", sorted(SIDES))
def test_raw_icmp_reader_and_outer_options(profile):
    """icmp_input: a port unreachable arriving with a Record Route option.
    9.0: the raw ICMP socket reads a 28-byte header with the option filled
    in by ip_dooptions; 11.0: a 20-byte header, the option gone (ip_len in
    network order then counts 20 bytes of header)."""
    from conformance.ip_options.helpers import addr, frame, rr, with_options

    k = packets.host(profile)
    s = k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    quote = bytes(packets.IP(src=HOST, dst=PEER, id=3, proto=17) / packets.UDP(sport=1, dport=2))
    err = with_options(rr(1), ICMP(type=3, code=3) / Raw(quote))
    k.input("em0", frame(err))
    got = s.recv(2048)
    if SIDES[profile] == "before":
        assert got[0] == 0x47 and got[20:28] == b"\x07\x07\x08" + addr(HOST) + b"\x00"
        # 9.x also swaps the quoted ip_len to host order (icmp_input).
        body = bytearray(err[28:])
        body[10], body[11] = body[11], body[10]
        assert got[28:] == bytes(body)
    else:
        assert got[0] == 0x45 and int.from_bytes(got[2:4], "big") == len(err) - 8
        assert got[20:] == err[28:]


@pytest.mark.parametrize("profile", sorted(SIDES))
def test_option_sysctls_per_vnet(profile):
    """ip_options.c sysctls: in 9.0 a second network stack shares vnet0's
    value; from 10.1 each stack has its own, starting from the default."""
    k = kstack.Kernel(profile=profile)
    other = k.new_vnet("v1")
    k.sysctl("net.inet.ip.process_options", 2)
    k.sysctl("net.inet.ip.sourceroute", 1)
    shared = SIDES[profile] == "before"
    assert other.sysctl("net.inet.ip.process_options") == (2 if shared else 1)
    assert other.sysctl("net.inet.ip.sourceroute") == (1 if shared else 0)
    assert other.sysctl("net.inet.ip.accept_sourceroute") == 0


@pytest.mark.parametrize("profile", sorted(SIDES))
def test_per_vnet_value_governs_that_stack(profile):
    """ip_dooptions reads the value of the stack the packet arrived in: with
    process_options=2 set in a second stack only, vnet0 still answers."""
    from conformance.ip_options.helpers import echo, frame, rr

    k = packets.host(profile)
    other = k.new_vnet("v1")
    other.sysctl("net.inet.ip.process_options", 2)
    out = k.input("em0", frame(echo(rr(1))))
    if SIDES[profile] == "before":
        assert out.reason == "ips_badoptions"  # the one machine-wide value
    else:
        assert out.reason == "icps_reflect"
