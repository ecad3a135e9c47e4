"""univs: unified video segmentation with prompts as queries (UniVS, CVPR 2024, arXiv 2402.18115)."""

__version__ = "0.1.0"
