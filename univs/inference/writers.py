"""Predictions written in each benchmark's native layout, on a background thread, atomically.

Formats (``OUTPUT_FORMATS``; the layouts ``univs eval`` reads):

=========  ======  ===========================================================================
format     task    files under the output folder
=========  ======  ===========================================================================
davis      vos     ``<video>/<frame>.png`` palette PNGs of object ids (DAVIS, YouTube-VOS)
ytvos      vos     the same layout
viposeg    pvos    the same layout, things and stuff objects alike (VIPOSeg)
ytvis      vis     ``results.json``: one entry per target and class it reports, video-level score, RLE per frame
ovis       vis     the same file (OVIS uses the YouTube-VIS results format)
vipseg     vps     ``pan_pred/<video>/<frame>.png`` RGB segment ids + ``pred.json`` segments
vspw       vss     ``<video>/<frame>.png`` category id − 1, 255 where nothing is predicted
refytvos   refvos  ``<video>/<exp_id>/<frame>.png`` 0/255 per expression (Ref-YouTube-VOS, MeViS)
mevis      refvos  the same layout
refdavis   refvos  ``anno_<a>/<video>/<frame>.png``: k+1 where expression 4k+a is predicted
=========  ======  ===========================================================================

Every file goes through the dataset writers of :mod:`univs.data.formats` (``write_davis_results``,
``write_ytvis_results``, ``write_vipseg_results``, ``write_vspw_results``, ``write_expression_masks``,
``write_refdavis_results``), which write atomically. Per-frame layouts are written frame by frame;
``results.json`` and ``pred.json`` need a whole video, so each finished video leaves a part file
``.univs/parts/<video>.json`` and :meth:`PredictionWriter.finalize` joins the parts of a split.
Optional extras: ``raw/<video>/<frame>.png`` id maps (RGB-encoded ids, id = R + 256·G + 256²·B)
and overlay videos (mp4 or GIF, each rendered from the frames).

A video is finished when its done-marker ``.univs/done/<video>`` exists: it is written last, after
every file of the video, so an interrupted run never marks a half-written video done (dataset runs
skip marked videos). Writes run on one background thread fed by a bounded queue, so the model never
waits for PNG encoding and memory stays bounded; an error on the thread is raised in the caller at
its next call, after everything queued before it has been written.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from univs.data.atomic import atomic_open
from univs.data.formats import (write_davis_results, write_expression_masks, write_refdavis_results,
                                write_vipseg_results, write_vspw_results, write_ytvis_results)
from univs.data.formats.common import read_json, write_json, write_rgb_ids
from univs.data.overlay import write_overlay_video
from univs.data.types import RLE, Category, Expression, Track, VideoDataset, VideoRecord, encode_mask
from univs.errors import InputError
from univs.inference.types import FrameResult, TrackSummary

OUTPUT_FORMATS: dict[str, str] = {
    "davis": "vos", "ytvos": "vos", "viposeg": "pvos", "ytvis": "vis", "ovis": "vis", "vipseg": "vps",
    "vspw": "vss", "refytvos": "refvos", "mevis": "refvos", "refdavis": "refvos",
}
"""Output format → the task whose results it holds."""

DEFAULT_FORMAT: dict[str, str] = {"vos": "davis", "pvos": "viposeg", "refvos": "refytvos", "vis": "ytvis",
                                  "vps": "vipseg", "vss": "vspw"}
"""Task → its format when none is named."""

STATE_DIR = ".univs"
JSON_OUTPUT = {"ytvis": "results.json", "ovis": "results.json", "vipseg": "pred.json"}
"""Formats with one file for the whole split → its name."""


@dataclass
class VideoSpec:
    """What the writers need to know about one video.

    frame_names: names of its frames (None: ``00000``, ``00001``, …); size: (H, W);
    video_id: the ground truth's id (YouTube-VIS results); category_ids: vocabulary index → the
    dataset's category id (VIS/VSS/VPS); categories: the dataset's categories (VIPSeg thing/stuff);
    expressions: object id → the expression it answers (RefVOS).
    """

    name: str
    size: tuple[int, int]
    frame_names: list[str] | None = None
    video_id: int = 1
    category_ids: list[int] = field(default_factory=list)
    categories: dict[int, Category] = field(default_factory=dict)
    expressions: dict[int, Expression] = field(default_factory=dict)

    def frame_name(self, t: int) -> str:
        return f"{t:05d}" if self.frame_names is None else self.frame_names[t]


def check_format(task: str, fmt: str | None) -> str:
    """The output format for ``task`` (its default when ``fmt`` is None); InputError if it does not fit."""
    fmt = DEFAULT_FORMAT[task] if fmt is None else fmt
    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {fmt!r}; known: {', '.join(OUTPUT_FORMATS)}")
    if OUTPUT_FORMATS[fmt] != task:
        fits = [f for f, t in OUTPUT_FORMATS.items() if t == task]
        raise InputError(f"format {fmt!r} holds {OUTPUT_FORMATS[fmt]} results, not {task}; use {', '.join(fits)}")
    return fmt


def done_marker(out: Path, video: str) -> Path:
    return Path(out) / STATE_DIR / "done" / video


def part_file(out: Path, video: str) -> Path:
    return Path(out) / STATE_DIR / "parts" / f"{video}.json"


def is_done(out: Path, video: str) -> bool:
    return done_marker(out, video).is_file()


def _frame_record(spec: VideoSpec, t: int, tracks: list[Track], expressions: list[Expression] = ()) -> VideoRecord:
    h, w = spec.size
    return VideoRecord(name=spec.name, frame_names=[spec.frame_name(t)], frames=None, height=h, width=w,
                       tracks=tracks, expressions=list(expressions))


class _VideoState:
    """Per-video accumulation of the JSON formats: frame index → object → RLE (re-yielded frames
    overwrite), plus each object's latest class."""

    def __init__(self, spec: VideoSpec):
        self.spec = spec
        self.masks: dict[int, dict[int, RLE]] = {}
        self.frames = 0

    def add(self, t: int, result: FrameResult) -> None:
        self.frames = max(self.frames, t + 1)
        for obj_id, mask in zip(result.obj_ids, result.masks):
            if mask.any():
                self.masks.setdefault(obj_id, {})[t] = encode_mask(mask)

    def track_masks(self, obj_id: int) -> list[RLE | None]:
        by_frame = self.masks.get(obj_id, {})
        return [by_frame.get(t) for t in range(self.frames)]


def overlay_paths(overlay: str | Path | Sequence[str | Path] | None) -> tuple[Path, ...]:
    """The overlay argument of :class:`PredictionWriter` and ``run_dataset`` as paths (none, one or
    several)."""
    if overlay is None:
        return ()
    if isinstance(overlay, (str, Path)):
        return (Path(overlay),)
    return tuple(Path(p) for p in overlay)


class _Overlay:
    """An overlay video fed frame by frame, encoded on its own thread (``write_overlay_video``)."""

    def __init__(self, path: Path, fps: float, labels: dict[int, str]):
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, fps, labels), daemon=True)
        self._thread.start()

    def _run(self, path: Path, fps: float, labels: dict[int, str]) -> None:
        first = self._queue.get()
        if first is None:
            return
        maps = [first[1]]

        def frames() -> Iterator[np.ndarray]:
            yield first[0]
            while (item := self._queue.get()) is not None:
                maps.append(item[1])
                yield item[0]

        def id_maps() -> Iterator[np.ndarray]:
            while maps:  # zip pulls a frame (which stores its map) before each map
                yield maps.pop(0)

        try:
            write_overlay_video(path, frames(), id_maps(), fps, labels)
        except BaseException as e:  # noqa: BLE001 - raised in the caller by close()
            self._error = e
            while self._queue.get() is not None:
                pass

    def put(self, frame: np.ndarray, id_map: np.ndarray) -> None:
        self._queue.put((frame, id_map))

    def close(self) -> BaseException | None:
        """Finish the video; returns the encoder's error, if any (the caller raises it)."""
        self._queue.put(None)
        self._thread.join()
        return self._error


class PredictionWriter:
    """Writes the predictions of one output folder in format ``fmt``, video after video.

    Call ``begin(spec)``, ``add(t, result[, frame])`` per frame, ``end(tracks)``; ``close()`` at the
    end (also as a context manager); ``finalize(names)`` joins the split's JSON parts. ``raw`` adds
    id-map PNGs; ``overlay`` (a path, or several: e.g. an mp4 and a GIF; one video) adds overlay
    videos, which need the frames.
    """

    def __init__(self, out: str | Path, fmt: str, raw: bool = False,
                 overlay: str | Path | Sequence[str | Path] | None = None, queue_size: int = 16):
        if fmt not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {fmt!r}; known: {', '.join(OUTPUT_FORMATS)}")
        self.out = Path(out)
        self.fmt = fmt
        self.raw = raw
        self.overlay_paths = overlay_paths(overlay)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._state: _VideoState | None = None
        self._overlays: list[_Overlay] = []

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is None:
                try:
                    job()
                except BaseException as e:  # noqa: BLE001 - raised in the caller
                    self._error = e

    def _submit(self, job: Callable[[], None]) -> None:
        self._raise()
        self._queue.put(job)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait until everything queued is written; raise the first write error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        overlays, self._overlays = self._overlays, []
        errors = [e for e in [overlay.close() for overlay in overlays] if e is not None]
        if errors:  # every overlay is finished first: one failed encoder must not strand the others
            raise errors[0]
        self._raise()

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ videos

    def begin(self, spec: VideoSpec, fps: float = 24.0, labels: dict[int, str] | None = None) -> None:
        """Start video ``spec`` (its done-marker, if any, is removed first). ``labels``: object id →
        name drawn in the overlay."""
        state = _VideoState(spec)
        self._state = state
        if self.overlay_paths:
            if self._overlays:
                raise InputError("an overlay video holds one video; give --overlay for single-video runs only")
            self._overlays = [_Overlay(p, fps, {} if labels is None else labels) for p in self.overlay_paths]
        self._submit(lambda: done_marker(self.out, spec.name).unlink(missing_ok=True))

    def add(self, t: int, result: FrameResult, frame: np.ndarray | None = None) -> None:
        """Queue frame ``t``'s result (masks are copied out of the caller's hands)."""
        state = self._state
        if self._overlays:
            if frame is None:
                raise InputError("the overlay video needs the frames")
            frame, id_map = np.asarray(frame), result.id_map()
            for overlay in self._overlays:
                overlay.put(frame, id_map)
        self._submit(lambda: self._write_frame(state, t, result))

    def end(self, tracks: list[TrackSummary] | None = None) -> None:
        """Finish the current video: its JSON part (VIS/VPS need ``tracks``), then its done-marker."""
        state, self._state = self._state, None
        self._submit(lambda: self._finish(state, tracks or []))

    # ------------------------------------------------------------------ formats (writer thread)

    def _write_frame(self, state: _VideoState, t: int, result: FrameResult) -> None:
        spec, fmt = state.spec, self.fmt
        if self.raw:
            write_rgb_ids(self.out / "raw" / spec.name / f"{spec.frame_name(t)}.png", result.id_map())
        if fmt in JSON_OUTPUT:
            state.add(t, result)
            return
        tracks = [Track(track_id=i, masks=[encode_mask(m) if m.any() else None], category_id=self._category(spec, c))
                  for i, m, c in zip(result.obj_ids, result.masks, result.class_ids)]
        if fmt in ("refytvos", "mevis", "refdavis"):
            known = {tr.track_id for tr in tracks}
            tracks += [Track(track_id=i, masks=[None]) for i in spec.expressions if i not in known]
            answers = [Expression(e.exp_id, e.text, [i]) for i, e in spec.expressions.items()]  # its target's masks
            record = _frame_record(spec, t, tracks, answers)
            writer = write_refdavis_results if fmt == "refdavis" else write_expression_masks
            writer(VideoDataset("pred", [record]), self.out)
        elif fmt == "vspw":
            write_vspw_results(VideoDataset("pred", [_frame_record(spec, t, tracks)]), self.out)
        else:
            write_davis_results(VideoDataset("pred", [_frame_record(spec, t, tracks)]), self.out)

    @staticmethod
    def _category(spec: VideoSpec, class_id: int) -> int | None:
        return spec.category_ids[class_id] if 0 <= class_id < len(spec.category_ids) else None

    def _finish(self, state: _VideoState, tracks: list[TrackSummary]) -> None:
        spec = state.spec
        if self.fmt in JSON_OUTPUT:
            h, w = spec.size
            if self.fmt == "vipseg":  # a panoptic segment has one class
                named = [(s, s.class_id, s.score) for s in tracks]
            else:  # YouTube-VIS: one entry per class a track reports
                named = [(s, c, p) for s in tracks for c, p in s.class_scores()]
            record = VideoRecord(name=spec.name, frame_names=[spec.frame_name(t) for t in range(state.frames)],
                                 frames=None, height=h, width=w, video_id=spec.video_id,
                                 tracks=[Track(track_id=s.obj_id, masks=state.track_masks(s.obj_id),
                                               category_id=self._category(spec, c), isthing=not s.stuff, score=p)
                                         for s, c, p in named])
            if self.fmt == "vipseg":
                self._vipseg_part(record, spec)
            else:
                write_ytvis_results(VideoDataset("pred", [record]), part_file(self.out, spec.name))
        with atomic_open(done_marker(self.out, spec.name)) as f:
            f.write("done\n")

    def _vipseg_part(self, record: VideoRecord, spec: VideoSpec) -> None:
        """VIPSeg: PNGs and the video's ``pred.json`` entry through a private folder, then moved."""
        (self.out / STATE_DIR).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.out / STATE_DIR) as tmp:
            write_vipseg_results(VideoDataset("pred", [record], spec.categories), tmp)
            target = self.out / "pan_pred" / spec.name
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, "pan_pred", spec.name).replace(target)
            write_json(part_file(self.out, spec.name), read_json(Path(tmp) / "pred.json")["annotations"])

    # ------------------------------------------------------------------ split files

    def finalize(self, videos: list[str]) -> bool:
        """Join the JSON parts of ``videos`` (in this order) into ``results.json`` / ``pred.json`` once
        every one is done; True when the split's output is complete."""
        self.close()
        if not all(is_done(self.out, v) for v in videos):
            return False
        if self.fmt not in JSON_OUTPUT:
            return True
        entries = [e for v in videos for e in read_json(part_file(self.out, v))]
        if self.fmt == "vipseg":
            write_json(self.out / JSON_OUTPUT[self.fmt], {"annotations": entries})
        else:
            write_json(self.out / JSON_OUTPUT[self.fmt], entries)
        return True
