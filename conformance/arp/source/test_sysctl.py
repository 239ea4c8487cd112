"""net.link.ether.inet.*: the knobs of sys/netinet/if_ether.c and their 9.0 defaults."""

import pytest

from conformance.arp.source.common import errno


@pytest.mark.parametrize(
    "name, default",
    [
        ("max_age", 1200),
        ("maxtries", 5),
        ("useloopback", 1),
        ("proxyall", 0),
        ("wait", 20),
        ("maxhold", 1),
        ("log_arp_wrong_iface", 1),
        ("log_arp_movements", 1),
    ],
)
def test_default(k, name, default):
    """if_ether.c 84-123 and 489-498: arpt_keep = 20*60 (max_age), arp_maxtries
    = 5, useloopback = 1, arp_proxyall = 0, arpt_down = 20 (wait),
    arp_maxhold = 1, log_arp_wrong_iface = log_arp_movements = 1; each is an
    int sysctl under net.link.ether.inet (the Feb 2011 head has the same
    variables and values)."""
    assert k.sysctl("net.link.ether.inet." + name) == default


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_age", 60),
        ("maxtries", 2),
        ("useloopback", 0),
        ("proxyall", 1),
        ("wait", 5),
        ("maxhold", 4),
    ],
)
def test_writable_returns_previous(k, name, value):
    """if_ether.c 103-123: every knob is CTLFLAG_RW; a write stores the new
    value (kern_sysctl.c sysctl_root 1448 only refuses nodes without
    CTLFLAG_WR)."""
    old = k.sysctl("net.link.ether.inet." + name)
    assert k.sysctl("net.link.ether.inet." + name, value) == old
    assert k.sysctl("net.link.ether.inet." + name) == value


def test_unknown_node_enoent(k):
    """kern_sysctl.c sysctl_find_oid: a name with no OID under
    net.link.ether.inet is ENOENT."""
    with pytest.raises(OSError) as ei:
        k.sysctl("net.link.ether.inet.no_such_knob")
    assert ei.value.errno == errno.ENOENT
