"""A helper process whose page-ins take SLOW_HELPER_DELAY seconds (batch translations
SLOW_HELPER_TRANSLATE_DELAY, single ones SLOW_HELPER_LOOKUP_DELAY): a disk that is very slow.
With SLOW_HELPER_OVERLAP_FILE set, each page-in appends to that file how many page-ins the
process was doing as it began.

Run as ``python tests/slow_helper.py FD`` by ProcessPool(command=...) in the AMPED tests.
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flashstatic.amped import helper, jobs

_page_in = jobs.page_in


_running = [0]
_running_lock = threading.Lock()


def slow_page_in(fd: int, offset: int, count: int) -> None:
    with _running_lock:
        _running[0] += 1
        overlap = os.environ.get("SLOW_HELPER_OVERLAP_FILE")
        if overlap:
            with open(overlap, "a") as f:
                f.write(f"{_running[0]}\n")
    try:
        time.sleep(float(os.environ.get("SLOW_HELPER_DELAY", "1")))
        _page_in(fd, offset, count)
    finally:
        with _running_lock:
            _running[0] -= 1


_translate_many = jobs.run_translate_many


def slow_translate_many(rules, paths):  # type: ignore[no-untyped-def]
    time.sleep(float(os.environ.get("SLOW_HELPER_TRANSLATE_DELAY", "0")))
    return _translate_many(rules, paths)


_translate = jobs.run_translate


def slow_translate(rules, path, known=None):  # type: ignore[no-untyped-def]
    time.sleep(float(os.environ.get("SLOW_HELPER_LOOKUP_DELAY", "0")))
    return _translate(rules, path, known)


jobs.page_in = slow_page_in
jobs.run_translate_many = slow_translate_many
jobs.run_translate = slow_translate

if __name__ == "__main__":
    helper.main()
