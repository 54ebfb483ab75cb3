"""What TLS costs zero copy: the same FlashStatic app under uvicorn with flashstatic's protocol
class, over plain TCP (zerocopysend: sendfile) and over TLS (body messages, encrypted in the
process), with nginx over plain TCP and TLS as the peer, in the same run. Server on core 0,
wrk on core 1.

Reports MiB/s, the server's CPU time per GiB sent (helpers included), and the ratios of each
TLS run to its plain run.

    python -m benchmarks.tls_cost [--duration 5] [--sizes 1,100]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .large_files import measure
from .serverproc import Server, free_port, nginx


def certificate(directory: Path) -> tuple[Path, Path]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def flashstatic_uvicorn(root: Path, tls: tuple[Path, Path] | None) -> Server:
    port = free_port()
    ssl = f", ssl_keyfile={str(tls[0])!r}, ssl_certfile={str(tls[1])!r}" if tls else ""
    code = (
        "import sys, uvicorn; from flashstatic import FlashStatic; "
        "from flashstatic.server import HttpToolsProtocol; "
        "uvicorn.run(FlashStatic(directory=sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]), "
        f"log_level='warning', http=HttpToolsProtocol, loop='uvloop', access_log=False{ssl})"
    )
    return Server("flashstatic under uvicorn", [sys.executable, "-c", code, str(root), str(port)], port)


def nginx_tls(root: Path, tls: tuple[Path, Path]) -> Server:
    """The benchmark's nginx, its listener switched to TLS (sendfile cannot apply there)."""
    server = nginx(root)
    conf = Path(server.command[2])
    conf.write_text(
        conf.read_text().replace(
            f"listen 127.0.0.1:{server.port};",
            f"listen 127.0.0.1:{server.port} ssl; ssl_certificate {tls[1]}; ssl_certificate_key {tls[0]};",
        )
    )
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--sizes", default="1,100", help="file sizes in MiB")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "files"
        root.mkdir()
        tls = certificate(Path(directory))
        sizes = [int(s) for s in args.sizes.split(",")]
        for size in sizes:
            (root / f"{size}mib.bin").write_bytes(os.urandom(size * 2**20))
        print(f"wrk -t1 -c{args.connections} -d{args.duration}s, server pinned to core 0, wrk to core 1\n")
        print("| file | server | MiB/s | server CPU s per GiB | TLS / plain MiB/s | TLS / plain CPU per GiB |")
        print("|---|---|---:|---:|---:|---:|")
        for size in sizes:
            path = f"/{size}mib.bin"
            pairs = [
                (flashstatic_uvicorn(root, None), flashstatic_uvicorn(root, tls)),
                (nginx(root), nginx_tls(root, tls)),
            ]
            for plain_server, tls_server in pairs:
                plain = measure(plain_server, path, args.connections, args.duration)
                secure = measure(tls_server, path, args.connections, args.duration, scheme="https")
                print(
                    f"| {size} MiB | {plain_server.name}, plain | {plain['MiB/s']:.0f} | {plain['cpu s/GiB']:.3f} | | |"
                )
                print(
                    f"| {size} MiB | {tls_server.name}, TLS | {secure['MiB/s']:.0f} | {secure['cpu s/GiB']:.3f} "
                    f"| {secure['MiB/s'] / plain['MiB/s']:.2f} | {secure['cpu s/GiB'] / plain['cpu s/GiB']:.1f} |"
                )


if __name__ == "__main__":
    main()
