"""DAVIS 2017 (davischallenge.org, DAVIS 2017 semi-supervised / unsupervised releases).

Tree (the folder is named ``480p`` whatever the frame size; the official tools hard-code it)::

    JPEGImages/480p/<seq>/00000.jpg
    Annotations/480p/<seq>/00000.png              semi-supervised: palette PNG, index = object id
    Annotations_unsupervised/480p/<seq>/00000.png unsupervised / Ref-DAVIS annotations, same encoding
    ImageSets/2017/{train,val}.txt                sequence names, one per line

Annotation PNGs are mode "P" with the DAVIS palette: 0 background, 1..K objects, 255 void.
A frame without a PNG is not annotated (test inputs carry only the first frame).
"""

from __future__ import annotations

from pathlib import Path

from univs.data.formats.common import (check_lengths, paint_ids, read_lines, read_palette_video, subfolders,
                                       write_frames, write_lines, write_palette_png)
from univs.data.types import VideoDataset
from univs.errors import InputError

RESOLUTION = "480p"
VOID = 255
MAX_ID = 254


def read_davis(root: str | Path, split: str | None = None, annotations: str = "Annotations",
               resolution: str = RESOLUTION) -> VideoDataset:
    """Read a DAVIS 2017 root. ``split`` (``train``/``val``) picks ``ImageSets/2017/<split>.txt``;
    ``None`` reads every sequence that has an annotation folder."""
    root = Path(root)
    ann_root = root / annotations / resolution
    if not ann_root.is_dir():
        raise InputError(f"not a DAVIS root: no {annotations}/{resolution} folder", root)
    seqs = read_lines(root / "ImageSets" / "2017" / f"{split}.txt") if split else subfolders(ann_root)
    videos = [read_palette_video(s, ann_root / s, root / "JPEGImages" / resolution / s,
                                 void_value=VOID) for s in seqs]
    return VideoDataset(name="davis", videos=videos,
                        meta={"format": "davis", "split": split, "annotations": annotations})


def write_davis(dataset: VideoDataset, root: str | Path, split: str = "val",
                annotations: str = "Annotations", resolution: str = RESOLUTION) -> None:
    """Write frames, palette annotations (annotated frames only) and ``ImageSets/2017/<split>.txt``.

    Overlapping tracks are flattened as :meth:`VideoRecord.id_map` does (later tracks on top);
    ids must be 1..254.
    """
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        write_frames(video, root / "JPEGImages" / resolution / video.name)
        for t, name in enumerate(video.frame_names):
            if video.is_annotated(t):
                write_palette_png(root / annotations / resolution / video.name / f"{name}.png",
                                  paint_ids(video, t, MAX_ID, VOID))
    write_lines(root / "ImageSets" / "2017" / f"{split}.txt", [v.name for v in dataset])


def write_davis_results(dataset: VideoDataset, root: str | Path) -> None:
    """Predictions as the DAVIS evaluator reads them: ``<root>/<seq>/<frame>.png`` for every frame."""
    root = Path(root)
    for video in dataset:
        check_lengths(video)
        for t, name in enumerate(video.frame_names):
            write_palette_png(root / video.name / f"{name}.png", paint_ids(video, t, MAX_ID, VOID))
