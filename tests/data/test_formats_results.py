"""Prediction writers: the layouts the official evaluators read, checked against the evalvectors'
own prediction files (a ``perfect`` prediction written from the ground truth must match them)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from univs.data.formats import (read_davis, read_mevis, read_refdavis, read_vipseg, read_vspw, read_ytvis,
                                read_ytvis_json, read_ytvis_results, write_davis_results, write_expression_masks,
                                write_refdavis_results, write_refytvos_submission, write_vipseg_results,
                                write_vspw_results, write_ytvis, write_ytvis_results)
from univs.data.types import Expression, VideoDataset

from shared_data import EVALVECTORS as VECTORS, requires_vectors

pytestmark = requires_vectors


def _png(path: Path) -> np.ndarray:
    return np.array(Image.open(path))


def test_ytvis_results_read_evalvectors_predictions():
    gt = read_ytvis_json(VECTORS / "ytvis_a/gt.json")
    pred = read_ytvis_results(VECTORS / "ytvis_a/pred_perfect.json", gt)
    raw = json.loads((VECTORS / "ytvis_a/pred_perfect.json").read_text())
    assert sum(len(v.tracks) for v in pred) == len(raw)
    for v_gt, v_pred in zip(gt, pred):
        assert v_pred.frame_names == v_gt.frame_names
        for tr in v_pred.tracks:  # a perfect prediction repeats a GT track of its category
            match = [g for g in v_gt.tracks if g.category_id == tr.category_id and all(
                np.array_equal(g.mask(t) if g.masks[t] is not None else np.zeros((v_gt.height, v_gt.width), bool),
                               tr.mask(t) if tr.masks[t] is not None else np.zeros((v_gt.height, v_gt.width), bool))
                for t in range(len(v_gt)))]
            assert match and tr.score is not None


def test_ytvis_results_round_trip(tmp_path):
    gt = read_ytvis_json(VECTORS / "ytvis_edge/gt.json")
    pred = dataclasses.replace(gt, videos=[dataclasses.replace(v, tracks=[dataclasses.replace(tr, score=0.5 + i / 100)
                                                                         for i, tr in enumerate(v.tracks)])
                                           for v in gt])
    write_ytvis_results(pred, tmp_path / "res.json")
    raw = json.loads((tmp_path / "res.json").read_text())
    assert set(raw[0]) == {"video_id", "score", "category_id", "segmentations"}
    assert all(isinstance(s["counts"], str) for r in raw for s in r["segmentations"] if s is not None)
    back = read_ytvis_results(tmp_path / "res.json", gt)
    for v, w in zip(back, pred):
        assert [tr.score for tr in v.tracks] == [tr.score for tr in w.tracks]
        for a, b in zip(v.tracks, w.tracks):
            assert a.category_id == b.category_id
            assert [m is None for m in a.masks] == [m is None for m in b.masks]
            for t, m in enumerate(b.masks):
                if m is not None:
                    np.testing.assert_array_equal(a.mask(t), b.mask(t))


def test_ytvis_ground_truth_written_like_the_official_file(tmp_path):
    gt = read_ytvis_json(VECTORS / "ytvis_edge/gt.json")
    write_ytvis(gt, tmp_path)
    ours = json.loads((tmp_path / "train.json").read_text())
    theirs = json.loads((VECTORS / "ytvis_edge/gt.json").read_text())
    assert [a["id"] for a in ours["annotations"]] == [a["id"] for a in theirs["annotations"]]
    for a, b in zip(ours["annotations"], theirs["annotations"]):
        assert a["areas"] == b["areas"] and a["bboxes"] == b["bboxes"]
        assert all(isinstance(s["counts"], list) for s in a["segmentations"] if s is not None)
    assert read_ytvis(tmp_path).categories.keys() == gt.categories.keys()


@pytest.mark.parametrize("case", ["davis_a", "davis_edge"])
def test_davis_results_match_ground_truth_pngs(tmp_path, case):
    gt = read_davis(VECTORS / case / "gt", split="val")
    write_davis_results(gt, tmp_path)
    for v in gt:
        for name in v.frame_names:
            np.testing.assert_array_equal(_png(tmp_path / v.name / f"{name}.png"),
                                          _png(VECTORS / case / "gt/Annotations/480p" / v.name / f"{name}.png"))
            assert Image.open(tmp_path / v.name / f"{name}.png").mode == "P"


def test_expression_masks_match_mevis_perfect_predictions(tmp_path):
    gt = read_mevis(VECTORS / "mevis_a/gt", split=None)
    write_expression_masks(gt, tmp_path)
    perfect = VECTORS / "mevis_a/pred/perfect"
    files = sorted(p.relative_to(perfect) for p in perfect.rglob("*.png"))
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.png"))
    for rel in files:
        assert Image.open(tmp_path / rel).mode == "L"
        np.testing.assert_array_equal(_png(tmp_path / rel) > 0, _png(perfect / rel) > 0)


def test_refytvos_submission_zip(tmp_path):
    gt = read_mevis(VECTORS / "mevis_a/gt", split=None)
    write_refytvos_submission(gt, tmp_path / "a.zip")
    write_refytvos_submission(gt, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    write_expression_masks(gt, tmp_path / "tree")
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        names = sorted(zf.namelist())
        assert names == sorted(f"Annotations/{p.relative_to(tmp_path / 'tree').as_posix()}"
                               for p in (tmp_path / "tree").rglob("*.png"))
        zf.extractall(tmp_path / "unzipped")
    for name in names:
        np.testing.assert_array_equal(_png(tmp_path / "unzipped" / name),
                                      _png(tmp_path / "tree" / name.removeprefix("Annotations/")))


def test_refdavis_results_match_perfect_predictions(tmp_path):
    gt = read_refdavis(VECTORS / "refdavis_a/gt")
    info = json.loads((VECTORS / "refdavis_a/case.json").read_text())["info"]
    for v in gt:  # expression 4k + a refers to object k+1 (objects of the first frame), every annotator a
        objects = [tr for tr in v.tracks if tr.track_id <= info[v.name]["first_frame_max"]]
        v.expressions = [Expression(str(4 * k + a), f"object {k + 1}", [tr.track_id])
                         for k, tr in enumerate(objects) for a in range(4)]
        v.void = None
    write_refdavis_results(gt, tmp_path)
    perfect = VECTORS / "refdavis_a/pred/perfect"
    for rel in sorted(p.relative_to(perfect) for p in perfect.rglob("*.png")):
        np.testing.assert_array_equal(_png(tmp_path / rel), _png(perfect / rel))


def test_vipseg_results_match_gt_ids(tmp_path):
    gt = read_vipseg(VECTORS / "vipseg_edge/gt")
    write_vipseg_results(gt, tmp_path)
    pred = json.loads((tmp_path / "pred.json").read_text())
    src = json.loads((VECTORS / "vipseg_edge/gt/panoptic_gt.json").read_text())
    for ours, theirs in zip(pred["annotations"], src["annotations"]):
        assert ours["video_id"] == theirs["video_id"]
        for fo, ft in zip(ours["annotations"], theirs["annotations"]):
            assert {(s["id"], s["category_id"], s["area"]) for s in fo["segments_info"]} == \
                {(s["id"], s["category_id"], s["area"]) for s in ft["segments_info"]}
            np.testing.assert_array_equal(
                _png(tmp_path / "pan_pred" / ours["video_id"] / fo["file_name"]),
                _png(VECTORS / "vipseg_edge/gt/panomasks" / ours["video_id"] / ft["file_name"]))


def test_vspw_results_use_the_zero_based_class_space(tmp_path):
    gt = read_vspw(VECTORS / "vspw_miou/gt", split="val")
    write_vspw_results(gt, tmp_path)
    for v in gt:
        for name in v.frame_names:
            g = _png(VECTORS / "vspw_miou/gt/data" / v.name / "mask" / f"{name}.png")
            ours = _png(tmp_path / v.name / f"{name}.png")
            perfect = _png(VECTORS / "vspw_miou/pred/perfect" / v.name / f"{name}.png")
            labelled = (g > 0) & (g < 255)
            np.testing.assert_array_equal(ours[labelled], perfect[labelled])
            assert (ours[~labelled] == 255).all()


def test_results_writers_need_ids_and_scores(tmp_path):
    from univs.errors import InputError

    gt = read_ytvis_json(VECTORS / "ytvis_a/gt.json")
    with pytest.raises(InputError, match="needs a category_id and a score"):
        write_ytvis_results(gt, tmp_path / "r.json")
    no_id = VideoDataset("x", [dataclasses.replace(gt.videos[0], video_id=None)])
    with pytest.raises(InputError, match="no video_id"):
        write_ytvis_results(no_id, tmp_path / "r.json")
