"""The ``k`` fixture of these expectations (their own host, see common.py)."""

from conformance.route.source.common import k  # noqa: F401
