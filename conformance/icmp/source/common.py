"""Shared set-up for the ICMP error, reflect, rate-limit and redirect
expectations written from the FreeBSD 9.1 source (see README.md): the same
hosts and frame builders as the PMTU ones."""

from conformance.pmtu.source.common import *  # noqa: F403
from conformance.pmtu.source.common import __all__  # noqa: F401
