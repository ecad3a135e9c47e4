"""Atomic writes: nothing half-written under the final name, and ordinary file permissions."""

import os
import stat

import pytest

from univs.data.atomic import FILE_MODE, atomic_open


def test_interrupted_write_keeps_previous_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("new, half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_written_file_has_umask_permissions(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_open(target) as f:
        f.write("x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(plain).st_mode) == FILE_MODE
