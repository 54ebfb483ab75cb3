"""Accept-Encoding (RFC 9110 section 12.5.3): which precompressed representation to send."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar

# The precompressed siblings we look for, by file suffix, and their content-coding names.
SIBLING_SUFFIXES: dict[str, str] = {".br": "br", ".zst": "zstd", ".gz": "gzip"}

_ALIASES = {"x-gzip": "gzip"}
_QVALUE = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)", re.ASCII | re.IGNORECASE)


def parse_accept_encoding(value: str) -> dict[str, float]:
    """coding -> qvalue. Members with an invalid qvalue are dropped, as unparseable."""
    weights: dict[str, float] = {}
    for member in value.split(","):
        coding, *params = (piece.strip() for piece in member.split(";"))
        if not coding:
            continue
        coding = _ALIASES.get(coding.lower(), coding.lower())
        q = 1.0
        for param in params:
            if param[:2].lower() == "q=":
                match = _QVALUE.fullmatch(param.replace(" ", ""))
                if match is None:
                    q = -1.0
                    break
                q = float(match.group(1))
        if q >= 0:
            weights[coding] = q
    return weights


def _acceptable(coding: str | None, weights: dict[str, float]) -> bool:
    if coding is None:
        coding = "identity"
    if coding in weights:
        return weights[coding] > 0
    if "*" in weights:
        return weights["*"] > 0
    # Identity is acceptable unless excluded, explicitly or through "*;q=0".
    return coding == "identity"


class _Encoded(Protocol):
    @property
    def encoding(self) -> str | None: ...
    @property
    def size(self) -> int: ...


R = TypeVar("R", bound=_Encoded)


def _offered(coding: str | None, weights: dict[str, float], identity_acceptable: bool) -> bool:
    """Whether to send ``coding``. RFC 9110 lets "*" match any coding not listed, but a client
    that names none (``*`` alone) has not said it decodes br or zstd: a coding is sent when
    named, and through "*" only when identity is excluded (nginx and WhiteNoise alike)."""
    if identity_acceptable:
        return weights.get(coding or "identity", 0) > 0
    return _acceptable(coding, weights)


def choose_representation(accept_encoding: str | None, identity: R, encoded: Sequence[R]) -> R:
    """The smallest representation the client accepts.

    No Accept-Encoding header: identity (RFC 9110 permits any coding then, but clients that
    send none are usually tools that cannot decode). When nothing is acceptable, identity
    rather than 406, as servers commonly do.
    """
    if not encoded or accept_encoding is None:
        return identity
    weights = parse_accept_encoding(accept_encoding)
    identity_acceptable = _acceptable(None, weights)
    best = identity if identity_acceptable else None
    for candidate in encoded:
        if _offered(candidate.encoding, weights, identity_acceptable) and (best is None or candidate.size < best.size):
            best = candidate
    return identity if best is None else best


def preferred_coding(accept_encoding: str | None, codings: Sequence[str]) -> str | None:
    """The first of ``codings`` (the server's order) the client takes, by the rules
    choose_representation applies to siblings; None: identity. For compressing a file here,
    where the sizes are not known before choosing."""
    if not codings or accept_encoding is None:
        return None
    weights = parse_accept_encoding(accept_encoding)
    identity_acceptable = _acceptable(None, weights)
    for coding in codings:
        if _offered(coding, weights, identity_acceptable):
            return coding
    return None
