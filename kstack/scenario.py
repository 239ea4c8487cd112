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
from kstack.net.route import RT_MAXFIBS
from kstack.profiles import Profile, get_profile

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario"]


class ScenarioError(Exception):
    """A scenario file that cannot be loaded (one-line message)."""


# Each key's type and range: ("str",), ("strs",) a string or a list of them,
# ("bool",), ("int", lo, hi), ("table",).
_Spec = dict[str, tuple[Any, ...]]
_FIB = ("int", 0, RT_MAXFIBS - 1)
_PORT = ("int", 0, 65535)
_KERNEL_SPEC: _Spec = {
    "profile": ("str",),
    "seed": ("int", 0, 2**64 - 1),
    "fibs": ("int", 1, RT_MAXFIBS),
}
_IFACE_SPEC: _Spec = {
    "name": ("str",),
    "addr": ("strs",),
    "ether": ("str",),
    "mtu": ("int", 72, 65535),
    "fib": _FIB,
    "up": ("bool",),
    "jail": ("str",),
}
_ROUTE_SPEC: _Spec = {
    "dest": ("str",),
    "gateway": ("str",),
    "iface": ("str",),
    "blackhole": ("bool",),
    "reject": ("bool",),
    "fib": _FIB,
    "mtu": ("int", 0, 2**64 - 1),  # rmx_mtu is a u_long; 0: the interface's
    "jail": ("str",),
}
_ARP_SPEC: _Spec = {"addr": ("str",), "ether": ("str",), "iface": ("str",), "jail": ("str",)}
_JAIL_SPEC: _Spec = {
    "name": ("str",),
    "jid": ("int", 1, 999999),
    "ip4": ("strs",),
    "vnet": ("bool",),
    "allow_raw_sockets": ("bool",),
    "saddrsel": ("bool",),
    "fib": _FIB,
    "sysctl": ("table",),
}
_EPAIR_SPEC: _Spec = {"a": ("str",), "b": ("str",)}
_SOCKET_SPEC: _Spec = {
    "name": ("str",),
    "type": ("str",),
    "proto": ("int", 0, 255),
    "bind": ("str",),
    "port": _PORT,
    "connect": ("str",),
    "connect_port": _PORT,
    "uid": ("int", 0, 2**32 - 1),
    "jail": ("str",),
    "options": ("table",),
    "join": ("joins",),
}
_JOIN_KEYS = ("group", "iface", "sources", "block")
_KERNEL_KEYS = frozenset(_KERNEL_SPEC)
_IFACE_KEYS = frozenset(_IFACE_SPEC)
_ROUTE_KEYS = frozenset(_ROUTE_SPEC)
_ARP_KEYS = frozenset(_ARP_SPEC)
_TOP_KEYS = frozenset({"kernel", "interface", "route", "arp", "sysctl", "jail", "epair", "socket"})
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # a C int: what setsockopt reads


def _shown(v: object) -> str:
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _check_types(t: dict[str, Any], spec: _Spec) -> None:
    """Raise ValueError naming the first key whose value has the wrong TOML
    type or is out of range."""
    for key, value in t.items():
        rule = spec.get(key)
        if rule is None:
            continue
        kind = rule[0]
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string, not {_shown(value)}")
        elif kind == "strs":
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(x, str) for x in value)
            )
            if not ok:
                raise ValueError(
                    f"{key} must be a string or a list of strings, not {_shown(value)}"
                )
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false, not {_shown(value)}")
        elif kind == "joins":
            _parse_joins(value)
        elif kind == "table":
            if not isinstance(value, dict):
                raise ValueError(f"{key} must be a table, not {_shown(value)}")
        elif kind == "int":
            lo, hi = rule[1], rule[2]
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{key} must be an integer, not {_shown(value)}")
            if not lo <= value <= hi:
                raise ValueError(f"{key} = {value} is out of range ({lo} to {hi})")


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
    epairs: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def _err(self, item: str, msg: object) -> ScenarioError:
        if isinstance(msg, OSError):
            msg = _oserror_text(msg)
        return ScenarioError(f"{self.name}: {item}: {_one_line(msg)}")

    def build(
        self,
        *,
        boottime_ns: int = DEFAULT_BOOTTIME_NS,
        profile: str | Profile | None = None,
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
        """Configure an existing Kernel: jails first (a vnet jail's stack must
        exist before its interfaces), then epairs, interfaces, routes, ARP,
        sysctls (the host's, then each jail's) and sockets."""
        steps: tuple[tuple[str, list[dict[str, Any]], str | None, Any], ...] = (
            ("jail", self.jails, "name", _apply_jail),
            ("epair", self.epairs, None, _apply_epair),
            ("interface", self.interfaces, "name", _apply_interface),
            ("route", self.routes, "dest", _apply_route),
            ("arp", self.arp, "addr", _apply_arp),
        )
        for kind, items, key, apply_one in steps:
            for i, t in enumerate(items, 1):
                try:
                    apply_one(k, t)
                except (OSError, ValueError, TypeError) as e:
                    what = f" ({t.get(key, '?')})" if key else ""
                    raise self._err(f"[[{kind}]] #{i}{what}", e) from None
        for name, value in self.sysctl.items():
            try:
                k.sysctl(name, value)
            except (OSError, ValueError, TypeError) as e:
                raise self._err(f"[sysctl] {name}", e) from None
        for i, t in enumerate(self.jails, 1):
            jt: dict[str, Any] = {}
            _flatten("", t.get("sysctl", {}), jt)
            for name, value in jt.items():
                try:
                    _jail_of(k, t.get("name", str(t.get("jid", "")))).sysctl(name, value)
                except (OSError, ValueError, TypeError, KeyError) as e:
                    raise self._err(f"[[jail]] #{i} sysctl {name}", e) from None
        if self.sockets:
            held: list[Any] = []
            for i, t in enumerate(self.sockets, 1):
                try:
                    held.append(_open_socket(k, t))
                except (OSError, ValueError, TypeError, KeyError) as e:
                    raise self._err(f"[[socket]] #{i}", e) from None
            k.scenario_sockets = held  # type: ignore[attr-defined]


def _one_line(msg: object) -> str:
    return " ".join(str(msg).split())


def _oserror_text(e: BaseException) -> str:
    """``ENAME: message``, never Python's ``[Errno N] message``."""
    if isinstance(e, OSError) and e.errno is not None:
        import errno as _errno

        code = _errno.errorcode.get(e.errno, str(e.errno))
        msg = e.strerror or str(e)
        return msg if msg.startswith(code) else f"{code}: {msg}"
    return str(e)


def _jail_of(k: Kernel, name: str) -> Any:
    j = k.jails.get(name)
    if j is None:
        raise ValueError(f"jail {name!r} does not exist")
    return j


def _owner(k: Kernel, t: Mapping[str, Any]) -> Any:
    """The kernel (the host), or the jail ``t["jail"]`` names."""
    return _jail_of(k, str(t["jail"])) if "jail" in t else k


def _apply_jail(k: Kernel, t: Mapping[str, Any]) -> None:
    """jail(8) run under ``setfib FIB`` when the jail has a ``fib``: its
    processes keep that FIB."""
    if "fib" in t:
        saved = k.proc_fibnum
        k.setfib(t["fib"])
        try:
            _make_jail(k, t)
        finally:
            k.proc_fibnum = saved
    else:
        _make_jail(k, t)


def _make_jail(k: Kernel, t: Mapping[str, Any]) -> None:
    kw: dict[str, Any] = {}
    for key in ("name", "jid", "vnet", "allow_raw_sockets", "saddrsel"):
        if key in t:
            kw[key] = t[key]
    if "ip4" in t:
        ip4 = t["ip4"]
        kw["ip4"] = (
            ip4
            if isinstance(ip4, str) and ip4 in ("inherit", "disable", "new")
            else ([ip4] if isinstance(ip4, str) else list(ip4))
        )
    k.jail(**kw)


def _apply_arp(k: Kernel, t: Mapping[str, Any]) -> None:
    _owner(k, t).arp_add(str(t["addr"]), str(t["ether"]), t.get("iface"))


def _apply_epair(k: Kernel, t: Mapping[str, Any]) -> None:
    """An epair between the host ("host", the default) and a vnet jail, or
    two vnet jails; the ends are epairNa (side a) and epairNb (side b)."""
    if "b" not in t:
        raise ValueError("missing key 'b' (a vnet jail, or \"host\")")

    def side(name: str) -> Any:
        return k.vnet0 if name == "host" else _jail_of(k, name)

    k.epair(side(str(t.get("a", "host"))), side(str(t["b"])))


def _apply_interface(k: Kernel, t: Mapping[str, Any]) -> None:
    owner = _owner(k, t)
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
    owner.ifconfig(name, **kw)
    for j, a in enumerate(addrs):
        if not isinstance(a, str):
            raise ValueError(f"address {a!r} is not a string")
        owner.ifconfig(name, a, alias=j > 0)
    if not up:
        owner.ifconfig(name, down=True)


def _apply_route(k: Kernel, t: Mapping[str, Any]) -> None:
    dest = str(t["dest"])
    kw: dict[str, Any] = {}
    for key in ("fib", "mtu", "blackhole", "reject", "iface"):
        if key in t:
            kw[key] = t[key]
    gateway = t.get("gateway")
    if gateway is None and not any(kw.get(x) for x in ("iface", "blackhole", "reject")):
        raise ValueError("needs one of gateway, iface, blackhole or reject")
    _owner(k, t).route_add(dest, None if gateway is None else str(gateway), **kw)


_SOCKET_KEYS = frozenset(_SOCKET_SPEC)


def _parse_joins(value: object) -> list[dict[str, Any]]:
    """``join``: a list of group addresses or tables {group, iface, sources
    or block}; ValueError names what is wrong."""
    if not isinstance(value, list):
        raise ValueError(f"join must be a list of groups, not {_shown(value)}")
    out: list[dict[str, Any]] = []
    for i, item in enumerate(value, 1):
        if isinstance(item, str):
            item = {"group": item}
        if not isinstance(item, dict):
            raise ValueError(f"join #{i} must be a group address or a table, not {_shown(item)}")
        unknown = sorted(set(item) - set(_JOIN_KEYS))
        if unknown:
            raise ValueError(
                f"join #{i}: unknown key {unknown[0]!r} (allowed: {', '.join(_JOIN_KEYS)})"
            )
        if not isinstance(item.get("group"), str):
            raise ValueError(f'join #{i}: needs group = "a.b.c.d"')
        if "iface" in item and not isinstance(item["iface"], str):
            raise ValueError(f"join #{i}: iface must be an interface name")
        for key in ("sources", "block"):
            v = item.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"join #{i}: {key} must be a list of addresses")
        if item.get("sources") and item.get("block"):
            raise ValueError(
                f"join #{i}: sources (include mode) and block (exclude mode) exclude each other"
            )
        out.append(item)
    return out


def _join(k: Kernel, s: Any, spec: Mapping[str, Any]) -> None:
    """Join one group as a program would: IP_ADD_MEMBERSHIP (or, with an
    interface, MCAST_JOIN_GROUP), IP_ADD_SOURCE_MEMBERSHIP / MCAST_JOIN_SOURCE_GROUP
    per source, IP_BLOCK_SOURCE / MCAST_BLOCK_SOURCE per blocked source."""
    from kstack import sock

    group = spec["group"]
    ifindex = 0
    if "iface" in spec:
        vnet = getattr(s, "vnet", None)
        ifp = vnet.ifnet_by_name.get(spec["iface"]) if vnet is not None else None
        if ifp is None:
            raise ValueError(f"join {group}: interface {spec['iface']!r} does not exist")
        ifindex = ifp.index
    ip = sock.IPPROTO_IP
    sources = spec.get("sources", [])
    if sources:
        for src in sources:
            if ifindex:
                s.setsockopt(
                    ip, sock.MCAST_JOIN_SOURCE_GROUP, sock.group_source_req(ifindex, group, src)
                )
            else:
                s.setsockopt(ip, sock.IP_ADD_SOURCE_MEMBERSHIP, sock.ip_mreq_source(group, src))
        return
    if ifindex:
        s.setsockopt(ip, sock.MCAST_JOIN_GROUP, sock.group_req(ifindex, group))
    else:
        s.setsockopt(ip, sock.IP_ADD_MEMBERSHIP, sock.ip_mreq(group))
    for src in spec.get("block", []):
        if ifindex:
            s.setsockopt(ip, sock.MCAST_BLOCK_SOURCE, sock.group_source_req(ifindex, group, src))
        else:
            s.setsockopt(ip, sock.IP_BLOCK_SOURCE, sock.ip_mreq_source(group, src))


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
    owner: Any = _owner(k, t)
    opts = dict(t.get("options", {}))
    for opt, value in opts.items():
        num = getattr(sock, str(opt), None)
        if not isinstance(num, int) or not str(opt).startswith(("SO_", "IP_")):
            raise ValueError(f"unknown socket option {opt!r}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"option {opt} must be an integer, not {_shown(value)}")
        if not _INT_MIN <= value <= _INT_MAX:
            raise ValueError(f"option {opt} = {value} does not fit the C int setsockopt reads")
    s = owner.socket(sock.AF_INET, types[kind], int(t.get("proto", 0)), uid=int(t.get("uid", 0)))
    if "name" in t:
        s.name = str(t["name"])
    for opt, value in opts.items():
        level = sock.SOL_SOCKET if str(opt).startswith("SO_") else sock.IPPROTO_IP
        s.setsockopt(level, getattr(sock, str(opt)), value)
    for spec in _parse_joins(t.get("join", [])):
        try:
            _join(k, s, spec)
        except OSError as e:
            what = os.strerror(e.errno) if e.errno else str(e)
            raise OSError(e.errno, f"join {spec['group']} refused: {what}") from None
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


def _check_table(name: str, item: str, t: object, spec: _Spec) -> dict[str, Any]:
    if not isinstance(t, dict):
        raise ScenarioError(f"{name}: {item}: must be a table")
    unknown = sorted(set(t) - set(spec))
    if unknown:
        raise ScenarioError(
            f"{name}: {item}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(spec))})"
        )
    label = item
    if "name" in t and isinstance(t["name"], str):
        label = f"{item} ({t['name']})"
    try:
        _check_types(t, spec)
    except ValueError as e:
        raise ScenarioError(f"{name}: {label}: {e}") from None
    return t


def _check_list(name: str, key: str, doc: Mapping[str, Any]) -> list[Any]:
    v = doc.get(key, [])
    if not isinstance(v, list):
        raise ScenarioError(f"{name}: {key}: must be an array of tables ([[{key}]])")
    return v


def _check_fibs(name: str, sc: Scenario) -> None:
    """A ``fib`` must be one of the tables ``[kernel] fibs`` boots with; an
    Ethernet interface takes no MTU above ETHERMTU (VNet.ifconfig)."""
    for i, t in enumerate(sc.interfaces, 1):
        ifname = t.get("name")
        top = 65535 if str(ifname).startswith(("lo", "epair")) else 1500
        if t.get("mtu", 0) > top:
            raise ScenarioError(
                f"{name}: [[interface]] #{i} ({ifname}): mtu = {t['mtu']} is out of range "
                f"(72 to {top} on {ifname})"
            )
    fibs = int(sc.kernel.get("fibs", 1))
    for kind, items in (("interface", sc.interfaces), ("route", sc.routes), ("jail", sc.jails)):
        for i, t in enumerate(items, 1):
            fib = t.get("fib", 0)
            if fib >= fibs:
                label = f"[[{kind}]] #{i}"
                if isinstance(t.get("name"), str):
                    label += f" ({t['name']})"
                raise ScenarioError(
                    f"{name}: {label}: fib = {fib} is out of range "
                    f"(0 to {fibs - 1}: [kernel] fibs = {fibs})"
                )


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
    sc.kernel = _check_table(name, "[kernel]", doc.get("kernel", {}), _KERNEL_SPEC)
    if "profile" in sc.kernel:
        try:
            get_profile(sc.kernel["profile"])
        except ValueError as e:
            raise ScenarioError(f"{name}: [kernel]: {e}") from None
    for i, t in enumerate(_check_list(name, "interface", doc), 1):
        item = f"[[interface]] #{i}"
        t = _check_table(name, item, t, _IFACE_SPEC)
        if "name" not in t:
            raise ScenarioError(f"{name}: {item}: missing key 'name'")
        sc.interfaces.append(t)
    for i, t in enumerate(_check_list(name, "route", doc), 1):
        item = f"[[route]] #{i}"
        t = _check_table(name, item, t, _ROUTE_SPEC)
        if "dest" not in t:
            raise ScenarioError(f"{name}: {item}: missing key 'dest'")
        sc.routes.append(t)
    for i, t in enumerate(_check_list(name, "arp", doc), 1):
        item = f"[[arp]] #{i}"
        t = _check_table(name, item, t, _ARP_SPEC)
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
        sc.jails.append(_check_table(name, f"[[jail]] #{i}", t, _JAIL_SPEC))
    for i, t in enumerate(_check_list(name, "epair", doc), 1):
        sc.epairs.append(_check_table(name, f"[[epair]] #{i}", t, _EPAIR_SPEC))
    _check_fibs(name, sc)
    for i, t in enumerate(_check_list(name, "socket", doc), 1):
        if not isinstance(t, dict):
            raise ScenarioError(f"{name}: [[socket]] #{i}: must be a table")
        unknown = sorted(set(t) - _SOCKET_KEYS)
        if not unknown:
            try:
                _check_types(t, _SOCKET_SPEC)
            except ValueError as e:
                raise ScenarioError(f"{name}: [[socket]] #{i}: {e}") from None
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
