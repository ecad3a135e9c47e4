"""J/F building blocks against direct transcriptions of their definitions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from univs.evaluation.jf import (davis_radius, davis_statistics, disk_kernel, f_measure, label_slices,
                                 object_jf, seg2bmap)


def _bmap_by_definition(m: np.ndarray) -> np.ndarray:
    h, w = m.shape
    b = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            if y < h - 1 and x < w - 1:
                b[y, x] = m[y, x] != m[y, x + 1] or m[y, x] != m[y + 1, x] or m[y, x] != m[y + 1, x + 1]
            elif y == h - 1 and x < w - 1:
                b[y, x] = m[y, x] != m[y, x + 1]
            elif x == w - 1 and y < h - 1:
                b[y, x] = m[y, x] != m[y + 1, x]
    return b


@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (5, 6), (12, 9)])
def test_seg2bmap_matches_definition(shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    for _ in range(5):
        m = rng.random(shape) < 0.5
        assert np.array_equal(seg2bmap(m), _bmap_by_definition(m))


def test_boundary_on_right_and_bottom_border_is_dropped():
    m = np.zeros((6, 6), bool)
    m[3:, 3:] = True
    b = seg2bmap(m)
    assert b[2, 3:5].all() and b[3:5, 2].all()
    assert not b[5, 3:].any() and not b[3:, 5].any()


def test_radius_and_disk():
    assert (davis_radius(64, 96), davis_radius(120, 160), davis_radius(480, 854)) == (1, 2, 8)
    k = disk_kernel(2)
    assert k.shape == (5, 5) and k.sum() == 13 and k[0, 2] == 1 and k[0, 1] == 0


def _full_frame_jf(gt, gid, pred, pid, r, void):
    g, p = gt == gid, pred == pid
    if void is not None:
        g, p = g & ~void, p & ~void
    union = np.count_nonzero(g | p)
    j = 1.0 if union == 0 else np.count_nonzero(g & p) / union
    return j, f_measure(p, g, disk_kernel(r))


@pytest.mark.parametrize("seed", range(6))
def test_windowed_jf_equals_full_frame(seed):
    rng = np.random.default_rng(seed)
    h, w = 60, 80
    gt, pred = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    for k in (1, 2, 3):
        for lab in (gt, pred):
            if rng.random() < 0.85:
                cx, cy = int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5))
                cv2.ellipse(lab, (cx, cy), (int(rng.integers(2, 25)), int(rng.integers(2, 20))),
                            float(rng.uniform(0, 180)), 0, 360, k, -1)
    void = rng.random((h, w)) < 0.02 if seed % 2 else None
    r = davis_radius(h, w)
    g_boxes, p_boxes = label_slices(gt, 3), label_slices(pred, 3)
    for gid in (1, 2, 3):
        for pid in (1, 2, 3):
            got = object_jf(gt, gid, g_boxes[gid - 1], pred, pid, p_boxes[pid - 1], disk_kernel(r), void)
            assert got == pytest.approx(_full_frame_jf(gt, gid, pred, pid, r, void), abs=1e-15)


def test_empty_mask_rules():
    kernel = disk_kernel(1)
    empty, blob = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    blob[2:5, 2:5] = True
    assert f_measure(empty, empty, kernel) == 1.0
    assert f_measure(empty, blob, kernel) == 0.0
    assert f_measure(blob, empty, kernel) == 0.0


def test_statistics():
    assert davis_statistics(np.array([0.3])) == (0.3, 0.0, 0.0)
    assert davis_statistics(np.array([0.9, 0.4])) == pytest.approx((0.65, 0.5, 0.5))
    # N=5: bin edges 0,1,2,3,4 -> bins [0:2] and [3:5]; decay = mean(1, .8) - mean(.4, .2)
    assert davis_statistics(np.array([1.0, 0.8, 0.6, 0.4, 0.2])) == pytest.approx((0.6, 0.6, 0.6))
