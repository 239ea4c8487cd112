"""Send path: sosend_dgram (UDP) and sosend_generic (raw) in
kern/uipc_socket.c, kern_sendit (kern/uipc_syscalls.c); sheet section 4."""

from __future__ import annotations

import errno

import pytest

from kstack import sock as S
from kstack.testing import BOOT_IP_ID, HOST, IP, PEER, UDP, Raw, reply_eth

from .helpers import connected_udp, port_unreach, raw, udp


@pytest.mark.parametrize("kind", ["udp", "raw"])
@pytest.mark.parametrize("how", [S.SHUT_WR, S.SHUT_RDWR])
def test_send_after_shutdown_wr_epipe(k, kind, how):
    """sosend_dgram/sosend_generic: SBS_CANTSENDMORE (udp_shutdown /
    rip_shutdown -> socantsendmore) -> EPIPE (BrokenPipeError); nothing sent."""
    s = udp(k) if kind == "udp" else raw(k)
    s.shutdown(how)
    with pytest.raises(BrokenPipeError) as ei:
        s.sendto(b"x", (PEER, 9))
    assert ei.value.errno == errno.EPIPE
    assert k.transmitted("em0") == []


def test_epipe_before_so_error(k):
    """sosend_dgram: the CANTSENDMORE test comes before so_error, which is
    left pending (SO_ERROR still reads it)."""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    s.shutdown(S.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        s.send(b"x")
    assert s.getsockopt(S.SOL_SOCKET, S.SO_ERROR) == errno.ECONNREFUSED


def test_pending_so_error_returned_by_send_and_cleared(k, delta):
    """sosend_dgram: a pending so_error (ICMP port unreachable through
    udp_ctlinput) fails the next send and is cleared; the send after that
    goes out."""
    s = connected_udp(k)
    k.input("em0", port_unreach(s.getsockname()[1]))
    k.transmitted("em0")
    with delta(k) as d, pytest.raises(ConnectionRefusedError) as ei:
        s.send(b"x")
    assert ei.value.errno == errno.ECONNREFUSED
    assert d == {}
    assert k.transmitted("em0") == []
    assert s.send(b"x") == 1
    assert len(k.transmitted("em0")) == 1


@pytest.mark.parametrize("kind", ["udp", "raw"])
def test_unconnected_send_edestaddrreq(k, kind):
    """sosend_dgram/sosend_generic: unconnected and no address ->
    EDESTADDRREQ, not ENOTCONN (dossier Errata 1)."""
    s = udp(k) if kind == "udp" else raw(k)
    with pytest.raises(OSError) as ei:
        s.send(b"x")
    assert ei.value.errno == errno.EDESTADDRREQ


def test_udp_send_above_sndbuf_emsgsize(k, delta):
    """sosend_dgram: resid > sbspace(so_snd) (SO_SNDBUF 9216) -> EMSGSIZE
    before udp_output (udps_opackets unchanged); 9216 bytes are sent
    (fragmented)."""
    s = udp(k)
    with delta(k) as d, pytest.raises(OSError) as ei:
        s.sendto(b"x" * 9217, (PEER, 9))
    assert ei.value.errno == errno.EMSGSIZE
    assert d == {}
    assert s.sendto(b"x" * 9216, (PEER, 9)) == 9216
    assert len(k.transmitted("em0")) == 7  # 9224-byte datagram, 1480-byte fragments


def test_udp_sndbuf_sets_the_limit(k):
    """sosend_dgram: the limit is the current SO_SNDBUF (100 -> 101 fails)."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 100)
    with pytest.raises(OSError) as ei:
        s.sendto(b"x" * 101, (PEER, 9))
    assert ei.value.errno == errno.EMSGSIZE
    assert s.sendto(b"x" * 100, (PEER, 9)) == 100


def test_udp_output_ip_maxpacket(k, delta):
    """udp_output: with SO_SNDBUF raised, len + 28 > IP_MAXPACKET (payload
    65508) -> EMSGSIZE before udps_opackets is counted."""
    s = udp(k)
    s.setsockopt(S.SOL_SOCKET, S.SO_SNDBUF, 70000)
    with delta(k) as d, pytest.raises(OSError) as ei:
        s.sendto(b"x" * 65508, (PEER, 9))
    assert ei.value.errno == errno.EMSGSIZE
    assert d == {}
    assert k.transmitted("em0") == []


def test_raw_send_above_hiwat_emsgsize(k):
    """sosend_generic: atomic and resid > so_snd.sb_hiwat (9216) -> EMSGSIZE."""
    s = raw(k)
    with pytest.raises(OSError) as ei:
        s.sendto(b"x" * 9217, (PEER, 0))
    assert ei.value.errno == errno.EMSGSIZE
    assert k.transmitted("em0") == []


def test_sendto_scapy_packet(k, match_frame):
    """sosend_dgram -> udp_output: data given as a scapy packet is sent as
    its bytes; implicit bind picks an ephemeral port, laddr stays ANY."""
    s = udp(k)
    assert s.sendto(Raw(b"abc"), (PEER, 9)) == 3
    lport = s.getsockname()[1]
    assert s.getsockname() == ("0.0.0.0", lport)
    assert 10000 < lport <= 65535
    (frame,) = k.transmitted("em0")
    match_frame(
        frame,
        reply_eth()
        / IP(src=HOST, dst=PEER, id=BOOT_IP_ID, ttl=64)
        / UDP(sport=lport, dport=9)
        / Raw(b"abc"),
    )
