"""univs.model: image encoder, prompt encoder and unified video mask decoder (arXiv 2402.18115 §3).

See ``univs.model.univs_model`` for the API walk-through and ``univs.model.types`` for the
tensors passed between stages. Names below load on first use, so importing
``univs.model.types`` (as the losses and data layers do) does not build the model's modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "UniVS": "univs_model", "build_model": "univs_model", "parameter_counts": "univs_model",
    "sample_mask_prompt": "prompt_encoder", "sample_box_prompt": "prompt_encoder",
    "click_prompt": "prompt_encoder", "cat_regions": "prompt_encoder",
    "cat_prompt_tokens": "prompt_encoder", "append_prompt_tokens": "prompt_encoder",
    "TextEmbeddings": "text_encoder", "build_text_encoder": "text_encoder",
    "register_text_encoder": "text_encoder",
    "STREAM_DETECTION": "types", "STREAM_VISUAL": "types", "STREAM_GROUNDING": "types",
    "ClipPrompts": "types", "ClipTargets": "types", "DecoderOutput": "types",
    "ImageFeatures": "types", "PromptRegions": "types", "PromptTokens": "types",
    "QueryPredictions": "types",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'univs.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f"univs.model.{_EXPORTS[name]}"), name)
