"""kstack.errno_freebsd: host errno constants to FreeBSD 9.0's numbers
(sys/sys/errno.h)."""

from __future__ import annotations

import errno

import pytest

from kstack.errno_freebsd import freebsd_errno, to_freebsd


@pytest.mark.parametrize(
    ("host", "bsd"),
    [
        (0, 0),
        (errno.EPERM, 1),
        (errno.EINVAL, 22),
        (errno.EAGAIN, 35),
        (errno.EWOULDBLOCK, 35),
        (errno.EPROTONOSUPPORT, 43),
        (errno.EOPNOTSUPP, 45),
        (errno.EAFNOSUPPORT, 47),
        (errno.EADDRNOTAVAIL, 49),
        (errno.ENETUNREACH, 51),
        (errno.ENOBUFS, 55),
        (errno.EHOSTUNREACH, 65),
        (errno.EPROTO, 92),
    ],
)
def test_to_freebsd(host: int, bsd: int) -> None:
    assert to_freebsd(host) == bsd


def test_unknown_number_unchanged_and_names() -> None:
    assert to_freebsd(100000) == 100000
    assert freebsd_errno("ENETUNREACH") == 51
    with pytest.raises(KeyError):
        freebsd_errno("ENOTREALLY")
