"""Open or stat a file beneath a directory, refusing every symlink on the way.

Pathname translation resolves a request to a real path inside the root (realpath: no
symlink left in it) and checks it is inside; the file is stat'ed and opened afterwards. Done
by name, those later steps follow whatever the tree holds by then: a directory swapped for a
link to the outside in between leads them out of the root. Done from the root's descriptor
with every symlink refused, the check and the use are one step: such a swap is met as a
symlink (ELOOP), never followed.

Linux 5.6+ does it in one openat2(2) call (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
RESOLVE_NO_MAGICLINKS). Without it (older kernels, seccomp filters that refuse the call,
other systems) the path is walked one component at a time with O_NOFOLLOW, as nginx's
``disable_symlinks`` does. Either way a symlink met raises OSError(ELOOP), and a relative
path that would climb out (absolute, or "..") raises OSError(EXDEV), as openat2 does.

The base directory itself is opened by name and trusted: a root that is a symlink switched
by deploys has been resolved by the caller.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["open_beneath", "openat2_in_use", "stat_beneath"]

# O_PATH: a handle for lookups only (no read permission needed, nothing to block on).
_DIRECTORY = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC
_PATH_ONLY = getattr(os, "O_PATH", 0)

_SYS_OPENAT2 = 437  # the same on every architecture with unified syscall numbers (5.6+)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_syscall() -> Callable[..., Any] | None:
    # alpha and MIPS number their system calls differently: 437 is not openat2 there.
    if sys.platform != "linux" or platform.machine().startswith(("alpha", "mips")):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_long
    return function


# None once the kernel has said openat2 is not there (or not allowed): walk from then on.
_syscall = _load_syscall()


def openat2_in_use() -> bool:
    """Whether opens go through openat2 (False: the component walk)."""
    return _syscall is not None


def open_beneath(base: str, relative: str, flags: int) -> int:
    """Open ``relative`` (a path below ``base``, without symlinks) with ``flags``."""
    _refuse_climbing(relative)
    base_fd = os.open(base, _DIRECTORY)
    try:
        return _open_at(base_fd, relative, flags)
    finally:
        os.close(base_fd)


def stat_beneath(base: str, relative: str) -> os.stat_result:
    """stat of ``relative`` below ``base``, found as open_beneath would find it: its
    directory opened beneath ``base``, the name itself looked at without following it."""
    _refuse_climbing(relative)
    parent, _, name = relative.strip("/").rpartition("/")
    base_fd = os.open(base, _DIRECTORY)
    try:
        if not name or name == ".":
            return os.fstat(base_fd) if not parent else _stat_directory(base_fd, parent)
        parent_fd = _open_at(base_fd, parent, _DIRECTORY) if parent else base_fd
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        finally:
            if parent_fd != base_fd:
                os.close(parent_fd)
    finally:
        os.close(base_fd)
    if stat.S_ISLNK(st.st_mode):
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), relative)
    return st


def _stat_directory(base_fd: int, relative: str) -> os.stat_result:
    fd = _open_at(base_fd, relative, _DIRECTORY)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def _open_at(base_fd: int, relative: str, flags: int) -> int:
    global _syscall
    if _syscall is not None:
        how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE)
        fd = _syscall(_SYS_OPENAT2, base_fd, os.fsencode(relative or "."), ctypes.byref(how), ctypes.sizeof(how))
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EPERM):
            raise OSError(code, os.strerror(code), relative)
        # Not there, or refused by a seccomp filter: the walk is as strict, only longer.
        _syscall = None
    return _walk(base_fd, relative, flags)


def _walk(base_fd: int, relative: str, flags: int) -> int:
    """openat one component at a time, each with O_NOFOLLOW."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=base_fd)
    directory = base_fd
    try:
        for part in parts[:-1]:
            following = _open_component(directory, part, _DIRECTORY | os.O_NOFOLLOW)
            if directory != base_fd:
                os.close(directory)
            directory = following
        fd = _open_component(directory, parts[-1], flags | os.O_CLOEXEC | os.O_NOFOLLOW)
        if flags & _PATH_ONLY and stat.S_ISLNK(os.fstat(fd).st_mode):
            os.close(fd)  # O_PATH | O_NOFOLLOW opens the link itself
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), relative)
        return fd
    finally:
        if directory != base_fd:
            os.close(directory)


def _open_component(directory: int, name: str, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=directory)
    except NotADirectoryError:
        # O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR; say ELOOP, as openat2 does.
        if stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
        raise


def _refuse_climbing(relative: str) -> None:
    if "\0" in relative:
        raise ValueError("embedded null byte")  # as os.open says; C would cut the path there
    if relative.startswith("/") or ".." in relative.split("/"):
        raise OSError(errno.EXDEV, "path leads out of its base directory", relative)
