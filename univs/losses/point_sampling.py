"""Point sampling for the mask costs and losses (Mask2Former §3.4; UniVS, arXiv 2402.18115).

Masks are compared on sampled points instead of whole maps: the matcher uses uniformly random
points shared by every mask of a clip, the losses use *importance sampling* — oversample
candidates, keep the most uncertain ones (logit closest to 0) and add uniform random points.

Coordinates are normalised ``(x, y)`` in ``[0, 1]²``: ``(0, 0)`` is the top-left corner of the
top-left pixel and ``(1, 1)`` the bottom-right corner of the bottom-right pixel, so the centre of
pixel ``(i, j)`` of an ``H × W`` map is ``((j + 0.5) / W, (i + 0.5) / H)``. The same points can
therefore be read from stride-4 predictions and from full-resolution ground truth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# GT masks are converted to float this many at a time: keeps the peak memory of a batch of
# full-resolution masks (e.g. 350 frames at 1024²) bounded.
_MASK_CHUNK = 32


def point_sample(inputs: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear values of ``inputs`` at normalised points.

    inputs: (N, C, H, W); coords: (N, P, 2) as ``(x, y)`` in ``[0, 1]``. Returns (N, C, P).
    Points within half a pixel of the border read the border value (``padding_mode="border"``),
    not a zero padding: a point inside the image should see the image (Mask2Former pads with
    zeros, which pulls border logits and labels towards 0).
    """
    grid = coords.unsqueeze(1) * 2.0 - 1.0
    out = F.grid_sample(inputs, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.squeeze(2)


def sample_binary_masks(masks: torch.Tensor, coords: torch.Tensor,
                        index: torch.Tensor | None = None) -> torch.Tensor:
    """Soft labels of binary masks at normalised points (bilinear, as the official code does).

    masks: (N, H, W) bool; index: (N',) long selecting the masks to read (all when None), so
    the caller need not copy full-resolution masks; coords: (N', P, 2) per selected mask or
    (P, 2) shared by all. Returns (N', P) float32.
    """
    if index is None:
        index = torch.arange(masks.shape[0], device=masks.device)
    n, p = index.shape[0], coords.shape[-2]
    out = torch.zeros((n, p), dtype=torch.float32, device=coords.device)
    for start in range(0, n, _MASK_CHUNK):
        chunk = masks[index[start:start + _MASK_CHUNK]].to(torch.float32)
        if coords.dim() == 3:
            values = point_sample(chunk.unsqueeze(1), coords[start:start + _MASK_CHUNK]).squeeze(1)
        else:  # shared points: the masks become channels of one map, interpolated once
            values = point_sample(chunk.unsqueeze(0), coords.unsqueeze(0)).squeeze(0)
        out[start:start + _MASK_CHUNK] = values
    return out


def uncertain_point_coords(logits: torch.Tensor, num_points: int, oversample_ratio: float,
                           importance_sample_ratio: float) -> torch.Tensor:
    """Mask2Former's importance sampling of training points, uncertainty = −|logit|.

    logits: (N, 1, h, w) mask logits. Draws ``int(num_points × oversample_ratio)`` uniform
    candidates per mask, keeps the ``int(importance_sample_ratio × num_points)`` most uncertain
    ones and appends uniform random points up to ``num_points``. Returns (N, num_points, 2), the
    importance-sampled points first.
    """
    num_sampled = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    if not 0 <= num_uncertain <= num_sampled:
        raise ValueError(f"importance_sample_ratio {importance_sample_ratio} needs "
                         f"{num_uncertain} uncertain points of {num_sampled} candidates")
    n, device = logits.shape[0], logits.device
    candidates = torch.rand(n, num_sampled, 2, device=device)
    uncertainty = -point_sample(logits, candidates).squeeze(1).abs()
    keep = uncertainty.topk(num_uncertain, dim=1).indices
    uncertain = candidates.gather(1, keep.unsqueeze(-1).expand(-1, -1, 2))
    uniform = torch.rand(n, num_points - num_uncertain, 2, device=device)
    return torch.cat([uncertain, uniform], dim=1)
