"""Training clips end to end (univs.data.training, univs.data.mixture): objects, prompts, DataLoader."""

from __future__ import annotations

import dataclasses
import functools
import pickle

import numpy as np
import pytest
import torch

from univs.config import (AugmentationConfig, DataConfig, DatasetSpec, PromptEncoderConfig,
                          PromptSimulationConfig, SynthConfig, data_stage)
from univs.data.mixture import build_source, load_mixture, split_videos
from univs.data.sampling import ClipRef
from univs.data.synth import generate_world
from univs.data.training import ClipDataset, TrainingBatch, build_training_loader, collate_clips
from univs.data.types import Category, Expression, Track, VideoDataset, VideoRecord, encode_mask
from univs.errors import InputError

NUM_POINTS = PromptEncoderConfig().num_points_per_task
SIZE = (60, 80)
# track id mod 10 → (category id, colour); 1 and 2 are squares (1 left of 2), 3 a circle, 4 ground
OBJECTS = {1: (2, (255, 0, 0)), 2: (2, (0, 255, 0)), 3: (1, (0, 0, 255)), 4: (3, (255, 255, 0))}
CATEGORIES = {1: Category(1, "circle"), 2: Category(2, "square"), 3: Category(3, "ground", isthing=False)}


def object_masks(t: int, shift: int) -> dict[int, np.ndarray]:
    h, w = SIZE
    yy, xx = np.mgrid[:h, :w]
    x = 4 + 2 * t + shift
    return {1: (yy >= 8) & (yy < 24) & (xx >= x) & (xx < x + 14),
            2: (yy >= 8) & (yy < 24) & (xx >= x + 30) & (xx < x + 44),
            3: (yy - 34) ** 2 + (xx - 62 + t) ** 2 < 64,
            4: yy >= 48}


def hand_world(videos: int = 3, frames: int = 12) -> VideoDataset:
    """Coloured objects on a grey background: 2 moving squares, a circle, a ground band (stuff).
    The last video is annotated on every 5th frame only; expressions name the squares."""
    out = []
    for v in range(videos):
        images = np.full((frames, *SIZE, 3), 128, np.uint8)
        rles: dict[int, list] = {tid: [] for tid in OBJECTS}
        annotated = [v < videos - 1 or t % 5 == 0 for t in range(frames)]
        for t in range(frames):
            for tid, m in object_masks(t, shift=v).items():
                images[t][m] = OBJECTS[tid][1]
                rles[tid].append(encode_mask(m) if annotated[t] else None)
        base = 10 * (v + 1)  # track ids unique across the dataset (kept by the YouTube-VIS writer)
        tracks = [Track(base + k, rles[k], category_id=OBJECTS[k][0], isthing=OBJECTS[k][0] != 3)
                  for k in OBJECTS]
        expressions = [Expression("0", "the square on the left", [base + 1]),
                       Expression("1", "the square on the right", [base + 2]),
                       Expression("2", "both squares", [base + 1, base + 2])]
        out.append(VideoRecord(f"video{v}", [f"{t:05d}" for t in range(frames)], list(images), *SIZE,
                               tracks, expressions, annotated=None if all(annotated) else annotated))
    return VideoDataset("hand", out, dict(CATEGORIES))


SYNTH = SynthConfig(videos=3, frames=10, size=(64, 80), seed=0)


@functools.lru_cache(maxsize=1)
def synth_world() -> VideoDataset:
    """The synthetic panoptic world (things, stuff, expressions), small."""
    return generate_world(SYNTH)


def data_config(**kw) -> DataConfig:
    small = dict(batch_size=2, num_frames=3, frame_range=10, batches_per_epoch=6, num_workers=0,
                 augment=AugmentationConfig(output_size=(48, 64), scale_range=(0.7, 1.4)))
    return DataConfig(**{**small, **kw})


def sources(tasks=("vis", "vss", "vps", "vos", "pvos", "refvos"), world=None) -> list:
    world = world or synth_world()
    return [build_source(DatasetSpec(name=f"hand-{t}", task=t), world) for t in tasks]


def colour_of(image: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Median RGB (3,) of a (3, H, W) image under a (H, W) mask."""
    return image[:, mask].median(dim=1).values.numpy()


def check_batch(batch: TrainingBatch, srcs: list) -> None:
    """Every invariant a training batch must hold."""
    source = next(s for s in srcs if s.name == batch.dataset)
    assert batch.task == source.task and batch.vocabulary == source.vocabulary
    b, t = batch.images.shape[:2]
    assert batch.images.shape == (b, t, 3, 48, 64) and batch.images.dtype == torch.float32
    assert batch.frame_times.shape == (b, t) and (batch.frame_times.diff(dim=1) >= 0).all()
    for i in range(b):
        tg, pr, kinds = batch.targets[i], batch.prompts[i], batch.prompt_kinds[i]
        video = source.dataset.video(batch.videos[i])
        assert all(video.is_annotated(int(f)) for f in batch.frame_times[i])
        m = tg.masks.shape[0]
        assert tg.masks.shape == (m, t, 48, 64) and tg.valid.shape == (m, t) and tg.valid.all()
        assert tg.masks.flatten(1).any(1).all()  # every object is visible somewhere in the clip
        assert ((tg.classes >= -1) & (tg.classes < len(batch.vocabulary))).all()
        for j in range(m if source.dataset.name == "hand" else 0):  # the object's colour under its mask
            frame = int(tg.masks[j].flatten(1).sum(1).argmax())
            if batch.task in ("vss", "refvos") or tg.masks[j, frame].sum() < 4:
                continue
            colour = OBJECTS[int(tg.track_ids[j]) % 10][1]
            assert np.abs(colour_of(batch.images[i, frame], tg.masks[j, frame]) - colour).max() <= 24  # JPEG chroma
        k = len(tg.prompt_targets)
        assert len(kinds) == k and ((tg.prompt_targets >= -1) & (tg.prompt_targets < m)).all()
        if batch.task == "refvos":
            assert pr.regions is None and len(pr.texts) == k and set(kinds) <= {"text"}
            continue
        assert not pr.texts
        if k == 0:
            assert pr.regions is None
            continue
        regions = pr.regions
        assert regions.points.shape == (k, NUM_POINTS[batch.task], 2)
        for q in range(k):
            target = tg.masks[int(tg.prompt_targets[q]), int(regions.frame[q])]
            pts = regions.points[q].long()
            pos = pts[regions.labels[q] == 1]
            neg = pts[regions.labels[q] == 0]
            assert len(pos) > 0 and not target[neg[:, 1], neg[:, 0]].any()
            if kinds[q] == "box":  # positives fill the target's bounding box
                ys, xs = torch.nonzero(target, as_tuple=True)
                assert ((pos[:, 0] >= xs.min()) & (pos[:, 0] <= xs.max())).all()
                assert ((pos[:, 1] >= ys.min()) & (pos[:, 1] <= ys.max())).all()
            else:
                assert target[pos[:, 1], pos[:, 0]].all()


@pytest.mark.parametrize("world", [synth_world, hand_world])
def test_every_task_builds_valid_batches(world):
    srcs = sources(world=world())
    loader = build_training_loader(data_config(batches_per_epoch=60), NUM_POINTS, sources=srcs)
    seen = set()
    for batch in loader:
        check_batch(batch, srcs)
        seen.add(batch.task)
        kinds = {k for clip in batch.prompt_kinds for k in clip}
        if batch.task in ("vos", "pvos"):
            assert kinds and kinds <= {"mask", "box", "points", "scribble"}
        elif batch.task != "refvos":
            assert kinds <= {"mask"}
    assert seen == {"vis", "vss", "vps", "vos", "pvos", "refvos"}


def test_objects_per_task():
    world = hand_world()
    by_task = {s.task: s for s in sources(world=world)}
    assert by_task["vis"].vocabulary == ["circle", "square"]
    assert by_task["vps"].vocabulary == ["circle", "square", "ground"]
    first = {task: s.targets[0] for task, s in by_task.items()}
    assert first["vis"].track_ids.tolist() == [11, 12, 13] == first["vos"].track_ids.tolist()
    assert first["vps"].track_ids.tolist() == [11, 12, 13, 14] == first["pvos"].track_ids.tolist()
    assert first["vis"].classes.tolist() == [1, 1, 0] and first["vps"].classes.tolist() == [1, 1, 0, 2]
    # semantic: one object per category (squares merged), identified by the category id
    assert first["vss"].track_ids.tolist() == [1, 2, 3] and first["vss"].groups == [(2,), (0, 1), (3,)]
    # referring: one object per referred set of tracks; the expression "both squares" is their union
    assert first["refvos"].groups == [(0,), (1,), (0, 1)]
    assert [e[1] for e in first["refvos"].expressions] == [0, 1, 2]
    assert first["refvos"].track_ids.tolist() == [11, 12, -3]
    sparse = first["vis"].presence.shape, by_task["vis"].targets[2].presence[0].tolist()
    assert sparse[0] == (3, 12) and sparse[1] == [t % 5 == 0 for t in range(12)]


def test_two_workers_give_the_same_batches_as_the_main_process():
    srcs = sources(("vps", "vos", "refvos"))
    serial = list(build_training_loader(data_config(), NUM_POINTS, sources=srcs))
    cfg = data_config(num_workers=2, pin_memory=True)
    parallel = list(build_training_loader(cfg, NUM_POINTS, sources=srcs))
    assert len(parallel) == len(serial) == 6
    for a, b in zip(serial, parallel):
        check_batch(b, srcs)
        assert (a.task, a.dataset, a.videos) == (b.task, b.dataset, b.videos)
        assert torch.equal(a.images, b.images) and torch.equal(a.frame_times, b.frame_times)
        for ta, tb in zip(a.targets, b.targets):
            assert torch.equal(ta.masks, tb.masks) and torch.equal(ta.prompt_targets, tb.prompt_targets)
        for pa, pb in zip(a.prompts, b.prompts):
            assert pa.texts == pb.texts
            assert (pa.regions is None) == (pb.regions is None)
            if pa.regions is not None:
                assert torch.equal(pa.regions.points, pb.regions.points)


def test_the_dataset_pickles_for_spawned_workers():
    srcs = sources(("pvos",))
    dataset = ClipDataset(srcs, AugmentationConfig(output_size=(48, 64)), PromptSimulationConfig(), NUM_POINTS)
    ref = ClipRef(0, 1, (2, 3, 5), seed=11)
    clone = pickle.loads(pickle.dumps(dataset))
    a, b = dataset[ref], clone[ref]
    assert torch.equal(a.images, b.images) and torch.equal(a.targets.masks, b.targets.masks)
    assert a.prompt_kinds == b.prompt_kinds and a.frame_times.tolist() == [2, 3, 5]


def test_flip_swaps_left_and_right_in_expressions():
    srcs = sources(("refvos",), world=hand_world())
    for flip, texts in ((1.0, {"the square on the right", "the square on the left", "both squares"}),
                        (0.0, {"the square on the left", "the square on the right", "both squares"})):
        augment = AugmentationConfig(output_size=(60, 80), scale_range=(1.0, 1.0), flip_prob=flip)
        dataset = ClipDataset(srcs, augment, PromptSimulationConfig(), NUM_POINTS)
        for seed in range(4):
            clip = dataset[ClipRef(0, 0, (1, 4, 6), seed)]
            assert set(clip.prompts.texts) == texts
            centre = {text: float(torch.nonzero(clip.targets.masks[int(target)])[:, 2].float().mean())
                      for text, target in zip(clip.prompts.texts, clip.targets.prompt_targets)}
            # the words still describe the picture: "left" is the square further left
            assert centre["the square on the left"] < centre["the square on the right"]


def test_objects_cropped_away_are_dropped():
    srcs = sources(("vps",), world=hand_world())
    augment = AugmentationConfig(output_size=(20, 20), scale_range=(3.0, 3.0), flip_prob=0.0)
    dataset = ClipDataset(srcs, augment, PromptSimulationConfig(category_prompt_prob=1.0), NUM_POINTS)
    counts = set()
    for seed in range(20):
        clip = dataset[ClipRef(0, 0, (0, 1), seed)]
        tg = clip.targets
        counts.add(tg.masks.shape[0])
        assert tg.masks.shape[0] >= 1 and tg.masks.flatten(1).any(1).all()
        assert len(set(tg.track_ids.tolist())) == tg.masks.shape[0]
        assert sorted(tg.prompt_targets.tolist()) == list(range(tg.masks.shape[0]))
    assert min(counts) < 4  # a 20×20 window of the 60×80 frame cannot hold all four objects


def test_stage_presets_and_single_images():
    assert data_stage(DataConfig(), 1).num_frames == 1 and data_stage(DataConfig(), 1).prompts.max_prompts_per_frame == 30
    assert data_stage(DataConfig(), 3).num_frames == 7
    with pytest.raises(InputError, match="stage"):
        data_stage(DataConfig(), 4)
    srcs = sources(("vis",))
    cfg = data_config(num_frames=1, batches_per_epoch=3)
    for batch in build_training_loader(cfg, NUM_POINTS, sources=srcs):
        assert batch.images.shape[1] == 1
        check_batch(batch, srcs)


def test_collate_refuses_mixed_clips():
    srcs = sources(("vis", "vos"))
    dataset = ClipDataset(srcs, AugmentationConfig(output_size=(48, 64)), PromptSimulationConfig(), NUM_POINTS)
    a, b = dataset[ClipRef(0, 0, (0, 1), 1)], dataset[ClipRef(1, 0, (0, 1), 1)]
    assert collate_clips([a, a]).images.shape == (2, 2, 3, 48, 64)
    with pytest.raises(ValueError, match="mixes"):
        collate_clips([a, b])


def test_split_videos_is_seeded_disjoint_and_stable():
    world = hand_world(videos=10, frames=2)
    train, held = split_videos(world, 0.3, seed=0)
    names = [v.name for v in world]
    assert len(held) == 3 and len(train) == 7
    assert {v.name for v in train} | {v.name for v in held} == set(names)
    assert not {v.name for v in train} & {v.name for v in held}
    assert [v.name for v in held] == [n for n in names if n in {v.name for v in held}]  # order kept
    again = split_videos(world, 0.3, seed=0)[1]
    assert [v.name for v in again] == [v.name for v in held]
    assert {v.name for v in split_videos(world, 0.3, seed=1)[1]} != {v.name for v in held}
    shuffled = VideoDataset(world.name, world.videos[::-1], world.categories)
    assert {v.name for v in split_videos(shuffled, 0.3, seed=0)[1]} == {v.name for v in held}
    assert len(split_videos(world, 0.0, seed=0)[1]) == 0
    assert len(split_videos(hand_world(videos=2, frames=1), 0.01, seed=0)[1]) == 1
    with pytest.raises(InputError, match="fraction"):
        split_videos(world, 1.0, seed=0)


def test_mixture_from_a_native_format(tmp_path):
    from univs.data.formats import write_format

    world = hand_world(videos=4, frames=6)
    world.videos[-1].annotated = None
    for v in world:
        v.expressions = []
    write_format("ytvis", world, tmp_path / "ytvis")
    spec = DatasetSpec(name="yt", format="ytvis", root=str(tmp_path / "ytvis"), split="train", task="vis")
    cfg = data_config(datasets=[spec, DatasetSpec(name="yt-vps", format="ytvis", root=str(tmp_path / "ytvis"),
                                                  split="train", task="vps", ratio=2.0)],
                      val_fraction=0.25)
    mixture = load_mixture(cfg)
    assert [len(s.dataset) for s in mixture.train] == [3, 3] and [len(s.dataset) for s in mixture.held_out] == [1, 1]
    assert mixture.train[0].dataset is mixture.train[1].dataset  # read once, two tasks
    assert mixture.train[0].vocabulary == ["circle", "square", "ground"]  # YouTube-VIS: all things
    srcs = mixture.train
    for batch in build_training_loader(cfg, NUM_POINTS, sources=srcs):
        check_batch(batch, srcs)
    with pytest.raises(InputError, match="unknown format"):
        load_mixture(data_config(datasets=[DatasetSpec(name="x", format="nope", root=str(tmp_path))]))
    with pytest.raises(InputError, match="needs a root"):
        load_mixture(data_config(datasets=[DatasetSpec(name="x", format="davis")]))
    with pytest.raises(InputError, match="unknown task"):
        load_mixture(data_config(datasets=[dataclasses.replace(spec, task="vps2")]))


def test_data_config_from_yaml_mapping():
    from univs.config import apply_overrides, from_dict, to_dict

    raw = {"batch_size": 4, "datasets": [{"name": "w", "task": "vis", "synth": {"size": [64, 80]}},
                                         {"name": "yt", "format": "ytvis", "root": "/data/yt",
                                          "options": {"layout": "2021"}, "ratio": 3}],
           "augment": {"output_size": [128, 160]}}
    cfg = from_dict(DataConfig, apply_overrides(raw, ["prompts.max_prompts_per_frame=30"]))
    assert [type(s) for s in cfg.datasets] == [DatasetSpec, DatasetSpec]
    assert cfg.datasets[0].synth.size == (64, 80) and cfg.datasets[1].options == {"layout": "2021"}
    assert cfg.augment.output_size == (128, 160) and cfg.prompts.max_prompts_per_frame == 30
    assert from_dict(DataConfig, to_dict(cfg)) == cfg
    with pytest.raises(InputError, match=r"datasets\[1\]\.ratioo"):
        from_dict(DataConfig, {"datasets": [{}, {"ratioo": 2}]})


def test_mixture_of_the_synthetic_world_in_memory():
    spec = DatasetSpec(name="world-vis", format="synth", task="vis", synth=SYNTH)
    cfg = data_config(datasets=[spec, dataclasses.replace(spec, name="world-refvos", task="refvos", ratio=3.0)],
                      val_fraction=0.34, batches_per_epoch=24)
    mixture = load_mixture(cfg)
    assert mixture.train[0].dataset is mixture.train[1].dataset  # generated once, two tasks
    assert [len(s.dataset) for s in mixture.train] == [2, 2] and [len(s.dataset) for s in mixture.held_out] == [1, 1]
    assert "sky" not in mixture.train[0].vocabulary and "sky" in mixture.train[1].vocabulary
    assert not {v.name for v in mixture.train[0].dataset} & {v.name for v in mixture.held_out[0].dataset}
    tasks = set()
    for batch in build_training_loader(cfg, NUM_POINTS, sources=mixture.train):
        check_batch(batch, mixture.train)
        tasks.add(batch.task)
    assert tasks == {"vis", "refvos"}
