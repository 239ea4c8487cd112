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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kstack.kern.kernel import Kernel
    from kstack.net.vnet import VNet

# bytes: an opaque leaf (a pcb list) read whole, as a big enough buffer gets it.
Value = int | str | bytes

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
    """Where a handler runs: the kernel, (for VNET oids) the vnet, and the
    reader's credential (None: the host's root), which list handlers such as
    the pcb lists filter by."""

    __slots__ = ("kernel", "vnet", "cred")

    def __init__(self, kernel: Kernel, vnet: VNet | None, cred: Any = None) -> None:
        self.kernel = kernel
        self.vnet = vnet
        self.cred = cred


Check = Callable[[Ctx, Any], None]
Getter = Callable[[Ctx], Value]
Setter = Callable[[Ctx, Any], None]


@dataclass(slots=True, frozen=True)
class Oid:
    """One sysctl leaf.

    ``default`` may be a callable of the kernel for values computed at boot
    (``kernel.profile`` gives a default that depends on the profile).
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


def _add_oids(oids: dict[str, Oid], nodes: set[str], new: Iterable[Oid]) -> None:
    for oid in new:
        if oid.name in oids or oid.name in nodes:
            raise ValueError(f"sysctl {oid.name} registered twice")
        oids[oid.name] = oid
        parts = oid.name.split(".")
        for i in range(1, len(parts)):
            nodes.add(".".join(parts[:i]))


class SysctlSchema:
    """The part of a sysctl tree that never changes once built: the leaves
    (names, types, flags, descriptions, handlers), the inner nodes, and the
    compiled-in defaults, split by scope (machine or vnet) into constant
    values and values computed per kernel. Built once per process for each
    profile and shared by every kernel of that profile; values live in the
    kernels and their vnets, never here."""

    __slots__ = ("oids", "nodes", "_static", "_computed")

    def __init__(self, oids: Iterable[Oid]) -> None:
        self.oids: dict[str, Oid] = {}
        self.nodes: set[str] = set()
        _add_oids(self.oids, self.nodes, oids)
        static: dict[bool, dict[str, Value]] = {False: {}, True: {}}
        computed: dict[bool, list[tuple[str, Callable[[Kernel], Value]]]] = {
            False: [],
            True: [],
        }
        for oid in self.oids.values():
            d = oid.default
            scope = oid.vnet
            if callable(d):
                # A placeholder keeps the dict's order the registration order.
                static[scope][oid.name] = 0
                computed[scope].append((oid.name, d))
            else:
                static[scope][oid.name] = d
        self._static = static
        self._computed = {k: tuple(v) for k, v in computed.items()}

    def defaults(self, kernel: Kernel, vnet: bool) -> dict[str, Value]:
        out = self._static[vnet].copy()
        for name, fn in self._computed[vnet]:
            out[name] = fn(kernel)
        return out


class SysctlTree:
    """The registered oids of one kernel (shared by all its vnets).

    It starts from a shared :class:`SysctlSchema` (or empty) and copies it
    only when a leaf is registered later (a module loaded at run time), so
    a kernel costs nothing for the leaves it has in common with the others.
    ``oids`` and ``nodes`` are read-only views: use ``register`` to add."""

    __slots__ = ("oids", "nodes", "_schema", "_extra")

    def __init__(self, schema: SysctlSchema | None = None) -> None:
        self._schema = schema
        self._extra: list[Oid] = []
        if schema is None:
            self.oids: dict[str, Oid] = {}
            self.nodes: set[str] = set()
        else:
            self.oids = schema.oids
            self.nodes = schema.nodes

    def register(self, *oids: Oid) -> None:
        schema = self._schema
        if schema is not None and self.oids is schema.oids:
            self.oids = dict(schema.oids)
            self.nodes = set(schema.nodes)
        _add_oids(self.oids, self.nodes, oids)
        if schema is not None:
            self._extra.extend(oids)

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
        """The compiled-in values of one scope (machine or vnet), in
        registration order."""
        if self._schema is not None:
            out = self._schema.defaults(kernel, vnet)
            extra: Iterable[Oid] = self._extra
        else:
            out = {}
            extra = self.oids.values()
        for oid in extra:
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
