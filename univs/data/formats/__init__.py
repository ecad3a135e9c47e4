"""Native dataset formats: one module per family, each with a reader and a writer of
:class:`univs.data.types.VideoDataset`, plus the prediction layouts the official evaluators read.

``write_format(name, dataset, root)`` writes a dataset in the layout the real dataset ships;
``read_format(name, root)`` reads such a layout (the real dataset unchanged) back. ``FORMAT_TASK``
says which task view of a dataset each format holds. See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from univs.data.formats.coco import (read_coco, read_coco_panoptic, read_refcoco, write_coco,
                                     write_coco_panoptic, write_refcoco)
from univs.data.formats.davis import read_davis, write_davis, write_davis_results
from univs.data.formats.mevis import read_mevis, write_mevis
from univs.data.formats.prompts import MaskPrompt, first_appearance, read_prompt_masks
from univs.data.formats.refdavis import read_refdavis, write_refdavis, write_refdavis_results
from univs.data.formats.refytvos import (read_refytvos, write_expression_masks, write_refytvos,
                                         write_refytvos_submission)
from univs.data.formats.viposeg import read_viposeg, write_viposeg
from univs.data.formats.vipseg import read_vipseg, write_vipseg, write_vipseg_results
from univs.data.formats.vspw import read_vspw, write_vspw, write_vspw_results
from univs.data.formats.ytvis import (read_ytvis, read_ytvis_json, read_ytvis_results, write_ytvis,
                                      write_ytvis_results)
from univs.data.formats.ytvos import read_ytvos, write_ytvos
from univs.data.types import VideoDataset
from univs.errors import InputError


def _ovis_read(root: Path, **kw: Any) -> VideoDataset:
    return read_ytvis(root, layout="ovis", **kw)


def _ovis_write(ds: VideoDataset, root: Path, **kw: Any) -> None:
    write_ytvis(ds, root, layout="ovis", **kw)


_FORMATS: dict[str, tuple[str, Callable[..., VideoDataset], Callable[..., None]]] = {
    "davis": ("vos", read_davis, write_davis),
    "ytvos": ("vos", read_ytvos, write_ytvos),
    "ytvis": ("vis", read_ytvis, write_ytvis),
    "ovis": ("vis", _ovis_read, _ovis_write),
    "vipseg": ("vps", read_vipseg, write_vipseg),
    "vspw": ("vss", read_vspw, write_vspw),
    "refytvos": ("refvos", read_refytvos, write_refytvos),
    "refdavis": ("refvos", read_refdavis, write_refdavis),
    "mevis": ("refvos", read_mevis, write_mevis),
    "viposeg": ("pvos", read_viposeg, write_viposeg),
    "coco": ("image", read_coco, write_coco),
    "coco_panoptic": ("image", read_coco_panoptic, write_coco_panoptic),
    "refcoco": ("image", read_refcoco, write_refcoco),
}

FORMAT_NAMES: tuple[str, ...] = tuple(_FORMATS)
"""Every native dataset format univs reads and writes."""

FORMAT_TASK: dict[str, str] = {name: task for name, (task, _, _) in _FORMATS.items()}
"""Format → the task view (``univs.data.synth.task_view``) of a dataset it holds."""


def _lookup(name: str) -> tuple[str, Callable[..., VideoDataset], Callable[..., None]]:
    if name not in _FORMATS:
        raise InputError(f"unknown dataset format {name!r}; known: {', '.join(FORMAT_NAMES)}")
    return _FORMATS[name]


SPLITS = ("train", "valid", "val", "test")


def detect_format(root: str | Path, task: str) -> str | None:
    """The format of the ``task`` dataset under ``root`` told from its layout, where the task has
    several (VOS: DAVIS ``ImageSets/`` vs YouTube-VOS ``<split>/meta.json``; RefVOS: Ref-YouTube-VOS
    ``meta_expressions/``, Ref-DAVIS ``davis_text_annotations/``, MeViS
    ``<split>/meta_expressions.json``; VIS: OVIS ``annotations_<split>.json`` vs YouTube-VIS); None
    when the layout does not say."""
    root = Path(root)
    if task == "vos":
        if (root / "ImageSets").is_dir():
            return "davis"
        if any((root / s / "meta.json").is_file() for s in SPLITS):
            return "ytvos"
    elif task == "refvos":
        if (root / "meta_expressions").is_dir():
            return "refytvos"
        if (root / "davis_text_annotations").is_dir():
            return "refdavis"
        if any((root / s / "meta_expressions.json").is_file() for s in SPLITS):
            return "mevis"
    elif task == "vis":
        if any(root.glob("annotations_*.json")):
            return "ovis"
        if any(root.glob("*.json")) or any((root / s / "instances.json").is_file() for s in SPLITS):
            return "ytvis"
    return None


def write_format(name: str, dataset: VideoDataset, root: str | Path, **kwargs: Any) -> None:
    """Write ``dataset`` under ``root`` in format ``name`` (keyword options: the writer's, e.g. ``split``)."""
    _lookup(name)[2](dataset, Path(root), **kwargs)


def read_format(name: str, root: str | Path, **kwargs: Any) -> VideoDataset:
    """Read the format-``name`` dataset under ``root`` (keyword options: the reader's, e.g. ``split``)."""
    return _lookup(name)[1](Path(root), **kwargs)


__all__ = [
    "FORMAT_NAMES", "FORMAT_TASK", "MaskPrompt", "detect_format", "first_appearance", "read_format",
    "read_prompt_masks", "write_format", "read_coco", "read_coco_panoptic", "read_davis", "read_mevis", "read_refcoco",
    "read_refdavis", "read_refytvos", "read_viposeg", "read_vipseg", "read_vspw", "read_ytvis",
    "read_ytvis_json", "read_ytvis_results", "read_ytvos", "write_coco", "write_coco_panoptic",
    "write_davis", "write_davis_results", "write_expression_masks", "write_mevis", "write_refcoco",
    "write_refdavis", "write_refdavis_results", "write_refytvos", "write_refytvos_submission",
    "write_viposeg", "write_vipseg", "write_vipseg_results", "write_vspw", "write_vspw_results",
    "write_ytvis", "write_ytvis_results", "write_ytvos",
]
