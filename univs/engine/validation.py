"""Held-out VOS validation during training: DAVIS J&F of the model on videos it never trained on.

Protocol: DAVIS 2017 semi-supervised, as ``univs eval --task vos`` scores a DAVIS-layout export of
the same videos. The objects of a video are those visible on its first frame (ids 1..K, as DAVIS
takes the objects of the first annotation); each is prompted with its ground-truth mask on frame 0
through one ``univs.inference`` session, and scored on frames 1..F−2 (first and last excluded)
with the per-frame J and F of ``univs.evaluation.jf``. ``J&F-Mean`` = (J-Mean + F-Mean) / 2 with
the means over all objects of all videos (``univs.evaluation.davis.summarize``). Objects that
enter later are neither prompted nor scored (DAVIS reads their ids as background; the synthetic
world numbers its objects by first appearance, so its DAVIS export holds exactly these objects).
Objects are the ``vos`` view of a dataset (thing tracks; ``univs.data.mixture``).
"""

from __future__ import annotations

import copy
import tempfile
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from univs.checkpoint import read_checkpoint, save_checkpoint
from univs.config import ModelConfig
from univs.data.mixture import TrainingSource
from univs.errors import UnivsError
from univs.evaluation.davis import ObjectScores, summarize
from univs.evaluation.jf import davis_radius, disk_kernel, label_slices, object_jf
from univs.evaluation.parallel import default_workers, map_jobs
from univs.model.text_encoder import CachedTextEncoder


@dataclass
class ValidationVideo:
    """One held-out video: frames (F, H, W, 3) uint8 and labels (F, H, W) int32 of the objects of
    its first frame (0 background, k = object k, 1..K)."""

    name: str
    frames: np.ndarray
    labels: np.ndarray

    @property
    def num_objects(self) -> int:
        return int(self.labels[0].max())

    def prompt_mask(self, obj_id: int) -> np.ndarray:
        """(H, W) bool ground-truth mask of object ``obj_id`` on frame 0."""
        return self.labels[0] == obj_id


@dataclass
class ValidationSet:
    """The held-out videos, read once into memory."""

    videos: list[ValidationVideo]

    @classmethod
    def from_sources(cls, sources: list[TrainingSource], max_videos: int = 0) -> "ValidationSet":
        """Videos of ``vos`` sources (the first ``max_videos`` in total, 0 = all) with at least 3
        frames and an object on their first frame."""
        videos = []
        for source in sources:
            for video, targets in zip(source.dataset.videos, source.targets):
                if max_videos and len(videos) >= max_videos:
                    break
                first = [g for g in range(len(targets.groups)) if targets.presence[g, 0]]
                if not first or video.frames is None or len(video) < 3:
                    continue
                frames = np.stack([np.asarray(video.frames[t]) for t in range(len(video))])
                labels = np.zeros(frames.shape[:3], np.int32)
                for k, g in enumerate(first, 1):
                    for i in targets.groups[g]:
                        for t in range(len(video)):
                            mask = video.tracks[i].mask(t)
                            if mask is not None:
                                labels[t][mask] = k
                videos.append(ValidationVideo(f"{source.name}/{video.name}", frames, labels))
        return cls(videos)


def score_video(video: ValidationVideo, pred: np.ndarray) -> list[ObjectScores]:
    """Per-object per-frame J and F of predicted labels (F, H, W) on frames 1..F−2."""
    k = video.num_objects
    kernel = disk_kernel(davis_radius(*video.labels.shape[1:]))
    j = np.zeros((k, len(pred) - 2))
    f = np.zeros((k, len(pred) - 2))
    for t in range(1, len(pred) - 1):
        gt, pr = video.labels[t], pred[t]
        g_boxes, p_boxes = label_slices(gt, k), label_slices(pr, k)
        for i in range(k):
            j[i, t - 1], f[i, t - 1] = object_jf(gt, i + 1, g_boxes[i], pr, i + 1, p_boxes[i], kernel)
    return [ObjectScores(video.name, i + 1, j[i], f[i]) for i in range(k)]


def predict_video(segmenter, video: ValidationVideo) -> np.ndarray:
    """(F, H, W) int32 predicted labels of one video: every object prompted with its mask on
    frame 0, then propagated through the video."""
    pred = np.zeros(video.labels.shape, np.int32)
    with segmenter.session(video.frames) as session:
        for obj_id in range(1, video.num_objects + 1):
            session.add_prompt(frame=0, obj_id=obj_id, mask=video.prompt_mask(obj_id))
        for t, result in session.propagate():
            for obj_id, mask in zip(result.obj_ids, result.masks):
                pred[t][np.asarray(mask, bool)] = int(obj_id)
    return pred


def _segmenter(model_cfg: ModelConfig, weights: dict[str, torch.Tensor], device: torch.device,
               text_encoder: CachedTextEncoder | None = None):
    """A VideoSegmenter over a fresh model of ``model_cfg`` holding ``weights``."""
    from univs.inference import VideoSegmenter
    from univs.model.univs_model import build_model

    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.pretrained = False
    model = build_model(cfg, verbose=False)
    model.load_state_dict(weights)
    if text_encoder is not None:
        model.text_encoder = text_encoder
    return VideoSegmenter(model.to(device).eval(), device=device)


_worker_segmenter = None  # the segmenter of a validation worker process (set by _start_worker)


def _start_worker(checkpoint: str) -> None:
    """Validation worker set-up: one thread (the workers share the cores) and its own model, read
    from the ``checkpoint`` file the parent wrote (a path keeps the spawn payload small: a worker
    that dies before reading a large one leaves the parent blocked on the pipe)."""
    global _worker_segmenter
    torch.set_num_threads(1)
    weights, model_cfg, _ = read_checkpoint(checkpoint)
    _worker_segmenter = _segmenter(model_cfg, weights, torch.device("cpu"))


@torch.no_grad()
def _score_in_worker(video: ValidationVideo) -> list[ObjectScores]:
    return score_video(video, predict_video(_worker_segmenter, video))


@torch.no_grad()
def validate_vos(model_cfg: ModelConfig, weights: dict[str, torch.Tensor], val_set: ValidationSet,
                 device: torch.device, text_encoder: CachedTextEncoder | None = None,
                 workers: int = 0) -> dict[str, float]:
    """DAVIS J&F-Mean, J-Mean and F-Mean of ``weights`` on ``val_set`` (see the module docstring).

    A model of ``model_cfg`` is built for the purpose (sharing ``text_encoder`` when given), so the
    training model and its mode are left as they are. On CPU the videos are spread over
    ``workers`` single-threaded processes (0: one per core this process may use; spawned, so they
    inherit no thread of this one), with the same scores as in this process; 1 or CUDA: here
    (``map_jobs`` would run a single job inline, where the worker set-up must not run).
    Raises UnivsError, naming the ``__main__`` guard, when the workers die.
    """
    workers = min(workers or default_workers(), len(val_set.videos)) if device.type == "cpu" else 1
    if workers > 1:
        with tempfile.TemporaryDirectory(prefix="univs-validation-") as folder:
            checkpoint = str(Path(folder) / "weights.safetensors")
            save_checkpoint(weights, model_cfg, checkpoint)
            try:
                per_video = map_jobs(_score_in_worker, val_set.videos, workers, initializer=_start_worker,
                                     initargs=(checkpoint,), start_method="spawn")
            except BrokenProcessPool as error:
                raise UnivsError(
                    f"the {workers} validation worker processes died (their own error is printed above). "
                    "They are spawned and import the main script: a script that trains through the "
                    "Python API must start training under `if __name__ == \"__main__\":`, or set "
                    "validation.workers=1") from error
    else:
        segmenter = _segmenter(model_cfg, weights, device, text_encoder)
        per_video = [score_video(video, predict_video(segmenter, video)) for video in val_set.videos]
    metrics, _ = summarize([o for objects in per_video for o in objects])
    return {"J&F": metrics["J&F-Mean"], "J": metrics["J-Mean"], "F": metrics["F-Mean"]}
