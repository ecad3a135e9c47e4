"""Dataclass configs, YAML in/out and named model presets.

Every default lives here, once. A YAML file holds a (partial) nested mapping of a config
dataclass; ``key.sub=value`` overrides from the command line apply on top. Unknown keys are
errors that name the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from univs.errors import InputError

T = TypeVar("T")

TASKS = ("vis", "vss", "vps", "vos", "pvos", "refvos")
CATEGORY_TASKS = ("vis", "vss", "vps")
PROMPT_TASKS = ("vos", "pvos", "refvos")


# --------------------------------------------------------------------------- generic machinery


def _resolve_type(tp: Any) -> Any:
    """Strip ``Optional[...]``/``X | None`` to the concrete type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def from_dict(cls: type[T], data: dict | None, where: str = "") -> T:
    """Build dataclass ``cls`` from a nested mapping; unknown keys raise :class:`InputError`."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
                         f"known under {where or 'top level'}: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, tp = data[f.name], _resolve_type(hints[f.name])
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            value = from_dict(tp, value, where=f"{where}{f.name}.")
        elif (typing.get_origin(tp) is list and isinstance(value, list)
              and dataclasses.is_dataclass(typing.get_args(tp)[0])):
            item = typing.get_args(tp)[0]
            value = [from_dict(item, v, where=f"{where}{f.name}[{i}].") if isinstance(v, dict) else v
                     for i, v in enumerate(value)]
        elif typing.get_origin(tp) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def to_dict(obj: Any) -> dict:
    """Dataclass to a plain nested mapping (tuples become lists, ready for YAML/JSON)."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(obj)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (values parsed as YAML scalars/lists) to a nested mapping."""
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        _set_path(data, key.strip().split("."), yaml.safe_load(raw), key)
    return data


def _set_path(node: dict | list, parts: list[str], value: Any, key: str) -> None:
    """Set ``value`` at ``parts`` below ``node``, copying the containers on the way (an integer
    part indexes a list, e.g. ``stages.2.iterations``)."""
    part = parts[0]
    if isinstance(node, list):
        if not (part.isdigit() and int(part) < len(node)):
            raise InputError(f"override {key!r}: {part!r} is not an index of a list of {len(node)} items")
        index: int | str = int(part)
        child = node[int(part)]
    else:
        index, child = part, node.get(part)
    if len(parts) == 1:
        node[index] = value
        return
    if child is not None and not isinstance(child, (dict, list)):
        raise InputError(f"override {key!r}: {part!r} holds a value, not a mapping or list")
    child = list(child) if isinstance(child, list) else dict(child or {})
    node[index] = child
    _set_path(child, parts[1:], value, key)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with errors naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", path) from None
    if not isinstance(data, dict):
        raise InputError("a config file must hold a mapping at the top level", path)
    return data


def save_yaml(obj: Any, path: str | Path) -> None:
    from univs.data.atomic import atomic_open

    with atomic_open(path) as f:
        yaml.safe_dump(to_dict(obj), f, sort_keys=False)


# --------------------------------------------------------------------------- training data


@dataclass
class SynthConfig:
    """The synthetic video world (``univs.data.synth``): ``videos`` videos of ``frames`` frames at
    ``size`` (H, W), byte-identical for a ``seed``. Each video holds ``min_things..max_things``
    objects (fewer become visible when a short video leaves no room for every event); each object
    gets up to ``expressions_per_object`` referring descriptions, ``paraphrases`` wordings each.
    """

    videos: int = 20
    frames: int = 24
    size: tuple[int, int] = (240, 320)
    seed: int = 0
    min_things: int = 6
    max_things: int = 8
    fps: float = 24.0
    expressions_per_object: int = 3
    paraphrases: int = 2


@dataclass
class DatasetSpec:
    """One dataset of the training mixture (architecture.md §5): where it is, its task, its ratio.

    ``format`` is a native format of ``univs.data.formats`` (``root`` is its folder, ``split`` the
    reader's split, None = the reader's default, ``options`` more reader keywords such as
    ``{layout: "2021"}``; a ``univs synth`` output is read this way too), or ``"synth"``: the
    synthetic world of ``synth``, generated in memory.
    ``ratio`` is the relative frequency of its batches; it is normalised over the mixture.
    """

    name: str = "synth"
    format: str = "synth"
    root: str | None = None
    split: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    task: str = "vos"
    ratio: float = 1.0
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class AugmentationConfig:
    """Clip augmentations, identical on every frame of a clip (``univs.data.transforms``).

    Scale jitter: the frame's short side is resized to r × the short side of ``output_size``
    (H, W) (aspect kept), r uniform in ``scale_range``, then randomly cropped and zero-padded to
    ``output_size``; the official image stage uses large-scale jitter (r in 0.1..2.0).
    ``crop_tries``: transforms drawn until one keeps an object visible.
    """

    output_size: tuple[int, int] = (128, 160)
    scale_range: tuple[float, float] = (0.8, 1.25)
    flip_prob: float = 0.5
    crop_tries: int = 5


@dataclass
class PromptSimulationConfig:
    """Prompt simulation for training (``univs.data.prompt_simulation``, architecture.md §5).

    max_prompts_per_frame: cap on prompted targets per frame (official 30 stage 1, 20 stages 2-3).
    kind_weights: relative frequency of visual prompt kinds for VOS/PVOS.
    category_prompt_prob: probability that a GT object of a VIS/VSS/VPS clip also becomes a
    visual (mask) prompt. max_clicks: positive clicks of a ``points`` prompt (1..max_clicks).
    negative_prob / max_negatives: how often a VOS/PVOS prompt gets negative clicks, and how many.
    """

    max_prompts_per_frame: int = 20
    kind_weights: dict[str, float] = field(
        default_factory=lambda: {"mask": 1.0, "box": 1.0, "points": 1.0, "scribble": 1.0})
    category_prompt_prob: float = 0.5
    max_clicks: int = 3
    negative_prob: float = 0.3
    max_negatives: int = 3


@dataclass
class DataConfig:
    """The training data pipeline (``univs.data.training``): mixture, clips, augmentation, prompts.

    Every batch holds ``batch_size`` clips of ``num_frames`` frames from one dataset and one task.
    Clip frames are drawn within ``frame_range`` consecutive frames. Official stages: (1) images,
    T = 1, 30 prompts per frame; (2) T = 4 within 40 frames; (3) T = 7 (see :func:`data_stage`).
    ``val_fraction`` of every dataset's videos (chosen by ``val_seed``) is held out of training.
    """

    datasets: list[DatasetSpec] = field(default_factory=lambda: [DatasetSpec()])
    batch_size: int = 2
    num_frames: int = 4
    frame_range: int = 40
    batches_per_epoch: int = 1000
    num_workers: int = 2
    pin_memory: bool = True
    seed: int = 0
    val_fraction: float = 0.0
    val_seed: int = 0
    augment: AugmentationConfig = field(default_factory=AugmentationConfig)
    prompts: PromptSimulationConfig = field(default_factory=PromptSimulationConfig)


STAGE_CLIPS = {1: (1, 30), 2: (4, 20), 3: (7, 20)}
"""Official (frames per clip, prompted targets per frame) of training stages 1-3."""


def data_stage(cfg: DataConfig, stage: int) -> DataConfig:
    """``cfg`` with the clip length and prompt cap of training ``stage`` (1, 2 or 3)."""
    if stage not in STAGE_CLIPS:
        raise InputError(f"unknown training stage {stage}; known: 1, 2, 3")
    frames, cap = STAGE_CLIPS[stage]
    return dataclasses.replace(cfg, num_frames=frames,
                               prompts=dataclasses.replace(cfg.prompts, max_prompts_per_frame=cap))


# --------------------------------------------------------------------------- model configs


@dataclass
class BackboneConfig:
    """Image encoder (architecture.md §2). Outputs ``res2..res5`` at strides 4, 8, 16, 32."""

    name: str = "efficientnet_lite0"  # efficientnet_lite0 | resnet50 | swin
    pretrained: bool = True  # ImageNet weights where they ship offline (efficientnet_lite0 only)
    freeze_bn: bool = True
    # requires_grad False for the stem (>= 1) and res2..res{freeze_at}; 5 = the official stage-3
    # models (R50: whole backbone; Swin: all but the output norms norm0..3)
    freeze_at: int = 0
    # Swin only
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    pretrain_img_size: int = 224
    drop_path_rate: float = 0.3


@dataclass
class PixelDecoderConfig:
    """MSDeformAttn pixel decoder (Mask2Former's), architecture.md §2."""

    conv_dim: int = 256
    mask_dim: int = 256
    enc_layers: int = 6
    nheads: int = 8
    npoints: int = 4
    dim_feedforward: int = 1024
    dropout: float = 0.0
    in_features: tuple[str, ...] = ("res3", "res4", "res5")
    common_stride: int = 4  # stride of the mask features: 4 as official, or 2 on backbones with res1


@dataclass
class TextEncoderConfig:
    """Frozen text encoder (architecture.md §3). ``minilm`` ships offline; others need ``path``."""

    name: str = "minilm"  # minilm | clip | regionclip
    path: str | None = None
    dim: int = 384
    max_length: int = 77
    cache_dir: str | None = None


@dataclass
class PromptEncoderConfig:
    """Visual sampler and text branch (architecture.md §3)."""

    num_points: int = 32  # R: sampled pixels per target per frame (official config default)
    num_points_per_task: dict[str, int] = field(
        default_factory=lambda: {"vos": 256, "pvos": 256, "vis": 128, "vps": 64, "vss": 64, "refvos": 32})
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    # Extension (not official, so off in the official presets): negative clicks become prompt
    # tokens marked by a learned embedding; when off they are ignored.
    negative_point_embedding: bool = False
    # Extension (not official): each visual prompt token adds the mask features at its point
    # (stride common_stride) through a zero-initialised Linear(mask_dim → D), so the tokens of a
    # small target are not blurred by the 1/8 level (the synthetic world's median object is 250 px).
    fine_tokens: bool = False


@dataclass
class DecoderConfig:
    """Unified video mask decoder (architecture.md §4)."""

    hidden_dim: int = 256
    nheads: int = 8
    dim_feedforward: int = 2048
    dec_layers: int = 9
    num_queries: int = 200
    dropout: float = 0.0
    pre_norm: bool = False
    self_attn_mode: str = "sep"  # sep | sep-blocked
    temporal_pos_period: int = 128


@dataclass
class LossConfig:
    """Matcher costs and loss weights (architecture.md §5)."""

    cost_class: float = 3.0
    cost_mask: float = 5.0
    cost_dice: float = 5.0
    cost_reid: float = 0.5
    class_weight: float = 5.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    reid_weight: float = 0.5
    no_object_weight: float = 0.1
    focal_alpha: float = 0.5  # official sigmoid focal term of the class loss (alpha, gamma)
    focal_gamma: float = 2.0
    class_ce_weight: float = 1.0  # CE term beside the focal term in the class loss (official 1)
    expr_weight: float = 2.0  # RefVOS expression-score BCE (no official term; ReferFormer's 2)
    reid_temperature: float = 0.07  # re-id contrastive temperature when the model passes none
    num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.5
    deep_supervision: bool = True


@dataclass
class ModelConfig:
    """A whole UniVS model. ``name`` is the preset it started from."""

    name: str = "tiny"
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    pixel_decoder: PixelDecoderConfig = field(default_factory=PixelDecoderConfig)
    prompt_encoder: PromptEncoderConfig = field(default_factory=PromptEncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    pixel_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: tuple[float, float, float] = (58.395, 57.12, 57.375)


def _swin(embed_dim: int, depths: tuple[int, ...], heads: tuple[int, ...], window: int,
          img: int) -> BackboneConfig:
    return BackboneConfig(name="swin", pretrained=False, embed_dim=embed_dim, depths=depths,
                          num_heads=heads, window_size=window, pretrain_img_size=img, freeze_at=5)


def _official(name: str, backbone: BackboneConfig) -> ModelConfig:
    """An official-architecture preset: its text side is the RegionCLIP RN50x4 tower (640-d)."""
    text = TextEncoderConfig(name="regionclip", dim=640)
    return ModelConfig(name=name, backbone=backbone, prompt_encoder=PromptEncoderConfig(text=text))


def model_preset(name: str) -> ModelConfig:
    """The named model presets of architecture.md §7: tiny, r50, swin_t, swin_b, swin_l."""
    if name == "tiny":
        return ModelConfig(
            name="tiny",
            backbone=BackboneConfig(name="efficientnet_lite0", pretrained=True),
            pixel_decoder=PixelDecoderConfig(conv_dim=128, mask_dim=128, enc_layers=3,
                                             dim_feedforward=512),
            prompt_encoder=PromptEncoderConfig(negative_point_embedding=True),
            decoder=DecoderConfig(hidden_dim=128, dim_feedforward=512, dec_layers=6, num_queries=50),
            # the input scaling EfficientNet-Lite0's ImageNet weights were trained with
            pixel_mean=(127.0, 127.0, 127.0), pixel_std=(128.0, 128.0, 128.0),
        )
    if name == "r50":
        return _official("r50", BackboneConfig(name="resnet50", pretrained=False, freeze_at=5))
    if name == "swin_t":
        return _official("swin_t", _swin(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 224))
    if name == "swin_b":
        return _official("swin_b", _swin(128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 384))
    if name == "swin_l":
        return _official("swin_l", _swin(192, (2, 2, 18, 2), (6, 12, 24, 48), 12, 384))
    raise InputError(f"unknown model preset {name!r}; known: {', '.join(MODEL_PRESETS)}")


MODEL_PRESETS = ("tiny", "r50", "swin_t", "swin_b", "swin_l")


# --------------------------------------------------------------------------- inference (univs segment)


@dataclass
class InferenceConfig:
    """Streaming inference (``univs.inference``; architecture.md §6, §6a). Every threshold is named
    here; the defaults are the official §6 values (but ``clip_frames`` and the ``regrounding_iou``
    extension, below) and :data:`TASK_INFERENCE` holds the official per-task overrides of §6a
    (:meth:`for_task` applies them).

    Geometry and decoding:
    short_side: frames whose short side exceeds it are shrunk to it for the model (masks come back
        at the original size); smaller frames are processed as they are (official R50: 640).
    clip_frames: the decoder reads a causal window of the last ``clip_frames`` frames (features
        cached, each frame encoded once) and the newest frame's prediction is the output; 1 =
        frame-by-frame decoding (our default: no look-ahead, live-friendly; official clips of 5).
    self_attn_mode: the decoder's Sep-SA mode (None: the model's; RefVOS: ``sep-blocked``).
    amp: bf16 autocast on CUDA (CPU runs float32).

    Memory pools (per target, bounded):
    memory_slots: the last N per-frame slots kept beside the first-appearance slot (official 5).
    reid_frames: recent re-id embeddings kept per target for consistency and BiSoftmax (official 3).
    memory_score: a prediction enters its target's memory only with a score ≥ this (official 0.05).
    memory_similarity: ... and a temporally weighted cosine similarity to the target's recent
        embeddings ≥ this (official 0.5 for VOS slot updates).
    regrounding_iou: extension (not official), text targets only: each frame a text target with
        visual slots is decoded twice, from its pool and from its expression tokens alone; when the
        two masks' IoU is under this and the expression alone scores the higher expression
        probability, the target re-grounds (its visual slots and embeddings are dropped; the
        expression's prediction is the frame's). None: off, the official behaviour.
    consistency: a tracked category target whose similarity falls under this is missing on the
        frame (official 0.05; 0.25 VIS); halved on the first frame.
    pixel_competition: overlapping targets compete per pixel (off for RefVOS, whose expressions may
        share an object); min_survival: a target keeps its mask on a frame only if at least this
        fraction of it survives (official 0.5 VIS, 0.25 VOS/PVOS).
    cover_all_pixels: every pixel goes to its best target even where none is confident (VSS).
    max_targets: no new target is started beyond this many (bounds memory on endless streams).

    Category-guided detection and association:
    detect_every: the learnable queries detect every K frames (official 1).
    class_threshold: τ_cls, the least detection score kept before NMS (official 0.05).
    stability_offset / min_stability: a detection's mask stability is the IoU of its masks at
        logit > +offset and > −offset; detections under ``min_stability`` are dropped (official
        0.25) and the score is class probability × stability.
    box_nms: box IoU over which a lower-scored thing detection is suppressed (official 0.75; VIS 0.85).
    stuff_mask_nms: mask IoU over which a lower-scored stuff detection is suppressed (official 0.6).
    bisoftmax_threshold: τ_new; BiSoftmax similarities under it are zeroed, a match needs more, and
        a match over 2·τ_new also lends its mask to the target (official 0.05; VIS 0.1).
    first_frame_score / new_object_score: least score of a detection that starts a target on the
        first frame / later (official 0.25 / 0.2 VIS, 0.3 VPS).
    new_object_max_iou: a new target's mask must overlap every known target's less than this
        (mask IoU, official 0.5).
    classes_per_track: a thing target's video-level result names its this many most probable
        classes (:class:`TrackSummary` alternatives); YouTube-VIS results hold one entry per class,
        each scored by its mean probability, as VIS methods report a track's top classes
        (YouTube-VIS scores up to 100 entries per video); panoptic and semantic maps use the first.
    """

    short_side: int | None = 640
    clip_frames: int = 1
    self_attn_mode: str | None = None
    amp: bool = True
    memory_slots: int = 5
    reid_frames: int = 3
    memory_score: float = 0.05
    memory_similarity: float = 0.5
    regrounding_iou: float | None = 0.3
    consistency: float = 0.05
    pixel_competition: bool = True
    min_survival: float = 0.5
    cover_all_pixels: bool = False
    max_targets: int = 100
    detect_every: int = 1
    class_threshold: float = 0.05
    stability_offset: float = 1.0
    min_stability: float = 0.25
    box_nms: float = 0.75
    stuff_mask_nms: float = 0.6
    bisoftmax_threshold: float = 0.05
    first_frame_score: float = 0.25
    new_object_score: float = 0.2
    new_object_max_iou: float = 0.5
    classes_per_track: int = 3

    def __post_init__(self) -> None:
        if self.classes_per_track < 1:
            raise InputError(f"classes_per_track must be at least 1, got {self.classes_per_track}")
        if self.regrounding_iou is not None and not 0 <= self.regrounding_iou <= 1:
            raise InputError(f"regrounding_iou must be an IoU in [0, 1] or null, got {self.regrounding_iou}")

    def for_task(self, task: str) -> "InferenceConfig":
        """This config with the official §6a overrides of ``task`` (one of :data:`TASKS`) applied."""
        if task not in TASK_INFERENCE:
            raise InputError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
        return dataclasses.replace(self, **TASK_INFERENCE[task])


TASK_INFERENCE: dict[str, dict[str, Any]] = {
    "vos": {"min_survival": 0.25, "memory_similarity": 0.5},
    "pvos": {"min_survival": 0.25, "memory_similarity": 0.5},
    "refvos": {"pixel_competition": False, "self_attn_mode": "sep-blocked"},
    "vis": {"box_nms": 0.85, "bisoftmax_threshold": 0.1, "first_frame_score": 0.25, "new_object_score": 0.2,
            "consistency": 0.25, "min_survival": 0.5},
    "vps": {"box_nms": 0.75, "stuff_mask_nms": 0.6, "bisoftmax_threshold": 0.05, "first_frame_score": 0.25,
            "new_object_score": 0.3, "consistency": 0.05},
    "vss": {"stuff_mask_nms": 0.6, "bisoftmax_threshold": 0.05, "first_frame_score": 0.25,
            "new_object_score": 0.3, "consistency": 0.05, "cover_all_pixels": True},
}
"""Official per-task inference settings (architecture.md §6a) over the :class:`InferenceConfig` defaults."""


# --------------------------------------------------------------------------- training (univs train)

FREEZABLE = ("backbone", "pixel_decoder")
"""Model parts a training stage may freeze (``StageConfig.freeze``)."""


@dataclass
class OptimConfig:
    """AdamW with warm-up and a step schedule (architecture.md §5; official ``Base.yaml`` SOLVER).

    The learning rate of a stage is ``StageConfig.lr`` (× ``backbone_lr_multiplier`` for backbone
    parameters), scaled by ``warmup_factor`` rising linearly to 1 over the first ``warmup_iters``
    iterations of the stage, then by ``gamma`` at every ``StageConfig.lr_steps`` milestone.
    ``clip_grad_norm``: the L2 norm of the whole model's gradient is clipped to this (official
    CLIP_TYPE full_model, CLIP_VALUE 0.01); 0 turns clipping off.
    """

    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    backbone_lr_multiplier: float = 0.1
    clip_grad_norm: float = 0.01
    warmup_iters: int = 10
    warmup_factor: float = 1.0
    gamma: float = 0.1


@dataclass
class StageConfig:
    """One training stage (architecture.md §5), trained for ``iterations`` steps.

    clips: the official stage (1 images, 2 short clips, 3 long clips) whose clip length and prompt
    cap (``STAGE_CLIPS``) the stage's data starts from; ``data`` then overrides any
    :class:`DataConfig` key for this stage (e.g. ``{num_frames: 3, batch_size: 1}``).
    lr: base learning rate; lr_steps: milestones as fractions of ``iterations`` (official
    342k / 354k). freeze: parts of :data:`FREEZABLE` kept fixed (no gradient, not in the optimizer).
    ema_decay: keep an exponential moving average of the weights with this decay (None: none); the
    EMA weights are then the stage's validated and saved weights.
    """

    clips: int = 1
    iterations: int = 1000
    lr: float = 5e-5
    lr_steps: tuple[float, ...] = (342000 / 354000,)
    freeze: tuple[str, ...] = ()
    ema_decay: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


def official_stages() -> list[StageConfig]:
    """The official three stages: images; 4-frame clips, backbone frozen; 7-frame clips, backbone
    and pixel decoder frozen, half the learning rate, EMA (official 162k / 177k schedule)."""
    return [
        StageConfig(clips=1),
        StageConfig(clips=2, freeze=("backbone",)),
        StageConfig(clips=3, lr=2.5e-5, lr_steps=(162000 / 177000,), freeze=FREEZABLE, ema_decay=0.999),
    ]


@dataclass
class ValidationConfig:
    """Held-out VOS validation during training, scored with DAVIS J&F (``univs.engine.validation``).

    every: iterations between validations inside a stage (0: only at the end of each stage).
    datasets: the held-out videos (any format with objects; their VOS view is used); empty = the
    held-out share (``DataConfig.val_fraction``) of the mixture's ``vos`` datasets.
    max_videos: validate on the first this many videos (0: all).
    workers: on CPU, single-threaded processes that share the videos (0: one per core this process
    may use; 1: in the training process). They are spawned, so a script that trains through the
    Python API (``univs.engine.run_train``) needs an ``if __name__ == "__main__":`` guard, or 1.
    """

    every: int = 0
    datasets: list[DatasetSpec] = field(default_factory=list)
    max_videos: int = 0
    workers: int = 0


@dataclass
class TrainConfig:
    """A ``univs train`` config file: model, data mixture, optimiser, stages, validation.

    ``model.name`` is the preset (``MODEL_PRESETS``) the file's ``model`` mapping is applied on.
    init: a univs checkpoint the first stage run starts from (None: the preset's initialisation,
    ImageNet backbone where it ships). checkpoint_every / log_every: iterations between
    checkpoints / logged scalars. amp: bf16 autocast on CUDA (CPU runs float32).
    device: auto (CUDA when present) | cpu | cuda.
    """

    model: ModelConfig = field(default_factory=lambda: model_preset("tiny"))
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    stages: list[StageConfig] = field(default_factory=official_stages)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    seed: int = 0
    init: str | None = None
    checkpoint_every: int = 500
    log_every: int = 10
    amp: bool = True
    tensorboard: bool = True
    device: str = "auto"


def _merged(base: dict, over: dict) -> dict:
    """``base`` with the nested mapping ``over`` applied on top (mappings merge, the rest replaces)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def stage_data(cfg: TrainConfig, stage: int) -> DataConfig:
    """The data config of stage ``stage`` (1-based): the official clips of its ``clips``, then its
    ``data`` overrides."""
    spec = cfg.stages[stage - 1]
    base = data_stage(cfg.data, spec.clips)
    return from_dict(DataConfig, _merged(to_dict(base), spec.data), where=f"stages[{stage - 1}].data.")


def check_train_config(cfg: TrainConfig) -> None:
    """Raise :class:`InputError` for settings no training can run with."""
    if not cfg.stages:
        raise InputError("the config has no training stage")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise InputError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    for i, s in enumerate(cfg.stages):
        where = f"stages[{i}]"
        unknown = sorted(set(s.freeze) - set(FREEZABLE))
        if unknown:
            raise InputError(f"{where}.freeze: unknown part(s) {', '.join(unknown)}; known: {', '.join(FREEZABLE)}")
        if s.iterations < 1 or not s.lr > 0:
            raise InputError(f"{where}: need iterations ≥ 1 and lr > 0, got {s.iterations} and {s.lr}")
        if any(not 0 < f <= 1 for f in s.lr_steps):
            raise InputError(f"{where}.lr_steps: milestones are fractions in (0, 1], got {list(s.lr_steps)}")
        if s.ema_decay is not None and not 0 < s.ema_decay < 1:
            raise InputError(f"{where}.ema_decay must be in (0, 1), got {s.ema_decay}")
        stage_data(cfg, i + 1)


def load_train_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a training config file, apply ``key=value`` overrides and check it.

    The file's ``model`` mapping applies on the preset its ``name`` gives (default ``tiny``);
    overrides apply to the resolved config, so ``stages.2.iterations=100`` works without the file
    spelling the stages out.
    """
    raw = load_yaml(path)
    model = raw.get("model") or {}
    if not isinstance(model, dict):
        raise InputError("'model' must be a mapping (with 'name': a preset)", path)
    raw["model"] = _merged(to_dict(model_preset(model.get("name", "tiny"))), model)
    cfg = from_dict(TrainConfig, raw)
    if overrides:
        cfg = from_dict(TrainConfig, apply_overrides(to_dict(cfg), list(overrides)))
    check_train_config(cfg)
    return cfg
