"""Held-out VOS validation: the held-out videos (DAVIS protocol), and J&F of known predictions."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from univs.config import DataConfig, DatasetSpec, SynthConfig, model_preset
from univs.data.mixture import load_mixture
from univs.engine.validation import ValidationSet, ValidationVideo, score_video, validate_vos
from univs.evaluation.davis import summarize
from univs.model.univs_model import build_model


def square_video() -> ValidationVideo:
    """6 frames of 40×40: object 1 moves right by a pixel a frame, object 2 stays."""
    labels = np.zeros((6, 40, 40), np.int32)
    for t in range(6):
        labels[t, 5:15, 5 + t:15 + t] = 1
        labels[t, 25:35, 20:30] = 2
    return ValidationVideo("v", np.zeros((6, 40, 40, 3), np.uint8), labels)


def test_scores_on_frames_between_first_and_last():
    video = square_video()
    objects = score_video(video, video.labels.copy())
    assert [(o.object_id, len(o.j)) for o in objects] == [(1, 4), (2, 4)]
    assert summarize(objects)[0]["J&F-Mean"] == 1.0

    pred = video.labels.copy()
    pred[pred == 2] = 0  # object 2 lost
    metrics, _ = summarize(score_video(video, pred))
    assert metrics["J-Mean"] == pytest.approx(0.5) and metrics["F-Mean"] == pytest.approx(0.5)

    pred = video.labels.copy()
    pred[pred == 1] = 0
    pred[:, 5:15, 5:15] = 1  # object 1 predicted where it was on frame 0
    j = score_video(video, pred)[0].j
    assert j == pytest.approx([(10 - t) / (10 + t) for t in range(1, 5)])  # overlap / union of the rows

    pred = video.labels.copy()
    pred[0] = 0
    pred[5] = 0  # the first and last frames do not count
    assert summarize(score_video(video, pred))[0]["J&F-Mean"] == 1.0


def test_validation_set_from_a_synthetic_world():
    spec = DatasetSpec(task="vos", synth=SynthConfig(videos=4, frames=10, size=(64, 80), seed=7))
    source = load_mixture(DataConfig(datasets=[spec])).train[0]
    val = ValidationSet.from_sources([source], max_videos=3)
    assert len(val.videos) == 3
    later = 0
    for video, v, targets in zip(val.videos, source.dataset.videos, source.targets):
        assert video.frames.shape == (10, 64, 80, 3) and video.labels.shape == (10, 64, 80)
        first = [g for g in range(len(targets.groups)) if targets.presence[g, 0]]
        later += len(targets.groups) - len(first)
        assert video.num_objects == len(first)
        for k, g in enumerate(first, 1):
            (track,) = targets.groups[g]
            assert np.array_equal(video.prompt_mask(k), v.tracks[track].mask(0))
            later_mask = v.tracks[track].mask(5)
            assert np.array_equal(video.labels[5] == k, np.zeros((64, 80), bool) if later_mask is None else later_mask)
    assert later > 0  # objects entering later exist and are left out


def test_worker_processes_score_as_this_process():
    spec = DatasetSpec(task="vos", synth=SynthConfig(videos=3, frames=6, size=(64, 80), seed=7))
    val = ValidationSet.from_sources(load_mixture(DataConfig(datasets=[spec])).train)
    cfg = model_preset("tiny")
    cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=False))
    torch.manual_seed(0)
    weights = build_model(cfg, verbose=False).state_dict()
    here = validate_vos(cfg, weights, val, torch.device("cpu"), workers=1)
    spread = validate_vos(cfg, weights, val, torch.device("cpu"), workers=2)
    assert spread == here
    assert 0.0 < here["J&F"] < 1.0


UNGUARDED_SCRIPT = """
import dataclasses, torch
from univs.config import DataConfig, DatasetSpec, SynthConfig, model_preset
from univs.data.mixture import load_mixture
from univs.engine.validation import ValidationSet, validate_vos
from univs.model.univs_model import build_model
spec = DatasetSpec(task="vos", synth=SynthConfig(videos=2, frames=4, size=(64, 80), seed=7))
val = ValidationSet.from_sources(load_mixture(DataConfig(datasets=[spec])).train)
cfg = model_preset("tiny")
cfg = dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, pretrained=False))
validate_vos(cfg, build_model(cfg, verbose=False).state_dict(), val, torch.device("cpu"), workers=2)
"""


def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    script = tmp_path / "train_script.py"
    script.write_text(UNGUARDED_SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith("univs.errors.UnivsError: the 2 validation worker processes died")
    assert 'if __name__ == "__main__":' in last_line
