"""Prompt encoder: the visual sampler and the text branch (arXiv 2402.18115 §3.1, Fig. 3).

Visual sampler (parameter-free, SEEM's idea). A target's visual prompt is a set of pixels on one
frame — a mask, a box (its filled rectangle), clicked points or a scribble (its stroke pixels).
``sample_mask_prompt`` / ``sample_box_prompt`` / ``click_prompt`` turn them into
:class:`PromptRegions` of R points per target (all pixels when fewer; R is a per-task setting,
official 32 to 256). ``PromptEncoder.encode_visual`` then reads each point's feature bilinearly
from the 1/8 level of the decoder's image memory and its 3-D sine position (x, y, absolute frame
index): these are the target's prompt tokens. Negative clicks (label 0) are an extension: with
``PromptEncoderConfig.negative_point_embedding`` they become tokens marked by a learned embedding
(ProCA reads them, the query mean skips them: ``query_mask``); without it they are ignored.
Fine tokens are a second extension (``PromptEncoderConfig.fine_tokens``): each token adds
``fine_token_proj`` of the mask features (stride 4 or 2) read at its point; the projection starts
at zero, so a model gains it without changing its output.

Text branch. A frozen text encoder (``univs.model.text_encoder``) gives token and sentence
features (Dt-d). They go through ``text2vis_projection(text_norm(·))`` (Dt → D) and one
language-to-vision cross-attention layer (queries = text tokens, keys/values = the flattened
multi-scale image memory of the clip's frames, level embeddings added, no positions), as the
official decoder does. An expression's tokens are [sentence ++ words] and its initial query is the
sentence token; a category name is one token (class-name prompts for category-guided tasks).

Memory pools: tokens drawn from a predicted mask are ordinary prompt tokens; ``append_prompt_tokens``
adds them to a target's pool and the query is the mean of the pool (architecture.md §6).

Official-name mapping: ``text_norm``, ``text2vis_projection`` and
``lang2vision_cross_attention_layer`` here are ``sem_seg_head.predictor.<same name>`` in the
official checkpoint. ``negative_point_embed`` and ``fine_token_proj`` have no official counterpart.
"""

from __future__ import annotations

import torch
from torch import nn

from univs.config import PromptEncoderConfig
from univs.model.attention import CrossAttentionLayer, reset_transformer_parameters
from univs.model.position_encoding import point_position_encoding
from univs.model.text_encoder import TextEmbeddings
from univs.model.types import (
    STREAM_DETECTION,
    STREAM_GROUNDING,
    STREAM_VISUAL,
    PromptRegions,
    PromptTokens,
)

PROMPT_STRIDE = 8
"""Stride of the image-memory level the visual sampler reads (multi_scale[2], 1/8)."""


# --------------------------------------------------------------------------- visual sampler


def _frames(frame: int | torch.Tensor, k: int, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(frame, dtype=torch.long, device=device).expand(k).clone()


def sample_mask_prompt(masks: torch.Tensor, frame: int | torch.Tensor, num_points: int,
                       generator: torch.Generator | None = None) -> PromptRegions:
    """Draw ``num_points`` random pixels (without replacement) from each of K masks or scribbles.

    masks: (K, H, W) bool — a target's mask, or its scribble strokes; frame: int or (K,) long.
    Returns points at pixel centres, (K, R, 2) (x, y); a target with fewer pixels than R gets all
    of them and label −1 (padding) in the remaining slots; an empty mask gives no valid point.
    """
    k, h, w = masks.shape
    flat = masks.reshape(k, h * w).bool()
    scores = torch.rand(flat.shape, generator=generator, device=masks.device).masked_fill(~flat, -1.0)
    values, index = scores.topk(min(num_points, h * w), dim=1)
    points = torch.stack([(index % w).float() + 0.5, torch.div(index, w, rounding_mode="floor").float() + 0.5], -1)
    labels = torch.where(values >= 0, 1, -1)
    missing = num_points - index.shape[1]
    if missing > 0:
        points = torch.cat([points, points.new_zeros(k, missing, 2)], 1)
        labels = torch.cat([labels, labels.new_full((k, missing), -1)], 1)
    return PromptRegions(points, labels.long(), _frames(frame, k, masks.device))


def sample_box_prompt(boxes: torch.Tensor, frame: int | torch.Tensor, num_points: int,
                      generator: torch.Generator | None = None) -> PromptRegions:
    """Draw ``num_points`` uniform random points inside each of K boxes (their filled rectangles).

    boxes: (K, 4) float (x0, y0, x1, y1) in input-frame pixels; frame: int or (K,) long.
    Returns (K, R, 2) points, all labelled 1.
    """
    k = boxes.shape[0]
    lo = torch.minimum(boxes[:, :2], boxes[:, 2:]).float()
    hi = torch.maximum(boxes[:, :2], boxes[:, 2:]).float()
    u = torch.rand((k, num_points, 2), generator=generator, device=boxes.device)
    points = lo[:, None] + u * (hi - lo)[:, None]
    labels = torch.ones(k, num_points, dtype=torch.long, device=boxes.device)
    return PromptRegions(points, labels, _frames(frame, k, boxes.device))


def click_prompt(points: torch.Tensor, labels: torch.Tensor, frame: int | torch.Tensor) -> PromptRegions:
    """Clicked points as they are (no sampling).

    points: (K, P, 2) float (x, y) input-frame pixels; labels: (K, P) long — 1 positive,
    0 negative, −1 padding; frame: int or (K,) long.
    """
    return PromptRegions(points.float(), labels.long(), _frames(frame, points.shape[0], points.device))


def cat_regions(regions: list[PromptRegions]) -> PromptRegions:
    """Concatenate the targets of several PromptRegions, padding R with label −1."""
    r = max(p.points.shape[1] for p in regions)
    points = [torch.cat([p.points, p.points.new_zeros(p.points.shape[0], r - p.points.shape[1], 2)], 1)
              for p in regions]
    labels = [torch.cat([p.labels, p.labels.new_full((p.labels.shape[0], r - p.labels.shape[1]), -1)], 1)
              for p in regions]
    return PromptRegions(torch.cat(points), torch.cat(labels), torch.cat([p.frame for p in regions]))


def bilinear_gather(feature_map: torch.Tensor, frame: torch.Tensor, points: torch.Tensor,
                    stride: int) -> torch.Tensor:
    """Bilinear features of K×R points (border-clamped; pixel-centre convention).

    feature_map: (N, D, h, w) at ``stride``; frame: (K,) long index into N;
    points: (K, R, 2) (x, y) in input pixels. Returns (K, R, D).
    """
    n, d, h, w = feature_map.shape
    flat = feature_map.permute(0, 2, 3, 1).reshape(n * h * w, d)
    fx = (points[..., 0] / stride - 0.5).clamp(0, w - 1)
    fy = (points[..., 1] / stride - 0.5).clamp(0, h - 1)
    x0, y0 = fx.floor().long(), fy.floor().long()
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    wx, wy = (fx - x0).unsqueeze(-1).to(flat.dtype), (fy - y0).unsqueeze(-1).to(flat.dtype)
    base = frame[:, None] * (h * w)

    def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        return flat[base + yy * w + xx]

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return top * (1 - wy) + bottom * wy


# --------------------------------------------------------------------------- prompt tokens


def query_mask(prompts: PromptTokens) -> torch.Tensor:
    """(K, L) bool: the tokens averaged into each target's initial query."""
    return prompts.valid if prompts.query_mask is None else prompts.query_mask & prompts.valid


def initial_query(prompts: PromptTokens) -> tuple[torch.Tensor, torch.Tensor]:
    """Initial content and position of each target's prompt query, both (K, D): the means of
    the tokens and positions under ``query_mask`` (zero where a target has none)."""
    weight = query_mask(prompts).unsqueeze(-1).to(prompts.tokens.dtype)
    count = weight.sum(1).clamp(min=1)
    return (prompts.tokens * weight).sum(1) / count, (prompts.pos * weight).sum(1) / count


def _pad_tokens(x: torch.Tensor, length: int, value: float | bool = 0) -> torch.Tensor:
    pad = x.new_full((x.shape[0], length - x.shape[1], *x.shape[2:]), value)
    return torch.cat([x, pad], 1)


def cat_prompt_tokens(items: list[PromptTokens]) -> PromptTokens:
    """The targets of several PromptTokens (same D) as one PromptTokens, L padded."""
    if len(items) == 1:
        return items[0]
    length = max(p.tokens.shape[1] for p in items)
    sentence_dim = next((p.sentence.shape[1] for p in items if p.sentence is not None), None)

    def sentence(p: PromptTokens) -> torch.Tensor:
        return p.tokens.new_zeros(p.num_targets, sentence_dim) if p.sentence is None else p.sentence

    any_mask = any(p.query_mask is not None for p in items)
    return PromptTokens(
        tokens=torch.cat([_pad_tokens(p.tokens, length) for p in items]),
        pos=torch.cat([_pad_tokens(p.pos, length) for p in items]),
        valid=torch.cat([_pad_tokens(p.valid, length, False) for p in items]),
        stream=torch.cat([p.stream for p in items]),
        sentence=None if sentence_dim is None else torch.cat([sentence(p) for p in items]),
        query_mask=torch.cat([_pad_tokens(query_mask(p), length, False) for p in items]) if any_mask else None,
    )


def append_prompt_tokens(pool: PromptTokens, new: PromptTokens) -> PromptTokens:
    """Memory-pool update: the tokens of ``new`` join each target's pool (same K), along L.

    The pool keeps its stream and sentence; the new tokens join the query mean under their own
    ``query_mask`` (so the query becomes the mean of the whole pool).
    """
    any_mask = pool.query_mask is not None or new.query_mask is not None
    return PromptTokens(
        tokens=torch.cat([pool.tokens, new.tokens], 1),
        pos=torch.cat([pool.pos, new.pos], 1),
        valid=torch.cat([pool.valid, new.valid], 1),
        stream=pool.stream,
        sentence=pool.sentence,
        query_mask=torch.cat([query_mask(pool), query_mask(new)], 1) if any_mask else None,
    )


# --------------------------------------------------------------------------- the module


class PromptEncoder(nn.Module):
    """Text projections, the language-to-vision layer and the optional extensions.

    text_norm: LayerNorm(Dt); text2vis_projection: Linear(Dt → D);
    lang2vision_cross_attention_layer: cross-attention (D, nheads) from text tokens to the image;
    negative_point_embed: Embedding(1, D) (``negative_point_embedding``);
    fine_token_proj: Linear(mask_dim → D), zero at start (``fine_tokens``), reading mask features
    of stride ``mask_stride`` (the pixel decoder's ``common_stride``).
    """

    def __init__(self, cfg: PromptEncoderConfig, hidden_dim: int, nheads: int, mask_dim: int | None = None,
                 mask_stride: int | None = None):
        super().__init__()
        self.text_norm = nn.LayerNorm(cfg.text.dim)
        self.text2vis_projection = nn.Linear(cfg.text.dim, hidden_dim)
        self.lang2vision_cross_attention_layer = CrossAttentionLayer(hidden_dim, nheads)
        self.negative_point_embed = nn.Embedding(1, hidden_dim) if cfg.negative_point_embedding else None
        if cfg.fine_tokens and (mask_dim is None or mask_stride is None):
            raise ValueError("prompt_encoder.fine_tokens needs the pixel decoder's mask_dim and common_stride")
        self.mask_stride = mask_stride
        self.fine_token_proj = nn.Linear(mask_dim, hidden_dim) if cfg.fine_tokens else None
        reset_transformer_parameters(self)
        if self.fine_token_proj is not None:
            nn.init.zeros_(self.fine_token_proj.weight)
            nn.init.zeros_(self.fine_token_proj.bias)

    def encode_visual(self, memory: torch.Tensor, regions: PromptRegions, frame_times: torch.Tensor,
                      stream: int = STREAM_VISUAL, mask_features: torch.Tensor | None = None) -> PromptTokens:
        """Prompt tokens of K targets from their point sets.

        memory: (N, D, h, w) the 1/8 image-memory level (features + level embedding) of N frames;
        regions: points (K, R, 2) in input pixels, frame (K,) index into N;
        frame_times: (N,) long absolute frame index of each of the N frames;
        mask_features: (N, Dm, H/s, W/s), s = ``mask_stride``, read by the fine tokens (needed
        when ``fine_tokens`` is on, ignored otherwise).
        Returns PromptTokens with L = R: tokens/pos (K, R, D), valid = labelled points.
        """
        n, d, h, w = memory.shape
        frame = regions.frame.to(memory.device)
        points = regions.points.to(memory.device)
        labels = regions.labels.to(memory.device)
        tokens = bilinear_gather(memory, frame, points, PROMPT_STRIDE)
        if self.fine_token_proj is not None:
            if mask_features is None:
                raise ValueError("fine prompt tokens need the mask features")
            tokens = tokens + self.fine_token_proj(bilinear_gather(mask_features, frame, points, self.mask_stride))
        # normalised so that a point at a cell centre gets exactly that memory cell's code
        xy = (points / PROMPT_STRIDE + 0.5) / points.new_tensor([w, h])
        times = frame_times.to(memory.device)[frame]
        pos = point_position_encoding(xy, times, d).to(tokens.dtype)
        positive = labels == 1
        if self.negative_point_embed is None:
            valid, mask = positive, None
        else:
            valid, mask = labels >= 0, positive
            tokens = tokens + (labels == 0).unsqueeze(-1) * self.negative_point_embed.weight[0]
        k = points.shape[0]
        stream_ids = torch.full((k,), stream, dtype=torch.long, device=memory.device)
        return PromptTokens(tokens, pos, valid, stream_ids, query_mask=mask)

    def project_text(self, features: torch.Tensor) -> torch.Tensor:
        """Text features (..., Dt) → (..., D): ``text2vis_projection(text_norm(·))``."""
        return self.text2vis_projection(self.text_norm(features))

    def text_to_vision(self, tokens: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Language-to-vision cross-attention. tokens (K, L, D); memory (S, D) → (K, L, D)."""
        k, length, d = tokens.shape
        out = self.lang2vision_cross_attention_layer(tokens.reshape(1, k * length, d), memory[None])[0]  # batch of one
        return out.reshape(k, length, d)

    def encode_text(self, text: TextEmbeddings, memory: torch.Tensor) -> PromptTokens:
        """Prompt tokens of K referring expressions (STREAM_GROUNDING).

        text: frozen features, tokens (K, L, Dt), token_mask (K, L), sentence (K, Dt), on the
        memory's device; memory: (S, D) flattened multi-scale image memory of the clip.
        Returns tokens (K, 1 + L, D) = [sentence ++ words], zero positions; the initial query is
        the sentence token (``query_mask``).
        """
        raw = torch.cat([text.sentence[:, None], text.tokens], 1).to(memory.dtype)
        tokens = self.text_to_vision(self.project_text(raw), memory)
        valid = torch.cat([text.token_mask.new_ones(text.token_mask.shape[0], 1), text.token_mask], 1)
        stream = torch.full((tokens.shape[0],), STREAM_GROUNDING, dtype=torch.long, device=memory.device)
        valid = valid.to(memory.device)
        first = torch.zeros_like(valid)
        first[:, 0] = True
        return PromptTokens(tokens, torch.zeros_like(tokens), valid, stream,
                            sentence=text.sentence.to(memory.device), query_mask=first)

    def encode_class_names(self, class_embeddings: torch.Tensor, memory: torch.Tensor) -> PromptTokens:
        """Class-name prompt tokens (STREAM_DETECTION): one token per name.

        class_embeddings: (C, Dt) sentence features of the names; memory: (S, D).
        Returns tokens (C, 1, D), zero positions.
        """
        raw = class_embeddings.to(memory.device, memory.dtype)[:, None]
        tokens = self.text_to_vision(self.project_text(raw), memory)
        c = tokens.shape[0]
        return PromptTokens(tokens, torch.zeros_like(tokens),
                            torch.ones(c, 1, dtype=torch.bool, device=memory.device),
                            torch.full((c,), STREAM_DETECTION, dtype=torch.long, device=memory.device))
