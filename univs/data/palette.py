"""The fixed colour palette of univs: the 256-entry palette of the DAVIS 2017 annotations.

DAVIS, YouTube-VOS and Ref-YouTube-VOS annotations are palette PNGs; univs writes them with the
palette the DAVIS 2017 annotation files carry (`assets/davis_palette.bin`, 768 bytes, read off a
real DAVIS annotation), and overlays use it too, so an object has the same colour in a mask file
and in an overlay. Entry 0 is black (background), 1 red, 2 green, ...; 255 marks void.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

PALETTE: np.ndarray = np.frombuffer(
    resources.files("univs").joinpath("assets/davis_palette.bin").read_bytes(), dtype=np.uint8
).reshape(256, 3)
"""``(256, 3)`` uint8 colours."""


def flat_palette() -> list[int]:
    """The palette as the flat 768-int list that ``PIL.Image.putpalette`` takes."""
    return PALETTE.reshape(-1).tolist()
