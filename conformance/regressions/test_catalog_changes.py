"""Socket-option, jail and FIB changes of the seed collection, each before
and after (kstack profile switches):

* seed 000:296 (``ip_bindany``): IP_BINDANY "Always compile it in ...
  Introduce new privilege - PRIV_NETINET_BINDANY".
* seed 000:358 (``prison_errno_passthrough``): "use the returned error code
  instead of e.g. a hard-coded EADDRNOTAVAIL or EINVAL".
* seed 000:413 (``jail_multi_ip``): "permit multiple addresses per jail ...
  possible to have jails without an IP address at all".
* seed 001:233 (``multiple_fibs``): "instantiate multiple kernel routing
  tables ... (FIBs)".
"""

from __future__ import annotations

import errno

import pytest

import kstack
from kstack import sock
from kstack.testing import HOST, host


def _err(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return errno.errorcode[e.errno]
    return 0


@pytest.mark.parametrize("profile", ["9.0", "9.0,ip_bindany=0"])
def test_ip_bindany(profile):
    """seed 000:296, no PR, revision unverified. ip_output.c ip_ctloutput
    (IP_BINDANY) and in_pcb.c in_pcbbind_setup: after the change root sets
    IP_BINDANY and binds a UDP socket to an address the host does not have,
    and uid 1000 gets EPERM; before it the option is ENOPROTOOPT for both
    and the bind is EADDRNOTAVAIL."""
    k = host(profile)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    u = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0, uid=1000)
    got = {
        "root": _err(s.setsockopt, sock.IPPROTO_IP, sock.IP_BINDANY, 1),
        "user": _err(u.setsockopt, sock.IPPROTO_IP, sock.IP_BINDANY, 1),
        "bind": _err(s.bind, ("203.0.113.9", 5000)),
    }
    if profile == "9.0":
        assert got == {"root": 0, "user": "EPERM", "bind": 0}
        assert s.getsockname() == ("203.0.113.9", 5000)
        assert s.getsockopt(sock.IPPROTO_IP, sock.IP_BINDANY) == 1
    else:
        assert got == {"root": "ENOPROTOOPT", "user": "ENOPROTOOPT", "bind": "EADDRNOTAVAIL"}
        assert _err(s.getsockopt, sock.IPPROTO_IP, sock.IP_BINDANY) == "ENOPROTOOPT"


@pytest.mark.parametrize("profile", ["9.0", "9.0,prison_errno_passthrough=0"])
def test_jailed_bind_errno(profile):
    """seed 000:358, no PR, revision unverified. in_pcb.c in_pcbbind_setup
    after kern_jail.c prison_local_ip4: a jailed bind to a host address
    that is not the jail's is EADDRNOTAVAIL (the prison's errno) after the
    change and the fixed EINVAL before it; the jail's own address binds
    on both sides."""
    k = host(profile)
    k.ifconfig("em0", "192.0.2.2/32", alias=True)
    j = k.jail("j", ip4=["192.0.2.2"])
    s = j.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    want = "EADDRNOTAVAIL" if profile == "9.0" else "EINVAL"
    assert _err(s.bind, (HOST, 5000)) == want
    assert _err(s.bind, ("192.0.2.2", 5000)) == 0
    assert s.getsockname() == ("192.0.2.2", 5000)


@pytest.mark.parametrize("profile", ["9.0", "9.0,jail_multi_ip=0"])
def test_jail_addresses(profile):
    """seed 000:413, no PR, revision unverified. kern_jail.c jail_set (and
    the jail(2) it replaced): after the change a jail holds two IPv4
    addresses and binds to either, and a jail without IPv4 refuses
    AF_INET sockets (EPROTONOSUPPORT); before it both jails are EINVAL
    and a one-address jail is the only kind."""
    k = host(profile)
    k.ifconfig("em0", "192.0.2.2/32", alias=True)
    k.ifconfig("em0", "192.0.2.3/32", alias=True)
    k.ifconfig("em0", "192.0.2.4/32", alias=True)
    got = {}
    for name, ip4 in (("two", ["192.0.2.2", "192.0.2.3"]), ("none", None)):
        try:
            j = k.jail(name, ip4=ip4)
        except OSError as e:
            got[name] = errno.errorcode[e.errno]
            continue
        bound = []
        for addr in ("192.0.2.3", "192.0.2.2"):
            try:
                s = j.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
                s.bind((addr, 0))
                bound.append(s.getsockname()[0])
            except OSError as e:
                bound.append(errno.errorcode[e.errno])
        got[name] = bound
    one = k.jail("one", ip4=["192.0.2.4"])
    s = one.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    s.bind(("0.0.0.0", 0))
    assert s.getsockname()[0] == "192.0.2.4"
    if profile == "9.0":
        assert got == {
            "two": ["192.0.2.3", "192.0.2.2"],
            "none": ["EPROTONOSUPPORT", "EPROTONOSUPPORT"],
        }
    else:
        assert got == {"two": "EINVAL", "none": "EINVAL"}


@pytest.mark.parametrize("profile", ["9.0", "9.0,multiple_fibs=0"])
def test_fibs(profile):
    """seed 001:233, no PR, revision unverified. route.c route_init and
    uipc_socket.c sosetopt (SO_SETFIB): after the change a kernel booted
    with two FIBs has net.fibs=2, SO_SETFIB 1 is accepted and a route
    only in FIB 1 carries the socket's datagram; before it there is one
    table: fibs=2 is refused, net.fibs is ENOENT, SO_SETFIB ENOPROTOOPT,
    setfib(2) ENOSYS, and the datagram finds no route (in_pcbladdr:
    ENETUNREACH)."""
    got = {}
    try:
        k = host(k=kstack.Kernel(profile=profile, fibs=2))
        got["boot"] = k.sysctl("net.fibs")
    except ValueError:
        got["boot"] = "refused"
        k = host(profile)
    got["net.fibs"] = _err(k.sysctl, "net.fibs")
    got["setfib"] = _err(k.setfib, 0)
    if got["boot"] == 2:
        k.route_add("203.0.113.0/24", "192.0.2.254", fib=1)
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM, 0)
    got["so_setfib"] = _err(s.setsockopt, sock.SOL_SOCKET, sock.SO_SETFIB, 1)
    got["send"] = _err(s.sendto, b"x", ("203.0.113.9", 9))
    sent = k.transmitted("em0")
    if profile == "9.0":
        assert got == {"boot": 2, "net.fibs": 0, "setfib": 0, "so_setfib": 0, "send": 0}
        assert len(sent) == 1 and sent[0][30:34] == bytes([203, 0, 113, 9])
    else:
        assert got == {
            "boot": "refused",
            "net.fibs": "ENOENT",
            "setfib": "ENOSYS",
            "so_setfib": "ENOPROTOOPT",
            "send": "ENETUNREACH",
        }
        assert sent == []
