"""Hungarian matcher: known permutations, hand-computed costs, re-id reference, edge cases."""

import math

import pytest
import torch
import torch.nn.functional as F

from univs.config import LossConfig
from univs.losses.matcher import HungarianMatcher, matching_cost
from univs.model.types import ClipTargets, QueryPredictions


def box_masks(num_objects: int, num_frames: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """(M, T, size, size) bool: a random box per object, drifting a few pixels per frame."""
    masks = torch.zeros(num_objects, num_frames, size, size, dtype=torch.bool)
    for m in range(num_objects):
        x0, y0 = torch.randint(0, size // 2, (2,), generator=gen).tolist()
        w, h = torch.randint(size // 4, size // 2, (2,), generator=gen).tolist()
        for t in range(num_frames):
            masks[m, t, y0 + t: y0 + t + h, x0 + t: x0 + t + w] = True
    return masks


def logits_from_masks(masks: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Confident stride-4 logits of masks (..., H, W) → (..., H/4, W/4)."""
    lead = masks.shape[:-2]
    frac = F.avg_pool2d(masks.float().flatten(0, -3).unsqueeze(1), stride).squeeze(1)
    return (10.0 * (frac - 0.5)).view(*lead, *frac.shape[-2:])


@pytest.mark.parametrize("num_frames", [1, 3])
def test_matcher_recovers_a_known_permutation(num_frames):
    gen = torch.Generator().manual_seed(num_frames)
    torch.manual_seed(0)
    num_objects, num_queries, num_classes, size = 4, 7, 5, 32
    masks = box_masks(num_objects, num_frames, size, gen)
    classes = torch.randint(0, num_classes, (num_objects,), generator=gen)
    perm = torch.randperm(num_queries, generator=gen)[:num_objects]  # query of each object

    mask_logits = torch.randn(1, num_queries, num_frames, size // 4, size // 4, generator=gen) * 3
    mask_logits[0, perm] = logits_from_masks(masks) + 0.5 * torch.randn(
        num_objects, num_frames, size // 4, size // 4, generator=gen)
    class_logits = torch.randn(1, num_queries, num_classes, generator=gen)
    reid = F.normalize(torch.randn(1, num_queries, num_frames, 8, generator=gen), dim=-1)
    target = ClipTargets(masks=masks, classes=classes, track_ids=torch.arange(num_objects) + 10,
                         valid=torch.ones(num_objects, num_frames, dtype=torch.bool))
    pred = QueryPredictions(mask_logits=mask_logits, class_logits=class_logits, reid=reid)
    (queries, objects), = HungarianMatcher(LossConfig(num_points=2000))(pred, [target])
    assert sorted(objects.tolist()) == list(range(num_objects))
    assert {int(o): int(q) for q, o in zip(queries, objects)} == dict(enumerate(perm.tolist()))


def test_cost_matrix_equals_hand_computation():
    cfg = LossConfig()
    # GT 4×4 made of 2×2 blocks, so the centres of the 2×2 prediction grid read exact labels
    blocks = torch.tensor([[[[1, 0], [0, 0]], [[1, 1], [0, 0]]],     # object 0, frames 0 and 1
                           [[[0, 0], [1, 1]], [[0, 0], [0, 1]]]], dtype=torch.bool)
    masks = blocks.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # (2, 2, 4, 4)
    valid = torch.tensor([[True, False], [True, True]])
    target = ClipTargets(masks=masks, classes=torch.tensor([2, -1]), track_ids=torch.tensor([5, 6]),
                         valid=valid, prompt_targets=torch.tensor([0]))
    points = torch.tensor([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])  # row-major centres
    mask_logits = torch.tensor([[[[2.0, -1.0], [-3.0, 0.5]], [[1.0, 1.5], [-2.0, -0.5]]],
                                [[[-1.0, 0.0], [3.0, 2.5]], [[0.0, -2.0], [0.5, 4.0]]]])  # (Q=2, T=2, 2, 2)
    class_logits = torch.tensor([[0.3, -1.0, 2.0], [1.0, 0.5, -0.5]])
    reid = F.normalize(torch.tensor([[[1.0, 0.0], [0.6, 0.8]], [[0.0, 1.0], [-1.0, 0.0]]]), dim=-1)
    prompt_reid = F.normalize(torch.tensor([[[0.8, 0.6], [1.0, 1.0]]]), dim=-1)  # (K=1, T=2, 2)
    cost = matching_cost(cfg, target, torch.tensor([0, 1]), points, mask_logits, class_logits, reid,
                         prompt_reid)

    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    for q in range(2):
        z = [sig(v) * 5 for v in class_logits[q].tolist()]
        softmax = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
        for m in range(2):
            frames = [t for t in range(2) if valid[m, t]]
            xs = [x for t in frames for x in mask_logits[q, t].flatten().tolist()]
            ys = [float(y) for t in frames for y in blocks[m, t].flatten().tolist()]
            bce = sum(-y * math.log(sig(x)) - (1 - y) * math.log(1 - sig(x)) for x, y in zip(xs, ys))
            bce /= len(xs)
            dice = 1 - (2 * sum(sig(x) * y for x, y in zip(xs, ys)) + 1) / (
                sum(sig(x) for x in xs) + sum(ys) + 1)
            cls = -softmax[int(target.classes[m])] if target.classes[m] >= 0 else 0.0
            if m == 0:  # object 0 is visible on frame 0 only (frame 1 is not annotated)
                ref = prompt_reid[0, 0].tolist()
                rid = 1 - sum(a * b for a, b in zip(reid[q, 0].tolist(), ref))
            else:  # no prompt query refers to object 1
                rid = 0.0
            expected = 5 * bce + 5 * dice + 3 * cls + 0.5 * rid
            assert math.isclose(cost[q, m].item(), expected, rel_tol=1e-5), (q, m)


def test_zero_logit_query_costs_ln2_bce():
    cfg = LossConfig(cost_class=0.0, cost_dice=0.0, cost_reid=0.0, cost_mask=1.0)
    gen = torch.Generator().manual_seed(0)
    masks = box_masks(2, 2, 16, gen)
    target = ClipTargets(masks=masks, classes=torch.tensor([0, 1]), track_ids=torch.tensor([1, 2]),
                         valid=torch.ones(2, 2, dtype=torch.bool))
    cost = matching_cost(cfg, target, torch.tensor([0, 1]), torch.rand(300, 2), torch.zeros(1, 2, 4, 4),
                         None, F.normalize(torch.ones(1, 2, 3), dim=-1), None)
    assert torch.allclose(cost, torch.full((1, 2), math.log(2.0)), atol=1e-6)


def test_reid_cost_decides_between_identical_masks():
    """Two objects with the same masks: only the prompt queries' re-id references tell them apart."""
    gen = torch.Generator().manual_seed(1)
    one = box_masks(1, 2, 16, gen)
    masks = one.repeat(2, 1, 1, 1)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # prompt query 0 follows object 1 (embedding a), prompt query 1 follows object 0 (embedding b)
    target = ClipTargets(masks=masks, classes=torch.tensor([-1, -1]), track_ids=torch.tensor([3, 4]),
                         valid=torch.ones(2, 2, dtype=torch.bool), prompt_targets=torch.tensor([1, 0]))
    prompt = QueryPredictions(mask_logits=torch.zeros(1, 2, 2, 4, 4), class_logits=None,
                              reid=torch.stack([a, b])[None, :, None].expand(1, 2, 2, 2))
    mask_logits = logits_from_masks(one).expand(2, -1, -1, -1)[None]
    matcher = HungarianMatcher(LossConfig(num_points=500))
    for order, expected in (((b, a), {0: 0, 1: 1}), ((a, b), {0: 1, 1: 0})):
        reid = torch.stack(order)[None, :, None].expand(1, 2, 2, 2)
        pred = QueryPredictions(mask_logits=mask_logits, class_logits=None, reid=reid)
        (queries, objects), = matcher(pred, [target], prompt)
        assert dict(zip(queries.tolist(), objects.tolist())) == expected


def test_matcher_edge_cases():
    gen = torch.Generator().manual_seed(2)
    matcher = HungarianMatcher(LossConfig(num_points=100))
    pred = QueryPredictions(mask_logits=torch.randn(1, 3, 2, 4, 4), class_logits=torch.randn(1, 3, 4),
                            reid=F.normalize(torch.randn(1, 3, 2, 8), dim=-1))
    empty = ClipTargets(masks=torch.zeros(0, 2, 16, 16, dtype=torch.bool),
                        classes=torch.zeros(0, dtype=torch.long),
                        track_ids=torch.zeros(0, dtype=torch.long), valid=torch.zeros(0, 2, dtype=torch.bool))
    (q, o), = matcher(pred, [empty])
    assert len(q) == len(o) == 0
    # five objects, three queries: three matches; an object never visible is never matched
    masks = box_masks(5, 2, 16, gen)
    valid = torch.ones(5, 2, dtype=torch.bool)
    valid[4] = False
    many = ClipTargets(masks=masks, classes=torch.tensor([0, 1, 2, 3, -1]), track_ids=torch.arange(5),
                       valid=valid)
    (q, o), = matcher(pred, [many])
    assert len(q) == 3 and len(set(q.tolist())) == 3 and 4 not in o.tolist()
