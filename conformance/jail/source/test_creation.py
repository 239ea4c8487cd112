"""1. Jail creation rules: kern_jail_set() in sys/kern/kern_jail.c (9.1)."""

import pytest

from conformance.jail.source.common import errno, oserr


def test_address_order(k):
    """kern_jail_set: ip4[0] kept as given, qsort(ip4 + 1, ..., qcmp_v4) in host byte order;
    a single address is the primary."""
    j = k.jail("s1", ip4=["192.0.2.9", "192.0.2.30", "192.0.2.4", "10.0.0.1"])
    assert j.ip4 == ["192.0.2.9", "10.0.0.1", "192.0.2.4", "192.0.2.30"]
    assert k.jail("s2", ip4="192.0.2.2").ip4 == ["192.0.2.2"]


def test_duplicate_addresses_einval(k):
    """kern_jail_set: after the sort, ip4[0] == ip4[ii+1] or ip4[ii] == ip4[ii+1] -> EINVAL."""
    lists = [
        ["192.0.2.2", "192.0.2.2"],
        ["192.0.2.2", "192.0.2.3", "192.0.2.3"],
        ["192.0.2.3", "192.0.2.2", "192.0.2.3"],  # duplicate of the primary
        ["192.0.2.5", "192.0.2.3", "192.0.2.4", "192.0.2.3"],
    ]
    got = [oserr(k.jail, f"dup{i}", ip4=l) for i, l in enumerate(lists)]
    assert got == [errno.EINVAL] * 4


def test_any_and_broadcast_einval(k):
    """kern_jail_set: INADDR_ANY or INADDR_BROADCAST anywhere in the list -> EINVAL."""
    lists = [
        ["0.0.0.0"],
        ["255.255.255.255"],
        ["192.0.2.2", "0.0.0.0"],
        ["192.0.2.2", "255.255.255.255"],
    ]
    got = [oserr(k.jail, f"bad{i}", ip4=l) for i, l in enumerate(lists)]
    assert got == [errno.EINVAL] * 4


def test_clash_when_either_jail_has_several(k):
    """kern_jail_set: overlap allowed only if both jails have exactly one IPv4 address;
    otherwise _prison_check_ip4 finds it -> EADDRINUSE."""
    k.jail("m1", ip4=["192.0.2.2", "192.0.2.3"])
    k.jail("s1", ip4="192.0.2.9")
    assert oserr(k.jail, "m2", ip4="192.0.2.3") == errno.EADDRINUSE
    assert oserr(k.jail, "m3", ip4=["192.0.2.5", "192.0.2.9"]) == errno.EADDRINUSE


def test_single_address_jails_may_share(k):
    """kern_jail_set: (ip4s == 1 && tpr->pr_ip4s == 1) -> no clash check."""
    a = k.jail("m1", ip4="192.0.2.2")
    b = k.jail("m2", ip4="192.0.2.2")
    assert a.ip4 == b.ip4 == ["192.0.2.2"]


def test_disjoint_multi_address_jails(k):
    """kern_jail_set: no common address -> no EADDRINUSE."""
    k.jail("m1", ip4=["192.0.2.2", "192.0.2.3"])
    assert k.jail("m2", ip4=["192.0.2.4", "192.0.2.5"]).ip4 == ["192.0.2.4", "192.0.2.5"]


def test_removed_jail_does_not_clash(k):
    """kern_jail_set: the clash loop skips prisons with pr_uref == 0."""
    k.jail("m1", ip4=["192.0.2.2", "192.0.2.3"])
    k.jail_remove("m1")
    assert k.jail("m2", ip4="192.0.2.3").ip4 == ["192.0.2.3"]


def test_inherit_and_disabled_jails_do_not_clash(k):
    """kern_jail_set: the clash loop skips jails without PR_IP4_USER or with pr_ip4 NULL."""
    k.jail("inh", ip4="inherit")
    k.jail("dis")
    assert k.jail("m", ip4=["192.0.2.2", "192.0.2.3"]).ip4 == ["192.0.2.2", "192.0.2.3"]


def test_no_ip4_means_disabled(k):
    """kern_jail_set: no ip4 parameter -> PR_IP4|PR_IP4_USER|PR_IP4_DISABLE, pr_ip4 NULL."""
    assert k.jail("dis").ip4 is None


def test_jid_sequence_and_default_name(k):
    """kern_jail_set: jid = lastprid + 1; empty name -> snprintf("%d", jid)."""
    a, b = k.jail(), k.jail()
    assert [(a.jid, a.name), (b.jid, b.name)] == [(1, "1"), (2, "2")]


def test_jid_not_reused_after_remove(k):
    """kern_jail_set: the search starts at lastprid + 1, a freed lower jid is skipped."""
    k.jail("a")
    k.jail("b")
    k.jail_remove("b")
    assert k.jail("c").jid == 3


def test_explicit_jid_and_auto_numbering(k):
    """kern_jail_set: a requested jid does not update lastprid; findnext skips taken jids."""
    assert k.jail("x", jid=2).jid == 2
    assert k.jail("y").jid == 1
    assert k.jail("z").jid == 3


def test_numeric_name_sets_jid(k):
    """kern_jail_set: CREATE with jid 0 and a numeric name -> jid = strtoul(name)."""
    j = k.jail("7")
    assert (j.jid, j.name) == (7, "7")


@pytest.mark.parametrize("name,jid", [("07", None), ("5", 6)])
def test_numeric_name_must_be_jid(k, name, jid):
    """kern_jail_set: *namelc == '0', or numeric name != jid -> EINVAL."""
    kw = {} if jid is None else {"jid": jid}
    assert oserr(k.jail, name, **kw) == errno.EINVAL


def test_duplicate_name_or_jid_eexist(k):
    """kern_jail_set: existing sibling name -> EEXIST; CREATE with existing jid -> EEXIST."""
    k.jail("same", jid=4)
    assert oserr(k.jail, "same") == errno.EEXIST
    assert oserr(k.jail, "other", jid=4) == errno.EEXIST


def test_vnet_jail_with_ip4_einval(k):
    """kern_jail_set: (ch_flags & PR_VNET) && (ch_flags & PR_IP4_USER) -> EINVAL, for an
    address list, ip4=inherit and ip4=disable alike."""
    got = [
        oserr(k.jail, f"v{i}", vnet=True, ip4=ip4)
        for i, ip4 in enumerate([["192.0.2.2"], "inherit", "disable"])
    ]
    assert got == [errno.EINVAL] * 3
