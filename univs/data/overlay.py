"""Overlays: segmentation id maps drawn over frames, for people to look at.

Each object id gets the colour of the fixed palette (:data:`univs.data.palette.PALETTE`, the DAVIS
palette, so an object has the same colour here as in a palette PNG): ids 1..254 use their own
entry, larger ids wrap into 1..254 (``1 + (id - 1) mod 254``); 0 (background) and 255 (void) are
not drawn. Masks are alpha-blended, their boundaries drawn at full colour, and a text label (the
id, plus a name when given) is written at the object pixel nearest its centroid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import cv2
import numpy as np

from univs.data.palette import PALETTE
from univs.data.types import Category, VideoRecord
from univs.data.video import write_video
from univs.errors import InputError

VOID_ID = 255


def palette_index(ids: np.ndarray) -> np.ndarray:
    """Palette entry of each object id (ids 1..254 themselves, larger ids wrapped into 1..254)."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.where(ids < VOID_ID, ids, 1 + (ids - 1) % (VOID_ID - 1))


def boundary(id_map: np.ndarray, thickness: int = 1) -> np.ndarray:
    """``(H, W)`` bool: object pixels (id not 0/255) within ``thickness`` px of a different id."""
    diff = np.zeros(id_map.shape, bool)
    diff[1:, :] |= id_map[1:, :] != id_map[:-1, :]
    diff[:-1, :] |= id_map[:-1, :] != id_map[1:, :]
    diff[:, 1:] |= id_map[:, 1:] != id_map[:, :-1]
    diff[:, :-1] |= id_map[:, :-1] != id_map[:, 1:]
    if thickness > 1:
        diff = cv2.dilate(diff.astype(np.uint8), np.ones((thickness, thickness), np.uint8)).astype(bool)
    return diff & (id_map != 0) & (id_map != VOID_ID)


def _label_anchor(mask: np.ndarray) -> tuple[int, int]:
    """``(x, y)`` of the mask pixel nearest the mask's centroid."""
    ys, xs = np.nonzero(mask)
    k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(xs[k]), int(ys[k])


def _put_label(img: np.ndarray, text: str, anchor: tuple[int, int]) -> None:
    h, w = img.shape[:2]
    scale = max(0.3, min(h, w) / 600)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(np.clip(anchor[0] - tw // 2, 0, max(0, w - tw)))
    y = int(np.clip(anchor[1] + th // 2, th, max(th, h - base)))
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def render_overlay(frame: np.ndarray, id_map: np.ndarray, labels: Mapping[int, str] | None = None,
                   alpha: float = 0.5, contour: int = 1, text: bool = True) -> np.ndarray:
    """Draw ``id_map`` ``(H, W)`` int over ``frame`` ``(H, W, 3)`` uint8; returns a new ``(H, W, 3)`` uint8.

    Object pixels become ``(1 - alpha) · frame + alpha · colour`` (rounded), boundary pixels
    (``contour`` px wide, 0 for none) the pure colour; with ``text`` each object is labelled
    ``"<id>"`` or ``"<id> <labels[id]>"``.
    """
    frame = np.asarray(frame)
    id_map = np.asarray(id_map)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"overlay frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if id_map.shape != frame.shape[:2]:
        raise InputError(f"id map {id_map.shape} does not match the frame's {frame.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"overlay alpha must be in [0, 1], got {alpha}")
    drawn = (id_map != 0) & (id_map != VOID_ID)
    colours = PALETTE[palette_index(np.where(drawn, id_map, 0))].astype(np.float32)
    out = frame.astype(np.float32)
    out[drawn] = (1.0 - alpha) * out[drawn] + alpha * colours[drawn]
    out = np.rint(out).astype(np.uint8)
    if contour > 0:
        edge = boundary(id_map, contour)
        out[edge] = colours[edge].astype(np.uint8)
    if text:
        for obj in np.unique(id_map[drawn]):
            name = (labels or {}).get(int(obj))
            _put_label(out, f"{obj}" if name is None else f"{obj} {name}", _label_anchor(id_map == obj))
    return out


def write_overlay_video(path: str | Path, frames: Iterable[np.ndarray], id_maps: Iterable[np.ndarray],
                        fps: float, labels: Mapping[int, str] | None = None, alpha: float = 0.5) -> None:
    """Render each (frame, id map) pair and stream the result to ``path`` (GIF by suffix, else mp4)."""
    write_video(path, (render_overlay(f, m, labels, alpha) for f, m in zip(frames, id_maps, strict=True)), fps)


def write_record_overlay(path: str | Path, video: VideoRecord, categories: Mapping[int, Category] | None = None,
                         fps: float | None = None, alpha: float = 0.5) -> None:
    """Overlay of a :class:`VideoRecord`'s tracks on its frames, each labelled with its category name."""
    if video.frames is None:
        raise InputError(f"video {video.name!r} has no frames to draw on")
    cats = categories or {}
    labels = {tr.track_id: cats[tr.category_id].name for tr in video.tracks if tr.category_id in cats}
    frames = (video.frames[t] for t in range(len(video)))
    maps = (video.id_map(t) for t in range(len(video)))
    write_overlay_video(path, frames, maps, fps or video.frames.fps, labels, alpha)
