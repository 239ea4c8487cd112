"""Named FreeBSD versions and the behaviour switches that changed across them.

Reproducing a bug report means running the same test under the profile
before the fix and the profile after it. Each switch names the change that
flipped it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# How a raw socket sees ip_len / ip_off (rip_input):
RAW_HDR_9 = "9"  # ip_len = payload only, ip_len/ip_off host order (FreeBSD <= 9.x)
RAW_HDR_10 = "10"  # whole-datagram ip_len, ip_len/ip_off host order (10.x)
RAW_HDR_11 = "11"  # header untouched, network order (11.0 and later)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    # Raw-socket header convention; see RAW_HDR_*. FreeBSD 10 stopped ip_input
    # from deducting the header length (2012-10-22, head) and kept headers in
    # network order inside the stack the next day; FreeBSD 11 hands raw
    # readers the header as received.
    # Commit message ("...deducted in ip_input() in preparation for protocols interested only
    # in the payload. On raw sockets the IP header should be delivered as it
    # at came in ... except for the byte order swaps"); the 11.0 step is the
    # ip(4) BUGS entry "Before FreeBSD 11.0 ... host byte order".
    # Reproduced by conformance/regressions/test_raw_ip_header.py.
    raw_ip_header: str = RAW_HDR_9
    # icmp_error() clears ip_off in the outer header: only from 9.3 on
    # (ip_icmp.c r264222 era); 9.0/9.1 copy DF/MF from the offending packet.
    icmp_error_clears_ip_off: bool = False
    # PRC_IFUP re-adds the self-pointing loopback routes of an interface's
    # addresses after a down/up cycle (the fix for loopback routes that
    # disappeared, in 8.x before 9.0).
    ifup_restores_loopback_route: bool = True
    # Permanent ARP entries survive an interface down/up cycle while the
    # covering address stays configured (the lltable_prefix_free fix, 8.x).
    arp_static_survives_ifdown: bool = True
    # sorflush() zeroed the whole receive sockbuf, sb_state included, so
    # shutdown(SHUT_RD) lost SBS_CANTRCVMORE and a later read waited instead
    # of returning EOF. Fixed in 2006 (sorflush keeps sb_state); every
    # named profile has the fix, derive() a profile to reproduce the bug.
    # Commit message ("sb_state shouldn't be erased, when socket buffer is flushed by
    # sorflush()"). Reproduced by conformance/regressions/test_sorflush_state.py.
    sorflush_clears_state: bool = False
    # Host byte order of the emulated machine (amd64 by default).
    big_endian: bool = False

    def derive(self, name: str, **switches: object) -> Profile:
        """A copy with some switches changed (for before/after reproductions)."""
        return replace(self, name=name, **switches)  # type: ignore[arg-type]


PROFILES: dict[str, Profile] = {}


def _add(p: Profile) -> Profile:
    PROFILES[p.name] = p
    return p


FREEBSD_9_0 = _add(Profile("9.0", "FreeBSD 9.0-RELEASE (stable/9, January 2012), GENERIC amd64"))
_add(FREEBSD_9_0.derive("9.1", description="FreeBSD 9.1-RELEASE, GENERIC amd64"))
_add(
    FREEBSD_9_0.derive(
        "9.3", description="FreeBSD 9.3-RELEASE, GENERIC amd64", icmp_error_clears_ip_off=True
    )
)
_add(
    FREEBSD_9_0.derive(
        "10.0",
        description="FreeBSD 10.0: raw sockets see the header as received, "
        "with ip_len/ip_off byte-swapped",
        raw_ip_header=RAW_HDR_10,
        icmp_error_clears_ip_off=True,
    )
)
_add(
    FREEBSD_9_0.derive(
        "11.0",
        description="FreeBSD 11.0: raw sockets see the header untouched, network order",
        raw_ip_header=RAW_HDR_11,
        icmp_error_clears_ip_off=True,
    )
)
_add(
    FREEBSD_9_0.derive(
        "8.0-prefix",
        description="FreeBSD 8 before the down/up fixes: loopback routes and "
        "static ARP entries are lost",
        ifup_restores_loopback_route=False,
        arp_static_survives_ifdown=False,
    )
)


def get_profile(name: str | Profile) -> Profile:
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown profile {name!r} (known: {known})") from None
