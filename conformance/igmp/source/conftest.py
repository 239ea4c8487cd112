"""The ``k`` fixture of these expectations (their own topology, see common.mk)."""

from conformance.igmp.source.common import k  # noqa: F401
