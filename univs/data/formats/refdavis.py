"""Ref-DAVIS 2017 (Khoreva et al., ACCV 2018): DAVIS 2017 with referring expressions.

Tree, as the official release unpacks (and as ReferFormer/UniVS read it)::

    DAVIS/JPEGImages/480p/<seq>/<frame>.jpg
    DAVIS/Annotations_unsupervised/480p/<seq>/<frame>.png   palette PNG of object ids, 255 void
    DAVIS/ImageSets/2017/{train,val}.txt
    davis_text_annotations/Davis17_annot1.txt               annotator 1, first-frame expressions (UTF-8)
    davis_text_annotations/Davis17_annot1_full_video.txt    annotator 1, full-video expressions (UTF-8)
    davis_text_annotations/Davis17_annot2.txt               annotator 2, first-frame (Latin-1)
    davis_text_annotations/Davis17_annot2_full_video.txt    annotator 2, full-video (Latin-1)

A text line is ``<seq> <object id> "<expression>"``. The release misspells three sequence names
(``clasic-car``, ``dog-scale``, ``motor-bike``); the reader maps them to the DAVIS names as
ReferFormer's converter does. The DAVIS tree may also sit directly in the root (no ``DAVIS/``).

Expression ids are not in the release; the reader numbers them as ReferFormer's
``meta_expressions.json`` does: object rank k (objects with expressions, ascending id) and
annotator file a (0..3 in the order above) give ``exp_id = 4k + a``. Predictions are scored per
annotator a with the DAVIS unsupervised protocol: ``anno_<a>/<seq>/<frame>.png`` holding k+1 on the
pixels of expression ``4k + a`` (``write_refdavis_results``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from univs.data.formats.common import check_lengths, read_lines, write_lines, write_palette_png
from univs.data.formats.davis import MAX_ID, read_davis, write_davis
from univs.data.formats.refytvos import expression_mask
from univs.data.types import Expression, VideoDataset
from univs.errors import InputError

ANNOTATIONS = "Annotations_unsupervised"
TEXT_DIR = "davis_text_annotations"
TEXT_FILES = (("Davis17_annot1.txt", "utf-8"), ("Davis17_annot1_full_video.txt", "utf-8"),
              ("Davis17_annot2.txt", "latin-1"), ("Davis17_annot2_full_video.txt", "latin-1"))
NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}


def _davis_root(root: Path) -> Path:
    return root / "DAVIS" if (root / "DAVIS").is_dir() else root


def read_text_annotations(folder: Path) -> dict[str, dict[int, dict[int, str]]]:
    """``{seq: {object id: {annotator a: expression}}}`` from the (present) text files of ``folder``."""
    out: dict[str, dict[int, dict[int, str]]] = {}
    for a, (fname, encoding) in enumerate(TEXT_FILES):
        path = folder / fname
        if not path.is_file():
            continue
        for n, line in enumerate(read_lines(path, encoding), start=1):
            parts = line.split(None, 2)
            if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) < 2 \
                    or not (parts[2].startswith('"') and parts[2].endswith('"')):
                raise InputError(f'line {n}: expected <sequence> <object id> "<expression>", got {line!r}', path)
            seq = NAME_FIXES.get(parts[0], parts[0])
            out.setdefault(seq, {}).setdefault(int(parts[1]), {})[a] = parts[2][1:-1]
    return out


def read_refdavis(root: str | Path, split: str | None = "val") -> VideoDataset:
    """Read the DAVIS tree (``Annotations_unsupervised``) and the expressions of its sequences.

    Without a ``davis_text_annotations`` folder the videos have no expressions (evaluation roots).
    """
    root = Path(root)
    davis_root = _davis_root(root)
    ds = read_davis(davis_root, split, annotations=ANNOTATIONS)
    text_dir = next((d / TEXT_DIR for d in (root, davis_root) if (d / TEXT_DIR).is_dir()), None)
    texts = read_text_annotations(text_dir) if text_dir is not None else {}
    for video in ds:
        objects = texts.get(video.name, {})
        known = {tr.track_id for tr in video.tracks}
        for k, obj in enumerate(sorted(objects)):
            if obj not in known:
                raise InputError(f"sequence {video.name!r}: an expression refers to object {obj}, "
                                 f"which {ANNOTATIONS} does not have", text_dir)
            video.expressions.extend(Expression(exp_id=str(4 * k + a), text=objects[obj][a], track_ids=[obj])
                                     for a in sorted(objects[obj]))
    ds.name = "refdavis"
    ds.meta.update(format="refdavis")
    return ds


def write_refdavis(dataset: VideoDataset, root: str | Path, split: str = "val") -> None:
    """Write ``DAVIS/`` (frames, ``Annotations_unsupervised``, ImageSets) and the four text files.

    Each object's single-target expressions, in order, go to annotator files 0..3. The release holds
    four per object: further ones are left out, with one warning saying how many.
    """
    root = Path(root)
    write_davis(dataset, root / "DAVIS", split, annotations=ANNOTATIONS)
    lines: list[list[str]] = [[] for _ in TEXT_FILES]
    dropped = 0
    for video in dataset:
        per_object: dict[int, list[str]] = {}
        for e in video.expressions:
            if len(e.track_ids) != 1:
                raise InputError(f"video {video.name!r} expression {e.exp_id!r} refers to {len(e.track_ids)} "
                                 "objects; a Ref-DAVIS expression refers to exactly one")
            if "\n" in e.text or "\r" in e.text:
                raise InputError(f"video {video.name!r} expression {e.exp_id!r} spans several lines")
            per_object.setdefault(e.track_ids[0], []).append(e.text)
        for obj in sorted(per_object):
            dropped += max(0, len(per_object[obj]) - len(TEXT_FILES))
            for a, text in enumerate(per_object[obj][:len(TEXT_FILES)]):
                lines[a].append(f'{video.name} {obj} "{text}"')
    if dropped:
        warnings.warn(f"Ref-DAVIS holds {len(TEXT_FILES)} expressions per object (one per annotator file); "
                      f"{dropped} further expression(s) of {dataset.name!r} were not written to {root}",
                      stacklevel=2)
    for (fname, encoding), rows in zip(TEXT_FILES, lines):
        try:
            write_lines(root / TEXT_DIR / fname, rows, encoding=encoding)
        except UnicodeEncodeError as e:
            raise InputError(f"an expression cannot be written as {encoding} ({e})", root / TEXT_DIR / fname) from None


def write_refdavis_results(dataset: VideoDataset, root: str | Path) -> None:
    """Predictions per annotator: ``<root>/anno_<a>/<seq>/<frame>.png`` with k+1 where expression
    ``4k + a`` is predicted (its tracks' union; higher k drawn on top)."""
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        by_annotator: dict[int, list[tuple[int, Expression]]] = {}
        for e in video.expressions:
            if not e.exp_id.isdigit():
                raise InputError(f"video {video.name!r}: expression id {e.exp_id!r} is not 4k + a")
            k, a = divmod(int(e.exp_id), 4)
            if k + 1 > MAX_ID:
                raise InputError(f"video {video.name!r}: expression {e.exp_id!r} gives object id {k + 1} > {MAX_ID}")
            by_annotator.setdefault(a, []).append((k, e))
        for a, items in sorted(by_annotator.items()):
            for t, name in enumerate(video.frame_names):
                ids = np.zeros((video.height, video.width), dtype=np.uint8)
                for k, e in sorted(items, key=lambda item: item[0]):
                    ids[expression_mask(video, e, t)] = k + 1
                write_palette_png(root / f"anno_{a}" / video.name / f"{name}.png", ids)
