"""Typed tensors that flow between the model's stages, the losses, training and inference.

Shapes use: B clips, T frames per clip, N = B·T frames, D hidden dim, Q learnable queries,
K prompted targets per clip (padded across the batch), L prompt tokens per target,
C vocabulary size, Dt text-encoder dim, H4×W4 the stride-4 mask resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# Task streams: each adds its own learned task embedding to its queries (architecture.md §3).
STREAM_DETECTION = 0  # learnable queries and category-name prompts
STREAM_VISUAL = 1  # visual-prompt tracking (VOS/PVOS, and detections turned into prompts)
STREAM_GROUNDING = 2  # text (RefVOS)


@dataclass
class ImageFeatures:
    """Per-frame output of backbone + pixel decoder.

    mask_features: (N, D, H/s, W/s), s = the pixel decoder's common_stride (4, or 2)
    multi_scale: 3 levels ordered (1/32, 1/16, 1/8), each (N, D, h_l, w_l)
    """

    mask_features: torch.Tensor
    multi_scale: list[torch.Tensor]

    @property
    def num_frames(self) -> int:
        return self.mask_features.shape[0]

    def select(self, index: torch.Tensor | slice | list[int]) -> "ImageFeatures":
        """The same features restricted to some frames (first dimension)."""
        return ImageFeatures(self.mask_features[index], [f[index] for f in self.multi_scale])


@dataclass
class PromptRegions:
    """Visual prompts of K targets as point sets on the image plane of one frame each.

    points: (K, R, 2) float, (x, y) in pixels of the model's input frame
    labels: (K, R) long — 1 positive, 0 negative (SAM-style), -1 padding
    frame:  (K,) long — index (within the clip or feature batch) of the frame the prompt lies on
    The visual sampler (``univs.model.prompt_encoder``) draws the R points from a mask/box/scribble.
    """

    points: torch.Tensor
    labels: torch.Tensor
    frame: torch.Tensor


@dataclass
class PromptTokens:
    """Memory pools of K targets for one clip: the tokens ProCA attends to.

    tokens:  (K, L, D) content of each prompt token
    pos:     (K, L, D) its position encoding (3-D sine: x, y, frame)
    valid:   (K, L) bool — False marks padding
    stream:  (K,) long — STREAM_* of each target (selects its task embedding)
    sentence: (K, Dt) or None — the expression's sentence feature for text targets (RefVOS score)
    query_mask: (K, L) bool or None — the tokens averaged into the target's initial query (before
             its task embedding); None = all valid tokens (the official "averaged memory"). Negative
             clicks are left out; an expression's query is its sentence token alone (official).
    Build, concatenate and extend these with ``univs.model.prompt_encoder`` (``cat_prompt_tokens``,
    ``append_prompt_tokens`` for memory pools).
    """

    tokens: torch.Tensor
    pos: torch.Tensor
    valid: torch.Tensor
    stream: torch.Tensor
    sentence: torch.Tensor | None = None
    query_mask: torch.Tensor | None = None

    @property
    def num_targets(self) -> int:
        return self.tokens.shape[0]


@dataclass
class ClipPrompts:
    """Raw prompts of one clip for ``UniVS.forward`` (training); the model encodes them.

    regions:   PromptRegions or None — visual prompts (STREAM_VISUAL); ``frame`` indexes the clip's
               frames (0..T-1)
    texts:     referring expressions (STREAM_GROUNDING), one target each
    class_ids: (Kc,) long or None — category-name prompts (STREAM_DETECTION), indices into the
               batch vocabulary
    The clip's prompt queries come in this order: the regions' targets, the texts, the class ids.
    """

    regions: PromptRegions | None = None
    texts: list[str] = field(default_factory=list)
    class_ids: torch.Tensor | None = None


@dataclass
class QueryPredictions:
    """Predictions of one head application for one query set.

    mask_logits:  (B, Q, T, H4, W4)
    class_logits: (B, Q, C) cosine × temperature, averaged over frames; None without vocabulary
    reid:         (B, Q, T, D) L2-normalised re-id embeddings
    expr_scores:  (B, Q) RefVOS expression score (prompt queries with a sentence), else None
    """

    mask_logits: torch.Tensor
    class_logits: torch.Tensor | None
    reid: torch.Tensor
    expr_scores: torch.Tensor | None = None


@dataclass
class DecoderOutput:
    """Deep-supervised decoder output: one entry per head application (dec_layers + 1).

    ``learnable[-1]`` / ``prompt[-1]`` are the final predictions. ``prompt`` entries are empty
    (Q = 0) when the clip has no prompted targets.
    query_embeds: (B, K, T, D) final decoder embeddings of the prompt queries (for memory/consistency)
    prompt_valid: (B, K) bool — False marks padding targets (clips with fewer targets than K);
                  a clip's real targets come first, in the order of its PromptTokens
    reid_temperature: () learned re-id temperature τ = exp(−reid_temp): similarities are cos / τ
    """

    learnable: list[QueryPredictions]
    prompt: list[QueryPredictions]
    query_embeds: torch.Tensor | None = None
    prompt_valid: torch.Tensor | None = None
    reid_temperature: torch.Tensor | None = None


@dataclass
class ClipTargets:
    """Ground truth of one clip for the losses.

    masks:     (M, T, H, W) bool — every GT object of the clip (H×W = input size)
    classes:   (M,) long — index into the batch vocabulary, -1 where unknown
    track_ids: (M,) long — identities, consistent across frames (re-id loss)
    valid:     (M, T) bool — object annotated/present on that frame
    prompt_targets: (K,) long — for each prompt query, the index of its GT object in ``masks``
    """

    masks: torch.Tensor
    classes: torch.Tensor
    track_ids: torch.Tensor
    valid: torch.Tensor
    prompt_targets: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.long))
