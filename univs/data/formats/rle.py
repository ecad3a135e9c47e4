"""Checked COCO run-length encodings: parse, validate and serialise masks as the formats store them.

COCO RLE (``pycocotools`` / ``maskApi.c``): a binary ``(H, W)`` mask is flattened in column-major
(Fortran) order and stored as alternating run lengths, starting with a run of zeros (possibly 0).
JSON files hold it either *uncompressed* (``counts`` a list of ints, as YouTube-VIS 2019 and
COCO crowd annotations ship it) or *compressed* (``counts`` a string: each run a signed integer
in 5-bit groups, least significant first, chars 48..111, bit 0x20 = more groups follow, bit 0x10
of the last group = sign; from the fourth run on, the value is a delta against run i-2).

pycocotools decodes without bounds checks, so every RLE read from a file goes through
:func:`rle_from_json`, which parses the runs itself and accepts them only when they are
non-negative and cover exactly ``H·W`` pixels of the expected frame size. In memory a mask is a
pycocotools RLE with ``counts`` as ``bytes`` (what :func:`univs.data.types.encode_mask` makes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from univs.data.types import RLE
from univs.errors import InputError

_MAX_GROUPS = 13  # 13 groups of 5 bits hold any run of a 2^63-pixel mask


def string_runs(counts: str | bytes) -> np.ndarray | None:
    """Run lengths encoded by a compressed ``counts`` string, or ``None`` if it is malformed."""
    raw = counts.encode("ascii", "replace") if isinstance(counts, str) else bytes(counts)
    codes = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if codes.min() < 0 or codes.max() > 63:
        return None
    last = np.flatnonzero((codes & 0x20) == 0)  # the final group of each value
    if last.size == 0 or last[-1] != codes.size - 1:
        return None
    first = np.concatenate(([0], last[:-1] + 1))
    groups = last - first + 1
    if groups.max() > _MAX_GROUPS:
        return None
    position = np.arange(codes.size) - np.repeat(first, groups)
    values = np.add.reduceat((codes & 0x1F) << (5 * position), first)
    negative = (codes[last] & 0x10) != 0
    values[negative] -= np.left_shift(1, 5 * groups[negative])
    runs = values.copy()
    runs[1::2] = np.cumsum(values[1::2])  # run i = value i + run i-2, for i >= 3
    runs[2::2] = np.cumsum(values[2::2])
    return runs


def _bad(path: str | Path | None, where: str, problem: str) -> InputError:
    return InputError(f"{where}: {problem}", path)


def rle_from_json(obj: object, shape: tuple[int, int], path: str | Path | None, where: str) -> RLE:
    """Validate a JSON segmentation for a ``shape = (H, W)`` frame and return an in-memory RLE.

    Accepts compressed and uncompressed RLE; ``where`` names the entry for the error message.
    Raises :class:`InputError` naming ``path`` for a wrong size or malformed counts.
    """
    if not isinstance(obj, dict) or "size" not in obj or "counts" not in obj:
        raise _bad(path, where, "expected an RLE {'size': [h, w], 'counts': ...}")
    size = obj["size"]
    if not isinstance(size, (list, tuple)) or [int(s) for s in size] != [int(shape[0]), int(shape[1])]:
        raise _bad(path, where, f"RLE size {size} does not match the frame size {list(shape)}")
    h, w = int(shape[0]), int(shape[1])
    counts = obj["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise _bad(path, where, "uncompressed RLE counts must be non-negative integers")
        if sum(counts) != h * w:
            raise _bad(path, where, f"RLE runs cover {sum(counts)} pixels, the frame has {h * w}")
        return mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    if not isinstance(counts, (str, bytes)):
        raise _bad(path, where, f"RLE counts must be a string or a list, got {type(counts).__name__}")
    runs = string_runs(counts)
    if runs is None:
        raise _bad(path, where, "malformed compressed RLE counts string")
    if (runs < 0).any() or int(runs.sum()) != h * w:
        raise _bad(path, where, f"RLE runs cover {int(runs.sum())} pixels, the frame has {h * w}")
    raw = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    return {"size": [h, w], "counts": raw}


def polygons_to_rle(polygons: object, shape: tuple[int, int], path: str | Path | None, where: str) -> RLE:
    """COCO polygon segmentation (a list of ``[x0, y0, x1, y1, ...]``) rasterised to one RLE."""
    ok = isinstance(polygons, list) and all(
        isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0
        and all(isinstance(v, (int, float)) for v in p) for p in polygons)
    if not ok:
        raise _bad(path, where, "expected a list of polygons [x0, y0, x1, y1, ...] with >= 3 points each")
    h, w = int(shape[0]), int(shape[1])
    return mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))


def rle_to_json(rle: RLE, compressed: bool = True) -> dict:
    """An in-memory RLE as JSON: ``counts`` an ASCII string, or the list of runs when not ``compressed``."""
    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects(rle, h, w)
        counts = rle["counts"]
    if compressed:
        return {"size": [h, w], "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
    return {"size": [h, w], "counts": [int(r) for r in string_runs(counts)]}


def rle_area(rle: RLE) -> int:
    """Number of foreground pixels."""
    return int(mask_utils.area(rle))


def rle_bbox(rle: RLE) -> list[float]:
    """COCO box ``[x, y, w, h]`` of the foreground (all zeros for an empty mask)."""
    return [float(v) for v in mask_utils.toBbox(rle)]
