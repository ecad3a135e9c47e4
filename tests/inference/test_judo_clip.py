"""The real judo clip (``realdata/judo``: 16 frames of 854×480, mask prompts introducing objects 1–4
on frames 0, 5, 8 and 13; ``masks/00005.png`` is one pixel narrower than the frames). The model was
never trained on it: these tests check that real inputs are read, resized with a warning and
prompted on the right frames, and that the outputs are at the frames' size."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import REALDATA, requires_shared

from univs.cli import main
from univs.data.formats import read_prompt_masks
from univs.data.formats.common import read_index_png
from univs.data.video import open_video
from univs.inference import VideoSegmenter

JUDO = REALDATA / "judo"
INTRODUCED = {1: 0, 2: 5, 3: 8, 4: 13}

pytestmark = requires_shared


def test_judo_from_the_command_line(overfit, tmp_path):
    out = tmp_path / "pred"
    with pytest.warns(UserWarning, match="00005.png: prompt mask is 853x480 \\(WxH\\), frames are 854x480"):
        code = main(["segment", str(JUDO / "images"), "--task", "vos", "--mask", str(JUDO / "masks"),
                     "--checkpoint", str(overfit.checkpoint), "--short-side", "96", "--out", str(out), "--quiet"])
    assert code == 0
    with pytest.warns(UserWarning, match="853x480"):
        prompts = {(p.frame, p.obj_id): p.mask for p in read_prompt_masks(JUDO / "masks", (480, 854))}
    for t in range(16):
        ids = read_index_png(out / "images" / f"{t:05d}.png")
        assert ids.shape == (480, 854)
        assert set(np.unique(ids)) - {0} <= {k for k, f in INTRODUCED.items() if f <= t}
        for k, f in INTRODUCED.items():
            if f == t:  # a mask prompt is the target's mask on its own frame
                assert ((ids == k) == prompts[(t, k)]).all()


def test_judo_session_resizes_an_off_by_one_mask(overfit):
    seg = VideoSegmenter(overfit.model, device="cpu")
    mask = read_index_png(JUDO / "masks" / "00005.png") == 2
    assert mask.shape == (480, 853)
    with seg.session(open_video(JUDO / "images")) as s:
        with pytest.warns(UserWarning, match="mask prompt on frame 5 is 853x480 \\(WxH\\), frames are 854x480"):
            s.add_prompt(frame=5, obj_id=2, mask=mask)
        (t, result), = list(s.propagate(start=5, end=6))
    assert t == 5 and result.obj_ids == [2] and result.masks.shape == (1, 480, 854)
    assert result.masks[0, :, :853].sum() == mask.sum() and result.masks[0, :, 853].sum() == mask[:, 852].sum()
