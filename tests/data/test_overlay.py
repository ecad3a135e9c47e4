"""Overlays: palette blend on mask pixels, contours at object boundaries, labels, video output."""

from __future__ import annotations

import numpy as np
from PIL import Image

from univs.data.overlay import boundary, palette_index, render_overlay, write_overlay_video
from univs.data.palette import PALETTE
from univs.data.video import open_video


def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    ids = np.zeros((60, 80), np.int32)
    ids[10:30, 10:40] = 1
    ids[35:55, 45:75] = 7
    ids[0:5, 70:80] = 255  # void
    ids[40:50, 5:20] = 300  # wraps into the palette
    return frame, ids


def test_blend_contour_shape():
    frame, ids = scene()
    out = render_overlay(frame, ids, alpha=0.4, text=False)
    assert out.shape == frame.shape and out.dtype == np.uint8
    edge = boundary(ids)
    interior = (ids == 1) & ~edge
    want = np.rint(0.6 * frame[interior].astype(np.float32) + 0.4 * PALETTE[1].astype(np.float32))
    np.testing.assert_array_equal(out[interior], want.astype(np.uint8))
    np.testing.assert_array_equal(out[(ids == 7) & edge], np.broadcast_to(PALETTE[7], out[(ids == 7) & edge].shape))
    untouched = (ids == 0) | (ids == 255)
    np.testing.assert_array_equal(out[untouched], frame[untouched])
    assert palette_index(np.array([300]))[0] == 1 + 299 % 254
    assert np.all(out[(ids == 300) & edge] == PALETTE[palette_index(np.array([300]))[0]])


def test_boundary_is_the_rim_of_each_object():
    ids = np.zeros((10, 10), np.int32)
    ids[2:8, 2:8] = 3
    edge = boundary(ids)
    assert edge.sum() == 4 * 6 - 4  # the ring of a 6x6 square
    assert not edge[3:7, 3:7].any() and not edge[ids == 0].any()
    assert boundary(ids, thickness=2).sum() > edge.sum()


def test_labels_are_drawn():
    frame, ids = scene()
    plain = render_overlay(frame, ids, text=False)
    labelled = render_overlay(frame, ids, labels={1: "circle", 7: "sky"})
    differ = np.any(plain != labelled, axis=2)
    assert differ[10:30, 10:40].any() and differ[35:55, 45:75].any()
    np.testing.assert_array_equal(render_overlay(frame, np.zeros_like(ids)), frame)


def test_overlay_video_gif_and_mp4(tmp_path):
    frame, ids = scene()
    frames = [frame] * 3
    maps = [ids, np.roll(ids, 3, axis=1), np.roll(ids, 6, axis=1)]
    write_overlay_video(tmp_path / "o.gif", frames, maps, fps=5, labels={1: "a"})
    with Image.open(tmp_path / "o.gif") as im:
        assert im.n_frames == 3 and im.size == (80, 60)
    write_overlay_video(tmp_path / "o.mp4", iter(frames), iter(maps), fps=5)
    video = open_video(tmp_path / "o.mp4")
    assert len(video) == 3 and video.size == (60, 80)
