"""DAVIS input checks on a tiny world."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from univs.data.formats.common import write_palette_png
from univs.errors import InputError
from univs.evaluation import evaluate_davis


@pytest.fixture()
def world(tmp_path):
    """One sequence ``s`` of 5 frames, 20×30, objects 1 and 2; predictions = GT."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for t in range(5):
        lab = np.zeros((20, 30), np.uint8)
        lab[2:8, 2 + t:10 + t] = 1
        lab[12:18, 15:25] = 2
        write_palette_png(gt / "Annotations" / "480p" / "s" / f"{t:05d}.png", lab)
        write_palette_png(pred / "s" / f"{t:05d}.png", lab)
        (gt / "JPEGImages" / "480p" / "s").mkdir(parents=True, exist_ok=True)
        (gt / "JPEGImages" / "480p" / "s" / f"{t:05d}.jpg").write_bytes(b"")
    (gt / "ImageSets" / "2017").mkdir(parents=True)
    (gt / "ImageSets" / "2017" / "val.txt").write_text("s\n")
    return gt, pred


def test_perfect(world):
    r = evaluate_davis(*world, workers=1)
    assert r.metrics["J&F-Mean"] == 1.0 and list(r.details["per_object"]) == ["s_1", "s_2"]


def test_missing_prediction_frame(world):
    gt, pred = world
    (pred / "s" / "00002.png").unlink()
    with pytest.raises(InputError, match=r"s/00002.png: missing file"):
        evaluate_davis(gt, pred, workers=1)


def test_first_and_last_frames_are_not_read(world):
    gt, pred = world
    (pred / "s" / "00000.png").unlink()
    (pred / "s" / "00004.png").unlink()
    assert evaluate_davis(gt, pred, workers=1).metrics["J-Mean"] == 1.0


def test_rgb_prediction_refused(world):
    gt, pred = world
    Image.new("RGB", (30, 20)).save(pred / "s" / "00001.png")
    with pytest.raises(InputError, match="00001.png: expected a palette"):
        evaluate_davis(gt, pred, workers=1)


def test_size_mismatch_refused(world):
    gt, pred = world
    write_palette_png(pred / "s" / "00003.png", np.zeros((20, 31), np.uint8))
    with pytest.raises(InputError, match="00003.png: prediction is 31x20"):
        evaluate_davis(gt, pred, workers=1)


def test_missing_annotation_frames_refused(world):
    gt, pred = world
    (gt / "Annotations" / "480p" / "s" / "00004.png").unlink()
    with pytest.raises(InputError, match="4 annotation PNGs for 5 frames"):
        evaluate_davis(gt, pred, workers=1)


def test_unknown_sequence_refused(world):
    gt, pred = world
    shutil.rmtree(pred / "s")
    with pytest.raises(InputError, match="missing file"):
        evaluate_davis(gt, pred, workers=1)
