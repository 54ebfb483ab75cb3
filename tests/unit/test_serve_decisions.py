"""The pure decisions behind CORS, Cache-Control by path and directory listings."""

from __future__ import annotations

import json

import pytest

from flashstatic.http.cachecontrol import cache_control_for, cache_control_rules
from flashstatic.http.cors import asked_headers, cors_policy, echoed_origin, preflight_headers
from flashstatic.http.listing import listing_start, plan_listing, wants_json


@pytest.mark.parametrize(
    ("asked", "echoed"),
    [
        (None, None),
        ("", None),
        ("X-Requested-With", "x-requested-with"),
        ("content-type, X-One , x-one", "content-type, x-one"),
        ("bad header, x\u00e9, a:b, ok", "ok"),
        (", ,", None),
    ],
)
def test_asked_headers_echo_only_header_names(asked: str | None, echoed: str | None) -> None:
    assert asked_headers(asked) == echoed


def test_asked_headers_are_bounded() -> None:
    assert asked_headers(", ".join(f"x-{n}" for n in range(100))).count(",") == 31  # type: ignore[union-attr]


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/", "https://a.example path", "", "null"])
def test_bad_origins_are_refused(origin: str) -> None:
    with pytest.raises(ValueError, match="cors_origins"):
        cors_policy([origin])


def test_origin_policies() -> None:
    assert cors_policy([]) is None
    assert cors_policy([], allow_all_origins=True) == cors_policy(["*", "https://a.example"])
    listed = cors_policy(["https://a.example", "http://[::1]:8000"])
    assert echoed_origin(listed, "http://[::1]:8000") == (b"access-control-allow-origin", b"http://[::1]:8000")
    assert echoed_origin(listed, "https://A.example") is None  # exact, as browsers send it
    assert preflight_headers(listed, "https://b.example", "GET", None) is None
    assert preflight_headers(listed, "https://a.example", None, None) is None  # not a preflight


def test_cache_control_first_match_wins_and_covers_index_files() -> None:
    rules = cache_control_rules({"*.html": "no-cache", "/docs/*": "max-age=5"})
    assert cache_control_for(rules, "/docs/page.html", "index.html") == "no-cache"
    assert cache_control_for(rules, "/docs/", "index.html") == "no-cache"
    assert cache_control_for(rules, "/docs/", None) == "max-age=5"
    assert cache_control_for(rules, "/app.js", "index.html") is None
    assert cache_control_for((), "/x", None) is None


@pytest.mark.parametrize(("query", "start"), [("", 0), ("from=12", 12), ("from=x", None), ("from=\u0662", None)])
def test_listing_start(query: str, start: int | None) -> None:
    assert listing_start(query) == start


@pytest.mark.parametrize(
    ("accept", "query", "json_wanted"),
    [
        (None, "", False),
        ("application/json", "", True),
        ("text/html,application/xhtml+xml,application/json;q=0.9", "", False),
        ("*/*", "format=json", True),
    ],
)
def test_wants_json(accept: str | None, query: str, json_wanted: bool) -> None:
    assert wants_json(accept, query) is json_wanted


def test_a_json_page_links_the_next_page_in_json() -> None:
    entries = [("a", False, 1, 0)]
    plan = plan_listing("GET", url_path="/d/", total=3, has_parent=True, start=1, entries=entries, as_json=True)
    body = plan.body[0]
    assert isinstance(body, bytes) and json.loads(body)["next"] == "?format=json&from=2"
    head = plan_listing("HEAD", url_path="/d/", total=3, has_parent=True, start=1, entries=entries, as_json=False)
    assert head.body == () and dict(head.headers)[b"content-type"] == b"text/html; charset=utf-8"
