"""The label space of the synthetic world: 12 thing shapes, 6 stuff textures, 10 named colours.

Category ids: things 1..12, stuff 13..18 — contiguous, and at most 124 so every encoding that
stores a class in one byte with VSPW's 1..124 / VIPSeg's 0..123 range holds them unchanged.
Panoptic track ids: things 1..K in a video; a stuff class ``c`` is the track ``STUFF_TRACK_OFFSET
+ c`` (113..118), distinct from any thing id and below 255, so palette PNGs (DAVIS, VIPOSeg) hold
every track.
"""

from __future__ import annotations

from univs.data.types import Category

THING_SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "cross", "heart",
                                 "ring", "crescent", "ellipse", "diamond", "arrow")
STUFF_CLASSES: tuple[str, ...] = ("sky", "wall", "water", "grass", "sand", "road")
STUFF_TRACK_OFFSET = 100

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 225), "yellow": (245, 215, 40),
    "orange": (250, 135, 20), "purple": (140, 60, 200), "pink": (250, 120, 185), "cyan": (40, 215, 225),
    "white": (245, 245, 245), "black": (25, 25, 30),
}
"""Thing colours by the name referring expressions use."""

TEXTURES: tuple[str, ...] = ("solid", "stripes", "dots", "gradient", "checker")

_THING_COLOURS = ((220, 20, 60), (119, 11, 32), (0, 0, 142), (0, 0, 230), (106, 0, 228), (0, 60, 100),
                  (0, 80, 100), (0, 0, 70), (0, 0, 192), (250, 170, 30), (100, 170, 30), (220, 220, 0))
_STUFF_COLOURS = ((70, 130, 180), (102, 102, 156), (0, 120, 200), (107, 142, 35), (210, 190, 130),
                  (128, 64, 128))


def thing_id(shape: str) -> int:
    """Category id of a thing shape (1..12)."""
    return THING_SHAPES.index(shape) + 1


def stuff_id(name: str) -> int:
    """Category id of a stuff class (13..18)."""
    return len(THING_SHAPES) + STUFF_CLASSES.index(name) + 1


def synth_categories() -> dict[int, Category]:
    """Every category of the world, things then stuff, keyed by id."""
    cats = [Category(thing_id(s), s, True, c) for s, c in zip(THING_SHAPES, _THING_COLOURS)]
    cats += [Category(stuff_id(s), s, False, c) for s, c in zip(STUFF_CLASSES, _STUFF_COLOURS)]
    return {c.id: c for c in cats}
