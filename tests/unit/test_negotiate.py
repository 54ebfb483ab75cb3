"""Accept-Encoding parsing and the choice of a precompressed representation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic.http.negotiate import SIBLING_SUFFIXES, choose_representation, parse_accept_encoding


@dataclass(frozen=True)
class Rep:
    encoding: str | None
    size: int


IDENTITY = Rep(None, 1000)
GZIP = Rep("gzip", 300)
BR = Rep("br", 250)
ZSTD = Rep("zstd", 280)
ENCODED = (BR, ZSTD, GZIP)


def choose(header: str | None, identity: Rep = IDENTITY, encoded=ENCODED) -> Rep:
    return choose_representation(header, identity, encoded)


def test_sibling_suffixes() -> None:
    assert SIBLING_SUFFIXES == {".br": "br", ".zst": "zstd", ".gz": "gzip"}


# --- parse_accept_encoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip", {"gzip": 1.0}),
        ("gzip;q=0", {"gzip": 0.0}),
        ("br;q=0.5", {"br": 0.5}),
        ("gzip, deflate, br", {"gzip": 1.0, "deflate": 1.0, "br": 1.0}),
        ("gzip;q=1.0, br;q=0.999, *;q=0.001", {"gzip": 1.0, "br": 0.999, "*": 0.001}),
        ("gzip; q=0.3", {"gzip": 0.3}),
        ("gzip ;q=0.3", {"gzip": 0.3}),
        ("gzip;Q=0.3", {"gzip": 0.3}),
        ("GZIP", {"gzip": 1.0}),
        ("Br;q=0.2", {"br": 0.2}),
        ("x-gzip", {"gzip": 1.0}),
        ("X-GZip;q=0.4", {"gzip": 0.4}),
        ("identity;q=0, *;q=0", {"identity": 0.0, "*": 0.0}),
        ("gzip;q=0.", {"gzip": 0.0}),
        ("gzip;q=1.000", {"gzip": 1.0}),
        ("gzip;level=9", {"gzip": 1.0}),  # other parameters do not change the weight
        ("", {}),
        (" , ,", {}),
        ("gzip,,br", {"gzip": 1.0, "br": 1.0}),
    ],
)
def test_parse_accept_encoding(value: str, expected: dict) -> None:
    assert parse_accept_encoding(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "gzip;q=2",
        "gzip;q=abc",
        "gzip;q=1.5",
        "gzip;q=1.0001",
        "gzip;q=0.1234",
        "gzip;q=-1",
        "gzip;q=",
        "gzip;q=.5",
        "gzip;q=1e0",
        "gzip;q=0x1",
    ],
)
def test_invalid_qvalue_drops_the_member(value: str) -> None:
    assert parse_accept_encoding(value) == {}
    assert parse_accept_encoding(value + ", br") == {"br": 1.0}
    assert parse_accept_encoding("br;q=0.5, " + value) == {"br": 0.5}


# --- choose_representation ------------------------------------------------------------------


def test_no_header_is_identity() -> None:
    assert choose(None) is IDENTITY


def test_no_encoded_variants_is_identity() -> None:
    assert choose("gzip, br", encoded=()) is IDENTITY
    assert choose("identity;q=0, *;q=0", encoded=()) is IDENTITY


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", GZIP),
        ("gzip, br", BR),  # the smallest acceptable
        ("br, gzip", BR),
        ("gzip, zstd", ZSTD),
        ("gzip, br, zstd", BR),
        ("gzip;q=1, br;q=0.1", BR),  # any positive weight is acceptable: smallest wins
        ("x-gzip", GZIP),
        ("GZIP", GZIP),
        ("deflate", IDENTITY),
        ("", IDENTITY),  # empty: no coding wanted
        ("identity", IDENTITY),
        # "*" alone promises no particular coding (a client may not decode br or zstd):
        # identity, as WhiteNoise, nginx and Apache answer it.
        ("*", IDENTITY),
        ("*;q=0.1", IDENTITY),
        ("gzip, *", GZIP),
        # With identity excluded, "*" is what makes the codings acceptable.
        ("identity;q=0, *", BR),
        ("identity;q=0, *, br;q=0", ZSTD),
        ("identity;q=0, *, br;q=0, zstd;q=0", GZIP),
        ("gzip;q=0", IDENTITY),
        ("gzip;q=0, br;q=0", IDENTITY),
        ("br;q=0, gzip", GZIP),
        ("*, br;q=0", IDENTITY),
        ("*, br;q=0, zstd;q=0", IDENTITY),
        ("gzip;q=2, br", BR),  # invalid member dropped
        ("br;q=abc", IDENTITY),
    ],
)
def test_choice(header: str, expected: Rep) -> None:
    assert choose(header) is expected


def test_star_q0_excludes_identity_when_not_listed() -> None:
    # Nothing but gzip acceptable: gzip, even larger than identity.
    big_gzip = Rep("gzip", 5000)
    assert choose("gzip, *;q=0", encoded=(big_gzip,)) is big_gzip
    # Both gzip and br acceptable, identity excluded: the smaller encoded one.
    assert choose("gzip, br, *;q=0") is BR
    big_br = Rep("br", 2000)
    assert choose("gzip, br, *;q=0", encoded=(big_br, Rep("gzip", 3000))) is big_br


def test_star_q0_with_nothing_acceptable_is_identity() -> None:
    assert choose("*;q=0") is IDENTITY
    assert choose("*;q=0, deflate") is IDENTITY
    assert choose("identity;q=0") is IDENTITY  # nothing acceptable at all


def test_star_q0_with_identity_listed_keeps_identity() -> None:
    assert choose("*;q=0, identity") is IDENTITY
    assert choose("*;q=0, identity, gzip") is GZIP


def test_identity_excluded_picks_encoded_even_if_larger() -> None:
    big_gzip = Rep("gzip", 5000)
    assert choose("identity;q=0, gzip", encoded=(big_gzip,)) is big_gzip
    assert choose("identity;q=0, *", encoded=(big_gzip,)) is big_gzip


def test_encoded_larger_than_identity_loses() -> None:
    big_gzip = Rep("gzip", 5000)
    assert choose("gzip", encoded=(big_gzip,)) is IDENTITY
    assert choose("gzip, br", encoded=(big_gzip, Rep("br", 1001))) is IDENTITY
    same_size = Rep("gzip", IDENTITY.size)
    assert choose("gzip", encoded=(same_size,)) is IDENTITY  # a tie gains nothing


def test_larger_variant_skipped_for_smaller_acceptable_one() -> None:
    assert choose("gzip, br", encoded=(Rep("br", 5000), GZIP)) is GZIP


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(["gzip", "br", "zstd", "identity", "*", "x-gzip", "deflate"]), max_size=5),
    st.lists(st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=2"]), min_size=5, max_size=5),
    st.integers(1, 2000),
    st.integers(1, 2000),
)
def test_result_is_always_one_of_the_candidates(codings, params, gzip_size, br_size) -> None:
    header = ", ".join(coding + param for coding, param in zip(codings, params, strict=False))
    gzip, br = Rep("gzip", gzip_size), Rep("br", br_size)
    result = choose(header, encoded=(gzip, br))
    assert result in (IDENTITY, gzip, br)
    weights = parse_accept_encoding(header)
    if result.encoding is not None:
        # An encoded variant is only sent when the client accepts it.
        coding = result.encoding
        assert weights.get(coding, weights.get("*", 0)) > 0
