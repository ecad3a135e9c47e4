"""Mixture batch sampler (univs.data.sampling): ratios, one dataset per batch, seeds, DDP shards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from univs.data.sampling import MixtureBatchSampler, SourceIndex, VideoIndex, sample_clip_frames
from univs.errors import InputError


def video(length: int, every: int = 1, visible: tuple[int, int] | None = None) -> VideoIndex:
    """A video annotated on every ``every``-th frame; objects visible on frames [a, b) (default all)."""
    annotated = np.arange(0, length, every)
    lo, hi = visible or (0, length)
    return VideoIndex(annotated, annotated[(annotated >= lo) & (annotated < hi)])


def sources() -> list[SourceIndex]:
    return [SourceIndex("a", 1.0, [video(30), video(12)]),
            SourceIndex("b", 2.0, [video(50, every=5), video(40, every=5, visible=(20, 30))]),
            SourceIndex("c", 5.0, [video(1), video(8), VideoIndex(np.arange(8), np.zeros(0, np.int64))])]


def batches(sampler: MixtureBatchSampler) -> list[tuple]:
    return [tuple((r.source, r.video, r.frames, r.seed) for r in b) for b in sampler]


def test_ratios_converge_and_batches_are_single_dataset():
    sampler = MixtureBatchSampler(sources(), batch_size=3, num_frames=2, frame_range=10,
                                  batches_per_epoch=4000, seed=0)
    counts = Counter()
    for batch in sampler:
        assert len(batch) == 3
        assert len({ref.source for ref in batch}) == 1
        counts[batch[0].source] += 1
    freq = np.array([counts[i] for i in range(3)]) / 4000
    assert np.allclose(freq, [1 / 8, 2 / 8, 5 / 8], atol=0.025)


def test_clips_have_sorted_annotated_frames_within_range_around_a_visible_anchor():
    srcs = sources()
    sampler = MixtureBatchSampler(srcs, batch_size=2, num_frames=4, frame_range=20,
                                  batches_per_epoch=500, seed=1)
    for batch in sampler:
        for ref in batch:
            v = srcs[ref.source].videos[ref.video]
            assert len(v.anchors) > 0  # the video without visible objects is never drawn
            assert len(ref.frames) == 4 and list(ref.frames) == sorted(ref.frames)
            assert set(ref.frames) <= set(v.annotated.tolist())  # every-5th datasets: annotated only
            assert set(ref.frames) & set(v.anchors.tolist())
            assert max(ref.frames) - min(ref.frames) < 20
            if len(v.annotated) >= 20:  # enough annotated frames: no repeats
                assert len(set(ref.frames)) == 4


def test_sample_clip_frames_repeats_only_when_needed_and_single_images():
    rng = np.random.default_rng(0)
    short = video(2)
    frames = sample_clip_frames(short, 4, 40, rng)
    assert set(frames) <= {0, 1}
    assert len(frames) == 4 and list(frames) == sorted(frames)
    late = video(60, visible=(55, 56))
    for _ in range(50):
        frames = sample_clip_frames(late, 7, 40, rng)
        assert 55 in frames and len(set(frames)) == 7 and frames[0] >= 55 - 39
    assert sample_clip_frames(late, 1, 40, rng) == (55,)


def test_deterministic_with_seed_and_epoch():
    def make(seed: int) -> MixtureBatchSampler:
        return MixtureBatchSampler(sources(), 2, 3, 10, batches_per_epoch=50, seed=seed)

    first, again, other = make(0), make(0), make(1)
    assert batches(first) == batches(again)
    assert batches(first) == batches(first)  # iterating twice gives the same epoch
    assert batches(first) != batches(other)
    again.set_epoch(1)
    assert batches(first) != batches(again)


def test_ddp_ranks_draw_different_clips_that_shard_the_global_stream():
    world = [MixtureBatchSampler(sources(), 2, 3, 10, batches_per_epoch=40, seed=7, rank=r, world_size=3)
             for r in range(3)]
    single = batches(MixtureBatchSampler(sources(), 2, 3, 10, batches_per_epoch=120, seed=7))
    per_rank = [batches(s) for s in world]
    assert all(len(b) == 40 for b in per_rank)
    assert per_rank[0] != per_rank[1] != per_rank[2]
    clips = [{clip for batch in b for clip in batch} for b in per_rank]
    assert not (clips[0] & clips[1]) and not (clips[1] & clips[2])  # distinct seeds: distinct clips
    for r in range(3):
        assert per_rank[r] == single[r::3]


def test_bad_mixtures_are_input_errors():
    empty = SourceIndex("empty", 1.0, [VideoIndex(np.arange(5), np.zeros(0, np.int64))])
    with pytest.raises(InputError, match="'empty'"):
        MixtureBatchSampler([empty], 1, 1, 1, 1)
    with pytest.raises(InputError, match="ratio"):
        MixtureBatchSampler([SourceIndex("z", 0.0, [video(3)])], 1, 1, 1, 1)
    with pytest.raises(InputError, match="frame_range"):
        MixtureBatchSampler(sources(), 2, 5, 4, 1)
    with pytest.raises(InputError, match="no dataset"):
        MixtureBatchSampler([], 2, 1, 1, 1)
