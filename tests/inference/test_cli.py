"""``univs segment`` end to end: runs on a frame folder whose outputs are opened and checked, every
prompt option, category-guided runs, a dataset split, and bad input reported as one line with exit
code 2 (never a traceback), before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import EXPRESSIONS, iou
from PIL import Image

from univs.cli import main
from univs.data.formats import write_format
from univs.data.formats.common import read_index_png, read_rgb_ids
from univs.data.overlay import render_overlay
from univs.data.synth import task_view
from univs.data.types import VideoDataset
from univs.data.video import open_video
from univs.inference import cli as segment_cli


@pytest.fixture(scope="module")
def clip(overfit, tmp_path_factory) -> Path:
    """Video 0 as a DAVIS root: JPEGImages/480p/vid0000/*.jpg and its first-frame palette mask."""
    root = tmp_path_factory.mktemp("davis")
    part = VideoDataset("world", overfit.world.videos[:1], overfit.world.categories, overfit.world.meta)
    write_format("davis", task_view(part, "vos"), root)
    return root


def segment(overfit, clip: Path, out: Path, *args: str) -> int:
    return main(["segment", str(clip / "JPEGImages/480p/vid0000"), "--out", str(out), "--checkpoint",
                 str(overfit.checkpoint), "--quiet", *args])


def read_ids(out: Path, t: int) -> np.ndarray:
    return read_index_png(out / "vid0000" / f"{t:05d}.png")


def test_vos_mask_prompt_with_overlay_and_raw(overfit, clip, tmp_path):
    out = tmp_path / "pred"
    mask = clip / "Annotations/480p/vid0000/00000.png"
    assert segment(overfit, clip, out, "--task", "vos", "--mask", str(mask), "--frame", "0", "--raw",
                   "--overlay", str(tmp_path / "overlay.mp4"), "--overlay", str(tmp_path / "overlay.gif")) == 0
    for t in range(8):
        ids = read_ids(out, t)
        assert iou(ids == 1, overfit.gt(1, t)) > 0.8
        assert (read_rgb_ids(out / "raw" / "vid0000" / f"{t:05d}.png") == ids).all()
    mp4, gif = open_video(tmp_path / "overlay.mp4"), open_video(tmp_path / "overlay.gif")
    assert len(mp4) == len(gif) == 8 and tuple(mp4.size) == tuple(gif.size) == (64, 96)
    # the GIF is rendered from the frames, not re-encoded from the lossy mp4
    frames = open_video(clip / "JPEGImages/480p/vid0000")
    drawn = [render_overlay(np.asarray(frames[t]), read_ids(out, t)).astype(float) for t in range(8)]
    gif_error = np.mean([np.abs(gif[t] - drawn[t]).mean() for t in range(8)])
    assert gif_error < np.mean([np.abs(mp4[t] - drawn[t]).mean() for t in range(8)])


def test_vos_points_box_scribble(overfit, clip, tmp_path):
    ys, xs = np.nonzero(overfit.gt(1, 0))
    clicks = ";".join(f"{x + 0.5},{y + 0.5},1" for x, y in list(zip(xs, ys))[:: len(xs) // 4][:4])
    assert segment(overfit, clip, tmp_path / "points", "--task", "vos", "--points", clicks, "--obj-id", "3") == 0
    assert np.mean([iou(read_ids(tmp_path / "points", t) == 3, overfit.gt(1, t)) for t in range(8)]) > 0.8
    ys, xs = np.nonzero(overfit.gt(2, 4))
    box = f"{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}"
    assert segment(overfit, clip, tmp_path / "box", "--task", "vos", "--box", box, "--frame", "4") == 0
    assert not read_ids(tmp_path / "box", 3).any()  # nothing before the prompt's frame
    assert min(iou(read_ids(tmp_path / "box", t) == 1, overfit.gt(2, t)) for t in range(4, 8)) > 0.8
    stroke = np.zeros((64, 96, 3), np.uint8)
    row = np.nonzero(overfit.gt(113, 0))[0]
    stroke[row[len(row) // 2], overfit.gt(113, 0)[row[len(row) // 2]]] = 255
    Image.fromarray(stroke).save(tmp_path / "stroke.png")
    assert segment(overfit, clip, tmp_path / "scribble", "--task", "vos", "--scribble",
                   str(tmp_path / "stroke.png")) == 0
    assert np.mean([iou(read_ids(tmp_path / "scribble", t) == 1, overfit.gt(113, t)) for t in range(8)]) > 0.8


def test_refvos_text_and_vps_classes(overfit, clip, tmp_path):
    out = tmp_path / "ref"
    assert segment(overfit, clip, out, "--task", "refvos", "--text", EXPRESSIONS[1]) == 0
    masks = [read_index_png(out / "vid0000" / "0" / f"{t:05d}.png") > 0 for t in range(8)]
    assert min(iou(m, overfit.gt(1, t)) for t, m in enumerate(masks)) > 0.8
    out = tmp_path / "vps"
    assert segment(overfit, clip, out, "--task", "vps", "--classes", ",".join(overfit.vocabulary),
                   "--stuff", ",".join(overfit.stuff)) == 0
    segments = json.loads((out / "pred.json").read_text())["annotations"][0]["annotations"]
    assert len(segments) == 8
    pan = read_rgb_ids(out / "pan_pred" / "vid0000" / "00004.png")
    names = {s["id"]: overfit.vocabulary[s["category_id"] - 1] for s in segments[4]["segments_info"]}
    for tr in overfit.video.tracks:
        name = overfit.world.categories[tr.category_id].name
        best = max(names, key=lambda i: iou(pan == i, overfit.gt(tr.track_id, 4)))
        assert names[best] == name and iou(pan == best, overfit.gt(tr.track_id, 4)) > 0.7


def test_dataset_split_from_the_command_line(overfit, clip, tmp_path, capsys):
    out = tmp_path / "pred"
    args = ["segment", "--dataset", str(clip), "--task", "vos", "--out", str(out), "--checkpoint",
            str(overfit.checkpoint)]
    assert main(args) == 0
    assert "1 videos segmented (8 frames), 0 already done; split complete" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 videos segmented (0 frames), 1 already done" in capsys.readouterr().out
    assert iou(read_ids(out, 7) == 1, overfit.gt(1, 7)) > 0.8


BAD = [
    (["--task", "vos", "--mask", "EMPTY"], "prompt mask is empty"),
    (["--task", "vos", "--points", "500,10"], "point (500, 10) on frame 0 lies outside the 96x64 (WxH) frame"),
    (["--task", "vos", "--box", "10,10,200,30"], "is not a box inside the 96x64 (WxH) frame"),
    (["--task", "vos", "--box", "10,10,20"], "--box needs 4 numbers"),
    (["--task", "refvos", "--text", "  "], "text prompt on frame 0 is empty"),
    (["--task", "vps", "--classes", "sky,road", "--stuff", "lava"], "unknown category name(s) 'lava'"),
    (["--task", "vis", "--classes", "sky,,road"], "empty category name"),
    (["--task", "vos", "--points", "5,5", "--frame", "8"], "frame 8 is past the end of the video (frames 0..7)"),
    (["--task", "vos"], "task vos needs exactly one prompt option"),
    (["--task", "vis"], "task vis needs --classes"),
    (["--task", "vos", "--points", "5,5", "--device", "gpu"], "unknown device 'gpu'"),
    (["--task", "vos", "--text", "the square"], "use --task refvos"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[m[:24] for _, m in BAD])
def test_bad_input_is_one_clear_line(args, message, overfit, clip, tmp_path, capsys):
    Image.fromarray(np.zeros((64, 96), np.uint8), mode="L").save(tmp_path / "empty.png")
    args = [str(tmp_path / "empty.png") if a == "EMPTY" else a for a in args]
    out = tmp_path / "pred"
    assert segment(overfit, clip, out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("univs segment: error: ") and message in err and "\n" not in err, err
    assert not out.exists()  # nothing written


def test_bad_sources_and_checkpoints(overfit, tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    cases = [
        ([str(tmp_path / "broken.mp4"), "--checkpoint", str(overfit.checkpoint)], "not a readable video"),
        ([str(tmp_path / "missing")], "no such file or folder"),
        ([str(tmp_path / "broken.mp4"), "--checkpoint", str(tmp_path / "none.safetensors")],
         "not a readable video"),
    ]
    for args, message in cases:
        assert main(["segment", *args, "--task", "vos", "--points", "1,1", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(frames / "00000.png")
    assert main(["segment", str(frames), "--task", "vos", "--points", "1,1", "--out", str(tmp_path / "o"),
                 "--checkpoint", str(tmp_path / "none.safetensors")]) == 2
    assert "none.safetensors: no such checkpoint file" in capsys.readouterr().err
    monkeypatch.setattr(segment_cli, "shipped_checkpoints", dict)  # a copy without the shipped model
    assert main(["segment", str(frames), "--task", "vos", "--points", "1,1", "--out", str(tmp_path / "o")]) == 2
    assert "pass --checkpoint" in capsys.readouterr().err
    assert main(["segment", "--dataset", str(frames), "--task", "vos", "--points", "1,1", "--out",
                 str(tmp_path / "o")]) == 2
    assert "--points do not apply to --dataset runs" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
