"""Native outputs: dataset splits segmented in their benchmark layout and scored by ``univs eval``
(every task), an interrupted dataset run resumed, and sharding across processes. The split is
video 0 of the synthetic world the model was overfitted to (conftest.py), written by
``univs.data.formats``; the numbers ``univs eval`` reports show the outputs were read as meant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import EXPRESSIONS

from univs.cli import main
from univs.data.formats import write_format
from univs.data.synth import task_view
from univs.data.types import VideoDataset
from univs.inference import VideoSegmenter
from univs.inference import dataset as dataset_module
from univs.inference.dataset import Shard, run_dataset
from univs.data.video import open_video
from univs.inference.types import FrameResult, TrackSummary
from univs.inference.writers import PredictionWriter, VideoSpec, is_done

# task → (dataset format, the folder under its root that ``univs eval --gt`` takes, prediction
# path under the output folder, metric, least value)
CASES = {
    "vos": ("davis", "", "", "J&F-Mean", 0.8),
    "pvos": ("viposeg", "valid", "", "thing_seen_miou", 0.8),
    "refvos": ("mevis", "train", "", None, 0.8),  # per expression: the model learnt two
    "vis": ("ytvis", "train.json", "results.json", "AP", 0.8),
    "vps": ("vipseg", "", "", "VPQ", 80.0),  # percent, as the official tool prints it
    "vss": ("vspw", "", "", "mIoU", 0.8),
}


@pytest.fixture(scope="module")
def seg(overfit) -> VideoSegmenter:
    return VideoSegmenter(overfit.model, device="cpu")


def write_split(world: VideoDataset, fmt: str, task: str, root: Path, videos: int = 1) -> Path:
    part = VideoDataset(world.name, world.videos[:videos], world.categories, world.meta)
    write_format(fmt, task_view(part, task), root)
    return root


def evaluate(task: str, gt: Path, pred: Path, tmp: Path) -> dict:
    report = tmp / f"{task}.json"
    assert main(["eval", "--task", task, "--gt", str(gt), "--pred", str(pred), "--json", str(report),
                 "--workers", "1", "--quiet"]) == 0
    return json.loads(report.read_text())


@pytest.mark.parametrize("task", list(CASES))
def test_dataset_run_is_scored_by_univs_eval(task, seg, overfit, tmp_path, capsys):
    fmt, gt_sub, pred_sub, metric, least = CASES[task]
    root = write_split(overfit.world, fmt, task, tmp_path / fmt)
    out = tmp_path / "pred"
    report = run_dataset(seg, root, task, out, quiet=True)  # the format told from the layout (MeViS here)
    assert (report.processed, report.complete) == (1, True)
    result = evaluate(task, root / gt_sub, out / pred_sub, tmp_path)
    if task == "refvos":
        learnt = [f"vid0000_{e.exp_id}" for e in overfit.video.expressions if e.text in EXPRESSIONS.values()]
        assert len(learnt) == 2
        assert all(result["per_expression"][e]["J"] > least for e in learnt), result["per_expression"]
    else:
        assert result[metric] > least, result


def test_interrupted_dataset_run_resumes(seg, overfit, tmp_path, monkeypatch):
    """A run cut short in its second video leaves the first done and the second unmarked; the rerun
    segments only the second, and the split is then complete and scored."""
    root = write_split(overfit.world, "davis", "vos", tmp_path / "davis", videos=2)
    out = tmp_path / "pred"
    calls: list[str] = []
    real = dataset_module.run_video

    def cut(segmenter, job, writer, **kw):
        calls.append(job.spec.name)
        if len(calls) == 2:
            session = segmenter.session(job.source)
            writer.begin(job.spec)
            for t, result in session.propagate():  # a frame written, then the interruption
                writer.add(t, result)
                raise KeyboardInterrupt
        return real(segmenter, job, writer, **kw)

    monkeypatch.setattr(dataset_module, "run_video", cut)
    with pytest.raises(KeyboardInterrupt):
        run_dataset(seg, root, "vos", out, quiet=True)
    assert is_done(out, "vid0000") and not is_done(out, "vid0001")
    assert (out / "vid0001" / "00000.png").is_file() and not (out / "vid0001" / "00001.png").exists()
    report = run_dataset(seg, root, "vos", out, quiet=True)
    assert calls == ["vid0000", "vid0001", "vid0001"]
    assert (report.processed, report.skipped, report.frames, report.complete) == (1, 1, 8, True)
    assert sorted(p.name for p in (out / "vid0001").iterdir()) == [f"{t:05d}.png" for t in range(8)]
    again = run_dataset(seg, root, "vos", out, quiet=True)
    assert (again.processed, again.skipped, again.complete) == (0, 2, True)
    assert evaluate("vos", root, out, tmp_path)["per_object"]["vid0000_1"]["J-Mean"] > 0.8


def test_shards_split_the_videos_and_the_last_joins_the_json(seg, overfit, tmp_path):
    """Two ranks (as torchrun runs them) take alternate videos; the split's results.json appears
    once both have finished."""
    root = write_split(overfit.world, "ytvis", "vis", tmp_path / "ytvis", videos=2)
    out = tmp_path / "pred"
    first = run_dataset(seg, root, "vis", out, quiet=True, shard=Shard(1, 2))
    assert (first.shard, first.processed, first.complete) == (1, 1, False)
    assert is_done(out, "vid0001") and not (out / "results.json").exists()
    second = run_dataset(seg, root, "vis", out, quiet=True, shard=Shard(0, 2))
    assert (second.processed, second.complete) == (1, True)
    entries = json.loads((out / "results.json").read_text())
    assert {e["video_id"] for e in entries} == {1, 2}
    assert evaluate("vis", root / "train.json", out / "results.json", tmp_path)["AP"] > 0.3


def test_a_failed_overlay_does_not_strand_the_others(tmp_path):
    (tmp_path / "file").write_text("")  # the first overlay's folder is a file: its encoder fails
    masks = np.zeros((1, 16, 24), bool)
    masks[0, 4:12, 6:18] = True
    writer = PredictionWriter(tmp_path / "pred", "davis", overlay=[tmp_path / "file" / "a.mp4", tmp_path / "b.gif"])
    writer.begin(VideoSpec("v", (16, 24)), fps=5)
    for t in range(3):
        writer.add(t, FrameResult(t, masks, [1], np.ones(1, np.float32), np.full(1, -1)),
                   np.full((16, 24, 3), 60 * t, np.uint8))  # distinct frames: a GIF merges repeats
    writer.end()
    with pytest.raises(OSError):
        writer.close()
    assert len(open_video(tmp_path / "b.gif")) == 3


def test_vis_results_hold_one_entry_per_reported_class(tmp_path):
    """A track's alternatives become further YouTube-VIS entries with the same masks, best first."""
    masks = np.zeros((1, 16, 24), bool)
    masks[0, 4:12, 6:18] = True
    track = TrackSummary(obj_id=1, class_id=0, score=0.7, frames=2, alternatives=((2, 0.2), (1, 0.05)))
    writer = PredictionWriter(tmp_path, "ytvis")
    writer.begin(VideoSpec("v", (16, 24), video_id=7, category_ids=[11, 12, 13]), fps=5)
    for t in range(2):
        writer.add(t, FrameResult(t, masks, [1], np.ones(1, np.float32), np.zeros(1, np.int64)))
    writer.end([track])
    assert writer.finalize(["v"])
    entries = json.loads((tmp_path / "results.json").read_text())
    assert [(e["category_id"], e["score"]) for e in entries] == [(11, 0.7), (13, 0.2), (12, 0.05)]
    assert all(e["video_id"] == 7 and e["segmentations"] == entries[0]["segmentations"] for e in entries)
    assert len(entries[0]["segmentations"]) == 2 and entries[0]["segmentations"][0] is not None
