"""kstack.Panic: where the emulated kernel would panic."""


class Panic(Exception):
    """Raised where the emulated kernel of the chosen profile would panic."""
