"""Prompt-guided inference (VOS, PVOS, RefVOS) through sessions and live streams, with the model
overfitted to video 0 of the synthetic world (see conftest.py): the square (track 1) is there from
frame 0, the hexagon (track 2) enters on frame 2, three stuff regions fill the background."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from inference_helpers import EXPRESSIONS, iou

from univs.config import InferenceConfig
from univs.errors import InputError
from univs.inference import VideoSegmenter
from univs.inference.engine import FrameEngine
from univs.inference.frames import Geometry
from univs.inference.prompt_tracker import PromptTracker
from univs.inference.prompts import TextPrompt
from univs.inference.postprocess import mask_boxes


@pytest.fixture(scope="module")
def seg(overfit) -> VideoSegmenter:
    return VideoSegmenter(overfit.model, device="cpu")


def box_of(mask: np.ndarray) -> tuple[float, ...]:
    return tuple(mask_boxes(torch.from_numpy(mask)[None])[0].tolist())


def inside_points(mask: np.ndarray, n: int, seed: int = 0) -> list[tuple[float, float, int]]:
    ys, xs = np.nonzero(mask)
    pick = np.random.default_rng(seed).choice(len(xs), n, replace=False)
    return [(float(xs[i]) + 0.5, float(ys[i]) + 0.5, 1) for i in pick]


def collect(iterator) -> dict[int, dict[int, np.ndarray]]:
    """frame → obj id → mask of everything a propagation yields."""
    return {t: dict(zip(r.obj_ids, r.masks)) for t, r in iterator}


def test_prompts_of_every_kind_on_any_frame(seg, overfit):
    """A mask on frame 0, a box on the frame the hexagon enters, clicks and a scribble for stuff:
    every target is followed from its prompt's frame on and absent before it."""
    sky, sand = 113, 117
    stroke = np.zeros((64, 96), bool)  # one row of the sand region
    row = np.nonzero(overfit.gt(sand, 3))[0]
    stroke[row[len(row) // 2]] = overfit.gt(sand, 3)[row[len(row) // 2]]
    with seg.session(overfit.video.frames) as s:
        assert s.num_frames == 8 and s.size == (64, 96)
        s.add_prompt(frame=0, obj_id=1, mask=overfit.gt(1, 0))
        s.add_prompt(frame=2, obj_id=2, box=box_of(overfit.gt(2, 2)))
        s.add_prompt(frame=1, obj_id=3, points=inside_points(overfit.gt(sky, 1), 4))
        s.add_prompt(frame=3, obj_id=4, scribble=stroke)
        assert s.obj_ids == [1, 3, 2, 4]
        out = collect(s.propagate())
    assert sorted(out) == list(range(8))
    for t, masks in out.items():
        assert list(masks) == [i for i, since in ((1, 0), (3, 1), (2, 2), (4, 3)) if t >= since]
        assert all(m.shape == (64, 96) and m.dtype == bool for m in masks.values())
    for obj, track, since in ((1, 1, 0), (2, 2, 2), (3, sky, 1), (4, sand, 3)):
        scores = [iou(out[t][obj], overfit.gt(track, t)) for t in range(since, 8)]
        assert min(scores) > 0.5 and np.mean(scores) > 0.8, (obj, scores)


def test_correction_reanchors_rewinds_and_remove_reset(seg, overfit):
    """A wrong prompt followed by a correction mid-video: the target follows the correction from
    its frame on (the propagation rewinds there), the other target is untouched; remove_object and
    reset forget targets."""
    with seg.session(overfit.video.frames) as s:
        s.add_prompt(frame=0, obj_id=1, mask=overfit.gt(113, 0))  # the sky, by mistake
        s.add_prompt(frame=2, obj_id=2, mask=overfit.gt(2, 2))
        first = collect(s.propagate())
        assert iou(first[6][1], overfit.gt(1, 6)) < 0.2
        assert s.cursor == 8
        s.add_prompt(frame=4, obj_id=1, mask=overfit.gt(1, 4))  # the square, corrected on frame 4
        again = collect(s.propagate())
        assert sorted(again) == [4, 5, 6, 7]  # rewound to the correction
        assert min(iou(again[t][1], overfit.gt(1, t)) for t in range(4, 8)) > 0.8
        assert min(iou(again[t][2], overfit.gt(2, t)) for t in range(4, 8)) > 0.8
        s.remove_object(2)
        assert s.obj_ids == [1]
        with pytest.raises(InputError, match="no object 2"):
            s.remove_object(2)
        s.reset()
        assert s.obj_ids == [] and s.cursor == 0
        s.add_prompt(frame=1, obj_id=7, points=inside_points(overfit.gt(1, 1), 3))
        out = collect(s.propagate(end=4))
    assert sorted(out) == [0, 1, 2, 3] and out[0] == {}
    assert min(iou(out[t][7], overfit.gt(1, t)) for t in (1, 2, 3)) > 0.7


def test_pvos_things_and_stuff_together(overfit):
    """PVOS: thing and stuff targets prompted by masks together, disjoint outputs, each followed."""
    seg = VideoSegmenter(overfit.model, device="cpu")
    tracks = [tr.track_id for tr in overfit.video.tracks if 0 in tr.present_frames()]
    with seg.session(overfit.video.frames, task="pvos") as s:
        for k in tracks:
            s.add_prompt(frame=0, obj_id=k, mask=overfit.gt(k, 0))
        out = collect(s.propagate())
    for t in range(8):
        stacked = np.stack(list(out[t].values()))
        assert stacked.sum(0).max() <= 1  # pixel competition: one target per pixel
        assert min(iou(out[t][k], overfit.gt(k, t)) for k in tracks) > 0.7


def test_refvos_text_prompts(overfit):
    """RefVOS: each expression is one target; it finds its object, the entering hexagon only once
    it is there, and expression scores rank the right object."""
    seg = VideoSegmenter(overfit.model, device="cpu")
    with seg.session(overfit.video.frames, task="refvos") as s:
        for track, text in EXPRESSIONS.items():
            s.add_prompt(frame=0, obj_id=track, text=text)
        results = list(s.propagate())
    for t, r in results:
        masks = dict(zip(r.obj_ids, r.masks))
        assert iou(masks[1], overfit.gt(1, t)) > 0.7
        if t >= 3:
            assert iou(masks[2], overfit.gt(2, t)) > 0.6
        assert r.class_ids.tolist() == [-1, -1]


def test_text_target_regrounds_when_its_memory_drifts(overfit):
    """The square's expression with its memory filled on frame 2 by slots of the hexagon: without
    re-grounding it follows the hexagon on frame 3; with it, its expression alone wins, the
    hexagon's slots are forgotten and it is back on the square."""
    frames = [np.asarray(f) for f in overfit.video.frames]
    outcome = {}
    for reground in (None, 0.3):
        cfg = dataclasses.replace(InferenceConfig().for_task("refvos"), regrounding_iou=reground)
        engine = FrameEngine(overfit.model, cfg, torch.device("cpu"), num_points=32)
        tracker = PromptTracker(engine, Geometry.of(frames[0].shape[:2], cfg.short_side, engine.mask_stride), cfg)
        for t in range(3):
            tracker.step(t, frames[t], {1: TextPrompt(EXPRESSIONS[1], 0)} if t == 0 else {})
        memory = tracker.targets[1].memory
        for _ in range(cfg.memory_slots):
            memory.add_slot(engine.mask_slots(torch.from_numpy(overfit.gt(2, 2))[None])[0])
        r = tracker.step(3, frames[3], {})
        outcome[reground] = iou(r.masks[0], overfit.gt(1, 3)), iou(r.masks[0], overfit.gt(2, 3)), len(memory.recent)
    (square_off, hexagon_off, _), (square_on, hexagon_on, slots_on) = outcome[None], outcome[0.3]
    assert hexagon_off > 0.5 and square_off < 0.2, outcome
    assert square_on > 0.7 and hexagon_on < 0.1 and slots_on == 1, outcome
    with pytest.raises(InputError, match="regrounding_iou must be an IoU"):
        InferenceConfig(regrounding_iou=1.5)


def test_stream_step_follows_prompts(overfit):
    """Live input: frames one at a time, a prompt for the next frame, results at once."""
    stream = VideoSegmenter(overfit.model, device="cpu").stream(task="vos")
    frames = overfit.video.frames
    stream.add_prompt(obj_id=5, mask=overfit.gt(1, 0))
    scores = []
    for t in range(8):
        if t == 2:
            stream.add_prompt(obj_id=6, box=box_of(overfit.gt(2, 2)))
        r = stream.step(np.asarray(frames[t]))
        assert r.frame_idx == t and stream.frame_idx == t + 1
        assert r.obj_ids == ([5] if t < 2 else [5, 6])
        scores.append(iou(r.masks[0], overfit.gt(1, t)))
        if t >= 2:
            scores.append(iou(r.masks[1], overfit.gt(2, t)))
    assert min(scores) > 0.5 and np.mean(scores) > 0.8, scores
    with pytest.raises(InputError, match="must be an \\(H, W, 3\\) uint8"):
        stream.step(np.zeros((64, 96), np.uint8))
    with pytest.raises(InputError, match="the video is 96x64"):
        stream.step(np.zeros((32, 32, 3), np.uint8))
