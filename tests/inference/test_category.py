"""Category-guided inference (VIS, VSS, VPS) over an open vocabulary, with the model overfitted to
video 0 of the synthetic world (conftest.py): first-frame detection, a new object (the hexagon)
picked up when it enters on frame 2, identities kept by the targets' own queries, stuff classes as
one target per class, semantic and panoptic maps, video-level VIS scores, and live streaming."""

from __future__ import annotations

import numpy as np
import pytest
from inference_helpers import iou

from univs.errors import InputError
from univs.inference import InferenceConfig, VideoSegmenter


@pytest.fixture(scope="module")
def seg(overfit) -> VideoSegmenter:
    return VideoSegmenter(overfit.model, device="cpu")


def run(seg, overfit, task: str, stuff: bool = True):
    """Every frame's result and the run's tracks."""
    segment = seg.segment(overfit.video.frames, task=task, vocabulary=overfit.vocabulary,
                          stuff=overfit.stuff if stuff else ())
    results = list(segment)
    return results, segment.tracks()


def best_match(results, overfit, track_id: int, t: int) -> tuple[int, float, int]:
    """(predicted id, IoU, class id) of the prediction that best covers GT track ``track_id`` on frame t."""
    _, r = results[t]
    scores = [iou(m, overfit.gt(track_id, t)) for m in r.masks]
    k = int(np.argmax(scores))
    return r.obj_ids[k], scores[k], int(r.class_ids[k])


def test_vps_things_stuff_and_new_objects(seg, overfit):
    results, tracks = run(seg, overfit, "vps")
    names = {tr.track_id: overfit.world.categories[tr.category_id].name for tr in overfit.video.tracks}
    for track in overfit.video.tracks:
        present = track.present_frames()
        ids = set()
        for t in present:
            pid, score, cls = best_match(results, overfit, track.track_id, t)
            assert score > (0.5 if t == present[0] else 0.7), (names[track.track_id], t, score)
            assert overfit.vocabulary[cls] == names[track.track_id]
            ids.add(pid)
        assert len(ids) == 1, (names[track.track_id], ids)  # one identity through the video
        (pid,) = ids
        if track.track_id == 2:  # the hexagon enters on frame 2: no target for it before
            assert all(pid not in r.obj_ids for _, r in results[:present[0]])
    for _, r in results:
        assert r.masks.sum(0).max() <= 1  # a panoptic map: one segment per pixel
    summary = {tr.obj_id: tr for tr in tracks}
    stuff_ids = {overfit.vocabulary.index(n) for n in overfit.stuff}
    assert {s.class_id for s in summary.values() if s.stuff} <= stuff_ids
    assert all(0 < s.score <= 1 and s.frames >= 1 for s in summary.values())


def test_vis_video_level_scores(seg, overfit):
    results, tracks = run(seg, overfit, "vis", stuff=False)
    by_id = {tr.obj_id: tr for tr in tracks}
    for track_id, name, frames in ((1, "square", 8), (2, "hexagon", 6)):
        pid, score, _ = best_match(results, overfit, track_id, 4)
        assert score > 0.7
        summary = by_id[pid]
        assert overfit.vocabulary[summary.class_id] == name and not summary.stuff
        assert summary.frames == frames and summary.score > 0.5
        others = [c for c, _ in summary.alternatives]
        assert len(others) == 2 and summary.class_id not in others and len(set(others)) == 2
        scores = [p for _, p in summary.class_scores()]
        assert scores == sorted(scores, reverse=True)
    one = VideoSegmenter(overfit.model, device="cpu", config=InferenceConfig(classes_per_track=1).for_task("vis"))
    single = run(one, overfit, "vis", stuff=False)[1]
    assert [(s.obj_id, s.class_id) for s in single] == [(s.obj_id, s.class_id) for s in tracks]
    assert all(not s.alternatives for s in single)


def test_vss_covers_every_pixel(seg, overfit):
    results, _ = run(seg, overfit, "vss")
    for t, r in results:
        assert (r.masks.sum(0) == 1).all()  # a semantic map: every pixel one class
        semantic = np.full((64, 96), -1)
        for m, c in zip(r.masks, r.class_ids):
            semantic[m] = c
        truth = np.full((64, 96), -2)
        for tr in overfit.video.tracks:
            truth[overfit.gt(tr.track_id, t)] = overfit.vocabulary.index(
                overfit.world.categories[tr.category_id].name)
        assert (semantic == truth).mean() > 0.9


def test_stream_matches_the_video_run(seg, overfit):
    results, _ = run(seg, overfit, "vps")
    stream = seg.stream(task="vps", vocabulary=overfit.vocabulary, stuff=overfit.stuff)
    for t, r in results:
        live = stream.step(np.asarray(overfit.video.frames[t]))
        assert live.obj_ids == r.obj_ids and (live.masks == r.masks).all()
    assert [s.obj_id for s in stream.tracks()] == [s.obj_id for s in run(seg, overfit, "vps")[1]]
    with pytest.raises(InputError, match="prompts belong to vos, pvos and refvos"):
        stream.add_prompt(obj_id=1, box=(0, 0, 4, 4))


def test_vocabulary_errors(seg, overfit):
    frames = overfit.video.frames
    with pytest.raises(InputError, match="need a vocabulary"):
        seg.segment(frames, task="vis", vocabulary=[])
    with pytest.raises(InputError, match="unknown category name.*'lava'"):
        seg.segment(frames, task="vps", vocabulary=overfit.vocabulary, stuff=["lava"])
    with pytest.raises(InputError, match="given twice: sky"):
        seg.segment(frames, task="vss", vocabulary=["sky", "sky"])
    with pytest.raises(InputError, match="task 'vos' is not one of vis, vss, vps"):
        seg.segment(frames, task="vos", vocabulary=["sky"])
