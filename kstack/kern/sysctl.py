"""sysctl(3): a tree of named values with FreeBSD's names, types and errors.

Each leaf is an :class:`Oid`. Its value lives either in a virtual network
stack (``CTLFLAG_VNET``: one value per :class:`~kstack.net.vnet.VNet`) or in
the :class:`~kstack.kern.kernel.Kernel` (one value per machine). Values are
kept in plain dicts keyed by the full name, so the packet path reads them with
a single lookup (``vnet.sc["net.inet.ip.forwarding"]``).

Errors follow ``sysctl_root()`` and the stock handlers:

* unknown name: ENOENT;
* a name that is an inner node: EISDIR;
* writing a read-only or boot-time tunable leaf: EPERM;
* a value of the wrong type or out of the handler's range: EINVAL.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.net.vnet import VNet

Value = int | str

# Flags, by their FreeBSD names.
CTLFLAG_RD = 0x80000000
CTLFLAG_WR = 0x40000000
CTLFLAG_RW = CTLFLAG_RD | CTLFLAG_WR
CTLFLAG_TUN = 0x00080000  # may be given at boot (Kernel(tunables=...))
CTLFLAG_RDTUN = CTLFLAG_RD | CTLFLAG_TUN
CTLFLAG_VNET = 0x00020000  # one value per virtual network stack

# Kinds, as sysctl(8) prints them with -t.
CTLTYPE_INT = "integer"
CTLTYPE_UINT = "unsigned integer"
CTLTYPE_LONG = "long integer"
CTLTYPE_ULONG = "unsigned long"
CTLTYPE_STRING = "string"
CTLTYPE_OPAQUE = "opaque"

_RANGES = {
    CTLTYPE_INT: (-(2**31), 2**31 - 1),
    CTLTYPE_UINT: (0, 2**32 - 1),
    CTLTYPE_LONG: (-(2**63), 2**63 - 1),
    CTLTYPE_ULONG: (0, 2**64 - 1),
}


def sysctl_error(code: int, name: str) -> OSError:
    """The exception a failing sysctl raises (errno as Python's errno module)."""
    return OSError(code, f"{name}: {errno.errorcode.get(code, code)}", name)


class Ctx:
    """Where a handler runs: the kernel and (for VNET oids) the vnet."""

    __slots__ = ("kernel", "vnet")

    def __init__(self, kernel: Kernel, vnet: VNet | None) -> None:
        self.kernel = kernel
        self.vnet = vnet


Check = Callable[[Ctx, Any], None]
Getter = Callable[[Ctx], Value]
Setter = Callable[[Ctx, Any], None]


@dataclass(slots=True, frozen=True)
class Oid:
    """One sysctl leaf.

    ``default`` may be a callable of the kernel for values computed at boot.
    ``check`` validates a new value (raise OSError(EINVAL) to refuse); ``get``
    replaces the stored value with a computed one (read-only views such as
    queue drop counters); ``set`` runs after a value is stored, to apply it.
    """

    name: str
    kind: str
    default: Value | Callable[[Kernel], Value]
    flags: int
    descr: str
    lo: int | None = None
    hi: int | None = None
    check: Check | None = None
    get: Getter | None = None
    set: Setter | None = None

    @property
    def vnet(self) -> bool:
        return bool(self.flags & CTLFLAG_VNET)

    @property
    def writable(self) -> bool:
        return bool(self.flags & CTLFLAG_WR)

    @property
    def tunable(self) -> bool:
        return bool(self.flags & CTLFLAG_TUN)


class SysctlTree:
    """The registered oids of one kernel (shared by all its vnets)."""

    __slots__ = ("oids", "nodes")

    def __init__(self) -> None:
        self.oids: dict[str, Oid] = {}
        self.nodes: set[str] = set()

    def register(self, *oids: Oid) -> None:
        for oid in oids:
            if oid.name in self.oids or oid.name in self.nodes:
                raise ValueError(f"sysctl {oid.name} registered twice")
            self.oids[oid.name] = oid
            parts = oid.name.split(".")
            for i in range(1, len(parts)):
                self.nodes.add(".".join(parts[:i]))

    def lookup(self, name: str) -> Oid:
        oid = self.oids.get(name)
        if oid is None:
            if name in self.nodes:
                raise sysctl_error(errno.EISDIR, name)
            raise sysctl_error(errno.ENOENT, name)
        return oid

    def walk(self, prefix: str = "") -> Iterator[Oid]:
        """Leaves in name order (as ``sysctl -a`` lists them), under ``prefix``."""
        if prefix and prefix not in self.nodes and prefix not in self.oids:
            raise sysctl_error(errno.ENOENT, prefix)
        for name in sorted(self.oids):
            if not prefix or name == prefix or name.startswith(prefix + "."):
                yield self.oids[name]

    def defaults(self, kernel: Kernel, vnet: bool) -> dict[str, Value]:
        out: dict[str, Value] = {}
        for oid in self.oids.values():
            if oid.vnet == vnet:
                d = oid.default
                out[oid.name] = d(kernel) if callable(d) else d
        return out


def coerce(oid: Oid, value: object) -> Value:
    """Turn a caller's value into the oid's type, as the stock handlers would
    parse it (EINVAL when it cannot be)."""
    if oid.kind == CTLTYPE_STRING:
        if not isinstance(value, str):
            raise sysctl_error(errno.EINVAL, oid.name)
        return value
    if oid.kind == CTLTYPE_OPAQUE:
        raise sysctl_error(errno.EPERM, oid.name)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise sysctl_error(errno.EINVAL, oid.name)
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)
        except ValueError:
            raise sysctl_error(errno.EINVAL, oid.name) from None
    lo, hi = _RANGES[oid.kind]
    if not lo <= value <= hi:
        raise sysctl_error(errno.EINVAL, oid.name)
    if (oid.lo is not None and value < oid.lo) or (oid.hi is not None and value > oid.hi):
        raise sysctl_error(errno.EINVAL, oid.name)
    return value


def sysctl_read(tree: SysctlTree, ctx: Ctx, store: dict[str, Value], name: str) -> Value:
    oid = tree.lookup(name)
    if oid.get is not None:
        return oid.get(ctx)
    return store[name]


def sysctl_write(
    tree: SysctlTree,
    ctx: Ctx,
    store: dict[str, Value],
    name: str,
    value: object,
    *,
    boot: bool = False,
) -> Value:
    """Set ``name``; returns the previous value. ``boot`` allows tunables."""
    oid = tree.lookup(name)
    if not (oid.writable or (boot and oid.tunable)):
        raise sysctl_error(errno.EPERM, name)
    new = coerce(oid, value)
    if oid.check is not None:
        oid.check(ctx, new)
    old = oid.get(ctx) if oid.get is not None else store[name]
    store[name] = new
    if oid.set is not None:
        oid.set(ctx, new)
    return old


def range_check(lo: int, hi: int) -> Check:
    """A check refusing values outside [lo, hi] with EINVAL."""

    def check(ctx: Ctx, value: Any) -> None:
        if not lo <= value <= hi:
            raise OSError(errno.EINVAL, "value out of range")

    return check
