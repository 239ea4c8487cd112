"""Shared fixtures for the black-box conformance suites.

``kernel``, ``profile``, ``delta`` and ``match_frame`` come from the kstack
pytest plugin; this file adds the standard topology of kstack.testing.
"""

from __future__ import annotations

import pytest

from kstack import testing as packets


@pytest.fixture
def k(kernel):
    """The standard topology (em0 + em1, static ARP for peer and router)
    on the ``kernel`` fixture; the gratuitous ARP frames are discarded."""
    return packets.host(k=kernel)


@pytest.fixture
def fwd(k):
    """The standard topology with forwarding on and a default route via
    the router."""
    k.sysctl("net.inet.ip.forwarding", 1)
    k.route_add("default", packets.ROUTER)
    return k
