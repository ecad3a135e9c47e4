"""Prompt simulation (univs.data.prompt_simulation): kinds, positives inside, negatives outside, caps."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from univs.config import PromptSimulationConfig
from univs.data.prompt_simulation import (
    VISUAL_KINDS,
    box_region,
    draw_points,
    negative_clicks,
    scribble_region,
    simulate_prompts,
    visual_prompt,
)

CFG = PromptSimulationConfig(max_prompts_per_frame=20, negative_prob=0.5)


def scene(num_objects=4, frames=3, size=(64, 80), seed=0) -> np.ndarray:
    """(M, T, H, W) bool: non-overlapping ellipses moving a little per frame."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((num_objects, frames, *size), bool)
    for m in range(num_objects):
        cx, cy = 12 + 18 * (m % 4), 14 + 30 * (m // 4)
        axes = (int(rng.integers(5, 9)), int(rng.integers(6, 12)))
        for t in range(frames):
            canvas = np.zeros(size, np.uint8)
            cv2.ellipse(canvas, (cx + t, cy), axes, 0.0, 0, 360, 1, -1)
            masks[m, t] = canvas.astype(bool)
    return masks


def pixels(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of (n, 2) pixel-centre points."""
    return np.floor(points[:, 1]).astype(int), np.floor(points[:, 0]).astype(int)


@pytest.mark.parametrize("kind", VISUAL_KINDS)
def test_each_kind_positives_inside_negatives_outside(kind):
    masks = scene()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        mask = masks[seed % 4, 1]
        p = visual_prompt(kind, mask, 0, 1, CFG, rng, negatives=True)
        assert p.kind == kind and p.region.shape == mask.shape and p.region.any()
        inside = mask if kind != "box" else box_region(mask)
        assert not (p.region & ~inside).any()
        if kind == "mask":
            assert np.array_equal(p.region, mask)
        if kind == "points":
            assert 1 <= p.region.sum() <= CFG.max_clicks
        if kind == "scribble":
            assert p.region.sum() < 0.6 * mask.sum()  # a thin stroke, not the object
        assert 1 <= len(p.negatives) <= CFG.max_negatives
        rows, cols = pixels(p.negatives)
        assert not mask[rows, cols].any()
        # near the object: within the ring around it
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        assert (dist[rows, cols] <= 2 + 0.15 * np.sqrt(mask.sum()) + 1).all()
        regions = draw_points([p], 64, rng)
        labels = regions.labels[0].numpy()
        pts = regions.points[0].numpy()
        assert regions.points.shape == (1, 64, 2) and int(regions.frame[0]) == 1
        rows, cols = pixels(pts[labels == 1])
        assert (labels == 1).sum() == min(p.region.sum(), 64 - len(p.negatives))
        assert p.region[rows, cols].all() and inside[rows, cols].all()
        rows, cols = pixels(pts[labels == 0])
        assert (labels == 0).sum() == len(p.negatives) and not mask[rows, cols].any()


def test_negatives_land_on_neighbours_or_background():
    mask = np.zeros((40, 40), bool)
    mask[10:20, 10:20] = True
    found = negative_clicks(mask, 200, np.random.default_rng(0))
    rows, cols = pixels(found)
    assert len(found) > 50 and not mask[rows, cols].any()
    assert rows.min() >= 10 - 3 and rows.max() < 20 + 3 and cols.min() >= 10 - 3 and cols.max() < 20 + 3
    assert len(negative_clicks(np.ones((8, 8), bool), 3, np.random.default_rng(0))) == 0


def test_scribble_is_a_stroke_inside_even_for_tiny_objects():
    rng = np.random.default_rng(3)
    single = np.zeros((20, 20), bool)
    single[7, 9] = True
    assert np.array_equal(scribble_region(single, rng), single)
    thin = np.zeros((30, 30), bool)
    thin[5:25, 14:16] = True
    stroke = scribble_region(thin, rng)
    assert stroke.any() and not (stroke & ~thin).any()


def test_vos_prompts_cover_every_kind_and_every_object():
    masks = scene(num_objects=5)
    valid = np.ones(masks.shape[:2], bool)
    kinds: Counter = Counter()
    with_negatives = 0
    for seed in range(40):
        prompts = simulate_prompts("vos", masks, valid, [], CFG, np.random.default_rng(seed))
        assert sorted(p.target for p in prompts) == list(range(5))
        for p in prompts:
            kinds[p.kind] += 1
            with_negatives += len(p.negatives) > 0
            assert masks[p.target, p.frame].any()  # the prompt lies on a frame where it is visible
    assert set(kinds) == set(VISUAL_KINDS)
    assert 0.3 < with_negatives / sum(kinds.values()) < 0.7


def test_kind_weights_select_kinds():
    masks = scene()
    cfg = PromptSimulationConfig(kind_weights={"box": 1.0, "scribble": 0.0})
    prompts = simulate_prompts("pvos", masks, np.ones(masks.shape[:2], bool), [], cfg, np.random.default_rng(0))
    assert {p.kind for p in prompts} == {"box"}
    with pytest.raises(ValueError, match="kind_weights"):
        simulate_prompts("vos", masks, np.ones(masks.shape[:2], bool), [],
                         PromptSimulationConfig(kind_weights={"lasso": 1.0}), np.random.default_rng(0))


def test_cap_per_frame():
    masks = scene(num_objects=8, frames=2)
    valid = np.ones(masks.shape[:2], bool)
    cfg = PromptSimulationConfig(max_prompts_per_frame=3)
    for seed in range(10):
        prompts = simulate_prompts("vos", masks, valid, [], cfg, np.random.default_rng(seed))
        per_frame = Counter(p.frame for p in prompts)
        assert len(prompts) == 6 and max(per_frame.values()) == 3
        # an object absent from frame 1 can only be prompted on frame 0
    only_first = masks.copy()
    only_first[:, 1] = False
    prompts = simulate_prompts("vos", only_first, valid, [], cfg, np.random.default_rng(0))
    assert len(prompts) == 3 and {p.frame for p in prompts} == {0}
    texts = [(f"expression {i}", i % 8) for i in range(12)]
    assert len(simulate_prompts("refvos", masks, valid, texts, cfg, np.random.default_rng(0))) == 3


def test_category_guided_prompts_are_masks_of_a_random_subset():
    masks = scene(num_objects=8)
    valid = np.ones(masks.shape[:2], bool)
    counts = []
    for seed in range(50):
        prompts = simulate_prompts("vis", masks, valid, [], CFG, np.random.default_rng(seed))
        assert all(p.kind == "mask" and np.array_equal(p.region, masks[p.target, p.frame]) for p in prompts)
        assert all(len(p.negatives) == 0 for p in prompts)
        counts.append(len(prompts))
    assert 0.35 < np.mean(counts) / 8 < 0.65 and min(counts) < max(counts)
    never = PromptSimulationConfig(category_prompt_prob=0.0)
    assert simulate_prompts("vps", masks, valid, [], never, np.random.default_rng(0)) == []


def test_unannotated_frames_carry_no_prompt():
    masks = scene(num_objects=3, frames=3)
    valid = np.zeros(masks.shape[:2], bool)
    valid[:, 2] = True
    for seed in range(5):
        prompts = simulate_prompts("vos", masks, valid, [], CFG, np.random.default_rng(seed))
        assert len(prompts) == 3 and {p.frame for p in prompts} == {2}


def test_refvos_texts_are_the_prompts():
    masks = scene(num_objects=2)
    texts = [("the left ellipse", 0), ("the right ellipse", 1), ("a thing not in this clip", -1)]
    prompts = simulate_prompts("refvos", masks, np.ones(masks.shape[:2], bool), texts, CFG,
                               np.random.default_rng(0))
    assert sorted((p.text, p.target) for p in prompts) == sorted(texts)
    assert all(p.kind == "text" and p.region is None for p in prompts)


def test_draw_points_pads_small_regions_and_samples_large_ones():
    region = np.zeros((10, 10), bool)
    region[2, 3] = region[5, 7] = True
    big = np.ones((10, 10), bool)
    prompts = [visual_prompt("mask", region, 0, 0, CFG, np.random.default_rng(0), negatives=False),
               visual_prompt("mask", big, 1, 2, CFG, np.random.default_rng(0), negatives=False)]
    regions = draw_points(prompts, 16, np.random.default_rng(0))
    labels = regions.labels.numpy()
    assert labels[0].tolist() == [1, 1] + [-1] * 14
    assert sorted(map(tuple, regions.points[0, :2].tolist())) == [(3.5, 2.5), (7.5, 5.5)]
    assert (labels[1] == 1).all() and len(set(map(tuple, regions.points[1].tolist()))) == 16
    assert regions.frame.tolist() == [0, 2]
