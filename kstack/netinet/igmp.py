"""IGMP, the host side of IGMPv1, v2 and v3 (netinet/igmp.c).

Per interface (``IgmpIfinfo``, struct igmp_ifinfo) the stack runs one IGMP
version, IGMPv3 by default, and falls back to v1 or v2 for as long as an
older querier is heard ("older version querier present", (RV x QI + QRI)
slow ticks x 2). Per group (kstack.netinet.in_mcast.InMulti) it keeps a
state and timers: v1/v2 report timers, the v3 query-response timer and the
v3 state-change retransmission timer with its pending reports.

Timers count kernel ticks of their own: the fast timer runs at 5 Hz (every
200 ms of virtual time since boot), the slow timer at 2 Hz; both are armed
only while something is counting down. Random report delays are
``random() % X + 1`` ticks drawn from the vnet's seeded generator.

Reports leave through ip_output with TTL 1 on the group's interface,
never looped back (no multicast router runs): v1/v2 reports (and v2 leaves
to 224.0.0.2) with TOS 0; v3 reports to 224.0.0.22 with TOS 0xc0 and DF;
each with the Router Alert option while net.inet.igmp.sendra is 1.

The kernel's quirks are kept: a v1/v2 join sends one report only; a v3
query's Max Resp Code and QQIC exponent forms lack the implicit high
mantissa bit; the response interval a v3 query sets is kept in tenths of a
second and later counted as seconds in the older-querier timer; the
legacysupp sysctl never suppresses anything; a v3 query whose source list
does not fit one plain mbuf (MHLEN, 168 bytes with the IP header) is
counted too short.

(PYTEST_DONT_REWRITE: pytest leaves this module's asserts as they are.)
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from kstack.kern.clock import NS
from kstack.kern.mbuf import MHLEN, Mbuf
from kstack.net.if_var import IFF_LOOPBACK, IFF_MULTICAST
from kstack.netinet.in_mcast import (
    IGMP_AWAKENING_MEMBER,
    IGMP_G_QUERY_PENDING_MEMBER,
    IGMP_IDLE_MEMBER,
    IGMP_LAZY_MEMBER,
    IGMP_LEAVING_MEMBER,
    IGMP_NOT_MEMBER,
    IGMP_REPORTING_MEMBER,
    IGMP_SG_QUERY_PENDING_MEMBER,
    IGMP_SILENT_MEMBER,
    IGMP_SLEEPING_MEMBER,
    MCAST_EXCLUDE,
    MCAST_INCLUDE,
    MCAST_UNDEFINED,
    InMulti,
    inm_clear_recorded,
    inm_commit,
    inm_lookup,
    inm_record_source,
    inm_release,
)
from kstack.netinet.ip import in_cksum, in_cksum_ok, ntoa
from kstack.netinet.stats import _StatBlock
from kstack.outcome import dropped

if TYPE_CHECKING:
    from kstack.net.if_var import Ifnet
    from kstack.net.vnet import VNet
    from kstack.netinet.stats import IgmpStat
    from kstack.outcome import Outcome

IGMP_MINLEN = 8
IGMP_V3_QUERY_MINLEN = 12
IGMP_HOST_MEMBERSHIP_QUERY = 0x11
IGMP_V1_HOST_MEMBERSHIP_REPORT = 0x12
IGMP_DVMRP = 0x13
IGMP_V2_HOST_MEMBERSHIP_REPORT = 0x16
IGMP_HOST_LEAVE_MESSAGE = 0x17
IGMP_V3_HOST_MEMBERSHIP_REPORT = 0x22

# v3 group record types
IGMP_DO_NOTHING = 0
IGMP_MODE_IS_INCLUDE = 1
IGMP_MODE_IS_EXCLUDE = 2
IGMP_CHANGE_TO_INCLUDE_MODE = 3
IGMP_CHANGE_TO_EXCLUDE_MODE = 4
IGMP_ALLOW_NEW_SOURCES = 5
IGMP_BLOCK_OLD_SOURCES = 6
RECORD_NAMES = {1: "IS_IN", 2: "IS_EX", 3: "TO_IN", 4: "TO_EX", 5: "ALLOW", 6: "BLOCK"}

IGMP_VERSION_1 = 1
IGMP_VERSION_2 = 2
IGMP_VERSION_3 = 3

IGMP_RV_INIT = 2
IGMP_QI_INIT = 125
IGMP_QRI_INIT = 10
IGMP_URI_INIT = 3
IGMP_V1V2_MAX_RI = 10
IGMP_TIMER_SCALE = 10
PR_FASTHZ = 5
PR_SLOWHZ = 2
FASTTICK_NS = NS // PR_FASTHZ
SLOWTICK_NS = NS // PR_SLOWHZ

IGMP_MAX_STATE_CHANGES = 24  # pending state-change packets per group
IGMP_MAX_G_GS_PACKETS = 8
IGMP_MAX_STATE_CHANGE_PACKETS = 8
IGMP_MAX_RESPONSE_PACKETS = 16
IGMP_MAX_RESPONSE_BURST = 4
IGMP_RESPONSE_BURST_INTERVAL = PR_FASTHZ // 2
IGMP_V3_REPORT_MAXRECS = 65535
IGMP_LEADINGSPACE = 20 + 4 + 8  # IP header, Router Alert, v3 report header

IGIF_SILENT = 0x1
IGIF_LOOPBACK = 0x2

INADDR_ALLHOSTS_GROUP = 0xE0000001
INADDR_ALLRTRS_GROUP = 0xE0000002
INADDR_ALLRPTS_GROUP = 0xE0000016

REC_NONE = 0
REC_ALLOW = 1
REC_BLOCK = 2
REC_FULL = 3

_RA_OPT = bytes(4) + b"\x94\x04\x00\x00"  # first hop 0, Router Alert, EOL pad
_H = struct.Struct("!H")
_GREC = struct.Struct("!BBH4s")

_TOOSHORT = dropped("igps_rcv_tooshort")
_BADSUM = dropped("igps_rcv_badsum")
_BADTTL = dropped("igps_rcv_badttl")
_BADREPORT = dropped("igps_rcv_badreports", "report for a group other than its destination")


class Ifq(list):  # type: ignore[type-arg]
    """An ifqueue of pending report packets with its length limit."""

    __slots__ = ("maxlen",)

    def __init__(self, maxlen: int) -> None:
        super().__init__()
        self.maxlen = maxlen

    def full(self) -> bool:
        return len(self) >= self.maxlen


class Pkt:
    """A v3 report being built: its group records and their count."""

    __slots__ = ("data", "nrecs")

    def __init__(self) -> None:
        self.data = bytearray()
        self.nrecs = 0

    def dup(self) -> Pkt:
        p = Pkt()
        p.data = bytearray(self.data)
        p.nrecs = self.nrecs
        return p


class IgmpIfinfo:
    """struct igmp_ifinfo: IGMP's state for one interface."""

    __slots__ = (
        "ifp",
        "version",
        "flags",
        "rv",
        "qi",
        "qri",
        "uri",
        "v1_timer",
        "v2_timer",
        "v3_timer",
        "gq",
        "relinm",
        "uri_fasthz",
    )

    def __init__(self, ifp: Ifnet, version: int) -> None:
        self.ifp = ifp
        self.version = version
        self.flags = 0
        self.rv = IGMP_RV_INIT
        self.qi = IGMP_QI_INIT
        self.qri = IGMP_QRI_INIT
        self.uri = IGMP_URI_INIT
        self.v1_timer = 0
        self.v2_timer = 0
        self.v3_timer = 0
        self.gq = Ifq(IGMP_MAX_RESPONSE_PACKETS)
        self.relinm: list[InMulti] = []
        self.uri_fasthz = 0

    def describe(self) -> dict[str, object]:
        return {
            "iface": self.ifp.name,
            "version": self.version,
            "silent": bool(self.flags & IGIF_SILENT),
            "rv": self.rv,
            "qi": self.qi,
            "qri": self.qri,
            "uri": self.uri,
            "v1_timer": self.v1_timer / PR_SLOWHZ,
            "v2_timer": self.v2_timer / PR_SLOWHZ,
        }


class IgmpVnet:
    """IGMP's per-vnet state: the interface list and the two timers."""

    __slots__ = (
        "vnet",
        "igi_head",
        "interface_timers_running",
        "state_change_timers_running",
        "current_state_timers_running",
        "_fast",
        "_slow",
        "v2_rti",
        "v2_timers_running",
    )

    def __init__(self, vnet: VNet) -> None:
        self.vnet = vnet
        # The v1/v2-only host (switch igmpv3 off): querier versions by
        # interface, one flag for the report timers, the old counters.
        self.v2_rti: dict[Ifnet, _Rti] = {}
        self.v2_timers_running = False
        if not vnet.kernel.profile.igmpv3:
            vnet.igmpstat = cast("IgmpStat", IgmpStatV2())
        self.igi_head: list[IgmpIfinfo] = []  # newest first, as LIST_INSERT_HEAD
        self.interface_timers_running = False
        self.state_change_timers_running = False
        self.current_state_timers_running = False
        self._fast: Any = None
        self._slow: Any = None

    # The callouts run at the kernel's 200 ms / 500 ms boundaries; they are
    # scheduled only while a timer is counting, which changes nothing the
    # kernel's ever-running callouts would do.
    def fast_arm(self) -> None:
        if self._fast is not None and self._fast.pending:
            return
        clock = self.vnet.kernel.clock
        nxt = (clock.now // FASTTICK_NS + 1) * FASTTICK_NS
        self._fast = clock.callout(nxt - clock.now, self._fast_run)

    def slow_arm(self) -> None:
        if self._slow is not None and self._slow.pending:
            return
        clock = self.vnet.kernel.clock
        nxt = (clock.now // SLOWTICK_NS + 1) * SLOWTICK_NS
        self._slow = clock.callout(nxt - clock.now, self._slow_run)

    def kick(self) -> None:
        if (
            self.current_state_timers_running
            or self.interface_timers_running
            or self.state_change_timers_running
            or self.v2_timers_running
        ):
            self.fast_arm()

    def _fast_run(self) -> None:
        self._fast = None
        if self.vnet.kernel.profile.igmpv3:
            igmp_fasttimo_vnet(self.vnet)
        else:
            igmp_v2host_fasttimo(self.vnet)
        self.kick()

    def _slow_run(self) -> None:
        self._slow = None
        if self.vnet.kernel.profile.igmpv3:
            igmp_slowtimo_vnet(self.vnet)
        else:
            igmp_v2host_slowtimo(self.vnet)
        if self.slow_needed():
            self.slow_arm()

    def slow_needed(self) -> bool:
        if not self.vnet.kernel.profile.igmpv3:
            return any(r.rtype == IGMP_V1_ROUTER for r in self.v2_rti.values())
        return any(
            igi.version != IGMP_VERSION_3 or igi.v1_timer or igi.v2_timer for igi in self.igi_head
        )

    def pending(self) -> list[str]:
        """One line per timer still counting, for the replay summary."""
        out: list[str] = []
        for igi in self.igi_head:
            name = igi.ifp.name
            if igi.version != IGMP_VERSION_3:
                left = max(igi.v1_timer, igi.v2_timer) / PR_SLOWHZ
                out.append(
                    f"IGMP on {name}: IGMPv{igi.version} compatibility, "
                    f"back to IGMPv3 after about {left:g} s"
                )
            if igi.v3_timer or igi.gq:
                out.append(f"IGMP on {name}: a general query response pending")
            for inm in igi.ifp.in_multi.values():
                if inm.timer or inm.sctimer:
                    what = "state-change report" if inm.sctimer else "query response"
                    out.append(f"IGMP on {name}: {what} for {ntoa(inm.addr)} pending")
        return out


def _draw(vnet: VNet, x: int) -> int:
    """IGMP_RANDOM_DELAY(x): random() % x + 1 ticks."""
    if x <= 0:
        from kstack.panic import Panic

        raise Panic("igmp: random delay over an empty interval (division by zero)")
    return vnet.rng.below(x) + 1


def _sc(vnet: VNet, name: str) -> int:
    return int(vnet.sc["net.inet.igmp." + name])


def in_allhosts(addr: int) -> bool:
    return addr == INADDR_ALLHOSTS_GROUP


def igmp_isgroupreported(vnet: VNet, addr: int) -> bool:
    """224.0.0.1 is never reported; the rest of 224.0.0.0/24 only while
    net.inet.igmp.sendlocal is 1."""
    if in_allhosts(addr):
        return False
    return bool(_sc(vnet, "sendlocal")) or (addr & 0xFFFFFF00) != 0xE0000000


# -- attach ------------------------------------------------------------------------


def igmp_domifattach(ifp: Ifnet) -> IgmpIfinfo:
    """A new interface starts in net.inet.igmp.default_version; one
    without IFF_MULTICAST is silent."""
    vnet = ifp.vnet
    version = _sc(vnet, "default_version") if vnet.kernel.profile.igmpv3 else IGMP_VERSION_2
    igi = IgmpIfinfo(ifp, version)
    if not ifp.flags & IFF_MULTICAST:
        igi.flags |= IGIF_SILENT
    vnet.igmp.igi_head.insert(0, igi)
    return igi


def igmp_domifdetach(ifp: Ifnet) -> None:
    igmp = ifp.vnet.igmp
    if ifp.igi in igmp.igi_head:
        igmp.igi_head.remove(ifp.igi)


# -- input -------------------------------------------------------------------------


def igmp_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """Validate and act on an IGMP message; what survives goes to raw
    sockets (rip_input), own queries included."""
    from kstack.netinet.raw_ip import rip_input

    if not vnet.kernel.profile.igmpv3:
        return igmp_v2host_input(vnet, m, hlen, plen)
    igmpstat = vnet.igmpstat
    igmpstat.igps_rcv_total += 1
    data = m.data
    igmplen = plen
    if igmplen < IGMP_MINLEN:
        igmpstat.igps_rcv_tooshort += 1
        return _TOOSHORT
    if not in_cksum_ok(memoryview(data)[hlen : hlen + igmplen]):
        igmpstat.igps_rcv_badsum += 1
        return _BADSUM
    igmp_type = data[hlen]
    code = data[hlen + 1]
    if igmp_type != IGMP_DVMRP and data[8] != 1:
        igmpstat.igps_rcv_badttl += 1
        return _BADTTL
    ifp = m.rcvif
    assert ifp is not None
    src = int.from_bytes(data[12:16], "big")
    dst = int.from_bytes(data[16:20], "big")
    group = int.from_bytes(data[hlen + 4 : hlen + 8], "big")
    why: str
    if igmp_type == IGMP_HOST_MEMBERSHIP_QUERY:
        if igmplen == IGMP_MINLEN:
            queryver = IGMP_VERSION_1 if code == 0 else IGMP_VERSION_2
        elif igmplen >= IGMP_V3_QUERY_MINLEN:
            queryver = IGMP_VERSION_3
        else:
            igmpstat.igps_rcv_tooshort += 1
            return dropped("igps_rcv_tooshort", "a query of 9 to 11 bytes")
        if queryver == IGMP_VERSION_1:
            igmpstat.igps_rcv_v1v2_queries += 1
            if not _sc(vnet, "v1enable"):
                why = "IGMPv1 query ignored (net.inet.igmp.v1enable=0)"
            else:
                why = igmp_input_v1_query(vnet, ifp, dst, group)
        elif queryver == IGMP_VERSION_2:
            igmpstat.igps_rcv_v1v2_queries += 1
            if not _sc(vnet, "v2enable"):
                why = "IGMPv2 query ignored (net.inet.igmp.v2enable=0)"
            else:
                why = igmp_input_v2_query(vnet, ifp, dst, group, code)
        else:
            igmpstat.igps_rcv_v3_queries += 1
            nsrc = _H.unpack_from(data, hlen + 10)[0]
            srclen = (4 * nsrc) & 0xFFFF  # a 16-bit length: wraps past 16383 sources
            if 4 * nsrc > srclen:
                igmpstat.igps_rcv_tooshort += 1
                return dropped("igps_rcv_tooshort", f"a v3 query claiming {nsrc} sources")
            need = hlen + IGMP_V3_QUERY_MINLEN + srclen
            if need > MHLEN or need > hlen + igmplen:
                # m_pullup cannot gather more than MHLEN bytes, nor bytes
                # that are not there.
                igmpstat.igps_rcv_tooshort += 1
                return dropped(
                    "igps_rcv_tooshort",
                    f"v3 query with {nsrc} sources: {need} bytes do not fit one mbuf or the packet",
                )
            why = igmp_input_v3_query(vnet, ifp, m, hlen, dst, group, code, nsrc)
    elif igmp_type == IGMP_V1_HOST_MEMBERSHIP_REPORT:
        if not _sc(vnet, "v1enable"):
            why = "IGMPv1 report ignored (net.inet.igmp.v1enable=0)"
        else:
            r = igmp_input_v1_report(vnet, ifp, m, src, dst, group)
            if r is None:
                return _BADREPORT
            why = r
    elif igmp_type == IGMP_V2_HOST_MEMBERSHIP_REPORT:
        if not _sc(vnet, "v2enable"):
            why = "IGMPv2 report ignored (net.inet.igmp.v2enable=0)"
        else:
            if not ip_checkrouteralert(data, hlen):
                igmpstat.igps_rcv_nora += 1
            r = igmp_input_v2_report(vnet, ifp, m, src, dst, group)
            if r is None:
                return _BADREPORT
            why = r
    elif igmp_type == IGMP_V3_HOST_MEMBERSHIP_REPORT:
        if not ip_checkrouteralert(data, hlen):
            igmpstat.igps_rcv_nora += 1
        why = "IGMPv3 report (hosts do not act on them)"
    elif igmp_type == IGMP_HOST_LEAVE_MESSAGE:
        why = "IGMPv2 leave (hosts do not act on them)"
    else:
        why = f"IGMP type 0x{igmp_type:02x} (not for the host side)"
    return rip_input(vnet, m, hlen, plen, f"{why}; passed on by igmp_input")


def ip_checkrouteralert(data: bytearray, hlen: int) -> bool:
    """Whether the options hold a Router Alert (ip_checkrouteralert)."""
    i = 20
    while i < hlen:
        opt = data[i]
        if opt == 0:
            break
        if opt == 1:
            optlen = 1
        else:
            if i + 1 >= hlen:
                break
            optlen = data[i + 1]
            if optlen < 2:
                break
        if opt == 148:
            return True
        i += optlen
    return False


def _groups(ifp: Ifnet) -> list[InMulti]:
    """The interface's groups as the kernel walks if_multiaddrs: newest first."""
    return list(reversed(ifp.in_multi.values()))


def igmp_input_v1_query(vnet: VNet, ifp: Ifnet, dst: int, group: int) -> str:
    igmp = vnet.igmp
    if not in_allhosts(dst) or group:
        vnet.igmpstat.igps_rcv_badqueries += 1
        return "IGMPv1 query not to 224.0.0.1 or with a group (igps_rcv_badqueries)"
    vnet.igmpstat.igps_rcv_gen_queries += 1
    igi: IgmpIfinfo = ifp.igi
    if igi.flags & IGIF_LOOPBACK:
        return "IGMPv1 query on a loopback-mode interface ignored"
    igmp_set_version(vnet, igi, IGMP_VERSION_1)
    n = 0
    for inm in _groups(ifp):
        if inm.timer:
            continue
        if inm.state in (IGMP_NOT_MEMBER, IGMP_SILENT_MEMBER, IGMP_LEAVING_MEMBER):
            continue
        inm.state = IGMP_REPORTING_MEMBER
        inm.timer = _draw(vnet, IGMP_V1V2_MAX_RI * PR_FASTHZ)
        igmp.current_state_timers_running = True
        n += 1
    igmp.kick()
    return f"IGMPv1 general query: {n} report(s) scheduled"


def igmp_input_v2_query(vnet: VNet, ifp: Ifnet, dst: int, group: int, code: int) -> str:
    igmpstat = vnet.igmpstat
    if group == 0:
        if not in_allhosts(dst):
            return "IGMPv2 general query not to 224.0.0.1 ignored"
        igmpstat.igps_rcv_gen_queries += 1
        general = True
    else:
        igmpstat.igps_rcv_group_queries += 1
        general = False
    igi: IgmpIfinfo = ifp.igi
    if igi.flags & IGIF_LOOPBACK:
        return "IGMPv2 query on a loopback-mode interface ignored"
    if igi.version == IGMP_VERSION_1:
        return "IGMPv2 query ignored in IGMPv1 compatibility mode"
    igmp_set_version(vnet, igi, IGMP_VERSION_2)
    timer = (code * PR_FASTHZ // IGMP_TIMER_SCALE) & 0xFFFF or 1
    if general:
        for each in _groups(ifp):
            igmp_v2_update_group(vnet, each, timer)
        vnet.igmp.kick()
        return "IGMPv2 general query"
    inm = inm_lookup(ifp, group)
    if inm is not None:
        igmp_v2_update_group(vnet, inm, timer)
        vnet.igmp.kick()
        return f"IGMPv2 query for {ntoa(group)}"
    return f"IGMPv2 query for {ntoa(group)}, not a member"


def igmp_v2_update_group(vnet: VNet, inm: InMulti, timer: int) -> None:
    st = inm.state
    if st in (IGMP_NOT_MEMBER, IGMP_SILENT_MEMBER, IGMP_LEAVING_MEMBER):
        return
    if st == IGMP_SLEEPING_MEMBER:
        inm.state = IGMP_AWAKENING_MEMBER
        return
    if st == IGMP_REPORTING_MEMBER and inm.timer and inm.timer <= timer:
        return
    inm.state = IGMP_REPORTING_MEMBER
    inm.timer = _draw(vnet, timer)
    vnet.igmp.current_state_timers_running = True


def _decode_exp(v: int) -> int:
    """A v3 Max Resp Code or QQIC of 128 or more: mantissa << (exp + 3),
    without RFC 3376's implicit 0x10 in the mantissa."""
    if v >= 128:
        return (v & 0x0F) << (((v >> 4) & 0x07) + 3)
    return v


def igmp_input_v3_query(
    vnet: VNet, ifp: Ifnet, m: Mbuf, hlen: int, dst: int, group: int, code: int, nsrc: int
) -> str:
    igmpstat = vnet.igmpstat
    data = m.data
    maxresp = _decode_exp(code)
    qrv = data[hlen + 8] & 0x07
    if qrv < 2:
        qrv = IGMP_RV_INIT
    qqi = _decode_exp(data[hlen + 9])
    timer = (maxresp * PR_FASTHZ // IGMP_TIMER_SCALE) & 0xFFFF or 1
    if group == 0:
        igmpstat.igps_rcv_gen_queries += 1
        if not in_allhosts(dst) or nsrc > 0:
            igmpstat.igps_rcv_badqueries += 1
            return "IGMPv3 general query not to 224.0.0.1 or with sources (igps_rcv_badqueries)"
        general = True
    else:
        if nsrc == 0:
            igmpstat.igps_rcv_group_queries += 1
        else:
            igmpstat.igps_rcv_gsr_queries += 1
        general = False
    igi: IgmpIfinfo = ifp.igi
    if igi.flags & IGIF_LOOPBACK:
        return "IGMPv3 query on a loopback-mode interface ignored"
    if igi.version != IGMP_VERSION_3:
        return f"IGMPv3 query ignored in IGMPv{igi.version} compatibility mode"
    igmp_set_version(vnet, igi, IGMP_VERSION_3)
    igi.rv = qrv
    igi.qi = qqi
    igi.qri = maxresp
    igmp = vnet.igmp
    if general:
        if igi.v3_timer == 0 or igi.v3_timer >= timer:
            igi.v3_timer = _draw(vnet, timer)
            igmp.interface_timers_running = True
            igmp.kick()
        return "IGMPv3 general query"
    inm = inm_lookup(ifp, group)
    if inm is None:
        return f"IGMPv3 query for {ntoa(group)}, not a member"
    if nsrc > 0 and not _ratecheck_gsr(vnet, inm):
        igmpstat.igps_drop_gsr_queries += 1
        return "IGMPv3 group-and-source query rate-limited (igps_drop_gsr_queries)"
    if igi.v3_timer == 0 or igi.v3_timer >= timer:
        srcs = [
            int.from_bytes(data[hlen + 12 + 4 * i : hlen + 16 + 4 * i], "big") for i in range(nsrc)
        ]
        igmp_input_v3_group_query(vnet, inm, timer, srcs)
        igmp.kick()
    kind = "group-and-source" if nsrc else "group"
    return f"IGMPv3 {kind} query for {ntoa(group)}"


def _ratecheck_gsr(vnet: VNet, inm: InMulti) -> bool:
    """ratecheck() against net.inet.igmp.gsrdelay seconds, on the uptime
    clock as getmicrouptime reads it (tick granularity); the first query
    always passes."""
    now_us = vnet.kernel.clock.ticks * 1000  # HZ 1000: a tick is 1 ms
    delay_us = _sc(vnet, "gsrdelay") * 1_000_000
    if inm.lastgsr == 0 or now_us - inm.lastgsr >= delay_us:
        inm.lastgsr = now_us
        return True
    return False


def igmp_input_v3_group_query(vnet: VNet, inm: InMulti, timer: int, srcs: list[int]) -> None:
    if inm.state not in (
        IGMP_REPORTING_MEMBER,
        IGMP_G_QUERY_PENDING_MEMBER,
        IGMP_SG_QUERY_PENDING_MEMBER,
    ):
        return
    igmp = vnet.igmp
    if not srcs:
        if inm.state in (IGMP_G_QUERY_PENDING_MEMBER, IGMP_SG_QUERY_PENDING_MEMBER):
            inm_clear_recorded(inm)
            timer = min(inm.timer, timer)
        inm.state = IGMP_G_QUERY_PENDING_MEMBER
        inm.timer = _draw(vnet, timer)
        igmp.current_state_timers_running = True
        return
    if inm.state == IGMP_G_QUERY_PENDING_MEMBER:
        timer = min(inm.timer, timer)
        inm.timer = _draw(vnet, timer)
        igmp.current_state_timers_running = True
        return
    # Group-and-source: record the listed sources (only when the group has
    # source state at all) and answer if any was newly recorded.
    if inm.srcs:
        limit = int(vnet.kernel.sc["net.inet.ip.mcast.maxgrpsrc"])
        nrecorded = 0
        for haddr in srcs:
            r = inm_record_source(inm, haddr, limit)
            if r < 0:
                break
            nrecorded += r
        if nrecorded > 0:
            inm.state = IGMP_SG_QUERY_PENDING_MEMBER
            inm.timer = _draw(vnet, timer)
            igmp.current_state_timers_running = True


def _first_addr(ifp: Ifnet) -> int:
    return ifp.addrs_in[0].addr if ifp.addrs_in else 0


def igmp_input_v1_report(
    vnet: VNet, ifp: Ifnet, m: Mbuf, src: int, dst: int, group: int
) -> str | None:
    """None: a bad report (dropped, not given to raw sockets)."""
    igmpstat = vnet.igmpstat
    igmpstat.igps_rcv_reports += 1
    if ifp.flags & IFF_LOOPBACK:
        return "IGMPv1 report on a loopback interface"
    if (group >> 28) != 0xE or group != dst:
        igmpstat.igps_rcv_badreports += 1
        return None
    _recvifkludge(vnet, ifp, m, src)
    inm = inm_lookup(ifp, group)
    if inm is None:
        return f"IGMPv1 report for {ntoa(group)}, not a member"
    igmpstat.igps_rcv_ourreports += 1
    igi: IgmpIfinfo = inm.igi
    if igi.version == IGMP_VERSION_3:
        # net.inet.igmp.legacysupp would call a suppression that returns
        # before doing anything: v3 responses are never suppressed.
        return f"IGMPv1 report for our group {ntoa(group)} (v3 mode: no suppression)"
    inm.timer = 0
    st = inm.state
    if st in (IGMP_IDLE_MEMBER, IGMP_LAZY_MEMBER, IGMP_AWAKENING_MEMBER, IGMP_SLEEPING_MEMBER):
        inm.state = IGMP_SLEEPING_MEMBER
    elif st == IGMP_REPORTING_MEMBER:
        if igi.version == IGMP_VERSION_1:
            inm.state = IGMP_LAZY_MEMBER
        elif igi.version == IGMP_VERSION_2:
            inm.state = IGMP_SLEEPING_MEMBER
    return f"IGMPv1 report for our group {ntoa(group)}: ours suppressed"


def igmp_input_v2_report(
    vnet: VNet, ifp: Ifnet, m: Mbuf, src: int, dst: int, group: int
) -> str | None:
    igmpstat = vnet.igmpstat
    ia_addr = _first_addr(ifp)
    if ifp.addrs_in and src == ia_addr:
        return "our own IGMPv2 report"
    igmpstat.igps_rcv_reports += 1
    if ifp.flags & IFF_LOOPBACK:
        return "IGMPv2 report on a loopback interface"
    if (group >> 28) != 0xE or group != dst:
        igmpstat.igps_rcv_badreports += 1
        return None
    _recvifkludge(vnet, ifp, m, src)
    inm = inm_lookup(ifp, group)
    if inm is None:
        return f"IGMPv2 report for {ntoa(group)}, not a member"
    igmpstat.igps_rcv_ourreports += 1
    igi: IgmpIfinfo = inm.igi
    if igi.version == IGMP_VERSION_3:
        return f"IGMPv2 report for our group {ntoa(group)} (v3 mode: no suppression)"
    inm.timer = 0
    if inm.state in (
        IGMP_REPORTING_MEMBER,
        IGMP_IDLE_MEMBER,
        IGMP_AWAKENING_MEMBER,
        IGMP_LAZY_MEMBER,
    ):
        inm.state = IGMP_LAZY_MEMBER
    return f"IGMPv2 report for our group {ntoa(group)}: ours suppressed"


def _recvifkludge(vnet: VNet, ifp: Ifnet, m: Mbuf, src: int) -> None:
    """A report from 0.0.0.0 is rewritten, in the packet raw sockets will
    see, to come from the receiving interface's subnet number."""
    if _sc(vnet, "recvifkludge") and src == 0 and ifp.addrs_in:
        m.data[12:16] = ifp.addrs_in[0].subnet.to_bytes(4, "big")


# -- version compatibility -------------------------------------------------------------


def igmp_set_version(vnet: VNet, igi: IgmpIfinfo, version: int) -> None:
    if version in (IGMP_VERSION_1, IGMP_VERSION_2):
        old_version_timer = (igi.rv * igi.qi + igi.qri) * PR_SLOWHZ
        if version == IGMP_VERSION_1:
            igi.v1_timer = old_version_timer
            igi.v2_timer = 0
        else:
            igi.v1_timer = 0
            igi.v2_timer = old_version_timer
        vnet.igmp.slow_arm()
    before = igi.version
    if igi.v1_timer == 0 and igi.v2_timer > 0:
        if igi.version != IGMP_VERSION_2:
            igi.version = IGMP_VERSION_2
            igmp_v3_cancel_link_timers(vnet, igi)
    elif igi.v1_timer > 0 and igi.version != IGMP_VERSION_1:
        igi.version = IGMP_VERSION_1
        igmp_v3_cancel_link_timers(vnet, igi)
    if igi.version != before:
        vnet.note(
            None,
            f"IGMP on {igi.ifp.name}: IGMPv{igi.version} querier heard, "
            f"IGMPv{igi.version} compatibility mode",
        )


def igmp_v3_cancel_link_timers(vnet: VNet, igi: IgmpIfinfo) -> None:
    igi.v3_timer = 0
    for inm in _groups(igi.ifp):
        st = inm.state
        if st == IGMP_LEAVING_MEMBER:
            igi.relinm.insert(0, inm)
        if st in (IGMP_LEAVING_MEMBER, IGMP_G_QUERY_PENDING_MEMBER, IGMP_SG_QUERY_PENDING_MEMBER):
            inm_clear_recorded(inm)
        if st in (
            IGMP_LEAVING_MEMBER,
            IGMP_G_QUERY_PENDING_MEMBER,
            IGMP_SG_QUERY_PENDING_MEMBER,
            IGMP_REPORTING_MEMBER,
        ):
            inm.state = IGMP_REPORTING_MEMBER
        inm.sctimer = 0
        inm.timer = 0
        inm.scq.clear()
    _release_deferred(igi)


def _release_deferred(igi: IgmpIfinfo) -> None:
    rel = igi.relinm
    igi.relinm = []
    for inm in rel:
        inm_release(inm)


def igmp_v1v2_process_querier_timers(vnet: VNet, igi: IgmpIfinfo) -> None:
    before = igi.version
    if igi.v1_timer == 0 and igi.v2_timer == 0:
        if igi.version != IGMP_VERSION_3:
            igi.version = IGMP_VERSION_3
    elif igi.v1_timer == 0 and igi.v2_timer > 0:
        if not _sc(vnet, "v2enable"):
            igi.v2_timer = 0
            igi.version = IGMP_VERSION_3
        else:
            igi.v2_timer -= 1
            if igi.version != IGMP_VERSION_2:
                igi.version = IGMP_VERSION_2
    elif igi.v1_timer > 0:
        if not _sc(vnet, "v1enable"):
            igi.v1_timer = 0
            igi.version = IGMP_VERSION_3
        else:
            igi.v1_timer -= 1
        if igi.v2_timer > 0:
            igi.v2_timer = 0
    if igi.version != before:
        vnet.note(
            None,
            f"IGMP on {igi.ifp.name}: older querier timer expired, back to IGMPv{igi.version}",
        )


# -- timers ------------------------------------------------------------------------


def igmp_fasttimo_vnet(vnet: VNet) -> None:
    igmp: IgmpVnet = vnet.igmp
    if not (
        igmp.current_state_timers_running
        or igmp.interface_timers_running
        or igmp.state_change_timers_running
    ):
        return
    if igmp.interface_timers_running:
        igmp.interface_timers_running = False
        for igi in list(igmp.igi_head):
            if igi.v3_timer == 0:
                continue
            igi.v3_timer -= 1
            if igi.v3_timer == 0:
                igmp_v3_dispatch_general_query(vnet, igi)
            else:
                igmp.interface_timers_running = True
    if not igmp.current_state_timers_running and not igmp.state_change_timers_running:
        return
    igmp.current_state_timers_running = False
    igmp.state_change_timers_running = False
    for igi in list(igmp.igi_head):
        if igi.version == IGMP_VERSION_3:
            igi.uri_fasthz = 0  # drawn when first needed this tick
            qrq = Ifq(IGMP_MAX_G_GS_PACKETS)
            scq = Ifq(IGMP_MAX_STATE_CHANGE_PACKETS)
            for inm in _groups(igi.ifp):
                igmp_v3_process_group_timers(vnet, igi, qrq, scq, inm)
            igmp_dispatch_queue(vnet, igi.ifp, qrq, 0, "IGMPv3 query response")
            igmp_dispatch_queue(vnet, igi.ifp, scq, 0, "IGMPv3 state-change report")
            _release_deferred(igi)
        elif igi.version in (IGMP_VERSION_1, IGMP_VERSION_2):
            for inm in _groups(igi.ifp):
                igmp_v1v2_process_group_timer(vnet, inm, igi.version)


def igmp_v1v2_process_group_timer(vnet: VNet, inm: InMulti, version: int) -> None:
    if inm.timer == 0:
        expired = False
    else:
        inm.timer -= 1
        if inm.timer:
            vnet.igmp.current_state_timers_running = True
            return
        expired = True
    if inm.state == IGMP_REPORTING_MEMBER and expired:
        inm.state = IGMP_IDLE_MEMBER
        rtype = (
            IGMP_V2_HOST_MEMBERSHIP_REPORT
            if version == IGMP_VERSION_2
            else IGMP_V1_HOST_MEMBERSHIP_REPORT
        )
        igmp_v1v2_queue_report(vnet, inm, rtype, "query response")


def igmp_v3_process_group_timers(
    vnet: VNet, igi: IgmpIfinfo, qrq: Ifq, scq: Ifq, inm: InMulti
) -> None:
    igmp: IgmpVnet = vnet.igmp
    query_expired = False
    sc_expired = False
    if inm.timer:
        inm.timer -= 1
        if inm.timer == 0:
            query_expired = True
        else:
            igmp.current_state_timers_running = True
    if inm.sctimer:
        inm.sctimer -= 1
        if inm.sctimer == 0:
            sc_expired = True
        else:
            igmp.state_change_timers_running = True
    if not sc_expired and not query_expired:
        return
    st = inm.state
    if st in (IGMP_G_QUERY_PENDING_MEMBER, IGMP_SG_QUERY_PENDING_MEMBER):
        if query_expired:
            igmp_v3_enqueue_group_record(
                vnet, qrq, inm, False, True, st == IGMP_SG_QUERY_PENDING_MEMBER
            )
            inm.state = IGMP_REPORTING_MEMBER
            inm_clear_recorded(inm)
    elif st not in (IGMP_REPORTING_MEMBER, IGMP_LEAVING_MEMBER):
        return
    if sc_expired:
        inm.scrv = (inm.scrv - 1) & 0xFFFF
        if inm.scrv > 0:
            if not igi.uri_fasthz:
                igi.uri_fasthz = _draw(vnet, igi.uri * PR_FASTHZ)
            inm.sctimer = igi.uri_fasthz
            igmp.state_change_timers_running = True
        igmp_v3_merge_state_changes(inm, scq)
        inm_commit(inm)
        if inm.state == IGMP_LEAVING_MEMBER and inm.scrv == 0:
            inm.state = IGMP_NOT_MEMBER
            igi.relinm.insert(0, inm)


def igmp_v3_dispatch_general_query(vnet: VNet, igi: IgmpIfinfo) -> None:
    for inm in _groups(igi.ifp):
        if inm.state in (
            IGMP_REPORTING_MEMBER,
            IGMP_IDLE_MEMBER,
            IGMP_LAZY_MEMBER,
            IGMP_SLEEPING_MEMBER,
            IGMP_AWAKENING_MEMBER,
        ):
            inm.state = IGMP_REPORTING_MEMBER
            igmp_v3_enqueue_group_record(vnet, igi.gq, inm, False, False, False)
    igmp_dispatch_queue(
        vnet, igi.ifp, igi.gq, IGMP_MAX_RESPONSE_BURST, "IGMPv3 general query response"
    )
    if igi.gq:
        # Further bursts 500 ms apart (2 or 3 fast ticks).
        igi.v3_timer = 1 + _draw(vnet, IGMP_RESPONSE_BURST_INTERVAL)
        vnet.igmp.interface_timers_running = True


def igmp_slowtimo_vnet(vnet: VNet) -> None:
    for igi in list(vnet.igmp.igi_head):
        igmp_v1v2_process_querier_timers(vnet, igi)


# -- state changes from in_mcast ---------------------------------------------------------


def igmp_change_state(inm: InMulti) -> int:
    """Called after each merge of a socket filter into the group: a join,
    a leave, or a change of the source filter."""
    vnet = inm.ifp.vnet
    if not vnet.kernel.profile.igmpv3:
        return igmp_v2host_change_state(inm)
    igi: IgmpIfinfo = inm.ifp.igi
    st0, st1 = inm.st[0].fmode, inm.st[1].fmode
    if st1 != st0:
        if st0 == MCAST_UNDEFINED:
            err = igmp_initial_join(vnet, inm, igi)
            vnet.igmp.kick()
            return err
        if st1 == MCAST_UNDEFINED:
            igmp_final_leave(vnet, inm, igi)
            vnet.igmp.kick()
            return 0
    err = igmp_handle_state_change(vnet, inm, igi)
    vnet.igmp.kick()
    return err


def _silent(vnet: VNet, inm: InMulti, igi: IgmpIfinfo) -> bool:
    return bool(
        inm.ifp.flags & IFF_LOOPBACK
        or igi.flags & IGIF_SILENT
        or not igmp_isgroupreported(vnet, inm.addr)
    )


def igmp_initial_join(vnet: VNet, inm: InMulti, igi: IgmpIfinfo) -> int:
    error = 0
    syncstates = True
    if _silent(vnet, inm, igi):
        inm.state = IGMP_SILENT_MEMBER
        inm.timer = 0
    else:
        if igi.version == IGMP_VERSION_3 and inm.state == IGMP_LEAVING_MEMBER:
            inm_release(inm)  # the reference the pending leave held
        inm.state = IGMP_REPORTING_MEMBER
        if igi.version in (IGMP_VERSION_1, IGMP_VERSION_2):
            inm.state = IGMP_IDLE_MEMBER
            rtype = (
                IGMP_V2_HOST_MEMBERSHIP_REPORT
                if igi.version == IGMP_VERSION_2
                else IGMP_V1_HOST_MEMBERSHIP_REPORT
            )
            igmp_v1v2_queue_report(vnet, inm, rtype, "join")
            # The follow-up timer runs out in IDLE, which sends nothing.
            inm.timer = _draw(vnet, IGMP_V1V2_MAX_RI * PR_FASTHZ)
            vnet.igmp.current_state_timers_running = True
        elif igi.version == IGMP_VERSION_3:
            syncstates = False
            inm.scq.clear()
            retval = igmp_v3_enqueue_group_record(vnet, inm.scq, inm, True, False, False)
            if retval <= 0:
                error = -retval
            else:
                inm.scrv = 1 if igi.flags & IGIF_LOOPBACK else igi.rv
                inm.sctimer = 1
                vnet.igmp.state_change_timers_running = True
    if syncstates:
        inm_commit(inm)
    return error


def igmp_handle_state_change(vnet: VNet, inm: InMulti, igi: IgmpIfinfo) -> int:
    if _silent(vnet, inm, igi) or igi.version != IGMP_VERSION_3:
        inm_commit(inm)
        return 0
    inm.scq.clear()
    retval = igmp_v3_enqueue_group_record(vnet, inm.scq, inm, True, False, False)
    if retval <= 0:
        return -retval
    inm.scrv = 1 if igi.flags & IGIF_LOOPBACK else igi.rv
    inm.sctimer = 1
    vnet.igmp.state_change_timers_running = True
    return 0


def igmp_final_leave(vnet: VNet, inm: InMulti, igi: IgmpIfinfo) -> None:
    syncstates = True
    st = inm.state
    if st in (
        IGMP_REPORTING_MEMBER,
        IGMP_IDLE_MEMBER,
        IGMP_G_QUERY_PENDING_MEMBER,
        IGMP_SG_QUERY_PENDING_MEMBER,
    ):
        if igi.version == IGMP_VERSION_2:
            igmp_v1v2_queue_report(vnet, inm, IGMP_HOST_LEAVE_MESSAGE, "leave")
            inm.state = IGMP_NOT_MEMBER
        elif igi.version == IGMP_VERSION_3:
            inm.scq.clear()
            inm.timer = 0
            inm.scrv = 1 if igi.flags & IGIF_LOOPBACK else igi.rv
            if inm.scrv == 0:
                inm.state = IGMP_NOT_MEMBER
                inm.sctimer = 0
            else:
                inm.refcount += 1  # IGMP keeps the group until TO_IN {} is sent
                igmp_v3_enqueue_group_record(vnet, inm.scq, inm, True, False, False)
                inm.state = IGMP_LEAVING_MEMBER
                inm.sctimer = 1
                vnet.igmp.state_change_timers_running = True
                syncstates = False
    if syncstates:
        inm_commit(inm)
        inm.st[1].fmode = MCAST_UNDEFINED


# -- v3 report construction ------------------------------------------------------------


def _grec(rtype: int, numsrc: int, group: int) -> bytes:
    return _GREC.pack(rtype, 0, numsrc, group.to_bytes(4, "big"))


def igmp_v3_enqueue_group_record(
    vnet: VNet,
    ifq: Ifq,
    inm: InMulti,
    is_state_change: bool,
    is_group_query: bool,
    is_source_query: bool,
) -> int:
    """Queue one group record (a state change, or a current-state answer to
    a query), continued in further packets while its sources do not fit.
    Returns the bytes queued, 0 for nothing to send, -errno on failure."""
    mtu = inm.ifp.mtu
    mode = inm.st[1].fmode
    record_has_sources = not (inm.st[0].asm > 0 and inm.st[1].asm > 0 and not inm.srcs)
    rtype = IGMP_DO_NOTHING
    if is_state_change:
        if mode != inm.st[0].fmode:
            if mode == MCAST_EXCLUDE:
                rtype = IGMP_CHANGE_TO_EXCLUDE_MODE
            else:
                rtype = IGMP_CHANGE_TO_INCLUDE_MODE
                if mode == MCAST_UNDEFINED:
                    record_has_sources = False
        elif record_has_sources:
            return igmp_v3_enqueue_filter_change(ifq, inm)
    else:
        if mode == MCAST_EXCLUDE:
            rtype = IGMP_MODE_IS_EXCLUDE
        elif mode == MCAST_INCLUDE:
            rtype = IGMP_MODE_IS_INCLUDE
    if rtype == IGMP_DO_NOTHING:
        return 0
    minrec0len = 8 + (4 if record_has_sources else 0)
    m0: Pkt | None = ifq[-1] if ifq else None
    m: Pkt
    if (
        not is_group_query
        and m0 is not None
        and m0.nrecs + 1 <= IGMP_V3_REPORT_MAXRECS
        and len(m0.data) + minrec0len < mtu - IGMP_LEADINGSPACE
    ):
        m = m0
        m0srcs = (mtu - len(m0.data) - 8) // 4
    else:
        if ifq.full():
            return -errno.ENOMEM
        m = Pkt()
        m0srcs = (mtu - IGMP_LEADINGSPACE - 8) // 4
    rec = len(m.data)
    m.data += _grec(rtype, 0, inm.addr)
    nbytes = 8
    items = inm.sorted_srcs() if record_has_sources else []
    pos = len(items)  # where the walk goes on in the next packet
    msrcs = 0
    if record_has_sources:
        for i, (haddr, ims) in enumerate(items):
            now = inm.mode(ims, 1)
            if now != mode or mode == MCAST_UNDEFINED:
                continue
            if is_source_query and ims.stp == 0:
                continue
            m.data += haddr.to_bytes(4, "big")
            nbytes += 4
            msrcs += 1
            if msrcs == m0srcs:
                pos = i + 1
                break
        _H.pack_into(m.data, rec + 2, msrcs)
        nbytes += msrcs * 4
    if is_source_query and msrcs == 0:
        return 0
    if m is m0:
        m.nrecs += 1
    else:
        m.nrecs = 1
        ifq.append(m)
    if not record_has_sources:
        return nbytes
    while pos < len(items):
        if ifq.full():
            return -errno.ENOMEM
        m = Pkt()
        rec = 0
        m.data += _grec(rtype, 0, inm.addr)
        m.nrecs = 1
        nbytes += 8
        m0srcs = (mtu - IGMP_LEADINGSPACE - 8) // 4
        msrcs = 0
        start = pos
        pos = len(items)
        for i in range(start, len(items)):
            haddr, ims = items[i]
            now = inm.mode(ims, 1)
            if now != mode or mode == MCAST_UNDEFINED:
                continue
            if is_source_query and ims.stp == 0:
                continue
            m.data += haddr.to_bytes(4, "big")
            msrcs += 1
            if msrcs == m0srcs:
                pos = i + 1
                break
        _H.pack_into(m.data, rec + 2, msrcs)
        nbytes += msrcs * 4
        ifq.append(m)
    return nbytes


def igmp_v3_enqueue_filter_change(ifq: Ifq, inm: InMulti) -> int:
    """ALLOW_NEW and BLOCK_OLD records for the sources whose mode changed
    between t0 and t1 (the kind met first goes first)."""
    if not inm.srcs or (inm.st[0].asm > 0 and inm.st[1].asm > 0):
        return 0
    mtu = inm.ifp.mtu
    mode = inm.st[1].fmode
    crt = REC_NONE
    drt = REC_NONE
    schanged = 0
    nbytes = 0
    npbytes = 0
    items = inm.sorted_srcs()
    nims: int | None = None
    while drt != REC_FULL:
        while True:
            m0 = ifq[-1] if ifq else None
            if (
                m0 is not None
                and m0.nrecs + 1 <= IGMP_V3_REPORT_MAXRECS
                and len(m0.data) + 12 < mtu - IGMP_LEADINGSPACE
            ):
                m = m0
                m0srcs = (mtu - len(m0.data) - 8) // 4
            else:
                m = Pkt()
                m0srcs = (mtu - IGMP_LEADINGSPACE - 8) // 4
                npbytes = 0
            rec = len(m.data)
            m.data += _grec(0, 0, inm.addr)
            npbytes += 8
            rsrcs = 0
            if nims is None:
                nims = 0
            i = nims
            nims = None
            while i < len(items):
                haddr, ims = items[i]
                i += 1
                nims = i if i < len(items) else None
                now = inm.mode(ims, 1)
                then = inm.mode(ims, 0)
                if now == then:
                    continue
                if mode == MCAST_EXCLUDE and now == MCAST_INCLUDE:
                    continue
                nrt = now
                if nrt == REC_NONE:
                    nrt = ~mode & REC_FULL
                schanged += 1
                if schanged == 1:
                    crt = nrt
                elif crt != nrt:
                    continue
                m.data += haddr.to_bytes(4, "big")
                rsrcs += 1
                if rsrcs == m0srcs:
                    break
            if rsrcs == 0:
                npbytes -= 8
                del m.data[rec:]
                if nims is None:
                    break
                continue
            npbytes += rsrcs * 4
            if crt == REC_ALLOW:
                m.data[rec] = IGMP_ALLOW_NEW_SOURCES
            elif crt == REC_BLOCK:
                m.data[rec] = IGMP_BLOCK_OLD_SOURCES
            _H.pack_into(m.data, rec + 2, rsrcs)
            m.nrecs += 1
            if m is not m0:
                ifq.append(m)
            nbytes += npbytes
            if nims is None:
                break
        drt |= crt
        crt = ~crt & REC_FULL
    return nbytes


def igmp_v3_merge_state_changes(inm: InMulti, ifscq: Ifq) -> None:
    """Move (or, while retransmissions remain, copy) the group's pending
    state-change packets to this tick's output queue, appending each to the
    last queued packet when it fits the MTU."""
    docopy = inm.scrv > 0
    gq = inm.scq
    limit = inm.ifp.mtu - IGMP_LEADINGSPACE
    for m in list(gq):
        mt = ifscq[-1] if ifscq else None
        domerge = (
            mt is not None
            and mt.nrecs + m.nrecs <= IGMP_V3_REPORT_MAXRECS
            and len(mt.data) + len(m.data) <= limit
        )
        if not domerge and gq.full():
            if not docopy:
                gq.remove(m)
            continue
        if not docopy:
            gq.remove(m)
            m0 = m
        else:
            m0 = m.dup()
        if not domerge:
            ifscq.append(m0)
        else:
            assert mt is not None
            mt.data += m0.data
            mt.nrecs += m0.nrecs


# -- output ------------------------------------------------------------------------


class _IgmpImo:
    """The multicast options igmp_intr passes to ip_output: TTL 1, the
    group's interface, no loopback (no multicast router is running)."""

    __slots__ = ("multicast_ifp",)
    multicast_ttl = 1
    multicast_loop = 0
    multicast_vif = -1

    def __init__(self, ifp: Ifnet) -> None:
        self.multicast_ifp = ifp


def igmp_dispatch_queue(vnet: VNet, ifp: Ifnet, ifq: Ifq, limit: int, why: str) -> None:
    """Send queued v3 reports (``limit`` 0: all of them)."""
    while ifq:
        p = ifq.pop(0)
        _send_v3(vnet, ifp, p, why)
        limit -= 1
        if limit == 0:
            break


def _send_v3(vnet: VNet, ifp: Ifnet, p: Pkt, why: str) -> None:
    """igmp_v3_encap_report + igmp_intr: the v3 report header, then an IP
    header to 224.0.0.22 with TOS 0xc0 and DF."""
    body = bytearray(8) + p.data
    body[0] = IGMP_V3_HOST_MEMBERSHIP_REPORT
    _H.pack_into(body, 6, p.nrecs & 0xFFFF)
    _H.pack_into(body, 2, in_cksum(memoryview(body)))
    recs = _describe_records(p.data)
    _igmp_output(vnet, ifp, body, INADDR_ALLRPTS_GROUP, 0xC0, 0x4000, f"{why}: {recs}")


def _describe_records(data: bytearray) -> str:
    out = []
    i = 0
    while i + 8 <= len(data):
        rtype, _aux, n, g = _GREC.unpack_from(data, i)
        srcs = [ntoa(int.from_bytes(data[i + 8 + 4 * k : i + 12 + 4 * k], "big")) for k in range(n)]
        name = RECORD_NAMES.get(rtype, str(rtype))
        out.append(f"{name} {ntoa(int.from_bytes(g, 'big'))} {{{', '.join(srcs)}}}")
        i += 8 + 4 * n
    return "; ".join(out)


def igmp_v1v2_queue_report(vnet: VNet, inm: InMulti, rtype: int, why: str) -> int:
    """A v1/v2 report, or a v2 leave (to 224.0.0.2), sent at once."""
    body = bytearray(8)
    body[0] = rtype
    body[4:8] = inm.addr.to_bytes(4, "big")
    _H.pack_into(body, 2, in_cksum(memoryview(body)))
    dst = INADDR_ALLRTRS_GROUP if rtype == IGMP_HOST_LEAVE_MESSAGE else inm.addr
    kind = {
        IGMP_V1_HOST_MEMBERSHIP_REPORT: "IGMPv1 report",
        IGMP_V2_HOST_MEMBERSHIP_REPORT: "IGMPv2 report",
        IGMP_HOST_LEAVE_MESSAGE: "IGMPv2 leave",
    }[rtype]
    _igmp_output(vnet, inm.ifp, body, dst, 0, 0, f"{kind} for {ntoa(inm.addr)} ({why})")
    return 0


def _igmp_output(
    vnet: VNet, ifp: Ifnet, body: bytes | bytearray, dst: int, tos: int, off: int, why: str
) -> None:
    """igmp_intr: ip_output with the Router Alert option (net.inet.igmp.sendra),
    TTL 1, the source chosen by ip_output; igps_snd_reports counts what
    ip_output accepted."""
    from kstack.netinet.ip_output import ip_output

    hdr = bytearray(20)
    hdr[0] = 0x45
    hdr[1] = tos
    _H.pack_into(hdr, 2, 20 + len(body))
    _H.pack_into(hdr, 6, off)
    hdr[9] = 2
    hdr[16:20] = dst.to_bytes(4, "big")
    m = Mbuf(hdr + body, None, 0, 0, why)
    opt = _RA_OPT if _sc(vnet, "sendra") else None
    error = ip_output(vnet, m, imo=_IgmpImo(ifp), opt=opt)
    if error == 0:
        vnet.igmpstat.igps_snd_reports += 1
    else:
        vnet.note(None, f"{why}: not sent ({errno.errorcode.get(error, error)})")


# -- the IGMPv1/v2-only host (profile switch igmpv3 off) ---------------------------------
#
# Before IGMPv3 (seed 000:344) the host ran RFC 2236 alone: one report
# timer per group, one "querier version" per interface, nothing per source.
# A query of any length whose Max Resp Code is not 0 counts as a v2 query,
# so a v3 general query is answered with a v2 report. Every report and leave
# carries Router Alert (there is no sendra knob), and igps_snd_reports counts
# each one handed to ip_output, whatever ip_output answered.

IGMP_MAX_HOST_REPORT_DELAY = 10  # seconds, for joins and v1 queries
IGMP_AGE_THRESHOLD = 540  # slow ticks without a v1 query before v2 again
IGMP_V1_ROUTER = IGMP_V1_HOST_MEMBERSHIP_REPORT  # the report type to send
IGMP_V2_ROUTER = IGMP_V2_HOST_MEMBERSHIP_REPORT
IGMP_OTHERMEMBER = 0  # inm_state: another host reported last
IGMP_IREPORTEDLAST = 1  # inm_state: we reported last (so we send the leave)


@dataclass(slots=True)
class IgmpStatV2(_StatBlock):
    """The nine-counter ``struct igmpstat`` of the v1/v2-only host."""

    igps_rcv_total: int = 0
    igps_rcv_tooshort: int = 0
    igps_rcv_badsum: int = 0
    igps_rcv_queries: int = 0
    igps_rcv_badqueries: int = 0
    igps_rcv_reports: int = 0
    igps_rcv_badreports: int = 0
    igps_rcv_ourreports: int = 0
    igps_snd_reports: int = 0


class _Rti:
    """struct router_info: the querier version heard on one interface."""

    __slots__ = ("rtype", "time")

    def __init__(self) -> None:
        self.rtype = IGMP_V2_ROUTER
        self.time = 0


def _v2_stat(vnet: VNet) -> IgmpStatV2:
    st = vnet.igmpstat
    assert isinstance(st, IgmpStatV2)
    return st


def _v2_rti(vnet: VNet, ifp: Ifnet) -> _Rti:
    """find_rti: made (as a v2 querier) the first time an interface needs one."""
    rti: dict[Ifnet, _Rti] = vnet.igmp.v2_rti
    r = rti.get(ifp)
    if r is None:
        r = rti[ifp] = _Rti()
    return r


def _v2_arm(vnet: VNet) -> None:
    vnet.igmp.v2_timers_running = True
    vnet.igmp.fast_arm()


def igmp_v2host_input(vnet: VNet, m: Mbuf, hlen: int, plen: int) -> Outcome:
    """igmp_input of the v1/v2-only host: queries start report timers,
    reports from others stop ours; every valid message goes on to raw
    sockets."""
    from kstack.netinet.raw_ip import rip_input

    st = _v2_stat(vnet)
    st.igps_rcv_total += 1
    data = m.data
    if plen < IGMP_MINLEN:
        st.igps_rcv_tooshort += 1
        return _TOOSHORT
    if not in_cksum_ok(memoryview(data)[hlen : hlen + plen]):
        st.igps_rcv_badsum += 1
        return _BADSUM
    ifp = m.rcvif
    assert ifp is not None
    igmp_type = data[hlen]
    code = data[hlen + 1]
    src = int.from_bytes(data[12:16], "big")
    dst = int.from_bytes(data[16:20], "big")
    group = int.from_bytes(data[hlen + 4 : hlen + 8], "big")
    timer = max(code * PR_FASTHZ // IGMP_TIMER_SCALE, 1)
    why = f"IGMP type 0x{igmp_type:02x} (nothing for a v1/v2 host to do)"
    if igmp_type == IGMP_HOST_MEMBERSHIP_QUERY:
        st.igps_rcv_queries += 1
        if ifp.flags & IFF_LOOPBACK:
            why = "query on a loopback interface"
        else:
            if code == 0:
                rti = _v2_rti(vnet, ifp)
                rti.rtype, rti.time = IGMP_V1_ROUTER, 0
                vnet.igmp.slow_arm()
                timer = IGMP_MAX_HOST_REPORT_DELAY * PR_FASTHZ
                if dst != INADDR_ALLHOSTS_GROUP or group != 0:
                    st.igps_rcv_badqueries += 1
                    return dropped("igps_rcv_badqueries", "v1 query not to 224.0.0.1 for all")
            elif group != 0 and (group >> 28) != 0xE:
                st.igps_rcv_badqueries += 1
                return dropped("igps_rcv_badqueries", "query for a group that is not multicast")
            started = 0
            for inm in _groups(ifp):
                if in_allhosts(inm.addr) or (group and group != inm.addr):
                    continue
                if inm.timer == 0 or inm.timer > timer:
                    inm.timer = _draw(vnet, timer)
                    started += 1
                    _v2_arm(vnet)
            kind = "v1" if code == 0 else "v2"
            why = f"{kind} query: {started} report timer(s) started"
    elif igmp_type in (IGMP_V1_HOST_MEMBERSHIP_REPORT, IGMP_V2_HOST_MEMBERSHIP_REPORT):
        if ifp.addrs_in and src == ifp.addrs_in[0].addr:
            why = "our own report"
        else:
            st.igps_rcv_reports += 1
            if ifp.flags & IFF_LOOPBACK:
                why = "report on a loopback interface"
            elif (group >> 28) != 0xE:
                st.igps_rcv_badreports += 1
                return dropped("igps_rcv_badreports", "report for a group that is not multicast")
            else:
                if (src & 0xFF000000) == 0 and ifp.addrs_in:
                    m.data[12:16] = ifp.addrs_in[0].subnet.to_bytes(4, "big")
                member = inm_lookup(ifp, group)
                if member is None:
                    why = f"report for {ntoa(group)}, not a member"
                else:
                    member.timer = 0
                    member.state = IGMP_OTHERMEMBER
                    st.igps_rcv_ourreports += 1
                    why = f"report for our group {ntoa(group)}: ours suppressed"
    return rip_input(vnet, m, hlen, plen, f"{why}; passed on by igmp_input")


def _v2_send(vnet: VNet, inm: InMulti, rtype: int, why: str) -> None:
    """igmp_sendpkt: an 8-byte message, TTL 1, TOS 0, Router Alert."""
    from kstack.netinet.ip_output import ip_output

    body = bytearray(8)
    body[0] = rtype
    body[4:8] = inm.addr.to_bytes(4, "big")
    _H.pack_into(body, 2, in_cksum(memoryview(body)))
    dst = INADDR_ALLRTRS_GROUP if rtype == IGMP_HOST_LEAVE_MESSAGE else inm.addr
    hdr = bytearray(20)
    hdr[0] = 0x45
    _H.pack_into(hdr, 2, 28)
    hdr[9] = 2
    hdr[16:20] = dst.to_bytes(4, "big")
    kind = {0x12: "IGMPv1 report", 0x16: "IGMPv2 report", 0x17: "IGMPv2 leave"}[rtype]
    m = Mbuf(hdr + body, None, 0, 0, f"{kind} for {ntoa(inm.addr)} ({why})")
    ip_output(vnet, m, imo=_IgmpImo(inm.ifp), opt=_RA_OPT)
    _v2_stat(vnet).igps_snd_reports += 1


def igmp_v2host_change_state(inm: InMulti) -> int:
    """in_addmulti / in_delmulti: igmp_joingroup on the first membership,
    igmp_leavegroup on the last; a filter change means nothing here."""
    vnet = inm.ifp.vnet
    st0, st1 = inm.st[0].fmode, inm.st[1].fmode
    if st0 == MCAST_UNDEFINED and st1 != MCAST_UNDEFINED:
        if in_allhosts(inm.addr) or inm.ifp.flags & IFF_LOOPBACK:
            inm.timer = 0
            inm.state = IGMP_OTHERMEMBER
        else:
            _v2_send(vnet, inm, _v2_rti(vnet, inm.ifp).rtype, "join")
            inm.timer = _draw(vnet, IGMP_MAX_HOST_REPORT_DELAY * PR_FASTHZ)
            inm.state = IGMP_IREPORTEDLAST
            _v2_arm(vnet)
    elif st1 == MCAST_UNDEFINED and st0 != MCAST_UNDEFINED:
        if (
            inm.state == IGMP_IREPORTEDLAST
            and not in_allhosts(inm.addr)
            and not inm.ifp.flags & IFF_LOOPBACK
            and _v2_rti(vnet, inm.ifp).rtype != IGMP_V1_ROUTER
        ):
            _v2_send(vnet, inm, IGMP_HOST_LEAVE_MESSAGE, "leave")
        inm.timer = 0
    inm_commit(inm)
    return 0


def igmp_v2host_fasttimo(vnet: VNet) -> None:
    """Count every group's report timer down; at zero, report."""
    igmp: IgmpVnet = vnet.igmp
    if not igmp.v2_timers_running:
        return
    igmp.v2_timers_running = False
    for ifp in list(vnet.ifnets):
        for inm in _groups(ifp):
            if inm.timer == 0:
                continue
            inm.timer -= 1
            if inm.timer == 0:
                _v2_send(vnet, inm, _v2_rti(vnet, ifp).rtype, "report timer")
                inm.state = IGMP_IREPORTEDLAST
            else:
                igmp.v2_timers_running = True


def igmp_v2host_slowtimo(vnet: VNet) -> None:
    """An interface that heard no v1 query for IGMP_AGE_THRESHOLD slow
    ticks goes back to v2 reports."""
    for rti in vnet.igmp.v2_rti.values():
        if rti.rtype == IGMP_V1_ROUTER:
            rti.time += 1
            if rti.time >= IGMP_AGE_THRESHOLD:
                rti.rtype = IGMP_V2_ROUTER
