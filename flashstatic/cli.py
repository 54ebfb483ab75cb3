"""The ``flashstatic`` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .amped.strategy import ARCHITECTURES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flashstatic", description="Serve static files, fast and correctly.")
    parser.add_argument("--version", action="version", version=f"flashstatic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a directory over HTTP with uvicorn")
    serve.add_argument("directory", help="the directory to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument("--prefix", default="/", help="URL prefix the files appear under (default: %(default)s)")
    serve.add_argument("--max-age", type=int, default=60, help="Cache-Control max-age in seconds (default: %(default)s)")
    serve.add_argument("--no-html", dest="html", action="store_false",
                       help="do not answer directories with index.html or misses with 404.html")
    serve.add_argument("--dotfiles", action="store_true", help="serve files and directories whose names start with '.'")
    serve.add_argument("--follow-symlinks", action="store_true", help="follow symlinks that lead out of the directory")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port, each with its own helpers (default: %(default)s)")
    serve.add_argument("--architecture", choices=ARCHITECTURES, default="amped",
                       help="how the disk is reached: amped (default), sped (reads on the event loop) "
                            "or mt (every read in a thread), as in the Flash paper's comparison")
    serve.add_argument("--max-helpers", type=int, default=4,
                       help="AMPED helper processes per worker, at most (default: %(default)s)")
    serve.add_argument("--http", choices=("httptools", "h11"), default=_default_parser(),
                       help="HTTP parser; both send files with zero-copy sendfile (default: %(default)s)")
    serve.add_argument("--log-level", default="info", help="uvicorn's log level (default: %(default)s)")

    compress = commands.add_parser(
        "compress", help="write .br, .zst and .gz siblings for the compressible files of a directory")
    compress.add_argument("directories", nargs="+", metavar="directory", help="the directory to compress")
    compress.add_argument("--codings", type=_parse_codings, default=None,
                          help="content codings to write, comma-separated (default: br,zstd,gzip)")
    compress.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                          help="worker processes (default: the number of cores, %(default)s)")
    compress.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def _parse_codings(value: str) -> list[str]:
    from .compress import parse_codings

    return parse_codings(value)


def _default_parser() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


_PROTOCOLS = {"httptools": "flashstatic.server:HttpToolsProtocol", "h11": "flashstatic.server:H11Protocol"}


# uvicorn starts each worker by importing an app factory, so the settings travel in the environment.
_SETTINGS_VARIABLE = "FLASHSTATIC_SERVE_SETTINGS"


def app_from_environment() -> Any:
    """The app of one `flashstatic serve` worker, built from the settings the command put aside."""
    from .asgi import FlashStatic

    return FlashStatic(**json.loads(os.environ[_SETTINGS_VARIABLE]))


def raise_open_file_limit() -> None:
    """A server process may use as many descriptors as it is allowed (as nginx's
    worker_rlimit_nofile does): kept files and connections both need them."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, 65536), hard))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if not os.path.isdir(args.directory):
        print(f"flashstatic: {args.directory!r} is not a directory", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("flashstatic: --workers must be at least 1", file=sys.stderr)
        return 2
    raise_open_file_limit()
    os.environ[_SETTINGS_VARIABLE] = json.dumps({
        "directory": os.path.abspath(args.directory),
        "prefix": args.prefix,
        "html": args.html,
        "max_age": args.max_age,
        "allow_dotfiles": args.dotfiles,
        "follow_symlink": args.follow_symlinks,
        "architecture": args.architecture,
        "max_helpers": args.max_helpers,
    })
    uvicorn.run("flashstatic.cli:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, http=_PROTOCOLS[args.http])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "compress":
        from . import compress

        if args.jobs < 1:
            print("flashstatic: --jobs must be at least 1", file=sys.stderr)
            return 2
        return compress.main(args.directories, args.codings or compress.ALL_CODINGS, args.jobs, args.quiet)
    return 2  # argparse has already refused unknown commands
