"""Training samples: clip building, the sample and batch types, collate, the DataLoader (architecture.md §5).

Building one clip (:meth:`ClipDataset.__getitem__`, from a :class:`~univs.data.sampling.ClipRef`):
read the T frames and the task's objects on them (``univs.data.mixture``), draw one augmentation
for the whole clip (``univs.data.transforms``; redrawn up to ``crop_tries`` times until an object
stays visible), drop the objects that vanished from every frame, swap "left"/"right" in the
expressions of a flipped clip, simulate the task's prompts and draw R points per visual prompt
(``univs.data.prompt_simulation``; R from ``PromptEncoderConfig.num_points_per_task``).

The model takes a :class:`TrainingBatch` as ``model(batch.images, batch.prompts,
vocabulary=batch.vocabulary or None, frame_times=batch.frame_times)`` and the criterion
``criterion(outputs, batch.targets)``. Every clip of a batch shares dataset, task, T and size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from univs.config import AugmentationConfig, DataConfig, PromptSimulationConfig
from univs.data.mixture import TrainingSource, load_mixture
from univs.data.prompt_simulation import draw_points, simulate_prompts
from univs.data.sampling import ClipRef, MixtureBatchSampler
from univs.data.transforms import sample_transform, swap_left_right
from univs.errors import InputError
from univs.model.types import ClipPrompts, ClipTargets, PromptRegions


@dataclass
class ClipSample:
    """One training clip.

    images: (T, 3, H, W) float32 RGB in 0..255; targets: its GT objects (``ClipTargets``:
    masks (M, T, H, W), classes into ``vocabulary``, track_ids, valid (M, T), prompt_targets (K,));
    prompts: ``ClipPrompts`` — regions (K_v targets, R points each) then texts, in the order of
    ``prompt_targets``; prompt_kinds: (K,) kind of each prompt (mask/box/points/scribble/text);
    frame_times: (T,) long absolute frame indices (temporal position encoding);
    vocabulary: the dataset's category names for this task; video: the video's name.
    """

    images: torch.Tensor
    targets: ClipTargets
    prompts: ClipPrompts
    prompt_kinds: list[str]
    frame_times: torch.Tensor
    task: str
    dataset: str
    vocabulary: list[str]
    video: str


def _targets_to(t: ClipTargets, fn) -> ClipTargets:
    return ClipTargets(fn(t.masks), fn(t.classes), fn(t.track_ids), fn(t.valid), fn(t.prompt_targets))


def _prompts_to(p: ClipPrompts, fn) -> ClipPrompts:
    regions = None if p.regions is None else PromptRegions(fn(p.regions.points), fn(p.regions.labels),
                                                            fn(p.regions.frame))
    return ClipPrompts(regions, list(p.texts), None if p.class_ids is None else fn(p.class_ids))


@dataclass
class TrainingBatch:
    """B clips of one dataset and task (:func:`collate_clips`).

    images: (B, T, 3, H, W) float32 0..255; frame_times: (B, T) long; targets, prompts,
    prompt_kinds, videos: one entry per clip; task, dataset, vocabulary: shared by the clips.
    """

    images: torch.Tensor
    frame_times: torch.Tensor
    targets: list[ClipTargets]
    prompts: list[ClipPrompts]
    prompt_kinds: list[list[str]]
    task: str
    dataset: str
    vocabulary: list[str]
    videos: list[str]

    def _map(self, fn) -> "TrainingBatch":
        return replace(self, images=fn(self.images), frame_times=fn(self.frame_times),
                       targets=[_targets_to(t, fn) for t in self.targets],
                       prompts=[_prompts_to(p, fn) for p in self.prompts])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "TrainingBatch":
        """Every tensor on ``device``."""
        return self._map(lambda x: x.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "TrainingBatch":
        """Every tensor in pinned memory (called by ``DataLoader(pin_memory=True)``)."""
        return self._map(lambda x: x.pin_memory())


def collate_clips(samples: list[ClipSample]) -> TrainingBatch:
    """Stack clips of one dataset, task, T and size into a :class:`TrainingBatch`."""
    first = samples[0]
    for s in samples[1:]:
        if (s.dataset, s.task) != (first.dataset, first.task) or s.images.shape != first.images.shape:
            raise ValueError(f"a batch mixes clips: {first.dataset}/{first.task} {tuple(first.images.shape)}"
                             f" and {s.dataset}/{s.task} {tuple(s.images.shape)}")
    return TrainingBatch(
        images=torch.stack([s.images for s in samples]),
        frame_times=torch.stack([s.frame_times for s in samples]),
        targets=[s.targets for s in samples],
        prompts=[s.prompts for s in samples],
        prompt_kinds=[s.prompt_kinds for s in samples],
        task=first.task, dataset=first.dataset, vocabulary=list(first.vocabulary),
        videos=[s.video for s in samples],
    )


class ClipDataset(Dataset):
    """Map-style dataset indexed by :class:`ClipRef` (use it with :class:`MixtureBatchSampler`).

    num_points: R per task (``PromptEncoderConfig.num_points_per_task``). Pickles with its
    sources (frames held in memory travel too), so spawned DataLoader workers can build clips.
    """

    def __init__(self, sources: list[TrainingSource], augment: AugmentationConfig,
                 prompts: PromptSimulationConfig, num_points: dict[str, int]):
        missing = sorted({s.task for s in sources} - set(num_points))
        if missing:
            raise InputError(f"no prompt point count (num_points_per_task) for task(s) {', '.join(missing)}")
        self.sources, self.augment, self.prompt_cfg, self.num_points = sources, augment, prompts, num_points

    def _frames(self, source: TrainingSource, video_index: int, frames: tuple[int, ...]) -> np.ndarray:
        video = source.dataset.videos[video_index]
        if video.frames is None:
            raise InputError(f"dataset {source.name!r}, video {video.name!r}: no frames to train on")
        images = np.stack([np.asarray(video.frames[t]) for t in frames])
        if images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(f"dataset {source.name!r}, video {video.name!r}: frames of shape "
                             f"{images.shape[1:]} are not (H, W, 3)")
        return images

    def _masks(self, source: TrainingSource, video_index: int, frames: tuple[int, ...],
               size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(G', T, h, w) bool masks and (G',) object indices of the objects visible in the clip."""
        video = source.dataset.videos[video_index]
        tg = source.targets[video_index]
        objects = np.nonzero(tg.presence[:, list(frames)].any(1))[0] if len(tg.groups) else np.zeros(0, int)
        masks = np.zeros((len(objects), len(frames), *size), bool)
        for m, g in enumerate(objects):
            for i in tg.groups[g]:
                for j, t in enumerate(frames):
                    mask = video.tracks[i].mask(t)
                    if mask is None:
                        continue
                    if mask.shape != size:
                        raise InputError(f"dataset {source.name!r}, video {video.name!r}: mask of "
                                         f"track {video.tracks[i].track_id} on frame {t} is {mask.shape}, "
                                         f"the frame is {size}")
                    masks[m, j] |= mask
        return masks, objects

    def __getitem__(self, ref: ClipRef) -> ClipSample:
        source = self.sources[ref.source]
        video = source.dataset.videos[ref.video]
        tg = source.targets[ref.video]
        rng = np.random.default_rng(ref.seed)
        images = self._frames(source, ref.video, ref.frames)
        masks, objects = self._masks(source, ref.video, ref.frames, images.shape[1:3])
        for _ in range(max(1, self.augment.crop_tries)):
            transform = sample_transform(images.shape[1:3], self.augment, rng)
            out_masks = transform.masks(masks)
            if len(objects) == 0 or out_masks.any():
                break
        keep = out_masks.any(axis=(1, 2, 3))
        out_masks, objects = out_masks[keep], objects[keep]
        position = {int(g): m for m, g in enumerate(objects)}
        valid = np.array([video.is_annotated(t) for t in ref.frames])[None].repeat(len(objects), 0)
        expressions = [(swap_left_right(text) if transform.flip else text, position.get(g, -1))
                       for text, g in tg.expressions]
        raw = simulate_prompts(source.task, out_masks, valid, expressions, self.prompt_cfg, rng)
        visual = [p for p in raw if p.kind != "text"]
        texts = [p for p in raw if p.kind == "text"]
        return ClipSample(
            images=torch.from_numpy(np.ascontiguousarray(transform.images(images))).permute(0, 3, 1, 2).float(),
            targets=ClipTargets(
                masks=torch.from_numpy(out_masks),
                classes=torch.from_numpy(tg.classes[objects]),
                track_ids=torch.from_numpy(tg.track_ids[objects]),
                valid=torch.from_numpy(valid),
                prompt_targets=torch.tensor([p.target for p in visual + texts], dtype=torch.long),
            ),
            prompts=ClipPrompts(
                regions=draw_points(visual, self.num_points[source.task], rng) if visual else None,
                texts=[str(p.text) for p in texts],
            ),
            prompt_kinds=[p.kind for p in visual + texts],
            frame_times=torch.tensor(ref.frames, dtype=torch.long),
            task=source.task, dataset=source.name, vocabulary=list(source.vocabulary), video=video.name,
        )


def build_training_loader(cfg: DataConfig, num_points: dict[str, int], rank: int = 0,
                          world_size: int = 1, sources: list[TrainingSource] | None = None) -> DataLoader:
    """The DataLoader of training batches for one DDP rank (``rank`` of ``world_size``).

    sources: the mixture's training sources (default: ``load_mixture(cfg).train``).
    ``loader.batch_sampler.set_epoch(e)`` selects epoch e's stream (see ``univs.data.sampling``).
    Pinned memory is used when ``cfg.pin_memory`` and CUDA is available. Worker seeds come from
    the loader's own generator, so making an iterator leaves the global torch RNG untouched (an
    exactly resumed run makes its iterators at other iterations than an uninterrupted one).
    """
    sources = load_mixture(cfg).train if sources is None else sources
    sampler = MixtureBatchSampler([s.index() for s in sources], cfg.batch_size, cfg.num_frames,
                                  cfg.frame_range, cfg.batches_per_epoch, cfg.seed, rank, world_size)
    dataset = ClipDataset(sources, cfg.augment, cfg.prompts, num_points)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers, collate_fn=collate_clips,
                      pin_memory=cfg.pin_memory and torch.cuda.is_available(),
                      persistent_workers=cfg.num_workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
