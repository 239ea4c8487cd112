"""Changes that came as a sysctl, or a sysctl default, each before and after.

* seed 002:871 (``check_interface_default_off``): net.inet.ip.check_interface
  went back to 0 by default, "it breaks POLA especially in bridge
  environment".
* seed 002:977 (``ip_random_id_sysctl``): "named the sysctl
  net.inet.ip.random_id ... The sysctl defaults to 0 (sequential IP IDs)".
* seed 002:1036 (``process_options_sysctl``): "net.inet.ip.process_options=0
  Ignore IP options ... =2 Reject all packets with IP options with ICMP
  filter prohibited message".
* seed 003:364 (``somaxconn_unsigned``): "Add SYSCTL_PROC() around
  somaxconn, not accepting values < 1 or > U_SHRTMAX".
"""

from __future__ import annotations

import errno

import pytest

from kstack import sock
from kstack.testing import (
    BOOT_IP_ID,
    HOST,
    HOST1,
    IP,
    PEER,
    PEER_MAC,
    Raw,
    eth,
    host,
)

NOPROTO = {"ip": {"ips_total": 1, "ips_noproto": 1}}
CANTFORWARD = {"ip": {"ips_total": 1, "ips_cantforward": 1}}
# The refused packet and the ICMP error sent back for it.
REFUSED = {
    "ip": {"ips_total": 1, "ips_badoptions": 1, "ips_localout": 1},
    "icmp": {"icps_error": 1, "icps_outhist[3]": 1},
}


def _to(dst: str) -> bytes:
    return bytes(eth() / IP(src=PEER, dst=dst, proto=253) / Raw(b"x" * 8))


@pytest.mark.parametrize(
    ("profile", "default", "outcome"),
    [("9.0", 0, NOPROTO), ("9.0,check_interface_default_off=0", 1, CANTFORWARD)],
)
def test_check_interface_default(profile, default, outcome, delta):
    """seed 002:871, no PR, revision unverified. ip_input.c ip_input (the
    checkif test): with the default setting and forwarding off, a packet
    for em1's address arriving on em0 is ours after the change (weak ES,
    ips_noproto for protocol 253) and dropped as ips_cantforward before it
    (strong ES)."""
    k = host(profile)
    assert k.sysctl("net.inet.ip.check_interface") == default
    with delta(k) as d:
        k.input("em0", _to(HOST1))
    assert d == outcome


def _udp_ids(k, n: int) -> list[int]:
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    for _ in range(n):
        s.sendto(b"id", (PEER, 9))
    frames = k.transmitted("em0")
    assert len(frames) == n
    assert all(f[:6] == bytes.fromhex(PEER_MAC.replace(":", "")) for f in frames)
    return [int.from_bytes(f[18:20], "big") for f in frames]


@pytest.mark.parametrize("profile", ["9.0", "9.0,ip_random_id_sysctl=0"])
def test_random_id_sysctl(profile):
    """seed 002:977, no PR, revision unverified. ip_output.c ip_newid /
    ip_id.c ip_randomid: after the change net.inet.ip.random_id exists,
    defaults to 0 (sequential IDs from the boot value) and 1 switches to
    random IDs that are not consecutive and repeat for the same seed;
    before it the sysctl is ENOENT and IDs stay sequential."""
    k = host(profile)
    assert _udp_ids(k, 2) == [BOOT_IP_ID, BOOT_IP_ID + 1]
    if profile == "9.0":
        assert k.sysctl("net.inet.ip.random_id") == 0
        assert k.sysctl("net.inet.ip.random_id", 1) == 0
        ids = _udp_ids(k, 3)
        assert all(b != (a + 1) & 0xFFFF for a, b in zip(ids, ids[1:], strict=False))
        again = host(profile)
        _udp_ids(again, 2)
        again.sysctl("net.inet.ip.random_id", 1)
        assert _udp_ids(again, 3) == ids
    else:
        for name in ("net.inet.ip.random_id", "net.inet.ip.random_id_period"):
            with pytest.raises(OSError) as e:
                k.sysctl(name)
            assert e.value.errno == errno.ENOENT
        with pytest.raises(OSError) as e:
            k.sysctl("net.inet.ip.random_id", 1)
        assert e.value.errno == errno.ENOENT
        assert _udp_ids(k, 3) == [BOOT_IP_ID + 2, BOOT_IP_ID + 3, BOOT_IP_ID + 4]


def _rr_to_us() -> bytes:
    from scapy.layers.inet import IPOption_RR

    return bytes(
        eth()
        / IP(src=PEER, dst=HOST, proto=253, options=[IPOption_RR(routers=["0.0.0.0"])])
        / Raw(b"x" * 8)
    )


@pytest.mark.parametrize("profile", ["9.0", "9.0,process_options_sysctl=0"])
def test_process_options_sysctl(profile, delta):
    """seed 002:1036, no PR, revision unverified. ip_options.c
    ip_dooptions: after the change process_options=2 refuses a
    record-route packet for the host (ips_badoptions, an ICMP
    filter-prohibited error back); before it the sysctl is ENOENT and the
    option is always processed, so the packet reaches rip_input
    (ips_noproto for protocol 253)."""
    k = host(profile)
    if profile == "9.0":
        assert k.sysctl("net.inet.ip.process_options", 2) == 1
    else:
        with pytest.raises(OSError) as e:
            k.sysctl("net.inet.ip.process_options", 2)
        assert e.value.errno == errno.ENOENT
    with delta(k) as d:
        k.input("em0", _rr_to_us())
    sent = k.transmitted("em0")
    if profile == "9.0":
        assert d == REFUSED
        assert len(sent) == 1
        icmp = sent[0][14 + 20 :]
        assert (icmp[0], icmp[1]) == (3, 13)  # ICMP_UNREACH, ICMP_UNREACH_FILTER_PROHIB
    else:
        assert d == NOPROTO
        assert sent == []


@pytest.mark.parametrize("profile", ["9.0", "9.0,somaxconn_unsigned=0"])
def test_somaxconn_bounds(profile):
    """seed 003:364, no PR, revision unverified. uipc_socket.c
    sysctl_somaxconn: after the change 0 and 70000 are EINVAL and 65535
    is the largest value kept; before it kern.ipc.somaxconn is a plain
    int leaf that takes any of them."""
    k = host(profile, em1=False)
    results = {}
    for v in (0, 70000, 65535, -1):
        try:
            k.sysctl("kern.ipc.somaxconn", v)
            results[v] = k.sysctl("kern.ipc.somaxconn")
        except OSError as e:
            results[v] = errno.errorcode[e.errno]
    if profile == "9.0":
        assert results == {0: "EINVAL", 70000: "EINVAL", 65535: 65535, -1: "EINVAL"}
    else:
        assert results == {0: 0, 70000: 70000, 65535: 65535, -1: -1}
