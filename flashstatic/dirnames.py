"""A directory's names as they travel from a helper: a keyed 4-byte digest of each.

Some 9,000 names fit one helper message this way, several times as many as their JSON would,
so a directory of thousands of uploads can be listed too. A name is absent only if its digest
is; a digest shared by chance (one in 2**32 per name listed) only costs the lookup a listing
would have spared, and the key is the server's own, so no one can choose names that collide.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from collections.abc import Iterable

_DIGEST_BYTES = 4


def _digest(key: bytes, name: str) -> bytes:
    return hashlib.blake2b(os.fsencode(name), digest_size=_DIGEST_BYTES, key=key).digest()


def name_digest(key: bytes, name: str) -> int:
    return int.from_bytes(_digest(key, name), sys.byteorder)


def pack_names(key: bytes, names: Iterable[str]) -> str:
    """A listing as it travels: the names' digests, base64 (a helper message is ASCII JSON)."""
    return base64.b64encode(b"".join(_digest(key, name) for name in names)).decode("ascii")


def unpack_names(packed: str) -> frozenset[int]:
    raw = base64.b64decode(packed, validate=True)
    if len(raw) % _DIGEST_BYTES:
        raise ValueError("a listing of partial digests")
    return frozenset(memoryview(raw).cast("I"))  # each digest as name_digest gives it, in C
