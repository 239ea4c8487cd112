"""Random calls with random arguments on the public API.

Hypothesis drives a small host (em0 and em1, static ARP, a few sockets)
through sequences of calls to Kernel, VNet, Socket and Jail methods, with
arguments drawn from valid values and from every kind of wrong one. Two
properties hold throughout:

* a call fails only with OSError (BlockingIOError included), TypeError or
  ValueError; never with an exception from inside (AttributeError,
  IndexError, KeyError, OverflowError, struct.error...). A received packet
  that makes the emulated 9.0 kernel panic raises kstack.Panic, which is
  an outcome, and ends the run;
* every frame handed to ``input()`` is accounted for: the call returns an
  Outcome of a known kind, the interface counts one more packet, and
  ``ips_total`` moves by exactly one when the frame reaches ip_input (by
  the rules of ether_input) and not at all otherwise.

At the end every socket is closed and the pcb tables are empty again.
The run is derandomized and small, so it gives the same verdict every time
in a few seconds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kstack
from kstack import sock
from kstack.net.if_var import IFF_PROMISC, IFF_UP, IFT_LOOP
from kstack.outcome import KINDS, Outcome
from kstack.testing import (
    HOST,
    HOST1,
    PEER,
    ROUTER,
    UDP,
    Raw,
    echo_request,
    from_far,
    from_peer,
    host,
    udp_to,
)

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ALLOWED = (OSError, TypeError, ValueError)

ADDRS = [
    HOST,
    HOST1,
    PEER,
    ROUTER,
    "0.0.0.0",
    "127.0.0.1",
    "255.255.255.255",
    "192.0.2.255",
    "224.0.0.1",
    "239.1.2.3",
    "203.0.113.9",
    "010.0.0.1",
    "192.0.2.1 junk",
    "",
    "<broadcast>",
]
PORTS = [0, 7, 53, 1023, 5353, 7000, 40000, 65535, 65536, -1, "x", None, 1.5]
LEVELS = [sock.SOL_SOCKET, sock.IPPROTO_IP, sock.IPPROTO_UDP, sock.IPPROTO_RAW, -1, 2**40, "x"]
OPTNAMES = [
    getattr(sock, n)
    for n in sorted(dir(sock))
    if (n.startswith(("SO_", "IP_", "MCAST_")) and isinstance(getattr(sock, n), int))
] + [-1, 0, 2**33]
SYSCTLS = [
    "net.inet.ip.forwarding",
    "net.inet.ip.ttl",
    "net.inet.ip.portrange.first",
    "net.inet.ip.portrange.last",
    "net.inet.ip.portrange.randomized",
    "net.inet.ip.intr_queue_maxlen",
    "net.isr.dispatch",
    "net.inet.icmp.icmplim",
    "net.inet.udp.recvspace",
    "net.inet.ip.random_id",
    "kern.ipc.maxsockbuf",
    "net.fibs",
    "net.inet",
    "no.such.name",
    "",
]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=24),
    st.lists(st.integers(-1, 300), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
    st.just(object()),
)
ints = st.one_of(
    st.integers(-2, 300), st.sampled_from([2**31 - 1, -(2**31), 2**31, 2**32, 2**63, 2**64])
)
addr = st.one_of(st.sampled_from(ADDRS), junk)
port = st.one_of(st.sampled_from(PORTS), junk)
sockaddr = st.one_of(
    st.tuples(addr, port),
    st.binary(max_size=20),
    st.builds(
        lambda a, p: sock.sockaddr_in(a, p), st.sampled_from(ADDRS[:11]), st.integers(0, 65535)
    ),
    junk,
)
optval = st.one_of(
    ints,
    st.binary(max_size=40),
    st.sampled_from(
        [
            sock.ip_mreq("239.1.2.3", HOST),
            sock.ip_mreqn("239.1.2.3", HOST, 2),
            sock.ip_mreq_source("239.1.2.3", PEER, HOST),
            sock.group_req(2, "239.1.2.3"),
            sock.group_source_req(2, "239.1.2.3", PEER),
            sock.timeval(1, 5),
            sock.linger(1, 3),
        ]
    ),
    junk,
)
data = st.one_of(
    st.binary(max_size=64), st.sampled_from([bytearray(b"ab"), memoryview(b"cd")]), junk
)
flags = st.one_of(
    st.sampled_from([0, sock.MSG_PEEK, sock.MSG_DONTWAIT, sock.MSG_OOB, sock.MSG_TRUNC]), ints, junk
)
sizes = st.one_of(st.sampled_from([0, 1, 16, 2048, 65536]), ints, junk)


def _seed_frames() -> list[bytes]:
    return [
        bytes(echo_request()),
        bytes(udp_to(7000)),
        bytes(udp_to(53, dst="192.0.2.255", eth_dst="ff:ff:ff:ff:ff:ff")),
        bytes(udp_to(5353, dst="239.1.2.3", eth_dst="01:00:5e:01:02:03")),
        bytes(from_peer(proto=253) / Raw(b"raw payload")),
        bytes(from_peer(dst="203.0.113.9", ttl=1) / UDP(sport=1, dport=2)),
        bytes(from_far(dst=HOST1, flags="MF", frag=0) / Raw(b"x" * 24)),
        bytes(from_peer(options=b"\x07\x07\x04\x00\x00\x00\x00\x00") / Raw(b"rr")),
    ]


SEEDS = _seed_frames()


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """A seed frame mutated at a few places, truncated or extended; or
    random bytes."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=80))
    buf = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        i = draw(st.integers(0, len(buf) - 1))
        buf[i] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(buf))))
    if cut is not None:
        buf = buf[:cut]
    return bytes(buf) + draw(st.binary(max_size=8))


def _reaches_ip_input(k: kstack.Kernel, ifname: str, frame: bytes) -> bool:
    """Whether ether_input (or lo0) hands the frame to ip_input now."""
    if k.sysctl("net.isr.dispatch") == "deferred":
        return False
    ifp = k.iface(ifname)
    if ifp.type == IFT_LOOP:
        return True
    if len(frame) < 14 or not ifp.flags & IFF_UP:
        return False
    dst = frame[:6]
    if not (dst[0] & 1 or dst == ifp.lladdr or ifp.flags & IFF_PROMISC):
        return False
    return frame[12:14] == b"\x08\x00"


class World:
    """The kernel under test and the sockets made so far."""

    def __init__(self) -> None:
        self.k = host()
        self.socks: list[Any] = [
            self.k.socket(sock.AF_INET, sock.SOCK_DGRAM),
            self.k.socket(sock.AF_INET, sock.SOCK_RAW, 253),
            self.k.socket(sock.AF_INET, sock.SOCK_RAW, 0),
        ]
        self.jails: list[Any] = []
        self.dead = False

    def input(self, ifname: Any, frame: Any) -> None:
        k = self.k
        if not (isinstance(ifname, str) and ifname in k.vnet0.ifnet_by_name):
            try:
                k.input(ifname, frame)
            except (OSError, TypeError):
                return  # ENXIO, or a name that is not a str
            raise AssertionError(f"input({ifname!r}) accepted")
        if isinstance(frame, (bytearray, memoryview)):
            frame = bytes(frame)
        if not isinstance(frame, bytes):
            try:
                k.input(ifname, frame)
            except TypeError:
                return  # an int, a str, a list... is not a frame
            raise AssertionError(f"input({ifname!r}, {frame!r}) accepted")
        ifp = k.iface(ifname)
        expect = 1 if _reaches_ip_input(k, ifname, frame) else 0
        total = k.netstat("ip")["ips_total"]
        ipackets = ifp.counters.ifi_ipackets
        try:
            out = k.input(ifname, frame)
        except kstack.Panic:
            self.dead = True
            return
        assert isinstance(out, Outcome) and out.kind in KINDS, out
        assert ifp.counters.ifi_ipackets == ipackets + 1
        assert k.netstat("ip")["ips_total"] == total + expect, (out, frame.hex())


def call(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except ALLOWED:
        return None


SOCKET_CALLS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "bind": st.tuples(sockaddr),
    "connect": st.tuples(sockaddr),
    "connect_ex": st.tuples(sockaddr),
    "send": st.one_of(st.tuples(data), st.tuples(data, flags)),
    "sendto": st.one_of(st.tuples(data, sockaddr), st.tuples(data, flags, sockaddr)),
    "sendmsg": st.one_of(
        st.tuples(st.lists(data, max_size=2)),
        st.tuples(
            st.lists(data, max_size=2),
            st.one_of(st.lists(st.tuples(ints, ints, st.binary(max_size=8)), max_size=2), junk),
            flags,
            st.one_of(st.none(), sockaddr),
        ),
    ),
    "recv": st.one_of(st.tuples(sizes), st.tuples(sizes, flags)),
    "recvfrom": st.one_of(st.tuples(sizes), st.tuples(sizes, flags)),
    "recvmsg": st.one_of(st.tuples(sizes), st.tuples(sizes, sizes, flags)),
    "getsockname": st.just(()),
    "getpeername": st.just(()),
    "shutdown": st.tuples(st.one_of(st.integers(-1, 3), junk)),
    "setsockopt": st.tuples(st.sampled_from(LEVELS), st.sampled_from(OPTNAMES), optval),
    "getsockopt": st.one_of(
        st.tuples(st.sampled_from(LEVELS), st.sampled_from(OPTNAMES)),
        st.tuples(
            st.sampled_from(LEVELS),
            st.sampled_from(OPTNAMES),
            st.one_of(sizes, st.binary(max_size=200)),
        ),
    ),
    "setblocking": st.tuples(st.booleans()),
    "close": st.just(()),
    "wrong arity": st.just((1, 2, 3, 4, 5)),
}

socket_op = st.tuples(
    st.just("sock"), st.integers(0, 7), st.sampled_from(sorted(SOCKET_CALLS)), st.data()
)
ifname = st.one_of(st.sampled_from(["em0", "em1", "lo0", "em2", "epair0a"]), junk)
kernel_op = st.one_of(
    st.tuples(st.just("input"), st.sampled_from(["em0", "em0", "em1", "lo0"]), frames()),
    st.tuples(st.just("input"), ifname, st.one_of(frames(), junk)),
    st.tuples(st.just("input"), st.sampled_from(["em0", "lo0"]), junk),
    st.tuples(st.just("input lo0"), st.binary(min_size=20, max_size=60)),
    st.tuples(
        st.just("advance"),
        st.one_of(
            st.floats(0, 5),
            st.integers(0, 3),
            st.sampled_from([1e300, 2.0**64, 10**11, 2**70, -1e-9]),
            junk.filter(lambda v: not _huge_time(v)),
        ),
    ),
    st.tuples(
        st.just("advance_to"),
        st.one_of(st.integers(-(10**10), 10**10), junk.filter(lambda v: not _huge_time(v, 1e-9))),
    ),
    st.tuples(
        st.just("socket"),
        st.one_of(st.sampled_from([sock.AF_INET, 1, 28]), junk),
        st.one_of(st.sampled_from([sock.SOCK_DGRAM, sock.SOCK_RAW, sock.SOCK_STREAM, 9]), junk),
        st.one_of(st.sampled_from([0, 17, 1, 2, 253, 255, 256]), junk),
        st.one_of(st.sampled_from([0, 0, 1001]), junk),
    ),
    st.tuples(
        st.just("ifconfig"),
        ifname,
        st.one_of(
            st.none(), st.sampled_from(["192.0.2.9/32", "203.0.113.1/24", "198.51.100.1/33"]), addr
        ),
        st.dictionaries(
            st.sampled_from(["mtu", "ether", "alias", "delete", "up", "down", "fib", "broadcast"]),
            st.one_of(
                st.sampled_from([1280, 1500, 9000, 71, "02:00:00:00:09:09", True, False, 0]), junk
            ),
            max_size=2,
        ),
    ),
    st.tuples(
        st.just("route_add"),
        st.one_of(st.sampled_from(["default", "203.0.113.0/24", "10.0.0.1"]), addr),
        st.one_of(st.none(), st.sampled_from([ROUTER, PEER]), addr),
        st.dictionaries(
            st.sampled_from(["fib", "mtu", "blackhole", "reject", "iface"]),
            st.one_of(st.sampled_from([0, 1, 1400, True, "em0"]), junk),
            max_size=2,
        ),
    ),
    st.tuples(
        st.just("route_delete"),
        st.one_of(st.sampled_from(["default", "203.0.113.0/24"]), addr),
        st.one_of(st.none(), ints, junk),
    ),
    st.tuples(st.just("route_get"), addr, st.one_of(st.none(), ints, junk)),
    st.tuples(
        st.just("arp_add"),
        addr,
        st.one_of(st.sampled_from(["02:00:00:00:00:99", "zz"]), junk),
        st.one_of(st.none(), ifname),
    ),
    st.tuples(st.just("arp_delete"), addr, st.one_of(st.none(), ifname)),
    st.tuples(
        st.just("sysctl"),
        st.one_of(st.sampled_from(SYSCTLS), junk),
        st.one_of(
            st.none(), st.sampled_from([0, 1, 2, 64, 10000, 65535, "deferred", "direct"]), junk
        ),
    ),
    st.tuples(
        st.just("netstat"),
        st.one_of(st.none(), st.sampled_from(["ip", "udp", "arp", "route", "tcp"]), junk),
    ),
    st.tuples(st.just("transmitted"), ifname),
    st.tuples(st.just("capture"), ifname),
    st.tuples(st.just("setfib"), st.one_of(ints, junk)),
    st.tuples(st.just("ifmcstat"), st.one_of(st.none(), ifname)),
    st.tuples(
        st.just("jail"),
        st.one_of(st.none(), st.sampled_from(["j1", "j2", "0bad", "7"]), junk),
        st.one_of(
            st.none(),
            st.sampled_from([[HOST], ["192.0.2.9"], "inherit", "disable", ["010.0.0.1"]]),
            junk,
        ),
        st.one_of(st.none(), st.integers(-1, 3), junk),
    ),
    st.tuples(
        st.just("jail socket"),
        st.integers(0, 3),
        st.one_of(st.sampled_from([sock.SOCK_DGRAM, sock.SOCK_RAW]), junk),
    ),
    st.tuples(st.just("jail remove"), st.integers(0, 3)),
)


def _huge_time(v: object, unit: float = 1.0) -> bool:
    """A valid time (``v`` seconds, or ``v * unit`` seconds) long enough to
    run the clock for weeks, each ten-minute route timer firing: left out
    to keep the run short. Times past the end of the wall clock stay in
    (they are refused at once)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        return False
    return 1e3 < abs(v) * unit < 1e11


def run_kernel_op(w: World, op: tuple[Any, ...]) -> None:
    k = w.k
    name, *args = op
    if name == "input":
        w.input(args[0], args[1])
    elif name == "input lo0":
        w.input("lo0", args[0])
    elif name == "advance":
        try:
            call(k.advance, args[0])
        except kstack.Panic:
            w.dead = True
    elif name == "advance_to":
        try:
            call(k.advance_to, args[0])
        except kstack.Panic:
            w.dead = True
    elif name == "socket":
        s = call(k.socket, args[0], args[1], args[2], uid=args[3])
        if s is not None:
            w.socks.append(s)
    elif name == "ifconfig":
        call(k.ifconfig, args[0], args[1], **args[2])
    elif name == "route_add":
        call(k.route_add, args[0], args[1], **args[2])
    elif name == "route_delete":
        call(k.route_delete, args[0], fib=args[1])
    elif name == "route_get":
        call(k.route_get, args[0], args[1])
    elif name == "arp_add":
        call(k.arp_add, args[0], args[1], args[2])
    elif name == "arp_delete":
        call(k.arp_delete, args[0], args[1])
    elif name == "sysctl":
        call(k.sysctl, args[0], args[1])
    elif name == "netstat":
        call(k.netstat, args[0])
    elif name == "transmitted":
        call(k.transmitted, args[0])
    elif name == "capture":
        call(k.capture, args[0])
    elif name == "setfib":
        call(k.setfib, args[0])
    elif name == "ifmcstat":
        call(k.ifmcstat, args[0])
    elif name == "jail":
        j = call(k.jail, args[0], ip4=args[1], jid=args[2])
        if j is not None:
            w.jails.append(j)
    elif name == "jail socket":
        if w.jails:
            j = w.jails[args[0] % len(w.jails)]
            s = call(j.socket, sock.AF_INET, args[1])
            if s is not None:
                w.socks.append(s)
    elif name == "jail remove":
        if w.jails:
            j = w.jails.pop(args[0] % len(w.jails))
            call(j.remove)
    else:  # pragma: no cover - the strategies name every op above
        raise AssertionError(name)


def run_socket_op(w: World, op: tuple[Any, ...]) -> None:
    _, idx, method, draw = op
    if not w.socks:
        return
    s = w.socks[idx % len(w.socks)]
    args = draw.draw(SOCKET_CALLS[method])
    fn = getattr(s, "bind" if method == "wrong arity" else method)
    try:
        call(fn, *args)
    except kstack.Panic:
        w.dead = True


@SETTINGS
@given(st.lists(st.one_of(kernel_op, socket_op), min_size=1, max_size=25))
def test_api_calls_fail_only_as_documented_and_account_for_every_frame(
    ops: list[tuple[Any, ...]],
) -> None:
    """kern/uipc_syscalls.c (the socket system calls), net/if_ethersubr.c
    ether_input, netinet/ip_input.c ip_input (IPSTAT_INC(ips_total) first):
    whatever the arguments, a call returns or raises OSError, TypeError or
    ValueError; every frame given to input() ends in one Outcome and
    ips_total counts it once when it reaches ip_input. Closing every
    socket leaves the pcb tables empty."""
    w = World()
    for op in ops:
        if w.dead:
            return
        if op[0] == "sock":
            run_socket_op(w, op)
        else:
            run_kernel_op(w, op)
    if w.dead:
        return
    for s in w.socks:
        s.close()
    for v in w.k.vnets:
        assert v.sockets == {}
        for info in (v.udbinfo, v.ripcbinfo):
            assert info.listhead == [] and info.hash == {} and info.porthash == {}
