"""The synthetic world: determinism, exact panoptic masks, forced events, camera pan, unique
referring expressions (re-checked by this file's own predicate logic), task views and the CLI."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from univs.data.formats import FORMAT_NAMES, FORMAT_TASK, read_format
from univs.data.synth import SynthConfig, generate_video, generate_world, task_view
from univs.data.synth.categories import COLOURS, STUFF_TRACK_OFFSET
from univs.data.synth.cli import run_synth
from univs.data.synth.shapes import CIRCUMRADIUS, shape_mask
from univs.data.types import decode_mask
from univs.errors import InputError

CFG = SynthConfig(videos=4, frames=24, size=(120, 160), seed=0)
MARGIN, RATIO = 0.1, 1.3  # the documented left/right margin and size ratio of the expressions


@pytest.fixture(scope="module")
def world():
    return generate_world(CFG)


def masks(video, t):
    return {tr.track_id: tr.mask(t) for tr in video.tracks if tr.masks[t] is not None}


def objects(world, video):
    return {o["track_id"]: o for o in world.meta["objects"][video.name]}


def amodal(world, video, tid, t):
    rle = world.meta["amodal"][video.name][tid][t]
    return None if rle is None else decode_mask(rle)


# --------------------------------------------------------------------------- determinism, labels


def test_same_seed_same_bytes_and_independent_of_count():
    a, _ = generate_video(CFG, 1)
    b = generate_world(dataclasses.replace(CFG, videos=2)).videos[1]
    c, _ = generate_video(dataclasses.replace(CFG, seed=1), 1)
    for t in range(CFG.frames):
        np.testing.assert_array_equal(a.frames[t], b.frames[t])
    assert [(tr.track_id, tr.masks) for tr in a.tracks] == [(tr.track_id, tr.masks) for tr in b.tracks]
    assert [e.text for e in a.expressions] == [e.text for e in b.expressions]
    assert not np.array_equal(a.frames[0], c.frames[0])


def test_categories(world):
    cats = world.categories.values()
    assert sum(c.isthing for c in cats) >= 10 and sum(not c.isthing for c in cats) >= 5
    assert len({c.name for c in cats}) == len(world.categories)
    assert all(1 <= c.id <= 124 for c in cats)


def test_shapes_are_distinct_exact_masks():
    seen = []
    for shape in [c.name for c in generate_world(dataclasses.replace(CFG, videos=1)).categories.values() if c.isthing]:
        m, y0, x0 = shape_mask(shape, 40.3, 40.7, 20.0, 0.4)
        ys, xs = np.nonzero(m)
        assert m.dtype == bool and m.sum() > 300
        assert np.hypot(xs + x0 - 40.3, ys + y0 - 40.7).max() <= CIRCUMRADIUS * 20 + 1
        assert all(not np.array_equal(m, other) for other in seen)
        seen.append(m)


def test_panoptic_cover_and_track_ids(world):
    for v in world:
        K = sum(tr.isthing for tr in v.tracks)
        assert [tr.track_id for tr in v.tracks if tr.isthing] == list(range(1, K + 1))
        assert all(tr.track_id == STUFF_TRACK_OFFSET + tr.category_id for tr in v.tracks if not tr.isthing)
        firsts = [tr.present_frames()[0] for tr in v.tracks if tr.isthing]
        assert firsts == sorted(firsts)  # ids in order of first appearance
        for t in range(len(v)):
            count = sum(m.astype(np.int32) for m in masks(v, t).values())
            assert count.shape == (v.height, v.width) and np.all(count == 1)


def test_masks_are_exact(world):
    """Visible = amodal minus nearer objects' amodal; a plain object's visible pixels are its colour."""
    for v in world:
        objs = objects(world, v)
        for t in range(len(v)):
            for tid, o in objs.items():
                full = amodal(world, v, tid, t)
                vis = v.track(tid).mask(t)
                if full is None:
                    assert vis is None
                    continue
                nearer = [amodal(world, v, j, t) for j, p in objs.items() if p["depth"] > o["depth"]]
                want = full & ~np.any([m for m in nearer if m is not None] or [np.zeros_like(full)], axis=0)
                np.testing.assert_array_equal(vis if vis is not None else np.zeros_like(full), want)
                if o["texture"] == "solid" and vis is not None:
                    assert np.all(v.frames[t][vis] == COLOURS[o["colour"]])


# --------------------------------------------------------------------------- events


def test_occlusion_partial_and_full(world):
    for v in world:
        objs = objects(world, v)
        partial = full = False
        for tid, o in objs.items():
            for t in range(len(v)):
                a = amodal(world, v, tid, t)
                if a is None:
                    continue
                vis = v.track(tid).mask(t)
                hidden = a & ~(vis if vis is not None else np.zeros_like(a))
                if hidden.any():
                    ids = v.id_map(t)[hidden]
                    assert all(objs[int(j)]["depth"] > o["depth"] for j in np.unique(ids))
                    partial |= vis is not None
                    full |= vis is None
        assert partial and full, v.name


def test_entry_exit_reentry_and_late_appearance(world):
    for v in world:
        objs = objects(world, v)
        kinds = set()
        for tid, o in objs.items():
            inside = [amodal(world, v, tid, t) is not None for t in range(len(v))]
            exists = [o["appear_frame"] is None or t >= o["appear_frame"] for t in range(len(v))]
            ins = [t for t in range(1, len(v)) if inside[t] and not inside[t - 1] and exists[t - 1]]
            outs = [t for t in range(1, len(v)) if inside[t - 1] and not inside[t]]
            assert (ins, outs) == (o["entries"], o["exits"])
            if ins:
                kinds.add("entry")
            if outs:
                kinds.add("exit")
            if any(t > e for t in ins for e in outs):
                kinds.add("reentry")
            if o["appear_frame"] is not None and inside[o["appear_frame"]]:
                assert v.track(tid).present_frames()[0] >= o["appear_frame"] > 0
                kinds.add("appear")
        assert kinds == {"entry", "exit", "reentry", "appear"}, v.name


def test_camera_pans_stuff_and_world_fixed_things(world):
    for v in world:
        cam = np.array(world.meta["camera"][v.name])
        assert tuple(cam[-1]) != tuple(cam[0])
        stuff = [sum(np.where(m, tid, 0) for tid, m in masks(v, t).items() if tid > STUFF_TRACK_OFFSET)
                 for t in (0, len(v) - 1)]
        dx, dy = cam[-1] - cam[0]
        H, W = v.height, v.width
        a = stuff[0][max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)]
        b = stuff[1][max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
        both = (a > 0) & (b > 0)
        assert both.mean() > 0.3 and np.array_equal(a[both], b[both])


def test_motion_types_move_as_named(world):
    seen = set()
    for v in world:
        drift = np.array(world.meta["camera"][v.name], float)
        drift -= drift[0]
        for tid, o in objects(world, v).items():
            scene = np.array(o["centres"]) + drift  # path in scene coordinates
            step = np.diff(scene, axis=0)
            speed = np.hypot(*step.T)
            seen.add(o["motion"])
            if o["motion"] in ("static", "rotate", "grow", "shrink"):
                assert np.allclose(speed, 0, atol=1e-6), (v.name, tid)
            if o["motion"] == "linear":
                assert np.abs(np.diff(step, axis=0)).max() <= 1.01
            if o["motion"] == "accelerate":
                assert speed[-1] > 2 * speed[0] + 1
            if o["motion"] in ("grow", "shrink"):
                areas = [m.sum() for t in range(len(v)) if (m := amodal(world, v, tid, t)) is not None]
                assert (areas[-1] > areas[0]) == (o["motion"] == "grow")
    assert {"linear", "bounce", "rotate", "accelerate"} <= seen and seen & {"grow", "shrink"}


# --------------------------------------------------------------------------- expressions


def _own_facts(world, v) -> dict[int, dict]:
    """Facts measured here from the masks (position, occluders, events) plus the drawn attributes."""
    out = {}
    for tid, o in objects(world, v).items():
        tr = v.track(tid)
        xs = [np.nonzero(tr.mask(t))[1].mean() / v.width for t in tr.present_frames()]
        occluders = set()
        for t in range(len(v)):
            a = amodal(world, v, tid, t)
            if a is not None:
                occluders |= set(np.unique(v.id_map(t)[a]).tolist()) - {tid}
        events = set()
        if o["reentries"]:
            events.add("returns")
        else:
            events |= {"enters"} if o["entries"] else set()
            events |= {"leaves"} if o["exits"] else set()
        if o["appear_frame"] is not None:
            events.add("appears")
        out[tid] = dict(o, cx=float(np.mean(xs)), occluders=occluders, events=events)
    return out


def _select(query: dict, facts: dict[int, dict]) -> list[int]:
    pool = []
    for tid, f in facts.items():
        ok = all(query[k] == f[k] for k in ("shape", "colour", "texture", "motion", "direction") if k in query)
        if "event" in query:
            ok &= query["event"] in f["events"]
        if "relation" in query:
            rel, ref = query["relation"]
            r = facts[ref]
            ok &= tid != ref and {"left_of": f["cx"] + MARGIN <= r["cx"], "right_of": f["cx"] >= r["cx"] + MARGIN,
                                  "behind": ref in f["occluders"], "in_front_of": tid in r["occluders"]}[rel]
        if ok:
            pool.append(tid)
    if "extreme" in query:
        def best(tid):
            rest = [facts[j] for j in pool if j != tid]
            f = facts[tid]
            return bool(rest) and {
                "largest": f["size"] >= RATIO * max(r["size"] for r in rest),
                "smallest": f["size"] * RATIO <= min(r["size"] for r in rest),
                "leftmost": f["cx"] + MARGIN <= min(r["cx"] for r in rest),
                "rightmost": f["cx"] >= max(r["cx"] for r in rest) + MARGIN}[query["extreme"]]
        pool = [tid for tid in pool if best(tid)]
    return pool


def test_expressions_single_out_their_object(world):
    left_right = 0
    for v in world:
        facts = _own_facts(world, v)
        meta = world.meta["expressions"][v.name]
        wordings = defaultdict(set)
        assert [e.exp_id for e in v.expressions] == [str(k) for k in range(len(v.expressions))]
        assert len({e.text for e in v.expressions}) == len(v.expressions)
        for e in v.expressions:
            query = meta[e.exp_id]["query"]
            assert _select(query, facts) == e.track_ids, (v.name, e.text, query)
            for key in ("shape", "colour"):
                assert key not in query or query[key] in e.text
            lr = query.get("extreme") in ("leftmost", "rightmost") or query.get("direction") in ("left", "right") \
                or (query.get("relation") or [""])[0] in ("left_of", "right_of")
            assert lr == ("left" in e.text or "right" in e.text), e.text
            left_right += lr
            wordings[(e.track_ids[0], json.dumps(query, sort_keys=True))].add(e.text)
        assert all(len(w) >= 2 for w in wordings.values())  # paraphrases
        assert {tid for tid, _ in wordings} == set(facts)  # every object is described
    assert left_right > 0


# --------------------------------------------------------------------------- views and CLI


def test_task_views(world):
    v = world.videos[0]
    K = sum(tr.isthing for tr in v.tracks)
    for task in ("vos", "vis", "refvos"):
        view = task_view(world, task).videos[0]
        assert [tr.track_id for tr in view.tracks] == list(range(1, K + 1))
        assert bool(view.expressions) == (task == "refvos")
    assert all(c.isthing for c in task_view(world, "vis").categories.values())
    assert len(task_view(world, "vps").videos[0].tracks) == len(task_view(world, "pvos").videos[0].tracks) == len(v.tracks)
    vss = task_view(world, "vss").videos[0]
    assert all(tr.track_id == tr.category_id for tr in vss.tracks)
    for tr in vss.tracks:
        want = np.any([t.mask(5) for t in v.tracks if t.category_id == tr.category_id and t.masks[5] is not None]
                      or [np.zeros((v.height, v.width), bool)], axis=0)
        np.testing.assert_array_equal(tr.mask(5) if tr.masks[5] is not None else np.zeros_like(want), want)
    few = task_view(world, "refvos", max_expressions=1).videos[0]
    assert len(few.expressions) == K
    images = task_view(world, "image")
    assert len(images) == 3 * len(world) and images.videos[0].name == f"{v.name}_00000"
    img = images.video(f"{v.name}_{v.frame_names[-1]}")
    assert len(img) == 1 and np.array_equal(img.frames[0], v.frames[len(v) - 1])
    groups = world.meta["expressions"][v.name]
    static = {e.text for e in v.expressions if groups[e.exp_id]["group"] == "static"}
    assert img.expressions and {e.text for e in img.expressions} <= static
    assert all(img.track(e.track_ids[0]).masks[0] is not None for e in img.expressions)
    with pytest.raises(InputError, match="task view"):
        task_view(world, "panoptic")


def test_cli_writes_every_format(tmp_path):
    run_synth(out=tmp_path, videos=2, frames=6, size=(48, 64), seed=3, formats="all",
              overlay=tmp_path / "first.gif", quiet=True)
    world = generate_world(SynthConfig(videos=2, frames=6, size=(48, 64), seed=3))
    summary = json.loads((tmp_path / "world.json").read_text())
    assert summary["config"]["seed"] == 3 and len(summary["videos"]) == 2
    assert summary["videos"][0]["objects"][0]["motion"] == world.meta["objects"]["vid0000"][0]["motion"]
    for name in FORMAT_NAMES:
        back = read_format(name, tmp_path / name)
        n = 6 if FORMAT_TASK[name] == "image" else 2
        assert len(back) == n, name
    davis = read_format("davis", tmp_path / "davis").video("vid0000")
    np.testing.assert_array_equal(davis.track(1).mask(2), world.videos[0].track(1).mask(2))
    with Image.open(tmp_path / "first.gif") as im:
        assert im.n_frames == 6
    with pytest.raises(InputError, match="nosuch"):
        run_synth(out=tmp_path / "x", videos=1, frames=2, size=(48, 64), seed=0, formats="davis,nosuch",
                  overlay=None, quiet=True)
    with pytest.raises(InputError, match="frames"):
        generate_world(SynthConfig(videos=1, frames=0))
