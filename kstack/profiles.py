"""Named FreeBSD versions and the behaviour switches that changed across them.

Reproducing a bug report means running the same test under the profile
before the fix and the profile after it. Each switch names the change that
flipped it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# How a raw socket sees ip_len / ip_off (rip_input):
RAW_HDR_9 = "9"  # ip_len = payload only, ip_len/ip_off host order (FreeBSD <= 9.x)
RAW_HDR_10 = "10"  # whole-datagram ip_len, ip_len/ip_off host order (10.x)
RAW_HDR_11 = "11"  # header untouched, network order (11.0 and later)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    # Raw-socket header convention; see RAW_HDR_*. FreeBSD 10 stopped ip_input
    # from deducting the header length (2012-10-22, head) and kept headers in
    # network order inside the stack the next day; FreeBSD 11 hands raw
    # readers the header as received.
    # Commit message ("...deducted in ip_input() in preparation for protocols interested only
    # in the payload. On raw sockets the IP header should be delivered as it
    # at came in ... except for the byte order swaps"); the 11.0 step is the
    # ip(4) BUGS entry "Before FreeBSD 11.0 ... host byte order".
    # Reproduced by conformance/regressions/test_raw_ip_header.py.
    raw_ip_header: str = RAW_HDR_9
    # icmp_error() clears ip_off in the outer header: only from 9.3 on
    # (ip_icmp.c r264222 era); 9.0/9.1 copy DF/MF from the offending packet.
    icmp_error_clears_ip_off: bool = False
    # PRC_IFUP re-adds the self-pointing loopback routes of an interface's
    # addresses after a down/up cycle (the fix for loopback routes that
    # disappeared, in 8.x before 9.0).
    ifup_restores_loopback_route: bool = True
    # Permanent ARP entries survive an interface down/up cycle while the
    # covering address stays configured (the lltable_prefix_free fix, 8.x).
    arp_static_survives_ifdown: bool = True
    # sorflush() zeroed the whole receive sockbuf, sb_state included, so
    # shutdown(SHUT_RD) lost SBS_CANTRCVMORE and a later read waited instead
    # of returning EOF. Fixed in 2006 (sorflush keeps sb_state); every
    # named profile has the fix, derive() a profile to reproduce the bug.
    # Commit message ("sb_state shouldn't be erased, when socket buffer is flushed by
    # sorflush()"). Reproduced by conformance/regressions/test_sorflush_state.py.
    sorflush_clears_state: bool = False
    # icmp_input strips the options of a received ICMP error (unreachable,
    # source quench, time exceeded, parameter problem) before handing it to
    # the protocols and raw sockets, which then see a 20-byte outer header.
    # Arrived in head in 2016 (believed r298800, unverified), first in 11.0.
    icmp_error_input_strips_options: bool = False
    # net.inet.ip.sourceroute, accept_sourceroute and process_options are
    # per virtual network stack (VNET) instead of machine-wide: head r271628
    # (2014-09-15), merged to stable/10 as r272869, first in 10.1.
    ip_options_sysctls_per_vnet: bool = False
    # rip_input hands IGMP to a raw socket that has multicast options even
    # when the socket did not join the packet's group: routing daemons need
    # every report and query. The fix (2009, "omit the imo filter check if
    # the proto is IGMP") is in 9.0; before it such a socket saw IGMP only
    # for groups it had joined, counting the rest as ips_notmember.
    # Reproduced by conformance/igmp/test_raw_igmp.py.
    raw_igmp_ignores_membership: bool = True
    # A jailed raw socket with IP_HDRINCL may send from any of its jail's
    # addresses (checked by prison_check_ip4, EADDRNOTAVAIL otherwise), so
    # that ping -S works with a secondary address. Before that change
    # (2009, "allow all possible jail IPs as source address rather than
    # forcing the primary") the source was overwritten with the jail's
    # primary address. Reproduced by conformance/regressions/test_jail_changes.py.
    raw_hdrincl_any_jail_source: bool = True
    # jailed_without_vnet(): a vnet jail is not an IP jail. Before it
    # (2009, "If you are running with a vnet ... those will return true and
    # defer you to classic IP-jails handling") a vnet jail was denied what
    # IP jails are denied: a routing-socket RTM_GET of a network route
    # answered ESRCH. Reproduced by conformance/regressions/test_jail_changes.py.
    jailed_without_vnet: bool = True
    # The next-hop MTU of a needfrag sent while forwarding (ip_forward on
    # EMSGSIZE). Three fixes, all before 9.0 (revisions unverified); a
    # derived profile turns one off to reproduce the report it fixed.
    # PR kern/122338: the route's MTU counts, capped by the egress interface
    # MTU ("Make sure to only use the minimum of the two"); before it only
    # the interface MTU was reported and PMTU discovery broke behind a route
    # with a smaller MTU.
    needfrag_route_mtu: bool = True
    # The egress address (ia) is looked up for every forwarded packet, also
    # a source-routed one or one whose destination a firewall rewrote
    # ("Thus, we always set ia to the outgoing interface"); before, such a
    # packet had none and its needfrag carried a guessed MTU.
    forward_always_sets_ia: bool = True
    # PR kern/91412: with neither a route MTU nor an egress address, the
    # guess is the plateau below the packet's length (ip_next_mtu); before,
    # the fixed minimum IP_MSS, 576.
    needfrag_mtu_plateau: bool = True
    # ip_output's "again" label after a pfil hook changed the destination:
    # from 9.3 on (between 9.1 and 9.3; revision unverified) it starts from
    # the route cache's own destination. In 9.0/9.1 "dst" still points at
    # the gateway of the route just used, so the new destination is written
    # into that route's gateway and the old destination is looked up again.
    ip_output_again_resets_dst: bool = False
    # ipfw fwd (a pfil next hop, M_FASTFWD_OURS) works without options
    # IPFIREWALL_FORWARD (M_IP_NEXTHOP; head October 2012, in 9.3).
    ipfw_fwd_always: bool = False
    # ARP's kernel log lines as reworded for 9.1 (lower priorities, new
    # wording) and net.link.ether.inet.log_arp_permanent_modify honoured;
    # merged to stable/9 in March 2012 (r233265), after 9.0.
    arp_log_rework: bool = False
    # getsockopt(SO_PROTOCOL) (alias SO_PROTOTYPE): the socket's protocol.
    # Added to head in February 2012, after 9.0, and in 9.1; 9.0 answers
    # ENOPROTOOPT.
    so_protocol: bool = False
    # IP_RECVTOS: the TOS byte as a control message on UDP and raw sockets
    # (head 2012-06-12, "Add a IP_RECVTOS socket option ... Much like
    # IP_RECVTTL does for TTL", MFC after 3 days: in 9.1). 9.0 answers
    # ENOPROTOOPT.
    ip_recvtos: bool = False
    # udp_output takes an IP_TOS control message (one byte) for one
    # datagram. Absent in head of February 2011 and in mid-2012 project
    # branches, present in 9.1 (revision unverified); 9.0's udp_output
    # answers it ENOPROTOOPT like any unknown control message.
    udp_tos_cmsg: bool = False
    # Seed 000:344: the IGMPv3 host (state-change and current-state reports,
    # source lists, compatibility modes). False = the IGMPv1/v2-only host
    # before it: queries of any version answered with a v1/v2 report, the
    # nine-counter struct igmpstat, no net.inet.igmp.* tunables.
    igmpv3: bool = True
    # Seed 001:138: net.inet.ip.mcast.loop decides loopback for senders
    # without multicast options and seeds IP_MULTICAST_LOOP of new option
    # blocks. False = no such sysctl; loopback is always on by default.
    ip_mcast_loop_sysctl: bool = True
    # Seed 001:460: a join with no interface and no route for the group falls
    # back to the first multicast-capable, non-loopback interface with an
    # IPv4 address. False = EADDRNOTAVAIL.
    mcast_join_default_ifp: bool = True
    # Seed 001:471: the in_mcast.c socket options (ip_mreqn, RFC 3678 source
    # filters, per-socket group filtering on input). False = the ip_output.c
    # ip_setmoptions that came before: in_addr/ip_mreq only, every
    # source-filter option ENOPROTOOPT, no per-socket filter on delivery.
    mcast_source_filters: bool = True
    # Seed 002:71: netisr2 (workstreams, net.isr.* limits, queue limit 256).
    # False = the single netisr with IFQ_MAXLEN (50) queues.
    netisr_workstreams: bool = True
    # Seed 002:784: icmp_error quotes the whole TCP header (options included).
    # False = a TCP segment is quoted as IP header + 8 bytes.
    icmp_quote_whole_tcp_header: bool = True
    # Seed 002:812: ip_reass holds the first fragment of a new queue without
    # trying to reassemble it, and maxfragsperpacket = 0 drops up front.
    reass_hold_first_fragment: bool = True
    # Seed 000:296: IP_BINDANY is an IPPROTO_IP option always compiled in,
    # gated by PRIV_NETINET_BINDANY. False = before it: ENOPROTOOPT.
    ip_bindany: bool = True
    # Seed 000:358: prison_check_ip4/prison_local_ip4/prison_remote_ip4
    # return EADDRNOTAVAIL or EAFNOSUPPORT and callers pass it on.
    # False = callers answer a fixed EADDRNOTAVAIL (bind) or EINVAL.
    prison_errno_passthrough: bool = True
    # Seed 000:413: a jail holds several IPv4 addresses, or none.
    # False = exactly one IPv4 address per jail.
    jail_multi_ip: bool = True
    # Seed 001:233: several FIBs (net.fibs, SO_SETFIB, setfib). False =
    # one routing table, SO_SETFIB is ENOPROTOOPT, no net.fibs.
    multiple_fibs: bool = True
    # Seed 002:871: net.inet.ip.check_interface defaults to 0 (weak ES).
    # False = it defaults to 1.
    check_interface_default_off: bool = True
    # Seed 002:977: net.inet.ip.random_id exists. False = no such sysctl,
    # IDs always sequential.
    ip_random_id_sysctl: bool = True
    # Seed 002:1036: net.inet.ip.process_options exists. False = no such
    # sysctl, options always processed.
    process_options_sysctl: bool = True
    # Seed 003:364: kern.ipc.somaxconn is unsigned and refuses < 1 and
    # > 65535. False = any int is accepted.
    somaxconn_unsigned: bool = True
    # Seed 002:447 (PRs kern/123621, kern/124540; revision unverified): a
    # forwarded packet reports an RTM_MISS on routing sockets even when its
    # route exists. True = that bug; False = only failed lookups report.
    rtm_miss_per_forward: bool = False
    # Seed 000:137 (revision unverified): the size probe of the pcb list
    # sysctls pads the count by max(n/8, 10) entries. False = n/8 only.
    pcblist_slack_min10: bool = True
    # Seed 003:10 (git 49f287f8c5, 2008-05-15; svn revision unverified):
    # struct xsockbuf carries sb_mcnt and sb_ccnt. False = the older layout
    # without them (xsockbuf 28 bytes, xinpcb 536).
    xsockbuf_mbuf_counts: bool = True
    # Seed 001:149 (head, December 2008, before 8.0; revision unverified):
    # ARP entries live in per-interface L2 tables. False = the 7.x model:
    # each entry is a host route cloned from its interface route (UHLW,
    # link-level gateway), seen by route get, netstat -r and RTM_GET.
    separate_l2_table: bool = True
    # Seed 003:202 (no PR; revision unverified, 2008): sorflush() marks the
    # receive side unable to receive more, waking readers asleep in
    # soreceive, before it takes the sockbuf lock (and takes it without
    # letting a signal interrupt it). False = the older order: lock first,
    # so shutdown(SHUT_RD) waits behind a reader that holds the lock while
    # it sleeps (soreceive_generic: raw sockets, UDP with MSG_PEEK).
    # Reproduced by conformance/regressions/test_pending_reader.py.
    sorflush_wakes_reader: bool = True
    # Host byte order of the emulated machine (amd64 by default).
    big_endian: bool = False

    def derive(self, name: str, **switches: object) -> Profile:
        """A copy with some switches changed (for before/after reproductions)."""
        return replace(self, name=name, **switches)  # type: ignore[arg-type]


PROFILES: dict[str, Profile] = {}


def _add(p: Profile) -> Profile:
    PROFILES[p.name] = p
    return p


FREEBSD_9_0 = _add(Profile("9.0", "FreeBSD 9.0-RELEASE (stable/9, January 2012), GENERIC amd64"))
# Each later profile starts from the one before it and adds what changed.
FREEBSD_9_1 = _add(
    FREEBSD_9_0.derive(
        "9.1",
        description="FreeBSD 9.1-RELEASE, GENERIC amd64",
        arp_log_rework=True,
        so_protocol=True,
        ip_recvtos=True,
        udp_tos_cmsg=True,
    )
)
FREEBSD_9_3 = _add(
    FREEBSD_9_1.derive(
        "9.3",
        description="FreeBSD 9.3-RELEASE, GENERIC amd64",
        icmp_error_clears_ip_off=True,
        ip_output_again_resets_dst=True,
        ipfw_fwd_always=True,
    )
)
FREEBSD_10_0 = _add(
    FREEBSD_9_3.derive(
        "10.0",
        description="FreeBSD 10.0: raw sockets see the header as received, "
        "with ip_len/ip_off byte-swapped",
        raw_ip_header=RAW_HDR_10,
    )
)
_add(
    FREEBSD_10_0.derive(
        "11.0",
        description="FreeBSD 11.0: raw sockets see the header untouched, network order",
        raw_ip_header=RAW_HDR_11,
        icmp_error_input_strips_options=True,
        ip_options_sysctls_per_vnet=True,
    )
)
_add(
    FREEBSD_9_0.derive(
        "8.0-prefix",
        description="FreeBSD 8 before the down/up fixes: loopback routes and "
        "static ARP entries are lost",
        ifup_restores_loopback_route=False,
        arp_static_survives_ifdown=False,
    )
)


#: One line per behaviour switch, for ``kstack profiles --switches`` and
#: error messages.
SWITCHES: dict[str, str] = {
    "raw_ip_header": "what raw sockets see of ip_len/ip_off: '9' (payload length, host "
    "order), '10' (whole length, host order) or '11' (untouched)",
    "icmp_error_clears_ip_off": "icmp_error() clears ip_off in the error's header (9.3 on)",
    "ifup_restores_loopback_route": "an interface coming back up re-adds the loopback "
    "routes of its addresses (fixed before 9.0)",
    "arp_static_survives_ifdown": "permanent ARP entries survive an interface down/up "
    "(fixed before 9.0)",
    "sorflush_clears_state": "sorflush() also wipes sb_state, losing SBS_CANTRCVMORE "
    "(the bug fixed in 2006)",
    "icmp_error_input_strips_options": "a received ICMP error loses its IP options before "
    "protocols and raw sockets see it (11.0 on)",
    "ip_options_sysctls_per_vnet": "net.inet.ip.sourceroute, accept_sourceroute and "
    "process_options are per vnet (10.1 on)",
    "raw_igmp_ignores_membership": "raw sockets with multicast options receive IGMP "
    "whatever groups they joined (the 2009 fix; 0 = filtered like other protocols)",
    "raw_hdrincl_any_jail_source": "a jailed raw socket with IP_HDRINCL may send from any "
    "jail address (the 2009 change; 0 = the source is forced to the jail's primary)",
    "jailed_without_vnet": "vnet jails are not IP jails (the 2009 fix; 0 = route get of a "
    "network route from a vnet jail is ESRCH as in an IP jail)",
    "needfrag_route_mtu": "a forwarded needfrag reports min(route MTU, interface MTU) "
    "(PR kern/122338; 0 = the interface MTU only)",
    "forward_always_sets_ia": "ip_forward looks up the egress address even for source-routed "
    "or firewall-rewritten packets (0 = it does not, and their needfrag MTU is a guess)",
    "needfrag_mtu_plateau": "a needfrag with no known egress MTU reports the plateau below the "
    "packet length (PR kern/91412; 0 = the fixed 576)",
    "ip_output_again_resets_dst": "after a pfil hook changed the destination, ip_output "
    "routes it afresh (9.3 on; 0 = the 9.0 bug: the gateway of the route used is overwritten)",
    "ipfw_fwd_always": "pfil next hops and local delivery work without options "
    "IPFIREWALL_FORWARD (9.3 on)",
    "arp_log_rework": "ARP log lines as reworded for 9.1, and log_arp_permanent_modify "
    "honoured (9.1 on)",
    "so_protocol": "getsockopt(SO_PROTOCOL) answers the protocol (9.1 on; 0 = ENOPROTOOPT)",
    "ip_recvtos": "IP_RECVTOS exists: the TOS as a control message (9.1 on; 0 = ENOPROTOOPT)",
    "udp_tos_cmsg": "sendmsg on UDP takes an IP_TOS control message (9.1 on; 0 = ENOPROTOOPT)",
    "igmpv3": "the IGMPv3 host (seed 000:344; 0 = a v1/v2-only host answering every "
    "query with a v1/v2 report)",
    "ip_mcast_loop_sysctl": "net.inet.ip.mcast.loop exists (seed 001:138; 0 = no sysctl, "
    "loopback on by default)",
    "mcast_join_default_ifp": "a join with no interface and no route uses the first "
    "multicast interface (seed 001:460; 0 = EADDRNOTAVAIL)",
    "mcast_source_filters": "in_mcast.c options: ip_mreqn, source filters, per-socket "
    "group filter (seed 001:471; 0 = ip_mreq only, source options ENOPROTOOPT)",
    "netisr_workstreams": "netisr2: queue limit 256 and net.isr.* limits (seed 002:71; "
    "0 = IFQ_MAXLEN 50)",
    "icmp_quote_whole_tcp_header": "icmp_error quotes the whole TCP header (seed 002:784; "
    "0 = IP header + 8 bytes)",
    "reass_hold_first_fragment": "ip_reass just holds a new queue's first fragment and "
    "drops up front when maxfragsperpacket is 0 (seed 002:812)",
    "ip_bindany": "IP_BINDANY exists (seed 000:296; 0 = ENOPROTOOPT)",
    "prison_errno_passthrough": "jail address checks pass on the prison's errno (seed "
    "000:358; 0 = a fixed EADDRNOTAVAIL/EINVAL)",
    "jail_multi_ip": "a jail may hold several IPv4 addresses or none (seed 000:413; 0 = "
    "exactly one)",
    "multiple_fibs": "several routing tables, SO_SETFIB and net.fibs (seed 001:233; 0 = one table)",
    "check_interface_default_off": "net.inet.ip.check_interface defaults to 0 (seed 002:871; "
    "0 = it defaults to 1)",
    "ip_random_id_sysctl": "net.inet.ip.random_id exists (seed 002:977; 0 = IDs always "
    "sequential, no sysctl)",
    "process_options_sysctl": "net.inet.ip.process_options exists (seed 002:1036; 0 = "
    "options always processed, no sysctl)",
    "somaxconn_unsigned": "kern.ipc.somaxconn refuses < 1 and > 65535 (seed 003:364; 0 = "
    "any int accepted)",
    "rtm_miss_per_forward": "every forwarded packet sends an RTM_MISS even over a valid "
    "route (seed 002:447, PRs kern/123621 kern/124540; 0 = only failed lookups report)",
    "pcblist_slack_min10": "pcblist size probes pad the count by max(n/8, 10) (seed 000:137; "
    "0 = n/8 only)",
    "xsockbuf_mbuf_counts": "struct xsockbuf has sb_mcnt/sb_ccnt (seed 003:10; 0 = the older "
    "layout without them)",
    "separate_l2_table": "ARP entries live in their own L2 table (seed 001:149; 0 = cloned "
    "UHLW host routes in the routing table)",
    "sorflush_wakes_reader": "shutdown(SHUT_RD) wakes a reader asleep in recv() before "
    "taking the sockbuf lock (seed 003:202; 0 = it waits behind a reader holding the lock)",
    "big_endian": "the emulated machine is big-endian (host-order fields in raw headers)",
}
_RAW_HDR_CHOICES = (RAW_HDR_9, RAW_HDR_10, RAW_HDR_11)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def switch_names() -> list[str]:
    return [f.name for f in fields(Profile) if f.name not in ("name", "description")]


def parse_profile(spec: str) -> Profile:
    """A named profile, or one derived from it: ``"9.0,sorflush_clears_state=1"``.

    The spec is ``BASE[,SWITCH=VALUE...]``; booleans take 1/0, true/false,
    yes/no or on/off. The derived profile is named after the whole spec.
    Raises ValueError naming what is wrong."""
    base_name, *items = [x.strip() for x in spec.split(",")]
    base = get_profile(base_name)
    if not items:
        return base
    known = switch_names()
    changes: dict[str, object] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        raw = raw.strip()
        if key not in known:
            raise ValueError(
                f"unknown profile switch {key!r} in {spec!r} (known: {', '.join(known)})"
            )
        if not eq:
            raise ValueError(f"profile switch {key!r} in {spec!r} needs a value: {key}=VALUE")
        if key == "raw_ip_header":
            if raw not in _RAW_HDR_CHOICES:
                raise ValueError(
                    f"raw_ip_header must be one of {', '.join(_RAW_HDR_CHOICES)}, not {raw!r}"
                )
            changes[key] = raw
        elif raw.lower() in _TRUE:
            changes[key] = True
        elif raw.lower() in _FALSE:
            changes[key] = False
        else:
            raise ValueError(f"profile switch {key!r} takes 1 or 0 (true/false), not {raw!r}")
    name = ",".join([base.name, *(f"{k}={_fmt(v)}" for k, v in changes.items())])
    return base.derive(name, description=f"{base.name} with {', '.join(items)}", **changes)


def _fmt(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def get_profile(name: str | Profile) -> Profile:
    """A Profile, a registered name, or a derived spec (see :func:`parse_profile`)."""
    if isinstance(name, Profile):
        return name
    if not isinstance(name, str):
        raise ValueError(f"a profile is a name or a Profile, not {type(name).__name__}")
    if "," in name:
        return parse_profile(name)
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown profile {name!r} (known: {known})") from None
