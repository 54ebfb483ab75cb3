"""The helper pool: where blocking disk work goes so the event loop never waits for it.

As in the Flash paper, helpers are processes that answer over an IPC channel that the event
loop watches like any socket (``loop.add_reader``; no thread sits in the loop's path). Each
helper does up to ``helper_threads`` jobs at once, a thread each: a job mostly waits in the
kernel, so a few processes keep many reads in flight without a process's memory per read.
A process is started only when every thread of those running is busy. A thread backend does
the same jobs for platforms without fork and for comparison.

Both backends share the front: identical jobs in flight are coalesced, admission is bounded
(``PoolBusy`` when the queue is full, which the adapter turns into a 503 before a response has
started; work for responses already under way is never refused), and a job whose helper died
is retried once on another helper before it fails with ``HelperFailed`` (so are the other
jobs of a helper killed for one that hung). Speculative jobs
(translations of paths nothing suggests exist: what a flood of misses is made of) wait in a
lane of their own, half the queue, given one helper turn in ``GUESS_EVERY`` while other jobs
wait, so that such a flood cannot refuse or stall the files that are there, and a guess is
never starved either. A job that can never
succeed is not retried: one too large for the channel fails with ``JobTooLarge`` and its helper
goes on; an answer that is not one the protocol sends fails the job and replaces the helper.
``close()`` stops the helpers; the pool starts again if it is used afterwards (a second
lifespan, a new test client).
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import itertools
import os
import socket
import subprocess
import sys
import weakref
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..translate import FoundFile
from . import jobs, wire


class PoolBusy(Exception):
    """Every helper is busy and the queue is full."""


class HelperFailed(Exception):
    """The job could not be done: its helper died twice, answered nonsense, or the pool is
    shutting down."""


# A job or an answer too large for the channel: it fails alone, and nothing is retried.
JobTooLarge = wire.MessageTooLarge


@dataclass
class PoolCounters:
    dispatched: int = 0
    coalesced: int = 0
    rejected: int = 0
    lost: int = 0  # helpers that died or broke their channel (each is replaced on demand)
    stuck: int = 0  # helpers given up on: no answer within the job deadline (killed, replaced)
    failed: int = 0
    queue_depth: int = 0
    queue_peak: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def close_opened_fd(future: asyncio.Future[Any]) -> None:
    """For an open whose requester went away: the descriptor it produced has no owner."""
    if not future.cancelled() and future.exception() is None:
        os.close(future.result())


def descriptor_in(kind: str, value: Any) -> int | None:
    """The descriptor a successful job's value holds: an open's value is one; a
    translate_open's is (translation, descriptor or None)."""
    if kind == "open":
        return int(value)
    if kind == "translate_open":
        return None if value[1] is None else int(value[1])
    return None


# Adopter(value, fd): takes a descriptor a job opened beside its value; it must not raise.
Adopter = Callable[[Any, int], None]


def _handed_on(future: asyncio.Future[Any], adopt: Adopter) -> asyncio.Future[Any]:
    """The value of a (value, descriptor or None) job, the descriptor handed to ``adopt`` as
    soon as the answer arrives: it has an owner even if every requester has gone away."""
    value_only: asyncio.Future[Any] = future.get_loop().create_future()

    def arrived(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            value_only.cancel()
            return
        error = done.exception()
        if error is not None:
            value_only.set_exception(error)
            return
        value, fd = done.result()
        if fd is not None:
            adopt(value, fd)
        value_only.set_result(value)

    future.add_done_callback(arrived)
    value_only.add_done_callback(_retrieve)
    return value_only


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A shielded job that nobody awaits any more must not log "exception never retrieved".
    if not future.cancelled():
        future.exception()


def _resolve(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done() or future.get_loop().is_closed():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class HelperPool:
    """The front both backends share: coalescing, the bound, the counters."""

    def __init__(self, max_helpers: int, max_queue: int) -> None:
        self.max_helpers = max_helpers
        self.max_queue = max_queue
        self.max_speculative = max(1, max_queue // 2)
        self.counters = PoolCounters()
        self._in_flight: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(
        self,
        kind: str,
        args: tuple[Any, ...],
        *,
        fd: int | None = None,
        key: Hashable | None = None,
        bounded: bool = True,
        speculative: bool = False,
        adopt: Adopter | None = None,
    ) -> Any:
        """Do ``kind(*args)`` in a helper; ``fd`` is lent to it for the job's duration.

        ``bounded=False`` for work a started response depends on: it waits rather than fail.
        ``speculative=True`` for a job that likely finds nothing: it takes the lesser lane.
        ``adopt`` for a job that may open a file beside its value (translate_open): it takes
        the descriptor, the requesters get the value.
        """
        loop = asyncio.get_running_loop()
        if key is not None:
            shared = self._in_flight.get(key)
            if shared is not None and shared.get_loop() is loop and not shared.done():
                self.counters.coalesced += 1
                return await asyncio.shield(shared)
        if bounded and (
            self._backlog(False) >= self.max_queue or (speculative and self._backlog(True) >= self.max_speculative)
        ):
            self.counters.rejected += 1
            raise PoolBusy(f"{self.counters.queue_depth} helper jobs waiting")
        future = self._submit(kind, args, fd, speculative)
        self.counters.dispatched += 1
        future.add_done_callback(_retrieve)
        if adopt is not None:
            future = _handed_on(future, adopt)
        if key is not None:
            self._in_flight[key] = future
            future.add_done_callback(lambda done: self._in_flight.get(key) is done and self._in_flight.pop(key))
        try:
            # Shielded: a request that goes away must not cancel work others may be waiting for.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if kind == "open":
                future.add_done_callback(close_opened_fd)
            raise

    def _backlog(self, speculative: bool) -> int:
        """Jobs waiting, when none could start now: in the speculative lane, or in both (the
        queue's bound counts every waiting job; the speculative lane's, its own)."""
        raise NotImplementedError

    def _submit(self, kind: str, args: tuple[Any, ...], fd: int | None, speculative: bool) -> asyncio.Future[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """close(), for lifespan shutdown: waits for what it stops without blocking the loop."""
        self.close()

    def stats(self) -> dict[str, int]:
        return self.counters.as_dict()


# -- processes --------------------------------------------------------------------------------


@dataclass(eq=False)
class _Job:
    kind: str
    args: tuple[Any, ...]
    fd: int | None  # our own duplicate, closed once the job is done
    future: asyncio.Future[Any]
    speculative: bool = False
    attempts: int = 0
    deadline: asyncio.TimerHandle | None = None


HELPER_COMMAND = (sys.executable, "-m", "flashstatic.amped.helper")
# Opened once at import, so starting a helper from the event loop opens no file.
_DEVNULL = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


class _Helper:
    def __init__(self, command: tuple[str, ...], threads: int) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [*command, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=_DEVNULL,
                close_fds=True,
                env={**os.environ, jobs.PARENT_VARIABLE: str(os.getpid()), jobs.THREADS_VARIABLE: str(threads)},
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self.socket = ours
        self.jobs: dict[int, _Job] = {}  # by the serial its answer names


# While both lanes wait, one job in this many is a guess: a flood of guesses takes at most that
# share of the helpers, and a guess is never starved by a main lane that does not empty.
GUESS_EVERY = 4

# A job takes milliseconds, or seconds on a very slow disk; one that takes longer than this is
# stuck in the kernel (a hung NFS server, a dying disk) and will not be waited for.
DEFAULT_JOB_TIMEOUT = 30.0


class ProcessPool(HelperPool):
    def __init__(
        self,
        min_helpers: int = 1,
        max_helpers: int = 4,
        max_queue: int = 256,
        command: tuple[str, ...] = HELPER_COMMAND,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
        helper_threads: int = 4,
    ) -> None:
        super().__init__(max(1, max_helpers), max_queue)
        self._command = command  # the helper's argv, less the socket's fd (tests wrap it)
        self.helper_threads = max(1, helper_threads)
        self._serials = itertools.count()
        self.job_timeout = job_timeout
        self.min_helpers = min(min_helpers, self.max_helpers)
        self._helpers: list[_Helper] = []
        self._idle: list[_Helper] = []  # a helper once for each thread of it without a job
        self._queue: deque[_Job] = deque()
        self._guesses: deque[_Job] = deque()  # the speculative lane
        self._since_guess = 0  # jobs sent from the main lane since the last guess
        self._loop: asyncio.AbstractEventLoop | None = None
        # fork+exec waits for the child to exec, so helpers are started off the loop, here.
        self._starter: ThreadPoolExecutor | None = None
        self._starting = 0
        _live_pools.add(self)
        # An app dropped without close() (a test client without lifespan): its helpers are
        # killed and collected with it, not left running for Popen's ResourceWarning.
        weakref.finalize(self, _kill_and_collect, self._helpers)

    @property
    def pids(self) -> list[int]:
        return [helper.process.pid for helper in self._helpers]

    def _backlog(self, speculative: bool) -> int:
        if self._idle or len(self._helpers) + self._starting < self.max_helpers:
            return 0
        return len(self._guesses) if speculative else len(self._queue) + len(self._guesses)

    def _waiting(self) -> int:
        return len(self._queue) + len(self._guesses)

    def _submit(self, kind: str, args: tuple[Any, ...], fd: int | None, speculative: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # First job since start or close (helpers start lazily), or a new event loop (a
            # test client calling asyncio.run again): helpers answer on the loop that watches.
            self._stop_helpers()
            self._loop = loop
            self._in_flight = {}
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="flashstatic-helper-start")
            _live_pools.add(self)
            for _ in range(self.min_helpers):
                self._start_helper()
        job = _Job(kind, args, None if fd is None else os.dup(fd), loop.create_future(), speculative)
        self._dispatch(job)
        return job.future

    def _start_helper(self) -> None:
        assert self._loop is not None and self._starter is not None
        self._starting += 1
        started = self._loop.run_in_executor(self._starter, _Helper, self._command, self.helper_threads)
        started.add_done_callback(self._helper_started)

    def _helper_started(self, started: asyncio.Future[_Helper]) -> None:
        self._starting -= 1
        if started.cancelled():
            return
        error = started.exception()
        if error is not None:
            if not self._helpers and not self._starting:
                self._fail_queue(HelperFailed(f"cannot start a helper process: {error!r}"))
            return
        helper = started.result()
        if started.get_loop() is not self._loop:
            helper.socket.close()
            helper.process.kill()
            _reap(helper.process, None)
            return
        self._helpers.append(helper)
        self._loop.add_reader(helper.socket.fileno(), self._on_readable, helper)
        for _ in range(self.helper_threads):
            self._next(helper)

    def _dispatch(self, job: _Job) -> None:
        if self._idle:
            self._send(self._idle.pop(), job)
            return
        (self._guesses if job.speculative else self._queue).append(job)
        self.counters.queue_depth = self._waiting()
        self.counters.queue_peak = max(self.counters.queue_peak, self.counters.queue_depth)
        # Another process only for jobs that the ones starting will not take at once.
        room = len(self._helpers) + self._starting < self.max_helpers
        if room and self._waiting() > self._starting * self.helper_threads:
            self._start_helper()

    def _send(self, helper: _Helper, job: _Job) -> None:
        job.attempts += 1
        serial = next(self._serials)
        try:
            message = wire.encode((serial, job.kind, job.args))
            socket.send_fds(helper.socket, [message], [] if job.fd is None else [job.fd])
        except (JobTooLarge, TypeError) as exc:
            self._refuse(helper, job, exc)
            return
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:  # the socket's buffer is smaller than our bound
                self._refuse(helper, job, JobTooLarge(str(exc)))
                return
            helper.jobs[serial] = job
            self._lost(helper)
            return
        helper.jobs[serial] = job
        assert self._loop is not None
        job.deadline = self._loop.call_later(self.job_timeout, self._overdue, helper, serial)

    def _refuse(self, helper: _Helper, job: _Job, error: Exception) -> None:
        """A job that cannot be sent as it is: it fails, the helper was never involved."""
        self.counters.failed += 1
        self._finish(job, False, error)
        self._next(helper)

    def _overdue(self, helper: _Helper, serial: int) -> None:
        """No answer in time: the helper is likely blocked in the kernel and may stay so for
        minutes. Fail the job (a retry would hang on the same file), kill the helper and
        carry on with a new one, its other jobs retried; the kill takes effect whenever the
        kernel lets go of it."""
        job = helper.jobs.pop(serial, None)
        if job is None:
            return
        job.deadline = None
        self.counters.stuck += 1
        self.counters.failed += 1
        self._finish(job, False, HelperFailed(f"no answer from a helper in {self.job_timeout:g} s ({job.kind})"))
        self._drop(helper)

    def _on_readable(self, helper: _Helper) -> None:
        try:
            data, fds, flags, _ = socket.recv_fds(helper.socket, wire.MAX_MESSAGE + 1, 1)
        except BlockingIOError:
            return
        except OSError:
            data, fds, flags = b"", [], 0
        if not data:
            for fd in fds:
                os.close(fd)
            self._lost(helper)
            return
        job = None
        try:
            if flags & socket.MSG_TRUNC:
                raise wire.WireError("answer over the size bound")
            serial, ok, value = _answer_parts(wire.decode(data))
            job = helper.jobs.pop(serial, None)
            if job is None:
                raise wire.WireError("an answer to no job of this helper")
            _cancel_deadline(job)
            ok, value = self._read_answer(job, ok, value, fds)
        except wire.WireError as exc:
            # Not an answer our helper sends: the job fails (retrying could repeat whatever
            # made it so; one that names no job of the helper may be any of them, so they all
            # do) and the helper is not trusted with another.
            for fd in fds:
                os.close(fd)
            failing = [job] if job is not None else self._take_jobs(helper)
            for failed in failing:
                self.counters.failed += 1
                self._finish(failed, False, HelperFailed(f"unreadable answer from a helper: {exc}"))
            self.counters.lost += 1
            self._drop(helper)
            return
        self._finish(job, ok, value)
        self._next(helper)

    @staticmethod
    def _read_answer(job: _Job, ok: bool, value: Any, fds: list[int]) -> tuple[bool, Any]:
        """(ok, value) from a helper's answer to ``job``; an open's value is the descriptor it
        sent, a translate_open's the translation and the descriptor if one came. Raises
        WireError for anything else, having closed nothing (the caller closes ``fds``)."""
        if not ok:
            if not isinstance(value, Exception):
                raise wire.WireError("a failure without an error")
            if fds:
                raise wire.WireError("a descriptor with a failure")
            if isinstance(value, wire.HelperError):
                # An error the job has no meaning for (a bug, not a missing file): a 503, not a 500.
                return False, HelperFailed(f"a helper job failed: {value}")
            return False, value
        if not wire.answer_fits(job.kind, job.args, value):
            raise wire.WireError(f"not an answer to {job.kind}")
        if job.kind not in ("open", "translate_open"):
            if fds:
                raise wire.WireError("a descriptor nobody asked for")
            return True, value
        if len(fds) > 1:
            raise wire.WireError("an open answers with one descriptor only")
        if job.kind == "translate_open":
            if fds and not isinstance(value, FoundFile):
                raise wire.WireError("a descriptor beside no file found")
            # Without a descriptor (none opened, or none room for): the open is a job of its own.
            return True, (value, fds.pop() if fds else None)
        if not fds:
            # The kernel drops a passed descriptor we have no room for (MSG_CTRUNC).
            return False, OSError(errno.EMFILE, "no descriptor left for the opened file")
        return True, fds.pop()

    def _next(self, helper: _Helper) -> None:
        lane = self._queue
        if self._guesses and (not self._queue or self._since_guess >= GUESS_EVERY - 1):
            lane = self._guesses
        if lane:
            job = lane.popleft()
            self._since_guess = 0 if lane is self._guesses else self._since_guess + 1
            self.counters.queue_depth = self._waiting()
            self._send(helper, job)
        else:
            self._idle.append(helper)

    def _finish(self, job: _Job, ok: bool, value: Any) -> None:
        if job.fd is not None:
            os.close(job.fd)
            job.fd = None
        if job.future.done() or job.future.get_loop().is_closed():
            opened = descriptor_in(job.kind, value) if ok else None
            if opened is not None:
                os.close(opened)
            return
        _resolve(job.future, ok, value)

    def _lost(self, helper: _Helper) -> None:
        """A helper died (or its channel broke): replace it and retry its jobs once."""
        self.counters.lost += 1
        self._drop(helper)

    def _drop(self, helper: _Helper) -> None:
        """Kill ``helper`` and retry, once, the jobs it still had."""
        self._forget(helper)
        _reap(helper.process, _running_loop())
        for job in self._take_jobs(helper):
            if job.attempts < 2:
                self._dispatch(job)
            else:
                self.counters.failed += 1
                self._finish(job, False, HelperFailed(f"helper died twice during {job.kind}"))
        self._replenish()

    @staticmethod
    def _take_jobs(helper: _Helper) -> list[_Job]:
        taken = list(helper.jobs.values())
        helper.jobs.clear()
        for job in taken:
            _cancel_deadline(job)
        return taken

    def _replenish(self) -> None:
        """Helpers for the jobs still queued: otherwise, once every helper has died, they would
        wait for a helper that nothing starts."""
        while (
            self._loop is not None
            and self._waiting()
            and len(self._helpers) + self._starting < min(self.max_helpers, -(-self._waiting() // self.helper_threads))
        ):
            self._start_helper()

    def _forget(self, helper: _Helper) -> None:
        if helper in self._helpers:
            self._helpers.remove(helper)
        self._idle = [idle for idle in self._idle if idle is not helper]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(helper.socket.fileno())
        helper.socket.close()
        helper.process.kill()  # helpers hold no state worth a graceful exit

    def close(self) -> None:
        """Stop every helper and fail what was waiting; at exit, wait for them to go."""
        _wait_for(self._shut_down())

    async def aclose(self) -> None:
        # uvicorn may end a worker with a signal right after lifespan shutdown, so the helpers
        # must be collected now, not by a thread that would not get to run.
        processes = self._shut_down()
        for _ in range(500):
            if all(process.poll() is not None for process in processes):
                return
            await asyncio.sleep(0.01)

    def _shut_down(self) -> list[subprocess.Popen[bytes]]:
        processes = [helper.process for helper in self._helpers]
        self._stop_helpers()
        self._loop = None  # the next job starts helpers afresh
        _live_pools.discard(self)
        return processes

    def _stop_helpers(self) -> None:
        loop = _running_loop()
        for helper in list(self._helpers):
            self._forget(helper)
            _reap(helper.process, loop)
            for job in self._take_jobs(helper):
                self._finish(job, False, HelperFailed("the helper pool is shutting down"))
        self._fail_queue(HelperFailed("the helper pool is shutting down"))
        if self._starter is not None:
            self._starter.shutdown(wait=False)
            self._starter = None

    def _fail_queue(self, error: Exception) -> None:
        for lane in (self._queue, self._guesses):
            while lane:
                self._finish(lane.popleft(), False, error)
        self.counters.queue_depth = 0

    def _after_fork_in_child(self) -> None:
        # The helpers belong to the parent: drop our copies of their channels, start afresh.
        for helper in self._helpers:
            helper.socket.close()
        self._helpers.clear()  # in place: the finalizer holds this list
        self._idle, self._queue, self._guesses = [], deque(), deque()
        self._starter = None
        self._starting = 0
        self._loop = None
        self._in_flight = {}


def _cancel_deadline(job: _Job) -> None:
    if job.deadline is not None:
        job.deadline.cancel()
        job.deadline = None


def _answer_parts(answer: Any) -> tuple[int, bool, Any]:
    """An answer's serial, whether the job succeeded, and its value (or error)."""
    if not (isinstance(answer, tuple) and len(answer) == 3 and type(answer[0]) is int and isinstance(answer[1], bool)):
        raise wire.WireError("not a (serial, ok, value) answer")
    return answer


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _reap(process: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop | None, delay: float = 0.01) -> None:
    """No zombies: collect a killed helper without waiting on the event loop. It is polled
    again, less and less often: one stuck in the kernel may take minutes to die. Until it is
    collected it stays in ``_dying``, so that a loop closed before then (a test client's) does
    not leave it to Popen's finalizer, which warns about a process still running."""
    for earlier in [dying for dying in _dying if dying.poll() is not None]:
        _dying.discard(earlier)
    if process.poll() is not None:
        _dying.discard(process)
        return
    _dying.add(process)
    if loop is not None and loop.is_running():
        loop.call_later(delay, _reap, process, loop, min(delay * 2, 5.0))
        return
    _wait_for([process])
    _dying.discard(process)


# Killed helpers not yet collected: waited for at exit.
_dying: set[subprocess.Popen[bytes]] = set()


def _wait_for(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass  # stuck in the kernel (a hung disk); init collects it once it dies


def _kill_and_collect(helpers: list[_Helper]) -> None:
    # The collector may run this on an event loop: then the dead are collected by polling.
    loop = _running_loop()
    for helper in helpers:
        helper.socket.close()
        helper.process.kill()
        _reap(helper.process, loop)
    helpers.clear()


_live_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()


def _close_all_pools() -> None:
    for pool in list(_live_pools):
        pool.close()
    _wait_for(list(_dying))


def _forget_pools_after_fork() -> None:
    for pool in list(_live_pools):
        pool._after_fork_in_child()
    _dying.clear()  # the parent's children, not ours to collect


atexit.register(_close_all_pools)
os.register_at_fork(after_in_child=_forget_pools_after_fork)


# -- threads ----------------------------------------------------------------------------------


class ThreadExecutor:
    """A thread pool made on first use, again after close(), and again in a forked child
    (whose copy of the parent's pool has no threads)."""

    def __init__(self, threads: int, name: str) -> None:
        self.threads = threads
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def get(self) -> ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix=self.name)
            self._pid = os.getpid()
        return self._executor

    def close(self) -> None:
        if self._executor is not None and self._pid == os.getpid():
            self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = None


def _run_with_lent_fd(kind: str, args: tuple[Any, ...], fd: int | None) -> Any:
    try:
        return jobs.run(kind, args, fd)
    finally:
        if fd is not None:
            os.close(fd)


class ThreadPool(HelperPool):
    """Threads take jobs in the order they come, so the speculative lane is only a bound here."""

    def __init__(self, max_helpers: int = 4, max_queue: int = 256) -> None:
        super().__init__(max(1, max_helpers), max_queue)
        self._threads = ThreadExecutor(self.max_helpers, "flashstatic-helper")
        self._outstanding = 0
        self._guesses = 0

    def _backlog(self, speculative: bool) -> int:
        if speculative:
            return max(0, self._guesses - self.max_helpers)
        return max(0, self._outstanding - self.max_helpers)

    def _submit(self, kind: str, args: tuple[Any, ...], fd: int | None, speculative: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        lent = None if fd is None else os.dup(fd)
        future = loop.run_in_executor(self._threads.get(), _run_with_lent_fd, kind, args, lent)
        self._outstanding += 1
        self._guesses += speculative
        self.counters.queue_depth = self._backlog(False)
        self.counters.queue_peak = max(self.counters.queue_peak, self.counters.queue_depth)

        def done(_: object) -> None:
            self._outstanding -= 1
            self._guesses -= speculative
            self.counters.queue_depth = self._backlog(False)

        future.add_done_callback(done)
        return future

    def close(self) -> None:
        self._threads.close()
