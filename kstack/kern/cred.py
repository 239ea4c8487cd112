"""Credentials (sys/ucred.h) and the privilege checks the IPv4 code makes
(kern_priv.c priv_check_cred, kern_jail.c prison_priv_check)."""

from __future__ import annotations

import errno
from typing import Any

# The privileges netinet asks for (sys/priv.h names).
PRIV_NETINET_RESERVEDPORT = "PRIV_NETINET_RESERVEDPORT"
PRIV_NETINET_REUSEPORT = "PRIV_NETINET_REUSEPORT"
PRIV_NETINET_RAW = "PRIV_NETINET_RAW"
PRIV_NETINET_BINDANY = "PRIV_NETINET_BINDANY"
PRIV_NETINET_SETHDROPTS = "PRIV_NETINET_SETHDROPTS"
PRIV_NETINET_MROUTE = "PRIV_NETINET_MROUTE"
PRIV_NETINET_IPFW = "PRIV_NETINET_IPFW"
PRIV_NETINET_DUMMYNET = "PRIV_NETINET_DUMMYNET"


class Ucred:
    """A process credential: a user id and the prison it lives in.

    ``uid == 0`` is the superuser, which holds every privilege outside a
    jail; any other uid holds none of the network privileges.
    """

    __slots__ = ("uid", "prison", "fib")

    def __init__(self, uid: int = 0, prison: Any = None, fib: int | None = None) -> None:
        self.uid = uid
        self.prison = prison
        # The process FIB (setfib) when it is not the kernel's current one:
        # a jail's processes keep the FIB of whoever started the jail.
        self.fib = fib

    def __repr__(self) -> str:
        return f"Ucred(uid={self.uid})"


def priv_check_cred(cred: Ucred, priv: str) -> int:
    """0 when ``cred`` holds ``priv``, else EPERM."""
    if cred.uid != 0:
        return errno.EPERM
    prison = cred.prison
    if prison is not None:
        check = getattr(prison, "priv_check", None)
        if check is not None:
            return int(check(priv))
    return 0


def jailed_ip4(cred: Ucred) -> bool:
    """prison_flag(cred, PR_IP4): the credential's addresses are restricted."""
    prison = cred.prison
    return prison is not None and bool(getattr(prison, "ip4_restricted", False))
