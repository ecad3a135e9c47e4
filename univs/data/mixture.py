"""The training mixture: datasets loaded from a :class:`DataConfig`, each with its task's objects.

A :class:`DatasetSpec` names a native format (read with ``univs.data.formats.read_format``; a
``univs synth`` output is read this way too) or ``"synth"`` (the synthetic world, generated in
memory). The same dataset may serve several tasks; it is loaded once. Per task, the *objects* of a
video (the GT targets of a clip, architecture.md §5) are:

- ``vis``, ``vos``: the thing tracks; ``vps``, ``pvos``: all tracks (things and stuff);
- ``vss``: one object per category, the union of its tracks (semantic segmentation);
- ``refvos``: one object per distinct set of tracks that an expression refers to.

Crowd tracks are never objects. ``classes`` index the source's vocabulary: its category names
ordered by category id (thing categories only for ``vis``), so the model embeds them once per
dataset. :func:`split_videos` holds a seeded share of the videos out for validation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from univs.config import TASKS, DataConfig, DatasetSpec
from univs.data.sampling import SourceIndex, VideoIndex
from univs.data.types import VideoDataset, VideoRecord
from univs.errors import InputError


@dataclass
class VideoTargets:
    """The objects one task trains on in one video (G of them, over the video's F frames).

    groups: per object, the indices (into ``video.tracks``) whose masks it is the union of;
    track_ids: (G,) int64 identity (the native track id; the category id for ``vss``; −1 − g for an
    expression's multi-track object); classes: (G,) int64 vocabulary index or −1;
    presence: (G, F) bool, non-empty mask on the frame; expressions: (text, object index) (RefVOS).
    """

    groups: list[tuple[int, ...]]
    track_ids: np.ndarray
    classes: np.ndarray
    presence: np.ndarray
    expressions: list[tuple[str, int]]


@dataclass
class TrainingSource:
    """One dataset of the mixture with its task: the videos, the vocabulary and per-video objects."""

    name: str
    task: str
    ratio: float
    dataset: VideoDataset
    vocabulary: list[str]
    targets: list[VideoTargets]

    def index(self) -> SourceIndex:
        """The sampler's view: per video, its annotated frames and those showing an object."""
        videos = []
        for video, tg in zip(self.dataset.videos, self.targets):
            annotated = np.array([t for t in range(len(video)) if video.is_annotated(t)], np.int64)
            anchors = annotated[tg.presence[:, annotated].any(0)] if len(tg.groups) else annotated[:0]
            videos.append(VideoIndex(annotated, anchors))
        return SourceIndex(self.name, self.ratio, videos)


def task_vocabulary(dataset: VideoDataset, task: str) -> tuple[list[str], dict[int, int]]:
    """The category names a task classifies over (ordered by id) and category id → index."""
    ids = sorted(c.id for c in dataset.categories.values() if task != "vis" or c.isthing)
    return [dataset.categories[i].name for i in ids], {cid: i for i, cid in enumerate(ids)}


def _presence(video: VideoRecord, members: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(len(video), bool)
    for i in members:
        for t, rle in enumerate(video.tracks[i].masks):
            if rle is not None and not out[t]:
                out[t] = mask_utils.area(rle) > 0
    return out


def video_targets(video: VideoRecord, task: str, class_index: dict[int, int],
                  where: str) -> VideoTargets:
    """The objects of ``task`` in ``video`` (see the module docstring); ``where`` names the
    dataset in errors."""
    tracks = [(i, tr) for i, tr in enumerate(video.tracks) if not tr.iscrowd]
    expressions: list[tuple[str, int]] = []
    if task in ("vis", "vos"):
        groups = [(i,) for i, tr in tracks if tr.isthing]
    elif task in ("vps", "pvos"):
        groups = [(i,) for i, _ in tracks]
    elif task == "vss":
        by_class: dict[int, list[int]] = {}
        for i, tr in tracks:
            if tr.category_id is not None:
                by_class.setdefault(tr.category_id, []).append(i)
        groups = [tuple(by_class[c]) for c in sorted(by_class)]
    elif task == "refvos":
        position = {tr.track_id: i for i, tr in tracks}
        groups = []
        for e in video.expressions:
            missing = [tid for tid in e.track_ids if tid not in position]
            if missing:
                raise InputError(f"dataset {where!r}, video {video.name!r}: expression {e.exp_id!r} "
                                 f"refers to unknown track(s) {missing}")
            group = tuple(sorted(position[tid] for tid in e.track_ids))
            if group and group not in groups:
                groups.append(group)
            expressions.append((e.text, groups.index(group) if group else -1))
    else:
        raise InputError(f"dataset {where!r}: unknown task {task!r}; known: {', '.join(TASKS)}")

    def identity(g: int, members: tuple[int, ...]) -> int:
        if task == "vss":
            return int(video.tracks[members[0]].category_id)
        return video.tracks[members[0]].track_id if len(members) == 1 else -1 - g

    def klass(members: tuple[int, ...]) -> int:
        cats = {video.tracks[i].category_id for i in members}
        return class_index.get(cats.pop(), -1) if len(cats) == 1 else -1

    return VideoTargets(
        groups=groups,
        track_ids=np.array([identity(g, m) for g, m in enumerate(groups)], np.int64),
        classes=np.array([klass(m) for m in groups], np.int64),
        presence=np.stack([_presence(video, m) for m in groups]) if groups else np.zeros((0, len(video)), bool),
        expressions=expressions,
    )


def load_dataset(spec: DatasetSpec) -> VideoDataset:
    """Read (native format) or generate (``synth``) the dataset of ``spec``."""
    if spec.format == "synth":
        from univs.data.synth import generate_world

        return generate_world(spec.synth)
    from univs.data.formats import FORMAT_NAMES, read_format

    if spec.format not in FORMAT_NAMES:
        raise InputError(f"dataset {spec.name!r}: unknown format {spec.format!r}; known: synth, "
                         f"{', '.join(FORMAT_NAMES)}")
    if spec.root is None:
        raise InputError(f"dataset {spec.name!r}: format {spec.format!r} needs a root folder")
    kwargs = dict(spec.options) if spec.split is None else {**spec.options, "split": spec.split}
    return read_format(spec.format, spec.root, **kwargs)


def split_videos(dataset: VideoDataset, fraction: float, seed: int) -> tuple[VideoDataset, VideoDataset]:
    """Split the videos into (train, held-out), ``round(fraction × n)`` held out (at least one when
    ``fraction`` > 0, never all of them). Videos are ranked by a seeded hash of their name, so the
    split depends only on the names and the seed (not on their order), and adding videos moves
    none of the others between the parts. Both parts keep the videos' original order."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"dataset {dataset.name!r}: held-out fraction must be in [0, 1), got {fraction}")
    n = len(dataset.videos)
    count = min(max(round(fraction * n), 1 if fraction > 0 else 0), max(n - 1, 0))

    def rank(video: VideoRecord) -> bytes:
        return hashlib.blake2b(f"{seed}\0{video.name}".encode(), digest_size=16).digest()

    held = set(sorted(range(n), key=lambda i: rank(dataset.videos[i]))[:count])

    def part(keep: bool) -> VideoDataset:
        videos = [v for i, v in enumerate(dataset.videos) if (i in held) != keep]
        return VideoDataset(dataset.name, videos, dataset.categories, dataset.meta)

    return part(True), part(False)


def build_source(spec: DatasetSpec, dataset: VideoDataset) -> TrainingSource:
    """``dataset`` as a mixture member of ``spec``'s task, with its objects indexed."""
    if spec.task not in TASKS:
        raise InputError(f"dataset {spec.name!r}: unknown task {spec.task!r}; known: {', '.join(TASKS)}")
    vocabulary, class_index = task_vocabulary(dataset, spec.task)
    targets = [video_targets(v, spec.task, class_index, spec.name) for v in dataset.videos]
    return TrainingSource(spec.name, spec.task, spec.ratio, dataset, vocabulary, targets)


@dataclass
class Mixture:
    """The training sources and, per source, its held-out videos (empty without ``val_fraction``)."""

    train: list[TrainingSource]
    held_out: list[TrainingSource]


def load_mixture(cfg: DataConfig) -> Mixture:
    """Load every dataset of ``cfg`` once, split off ``cfg.val_fraction`` of its videos."""
    loaded: dict[tuple, tuple[VideoDataset, VideoDataset]] = {}
    train, held_out = [], []
    for spec in cfg.datasets:
        if spec.format == "synth":
            key: tuple = ("synth", repr(spec.synth))
        else:
            key = (spec.format, spec.root, spec.split, repr(sorted(spec.options.items())))
        if key not in loaded:
            loaded[key] = split_videos(load_dataset(spec), cfg.val_fraction, cfg.val_seed)
        part_train, part_held = loaded[key]
        train.append(build_source(spec, part_train))
        held_out.append(build_source(spec, part_held))
    return Mixture(train, held_out)
