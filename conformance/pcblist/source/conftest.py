"""The ``k`` fixture of these expectations (their own host, see common.py)."""

from conformance.pcblist.source.common import k  # noqa: F401
