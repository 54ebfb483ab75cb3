"""A minimal keep-alive HTTP/1.1 client on asyncio streams, for the load benchmarks.

Many thousands of connections from one process cost less this way than through httpx, and
the client sees exactly what came over the wire (a short body is a short body).
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass


class Cut(Exception):
    """The connection closed before the response was complete."""


@dataclass
class Response:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, rcvbuf: int | None = None) -> Connection:
        if rcvbuf is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        else:
            import socket

            sock = socket.socket()
            # Set before connecting, so the window never grows: a truly slow reader.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        return cls(reader, writer)

    def send(self, path: str, headers: dict[str, str] | None = None) -> None:
        lines = [f"GET {path} HTTP/1.1", "Host: bench"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def read_head(self) -> tuple[int, dict[bytes, bytes]]:
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise Cut("closed before the headers") from exc
        lines = head[:-4].split(b"\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        self.send(path, headers)
        status, response_headers = await self.read_head()
        length = int(response_headers.get(b"content-length", b"0"))
        try:
            body = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise Cut(f"closed mid-body ({length} bytes announced)") from exc
        return Response(status, response_headers, body)

    def close(self) -> None:
        self.writer.close()


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
