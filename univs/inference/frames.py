"""Video sources and the geometry between original frames and the model's processing size.

Sources (all decoded lazily, one frame at a time): mp4 and other containers, frame folders,
single images, ``(T, H, W, 3)`` uint8 arrays and lists of frames (``univs.data.video.open_video``),
and camera indices (:class:`CameraFrames`, read in order through OpenCV).

Processing size (architecture.md §6a: the official R50 runs at short side 640): a frame whose
short side exceeds ``InferenceConfig.short_side`` is shrunk to it, aspect kept; the model pads it
to a multiple of 32 itself. Mask logits come out at the mask stride (4, or 2) of the padded frame and are resized to
the processing size (memory pools, IoUs) or to the original size (results), so masks are always
returned at the size the frames came in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from univs.data.types import FrameSource
from univs.data.video import DEFAULT_FPS, open_video
from univs.errors import InputError
from univs.model.univs_model import SIZE_DIVISIBILITY

"""Stride of the decoder's mask logits relative to the padded input."""

Source = str | Path | np.ndarray | Sequence[np.ndarray] | FrameSource | int  # or an open CameraFrames


class CameraFrames:
    """A camera (OpenCV ``VideoCapture`` index) as a source read strictly in order.

    ``source[t]`` returns frame t only when t is the next frame; its length is unknown
    (:func:`source_length` gives None), and reading past the stream's end raises ``IndexError``.
    """

    def __init__(self, index: int):
        self.index = int(index)
        self._capture = cv2.VideoCapture(self.index)
        if not self._capture.isOpened():
            raise InputError(f"camera {self.index} cannot be opened")
        ok, first = self._capture.read()
        if not ok:
            self._capture.release()
            raise InputError(f"camera {self.index} gives no frames")
        self._pending: np.ndarray | None = cv2.cvtColor(first, cv2.COLOR_BGR2RGB)
        self._next = 0
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self.size = tuple(self._pending.shape[:2])

    def __getitem__(self, index: int) -> np.ndarray:
        if index != self._next:
            raise InputError(f"camera {self.index} is read in order: frame {index} asked, frame {self._next} is next")
        if self._pending is not None:
            frame, self._pending = self._pending, None
        else:
            ok, bgr = self._capture.read()
            if not ok:
                raise IndexError(f"camera {self.index} stream ended at frame {index}")
            frame = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        self._next += 1
        return frame

    def close(self) -> None:
        self._capture.release()


def open_source(source: Source) -> FrameSource | CameraFrames:
    """A lazy source for a path, an array, a list of frames, a FrameSource or a camera index."""
    if isinstance(source, CameraFrames):
        return source
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return CameraFrames(int(source))
    return open_video(source)


def source_length(source: FrameSource | CameraFrames) -> int | None:
    """Number of frames, or None for a camera."""
    return None if isinstance(source, CameraFrames) else len(source)


def source_name(source: Source) -> str:
    """A name for the video of ``source``: a file's stem, a folder's name, ``camera<i>`` or ``video``."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        return path.name if path.is_dir() else path.stem
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return f"camera{int(source)}"
    return "video"


def frame_names(source: FrameSource | CameraFrames) -> list[str] | None:
    """The frames' own names (a folder's file stems) or None (containers, arrays, cameras: 00000…)."""
    paths = getattr(source, "paths", None)
    return None if paths is None else [Path(p).stem for p in paths]


def check_frame(frame: np.ndarray, where: str = "frame") -> np.ndarray:
    """``frame`` as a contiguous ``(H, W, 3)`` uint8 array, or InputError."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"{where} must be an (H, W, 3) uint8 RGB array, got {frame.shape} {frame.dtype}")
    return np.ascontiguousarray(frame)


def processing_size(size: tuple[int, int], short_side: int | None) -> tuple[int, int]:
    """``(h, w)`` the model sees for frames of ``size`` (H, W): shrunk to ``short_side`` if larger."""
    h, w = int(size[0]), int(size[1])
    if short_side is None or min(h, w) <= short_side:
        return h, w
    scale = short_side / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass(frozen=True)
class Geometry:
    """Original frame size (H, W) ↔ processing size (h, w) ↔ mask logits of the padded frame at
    ``mask_stride`` (the model's ``pixel_decoder.common_stride``)."""

    original: tuple[int, int]
    processing: tuple[int, int]
    mask_stride: int

    @classmethod
    def of(cls, size: tuple[int, int], short_side: int | None, mask_stride: int) -> "Geometry":
        return cls((int(size[0]), int(size[1])), processing_size(size, short_side), mask_stride)

    @property
    def logits_size(self) -> tuple[int, int]:
        """(h4, w4) of the mask logits: the padded processing size / mask_stride."""
        h, w = self.processing
        pad = SIZE_DIVISIBILITY
        return math.ceil(h / pad) * pad // self.mask_stride, math.ceil(w / pad) * pad // self.mask_stride

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): processing pixels per original pixel."""
        return self.processing[1] / self.original[1], self.processing[0] / self.original[0]

    def image(self, frame: np.ndarray, device: torch.device) -> torch.Tensor:
        """(1, 3, h, w) float RGB 0..255 on ``device`` from an (H, W, 3) uint8 frame."""
        if frame.shape[:2] != self.original:
            raise InputError(f"frame is {frame.shape[1]}x{frame.shape[0]} (WxH), the video is "
                             f"{self.original[1]}x{self.original[0]}")
        h, w = self.processing
        if (h, w) != self.original:
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return torch.from_numpy(np.require(frame, requirements="CW")).to(device).permute(2, 0, 1)[None].float()

    @property
    def valid_logits_size(self) -> tuple[int, int]:
        """(h4, w4) of the logits that cover the processing frame (the rest is padding)."""
        return math.ceil(self.processing[0] / self.mask_stride), math.ceil(self.processing[1] / self.mask_stride)

    def mask_to_processing(self, mask: np.ndarray, device: torch.device) -> torch.Tensor:
        """(H, W) bool at the original size → (h, w) bool at the processing size (nearest)."""
        t = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool)).to(device)
        return self.masks_to_processing(t[None])[0]

    def masks_to_processing(self, masks: torch.Tensor) -> torch.Tensor:
        """(K, H, W) bool at the original size → (K, h, w) bool at the processing size (nearest)."""
        if self.processing == self.original:
            return masks
        return F.interpolate(masks[None].float(), size=self.processing, mode="nearest")[0] > 0.5

    def points_to_processing(self, xy: torch.Tensor) -> torch.Tensor:
        """(..., 2) (x, y) original pixels → processing pixels."""
        sx, sy = self.scale
        return xy * xy.new_tensor([sx, sy])

    def logits_to(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(K, h4, w4) logits at mask_stride → (K, *size) logits of the processing frame resized to ``size``."""
        h4, w4 = logits.shape[-2:]
        if logits.shape[0] == 0:
            return logits.new_zeros(0, *size).float()
        up = F.interpolate(logits[None].float(), size=(h4 * self.mask_stride, w4 * self.mask_stride), mode="bilinear",
                           align_corners=False)[0]
        up = up[:, : self.processing[0], : self.processing[1]]
        if tuple(size) == self.processing:
            return up
        return F.interpolate(up[None], size=tuple(size), mode="bilinear", align_corners=False)[0]
