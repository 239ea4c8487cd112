"""kstack: the FreeBSD 9.0 IPv4 stack, emulated in Python as a test harness.

The public API (a contract; see docs/API in the README):

    k = kstack.Kernel(profile="9.0", seed=0)
    k.ifconfig("em0", "192.0.2.1/24")
    k.input("em0", frame); k.transmitted("em0"); k.netstat("ip")
    s = k.socket(kstack.sock.AF_INET, kstack.sock.SOCK_DGRAM); s.bind(("0.0.0.0", 53))
"""

from kstack import sock
from kstack.kern.kernel import Kernel
from kstack.kern.mbuf import Mbuf
from kstack.kern.uipc_socket import Socket
from kstack.net import pfil
from kstack.net.vnet import VNet
from kstack.outcome import Outcome
from kstack.panic import Panic
from kstack.profiles import PROFILES, Profile

__all__ = [
    "Kernel",
    "VNet",
    "Outcome",
    "Profile",
    "PROFILES",
    "Panic",
    "Mbuf",
    "Socket",
    "sock",
    "pfil",
]
__version__ = "0.1.0"
