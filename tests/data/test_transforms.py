"""Clip augmentations (univs.data.transforms): one transform for every frame, masks/points/boxes aligned."""

from __future__ import annotations

import numpy as np
import pytest

from univs.config import AugmentationConfig
from univs.data.transforms import ClipTransform, sample_transform, swap_left_right

JITTER = AugmentationConfig(output_size=(48, 64), scale_range=(0.5, 2.0), flip_prob=0.5)


@pytest.mark.parametrize("text, expected", [
    ("the circle on the left", "the circle on the right"),
    ("the circle on the right", "the circle on the left"),
    ("Left dog next to the right cat", "Right dog next to the left cat"),
    ("RIGHT hand", "LEFT hand"),
    ("the leftmost car, turning rightwards", "the rightmost car, turning leftwards"),
    ("a left-hand glove", "a right-hand glove"),
    ("leftover pizza in bright light", "leftover pizza in bright light"),
    ("copyright on the left.", "copyright on the right."),
])
def test_swap_left_right(text, expected):
    assert swap_left_right(text) == expected
    assert swap_left_right(swap_left_right(text)) == text


def marker_clip(positions: list[tuple[int, int]], size=(60, 80), half=3) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) black with one white square per frame centred at (x, y), and its masks."""
    frames = np.zeros((len(positions), *size, 3), np.uint8)
    masks = np.zeros((len(positions), *size), bool)
    for t, (x, y) in enumerate(positions):
        frames[t, y - half:y + half, x - half:x + half] = 255
        masks[t, y - half:y + half, x - half:x + half] = True
    return frames, masks


def test_same_transform_on_every_frame():
    positions = [(20, 15), (50, 30), (65, 45)]
    frames, masks = marker_clip(positions)
    centres = np.array(positions, np.float32)  # square [c-3, c+3) has continuous centre c
    seen_flip = set()
    for seed in range(40):
        tf = sample_transform(frames.shape[1:3], JITTER, np.random.default_rng(seed))
        seen_flip.add(tf.flip)
        out_frames, out_masks = tf.images(frames), tf.masks(masks)
        assert out_frames.shape == (3, 48, 64, 3) and out_masks.shape == (3, 48, 64)
        mapped, _ = tf.points(centres)
        corners = np.concatenate([centres + d for d in ([-3, -3], [-3, 3], [3, -3], [3, 3])])
        whole = tf.points(corners.astype(np.float32))[1].reshape(4, 3).all(0)  # square fully inside
        for t in range(3):
            ys, xs = np.nonzero(out_masks[t])
            if not whole[t]:
                continue
            tol = 1.0 + 0.5 * max(masks.shape[1] / tf.scaled_size[0], 1.0)
            assert abs(xs.mean() + 0.5 - mapped[t, 0]) < tol and abs(ys.mean() + 0.5 - mapped[t, 1]) < tol
            # the image moved with the mask: the bright pixels are where the mask is
            bright = out_frames[t, ..., 0] > 127
            assert (bright & out_masks[t]).sum() >= 0.7 * out_masks[t].sum()
    assert seen_flip == {True, False}


def test_identity_and_flip_are_exact():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    masks = rng.random((4, 2, 30, 40)) > 0.5
    ident = ClipTransform((30, 40), (30, 40), (0, 0), (30, 40), flip=False)
    assert np.array_equal(ident.images(frames), frames)
    assert np.array_equal(ident.masks(masks), masks)
    flip = ClipTransform((30, 40), (30, 40), (0, 0), (30, 40), flip=True)
    assert np.array_equal(flip.images(frames), frames[:, :, ::-1])
    assert np.array_equal(flip.masks(masks), masks[..., ::-1])
    pts, inside = flip.points(np.array([[0.5, 3.5], [39.5, 10.5]], np.float32))
    assert np.allclose(pts, [[39.5, 3.5], [0.5, 10.5]]) and inside.all()


def test_crop_offset_and_padding():
    frames = np.full((1, 40, 40, 3), 200, np.uint8)
    masks = np.ones((1, 1, 40, 40), bool)
    # scaled to 20×20 inside a 32×48 output: content top-left, zero padding elsewhere
    small = ClipTransform((40, 40), (20, 20), (0, 0), (32, 48), flip=False)
    out, out_masks = small.images(frames), small.masks(masks)
    assert out.shape == (1, 32, 48, 3)
    assert (out[0, :20, :20] == 200).all() and (out[0, 20:] == 0).all() and (out[0, :, 20:] == 0).all()
    assert out_masks[0, 0].sum() == 400 and out_masks[0, 0, :20, :20].all()
    # scaled ×2 then cropped at (top 10, left 30): source pixel (x, y) lands at (2x − 30, 2y − 10)
    frames = np.zeros((1, 40, 40, 3), np.uint8)
    frames[0, 12, 25] = 255
    big = ClipTransform((40, 40), (80, 80), (10, 30), (32, 48), flip=False)
    ys, xs = np.nonzero(big.images(frames)[0, ..., 0] > 100)
    pts, inside = big.points(np.array([[25.5, 12.5]], np.float32))
    px, py = pts[0]
    assert inside.all() and (px, py) == (21.0, 15.0)
    assert xs.min() <= px <= xs.max() + 1 and ys.min() <= py <= ys.max() + 1


def blob(rng: np.random.Generator, size=(60, 80)) -> np.ndarray:
    """A random union of ellipses (H, W) bool."""
    import cv2

    canvas = np.zeros(size, np.uint8)
    for _ in range(3):
        centre = (int(rng.integers(10, size[1] - 10)), int(rng.integers(10, size[0] - 10)))
        axes = (int(rng.integers(4, 15)), int(rng.integers(4, 15)))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return canvas.astype(bool)


def test_points_inside_a_mask_stay_inside_and_boxes_follow():
    import cv2

    rng = np.random.default_rng(1)
    checked = boxes_checked = 0
    for seed in range(30):
        mask = blob(rng)
        tf = sample_transform(mask.shape, JITTER, np.random.default_rng(seed))
        out = tf.masks(mask[None])[0]
        # interior points: far enough from the border to survive nearest-neighbour resampling
        margin = 1 + max(mask.shape[0] / tf.scaled_size[0], 1.0)
        dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        ys, xs = np.nonzero(dist > margin)
        if len(ys) == 0:
            continue
        pts, inside = tf.points(np.stack([xs + 0.5, ys + 0.5], 1).astype(np.float32))
        px, py = pts[inside, 0].astype(int), pts[inside, 1].astype(int)
        assert out[py, px].all()
        checked += int(inside.sum())
        # the box of the mask holds the transformed mask, and equals its box when nothing is cut
        ys, xs = np.nonzero(mask)
        src_box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        box, has_area = tf.boxes(src_box)
        corners = src_box[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(4, 2)
        uncut = tf.points(corners - np.sign(corners - corners.mean(0)) * 1e-3)[1].all()
        tol = 1 + tf.scaled_size[0] / mask.shape[0]
        if out.any():
            oy, ox = np.nonzero(out)
            mask_box = np.array([ox.min(), oy.min(), ox.max() + 1, oy.max() + 1], np.float32)
            assert has_area[0]
            assert (box[0, :2] <= mask_box[:2] + tol).all() and (box[0, 2:] >= mask_box[2:] - tol).all()
            if uncut:
                assert np.allclose(box[0], mask_box, atol=tol)
                boxes_checked += 1
    assert checked > 1000 and boxes_checked > 5


def test_points_outside_the_window_are_flagged():
    tf = ClipTransform((40, 40), (80, 80), (10, 30), (32, 48), flip=True)
    pts, inside = tf.points(np.array([[1.0, 1.0], [25.5, 12.5], [39.9, 39.9]], np.float32))
    assert inside.tolist() == [False, True, False]
    assert np.allclose(pts[1], [48 - 21.0, 15.0])
