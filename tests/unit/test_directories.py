"""The directory listings' verdicts: pure decisions from what was listed and when."""

from __future__ import annotations

from pathlib import Path

from flashstatic import FlashStatic
from flashstatic.amped.jobs import LISTING_BYTES, run_list_directory
from flashstatic.cache.directories import DirectoryKey, DirectoryListings, Verdict
from flashstatic.config import Root
from flashstatic.dirnames import pack_names
from flashstatic.translate import candidates

ROOTS = (Root("/srv/a", ""), Root("/srv/b", ""))


def listed(listings: DirectoryListings, key: DirectoryKey, names: list[str], now: float) -> None:
    listings.store(key, pack_names(listings.key, names), now)


def verdict(listings: DirectoryListings, path: str, now: float = 1.0, roots: tuple[Root, ...] = ROOTS):
    return listings.verdict(roots, candidates(roots, path), now)


def test_nothing_listed_asks_for_the_first_root_directory() -> None:
    assert verdict(DirectoryListings(10), "/js/app.js") == (Verdict.UNKNOWN, (0, ()))


def test_absent_only_when_absent_from_every_root() -> None:
    listings = DirectoryListings(10)
    listed(listings, (0, ()), ["js"], 0.0)
    assert verdict(listings, "/css/site.css") == (Verdict.UNKNOWN, (1, ()))
    listed(listings, (1, ()), ["img"], 0.0)
    assert verdict(listings, "/css/site.css") == (Verdict.ABSENT, None)


def test_present_when_every_segment_is_listed_in_one_root() -> None:
    listings = DirectoryListings(10)
    listed(listings, (0, ()), ["js"], 0.0)
    assert verdict(listings, "/js/app.js") == (Verdict.UNKNOWN, (0, ("js",)))
    listed(listings, (0, ("js",)), ["app.js"], 0.0)
    assert verdict(listings, "/js/app.js") == (Verdict.PRESENT, None)
    assert verdict(listings, "/js/other.js")[0] is Verdict.UNKNOWN  # root b not listed yet
    assert verdict(listings, "/", roots=ROOTS[:1]) == (Verdict.PRESENT, None)


def test_a_listing_is_trusted_for_the_interval_only() -> None:
    listings = DirectoryListings(10)
    listed(listings, (0, ()), [], 0.0)
    assert verdict(listings, "/x", now=9.9, roots=ROOTS[:1]) == (Verdict.ABSENT, None)
    assert verdict(listings, "/x", now=10.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))


def test_a_directory_that_could_not_be_listed_is_not_asked_again_until_stale() -> None:
    listings = DirectoryListings(10)
    listings.store((0, ()), None, 0.0)
    assert verdict(listings, "/x", now=5.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, None)
    assert verdict(listings, "/x", now=10.0, roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))


def test_listings_are_bounded_by_the_names_they_hold() -> None:
    listings = DirectoryListings(10, max_names=5)
    listed(listings, (0, ()), ["a", "b"], 0.0)
    listed(listings, (0, ("a",)), ["c", "d"], 0.0)  # 3 + 3 > 5: the first is evicted
    assert len(listings) == 1
    assert verdict(listings, "/a/c", roots=ROOTS[:1]) == (Verdict.UNKNOWN, (0, ()))


def test_a_listing_tells_listed_names_from_all_others() -> None:
    listings = DirectoryListings(10)
    names = [f"photo-{i:05d}.jpg" for i in range(3000)] + ["caf\u00e9.txt", "\udcff-not-utf8"]
    listed(listings, (0, ()), names, 0.0)
    roots = ROOTS[:1]
    assert all(verdict(listings, "/" + name, roots=roots)[0] is Verdict.PRESENT for name in names[::97])
    assert verdict(listings, "/caf\u00e9.txt", roots=roots)[0] is Verdict.PRESENT
    others = [f"photo-{i:05d}.png" for i in range(3000)] + ["cafe.txt", "Photo-00001.jpg"]
    assert {verdict(listings, "/" + name, roots=roots)[0] for name in others} == {Verdict.ABSENT}


def test_listings_are_digested_under_a_key_of_each_servers_own() -> None:
    first, second = DirectoryListings(10), DirectoryListings(10)
    assert first.key != second.key
    assert pack_names(first.key, ["app.js"]) != pack_names(second.key, ["app.js"])


def test_a_directory_of_thousands_of_names_is_listed_and_a_larger_one_is_not(tmp_path: Path) -> None:
    # 6,000 names of 40 characters would be 260 KB as a list of names: too large for one
    # helper message, so lookups there could not be ranked. As digests they fit.
    rules = FlashStatic(directory=tmp_path).core.rules
    for name, count in (("uploads", 6000), ("huge", 10_000)):
        (tmp_path / name).mkdir()
        for i in range(count):
            (tmp_path / name / f"{i:08d}-{'x' * 27}.jpg").touch()
    listings = DirectoryListings(10)
    for directory in ((), ("uploads",)):
        packed = run_list_directory(rules, 0, directory, listings.key.hex())
        assert packed is not None and len(packed) <= LISTING_BYTES
        listings.store((0, directory), packed, 0.0)
    name = "00004321-" + "x" * 27 + ".jpg"
    assert verdict(listings, f"/uploads/{name}", roots=rules.roots)[0] is Verdict.PRESENT
    assert verdict(listings, f"/uploads/{name}.txt", roots=rules.roots)[0] is Verdict.ABSENT
    assert run_list_directory(rules, 0, ("huge",), listings.key.hex()) is None


def test_below_a_directory_too_large_to_list_lookups_are_ranked_by_what_they_found() -> None:
    listings = DirectoryListings(10)
    roots = ROOTS[:1]
    listed(listings, (0, ()), ["uploads"], 0.0)
    listings.store((0, ("uploads",)), None, 0.0)

    def lookup(name: str, exists: bool) -> None:
        listings.note(roots, candidates(roots, f"/uploads/{name}"), exists)

    assert verdict(listings, "/uploads/new.jpg", roots=roots) == (Verdict.UNKNOWN, None)
    lookup("a.jpg", True)
    assert verdict(listings, "/uploads/new.jpg", roots=roots) == (Verdict.PRESENT, None)
    for i in range(3):
        lookup(f"guess-{i}", False)
    assert verdict(listings, "/uploads/new.jpg", roots=roots) == (Verdict.UNKNOWN, None)
    for i in range(4):
        lookup(f"{i}.jpg", True)  # 5 found, 3 missed
    listed(listings, (0, ()), ["uploads"], 10.0)
    listings.store((0, ("uploads",)), None, 10.0)  # asked again, still too large: halves carry over
    assert verdict(listings, "/uploads/new.jpg", now=11.0, roots=roots) == (Verdict.PRESENT, None)
    listed(listings, (0, ("uploads",)), ["a.jpg"], 11.0)  # listed at last: the listing decides
    assert verdict(listings, "/uploads/new.jpg", now=12.0, roots=roots)[0] is Verdict.ABSENT
