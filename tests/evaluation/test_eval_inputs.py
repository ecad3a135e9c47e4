"""Bad input is refused with one clear error naming the file; hand-computed VSPW and VIS worlds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from univs.data.formats.common import write_gray_png, write_rgb_ids
from univs.data.formats.rle import rle_to_json
from univs.data.types import encode_mask
from univs.errors import InputError
from univs.evaluation import evaluate_vipseg, evaluate_vspw, evaluate_ytvis



def _rle(mask: np.ndarray) -> dict:
    return rle_to_json(encode_mask(mask))


# --------------------------------------------------------------------------- YouTube-VIS


@pytest.fixture()
def vis_world(tmp_path):
    """Two videos of 3 frames (20×20), one 6×6 track each (category 1). Results: a copy of track 1
    shifted 3 px (IoU 18/54 = 1/3, score 0.9), then track 1 exactly (0.8), track 2 exactly (0.7).

    At every threshold: FP, TP, TP → recall 0, 1/2, 1 and precision 0, 1/2, 2/3, made monotone
    → 2/3 at all 101 recall points: AP = AP50 = AP75 = APs = 2/3. AR1 keeps one result per
    video: the shifted copy misses, track 2 hits → 1/2. AR100 = 1. No GT is medium or large: −1."""
    masks = {}
    for v in (1, 2):
        m = np.zeros((3, 20, 20), bool)
        m[:, 4:10, 4 + v:10 + v] = True
        masks[v] = m
    gt = {"videos": [{"id": v, "height": 20, "width": 20, "length": 3, "file_names": ["a", "b", "c"]} for v in (1, 2)],
          "annotations": [{"id": v, "video_id": v, "category_id": 1, "iscrowd": 0,
                           "segmentations": [_rle(f) for f in masks[v]], "areas": [36, 36, 36]} for v in (1, 2)],
          "categories": [{"id": 1, "name": "thing"}]}
    shifted = np.roll(masks[1], 3, axis=2)
    dets = [{"video_id": 1, "category_id": 1, "score": 0.9, "segmentations": [_rle(f) for f in shifted]},
            {"video_id": 1, "category_id": 1, "score": 0.8, "segmentations": [_rle(f) for f in masks[1]]},
            {"video_id": 2, "category_id": 1, "score": 0.7, "segmentations": [_rle(f) for f in masks[2]]}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    return tmp_path, dets


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_ytvis_hand_computed(vis_world):
    root, dets = vis_world
    r = evaluate_ytvis(root / "gt.json", _write(root / "r.json", dets), workers=1).metrics
    for name in ("AP", "AP50", "AP75", "APs"):
        assert r[name] == pytest.approx(2 / 3, abs=1e-12)
    assert (r["AR1"], r["AR10"], r["AR100"], r["ARs"]) == (0.5, 1.0, 1.0, 1.0)
    assert r["APm"] == r["APl"] == r["ARm"] == r["ARl"] == -1


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d[0].update(video_id=7), "video_id 7, which gt.json does not list"),
    (lambda d: d[1]["segmentations"].pop(), "2 segmentations for a video of 3 frames"),
    (lambda d: d[2]["segmentations"][1].update(counts="0000"), "result #3, frame 1: RLE runs cover 0 pixels"),
    (lambda d: d[2]["segmentations"][2].update(counts="!!"), "result #3, frame 2: malformed compressed RLE"),
    (lambda d: d[2]["segmentations"][0].update(size=[20, 21]), "does not match the frame size"),
    (lambda d: d.clear(), "non-empty list"),
])
def test_ytvis_bad_results(vis_world, mutate, message):
    root, dets = vis_world
    mutate(dets)
    path = _write(root / "r.json", dets)
    with pytest.raises(InputError, match=message) as info:
        evaluate_ytvis(root / "gt.json", path, workers=1)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- VSPW


@pytest.fixture()
def vss_world(tmp_path):
    """One video of 10 frames, 4×4. GT raw 5 everywhere, except pixel (0,0) = 7 in frame 9.
    Prediction 4 everywhere, except pixel (1,1) = 9 in frame 3.

    VC8: windows start at 0 and 1 only (L−n = 2; the window 2..9 is not used), G = all 16 pixels,
    P misses (1,1) → 15/16 each. VC16: no window (L ≤ 16). mIoU: class 4 (raw 5): TP 158, row 159,
    column 159 → 158/160; class 6 (raw 7): row 1, TP 0 → 0; class 8 (pred 9) only predicted →
    not averaged. mIoU = 0.49375."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    (gt / "data" / "v" / "mask").mkdir(parents=True)
    (pred / "v").mkdir(parents=True)
    for t in range(10):
        g = np.full((4, 4), 5, np.uint8)
        p = np.full((4, 4), 4, np.uint8)
        if t == 9:
            g[0, 0] = 7
        if t == 3:
            p[1, 1] = 9
        write_gray_png(gt / "data" / "v" / "mask" / f"{t:08d}.png", g)
        write_gray_png(pred / "v" / f"{t:08d}.png", p)
    (gt / "val.txt").write_text("v\n")
    return gt, pred


def test_vspw_hand_computed(vss_world):
    r = evaluate_vspw(*vss_world, workers=1).metrics
    assert r["mVC8"] == 15 / 16 and math.isnan(r["mVC16"])
    assert r["mIoU"] == pytest.approx((158 / 160 + 0) / 2, abs=1e-15)


def test_vspw_prediction_outside_class_space(vss_world):
    gt, pred = vss_world
    write_gray_png(pred / "v" / "00000004.png", np.full((4, 4), 124, np.uint8))
    with pytest.raises(InputError, match="00000004.png: prediction value 124 outside"):
        evaluate_vspw(gt, pred, workers=1)


# --------------------------------------------------------------------------- VIPSeg


def _vps_world(root, frames):
    """One video of ``frames`` frames, 6×6: a stuff segment (id 300, category 0) and a thing
    (id 1200, category 2) in the top-left 2×2 block; predictions identical (ids 5 and 9)."""
    gt, pred = root / "gt", root / "pred"
    gt_frames, pred_frames = [], []
    for t in range(frames):
        g = np.full((6, 6), 300, np.int64)
        g[:2, :2] = 1200
        write_rgb_ids(gt / "panomasks" / "v" / f"{t}.png", g)
        write_rgb_ids(pred / "pan_pred" / "v" / f"{t}.png", np.where(g == 300, 5, 9))
        gt_frames.append({"segments_info": [{"id": 300, "category_id": 0, "iscrowd": 0, "area": 32},
                                            {"id": 1200, "category_id": 2, "iscrowd": 0, "area": 4}]})
        pred_frames.append({"segments_info": [{"id": 5, "category_id": 0}, {"id": 9, "category_id": 2}]})
    _write(gt / "panoptic_gt.json", {
        "videos": [{"video_id": "v", "images": [{"file_name": f"{t}.png"} for t in range(frames)]}],
        "annotations": [{"video_id": "v", "annotations": gt_frames}],
        "categories": [{"id": 0, "name": "wall", "isthing": 0}, {"id": 2, "name": "door", "isthing": 1}]})
    _write(pred / "pred.json", {"annotations": [{"video_id": "v", "annotations": pred_frames}]})
    return gt, pred


@pytest.fixture()
def vps_world(tmp_path):
    return _vps_world(tmp_path, 8)


def test_vipseg_videos_shorter_than_the_largest_window(tmp_path):
    with pytest.raises(InputError, match="VPQ@35: no category has a tube in any 8-frame window"):
        evaluate_vipseg(*_vps_world(tmp_path, 7), workers=1)


def test_vipseg_perfect_and_missing_video(vps_world):
    gt, pred = vps_world
    r = evaluate_vipseg(gt, pred, workers=1).metrics
    # the first listed segment is stuff, so the thing has instance 1 and counts in AQ
    assert (r["VPQ"], r["VPQ_thing"], r["VPQ_stuff"], r["STQ"], r["AQ"], r["SQ"]) == (100, 100, 100, 1, 1, 1)
    _write(pred / "pred.json", {"annotations": []})
    with pytest.raises(InputError, match="pred.json: no predictions for video 'v'"):
        evaluate_vipseg(gt, pred, workers=1)


def test_vipseg_json_id_missing_from_png(vps_world):
    gt, pred = vps_world
    doc = json.loads((pred / "pred.json").read_text())
    doc["annotations"][0]["annotations"][1]["segments_info"].append({"id": 77, "category_id": 0})
    _write(pred / "pred.json", doc)
    with pytest.raises(InputError, match=r"segment IDs \[77\] are in the JSON but not in the PNG"):
        evaluate_vipseg(gt, pred, workers=1)
