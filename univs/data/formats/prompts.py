"""A folder of sparse prompt masks, as Cutie/XMem-style tools take them (``masks/00000.png``, ...).

Each file is a palette (or grey) PNG named after the frame it prompts; its non-zero indices are
object ids (255 = void, ignored). Objects may be introduced on any frame, and a later file may
re-prompt an object. Unlike dataset annotations (where a size mismatch is an error), a prompt mask
whose size differs from the frames is resized with nearest-neighbour interpolation and a warning
naming the file: real prompt files are sometimes a pixel off (e.g. an 853-px mask for 854-px frames).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from univs.data.formats.common import list_stems, read_index_png
from univs.errors import InputError

VOID = 255


@dataclass(frozen=True)
class MaskPrompt:
    """One object's mask prompt: ``mask`` is ``(H, W)`` bool at the frame size."""

    frame: int
    obj_id: int
    mask: np.ndarray
    source: Path


def _frame_index(stem: str, frame_names: Sequence[str] | None, path: Path) -> int:
    if frame_names is not None:
        try:
            return list(frame_names).index(stem)
        except ValueError:
            raise InputError(f"prompt mask names no frame of the video (frames {frame_names[0]}.."
                             f"{frame_names[-1]})", path) from None
    if not stem.isdigit():
        raise InputError("prompt mask name is not a frame number; pass the video's frame names", path)
    return int(stem)


def read_prompt_masks(folder: str | Path, frame_size: tuple[int, int],
                      frame_names: Sequence[str] | None = None) -> list[MaskPrompt]:
    """All mask prompts of ``folder``, ordered by (frame, object id).

    ``frame_size`` is the frames' ``(H, W)``. A file maps to a frame by its name: its position in
    ``frame_names`` when given, else the number it spells (``00005.png`` → frame 5).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("prompt mask folder not found", folder)
    h, w = int(frame_size[0]), int(frame_size[1])
    prompts = []
    for stem in list_stems(folder, (".png",)):
        path = folder / f"{stem}.png"
        ids = read_index_png(path, what="prompt mask")
        if ids.shape != (h, w):
            warnings.warn(f"{path}: prompt mask is {ids.shape[1]}x{ids.shape[0]} (WxH), frames are {w}x{h}; "
                          "resized with nearest-neighbour", stacklevel=2)
            ids = np.asarray(Image.fromarray(ids, mode="L").resize((w, h), Image.NEAREST))
        t = _frame_index(stem, frame_names, path)
        prompts.extend(MaskPrompt(frame=t, obj_id=int(v), mask=ids == v, source=path)
                       for v in np.unique(ids).tolist() if v not in (0, VOID))
    if not prompts:
        raise InputError("no prompt masks (no PNG with a non-zero object id)", folder)
    return sorted(prompts, key=lambda p: (p.frame, p.obj_id))


def first_appearance(prompts: Sequence[MaskPrompt]) -> dict[int, int]:
    """Object id → the first frame that prompts it."""
    out: dict[int, int] = {}
    for p in prompts:
        out[p.obj_id] = min(out.get(p.obj_id, p.frame), p.frame)
    return dict(sorted(out.items()))
