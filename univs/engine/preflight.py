"""Checks that run before any compute: every dataset root and weights file of a training config exists.

A run whose data cannot be found fails at once with one message listing every missing root (with
the format it was to be read as and the layout expected there, ``docs/datasets.md``) and every
missing weights file, instead of after minutes of model building or in the middle of a stage.
"""

from __future__ import annotations

from pathlib import Path

from univs.config import DatasetSpec, TrainConfig, stage_data

LAYOUTS = {
    "davis": "JPEGImages/480p/<seq>/*.jpg, Annotations/480p/<seq>/*.png, ImageSets/2017/<split>.txt",
    "ytvos": "<split>/JPEGImages/<vid>/*.jpg, <split>/Annotations/<vid>/*.png, <split>/meta.json",
    "ytvis": "<split>/JPEGImages/<vid>/*.jpg with <split>.json (2019) or <split>/instances.json (2021)",
    "ovis": "<split>/<vid>/*.jpg, annotations_<split>.json",
    "vipseg": "images/<vid>/*.jpg, panomasks/<vid>/*.png, panoptic_gt_VIPSeg_<split>.json",
    "vspw": "data/<video>/origin/*.jpg, data/<video>/mask/*.png",
    "refytvos": "meta_expressions/<split>/meta_expressions.json, <split>/JPEGImages/<vid>/*.jpg, "
                "<split>/Annotations/<vid>/*.png, <split>/meta.json",
    "refdavis": "DAVIS/JPEGImages/480p/<seq>/*.jpg, DAVIS/Annotations_unsupervised/480p/<seq>/*.png, "
                "davis_text_annotations/Davis17_annot*.txt",
    "mevis": "<split>/JPEGImages/<vid>/*.jpg, <split>/meta_expressions.json, <split>/mask_dict.json",
    "viposeg": "<split>/JPEGImages/<vid>/*.jpg, <split>/Annotations/<vid>/*.png, <split>/obj_class.json",
    "coco": "<split>/*.jpg, annotations/instances_<split>.json",
    "coco_panoptic": "<split>/*.jpg, annotations/panoptic_<split>.json, annotations/panoptic_<split>/*.png",
    "refcoco": "refcoco/instances.json, refcoco/refs(unc).json, train2014/*.jpg",
}
"""Expected layout under the root of each native format (docs/datasets.md)."""


def config_datasets(cfg: TrainConfig) -> list[DatasetSpec]:
    """Every dataset a config reads: the mixture of each stage, then the validation sets."""
    specs = [s for i in range(len(cfg.stages)) for s in stage_data(cfg, i + 1).datasets]
    return specs + list(cfg.validation.datasets)


def missing_files(cfg: TrainConfig) -> list[str]:
    """One line per dataset root (:func:`missing_roots`) or model weights file the config names
    that does not exist."""
    problems = missing_roots(config_datasets(cfg))
    text = cfg.model.prompt_encoder.text
    for what, path in (("text encoder weights (model.prompt_encoder.text.path)", text.path),
                       ("initial weights (init)", cfg.init)):
        if path is not None and not Path(path).exists():
            problems.append(f"{path}: {what} not found")
    return problems


def missing_roots(specs: list[DatasetSpec]) -> list[str]:
    """One line per non-synthetic dataset whose root is unset or not a folder (each root once)."""
    problems, seen = [], set()
    for spec in specs:
        if spec.format == "synth" or (spec.format, spec.root) in seen:
            continue
        seen.add((spec.format, spec.root))
        layout = LAYOUTS.get(spec.format, "see docs/datasets.md")
        if spec.root is None:
            problems.append(f"dataset {spec.name!r} ({spec.format}): no root folder set (expected: {layout})")
        elif not Path(spec.root).is_dir():
            problems.append(f"{spec.root}: dataset {spec.name!r} ({spec.format}) not found "
                            f"(expected under it: {layout})")
    return problems
