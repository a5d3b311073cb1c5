"""Counter-based randomness: every number is a pure function of (seed, keys...).

Hashing instead of a stateful RNG lets any day of any symbol be generated on its own, in any
order, with the same result in every process (Python's `hash()` is salted, so it is not used).
"""

from __future__ import annotations

import hashlib
import math
import random
from functools import lru_cache

MASK64 = 0xFFFFFFFFFFFFFFFF
GOLDEN = 0x9E3779B97F4A7C15
_INV_2_53 = 1.0 / 9007199254740992.0
_INV_2_32 = 1.0 / 4294967296.0
_TWO_PI = 2.0 * math.pi


def mix64(x: int) -> int:
    """SplitMix64 finalizer: a well-spread 64-bit hash of a 64-bit integer."""
    x = (x + GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


@lru_cache(maxsize=8192)
def text_key(text: str) -> int:
    """A stable 64-bit key for a string."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def key(*parts: int | str) -> int:
    """A stable 64-bit key for a tuple of ints and strings."""
    h = 0x243F6A8885A308D3
    for part in parts:
        value = text_key(part) if isinstance(part, str) else part & MASK64
        h = mix64(h ^ value)
    return h


def at(base: int, index: int) -> int:
    """The `index`-th hash of the stream `base` (cheap: one mix)."""
    return mix64(base ^ ((index * GOLDEN) & MASK64))


def unit(h: int) -> float:
    """A float in [0, 1) from a hash."""
    return (h >> 11) * _INV_2_53


def normal(h: int) -> float:
    """A standard normal draw from a hash (Box-Muller on its two 32-bit halves)."""
    u1 = ((h >> 32) + 0.5) * _INV_2_32
    u2 = (h & 0xFFFFFFFF) * _INV_2_32
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


def rng(*parts: int | str) -> random.Random:
    """A `random.Random` seeded from the key of `parts`, for non-hot paths (text choices)."""
    return random.Random(key(*parts))
