"""Fragment reassembly (ip_reass, ip_slowtimo in netinet/ip_input.c).

Queues are keyed by (id, src, dst, proto) in 64 hash buckets; each bucket
keeps its newest queue first. A vnet's ``ipq`` maps a bucket's number to
its list, made when a first queue lands in it; walks over the buckets go
in bucket order (:func:`ipq_buckets`). A queue lives 60 slow ticks (2 Hz, so 30 s);
the slow timer runs on fixed half-second boundaries since boot, as
``pfslowtimo`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kstack.kern.clock import NS
from kstack.kern.mbuf import Mbuf
from kstack.netinet.ip import (
    IP_MAXPACKET,
    IP_MF,
    IP_OFFMASK,
    IPTOS_ECN_CE,
    IPTOS_ECN_MASK,
    ntoa,
)
from kstack.outcome import HELD, Outcome, dropped

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet

IPREASS_NHASH = 64
IPFRAGTTL = 60  # slow ticks
SLOWTICK_NS = NS // 2

_HELD = Outcome(HELD, "ips_fragments", "reassembly queue")
_NOREASS = dropped("ips_fragdropped", "reassembly disabled")
_TOOSMALL = dropped("ips_toosmall", "fragment length not a multiple of 8")
_DROPFRAG = dropped("ips_fragdropped")
_TOOLONG = dropped("ips_toolong")


class Frag:
    """One queued fragment: its place in the datagram, its payload bytes
    (trimmed where it overlaps a neighbour), its IP header (the first
    fragment's is kept) and the packet header of its mbuf, which the whole
    datagram inherits from the fragment at offset 0: receiving interface,
    flags, saved route."""

    __slots__ = ("off", "length", "data", "mf", "header", "tos", "pkthdr")

    def __init__(
        self,
        off: int,
        length: int,
        data: bytes,
        mf: bool,
        header: bytearray,
        tos: int,
        pkthdr: tuple[Ifnet | None, int, tuple[bytes, int] | None],
    ) -> None:
        self.off = off
        self.length = length
        self.data = data
        self.mf = mf
        self.header = header
        self.tos = tos
        self.pkthdr = pkthdr


class Ipq:
    """A reassembly queue (struct ipq). ``nfrags`` is a u_char in the
    kernel: kept in 0..255."""

    __slots__ = ("key", "frags", "nfrags", "ttl", "rcvif", "fib")

    def __init__(
        self,
        key: tuple[int, int, int, int],
        frags: list[Frag],
        nfrags: int,
        ttl: int,
        rcvif: Ifnet | None,
        fib: int,
    ) -> None:
        self.key = key
        self.frags = frags
        self.nfrags = nfrags
        self.ttl = ttl
        self.rcvif = rcvif
        self.fib = fib


def ipreass_hash(src: int, ip_id: int) -> int:
    """IPREASS_HASH over the in-memory (network order) address and id, as
    read by a little-endian machine: the low nibbles of the address's first
    two bytes, against the id's first byte (the low byte of the id as that
    machine reads it; the high byte falls outside the mask)."""
    x = ((src >> 24) & 0xF) | (((src >> 16) & 0xF) << 4)
    return (x ^ (ip_id >> 8)) & (IPREASS_NHASH - 1)


def ipq_buckets(vnet: VNet) -> list[list[Ipq]]:
    """The buckets made so far, in bucket order (the kernel's walk over
    its 64 buckets; the others are empty)."""
    ipq = vnet.ipq
    return [ipq[h] for h in sorted(ipq)]


def _free(vnet: VNet, bucket: list[Ipq], fp: Ipq) -> None:
    bucket.remove(fp)
    vnet.ipq_count -= 1


def ip_reass(
    vnet: VNet,
    m: Mbuf,
    hlen: int,
    ip_len: int,
    ip_off: int,
    ip_id: int,
    proto: int,
    src: int,
    dst: int,
    tos: int,
) -> Outcome | tuple[Mbuf, int, int]:
    """Queue a fragment; returns the whole datagram (mbuf, hlen, ip_len)
    when it completes, else the outcome for this fragment."""
    ipstat = vnet.ipstat
    sc = vnet.sc
    maxnipq = int(sc["net.inet.ip.maxfragpackets"])
    maxfrags = int(sc["net.inet.ip.maxfragsperpacket"])
    # Before seed 002:812 only maxfragpackets = 0 refused fragments up front.
    hold_first = vnet.kernel.profile.reass_hold_first_fragment
    if maxnipq == 0 or (maxfrags == 0 and hold_first):
        ipstat.ips_fragments += 1
        ipstat.ips_fragdropped += 1
        return _NOREASS
    h = ipreass_hash(src, ip_id)
    bucket = vnet.ipq.get(h)
    if bucket is None:
        bucket = vnet.ipq[h] = []
    key = (ip_id, src, dst, proto)
    fp: Ipq | None = None
    for q in bucket:
        if q.key == key:
            fp = q
            break
    if fp is None and vnet.ipq_count > maxnipq > 0:
        if bucket:
            victim = bucket[-1]
            ipstat.ips_fragtimeout += victim.nfrags
            _free(vnet, bucket, victim)
        else:
            for other in ipq_buckets(vnet):
                if other:
                    victim = other[-1]
                    ipstat.ips_fragtimeout += victim.nfrags
                    _free(vnet, other, victim)
                    break
    plen = ip_len - hlen
    mf = bool(ip_off & IP_MF)
    if mf and (plen == 0 or plen & 7):
        ipstat.ips_toosmall += 1
        ipstat.ips_fragdropped += 1
        if fp is not None:
            fp.nfrags = (fp.nfrags - 1) & 0xFF  # the kernel decrements though it never counted it
        return _TOOSMALL
    off = (ip_off & IP_OFFMASK) << 3
    ipstat.ips_fragments += 1
    data = m.data
    # One copy of the payload; the header slice is a copy of its own.
    frag = Frag(
        off,
        plen,
        bytes(memoryview(data)[hlen:ip_len]),
        mf,
        data[:hlen],
        tos,
        (m.rcvif, m.flags, m.srcrt),
    )
    if fp is None:
        fp = Ipq(key, [frag], 1, IPFRAGTTL, m.rcvif, m.fib)
        bucket.insert(0, fp)
        vnet.ipq_count += 1
        vnet.ip_slowtimo_arm()
        if not hold_first:
            # The lone fragment went through the completion check and the
            # per-datagram limit at once.
            return _check_limit(vnet, bucket, fp, maxfrags)
        return _HELD
    fp.nfrags = (fp.nfrags + 1) & 0xFF  # u_char ipq_nfrags wraps at 256
    first = fp.frags[0]
    ecn = tos & IPTOS_ECN_MASK
    ecn0 = first.tos & IPTOS_ECN_MASK
    if ecn == IPTOS_ECN_CE:
        if ecn0 == 0:
            ipstat.ips_fragdropped += 1
            fp.nfrags = (fp.nfrags - 1) & 0xFF
            return _DROPFRAG
        if ecn0 != IPTOS_ECN_CE:
            first.tos |= IPTOS_ECN_CE
            first.header[1] |= IPTOS_ECN_CE
    if ecn == 0 and ecn0 != 0:
        ipstat.ips_fragdropped += 1
        fp.nfrags = (fp.nfrags - 1) & 0xFF
        return _DROPFRAG
    frags = fp.frags
    idx = 0
    while idx < len(frags) and frags[idx].off <= frag.off:
        idx += 1
    if idx > 0:
        p = frags[idx - 1]
        i = p.off + p.length - frag.off
        if i > 0:
            if i >= frag.length:
                ipstat.ips_fragdropped += 1
                fp.nfrags = (fp.nfrags - 1) & 0xFF
                return _DROPFRAG
            frag.data = frag.data[i:]
            frag.off += i
            frag.length -= i
    frags.insert(idx, frag)
    j = idx + 1
    end = frag.off + frag.length
    while j < len(frags) and end > frags[j].off:
        q = frags[j]
        i = end - q.off
        if i < q.length:
            q.length -= i
            q.off += i
            q.data = q.data[i:]
            break
        del frags[j]
        ipstat.ips_fragdropped += 1
        fp.nfrags = (fp.nfrags - 1) & 0xFF
    nxt = 0
    for q in frags:
        if q.off != nxt:
            return _check_limit(vnet, bucket, fp, maxfrags)
        nxt += q.length
    if frags[-1].mf:
        return _check_limit(vnet, bucket, fp, maxfrags)
    head = frags[0].header
    fhlen = (head[0] & 0x0F) << 2
    if nxt + fhlen > IP_MAXPACKET:
        ipstat.ips_toolong += 1
        ipstat.ips_fragdropped += fp.nfrags
        _free(vnet, bucket, fp)
        return _TOOLONG
    whole = bytearray().join([head, *[q.data for q in frags]])
    total = fhlen + nxt
    # ip_len and ip_off as the kernel leaves them: total length, offset 0.
    whole[2:4] = total.to_bytes(2, "big")
    whole[6] = 0
    whole[7] = 0
    _free(vnet, bucket, fp)
    ipstat.ips_reassembled += 1
    rcvif, mflags, srcrt = frags[0].pkthdr
    whole_m = Mbuf(whole, rcvif, m.fib, mflags)
    whole_m.srcrt = srcrt
    return whole_m, fhlen, total


def describe_ipq(fp: Ipq) -> str:
    """``src > dst id N proto P`` of a reassembly queue."""
    ip_id, src, dst, proto = fp.key
    return f"{ntoa(src)} > {ntoa(dst)} id {ip_id} proto {proto}"


def _check_limit(vnet: VNet, bucket: list[Ipq], fp: Ipq, maxfrags: int) -> Outcome:
    if fp.nfrags > maxfrags:
        vnet.ipstat.ips_fragdropped += fp.nfrags
        _free(vnet, bucket, fp)
        return dropped("ips_fragdropped", "too many fragments in one datagram")
    return _HELD


def ip_slowtimo(vnet: VNet) -> None:
    """Age the reassembly queues (and drain excess after a limit change)."""
    ipstat = vnet.ipstat
    for bucket in ipq_buckets(vnet):
        for fp in list(bucket):
            fp.ttl -= 1
            if fp.ttl == 0:
                ipstat.ips_fragtimeout += fp.nfrags
                _free(vnet, bucket, fp)
                if vnet.record_events:
                    vnet.note(
                        None,
                        f"ip_slowtimo: reassembly of {describe_ipq(fp)} timed out",
                        dropped("ips_fragtimeout", f"{fp.nfrags} fragment(s) freed"),
                    )
    maxnipq = int(vnet.sc["net.inet.ip.maxfragpackets"])
    if maxnipq >= 0 and vnet.ipq_count > maxnipq:
        for bucket in ipq_buckets(vnet):
            while vnet.ipq_count > maxnipq and bucket:
                fp = bucket[0]
                ipstat.ips_fragdropped += fp.nfrags
                _free(vnet, bucket, fp)
