"""The synthetic video world as a panoptic :class:`univs.data.types.VideoDataset`.

Video ``i`` (name ``vid0000``…, ``video_id`` i + 1) is drawn from its own generator seeded by
``(seed, i)``, so it does not depend on how many videos are asked for, and a seed gives
byte-identical frames and masks. Tracks: things 1..K by first appearance (visible pixels only,
``None`` where none show), then one track per stuff class present, id ``100 + category id``; every
pixel of every frame belongs to exactly one track. ``meta``:

- ``objects[video]``: :class:`ObjectFacts` per thing (as dicts), in track order;
- ``camera[video]``: the view's (x, y) offset in the panned canvas per frame;
- ``amodal[video][track_id]``: RLE of the whole shape clipped to the frame per frame (``None`` where
  it is outside the frame or does not exist yet);
- ``expressions[video][exp_id]``: ``{"group", "query"}`` behind each referring expression.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from univs.config import SynthConfig, to_dict
from univs.data.synth.categories import STUFF_TRACK_OFFSET, synth_categories, thing_id
from univs.data.synth.expressions import describe_video
from univs.data.synth.facts import measure
from univs.data.synth.render import render
from univs.data.synth.scene import plan_scene
from univs.data.types import Expression, Track, VideoDataset, VideoRecord, encode_mask
from univs.data.video import ArrayFrames
from univs.errors import InputError

MIN_SIDE = 16


def check_config(cfg: SynthConfig) -> None:
    """Raise :class:`InputError` for settings no world can be drawn from."""
    h, w = cfg.size
    problems = [
        (cfg.videos < 1, f"videos must be at least 1, got {cfg.videos}"),
        (cfg.frames < 1, f"frames must be at least 1, got {cfg.frames}"),
        (min(h, w) < MIN_SIDE, f"size must be at least {MIN_SIDE}x{MIN_SIDE}, got {h}x{w}"),
        (not 1 <= cfg.min_things <= cfg.max_things,
         f"need 1 <= min_things <= max_things, got {cfg.min_things}, {cfg.max_things}"),
        (cfg.expressions_per_object < 0 or cfg.paraphrases < 1,
         "expressions_per_object must be >= 0 and paraphrases >= 1"),
        (not cfg.fps > 0, f"fps must be positive, got {cfg.fps}"),
    ]
    for bad, message in problems:
        if bad:
            raise InputError(f"synthetic world: {message}")


def video_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of video ``index`` of a world seeded ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _encode(mask: np.ndarray):
    return encode_mask(mask) if mask.any() else None


def generate_video(cfg: SynthConfig, index: int) -> tuple[VideoRecord, dict]:
    """Video ``index`` of the world of ``cfg`` and its ``meta`` entries (see the module doc)."""
    rng = video_rng(cfg.seed, index)
    plan = plan_scene(rng, cfg.frames, tuple(cfg.size), cfg.min_things, cfg.max_things)
    video = render(plan)
    shown, facts = measure(plan, video)
    T, H, W = video.objects.shape
    tracks = [Track(track_id=f.track_id, category_id=thing_id(f.shape), isthing=True,
                    masks=[_encode(video.objects[t] == i + 1) for t in range(T)])
              for i, f in zip(shown, facts)]
    background = video.objects == 0
    for cid in np.unique(video.stuff):
        masks = [_encode(background[t] & (video.stuff[t] == cid)) for t in range(T)]
        tracks.append(Track(track_id=STUFF_TRACK_OFFSET + int(cid), category_id=int(cid), isthing=False,
                            masks=masks))
    name = f"vid{index:04d}"
    described = describe_video(facts, rng, cfg.expressions_per_object, cfg.paraphrases)
    record = VideoRecord(
        name=name, frame_names=[f"{t:05d}" for t in range(T)], frames=ArrayFrames(video.frames, fps=cfg.fps),
        height=H, width=W, tracks=tracks, video_id=index + 1,
        expressions=[Expression(str(k), text, [tid]) for k, (text, tid, _, _) in enumerate(described)])
    meta = {
        "objects": [f.to_json() for f in facts],
        "camera": plan.camera.tolist(),
        "amodal": {f.track_id: [None if a is None else encode_mask(a.full(H, W)) for a in video.amodal[i]]
                   for i, f in zip(shown, facts)},
        "expressions": {str(k): {"group": g, "query": q} for k, (_, _, g, q) in enumerate(described)},
    }
    return record, meta


def generate_world(cfg: SynthConfig, progress: bool = False) -> VideoDataset:
    """The whole world of ``cfg`` (``progress``: a tqdm bar over videos)."""
    check_config(cfg)
    meta: dict = {"generator": "univs.data.synth", "config": to_dict(cfg), "stuff_track_offset": STUFF_TRACK_OFFSET,
                  "objects": {}, "camera": {}, "amodal": {}, "expressions": {}}
    videos = []
    for i in tqdm(range(cfg.videos), desc="synth", unit="video", disable=not progress):
        record, extra = generate_video(cfg, i)
        videos.append(record)
        for key, value in extra.items():
            meta[key][record.name] = value
    return VideoDataset(name="synth", videos=videos, categories=synth_categories(), meta=meta)
