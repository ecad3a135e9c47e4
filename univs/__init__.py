"""univs: unified video segmentation with prompts as queries (UniVS, CVPR 2024, arXiv 2402.18115).

    import univs
    model = univs.load("univs-tiny-synthetic")      # a shipped model's name, or a .safetensors path
    seg = univs.VideoSegmenter(model, device="cpu")  # streaming inference (univs.inference)
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(name_or_path: str, device: str = "cpu"):
    """Load a univs checkpoint (shipped name or path) → ``UniVS`` model in eval mode on ``device``."""
    from univs.checkpoint import load_model

    return load_model(name_or_path, device=device)


def __getattr__(name: str):
    """``univs.VideoSegmenter``, imported on first use (``import univs`` stays free of torch)."""
    if name == "VideoSegmenter":
        from univs.inference import VideoSegmenter

        return VideoSegmenter
    raise AttributeError(f"module 'univs' has no attribute {name!r}")
