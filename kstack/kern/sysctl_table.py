"""The sysctl leaves of a FreeBSD 9.0 GENERIC amd64 kernel that the IPv4 stack uses.

Every entry was taken from the 9.x kernel source (9.1-RELEASE ``sys/`` as the
primary tree, cross-checked against head of February 2011 and 9.3-RELEASE):
its name, its declared type (``SYSCTL_INT`` -> integer, ``SYSCTL_UINT`` ->
unsigned integer, ``SYSCTL_ULONG`` -> unsigned long, ``SYSCTL_PROC`` -> the
``CTLTYPE_*`` it declares), its compiled-in default, its access flags and
whether its variable is ``VNET_DEFINE``'d (``CTLFLAG_VNET``: one value per
virtual stack), and whatever its handler refuses or rewrites.

Handler behaviour is mirrored as follows:

* a plain bound that the handler enforces with EINVAL: ``lo``/``hi``;
* a bound that depends on another value, or a set of accepted strings:
  ``check=`` (raises ``OSError(EINVAL)``);
* handlers that silently clamp or normalise instead of refusing (port ranges,
  the jail allow flags, boot-time fixups of netisr and net.fibs): ``set=``,
  which rewrites the stored value(s) after the store, as the handler would;
* values the kernel computes on every read: ``get=`` (see
  ``_GET_HOOK_ATTRIBUTES`` for the attributes these read).

Machine-size dependent defaults are fixed for "GENERIC amd64 with 4 GiB RAM,
one CPU": ``maxusers`` = min(384, physpages / 512) = 384 (``subr_param.c``),
so ``kern.ipc.nmbclusters`` = 1024 + 64 * maxusers = 25600
(``kern_mbuf.c tunable_mbinit``; 9.3 changed this formula, 9.0/9.1 did not)
and ``net.inet.ip.maxfragpackets`` = nmbclusters / 32 = 800 (``ip_init``).

Deliberately not listed (the name and the reason):

* counter structures read as opaque blobs by netstat(1): ``net.inet.ip.stats``,
  ``net.inet.icmp.stats``, ``net.inet.udp.stats``, ``net.inet.igmp.stats``;
* socket lists and credential lookups (opaque ``S,xinpcb``/``S,xucred``):
  ``net.inet.udp.pcblist``, ``net.inet.raw.pcblist``, ``net.inet.udp.getcred``;
* node handlers that take extra name components: ``net.inet.igmp.ifinfo``,
  ``net.inet.ip.mcast.filters``;
* netisr monitoring arrays (``CTLTYPE_STRUCT``): ``net.isr.proto``,
  ``net.isr.workstream``, ``net.isr.work``;
* options GENERIC does not have: ``net.inet.ip.stealth`` (IPSTEALTH),
  ``net.inet.ip.output_flowtable_size`` (FLOWTABLE), ``net.inet.ip.mtu``
  (``IPCTL_DEFMTU`` is under ``#ifdef notyet``), ``net.inet.ip.mbuf_frag_size``
  (MBUF_STRESS_TEST), ``net.tunnelfib`` (``#if 0``);
* loadable modules, not in the GENERIC kernel: ``net.inet.ip.fw.*``,
  ``net.inet.ip.dummynet.*``, ``net.inet.ip.alias.*``, ``net.inet.ip.mrtstat``,
  ``net.inet.ip.viftable``, ``net.inet.ip.mfctable`` (MROUTING);
* ``net.inet.ip.subnets_are_local``: still in head of February 2011 but gone
  by 9.1 together with the classful ``ia_net``/``ia_netmask`` fields of
  ``struct in_ifaddr``; a KBI change of that kind is not merged into a stable
  branch, so it went before 9.0 branched;
* ``security.jail.list`` (struct), ``security.jail.param.*`` (jail(8)
  parameter descriptions), and the non-network defaults
  (``set_hostname_allowed``, ``sysvipc_allowed``, ``chflags_allowed``,
  ``mount_*``, ``enforce_statfs``, ``devfs_ruleset``);
* other kern.ipc / net.link leaves outside this table's scope
  (``kern.ipc.numopensockets``, ``kern.ipc.sockbuf_waste_factor``,
  ``kern.ipc.nmbjumbo*``, ``net.link.log_link_state_change``,
  ``net.ifdescr_maxlen``).
"""

from __future__ import annotations

import errno
from dataclasses import replace
from typing import Any, cast

from kstack.kern.sysctl import (
    CTLFLAG_RD,
    CTLFLAG_RDTUN,
    CTLFLAG_RW,
    CTLFLAG_TUN,
    CTLFLAG_VNET,
    CTLTYPE_INT,
    CTLTYPE_STRING,
    CTLTYPE_UINT,
    CTLTYPE_ULONG,
    Ctx,
    Oid,
    Setter,
    Value,
)

__all__ = [
    "CTLFLAG_SECURE",
    "IP_OPTIONS_OIDS",
    "MAXUSERS",
    "MP_NCPUS",
    "NMBCLUSTERS",
    "OIDS",
    "PROFILE_NODES",
    "profile_oids",
]

# sys/sysctl.h: writes are refused (EPERM) once securelevel > 0. The framework
# does not enforce it; the emulated machine runs at securelevel -1, where the
# flag has no effect. Kept so the flag word matches FreeBSD's.
CTLFLAG_SECURE = 0x08000000

# The fixed machine: GENERIC amd64, 4 GiB of RAM, one CPU.
MP_NCPUS = 1
MAXUSERS = 384  # subr_param.c: physpages / 512 capped at 384
NMBCLUSTERS = 1024 + MAXUSERS * 64  # kern_mbuf.c tunable_mbinit: 25600
MAXFRAGPACKETS = NMBCLUSTERS // 32  # ip_input.c ip_init: 800

_VNRW = CTLFLAG_RW | CTLFLAG_VNET


def _einval(what: str) -> OSError:
    return OSError(errno.EINVAL, f"{what}: invalid argument")


def _vsc(ctx: Ctx) -> dict[str, Value]:
    """The per-vnet value dict of the vnet a handler runs in."""
    vnet: Any = ctx.vnet
    if vnet is None:
        raise OSError(errno.EINVAL, "handler needs a vnet")
    return cast(dict[str, Value], vnet.sc)


def _ksc(ctx: Ctx) -> dict[str, Value]:
    """The machine-wide value dict."""
    kernel: Any = ctx.kernel
    return cast(dict[str, Value], kernel.sc)


def _attr(obj: object, name: str) -> int:
    return int(cast(int, getattr(obj, name)))


# Attributes the get= hooks below read; the lead provides them.
_GET_HOOK_ATTRIBUTES = {
    "net.inet.ip.fragpackets": "ctx.vnet.ipq_count",
    "net.inet.ip.intr_queue_drops": "ctx.vnet.netisr_ip_qdrops (ctx.kernel when no vnet)",
    "net.my_fibnum": "ctx.kernel.proc_fibnum",
}


# --------------------------------------------------------------------------
# sys/netinet/ip_input.c
# --------------------------------------------------------------------------


def _get_fragpackets(ctx: Ctx) -> Value:
    """``V_nipq``: reassembly queues currently held by this vnet."""
    return _attr(ctx.vnet, "ipq_count")


def _check_intr_queue_maxlen(ctx: Ctx, value: Any) -> None:
    """sysctl_netinet_intr_queue_maxlen: < 1 is EINVAL there, and
    netisr_setqlimit() refuses more than net.isr.maxqlimit with EINVAL."""
    if value < 1 or value > int(_ksc(ctx)["net.isr.maxqlimit"]):
        raise _einval("net.inet.ip.intr_queue_maxlen")


def _get_intr_queue_drops(ctx: Ctx) -> Value:
    """sysctl_netinet_intr_queue_drops: the IP netisr queue's drop counter.
    netisr is not virtualised in 9.0 (one queue per CPU shared by every
    vnet); the counter is read from the vnet when the caller has one, as the
    lead asked, else from the kernel."""
    src: object = ctx.vnet if ctx.vnet is not None else ctx.kernel
    return _attr(src, "netisr_ip_qdrops")


_IP_INPUT = (
    Oid(
        "net.inet.ip.forwarding",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Route packets between interfaces instead of only accepting our own",
    ),
    Oid(
        "net.inet.ip.redirect",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Emit ICMP redirects when forwarding back out of the arrival interface",
    ),
    Oid(
        "net.inet.ip.keepfaith",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Hand packets to the faith(4) IPv4-to-IPv6 relay interface",
    ),
    Oid(
        "net.inet.ip.sendsourcequench",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Answer output-queue drops while forwarding with ICMP source quench",
    ),
    Oid(
        "net.inet.ip.random_id",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Draw IPv4 identification values at random instead of sequentially",
    ),
    Oid(
        "net.inet.ip.check_interface",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Drop packets for a local address that arrive on a different interface",
    ),
    Oid(
        "net.inet.ip.fragpackets",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD | CTLFLAG_VNET,
        "Number of datagrams currently awaiting reassembly",
        get=_get_fragpackets,
    ),
    # Set to 16 by ip_init().
    Oid(
        "net.inet.ip.maxfragsperpacket",
        CTLTYPE_INT,
        16,
        _VNRW,
        "Most fragments one datagram may be reassembled from",
    ),
    # SYSCTL_PROC on the global netisr queue limit (not per vnet). Its default
    # is the limit ip_input registers with: net.isr.defaultqlimit.
    Oid(
        "net.inet.ip.intr_queue_maxlen",
        CTLTYPE_INT,
        256,
        CTLFLAG_RW,
        "Length limit of the IP input (netisr) queue",
        lo=1,
        check=_check_intr_queue_maxlen,
    ),
    # Registered CTLFLAG_RD, so its clear-on-write-0 branch is unreachable.
    Oid(
        "net.inet.ip.intr_queue_drops",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Packets lost because the IP input queue was full",
        get=_get_intr_queue_drops,
    ),
    # sysctl_maxnipq: < -1 is EINVAL; -1 = no limit, 0 = reassembly off.
    # The oid is a plain SYSCTL_PROC, but its variable V_maxnipq is per vnet.
    # ipq_zone_change() raises it to nmbclusters / 32 when nmbclusters grows
    # (see _set_nmbclusters).
    Oid(
        "net.inet.ip.maxfragpackets",
        CTLTYPE_INT,
        MAXFRAGPACKETS,
        _VNRW,
        "Most datagrams held for reassembly at once (-1: no limit, 0: none)",
        lo=-1,
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/raw_ip.c (net.inet.ip.ttl lives here in 9.x, plus net.inet.raw)
# --------------------------------------------------------------------------

_RAW_IP = (
    # No range check: values above 255 are truncated to 8 bits where used.
    Oid(
        "net.inet.ip.ttl",
        CTLTYPE_INT,
        64,
        _VNRW,
        "TTL put in locally originated datagrams and ICMP replies",
    ),
    Oid(
        "net.inet.raw.maxdgram",
        CTLTYPE_ULONG,
        9216,
        CTLFLAG_RW,
        "Send buffer size reserved by new raw IP sockets",
    ),
    Oid(
        "net.inet.raw.recvspace",
        CTLTYPE_ULONG,
        9216,
        CTLFLAG_RW,
        "Receive buffer size reserved by new raw IP sockets",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/ip_options.c (plain globals, not per vnet; per vnet from 10.1,
# see Profile.ip_options_sysctls_per_vnet)
# --------------------------------------------------------------------------

IP_OPTIONS_OIDS = frozenset(
    {"net.inet.ip.sourceroute", "net.inet.ip.accept_sourceroute", "net.inet.ip.process_options"}
)

_IP_OPTIONS = (
    Oid(
        "net.inet.ip.sourceroute",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW,
        "Forward datagrams that carry a source route option",
    ),
    Oid(
        "net.inet.ip.accept_sourceroute",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW,
        "Accept source-routed datagrams whose route ends at this host",
    ),
    # 0 = ignore options, 1 = process them, 2 = reject packets carrying any.
    Oid(
        "net.inet.ip.process_options",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "How IP options are treated: 0 ignore, 1 process, 2 refuse",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/ip_fastfwd.c
# --------------------------------------------------------------------------

_IP_FASTFWD = (
    Oid(
        "net.inet.ip.fastforwarding",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Try the short-cut forwarding path before full ip_input processing",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/ip_id.c (global, not per vnet)
# --------------------------------------------------------------------------


def _set_random_id_period(ctx: Ctx, value: Any) -> None:
    """sysctl_ip_id_change -> ip_initid(): a new history size throws the
    history away and zeroes both counters."""
    sc = _ksc(ctx)
    sc["net.inet.ip.random_id_collisions"] = 0
    sc["net.inet.ip.random_id_total"] = 0


_IP_ID = (
    # CTLTYPE_INT with format "IU"; sysctl_ip_id_change accepts 512..32768.
    Oid(
        "net.inet.ip.random_id_period",
        CTLTYPE_INT,
        8192,
        CTLFLAG_RW,
        "How many recent random IP IDs are remembered to avoid repeats",
        lo=512,
        hi=32768,
        set=_set_random_id_period,
    ),
    Oid(
        "net.inet.ip.random_id_collisions",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Random IP IDs drawn again because they were recently used",
    ),
    Oid(
        "net.inet.ip.random_id_total",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Random IP IDs handed out since the history was last reset",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/in_rmx.c
# --------------------------------------------------------------------------

_IN_RMX = (
    Oid(
        "net.inet.ip.rtexpire",
        CTLTYPE_INT,
        3600,
        _VNRW,
        "Seconds an unused dynamically created host route is kept",
    ),
    Oid(
        "net.inet.ip.rtminexpire",
        CTLTYPE_INT,
        10,
        _VNRW,
        "Floor below which route expiry is never shortened automatically",
    ),
    Oid(
        "net.inet.ip.rtmaxcache",
        CTLTYPE_INT,
        128,
        _VNRW,
        "Count of dynamic routes above which expiry is shortened",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/in.c
# --------------------------------------------------------------------------

_IN = (
    Oid(
        "net.inet.ip.same_prefix_carp_only",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Allow one prefix on several interfaces only for carp(4) addresses",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/in_gif.c (device gif is in GENERIC)
# --------------------------------------------------------------------------

_IN_GIF = (
    Oid(
        "net.inet.ip.gifttl",
        CTLTYPE_INT,
        30,
        _VNRW,
        "TTL of the outer IPv4 header added by gif(4) tunnels",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/in_pcb.c: net.inet.ip.portrange
# --------------------------------------------------------------------------

_IPPORT_RESERVED = 1024
_IPPORT_MAX = 65535

# sysctl_net_ipport_check clamps (RANGECHK), it never returns EINVAL.
_PORTRANGE_CLAMP = (
    ("net.inet.ip.portrange.lowfirst", 1, _IPPORT_RESERVED - 1),
    ("net.inet.ip.portrange.lowlast", 1, _IPPORT_RESERVED - 1),
    ("net.inet.ip.portrange.first", _IPPORT_RESERVED, _IPPORT_MAX),
    ("net.inet.ip.portrange.last", _IPPORT_RESERVED, _IPPORT_MAX),
    ("net.inet.ip.portrange.hifirst", _IPPORT_RESERVED, _IPPORT_MAX),
    ("net.inet.ip.portrange.hilast", _IPPORT_RESERVED, _IPPORT_MAX),
)


def _set_portrange(ctx: Ctx, value: Any) -> None:
    """sysctl_net_ipport_check: after any of the six is written, all six are
    clamped into their ranges (low pair 1..1023, others 1024..65535)."""
    sc = _vsc(ctx)
    for name, lo, hi in _PORTRANGE_CLAMP:
        v = int(sc[name])
        sc[name] = lo if v < lo else hi if v > hi else v


_IN_PCB = (
    Oid(
        "net.inet.ip.portrange.lowfirst",
        CTLTYPE_INT,
        1023,
        _VNRW,
        "Start (upper end) of the privileged range IP_PORTRANGE_LOW draws from",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.lowlast",
        CTLTYPE_INT,
        600,
        _VNRW,
        "End (lower end) of the privileged range IP_PORTRANGE_LOW draws from",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.first",
        CTLTYPE_INT,
        10000,
        _VNRW,
        "Lowest port of the default ephemeral range",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.last",
        CTLTYPE_INT,
        65535,
        _VNRW,
        "Highest port of the default ephemeral range",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.hifirst",
        CTLTYPE_INT,
        49152,
        _VNRW,
        "Lowest port of the range IP_PORTRANGE_HIGH draws from",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.hilast",
        CTLTYPE_INT,
        65535,
        _VNRW,
        "Highest port of the range IP_PORTRANGE_HIGH draws from",
        set=_set_portrange,
    ),
    Oid(
        "net.inet.ip.portrange.reservedhigh",
        CTLTYPE_INT,
        1023,
        _VNRW | CTLFLAG_SECURE,
        "Highest port that only a privileged user may bind",
    ),
    Oid(
        "net.inet.ip.portrange.reservedlow",
        CTLTYPE_INT,
        0,
        _VNRW | CTLFLAG_SECURE,
        "Lowest port that only a privileged user may bind",
    ),
    Oid(
        "net.inet.ip.portrange.randomized",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Pick ephemeral ports at a random point of the range",
    ),
    Oid(
        "net.inet.ip.portrange.randomcps",
        CTLTYPE_INT,
        10,
        _VNRW,
        "TCP port allocations per second above which randomising pauses",
    ),
    Oid(
        "net.inet.ip.portrange.randomtime",
        CTLTYPE_INT,
        45,
        _VNRW,
        "Seconds sequential allocation lasts once randomising has paused",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/in_mcast.c (globals, loader tunables as well as writable)
# --------------------------------------------------------------------------

_IN_MCAST = (
    Oid(
        "net.inet.ip.mcast.maxgrpsrc",
        CTLTYPE_ULONG,
        512,
        CTLFLAG_RW | CTLFLAG_TUN,
        "Most sources the stack tracks for one group on one interface",
    ),
    Oid(
        "net.inet.ip.mcast.maxsocksrc",
        CTLTYPE_ULONG,
        128,
        CTLFLAG_RW | CTLFLAG_TUN,
        "Most sources one socket may filter per joined group",
    ),
    Oid(
        "net.inet.ip.mcast.loop",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW | CTLFLAG_TUN,
        "Initial IP_MULTICAST_LOOP setting of new sockets",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/ip_icmp.c
# --------------------------------------------------------------------------

_IFNAMSIZ = 16


def _check_reply_src(ctx: Ctx, value: Any) -> None:
    """sysctl_handle_string: a new string needing the whole IFNAMSIZ buffer
    (no room for the terminating NUL) is EINVAL."""
    if len(str(value).encode()) >= _IFNAMSIZ:
        raise _einval("net.inet.icmp.reply_src")


_IP_ICMP = (
    Oid(
        "net.inet.icmp.icmplim",
        CTLTYPE_INT,
        200,
        _VNRW,
        "Per-second cap on each kind of rate-limited ICMP/RST response (<= 0: none)",
    ),
    Oid(
        "net.inet.icmp.icmplim_output",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Log a line when responses are being suppressed by icmplim",
    ),
    Oid("net.inet.icmp.maskrepl", CTLTYPE_INT, 0, _VNRW, "Answer ICMP address mask requests"),
    Oid(
        "net.inet.icmp.maskfake",
        CTLTYPE_UINT,
        0,
        _VNRW,
        "Mask to put in address mask replies instead of the real one (0: real)",
    ),
    Oid("net.inet.icmp.drop_redirect", CTLTYPE_INT, 0, _VNRW, "Ignore received ICMP redirects"),
    Oid("net.inet.icmp.log_redirect", CTLTYPE_INT, 0, _VNRW, "Log every received ICMP redirect"),
    Oid(
        "net.inet.icmp.reply_src",
        CTLTYPE_STRING,
        "",
        _VNRW,
        "Interface whose address sources ICMP replies to non-local packets",
        check=_check_reply_src,
    ),
    Oid(
        "net.inet.icmp.reply_from_interface",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Source ICMP replies to non-local packets from the arrival interface",
    ),
    Oid(
        "net.inet.icmp.quotelen",
        CTLTYPE_INT,
        8,
        _VNRW,
        "Payload bytes of the offending datagram quoted in ICMP errors",
    ),
    Oid(
        "net.inet.icmp.bmcastecho",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Answer echo and timestamp requests sent to broadcast or multicast",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/udp_usrreq.c
# --------------------------------------------------------------------------

_UDP_RECVSPACE = 40 * (1024 + 28)  # 40 x (1 KiB + sizeof(struct sockaddr_in6))

_UDP_USRREQ = (
    # VNET in 9.1 (exported for SCTP's UDP encapsulation); a global in head of
    # February 2011. 9.0 is between the two; the 9.1 form is used.
    Oid(
        "net.inet.udp.checksum",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Fill in the checksum of outgoing UDP datagrams",
    ),
    Oid(
        "net.inet.udp.log_in_vain",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW,
        "Log datagrams that arrive for ports nobody listens on",
    ),
    Oid(
        "net.inet.udp.blackhole",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Send no port unreachable for datagrams to closed ports",
    ),
    Oid(
        "net.inet.udp.maxdgram",
        CTLTYPE_ULONG,
        9216,
        CTLFLAG_RW,
        "Send buffer size, hence largest datagram, of new UDP sockets",
    ),
    Oid(
        "net.inet.udp.recvspace",
        CTLTYPE_ULONG,
        _UDP_RECVSPACE,
        CTLFLAG_RW,
        "Receive buffer size reserved by new UDP sockets",
    ),
)

# --------------------------------------------------------------------------
# sys/netinet/igmp.c
# --------------------------------------------------------------------------

_IGMP = (
    Oid(
        "net.inet.igmp.recvifkludge",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Treat v1/v2 reports sourced from 0.0.0.0 as from the arrival subnet",
    ),
    Oid(
        "net.inet.igmp.sendra",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Put a Router Alert option in outgoing IGMPv2/v3 messages",
    ),
    Oid(
        "net.inet.igmp.sendlocal",
        CTLTYPE_INT,
        1,
        _VNRW,
        "Also report membership of link-local groups (224.0.0.0/24)",
    ),
    Oid("net.inet.igmp.v1enable", CTLTYPE_INT, 1, _VNRW, "Act on IGMPv1 queries and reports"),
    Oid("net.inet.igmp.v2enable", CTLTYPE_INT, 1, _VNRW, "Act on IGMPv2 queries and reports"),
    Oid(
        "net.inet.igmp.legacysupp",
        CTLTYPE_INT,
        0,
        _VNRW,
        "Let v1/v2 reports from others suppress our v3 responses",
    ),
    # sysctl_igmp_default_version: only 1..3 (IGMP_VERSION_1..3).
    Oid(
        "net.inet.igmp.default_version",
        CTLTYPE_INT,
        3,
        _VNRW,
        "IGMP version newly attached interfaces start in",
        lo=1,
        hi=3,
    ),
    # sysctl_igmp_gsr: -1..59, else EINVAL.
    Oid(
        "net.inet.igmp.gsrdelay",
        CTLTYPE_INT,
        10,
        _VNRW,
        "Seconds between answered IGMPv3 group-and-source queries",
        lo=-1,
        hi=59,
    ),
)

# --------------------------------------------------------------------------
# sys/net/netisr.c (global)
# --------------------------------------------------------------------------

# netisr_dispatch_table minus "default", which the handler refuses.
_NETISR_POLICIES = ("deferred", "hybrid", "direct")
_NETISR_POLICY_MAXSTR = 20


def _check_netisr_dispatch(ctx: Ctx, value: Any) -> None:
    """sysctl_netisr_dispatch_policy: netisr_dispatch_policy_from_str()
    knows default/deferred/hybrid/direct, and the handler then refuses
    "default" too; anything else (or too long for its buffer) is EINVAL."""
    s = str(value)
    if len(s.encode()) >= _NETISR_POLICY_MAXSTR or s not in _NETISR_POLICIES:
        raise _einval("net.isr.dispatch")


def _set_netisr_dispatch(ctx: Ctx, value: Any) -> None:
    """netisr_dispatch_policy_compat(): refresh the read-only compat views.
    (At boot without the tunable it is never called, so both stay 0.)"""
    sc = _ksc(ctx)
    sc["net.isr.direct"] = 0 if value == "deferred" else 1
    sc["net.isr.direct_force"] = 1 if value == "direct" else 0
    ctx.kernel.isr_deferred = value == "deferred"


def _set_netisr_direct(ctx: Ctx, value: Any) -> None:
    """The old knob: 0 queues received packets for the netisr."""
    ctx.kernel.isr_deferred = not value


def _netisr_boot_fixup(ctx: Ctx, value: Any) -> None:
    """netisr_init()/netisr_start()/netisr_register(ip) after the loader
    tunables: maxthreads forced into 1..mp_ncpus, defaultqlimit cut to
    maxqlimit, one thread per allowed CPU, and the IP queue registered with
    the default limit."""
    sc = _ksc(ctx)
    maxthreads = int(sc["net.isr.maxthreads"])
    maxthreads = max(1, min(maxthreads, MP_NCPUS))
    sc["net.isr.maxthreads"] = maxthreads
    sc["net.isr.numthreads"] = maxthreads
    maxq = int(sc["net.isr.maxqlimit"])
    defq = min(int(sc["net.isr.defaultqlimit"]), maxq)
    sc["net.isr.defaultqlimit"] = defq
    sc["net.inet.ip.intr_queue_maxlen"] = defq


_NETISR = (
    Oid(
        "net.isr.dispatch",
        CTLTYPE_STRING,
        "direct",
        CTLFLAG_RW | CTLFLAG_TUN,
        "How inbound packets reach protocols: deferred, hybrid or direct",
        check=_check_netisr_dispatch,
        set=_set_netisr_dispatch,
    ),
    Oid(
        "net.isr.direct_force",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Old-style view: 1 when the policy is direct",
    ),
    Oid(
        "net.isr.direct",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Old-style view: 1 when the policy is hybrid or direct",
    ),
    # Compiled-in -1; netisr_init() turns anything below 1 into 1, so the
    # value read back on the fixed one-CPU machine is 1.
    Oid(
        "net.isr.maxthreads",
        CTLTYPE_INT,
        1,
        CTLFLAG_RDTUN,
        "Upper bound on netisr worker threads (one per CPU at most)",
        set=_netisr_boot_fixup,
    ),
    Oid("net.isr.bindthreads", CTLTYPE_INT, 0, CTLFLAG_RDTUN, "Pin each netisr worker to its CPU"),
    Oid(
        "net.isr.maxqlimit",
        CTLTYPE_UINT,
        10240,
        CTLFLAG_RDTUN,
        "Ceiling for any protocol's per-CPU netisr queue length",
        set=_netisr_boot_fixup,
    ),
    Oid(
        "net.isr.defaultqlimit",
        CTLTYPE_UINT,
        256,
        CTLFLAG_RDTUN,
        "Queue length given to protocols that do not choose their own",
        set=_netisr_boot_fixup,
    ),
    Oid(
        "net.isr.maxprot",
        CTLTYPE_UINT,
        16,
        CTLFLAG_RD,
        "Number of protocol slots compiled into netisr",
    ),
    Oid(
        "net.isr.numthreads",
        CTLTYPE_UINT,
        MP_NCPUS,
        CTLFLAG_RD,
        "netisr worker threads actually running",
    ),
)

# --------------------------------------------------------------------------
# sys/net/route.c (global)
# --------------------------------------------------------------------------

_RT_MAXFIBS = 16


def _set_fibs(ctx: Ctx, value: Any) -> None:
    """route_init(): the tunable is forced into 1..RT_MAXFIBS (0 -> 1)."""
    sc = _ksc(ctx)
    n = int(sc["net.fibs"])
    sc["net.fibs"] = 1 if n == 0 else min(n, _RT_MAXFIBS)


def _get_my_fibnum(ctx: Ctx) -> Value:
    """sysctl_my_fibnum: the calling process's p_fibnum."""
    return _attr(ctx.kernel, "proc_fibnum")


_ROUTE = (
    # Declared CTLFLAG_RD but fetched with TUNABLE_INT("net.fibs"), so it is
    # settable at boot only: RDTUN in this framework. Default RT_NUMFIBS = 1
    # (no ROUTETABLES option in GENERIC).
    Oid(
        "net.fibs",
        CTLTYPE_UINT,
        1,
        CTLFLAG_RDTUN,
        "Number of routing tables (FIBs), chosen at boot",
        set=_set_fibs,
    ),
    Oid(
        "net.add_addr_allfibs",
        CTLTYPE_UINT,
        1,
        CTLFLAG_RW,
        "Install routes for new interface addresses in every FIB",
    ),
    Oid(
        "net.my_fibnum",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "FIB of the process reading this",
        get=_get_my_fibnum,
    ),
)

# --------------------------------------------------------------------------
# sys/net/if.c
# --------------------------------------------------------------------------

_IF = (
    Oid(
        "net.link.ifqmaxlen",
        CTLTYPE_INT,
        50,
        CTLFLAG_RDTUN,
        "Send queue length for drivers that leave it to the stack",
    ),
)

# --------------------------------------------------------------------------
# sys/kern/uipc_socket.c
# --------------------------------------------------------------------------

_UIPC_SOCKET = (
    # CTLTYPE_UINT; sysctl_somaxconn refuses < 1 and > USHRT_MAX.
    Oid(
        "kern.ipc.somaxconn",
        CTLTYPE_UINT,
        128,
        CTLFLAG_RW,
        "Longest accept queue listen(2) will grant",
        lo=1,
        hi=65535,
    ),
)

# --------------------------------------------------------------------------
# sys/kern/uipc_sockbuf.c
# --------------------------------------------------------------------------

_MSIZE = 256
_MCLBYTES = 2048

_UIPC_SOCKBUF = (
    # sysctl_handle_sb_max refuses less than MSIZE + MCLBYTES. The kernel also
    # derives sb_max_adj = sb_max * MCLBYTES / (MSIZE + MCLBYTES) from it.
    Oid(
        "kern.ipc.maxsockbuf",
        CTLTYPE_ULONG,
        2 * 1024 * 1024,
        CTLFLAG_RW,
        "Largest socket buffer a socket may ask for",
        lo=_MSIZE + _MCLBYTES,
    ),
)

# --------------------------------------------------------------------------
# sys/kern/kern_mbuf.c
# --------------------------------------------------------------------------


def _check_nmbclusters(ctx: Ctx, value: Any) -> None:
    """sysctl_nmbclusters: the limit can only be raised; a value not above
    the current one (equal included) is EINVAL."""
    if value <= int(_ksc(ctx)["kern.ipc.nmbclusters"]):
        raise _einval("kern.ipc.nmbclusters")


def _set_nmbclusters(ctx: Ctx, value: Any) -> None:
    """nmbclusters_change -> ipq_zone_change() (ip_input.c): a positive
    maxfragpackets below nmbclusters / 32 is raised to it."""
    if ctx.vnet is None:
        return
    sc = _vsc(ctx)
    cur = int(sc["net.inet.ip.maxfragpackets"])
    floor = int(value) // 32
    if 0 < cur < floor:
        sc["net.inet.ip.maxfragpackets"] = floor


_KERN_MBUF = (
    # CTLTYPE_INT with format "IU". Also a loader tunable (TUNABLE_INT_FETCH),
    # but the oid itself is declared plain CTLFLAG_RW.
    Oid(
        "kern.ipc.nmbclusters",
        CTLTYPE_INT,
        NMBCLUSTERS,
        CTLFLAG_RW,
        "Upper limit on mbuf clusters; may only grow",
        check=_check_nmbclusters,
        set=_set_nmbclusters,
    ),
)

# --------------------------------------------------------------------------
# sys/kern/kern_jail.c (the defaults for jails; global)
# --------------------------------------------------------------------------


def _set_jail_bool(name: str) -> Setter:
    def hook(ctx: Ctx, value: Any) -> None:
        """sysctl_jail_default_allow: any non-zero value sets the flag, so
        the value read back is 0 or 1."""
        _ksc(ctx)[name] = 1 if value else 0

    return hook


_KERN_JAIL = (
    # A proc handler answering for the calling process: 0 on the host (a
    # jail's own reads go through Jail.sysctl, which answers 1).
    Oid(
        "security.jail.jailed",
        CTLTYPE_INT,
        0,
        CTLFLAG_RD,
        "Whether the caller is in a jail",
        get=lambda ctx: 0,
    ),
    Oid(
        "security.jail.jail_max_af_ips",
        CTLTYPE_UINT,
        255,
        CTLFLAG_RW,
        "Most addresses of one family a jail may be given",
    ),
    Oid(
        "security.jail.allow_raw_sockets",
        CTLTYPE_INT,
        0,
        CTLFLAG_RW,
        "Let root inside new jails open raw sockets",
        set=_set_jail_bool("security.jail.allow_raw_sockets"),
    ),
    # Inverted view of PR_ALLOW_SOCKET_AF, which is off by default.
    Oid(
        "security.jail.socket_unixiproute_only",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW,
        "Confine new jails to local, IPv4/IPv6 and routing sockets",
        set=_set_jail_bool("security.jail.socket_unixiproute_only"),
    ),
)


OIDS: tuple[Oid, ...] = (
    *_IP_INPUT,
    *_RAW_IP,
    *_IP_OPTIONS,
    *_IP_FASTFWD,
    *_IP_ID,
    *_IN_RMX,
    *_IN,
    *_IN_GIF,
    *_IN_PCB,
    *_IN_MCAST,
    *_IP_ICMP,
    *_UDP_USRREQ,
    *_IGMP,
    *_NETISR,
    *_ROUTE,
    *_IF,
    *_UIPC_SOCKET,
    *_UIPC_SOCKBUF,
    *_KERN_MBUF,
    *_KERN_JAIL,
)


#: Leaves that exist only on one side of a profile switch: name -> (switch,
#: the switch value under which the leaf exists).
PROFILE_NODES: dict[str, tuple[str, bool]] = {
    # ip_id.c and the random_id knob arrived together (seed 002:977).
    "net.inet.ip.random_id": ("ip_random_id_sysctl", True),
    "net.inet.ip.random_id_period": ("ip_random_id_sysctl", True),
    "net.inet.ip.random_id_collisions": ("ip_random_id_sysctl", True),
    "net.inet.ip.random_id_total": ("ip_random_id_sysctl", True),
    "net.inet.ip.process_options": ("process_options_sysctl", True),
    # route.c's FIB leaves came with multiple FIBs (seed 001:233).
    "net.fibs": ("multiple_fibs", True),
    "net.my_fibnum": ("multiple_fibs", True),
    "net.add_addr_allfibs": ("multiple_fibs", True),
    # igmp.c's knobs came with the IGMPv3 host (seed 000:344).
    **{
        "net.inet.igmp." + n: ("igmpv3", True)
        for n in (
            "recvifkludge",
            "sendra",
            "sendlocal",
            "v1enable",
            "v2enable",
            "legacysupp",
            "default_version",
            "gsrdelay",
        )
    },
    "net.inet.ip.mcast.loop": ("ip_mcast_loop_sysctl", True),
    # netisr2's limits and policy (seed 002:71); the old netisr had only
    # net.isr.direct (read-write) and its dispatch counters.
    **{
        "net.isr." + n: ("netisr_workstreams", True)
        for n in (
            "dispatch",
            "direct_force",
            "maxthreads",
            "bindthreads",
            "maxqlimit",
            "defaultqlimit",
            "maxprot",
            "numthreads",
        )
    },
}

# The old netisr (before seed 002:71): net.isr.direct is the dispatch knob
# (1 = direct), and the IP queue limit is a plain int over ifq_maxlen,
# IFQ_MAXLEN (50) at boot, with no upper bound.
_OLD_NETISR = {
    "net.isr.direct": Oid(
        "net.isr.direct",
        CTLTYPE_INT,
        1,
        CTLFLAG_RW | CTLFLAG_TUN,
        "1: hand packets to the protocol at once; 0: queue them for the netisr",
        set=_set_netisr_direct,
    ),
    "net.inet.ip.intr_queue_maxlen": Oid(
        "net.inet.ip.intr_queue_maxlen",
        CTLTYPE_INT,
        50,
        CTLFLAG_RW,
        "Length limit of the IP input queue",
    ),
}

# Before seed 003:364 somaxconn was a plain int leaf with no handler.
_SOMAXCONN_SIGNED = Oid(
    "kern.ipc.somaxconn",
    CTLTYPE_INT,
    128,
    CTLFLAG_RW,
    "Longest accept queue listen(2) will grant",
)


def profile_oids(profile: Any, oids: tuple[Oid, ...] = OIDS) -> tuple[Oid, ...]:
    """The leaves a kernel of ``profile`` has: ``oids`` without the ones its
    switches rule out (PROFILE_NODES), with profile-specific replacements."""
    out: list[Oid] = []
    for o in oids:
        gate = PROFILE_NODES.get(o.name)
        if gate is not None and bool(getattr(profile, gate[0])) != gate[1]:
            continue
        if o.name == "kern.ipc.somaxconn" and not profile.somaxconn_unsigned:
            o = _SOMAXCONN_SIGNED
        if o.name == "net.inet.ip.check_interface" and not profile.check_interface_default_off:
            o = replace(o, default=1)  # strong ES by default before seed 002:871
        if not profile.netisr_workstreams:
            o = _OLD_NETISR.get(o.name, o)
        out.append(o)
    return tuple(out)
