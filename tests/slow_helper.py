"""A helper process whose page-ins take SLOW_HELPER_DELAY seconds (batch translations
SLOW_HELPER_TRANSLATE_DELAY, single ones SLOW_HELPER_LOOKUP_DELAY): a disk that is very slow.

Run as ``python tests/slow_helper.py FD`` by ProcessPool(command=...) in the AMPED tests.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flashstatic.amped import helper, jobs

_page_in = jobs.page_in


def slow_page_in(fd: int, offset: int, count: int) -> None:
    time.sleep(float(os.environ.get("SLOW_HELPER_DELAY", "1")))
    _page_in(fd, offset, count)


_translate_many = jobs.run_translate_many


def slow_translate_many(rules, paths):  # type: ignore[no-untyped-def]
    time.sleep(float(os.environ.get("SLOW_HELPER_TRANSLATE_DELAY", "0")))
    return _translate_many(rules, paths)


_translate = jobs.run_translate


def slow_translate(rules, path):  # type: ignore[no-untyped-def]
    time.sleep(float(os.environ.get("SLOW_HELPER_LOOKUP_DELAY", "0")))
    return _translate(rules, path)


jobs.page_in = slow_page_in
jobs.run_translate_many = slow_translate_many
jobs.run_translate = slow_translate

if __name__ == "__main__":
    helper.main()
