"""A directory listing as a response: an HTML page, or JSON for a client that asks for it.

Pure: given the request's method, Accept and query, the URL path and one page of entries
(listing.py reads them), return the plan. Names are HTML-escaped in text and percent-encoded
in links (every character but unreserved ones, "/" included, so a name is always one path
segment); links are relative, so the page works under any mount point or prefix.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Sequence
from urllib.parse import parse_qsl, quote

from .headers import Header
from .respond import ALLOWED_METHODS, ResponsePlan, plan_method_not_allowed, plan_text

# (name, is a directory, size in bytes, modification time in whole seconds)
Entry = tuple[str, bool, int, int]

# The page's own style, and nothing else: no script runs, nothing is fetched.
_SECURITY_POLICY = b"default-src 'none'; style-src 'unsafe-inline'"

_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}"
    "h1{font-size:1.3em;font-weight:600;word-break:break-all}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.25em .75em;border-bottom:1px solid #eee}"
    "th{font-weight:600;border-bottom:2px solid #ddd}"
    "td.size,th.size{text-align:right;white-space:nowrap}td.date{white-space:nowrap;color:#555}"
    "a{color:#0645ad;text-decoration:none}a:hover{text-decoration:underline}"
    "p.more{color:#555}"
)


def listing_start(query: str) -> int | None:
    """The ``from`` query parameter: the index of the first entry to show (0 when absent);
    None when it is not a whole number, for a 400."""
    value = dict(parse_qsl(query)).get("from", "0")
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        return None
    return int(value)


def wants_json(accept: str | None, query: str) -> bool:
    """JSON for ``?format=json``, or an Accept naming application/json and not text/html
    (browsers name text/html first)."""
    if dict(parse_qsl(query)).get("format") == "json":
        return True
    if accept is None:
        return False
    types = {item.split(";", 1)[0].strip().lower() for item in accept.split(",")}
    return "application/json" in types and "text/html" not in types


def plan_listing(
    method: str,
    *,
    url_path: str,
    total: int,
    has_parent: bool,
    start: int,
    entries: Sequence[Entry],
    as_json: bool,
) -> ResponsePlan:
    if method not in ALLOWED_METHODS:
        return plan_method_not_allowed()
    end = start + len(entries)
    # The next page in the same form, whether JSON was asked for by Accept or by the query.
    next_link = None if end >= total else f"?format=json&from={end}" if as_json else f"?from={end}"
    if as_json:
        body = _json_page(url_path, total, start, entries, next_link)
        content_type = b"application/json"
    else:
        body = _html_page(url_path, total, has_parent, start, entries, next_link)
        content_type = b"text/html; charset=utf-8"
    headers: list[Header] = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        (b"vary", b"Accept"),
    ]
    if not as_json:
        headers.append((b"content-security-policy", _SECURITY_POLICY))
    return ResponsePlan(200, headers, () if method == "HEAD" else (body,))


def plan_bad_listing_query(method: str) -> ResponsePlan:
    return plan_text(400, "Bad Request: 'from' must be a whole number", head=method == "HEAD")


def _href(name: str, is_directory: bool) -> str:
    return quote(name, safe="") + ("/" if is_directory else "")


def _json_page(url_path: str, total: int, start: int, entries: Sequence[Entry], next_link: str | None) -> bytes:
    listing = {
        "path": url_path,
        "total": total,
        "from": start,
        "next": next_link,
        "entries": [
            {
                "name": name,
                "type": "directory" if is_directory else "file",
                "size": None if is_directory else size,
                "modified": _iso_date(mtime),
                "url": _href(name, is_directory),
            }
            for name, is_directory, size, mtime in entries
        ],
    }
    return json.dumps(listing, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _html_page(
    url_path: str, total: int, has_parent: bool, start: int, entries: Sequence[Entry], next_link: str | None
) -> bytes:
    title = html.escape(f"Index of {url_path}")
    rows = []
    if has_parent:
        rows.append('<tr><td><a href="../">../</a></td><td class="size"></td><td class="date"></td></tr>')
    for name, is_directory, size, mtime in entries:
        shown = html.escape(name + ("/" if is_directory else ""))
        rows.append(
            f'<tr><td><a href="{html.escape(_href(name, is_directory))}">{shown}</a></td>'
            f'<td class="size" title="{"" if is_directory else f"{size} bytes"}">'
            f"{'-' if is_directory else _human_size(size)}</td>"
            f'<td class="date">{_display_date(mtime)}</td></tr>'
        )
    more = ""
    if start > 0 or next_link is not None:
        shown_range = f"{start + 1}&ndash;{start + len(entries)}" if entries else "none"
        more = f'<p class="more">Entries {shown_range} of {total}.'
        if start > 0:
            more += ' <a href="?from=0">First page</a>'
        if next_link is not None:
            more += f' <a href="{next_link}">Next page</a>'
        more += "</p>"
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1><table><thead><tr><th>Name</th>"
        '<th class="size">Size</th><th>Modified (UTC)</th></tr></thead><tbody>'
        + "".join(rows)
        + f"</tbody></table>{more}</body></html>\n"
    )
    return page.encode("utf-8")


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _iso_date(mtime: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


def _display_date(mtime: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime))
