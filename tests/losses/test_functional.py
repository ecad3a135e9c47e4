"""Loss functions against hand-computed values."""

import math

import torch
import torch.nn.functional as F

from univs.losses.functional import contrastive_reid_loss, point_dice, sigmoid_focal_loss


def test_focal_loss_hand_values():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    targets = torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.sigmoid(logits)[0]
    expected = (0.25 * (1 - p[0]) ** 2 * -math.log(p[0])
                + 0.75 * p[1] ** 2 * -math.log(1 - p[1])
                + 0.75 * p[2] ** 2 * -math.log(1 - p[2]))
    got = sigmoid_focal_loss(logits, targets, alpha=0.25, gamma=2.0)
    assert got.shape == (1,)
    assert math.isclose(got.item(), float(expected), rel_tol=1e-5)
    # gamma 0, alpha 0.5: half the summed BCE
    half_bce = 0.5 * F.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
    assert torch.allclose(sigmoid_focal_loss(logits, targets, 0.5, 0.0), half_bce.reshape(1))


def test_dice_hand_value_and_empty_masks():
    # one point, logit 0 (p = 0.5), label 1: 1 - (2·0.5 + 1) / (0.5 + 1 + 1) = 0.2
    assert math.isclose(point_dice(torch.zeros(1, 1), torch.ones(1, 1)).item(), 0.2, rel_tol=1e-6)
    # an empty target predicted empty costs (almost) nothing thanks to the +1 smoothing
    assert point_dice(torch.full((1, 50), -30.0), torch.zeros(1, 50)).item() < 1e-6


def unit(*v: float) -> torch.Tensor:
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def test_contrastive_reid_hand_value():
    emb = torch.stack([unit(1, 0), unit(0.6, 0.8), unit(0, 1)])  # items of tracks 7, 7, 9
    ids = torch.tensor([7, 7, 9])
    tau = torch.tensor(0.5)
    loss, n = contrastive_reid_loss(emb, ids, emb, ids, tau, same_set=True)
    cos = emb @ emb.t()
    s = cos / 0.5
    # anchor 0: pos {1}, neg {2}; anchor 1: pos {0}, neg {2}; anchor 2 has no positive (skipped)
    expected = math.log(1 + math.exp(s[0, 2] - s[0, 1])) + math.log(1 + math.exp(s[1, 2] - s[1, 0]))
    assert n == 2
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_contrastive_reid_multi_positive_and_cross_set():
    anchors = torch.stack([unit(1, 0.2)])
    cands = torch.stack([unit(1, 0), unit(1, 1), unit(-1, 0.3), unit(0, -1)])
    cand_ids = torch.tensor([1, 1, 2, 3])
    tau = torch.tensor(0.1)
    loss, n = contrastive_reid_loss(anchors, torch.tensor([1]), cands, cand_ids, tau, same_set=False)
    s = (anchors @ cands.t())[0] / 0.1
    expected = math.log(1 + sum(math.exp(s[j] - s[i]) for i in (0, 1) for j in (2, 3)))
    assert n == 1 and math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_contrastive_reid_without_contrast_is_zero():
    emb = torch.stack([unit(1, 0), unit(0, 1)])
    loss, n = contrastive_reid_loss(emb, torch.tensor([1, 2]), emb, torch.tensor([1, 2]),
                                    torch.tensor(0.1), same_set=True)
    assert n == 0 and loss.item() == 0.0
    loss, n = contrastive_reid_loss(emb[:0], torch.tensor([], dtype=torch.long), emb,
                                    torch.tensor([1, 2]), torch.tensor(0.1), same_set=False)
    assert n == 0 and loss.item() == 0.0
