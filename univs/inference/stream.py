"""Category-guided runs over a video and live, frame-at-a-time streams (webcams, pipelines).

``CategoryRun`` iterates ``(frame_idx, FrameResult)`` over a source for VIS/VSS/VPS and gives the
video-level tracks (VIS scores) at any time. ``LiveStream.step(frame)`` takes one frame and returns
its result at once; prompt-guided streams take prompts with ``add_prompt`` for the next frame.
Neither keeps a result it has returned: state is the targets' bounded memory.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from univs.config import CATEGORY_TASKS
from univs.errors import InputError
from univs.inference.category import CategoryTracker
from univs.inference.frames import Geometry, check_frame, source_length
from univs.inference.prompt_tracker import PromptTracker
from univs.inference.prompts import check_one_prompt, make_prompt
from univs.inference.session import check_obj_id
from univs.inference.types import FrameResult, TrackSummary


class CategoryRun:
    """One pass of category-guided inference over a source: iterate it once for
    ``(frame_idx, FrameResult)`` (targets visible on the frame); ``tracks()`` for video-level results."""

    def __init__(self, source, tracker: CategoryTracker, vocabulary: list[str]):
        self.source = source
        self.tracker = tracker
        self.vocabulary = vocabulary
        self._started = False

    @property
    def num_frames(self) -> int | None:
        return source_length(self.source)

    @property
    def size(self) -> tuple[int, int]:
        return self.tracker.geometry.original

    @property
    def fps(self) -> float:
        return float(self.source.fps)

    def __iter__(self) -> Iterator[tuple[int, FrameResult]]:
        if self._started:
            raise InputError("a segmentation run is iterated once; call segment() again for another pass")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[tuple[int, FrameResult]]:
        n = self.num_frames
        t = 0
        while n is None or t < n:
            try:
                frame = self.source[t]
            except IndexError:  # a camera stream ended
                break
            yield t, self.tracker.step(t, np.asarray(frame))
            t += 1

    def tracks(self) -> list[TrackSummary]:
        """Video-level category and score of every target seen so far."""
        return self.tracker.tracks()


class LiveStream:
    """Frame-at-a-time inference: ``step(frame)`` → FrameResult for that frame.

    The first frame fixes the size (later frames must match). ``make_tracker(geometry)`` builds the
    task's tracker once that size is known. Prompt-guided streams: ``add_prompt(obj_id, ...)``
    prompts the next stepped frame (checked against that frame's size when it arrives).
    """

    def __init__(self, task: str, make_tracker: Callable[[Geometry], CategoryTracker | PromptTracker],
                 short_side: int | None, mask_stride: int):
        self.task = task
        self._make_tracker = make_tracker
        self._short_side = short_side
        self._mask_stride = mask_stride
        self._tracker: CategoryTracker | PromptTracker | None = None
        self._next = 0
        self._prompts: dict[int, dict] = {}

    @property
    def frame_idx(self) -> int:
        """Index the next stepped frame gets."""
        return self._next

    def add_prompt(self, obj_id: int, mask: object = None, points: object = None, box: object = None,
                   scribble: object = None, text: str | None = None) -> None:
        """Prompt target ``obj_id`` on the next frame (prompt-guided tasks; see ``Session.add_prompt``)."""
        if self.task in CATEGORY_TASKS:
            raise InputError(f"a {self.task} stream detects its targets; prompts belong to vos, pvos and refvos")
        kwargs = {"mask": mask, "points": points, "box": box, "scribble": scribble, "text": text}
        check_one_prompt(**kwargs)
        self._prompts[check_obj_id(obj_id)] = kwargs

    def remove_object(self, obj_id: int) -> None:
        """Forget target ``obj_id`` (prompt-guided streams)."""
        obj_id = check_obj_id(obj_id)
        self._prompts.pop(obj_id, None)
        if isinstance(self._tracker, PromptTracker):
            self._tracker.remove(obj_id)

    def step(self, frame: np.ndarray) -> FrameResult:
        """Process one (H, W, 3) uint8 RGB frame and return its result."""
        frame = check_frame(frame, f"live frame {self._next}")
        if self._tracker is None:
            self._tracker = self._make_tracker(Geometry.of(frame.shape[:2], self._short_side, self._mask_stride))
        t = self._next
        if isinstance(self._tracker, CategoryTracker):
            result = self._tracker.step(t, frame)
        else:
            size = self._tracker.geometry.original
            prompts = {i: make_prompt(t, size, **kw) for i, kw in self._prompts.items()}
            self._prompts.clear()
            result = self._tracker.step(t, frame, prompts)
        self._next += 1
        return result

    def tracks(self) -> list[TrackSummary]:
        """Video-level tracks so far (category-guided streams)."""
        return self._tracker.tracks() if isinstance(self._tracker, CategoryTracker) else []
