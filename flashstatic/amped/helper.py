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

def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: no helper outlives the server, even one killed with SIGKILL.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def serve(sock: socket.socket) -> None:
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, jobs.MAX_MESSAGE, 1)
        except OSError:
            return
        if not data:
            return  # the server closed its end: time to go
        kind, args = pickle.loads(data)
        lent = fds[0] if fds else None
        reply_fds: list[int] = []
        try:
            result = jobs.run(kind, args, lent)
            if kind == "open":
                reply_fds.append(result)
                result = None
            message = pickle.dumps((True, result))
        except Exception as exc:  # the job failed, the helper goes on
            message = pickle.dumps((False, exc))
        finally:
            if lent is not None:
                os.close(lent)
        try:
            socket.send_fds(sock, [message], reply_fds)
        finally:
            for fd in reply_fds:
                os.close(fd)


def main() -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server; it closes us
    sock = socket.socket(fileno=int(sys.argv[-1]))
    expected = os.environ.get(jobs.PARENT_VARIABLE)
    if expected is not None and os.getppid() != int(expected):
        return  # the server died before PR_SET_PDEATHSIG took effect
    serve(sock)


if __name__ == "__main__":
    main()
