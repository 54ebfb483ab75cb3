"""A SPECweb99-like static file set, and request sequences drawn from it.

The model (SPECweb99's static part, as summarised in shared/notes/flash-paper.md):
- The set is D directories ``dirNNNNN/`` of 36 files: 4 classes x 9 files, ``classC_I``.
  Class 0 files are 102.4*(I+1) bytes (102..922 B), class 1 1 KiB*(I+1), class 2 10 KiB*(I+1),
  class 3 100 KiB*(I+1): every directory holds 5,119,488 bytes.
- A request picks a directory by Zipf (alpha = 1: directory d, counted from 0, has weight
  1/(d+1)), a class by its share (35%, 50%, 14%, 1%), and a file within the class by Zipf over
  the popularity order 4,3,5,2,6,1,7,8,0 (file 4 is the most requested, file 0 the least).
- Misses on purpose: a request can be made to miss the page cache by sending it, instead, to a
  "cold" copy of the same size that no earlier request touched (``cold/classC_I/NNNNNN``, evicted
  before the run). Which requests miss is chosen either as a fixed random fraction
  (``miss_ratio``), or by simulating an LRU page cache of a given size over the sequence
  (``memory_bytes``: the paper's data-set-size experiment on a machine whose memory we can't
  shrink). Either way the choice is made here, offline and deterministically, so every
  architecture gets the same requests and the same misses.

File contents are pseudo-random bytes from the seed; everything is deterministic in the seed.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import math
import os
import random
import shutil
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

CLASSES = 4
FILES_PER_CLASS = 9
CLASS_SHARES = (0.35, 0.50, 0.14, 0.01)
CLASS_BASE = (102.4, 1024, 10240, 102400)
POPULARITY_ORDER = (4, 3, 5, 2, 6, 1, 7, 8, 0)  # most to least requested file index
DIR_BYTES = 5_119_488
PAGE = 4096


def file_size(cls: int, index: int) -> int:
    return int(CLASS_BASE[cls] * (index + 1))


def file_name(cls: int, index: int) -> str:
    return f"class{cls}_{index}"


def dir_name(d: int) -> str:
    return f"dir{d:05d}"


def specweb_dirs(connections: int) -> int:
    """SPECweb99's directory count for a given number of simultaneous connections."""
    return int(25 + (400000 / 122000 * connections) / 5)


def dirs_for_bytes(total_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / DIR_BYTES))


# Within-class weights: rank r (1-based) of POPULARITY_ORDER gets 1/r.
_IN_CLASS_WEIGHTS = [0.0] * FILES_PER_CLASS
for _rank, _index in enumerate(POPULARITY_ORDER, start=1):
    _IN_CLASS_WEIGHTS[_index] = 1.0 / _rank
_IN_CLASS_TOTAL = sum(_IN_CLASS_WEIGHTS)


def mean_request_bytes() -> float:
    """The expected response body size of one request (about 14.7 KB)."""
    return sum(
        CLASS_SHARES[c] * _IN_CLASS_WEIGHTS[i] / _IN_CLASS_TOTAL * file_size(c, i)
        for c in range(CLASSES)
        for i in range(FILES_PER_CLASS)
    )


def _pseudo_random_bytes(seed: int, key: str, size: int) -> bytes:
    return random.Random(f"{seed}:{key}").randbytes(size)


def _write_if_needed(path: str, size: int, seed: int, key: str) -> bool:
    try:
        if os.stat(path).st_size == size:
            return False
    except FileNotFoundError:
        pass
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(_pseudo_random_bytes(seed, key, size))
        f.flush()
        os.fsync(f.fileno())  # clean pages, so POSIX_FADV_DONTNEED can drop them later
    os.replace(tmp, path)
    return True


@dataclass(frozen=True)
class FileSet:
    root: str
    dirs: int
    seed: int = 1

    def relpath(self, d: int, cls: int, index: int) -> str:
        return f"{dir_name(d)}/{file_name(cls, index)}"

    def hot_files(self) -> list[str]:
        """Relative paths of every file of the D directories."""
        return [self.relpath(d, c, i) for d in range(self.dirs) for c in range(CLASSES) for i in range(FILES_PER_CLASS)]

    @property
    def total_bytes(self) -> int:
        return self.dirs * DIR_BYTES

    def build(self) -> int:
        """Create missing or wrong-sized files; returns how many were written."""
        written = 0
        for d in range(self.dirs):
            os.makedirs(os.path.join(self.root, dir_name(d)), exist_ok=True)
            for c in range(CLASSES):
                for i in range(FILES_PER_CLASS):
                    rel = self.relpath(d, c, i)
                    written += _write_if_needed(os.path.join(self.root, rel), file_size(c, i), self.seed, rel)
        return written

    # -- cold copies ----------------------------------------------------------------------------
    @staticmethod
    def cold_relpath(cls: int, index: int, k: int) -> str:
        return f"cold/{file_name(cls, index)}/{k:06d}"

    def clear_cold(self) -> None:
        """Remove every cold copy: how many names a directory holds changes what a lookup in it
        costs, so a run starts without the copies earlier runs needed."""
        shutil.rmtree(os.path.join(self.root, "cold"), ignore_errors=True)

    def build_cold(self, counts: dict[tuple[int, int], int]) -> int:
        """Make sure cold copies 0..n-1 of each (class, index) exist; returns how many were written."""
        written = 0
        for (c, i), n in counts.items():
            folder = os.path.join(self.root, "cold", file_name(c, i))
            os.makedirs(folder, exist_ok=True)
            for k in range(n):
                rel = self.cold_relpath(c, i, k)
                written += _write_if_needed(os.path.join(self.root, rel), file_size(c, i), self.seed, rel)
        return written


@dataclass
class RequestSequence:
    """A request sequence: URL paths, plus what the runner must prepare for it."""

    paths: list[str]
    misses: int  # requests sent to cold copies
    cold_counts: dict[tuple[int, int], int]  # cold copies needed per (class, index)
    hit_files: set[str]  # relative paths of the files that must be warm before the run

    @property
    def miss_ratio(self) -> float:
        return self.misses / len(self.paths) if self.paths else 0.0

    def cold_files(self) -> list[str]:
        return [FileSet.cold_relpath(c, i, k) for (c, i), n in sorted(self.cold_counts.items()) for k in range(n)]


def _draws(fileset: FileSet, rng: random.Random) -> Iterator[tuple[int, int, int]]:
    dir_cum = list(itertools.accumulate(1.0 / (d + 1) for d in range(fileset.dirs)))
    class_cum = list(itertools.accumulate(CLASS_SHARES))
    in_class_cum = list(itertools.accumulate(_IN_CLASS_WEIGHTS))
    dir_total, class_total = dir_cum[-1], class_cum[-1]
    last_dir = fileset.dirs - 1
    while True:
        d = min(bisect.bisect_right(dir_cum, rng.random() * dir_total), last_dir)
        c = min(bisect.bisect_right(class_cum, rng.random() * class_total), CLASSES - 1)
        i = min(bisect.bisect_right(in_class_cum, rng.random() * _IN_CLASS_TOTAL), FILES_PER_CLASS - 1)
        yield d, c, i


def request_sequence(
    fileset: FileSet,
    n: int,
    *,
    prefix: str = "/static",
    seed: int | None = None,
    miss_ratio: float = 0.0,
    memory_bytes: int | None = None,
    lru_warmup: int | None = None,
) -> RequestSequence:
    """n requests, SPECweb99-distributed; see the module docstring for how misses are chosen.

    Prefix-stable: the first n requests of a longer sequence (same arguments otherwise) are the
    same, so runs of different lengths agree on what they share.

    memory_bytes: simulate an LRU page cache of that many bytes (files rounded up to 4 KiB
    pages); a request that misses it goes to a cold copy. The LRU is first run over
    ``lru_warmup`` requests (default: 20 x the number of files) that are not sent, so the
    sequence starts in the steady state rather than with an empty cache.
    """
    if not 0.0 <= miss_ratio <= 1.0:
        raise ValueError("miss_ratio must be in [0, 1]")
    rng = random.Random(f"seq:{fileset.seed if seed is None else seed}")
    miss_rng = random.Random(f"miss:{fileset.seed if seed is None else seed}")
    draws = _draws(fileset, rng)
    lru: OrderedDict[tuple[int, int, int], int] | None = None
    held = 0
    if memory_bytes is not None:
        lru = OrderedDict()
        warm = lru_warmup if lru_warmup is not None else 20 * fileset.dirs * CLASSES * FILES_PER_CLASS
        for _ in range(warm):
            held = _lru_touch(lru, next(draws), held, memory_bytes)[1]

    paths: list[str] = []
    cold_counts: dict[tuple[int, int], int] = {}
    hit_files: set[str] = set()
    misses = 0
    for _ in range(n):
        key = next(draws)
        if lru is not None:
            hit, held = _lru_touch(lru, key, held, memory_bytes)  # type: ignore[arg-type]
            miss = not hit
        else:
            miss = miss_ratio > 0 and miss_rng.random() < miss_ratio
        d, c, i = key
        if miss:
            k = cold_counts.get((c, i), 0)
            cold_counts[(c, i)] = k + 1
            paths.append(f"{prefix}/{FileSet.cold_relpath(c, i, k)}")
            misses += 1
        else:
            rel = fileset.relpath(d, c, i)
            hit_files.add(rel)
            paths.append(f"{prefix}/{rel}")
    return RequestSequence(paths, misses, cold_counts, hit_files)


def _lru_touch(
    lru: OrderedDict[tuple[int, int, int], int], key: tuple[int, int, int], held: int, capacity: int
) -> tuple[bool, int]:
    if key in lru:
        lru.move_to_end(key)
        return True, held
    size = -(-file_size(key[1], key[2]) // PAGE) * PAGE
    lru[key] = size
    held += size
    while held > capacity and lru:
        _, dropped = lru.popitem(last=False)
        held -= dropped
    return False, held


def write_paths(paths: Sequence[str], filename: str) -> None:
    with open(filename, "w") as f:
        f.write("\n".join(paths))
        f.write("\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fileset", description="Build a SPECweb99-like file set")
    parser.add_argument("root")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--dirs", type=int, help="number of directories (5,119,488 bytes each)")
    size.add_argument("--bytes", type=float, help="total size in bytes (rounded up to whole directories)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=0, help="also write this many request paths")
    parser.add_argument("--miss-ratio", type=float, default=0.0)
    parser.add_argument("--paths-file", default=None)
    args = parser.parse_args(argv)
    dirs = args.dirs or (dirs_for_bytes(int(args.bytes)) if args.bytes else 10)
    fs = FileSet(args.root, dirs, args.seed)
    written = fs.build()
    info: dict[str, object] = {
        "root": fs.root,
        "dirs": dirs,
        "bytes": fs.total_bytes,
        "written": written,
        "mean_request_bytes": round(mean_request_bytes(), 1),
    }
    if args.requests:
        seq = request_sequence(fs, args.requests, miss_ratio=args.miss_ratio)
        info["cold_written"] = fs.build_cold(seq.cold_counts)
        out = args.paths_file or os.path.join(args.root, "paths.txt")
        write_paths(seq.paths, out)
        info.update(paths_file=out, requests=len(seq.paths), misses=seq.misses)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
