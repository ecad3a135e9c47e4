"""The per-frame model work shared by every task: encode once, decode all targets in one pass.

:class:`FrameEngine` owns the model calls of streaming inference (arXiv 2402.18115 §3.3, §4;
architecture.md §6, §6a):

- **Feature cache.** Each frame goes through backbone + pixel decoder exactly once; its features
  enter a window of the last ``clip_frames`` frames. The official loop recomputes the encoder for
  every 5-frame clip it slides by one; caching gives the same features with about 5× less work.
- **Decoding.** All targets are prompt queries of *one* decoder pass over the window (plus the
  learnable queries), so a target costs one query, not one pass. The window is causal: the newest
  frame's prediction is the output, as soon as that frame is read (no look-ahead; the official
  sums the logits of the 5 overlapping clips that contain a frame, which needs 4 frames of delay).
  With ``clip_frames = 1`` (default) decoding is frame by frame.
- **Tokens.** Prompt and memory tokens are read from the frame they lie on, with that frame's
  absolute index as their temporal position.

Every tensor here stays on the engine's device; CUDA runs under bf16 autocast, CPU in float32.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass

import torch

from univs.config import InferenceConfig
from univs.model.prompt_encoder import sample_mask_prompt
from univs.model.types import ImageFeatures, PromptRegions, PromptTokens
from univs.model.univs_model import UniVS


@dataclass
class StreamPredictions:
    """One query stream's predictions on the newest frame of the window.

    logits: (Q, h4, w4) mask logits at the mask stride (float32); reid: (Q, D) L2-normalised embeddings;
    class_logits: (Q, C) or None (no vocabulary); expr: (Q,) RefVOS expression logits or None.
    """

    logits: torch.Tensor
    reid: torch.Tensor
    class_logits: torch.Tensor | None = None
    expr: torch.Tensor | None = None


@dataclass
class FramePredictions:
    """Decoder output of one frame: the prompt queries (one per target, in pool order), the
    learnable queries (detections), and the learned re-id temperature τ."""

    prompt: StreamPredictions
    learnable: StreamPredictions
    reid_temperature: float


def _float(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.float()


def split_targets(tokens: PromptTokens) -> list[PromptTokens]:
    """K one-target PromptTokens from a K-target one."""
    def row(x: torch.Tensor | None, i: int) -> torch.Tensor | None:
        return None if x is None else x[i:i + 1]

    return [PromptTokens(row(tokens.tokens, i), row(tokens.pos, i), row(tokens.valid, i), row(tokens.stream, i),
                         row(tokens.sentence, i), row(tokens.query_mask, i)) for i in range(tokens.num_targets)]


class FrameEngine:
    """Model calls for one video: feature cache, decoding, prompt and memory tokens.

    model: a UniVS in eval mode on ``device``; num_points: R, pixels the sampler draws per target
    and frame; class_embeddings: (C, Dt) vocabulary features or None; self_attn_mode: Sep-SA mode.
    """

    def __init__(self, model: UniVS, cfg: InferenceConfig, device: torch.device, num_points: int,
                 class_embeddings: torch.Tensor | None = None, seed: int = 0):
        if cfg.clip_frames < 1:
            raise ValueError(f"clip_frames must be at least 1, got {cfg.clip_frames}")
        self.model = model
        self.cfg = cfg
        self.device = device
        self.num_points = num_points
        self.class_embeddings = class_embeddings
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self._cache: deque[tuple[int, ImageFeatures]] = deque(maxlen=cfg.clip_frames)

    @property
    def mask_stride(self) -> int:
        """Stride of the model's mask logits (its pixel decoder's ``common_stride``)."""
        return self.model.cfg.pixel_decoder.common_stride

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when ``cfg.amp``, nothing on CPU."""
        if self.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ features

    def clear(self) -> None:
        """Forget the cached frames (a rewind restarts the window)."""
        self._cache.clear()

    @torch.no_grad()
    def encode(self, frame_idx: int, image: torch.Tensor) -> ImageFeatures:
        """Encode one frame (1, 3, h, w) and push its features into the window; returns them."""
        with self.autocast():
            features = self.model.encode_frames(image)
        self._cache.append((frame_idx, features))
        return features

    @property
    def current(self) -> tuple[int, ImageFeatures]:
        """(frame index, features) of the newest cached frame."""
        return self._cache[-1]

    def window(self) -> tuple[ImageFeatures, torch.Tensor]:
        """Features of the cached frames (T, ...) and their (1, T) absolute indices."""
        frames = [f for _, f in self._cache]
        times = torch.tensor([[t for t, _ in self._cache]], dtype=torch.long, device=self.device)
        if len(frames) == 1:
            return frames[0], times
        return ImageFeatures(torch.cat([f.mask_features for f in frames]),
                             [torch.cat(levels) for levels in zip(*(f.multi_scale for f in frames))]), times

    # ------------------------------------------------------------------ decoding

    @torch.no_grad()
    def decode(self, pools: PromptTokens | None) -> FramePredictions:
        """Decode the window with the targets' pools (K targets or None) → the newest frame's
        predictions of both streams."""
        features, times = self.window()
        with self.autocast():
            out = self.model.decode(features, times.shape[1], [pools], self.class_embeddings, times,
                                    self.cfg.self_attn_mode)

        def stream(p) -> StreamPredictions:
            return StreamPredictions(p.mask_logits[0, :, -1].float(), p.reid[0, :, -1].float(),
                                     _float(None if p.class_logits is None else p.class_logits[0]),
                                     _float(None if p.expr_scores is None else p.expr_scores[0]))

        return FramePredictions(stream(out.prompt[-1]), stream(out.learnable[-1]), float(out.reid_temperature))

    # ------------------------------------------------------------------ tokens

    @torch.no_grad()
    def visual_tokens(self, regions: PromptRegions) -> PromptTokens:
        """Prompt tokens of K point sets on the newest frame (``regions.frame`` = 0)."""
        frame_idx, features = self.current
        times = torch.tensor([frame_idx], dtype=torch.long, device=self.device)
        with self.autocast():
            tokens = self.model.encode_visual_prompts(features, regions, times)
        return _float_tokens(tokens)

    @torch.no_grad()
    def text_tokens(self, text: str) -> PromptTokens:
        """Expression tokens (one target) read against the newest frame."""
        with self.autocast():
            tokens = self.model.encode_text_prompts([text], self.current[1])
        return _float_tokens(tokens)

    def mask_slots(self, masks: torch.Tensor) -> list[PromptTokens]:
        """One memory slot per (K, h, w) bool processing-size mask of the newest frame: R tokens drawn
        from it by the visual sampler."""
        regions = sample_mask_prompt(masks, 0, self.num_points, generator=self.generator)
        return split_targets(self.visual_tokens(regions))


def _float_tokens(p: PromptTokens) -> PromptTokens:
    return PromptTokens(p.tokens.float(), p.pos.float(), p.valid, p.stream, _float(p.sentence), p.query_mask)
