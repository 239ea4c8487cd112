"""Scenarios: a TOML description of an emulated host, loaded into a Kernel.

The schema is documented in ``docs/replay.md``. Every problem (TOML syntax,
an unknown key, a bad address, an error from the kernel) is raised as
:class:`ScenarioError`, whose ``str()`` is one line naming the file and the
item at fault.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kstack.kern.kernel import DEFAULT_BOOTTIME_NS, Kernel

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario"]


class ScenarioError(Exception):
    """A scenario file that cannot be loaded (one-line message)."""


_KERNEL_KEYS = frozenset({"profile", "seed", "fibs"})
_IFACE_KEYS = frozenset({"name", "addr", "ether", "mtu", "fib", "up"})
_ROUTE_KEYS = frozenset({"dest", "gateway", "iface", "blackhole", "reject", "fib", "mtu"})
_ARP_KEYS = frozenset({"addr", "ether", "iface"})
_TOP_KEYS = frozenset({"kernel", "interface", "route", "arp", "sysctl", "jail", "socket"})


@dataclass
class Scenario:
    """A parsed scenario file; :meth:`build` makes a configured Kernel."""

    path: str
    kernel: dict[str, Any] = field(default_factory=dict)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    arp: list[dict[str, Any]] = field(default_factory=list)
    sysctl: dict[str, Any] = field(default_factory=dict)
    jails: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def _err(self, item: str, msg: object) -> ScenarioError:
        return ScenarioError(f"{self.name}: {item}: {_one_line(msg)}")

    def build(
        self,
        *,
        boottime_ns: int = DEFAULT_BOOTTIME_NS,
        profile: str | None = None,
        seed: int | None = None,
    ) -> Kernel:
        """Boot a Kernel and apply the scenario to it.

        ``profile``/``seed`` override the ``[kernel]`` table when given."""
        kt = self.kernel
        try:
            k = Kernel(
                profile if profile is not None else kt.get("profile", "9.0"),
                seed=seed if seed is not None else kt.get("seed", 0),
                fibs=kt.get("fibs", 1),
                boottime_ns=boottime_ns,
            )
        except (OSError, ValueError, TypeError) as e:
            raise self._err("[kernel]", e) from None
        self.apply(k)
        return k

    def apply(self, k: Kernel) -> None:
        """Configure an existing Kernel (interfaces, routes, ARP, sysctls...)."""
        for i, t in enumerate(self.interfaces, 1):
            item = f"[[interface]] #{i} ({t.get('name', '?')})"
            try:
                _apply_interface(k, t)
            except (OSError, ValueError, TypeError) as e:
                raise self._err(item, e) from None
        for i, t in enumerate(self.routes, 1):
            item = f"[[route]] #{i} ({t.get('dest', '?')})"
            try:
                _apply_route(k, t)
            except (OSError, ValueError, TypeError) as e:
                raise self._err(item, e) from None
        for i, t in enumerate(self.arp, 1):
            item = f"[[arp]] #{i} ({t.get('addr', '?')})"
            try:
                k.arp_add(str(t["addr"]), str(t["ether"]), t.get("iface"))
            except (OSError, ValueError, TypeError) as e:
                raise self._err(item, e) from None
        for name, value in self.sysctl.items():
            try:
                k.sysctl(name, value)
            except (OSError, ValueError, TypeError) as e:
                raise self._err(f"[sysctl] {name}", _oserror_text(e)) from None
        if self.jails:
            jail = getattr(k, "jail", None)
            if jail is None:
                raise self._err("[[jail]]", "jails are not supported yet")
            for i, t in enumerate(self.jails, 1):
                try:
                    jail(**t)
                except (OSError, ValueError, TypeError) as e:
                    raise self._err(f"[[jail]] #{i} ({t.get('name', '?')})", e) from None
        if self.sockets:
            socket = getattr(k, "socket", None)
            if socket is None:
                raise self._err("[[socket]]", "sockets are not supported yet")
            held: list[Any] = []
            for i, t in enumerate(self.sockets, 1):
                try:
                    held.append(_open_socket(k, t))
                except (OSError, ValueError, TypeError, KeyError) as e:
                    raise self._err(f"[[socket]] #{i}", _oserror_text(e)) from None
            k.scenario_sockets = held  # type: ignore[attr-defined]


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def _oserror_text(e: BaseException) -> str:
    if isinstance(e, OSError) and e.errno is not None:
        import errno as _errno

        code = _errno.errorcode.get(e.errno, str(e.errno))
        return f"{code}: {e.strerror or e}"
    return str(e)


def _apply_interface(k: Kernel, t: Mapping[str, Any]) -> None:
    name = str(t["name"])
    addrs = t.get("addr", [])
    if isinstance(addrs, str):
        addrs = [addrs]
    kw: dict[str, Any] = {}
    for key in ("ether", "mtu", "fib"):
        if key in t:
            kw[key] = t[key]
    up = t.get("up", True)
    if not isinstance(up, bool):
        raise ValueError(f"up must be true or false, not {up!r}")
    k.ifconfig(name, **kw)
    for j, a in enumerate(addrs):
        if not isinstance(a, str):
            raise ValueError(f"address {a!r} is not a string")
        k.ifconfig(name, a, alias=j > 0)
    if not up:
        k.ifconfig(name, down=True)


def _apply_route(k: Kernel, t: Mapping[str, Any]) -> None:
    dest = str(t["dest"])
    kw: dict[str, Any] = {}
    for key in ("fib", "mtu", "blackhole", "reject", "iface"):
        if key in t:
            kw[key] = t[key]
    gateway = t.get("gateway")
    if gateway is None and not any(kw.get(x) for x in ("iface", "blackhole", "reject")):
        raise ValueError("needs one of gateway, iface, blackhole or reject")
    k.route_add(dest, None if gateway is None else str(gateway), **kw)


_SOCKET_KEYS = frozenset(
    {"name", "type", "proto", "bind", "port", "connect", "connect_port", "uid", "jail", "options"}
)


def _open_socket(k: Kernel, t: Mapping[str, Any]) -> Any:
    """Create, configure, bind and connect one [[socket]]. ``options`` maps
    option names of kstack.sock (SO_*, IP_*) to integer values."""
    from kstack import sock

    unknown = sorted(set(t) - _SOCKET_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_SOCKET_KEYS))})")
    types = {"raw": sock.SOCK_RAW, "dgram": sock.SOCK_DGRAM}
    kind = t.get("type")
    if kind not in types:
        raise ValueError(f"type must be 'raw' or 'dgram', not {kind!r}")
    owner: Any = k
    if "jail" in t:
        owner = k.jails[t["jail"]]  # type: ignore[attr-defined]
    s = owner.socket(sock.AF_INET, types[kind], int(t.get("proto", 0)), uid=int(t.get("uid", 0)))
    if "name" in t:
        s.name = str(t["name"])
    for opt, value in dict(t.get("options", {})).items():
        num = getattr(sock, str(opt), None)
        if not isinstance(num, int) or not str(opt).startswith(("SO_", "IP_")):
            raise ValueError(f"unknown socket option {opt!r}")
        level = sock.SOL_SOCKET if str(opt).startswith("SO_") else sock.IPPROTO_IP
        s.setsockopt(level, num, int(value))
    if "bind" in t or "port" in t:
        s.bind((str(t.get("bind", "0.0.0.0")), int(t.get("port", 0))))
    if "connect" in t:
        s.connect((str(t["connect"]), int(t.get("connect_port", 0))))
    return s


def _flatten(prefix: str, table: Mapping[str, Any], out: dict[str, Any]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = value


def _check_table(name: str, item: str, t: object, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(t, dict):
        raise ScenarioError(f"{name}: {item}: must be a table")
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise ScenarioError(
            f"{name}: {item}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    return t


def _check_list(name: str, key: str, doc: Mapping[str, Any]) -> list[Any]:
    v = doc.get(key, [])
    if not isinstance(v, list):
        raise ScenarioError(f"{name}: {key}: must be an array of tables ([[{key}]])")
    return v


def parse_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file (without booting a kernel)."""
    spath = os.fspath(path)
    name = os.path.basename(spath)
    try:
        with open(spath, "rb") as f:
            doc = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{name}: TOML syntax error: {_one_line(e)}") from None
    except OSError as e:
        raise ScenarioError(f"{name}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{name}: not UTF-8 text: {_one_line(e)}") from None
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise ScenarioError(f"{name}: unknown section {unknown[0]!r}")
    sc = Scenario(spath)
    sc.kernel = _check_table(name, "[kernel]", doc.get("kernel", {}), _KERNEL_KEYS)
    for i, t in enumerate(_check_list(name, "interface", doc), 1):
        item = f"[[interface]] #{i}"
        t = _check_table(name, item, t, _IFACE_KEYS)
        if "name" not in t:
            raise ScenarioError(f"{name}: {item}: missing key 'name'")
        sc.interfaces.append(t)
    for i, t in enumerate(_check_list(name, "route", doc), 1):
        item = f"[[route]] #{i}"
        t = _check_table(name, item, t, _ROUTE_KEYS)
        if "dest" not in t:
            raise ScenarioError(f"{name}: {item}: missing key 'dest'")
        sc.routes.append(t)
    for i, t in enumerate(_check_list(name, "arp", doc), 1):
        item = f"[[arp]] #{i}"
        t = _check_table(name, item, t, _ARP_KEYS)
        for key in ("addr", "ether"):
            if key not in t:
                raise ScenarioError(f"{name}: {item}: missing key {key!r}")
        sc.arp.append(t)
    sysctl = doc.get("sysctl", {})
    if not isinstance(sysctl, dict):
        raise ScenarioError(f"{name}: [sysctl]: must be a table")
    _flatten("", sysctl, sc.sysctl)
    for key, value in sc.sysctl.items():
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ScenarioError(f"{name}: [sysctl] {key}: value must be an integer or a string")
    for i, t in enumerate(_check_list(name, "jail", doc), 1):
        if not isinstance(t, dict):
            raise ScenarioError(f"{name}: [[jail]] #{i}: must be a table")
        sc.jails.append(t)
    for i, t in enumerate(_check_list(name, "socket", doc), 1):
        if not isinstance(t, dict):
            raise ScenarioError(f"{name}: [[socket]] #{i}: must be a table")
        sc.sockets.append(t)
    return sc


def load_scenario(
    path: str | os.PathLike[str],
    *,
    boottime_ns: int = DEFAULT_BOOTTIME_NS,
    profile: str | None = None,
    seed: int | None = None,
) -> Kernel:
    """Parse ``path`` and return a Kernel configured by it."""
    return parse_scenario(path).build(boottime_ns=boottime_ns, profile=profile, seed=seed)
