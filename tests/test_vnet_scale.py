"""Many vnets: what is kept per kernel and per vnet, and in what order the
stacks run queued work, now that neither walks every vnet.

* netisr work runs, each round, in the vnets that have some, in creation
  order (as a walk over every vnet would), and a vnet whose queue fills
  behind the walk waits for the next round;
* interface indexes are the lowest free one of the vnet, without a scan;
* jail ids count up and skip the live ones, without a scan;
* the sysctl tree's leaves are built once per profile and shared, while
  every value, every profile-dependent default and every leaf loaded at run
  time stays with its kernel.
"""

from __future__ import annotations

import errno
from typing import Any

import pytest

import kstack
from kstack.kern.kernel import sysctl_schema
from kstack.kern.sysctl import CTLFLAG_VNET
from kstack.net import pfil
from kstack.testing import ICMP, IP, Raw


def _lo_echo(seq: int) -> bytes:
    return bytes(
        IP(src="127.0.0.1", dst="127.0.0.1", id=seq, ttl=64)
        / ICMP(type=8, id=1, seq=seq)
        / Raw(b"x")
    )


def _request(p: Any) -> bool:
    """An echo request (the replies loop back through the queue too)."""
    return bool(p.data[20] == 8)


def _recorder(seen: list[Any], v: Any, with_id: bool) -> Any:
    """A pfil hook noting each echo request the vnet takes in."""

    def fn(p: Any) -> None:
        if _request(p):
            seen.append((v.name, p.data[5]) if with_id else v.name)

    return fn


def _deferred_stacks(n: int) -> tuple[kstack.Kernel, list[Any]]:
    """vnet0 and ``n`` vnet jails with lo0 up at 127.0.0.1, deferred netisr."""
    k = kstack.Kernel()
    k.sysctl("net.isr.dispatch", "deferred")
    stacks = [k.vnet0]
    for i in range(n):
        j = k.jail(f"j{i}", vnet=True)
        j.ifconfig("lo0", "127.0.0.1/8", up=True)
        stacks.append(j.vnet)
    return k, stacks


def test_netisr_rounds_visit_queued_vnets_in_creation_order() -> None:
    """net/netisr.c netisr_queue_internal / swi_net: packets queued under the
    deferred policy run when netisr work runs (``advance``); kstack runs the
    vnets' IP queues in creation order whatever order they were filled in."""
    k, stacks = _deferred_stacks(3)
    seen: list[tuple[str, int]] = []
    for v in stacks:
        v.pfil_add_hook(_recorder(seen, v, True), pfil.IN)
    for i in (3, 1, 0, 2):
        out = stacks[i].input("lo0", _lo_echo(10 + i))
        assert (out.kind, out.reason) == ("held", "netisr")
    k.advance(0)
    assert seen == [("vnet0", 10), ("jail j0", 11), ("jail j1", 12), ("jail j2", 13)]
    assert all(not v.ipintrq for v in stacks)


def test_netisr_work_queued_behind_the_round_waits_for_the_next() -> None:
    """net/netisr.c (deferred dispatch): a packet queued during a round into
    a vnet the round has passed runs in the next round, one queued into a
    vnet still ahead runs in this one, and one queued into the running
    vnet runs before that vnet's turn ends."""
    k, stacks = _deferred_stacks(3)
    seen: list[tuple[str, int]] = []

    def hook(v: Any) -> Any:
        def fn(p: Any) -> None:
            if not _request(p):
                return
            seq = p.data[5]
            seen.append((v.name, seq))
            if seq == 2:  # in j1: queue into vnet0 (behind), j2 (ahead), j1
                stacks[0].input("lo0", _lo_echo(20))
                stacks[3].input("lo0", _lo_echo(23))
                stacks[2].input("lo0", _lo_echo(22))

        return fn

    for v in stacks:
        v.pfil_add_hook(hook(v), pfil.IN)
    stacks[2].input("lo0", _lo_echo(2))
    stacks[1].input("lo0", _lo_echo(1))
    k.advance(0)
    assert seen == [
        ("jail j0", 1),
        ("jail j1", 2),
        ("jail j1", 22),
        ("jail j2", 23),
        ("vnet0", 20),
    ]
    # Every echo was answered through lo0, queued again and run: nothing is left.
    assert all(not v.ipintrq for v in stacks)
    assert not k._isr_pending


def test_netisr_destroyed_vnet_queue_not_run() -> None:
    """net/vnet.c vnet_destroy: a stack destroyed with packets queued never
    runs them; the others still do."""
    k, stacks = _deferred_stacks(2)
    seen: list[str] = []
    for v in stacks:
        v.pfil_add_hook(_recorder(seen, v, False), pfil.IN)
    stacks[1].input("lo0", _lo_echo(1))
    stacks[2].input("lo0", _lo_echo(2))
    k.jail_remove("j0")
    k.advance(0)
    assert seen == ["jail j1"]
    assert not k._isr_pending


def test_ifindex_alloc_lowest_free_index() -> None:
    """net/if.c ifindex_alloc_locked: a new interface takes the lowest index
    of its vnet that no interface holds; an interface moved out frees its
    index there and takes the lowest free one in the vnet it joins
    (if_vmove)."""
    k = kstack.Kernel()
    for name in ("em0", "em1", "em2"):
        k.ifconfig(name)
    assert [k.iface(n).index for n in ("lo0", "em0", "em1", "em2")] == [1, 2, 3, 4]
    j = k.jail("v", vnet=True)
    k.if_vmove("em1", j)
    assert j.vnet.iface("em1").index == 2  # lo0 is 1 there
    k.ifconfig("em3")
    assert k.iface("em3").index == 3
    k.if_vmove("em0", j)
    k.if_vmove_reclaim("em1", j)
    assert k.iface("em1").index == 2
    assert j.vnet.iface("em0").index == 3  # em1 still held 2 when it came
    k.ifconfig("em4")
    assert k.iface("em4").index == 5
    assert sorted(ifp.index for ifp in k.vnet0.ifnets) == [1, 2, 3, 4, 5]


def test_jid_counts_up_skipping_live_jails() -> None:
    """kern/kern_jail.c kern_jail_set: without a jid the next one after the
    last given, skipping live jails; a jid in use is EEXIST; a removed
    jail's jid can be asked for again."""
    k = kstack.Kernel()
    assert [k.jail(n).jid for n in ("a", "b")] == [1, 2]
    assert k.jail("d", jid=4).jid == 4
    assert k.jail("c").jid == 3
    assert k.jail("e").jid == 5  # 4 is taken
    with pytest.raises(OSError) as exc:
        k.jail("f", jid=2)
    assert exc.value.errno == errno.EEXIST
    k.jail_remove("b")
    assert k.jail("f", jid=2).jid == 2
    assert k.jail("g").jid == 6


def test_sysctl_leaves_shared_values_per_kernel() -> None:
    """kern/kern_sysctl.c: one tree of leaves, values per machine and per
    vnet. Two kernels of one profile share the leaves (built once) and
    nothing else: a write in one is not seen in the other."""
    k1 = kstack.Kernel()
    k2 = kstack.Kernel()
    assert k1.sysctl_tree.oids is k2.sysctl_tree.oids
    assert k1.sysctl("net.inet.ip.forwarding", 1) == 0
    assert k1.sysctl("kern.ipc.maxsockbuf", 524288) == 2 * 1024 * 1024
    assert k2.sysctl("net.inet.ip.forwarding") == 0
    assert k2.sysctl("kern.ipc.maxsockbuf") == 2 * 1024 * 1024
    j = k1.jail("v", vnet=True)
    assert j.sysctl("net.inet.ip.forwarding") == 0
    assert kstack.Kernel().sysctl("net.inet.ip.forwarding") == 0


def test_sysctl_leaf_loaded_at_run_time_stays_in_its_kernel() -> None:
    """net/if_epair.c: the module's sysctl appears with the first epair, in
    that kernel only; the shared leaves are not touched."""
    k1 = kstack.Kernel()
    k2 = kstack.Kernel()
    j = k1.jail("v", vnet=True)
    k1.epair(k1.vnet0, j)
    assert k1.sysctl("net.link.epair.netisr_maxqlen") == 42 * 50
    for k in (k2, kstack.Kernel()):
        with pytest.raises(OSError) as exc:
            k.sysctl("net.link.epair.netisr_maxqlen")
        assert exc.value.errno == errno.ENOENT
    assert "net.link.epair.netisr_maxqlen" not in sysctl_schema(k2.profile).oids
    # A stack created after the module loaded has every per-vnet leaf.
    j2 = k1.jail("w", vnet=True)
    assert set(j2.vnet.sc) == set(k1.vnet0.sc)


def test_sysctl_leaves_follow_the_profile() -> None:
    """netinet/ip_input.c (head r271628, 10.1): the IP option knobs became
    per vnet; kernels of each profile get their own leaves, whichever was
    built first."""
    k11 = kstack.Kernel(profile="11.0")
    k9 = kstack.Kernel(profile="9.0")
    name = "net.inet.ip.sourceroute"
    assert k11.sysctl_tree.lookup(name).flags & CTLFLAG_VNET
    assert not k9.sysctl_tree.lookup(name).flags & CTLFLAG_VNET
    assert k11.sysctl_tree.oids is not k9.sysctl_tree.oids
    assert kstack.Kernel(profile="11.0").sysctl_tree.oids is k11.sysctl_tree.oids
    j = k11.jail("v", vnet=True)
    k11.sysctl(name, 1)
    assert (k11.sysctl(name), j.sysctl(name)) == (1, 0)


def test_sysctl_defaults_computed_per_kernel() -> None:
    """net/if_epair.c epair_modevent: net.link.epair.netisr_maxqlen starts
    at 42 times net.link.ifqmaxlen, a boot-time tunable: a default computed
    from a kernel's values is computed per kernel, not shared."""
    small = kstack.Kernel(tunables={"net.link.ifqmaxlen": 10})
    plain = kstack.Kernel()
    for k, qlen in ((small, 10), (plain, 50)):
        j = k.jail("v", vnet=True)
        k.epair(k.vnet0, j)
        assert k.sysctl("net.link.epair.netisr_maxqlen") == 42 * qlen


def _walk_output(k: kstack.Kernel) -> list[Any]:
    return [ifp for v in k.vnets for ifp in v.ifnets if ifp.txq]


def _walk_events(k: kstack.Kernel) -> list[Any]:
    return [v for v in k.vnets if v.events]


def test_ifnets_with_output_matches_a_walk_over_every_vnet() -> None:
    """net/if_epair.c epair_transmit / net/if_ethersubr.c ether_output: the
    frames each interface sent wait for the harness; the interfaces that
    hold some are found without visiting the others, in the order of a walk
    over the vnets and their interfaces."""
    k, stacks = _deferred_stacks(3)
    k.sysctl("net.isr.dispatch", "direct")
    k.ifconfig("em0", "192.0.2.1/24")
    ends = []
    for i, v in enumerate(stacks[1:]):
        a, b = k.epair(k.vnet0, k.jails[f"j{i}"])
        k.ifconfig(a, f"10.0.{i}.1/24", up=True)
        v.ifconfig(b, f"10.0.{i}.2/24", up=True)
        ends.append((a, b))
    # Configuring announced each address (gratuitous ARP): collect that first.
    assert k.ifnets_with_output() == _walk_output(k) != []
    for ifp in _walk_output(k):
        ifp.vnet.transmitted(ifp.name)
    assert k.ifnets_with_output() == []
    for i in (2, 0):
        k.jails[f"j{i}"].socket(2, 2).sendto(b"x", (f"10.0.{i}.1", 9))
    k.socket(2, 2).sendto(b"y", ("192.0.2.7", 9))
    got = k.ifnets_with_output()
    assert got == _walk_output(k)
    assert [(ifp.vnet.name, ifp.name) for ifp in got] == [
        ("vnet0", "em0"),
        ("jail j0", ends[0][1]),
        ("jail j2", ends[2][1]),
    ]
    k.transmitted("em0")
    assert k.ifnets_with_output() == _walk_output(k) == got[1:]
    # Removing j2 returns its end of the epair, frames and all, to vnet0,
    # last in vnet0's list.
    k.jail_remove("j2")
    got = k.ifnets_with_output()
    assert got == _walk_output(k)
    assert [(ifp.vnet.name, ifp.name) for ifp in got] == [
        ("vnet0", ends[2][1]),
        ("jail j0", ends[0][1]),
    ]
    k.transmitted(ends[2][1])
    k.jails["j0"].vnet.transmitted(ends[0][1])
    assert k.ifnets_with_output() == []
    assert k.tx_pending == {}


def test_vnets_with_events_matches_a_walk_over_every_vnet() -> None:
    """net/netisr.c (deferred dispatch): each queued packet run later is an
    event of its vnet; the vnets that hold events are found without visiting
    the others, in creation order, and taking them empties the record."""
    k, stacks = _deferred_stacks(4)
    for v in stacks:
        v.take_events()
    for i in (3, 1):
        stacks[i].input("lo0", _lo_echo(i))
    k.advance(0)
    got = k.vnets_with_events()
    assert got == _walk_events(k) == [stacks[1], stacks[3]]
    assert [e.what for e in stacks[3].events] == [
        "ip_input from lo0 queue",
        "ip_input from lo0 queue",
    ]
    stacks[1].take_events()
    assert k.vnets_with_events() == _walk_events(k) == [stacks[3]]
    k.jail_remove("j2")  # stacks[3]
    assert k.vnets_with_events() == _walk_events(k) == []
    assert k.ev_pending == {}
