"""A file open for one response, reached through the disk strategy (AMPED, SPED or MT), and
a response whose body is one slice of such a file: what a caller that sends files itself
(flashstatic serve's protocol, server/direct.py) gets from the app's shortcut (server/shortcut.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, final

from ..amped.pool import HelperFailed, PoolBusy
from ..amped.strategy import DiskStrategy, FileTruncated, OpenFile
from ..http.headers import Header
from ..translate import FileFacts
from .body import BodyUnavailable


# Final: the server tells it from a cached response by its exact type.
@final
class FileAnswer(NamedTuple):
    status: int
    headers: Sequence[Header]
    file: ResponseFile
    start: int
    stop: int  # exclusive


class FilePart(NamedTuple):
    """What a FileAnswer sends, kept to send it again (server/repeats.py)."""

    facts: FileFacts
    start: int
    stop: int


class ResponseFile:
    """A file open for one response, reached through the disk strategy. Failures once the
    headers are out cut the response short (BodyUnavailable)."""

    def __init__(self, disk: DiskStrategy, file: OpenFile) -> None:
        self._disk = disk
        self._file = file

    def fileno(self) -> int:
        return self._file.fd

    @property
    def facts(self) -> FileFacts:
        return self._file.facts

    async def read(self, start: int, stop: int) -> bytes:
        try:
            return await self._disk.read(self._file, start, stop - start)
        except FileTruncated as exc:
            raise BodyUnavailable(f"{exc} shrank during the response") from exc
        except (HelperFailed, PoolBusy, OSError) as exc:
            raise BodyUnavailable(f"reading {self._file.facts.path} failed: {exc!r}") from exc

    def resident_now(self, offset: int, count: int) -> bool:
        return self._disk.resident_now(self._file, offset, count)

    async def make_resident(self, offset: int, count: int) -> None:
        try:
            await self._disk.make_resident(self._file, offset, count)
        except (HelperFailed, PoolBusy, OSError) as exc:
            raise BodyUnavailable(f"paging in {self._file.facts.path} failed: {exc!r}") from exc

    def close(self) -> None:
        self._disk.release(self._file)
