"""Rendering a :class:`ScenePlan`: frames, the exact visible id map, and each object's amodal mask.

Frame t is the canvas cropped at the camera offset, then the objects painted back to front (by
depth). The id map records which object painted each pixel last, so an object's visible mask is
exactly where its colour shows; its amodal mask is the whole shape clipped to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from univs.data.synth.categories import COLOURS
from univs.data.synth.scene import ScenePlan
from univs.data.synth.shapes import shape_mask
from univs.data.synth.textures import thing_texture


@dataclass
class Amodal:
    """A shape clipped to the frame: ``mask`` covers rows ``y0..`` and columns ``x0..``."""

    mask: np.ndarray
    y0: int
    x0: int

    def full(self, height: int, width: int) -> np.ndarray:
        """The mask on the whole ``(height, width)`` frame."""
        out = np.zeros((height, width), bool)
        h, w = self.mask.shape
        out[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.mask
        return out


@dataclass
class RenderedVideo:
    """``frames`` (T, H, W, 3) uint8; ``objects`` (T, H, W) int16: 1 + index of the plan object seen
    there, 0 = stuff; ``stuff`` (T, H, W) uint8 stuff category under everything; ``amodal[i][t]`` the
    clipped shape of object i (``None`` where it does not exist or lies outside the frame);
    ``full_area[i][t]`` its unclipped pixel count (0 where it does not exist)."""

    frames: np.ndarray
    objects: np.ndarray
    stuff: np.ndarray
    amodal: list[list[Amodal | None]]
    full_area: np.ndarray


def render(plan: ScenePlan) -> RenderedVideo:
    """Render every frame of ``plan``."""
    T, H, W = plan.frames, plan.height, plan.width
    frames = np.empty((T, H, W, 3), np.uint8)
    ids = np.zeros((T, H, W), np.int16)
    stuff = np.empty((T, H, W), np.uint8)
    amodal: list[list[Amodal | None]] = [[None] * T for _ in plan.objects]
    full_area = np.zeros((len(plan.objects), T), np.int64)
    order = sorted(range(len(plan.objects)), key=lambda i: plan.objects[i].depth)
    for t in range(T):
        cx, cy = plan.camera[t]
        frames[t] = plan.canvas_rgb[cy:cy + H, cx:cx + W]
        stuff[t] = plan.canvas_labels[cy:cy + H, cx:cx + W]
        for i in order:
            obj = plan.objects[i]
            if t < obj.start:
                continue
            (x, y), r, a = obj.centre[t], obj.radius[t], obj.angle[t]
            mask, y0, x0 = shape_mask(obj.shape, x, y, r, a)
            full_area[i, t] = int(mask.sum())
            ys, xs = max(y0, 0), max(x0, 0)
            ye, xe = min(y0 + mask.shape[0], H), min(x0 + mask.shape[1], W)
            if ys >= ye or xs >= xe:
                continue
            local = mask[ys - y0:ye - y0, xs - x0:xe - x0]
            if not local.any():
                continue
            amodal[i][t] = Amodal(local, ys, xs)
            yy, xx = np.mgrid[ys:ye, xs:xe]
            u, v = (xx - x) / r, (yy - y) / r
            cos, sin = np.cos(a), np.sin(a)
            colours = thing_texture(obj.texture, COLOURS[obj.colour], u * cos + v * sin, -u * sin + v * cos)
            frames[t, ys:ye, xs:xe][local] = np.clip(np.rint(colours[local]), 0, 255).astype(np.uint8)
            ids[t, ys:ye, xs:xe][local] = i + 1
    return RenderedVideo(frames, ids, stuff, amodal, full_area)
