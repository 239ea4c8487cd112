"""4. sysctl from a classic jail and from a vnet jail: sysctl_root() in kern_sysctl.c,
prison_priv_check(), sysctl_jail_jailed(), sysctl_jail_default_allow() in kern_jail.c,
vnet_alloc() in vnet.c -- FreeBSD 9.1."""

from conformance.jail.source.common import errno, oserr


def test_jailed(k):
    """sysctl_jail_jailed: jailed(cred) -- 0 for prison0, 1 for a classic and a vnet jail."""
    j = k.jail("j", ip4="192.0.2.2")
    v = k.jail("v", vnet=True)
    assert [x.sysctl("security.jail.jailed") for x in (k, j, v)] == [0, 1, 1]


def test_jailed_read_only(k):
    """sysctl_root: CTLFLAG_RD node written -> EPERM."""
    j = k.jail("j", ip4="192.0.2.2")
    assert oserr(j.sysctl, "security.jail.jailed", 0) == errno.EPERM


def test_classic_jail_reads_host_vnet_values(k):
    """A classic jail shares vnet0: it reads the host's current VNET sysctl values."""
    j = k.jail("j", ip4="192.0.2.2")
    k.sysctl("net.inet.ip.forwarding", 1)
    k.sysctl("net.inet.ip.ttl", 33)
    assert j.sysctl("net.inet.ip.forwarding") == 1
    assert j.sysctl("net.inet.ip.ttl") == 33


CLASSIC_REFUSED = {
    "net.inet.ip.forwarding": 1,
    "net.inet.ip.ttl": 32,
    "net.inet.udp.blackhole": 1,
    "net.inet.icmp.icmplim": 10,
    "kern.ipc.somaxconn": 256,
    "security.jail.allow_raw_sockets": 1,
}


def test_classic_jail_write_refused(k):
    """sysctl_root: not CTLFLAG_PRISON and no own vnet -> PRIV_SYSCTL_WRITE, which
    prison_priv_check denies (EPERM); the host's values are unchanged."""
    j = k.jail("j", ip4="192.0.2.2")
    before = {n: k.sysctl(n) for n in CLASSIC_REFUSED}
    got = {n: oserr(j.sysctl, n, v) for n, v in CLASSIC_REFUSED.items()}
    assert got == {n: errno.EPERM for n in CLASSIC_REFUSED}
    assert {n: k.sysctl(n) for n in CLASSIC_REFUSED} == before


def test_vnet_jail_write_vnet_sysctl(k):
    """sysctl_root: CTLFLAG_VNET && prison_owns_vnet -> PRIV_SYSCTL_WRITEJAIL (granted);
    the write lands in the jail's vnet only."""
    v = k.jail("v", vnet=True)
    v.sysctl("net.inet.ip.forwarding", 1)
    assert v.sysctl("net.inet.ip.forwarding") == 1
    assert k.sysctl("net.inet.ip.forwarding") == 0


VNET_WRITABLE = {
    "net.inet.ip.ttl": 40,
    "net.inet.udp.blackhole": 1,
    "net.inet.icmp.icmplim": 10,
    "net.inet.ip.portrange.first": 20000,
    "net.link.ether.inet.max_age": 60,
}


def test_vnet_jail_write_other_vnet_sysctls(k):
    """sysctl_root: SYSCTL_VNET_* nodes are writable from a vnet jail, per vnet."""
    v = k.jail("v", vnet=True)
    host_before = {n: k.sysctl(n) for n in VNET_WRITABLE}
    for n, val in VNET_WRITABLE.items():
        v.sysctl(n, val)
    assert {n: v.sysctl(n) for n in VNET_WRITABLE} == VNET_WRITABLE
    assert {n: k.sysctl(n) for n in VNET_WRITABLE} == host_before


VNET_REFUSED = {
    "kern.ipc.somaxconn": 256,
    "net.inet.udp.log_in_vain": 1,
    "net.inet.udp.recvspace": 50000,
    "net.inet.ip.intr_queue_maxlen": 100,
    "net.add_addr_allfibs": 0,
    "security.jail.allow_raw_sockets": 1,
}


def test_vnet_jail_write_global_refused(k):
    """sysctl_root: not CTLFLAG_VNET -> PRIV_SYSCTL_WRITE -> prison_priv_check EPERM."""
    v = k.jail("v", vnet=True)
    before = {n: k.sysctl(n) for n in VNET_REFUSED}
    got = {n: oserr(v.sysctl, n, val) for n, val in VNET_REFUSED.items()}
    assert got == {n: errno.EPERM for n in VNET_REFUSED}
    assert {n: k.sysctl(n) for n in VNET_REFUSED} == before


def test_vnet_jail_sees_global_value(k):
    """A non-virtualised sysctl is one variable: the vnet jail reads the host's value."""
    v = k.jail("v", vnet=True)
    k.sysctl("kern.ipc.somaxconn", 256)
    assert v.sysctl("kern.ipc.somaxconn") == 256


VNET_DEFAULTS = {
    "net.inet.ip.ttl": (32, 64),
    "net.inet.ip.forwarding": (1, 0),
    "net.inet.udp.blackhole": (1, 0),
    "net.inet.icmp.icmplim": (10, 200),
    "net.inet.icmp.bmcastecho": (1, 0),
    "net.inet.ip.portrange.first": (20000, 10000),
    "net.link.ether.inet.max_age": (60, 1200),
}


def test_vnet_defaults_not_host_values(k):
    """vnet_alloc: memcpy from the master VNET_START copy (static initialisers), not from
    vnet0's current values."""
    for n, (host_value, _) in VNET_DEFAULTS.items():
        k.sysctl(n, host_value)
    v = k.jail("v", vnet=True)
    assert {n: v.sysctl(n) for n in VNET_DEFAULTS} == {n: d for n, (_, d) in VNET_DEFAULTS.items()}
    assert {n: k.sysctl(n) for n in VNET_DEFAULTS} == {n: h for n, (h, _) in VNET_DEFAULTS.items()}


def test_allow_raw_sockets_reads_own_prison(k):
    """sysctl_jail_default_allow: a jail reads pr->pr_allow, not jail_default_allow."""
    yes = k.jail("yes", ip4="192.0.2.2", allow_raw_sockets=True)
    no = k.jail("no", ip4="192.0.2.3", allow_raw_sockets=False)
    k.sysctl("security.jail.allow_raw_sockets", 1)
    got = [no.sysctl("security.jail.allow_raw_sockets")]
    k.sysctl("security.jail.allow_raw_sockets", 0)
    got.append(yes.sysctl("security.jail.allow_raw_sockets"))
    assert got == [0, 1]
