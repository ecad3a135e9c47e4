"""Per-object facts of a rendered synthetic video, measured on its masks and paths.

These are what tests check and what referring expressions are built from: when the object is
visible, when it enters/leaves the frame, when and by whom it is occluded, its mean position and
size, and the direction it moves in the scene.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from univs.data.synth.render import RenderedVideo
from univs.data.synth.scene import ObjectPlan, ScenePlan

DIRECTION_MIN = 0.12
"""A move counts as left/right (up/down) when it spans this fraction of the frame width (height)
and at least twice the perpendicular move."""


@dataclass
class ObjectFacts:
    """One visible thing object of a video (``track_id`` 1..K by first appearance)."""

    track_id: int
    shape: str
    colour: str
    texture: str
    motion: str  # linear | bounce | rotate | grow | shrink | accelerate | static
    role: str  # free | occluder | occluded | enter | exit | reenter | appear
    depth: int  # larger = nearer the camera
    first_frame: int  # first frame with visible pixels
    last_frame: int
    appear_frame: int | None  # frame it springs into existence (None: exists from frame 0)
    entries: list[int]  # frames on which it comes into the frame from outside
    exits: list[int]  # frames on which it is first wholly outside the frame
    reentries: list[int]  # entries after an exit
    occluded_frames: list[int]  # in the frame with part of its shape hidden by nearer objects
    fully_occluded_frames: list[int]  # in the frame with all of it hidden
    occluders: list[int]  # track ids of the objects that hide part of it at some frame
    direction: str | None  # left | right | up | down: net move in the scene (camera pan removed)
    cx: float  # mean x of its visible centroid over visible frames, as a fraction of the width
    cy: float
    size: float  # median full-shape area in pixels over the frames it exists
    centres: list[list[float]] = field(default_factory=list)  # screen (x, y) of its centre per frame

    @property
    def events(self) -> set[str]:
        """``enters``, ``leaves``, ``returns``, ``appears`` as they happen to the object."""
        out = set()
        if self.reentries:
            out.add("returns")
        if self.entries and not self.reentries:
            out.add("enters")
        if self.exits and not self.reentries:
            out.add("leaves")
        if self.appear_frame is not None:
            out.add("appears")
        return out

    def to_json(self) -> dict:
        """The facts as JSON-ready values (``events`` included)."""
        return {**asdict(self), "events": sorted(self.events)}


def _direction(obj: ObjectPlan, drift: np.ndarray, first: int, last: int, size: tuple[int, int]) -> str | None:
    """Net move between two frames in scene coordinates (screen path plus camera drift)."""
    dx, dy = (obj.centre[last] + drift[last]) - (obj.centre[first] + drift[first])
    h, w = size
    if abs(dx) >= DIRECTION_MIN * w and abs(dx) >= 2 * abs(dy):
        return "right" if dx > 0 else "left"
    if abs(dy) >= DIRECTION_MIN * h and abs(dy) >= 2 * abs(dx):
        return "down" if dy > 0 else "up"
    return None


def measure(plan: ScenePlan, video: RenderedVideo) -> tuple[list[int], list[ObjectFacts]]:
    """``(plan indices, facts)`` of the objects visible on some frame, in track-id order."""
    T, H, W = video.objects.shape
    drift = (plan.camera - plan.camera[0]).astype(np.float64)
    visible = np.stack([(video.objects == i + 1).reshape(T, -1).sum(1) for i in range(len(plan.objects))]) \
        if plan.objects else np.zeros((0, T), np.int64)
    shown = [i for i in range(len(plan.objects)) if visible[i].any()]
    shown.sort(key=lambda i: (int(np.argmax(visible[i] > 0)), i))
    track_of = {i: k + 1 for k, i in enumerate(shown)}
    facts = []
    for i in shown:
        obj = plan.objects[i]
        amodal = video.amodal[i]
        in_frame = [a is not None for a in amodal]
        exists = [t >= obj.start for t in range(T)]
        frames_seen = np.nonzero(visible[i])[0]
        entries = [t for t in range(1, T) if exists[t - 1] and not in_frame[t - 1] and in_frame[t]]
        exits = [t for t in range(1, T) if in_frame[t - 1] and not in_frame[t]]
        occluded, hidden, occluders = [], [], set()
        for t in range(T):
            a = amodal[t]
            if a is None or visible[i, t] == int(a.mask.sum()):
                continue
            occluded.append(t)
            if visible[i, t] == 0:
                hidden.append(t)
            h, w = a.mask.shape
            seen = video.objects[t, a.y0:a.y0 + h, a.x0:a.x0 + w][a.mask]
            occluders |= {track_of[int(j) - 1] for j in np.unique(seen) if j != i + 1}
        cx, cy = [], []
        for t in frames_seen:
            ys, xs = np.nonzero(video.objects[t] == i + 1)
            cx.append(xs.mean() / W)
            cy.append(ys.mean() / H)
        facts.append(ObjectFacts(
            track_id=track_of[i], shape=obj.shape, colour=obj.colour, texture=obj.texture, motion=obj.motion,
            role=obj.role, depth=obj.depth, first_frame=int(frames_seen[0]), last_frame=int(frames_seen[-1]),
            appear_frame=obj.start if obj.start > 0 else None, entries=entries, exits=exits,
            reentries=[t for t in entries if any(e < t for e in exits)], occluded_frames=occluded,
            fully_occluded_frames=hidden, occluders=sorted(occluders),
            direction=_direction(obj, drift, int(frames_seen[0]), int(frames_seen[-1]), (H, W)),
            cx=float(np.mean(cx)), cy=float(np.mean(cy)),
            size=float(np.median(video.full_area[i][obj.start:])),
            centres=[[round(float(x), 3), round(float(y), 3)] for x, y in obj.centre]))
    return shown, facts
