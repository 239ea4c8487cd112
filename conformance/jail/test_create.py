"""Creating jails (kern_jail.c kern_jail_set, jail(8) of 9.0) and what
socket(2) says in them (socreate, prison_check_af, rip_attach with
prison_priv_check)."""

from __future__ import annotations

import errno

import pytest

import kstack
from conformance.jail.helpers import A2, A3, B2, host
from kstack import sock


def _err(fn, *a, **kw):
    with pytest.raises(OSError) as e:
        fn(*a, **kw)
    return e.value.errno


def test_primary_first_rest_sorted():
    """kern_jail_set: the first address given is the primary; the others
    are sorted ascending (qcmp_v4)."""
    k = host()
    j = k.jail("j1", ip4=[A3, "198.51.100.2", "10.9.9.9", A2])
    assert j.ip4 == [A3, "10.9.9.9", A2, B2]


@pytest.mark.parametrize("ip4", [["0.0.0.0"], ["255.255.255.255"], [A2, A2], [A2, A3, A3]], ids=str)
def test_bad_address_lists_einval(ip4):
    """kern_jail_set: 0.0.0.0, 255.255.255.255 and duplicates are EINVAL."""
    assert _err(host().jail, "j1", ip4=ip4) == errno.EINVAL


def test_address_clash_between_jails():
    """kern_jail_set: an address of another jail is EADDRINUSE, unless both
    jails have exactly one address."""
    k = host()
    k.jail("a", ip4=[A2, A3])
    assert _err(k.jail, "b", ip4=[A3]) == errno.EADDRINUSE
    k2 = host()
    k2.jail("a", ip4=[A2])
    assert k2.jail("b", ip4=[A2]).ip4 == [A2]


def test_jids_count_up_and_name_defaults_to_jid():
    """kern_jail_set: jids from 1 upward; a jail without a name is named
    after its jid; a removed jail's jid is not reused at once."""
    k = host()
    a = k.jail(ip4=A2)
    b = k.jail("named", ip4=A3)
    assert (a.jid, a.name, b.jid) == (1, "1", 2)
    a.remove()
    assert k.jail(ip4=B2).jid == 3


def test_vnet_jail_refuses_addresses():
    """kern_jail_set: a vnet jail cannot have IP restrictions (EINVAL)."""
    assert _err(host().jail, "v", vnet=True, ip4=[A2]) == errno.EINVAL


def test_duplicate_name_eexist():
    """kern_jail_set: a live jail with the name exists (EEXIST)."""
    k = host()
    k.jail("j1", ip4=A2)
    assert _err(k.jail, "j1", ip4=A3) == errno.EEXIST


@pytest.mark.parametrize(
    "name,jid,want",
    [
        ("07", None, errno.EINVAL),
        ("0", None, errno.EINVAL),
        ("0web", None, errno.EINVAL),
        ("5", 6, errno.EINVAL),
        ("5", None, 0),
        ("5", 5, 0),
    ],
)
def test_numeric_names(name, jid, want):
    """kern_jail_set: a name starting with '0', or a number other than the
    jid, is EINVAL; a number alone asks for that jid."""
    k = host()
    kw = {} if jid is None else {"jid": jid}
    if want:
        assert _err(k.jail, name, ip4=A2, **kw) == want
        assert k.jails == {}
    else:
        assert k.jail(name, ip4=A2, **kw).jid == 5


@pytest.mark.parametrize("kind", [sock.SOCK_DGRAM, sock.SOCK_RAW])
@pytest.mark.parametrize("ip4", [None, "disable", "new", []], ids=str)
def test_no_ipv4_socket_eprotonosupport(kind, ip4):
    """socreate: prison_check_af refuses AF_INET in a jail without IPv4
    (ip4 disabled, ip4=new without addresses) with EPROTONOSUPPORT, before
    rip_attach's privilege check."""
    k = host()
    j = k.jail("j", ip4=ip4, allow_raw_sockets=True)
    assert _err(j.socket, sock.AF_INET, kind, 253) == errno.EPROTONOSUPPORT


def test_ipv4_disabled_by_default():
    """kern_jail_set: without ip4 parameters a new jail has IPv4 disabled."""
    j = host().jail("j")
    assert j.ip4 is None
    assert _err(j.socket, sock.AF_INET, sock.SOCK_DGRAM) == errno.EPROTONOSUPPORT


@pytest.mark.parametrize(
    "allow,sysctl,uid,want",
    [
        (None, 0, 0, errno.EPERM),
        (None, 1, 0, 0),
        (True, 0, 0, 0),
        (False, 1, 0, errno.EPERM),
        (True, 0, 1000, errno.EPERM),
    ],
)
def test_raw_sockets_need_allow(allow, sysctl, uid, want):
    """rip_attach: PRIV_NETINET_RAW, which prison_priv_check grants a
    classic jail's root only with allow.raw_sockets (jail(8) of 9.0 passes
    security.jail.allow_raw_sockets unless told otherwise)."""
    k = host()
    k.sysctl("security.jail.allow_raw_sockets", sysctl)
    j = k.jail("j", ip4=A2, allow_raw_sockets=allow)
    if want:
        assert _err(j.socket, sock.AF_INET, sock.SOCK_RAW, 1, uid=uid) == want
    else:
        j.socket(sock.AF_INET, sock.SOCK_RAW, 1, uid=uid)


def test_allow_raw_sockets_sysctl_only_for_new_jails():
    """The sysctl is a default for jails created later; inside a jail it
    reads that jail's own flag."""
    k = host()
    j = k.jail("j", ip4=A2)
    k.sysctl("security.jail.allow_raw_sockets", 1)
    assert j.sysctl("security.jail.allow_raw_sockets") == 0
    assert _err(j.socket, sock.AF_INET, sock.SOCK_RAW, 1) == errno.EPERM


def test_vnet_jail_root_has_raw_sockets():
    """prison_priv_check: a vnet jail's root holds PRIV_NETINET_RAW whatever
    allow.raw_sockets says."""
    v = host().jail("v", vnet=True)
    v.socket(sock.AF_INET, sock.SOCK_RAW, 1)


@pytest.mark.parametrize("vnet,want", [(False, errno.EPERM), (True, 0)])
def test_ip_bindany_privilege(vnet, want):
    """ip_ctloutput: IP_BINDANY needs PRIV_NETINET_BINDANY: refused in a
    classic jail, granted in a vnet jail."""
    k = host()
    j = k.jail("v", vnet=True) if vnet else k.jail("j", ip4=A2)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    if want:
        assert _err(s.setsockopt, sock.IPPROTO_IP, sock.IP_BINDANY, 1) == want
    else:
        s.setsockopt(sock.IPPROTO_IP, sock.IP_BINDANY, 1)


def test_removed_jail_refuses_sockets():
    """jail -r: the jail is gone; its handle refuses new work (ENOENT)."""
    j = host().jail("j", ip4=A2)
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM)
    j.remove()
    assert s.closed
    assert _err(j.socket, sock.AF_INET, sock.SOCK_DGRAM) == errno.ENOENT


def test_contract_names():
    """The public contract: k.jail(name, ip4=[...]), ip4=None, vnet=True."""
    k = kstack.Kernel()
    assert k.jail("j1", ip4=["192.0.2.2", "192.0.2.3"]).ip4 == ["192.0.2.2", "192.0.2.3"]
    assert k.jail("j2", ip4=None).ip4 is None
    v = k.jail("v1", vnet=True)
    assert v.vnet is not k.vnet0 and v.vnet.lo0.name == "lo0"
