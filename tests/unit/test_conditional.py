"""Entity tags and precondition evaluation (RFC 9110 sections 8.8.3 and 13.2.2)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashstatic.http.conditional import (
    Conditions,
    EntityTag,
    Precondition,
    evaluate_preconditions,
    make_etag,
    parse_etag_list,
)
from flashstatic.http.dates import format_http_date

# entity-tag = [ weak ] opaque-tag ; opaque-tag = DQUOTE *etagc DQUOTE
_STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]*"')

ETAG = '"abc"'
LAST_MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
SAME = format_http_date(LAST_MODIFIED)
EARLIER = format_http_date(LAST_MODIFIED - 1)
LATER = format_http_date(LAST_MODIFIED + 1)
INVALID_DATE = "Sun, 06 Nov 1994 08:49:37 +0000"


def evaluate(method: str = "GET", **headers: str) -> Precondition:
    return evaluate_preconditions(method, Conditions(**headers), ETAG, LAST_MODIFIED)


# --- make_etag ------------------------------------------------------------------------------


class TestMakeEtag:
    def test_is_a_strong_quoted_tag(self) -> None:
        for encoding in (None, "gzip", "br", "zstd"):
            tag = make_etag(1234, 1_700_000_000_123_456_789, encoding)
            assert _STRONG_ETAG.fullmatch(tag), tag
            assert not tag.startswith("W/")

    def test_is_deterministic(self) -> None:
        assert make_etag(10, 20, None) == make_etag(10, 20, None)
        assert make_etag(10, 20, "gzip") == make_etag(10, 20, "gzip")

    def test_distinct_per_encoding(self) -> None:
        tags = {make_etag(10, 20, encoding) for encoding in (None, "gzip", "br", "zstd")}
        assert len(tags) == 4

    def test_empty_encoding_is_identity(self) -> None:
        assert make_etag(10, 20, "") == make_etag(10, 20, None)

    def test_depends_on_size(self) -> None:
        assert make_etag(10, 20, None) != make_etag(11, 20, None)

    def test_depends_on_mtime_to_the_nanosecond(self) -> None:
        assert make_etag(10, 1_700_000_000_000_000_000, None) != make_etag(10, 1_700_000_000_000_000_001, None)

    def test_parses_back_as_one_strong_tag(self) -> None:
        tag = make_etag(10, 20, "br")
        assert parse_etag_list(tag) == [EntityTag(tag, False)]

    @settings(max_examples=100, deadline=None)
    @given(
        st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)),
        st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)),
        st.sampled_from([None, "gzip", "br"]),
    )
    def test_injective_in_size_and_mtime(self, a: tuple[int, int], b: tuple[int, int], encoding: str | None) -> None:
        assert (make_etag(*a, encoding) == make_etag(*b, encoding)) == (a == b)


# --- parse_etag_list ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"a"', [EntityTag('"a"', False)]),
        ('W/"a"', [EntityTag('"a"', True)]),
        ('"a", "b"', [EntityTag('"a"', False), EntityTag('"b"', False)]),
        ('"a",W/"b" ,  "c"', [EntityTag('"a"', False), EntityTag('"b"', True), EntityTag('"c"', False)]),
        ('"a,b", "c"', [EntityTag('"a,b"', False), EntityTag('"c"', False)]),  # comma inside a tag
        ('W/"x,y,z"', [EntityTag('"x,y,z"', True)]),
        ('""', [EntityTag('""', False)]),
        (' \t"a"\t, , ,"b" ', [EntityTag('"a"', False), EntityTag('"b"', False)]),  # empty list elements
        ("", []),
        ("   ", []),
        (",,,", []),
        # malformed: keep what was well formed before the error
        ('"a", b, "c"', [EntityTag('"a"', False)]),
        ('"a", "unterminated', [EntityTag('"a"', False)]),
        ('"unterminated', []),
        ("abc", []),
        ("W/", []),
        ('W/ "a"', []),
        ('w/"a"', []),  # the weak indicator is case-sensitive
        ('"a", W/', [EntityTag('"a"', False)]),
        ('"a", *', [EntityTag('"a"', False)]),
    ],
)
def test_parse_etag_list(value: str, expected: list[EntityTag]) -> None:
    assert parse_etag_list(value) == expected


@pytest.mark.parametrize("value", ["*", " * ", "\t*"])
def test_star_is_none(value: str) -> None:
    assert parse_etag_list(value) is None


@settings(max_examples=120, deadline=None)
@given(st.text(alphabet='"W/, \tab*', max_size=20))
def test_parse_never_raises_and_tags_are_quoted(value: str) -> None:
    result = parse_etag_list(value)
    if result is not None:
        for tag in result:
            assert len(tag.opaque) >= 2 and tag.opaque[0] == tag.opaque[-1] == '"'
            assert '"' not in tag.opaque[1:-1]


# --- evaluate_preconditions: no conditions --------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT"])
def test_no_conditions_proceeds(method: str) -> None:
    assert evaluate(method) is Precondition.PROCEED


def test_precondition_values_are_status_codes() -> None:
    assert Precondition.NOT_MODIFIED.value == 304
    assert Precondition.FAILED.value == 412


# --- step 1: If-Match (strong comparison) ---------------------------------------------------


class TestIfMatch:
    @pytest.mark.parametrize("value", ['"abc"', '"x", "abc"', '"abc", "x"', "*", ' "abc" ', '"a,b", "abc"'])
    def test_match_proceeds(self, value: str) -> None:
        assert evaluate(if_match=value) is Precondition.PROCEED

    @pytest.mark.parametrize("value", ['"x"', '"x", "y"', 'W/"abc"', '"ABC"', "abc", "", '"abc'])
    def test_mismatch_fails(self, value: str) -> None:
        assert evaluate(if_match=value) is Precondition.FAILED

    @pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "DELETE"])
    def test_mismatch_fails_for_any_method(self, method: str) -> None:
        assert evaluate(method, if_match='"x"') is Precondition.FAILED

    def test_mismatch_fails_even_with_matching_if_none_match(self) -> None:
        assert evaluate(if_match='"x"', if_none_match='"abc"') is Precondition.FAILED

    def test_mismatch_fails_even_with_if_modified_since(self) -> None:
        assert evaluate(if_match='"x"', if_modified_since=LATER) is Precondition.FAILED

    def test_match_then_if_none_match_still_applies(self) -> None:
        assert evaluate(if_match='"abc"', if_none_match='"abc"') is Precondition.NOT_MODIFIED
        assert evaluate("POST", if_match='"abc"', if_none_match='"abc"') is Precondition.FAILED

    def test_match_disables_if_unmodified_since(self) -> None:
        # Step 2 runs only when If-Match is absent.
        assert evaluate(if_match='"abc"', if_unmodified_since=EARLIER) is Precondition.PROCEED
        assert evaluate(if_match="*", if_unmodified_since=EARLIER) is Precondition.PROCEED


# --- step 2: If-Unmodified-Since ------------------------------------------------------------


class TestIfUnmodifiedSince:
    def test_file_newer_than_date_fails(self) -> None:
        assert evaluate(if_unmodified_since=EARLIER) is Precondition.FAILED

    @pytest.mark.parametrize("date", [SAME, LATER])
    def test_file_not_newer_proceeds(self, date: str) -> None:
        assert evaluate(if_unmodified_since=date) is Precondition.PROCEED

    @pytest.mark.parametrize("date", [INVALID_DATE, "junk", "", f"{EARLIER}, {EARLIER}"])
    def test_invalid_date_is_ignored(self, date: str) -> None:
        assert evaluate(if_unmodified_since=date) is Precondition.PROCEED

    def test_applies_to_unsafe_methods(self) -> None:
        assert evaluate("PUT", if_unmodified_since=EARLIER) is Precondition.FAILED

    def test_other_date_formats(self) -> None:
        assert evaluate(if_unmodified_since="Sunday, 06-Nov-94 08:49:36 GMT") is Precondition.FAILED
        assert evaluate(if_unmodified_since="Sun Nov  6 08:49:37 1994") is Precondition.PROCEED

    def test_failure_wins_over_if_none_match(self) -> None:
        assert evaluate(if_unmodified_since=EARLIER, if_none_match='"abc"') is Precondition.FAILED


# --- step 3: If-None-Match (weak comparison) ------------------------------------------------


class TestIfNoneMatch:
    @pytest.mark.parametrize("value", ['"abc"', 'W/"abc"', '"x", "abc"', 'W/"x", W/"abc"', "*", '"a,b", "abc"'])
    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_match_is_not_modified_for_get_and_head(self, method: str, value: str) -> None:
        assert evaluate(method, if_none_match=value) is Precondition.NOT_MODIFIED

    @pytest.mark.parametrize("value", ['"abc"', 'W/"abc"', "*", '"x", "abc"'])
    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
    def test_match_fails_for_other_methods(self, method: str, value: str) -> None:
        assert evaluate(method, if_none_match=value) is Precondition.FAILED

    @pytest.mark.parametrize("value", ['"x"', '"x", "y"', '"ABC"', "", "abc", '"ab"'])
    def test_mismatch_proceeds(self, value: str) -> None:
        assert evaluate(if_none_match=value) is Precondition.PROCEED

    def test_if_modified_since_ignored_when_if_none_match_present(self) -> None:
        # The tag does not match; the date alone would give 304.
        assert evaluate(if_none_match='"x"', if_modified_since=LATER) is Precondition.PROCEED
        assert evaluate(if_none_match='"x"', if_modified_since=SAME) is Precondition.PROCEED

    def test_matching_tag_with_old_if_modified_since_is_still_304(self) -> None:
        assert evaluate(if_none_match='"abc"', if_modified_since=EARLIER) is Precondition.NOT_MODIFIED


# --- step 4: If-Modified-Since --------------------------------------------------------------


class TestIfModifiedSince:
    @pytest.mark.parametrize("date", [SAME, LATER])
    @pytest.mark.parametrize("method", ["GET", "HEAD"])
    def test_not_modified_since(self, method: str, date: str) -> None:
        assert evaluate(method, if_modified_since=date) is Precondition.NOT_MODIFIED

    def test_modified_since_proceeds(self) -> None:
        assert evaluate(if_modified_since=EARLIER) is Precondition.PROCEED

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
    def test_ignored_for_other_methods(self, method: str) -> None:
        assert evaluate(method, if_modified_since=LATER) is Precondition.PROCEED

    @pytest.mark.parametrize("date", [INVALID_DATE, "junk", "", f"{LATER}, {LATER}", "06 Nov 1994 08:49:37 GMT"])
    def test_invalid_date_is_ignored(self, date: str) -> None:
        assert evaluate(if_modified_since=date) is Precondition.PROCEED

    def test_other_date_formats(self) -> None:
        assert evaluate(if_modified_since="Sunday, 06-Nov-94 08:49:37 GMT") is Precondition.NOT_MODIFIED
        assert evaluate(if_modified_since="Sun Nov  6 08:49:36 1994") is Precondition.PROCEED

    def test_combined_with_passing_if_unmodified_since(self) -> None:
        assert evaluate(if_unmodified_since=LATER, if_modified_since=SAME) is Precondition.NOT_MODIFIED
