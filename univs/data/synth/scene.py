"""Plans of synthetic videos: the stuff layout, the camera pan, and every object's path.

A plan is drawn from one ``numpy.random.Generator`` per video. Positions are screen coordinates
(pixels of the frame) per frame. The camera pans slowly over a canvas larger than the frame, so a
world-fixed object moves on screen by exactly the camera's (integer) drift, as the stuff does.

Objects get *roles* that force the events a video-segmentation world needs, when the video is long
enough: an ``occluder`` (a large round shape in front) sweeps over an ``occluded`` small object and
hides it completely for a few frames; ``enter`` starts outside the frame and comes in, ``exit``
leaves it, ``reenter`` leaves and comes back (it bounces off an invisible wall outside), ``appear``
springs into existence mid-video. The others (``free``) move by a motion type: linear, bounce
(off the walls of the initial view), rotate (spins in place), grow, shrink, accelerate, static.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from univs.data.synth.categories import COLOURS, STUFF_CLASSES, TEXTURES, THING_SHAPES, stuff_id
from univs.data.synth.shapes import CIRCUMRADIUS, INRADIUS
from univs.data.synth.textures import stuff_texture

FREE_MOTIONS = ("linear", "bounce", "rotate", "grow", "shrink", "accelerate", "static")
EVENT_ROLES = ("occluded", "occluder", "enter", "exit", "reenter", "appear")
TOP_STUFF = ("sky", "wall")
GROUND_STUFF = tuple(s for s in STUFF_CLASSES if s not in TOP_STUFF)


@dataclass
class ObjectPlan:
    """One thing object: looks, motion, depth (larger = nearer) and per-frame pose."""

    shape: str
    colour: str
    texture: str
    motion: str
    role: str
    depth: int
    start: int  # first frame on which the object exists
    centre: np.ndarray  # (T, 2) float screen (x, y)
    angle: np.ndarray  # (T,) radians
    radius: np.ndarray  # (T,) pixels


@dataclass
class ScenePlan:
    """A whole video: ``camera[t]`` = (x, y) of the view's top-left corner in the canvas."""

    height: int
    width: int
    camera: np.ndarray  # (T, 2) int
    canvas_labels: np.ndarray  # (Hc, Wc) uint8 stuff category ids
    canvas_rgb: np.ndarray  # (Hc, Wc, 3) uint8
    objects: list[ObjectPlan]

    @property
    def frames(self) -> int:
        return len(self.camera)


# --------------------------------------------------------------------------- camera and stuff


def _camera(rng: np.random.Generator, frames: int, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Integer view offsets ``(T, 2)`` of a slow linear pan, and the canvas size it needs."""
    vx = rng.uniform(0.003, 0.008) * width * rng.choice([-1.0, 1.0])
    vy = rng.uniform(-0.002, 0.002) * height
    t = np.arange(frames)
    offsets = np.stack([np.rint(vx * t), np.rint(vy * t)], 1).astype(np.int64)
    offsets -= offsets.min(0)
    span = offsets.max(0)
    return offsets, height + int(span[1]), width + int(span[0])


def _stuff_layout(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """``(height, width)`` stuff category ids: horizontal bands with wavy boundaries (a top class,
    then ground classes), the bottom band split by a wavy vertical boundary half of the time."""
    ground = [str(g) for g in rng.permutation(GROUND_STUFF)]
    n_ground = int(rng.integers(1, 4))
    bands = [str(rng.choice(TOP_STUFF))] + sorted(ground[:n_ground], key=GROUND_STUFF.index)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    band = np.zeros((height, width), np.int64)
    for k in range(1, len(bands)):
        base = height * (k / len(bands) + rng.uniform(-0.04, 0.04))
        amp = height * rng.uniform(0.02, 0.06)
        wave = width * rng.uniform(0.3, 0.8)
        band += yy >= base + amp * np.sin(2 * np.pi * xx / wave + rng.uniform(0, 2 * np.pi))
    ids = np.array([stuff_id(b) for b in bands], np.uint8)[band]
    spare = ground[n_ground:]
    if spare and rng.random() < 0.5:
        split = width * rng.uniform(0.3, 0.7) + height * 0.05 * np.sin(yy / (height * 0.15) + rng.uniform(0, 6))
        ids[(band == len(bands) - 1) & (xx >= split)] = stuff_id(str(spare[0]))
    return ids


def _stuff_canvas(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    rgb = np.zeros(labels.shape + (3,), np.float32)
    for name in STUFF_CLASSES:
        sel = labels == stuff_id(name)
        if sel.any():
            rgb[sel] = stuff_texture(name, *labels.shape, rng)[sel]
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- paths


def _reflect(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold positions into ``[lo, hi]`` as a ball bouncing between two walls does."""
    span = max(hi - lo, 1e-6)
    return lo + span - np.abs(np.mod(z - lo, 2 * span) - span)


class _Paths:
    """Path builders for one video (screen coordinates, ``t`` = frame indices)."""

    def __init__(self, rng: np.random.Generator, frames: int, height: int, width: int, drift: np.ndarray):
        self.rng, self.T, self.H, self.W = rng, frames, height, width
        self.t = np.arange(frames, dtype=np.float64)
        self.drift = drift.astype(np.float64)  # camera offset relative to frame 0, (T, 2)
        self.span = max(frames - 1, 1)

    def inside(self, r: float) -> np.ndarray:
        """A random point at least ``r`` from every frame edge (the centre if none is)."""
        lo = np.minimum([r, r], [self.W / 2, self.H / 2])
        return self.rng.uniform(lo, [self.W - lo[0], self.H - lo[1]])

    def world(self, path: np.ndarray) -> np.ndarray:
        """Screen path of a path given in world (canvas) coordinates relative to frame 0's view."""
        return path - self.drift

    def free(self, motion: str, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, angle, radius) of a free object with ``motion``."""
        rng, t = self.rng, self.t
        heading = rng.uniform(0, 2 * np.pi)
        unit = np.array([np.cos(heading), np.sin(heading)])
        angle = np.full(self.T, rng.uniform(0, 2 * np.pi))
        radius = np.full(self.T, r)
        if motion in ("linear", "accelerate"):
            dist = rng.uniform(0.2, 0.4) * self.W
            frac = t / self.span if motion == "linear" else (t / self.span) ** 2
            mid = self.inside(r)
            path = mid + (frac[:, None] - 0.5) * dist * unit
        elif motion == "bounce":
            speed = rng.uniform(0.03, 0.05) * min(self.H, self.W)
            z = self.inside(r) + t[:, None] * speed * unit
            path = np.stack([_reflect(z[:, 0], r, self.W - r), _reflect(z[:, 1], r, self.H - r)], 1)
        else:
            path = np.repeat(self.inside(r * 1.4)[None], self.T, 0)
            if motion == "rotate":
                angle = angle + rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.2) * t
            elif motion == "grow":
                radius = r * (0.8 + rng.uniform(0.5, 0.8) * t / self.span)
            elif motion == "shrink":
                radius = r * (1.3 - rng.uniform(0.4, 0.6) * t / self.span)
        return self.world(path), angle, radius

    def _edge_path(self, side: float, r: float, x_edge: np.ndarray) -> np.ndarray:
        """Horizontal path whose distance beyond the frame edge on ``side`` (+1 right, -1 left) is
        ``x_edge`` (positive = outside by that much beyond the object's reach)."""
        reach = CIRCUMRADIUS * r + 1
        x = np.where(side > 0, self.W + reach + x_edge, -reach - x_edge)
        y = np.full(self.T, self.inside(r)[1])
        return np.stack([x, y], 1)

    def enter(self, r: float) -> np.ndarray:
        t_in = int(self.rng.integers(1, max(2, self.T // 3) + 1))
        speed = max(self.rng.uniform(0.01, 0.02) * self.W, 2.5 * (CIRCUMRADIUS * r + 1) / max(self.T - 1 - t_in, 1))
        return self._edge_path(self.rng.choice([-1.0, 1.0]), r, -speed * (self.t - t_in))

    def exit(self, r: float) -> np.ndarray:
        t_out = int(self.rng.integers(int(np.ceil(2 * self.T / 3)), self.T))
        speed = max(self.rng.uniform(0.01, 0.02) * self.W, 2.5 * (CIRCUMRADIUS * r + 1) / t_out)
        return self._edge_path(self.rng.choice([-1.0, 1.0]), r, speed * (self.t - t_out))

    def reenter(self, r: float) -> np.ndarray:
        t_mid = (self.T - 1) / 2
        gap = float(self.rng.integers(2, max(3, self.T // 5) + 1))  # frames spent fully outside
        room = max(t_mid - gap / 2, 0.5)
        speed = max(self.rng.uniform(0.015, 0.03) * self.W, 1.2 * (2 * CIRCUMRADIUS * r + 2) / room)
        return self._edge_path(self.rng.choice([-1.0, 1.0]), r, speed * (gap / 2 - np.abs(self.t - t_mid)))

    def sweep(self, target: np.ndarray, slack: float) -> np.ndarray:
        """An occluder path that crosses ``target``'s screen path (T, 2) at mid-video, its centre
        staying within ``slack`` px of the target's for at least 5 frames."""
        t_mid = int(self.rng.integers(self.T // 3, max(self.T // 3 + 1, 2 * self.T // 3 + 1)))
        speed = self.rng.uniform(0.015, 0.03) * self.W
        if slack > 0:
            speed = min(speed, slack / 2.5)
        heading = self.rng.uniform(-0.5, 0.5) + np.pi * self.rng.integers(0, 2)
        unit = np.array([np.cos(heading), np.sin(heading)])
        return target + (self.t - t_mid)[:, None] * speed * unit


# --------------------------------------------------------------------------- the plan


def _roles(rng: np.random.Generator, count: int, frames: int) -> list[str]:
    """Event roles for ``count`` objects: as many of :data:`EVENT_ROLES` as the length allows."""
    allowed = [r for r in EVENT_ROLES if frames >= (3 if r in ("occluder", "occluded") else 6)]
    if count < 2 or "occluder" not in allowed:
        allowed = [r for r in allowed if r not in ("occluder", "occluded")]
    roles = allowed[:count]
    return roles + ["free"] * (count - len(roles))


def plan_scene(rng: np.random.Generator, frames: int, size: tuple[int, int], min_things: int,
               max_things: int) -> ScenePlan:
    """Draw one video's plan (stuff, camera, objects) from ``rng``."""
    height, width = size
    camera, hc, wc = _camera(rng, frames, height, width)
    labels = _stuff_layout(rng, hc, wc)
    canvas = _stuff_canvas(rng, labels)
    paths = _Paths(rng, frames, height, width, camera - camera[0])
    short = min(height, width)
    roles = _roles(rng, int(rng.integers(min_things, max_things + 1)), frames)
    depths = list(rng.permutation(len(roles)))
    motions = itertools.cycle([FREE_MOTIONS[int(k)] for k in rng.permutation(len(FREE_MOTIONS))])
    objects: list[ObjectPlan] = []
    occluded: ObjectPlan | None = None
    for role, depth in zip(roles, depths):
        shape = str(rng.choice(list(INRADIUS) if role == "occluder" else THING_SHAPES))
        colour, texture = str(rng.choice(list(COLOURS))), str(rng.choice(TEXTURES))
        r = max(3.0, short * rng.uniform(0.07, 0.12))
        start, angle0 = 0, rng.uniform(0, 2 * np.pi)
        if role == "occluder":
            r = max(6.0, short * rng.uniform(0.17, 0.2))
            slack = INRADIUS[shape] * r - CIRCUMRADIUS * occluded.radius[0] - 2
            motion, centre = "linear", paths.sweep(occluded.centre, slack)
            angle, radius = np.full(frames, angle0), np.full(frames, r)
        elif role in ("enter", "exit", "reenter"):
            motion = "bounce" if role == "reenter" else "linear"
            centre = getattr(paths, role)(r)
            angle, radius = np.full(frames, angle0), np.full(frames, r)
        else:
            if role == "occluded":
                r = max(3.0, short * 0.055)
                motion = str(rng.choice(["rotate", "static"]))
            else:
                motion = next(motions)
            centre, angle, radius = paths.free(motion, r)
            if role == "appear":
                start = int(rng.integers(max(1, frames // 4), frames // 2 + 1))
        objects.append(ObjectPlan(shape, colour, texture, motion, role, int(depth), start, centre, angle, radius))
        if role == "occluded":
            occluded = objects[-1]
    if occluded is not None:  # the occluder is drawn in front of the object it hides
        front = next(o for o in objects if o.role == "occluder")
        if front.depth < occluded.depth:
            front.depth, occluded.depth = occluded.depth, front.depth
    return ScenePlan(height, width, camera, labels, canvas, objects)
