"""The directory listings' verdicts: pure decisions from what was listed and when."""

from __future__ import annotations

from flashstatic.cache.directories import DirectoryListings, Verdict
from flashstatic.config import Root
from flashstatic.translate import candidates

ROOTS = (Root("/srv/a", ""), Root("/srv/b", ""))


def verdict(listings: DirectoryListings, path: str, now: float = 1.0, roots: tuple[Root, ...] = ROOTS):
    return listings.verdict(roots, candidates(roots, path), now)


def test_nothing_listed_asks_for_the_first_root_directory() -> None:
    assert verdict(DirectoryListings(10), "/js/app.js") == (Verdict.UNKNOWN, (0, ()))


def test_absent_only_when_absent_from_every_root() -> None:
    listings = DirectoryListings(10)
    listings.store((0, ()), ["js"], 0.0)
    assert verdict(listings, "/css/site.css") == (Verdict.UNKNOWN, (1, ()))
    listings.store((1, ()), ["img"], 0.0)
    assert verdict(listings, "/css/site.css") == (Verdict.ABSENT, None)


def test_present_when_every_segment_is_listed_in_one_root() -> None:
    listings = DirectoryListings(10)
    listings.store((0, ()), ["js"], 0.0)
    assert verdict(listings, "/js/app.js") == (Verdict.UNKNOWN, (0, ("js",)))
    listings.store((0, ("js",)), ["app.js"], 0.0)
    assert verdict(listings, "/js/app.js") == (Verdict.PRESENT, None)
    assert verdict(listings, "/js/other.js")[0] is Verdict.UNKNOWN  # root b not listed yet
    assert verdict(listings, "/", roots=ROOTS[:1]) == (Verdict.PRESENT, None)


def test_a_listing_is_trusted_for_the_interval_only() -> None:
    listings = DirectoryListings(10)
    listings.store((0, ()), [], 0.0)
    assert verdict(listings, "/x", now=9.9, roots=ROOTS[:1]) == (Verdict.ABSENT, None)
    assert verdict(listings, "/x", now=10.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))


def test_a_directory_that_could_not_be_listed_is_not_asked_again_until_stale() -> None:
    listings = DirectoryListings(10)
    listings.store((0, ()), None, 0.0)
    assert verdict(listings, "/x", now=5.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, None)
    assert verdict(listings, "/x", now=10.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))


def test_listings_are_bounded_by_the_names_they_hold() -> None:
    listings = DirectoryListings(10, max_names=5)
    listings.store((0, ()), ["a", "b"], 0.0)
    listings.store((0, ("a",)), ["c", "d"], 0.0)  # 3 + 3 > 5: the first is evicted
    assert len(listings) == 1
    assert verdict(listings, "/a/c", roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))
