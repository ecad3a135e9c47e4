"""Checked COCO RLE: parsing compressed counts, validation, JSON serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from univs.data.formats.rle import (polygons_to_rle, rle_area, rle_bbox, rle_from_json, rle_to_json,
                                    string_runs)
from univs.data.types import decode_mask, encode_mask
from univs.errors import InputError


def _runs(mask: np.ndarray) -> list[int]:
    """Column-major run lengths starting with zeros, computed the slow obvious way."""
    flat = mask.flatten(order="F").astype(int)
    runs, current, n = [], 0, 0
    for v in flat:
        if v != current:
            runs.append(n)
            current, n = v, 0
        n += 1
    runs.append(n)
    return runs


@pytest.mark.parametrize("seed", range(6))
def test_string_runs_match_the_mask(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 40, size=2)
    mask = rng.random((h, w)) < rng.uniform(0.05, 0.95)
    if seed == 0:
        mask[:] = False
    if seed == 1:
        mask[:] = True
    rle = encode_mask(mask)
    assert string_runs(rle["counts"]).tolist() == _runs(mask)
    js = rle_to_json(rle, compressed=False)
    assert js["counts"] == _runs(mask) and js["size"] == [h, w]
    back = rle_from_json(js, (h, w), "x.json", "entry")
    np.testing.assert_array_equal(decode_mask(back), mask)
    back = rle_from_json(rle_to_json(rle), (h, w), "x.json", "entry")
    assert isinstance(back["counts"], bytes)
    np.testing.assert_array_equal(decode_mask(back), mask)


def test_long_runs_use_multi_group_and_delta_codes():
    mask = np.zeros((300, 400), bool)
    mask[100:250, 10:390] = True
    rle = encode_mask(mask)
    assert string_runs(rle["counts"]).tolist() == _runs(mask)
    assert rle_area(rle) == 150 * 380
    assert rle_bbox(rle) == [10.0, 100.0, 380.0, 150.0]


@pytest.mark.parametrize("obj, problem", [
    ({"size": [4, 5], "counts": [9, 2, 2]}, "cover 13 pixels"),
    ({"size": [4, 5], "counts": [9, -2, 11]}, "non-negative"),
    ({"size": [4, 6], "counts": "92203"}, "does not match the frame size"),
    ({"size": [4, 5], "counts": "92 03"}, "malformed"),
    ({"size": [4, 5], "counts": "9220"}, "cover"),
    ({"size": [4, 5], "counts": "o"}, "malformed"),  # a group that never ends
    ({"size": [4, 5]}, "expected an RLE"),
    ({"size": [4, 5], "counts": 7}, "string or a list"),
    ([[1, 2, 3]], "expected an RLE"),
])
def test_bad_rle_names_file_and_entry(obj, problem):
    with pytest.raises(InputError, match=problem) as e:
        rle_from_json(obj, (4, 5), "gt.json", "annotation 7 frame 2")
    assert "gt.json" in str(e.value) and "annotation 7 frame 2" in str(e.value)


def test_polygons_rasterise_like_pycocotools():
    poly = [[2.0, 2.0, 12.0, 2.0, 12.0, 8.0, 2.0, 8.0]]
    rle = polygons_to_rle(poly, (10, 16), "i.json", "ann")
    want = mask_utils.merge(mask_utils.frPyObjects(poly, 10, 16))
    np.testing.assert_array_equal(decode_mask(rle), decode_mask(want))
    assert rle_area(rle) > 0
    with pytest.raises(InputError, match="polygons"):
        polygons_to_rle([[1, 2, 3]], (10, 16), "i.json", "ann")
