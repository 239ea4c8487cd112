"""The regression catalog behind ``kstack changes``.

One record per profile switch (kstack/profiles.py): the FreeBSD change it
models, where it comes from (a catalog id such as ``002:631`` names a change
message in the seed collection, ``None`` a switch that does not come from
it), the PRs and the svn revision (``"unverified"`` when it could not be
checked), the one-line behaviour before and after, and the regression test
that runs the same body on both sides. Which named profiles are on which
side is read from :data:`kstack.profiles.PROFILES`, never written down here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kstack.profiles import PROFILES, switch_names

__all__ = [
    "Change",
    "CHANGES",
    "lookup",
    "lookup_all",
    "sides",
    "as_dict",
    "format_table",
    "format_one",
]

UNVERIFIED = "unverified"


@dataclass(frozen=True, slots=True)
class Change:
    """One behaviour switch and the change it reproduces."""

    switch: str
    catalog: str | None
    prs: tuple[str, ...]
    revision: str
    subsystem: str
    before: str
    after: str
    test: str
    #: The switch value that means "the change is in" (the after side).
    after_value: object = True
    #: Anything a user should know (where the revision comes from...).
    note: str = ""
    extra_tests: tuple[str, ...] = field(default=())


def _c(*args: Any, **kw: Any) -> Change:
    return Change(*args, **kw)


R = "conformance/regressions/"

# Records, one per switch. Keep them grouped: seed switches first, in catalog
# order; then the switches that do not come from the seeds. A new switch gets
# its record in the group it belongs to.
_RECORDS: list[Change] = [
    # -- seed switches -------------------------------------------------------------
    _c(
        "raw_ip_header",
        "000:1",
        (),
        UNVERIFIED,
        "raw IP delivery",
        "raw readers see ip_len as the payload length (header deducted), ip_len/ip_off "
        "in host order",
        "raw readers see the whole datagram length (10.x); 11.0 hands over the header untouched",
        R + "test_raw_ip_header.py::test_raw_receive_header",
        after_value="10",
    ),
    _c(
        "arp_static_survives_ifdown",
        "000:116",
        (),
        UNVERIFIED,
        "ARP",
        "permanent ARP entries are flushed when their interface goes down",
        "permanent ARP entries survive down/up while an address covers them",
        "conformance/arp/test_lltable.py::test_static_arp_entry_across_down_up",
    ),
    _c(
        "raw_hdrincl_any_jail_source",
        "000:142",
        (),
        UNVERIFIED,
        "jails / raw IP",
        "a jailed IP_HDRINCL sender's source is forced to the jail's primary address",
        "any of the jail's addresses is accepted as the source (prison_check_ip4)",
        R + "test_jail_changes.py::test_hdrincl_source_in_multi_address_jail",
    ),
    _c(
        "jailed_without_vnet",
        "000:171",
        (),
        UNVERIFIED,
        "vnet jails",
        "a vnet jail is treated as an IP jail (RTM_GET of a network route is ESRCH)",
        "jailed_without_vnet(): a vnet jail acts as its own host",
        R + "test_jail_changes.py::test_vnet_jail_route_get",
    ),
    _c(
        "raw_igmp_ignores_membership",
        "000:187",
        (),
        UNVERIFIED,
        "raw IP / IGMP",
        "a raw socket with multicast options sees IGMP only for groups it joined",
        "raw sockets receive every IGMP message whatever their memberships",
        "conformance/igmp/test_raw_igmp.py::"
        "test_raw_igmp_socket_sees_reports_for_groups_it_did_not_join",
    ),
    _c(
        "ifup_restores_loopback_route",
        "000:197",
        (),
        UNVERIFIED,
        "routes (loopback)",
        "after ifconfig down/up the lo0 host routes of the interface's addresses are gone",
        "an interface coming up re-adds the loopback routes of its addresses",
        "conformance/ip_input/test_arp.py::test_loopback_route_restored_after_down_up",
    ),
    _c(
        "needfrag_route_mtu",
        "002:631",
        ("kern/122338",),
        UNVERIFIED,
        "PMTU / ICMP",
        "a forwarded needfrag reports the egress interface MTU only",
        "it reports min(route MTU, interface MTU)",
        "conformance/pmtu/test_pr_switches.py::test_pr_122338_route_mtu",
    ),
    _c(
        "forward_always_sets_ia",
        "002:641",
        (),
        UNVERIFIED,
        "forwarding / PMTU",
        "source-routed or firewall-rewritten packets get no egress address; their "
        "needfrag MTU is a guess",
        "ip_forward always looks up the egress address and reports its MTU",
        "conformance/pmtu/test_pr_switches.py::test_source_routed_needfrag",
    ),
    _c(
        "needfrag_mtu_plateau",
        "002:750",
        ("kern/91412",),
        UNVERIFIED,
        "PMTU / ICMP",
        "with no egress MTU known the needfrag reports the fixed 576",
        "it reports the plateau below the packet length (ip_next_mtu)",
        "conformance/pmtu/test_pr_switches.py::test_source_routed_needfrag",
    ),
    _c(
        "sorflush_wakes_reader",
        "003:202",
        (),
        UNVERIFIED,
        "sockets",
        "shutdown(SHUT_RD) takes the receive lock first: behind a reader asleep in "
        "soreceive_generic (raw, UDP MSG_PEEK) it waits (EAGAIN) and does nothing",
        "sorflush marks CANTRCVMORE first: the sleeping reader returns EOF, the flush follows",
        R + "test_pending_reader.py::test_shut_rd_behind_raw_reader",
        note="readers are modelled with s.recv_pending(); a UDP reader without MSG_PEEK "
        "(soreceive_dgram) holds no lock, so both sides agree there",
    ),
    _c(
        "sorflush_clears_state",
        "003:359",
        (),
        UNVERIFIED,
        "sockets",
        "sorflush() wipes sb_state: after shutdown(SHUT_RD) a read waits (EAGAIN)",
        "SBS_CANTRCVMORE survives the flush: the read returns EOF",
        R + "test_sorflush_state.py::test_read_after_shut_rd",
        after_value=False,
    ),
    # -- seed switches added with the regression catalog (000:296 ...) --------------
    _c(
        "ip_bindany",
        "000:296",
        (),
        UNVERIFIED,
        "inpcb / sockopt",
        "IP_BINDANY is not an IP option: ENOPROTOOPT",
        "IP_BINDANY always compiled in, gated by PRIV_NETINET_BINDANY (unjailed root)",
        R + "test_catalog_changes.py::test_ip_bindany",
    ),
    _c(
        "prison_errno_passthrough",
        "000:358",
        (),
        UNVERIFIED,
        "jails",
        "a jailed bind to an address outside the jail answers a fixed EINVAL",
        "callers pass on the prison's errno (EADDRNOTAVAIL, EAFNOSUPPORT)",
        R + "test_catalog_changes.py::test_jailed_bind_errno",
    ),
    _c(
        "jail_multi_ip",
        "000:413",
        (),
        UNVERIFIED,
        "jails",
        "a jail has exactly one IPv4 address",
        "a jail holds several IPv4 addresses, or none (no IPv4 networking)",
        R + "test_catalog_changes.py::test_jail_addresses",
    ),
    _c(
        "multiple_fibs",
        "001:233",
        (),
        "r178888",
        "FIBs (setfib)",
        "one routing table: no net.fibs, SO_SETFIB is ENOPROTOOPT, no setfib(2)",
        "up to 16 FIBs chosen per process (setfib) or per socket (SO_SETFIB)",
        R + "test_catalog_changes.py::test_fibs",
        note="r178888 is the revision a later head commit names when it extends the FIBs to IPv6",
    ),
    _c(
        "check_interface_default_off",
        "002:871",
        (),
        UNVERIFIED,
        "ip_input",
        "net.inet.ip.check_interface defaults to 1 (strong ES)",
        "it defaults to 0 (weak ES)",
        R + "test_ip_sysctl_changes.py::test_check_interface_default",
    ),
    _c(
        "ip_random_id_sysctl",
        "002:977",
        (),
        UNVERIFIED,
        "IP ID",
        "IP IDs are always sequential; no net.inet.ip.random_id",
        "net.inet.ip.random_id (default 0) switches to random IDs",
        R + "test_ip_sysctl_changes.py::test_random_id_sysctl",
    ),
    _c(
        "process_options_sysctl",
        "002:1036",
        (),
        UNVERIFIED,
        "IP options",
        "IP options are always processed; no net.inet.ip.process_options",
        "process_options: 0 pass untouched, 1 process, 2 refuse with ICMP filter-prohibited",
        R + "test_ip_sysctl_changes.py::test_process_options_sysctl",
    ),
    _c(
        "somaxconn_unsigned",
        "003:364",
        (),
        UNVERIFIED,
        "sockets (sysctl)",
        "kern.ipc.somaxconn takes any int",
        "it refuses values below 1 or above 65535 (EINVAL)",
        R + "test_ip_sysctl_changes.py::test_somaxconn_bounds",
    ),
    # -- routing socket (002:447) --------------------------------------------------
    _c(
        "rtm_miss_per_forward",
        "002:447",
        ("kern/123621", "kern/124540", "kern/122338"),
        UNVERIFIED,
        "routing socket",
        "every forwarded packet sends an RTM_MISS to routing sockets, even over a valid route",
        "no RTM_MISS for packets forwarded over a valid route",
        R + "test_rtm_miss.py::test_rtm_miss_per_forwarded_packet",
        after_value=False,
    ),
    # -- pcb lists (000:137, 003:10) -----------------------------------------------
    _c(
        "pcblist_slack_min10",
        "000:137",
        (),
        UNVERIFIED,
        "sockets (pcblist sysctl)",
        "the size probe of a pcb list adds n/8 entries of slack (none below 8 sockets)",
        "it adds max(n/8, 10) entries",
        R + "test_pcblist_changes.py::test_pcblist_size_probe_slack",
    ),
    _c(
        "xsockbuf_mbuf_counts",
        "003:10",
        (),
        UNVERIFIED,
        "sockets (pcblist sysctl)",
        "struct xsockbuf has sb_mbcnt and sb_mbmax but no mbuf or cluster counts",
        "xsockbuf also exports sb_mcnt and sb_ccnt, the mbufs and clusters in use (netstat -x)",
        R + "test_pcblist_changes.py::test_xsockbuf_mbuf_counts",
        note="the git history has it as 49f287f8c5 (2008-05-15); its svn number is unverified",
    ),
    # -- ARP and the routing table (001:149) ---------------------------------------
    _c(
        "separate_l2_table",
        "001:149",
        (),
        UNVERIFIED,
        "ARP / routing table",
        "an ARP entry is a UHLW host route cloned from its UC interface route: route get, "
        "netstat -r and RTM_GET show it, routing sockets get its RTM_ADD",
        "ARP entries live in a per-interface L2 table; the routing table holds only routes",
        R + "test_l2_table.py::test_resolved_neighbour_is_a_cloned_route",
        note="seed 002:295 is the same change; head, December 2008, first in 8.0 (the git "
        "history has it as f5757453dc, believed r186119)",
        extra_tests=(
            R + "test_l2_table.py::test_cloned_route_expires_silently",
            R + "test_l2_table.py::test_rtm_delete_of_the_neighbour",
        ),
    ),
    # -- multicast, netisr, ICMP, reassembly (000:344, 001:138, 001:460, 001:471,
    #    002:71, 002:784, 002:812) ---------------------------------------------------
    _c(
        "igmpv3",
        "000:344",
        (),
        UNVERIFIED,
        "IGMP",
        "a v1/v2-only host: any query is answered with a v1/v2 report; nine counters",
        "the IGMPv3 host: v3 reports with source lists, compatibility modes",
        R + "test_multicast_changes.py::test_v3_general_query_answer",
        extra_tests=(R + "test_multicast_changes.py::test_igmp_counters_and_knobs",),
    ),
    _c(
        "ip_mcast_loop_sysctl",
        "001:138",
        (),
        UNVERIFIED,
        "in_mcast",
        "no net.inet.ip.mcast.loop: senders loop back to joined groups by default",
        "net.inet.ip.mcast.loop decides it and seeds IP_MULTICAST_LOOP of new sockets",
        R + "test_multicast_changes.py::test_mcast_loop_sysctl",
    ),
    _c(
        "mcast_join_default_ifp",
        "001:460",
        (),
        UNVERIFIED,
        "in_mcast",
        "a join with no interface and no route for the group fails (EADDRNOTAVAIL)",
        "it uses the first multicast-capable, non-loopback interface with an address",
        R + "test_multicast_changes.py::test_join_without_route_or_interface",
    ),
    _c(
        "mcast_source_filters",
        "001:471",
        (),
        UNVERIFIED,
        "in_mcast",
        "ip_output.c options: in_addr/ip_mreq only, source-filter options ENOPROTOOPT",
        "in_mcast.c: ip_mreqn by index, RFC 3678 source filters",
        R + "test_multicast_changes.py::test_mreqn_multicast_if_and_block_source",
    ),
    _c(
        "netisr_workstreams",
        "002:71",
        (),
        UNVERIFIED,
        "netisr",
        "one netisr, IP queue limit IFQ_MAXLEN (50), net.isr.direct picks dispatch",
        "netisr2: queue limit 256, net.isr.* limits and policy",
        R + "test_stack_queue_changes.py::test_netisr_queue_limit",
    ),
    _c(
        "icmp_quote_whole_tcp_header",
        "002:784",
        (),
        UNVERIFIED,
        "ICMP errors",
        "a TCP segment is quoted as IP header + 8 bytes",
        "the whole TCP header, options included, is quoted",
        R + "test_stack_queue_changes.py::test_time_exceeded_tcp_quote",
    ),
    _c(
        "reass_hold_first_fragment",
        "002:812",
        (),
        UNVERIFIED,
        "reassembly",
        "a new queue's fragment meets the per-datagram limit at once; "
        "maxfragsperpacket=0 is enforced only there, after the queue limit evicted",
        "the first fragment is just held; maxfragsperpacket=0 drops up front",
        R + "test_stack_queue_changes.py::test_first_fragment_with_maxfragsperpacket_zero",
    ),
    # -- switches that do not come from the seeds -----------------------------------
    _c(
        "icmp_error_clears_ip_off",
        None,
        (),
        UNVERIFIED,
        "ICMP errors",
        "icmp_error() copies DF/MF of the offending packet into the error's header",
        "the error's ip_off is cleared (9.3 on)",
        "conformance/pmtu/test_needfrag.py::test_outer_df_copied_in_9_0_cleared_in_9_3",
    ),
    _c(
        "icmp_error_input_strips_options",
        None,
        (),
        UNVERIFIED,
        "ICMP input",
        "a received ICMP error keeps its IP options for protocols and raw readers",
        "the options are stripped first: readers see a 20-byte outer header (11.0 on)",
        R + "test_ip_options_changes.py::test_raw_icmp_reader_and_outer_options",
    ),
    _c(
        "ip_options_sysctls_per_vnet",
        None,
        (),
        UNVERIFIED,
        "IP options",
        "net.inet.ip.sourceroute, accept_sourceroute and process_options are machine-wide",
        "they are per vnet (10.1 on)",
        R + "test_ip_options_changes.py::test_option_sysctls_per_vnet",
    ),
    _c(
        "ip_output_again_resets_dst",
        None,
        (),
        UNVERIFIED,
        "ip_output / pfil",
        "after a pfil hook changed the destination, the gateway of the route used is "
        "overwritten and the old destination looked up again",
        "the new destination is routed afresh (9.3 on)",
        "conformance/pfil/test_hooks.py::test_output_rewrite_after_a_gateway_route",
    ),
    _c(
        "ipfw_fwd_always",
        None,
        (),
        UNVERIFIED,
        "pfil / forwarding",
        "pfil next hops need options IPFIREWALL_FORWARD",
        "they work in every kernel (9.3 on)",
        "conformance/pfil/test_hooks.py::test_fwd_without_the_kernel_option",
    ),
    _c(
        "arp_log_rework",
        None,
        (),
        "r233265",
        "ARP",
        "9.0's ARP log wording; log_arp_permanent_modify ignored",
        "9.1's wording and priorities; log_arp_permanent_modify honoured",
        "conformance/arp/test_in_arpinput.py::test_permanent_entry_not_modified_but_request_answered",
        note="stable/9 merge revision as given by the change's switch comment",
    ),
    _c(
        "so_protocol",
        None,
        (),
        UNVERIFIED,
        "sockets",
        "getsockopt(SO_PROTOCOL) is ENOPROTOOPT",
        "it answers the socket's protocol (9.1 on)",
        "conformance/sockets/test_create.py::test_so_type_and_so_protocol",
    ),
    _c(
        "ip_recvtos",
        None,
        (),
        UNVERIFIED,
        "sockets / IP options",
        "IP_RECVTOS is ENOPROTOOPT",
        "the TOS byte arrives as a control message (9.1 on)",
        "conformance/udp/test_delivery.py::test_control_messages_order_and_payloads",
    ),
    _c(
        "udp_tos_cmsg",
        None,
        (),
        UNVERIFIED,
        "UDP",
        "an IP_TOS control message on sendmsg is ENOPROTOOPT",
        "it sets the TOS of that one datagram (9.1 on)",
        "conformance/udp/test_output.py::test_tos_control_message",
    ),
    _c(
        "big_endian",
        None,
        (),
        "n/a",
        "machine",
        "a little-endian (amd64) host: host-order fields are little-endian",
        "a big-endian host: host order is network order",
        "conformance/raw_ip/test_header.py::test_big_endian_host_order_is_network_order",
        note="not a change: the emulated machine's byte order",
    ),
]

#: Every record by switch name, in catalog order.
CHANGES: dict[str, Change] = {c.switch: c for c in _RECORDS}


def _value_text(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def sides(c: Change) -> dict[str, list[str]]:
    """The named profiles by side: ``{"before": [...], "after": [...]}``.

    A switch with more than two values (raw_ip_header) gets one key per
    value besides: ``"value 11": [...]``."""
    out: dict[str, list[str]] = {"before": [], "after": []}
    default = PROFILES["9.0"]
    for name, p in PROFILES.items():
        v = getattr(p, c.switch, getattr(default, c.switch, None))
        if v == c.after_value:
            out["after"].append(name)
        elif (
            isinstance(c.after_value, bool)
            or isinstance(v, bool)
            or _value_text(v) == _value_text(getattr(default, c.switch, None))
        ):
            out["before"].append(name)
        else:
            out.setdefault(f"value {_value_text(v)}", []).append(name)
    return out


def _norm(q: str) -> str:
    return q.strip().lower()


def lookup_all(query: str) -> list[Change]:
    """Every record a switch name, a catalog id (``002:631``) or a PR
    (``kern/122338`` or ``122338``) names, in catalog order. A PR can name
    several changes (kern/122338 is cited by two seed commits). KeyError
    when nothing matches."""
    q = _norm(query)
    if not q:
        raise KeyError(query)
    for c in CHANGES.values():
        if q == c.switch.lower() or (c.catalog is not None and q == c.catalog):
            return [c]
    found = [
        c
        for c in CHANGES.values()
        if any(q in (pr.lower(), pr.lower().rpartition("/")[2]) for pr in c.prs)
    ]
    if not found:
        raise KeyError(query)
    return found


def lookup(query: str) -> Change:
    """The first record :func:`lookup_all` finds."""
    return lookup_all(query)[0]


def as_dict(c: Change) -> dict[str, Any]:
    return {
        "switch": c.switch,
        "catalog": c.catalog,
        "prs": list(c.prs),
        "revision": c.revision,
        "subsystem": c.subsystem,
        "before": c.before,
        "after": c.after,
        "after_value": c.after_value,
        "profiles": sides(c),
        "test": c.test,
        "note": c.note,
    }


def _profiles_text(c: Change) -> str:
    parts = []
    for side, names in sides(c).items():
        if names:
            parts.append(f"{side}: {' '.join(names)}")
    return "; ".join(parts) if parts else "-"


def format_table() -> str:
    """Every switch, one block each (the text of ``kstack changes``)."""
    lines = []
    for c in CHANGES.values():
        head = (
            f"{c.switch}  [{c.catalog or 'not a seed'}]  "
            f"PR {', '.join(c.prs) or '-'}  rev {c.revision}  ({c.subsystem})"
        )
        lines.append(head)
        lines.append(f"    before: {c.before}")
        lines.append(f"    after:  {c.after}")
        lines.append(f"    profiles: {_profiles_text(c)}")
        lines.append(f"    test: {c.test}")
    return "".join(s + "\n" for s in lines)


def format_one(c: Change) -> str:
    rows = [
        ("switch", c.switch),
        ("catalog", c.catalog or "not from the seeds"),
        ("PR", ", ".join(c.prs) or "no PR"),
        ("revision", c.revision),
        ("subsystem", c.subsystem),
        ("before", c.before),
        ("after", c.after),
        ("after value", _value_text(c.after_value)),
    ]
    for side, names in sides(c).items():
        rows.append((side, " ".join(names) or "no named profile (derive one)"))
    rows.append(("test", c.test))
    if c.note:
        rows.append(("note", c.note))
    rows.append(("reproduce", f"pytest '{c.test}'"))
    return "".join(f"{k + ':':16s}{v}\n" for k, v in rows)


def missing_records() -> list[str]:
    """Profile switches without a record (a test keeps this empty)."""
    return [s for s in switch_names() if s not in CHANGES]


def command(query: str | None, *, json_mode: bool) -> tuple[int, str]:
    """``kstack changes [QUERY] [--json]``: (exit status, stdout text).

    An unknown QUERY raises ValueError (one line, exit 2 in the CLI)."""
    if query is None:
        if json_mode:
            return 0, "".join(json.dumps(as_dict(c)) + "\n" for c in CHANGES.values())
        return 0, format_table()
    try:
        found = lookup_all(query)
    except KeyError:
        raise ValueError(
            f"changes: no switch, catalog id or PR {query!r} (kstack changes lists them)"
        ) from None
    if json_mode:
        return 0, "".join(json.dumps(as_dict(c)) + "\n" for c in found)
    return 0, "\n".join(format_one(c) for c in found)
