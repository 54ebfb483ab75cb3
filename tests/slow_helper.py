"""A helper process whose page-ins take SLOW_HELPER_DELAY seconds: a disk that is very slow.

Run as ``python tests/slow_helper.py FD`` by ProcessPool(command=...) in the AMPED tests.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from flashstatic.amped import helper, jobs  # noqa: E402

_page_in = jobs.page_in


def slow_page_in(fd: int, offset: int, count: int) -> None:
    time.sleep(float(os.environ.get("SLOW_HELPER_DELAY", "1")))
    _page_in(fd, offset, count)


jobs.page_in = slow_page_in

if __name__ == "__main__":
    helper.main()
