"""A per-kernel seeded generator (the emulation's arc4random).

splitmix64 feeding xoshiro256**: small, fast, and the same sequence on every
machine for the same seed. Nothing here touches global random state.
"""

from __future__ import annotations

_M64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(x: int) -> tuple[int, int]:
    x = (x + 0x9E3779B97F4A7C15) & _M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return x, z ^ (z >> 31)


class Rng:
    __slots__ = ("_s",)

    def __init__(self, seed: int) -> None:
        x = seed & _M64
        s = []
        for _ in range(4):
            x, v = _splitmix64(x)
            s.append(v)
        self._s = s

    def next64(self) -> int:
        s = self._s
        result = (((s[1] * 5) & _M64) << 7 | ((s[1] * 5) & _M64) >> 57) & _M64
        result = (result * 9) & _M64
        t = (s[1] << 17) & _M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & _M64
        return result

    def arc4random(self) -> int:
        """A 32-bit value."""
        return self.next64() >> 32

    def below(self, n: int) -> int:
        """Uniform in [0, n) for n > 0 (as ``arc4random() % n`` is used)."""
        return self.arc4random() % n

    def fork(self, salt: int) -> Rng:
        return Rng(self.next64() ^ (salt * 0x9E3779B97F4A7C15 & _M64))
