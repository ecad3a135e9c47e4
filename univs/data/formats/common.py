"""File helpers shared by the native-format readers and writers.

Every reader error is an :class:`InputError` naming the file; every output goes through
:mod:`univs.data.atomic`, and is byte-identical when written twice (PNG and JPEG encoders are
deterministic, JSON keeps insertion order, no timestamps anywhere).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from univs.data.atomic import atomic_open, atomic_path
from univs.data.palette import flat_palette
from univs.data.types import RLE, Category, FrameSource, Track, VideoRecord, decode_mask, encode_mask
from univs.data.video import FolderFrames, natural_key
from univs.errors import InputError

JPEG_QUALITY = 95
PANOPTIC_MAX_ID = 2**24 - 1  # an RGB-encoded id (R + 256·G + 256²·B) holds 24 bits


def list_stems(folder: Path, suffixes: Sequence[str]) -> list[str]:
    """File names (without suffix) in ``folder`` with one of ``suffixes``, in natural order."""
    names = [p.stem for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
    return sorted(names, key=natural_key)


def subfolders(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` in natural order (hidden ones skipped)."""
    return sorted((p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=natural_key)


# --------------------------------------------------------------------------- text and JSON


def read_json(path: Path) -> Any:
    """Parsed JSON; a missing or malformed file is an :class:`InputError` naming it."""
    if not path.is_file():
        raise InputError("missing file", path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"malformed JSON ({e})", path) from None


def write_json(path: Path, obj: Any) -> None:
    """Compact JSON as the datasets ship it (``json.dump`` defaults), written atomically."""
    with atomic_open(path, encoding="utf-8") as f:
        json.dump(obj, f)


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """Non-empty lines with surrounding whitespace removed."""
    if not path.is_file():
        raise InputError("missing file", path)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise InputError(f"not {encoding} text ({e})", path) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def write_lines(path: Path, lines: Sequence[str], encoding: str = "utf-8") -> None:
    """One line per entry, each ending in a newline (VSPW's tools cut the last character)."""
    with atomic_open(path, encoding=encoding, newline="\n") as f:
        f.write("".join(f"{line}\n" for line in lines))


def expect_dict(obj: Any, path: Path, where: str) -> dict:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}", path)
    return obj


def expect_list(obj: Any, path: Path, where: str) -> list:
    if not isinstance(obj, list):
        raise InputError(f"{where}: expected a JSON list, got {type(obj).__name__}", path)
    return obj


def field(obj: dict, key: str, path: Path, where: str) -> Any:
    """``obj[key]``, or an :class:`InputError` saying which entry lacks it."""
    if not isinstance(obj, dict) or key not in obj:
        raise InputError(f"{where}: missing field {key!r}", path)
    return obj[key]


# --------------------------------------------------------------------------- categories


def read_categories(cats: object, path: Path) -> dict[int, Category]:
    """COCO ``categories`` → ``{id: Category}`` (``isthing`` defaults to true)."""
    out = {}
    for c in expect_list(cats, path, "categories"):
        c = expect_dict(c, path, "categories[]")
        cid = field(c, "id", path, "category")
        if isinstance(cid, bool) or not isinstance(cid, int):
            raise InputError(f"category id must be an integer, got {cid!r}", path)
        color = c.get("color")
        out[cid] = Category(id=cid, name=str(field(c, "name", path, f"category {cid}")),
                            isthing=bool(c.get("isthing", 1)),
                            color=tuple(color) if isinstance(color, list) and len(color) == 3 else None)
    return out


def categories_json(categories: dict[int, Category], supercategory: bool = False, isthing: bool = True,
                    color: bool = True) -> list[dict]:
    """COCO-style ``categories`` entries in id order (``color`` only where the category has one)."""
    out = []
    for c in sorted(categories.values(), key=lambda c: c.id):
        entry: dict = {"supercategory": "object"} if supercategory else {}
        entry.update(id=c.id, name=c.name)
        if isthing:
            entry["isthing"] = int(c.isthing)
        if color and c.color is not None:
            entry["color"] = list(c.color)
        out.append(entry)
    return out


# --------------------------------------------------------------------------- images


def _open(path: Path) -> Image.Image:
    if not path.is_file():
        raise InputError("missing file", path)
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(f"unreadable image ({e})", path) from None
    return img


def image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` of an image, read from its header only."""
    if not path.is_file():
        raise InputError("missing file", path)
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(f"unreadable image ({e})", path) from None
    return h, w


def read_index_png(path: Path, size: tuple[int, int] | None = None, what: str = "mask") -> np.ndarray:
    """``(H, W)`` uint8 stored indices of a palette ("P") or grey ("L") PNG.

    An RGB(A) image is refused: its colours are not ids. ``size`` ``(H, W)``, when given, must match.
    """
    img = _open(path)
    if img.mode not in ("P", "L"):
        raise InputError(f"expected a palette (mode P) or grey (mode L) {what} PNG of ids, "
                         f"got mode {img.mode}", path)
    arr = np.array(img, dtype=np.uint8)
    if size is not None and arr.shape != tuple(size):
        raise InputError(f"{what} is {arr.shape[1]}x{arr.shape[0]} (WxH) but its frame is "
                         f"{size[1]}x{size[0]}", path)
    return arr


def read_rgb_ids(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """``(H, W)`` uint32 segment ids of an RGB panoptic PNG: ``id = R + 256·G + 256²·B``."""
    img = _open(path)
    if img.mode != "RGB":
        raise InputError(f"expected an RGB panoptic PNG (id = R + 256G + 256²B), got mode {img.mode}",
                         path)
    a = np.asarray(img, dtype=np.uint32)
    if size is not None and a.shape[:2] != tuple(size):
        raise InputError(f"panoptic mask is {a.shape[1]}x{a.shape[0]} (WxH) but its frame is "
                         f"{size[1]}x{size[0]}", path)
    return a[:, :, 0] + (a[:, :, 1] << 8) + (a[:, :, 2] << 16)


def read_panoptic_frame(png: Path, size: tuple[int, int], frame_ann: dict, categories: dict,
                        json_path: Path, where: str) -> tuple[np.ndarray, dict[int, dict]]:
    """Read one COCO-panoptic PNG and check it against its ``segments_info``.

    Returns ``(ids, {segment id: segment entry})``. A PNG id missing from ``segments_info``, a
    listed id missing from the PNG, or an unknown category is an :class:`InputError`.
    """
    segs = expect_list(field(frame_ann, "segments_info", json_path, where), json_path, f"{where} segments_info")
    listed = {}
    for s in segs:
        sid = field(s, "id", json_path, f"{where} segment")
        cid = field(s, "category_id", json_path, f"{where} segment {sid}")
        if cid not in categories:
            raise InputError(f"{where}: segment {sid} has unknown category id {cid!r}", json_path)
        listed[int(sid)] = s
    ids = read_rgb_ids(png, size)
    present = set(np.unique(ids).tolist()) - {0}
    unlisted, missing = sorted(present - set(listed)), sorted(set(listed) - present)
    if unlisted:
        raise InputError(f"segment id {unlisted[0]} is in the PNG but not in {json_path.name} ({where})", png)
    if missing:
        raise InputError(f"segment id {missing[0]} is listed in {json_path.name} ({where}) but not in the PNG", png)
    return ids, listed


def _save(img: Image.Image, path: Path, **kwargs: Any) -> None:
    with atomic_path(path) as tmp:
        img.save(tmp, **kwargs)


def write_palette_png(path: Path, ids: np.ndarray) -> None:
    """Mode-"P" PNG with the DAVIS palette; the stored index is the id."""
    img = Image.fromarray(ids.astype(np.uint8), mode="P")
    img.putpalette(flat_palette())
    _save(img, path, format="PNG")


def write_gray_png(path: Path, values: np.ndarray) -> None:
    """Mode-"L" PNG of uint8 values."""
    _save(Image.fromarray(values.astype(np.uint8), mode="L"), path, format="PNG")


def write_rgb_ids(path: Path, ids: np.ndarray) -> None:
    """RGB panoptic PNG of ``(H, W)`` ids < 2^24 (``R + 256·G + 256²·B``)."""
    ids = ids.astype(np.uint32)
    rgb = np.stack([ids & 0xFF, (ids >> 8) & 0xFF, (ids >> 16) & 0xFF], axis=-1).astype(np.uint8)
    _save(Image.fromarray(rgb, mode="RGB"), path, format="PNG")


def write_jpeg(path: Path, frame: np.ndarray) -> None:
    """``(H, W, 3)`` uint8 RGB frame as a JPEG (fixed quality, so the bytes are reproducible)."""
    _save(Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8), mode="RGB"), path,
          format="JPEG", quality=JPEG_QUALITY)


# --------------------------------------------------------------------------- frames


def frame_files(folder: Path, names: Sequence[str], suffix: str = ".jpg") -> list[Path]:
    """``folder/<name><suffix>`` for every name; a missing one is an :class:`InputError`."""
    paths = [folder / f"{n}{suffix}" for n in names]
    for p in paths:
        if not p.is_file():
            raise InputError("missing frame", p)
    return paths


def frames_of(paths: Sequence[Path], size: tuple[int, int], source: Path | str) -> FolderFrames:
    """Lazy frames of ``paths`` (:class:`univs.data.video.FolderFrames`), all of size ``(H, W)``.

    ``source`` names what gives that size (an annotation, a JSON file) for the error message.
    """
    frames = FolderFrames(paths)
    if tuple(frames.size) != tuple(size):
        h, w = frames.size
        raise InputError(f"frame is {w}x{h} (WxH) but {source} says {size[1]}x{size[0]}", paths[0])
    return frames


def open_frames(folder: Path, names: Sequence[str], size: tuple[int, int],
                suffix: str = ".jpg") -> FrameSource | None:
    """Lazy frames ``folder/<name><suffix>``, or ``None`` when ``folder`` does not exist.

    Every frame must exist and have the annotations' size ``(H, W)``.
    """
    if not folder.is_dir() or not names:
        return None
    return frames_of(frame_files(folder, names, suffix), size, "its annotation")


def write_frames(video: VideoRecord, folder: Path, suffix: str = ".jpg") -> None:
    """Write every frame of ``video`` as ``folder/<frame_name><suffix>`` (JPEG); no-op without frames."""
    if video.frames is None:
        return
    if len(video.frames) != len(video.frame_names):
        raise InputError(f"video {video.name!r} has {len(video.frames)} frames but "
                         f"{len(video.frame_names)} frame names")
    for t, name in enumerate(video.frame_names):
        write_frame(video, t, folder / f"{name}{suffix}")


def write_frame(video: VideoRecord, t: int, path: Path) -> None:
    """Frame ``t`` of ``video`` as a JPEG at ``path``: a JPEG read from disk is copied byte for byte
    (no second lossy encoding), any other frame is encoded."""
    src = video.frames
    if isinstance(src, FolderFrames) and src.paths[t].suffix.lower() in (".jpg", ".jpeg") \
            and tuple(src.size) == (video.height, video.width):
        with atomic_path(path) as tmp:
            shutil.copyfile(src.paths[t], tmp)
        return
    frame = np.asarray(src[t])
    if frame.shape[:2] != (video.height, video.width):
        raise InputError(f"video {video.name!r} frame {t} is {frame.shape[1]}x{frame.shape[0]}, "
                         f"the record says {video.width}x{video.height}")
    write_jpeg(path, frame)


def first_frame_size(folder: Path, names: Sequence[str], suffix: str = ".jpg") -> tuple[int, int] | None:
    """``(H, W)`` of the first listed frame, or ``None`` when the folder or the list is empty."""
    if not folder.is_dir() or not names:
        return None
    return image_size(frame_files(folder, names[:1], suffix)[0])


# --------------------------------------------------------------------------- id maps ↔ tracks


def tracks_from_id_maps(maps: Sequence[np.ndarray | None], ignore: Sequence[int] = (0,),
                        void_value: int | None = None) -> tuple[dict[int, list[RLE | None]],
                                                                list[RLE | None] | None]:
    """Per-id RLE lists from per-frame id maps (``None`` = frame not annotated).

    Returns ``({id: [RLE | None per frame]}, void)`` where a track's entry is ``None`` on frames
    without a map or where the id is absent, and ``void`` holds the ``void_value`` pixels per
    frame (``None`` when no frame has any).
    """
    n = len(maps)
    tracks: dict[int, list[RLE | None]] = {}
    void: list[RLE | None] = [None] * n
    skip = set(int(v) for v in ignore)
    for t, m in enumerate(maps):
        if m is None:
            continue
        for value in np.unique(m).tolist():
            if value in skip:
                continue
            rle = encode_mask(m == value)
            if value == void_value:
                void[t] = rle
            else:
                tracks.setdefault(int(value), [None] * n)[t] = rle
    return dict(sorted(tracks.items())), (void if any(v is not None for v in void) else None)


def paint_ids(video: VideoRecord, t: int, max_id: int, void_value: int | None = None,
              dtype: type = np.uint8, only: set[int] | None = None) -> np.ndarray:
    """``(H, W)`` map of frame ``t``: void pixels (``void_value``) first, then tracks in order.

    Later tracks are drawn on top, as :meth:`VideoRecord.id_map` does. Ids must lie in
    ``1..max_id`` and must not equal ``void_value``. ``only`` restricts the painted tracks (and
    leaves void out).
    """
    out = np.zeros((video.height, video.width), dtype=dtype)
    if only is None and void_value is not None and video.void is not None and video.void[t] is not None:
        out[decode(video.void[t], video, t)] = void_value
    for tr in video.tracks:
        if not 1 <= tr.track_id <= max_id or tr.track_id == void_value:
            raise InputError(f"video {video.name!r}: track id {tr.track_id} cannot be stored "
                             f"(ids must be 1..{max_id}{'' if void_value is None else f', not {void_value}'})")
        if tr.masks[t] is not None and (only is None or tr.track_id in only):
            out[decode(tr.masks[t], video, t)] = tr.track_id
    return out


def decode(rle: RLE, video: VideoRecord, t: int) -> np.ndarray:
    """Decode a mask of ``video`` frame ``t``, checking it has the video's size."""
    if [int(s) for s in rle["size"]] != [video.height, video.width]:
        raise InputError(f"video {video.name!r} frame {t}: mask size {list(rle['size'])} differs "
                         f"from the video size {[video.height, video.width]}")
    return decode_mask(rle)


def keep_or_renumber(ids: Sequence[int]) -> list[int]:
    """``ids`` when they are unique and positive (usable as file-wide annotation ids), else 1..N."""
    ids = list(ids)
    return ids if len(set(ids)) == len(ids) and all(i > 0 for i in ids) else list(range(1, len(ids) + 1))


def annotated_flags(flags: Sequence[bool]) -> list[bool] | None:
    """``None`` when every frame is annotated (the usual case), else the list."""
    return None if all(flags) else list(flags)


def check_lengths(video: VideoRecord) -> None:
    """Every per-frame list of ``video`` must have one entry per frame."""
    n = len(video.frame_names)
    for tr in video.tracks:
        if len(tr.masks) != n:
            raise InputError(f"video {video.name!r}: track {tr.track_id} has {len(tr.masks)} masks "
                             f"for {n} frames")
    for name, lst in (("annotated", video.annotated), ("void", video.void)):
        if lst is not None and len(lst) != n:
            raise InputError(f"video {video.name!r}: {name} has {len(lst)} entries for {n} frames")


def add_declared_tracks(video: VideoRecord, ids: Sequence[int]) -> None:
    """Give every declared id without a mask (an object never visible on an annotated frame) an
    empty track, keeping ascending id order."""
    have = {tr.track_id for tr in video.tracks}
    video.tracks.extend(Track(track_id=i, masks=[None] * len(video)) for i in ids if i not in have)
    video.tracks.sort(key=lambda tr: tr.track_id)


def read_palette_video(name: str, ann_dir: Path, img_dir: Path, frame_names: Sequence[str] | None = None,
                       known_ids: set[int] | None = None, declared_in: Path | str | None = None,
                       void_value: int | None = 255, required: bool = True) -> VideoRecord:
    """A video annotated by palette PNGs of object ids (DAVIS, YouTube-VOS, VIPOSeg layouts).

    Frame names come from ``frame_names``, else the JPEGs in ``img_dir``, else the PNG names; a
    frame without a PNG is not annotated. ``known_ids`` are the ids the metadata
    ``declared_in`` lists: an id found in a PNG but not listed is an :class:`InputError`
    (``None`` accepts any id). ``required=False`` accepts a missing ``ann_dir`` (a video without
    annotations).
    """
    if not ann_dir.is_dir():
        if required:
            raise InputError(f"video {name!r} has no annotation folder", ann_dir)
        pngs: list[str] = []
    else:
        pngs = list_stems(ann_dir, (".png",))
    if frame_names is None:
        frame_names = list_stems(img_dir, (".jpg", ".jpeg")) if img_dir.is_dir() else list(pngs)
    names = list(frame_names)
    known = set(names)
    for stem in pngs:
        if stem not in known:
            raise InputError(f"annotation of frame {stem!r} belongs to no frame of video {name!r}",
                             ann_dir / f"{stem}.png")
    size = image_size(ann_dir / f"{pngs[0]}.png") if pngs else first_frame_size(img_dir, names)
    if size is None:
        raise InputError(f"video {name!r} has neither annotations nor frames", ann_dir)
    have = set(pngs)
    maps = []
    for n in names:
        if n not in have:
            maps.append(None)
            continue
        path = ann_dir / f"{n}.png"
        m = read_index_png(path, size, "annotation")
        if known_ids is not None:
            for value in np.unique(m).tolist():
                if value not in (0, void_value) and value not in known_ids:
                    raise InputError(f"id {value} is in the PNG but not listed in "
                                     f"{declared_in or 'the metadata'}", path)
        maps.append(m)
    masks, void = tracks_from_id_maps(maps, ignore=(0,), void_value=void_value)
    return VideoRecord(name=name, frame_names=names, frames=open_frames(img_dir, names, size),
                       height=int(size[0]), width=int(size[1]),
                       tracks=[Track(track_id=tid, masks=m) for tid, m in masks.items()],
                       annotated=annotated_flags([n in have for n in names]), void=void)
