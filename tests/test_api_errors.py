"""Misuse of the Python API fails the way the API promises.

An argument the kernel would refuse gets ``OSError`` with FreeBSD's errno;
an argument of the wrong Python type gets ``TypeError``; one of the right
type that the C interface cannot express (a port above 65535, an option
value wider than an int) gets ``ValueError``. Nothing else escapes: no
OverflowError, struct.error, AttributeError, KeyError or IndexError from
inside, and a refused call changes nothing.
"""

from __future__ import annotations

import array
import errno
from fractions import Fraction
from typing import Any

import pytest

import kstack
from kstack import sock
from kstack.kern.clock import NS, WALL_LIMIT_NS
from kstack.kern.uipc_socket import Socket
from kstack.netinet.ip import aton, ntoa
from kstack.testing import HOST, PEER, echo_request, host, udp_to

BAD_QUADS = [
    "192.0.2.1 junk",
    " 192.0.2.1",
    "192.0.2.1\n",
    "010.0.0.1",
    "00.0.0.1",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.-1",
    "+1.2.3.4",
    "0x7f.0.0.1",
    "1..2.3",
    "1.2.3.\u0664",  # an Arabic-Indic digit: a digit to str.isdigit, not to inet_pton
    "",
    "localhost",
]


@pytest.fixture
def k() -> kstack.Kernel:
    return host()


@pytest.fixture
def udp(k: kstack.Kernel) -> Socket:
    s: Socket = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    return s


def _errno(exc: pytest.ExceptionInfo[OSError]) -> int:
    return int(exc.value.errno or 0)


# -- addresses (inet_pton(3) rules, whatever the host's C library takes) ------------


@pytest.mark.parametrize("text", BAD_QUADS)
def test_aton_refuses_what_inet_pton_refuses(text: str) -> None:
    """libc inet_pton4 (what ifconfig(8), route(8) and jail(8) parse with):
    four decimal parts 0..255, no leading zero, nothing around them."""
    with pytest.raises(ValueError):
        aton(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.0.0.0", 0),
        ("255.255.255.255", 0xFFFFFFFF),
        ("192.0.2.1", 0xC0000201),
        ("10.0.0.10", 0x0A00000A),
    ],
)
def test_aton_ntoa_round_trip(text: str, value: int) -> None:
    """libc inet_pton4 / inet_ntop4: the four bytes, most significant first."""
    assert aton(text) == value
    assert ntoa(value) == text


@pytest.mark.parametrize("text", BAD_QUADS)
def test_configuration_calls_refuse_bad_addresses(k: kstack.Kernel, text: str) -> None:
    """sbin/ifconfig, sbin/route, usr.sbin/arp parse addresses with
    inet_pton before any ioctl: ValueError, and nothing changes."""
    before = (k.routes(), k.iface("em0").addrs_in[:], k.vnet0.arp_table())
    with pytest.raises(ValueError):
        k.ifconfig("em0", f"{text}/24", alias=True)
    with pytest.raises(ValueError):
        k.route_add(f"{text}/32", "192.0.2.254")
    with pytest.raises(ValueError):
        k.route_add("203.0.113.0/24", text)
    with pytest.raises(ValueError):
        k.route_get(text)
    with pytest.raises(ValueError):
        k.arp_add(text, "02:00:00:00:00:99")
    with pytest.raises(ValueError):
        sock.ip_mreq(text)
    assert (k.routes(), k.iface("em0").addrs_in, k.vnet0.arp_table()) == before


@pytest.mark.parametrize("text", ["192.0.2.1 junk", "010.0.0.1", "192.0.2.1\t"])
def test_socket_calls_refuse_bad_addresses_with_einval(udp: Socket, text: str) -> None:
    """kern/uipc_syscalls.c kern_bind / kern_connect / sendit: a host that
    is not a dotted quad never becomes a sockaddr; kstack answers EINVAL,
    the errno it gives every malformed socket address."""
    for call in (udp.bind, udp.connect, lambda a: udp.sendto(b"x", a)):
        with pytest.raises(OSError) as e:
            call((text, 53))
        assert _errno(e) == errno.EINVAL
    assert udp.getsockname() == ("0.0.0.0", 0)


def test_jail_refuses_bad_addresses(k: kstack.Kernel) -> None:
    """kern/kern_jail.c jail_set: jail(8) passes ip4.addr through
    inet_pton; kstack answers EINVAL for one that is not a dotted quad."""
    with pytest.raises(OSError) as e:
        k.jail("j1", ip4=["010.0.0.1"])
    assert _errno(e) == errno.EINVAL
    assert k.jails == {}


# -- the kernel object, the clock ----------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"fibs": float("inf")}, TypeError),
        ({"fibs": "2"}, TypeError),
        ({"seed": "x"}, TypeError),
        ({"seed": 1.5}, TypeError),
        ({"boottime_ns": 1.5}, TypeError),
        ({"boottime_ns": -1}, ValueError),
        ({"boottime_ns": WALL_LIMIT_NS}, ValueError),
        ({"profile": "8.0"}, ValueError),
        ({"options": ["NOSUCH"]}, ValueError),
    ],
)
def test_kernel_arguments_checked(kw: dict[str, Any], exc: type[Exception]) -> None:
    """kern/kern_tc.c boottime, net/route.c route_init (net.fibs): a kernel
    is built from values of the right types and ranges only."""
    with pytest.raises(exc):
        kstack.Kernel(**kw)


@pytest.mark.parametrize(
    ("seconds", "exc"),
    [
        (float("inf"), ValueError),
        (float("nan"), ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        ("1", TypeError),
        (None, TypeError),
        (True, TypeError),
        (10**12, ValueError),  # past 2554: the wall clock ends there
        (1e300, ValueError),  # the same, as a float (it would overflow in nanoseconds)
    ],
)
def test_advance_refuses_what_is_not_a_time(
    k: kstack.Kernel, seconds: Any, exc: type[Exception]
) -> None:
    """kern/kern_timeout.c softclock: time only moves forward, by a finite
    amount, and the wall clock (nanoseconds since 1970 in 64 bits) ends in
    2554; a refused call leaves the clock where it was."""
    k.advance(1)
    with pytest.raises(exc):
        k.advance(seconds)
    assert k.clock.now == NS


def test_advance_rounds_to_the_nanosecond(k: kstack.Kernel) -> None:
    """kern/kern_timeout.c: the clock counts whole nanoseconds; an int,
    a float and a Fraction of seconds all land on one."""
    k.advance(Fraction(1, 3))
    assert k.clock.now == 333_333_333
    k.advance(0.5)
    assert k.clock.now == 833_333_333
    k.advance(2)
    assert k.clock.now == 2_833_333_333


@pytest.mark.parametrize("target", [1.0, 1.5, "1", None, True])
def test_advance_to_takes_an_int(k: kstack.Kernel, target: Any) -> None:
    """kern/kern_timeout.c: the virtual clock is an integer count of
    nanoseconds; a float given to advance_to would turn it into a float,
    so it is refused (TypeError) and the clock does not move."""
    with pytest.raises(TypeError):
        k.advance_to(target)
    assert k.clock.now == 0 and type(k.clock.now) is int


def test_advance_to_stops_at_the_end_of_the_wall_clock() -> None:
    """kern/kern_tc.c, kern/uipc_usrreq.c sbcreatecontrol: a struct timeval
    or bintime made from the clock fits its 64-bit fields while the wall
    clock stays below 2**64 ns; advancing past that is ValueError, the
    last nanosecond before it is fine."""
    k = kstack.Kernel(boottime_ns=WALL_LIMIT_NS - 10 * NS)
    with pytest.raises(ValueError):
        k.advance_to(10 * NS)
    k.advance_to(10 * NS - 1)
    assert k.clock.wall_ns == WALL_LIMIT_NS - 1


def test_so_timestamp_at_the_end_of_the_wall_clock() -> None:
    """netinet/ip_input.c ip_savecontrol: SCM_TIMESTAMP carries microtime()
    as a struct timeval (two 64-bit fields on amd64); at the last
    representable nanosecond it is (18446744073, 709551), not a crash."""
    k = host(k=kstack.Kernel(boottime_ns=WALL_LIMIT_NS - 5 * NS))
    s = k.socket(sock.AF_INET, sock.SOCK_DGRAM)
    s.setsockopt(sock.SOL_SOCKET, sock.SO_TIMESTAMP, 1)
    s.bind(("0.0.0.0", 7000))
    k.advance_to(5 * NS - 1)
    out = k.input("em0", udp_to(7000))
    assert out.kind == "delivered"
    _data, anc, _flags, _addr = s.recvmsg(100, 100)
    assert anc == [(sock.SOL_SOCKET, sock.SCM_TIMESTAMP, sock.timeval(18446744073, 709551))]


def test_jail_id_checked(k: kstack.Kernel) -> None:
    """kern/kern_jail.c jail_set: the jid is a C int; 0 asks for the next
    free one, a negative one is EINVAL."""
    with pytest.raises(TypeError):
        k.jail("a", jid="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        k.jail("a", jid=2**40)
    with pytest.raises(OSError) as e:
        k.jail("a", jid=-1)
    assert _errno(e) == errno.EINVAL
    assert k.jail("a", jid=0).jid == 1


# -- interfaces, routes, ARP, sysctl -----------------------------------------------


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda k: k.ifconfig(None), TypeError),
        (lambda k: k.ifconfig(5), TypeError),
        (lambda k: k.ifconfig("em1", ether=5), TypeError),
        (lambda k: k.ifconfig("em1", ether="02:00:00:00:00"), ValueError),
        (lambda k: k.ifconfig("em1", mtu="1500"), TypeError),
        (lambda k: k.ifconfig("em1", "198.51.100.1/33"), ValueError),
        (lambda k: k.ifconfig("em1", 5), TypeError),
        (lambda k: k.iface(None), TypeError),
        (lambda k: k.route_add(None, "192.0.2.254"), TypeError),
        (lambda k: k.route_add("203.0.113.0/24", 5), TypeError),
        (lambda k: k.route_delete(5), TypeError),
        (lambda k: k.route_delete("default", fib="0"), TypeError),
        (lambda k: k.route_get(None), TypeError),
        (lambda k: k.arp_add("192.0.2.99", 5), TypeError),
        (lambda k: k.arp_add(5, "02:00:00:00:00:99"), TypeError),
        (lambda k: k.arp_delete(None), TypeError),
        (lambda k: k.sysctl(5), TypeError),
        (lambda k: k.sysctl(None), TypeError),
        (lambda k: k.sysctl(b"net.inet.ip.ttl"), TypeError),
        (lambda k: k.netstat("tcp"), ValueError),
        (lambda k: k.transmitted(0), TypeError),
        (lambda k: k.capture(None), TypeError),
    ],
)
def test_configuration_argument_types(k: kstack.Kernel, call: Any, exc: type[Exception]) -> None:
    """sbin/ifconfig, sbin/route, usr.sbin/arp, sbin/sysctl: arguments of
    the wrong type or form are refused before anything changes."""
    before = (k.routes(), [(i.name, i.mtu, i.lladdr, i.addrs_in[:]) for i in k.vnet0.ifnets])
    with pytest.raises(exc):
        call(k)
    assert (k.routes(), [(i.name, i.mtu, i.lladdr, i.addrs_in) for i in k.vnet0.ifnets]) == before


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda k: k.route_delete("default", fib=99), errno.EINVAL),
        (lambda k: k.route_get("192.0.2.1", fib=-1), errno.EINVAL),
        (lambda k: k.iface("em9"), errno.ENXIO),
        (lambda k: k.input("em9", b""), errno.ENXIO),
        (lambda k: k.sysctl("net.inet.ip.nosuch"), errno.ENOENT),
    ],
)
def test_configuration_errnos(k: kstack.Kernel, call: Any, code: int) -> None:
    """net/route.c rtrequest_fib (EINVAL for a FIB beyond net.fibs),
    net/if.c ifunit (ENXIO), kern/kern_sysctl.c name2oid (ENOENT)."""
    with pytest.raises(OSError) as e:
        call(k)
    assert _errno(e) == code


# -- input() --------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [5, 0, True, {}, [1, 2, 3], None, "abcd", 1.5, object()])
@pytest.mark.parametrize("ifname", ["em0", "lo0"])
def test_input_refuses_what_is_not_a_frame(k: kstack.Kernel, ifname: str, frame: Any) -> None:
    """net/if_ethersubr.c ether_input, net/if_loop.c: a frame is bytes;
    an int is not a zero-filled frame of that size, a list of ints is not
    a frame of them. TypeError, and no counter moves."""
    before = (k.netstat(), k.iface(ifname).counters.ifi_ipackets)
    with pytest.raises(TypeError):
        k.input(ifname, frame)
    assert (k.netstat(), k.iface(ifname).counters.ifi_ipackets) == before


def test_input_takes_any_bytes_like_frame(k: kstack.Kernel) -> None:
    """net/if_ethersubr.c ether_input: the same echo request given as
    bytes, bytearray, a memoryview (of any item size), an array or a scapy
    packet is answered the same: a bytes-like object is its raw bytes."""
    pkt = echo_request()
    raw = bytes(pkt)
    frames = (
        raw,
        bytearray(raw),
        memoryview(raw),
        array.array("B", raw),
        memoryview(raw).cast("H"),
        pkt,
    )
    outs = [k.input("em0", f) for f in frames]
    assert {(o.kind, o.reason) for o in outs} == {("answered", "icps_reflect")}
    assert len(k.transmitted("em0")) == len(frames)


# -- sockets ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "exc"),
    [
        ("x", TypeError),
        (None, TypeError),
        (1.0, TypeError),
        (True, TypeError),
        (70000, ValueError),
        (-1, ValueError),
        (2**64, ValueError),
    ],
)
def test_ports_are_u_short(udp: Socket, port: Any, exc: type[Exception]) -> None:
    """netinet/in.h struct sockaddr_in: sin_port is a u_short; a port that
    is not an int, or does not fit 16 bits, cannot be passed at all."""
    for call in (
        udp.bind,
        udp.connect,
        lambda a: udp.sendto(b"x", a),
        lambda a: udp.sendto(b"x", 0, a),
    ):
        with pytest.raises(exc):
            call((PEER, port))
    assert udp.getsockname() == ("0.0.0.0", 0)


@pytest.mark.parametrize("addr", [("192.0.2.7",), (5, 53), [PEER, 53], None, 53])
def test_address_shapes(udp: Socket, addr: Any) -> None:
    """kern/uipc_syscalls.c getsockaddr: an AF_INET name is (host, port)
    with a str host, or raw sockaddr bytes."""
    with pytest.raises(TypeError):
        udp.connect(addr)


@pytest.mark.parametrize("value", [2**31 - 1, -(2**31), 2**32 - 1])
def test_int_option_values_are_4_bytes(udp: Socket, value: int) -> None:
    """kern/uipc_socket.c sooptcopyin: an int option is the 4 bytes the
    caller passed; 2**32 - 1 is the bit pattern of -1, so it has the same
    effect (IP_TTL keeps the low 8 bits: 255)."""
    udp.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, value)
    assert udp.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == value & 0xFF


@pytest.mark.parametrize(
    ("args", "exc"),
    [
        ((sock.IPPROTO_IP, sock.IP_TTL, 2**40), ValueError),
        ((sock.IPPROTO_IP, sock.IP_TTL, 2**32), ValueError),
        ((sock.IPPROTO_IP, sock.IP_TTL, -(2**31) - 1), ValueError),
        ((sock.IPPROTO_IP, sock.IP_TTL, 1.5), TypeError),
        ((sock.IPPROTO_IP, sock.IP_TTL, None), TypeError),
        ((sock.IPPROTO_IP, sock.IP_TTL, "64"), TypeError),
        (("0", sock.IP_TTL, 64), TypeError),
        ((sock.IPPROTO_IP, 2**40, 64), ValueError),
        ((2**31, sock.IP_TTL, 64), ValueError),
    ],
)
def test_setsockopt_argument_types(
    udp: Socket, args: tuple[Any, ...], exc: type[Exception]
) -> None:
    """kern/uipc_syscalls.c setsockopt: level and name are ints and an int
    value is a C int (sooptcopyin copies 4 bytes); what cannot be passed
    that way is refused and the option keeps its value."""
    with pytest.raises(exc):
        udp.setsockopt(*args)
    assert udp.getsockopt(sock.IPPROTO_IP, sock.IP_TTL) == 64


@pytest.mark.parametrize(
    ("args", "exc"),
    [
        (("x", sock.IP_TTL), TypeError),
        ((sock.IPPROTO_IP, None), TypeError),
        ((sock.IPPROTO_IP, 2**33), ValueError),
        ((sock.IPPROTO_IP, sock.IP_TTL, 1.5), TypeError),
    ],
)
def test_getsockopt_argument_types(
    udp: Socket, args: tuple[Any, ...], exc: type[Exception]
) -> None:
    """kern/uipc_syscalls.c getsockopt: level, name and the buffer length
    are ints."""
    with pytest.raises(exc):
        udp.getsockopt(*args)


@pytest.mark.parametrize("data", [5, 0, [1, 2], "text", None, {"a": 1}, 1.5])
def test_send_data_is_bytes(k: kstack.Kernel, udp: Socket, data: Any) -> None:
    """kern/uipc_syscalls.c sendit: the data is a buffer; bytes(5) would
    be five zero bytes, so an int is refused like any other non-buffer."""
    udp.connect((PEER, 53))
    for call in (udp.send, lambda d: udp.sendto(d, (PEER, 53)), lambda d: udp.sendmsg([d])):
        with pytest.raises(TypeError):
            call(data)
    assert k.transmitted("em0") == []
    assert k.netstat("udp")["udps_opackets"] == 0


def test_send_takes_bytes_like_data(k: kstack.Kernel, udp: Socket) -> None:
    """kern/uipc_syscalls.c sendit: any buffer is data: bytes, bytearray,
    memoryview, as sendmsg's list of them."""
    udp.connect((PEER, 53))
    assert [
        udp.send(b"ab"),
        udp.send(bytearray(b"ab")),
        udp.send(memoryview(b"ab")),
        udp.sendmsg([b"a", memoryview(b"b")]),
    ] == [2, 2, 2, 2]
    assert len(k.transmitted("em0")) == 4


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda s: s.send(b"x", "0"), TypeError),
        (lambda s: s.send(b"x", 2**40), ValueError),
        (lambda s: s.sendto(b"x", "0", (PEER, 53)), TypeError),
        (lambda s: s.sendto(b"x", 1.0, (PEER, 53)), TypeError),
        (lambda s: s.sendmsg(5), TypeError),
        (lambda s: s.sendmsg([b"x"], 5), TypeError),
        (lambda s: s.sendmsg([b"x"], [(0, 7)]), TypeError),
        (lambda s: s.sendmsg([b"x"], [(0, 7, "abcd")]), TypeError),
        (lambda s: s.sendmsg([b"x"], [(2**40, 7, b"abcd")]), ValueError),
        (lambda s: s.sendmsg([b"x"], [], "0"), TypeError),
    ],
)
def test_send_flags_and_control_types(udp: Socket, call: Any, exc: type[Exception]) -> None:
    """kern/uipc_syscalls.c sendit, sockargs: flags are a C int; control
    messages are (level, type, data) with int level and type."""
    udp.connect((PEER, 53))
    with pytest.raises(exc):
        call(udp)


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda s: s.recv(-1), ValueError),
        (lambda s: s.recv(2**64), ValueError),
        (lambda s: s.recv("10"), TypeError),
        (lambda s: s.recv(10.0), TypeError),
        (lambda s: s.recv(None), TypeError),
        (lambda s: s.recv(10, "0"), TypeError),
        (lambda s: s.recv(10, 2**31), ValueError),
        (lambda s: s.recvfrom(-5), ValueError),
        (lambda s: s.recvmsg(10, -1), ValueError),
        (lambda s: s.recvmsg(10, 2**32), ValueError),
        (lambda s: s.recvmsg(10, 10, 1.5), TypeError),
    ],
)
def test_recv_sizes_and_flags(
    k: kstack.Kernel, udp: Socket, call: Any, exc: type[Exception]
) -> None:
    """kern/uipc_syscalls.c recvfrom / recvmsg: the length is a size_t, the
    control length a socklen_t, the flags an int. A refused call takes
    nothing off the queue."""
    udp.bind(("0.0.0.0", 7000))
    k.input("em0", udp_to(7000, data=b"kept"))
    with pytest.raises(exc):
        call(udp)
    assert udp.recv(100) == b"kept"


def test_recv_length_beyond_ssize_max_is_einval(udp: Socket) -> None:
    """kern/uipc_syscalls.c kern_recvit: the iovec lengths add up in a
    ssize_t (uio_resid); a total that turns negative is EINVAL."""
    for size in (2**63, 2**64 - 1):
        with pytest.raises(OSError) as e:
            udp.recv(size)
        assert _errno(e) == errno.EINVAL
    with pytest.raises(BlockingIOError):
        udp.recv(2**63 - 1)


def test_shutdown_how_is_an_int(udp: Socket) -> None:
    """kern/uipc_socket.c soshutdown: ``how`` is an int; one outside
    SHUT_RD..SHUT_RDWR is EINVAL."""
    with pytest.raises(TypeError):
        udp.shutdown("0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        udp.shutdown(2**40)
    with pytest.raises(OSError) as e:
        udp.shutdown(7)
    assert _errno(e) == errno.EINVAL


@pytest.mark.parametrize(
    ("args", "kw", "exc"),
    [
        (("2", sock.SOCK_DGRAM), {}, TypeError),
        ((sock.AF_INET, None), {}, TypeError),
        ((sock.AF_INET, sock.SOCK_DGRAM, 2**40), {}, ValueError),
        ((sock.AF_INET, sock.SOCK_DGRAM), {"uid": -1}, ValueError),
        ((sock.AF_INET, sock.SOCK_DGRAM), {"uid": "0"}, TypeError),
    ],
)
def test_socket_argument_types(
    k: kstack.Kernel, args: tuple[Any, ...], kw: dict[str, Any], exc: type[Exception]
) -> None:
    """kern/uipc_syscalls.c socket: domain, type and protocol are ints;
    a uid is a uid_t."""
    with pytest.raises(exc):
        k.socket(*args, **kw)
    assert k.vnet0.sockets == {}


def test_closed_socket_is_ebadf(udp: Socket) -> None:
    """kern/kern_descrip.c fget: a closed descriptor is EBADF for every
    call; closing again is harmless."""
    udp.close()
    udp.close()
    calls = [
        lambda: udp.bind(("0.0.0.0", 0)),
        lambda: udp.connect((PEER, 53)),
        lambda: udp.send(b"x"),
        lambda: udp.sendto(b"x", (PEER, 53)),
        lambda: udp.recv(10),
        lambda: udp.recvmsg(10, 10),
        lambda: udp.getsockname(),
        lambda: udp.setsockopt(sock.IPPROTO_IP, sock.IP_TTL, 1),
        lambda: udp.getsockopt(sock.IPPROTO_IP, sock.IP_TTL),
        lambda: udp.shutdown(sock.SHUT_RD),
    ]
    for call in calls:
        with pytest.raises(OSError) as e:
            call()
        assert _errno(e) == errno.EBADF


@pytest.mark.parametrize(
    "call",
    [
        lambda: sock.sockaddr_in(HOST, 70000),
        lambda: sock.ip_mreqn("224.0.0.1", HOST, 2**40),
        lambda: sock.group_req(-1, "224.0.0.1"),
        lambda: sock.linger(1, 2**40),
        lambda: sock.int_opt(2**31),
        lambda: sock.msfilterreq(2**32, "224.0.0.1", 1),
    ],
)
def test_struct_helpers_refuse_values_their_fields_cannot_hold(call: Any) -> None:
    """netinet/in.h, sys/socket.h: the helpers build FreeBSD's structures;
    a value wider than its field is ValueError, not struct.error."""
    with pytest.raises(ValueError):
        call()


def test_struct_helpers_refuse_non_ints() -> None:
    """netinet/in.h: structure fields are integers."""
    with pytest.raises(TypeError):
        sock.sockaddr_in(HOST, "53")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        sock.ip_mreq(None)  # type: ignore[arg-type]


def test_ipproto_register_checks_its_arguments(k: kstack.Kernel) -> None:
    """netinet/ip_input.c ipproto_register: a protocol number 1..255
    (EPROTONOSUPPORT outside), not one already taken (EEXIST); the handler
    must be callable, or the first packet of that protocol would fail
    inside ip_input."""
    v = k.vnet0
    with pytest.raises(TypeError):
        v.ipproto_register(200, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        v.ipproto_register("200", lambda *a: None)  # type: ignore[arg-type]
    with pytest.raises(OSError) as e:
        v.ipproto_register(256, lambda *a: None)  # type: ignore[arg-type]
    assert _errno(e) == errno.EPROTONOSUPPORT
    with pytest.raises(OSError) as e:
        v.ipproto_register(17, lambda *a: None)  # type: ignore[arg-type]
    assert _errno(e) == errno.EEXIST


def test_mac_addresses_are_strict():
    """A MAC is six groups of one or two hex digits (ether_aton's form)."""
    import kstack

    k = kstack.Kernel()
    for bad in ("0x2:0:0:0:0:1", "+1:0:0:0:0:1", " 1:0:0:0:0:1", "1_0:0:0:0:0:1", "1:2:3:4:5", ""):
        with pytest.raises(ValueError):
            k.ifconfig("em0", ether=bad)
    with pytest.raises(TypeError):
        k.ifconfig("em0", ether=5)  # type: ignore[arg-type]
    assert k.ifconfig("em0", ether="2:0:0:0:0:A").ether == "02:00:00:00:00:0a"


def test_capture_write_wants_a_path(tmp_path):
    """Capture.write refuses an int (open() would take it for a descriptor)."""
    import kstack

    k = kstack.Kernel()
    k.ifconfig("em0", "192.0.2.1/24")
    cap = k.capture("em0")
    with pytest.raises(TypeError):
        cap.write(5)  # type: ignore[arg-type]
    cap.write(tmp_path / "x.pcapng")
    assert (tmp_path / "x.pcapng").stat().st_size > 0


def test_jail_sysctl_and_uid_types():
    """Jail.sysctl: a name that is not a str is a TypeError; a uid must be an
    int in uid_t's range."""
    import kstack

    j = kstack.Kernel().jail("j1", ip4=["192.0.2.2"])
    with pytest.raises(TypeError):
        j.sysctl(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        j.sysctl("net.inet.ip.ttl", uid="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        j.cred("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        j.cred(-1)
    assert j.sysctl("net.inet.ip.ttl") == 64
