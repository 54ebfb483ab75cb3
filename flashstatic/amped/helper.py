"""A helper process: ``python -m flashstatic.amped.helper FD`` (the fd is always the last argument).

It receives one job at a time over a SOCK_SEQPACKET socket, does the blocking work and answers.
File descriptors travel with the messages (SCM_RIGHTS): an "open" job sends its descriptor
back, a "page_in" job gets the server's descriptor so it touches the very same file. File data
never travels: the answer to a page-in is only "done".
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import socket
import sys

from . import jobs

MAX_MESSAGE = 1 << 20


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: no helper outlives the server, even one killed with SIGKILL.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def serve(sock: socket.socket) -> None:
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
        except (ConnectionError, OSError):
            return
        if not data:
            return  # the server closed its end: time to go
        kind, args = pickle.loads(data)
        reply_fds: list[int] = []
        try:
            if kind == "page_in":
                offset, count = args
                try:
                    jobs.page_in(fds[0], offset, count)
                finally:
                    os.close(fds[0])
                result: object = None
            elif kind == "open":
                fd = jobs.open_checked(*args)
                reply_fds.append(fd)
                result = None
            elif kind == "translate":
                result = jobs.run_translate(*args)
            elif kind == "translate_not_found_page":
                result = jobs.run_translate_not_found_page(*args)
            elif kind == "sleep":  # for tests: a helper that is busy for a while
                import time
                time.sleep(args[0])
                result = None
            else:
                raise ValueError(f"unknown job {kind!r}")
            message = pickle.dumps((True, result))
        except Exception as exc:  # the job failed, the helper goes on
            message = pickle.dumps((False, exc))
        try:
            socket.send_fds(sock, [message], reply_fds)
        finally:
            for fd in reply_fds:
                os.close(fd)


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server; it closes us
    sock = socket.socket(fileno=int(sys.argv[-1]))
    if os.getppid() == 1:
        return  # the server is already gone
    serve(sock)


if __name__ == "__main__":
    main()
