"""The disk-bound benchmark's file set: a run starts without the cold copies of earlier runs."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.fileset import FileSet, file_name


def test_cold_copies_an_earlier_run_left_are_cleared(tmp_path: Path) -> None:
    files = FileSet(str(tmp_path), dirs=1)
    assert files.build_cold({(0, 0): 5}) == 5
    files.clear_cold()
    assert files.build_cold({(0, 0): 2}) == 2
    assert len(os.listdir(tmp_path / "cold" / file_name(0, 0))) == 2
