"""``univs synth``: generate the synthetic world and write it in native dataset formats.

Output folder: ``<out>/<format>/`` per requested format (each written from the task view
``univs.data.formats.FORMAT_TASK`` names), ``<out>/world.json`` (seed, sizes, categories, and per
video its objects with their motion and event facts, camera offsets and expressions), and an
optional overlay (GIF or mp4 by suffix) of the first video with track ids and category names.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from univs.config import SynthConfig
from univs.data.atomic import atomic_open
from univs.data.formats.refdavis import TEXT_FILES as REFDAVIS_TEXT_FILES
from univs.data.overlay import write_record_overlay
from univs.data.synth.views import task_view
from univs.data.synth.world import generate_world
from univs.data.types import VideoDataset
from univs.errors import InputError


EXPRESSION_LIMITS = {"refdavis": len(REFDAVIS_TEXT_FILES)}
"""Formats that hold at most this many expressions per object (Ref-DAVIS: one per annotator file)."""


def parse_formats(formats: str) -> list[str]:
    """``"all"`` or a comma list of format names → the names, checked against the registry."""
    from univs.data.formats import FORMAT_NAMES

    if formats.strip() == "all":
        return list(FORMAT_NAMES)
    names = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [n for n in names if n not in FORMAT_NAMES]
    if unknown:
        raise InputError(f"unknown format(s) {', '.join(unknown)}; known: all, {', '.join(FORMAT_NAMES)}")
    return list(dict.fromkeys(names))


def world_summary(world: VideoDataset) -> dict:
    """The JSON summary of a world (everything but masks and pixels)."""
    meta = world.meta
    return {
        "generator": meta["generator"],
        "config": meta["config"],
        "stuff_track_offset": meta["stuff_track_offset"],
        "categories": [{"id": c.id, "name": c.name, "isthing": c.isthing, "color": list(c.color or ())}
                       for c in sorted(world.categories.values(), key=lambda c: c.id)],
        "videos": [{
            "name": v.name, "video_id": v.video_id, "frames": len(v), "height": v.height, "width": v.width,
            "tracks": [{"track_id": tr.track_id, "category_id": tr.category_id, "isthing": tr.isthing,
                        "frames": tr.present_frames()} for tr in v.tracks],
            "objects": meta["objects"][v.name],
            "camera": meta["camera"][v.name],
            "expressions": [{"exp_id": e.exp_id, "text": e.text, "track_ids": e.track_ids,
                             **meta["expressions"][v.name][e.exp_id]} for e in v.expressions],
        } for v in world],
    }


def run_synth(out: str | Path, videos: int, frames: int, size: tuple[int, int], seed: int, formats: str,
              overlay: str | Path | None, quiet: bool) -> None:
    """Generate the world of these settings and write it under ``out`` (see the module doc)."""
    from univs.data.formats import FORMAT_TASK, write_format

    names = parse_formats(formats)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("output exists and is not a folder", out)
    cfg = SynthConfig(videos=videos, frames=frames, size=tuple(size), seed=seed)
    world = generate_world(cfg, progress=not quiet)
    views: dict[tuple[str, int | None], VideoDataset] = {}
    for name in tqdm(names, desc="formats", unit="format", disable=quiet):
        key = (FORMAT_TASK[name], EXPRESSION_LIMITS.get(name))
        if key not in views:
            views[key] = task_view(world, *key)
        write_format(name, views[key], out / name)
    with atomic_open(out / "world.json", encoding="utf-8") as f:
        json.dump(world_summary(world), f, indent=1)
    if overlay is not None:
        write_record_overlay(overlay, world.videos[0], world.categories)
