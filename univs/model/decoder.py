"""Unified video mask decoder (arXiv 2402.18115 §3.2, Fig. 2; Mask2Former's masked decoder).

Two query streams share every weight but never mix:

* learnable queries — ``query_feat`` (content) and ``query_embed`` (position), Q of them, each
  repeated over the clip's T frames;
* prompt queries — one per prompted target, content = its initial query (mean of its prompt
  tokens, or the sentence token of an expression) + the task embedding of its stream
  (``prompt_detection`` / ``prompt_sot`` / ``prompt_grounding``), position = the mean position of
  its tokens; repeated over T.

Order of operations (the official one)::

    ProCA_0 (prompt stream) → heads_0
    for i in 0..L-1:  [ProCA_i if i > 0] → masked image cross-attn_i (level i mod 3, per frame)
                      → spatio-temporal self-attn_i → FFN_i → heads_{i+1}

**ProCA** (prompt cross-attention): the query of target k on frame t attends to [itself ++ the
target's L prompt tokens] (keys carry positions). There are L ProCA modules for L layers, as in
the official checkpoint (``transformer_prompt_self_attention_layers.0..L-1``): module 0 runs once,
before the first head — which is also before layer 0's image cross-attention, since the head does
not change the queries — and module i > 0 runs before layer i's cross-attention. After ProCA_0 the
prompt queries' position embedding becomes their content (fixed from then on), as in the official
decoder. Learnable queries skip ProCA.

**Masked image cross-attention**: per frame, a query attends to the pixels of the memory level
where the previous head's mask, resized to the level, has sigmoid > 0.5; a query whose mask is
empty there attends everywhere (Mask2Former's rule).

**Separated self-attention**: queries are flattened over time (Q·T tokens) and attend
spatio-temporally within their own stream — learnable ↔ prompt attention is blocked (``sep``, the
official default); ``sep-blocked`` also isolates each prompt target (its T tokens attend only to
each other; the official choice for RefVOS). The blocks are computed as separate attention calls
over each stream (the same result as one masked call; it makes the separation exact bit for bit
and skips the blocked Q·T × K·T products).

**Heads** (after ``decoder_norm``, shared by both streams, after every layer and before the
first): mask logits = ``mask_embed(q)`` · mask features per frame (stride 4, or 2); class logits =
cos(``vis2text_projection(q)``, text embedding of each name) averaged over frames × exp(``cls_temp``)
(any vocabulary); expression score of a prompt query = ⟨mean over frames of
``vis2text_projection(q)``, its sentence feature⟩ / D (the official training scale); re-id
embedding = L2-normalised decoder-normed query per frame, with the learned temperature
exp(−``reid_temp``) for the losses and association.

Every parameter keeps its official name: ``decoder.X`` here is ``sem_seg_head.predictor.X``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from univs.config import DecoderConfig
from univs.errors import InputError
from univs.model.attention import (
    MLP,
    CrossAttentionLayer,
    FFNLayer,
    SelfAttentionLayer,
    reset_transformer_parameters,
)
from univs.model.position_encoding import video_position_encoding
from univs.model.prompt_encoder import initial_query
from univs.model.types import DecoderOutput, ImageFeatures, PromptTokens, QueryPredictions

NUM_LEVELS = 3
SELF_ATTN_MODES = ("sep", "sep-blocked")


class MemoryLevel(NamedTuple):
    """One level of the decoder's image memory for N frames.

    src: (N, h·w, D) features + level embedding; pos: (N, h·w, D) 3-D sine; size: (h, w).
    """

    src: torch.Tensor
    pos: torch.Tensor
    size: tuple[int, int]


class _PromptBatch(NamedTuple):
    """The prompt targets of B clips, padded to K targets and L tokens.

    tokens, pos: (B·K, L, D); blocked: (B·K, L) True for padding tokens; query, query_pos:
    (B, K, D) initial query content (task embedding added) and position; valid: (B, K);
    sentence: (B, K, Dt) or None (zeros for targets without one).
    """

    tokens: torch.Tensor
    pos: torch.Tensor
    blocked: torch.Tensor
    query: torch.Tensor
    query_pos: torch.Tensor
    valid: torch.Tensor
    sentence: torch.Tensor | None


class VideoMaskDecoder(nn.Module):
    """The unified video mask decoder with the official module names (see the module docstring).

    Args:
        cfg: hidden dim D, heads, FFN width, L = ``dec_layers``, Q = ``num_queries``, Sep-SA mode.
        mask_dim: channels of the pixel decoder's mask features.
        text_dim: Dt, width of the frozen text encoder's features.
    """

    def __init__(self, cfg: DecoderConfig, mask_dim: int, text_dim: int):
        super().__init__()
        if cfg.self_attn_mode not in SELF_ATTN_MODES:
            raise InputError(f"unknown decoder.self_attn_mode {cfg.self_attn_mode!r}; "
                             f"known: {', '.join(SELF_ATTN_MODES)}")
        d, heads = cfg.hidden_dim, cfg.nheads
        self.cfg = cfg
        self.num_heads = heads
        self.num_layers = cfg.dec_layers
        self.num_queries = cfg.num_queries
        self.transformer_prompt_self_attention_layers = nn.ModuleList(
            CrossAttentionLayer(d, heads, cfg.dropout, cfg.pre_norm) for _ in range(cfg.dec_layers))
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(d, heads, cfg.dropout, cfg.pre_norm) for _ in range(cfg.dec_layers))
        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(d, heads, cfg.dropout, cfg.pre_norm) for _ in range(cfg.dec_layers))
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(d, cfg.dim_feedforward, cfg.dropout, cfg.pre_norm) for _ in range(cfg.dec_layers))
        self.decoder_norm = nn.LayerNorm(d)
        self.query_feat = nn.Embedding(cfg.num_queries, d)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.level_embed = nn.Embedding(NUM_LEVELS, d)
        self.mask_embed = MLP(d, d, mask_dim, 3)
        self.vis2text_projection = nn.Linear(d, text_dim)
        self.cls_temp = nn.Embedding(1, 1)
        self.reid_temp = nn.Embedding(1, 1)
        self.prompt_detection = nn.Embedding(1, d)
        self.prompt_sot = nn.Embedding(1, d)
        self.prompt_grounding = nn.Embedding(1, d)
        reset_transformer_parameters(self)
        nn.init.constant_(self.cls_temp.weight, math.log(1 / 0.07))
        nn.init.constant_(self.reid_temp.weight, math.log(1 / 0.07))

    # ------------------------------------------------------------------ inputs

    def level_map(self, features: ImageFeatures, level: int) -> torch.Tensor:
        """(N, D, h, w) memory level ``level`` (0: 1/32, 1: 1/16, 2: 1/8) + its level embedding."""
        return features.multi_scale[level] + self.level_embed.weight[level][:, None, None]

    def image_memory(self, features: ImageFeatures, frame_times: torch.Tensor) -> list[MemoryLevel]:
        """The 3 memory levels (1/32, 1/16, 1/8) of N frames; frame_times: (N,) long."""
        levels = []
        for i in range(NUM_LEVELS):
            x = self.level_map(features, i)
            n, d, h, w = x.shape
            pos = video_position_encoding(frame_times, h, w, d).to(x.dtype)
            levels.append(MemoryLevel(x.flatten(2).transpose(1, 2), pos.flatten(2).transpose(1, 2), (h, w)))
        return levels

    def task_embeddings(self) -> torch.Tensor:
        """(3, D) task embeddings indexed by STREAM_DETECTION / STREAM_VISUAL / STREAM_GROUNDING."""
        return torch.cat([self.prompt_detection.weight, self.prompt_sot.weight,
                          self.prompt_grounding.weight])

    def reid_temperature(self) -> torch.Tensor:
        """() learned re-id temperature τ: similarities are cos / τ."""
        return torch.exp(-self.reid_temp.weight.reshape(()))

    def _batch_prompts(self, prompts: list[PromptTokens | None], like: torch.Tensor) -> _PromptBatch:
        b, d = len(prompts), self.decoder_norm.weight.shape[0]
        k = max((p.num_targets for p in prompts if p is not None), default=0)
        length = max((p.tokens.shape[1] for p in prompts if p is not None and p.num_targets), default=1)
        tokens = like.new_zeros(b, k, length, d)
        pos = like.new_zeros(b, k, length, d)
        blocked = torch.ones(b, k, length, dtype=torch.bool, device=like.device)
        query = like.new_zeros(b, k, d)
        query_pos = like.new_zeros(b, k, d)
        valid = torch.zeros(b, k, dtype=torch.bool, device=like.device)
        dims = [p.sentence.shape[1] for p in prompts if p is not None and p.sentence is not None]
        sentence = like.new_zeros(b, k, dims[0]) if dims else None
        tasks = self.task_embeddings().to(like.dtype)
        for i, p in enumerate(prompts):
            if p is None or p.num_targets == 0:
                continue
            n, m = p.tokens.shape[:2]
            tokens[i, :n, :m] = p.tokens
            pos[i, :n, :m] = p.pos
            blocked[i, :n, :m] = ~p.valid
            content, position = initial_query(p)
            query[i, :n] = content + tasks[p.stream]
            query_pos[i, :n] = position
            valid[i, :n] = True
            if p.sentence is not None:
                sentence[i, :n] = p.sentence
        return _PromptBatch(tokens.flatten(0, 1), pos.flatten(0, 1), blocked.flatten(0, 1),
                            query, query_pos, valid, sentence)

    # ------------------------------------------------------------------ layers

    def _proca(self, i: int, x: torch.Tensor, pos: torch.Tensor, batch: _PromptBatch) -> torch.Tensor:
        """ProCA: x, pos (B, K, T, D) → x; each frame's query reads [itself ++ its prompt tokens]."""
        b, k, t, d = x.shape
        q, qp = x.reshape(b * k, t, d), pos.reshape(b * k, t, d)
        length = batch.tokens.shape[1]
        others = ~torch.eye(t, dtype=torch.bool, device=x.device)
        attn_mask = torch.cat([others, others.new_zeros(t, length)], 1)
        blocked = torch.cat([batch.blocked.new_zeros(b * k, t), batch.blocked], 1)
        out = self.transformer_prompt_self_attention_layers[i](
            q, torch.cat([q, batch.tokens], 1), query_pos=qp, pos=torch.cat([qp, batch.pos], 1),
            attn_mask=attn_mask, key_padding_mask=blocked)
        return out.reshape(b, k, t, d)

    def _cross(self, i: int, x: torch.Tensor, pos: torch.Tensor, level: MemoryLevel,
               attn_mask: torch.Tensor) -> torch.Tensor:
        """Masked per-frame cross-attention: x, pos (B, Q, T, D); attn_mask (B·T·heads, Q, h·w)."""
        b, q, t, d = x.shape
        out = self.transformer_cross_attention_layers[i](
            x.transpose(1, 2).reshape(b * t, q, d), level.src,
            query_pos=pos.transpose(1, 2).reshape(b * t, q, d), pos=level.pos, attn_mask=attn_mask)
        return out.reshape(b, t, q, d).transpose(1, 2)

    def _padding_mask(self, valid: torch.Tensor, t: int) -> torch.Tensor | None:
        """Self-attention mask (B·heads, K·T, K·T) keeping real and padding prompt targets
        (valid (B, K)) from attending to each other; None when nothing is padding."""
        if bool(valid.all()):
            return None
        b, k = valid.shape
        tokens = valid[:, :, None].expand(b, k, t).reshape(b, k * t)
        return (tokens[:, :, None] != tokens[:, None, :]).repeat_interleave(self.num_heads, 0)

    def _self(self, i: int, x: torch.Tensor, pos: torch.Tensor, blocked: bool = False,
              attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Spatio-temporal self-attention within one stream over its Q·T tokens: x, pos (B, Q, T, D).

        ``blocked``: each query attends only to its own T frames (sep-blocked prompt stream).
        """
        b, q, t, d = x.shape
        layer = self.transformer_self_attention_layers[i]
        if blocked:
            return layer(x.reshape(b * q, t, d), query_pos=pos.reshape(b * q, t, d)).reshape(b, q, t, d)
        out = layer(x.reshape(b, q * t, d), query_pos=pos.reshape(b, q * t, d), attn_mask=attn_mask)
        return out.reshape(b, q, t, d)

    def _heads(self, x: torch.Tensor, mask_features: torch.Tensor, classes: torch.Tensor | None,
               sentence: torch.Tensor | None, size: tuple[int, int] | None
               ) -> tuple[QueryPredictions, torch.Tensor | None]:
        """Heads on x (B, Q, T, D); mask_features (B, T, Dm, H4, W4); classes (C, Dt) unit rows;
        sentence (B, Q, Dt) or None. Returns the predictions and the attention mask
        (B·T·heads, Q, h·w) for the next cross-attention at level size ``size`` (None after
        the last layer)."""
        h = self.decoder_norm(x)
        mask_logits = torch.einsum("bqtc,btchw->bqthw", self.mask_embed(h), mask_features)
        text_side = self.vis2text_projection(h)
        class_logits = None
        if classes is not None:
            cos = torch.einsum("bqtc,kc->bqtk", F.normalize(text_side, dim=-1), classes.to(text_side.dtype))
            class_logits = cos.mean(2) * self.cls_temp.weight.exp().reshape(()).to(cos.dtype)
        expr = None
        if sentence is not None:
            expr = (text_side.mean(2) * sentence.to(text_side.dtype)).sum(-1) / h.shape[-1]
        preds = QueryPredictions(mask_logits, class_logits, F.normalize(h, dim=-1), expr)
        return preds, None if size is None else attention_mask(mask_logits, size, self.num_heads)

    # ------------------------------------------------------------------ forward

    def forward(self, features: ImageFeatures, num_frames: int, prompts: list[PromptTokens | None],
                class_embeddings: torch.Tensor | None, frame_times: torch.Tensor | None = None,
                self_attn_mode: str | None = None) -> DecoderOutput:
        """Decode B = N / T clips.

        features: ImageFeatures of N = B·T frames, clip-major (frame n = b·T + t);
        prompts: one PromptTokens (K_b targets, D-d tokens) or None per clip;
        class_embeddings: (C, Dt) text embeddings of the vocabulary, or None (no class logits);
        frame_times: (B, T) long absolute frame indices (default 0..T-1);
        self_attn_mode: ``sep`` | ``sep-blocked`` (default: the config's).
        Returns dec_layers + 1 QueryPredictions per stream; the prompt stream is padded to
        K = max K_b (``prompt_valid``).
        """
        mode = self_attn_mode or self.cfg.self_attn_mode
        if mode not in SELF_ATTN_MODES:
            raise InputError(f"unknown self-attention mode {mode!r}; known: {', '.join(SELF_ATTN_MODES)}")
        n, t = features.num_frames, num_frames
        if n % t or len(prompts) != n // t:
            raise InputError(f"{n} frames do not make {len(prompts)} clips of {t} frames")
        b = n // t
        mf = features.mask_features
        if frame_times is None:
            frame_times = torch.arange(t, device=mf.device).expand(b, t)
        levels = self.image_memory(features, frame_times.reshape(n).to(mf.device))
        mask_features = mf.reshape(b, t, *mf.shape[1:])
        classes = None if class_embeddings is None else F.normalize(
            class_embeddings.to(mf.device).float(), dim=-1)
        like = levels[0].src

        def heads(x: torch.Tensor, sentence: torch.Tensor | None, level: int | None):
            size = None if level is None else levels[level].size
            return self._heads(x, mask_features, classes, sentence, size)

        x_l = self.query_feat.weight.to(like.dtype)[None, :, None].expand(b, -1, t, -1)
        pos_l = self.query_embed.weight.to(like.dtype)[None, :, None].expand(b, -1, t, -1)
        batch = self._batch_prompts(prompts, like)
        k = batch.valid.shape[1]
        x_p = batch.query[:, :, None].expand(b, k, t, -1)
        pos_p = batch.query_pos[:, :, None].expand(b, k, t, -1)
        if k:
            x_p = self._proca(0, x_p, pos_p, batch)
            pos_p = x_p

        padding = self._padding_mask(batch.valid, t) if k and mode == "sep" else None
        learnable, prompt = [], []
        pred, mask_l = heads(x_l, None, 0)
        learnable.append(pred)
        if k:
            pred, mask_p = heads(x_p, batch.sentence, 0)
            prompt.append(pred)
        for i in range(self.num_layers):
            level = levels[i % NUM_LEVELS]
            next_level = (i + 1) % NUM_LEVELS if i + 1 < self.num_layers else None
            x_l = self._cross(i, x_l, pos_l, level, mask_l)
            x_l = self.transformer_ffn_layers[i](self._self(i, x_l, pos_l))
            pred, mask_l = heads(x_l, None, next_level)
            learnable.append(pred)
            if k:
                if i > 0:
                    x_p = self._proca(i, x_p, pos_p, batch)
                x_p = self._cross(i, x_p, pos_p, level, mask_p)
                x_p = self._self(i, x_p, pos_p, mode == "sep-blocked", padding)
                x_p = self.transformer_ffn_layers[i](x_p)
                pred, mask_p = heads(x_p, batch.sentence, next_level)
                prompt.append(pred)
        if not k:
            prompt = [_empty_predictions(p, b) for p in learnable]
        return DecoderOutput(learnable, prompt, query_embeds=self.decoder_norm(x_p),
                             prompt_valid=batch.valid, reid_temperature=self.reid_temperature())


def attention_mask(mask_logits: torch.Tensor, size: tuple[int, int], num_heads: int) -> torch.Tensor:
    """Masked-attention mask from mask logits (B, Q, T, H4, W4) for a memory level of ``size``.

    Blocked (True) where the bilinearly resized mask has sigmoid < 0.5; a query whose resized mask
    is empty on a frame attends everywhere on that frame. Returns (B·T·heads, Q, h·w) bool,
    detached, ordered as ``nn.MultiheadAttention`` expects for a (B·T)-batch.
    """
    b, q, t = mask_logits.shape[:3]
    resized = F.interpolate(mask_logits.detach().flatten(1, 2), size=size, mode="bilinear",
                            align_corners=False)
    blocked = (resized < 0).reshape(b, q, t, -1).transpose(1, 2)
    blocked = blocked & ~blocked.all(-1, keepdim=True)
    return blocked.reshape(b * t, 1, q, -1).expand(-1, num_heads, -1, -1).reshape(b * t * num_heads, q, -1)


def _empty_predictions(like: QueryPredictions, b: int) -> QueryPredictions:
    """Prompt-stream predictions of a batch without prompted targets (K = 0)."""
    def empty(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else x.new_zeros(b, 0, *x.shape[2:])

    return QueryPredictions(empty(like.mask_logits), empty(like.class_logits), empty(like.reid))
