"""Video I/O: mp4/GIF round trips, lazy random access, frame folders, resizing, bad input, real files."""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from univs.data.video import (ArrayFrames, ContainerFrames, FolderFrames, natural_key, open_video, write_gif,
                              write_mp4)
from univs.errors import InputError

from shared_data import REALDATA as REAL, requires_shared


def smooth_frames(n: int, h: int = 64, w: int = 96) -> np.ndarray:
    """Gradient frames with a moving bright square: easy to encode, every frame different."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        out[t, ..., 0] = (xx * 255 // w).astype(np.uint8)
        out[t, ..., 1] = (yy * 255 // h).astype(np.uint8)
        out[t, ..., 2] = 60
        out[t, 10:26, 4 + 4 * t:20 + 4 * t] = (250, 250, 250)
    return out


def write_gop_mp4(path: Path, frames: np.ndarray, gop: int, fps: int = 10) -> None:
    """An H.264 mp4 with a keyframe every ``gop`` frames and B-frames (decode order ≠ display order)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.height, s.width = frames.shape[1:3]
        s.pix_fmt = "yuv420p"
        s.codec_context.gop_size = gop
        s.options = {"bf": "2", "sc_threshold": "0", "crf": "18"}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())


def test_mp4_round_trip(tmp_path):
    frames = smooth_frames(12)
    path = tmp_path / "clip.mp4"
    write_mp4(path, iter(frames), fps=12.5)  # a generator: the writer streams
    video = open_video(path)
    assert isinstance(video, ContainerFrames)
    assert len(video) == 12 and video.size == (64, 96) and video.fps == pytest.approx(12.5)
    for t in range(12):
        assert np.abs(video[t].astype(int) - frames[t]).mean() < 3.0
    assert not list(tmp_path.glob(".*tmp*"))


def test_mp4_odd_size_is_padded(tmp_path):
    frames = smooth_frames(3, 33, 47)
    write_mp4(tmp_path / "odd.mp4", frames, fps=5)
    video = open_video(tmp_path / "odd.mp4")
    assert video.size == (34, 48)
    assert np.abs(video[1][:33, :47].astype(int) - frames[1]).mean() < 3.0


def test_gif_round_trip(tmp_path):
    colours = np.array([[255, 0, 0], [0, 0, 255], [0, 200, 0], [250, 250, 250]], np.uint8)
    rng = np.random.default_rng(0)
    frames = colours[rng.integers(0, 4, size=(5, 20, 30))]
    path = tmp_path / "a.gif"
    write_gif(path, (f for f in frames), fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 5 and im.info["loop"] == 0 and im.info["duration"] == 100
    video = open_video(path)
    assert len(video) == 5 and video.size == (20, 30)
    for t in range(5):
        np.testing.assert_array_equal(video[t], frames[t])


def test_random_access_equals_sequential(tmp_path):
    frames = smooth_frames(23)
    path = tmp_path / "gop.mp4"
    write_gop_mp4(path, frames, gop=5)
    video = open_video(path)
    assert len(video) == 23
    sequential = [video[t] for t in range(len(video))]
    fresh = open_video(path)
    for t in np.random.default_rng(1).permutation(23).tolist() + [22, 0, 7, 7, 6]:
        np.testing.assert_array_equal(fresh[t], sequential[t], err_msg=f"frame {t}")
    assert np.abs(sequential[9].astype(int) - frames[9]).mean() < 3.0
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fresh))[4], sequential[4])


def test_iteration_and_negative_index():
    video = ArrayFrames(smooth_frames(4))
    assert len(list(video)) == 4
    np.testing.assert_array_equal(video[-1], smooth_frames(4)[3])
    with pytest.raises(IndexError):
        video[4]


def test_folder_natural_order(tmp_path):
    for n in [10, 2, 1]:
        Image.fromarray(np.full((8, 12, 3), 20 * n, np.uint8)).save(tmp_path / f"frame{n}.png")
    video = open_video(tmp_path)
    assert isinstance(video, FolderFrames)
    assert [p.name for p in video.paths] == ["frame1.png", "frame2.png", "frame10.png"]
    assert [int(video[t][0, 0, 0]) for t in range(3)] == [20, 40, 200]
    assert sorted(["b10", "b9", "a1"], key=natural_key) == ["a1", "b9", "b10"]


def test_max_side(tmp_path):
    frames = smooth_frames(2, 60, 100)
    video = open_video(frames, max_side=50)
    assert video.size == (30, 50) and video[0].shape == (30, 50, 3) and video[0].dtype == np.uint8
    assert open_video(frames, max_side=200).size == (60, 100)  # never enlarged
    write_mp4(tmp_path / "v.mp4", frames, fps=5)
    assert open_video(tmp_path / "v.mp4", max_side=50)[1].shape == (30, 50, 3)
    Image.fromarray(frames[0]).save(tmp_path / "f.png")
    assert open_video(tmp_path / "f.png", max_side=25).size == (15, 25)
    wrapped = open_video(ArrayFrames(frames), max_side=50)
    assert len(wrapped) == 2 and wrapped.size == (30, 50)
    np.testing.assert_array_equal(wrapped[1], video[1])


def _empty_mp4(path: Path) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(10))
        s.height, s.width = 16, 16
        s.pix_fmt = "yuv420p"


def test_bad_inputs_name_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("x")
    (tmp_path / "fake.mp4").write_text("this is not a video\n" * 20)
    _empty_mp4(tmp_path / "zero.mp4")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(mixed / "00000.png")
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(mixed / "00001.png")
    broken = tmp_path / "broken"
    broken.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(broken / "00000.jpg")
    (broken / "00001.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cases = {tmp_path / "missing.mp4": "missing.mp4", tmp_path / "empty": "empty", tmp_path / "text": "text",
             tmp_path / "fake.mp4": "fake.mp4", tmp_path / "zero.mp4": "zero.mp4", mixed: "00001.png",
             broken: "00001.jpg"}
    for source, name in cases.items():
        with pytest.raises(InputError, match=name):
            open_video(source)
    with pytest.raises(InputError, match="camera"):
        open_video(0)
    with pytest.raises(InputError, match="uint8"):
        open_video(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(InputError, match="out.mp4"):
        write_mp4(tmp_path / "out.mp4", [], fps=10)
    with pytest.raises(InputError, match="out.gif"):
        write_gif(tmp_path / "out.gif", [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], fps=10)
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.gif").exists()


@requires_shared
def test_real_mp4_and_folder():
    mp4 = open_video(REAL / "bedroom.mp4")
    folder = open_video(REAL / "bedroom")
    assert len(mp4) == len(folder) == 200
    assert mp4.size == folder.size == (540, 960)
    assert mp4.fps == pytest.approx(30.0)
    a, b = mp4[100].astype(int), folder[100].astype(int)
    assert np.abs(a - b).mean() < 4.0
    assert np.abs(a - b).mean() < np.abs(a - folder[60].astype(int)).mean() / 3
    np.testing.assert_array_equal(mp4[101], ContainerFrames(REAL / "bedroom.mp4")[101])
    assert open_video(REAL / "bedroom.mp4", max_side=480)[0].shape == (270, 480, 3)
