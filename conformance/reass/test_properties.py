"""Property: a datagram with IP options, fragmented by one emulated host's
ip_output at any MTU (ip_fragment, ip_optcopy), reassembles on another
(ip_reass) to the original, whatever the order of the fragments and
however many of them arrive twice."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kstack
from kstack import sock
from kstack.testing import HOST, HOST_MAC, PEER, PEER_MAC, host

SETTINGS = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)

# Options ip_pcbopts accepts and that keep the destination (no source route).
_OPTION = st.one_of(
    st.just(b"\x01"),
    st.integers(1, 4).map(lambda n: bytes((7, 3 + 4 * n, 4)) + bytes(4 * n)),  # RR
    st.integers(1, 3).map(lambda n: bytes((68, 4 + 4 * n, 5, 0)) + bytes(4 * n)),  # TS
    st.binary(min_size=0, max_size=8).map(lambda b: bytes((130, 2 + len(b))) + b),  # SEC
    st.just(b"\x94\x04\x00\x00"),  # Router Alert
)


@st.composite
def _options(draw: st.DrawFn) -> bytes:
    out = b""
    for opt in draw(st.lists(_OPTION, max_size=6)):
        if len(out) + len(opt) <= 40:
            out += opt
    return out + bytes(-len(out) % 4)


def _sender(mtu: int) -> kstack.Kernel:
    k = kstack.Kernel(seed=0)
    k.ifconfig("em0", f"{PEER}/24", ether=PEER_MAC, mtu=mtu)
    k.arp_add(HOST, HOST_MAC)
    k.transmitted("em0")
    return k


@SETTINGS
@given(
    opts=_options(),
    mtu=st.integers(100, 1500),
    size=st.integers(1, 3000),
    data=st.data(),
)
def test_fragments_reassemble_to_the_original(opts: bytes, mtu: int, size: int, data) -> None:
    hlen = 20 + len(opts)
    chunk = (mtu - hlen) & ~7
    later = 20 + 40
    if chunk < 8 or (size + 4 * 8) // max(8, (mtu - later) & ~7) > 40:
        return  # more fragments than an interface queue holds
    tx = _sender(mtu)
    s = tx.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    if opts:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_OPTIONS, opts)
    payload = bytes(i & 0xFF for i in range(size))
    s.sendto(payload, (HOST, 0))
    frames = tx.transmitted("em0")
    assert frames
    order = data.draw(st.permutations(range(len(frames))))
    twice = data.draw(st.lists(st.sampled_from(range(len(frames))), max_size=4))
    rx = host()
    rx.sysctl("net.inet.ip.process_options", 0)  # the options stay as sent
    rx.sysctl("net.inet.ip.maxfragsperpacket", 1000)
    r = rx.socket(sock.AF_INET, sock.SOCK_RAW, 253)
    for i in list(order) + twice:
        rx.input("em0", frames[i])
    got = r.recv(65535)
    assert got[0] == 0x40 | (hlen >> 2)
    assert got[20:hlen] == opts
    assert got[hlen:] == payload
    assert int.from_bytes(got[2:4], "little") == size  # 9.x raw view: payload length
