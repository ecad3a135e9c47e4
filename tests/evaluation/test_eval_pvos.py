"""VIPOSeg panoptic-VOS scores on a hand-computed 10×10 world (boundary depth d = 1).

Video ``v1`` (3 frames): reference frame 0 gives objects 1 (class 60, thing seen) and 2 (class 0,
stuff seen); reference frame 1 gives object 3 (class 102, thing unseen). Video
``187_WUZUSD4477I`` (2 frames; one of VIPOSeg's "other machine" videos) has object 1 of class 98,
which is stuff unseen there. Objects are scored from the frame after their reference frame.

Hand computation (boundary = mask pixels whose 3×3 neighbourhood leaves the mask or the image):
- v1 f1, obj 1: identical 4×4 squares → mIoU 1, bIoU 1.
- v1 f1, obj 2: GT rows 7-9 (30 px; boundary 22 = all but row 8 cols 1-8), pred rows 8-9
  (20 px, all boundary) → mIoU 20/30; boundaries meet on row 9 and row 8 cols 0, 9 (12 px),
  union 30 → bIoU 0.4.
- v1 f2, obj 1 predicted empty → 0, 0; obj 2 identical → 1, 1; obj 3: GT rows 0-1 cols 7-9 (6 px,
  all boundary), pred rows 0-1 cols 8-9 (4 px) → mIoU 4/6, bIoU 4/6.
- 187_… f1, obj 1: GT cols 0-4 (50 px; boundary 26), pred cols 0-3 (40 px; boundary 24) →
  mIoU 0.8; common boundary rows 0, 9 cols 0-3 and col 0 rows 1-8 = 16, union 34 → bIoU 16/34.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from univs.data.formats.common import write_gray_png
from univs.errors import InputError
from univs.evaluation.pvos import VIPOSEG_SPLIT, boundary_radius, evaluate_viposeg


def _frames(**objs):
    lab = np.zeros((10, 10), np.uint8)
    for oid, (ys, xs) in objs.items():
        lab[ys, xs] = int(oid[1:])
    return lab


@pytest.fixture()
def world(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    sq = (slice(2, 6), slice(2, 6))
    band = (slice(7, 10), slice(0, 10))
    v1_gt = [_frames(o1=sq, o2=band), _frames(o1=sq, o2=band, o3=(slice(0, 2), slice(7, 10))),
             _frames(o1=sq, o2=band, o3=(slice(0, 2), slice(7, 10)))]
    v1_pred = [v1_gt[0], _frames(o1=sq, o2=(slice(8, 10), slice(0, 10))),
               _frames(o2=band, o3=(slice(0, 2), slice(8, 10)))]
    refs = {0: _frames(o1=sq, o2=band), 1: _frames(o3=(slice(0, 2), slice(7, 10)))}
    for t in range(3):
        write_gray_png(gt / "Annotations_gt" / "v1" / f"{t:05d}.png", v1_gt[t])
        write_gray_png(pred / "v1" / f"{t:05d}.png", v1_pred[t])
        if t in refs:
            write_gray_png(gt / "Annotations" / "v1" / f"{t:05d}.png", refs[t])
    om = "187_WUZUSD4477I"
    left5, left4 = _frames(o1=(slice(0, 10), slice(0, 5))), _frames(o1=(slice(0, 10), slice(0, 4)))
    for t, (g, p) in enumerate([(left5, left5), (left5, left4)]):
        write_gray_png(gt / "Annotations_gt" / om / f"{t:05d}.png", g)
        write_gray_png(pred / om / f"{t:05d}.png", p)
    write_gray_png(gt / "Annotations" / om / "00000.png", left5)
    (gt / "obj_class.json").write_text(json.dumps({"v1": {"1": 60, "2": 0, "3": 102}, om: {"1": 98}}))
    return gt, pred


def test_hand_computed_scores(world):
    r = evaluate_viposeg(*world, workers=1, decay=True).metrics
    expected = {
        "thing_seen_miou": 0.5, "thing_seen_biou": 0.5,
        "stuff_seen_miou": (20 / 30 + 1) / 2, "stuff_seen_biou": (0.4 + 1) / 2,
        "thing_unseen_miou": 4 / 6, "thing_unseen_biou": 4 / 6,
        "stuff_unseen_miou": 0.8, "stuff_unseen_biou": 16 / 34,
    }
    for name, value in expected.items():
        assert r[name] == pytest.approx(value, abs=1e-12), name
    groups = [(expected[f"{g}_miou"] + expected[f"{g}_biou"]) / 2
              for g in ("thing_seen", "thing_unseen", "stuff_seen", "stuff_unseen")]
    assert r["overall_iou"] == pytest.approx(sum(groups) / 4, abs=1e-12)
    # decay buckets by objects evaluated per frame: k=1 (other-machine video), 2 (v1 f1), 3 (v1 f2)
    means = {1: (0.8 + 16 / 34) / 2, 2: (1 + (20 / 30 + 0.4) / 2) / 2, 3: (0 + 1 + 4 / 6) / 3}
    x = np.array([1, 2, 3]) / 100
    y = -np.log([means[1], means[2], means[3]])
    assert r["decay"] == pytest.approx(float(x @ y / (x @ x)), abs=1e-12)


def test_rows_and_split(world):
    result = evaluate_viposeg(*world, workers=1)
    rows = {(r["video"], r["object"]): r for r in result.rows}
    assert rows["v1", 3]["frames"] == 1 and rows["v1", 1]["frames"] == 2
    assert rows["v1", 2]["group"] == "stuff_seen" and rows["187_WUZUSD4477I", 1]["group"] == "stuff_unseen"
    assert VIPOSEG_SPLIT.group(98, "some_other_video") == "stuff_seen"
    assert boundary_radius(10, 10) == 1 and boundary_radius(720, 1280) == 29


def test_missing_class_and_frame_mismatch(world):
    gt, pred = world
    (gt / "obj_class.json").write_text(json.dumps({"v1": {"1": 60, "2": 0}, "187_WUZUSD4477I": {"1": 98}}))
    with pytest.raises(InputError, match="object 3 has no class"):
        evaluate_viposeg(gt, pred, workers=1)
    (pred / "v1" / "00002.png").unlink()
    with pytest.raises(InputError, match="prediction PNGs"):
        evaluate_viposeg(gt, pred, workers=1)
