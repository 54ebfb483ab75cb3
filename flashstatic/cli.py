"""The ``flashstatic`` command."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .amped.strategy import ARCHITECTURES

logger = logging.getLogger("flashstatic")


def build_parser() -> argparse.ArgumentParser:
    from .server.headlimit import HEADER_TIMEOUT, SEND_TIMEOUT

    parser = argparse.ArgumentParser(prog="flashstatic", description="Serve static files, fast and correctly.")
    parser.add_argument("--version", action="version", version=f"flashstatic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a directory over HTTP with uvicorn")
    serve.add_argument("directory", help="the directory to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument("--prefix", default="/", help="URL prefix the files appear under (default: %(default)s)")
    serve.add_argument(
        "--max-age", type=int, default=60, help="Cache-Control max-age in seconds (default: %(default)s)"
    )
    serve.add_argument(
        "--no-html",
        dest="html",
        action="store_false",
        help="do not answer directories with index.html or misses with 404.html",
    )
    serve.add_argument(
        "--listing",
        action="store_true",
        help="answer a directory without an index file with a listing of what it holds (HTML, or JSON when asked)",
    )
    serve.add_argument("--dotfiles", action="store_true", help="serve files and directories whose names start with '.'")
    serve.add_argument("--follow-symlinks", action="store_true", help="follow symlinks that lead out of the directory")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port, each with its own helpers (default: %(default)s)",
    )
    serve.add_argument(
        "--architecture",
        choices=ARCHITECTURES,
        default="amped",
        help="how the disk is reached: amped (default), sped (reads on the event loop) "
        "or mt (every read in a thread), as in the Flash paper's comparison",
    )
    serve.add_argument(
        "--max-helpers", type=int, default=4, help="AMPED helper processes per worker, at most (default: %(default)s)"
    )
    serve.add_argument(
        "--http",
        choices=("httptools", "h11"),
        default=_default_parser(),
        help="HTTP parser; both send files with zero-copy sendfile (default: %(default)s)",
    )
    serve.add_argument(
        "--log-level", default="info", help="uvicorn's and flashstatic's log level (default: %(default)s)"
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one Combined Log Format line per response on stdout (default: on; --no-access-log for load tests)",
    )
    serve.add_argument(
        "--metrics-path",
        default=None,
        metavar="PATH",
        help="serve counters in Prometheus text format at this path (default: off), e.g. /_flashstatic/metrics",
    )
    serve.add_argument(
        "--health-path",
        type=_endpoint_path,
        default=None,
        metavar="PATH",
        help="answer GET and HEAD of this path with 200 'ok', without the disk (default: off), e.g. /_health",
    )
    serve.add_argument(
        "--cors",
        type=_origin,
        action="append",
        default=None,
        metavar="ORIGIN",
        help="let scripts from this origin read the files (repeat for more; '*' for any) and "
        "answer CORS preflights (default: off)",
    )
    serve.add_argument(
        "--cache-control",
        type=_cache_control_rule,
        action="append",
        default=None,
        metavar="GLOB=VALUE",
        help="Cache-Control for files whose URL path matches GLOB, e.g. '*.html=no-cache' "
        "(repeat for more; the first match wins over --max-age)",
    )
    serve.add_argument(
        "--header-timeout",
        type=_seconds,
        default=HEADER_TIMEOUT,
        metavar="SECONDS",
        help="a request head must arrive within this time, or a 408 and the connection is "
        "closed (default: %(default)g)",
    )
    serve.add_argument(
        "--send-timeout",
        type=_seconds,
        default=SEND_TIMEOUT,
        metavar="SECONDS",
        help="a client that reads nothing of a response for this long has its connection closed (default: %(default)g)",
    )
    serve.add_argument(
        "--max-connections",
        type=_count,
        default=None,
        metavar="N",
        help="connections per worker; past it the longest idle are closed, or a newcomer "
        "gets a 503 (default: from the descriptor limit)",
    )
    serve.add_argument(
        "--server-header",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send uvicorn's 'Server: uvicorn' header (default: on; --no-server-header drops it)",
    )
    serve.add_argument("--ssl-certfile", default=None, help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--ssl-keyfile", default=None, help="the certificate's private key (PEM)")

    compress = commands.add_parser(
        "compress", help="write .br, .zst and .gz siblings for the compressible files of a directory"
    )
    compress.add_argument("directories", nargs="+", metavar="directory", help="the directory to compress")
    compress.add_argument(
        "--codings",
        type=_parse_codings,
        default=None,
        help="content codings to write, comma-separated (default: br,zstd,gzip)",
    )
    compress.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: the number of cores, %(default)s)",
    )
    compress.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    return parser


def _parse_codings(value: str) -> list[str]:
    from .compress import parse_codings

    return parse_codings(value)


def _endpoint_path(value: str) -> str:
    from .config import endpoint_path

    try:
        endpoint_path("path", value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a URL path starting with '/', not {value!r}") from None
    return value


def _origin(value: str) -> str:
    from .http.cors import cors_policy

    try:
        cors_policy([value])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be '*' or an origin such as https://example.com, not {value!r}"
        ) from None
    return value


def _cache_control_rule(value: str) -> tuple[str, str]:
    from .http.cachecontrol import cache_control_rules

    glob, equals, header = value.partition("=")
    try:
        if not equals:
            raise ValueError(f"{value!r} is not GLOB=VALUE")
        return cache_control_rules([(glob, header)])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds < math.inf):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value!r}")
    return seconds


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {value!r}")
    return count


def _default_parser() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


_PROTOCOLS = {"httptools": "flashstatic.server:HttpToolsProtocol", "h11": "flashstatic.server:H11Protocol"}


# uvicorn starts each worker by importing an app factory, so the settings travel in the environment.
_SETTINGS_VARIABLE = "FLASHSTATIC_SERVE_SETTINGS"
_FACTS_VARIABLE = "FLASHSTATIC_SERVE_FACTS"
_LIMITS_VARIABLE = "FLASHSTATIC_SERVE_LIMITS"


def app_from_environment() -> Any:
    """The app of one `flashstatic serve` worker, built from the settings the command put aside;
    its start-up summary is logged here, once per worker."""
    from .asgi import FlashStatic
    from .startup import ServeFacts, summary_lines

    apply_limits(json.loads(os.environ.get(_LIMITS_VARIABLE, "{}")))
    app = FlashStatic(**json.loads(os.environ[_SETTINGS_VARIABLE]))
    facts = ServeFacts(**json.loads(os.environ[_FACTS_VARIABLE]))
    for line in summary_lines(app, facts):
        logger.info(line)
    return app


def apply_limits(limits: dict[str, Any]) -> None:
    """The command's timeouts and cap, set on the protocol classes of this worker process (it
    serves nothing else)."""
    from .server import H11Protocol, HttpToolsProtocol

    for protocol in (HttpToolsProtocol, H11Protocol):
        for name, value in limits.items():
            setattr(protocol, name, value)


def logging_config(log_level: str, access_log: bool) -> dict[str, Any]:
    """uvicorn's logging set-up, plus flashstatic's loggers: messages beside uvicorn's on stderr,
    the access log on stdout (where uvicorn's own goes) with nothing added to its lines."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["flashstatic_access"] = {"format": "%(message)s"}
    config["handlers"]["flashstatic_access"] = {
        "class": "logging.StreamHandler",
        "formatter": "flashstatic_access",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["flashstatic"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    config["loggers"]["flashstatic.access"] = {
        "handlers": ["flashstatic_access"] if access_log else [],
        "level": "INFO" if access_log else "CRITICAL",
        "propagate": False,
    }
    return config


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

    from .server.uvicorn_range import installed_version, version_problem

    problem = version_problem(installed_version())
    if problem is not None:
        print(problem, file=sys.stderr)  # it names flashstatic already
        return 1
    if not os.path.isdir(args.directory):
        print(f"flashstatic: {args.directory!r} is not a directory", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("flashstatic: --workers must be at least 1", file=sys.stderr)
        return 2
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("flashstatic: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    raise_open_file_limit()
    os.environ[_SETTINGS_VARIABLE] = json.dumps(
        {
            "directory": os.path.abspath(args.directory),
            "prefix": args.prefix,
            "html": args.html,
            "max_age": args.max_age,
            "allow_dotfiles": args.dotfiles,
            "listing": args.listing,
            "follow_symlink": args.follow_symlinks,
            "architecture": args.architecture,
            "max_helpers": args.max_helpers,
            "metrics_path": args.metrics_path,
            "health_path": args.health_path,
            "cors_origins": args.cors or [],
            "cache_control": args.cache_control or [],
        }
    )
    os.environ[_FACTS_VARIABLE] = json.dumps(
        {
            "http": args.http,
            "tls": bool(args.ssl_certfile),
            "access_log": args.access_log,
            "metrics_path": args.metrics_path,
        }
    )
    os.environ[_LIMITS_VARIABLE] = json.dumps(
        {
            "header_timeout": args.header_timeout,
            "send_timeout": args.send_timeout,
            "max_connections": args.max_connections,
        }
    )
    # uvicorn's own access line has no size and is written before the body: ours replaces it.
    uvicorn.run(
        "flashstatic.cli:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        http=_PROTOCOLS[args.http],
        access_log=False,
        log_config=logging_config(args.log_level, args.access_log),
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        server_header=args.server_header,
    )
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
