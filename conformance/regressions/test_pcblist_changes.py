"""The pcb list sysctls before and after two seed changes.

seed 000:137 (revision unverified): "memory size estimate to userland for
pcb list sysctls. The previous behavior of a 'slop' of n/8 does not work
well for small values of n". udp_pcblist()/rip_pcblist() answer a size
probe (oldptr NULL) with 2 * sizeof(xinpgen) + (n + slack) * sizeof(xinpcb):
slack n/8 before, max(n/8, 10) after. Switch ``pcblist_slack_min10``.

seed 003:10 (git 49f287f8c5 by gnn, 2008-05-15, "Update the kernel to count
the number of mbufs and clusters (all types) used per socket buffer"; svn
revision unverified): struct xsockbuf gained sb_mcnt and sb_ccnt, filled by
sbtoxsockbuf() from the counts sballoc() keeps, and netstat -x prints them.
Before it an xsockbuf was sb_cc, sb_hiwat, sb_mbcnt, sb_mbmax, sb_lowat,
sb_timeo, sb_flags (28 bytes; xsocket 128, xinpcb 536). Switch
``xsockbuf_mbuf_counts``.
"""

from __future__ import annotations

import struct

import pytest

import kstack
from kstack import sock as S
from kstack.netstat import format_netstat_a

NINE = kstack.PROFILES["9.0"]
SLACK = {"before": NINE.derive("pre-pcblist-slack", pcblist_slack_min10=False), "after": NINE}
XSB = {"before": NINE.derive("pre-xsockbuf-counts", xsockbuf_mbuf_counts=False), "after": NINE}
XIG = 32


@pytest.mark.parametrize("side", sorted(SLACK))
@pytest.mark.parametrize("n", [0, 3, 16])
def test_pcblist_size_probe_slack(side, n):
    """seed 000:137, udp_usrreq.c udp_pcblist and raw_ip.c rip_pcblist (the
    oldptr == NULL branch): 3 UDP sockets probe as 2 * 32 + 3 * 552 before
    (3/8 = 0) and 2 * 32 + 13 * 552 after; 16 sockets 18 vs 26 entries."""
    k = kstack.Kernel(profile=SLACK[side])
    for _ in range(n):
        k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
        k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    slack = n // 8 if side == "before" else max(n // 8, 10)
    want = 2 * XIG + (n + slack) * 552
    assert k.sysctl_size("net.inet.udp.pcblist") == want
    assert k.sysctl_size("net.inet.raw.pcblist") == want
    # The read itself is the same on both sides.
    assert len(k.sysctl("net.inet.udp.pcblist")) == 2 * XIG + n * 552


def _two_queued(profile):
    k = kstack.Kernel(profile=profile)
    r = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    r.bind(("127.0.0.1", 7000))
    t = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    t.sendto(b"a" * 10, ("127.0.0.1", 7000))
    t.sendto(b"b" * 300, ("127.0.0.1", 7000))
    t.close()
    k.advance(0)
    return k


@pytest.mark.parametrize("side", sorted(XSB))
def test_xsockbuf_mbuf_counts(side):
    """seed 003:10, uipc_sockbuf.c sbtoxsockbuf and uipc_socket.c
    sotoxsocket: two datagrams queued (10 and 300 bytes, through lo0).
    After: xinpcb 552, so_rcv = cc 342, hiwat 42080, mbcnt 3072 (four mbufs
    and one 2048-byte cluster), mcnt 4, ccnt 1, mbmax 336640, lowat 1.
    Before: xinpcb 536, so_rcv without mcnt/ccnt (28 bytes) and so_uid at
    xsocket + 120."""
    k = _two_queued(XSB[side])
    buf = k.sysctl("net.inet.udp.pcblist")
    size = 552 if side == "after" else 536
    assert len(buf) == 2 * XIG + size
    rec = buf[XIG : XIG + size]
    assert struct.unpack_from("<Q", rec, 0)[0] == size
    xso = 8 + 392
    assert struct.unpack_from("<Q", rec, xso)[0] == (144 if side == "after" else 128)
    cc, mbcnt = (16 + 10) + (16 + 300), 4 * 256 + 2048
    if side == "after":
        rcv = struct.unpack_from("<6I2ih", rec, xso + 64)
        assert rcv == (cc, 42080, mbcnt, 4, 1, 42080 * 8, 1, 0, 0)
        assert struct.unpack_from("<I", rec, xso + 136)[0] == 0
        assert k.sysctl_size("net.inet.udp.pcblist") == 2 * XIG + 11 * 552
    else:
        rcv = struct.unpack_from("<4I2ih", rec, xso + 64)
        assert rcv == (cc, 42080, mbcnt, 42080 * 8, 1, 0, 0)
        snd = struct.unpack_from("<4I2ih", rec, xso + 64 + 28)
        assert snd == (0, 9216, 0, 9216 * 8, 2048, 0, 0)
        assert k.sysctl_size("net.inet.udp.pcblist") == 2 * XIG + 11 * 536


@pytest.mark.parametrize("side", sorted(XSB))
def test_netstat_x_needs_the_counts(side):
    """seed 003:10, usr.bin/netstat/inet.c protopr with -x: the R-MBUF and
    R-CLUS columns come from sb_mcnt/sb_ccnt; a list without them has
    nothing to print there (ValueError), while the plain table reads both
    layouts."""
    k = _two_queued(XSB[side])
    lists = {"udp": k.sysctl("net.inet.udp.pcblist")}
    row = "udp4     342      0 127.0.0.1.7000         *.*                    "
    assert format_netstat_a(lists).splitlines()[2] == row
    if side == "after":
        assert format_netstat_a(lists, extended=True).splitlines()[2] == row + (
            "     4      0      1      0  42080   9216      1   2048   3072      0 336640  73728"
        )
    else:
        with pytest.raises(ValueError, match="sb_mcnt"):
            format_netstat_a(lists, extended=True)
