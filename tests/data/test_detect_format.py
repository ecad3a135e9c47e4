"""Every video format ``univs synth`` writes is told from its layout for its task."""

from __future__ import annotations

import pytest

from univs.config import SynthConfig
from univs.data.formats import FORMAT_NAMES, FORMAT_TASK, detect_format, write_format
from univs.data.synth import generate_world
from univs.data.synth.views import task_view

VIDEO_FORMATS = [f for f in FORMAT_NAMES if FORMAT_TASK[f] != "image"]
SINGLE = {"pvos", "vps", "vss"}
"""Tasks with one format: nothing to tell apart."""


@pytest.fixture(scope="module")
def world():
    return generate_world(SynthConfig(videos=1, frames=3, size=(32, 48), seed=11))


@pytest.mark.parametrize("fmt", VIDEO_FORMATS)
def test_layout_tells_the_format(world, fmt, tmp_path):
    task = FORMAT_TASK[fmt]
    write_format(fmt, task_view(world, task, max_expressions=4 if fmt == "refdavis" else None), tmp_path / fmt)
    assert detect_format(tmp_path / fmt, task) == (None if task in SINGLE else fmt)


def test_an_empty_folder_says_nothing(tmp_path):
    assert all(detect_format(tmp_path, t) is None for t in ("vos", "refvos", "vis"))
