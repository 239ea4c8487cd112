from .common import host, router  # noqa: F401
