"""A helper process that misbehaves as ROGUE_HELPER_MODE says, for the channel's tests.

Run as ``python tests/rogue_helper.py FD`` by ProcessPool(command=...).
- ``pickle``: answers with a pickle that, if unpickled, would create ROGUE_HELPER_MARK;
- ``wrong_type``: answers every job with a well-formed message of the wrong shape;
- ``other_file``: answers an open, and a lookup that opens, with a descriptor of
  ROGUE_HELPER_OTHER_FILE;
- ``garbage``: answers with bytes that are not a message at all;
- ``odd_error``: fails every job with an error the protocol has no type for;
- ``outside_root``: translates every path to ROGUE_HELPER_OTHER_FILE (its true stat) and
  answers an open, and a lookup that opens, with a descriptor of it, so that only where the
  file lies gives it away.
"""

import os
import pickle
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flashstatic.amped import wire


class _Mark:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (os.environ["ROGUE_HELPER_MARK"], "w"))


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[-1]))
    mode = os.environ["ROGUE_HELPER_MODE"]
    while True:
        data, fds, _, _ = socket.recv_fds(sock, wire.MAX_MESSAGE + 1, 1)
        if not data:
            return
        for fd in fds:
            os.close(fd)
        serial, kind, _args = wire.decode(data)
        reply_fds: list[int] = []
        if mode == "pickle":
            message = pickle.dumps((serial, True, _Mark()))
        elif mode == "odd_error":
            message = wire.encode((serial, False, KeyError("boom")))
        elif mode == "wrong_type":
            message = wire.encode((serial, True, 12345))
        elif mode in ("other_file", "outside_root") and kind == "open":
            reply_fds.append(os.open(os.environ["ROGUE_HELPER_OTHER_FILE"], os.O_RDONLY))
            message = wire.encode((serial, True, None))
        elif mode == "outside_root":
            from flashstatic.translate import FileFacts, FoundFile

            other = os.environ["ROGUE_HELPER_OTHER_FILE"]
            facts = FileFacts.from_stat(other, os.stat(other))
            if kind == "translate_open":
                reply_fds.append(os.open(other, os.O_RDONLY))
            message = wire.encode((serial, True, FoundFile("/a.txt", facts, ())))
        elif mode == "other_file":
            from flashstatic.amped import jobs

            if kind == "translate_open":
                reply_fds.append(os.open(os.environ["ROGUE_HELPER_OTHER_FILE"], os.O_RDONLY))
                message = wire.encode((serial, True, jobs.run("translate", _args[:2], None)))
            else:
                message = wire.encode((serial, True, jobs.run(kind, _args, None)))
        else:
            message = b"\x80\x04garbage"
        socket.send_fds(sock, [message], reply_fds)
        for fd in reply_fds:
            os.close(fd)


if __name__ == "__main__":
    main()
