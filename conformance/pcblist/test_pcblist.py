"""The pcb list sysctls, their size probe and what netstat prints from them.

FreeBSD 9.0: sys/netinet/udp_usrreq.c udp_pcblist(), sys/netinet/raw_ip.c
rip_pcblist(), sys/kern/uipc_socket.c sotoxsocket(), sys/kern/uipc_sockbuf.c
sbtoxsockbuf(), sys/kern/kern_prot.c cr_canseeinpcb(), sys/kern/kern_sysctl.c
sysctl_root()/sysctl_old_user(), usr.bin/netstat/inet.c protopr().

Layouts are 9.0 amd64, little-endian. The expected records are built here
field by field from the C structures (in_pcb.h struct inpcb/xinpcb/xinpgen,
socketvar.h struct xsocket, sockbuf.h struct xsockbuf). Don't-care fields:
the kernel pointers inp_socket (xi_inp + 88), xso_so (xsocket + 8) and
so_pcb (xsocket + 24), which kstack fills with stand-ins.
"""

from __future__ import annotations

import errno
import io
import struct
from contextlib import redirect_stdout

import pytest

import kstack
from kstack import sock as S
from kstack.cli import main
from kstack.netstat import format_netstat_a

XIG = 32
XI = 552
INP = 8  # xi_inp
XSO = 8 + 392  # xi_socket
RCV = XSO + 64
SND = RCV + 36
DONT_CARE = ((INP + 88, 8), (XSO + 8, 8), (XSO + 24, 8))


def xinpgen(count: int, gen: int, sogen: int) -> bytes:
    return struct.pack("<QI4xQQ", XIG, count, gen, sogen)


def xsockbuf(cc, hiwat, mbcnt, mcnt, ccnt, mbmax, lowat, timeo=0, flags=0) -> bytes:
    return struct.pack("<6I2ih2x", cc, hiwat, mbcnt, mcnt, ccnt, mbmax, lowat, timeo, flags)


def xinpcb(
    *,
    so_type: int,
    protocol: int,
    gencnt: int,
    laddr: str = "0.0.0.0",
    lport: int = 0,
    faddr: str = "0.0.0.0",
    fport: int = 0,
    ip_p: int = 0,
    flags: int = 0,
    ttl: int = 64,
    rcv: bytes,
    snd: bytes,
    uid: int = 0,
) -> bytes:
    inp = bytearray(392)
    struct.pack_into("<i", inp, 108, flags)  # inp_flags
    inp[116:120] = bytes((1, ttl, ip_p, 0))  # inp_vflag INP_IPV4, ttl, proto, minttl
    struct.pack_into("<I", inp, 124, 2)  # inp_refcount: held by the list handler
    struct.pack_into("!HH", inp, 196, fport, lport)
    inp[212:216] = bytes(int(x) for x in faddr.split("."))
    inp[228:232] = bytes(int(x) for x in laddr.split("."))
    struct.pack_into("<Q", inp, 336, gencnt)
    xso = struct.pack(
        "<QQhhhhQiiHHHhHxxiQ", 144, 0, so_type, 0, 0, 0, 0, protocol, 2, 0, 0, 0, 0, 0, 0, 0
    )
    xso += rcv + snd + struct.pack("<I4x", uid)
    assert len(xso) == 144
    rec = struct.pack("<Q", XI) + bytes(inp) + xso + bytes(8)
    assert len(rec) == XI
    return rec


def masked(rec: bytes) -> bytes:
    b = bytearray(rec)
    for off, n in DONT_CARE:
        b[off : off + n] = bytes(n)
    return bytes(b)


def records(buf: bytes) -> list[bytes]:
    body = buf[XIG:-XIG]
    assert len(body) % XI == 0
    return [body[i : i + XI] for i in range(0, len(body), XI)]


UDP_RCV_EMPTY = xsockbuf(0, 42080, 0, 0, 0, 42080 * 8, 1)
UDP_SND_EMPTY = xsockbuf(0, 9216, 0, 0, 0, 9216 * 8, 2048)
INP_INHASHLIST = 0x2000


def test_udp_pcblist_one_bound_socket_exact_bytes():
    """udp_pcblist: head xinpgen, one xinpcb (its inpcb copy and
    sotoxsocket/sbtoxsockbuf), trailer xinpgen; byte-exact but for the
    named pointer fields."""
    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")
    s = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    s.bind(("192.0.2.1", 5353))
    buf = k.sysctl("net.inet.udp.pcblist")
    assert isinstance(buf, bytes)
    assert len(buf) == 2 * XIG + XI
    assert buf[:XIG] == xinpgen(1, 1, 1)
    assert buf[-XIG:] == xinpgen(1, 1, 1)
    (rec,) = records(buf)
    want = xinpcb(
        so_type=S.SOCK_DGRAM,
        protocol=17,
        gencnt=1,
        laddr="192.0.2.1",
        lport=5353,
        flags=INP_INHASHLIST,
        rcv=UDP_RCV_EMPTY,
        snd=UDP_SND_EMPTY,
    )
    assert masked(rec) == want


def test_pointer_stand_ins_consistent():
    """The don't-care pointers are filled, the pcb's socket pointer equals
    xso_so, and two pcbs never share a stand-in."""
    k = kstack.Kernel()
    a = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    b = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    r1, r2 = records(k.sysctl("net.inet.udp.pcblist"))
    for r in (r1, r2):
        assert r[INP + 88 : INP + 96] == r[XSO + 8 : XSO + 16] != bytes(8)
        assert r[XSO + 24 : XSO + 32] != bytes(8)
    assert r1[XSO + 8 : XSO + 16] != r2[XSO + 8 : XSO + 16]
    assert r1[XSO + 24 : XSO + 32] != r2[XSO + 24 : XSO + 32]
    a.close()
    b.close()


def test_newest_first_and_generations():
    """in_pcballoc/in_pcbfree generations: an allocation takes one step of
    ipi_gencnt, a release two (in_pcbfree, in_pcbremlists); so_gencnt moves
    at soalloc and sodealloc. The list is newest first (LIST_INSERT_HEAD)."""
    k = kstack.Kernel()
    a = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    b = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    a.close()
    c = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    buf = k.sysctl("net.inet.udp.pcblist")
    # allocations 1, 2, (free: 3, 4), 5; sockets: 3 allocated, 1 freed
    assert buf[:XIG] == xinpgen(2, 5, 4)
    assert buf[-XIG:] == xinpgen(2, 5, 4)
    gens = [struct.unpack_from("<Q", r, INP + 336)[0] for r in records(buf)]
    assert gens == [5, 2]
    b.close()
    c.close()


def test_receive_buffer_counts_datagrams():
    """sbappendaddr_locked/sballoc: each queued datagram adds its source
    address mbuf and its data chain (m_uiotombuf with max_hdr = 76 room):
    5 bytes fit a packet-header mbuf, 200 bytes take a 2048-byte cluster."""
    k = kstack.Kernel()
    r = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    r.bind(("127.0.0.1", 7000))
    t = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    t.sendto(b"x" * 5, ("127.0.0.1", 7000))
    t.sendto(b"y" * 200, ("127.0.0.1", 7000))
    k.advance(0)
    rec = next(
        x
        for x in records(k.sysctl("net.inet.udp.pcblist"))
        if x[INP + 198 : INP + 200] == b"\x1b\x58"
    )
    cc = (16 + 5) + (16 + 200)
    mbcnt = (256 + 256) + (256 + 256 + 2048)
    assert rec[RCV : RCV + 36] == xsockbuf(cc, 42080, mbcnt, 4, 1, 42080 * 8, 1)
    r.recv(100)
    rec = next(
        x
        for x in records(k.sysctl("net.inet.udp.pcblist"))
        if x[INP + 198 : INP + 200] == b"\x1b\x58"
    )
    assert rec[RCV : RCV + 36] == xsockbuf(216, 42080, 256 + 256 + 2048, 2, 1, 42080 * 8, 1)


def test_raw_pcblist_protocol_and_uid():
    """rip_pcblist: a raw ICMP socket's xso_protocol and inp_ip_p are 1,
    its buffers rip_sendspace/rip_recvspace (9216), so_uid the creator's."""
    k = kstack.Kernel()
    k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    buf = k.sysctl("net.inet.raw.pcblist")
    assert buf[:XIG] == xinpgen(1, 1, 1)
    (rec,) = records(buf)
    sb = xsockbuf(0, 9216, 0, 0, 0, 9216 * 8, 1)
    sbs = xsockbuf(0, 9216, 0, 0, 0, 9216 * 8, 2048)
    assert masked(rec) == xinpcb(so_type=S.SOCK_RAW, protocol=1, gencnt=1, ip_p=1, rcv=sb, snd=sbs)


def test_pcblist_write_is_eperm():
    """sysctl_root: a write to a leaf without CTLFLAG_WR is EPERM."""
    k = kstack.Kernel()
    for name in ("net.inet.udp.pcblist", "net.inet.raw.pcblist"):
        with pytest.raises(OSError) as ei:
            k.sysctl(name, 1)
        assert ei.value.errno == errno.EPERM


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("net.inet.ip.ttl", 4),  # SYSCTL_INT: sizeof(int)
        ("net.inet.udp.recvspace", 8),  # SYSCTL_ULONG
        ("kern.ipc.maxsockbuf", 8),
        ("net.isr.dispatch", len("direct") + 1),  # sysctl_handle_string: with its NUL
        ("net.inet.udp.pcblist", 2 * XIG + 10 * XI),  # no pcb: the slack alone
    ],
)
def test_sysctl_size_probe(name, size):
    """sysctl_old_user with oldptr NULL only counts (oldidx): the size each
    handler would copy out; the pcb list handlers answer their estimate."""
    assert kstack.Kernel().sysctl_size(name) == size


def test_sysctl_size_errors():
    """Unknown name ENOENT, inner node EISDIR, wrong type TypeError."""
    k = kstack.Kernel()
    with pytest.raises(OSError) as ei:
        k.sysctl_size("net.inet.udp.nosuch")
    assert ei.value.errno == errno.ENOENT
    with pytest.raises(OSError) as ei:
        k.sysctl_size("net.inet.udp")
    assert ei.value.errno == errno.EISDIR
    with pytest.raises(TypeError):
        k.sysctl_size(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        k.sysctl("net.inet.udp.pcblist", uid="0")  # type: ignore[arg-type]


def test_size_probe_counts_every_pcb_of_the_stack():
    """udp_pcblist's estimate counts ipi_count, visible or not: a jail's
    probe counts the host's sockets too; its read shows only its own."""
    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")
    j = k.jail("j1", ip4=["192.0.2.1"])
    k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    js = j.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    js.bind(("192.0.2.1", 53))
    assert j.sysctl_size("net.inet.udp.pcblist") == 2 * XIG + 13 * XI
    jbuf = j.sysctl("net.inet.udp.pcblist")
    assert jbuf[:XIG] == xinpgen(3, 3, 3)  # xig_count: every pcb
    (rec,) = records(jbuf)
    assert rec[INP + 198 : INP + 200] == (53).to_bytes(2, "big")
    assert len(records(k.sysctl("net.inet.udp.pcblist"))) == 3


def test_see_other_uids():
    """cr_canseeinpcb -> cr_seeotheruids: with security.bsd.see_other_uids=0
    a non-root reader sees only its uid's pcbs; root (PRIV_SEEOTHERUIDS)
    sees all; the default 1 shows everything to everyone."""
    k = kstack.Kernel()
    k.socket(S.AF_INET, S.SOCK_DGRAM, 0, uid=0)
    k.socket(S.AF_INET, S.SOCK_DGRAM, 0, uid=1001)
    k.socket(S.AF_INET, S.SOCK_DGRAM, 0, uid=1002)

    def uids(reader: int) -> list[int]:
        buf = k.sysctl("net.inet.udp.pcblist", uid=reader)
        return [struct.unpack_from("<I", r, XSO + 136)[0] for r in records(buf)]

    assert uids(1001) == [1002, 1001, 0]
    assert k.sysctl("security.bsd.see_other_uids", 0) == 1
    assert uids(1001) == [1001]
    assert uids(0) == [1002, 1001, 0]
    with pytest.raises(OSError) as ei:
        k.sysctl("security.bsd.see_other_uids", 1, uid=1001)
    assert ei.value.errno == errno.EPERM


def test_vnet_jail_lists_its_own_stack():
    """V_udbinfo is per vnet: a vnet jail lists its own stack's pcbs, and
    the host's list does not include them."""
    k = kstack.Kernel()
    v = k.jail("v1", vnet=True)
    v.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    assert v.sysctl("net.inet.udp.pcblist")[:XIG] == xinpgen(1, 1, 1)
    assert k.sysctl("net.inet.udp.pcblist") == xinpgen(0, 0, 1) * 2


NETSTAT_A = (
    "Active Internet connections (including servers)\n"
    "Proto Recv-Q Send-Q Local Address          Foreign Address        (state)\n"
    "udp4       0      0 192.0.2.1.5000         192.0.2.7.7            \n"
    "udp4      21      0 *.53                   *.*                    \n"
    "icm4       0      0 *.*                    *.*                    \n"
)


def _netstat_host():
    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")
    u = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    u.bind(("", 53))
    c = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    c.bind(("192.0.2.1", 5000))
    c.connect(("192.0.2.7", 7))
    k.socket(S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    k.socket(S.AF_INET, S.SOCK_RAW, 253)  # xso_protocol 0: netstat lists no such entry
    t = k.socket(S.AF_INET, S.SOCK_DGRAM, 0)
    t.sendto(b"hello", ("127.0.0.1", 53))
    t.close()
    k.advance(0)
    return k, (u, c)


def test_netstat_a_text():
    """protopr()/inetprint() with -a -n: header once, udp then the raw
    entries ("ip" 255, "icmp" 1, ...; the name cut to 3 columns), Recv-Q is
    sb_cc, numeric addresses with '*' for the wildcard."""
    k, _ = _netstat_host()
    lists = {m: k.sysctl(f"net.inet.{m}.pcblist") for m in ("udp", "raw")}
    assert format_netstat_a(lists) == NETSTAT_A
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["netstat", "-a"]) == 0
    assert out.getvalue() == ""  # a fresh host has no sockets: nothing printed


def test_netstat_without_a_hides_wildcard_sockets():
    """protopr without -a skips pcbs whose local address has no host part."""
    k, _ = _netstat_host()
    lists = {m: k.sysctl(f"net.inet.{m}.pcblist") for m in ("udp", "raw")}
    assert format_netstat_a(lists, all_sockets=False) == (
        "Active Internet connections\n"
        "Proto Recv-Q Send-Q Local Address          Foreign Address        (state)\n"
        "udp4       0      0 192.0.2.1.5000         192.0.2.7.7            \n"
    )


def test_netstat_ax_columns():
    """netstat -x: sb_mcnt, sb_ccnt, hiwat, lowat, sb_mbcnt, sb_mbmax of
    each buffer (receive then send), no state column."""
    k, _ = _netstat_host()
    lists = {m: k.sysctl(f"net.inet.{m}.pcblist") for m in ("udp", "raw")}
    lines = format_netstat_a(lists, extended=True).splitlines()
    assert lines[1].endswith("R-BMAX S-BMAX   rexmt persist    keep    2msl  delack rcvtime")
    assert lines[3] == (
        "udp4      21      0 *.53                   *.*                    "
        "     2      0      0      0  42080   9216      1   2048    512      0 336640  73728"
    )


def test_cli_netstat_a_scenario(tmp_path):
    """kstack netstat -a --scenario: the table of the scenario's sockets."""
    sc = tmp_path / "h.toml"
    sc.write_text(
        '[[interface]]\nname = "em0"\naddr = "192.0.2.1/24"\n\n'
        '[[socket]]\ntype = "dgram"\nport = 53\n'
    )
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["netstat", "-a", "--scenario", str(sc)]) == 0
    assert out.getvalue() == (
        "Active Internet connections (including servers)\n"
        "Proto Recv-Q Send-Q Local Address          Foreign Address        (state)\n"
        "udp4       0      0 *.53                   *.*                    \n"
    )
