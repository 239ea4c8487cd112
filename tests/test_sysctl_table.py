"""The FreeBSD 9.0 sysctl table (kstack.kern.sysctl_table).

Expected names, types, defaults and flags were read off the 9.1-RELEASE
``sys/`` tree vendored in pkelsey/libuinet (commit 4eef0e41) and checked
against head of February 2011 (rodrigc/bz-vimage) and 9.3-RELEASE
(dcui/FreeBSD-9.3_kernel); each test names the kernel handler it mirrors.
"""

from __future__ import annotations

import errno
from types import SimpleNamespace
from typing import Any, cast

import pytest

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
    SysctlTree,
    Value,
    coerce,
    sysctl_read,
    sysctl_write,
)
from kstack.kern.sysctl_table import CTLFLAG_SECURE, NMBCLUSTERS, OIDS

I, U, UL, S = CTLTYPE_INT, CTLTYPE_UINT, CTLTYPE_ULONG, CTLTYPE_STRING
RW, RD, RDTUN, TUN = CTLFLAG_RW, CTLFLAG_RD, CTLFLAG_RDTUN, CTLFLAG_TUN
V = CTLFLAG_VNET
VRW = RW | V

# (name, kind, default, flags) for every leaf of the table.
EXPECTED: list[tuple[str, str, Value, int]] = [
    # ip_input.c
    ("net.inet.ip.forwarding", I, 0, VRW),
    ("net.inet.ip.redirect", I, 1, VRW),
    ("net.inet.ip.keepfaith", I, 0, VRW),
    ("net.inet.ip.sendsourcequench", I, 0, VRW),
    ("net.inet.ip.random_id", I, 0, VRW),
    ("net.inet.ip.check_interface", I, 0, VRW),
    ("net.inet.ip.fragpackets", I, 0, RD | V),
    ("net.inet.ip.maxfragsperpacket", I, 16, VRW),
    ("net.inet.ip.intr_queue_maxlen", I, 256, RW),
    ("net.inet.ip.intr_queue_drops", I, 0, RD),
    ("net.inet.ip.maxfragpackets", I, 800, VRW),
    # raw_ip.c
    ("net.inet.ip.ttl", I, 64, VRW),
    ("net.inet.raw.maxdgram", UL, 9216, RW),
    ("net.inet.raw.recvspace", UL, 9216, RW),
    # ip_options.c
    ("net.inet.ip.sourceroute", I, 0, RW),
    ("net.inet.ip.accept_sourceroute", I, 0, RW),
    ("net.inet.ip.process_options", I, 1, RW),
    # ip_fastfwd.c
    ("net.inet.ip.fastforwarding", I, 0, VRW),
    # ip_id.c
    ("net.inet.ip.random_id_period", I, 8192, RW),
    ("net.inet.ip.random_id_collisions", I, 0, RD),
    ("net.inet.ip.random_id_total", I, 0, RD),
    # in_rmx.c
    ("net.inet.ip.rtexpire", I, 3600, VRW),
    ("net.inet.ip.rtminexpire", I, 10, VRW),
    ("net.inet.ip.rtmaxcache", I, 128, VRW),
    # in.c
    ("net.inet.ip.same_prefix_carp_only", I, 0, VRW),
    # in_gif.c
    ("net.inet.ip.gifttl", I, 30, VRW),
    # in_pcb.c
    ("net.inet.ip.portrange.lowfirst", I, 1023, VRW),
    ("net.inet.ip.portrange.lowlast", I, 600, VRW),
    ("net.inet.ip.portrange.first", I, 10000, VRW),
    ("net.inet.ip.portrange.last", I, 65535, VRW),
    ("net.inet.ip.portrange.hifirst", I, 49152, VRW),
    ("net.inet.ip.portrange.hilast", I, 65535, VRW),
    ("net.inet.ip.portrange.reservedhigh", I, 1023, VRW | CTLFLAG_SECURE),
    ("net.inet.ip.portrange.reservedlow", I, 0, VRW | CTLFLAG_SECURE),
    ("net.inet.ip.portrange.randomized", I, 1, VRW),
    ("net.inet.ip.portrange.randomcps", I, 10, VRW),
    ("net.inet.ip.portrange.randomtime", I, 45, VRW),
    # in_mcast.c
    ("net.inet.ip.mcast.maxgrpsrc", UL, 512, RW | TUN),
    ("net.inet.ip.mcast.maxsocksrc", UL, 128, RW | TUN),
    ("net.inet.ip.mcast.loop", I, 1, RW | TUN),
    # ip_icmp.c
    ("net.inet.icmp.icmplim", I, 200, VRW),
    ("net.inet.icmp.icmplim_output", I, 1, VRW),
    ("net.inet.icmp.maskrepl", I, 0, VRW),
    ("net.inet.icmp.maskfake", U, 0, VRW),
    ("net.inet.icmp.drop_redirect", I, 0, VRW),
    ("net.inet.icmp.log_redirect", I, 0, VRW),
    ("net.inet.icmp.reply_src", S, "", VRW),
    ("net.inet.icmp.reply_from_interface", I, 0, VRW),
    ("net.inet.icmp.quotelen", I, 8, VRW),
    ("net.inet.icmp.bmcastecho", I, 0, VRW),
    # udp_usrreq.c
    ("net.inet.udp.checksum", I, 1, VRW),
    ("net.inet.udp.log_in_vain", I, 0, RW),
    ("net.inet.udp.blackhole", I, 0, VRW),
    ("net.inet.udp.maxdgram", UL, 9216, RW),
    ("net.inet.udp.recvspace", UL, 42080, RW),
    # igmp.c
    ("net.inet.igmp.recvifkludge", I, 1, VRW),
    ("net.inet.igmp.sendra", I, 1, VRW),
    ("net.inet.igmp.sendlocal", I, 1, VRW),
    ("net.inet.igmp.v1enable", I, 1, VRW),
    ("net.inet.igmp.v2enable", I, 1, VRW),
    ("net.inet.igmp.legacysupp", I, 0, VRW),
    ("net.inet.igmp.default_version", I, 3, VRW),
    ("net.inet.igmp.gsrdelay", I, 10, VRW),
    # netisr.c
    ("net.isr.dispatch", S, "direct", RW | TUN),
    ("net.isr.direct_force", I, 0, RD),
    ("net.isr.direct", I, 0, RD),
    ("net.isr.maxthreads", I, 1, RDTUN),
    ("net.isr.bindthreads", I, 0, RDTUN),
    ("net.isr.maxqlimit", U, 10240, RDTUN),
    ("net.isr.defaultqlimit", U, 256, RDTUN),
    ("net.isr.maxprot", U, 16, RD),
    ("net.isr.numthreads", U, 1, RD),
    # route.c
    ("net.fibs", U, 1, RDTUN),
    ("net.add_addr_allfibs", U, 1, RW),
    ("net.my_fibnum", I, 0, RD),
    # if.c
    ("net.link.ifqmaxlen", I, 50, RDTUN),
    # uipc_socket.c, uipc_sockbuf.c, kern_mbuf.c
    ("kern.ipc.somaxconn", U, 128, RW),
    ("kern.ipc.maxsockbuf", UL, 2097152, RW),
    ("kern.ipc.nmbclusters", I, 25600, RW),
    # kern_jail.c
    ("security.jail.jailed", I, 0, RD),
    ("security.jail.jail_max_af_ips", U, 255, RW),
    ("security.jail.allow_raw_sockets", I, 0, RW),
    ("security.jail.socket_unixiproute_only", I, 1, RW),
]


class Rig:
    """A registered tree plus a fake kernel and vnet holding the defaults."""

    def __init__(self, **tunables: Value) -> None:
        self.tree = SysctlTree()
        self.tree.register(*OIDS)
        self.kernel = SimpleNamespace(proc_fibnum=0, netisr_ip_qdrops=0)
        self.kernel.sc = self.tree.defaults(cast(Any, self.kernel), vnet=False)
        self.vnet = SimpleNamespace(ipq_count=0, netisr_ip_qdrops=0)
        self.vnet.sc = self.tree.defaults(cast(Any, self.kernel), vnet=True)
        self.ctx = Ctx(cast(Any, self.kernel), cast(Any, self.vnet))
        for name, value in tunables.items():
            self.write(name.replace("__", "."), value, boot=True)

    def store(self, name: str) -> dict[str, Value]:
        oid = self.tree.lookup(name)
        return cast(dict[str, Value], self.vnet.sc if oid.vnet else self.kernel.sc)

    def read(self, name: str) -> Value:
        return sysctl_read(self.tree, self.ctx, self.store(name), name)

    def write(self, name: str, value: object, *, boot: bool = False) -> Value:
        return sysctl_write(self.tree, self.ctx, self.store(name), name, value, boot=boot)

    def einval(self, name: str, value: object) -> None:
        with pytest.raises(OSError) as exc:
            self.write(name, value)
        assert exc.value.errno == errno.EINVAL, (name, value)


def oid(name: str) -> Oid:
    return {o.name: o for o in OIDS}[name]


def test_registers_without_duplicates() -> None:
    """SYSCTL_ADD/sysctl_register_oid: every leaf registers once and no
    leaf name is also an inner node."""
    tree = SysctlTree()
    tree.register(*OIDS)
    names = [o.name for o in OIDS]
    assert len(names) == len(set(names)) == len(tree.oids)
    assert not set(names) & tree.nodes


def test_table_is_exactly_the_expected_set() -> None:
    """The SYSCTL_* declarations of the 9.x files listed in EXPECTED, minus
    the opaque/struct/node-handler ones the module docstring lists."""
    assert sorted(o.name for o in OIDS) == sorted(e[0] for e in EXPECTED)


@pytest.mark.parametrize(("name", "kind", "default", "flags"), EXPECTED)
def test_name_kind_default_flags(name: str, kind: str, default: Value, flags: int) -> None:
    """SYSCTL_INT/UINT/ULONG/STRING/PROC declarations (type, flags) and the
    variables' initialisers (VNET_DEFINE / static / *_init())."""
    o = oid(name)
    assert (o.kind, o.default, o.flags) == (kind, default, flags)


@pytest.mark.parametrize("o", OIDS, ids=lambda o: o.name)
def test_each_oid_is_self_consistent(o: Oid) -> None:
    """sysctl_handle_int/long/string: the default must itself be a value the
    oid's handler would accept, and every leaf carries a description."""
    assert o.descr
    assert o.flags & CTLFLAG_RD
    if o.kind == CTLTYPE_STRING:
        assert isinstance(o.default, str)
    else:
        assert isinstance(o.default, int)
        assert coerce(o, o.default) == o.default
    if o.vnet:
        assert o.name.startswith("net.inet.")


def test_things_gone_or_not_in_generic_are_absent() -> None:
    """IPSTEALTH/FLOWTABLE/notyet/MBUF_STRESS_TEST oids, #if 0 tunnelfib,
    the pre-9.0 subnets_are_local and the old writable net.isr.direct."""
    names = {o.name for o in OIDS}
    for gone in (
        "net.inet.ip.stealth",
        "net.inet.ip.output_flowtable_size",
        "net.inet.ip.mtu",
        "net.inet.ip.mbuf_frag_size",
        "net.inet.ip.subnets_are_local",
        "net.tunnelfib",
        "net.inet.ip.stats",
        "net.inet.igmp.ifinfo",
        "net.inet.ip.mcast.filters",
    ):
        assert gone not in names
    assert not oid("net.isr.direct").writable


def test_derived_memory_defaults() -> None:
    """tunable_mbinit (kern_mbuf.c): 1024 + 64 * maxusers with maxusers 384;
    ip_init (ip_input.c): maxnipq = nmbclusters / 32."""
    assert NMBCLUSTERS == 25600
    assert oid("net.inet.ip.maxfragpackets").default == NMBCLUSTERS // 32


def test_udp_recvspace_has_inet6_sockaddr() -> None:
    """udp_recvspace in udp_usrreq.c: 40 * (1024 + sizeof(struct
    sockaddr_in6)) because GENERIC has INET6 (dossier Errata 2)."""
    assert oid("net.inet.udp.recvspace").default == 40 * (1024 + 28)


# --- handlers ---------------------------------------------------------------


def test_somaxconn_bounds() -> None:
    """sysctl_somaxconn in uipc_socket.c: < 1 or > USHRT_MAX is EINVAL."""
    r = Rig()
    r.einval("kern.ipc.somaxconn", 0)
    r.einval("kern.ipc.somaxconn", 70000)
    r.einval("kern.ipc.somaxconn", -1)
    assert r.write("kern.ipc.somaxconn", 65535) == 128
    r.write("kern.ipc.somaxconn", 1)
    assert r.read("kern.ipc.somaxconn") == 1


def test_intr_queue_maxlen_bounds() -> None:
    """sysctl_netinet_intr_queue_maxlen in ip_input.c (< 1 EINVAL) and
    netisr_setqlimit in netisr.c (> net.isr.maxqlimit EINVAL)."""
    r = Rig()
    r.einval("net.inet.ip.intr_queue_maxlen", 0)
    r.einval("net.inet.ip.intr_queue_maxlen", 20000)
    r.einval("net.inet.ip.intr_queue_maxlen", 10241)
    r.write("net.inet.ip.intr_queue_maxlen", 10240)
    assert r.read("net.inet.ip.intr_queue_maxlen") == 10240
    o = oid("net.inet.ip.intr_queue_maxlen")
    assert o.check is not None
    r.kernel.sc["net.isr.maxqlimit"] = 100
    with pytest.raises(OSError) as exc:
        o.check(r.ctx, 101)
    assert exc.value.errno == errno.EINVAL
    o.check(r.ctx, 100)


def test_intr_queue_drops_is_a_read_only_view() -> None:
    """sysctl_netinet_intr_queue_drops in ip_input.c: reads the IP netisr
    queue's drop counter; the oid is CTLFLAG_RD so writes are EPERM."""
    r = Rig()
    r.vnet.netisr_ip_qdrops = 7
    assert r.read("net.inet.ip.intr_queue_drops") == 7
    with pytest.raises(OSError) as exc:
        r.write("net.inet.ip.intr_queue_drops", 0)
    assert exc.value.errno == errno.EPERM


def test_maxfragpackets_bounds() -> None:
    """sysctl_maxnipq in ip_input.c: below -1 is EINVAL; -1 and 0 accepted."""
    r = Rig()
    r.einval("net.inet.ip.maxfragpackets", -2)
    r.write("net.inet.ip.maxfragpackets", -1)
    r.write("net.inet.ip.maxfragpackets", 0)
    assert r.vnet.sc["net.inet.ip.maxfragpackets"] == 0


def test_fragpackets_reads_the_queue_count() -> None:
    """SYSCTL_VNET_INT on V_nipq in ip_input.c (read-only)."""
    r = Rig()
    r.vnet.ipq_count = 3
    assert r.read("net.inet.ip.fragpackets") == 3
    with pytest.raises(OSError) as exc:
        r.write("net.inet.ip.fragpackets", 1)
    assert exc.value.errno == errno.EPERM


def test_random_id_period_bounds_and_reset() -> None:
    """sysctl_ip_id_change in ip_id.c: 512..32768, else EINVAL; a change
    runs ip_initid(), which zeroes the collision and total counters."""
    r = Rig()
    r.einval("net.inet.ip.random_id_period", 511)
    r.einval("net.inet.ip.random_id_period", 32769)
    r.kernel.sc["net.inet.ip.random_id_collisions"] = 4
    r.kernel.sc["net.inet.ip.random_id_total"] = 99
    r.write("net.inet.ip.random_id_period", 512)
    assert r.kernel.sc["net.inet.ip.random_id_collisions"] == 0
    assert r.kernel.sc["net.inet.ip.random_id_total"] == 0
    r.write("net.inet.ip.random_id_period", 32768)


def test_portrange_clamps_instead_of_failing() -> None:
    """sysctl_net_ipport_check in in_pcb.c: the value is stored, then the
    six range ends are clamped (RANGECHK); it never returns EINVAL."""
    r = Rig()
    r.write("net.inet.ip.portrange.first", 5)
    assert r.read("net.inet.ip.portrange.first") == 1024
    r.write("net.inet.ip.portrange.last", 70000)
    assert r.read("net.inet.ip.portrange.last") == 65535
    r.write("net.inet.ip.portrange.lowfirst", 2000)
    assert r.read("net.inet.ip.portrange.lowfirst") == 1023
    r.write("net.inet.ip.portrange.lowlast", 0)
    assert r.read("net.inet.ip.portrange.lowlast") == 1
    r.write("net.inet.ip.portrange.hifirst", 40000)
    assert r.read("net.inet.ip.portrange.hifirst") == 40000


def test_igmp_default_version_bounds() -> None:
    """sysctl_igmp_default_version in igmp.c: IGMP_VERSION_1..3 only."""
    r = Rig()
    r.einval("net.inet.igmp.default_version", 0)
    r.einval("net.inet.igmp.default_version", 4)
    r.write("net.inet.igmp.default_version", 1)
    r.write("net.inet.igmp.default_version", 2)


def test_igmp_gsrdelay_bounds() -> None:
    """sysctl_igmp_gsr in igmp.c: i < -1 || i >= 60 is EINVAL."""
    r = Rig()
    r.einval("net.inet.igmp.gsrdelay", -2)
    r.einval("net.inet.igmp.gsrdelay", 60)
    r.write("net.inet.igmp.gsrdelay", -1)
    r.write("net.inet.igmp.gsrdelay", 59)


def test_netisr_dispatch_names() -> None:
    """sysctl_netisr_dispatch_policy in netisr.c: only deferred, hybrid and
    direct are accepted ("default" is refused too); the compat read-only
    net.isr.direct/direct_force follow via netisr_dispatch_policy_compat."""
    r = Rig()
    for bad in ("default", "bogus", "DIRECT", "direct ", "x" * 25, 3):
        r.einval("net.isr.dispatch", bad)
    assert (r.read("net.isr.direct"), r.read("net.isr.direct_force")) == (0, 0)
    r.write("net.isr.dispatch", "direct")
    assert (r.read("net.isr.direct"), r.read("net.isr.direct_force")) == (1, 1)
    r.write("net.isr.dispatch", "hybrid")
    assert (r.read("net.isr.direct"), r.read("net.isr.direct_force")) == (1, 0)
    r.write("net.isr.dispatch", "deferred")
    assert (r.read("net.isr.direct"), r.read("net.isr.direct_force")) == (0, 0)
    assert r.read("net.isr.dispatch") == "deferred"


def test_netisr_boot_tunables_are_fixed_up() -> None:
    """netisr_init in netisr.c: maxthreads < 1 becomes 1 (and at most
    mp_ncpus), defaultqlimit above maxqlimit is cut to it; ip_init's
    netisr_register gives the IP queue the default limit."""
    r = Rig(net__isr__maxthreads=-1, net__isr__defaultqlimit=20000)
    assert r.read("net.isr.maxthreads") == 1
    assert r.read("net.isr.numthreads") == 1
    assert r.read("net.isr.defaultqlimit") == 10240
    assert r.read("net.inet.ip.intr_queue_maxlen") == 10240
    r = Rig(net__isr__defaultqlimit=512)
    assert r.read("net.inet.ip.intr_queue_maxlen") == 512
    with pytest.raises(OSError) as exc:
        r.write("net.isr.maxqlimit", 20)
    assert exc.value.errno == errno.EPERM


def test_fibs_boot_clamp() -> None:
    """route_init in route.c: net.fibs above RT_MAXFIBS becomes 16, 0 becomes
    1; read-only after boot."""
    assert Rig(net__fibs=0).read("net.fibs") == 1
    assert Rig(net__fibs=32).read("net.fibs") == 16
    r = Rig(net__fibs=2)
    assert r.read("net.fibs") == 2
    with pytest.raises(OSError) as exc:
        r.write("net.fibs", 4)
    assert exc.value.errno == errno.EPERM


def test_my_fibnum_reads_the_process_fib() -> None:
    """sysctl_my_fibnum in route.c: curthread->td_proc->p_fibnum."""
    r = Rig()
    r.kernel.proc_fibnum = 1
    assert r.read("net.my_fibnum") == 1


def test_maxsockbuf_floor() -> None:
    """sysctl_handle_sb_max in uipc_sockbuf.c: < MSIZE + MCLBYTES is EINVAL."""
    r = Rig()
    r.einval("kern.ipc.maxsockbuf", 2303)
    r.einval("kern.ipc.maxsockbuf", -1)
    r.write("kern.ipc.maxsockbuf", 2304)


def test_nmbclusters_only_grows() -> None:
    """sysctl_nmbclusters in kern_mbuf.c: new <= current is EINVAL; a rise
    fires ipq_zone_change (ip_input.c), lifting maxfragpackets to
    nmbclusters / 32 when it was positive and lower."""
    r = Rig()
    r.einval("kern.ipc.nmbclusters", 25600)
    r.einval("kern.ipc.nmbclusters", 1000)
    r.write("kern.ipc.nmbclusters", 65536)
    assert r.read("net.inet.ip.maxfragpackets") == 2048
    r.write("net.inet.ip.maxfragpackets", -1)
    r.write("kern.ipc.nmbclusters", 131072)
    assert r.read("net.inet.ip.maxfragpackets") == -1


def test_icmp_reply_src_length() -> None:
    """sysctl_handle_string (kern_sysctl.c) on an IFNAMSIZ buffer: a new value
    of 16 bytes or more is EINVAL."""
    r = Rig()
    r.einval("net.inet.icmp.reply_src", "x" * 16)
    r.write("net.inet.icmp.reply_src", "x" * 15)
    r.write("net.inet.icmp.reply_src", "em0")
    assert r.read("net.inet.icmp.reply_src") == "em0"


def test_jail_allow_flags_normalise() -> None:
    """sysctl_jail_default_allow in kern_jail.c: any non-zero value sets the
    flag, so it reads back as 1."""
    r = Rig()
    r.write("security.jail.allow_raw_sockets", 5)
    assert r.read("security.jail.allow_raw_sockets") == 1
    r.write("security.jail.socket_unixiproute_only", 0)
    assert r.read("security.jail.socket_unixiproute_only") == 0


def test_wrong_types_are_einval() -> None:
    """sysctl_handle_int/sysctl_handle_string: a value that does not parse
    as the oid's type is EINVAL (sysctl(8) refuses it the same way)."""
    r = Rig()
    r.einval("net.inet.ip.ttl", "sixty-four")
    r.einval("net.inet.icmp.reply_src", 5)
    r.einval("net.inet.udp.maxdgram", -1)
    r.einval("net.inet.icmp.maskfake", 2**32)


def test_vnet_values_live_in_the_vnet() -> None:
    """SYSCTL_VNET_* oids keep one value per vnet; globals one per kernel."""
    r = Rig()
    r.write("net.inet.ip.forwarding", 1)
    assert r.vnet.sc["net.inet.ip.forwarding"] == 1
    assert "net.inet.ip.forwarding" not in r.kernel.sc
    r.write("net.inet.ip.sourceroute", 1)
    assert r.kernel.sc["net.inet.ip.sourceroute"] == 1
    assert "net.inet.ip.sourceroute" not in r.vnet.sc
