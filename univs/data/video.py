"""Video input and output: lazy frame sources for containers, frame folders and arrays; mp4/GIF writers.

Every reader implements :class:`univs.data.types.FrameSource`: ``len``, ``source[t]`` → ``(H, W, 3)``
uint8 RGB, ``fps`` and ``size`` = ``(H, W)`` of the frames as returned. Out-of-range indices raise
``IndexError`` (so ``for frame in source`` works); every problem with the input itself raises one
:class:`univs.errors.InputError` naming the file.

- :class:`ContainerFrames` reads mp4/mov/avi/webm/mkv/gif with PyAV. It demuxes the stream once
  (packets only, no decoding) to list every frame's timestamp and the keyframes; ``source[t]``
  seeks to the last keyframe at or before frame t and decodes forward, and keeps its decoder
  position so that sequential access decodes each frame once. Nothing is decoded ahead of use.
- :class:`FolderFrames` reads a folder of jpg/jpeg/png/bmp images in natural order ("frame2"
  before "frame10"), all of one size.
- :class:`ArrayFrames` wraps a ``(T, H, W, 3)`` uint8 array or a list of ``(H, W, 3)`` arrays.

``max_side`` shrinks frames whose longer side exceeds it (aspect kept, bilinear). Writers:
:func:`write_mp4` (H.264 via libx264, yuv420p) and :func:`write_gif` (Pillow, loops forever), both
atomic (:mod:`univs.data.atomic`) and streaming: they take any iterable of frames.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import av
import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from univs.data.atomic import atomic_path
from univs.data.types import FrameSource
from univs.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v", ".gif")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_FPS = 24.0  # the rate assumed for frame folders and arrays, which carry none


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10`` (digit runs compare as numbers)."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def scaled_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``(H, W)`` after shrinking so that the longer side is at most ``max_side`` (aspect kept)."""
    h, w = size
    if max_side is None or max(h, w) <= max_side:
        return h, w
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if frame.shape[:2] == size:
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _check_max_side(max_side: int | None) -> None:
    if max_side is not None and max_side < 1:
        raise InputError(f"max_side must be a positive number of pixels, got {max_side}")


def _index(i: int, n: int) -> int:
    if not isinstance(i, (int, np.integer)):
        raise TypeError(f"frame index must be an integer, got {type(i).__name__}")
    j = int(i) + n if i < 0 else int(i)
    if not 0 <= j < n:
        raise IndexError(f"frame {i} out of range for a video of {n} frames")
    return j


class _Source:
    """The ``fps`` and ``size`` properties every reader shares."""

    _fps: float
    _size: tuple[int, int]

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the frames as returned."""
        return self._size


# --------------------------------------------------------------------------- arrays


class ArrayFrames(_Source):
    """Frames held in memory: a ``(T, H, W, 3)`` uint8 array or a list of ``(H, W, 3)`` arrays."""

    def __init__(self, frames: np.ndarray | Sequence[np.ndarray], fps: float = DEFAULT_FPS,
                 max_side: int | None = None):
        _check_max_side(max_side)
        frames = list(frames) if not isinstance(frames, np.ndarray) else frames
        if len(frames) == 0:
            raise InputError("an array video needs at least one frame")
        first = np.asarray(frames[0])
        for t, f in enumerate(frames):
            f = np.asarray(f)
            if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
                raise InputError(f"array frame {t} must be (H, W, 3) uint8, got {f.shape} {f.dtype}")
            if f.shape != first.shape:
                raise InputError(f"array frame {t} is {f.shape}, frame 0 is {first.shape}")
        self._frames = frames
        self._fps = float(fps)
        self._size = scaled_size(first.shape[:2], max_side)

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> np.ndarray:
        return _resize(np.asarray(self._frames[_index(index, len(self))]), self._size)


# --------------------------------------------------------------------------- image folders


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(f"unreadable image ({e})", path) from None


class FolderFrames(_Source):
    """The jpg/jpeg/png/bmp images of a folder (or an explicit list of files), in natural order.

    Every header is read once to check that all images share one size; pixels are decoded on access.
    """

    def __init__(self, folder: str | Path | Sequence[str | Path], fps: float = DEFAULT_FPS,
                 max_side: int | None = None):
        _check_max_side(max_side)
        if isinstance(folder, (str, Path)):
            folder = Path(folder)
            if not folder.is_dir():
                raise InputError("no such folder", folder)
            paths = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            if not paths:
                raise InputError(f"folder holds no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images", folder)
            self.paths = sorted(paths, key=lambda p: natural_key(p.name))
        else:
            self.paths = [Path(p) for p in folder]
            if not self.paths:
                raise InputError("an image-list video needs at least one image")
        sizes = {}
        for p in self.paths:
            try:
                with Image.open(p) as img:
                    sizes[p] = (img.height, img.width)
            except (UnidentifiedImageError, OSError, ValueError) as e:
                raise InputError(f"unreadable image ({e})", p) from None
        native = sizes[self.paths[0]]
        for p in self.paths:
            if sizes[p] != native:
                raise InputError(f"image is {sizes[p][1]}x{sizes[p][0]} (WxH) but {self.paths[0].name} is "
                                 f"{native[1]}x{native[0]}; a video's frames must share one size", p)
        self._native = native
        self._fps = float(fps)
        self._size = scaled_size(native, max_side)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        path = self.paths[_index(index, len(self))]
        frame = _read_image(path)
        if frame.shape[:2] != self._native:
            raise InputError(f"image changed size since it was listed ({frame.shape[1]}x{frame.shape[0]})", path)
        return _resize(frame, self._size)


# --------------------------------------------------------------------------- containers (PyAV)


class ContainerFrames(_Source):
    """Lazy random access to the first video stream of a container file (PyAV).

    Opening demuxes the packets once to index frame timestamps (presentation order) and keyframes.
    ``source[t]`` continues decoding from the current position when frame t lies ahead of it and no
    keyframe lies between, else seeks to the last keyframe at or before t. The container is
    (re)opened lazily, so a source can be pickled into DataLoader workers.
    """

    def __init__(self, path: str | Path, max_side: int | None = None):
        _check_max_side(max_side)
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("no such video file", self.path)
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise InputError("file has no video stream", self.path)
                stream = container.streams.video[0]
                pts, keys = [], []
                for packet in container.demux(stream):
                    ts = packet.pts if packet.pts is not None else packet.dts
                    if packet.size == 0 or ts is None:
                        continue
                    pts.append(ts)
                    if packet.is_keyframe:
                        keys.append(ts)
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                native = (stream.codec_context.height, stream.codec_context.width)
        except av.FFmpegError as e:
            raise InputError(f"not a readable video ({e})", self.path) from None
        if not pts:
            raise InputError("video has no frames", self.path)
        if native[0] <= 0 or native[1] <= 0:
            raise InputError(f"video stream has no frame size ({native[1]}x{native[0]})", self.path)
        self._pts = sorted(pts)
        self._keys = sorted(set(keys)) or [self._pts[0]]
        self._fps = float(rate) if rate else DEFAULT_FPS
        self._size = scaled_size(native, max_side)
        self._reset()

    def _reset(self) -> None:
        self._container = None
        self._decoder: Iterator | None = None
        self._pid = os.getpid()
        self._at = -1  # index of the last frame the decoder returned
        self._last: np.ndarray | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_container=None, _decoder=None, _at=-1, _last=None)
        return state

    def close(self) -> None:
        """Close the open container (it reopens on the next access)."""
        if self._container is not None:
            self._container.close()
        self._reset()

    def __len__(self) -> int:
        return len(self._pts)

    def _seek(self, key_pts: int) -> None:
        if self._container is None or self._pid != os.getpid():
            self._reset()
            self._container = av.open(str(self.path))
            self._container.streams.video[0].thread_type = "AUTO"
        stream = self._container.streams.video[0]
        self._container.seek(key_pts, stream=stream, backward=True, any_frame=False)
        self._decoder = self._container.decode(stream)
        self._at = -1

    def _decode_to(self, j: int, target: int) -> np.ndarray | None:
        """Decode forward until the frame with timestamp ``target``; ``None`` if it was passed."""
        while True:
            frame = next(self._decoder, None)
            if frame is None:
                return None
            ts = frame.pts if frame.pts is not None else frame.dts
            if ts is None or ts > target:
                return None
            if ts == target:
                self._at = j
                self._last = _resize(frame.to_ndarray(format="rgb24"), self._size)
                return self._last

    def __getitem__(self, index: int) -> np.ndarray:
        j = _index(index, len(self))
        if j == self._at and self._last is not None:
            return self._last
        target = self._pts[j]
        try:
            ahead = self._decoder is not None and self._pid == os.getpid() and 0 <= self._at < j
            if ahead and not any(self._pts[self._at] < k <= target for k in self._keys):
                frame = self._decode_to(j, target)
                if frame is not None:
                    return frame
            # seek to the last keyframe at or before the target; if decoding overshoots (an open GOP
            # or a missing timestamp), retry from the keyframe before, down to the first one
            keys = [k for k in self._keys if k <= target] or self._keys[:1]
            for key in reversed(keys):
                self._seek(key)
                frame = self._decode_to(j, target)
                if frame is not None:
                    return frame
        except av.FFmpegError as e:
            self.close()
            raise InputError(f"cannot decode frame {j} ({e})", self.path) from None
        self.close()
        raise InputError(f"cannot decode frame {j}: the stream ends or skips it", self.path)


class Resized(_Source):
    """Another :class:`FrameSource` with its frames shrunk to ``max_side`` on access."""

    def __init__(self, source: FrameSource, max_side: int):
        _check_max_side(max_side)
        self._source = source
        self._fps = source.fps
        self._size = scaled_size(tuple(source.size), max_side)

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> np.ndarray:
        return _resize(np.asarray(self._source[_index(index, len(self))]), self._size)


# --------------------------------------------------------------------------- dispatch


def open_video(source: str | Path | np.ndarray | Sequence[np.ndarray] | FrameSource | int,
               max_side: int | None = None) -> FrameSource:
    """A :class:`FrameSource` for a video file, a frame folder, a single image, an array or a list.

    An existing ``FrameSource`` is returned as is (wrapped in :class:`Resized` when ``max_side``
    shrinks it). Camera indices are read through the streaming API
    (``VideoSegmenter.stream``), which takes one frame at a time, not here.
    """
    if isinstance(source, bool) or isinstance(source, (int, np.integer)):
        raise InputError(f"camera {int(source)}: open_video reads files, folders and arrays; "
                         "feed camera frames one at a time to the streaming API (VideoSegmenter.stream)")
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return FolderFrames(path, max_side=max_side)
        if not path.exists():
            raise InputError("no such file or folder", path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return FolderFrames([path], max_side=max_side)
        return ContainerFrames(path, max_side=max_side)
    if isinstance(source, np.ndarray):
        if source.ndim != 4:
            raise InputError(f"an array video must be (T, H, W, 3) uint8, got shape {source.shape}")
        return ArrayFrames(source, max_side=max_side)
    if isinstance(source, (list, tuple)):
        return ArrayFrames(source, max_side=max_side)
    if isinstance(source, FrameSource):
        _check_max_side(max_side)
        return source if scaled_size(source.size, max_side) == tuple(source.size) else Resized(source, max_side)
    raise InputError(f"cannot read a video from a {type(source).__name__}; give a file, folder or array")


# --------------------------------------------------------------------------- writers


def _frames_checked(frames: Iterable[np.ndarray], path: Path) -> Iterator[np.ndarray]:
    """Yield frames after checking each is ``(H, W, 3)`` uint8 of the first frame's size."""
    shape = None
    for t, f in enumerate(frames):
        f = np.asarray(f)
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"frame {t} must be (H, W, 3) uint8, got {f.shape} {f.dtype}", path)
        if shape is None:
            shape = f.shape
        elif f.shape != shape:
            raise InputError(f"frame {t} is {f.shape}, frame 0 is {shape}", path)
        yield f
    if shape is None:
        raise InputError("no frames to write", path)


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad odd heights/widths by repeating the last row/column (yuv420p needs even sizes)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> None:
    """Encode RGB frames as H.264 (libx264, yuv420p, constant quality ``crf``) into ``path``.

    Odd frame sizes are padded by one edge row/column to the even size yuv420p needs.
    """
    path = Path(path)
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}", path)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = None
            for frame in _frames_checked(frames, path):
                frame = _even(frame)
                if stream is None:
                    stream = container.add_stream("libx264", rate=rate)
                    stream.height, stream.width = frame.shape[:2]
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf)}
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def write_gif(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> None:
    """Write RGB frames as an animated GIF that loops forever (frame time rounded to 10 ms)."""
    path = Path(path)
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}", path)
    images = (Image.fromarray(f) for f in _frames_checked(frames, path))
    first = next(images)
    with atomic_path(path) as tmp:
        first.save(tmp, format="GIF", save_all=True, append_images=images, loop=0,
                   duration=max(10, round(1000 / fps / 10) * 10), disposal=1)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> None:
    """:func:`write_gif` for a ``.gif`` path, else :func:`write_mp4`."""
    if Path(path).suffix.lower() == ".gif":
        write_gif(path, frames, fps)
    else:
        write_mp4(path, frames, fps)
