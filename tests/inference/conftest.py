"""A tiny model overfitted, inside the tests, to one synthetic video, and that video's world.

The world (``univs.data.synth``): 2 videos of 8 frames, 64×96, two to three shapes over stuff
textures; video 0 has a shape entering on a later frame. The model (a small ``tiny``: 3 decoder
layers, 16 learnable queries, ImageNet EfficientNet-Lite0) is trained on 3-frame clips of video 0
the way UniVS trains (arXiv 2402.18115 §3.2; architecture.md §5): every target visible on the
clip's first frame is prompted by its mask, its box, or, for two shapes, their referring
expression, and supervised on every frame of the clip; the learnable queries learn to detect
every track with its category. That is enough for streaming inference to follow prompts of every
kind, detect and classify things and stuff, and ground expressions on this video.

Small models run fastest on one thread, and the machine may be busy: the tests here use one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from univs.checkpoint import save_checkpoint
from univs.config import ModelConfig, SynthConfig, model_preset
from univs.data.synth import generate_world
from univs.data.types import VideoDataset, VideoRecord
from univs.inference.postprocess import mask_boxes
from univs.losses import SetCriterion
from univs.model import ClipPrompts, ClipTargets, build_model, sample_mask_prompt
from univs.model.prompt_encoder import sample_box_prompt
from univs.model.univs_model import UniVS

from inference_helpers import EXPRESSIONS

SIZE = (64, 96)
CLIP = 3
STEPS = 180
"""Track id → the expression the model learns for it (texts of the world's video 0)."""


@dataclass
class Overfit:
    """The trained model, its checkpoint file, the world and, for video 0: the vocabulary (every
    category name, in category-id order), the stuff names and the track masks (M, T, H, W)."""

    model: UniVS
    checkpoint: Path
    world: VideoDataset
    vocabulary: list[str]
    stuff: list[str]
    masks: torch.Tensor

    @property
    def video(self) -> VideoRecord:
        return self.world.videos[0]

    def gt(self, track_id: int, t: int) -> np.ndarray:
        """(H, W) bool ground truth of a track of video 0 on frame t (empty where absent)."""
        index = [tr.track_id for tr in self.video.tracks].index(track_id)
        return self.masks[index, t].numpy()


def _config() -> ModelConfig:
    cfg = model_preset("tiny")
    cfg.pixel_decoder.enc_layers = 1
    cfg.decoder = dataclasses.replace(cfg.decoder, dec_layers=3, num_queries=16)
    return cfg


def _train(world: VideoDataset) -> UniVS:
    video = world.videos[0]
    ids = sorted(world.categories)
    vocabulary = [world.categories[i].name for i in ids]
    frames = torch.stack([torch.from_numpy(np.asarray(video.frames[t])).permute(2, 0, 1).float()
                          for t in range(len(video))])
    masks = _track_masks(video)
    classes = torch.tensor([ids.index(tr.category_id) for tr in video.tracks])
    track_index = {tr.track_id: m for m, tr in enumerate(video.tracks)}
    cfg = _config()
    model = build_model(cfg, verbose=False).train()
    criterion = SetCriterion(dataclasses.replace(cfg.loss, num_points=1024))
    backbone = [p for p in model.backbone.parameters() if p.requires_grad]
    others = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")]
    optimizer = torch.optim.AdamW([{"params": backbone, "lr": 1e-4}, {"params": others, "lr": 1e-3}],
                                  weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    m = len(video.tracks)
    for step in range(STEPS):
        s = int(torch.randint(0, len(video) - CLIP + 1, (1,), generator=g))
        present = masks[:, s].flatten(1).any(1).nonzero().flatten()
        kind = step % 3
        if kind == 0:
            prompts = ClipPrompts(regions=sample_mask_prompt(masks[present, s], 0, 32, generator=g))
        elif kind == 1:
            prompts = ClipPrompts(regions=sample_box_prompt(mask_boxes(masks[present, s]), 0, 32, generator=g))
        else:
            present = torch.tensor([track_index[i] for i in EXPRESSIONS])
            prompts = ClipPrompts(texts=list(EXPRESSIONS.values()))
        target = ClipTargets(masks=masks[:, s:s + CLIP], classes=classes, track_ids=torch.arange(m),
                             valid=torch.ones(m, CLIP, dtype=torch.bool), prompt_targets=present)
        out = model(frames[s:s + CLIP][None], [prompts], vocabulary, frame_times=torch.arange(s, s + CLIP)[None])
        loss = criterion(out, [target], out.reid_temperature)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval()


def _track_masks(video: VideoRecord) -> torch.Tensor:
    masks = torch.zeros(len(video.tracks), len(video), *SIZE, dtype=torch.bool)
    for m, tr in enumerate(video.tracks):
        for t in tr.present_frames():
            masks[m, t] = torch.from_numpy(tr.mask(t))
    return masks


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def overfit(tmp_path_factory, one_thread) -> Overfit:
    torch.manual_seed(0)
    world = generate_world(SynthConfig(videos=2, frames=8, size=SIZE, seed=3, min_things=2, max_things=3))
    model = _train(world)
    path = tmp_path_factory.mktemp("model") / "overfit.safetensors"
    save_checkpoint(model.state_dict(), model.cfg, path)
    ids = sorted(world.categories)
    return Overfit(model, path, world, [world.categories[i].name for i in ids],
                   [world.categories[i].name for i in ids if not world.categories[i].isthing],
                   _track_masks(world.videos[0]))
