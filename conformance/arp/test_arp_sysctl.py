"""The net.link.ether.inet sysctls of 9.0 (sys/netinet/if_ether.c
SYSCTL_VNET_INT / SYSCTL_INT declarations) and the ARP statistics that
netstat -s -p arp prints (usr.bin/netstat/inet.c arp_stats)."""

from __future__ import annotations

import errno

import pytest

from kstack.netstat import format_netstat_s
from kstack.testing import host

INET = "net.link.ether.inet."

#: name, default, per vnet (VNET_DEFINE) or machine-wide (static int)
SYSCTLS = [
    ("max_age", 1200, True),
    ("maxtries", 5, True),
    ("useloopback", 1, True),
    ("proxyall", 0, True),
    ("wait", 20, True),
    ("maxhold", 1, True),
    ("log_arp_wrong_iface", 1, False),
    ("log_arp_movements", 1, False),
    ("log_arp_permanent_modify", 1, False),
]


def test_the_9_0_set_and_defaults(kernel):
    """sys/netinet/if_ether.c SYSCTL_VNET_INT/SYSCTL_INT declarations: nine
    integer leaves under net.link.ether.inet (allow_multicast came later and
    is absent), with their compiled-in defaults."""
    names = {o.name for o in kernel.sysctl_tree.walk("net.link.ether.inet")}
    assert names == {INET + n for n, _, _ in SYSCTLS}
    for name, default, _ in SYSCTLS:
        assert kernel.sysctl(INET + name) == default


@pytest.mark.parametrize(("name", "default", "per_vnet"), SYSCTLS, ids=[s[0] for s in SYSCTLS])
def test_plain_int_bounds(kernel, name, default, per_vnet):
    """sys/kern/kern_sysctl.c sysctl_handle_int: any C int is stored (the
    ARP leaves have no handler of their own), a value outside int or not a
    number is EINVAL; the old value is returned."""
    full = INET + name
    assert kernel.sysctl(full, -(2**31)) == default
    assert kernel.sysctl(full, 2**31 - 1) == -(2**31)
    for bad in (2**31, -(2**31) - 1, "ten"):
        with pytest.raises(OSError) as e:
            kernel.sysctl(full, bad)
        assert e.value.errno == errno.EINVAL
    assert kernel.sysctl(full) == 2**31 - 1


@pytest.mark.parametrize(("name", "default", "per_vnet"), SYSCTLS, ids=[s[0] for s in SYSCTLS])
def test_vnet_or_global(kernel, name, default, per_vnet):
    """sys/netinet/if_ether.c: the SYSCTL_VNET_INT leaves (VNET_DEFINE
    variables) have one value per virtual stack; the log_* ones are plain
    static ints (SYSCTL_INT), one value for the machine."""
    v = kernel.jail("v", vnet=True)
    kernel.sysctl(INET + name, 7)
    assert v.vnet.sysctl(INET + name) == (default if per_vnet else 7)


def test_arpstat_fields_in_structure_order(kernel):
    """sys/net/if_arp.h struct arpstat (VNET_DEFINE'd in if_ether.c): the
    counters and their order (the four arp_spares words are not counters)."""
    assert list(kernel.netstat("arp")) == [
        "txrequests",
        "txreplies",
        "rxrequests",
        "rxreplies",
        "received",
        "dropped",
        "timeouts",
        "dupips",
    ]
    assert "arp" not in kernel.netstat()


def test_netstat_arp_text_every_line():
    """usr.bin/netstat/inet.c arp_stats: netstat -s prints every line, with
    netstat's plural endings (request/requests, reply/replies, and its
    "entrys")."""
    stats = {
        "arp": {
            "txrequests": 1,
            "txreplies": 2,
            "rxrequests": 0,
            "rxreplies": 1,
            "received": 3,
            "dropped": 2,
            "timeouts": 2,
            "dupips": 1,
        }
    }
    assert format_netstat_s(stats, ["arp"], zeros=True) == (
        "arp:\n"
        "\t1 ARP request sent\n"
        "\t2 ARP replies sent\n"
        "\t0 ARP requests received\n"
        "\t1 ARP reply received\n"
        "\t3 ARP packets received\n"
        "\t2 total packets dropped due to no ARP entry\n"
        "\t2 ARP entrys timed out\n"
        "\t1 Duplicate IP seen\n"
    )
    assert format_netstat_s(stats, ["arp"]) == (
        "arp:\n"
        "\t1 ARP request sent\n"
        "\t2 ARP replies sent\n"
        "\t1 ARP reply received\n"
        "\t3 ARP packets received\n"
        "\t2 total packets dropped due to no ARP entry\n"
        "\t2 ARP entrys timed out\n"
        "\t1 Duplicate IP seen\n"
    )


def test_netstat_arp_after_traffic():
    """usr.bin/netstat/inet.c: arp follows the IPv4 protocols in netstat's
    table; a host that configured two addresses has sent two requests."""
    k = host()
    stats = {**k.netstat(), "arp": k.netstat("arp")}
    text = format_netstat_s(stats, zeros=False)
    assert text.endswith("arp:\n\t2 ARP requests sent\n")
    with pytest.raises(ValueError):
        k.netstat("rarp")
