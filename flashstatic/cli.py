"""The ``flashstatic`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__


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
    serve.add_argument("--log-level", default="info", help="uvicorn's log level (default: %(default)s)")
    return parser


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .asgi import FlashStatic

    if not os.path.isdir(args.directory):
        print(f"flashstatic: {args.directory!r} is not a directory", file=sys.stderr)
        return 2
    app = FlashStatic(
        directory=args.directory,
        prefix=args.prefix,
        html=args.html,
        max_age=args.max_age,
        allow_dotfiles=args.dotfiles,
        follow_symlink=args.follow_symlinks,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # argparse has already refused unknown commands
