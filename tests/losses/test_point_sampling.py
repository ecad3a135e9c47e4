"""Point sampling: exact pixel-centre reads, dense equivalence, importance-sampling ratio."""

import pytest
import torch
import torch.nn.functional as F

from univs.losses.functional import point_bce, point_dice
from univs.losses.point_sampling import point_sample, sample_binary_masks, uncertain_point_coords


def pixel_centres(h: int, w: int) -> torch.Tensor:
    """(h·w, 2) normalised (x, y) of every pixel centre, row-major."""
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def test_pixel_centres_read_exact_values():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 5, 7)
    out = point_sample(x, pixel_centres(5, 7).expand(3, -1, -1))
    assert torch.allclose(out, x.flatten(2), atol=1e-6)


def test_full_resolution_gt_is_read_exactly_at_its_pixel_centres():
    torch.manual_seed(0)
    masks = torch.rand(4, 16, 12) > 0.5
    labels = sample_binary_masks(masks, pixel_centres(16, 12))
    assert torch.allclose(labels, masks.flatten(1).float(), atol=1e-5)
    picked = sample_binary_masks(masks, pixel_centres(16, 12).expand(2, -1, -1), torch.tensor([3, 1]))
    assert torch.allclose(picked, masks[[3, 1]].flatten(1).float(), atol=1e-5)


def test_point_losses_on_all_pixel_centres_equal_dense_losses():
    torch.manual_seed(0)
    logits = torch.randn(5, 9, 11) * 3
    gt = torch.rand(5, 9, 11) > 0.6
    coords = pixel_centres(9, 11).expand(5, -1, -1)
    pl = point_sample(logits.unsqueeze(1), coords).squeeze(1)
    lab = sample_binary_masks(gt, coords)
    dense_bce = F.binary_cross_entropy_with_logits(logits, gt.float(), reduction="none").mean(dim=(1, 2))
    p, y = logits.sigmoid(), gt.float()
    dense_dice = 1 - (2 * (p * y).sum((1, 2)) + 1) / (p.sum((1, 2)) + y.sum((1, 2)) + 1)
    assert torch.allclose(point_bce(pl, lab), dense_bce, atol=1e-6)
    assert torch.allclose(point_dice(pl, lab), dense_dice, atol=1e-6)


def band_logits() -> tuple[torch.Tensor, float]:
    """Logits of +10 except a vertical band x ∈ [0.25, 0.5) of exact zeros; returns (logits, band area)."""
    logits = torch.full((2, 1, 8, 16), 10.0)
    logits[..., 4:8] = 0.0
    return logits, 0.25


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75])
def test_importance_sampling_picks_uncertain_points_at_the_ratio(ratio):
    torch.manual_seed(0)
    logits, area = band_logits()
    num_points = 4000
    coords = uncertain_point_coords(logits, num_points, oversample_ratio=3.0, importance_sample_ratio=ratio)
    assert coords.shape == (2, num_points, 2)
    assert coords.min() >= 0 and coords.max() <= 1
    uncertain = point_sample(logits, coords).squeeze(1).abs() < 5.0  # within the band's reach
    k = int(ratio * num_points)
    # the importance-sampled points come first and all lie where the logits are near 0 ...
    assert bool(uncertain[:, :k].all())
    # ... the rest are uniform: they hit the uncertain zone (|logit| < 5 exactly on x ∈ [4, 8) px of
    # 16, by bilinear interpolation between pixel centres) in proportion to its area
    reach = area
    rest = uncertain[:, k:].float().mean().item()
    assert abs(rest - reach) < 0.03
    total = uncertain.float().mean().item()
    assert abs(total - (ratio + (1 - ratio) * reach)) < 0.03


def test_importance_ratio_beyond_candidates_is_rejected():
    with pytest.raises(ValueError):
        uncertain_point_coords(torch.zeros(1, 1, 4, 4), 100, oversample_ratio=1.0,
                               importance_sample_ratio=1.5)
