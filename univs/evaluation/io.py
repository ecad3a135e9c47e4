"""Eval-specific file helpers; the generic readers live in :mod:`univs.data.formats.common`.

The official tools read palette/grey PNGs with ``np.array(PIL.Image.open(p))`` (the stored index:
``read_index_png``), RGB panoptic PNGs as ``R + 256·G + 256²·B`` (``read_rgb_ids``), and MeViS
predictions with ``cv2.imread(p, IMREAD_GRAYSCALE)`` (:func:`read_gray_cv2`); frames are listed
in plain ``sorted()`` order, as their ``sorted(glob(...))`` does (:func:`list_files`).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from univs.errors import InputError


def read_gray_cv2(path: Path) -> np.ndarray:
    """``(H, W)`` uint8 grey as OpenCV reads it (``IMREAD_GRAYSCALE``; palette → colour → luminance)."""
    if not path.is_file():
        raise InputError("missing file", path)
    img = cv2.imread(os.fspath(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise InputError("unreadable image", path)
    return img


def list_files(folder: Path, suffix: str) -> list[str]:
    """Names of the files in ``folder`` ending with ``suffix``, in ``sorted()`` order; the folder must exist."""
    if not folder.is_dir():
        raise InputError("missing folder", folder)
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix) and p.is_file())


def check_shape(arr: np.ndarray, shape: tuple[int, ...], path: Path, what: str) -> None:
    """Raise unless ``arr`` is ``shape`` (e.g. a prediction against its ground-truth frame)."""
    if arr.shape != tuple(shape):
        raise InputError(f"size {arr.shape[1]}x{arr.shape[0]} does not match the {what} "
                         f"({shape[1]}x{shape[0]})", path)
