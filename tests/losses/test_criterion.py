"""SetCriterion: every term trains, edge cases are finite, gradients go only where expected."""

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from univs.config import LossConfig
from univs.losses import LOSS_TERMS, SetCriterion
from univs.model.types import ClipTargets, DecoderOutput, QueryPredictions

T, SIZE, Q, K, C, D = 2, 32, 6, 3, 4, 16


def pattern_masks(rows: list[list[int]]) -> torch.Tensor:
    """(M, T, SIZE, SIZE) bool masks that are full or empty on each frame (no edges)."""
    return torch.tensor(rows, dtype=torch.bool)[:, :, None, None].expand(-1, -1, SIZE, SIZE).clone()


def box_masks(num_objects: int, gen: torch.Generator) -> torch.Tensor:
    """(M, T, SIZE, SIZE) bool: a random box per object, moving by 4 px a frame."""
    masks = torch.zeros(num_objects, T, SIZE, SIZE, dtype=torch.bool)
    for m in range(num_objects):
        x0, y0 = (4 * torch.randint(0, SIZE // 8, (2,), generator=gen)).tolist()
        w, h = (4 * torch.randint(SIZE // 16, SIZE // 8, (2,), generator=gen)).tolist()
        for t in range(T):
            masks[m, t, y0 + 4 * t: y0 + 4 * t + h, x0 + 4 * t: x0 + 4 * t + w] = True
    return masks


def two_clips(masks0: torch.Tensor, masks1: torch.Tensor) -> list[ClipTargets]:
    """Clip 0: 3 objects (one of unknown class, one unannotated on frame 1), prompts [0, 2, −1];
    clip 1: 2 objects, one prompt (so prompt query 1 and 2 are padding there)."""
    return [
        ClipTargets(masks=masks0, classes=torch.tensor([1, 3, -1]), track_ids=torch.tensor([4, 7, 9]),
                    valid=torch.tensor([[True, True], [True, False], [True, True]]),
                    prompt_targets=torch.tensor([0, 2, -1])),
        ClipTargets(masks=masks1, classes=torch.tensor([0, 2]), track_ids=torch.tensor([1, 2]),
                    valid=torch.ones(2, T, dtype=torch.bool), prompt_targets=torch.tensor([1])),
    ]


class FreePredictions:
    """Predictions of a 2-clip batch as free parameters (one set per decoder entry)."""

    def __init__(self, entries: int = 1, num_classes: int | None = C, num_prompts: int = K, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)

        def p(*shape):
            return torch.nn.Parameter(torch.randn(*shape, generator=gen) * 0.1)

        self.entries = [
            dict(lm=p(2, Q, T, SIZE // 4, SIZE // 4), lr=p(2, Q, T, D),
                 lc=None if num_classes is None else p(2, Q, num_classes),
                 pm=p(2, num_prompts, T, SIZE // 4, SIZE // 4), pr=p(2, num_prompts, T, D),
                 pc=None if num_classes is None else p(2, num_prompts, num_classes), pe=p(2, num_prompts))
            for _ in range(entries)]

    def parameters(self) -> list[torch.Tensor]:
        return [v for e in self.entries for v in e.values() if v is not None]

    def output(self) -> DecoderOutput:
        learnable = [QueryPredictions(e["lm"], e["lc"], F.normalize(e["lr"], dim=-1)) for e in self.entries]
        prompt = [QueryPredictions(e["pm"], e["pc"], F.normalize(e["pr"], dim=-1), e["pe"])
                  for e in self.entries]
        return DecoderOutput(learnable=learnable, prompt=prompt)


def optimise(targets: list[ClipTargets], steps: int, cfg: LossConfig) -> tuple[dict, dict]:
    torch.manual_seed(0)
    preds = FreePredictions(entries=2)
    criterion = SetCriterion(cfg)
    opt = torch.optim.Adam(preds.parameters(), lr=0.2)
    first = None
    for _ in range(steps):
        losses = criterion(preds.output(), targets)
        first = first or {k: v.item() for k, v in losses.items()}
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
    return first, {k: v.item() for k, v in criterion(preds.output(), targets).items()}


def test_terms_are_named_and_sum_to_the_total():
    gen = torch.Generator().manual_seed(0)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    losses = SetCriterion(LossConfig(num_points=200))(FreePredictions().output(), targets)
    assert set(losses) == {f"loss_{n}" for n in LOSS_TERMS} | {"loss"}
    assert all(v.dtype == torch.float32 and v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    assert all(losses[f"loss_{n}"].item() > 0 for n in LOSS_TERMS)
    assert torch.allclose(losses["loss"], sum(losses[f"loss_{n}"] for n in LOSS_TERMS))


def test_optimising_free_tensors_drives_every_term_to_zero():
    """Edge-free masks (full or empty per frame) can be fitted exactly: all terms must vanish."""
    targets = two_clips(pattern_masks([[1, 0], [0, 1], [1, 1]]), pattern_masks([[1, 0], [1, 1]]))
    first, last = optimise(targets, steps=250, cfg=LossConfig(num_points=256))
    assert last["loss"] < 2e-3 * first["loss"]
    for name in LOSS_TERMS:
        assert last[f"loss_{name}"] < 0.01, name


def test_optimising_box_masks_fits_them_up_to_the_soft_boundary():
    """Boxes: bilinear GT labels are soft within half a pixel of an edge and importance sampling
    puts half the points there, so mask terms keep a small floor; everything else vanishes."""
    gen = torch.Generator().manual_seed(0)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    first, last = optimise(targets, steps=150, cfg=LossConfig(num_points=512))
    assert last["loss"] < 0.1 * first["loss"]
    for name in ("mask_learnable", "dice_learnable", "mask_prompt", "dice_prompt"):
        assert last[f"loss_{name}"] < 0.25 * first[f"loss_{name}"], name
    for name in ("class_learnable", "class_prompt", "reid_learnable", "reid_prompt", "reid_l2p", "expr"):
        assert last[f"loss_{name}"] < 0.05, name


def empty_clip() -> ClipTargets:
    return ClipTargets(masks=torch.zeros(0, T, SIZE, SIZE, dtype=torch.bool),
                       classes=torch.zeros(0, dtype=torch.long), track_ids=torch.zeros(0, dtype=torch.long),
                       valid=torch.zeros(0, T, dtype=torch.bool))


@pytest.mark.parametrize("num_classes", [C, None])
def test_zero_objects_and_zero_prompts(num_classes):
    preds = FreePredictions(num_classes=num_classes, num_prompts=0)
    losses = SetCriterion(LossConfig(num_points=100))(preds.output(), [empty_clip(), empty_clip()])
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    e = preds.entries[0]
    # nothing to segment or re-identify: mask and re-id outputs get exactly zero gradient
    for name in ("lm", "lr", "pm", "pr", "pe"):
        assert e[name].grad is not None and not e[name].grad.any(), name
    if num_classes is None:
        assert losses["loss"].item() == 0.0
    else:  # every learnable query is pushed to "no object"
        assert losses["loss_class_learnable"].item() > 0 and (e["lc"].grad > 0).all()
        assert all(losses[f"loss_{n}"].item() == 0.0 for n in LOSS_TERMS if n != "class_learnable")


def test_prompt_supervision_follows_prompt_targets_and_valid_frames():
    gen = torch.Generator().manual_seed(1)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    targets[0].prompt_targets = torch.tensor([0, 1, -1])  # object 1 is not annotated on frame 1
    preds = FreePredictions()
    losses = SetCriterion(LossConfig(num_points=200))(preds.output(), targets)
    losses["loss"].backward()
    pm, pe, pc = (preds.entries[0][k].grad for k in ("pm", "pe", "pc"))
    assert pm[0, 0].abs().sum((1, 2)).gt(0).all()  # object 0: both frames supervised
    assert pm[0, 1, 0].abs().sum() > 0 and not pm[0, 1, 1].any()  # unannotated frame: no mask loss
    assert not pm[0, 2].any() and not pc[0, 2].any()  # target −1: no mask or class loss ...
    assert pe[0, 2] > 0  # ... but its expression score is pushed down (nothing referred)
    assert pe[0, 0] < 0 and pe[0, 1] < 0  # referred objects are visible: scores pushed up
    assert not pm[1, 1:].any() and not pe[1, 1:].any() and not pc[1, 1:].any()  # padding queries


def test_deep_supervision_counts_each_entry():
    gen = torch.Generator().manual_seed(2)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    cfg = LossConfig(num_points=100)
    single = FreePredictions(entries=1, seed=5)
    stacked = FreePredictions(entries=1, seed=5)
    stacked.entries = stacked.entries * 4  # the same predictions as 4 entries
    one = SetCriterion(cfg)(single.output(), targets)
    four = SetCriterion(cfg)(stacked.output(), targets)
    last_only = SetCriterion(LossConfig(num_points=100, deep_supervision=False))(stacked.output(), targets)
    for name in ("class_prompt", "reid_prompt", "expr"):  # no matching involved: exact multiples
        assert torch.allclose(four[f"loss_{name}"], 4 * one[f"loss_{name}"], rtol=1e-5)
        assert torch.allclose(last_only[f"loss_{name}"], one[f"loss_{name}"], rtol=1e-5)

    distinct = FreePredictions(entries=4)
    SetCriterion(cfg)(distinct.output(), targets)["loss"].backward()
    assert all(e["lm"].grad.any() and e["pm"].grad.any() and e["lc"].grad.any() for e in distinct.entries)
    distinct = FreePredictions(entries=4)
    last_only = SetCriterion(LossConfig(num_points=100, deep_supervision=False))
    last_only(distinct.output(), targets)["loss"].backward()
    assert distinct.entries[-1]["lm"].grad.any()
    assert all(e["lm"].grad is None and e["lc"].grad is None for e in distinct.entries[:-1])


@pytest.mark.parametrize("num_classes", [1, 7])
def test_any_vocabulary_size(num_classes):
    gen = torch.Generator().manual_seed(3)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    for t in targets:
        t.classes = t.classes.clamp(max=num_classes - 1)
    preds = FreePredictions(num_classes=num_classes)
    losses = SetCriterion(LossConfig(num_points=100))(preds.output(), targets)
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_class_learnable"] > 0


def test_reid_temperature_from_the_model_is_used_and_trained():
    gen = torch.Generator().manual_seed(4)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    preds = FreePredictions()
    tau = torch.nn.Parameter(torch.tensor(0.5))
    criterion = SetCriterion(LossConfig(num_points=100))
    warm = criterion(preds.output(), targets, reid_temperature=tau)
    sharp = criterion(preds.output(), targets, reid_temperature=torch.tensor(0.05))
    assert not torch.isclose(warm["loss_reid_prompt"], sharp["loss_reid_prompt"])
    warm["loss"].backward()
    assert tau.grad is not None and tau.grad != 0


def test_bf16_predictions_give_fp32_losses():
    gen = torch.Generator().manual_seed(5)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    out = FreePredictions().output()
    for p in out.learnable + out.prompt:
        p.mask_logits, p.class_logits, p.reid = (x.bfloat16() for x in (p.mask_logits, p.class_logits, p.reid))
        if p.expr_scores is not None:
            p.expr_scores = p.expr_scores.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = SetCriterion(LossConfig(num_points=100))(out, targets)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())


def test_targets_that_do_not_fit_are_rejected():
    gen = torch.Generator().manual_seed(6)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    targets[1].classes = torch.tensor([0, C])
    with pytest.raises(ValueError, match="vocabulary"):
        SetCriterion(LossConfig(num_points=50))(FreePredictions().output(), targets)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    with pytest.raises(ValueError, match="prompt"):
        SetCriterion(LossConfig(num_points=50))(FreePredictions(num_prompts=2).output(), targets)


def test_normalisers_are_averaged_over_workers(tmp_path):
    gen = torch.Generator().manual_seed(7)
    targets = two_clips(box_masks(3, gen), box_masks(2, gen))
    preds = FreePredictions()
    criterion = SetCriterion(LossConfig(num_points=100))
    torch.manual_seed(0)
    alone = criterion(preds.output(), targets)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        grouped = criterion(preds.output(), targets)
    finally:
        dist.destroy_process_group()
    assert all(torch.allclose(alone[k], grouped[k]) for k in alone)
