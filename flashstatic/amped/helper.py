"""A helper process: ``python -m flashstatic.amped.helper FD`` (the fd is always the last argument).

It receives jobs over a SOCK_SEQPACKET socket, does the blocking work and answers; up to
``FLASHSTATIC_HELPER_THREADS`` jobs at once, each in a thread of its own that takes the next
message, so answers may come in another order than their jobs (each names its job's serial).
File descriptors travel with the messages (SCM_RIGHTS): an "open" job sends its descriptor
back (so does a "translate_open" that opened the file it found), a "page_in" job gets the
server's descriptor so it touches the very same file. File data never travels: the answer to
a page-in is only "done". Messages are plain data (wire.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading

from . import jobs, wire


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: no helper outlives the server, even one killed with SIGKILL.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


# A plain int: the flags' enum arithmetic would cost more than the rest of a small job's checks.
_CUT_SHORT = int(socket.MSG_TRUNC | socket.MSG_CTRUNC)


def serve(sock: socket.socket) -> None:
    """Take jobs and answer them until the server closes its end. A SEQPACKET socket hands each
    message, with its descriptor, whole to one of the threads waiting in recvmsg, and each
    answer goes out in one sendmsg: the threads share the socket without a lock."""
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(sock, wire.MAX_MESSAGE + 1, 1)
        except OSError:
            return
        if not data:
            return  # the server closed its end: time to go
        lent = fds[0] if fds else None
        for extra in fds[1:]:
            os.close(extra)
        serial = None
        reply_fds: list[int] = []
        try:
            if flags & _CUT_SHORT:
                raise wire.WireError("truncated job")
            serial, kind, args = wire.decode(data)
            result = jobs.run(kind, args, lent)
            if kind == "open":
                reply_fds.append(result)
                result = None
            elif kind == "translate_open":
                result, opened = result
                if opened is not None:
                    reply_fds.append(opened)
            message = wire.encode((serial, True, result))
        except Exception as exc:  # the job failed, the helper goes on
            message = _error_reply(serial, exc)
            for fd in reply_fds:
                os.close(fd)
            reply_fds = []
        finally:
            if lent is not None:
                os.close(lent)
        try:
            socket.send_fds(sock, [message], reply_fds)
        except OSError:
            return
        finally:
            for fd in reply_fds:
                os.close(fd)


def _error_reply(serial: object, error: Exception) -> bytes:
    try:
        return wire.encode((serial, False, error))
    except wire.MessageTooLarge as too_large:  # an error text too long to send (a long path in it)
        return wire.encode((serial, False, too_large))


# Below the server's priority: a helper's CPU work (a message, a syscall) can wait, while the
# event loop serves every connection; a job handed over does not take the CPU from the loop
# that sent it. Most of a job is spent waiting for the disk, which niceness does not slow.
NICENESS = 10


def main() -> None:
    _die_with_parent()
    os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server; it closes us
    sock = socket.socket(fileno=int(sys.argv[-1]))
    expected = os.environ.get(jobs.PARENT_VARIABLE)
    if expected is not None and os.getppid() != int(expected):
        return  # the server died before PR_SET_PDEATHSIG took effect
    for _ in range(int(os.environ.get(jobs.THREADS_VARIABLE, "1")) - 1):
        threading.Thread(target=serve, args=(sock,), daemon=True).start()
    serve(sock)


if __name__ == "__main__":
    main()
