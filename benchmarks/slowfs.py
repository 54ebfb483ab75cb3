"""A slow disk for benchmarks: a read-only FUSE passthrough that sleeps before every read.

Each FUSE ``read`` request (the kernel asks for up to ``max_read`` bytes, usually 128 KiB of
readahead at a time) first sleeps ``--delay-ms`` (default 5 ms, a 1999 disk seek), then reads
the backing file. Metadata (lookup, getattr, readdir, open) is *not* delayed.

The filesystem is mounted with ``kernel_cache``: pages read through it stay in the kernel's page
cache across opens (without it libfuse's high-level API drops a file's pages on every open), so
a warm file is served from memory with no FUSE request at all, and
``posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)`` on a file *under the mount* makes it cold again.
Attributes and names are cached by the kernel for an hour (the backing tree is read-only).

Foreground, from the repository root::

    python -m benchmarks.slowfs BACKING MOUNTPOINT --delay-ms 5

From Python, mounted in a subprocess for the duration of a ``with`` block::

    with SlowFS(backing, mountpoint, delay_ms=5) as fs:
        ...            # read files under mountpoint
        fs.stats()     # {"reads": ..., "bytes": ..., "delayed_s": ...} served by the daemon

``--disk-queue N`` lets at most N delayed reads sleep at once (a disk with N heads; 0, the
default, means as many as libfuse has threads, ``--threads``).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

FUSERMOUNT = "fusermount3"


# -- the filesystem (runs in the daemon process) -------------------------------------------------


def _make_operations(backing: str, delay_s: float, disk_queue: int, stats_file: str | None, zero_open: bool = True):
    # Imported here so that the context manager below works without mfusepy in the parent.
    import mfusepy

    class SlowOps(mfusepy.Operations):
        use_ns = True  # getattr returns integer nanoseconds

        def __init__(self) -> None:
            self.root = os.path.realpath(backing)
            self.delay_s = delay_s
            self.queue = threading.BoundedSemaphore(disk_queue) if disk_queue > 0 else None
            self._mutex = threading.Lock()
            self.counters = {"reads": 0, "bytes": 0, "delayed_s": 0.0, "opens": 0, "max_inflight": 0}
            self.inflight = 0
            self.stats_file = stats_file
            self.stop = threading.Event()
            self.writer: threading.Thread | None = None

        # (No attribute may share a name with a FUSE operation: mfusepy would register it.)

        # paths ---------------------------------------------------------------------------------
        def _full(self, path: str) -> str:
            # FUSE hands us absolute, normalised paths inside the mount; keep them inside root.
            full = os.path.normpath(os.path.join(self.root, path.lstrip("/")))
            if full != self.root and not full.startswith(self.root + os.sep):
                raise mfusepy.FuseOSError(errno.EACCES)
            return full

        # lifecycle ----------------------------------------------------------------------------
        def init(self, path: str) -> None:
            if self.stats_file:
                self.writer = threading.Thread(target=self._write_stats_loop, name="slowfs-stats", daemon=True)
                self.writer.start()

        def destroy(self, path: str) -> None:
            self.stop.set()
            self._write_stats()

        def _write_stats(self) -> None:
            if not self.stats_file:
                return
            with self._mutex:
                snapshot = dict(self.counters, time=time.time(), pid=os.getpid())
            tmp = self.stats_file + ".tmp"
            with open(tmp, "w") as f:
                json.dump(snapshot, f)
            os.replace(tmp, self.stats_file)

        def _write_stats_loop(self) -> None:
            # Bounded by the daemon's life: stops on destroy(); a daemon thread besides.
            while not self.stop.wait(0.1):
                try:
                    self._write_stats()
                except OSError:
                    pass

        # metadata (not delayed) ---------------------------------------------------------------
        def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
            st = os.lstat(self._full(path))
            return {
                "st_mode": st.st_mode,
                "st_nlink": st.st_nlink,
                "st_size": st.st_size,
                "st_uid": st.st_uid,
                "st_gid": st.st_gid,
                "st_ino": st.st_ino,
                "st_atime": st.st_atime_ns,
                "st_mtime": st.st_mtime_ns,
                "st_ctime": st.st_ctime_ns,
                "st_blocks": st.st_blocks,
                "st_blksize": st.st_blksize,
            }

        def readdir(self, path: str, fh: int) -> list[str]:
            return [".", "..", *os.listdir(self._full(path))]

        def readlink(self, path: str) -> str:
            return os.readlink(self._full(path))

        def statfs(self, path: str) -> dict[str, int]:
            sv = os.statvfs(self._full(path))
            return {
                key: getattr(sv, key)
                for key in (
                    "f_bavail",
                    "f_bfree",
                    "f_blocks",
                    "f_bsize",
                    "f_favail",
                    "f_ffree",
                    "f_files",
                    "f_flag",
                    "f_frsize",
                    "f_namemax",
                )
            }

        def open(self, path: str, flags: int) -> int:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC | os.O_CREAT):
                raise mfusepy.FuseOSError(errno.EROFS)
            with self._mutex:
                self.counters["opens"] += 1
            if zero_open:
                # "Zero-message open" (FUSE_CAP_NO_OPEN_SUPPORT): ENOSYS here tells the kernel
                # to handle every later open() itself, with FOPEN_KEEP_CACHE. Otherwise each
                # open() is a round trip to this Python process (~0.5 ms, serialised by the
                # GIL), a cost no real filesystem has, which would penalise servers that open
                # the file per request (Starlette) rather than the disk.
                raise mfusepy.FuseOSError(errno.ENOSYS)
            return os.open(self._full(path), os.O_RDONLY)

        def flush(self, path: str | None, fh: int) -> int:
            # ENOSYS once, and the kernel stops sending FLUSH on every close().
            raise mfusepy.FuseOSError(errno.ENOSYS)

        def release(self, path: str | None, fh: int) -> int:
            if fh:
                os.close(fh)
            return 0

        # data (delayed) -----------------------------------------------------------------------
        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            data = b""
            if self.queue is not None:
                self.queue.acquire()
            try:
                with self._mutex:
                    self.inflight += 1
                    if self.inflight > self.counters["max_inflight"]:
                        self.counters["max_inflight"] = self.inflight
                if self.delay_s > 0:
                    time.sleep(self.delay_s)  # releases the GIL: other FUSE threads go on
                if fh:
                    data = os.pread(fh, size, offset)
                else:  # zero-message open: no handle, read by path
                    fd = os.open(self._full(path or "/"), os.O_RDONLY)
                    try:
                        data = os.pread(fd, size, offset)
                    finally:
                        os.close(fd)
            finally:
                with self._mutex:
                    self.inflight -= 1
                    self.counters["reads"] += 1
                    self.counters["bytes"] += len(data)
                    self.counters["delayed_s"] += self.delay_s
                if self.queue is not None:
                    self.queue.release()
            return data

    return SlowOps()


def serve(
    backing: str,
    mountpoint: str,
    *,
    delay_ms: float = 5.0,
    threads: int = 16,
    disk_queue: int = 0,
    stats_file: str | None = None,
    zero_open: bool = True,
    debug: bool = False,
) -> None:
    """Mount and serve in the foreground until unmounted (fusermount3 -u) or SIGINT/SIGTERM."""
    import warnings

    import mfusepy

    if not os.path.isdir(backing):
        raise SystemExit(f"slowfs: backing directory {backing!r} does not exist")
    ops = _make_operations(backing, delay_ms / 1000.0, disk_queue, stats_file, zero_open)
    options: dict[str, Any] = dict(
        foreground=True,
        ro=True,
        fsname="slowfs",
        subtype="slowfs",
        # Keep pages across opens; the backing tree never changes under us.
        kernel_cache=True,
        entry_timeout=3600,
        attr_timeout=3600,
        negative_timeout=3600,
        max_threads=threads,
    )
    if debug:
        options["debug"] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            mfusepy.FUSE(ops, mountpoint, **options)
        except RuntimeError as exc:
            # libfuse's loop ends with the signal number as its error when SIGINT/SIGTERM/SIGHUP
            # stopped it, and fuse_main then returns 8; it has unmounted by then. Not a failure.
            if exc.args != (8,):
                raise
            print("slowfs: stopped by a signal, unmounted", file=sys.stderr)


# -- helpers shared by the context manager and the benchmark -------------------------------------


def is_fuse_mounted(mountpoint: str) -> bool:
    """True if a FUSE filesystem is mounted exactly at mountpoint (per /proc/self/mountinfo)."""
    target = os.path.realpath(mountpoint)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                if len(fields) > 4 and fields[4].replace("\\040", " ") == target and right.startswith("fuse"):
                    return True
    except OSError:
        pass
    return False


def unmount(mountpoint: str, *, lazy: bool = False) -> bool:
    args = [FUSERMOUNT, "-u", *(["-z"] if lazy else []), mountpoint]
    result = subprocess.run(args, capture_output=True, text=True, timeout=15)
    return result.returncode == 0


class SlowFS:
    """Mount slowfs in a subprocess for the duration of a ``with`` block.

    ``__enter__`` returns once the mount is live (or raises with the daemon's stderr);
    ``__exit__`` unmounts (lazily if something still holds it), then reaps the daemon,
    escalating to SIGTERM and SIGKILL with timeouts. It runs on errors and KeyboardInterrupt.
    """

    def __init__(
        self,
        backing: str,
        mountpoint: str,
        *,
        delay_ms: float = 5.0,
        threads: int = 16,
        disk_queue: int = 0,
        zero_open: bool = True,
        mount_timeout: float = 15.0,
        workdir: str | None = None,
    ) -> None:
        self.backing = os.path.abspath(backing)
        self.mountpoint = os.path.abspath(mountpoint)
        self.delay_ms = delay_ms
        self.threads = threads
        self.disk_queue = disk_queue
        self.zero_open = zero_open
        self.mount_timeout = mount_timeout
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="slowfs-")
        self.stats_file = os.path.join(self.workdir, f"slowfs-{os.getpid()}-{id(self):x}.json")
        self.log_file = self.stats_file[:-5] + ".log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SlowFS:
        self.mount()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def mount(self) -> None:
        if is_fuse_mounted(self.mountpoint):
            raise RuntimeError(
                f"{self.mountpoint} already has a FUSE mount; unmount it first ({FUSERMOUNT} -u {self.mountpoint})"
            )
        os.makedirs(self.mountpoint, exist_ok=True)
        repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.slowfs",
            self.backing,
            self.mountpoint,
            "--delay-ms",
            str(self.delay_ms),
            "--threads",
            str(self.threads),
            "--disk-queue",
            str(self.disk_queue),
            "--stats-file",
            self.stats_file,
            *([] if self.zero_open else ["--open-roundtrip"]),
        ]
        env = dict(os.environ)
        env["PYTHONPATH"] = repo_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        with open(self.log_file, "wb") as log:
            # Own session: a Ctrl-C in the terminal reaches us, and we unmount in order.
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=repo_root,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.mount_timeout
        try:
            while time.monotonic() < deadline:
                if is_fuse_mounted(self.mountpoint):
                    return
                if self.proc.poll() is not None:
                    raise RuntimeError(f"slowfs exited with {self.proc.returncode} before mounting:\n{self.log()}")
                time.sleep(0.02)
            raise RuntimeError(f"slowfs did not mount {self.mountpoint} within {self.mount_timeout}s:\n{self.log()}")
        except BaseException:
            self.close()
            raise

    def log(self) -> str:
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stats(self, settle: float = 0.25) -> dict[str, Any]:
        """The daemon's counters (rewritten every 0.1 s; settle waits for a fresh copy)."""
        if settle:
            time.sleep(settle)
        try:
            with open(self.stats_file) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        proc, self.proc = self.proc, None
        try:
            if is_fuse_mounted(self.mountpoint) and not unmount(self.mountpoint):
                # Something still has files open (a server we failed to stop): detach now,
                # the kernel finishes the unmount when the last user goes.
                unmount(self.mountpoint, lazy=True)
        finally:
            if proc is not None:
                for sig, wait in ((None, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                    if sig is not None:
                        try:
                            proc.send_signal(sig)
                        except ProcessLookupError:
                            pass
                    try:
                        proc.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            if is_fuse_mounted(self.mountpoint):
                unmount(self.mountpoint, lazy=True)
            for path in (self.stats_file, self.stats_file + ".tmp"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
            if self._own_workdir:
                try:
                    os.unlink(self.log_file)
                    os.rmdir(self.workdir)
                except OSError:
                    pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slowfs", description=__doc__.split("\n\n")[0])
    parser.add_argument("backing", help="directory to expose (read-only)")
    parser.add_argument("mountpoint")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="sleep before each read (default 5)")
    parser.add_argument("--threads", type=int, default=16, help="libfuse worker threads (max_threads)")
    parser.add_argument(
        "--disk-queue", type=int, default=0, help="at most N reads in their delay at once (0: unlimited)"
    )
    parser.add_argument("--stats-file", help="write counters here as JSON, every 0.1 s")
    parser.add_argument(
        "--open-roundtrip", action="store_true", help="send every open() to this process (default: zero-message opens)"
    )
    parser.add_argument("--debug", action="store_true", help="libfuse debug output")
    args = parser.parse_args(argv)
    serve(
        args.backing,
        args.mountpoint,
        delay_ms=args.delay_ms,
        threads=args.threads,
        disk_queue=args.disk_queue,
        stats_file=args.stats_file,
        zero_open=not args.open_roundtrip,
        debug=args.debug,
    )


if __name__ == "__main__":
    main()
