"""Learning: the tiny model overfits one synthetic clip (issue 4 acceptance).

The clip comes from the synthetic world (``univs.data.synth``): 3 frames of 96×128, every track
visible on the first frame (shapes and stuff) is a target, the vocabulary is every category of
the world (18 names). Mask prompts on the first frame (fresh random points every step, as in training) are supervised
on every frame of the clip with the project's criterion (``univs.losses.SetCriterion``: both
streams, deep supervision); the learnable queries learn to detect the same objects. After
training, a newly sampled prompt must give a mask IoU > 0.9 for every target over the clip's
frames, and the target's category must score highest in the open vocabulary.
"""

from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F

from univs.config import model_preset
from univs.data.synth import SynthConfig, generate_world
from univs.losses import SetCriterion
from univs.model import ClipPrompts, ClipTargets, build_model, sample_mask_prompt

MAX_STEPS = 400
CHECK_EVERY = 25
NUM_POINTS = 32  # R, prompt points per target


def synthetic_clip(frames: int = 3, size: tuple[int, int] = (96, 128), seed: int = 0):
    """One clip of the synthetic world: images (T, 3, H, W) in 0..255, the masks (M, T, H, W) of
    every track visible on the first frame (things and stuff), their class ids (M,) into the
    vocabulary, and the vocabulary (every category name of the world)."""
    world = generate_world(SynthConfig(videos=1, frames=frames, size=size, seed=seed, min_things=3, max_things=4))
    video = world.videos[0]
    ids = sorted(world.categories)
    vocabulary = [world.categories[i].name for i in ids]
    images = torch.stack([torch.from_numpy(video.frames[t]).permute(2, 0, 1).float() for t in range(frames)])
    tracks = [tr for tr in video.tracks if tr.masks[0] is not None]
    masks = torch.zeros(len(tracks), frames, *size, dtype=torch.bool)
    for m, tr in enumerate(tracks):
        for t in range(frames):
            if tr.masks[t] is not None:
                masks[m, t] = torch.from_numpy(tr.mask(t).astype(bool))
    classes = torch.tensor([ids.index(tr.category_id) for tr in tracks])
    return images, masks, classes, vocabulary


def evaluate(model, images, masks, classes, vocabulary) -> tuple[list[float], list[bool]]:
    """Per-target IoU over all frames and whether the right class is ranked first."""
    model.eval()
    regions = sample_mask_prompt(masks[:, 0], 0, NUM_POINTS, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        out = model(images[None], [ClipPrompts(regions=regions)], vocabulary)
    model.train()
    logits = F.interpolate(out.prompt[-1].mask_logits[0], size=masks.shape[-2:], mode="bilinear",
                           align_corners=False)
    pred = logits > 0
    inter = (pred & masks).flatten(1).sum(1).float()
    union = (pred | masks).flatten(1).sum(1).float()
    top = out.prompt[-1].class_logits[0].argmax(-1)
    return (inter / union).tolist(), (top == classes).tolist()


def test_tiny_overfits_one_clip():
    torch.manual_seed(0)
    images, masks, classes, vocabulary = synthetic_clip()
    t, m = images.shape[0], masks.shape[0]
    cfg = model_preset("tiny")
    model = build_model(cfg, verbose=False)
    model.train()
    criterion = SetCriterion(dataclasses.replace(cfg.loss, num_points=2048))
    target = ClipTargets(masks=masks, classes=classes, track_ids=torch.arange(m),
                         valid=torch.ones(m, t, dtype=torch.bool), prompt_targets=torch.arange(m))
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    others = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    optimizer = torch.optim.AdamW([{"params": backbone, "lr": 1e-4}, {"params": others, "lr": 1e-3}],
                                  weight_decay=0.05)
    start = time.perf_counter()
    for step in range(1, MAX_STEPS + 1):
        regions = sample_mask_prompt(masks[:, 0], 0, NUM_POINTS)
        out = model(images[None], [ClipPrompts(regions=regions)], vocabulary)
        loss = criterion(out, [target], out.reid_temperature)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % CHECK_EVERY == 0:
            ious, right = evaluate(model, images, masks, classes, vocabulary)
            if min(ious) > 0.9 and all(right):
                break
    elapsed = time.perf_counter() - start
    print(f"overfit: {step} steps in {elapsed:.1f} s, IoU {[round(i, 3) for i in ious]}, classes {right}")
    assert min(ious) > 0.9, ious
    assert all(right), right
