"""The messages between the server and its helper processes: plain data, bounded in bytes.

JSON with a tag for each of the few types a job or an answer may hold, read back strictly:
nothing a helper sends can make the server run code (as unpickling could), and anything that
is not exactly one of these shapes is refused as a whole (``WireError``). A message never
exceeds ``MAX_MESSAGE`` bytes, which fits a SOCK_SEQPACKET datagram on any Linux default
socket buffer; a job or answer that would not fit is refused before it is sent
(``MessageTooLarge``), so the caller can split it, and is never mistaken for a dead helper.

A first request's lookup (a "translate" or "translate_open" job) and the file it finds are
most of what crosses the channel, so those two go as flat arrays instead (``_compact``), read
back as strictly: the rules as the JSON text of their tagged form, which a helper reads once
and keeps, and a file found as its fields in order. Either form decodes to the same value.
"""

from __future__ import annotations

import errno
import json
from json.encoder import encode_basestring_ascii as _quoted
from typing import Any

from ..config import Root
from ..dirnames import unpack_names
from ..http.paths import PathRejected
from ..translate import MISSING, FileFacts, FoundFile, RedirectTo, TranslationRules, _Missing
from .jobs import FileChanged

# A request path is at most 4 KiB (http/paths.py), so one path's job and answer always fit;
# a batch is split to fit. The default socket buffer (208 KiB) holds several such messages.
MAX_MESSAGE = 64 * 1024


class WireError(Exception):
    """A message that is not one this protocol sends."""


class MessageTooLarge(Exception):
    """A job or an answer larger than MAX_MESSAGE: it can never be sent as it is."""


class HelperError(Exception):
    """A job failed in the helper with an error the protocol has no type for; the text only."""


def encode(value: Any) -> bytes:
    """One message; raises MessageTooLarge past the bound."""
    data = _compact(value)
    if data is None:
        data = json.dumps(_dump(value), separators=(",", ":")).encode("ascii")
    if len(data) > MAX_MESSAGE:
        raise MessageTooLarge(f"a message of {len(data)} bytes (at most {MAX_MESSAGE})")
    return data


def decode(data: bytes) -> Any:
    if len(data) > MAX_MESSAGE:
        raise WireError("message over the size bound")
    try:
        plain = json.loads(data.decode("ascii"))
        # Every tagged message is an object; an array is one of the compact ones.
        return _load_compact(plain) if type(plain) is list else _load(plain)
    except WireError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
        raise WireError(f"malformed message: {exc!r}") from None


# -- the compact messages -----------------------------------------------------------------------

# The lookup jobs' kinds, with how many arguments each takes: (rules, path[, warm]).
_LOOKUP_ARGUMENTS = {"translate": 2, "translate_open": 3}


def _compact(value: Any) -> bytes | None:
    """A lookup job ``(serial, kind, (rules, path[, warm]))`` or the answer ``(serial, True,
    file found without siblings)`` as a flat array; None for any other message."""
    if type(value) is not tuple or len(value) != 3 or type(value[0]) is not int:
        return None
    serial, second, third = value
    if second is True:
        if type(third) is not FoundFile or third.siblings:
            return None
        facts = third.facts
        return (
            f"[{serial},true,{_quoted(third.url)},{_quoted(facts.path)},"
            f"{facts.size:d},{facts.mtime_ns:d},{facts.dev:d},{facts.ino:d}]"
        ).encode("ascii")
    if type(second) is not str or type(third) is not tuple or len(third) != _LOOKUP_ARGUMENTS.get(second):
        return None
    rules, path, *warm = third
    if type(rules) is not TranslationRules or type(path) is not str or any(type(w) is not int for w in warm):
        return None
    tail = f",{warm[0]:d}]" if warm else "]"
    return f'[{serial},"{second}",{_rules_text(rules)},{_quoted(path)}{tail}'.encode("ascii")


def _load_compact(items: list[Any]) -> tuple[int, Any, Any]:
    if len(items) == 8 and items[1] is True:
        serial, _, url, path, size, mtime_ns, dev, ino = items
        facts = FileFacts(_str(path), _int(size), _int(mtime_ns), _int(dev), _int(ino))
        return _int(serial), True, FoundFile(_str(url), facts, ())
    if type(items[1]) is str and len(items) == 2 + _LOOKUP_ARGUMENTS.get(items[1], -1):
        serial, kind, rules, path, *warm = items
        return _int(serial), kind, (_rules_of(_str(rules)), _str(path), *(_int(w) for w in warm))
    raise WireError("not a message of this protocol")


# Rules by the text they travel as, both ways: a server has one set of rules per app, so these
# stay small; past the bound they start over.
_MAX_RULES = 64
_texts: dict[TranslationRules, str] = {}
_rules: dict[str, TranslationRules] = {}


def _rules_text(rules: TranslationRules) -> str:
    """The rules' tagged form as a JSON string, quoted for a place in a message."""
    text = _texts.get(rules)
    if text is None:
        if len(_texts) >= _MAX_RULES:
            _texts.clear()
        text = _texts[rules] = _quoted(json.dumps(_dump(rules), separators=(",", ":")))
    return text


def _rules_of(text: str) -> TranslationRules:
    rules = _rules.get(text)
    if rules is None:
        rules = _load(json.loads(text))
        if type(rules) is not TranslationRules:
            raise WireError("expected rules")
        if len(_rules) >= _MAX_RULES:
            _rules.clear()
        _rules[text] = rules
    return rules


# -- to plain data ------------------------------------------------------------------------------


def _dump(value: Any) -> Any:
    # Order matters: bool is an int, the NamedTuple FileFacts is a tuple.
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, FileFacts):
        return {"facts": list(value)}
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [_dump(item) for item in value]}
    if isinstance(value, FoundFile):
        return {"found": [value.url, _dump(value.facts), [[coding, _dump(facts)] for coding, facts in value.siblings]]}
    if isinstance(value, RedirectTo):
        return {"redirect": value.kind}
    if isinstance(value, _Missing):
        return {"missing": None}
    if isinstance(value, TranslationRules):
        return {
            "rules": [
                [[root.directory, root.prefix] for root in value.roots],
                value.follow_symlink,
                value.allow_dotfiles,
                value.index_file,
                value.redirect_index,
                value.not_found_file,
            ]
        }
    if isinstance(value, BaseException):
        return {"error": _dump_error(value)}
    raise TypeError(f"cannot send a {type(value).__name__} to or from a helper")


def _dump_error(error: BaseException) -> list[Any]:
    if isinstance(error, PathRejected):
        return ["rejected", error.status, error.reason]
    if isinstance(error, FileChanged):
        return ["changed", str(error)]
    if isinstance(error, MessageTooLarge):
        return ["too_large", str(error)]
    if isinstance(error, OSError) and isinstance(error.errno, int):
        return ["os", error.errno, error.strerror or "", error.filename if isinstance(error.filename, str) else None]
    return ["other", f"{type(error).__name__}: {error}"]


# -- back, strictly -----------------------------------------------------------------------------


def _load(data: Any) -> Any:
    if data is None or isinstance(data, (bool, int, str)):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise WireError(f"unexpected {type(data).__name__}")
    ((tag, body),) = data.items()
    if tag == "tuple":
        return tuple(_load(item) for item in _list(body))
    if tag == "list":
        return [_load(item) for item in _list(body)]
    if tag == "facts":
        return _facts(body)
    if tag == "found":
        url, facts, siblings = _list(body, 3)
        return FoundFile(
            _str(url),
            _facts(_one(facts, "facts")),
            tuple(
                (_str(coding), _facts(_one(sibling, "facts")))
                for coding, sibling in (_list(pair, 2) for pair in _list(siblings))
            ),
        )
    if tag == "redirect":
        if body not in ("slash", "directory"):
            raise WireError("unknown redirect")
        return RedirectTo(body)
    if tag == "missing":
        return MISSING
    if tag == "rules":
        roots, follow, dotfiles, index, redirect_index, not_found = _list(body, 6)
        return TranslationRules(
            tuple(Root(_str(directory), _str(prefix)) for directory, prefix in (_list(r, 2) for r in _list(roots))),
            _bool(follow),
            _bool(dotfiles),
            _optional_str(index),
            _bool(redirect_index),
            _optional_str(not_found),
        )
    if tag == "error":
        return _load_error(_list(body))
    raise WireError(f"unknown tag {tag!r}")


def _load_error(body: list[Any]) -> Exception:
    kind = body[0] if body else None
    if kind == "rejected" and len(body) == 3:
        return PathRejected(_int(body[1]), _str(body[2]))
    if kind == "changed" and len(body) == 2:
        return FileChanged(_str(body[1]))
    if kind == "too_large" and len(body) == 2:
        return MessageTooLarge(_str(body[1]))
    if kind == "os" and len(body) == 4:
        code = _int(body[1])
        if not 0 < code < 4096 or code not in errno.errorcode:
            raise WireError("unknown errno")
        # OSError(errno, ...) becomes the matching subclass (FileNotFoundError, PermissionError...).
        filename = _optional_str(body[3])
        return OSError(code, _str(body[2])) if filename is None else OSError(code, _str(body[2]), filename)
    if kind == "other" and len(body) == 2:
        return HelperError(_str(body[1]))
    raise WireError("unknown error")


def _one(data: Any, tag: str) -> Any:
    if not isinstance(data, dict) or list(data) != [tag]:
        raise WireError(f"expected {tag}")
    return data[tag]


def _facts(body: Any) -> FileFacts:
    path, size, mtime_ns, dev, ino = _list(body, 5)
    return FileFacts(_str(path), _int(size), _int(mtime_ns), _int(dev), _int(ino))


def _list(data: Any, length: int | None = None) -> list[Any]:
    if not isinstance(data, list) or (length is not None and len(data) != length):
        raise WireError("expected a list" if length is None else f"expected a list of {length}")
    return data


def _str(data: Any) -> str:
    if not isinstance(data, str):
        raise WireError("expected a string")
    return data


def _optional_str(data: Any) -> str | None:
    return None if data is None else _str(data)


def _int(data: Any) -> int:
    if not isinstance(data, int) or isinstance(data, bool):
        raise WireError("expected an integer")
    return data


def _bool(data: Any) -> bool:
    if not isinstance(data, bool):
        raise WireError("expected a boolean")
    return data


def _is_directory_page(value: Any) -> bool:
    """A listing.DirectoryPage as it arrives: (total, has_parent, start, [entry, ...])."""
    if not (isinstance(value, tuple) and len(value) == 4 and isinstance(value[3], list)):
        return False
    total, has_parent, start, entries = value
    return (
        _is_count(total)
        and isinstance(has_parent, bool)
        and _is_count(start)
        and all(
            isinstance(entry, tuple)
            and len(entry) == 4
            and isinstance(entry[0], str)
            and isinstance(entry[1], bool)
            and _is_count(entry[2])
            and isinstance(entry[3], int)
            and not isinstance(entry[3], bool)
            for entry in entries
        )
    )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_packed_listing(value: str) -> bool:
    try:
        unpack_names(value)
    except ValueError:  # binascii.Error is one
        return False
    return True


def answer_fits(kind: str, args: tuple[Any, ...], value: Any) -> bool:
    """Whether ``value`` is what a successful job of ``kind`` returns: the server relies on the
    type of every answer it acts on, so a well-formed message of the wrong shape is refused too."""
    if kind in ("translate", "translate_open"):  # translate_open's descriptor travels beside it
        return isinstance(value, (FoundFile, RedirectTo, _Missing))
    if kind == "translate_not_found_page":
        return value is None or isinstance(value, FoundFile)
    if kind == "translate_many":
        return (
            isinstance(value, list)
            and len(value) == len(args[1])
            and all(isinstance(item, (FoundFile, RedirectTo, _Missing, Exception)) for item in value)
        )
    if kind == "list_directory":
        return value is None or (isinstance(value, str) and _is_packed_listing(value))
    if kind == "list_page":
        return value is None or value == "slash" or _is_directory_page(value)
    return value is None  # open (its descriptor travels beside the message) and page_in
