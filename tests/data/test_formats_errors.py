"""Bad input gives an InputError that names the offending file (never a deep traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from univs.data.formats import (read_format, read_mevis, read_refdavis, read_vipseg, read_vspw, read_ytvis,
                                read_ytvis_results, read_ytvos, write_format)
from univs.data.types import Category, Expression, Track, VideoDataset, VideoRecord, encode_mask
from univs.errors import InputError

H, W = 8, 10


def _dataset(track_id: int = 1) -> VideoDataset:
    m = np.zeros((H, W), bool)
    m[2:5, 3:7] = True
    stuff = ~m
    tracks = [Track(track_id, [encode_mask(m), encode_mask(m)], category_id=1),
              Track(track_id + 1, [encode_mask(stuff), encode_mask(stuff)], category_id=2, isthing=False)]
    frames = np.full((2, H, W, 3), 128, np.uint8)
    v = VideoRecord("clip", ["00000", "00001"], list(frames), H, W, tracks=tracks, video_id=1,
                    expressions=[Expression("0", "the box", [track_id])])
    return VideoDataset("tiny", [v], categories={1: Category(1, "box"), 2: Category(2, "floor", False)})


def _raises(path: Path, fn, *args, match: str = "", **kwargs) -> InputError:
    with pytest.raises(InputError, match=match) as e:
        fn(*args, **kwargs)
    assert str(path) in str(e.value), str(e.value)
    return e.value


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_unknown_format_name():
    with pytest.raises(InputError, match="unknown dataset format 'davsi'"):
        read_format("davsi", "/nowhere")


def test_davis_rgb_png_where_palette_expected(tmp_path):
    write_format("davis", _dataset(), tmp_path)
    png = tmp_path / "Annotations/480p/clip/00001.png"
    Image.open(png).convert("RGB").save(png)
    _raises(png, read_format, "davis", tmp_path, match="mode RGB")


def test_davis_mask_size_differs_from_frame(tmp_path):
    write_format("davis", _dataset(), tmp_path)
    png = tmp_path / "Annotations/480p/clip/00001.png"
    Image.open(png).crop((0, 0, W - 1, H)).save(png)
    _raises(png, read_format, "davis", tmp_path, match="9x8 .* frame is 10x8")
    for p in (tmp_path / "Annotations/480p/clip").iterdir():  # all masks narrower than the JPEGs
        Image.open(p).crop((0, 0, W - 1, H)).save(p)
    _raises(tmp_path / "JPEGImages/480p/clip/00000.jpg", read_format, "davis", tmp_path, match="10x8")


def test_davis_missing_frame(tmp_path):
    write_format("davis", _dataset(), tmp_path)
    (tmp_path / "JPEGImages/480p/clip/00001.jpg").unlink()
    _raises(tmp_path / "Annotations/480p/clip/00001.png", read_format, "davis", tmp_path, match="no image|no frame")


def test_davis_split_file_names_missing_sequence(tmp_path):
    write_format("davis", _dataset(), tmp_path, split="val")
    (tmp_path / "ImageSets/2017/val.txt").write_text("clip\nghost\n")
    _raises(tmp_path / "Annotations/480p/ghost", read_format, "davis", tmp_path, split="val", match="ghost")


def test_palette_writer_refuses_ids_it_cannot_store(tmp_path):
    with pytest.raises(InputError, match="track id 300"):
        write_format("davis", _dataset(track_id=300), tmp_path)


def test_ytvos_malformed_meta_json(tmp_path):
    write_format("ytvos", _dataset(), tmp_path)
    meta = tmp_path / "train/meta.json"
    meta.write_text(meta.read_text()[:-3])
    _raises(meta, read_ytvos, tmp_path, match="malformed JSON")


def test_ytvos_id_in_png_but_not_in_meta(tmp_path):
    write_format("ytvos", _dataset(), tmp_path)
    meta = tmp_path / "train/meta.json"
    _edit_json(meta, lambda d: d["videos"]["clip"]["objects"].pop("2"))
    err = _raises(tmp_path / "train/Annotations/clip/00000.png", read_ytvos, tmp_path, match="id 2 is in the PNG")
    assert "meta.json" in str(err)


def test_ytvis_rle_of_wrong_size(tmp_path):
    write_format("ytvis", _dataset(), tmp_path)
    gt = tmp_path / "train.json"
    _edit_json(gt, lambda d: d["annotations"][0]["segmentations"][1].update(size=[H, W + 1]))
    _raises(gt, read_ytvis, tmp_path, match="annotation 1 frame 1: RLE size")


def test_ytvis_malformed_rle_unknown_video_and_length(tmp_path):
    write_format("ytvis", _dataset(), tmp_path)
    gt = tmp_path / "train.json"
    original = gt.read_text()
    _edit_json(gt, lambda d: d["annotations"][0]["segmentations"].__setitem__(0, {"size": [H, W], "counts": "!!"}))
    _raises(gt, read_ytvis, tmp_path, match="malformed")
    gt.write_text(original)
    _edit_json(gt, lambda d: d["annotations"][1].update(video_id=9))
    _raises(gt, read_ytvis, tmp_path, match="unknown video id 9")
    gt.write_text(original)
    _edit_json(gt, lambda d: d["annotations"][1]["segmentations"].pop())
    _raises(gt, read_ytvis, tmp_path, match="1 segmentations for a video of 2 frames")
    gt.write_text(original)
    (tmp_path / "train/JPEGImages/clip/00001.jpg").unlink()
    _raises(tmp_path / "train/JPEGImages/clip/00001.jpg", read_ytvis, tmp_path, match="missing frame")


def test_ytvis_results_unknown_video(tmp_path):
    write_format("ytvis", _dataset(), tmp_path)
    gt = read_ytvis(tmp_path)
    res = tmp_path / "results.json"
    res.write_text(json.dumps([{"video_id": 5, "category_id": 1, "score": 0.5, "segmentations": [None, None]}]))
    _raises(res, read_ytvis_results, res, gt, match="unknown video id 5")


def test_vipseg_png_and_json_disagree(tmp_path):
    write_format("vipseg", _dataset(), tmp_path)
    gt = tmp_path / "panoptic_gt_VIPSeg_val.json"
    original = gt.read_text()
    _edit_json(gt, lambda d: d["annotations"][0]["annotations"][1]["segments_info"].pop(0))
    _raises(tmp_path / "panomasks/clip/00001.png", read_vipseg, tmp_path, match="in the PNG but not in")
    gt.write_text(original)
    _edit_json(gt, lambda d: d["annotations"][0]["annotations"][0]["segments_info"].append(
        {"id": 77, "category_id": 1, "iscrowd": 0, "area": 3}))
    _raises(tmp_path / "panomasks/clip/00000.png", read_vipseg, tmp_path, match="listed in .* but not in the PNG")
    gt.write_text(original)
    png = tmp_path / "panomasks/clip/00000.png"
    Image.open(png).convert("L").save(png)
    _raises(png, read_vipseg, tmp_path, match="expected an RGB panoptic PNG")


def test_vspw_class_not_in_label_file(tmp_path):
    write_format("vspw", _dataset(), tmp_path)
    png = tmp_path / "data/clip/mask/00000.png"
    arr = np.array(Image.open(png))
    arr[0, 0] = 40
    Image.fromarray(arr, mode="L").save(png)
    _raises(png, read_vspw, tmp_path, match="id 40 is in the PNG but not listed in .*label_num_dic_final")


def test_mevis_unknown_anno_id_and_bad_rle(tmp_path):
    write_format("mevis", _dataset(), tmp_path)
    masks = tmp_path / "train/mask_dict.json"
    original = masks.read_text()
    _edit_json(masks, lambda d: d.pop("0"))
    _raises(masks, read_mevis, tmp_path, match="anno_id 0")
    masks.write_text(original)
    _edit_json(masks, lambda d: d["0"][1].update(counts="zz"))
    _raises(masks, read_mevis, tmp_path, match="anno_id 0 frame 1: malformed")


def test_refdavis_malformed_text_line(tmp_path):
    write_format("refdavis", _dataset(), tmp_path)
    txt = tmp_path / "davis_text_annotations/Davis17_annot1.txt"
    txt.write_text('clip 1 the box without quotes\n')
    _raises(txt, read_refdavis, tmp_path, match="line 1")


def test_viposeg_object_without_class(tmp_path):
    write_format("viposeg", _dataset(), tmp_path)
    cls = tmp_path / "valid/obj_class.json"
    _edit_json(cls, lambda d: d["clip"].pop("1"))
    err = _raises(tmp_path / "valid/Annotations_gt/clip/00000.png", read_format, "viposeg", tmp_path,
                  match="id 1 is in the PNG")
    assert "obj_class.json" in str(err)


def test_missing_dataset_files(tmp_path):
    _raises(tmp_path, read_format, "davis", tmp_path, match="not a DAVIS root")
    _raises(tmp_path / "train/meta.json", read_format, "ytvos", tmp_path, match="missing file")
    _raises(tmp_path / "train.json", read_format, "ytvis", tmp_path, match="missing file")
    _raises(tmp_path, read_format, "vspw", tmp_path, match="not a VSPW root")
