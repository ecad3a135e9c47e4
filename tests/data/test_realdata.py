"""Real native data read by the format readers: the DAVIS and judo clips of ``shared/realdata`` and
every ground-truth folder of ``shared/evalvectors`` (checked pixel by pixel against the raw files)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from univs.data.formats import (first_appearance, read_davis, read_mevis, read_prompt_masks, read_refdavis,
                                read_vipseg, read_vspw, read_ytvis_json, write_davis)
from univs.data.types import VideoRecord

from shared_data import EVALVECTORS as VECTORS, REALDATA, requires_shared

pytestmark = requires_shared


def _cases(*kinds: str) -> list[Path]:
    out = []
    for case in sorted(VECTORS.glob("*/case.json")):
        if json.loads(case.read_text())["kind"] in kinds:
            out.append(case.parent)
    return out


def test_davis_bmx_trees_first_frame_annotation():
    ds = read_davis(REALDATA / "davis")
    v = ds.video("bmx-trees")
    assert v.frame_names == ["00000", "00001", "00002", "00003"]
    assert (v.height, v.width) == (480, 854)
    assert v.annotated == [True, False, False, False]
    assert [tr.track_id for tr in v.tracks] == [1, 2]
    raw = np.array(Image.open(REALDATA / "davis/Annotations/480p/bmx-trees/00000.png"))
    np.testing.assert_array_equal(v.id_map(0, np.uint8), raw)
    assert all(tr.masks[1] is None for tr in v.tracks)
    assert v.frames is not None and len(v.frames) == 4
    frame = v.frames[3]
    assert frame.shape == (480, 854, 3) and frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, np.asarray(Image.open(REALDATA / "davis/JPEGImages/480p/bmx-trees/00003.jpg")))


def test_davis_real_sequence_writes_back_unchanged(tmp_path):
    write_davis(read_davis(REALDATA / "davis"), tmp_path, split="val")
    src = REALDATA / "davis"
    for p in sorted((src / "JPEGImages/480p/bmx-trees").iterdir()):  # frames copied, not re-encoded
        assert (tmp_path / "JPEGImages/480p/bmx-trees" / p.name).read_bytes() == p.read_bytes()
    assert sorted(p.name for p in (tmp_path / "Annotations/480p/bmx-trees").iterdir()) == ["00000.png"]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "Annotations/480p/bmx-trees/00000.png")),
                                  np.array(Image.open(src / "Annotations/480p/bmx-trees/00000.png")))
    assert read_davis(tmp_path, split="val").video("bmx-trees").annotated == [True, False, False, False]


def test_judo_prompt_masks_introduce_objects_late():
    names = sorted(p.stem for p in (REALDATA / "judo/images").glob("*.jpg"))
    assert len(names) == 16
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prompts = read_prompt_masks(REALDATA / "judo/masks", (480, 854), frame_names=names)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "00005.png" in messages[0] and "853x480" in messages[0]
    assert [(p.frame, p.obj_id) for p in prompts] == [(0, 1), (5, 2), (8, 3), (13, 4)]
    assert first_appearance(prompts) == {1: 0, 2: 5, 3: 8, 4: 13}
    assert all(p.mask.shape == (480, 854) and p.mask.any() for p in prompts)
    narrow = np.array(Image.open(REALDATA / "judo/masks/00005.png")) == 2
    obj2 = prompts[1].mask
    assert abs(int(obj2.sum()) - int(narrow.sum())) <= 480  # nearest-neighbour repeats one column at most
    differ = np.flatnonzero((obj2[:, :853] != narrow).any(axis=0))
    d = int(differ[0]) if differ.size else 853  # nearest-neighbour widening repeats one column
    assert any(np.array_equal(np.delete(obj2, c, axis=1), narrow) for c in (d - 1, d) if 0 <= c < 854)


def _check_palette_case(v: VideoRecord, ann_dir: Path) -> None:
    for t, name in enumerate(v.frame_names):
        raw = np.array(Image.open(ann_dir / f"{name}.png"))
        got = v.id_map(t, np.uint8)
        if v.void is not None and v.void[t] is not None:
            got[mask_utils.decode(v.void[t]).astype(bool)] = 255
        np.testing.assert_array_equal(got, raw, err_msg=f"{ann_dir.name} frame {name}")


@pytest.mark.parametrize("case", _cases("davis"), ids=lambda p: p.name)
def test_evalvectors_davis_gt(case):
    ds = read_davis(case / "gt", split="val")
    assert [v.name for v in ds] == (case / "gt/ImageSets/2017/val.txt").read_text().split()
    for v in ds:
        assert v.annotated is None and v.frames is not None
        _check_palette_case(v, case / "gt/Annotations/480p" / v.name)


@pytest.mark.parametrize("case", _cases("refdavis"), ids=lambda p: p.name)
def test_evalvectors_refdavis_gt(case):
    ds = read_refdavis(case / "gt", split="val")
    info = json.loads((case / "case.json").read_text())["info"]
    for v in ds:
        assert [tr.track_id for tr in v.tracks] == info[v.name]["ids"]
        assert v.expressions == []
        _check_palette_case(v, case / "gt/Annotations_unsupervised/480p" / v.name)


@pytest.mark.parametrize("case", _cases("ytvis"), ids=lambda p: p.name)
def test_evalvectors_ytvis_gt(case):
    gt = json.loads((case / "gt.json").read_text())
    ds = read_ytvis_json(case / "gt.json")
    assert [v.video_id for v in ds] == [v["id"] for v in gt["videos"]]
    tracks = {tr.track_id: (v, tr) for v in ds for tr in v.tracks}
    assert sorted(tracks) == sorted(a["id"] for a in gt["annotations"])
    for a in gt["annotations"]:
        v, tr = tracks[a["id"]]
        assert (v.video_id, tr.category_id, tr.iscrowd) == (a["video_id"], a["category_id"], bool(a["iscrowd"]))
        for t, seg in enumerate(a["segmentations"]):
            if seg is None:
                assert tr.masks[t] is None
                continue
            want = mask_utils.decode(mask_utils.frPyObjects(seg, *seg["size"]) if isinstance(seg["counts"], list)
                                     else seg)
            np.testing.assert_array_equal(tr.mask(t), want.astype(bool))
            if a["areas"][t] is not None:
                assert tr.areas()[t] == a["areas"][t]
    assert {c["id"]: c["name"] for c in gt["categories"]} == {k: c.name for k, c in ds.categories.items()}


@pytest.mark.parametrize("case", _cases("vipseg"), ids=lambda p: p.name)
def test_evalvectors_vipseg_gt(case):
    gt = json.loads((case / "gt/panoptic_gt.json").read_text())
    ds = read_vipseg(case / "gt")
    cats = {c["id"]: bool(c["isthing"]) for c in gt["categories"]}
    for entry, ann in zip(gt["videos"], gt["annotations"]):
        v = ds.video(str(entry["video_id"]))
        for t, frame in enumerate(ann["annotations"]):
            fname = frame.get("file_name", entry["images"][t]["file_name"])
            rgb = np.asarray(Image.open(case / "gt/panomasks" / v.name / fname), dtype=np.uint32)
            raw = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
            np.testing.assert_array_equal(v.id_map(t, np.uint32), raw)
            for s in frame["segments_info"]:
                tr = v.track(s["id"])
                assert (tr.category_id, tr.isthing, tr.iscrowd) == (s["category_id"], cats[s["category_id"]],
                                                                    bool(s["iscrowd"]))
                assert tr.areas()[t] == s["area"]
    if len(cats) == 124:
        assert ds.categories[60].name == "person" and ds.categories[60].isthing


@pytest.mark.parametrize("case", _cases("vspw"), ids=lambda p: p.name)
def test_evalvectors_vspw_gt(case):
    ds = read_vspw(case / "gt", split="val")
    assert [v.name for v in ds] == (case / "gt/val.txt").read_text().splitlines()
    for v in ds:
        assert all(tr.track_id == tr.category_id for tr in v.tracks)
        for t, name in enumerate(v.frame_names):
            raw = np.array(Image.open(case / "gt/data" / v.name / "mask" / f"{name}.png"))
            got = v.id_map(t, np.uint8)
            if v.void is not None and v.void[t] is not None:
                got[mask_utils.decode(v.void[t]).astype(bool)] = 255
            np.testing.assert_array_equal(got, raw)
    assert ds.categories[14].name == "floor"  # VSPW value 14 = VIPSeg class 13


@pytest.mark.parametrize("case", _cases("mevis"), ids=lambda p: p.name)
def test_evalvectors_mevis_gt(case):
    meta = json.loads((case / "gt/meta_expressions.json").read_text())["videos"]
    masks = json.loads((case / "gt/mask_dict.json").read_text())
    ds = read_mevis(case / "gt", split=None)
    for name, entry in meta.items():
        v = ds.video(name)
        assert v.frame_names == entry["frames"] and v.video_id == entry["vid_id"]
        for e, (exp_id, raw) in zip(v.expressions, entry["expressions"].items()):
            assert (e.exp_id, e.text, e.track_ids) == (exp_id, raw["exp"], [o + 1 for o in raw["obj_id"]])
            for t in range(len(v)):
                want = np.zeros((v.height, v.width), bool)
                for a in raw["anno_id"]:
                    if masks[str(a)][t] is not None:
                        want |= mask_utils.decode(masks[str(a)][t]).astype(bool)
                got = np.zeros_like(want)
                for tid in e.track_ids:
                    m = v.track(tid).mask(t)
                    if m is not None:
                        got |= m
                np.testing.assert_array_equal(got, want)
