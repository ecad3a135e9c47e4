"""Referring expressions of the synthetic world, each true of exactly one object of its video.

A description is a *query* over :class:`ObjectFacts`: attribute equalities (``shape``, ``colour``,
``texture``, ``motion``, ``direction``, ``event``), an optional ``relation`` to another object
(``left_of``, ``right_of``, ``behind``, ``in_front_of``) and an optional superlative ``extreme``
(``largest``, ``smallest``, ``leftmost``, ``rightmost``) taken among the objects the rest of the
query selects. :func:`matches` evaluates a query on a video's objects; only queries that select
their target alone are worded. Wordings are composed from paraphrase lists, so every description
comes in several forms. Spatial words use the frame's left/right, which a horizontal flip swaps
(the training augmentation swaps them in the text too).
"""

from __future__ import annotations

import numpy as np

from univs.data.synth.facts import ObjectFacts

POSITION_MARGIN = 0.1  # left/right decisions need this gap in mean x (fraction of the width)
SIZE_RATIO = 1.3  # largest/smallest need this ratio to the runner-up
ATTRIBUTES = ("shape", "colour", "texture", "motion", "direction", "event")
LEFT_RIGHT = {"leftmost", "rightmost", "left_of", "right_of", "left", "right"}
GROUPS = ("static", "spatial", "dynamic")
"""``static`` descriptions hold on every single frame (used for image datasets); ``spatial`` and
``dynamic`` ones depend on positions and sizes over the video or on motion."""

_NOUNS = ("object", "shape", "thing")
_EXTREME = {"largest": (["largest", "biggest"], []), "smallest": (["smallest", "tiniest"], []),
            "leftmost": (["leftmost"], ["on the far left", "furthest to the left"]),
            "rightmost": (["rightmost"], ["on the far right", "furthest to the right"])}
_EXTREME_OF_KIND = {"leftmost": (["left", "leftmost"], ["on the left"]),
                    "rightmost": (["right", "rightmost"], ["on the right"])}
_MOTION = {"rotate": (["spinning", "rotating"], ["that keeps turning"]), "grow": (["growing"], ["that gets bigger"]),
           "shrink": (["shrinking"], ["that gets smaller"]), "bounce": (["bouncing"], ["that bounces back"]),
           "accelerate": (["accelerating"], ["that speeds up"])}
_TEXTURE = {"solid": (["plain"], ["in a single colour"]), "stripes": (["striped"], ["with stripes"]),
            "dots": (["dotted"], ["with dots"]), "gradient": (["shaded"], ["with a gradient"]),
            "checker": (["checkered"], ["with a checker pattern"])}
_DIRECTION = {"left": ["moving left", "that moves to the left", "heading left"],
              "right": ["moving right", "that moves to the right", "heading right"],
              "up": ["moving up", "that moves upwards", "heading up"],
              "down": ["moving down", "that moves downwards", "heading down"]}
_EVENT = {"enters": ["that enters the scene", "coming into view", "that comes into the frame"],
          "leaves": ["that leaves the scene", "that goes out of view", "that exits the frame"],
          "returns": ["that leaves and comes back", "that disappears and returns",
                      "that goes out of view and comes back"],
          "appears": ["that appears later", "that shows up mid-video", "that suddenly appears"]}
_RELATION = {"left_of": ["to the left of {}", "left of {}", "on the left side of {}"],
             "right_of": ["to the right of {}", "right of {}", "on the right side of {}"],
             "behind": ["behind {}", "hidden by {}", "that passes behind {}"],
             "in_front_of": ["in front of {}", "that passes in front of {}", "that covers {}"]}


# --------------------------------------------------------------------------- truth


def _has(o: ObjectFacts, key: str, value: object) -> bool:
    return value in o.events if key == "event" else getattr(o, key) == value


def _related(o: ObjectFacts, rel: str, ref: ObjectFacts) -> bool:
    if rel == "left_of":
        return o.cx + POSITION_MARGIN <= ref.cx
    if rel == "right_of":
        return o.cx >= ref.cx + POSITION_MARGIN
    if rel == "behind":
        return ref.track_id in o.occluders
    return o.track_id in ref.occluders  # in_front_of


def _extreme(o: ObjectFacts, kind: str, pool: list[ObjectFacts]) -> bool:
    others = [p for p in pool if p is not o]
    if not others:
        return False
    if kind == "largest":
        return o.size >= SIZE_RATIO * max(p.size for p in others)
    if kind == "smallest":
        return o.size * SIZE_RATIO <= min(p.size for p in others)
    if kind == "leftmost":
        return o.cx + POSITION_MARGIN <= min(p.cx for p in others)
    return o.cx >= max(p.cx for p in others) + POSITION_MARGIN  # rightmost


def matches(query: dict, objects: list[ObjectFacts]) -> list[int]:
    """Track ids of the objects ``query`` is true of."""
    pool = [o for o in objects if all(_has(o, k, v) for k, v in query.items() if k in ATTRIBUTES)]
    if "relation" in query:
        rel, ref_id = query["relation"]
        ref = next(o for o in objects if o.track_id == ref_id)
        pool = [o for o in pool if o is not ref and _related(o, rel, ref)]
    if "extreme" in query:
        pool = [o for o in pool if _extreme(o, query["extreme"], pool)]
    return [o.track_id for o in pool]


def _static_queries(o: ObjectFacts) -> list[dict]:
    return [{"colour": o.colour, "shape": o.shape}, {"shape": o.shape}, {"colour": o.colour},
            {"texture": o.texture, "shape": o.shape}, {"texture": o.texture, "colour": o.colour}]


def _candidates(o: ObjectFacts, objects: list[ObjectFacts]) -> dict[str, list[dict]]:
    """Every query of each group that singles out ``o``."""
    same_shape = sum(p.shape == o.shape for p in objects) >= 2
    spatial: list[dict] = [{"extreme": e} for e in _EXTREME]
    if same_shape:
        spatial += [{"shape": o.shape, "extreme": e} for e in _EXTREME]
    for ref in objects:
        if ref is not o and _unique_static(ref, objects) is not None:
            spatial += [{"shape": o.shape, "relation": [rel, ref.track_id]} for rel in _RELATION]
    dynamic: list[dict] = []
    if o.direction is not None:
        dynamic += [{"direction": o.direction}, {"direction": o.direction, "shape": o.shape}]
    if o.motion in _MOTION:
        dynamic += [{"motion": o.motion}, {"motion": o.motion, "shape": o.shape}]
    for ev in sorted(o.events):
        dynamic += [{"event": ev}, {"event": ev, "shape": o.shape}]
    groups = {"static": _static_queries(o), "spatial": spatial, "dynamic": dynamic}
    return {g: [q for q in qs if matches(q, objects) == [o.track_id]] for g, qs in groups.items()}


def _unique_static(o: ObjectFacts, objects: list[ObjectFacts]) -> dict | None:
    """The first static query that names ``o`` alone (used to name a reference object)."""
    return next((q for q in _static_queries(o)[:4] if matches(q, objects) == [o.track_id]), None)


# --------------------------------------------------------------------------- wording


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def word(query: dict, objects: list[ObjectFacts], rng: np.random.Generator) -> str:
    """One wording of ``query`` (random choices from ``rng``)."""
    pre: list[str] = []
    post: list[str] = []
    adjectives = []  # (before-noun words, after-noun phrases) of each attribute, in adjective order
    if "extreme" in query:
        table = _EXTREME_OF_KIND if "shape" in query and query["extreme"] in _EXTREME_OF_KIND else _EXTREME
        adjectives.append(table[query["extreme"]])
    if "motion" in query:
        adjectives.append(_MOTION[query["motion"]])
    if "texture" in query:
        adjectives.append(_TEXTURE[query["texture"]])
    if "colour" in query:
        adjectives.append(([query["colour"]], [f"in {query['colour']}", f"coloured {query['colour']}"]))
    after = int(rng.integers(-1, len(adjectives)))  # at most one attribute goes after the noun
    for k, (before, behind) in enumerate(adjectives):
        if k == after and behind:
            post.append(_pick(rng, behind))
        else:
            pre.append(_pick(rng, before))
    if "direction" in query:
        post.append(_pick(rng, _DIRECTION[query["direction"]]))
    if "event" in query:
        post.append(_pick(rng, _EVENT[query["event"]]))
    if "relation" in query:
        rel, ref_id = query["relation"]
        ref = next(o for o in objects if o.track_id == ref_id)
        post.append(_pick(rng, _RELATION[rel]).format(_reference(ref, objects)))
    if "shape" in query:
        shape = query["shape"]
        noun = shape if pre or post else _pick(rng, [shape, f"{shape} shape", f"{shape}-shaped object"])
    else:
        noun = _pick(rng, list(_NOUNS))
    return " ".join(["the", *pre, noun, *post])


def _reference(ref: ObjectFacts, objects: list[ObjectFacts]) -> str:
    """A fixed short wording of a reference object ("the red circle")."""
    q = _unique_static(ref, objects)
    words = [_TEXTURE[q["texture"]][0][0]] if "texture" in q else []
    words += [q["colour"]] if "colour" in q else []
    return " ".join(["the", *words, q.get("shape", "object")])


def _mentions_left_right(query: dict) -> bool:
    return bool(LEFT_RIGHT & {query.get("extreme"), query.get("direction"), (query.get("relation") or [None])[0]})


def describe_video(objects: list[ObjectFacts], rng: np.random.Generator, per_object: int,
                   paraphrases: int) -> list[tuple[str, int, str, dict]]:
    """``(text, track_id, group, query)`` for the objects of one video: up to ``per_object``
    descriptions each (one per group first, groups in random order), ``paraphrases`` wordings of
    each; at least one left/right description per video when any exists."""
    chosen: list[tuple[int, str, dict]] = []
    left_right: list[tuple[int, str, dict]] = []
    for o in objects:
        cands = _candidates(o, objects)
        queues = {g: [cands[g][int(k)] for k in rng.permutation(len(cands[g]))] for g in GROUPS}
        left_right += [(o.track_id, g, q) for g in GROUPS for q in queues[g] if _mentions_left_right(q)]
        order = [GROUPS[int(k)] for k in rng.permutation(len(GROUPS))]
        picked: list[tuple[int, str, dict]] = []
        while len(picked) < per_object and any(queues[g] for g in order):
            for g in order:
                if queues[g] and len(picked) < per_object:
                    picked.append((o.track_id, g, queues[g].pop(0)))
        chosen += picked
    if left_right and not any(_mentions_left_right(q) for _, _, q in chosen):
        chosen.append(left_right[0])
    out: list[tuple[str, int, str, dict]] = []
    used: set[str] = set()
    for track_id, group, query in sorted(chosen, key=lambda c: c[0]):
        texts: list[str] = []
        for _ in range(8 * paraphrases):
            text = word(query, objects, rng)
            if text not in used and text not in texts:
                texts.append(text)
            if len(texts) == paraphrases:
                break
        used.update(texts)
        out += [(text, track_id, group, query) for text in texts]
    return out
