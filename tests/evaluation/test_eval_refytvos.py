"""Ref-YouTube-VOS: the submission zip layout, and local J&F where GT masks exist."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from univs.cli import main
from univs.data.formats.common import write_gray_png, write_palette_png
from univs.errors import InputError
from univs.evaluation import evaluate_refytvos, zip_refytvos_submission

FRAMES = ["00000", "00005"]


@pytest.fixture()
def world(tmp_path):
    """One video, two objects; expression 0 → object 1 predicted exactly, expression 1 → object 2
    predicted empty (J = F = 0 on both frames). So J = F = J&F = 0.5."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    meta = {"videos": {"vid1": {"expressions": {"0": {"exp": "the square", "obj_id": "1"},
                                                "1": {"exp": "the bar", "obj_id": "2"}},
                                "frames": FRAMES}}}
    gt.mkdir()
    (gt / "meta_expressions.json").write_text(json.dumps(meta))
    for t, frame in enumerate(FRAMES):
        lab = np.zeros((16, 24), np.uint8)
        lab[2 + t:8 + t, 3:9] = 1
        lab[10:14, 12:22] = 2
        write_palette_png(gt / "Annotations" / "vid1" / f"{frame}.png", lab)
        write_gray_png(pred / "vid1" / "0" / f"{frame}.png", (lab == 1) * 255)
        write_gray_png(pred / "vid1" / "1" / f"{frame}.png", np.zeros_like(lab))
    return gt, pred


def test_local_jf(world):
    r = evaluate_refytvos(*world, workers=1)
    assert r.metrics == {"J&F": 0.5, "J": 0.5, "F": 0.5}
    assert r.details["per_expression"] == {"vid1_0": {"J": 1.0, "F": 1.0}, "vid1_1": {"J": 0.0, "F": 0.0}}


def test_submission_zip_layout(world, tmp_path):
    gt, pred = world
    out = tmp_path / "submission.zip"
    assert zip_refytvos_submission(gt, pred, out) == 4
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [f"Annotations/vid1/{e}/{f}.png" for e in "01" for f in FRAMES]
        assert zf.read("Annotations/vid1/0/00005.png") == (pred / "vid1" / "0" / "00005.png").read_bytes()


def test_cli_without_gt_masks_needs_submission(world, tmp_path, capsys):
    gt, pred = world
    valid = tmp_path / "valid"
    valid.mkdir()
    (valid / "meta_expressions.json").write_text((gt / "meta_expressions.json").read_text())
    args = ["eval", "--task", "refvos", "--gt", str(valid), "--pred", str(pred), "--quiet"]
    assert main(args) == 2
    assert "scored only by its server" in capsys.readouterr().err
    assert main(args + ["--submission", str(tmp_path / "s.zip")]) == 0
    assert (tmp_path / "s.zip").is_file()


def test_missing_frame_is_refused(world):
    gt, pred = world
    (pred / "vid1" / "1" / "00005.png").unlink()
    with pytest.raises(InputError, match="00005.png: missing file"):
        zip_refytvos_submission(gt, pred, pred.parent / "x.zip")
    with pytest.raises(InputError, match="00005.png: missing file"):
        evaluate_refytvos(gt, pred, workers=1)


@pytest.mark.parametrize("gt_arg", ["root", "meta"])
def test_local_jf_in_the_datasets_own_layout(tmp_path, gt_arg):
    """``train/Annotations`` + ``meta_expressions/train/meta_expressions.json``, as the dataset
    ships (and ``univs synth`` writes it): expression masks drawn from the GT score J&F 1."""
    from univs.config import SynthConfig
    from univs.data.formats import read_format, write_format
    from univs.data.formats.refytvos import write_expression_masks
    from univs.data.synth import generate_world
    from univs.data.synth.views import task_view

    root, pred = tmp_path / "refytvos", tmp_path / "pred"
    write_format("refytvos", task_view(generate_world(SynthConfig(videos=2, frames=4, size=(48, 64), seed=3)),
                                       "refvos"), root)
    write_expression_masks(read_format("refytvos", root), pred)
    gt = root if gt_arg == "root" else root / "meta_expressions" / "train" / "meta_expressions.json"
    r = evaluate_refytvos(gt, pred, workers=1)
    assert r.metrics == {"J&F": 1.0, "J": 1.0, "F": 1.0}
    assert main(["eval", "--task", "refvos", "--gt", str(gt), "--pred", str(pred), "--quiet"]) == 0
