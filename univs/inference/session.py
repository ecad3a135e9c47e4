"""Prompt-guided sessions over a video (VOS, PVOS, RefVOS): SAM 2's interaction model, typed.

::

    with segmenter.session("clip.mp4", task="vos") as s:
        s.add_prompt(frame=0, obj_id=1, mask=first_mask)
        s.add_prompt(frame=8, obj_id=2, box=(10, 20, 80, 90))      # enters on frame 8
        for frame_idx, result in s.propagate():                   # results are not kept
            ...
        s.add_prompt(frame=40, obj_id=1, points=[(120, 80, 1)])   # a correction
        for frame_idx, result in s.propagate():                   # frames 40.. again
            ...

Semantics (documented contract):

- **Prompts on any frame.** ``add_prompt`` checks the prompt at once (bad input raises
  :class:`~univs.errors.InputError`) and queues it; it is applied when propagation reaches its frame.
  A target exists from the frame of its first prompt on: it is absent from results before it.
- **Re-anchoring.** A prompt for a known target on a later frame *re-anchors* it from that frame on:
  the prompt's tokens replace its first-appearance slot and its recent memory is emptied, so the
  target follows the correction, not its old memory. Clicks given for the same target on the same
  frame accumulate (SAM-style refinement); a mask, box, scribble or text replaces them.
- **Other targets** are never re-anchored by someone else's prompt: they keep their memory pools
  and continue. Pixel competition makes the corrected target's new mask win or lose pixels
  against them as usual; a mask prompt wins its pixels on its own frame.
- **Frames already yielded are not kept and not changed.** ``propagate()`` yields each frame once
  and forgets it. A prompt on a frame the session has already passed (its cursor) makes the next
  ``propagate()`` — or the running one, at its next step — *rewind* to that frame and yield it and
  every later frame again; the caller's copies of the earlier results are simply superseded.
  On a rewind to frame f, targets first prompted on or after f restart from their prompts when
  their frames come again; targets that existed before f keep the memory they have (built on frames
  up to the cursor), and a re-anchoring prompt of theirs on or after f applies again on its frame —
  no per-frame history is stored, so memory stays bounded.
- ``propagate(start, end)``: start defaults to the earliest prompt given on a frame before the
  cursor, else the cursor (0 on a new session: frames before the first prompt are yielded with no
  targets); end (exclusive) defaults to the end of the video. Stopping the loop early leaves the
  cursor after the last yielded frame. A prompt on a frame before an explicit ``start`` stays
  pending until a propagation passes its frame.
- ``remove_object(id)`` drops a target and its pending prompts from the next frame on;
  ``reset()`` forgets all targets and prompts and returns the cursor to frame 0.

Cameras are read in order: a session over a camera cannot rewind, so prompts before the cursor are
refused.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from univs.config import InferenceConfig
from univs.errors import InputError
from univs.inference.engine import FrameEngine
from univs.inference.frames import CameraFrames, Geometry, Source, open_source, source_length
from univs.inference.prompt_tracker import PromptTracker, empty_result
from univs.inference.prompts import Prompt, make_prompt
from univs.inference.types import FrameResult


def check_obj_id(obj_id: object) -> int:
    """A user object id: a positive int (0 is the background of id maps)."""
    if isinstance(obj_id, bool) or not isinstance(obj_id, (int, np.integer)) or int(obj_id) < 1:
        raise InputError(f"object ids must be positive integers, got {obj_id!r}")
    return int(obj_id)


class Session:
    """A prompt-guided session over one video source (see the module docstring for the contract).

    Built by ``VideoSegmenter.session(source, task)``; a context manager that closes its source.
    """

    def __init__(self, source: Source, engine: FrameEngine, cfg: InferenceConfig):
        self._source = open_source(source)
        self._length = source_length(self._source)
        self.geometry = Geometry.of(tuple(self._source.size), cfg.short_side, engine.mask_stride)
        self._engine = engine
        self._tracker = PromptTracker(engine, self.geometry, cfg)
        self._pending: dict[int, dict[int, Prompt]] = {}
        self._cursor = 0
        self._rewind: int | None = None  # earliest prompt given on a frame before the cursor
        self._closed = False

    # ------------------------------------------------------------------ context

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the source (a camera, an open container)."""
        if not self._closed:
            self._closed = True
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("this session is closed")

    # ------------------------------------------------------------------ facts

    @property
    def num_frames(self) -> int | None:
        """Frames in the video (None for a camera)."""
        return self._length

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the frames and of the returned masks."""
        return self.geometry.original

    @property
    def fps(self) -> float:
        return float(self._source.fps)

    @property
    def source(self):
        """The lazy frame source (``source[t]`` → (H, W, 3) uint8)."""
        return self._source

    @property
    def cursor(self) -> int:
        """The next frame ``propagate()`` would process without a rewind."""
        return self._cursor

    @property
    def obj_ids(self) -> list[int]:
        """Targets that exist at the cursor, then those still waiting for their first prompt."""
        waiting = [i for prompts in sorted(self._pending.items()) for i in prompts[1]]
        return list(dict.fromkeys([*self._tracker.targets, *waiting]))

    # ------------------------------------------------------------------ prompts

    def _check_frame(self, frame: object) -> int:
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)):
            raise InputError(f"frame must be an integer index, got {frame!r}")
        frame = int(frame)
        if frame < 0 or (self._length is not None and frame >= self._length):
            raise InputError(f"frame {frame} is past the end of the video (frames 0..{self._length - 1})"
                             if frame >= 0 else f"frame {frame} is negative")
        if isinstance(self._source, CameraFrames) and frame < self._cursor:
            raise InputError(f"frame {frame} of a camera has passed (next frame {self._cursor}); cameras cannot rewind")
        return frame

    def add_prompt(self, frame: int, obj_id: int, mask: object = None, points: object = None, box: object = None,
                   scribble: object = None, text: str | None = None) -> None:
        """Prompt target ``obj_id`` on ``frame`` with exactly one of: ``mask`` (H, W) bool/0-1 array,
        ``points`` [(x, y) or (x, y, label)], ``box`` (x0, y0, x1, y1), ``scribble`` (H, W) stroke
        mask, ``text`` referring expression. Coordinates in original pixels."""
        self._check_open()
        frame, obj_id = self._check_frame(frame), check_obj_id(obj_id)
        prompt = make_prompt(frame, self.size, mask=mask, points=points, box=box, scribble=scribble, text=text)
        on_frame = self._pending.setdefault(frame, {})
        on_frame[obj_id] = on_frame[obj_id].merged(prompt) if obj_id in on_frame else prompt
        if frame < self._cursor:
            self._rewind = frame if self._rewind is None else min(self._rewind, frame)

    def remove_object(self, obj_id: int) -> None:
        """Forget target ``obj_id`` and its pending prompts (absent from the next yielded frame on)."""
        self._check_open()
        obj_id = check_obj_id(obj_id)
        if obj_id not in self.obj_ids:
            raise InputError(f"no object {obj_id} in this session (objects: {self.obj_ids})")
        self._tracker.remove(obj_id)
        for prompts in self._pending.values():
            prompts.pop(obj_id, None)
        self._pending = {f: p for f, p in self._pending.items() if p}

    def reset(self) -> None:
        """Forget every target and prompt; the next ``propagate()`` starts at frame 0."""
        self._check_open()
        if isinstance(self._source, CameraFrames) and self._cursor:
            raise InputError("a camera session cannot go back to frame 0")
        self._tracker.targets.clear()
        self._pending.clear()
        self._engine.clear()
        self._cursor = 0
        self._rewind = None

    # ------------------------------------------------------------------ propagation

    def _seek(self, frame: int) -> None:
        """Move the cursor to ``frame``; before the cursor, targets anchored at or after it go back to
        their pending prompts (see the module docstring)."""
        self._rewind = None
        if frame == self._cursor:
            return
        if frame < self._cursor:
            for obj_id, target in list(self._tracker.targets.items()):
                if target.prompt.frame >= frame:  # its anchor prompt applies again when its frame comes
                    self._pending.setdefault(target.prompt.frame, {}).setdefault(obj_id, target.prompt)
                    if target.since >= frame:
                        del self._tracker.targets[obj_id]
        self._engine.clear()
        self._cursor = frame

    def propagate(self, start: int | None = None, end: int | None = None) -> Iterator[tuple[int, FrameResult]]:
        """Yield ``(frame_idx, FrameResult)`` for frames ``start..end-1`` (see the module docstring)."""
        self._check_open()
        if start is None:
            start = self._cursor if self._rewind is None else self._rewind
        else:
            start = self._check_frame(start)
        stop = self._length if end is None else min(int(end), self._length or int(end))
        return self._frames(start, stop)

    def _frames(self, start: int, stop: int | None) -> Iterator[tuple[int, FrameResult]]:
        self._seek(start)
        t = start
        while stop is None or t < stop:
            if self._rewind is not None:  # a prompt on a passed frame, given during the loop
                t = self._rewind
                self._seek(t)
            prompts = self._pending.pop(t, {})
            if not prompts and not self._tracker.targets and not isinstance(self._source, CameraFrames):
                result = empty_result(t, self.size)  # nothing to follow yet: no need to decode the frame
            else:
                try:
                    frame = self._source[t]
                except IndexError:  # a camera stream ended
                    break
                result = self._tracker.step(t, np.asarray(frame), prompts)
            self._cursor = t + 1
            yield t, result
            t += 1
