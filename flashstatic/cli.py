"""The ``flashstatic`` command."""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import __version__
from .amped.strategy import ARCHITECTURES
from .config import STATIC_KEYWORDS, keyword_defaults, number_problem
from .sitefile import SiteFileError, SiteRoot, read_site_file

logger = logging.getLogger("flashstatic")


# uvicorn's log levels (named here: the command must parse without loading uvicorn).
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

# Flags of `serve` that are no FlashStatic option: they set up the server around it.
SERVER_FLAGS = frozenset(
    {"host", "port", "workers", "http", "log_level", "access_log", "header_timeout", "send_timeout"}
    | {"max_connections", "server_header", "ssl_certfile", "ssl_keyfile", "config"}
    | {"proxy_headers", "forwarded_allow_ips", "root_path", "access_log_format"}
)


def build_parser() -> argparse.ArgumentParser:
    from .server.headlimit import HEADER_TIMEOUT, SEND_TIMEOUT

    parser = argparse.ArgumentParser(prog="flashstatic", description="Serve static files, fast and correctly.")
    parser.add_argument("--version", action="version", version=f"flashstatic {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a directory over HTTP with uvicorn")
    serve.add_argument("directory", nargs="?", help="the directory to serve (or [[root]] tables in --config)")
    serve.add_argument(
        "--config",
        metavar="FILE",
        help="settings from a TOML file: keys named after these flags, [[root]] tables for "
        "directories under prefixes; flags given here win (docs/configuration.md)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="port to listen on, 0 for any free one (default: %(default)s)"
    )
    _add_option_flags(serve)
    serve.add_argument(
        "--workers",
        type=_count,
        default=1,
        metavar="N",
        help="server processes sharing the port, each with its own helpers (default: %(default)s)",
    )
    serve.add_argument(
        "--http",
        choices=("httptools", "h11"),
        default=_default_parser(),
        help="HTTP parser; both send files with zero-copy sendfile (default: %(default)s)",
    )
    serve.add_argument(
        "--log-level",
        type=str.lower,
        choices=LOG_LEVELS,
        default="info",
        metavar="LEVEL",
        help=f"uvicorn's and flashstatic's log level: {', '.join(LOG_LEVELS)} (default: %(default)s)",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one Combined Log Format line per response on stdout (default: on; --no-access-log for load tests)",
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
    serve.add_argument(
        "--access-log-format",
        choices=("combined", "json"),
        default="combined",
        help="the access log's lines: Combined Log Format, or one JSON object per line (default: %(default)s)",
    )
    serve.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take the client's address and scheme from X-Forwarded-For and X-Forwarded-Proto when "
        "the connection comes from --forwarded-allow-ips (default: on, as uvicorn)",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        default=None,
        metavar="IPS",
        help="comma-separated addresses or networks of proxies whose forwarded headers are "
        "trusted; '*' for any (default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
    )
    serve.add_argument(
        "--root-path",
        default="",
        metavar="PATH",
        help="the path prefix a proxy strips before passing requests on, so that redirects "
        "and the access log show the client's URL (default: none)",
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


def _add_option_flags(serve: argparse.ArgumentParser) -> None:
    """The FlashStatic options `serve` takes, each as --its-name. A flag left out is not passed
    on, so the option keeps its Python default; html alone defaults otherwise (on), as a site
    server wants (docs/configuration.md)."""
    defaults = keyword_defaults()

    def option(name: str, help: str, *aliases: str, shown: str | None = None, **how: Any) -> None:
        flag = "--" + name.replace("_", "-")
        shown = shown or _shown(defaults[name])
        serve.add_argument(flag, dest=name, default=argparse.SUPPRESS, help=f"{help} (default: {shown})", **how)
        for alias in aliases:  # an old spelling: still understood, no longer offered
            serve.add_argument(alias, dest=name, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **how)

    def number(
        name: str, help: str, kind: Callable[[str], float] = int, metavar: str = "BYTES", shown: str | None = None
    ) -> None:
        option(name, help, shown=shown, type=_setting(name, kind), metavar=metavar)

    serve.add_argument("--prefix", default=argparse.SUPPRESS, help="URL prefix the files appear under (default: /)")
    serve.add_argument(
        "--html",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="answer directories with index.html and misses with 404.html (default: on; --no-html for neither)",
    )
    option("index_file", "answer directories with this file, without the 404 page", metavar="NAME")
    option(
        "fallback",
        "a single-page app's shell, e.g. index.html, answered with no-cache for a miss whose last "
        "segment has no extension",
        metavar="FILE",
    )
    option(
        "redirect_index",
        "redirect /dir/index.html to /dir/",
        shown="when --index-file is given",
        action=argparse.BooleanOptionalAction,
    )
    option("follow_symlink", "follow symlinks that lead out of the directory", "--follow-symlinks", action="store_true")
    option("allow_dotfiles", "serve names that start with '.'", "--dotfiles", action="store_true")
    number("max_age", "Cache-Control max-age in seconds", metavar="SECONDS")
    option(
        "immutable_file_test",
        "a regex searched in the URL: a match is immutable for a year",
        shown="a content hash in the name",
        metavar="REGEX",
    )
    option("allow_all_origins", "send Access-Control-Allow-Origin: *", action="store_true")
    option("charset", "added to textual Content-Types; '' for none", metavar="CHARSET")
    option(
        "autorefresh",
        "check the disk on every request; --no-autorefresh: scan once at start",
        shown="a stat every --revalidate-interval",
        action=argparse.BooleanOptionalAction,
    )
    number("revalidate_interval", "seconds a cached answer is trusted before a stat", float, "SECONDS")
    number("pathname_cache_size", "entries of the pathname cache", metavar="N")
    number("small_file_max", "files up to this size are kept in memory")
    number("small_file_cache_bytes", "bytes of the small-file cache")
    number("chunk_size", "bytes per body message when there is no zero copy (TLS)")
    number("sendfile_chunk", "bytes per zero-copy message")
    number("max_ranges", "more parts than this in a Range header get the whole file", metavar="N")
    option(
        "architecture",
        "how the disk is reached: amped, sped (reads on the event loop) or mt (every read in a "
        "thread), as in the Flash paper's comparison",
        choices=ARCHITECTURES,
    )
    option("helper_backend", "AMPED helpers as processes or threads", choices=("process", "thread"))
    number("min_helpers", "AMPED helpers started with the first job, per worker", metavar="N")
    number("max_helpers", "AMPED helpers per worker, at most", metavar="N")
    number("helper_threads", "jobs each AMPED helper does at once, a thread each", metavar="N")
    number("helper_queue", "jobs that may wait for a helper before a 503", metavar="N")
    number("helper_timeout", "seconds a helper may spend on one job", float, "SECONDS")
    number("page_in_size", "bytes a helper brings into memory per job")
    number("open_files", "descriptors kept open across requests", metavar="N", shown="a quarter of the limit")
    option(
        "metrics_path",
        "serve counters in Prometheus text format at this path, e.g. /_flashstatic/metrics",
        metavar="PATH",
    )
    option(
        "health_path",
        "answer GET and HEAD of this path with 200 'ok', without the disk, e.g. /_health",
        type=_endpoint_path,
        metavar="PATH",
    )
    option(
        "listing",
        "answer a directory without an index file with a listing of what it holds (HTML, or JSON when asked)",
        action="store_true",
    )
    option(
        "compress",
        "gzip (and br, with brotli installed) files that have no precompressed sibling, once per "
        "version, for clients that accept it; files up to --small-file-max",
        action="store_true",
    )
    option(
        "cors_origins",
        "let scripts from this origin read the files and answer CORS preflights (repeat for more; '*' for any)",
        "--cors",
        shown="off",
        type=_origin,
        action="append",
        metavar="ORIGIN",
    )
    option(
        "cache_control",
        "Cache-Control for files whose URL path matches GLOB, e.g. '*.html=no-cache' (repeat for "
        "more; the first match wins over --max-age)",
        shown="none",
        type=_cache_control_rule,
        action="append",
        metavar="GLOB=VALUE",
    )


def _shown(default: object) -> str:
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _setting(name: str, kind: Callable[[str], float]) -> Callable[[str], float]:
    """The value of a number option, with the bounds Options holds it to."""

    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {'a whole number' if kind is int else 'a number'}, not {value!r}"
            ) from None
        problem = number_problem(name, number)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return number

    return parse


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number, 0 to 65535, not {value!r}")
    return port


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
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
_ROOTS_VARIABLE = "FLASHSTATIC_SERVE_ROOTS"  # the site file's roots after the first
_LOG_FORMAT_VARIABLE = "FLASHSTATIC_SERVE_LOG_FORMAT"


def app_from_environment() -> Any:
    """The app of one `flashstatic serve` worker, built from the settings the command put aside;
    its start-up summary is logged here, once per worker."""
    from .asgi import FlashStatic
    from .server.accesslog import use_format
    from .startup import ServeFacts, summary_lines

    apply_limits(json.loads(os.environ.get(_LIMITS_VARIABLE, "{}")))
    use_format(os.environ.get(_LOG_FORMAT_VARIABLE, "combined"))
    app = FlashStatic(**json.loads(os.environ[_SETTINGS_VARIABLE]))
    for directory, prefix in json.loads(os.environ.get(_ROOTS_VARIABLE, "[]")):
        app.add_files(directory, prefix)
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
    # Lines as they are, in batches; while it is the logger's only handler they skip logging.
    config["handlers"]["flashstatic_access"] = {
        "class": "flashstatic.server.accesslog.AccessLogWriter",
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


def option_settings(args: argparse.Namespace, first: SiteRoot | None) -> dict[str, Any]:
    """The FlashStatic keywords the command line (and site file) gave; ``first``: the site
    file's first root, when the command line names no directory."""
    settings = {name: value for name, value in vars(args).items() if name in STATIC_KEYWORDS or name == "prefix"}
    if first is not None:
        settings["directory"], settings["prefix"] = os.path.abspath(first.directory), first.prefix
    else:
        settings["directory"] = os.path.abspath(args.directory)
    return settings


def root_problem(directory: str) -> str | None:
    """Why the directory cannot be served, in a few words; None if it can."""
    if not os.path.exists(directory):
        return f"{directory!r} does not exist"
    if not os.path.isdir(directory):
        return f"{directory!r} is not a directory"
    try:
        with os.scandir(directory) as entries:
            next(entries, None)
    except OSError as exc:
        return f"cannot read {directory!r}: {exc.strerror or exc}"
    return None


def listen_problem(host: str, port: int) -> str | None:
    """Why uvicorn could not listen there, found before anything starts (binding as uvicorn
    does); None if it could, or if the kernel picks the port."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(args: argparse.Namespace, roots: tuple[SiteRoot, ...] = ()) -> int:
    """``roots``: the site file's; a directory on the command line replaces them."""
    from .server.uvicorn_range import installed_version, version_problem

    problem = version_problem(installed_version())
    if problem is not None:
        print(problem, file=sys.stderr)  # it names flashstatic already
        return 1
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        print("flashstatic: --ssl-certfile and --ssl-keyfile go together", file=sys.stderr)
        return 2
    if args.directory is None and not roots:
        print("flashstatic: serve needs a DIRECTORY, or [[root]] tables in a --config file", file=sys.stderr)
        return 2
    if args.directory is not None:
        roots = ()
    settings = option_settings(args, roots[0] if roots else None)
    problem = (
        next(filter(None, (root_problem(root.directory) for root in roots)), None)
        or root_problem(settings["directory"])
        or _options_problem(settings)
        or listen_problem(args.host, args.port)
    )
    if problem is not None:
        print(f"flashstatic: {problem}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    os.environ[_SETTINGS_VARIABLE] = json.dumps(settings)
    os.environ[_LOG_FORMAT_VARIABLE] = args.access_log_format
    os.environ[_ROOTS_VARIABLE] = json.dumps([[os.path.abspath(root.directory), root.prefix] for root in roots[1:]])
    os.environ[_FACTS_VARIABLE] = json.dumps(
        {
            "http": args.http,
            "tls": bool(args.ssl_certfile),
            "access_log": args.access_log,
            "metrics_path": settings.get("metrics_path"),
        }
    )
    os.environ[_LIMITS_VARIABLE] = json.dumps(
        {
            "header_timeout": args.header_timeout,
            "send_timeout": args.send_timeout,
            "max_connections": args.max_connections,
        }
    )
    import uvicorn

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
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        root_path=args.root_path,
    )
    return 0


def _options_problem(settings: dict[str, Any]) -> str | None:
    """What the options would refuse (a regex that does not compile, say), before workers start."""
    from .config import static_options

    try:
        static_options(**settings)
    except ValueError as exc:
        return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # The command's own usage, not the top level's: that is where the flags are.
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "serve":
        roots: tuple[SiteRoot, ...] = ()
        if args.config is not None:
            serve_parser = _command_parser(parser, "serve")
            try:
                site = read_site_file(args.config, serve_parser, skip=frozenset({"config", "help"}))
            except SiteFileError as exc:
                print(f"flashstatic: {exc}", file=sys.stderr)
                return 2
            serve_parser.set_defaults(**site.defaults)
            args, _ = parser.parse_known_args(argv)  # the command line's flags over the file's
            roots = site.roots
        return serve(args, roots)
    if args.command == "compress":
        from . import compress

        if args.jobs < 1:
            print("flashstatic: --jobs must be at least 1", file=sys.stderr)
            return 2
        return compress.main(args.directories, args.codings or compress.ALL_CODINGS, args.jobs, args.quiet)
    return 2  # argparse has already refused unknown commands
