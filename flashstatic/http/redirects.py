"""Where a redirect to a directory points: the one URL decision the adapters share."""

from __future__ import annotations

from urllib.parse import quote


def relative_redirect(kind: str, raw_path: bytes | None, path: str, query: bytes) -> str:
    """A relative Location, so it is right however many prefixes and proxies sit above us.

    ``raw_path`` is the request path as sent (percent-escapes intact) when the server gives
    it; ``path`` its decoded form; ``query`` the query string, kept on the redirect.
    """
    if kind == "directory":
        target = "./"
    elif raw_path:
        target = f"./{raw_path.rsplit(b'/', 1)[-1].decode('latin-1')}/"
    else:
        target = f"./{quote(path.rsplit('/', 1)[-1], safe='')}/"
    return f"{target}?{query.decode('latin-1')}" if query else target
