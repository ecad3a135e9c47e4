"""``univs demo`` with the shipped model: every output opened and checked, the scores real."""

from __future__ import annotations

import json

import numpy as np
import pytest

from univs.checkpoint import DEFAULT_CHECKPOINT, shipped_checkpoints
from univs.cli import main
from univs.data.formats import read_format
from univs.data.video import open_video
from univs.demo import RUNS, prompt_of_kind
from univs.inference.run import PromptInput

pytestmark = pytest.mark.skipif(DEFAULT_CHECKPOINT not in shipped_checkpoints(),
                                reason="the shipped checkpoint is not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--frames", "10", "--runs", "vos-mask,vos-box,vis,refvos",
                 "--device", "cpu", "--quiet"]) == 0
    return out


def test_metrics_are_written_and_the_shipped_model_tracks(demo):
    report = json.loads((demo / "metrics.json").read_text())
    assert report["world"]["seed"] == 0 and report["checkpoint"] == DEFAULT_CHECKPOINT
    runs = report["runs"]
    assert list(runs) == ["vis", "vos-mask", "vos-box", "refvos"]
    for name, run in runs.items():
        assert 0.0 <= run["value"] <= 1.0, name
        assert run["frames"] > 0
    # the shipped model follows mask prompts through a video it never saw
    assert runs["vos-mask"]["value"] > 0.5


def test_overlays_hold_every_frame(demo):
    for name in ("vis", "vos-mask", "vos-box", "refvos"):
        for suffix in (".mp4", ".gif"):
            video = open_video(demo / "overlays" / f"{name}{suffix}")
            assert len(video) == 10
            assert video[0].shape == (128, 160, 3)


def test_predictions_are_native_and_match_the_ground_truth_videos(demo):
    gt = read_format("davis", demo / "gt" / "davis")
    pred = sorted(p.name for p in (demo / "pred" / "vos-mask" / "vid0000").iterdir())
    assert pred == [f"{name}.png" for name in gt.videos[0].frame_names]
    results = json.loads((demo / "pred" / "vis" / "results.json").read_text())
    assert all(r["video_id"] == 1 and len(r["segmentations"]) == 10 for r in results)


def test_prompt_kinds_stay_on_the_object():
    mask = np.zeros((40, 50), bool)
    mask[10:30, 5:25] = True
    base = PromptInput(frame=3, obj_id=2, mask=mask)
    rng = np.random.default_rng(0)
    assert prompt_of_kind(base, "box", rng).box == (5.0, 10.0, 25.0, 30.0)
    points = prompt_of_kind(base, "points", rng).points
    assert len(points) == 3 and all(mask[int(y), int(x)] and label == 1 for x, y, label in points)
    scribble = prompt_of_kind(base, "scribble", rng)
    assert scribble.frame == 3 and scribble.obj_id == 2
    assert scribble.scribble.any() and not (scribble.scribble & ~mask).any()
    assert {r.task for r in RUNS} == {"vis", "vss", "vps", "vos", "pvos", "refvos"}
