"""The UniVS model: image encoder, prompt encoder, unified video mask decoder (arXiv 2402.18115 §3).

Public API (all tensors; no file access except the lazily built frozen text encoder)::

    model = build_model(model_preset("tiny"))           # prints its parameter count

    # image side — frames are RGB floats in 0..255; every later step reads the features
    feats = model.encode_frames(images)                  # (N, 3, H, W) → ImageFeatures

    # prompts — one PromptTokens per clip, its targets in any mix of kinds
    regions = sample_mask_prompt(masks, frame, R)        # or sample_box_prompt / click_prompt
    vis = model.encode_visual_prompts(feats, regions, frame_times)   # frame_times (N,) long
    txt = model.encode_text_prompts(["the red car"], feats)          # expressions (RefVOS)
    emb = model.class_embeddings(["person", "car"])                  # (C, Dt), frozen, cached
    cls = model.encode_class_prompts(emb[[1]], feats)                # class-name prompts
    pool = cat_prompt_tokens([vis, txt])                             # one clip's targets

    # decoding — B clips of T frames, learnable and prompt streams
    out = model.decode(feats, T, [pool, ...], emb, frame_times_bt)   # → DecoderOutput

    # training forward (DDP-friendly): raw prompts in, DecoderOutput out
    out = model(images_btchw, [ClipPrompts(...), ...], vocabulary=["person", "car"])

Memory pools at inference: tokens drawn from a predicted mask (``sample_mask_prompt`` on
``mask_logits > 0`` resized to the input, then ``encode_visual_prompts``) are ordinary
PromptTokens; ``append_prompt_tokens`` adds them to a target's pool, whose query is the mean of
the pool plus the task embedding (architecture.md §6, §6a).

Module tree and the official checkpoint (detectron2 names): ``backbone.*`` and
``pixel_decoder.*`` follow the encoder modules' own mapping; ``decoder.X`` and
``prompt_encoder.X`` are both ``sem_seg_head.predictor.X`` (see :data:`PREDICTOR_MODULES`;
``prompt_encoder`` holds ``text_norm``, ``text2vis_projection`` and
``lang2vision_cross_attention_layer``; ``prompt_encoder.negative_point_embed`` and
``prompt_encoder.fine_token_proj``, present only with ``negative_point_embedding`` and
``fine_tokens``, have no official counterpart). The frozen text encoder is a plain
attribute, not a submodule: it is never trained and never in the state_dict.
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.nn import functional as F

from univs.config import ModelConfig
from univs.model.backbone import build_backbone
from univs.model.decoder import VideoMaskDecoder
from univs.model.pixel_decoder import build_pixel_decoder
from univs.model.prompt_encoder import PromptEncoder, cat_prompt_tokens
from univs.model import text_regionclip  # noqa: F401  (registers the "regionclip" text encoder)
from univs.model.text_encoder import CachedTextEncoder, ClassEmbeddingTable, build_text_encoder
from univs.model.types import (
    STREAM_VISUAL,
    ClipPrompts,
    DecoderOutput,
    ImageFeatures,
    PromptRegions,
    PromptTokens,
)

SIZE_DIVISIBILITY = 32
"""Frames are zero-padded (after normalisation) bottom/right to a multiple of this."""

PREDICTOR_MODULES = ("decoder", "prompt_encoder")
"""Submodules whose parameter ``<module>.X`` is the official ``sem_seg_head.predictor.X``."""


class UniVS(nn.Module):
    """Backbone + pixel decoder + prompt encoder + unified video mask decoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        hidden, heads = cfg.decoder.hidden_dim, cfg.decoder.nheads
        self.backbone = build_backbone(cfg.backbone)
        self.pixel_decoder = build_pixel_decoder(cfg.pixel_decoder, self.backbone.out_channels)
        self.prompt_encoder = PromptEncoder(cfg.prompt_encoder, hidden, heads, cfg.pixel_decoder.mask_dim,
                                            cfg.pixel_decoder.common_stride)
        self.decoder = VideoMaskDecoder(cfg.decoder, cfg.pixel_decoder.mask_dim, cfg.prompt_encoder.text.dim)
        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(1, 3, 1, 1), persistent=False)
        self._text_encoder: CachedTextEncoder | None = None
        # precomputed name features (a converted official checkpoint's concept table)
        self.class_table: ClassEmbeddingTable | None = None

    # ------------------------------------------------------------------ text encoder

    @property
    def text_encoder(self) -> CachedTextEncoder:
        """The frozen text encoder of ``cfg.prompt_encoder.text``, built on first use."""
        if self._text_encoder is None:
            self._text_encoder = build_text_encoder(self.cfg.prompt_encoder.text)
        return self._text_encoder

    @text_encoder.setter
    def text_encoder(self, encoder: CachedTextEncoder) -> None:
        self._text_encoder = encoder

    def class_embeddings(self, names: list[str]) -> torch.Tensor:
        """(C, Dt) frozen sentence features of category names (the open-vocabulary classifier):
        rows of ``class_table`` for the names it holds, the text encoder for the others."""
        if self.class_table is not None:
            features = self.class_table.lookup(names, lambda missing: self.text_encoder.encode(missing).sentence)
            return features.to(self.pixel_mean.device)
        return self.text_encoder.encode(names).sentence.to(self.pixel_mean.device)

    # ------------------------------------------------------------------ image side

    def encode_frames(self, images: torch.Tensor) -> ImageFeatures:
        """images (N, 3, H, W) RGB in 0..255 → ImageFeatures of the normalised, padded frames.

        Mask features are at 1/4 of the padded size (H, W rounded up to a multiple of 32).
        """
        x = (images.to(self.pixel_mean.dtype) - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % SIZE_DIVISIBILITY, -w % SIZE_DIVISIBILITY
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.pixel_decoder(self.backbone(x))

    def text_memory(self, features: ImageFeatures) -> torch.Tensor:
        """(S, D) the flattened multi-scale image memory (level embeddings added) of all frames
        in ``features``: keys/values of the language-to-vision layer."""
        maps = [self.decoder.level_map(features, level) for level in range(len(features.multi_scale))]
        return torch.cat([m.permute(0, 2, 3, 1).reshape(-1, m.shape[1]) for m in maps])

    # ------------------------------------------------------------------ prompts

    def encode_visual_prompts(self, features: ImageFeatures, regions: PromptRegions,
                              frame_times: torch.Tensor, stream: int = STREAM_VISUAL) -> PromptTokens:
        """Prompt tokens of K targets from their point sets (L = R tokens each).

        regions.frame indexes the N frames of ``features``; frame_times: (N,) long absolute
        frame index of each of them (the temporal part of the tokens' position).
        """
        memory = self.decoder.level_map(features, 2)
        return self.prompt_encoder.encode_visual(memory, regions, frame_times, stream, features.mask_features)

    def encode_text_prompts(self, texts: list[str], features: ImageFeatures) -> PromptTokens:
        """Prompt tokens of K referring expressions; the language-to-vision layer reads all
        frames of ``features`` (pass the clip's frames)."""
        memory = self.text_memory(features)
        text = self.text_encoder.encode(texts)
        text = type(text)(*(t.to(memory.device) for t in text))
        return self.prompt_encoder.encode_text(text, memory)

    def encode_class_prompts(self, class_embeddings: torch.Tensor, features: ImageFeatures) -> PromptTokens:
        """Class-name prompt tokens from (C, Dt) name embeddings (one target per row)."""
        return self.prompt_encoder.encode_class_names(class_embeddings, self.text_memory(features))

    # ------------------------------------------------------------------ decoding

    def decode(self, features: ImageFeatures, num_frames: int, prompts: list[PromptTokens | None],
               class_embeddings: torch.Tensor | None, frame_times: torch.Tensor | None = None,
               self_attn_mode: str | None = None) -> DecoderOutput:
        """Unified video mask decoder over B = N / T clips (see ``VideoMaskDecoder.forward``)."""
        return self.decoder(features, num_frames, prompts, class_embeddings, frame_times, self_attn_mode)

    def forward(self, images: torch.Tensor, prompts: list[ClipPrompts],
                vocabulary: list[str] | None = None, frame_times: torch.Tensor | None = None,
                self_attn_mode: str | None = None) -> DecoderOutput:
        """Training forward: images (B, T, 3, H, W) in 0..255, raw prompts per clip.

        vocabulary: the batch's category names (class logits and class-name prompts);
        frame_times: (B, T) long absolute frame indices (default 0..T-1).
        Each clip's prompt queries are ordered: regions, texts, class ids (``ClipPrompts``).
        """
        b, t = images.shape[:2]
        features = self.encode_frames(images.flatten(0, 1))
        if frame_times is None:
            frame_times = torch.arange(t, device=images.device).expand(b, t)
        frame_times = frame_times.to(images.device)
        embeddings = None if vocabulary is None else self.class_embeddings(vocabulary)
        clip_tokens: list[PromptTokens | None] = []
        for i, p in enumerate(prompts):
            clip = features.select(slice(i * t, (i + 1) * t))
            parts = []
            if p.regions is not None and p.regions.points.shape[0]:
                parts.append(self.encode_visual_prompts(clip, p.regions, frame_times[i]))
            if p.texts:
                parts.append(self.encode_text_prompts(p.texts, clip))
            if p.class_ids is not None and p.class_ids.numel():
                if embeddings is None:
                    raise ValueError("class-name prompts need a vocabulary")
                parts.append(self.encode_class_prompts(embeddings[p.class_ids.to(embeddings.device)], clip))
            clip_tokens.append(cat_prompt_tokens(parts) if parts else None)
        return self.decode(features, t, clip_tokens, embeddings, frame_times, self_attn_mode)


def parameter_counts(model: UniVS) -> dict[str, int]:
    """Parameter elements: total, backbone, pixel_decoder, predictor (decoder + prompt encoder)."""
    def count(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    return {"total": count(model), "backbone": count(model.backbone),
            "pixel_decoder": count(model.pixel_decoder),
            "predictor": sum(count(getattr(model, name)) for name in PREDICTOR_MODULES)}


def build_model(cfg: ModelConfig, verbose: bool = True) -> UniVS:
    """Build the model of ``cfg``; with ``verbose``, print its parameter count to stderr.

    Works under ``torch.device("meta")`` to inspect big presets without memory (pretrained
    backbone weights then stay unloaded).
    """
    model = UniVS(cfg)
    if verbose:
        c = parameter_counts(model)
        print(f"univs model {cfg.name}: {c['total'] / 1e6:.2f} M parameters (backbone "
              f"{c['backbone'] / 1e6:.2f} M, pixel decoder {c['pixel_decoder'] / 1e6:.2f} M, "
              f"predictor {c['predictor'] / 1e6:.2f} M)", file=sys.stderr)
    return model
