"""Per-target memory pools (arXiv 2402.18115 §3.3 "prompts as queries"; architecture.md §6, §6a).

A target's pool is its *anchor* slot — the tokens of its prompt (or, for a category-guided target,
of the detection that started it) — plus the slots of its last N accepted frames (official N = 5),
each the R tokens the visual sampler drew from the target's own predicted mask on that frame. The
decoder reads the pool as the target's prompt tokens: ProCA attends to all of them and the initial
query is their mean (``PromptTokens.query_mask``). Text targets keep their expression tokens as the
anchor and gain visual slots from their predictions. The pool also keeps the re-id embeddings of
the target's last few accepted frames (official 3), for the consistency gates and BiSoftmax.

Everything here has a fixed bound (1 + N slots, ``reid_frames`` embeddings), so a target's memory
does not grow with the video.
"""

from __future__ import annotations

from collections import deque

import torch
from torch.nn import functional as F

from univs.model.prompt_encoder import append_prompt_tokens, cat_prompt_tokens
from univs.model.types import PromptTokens


class TargetMemory:
    """The bounded memory of one target: anchor slot, last ``slots`` frame slots, last
    ``reid_frames`` re-id embeddings (each (D,), L2-normalised)."""

    def __init__(self, anchor: PromptTokens, slots: int, reid_frames: int):
        if anchor.num_targets != 1:
            raise ValueError(f"a memory anchor holds one target, got {anchor.num_targets}")
        self.anchor = anchor
        self.recent: deque[PromptTokens] = deque(maxlen=slots)
        self.reid: deque[torch.Tensor] = deque(maxlen=max(1, reid_frames))
        self._pool: PromptTokens | None = anchor

    def add_slot(self, tokens: PromptTokens) -> None:
        """A new frame slot (one target, R tokens); the oldest leaves when the pool is full."""
        self.recent.append(tokens)
        self._pool = None

    def forget_recent(self) -> None:
        """Drop the recent slots and embeddings; the anchor stays (the target re-grounds on it)."""
        self.recent.clear()
        self.reid.clear()
        self._pool = self.anchor

    def add_embedding(self, embedding: torch.Tensor) -> None:
        """Remember a re-id embedding (D,) of an accepted frame."""
        self.reid.append(F.normalize(embedding.detach().float(), dim=-1))

    def pool(self) -> PromptTokens:
        """(1, L, D) the anchor and the recent slots, the tokens ProCA reads."""
        if self._pool is None:
            pool = self.anchor
            if self.recent:
                pool = append_prompt_tokens(pool, cat_slots(list(self.recent)))
            self._pool = pool
        return self._pool

    def similarity(self, embedding: torch.Tensor) -> float:
        """Temporally weighted cosine similarity of ``embedding`` (D,) to the remembered embeddings:
        the k-th oldest of n weighs k / (1 + … + n), so recent frames count most. 1.0 with none."""
        if not self.reid:
            return 1.0
        history = torch.stack(list(self.reid))
        weights = torch.arange(1, len(history) + 1, dtype=history.dtype, device=history.device)
        cos = history @ F.normalize(embedding.float(), dim=-1).to(history.device)
        return float((cos * weights).sum() / weights.sum())

    def history(self) -> torch.Tensor:
        """(F, D) the remembered embeddings, oldest first (F ≥ 1 once the target was seen)."""
        return torch.stack(list(self.reid))


def cat_slots(slots: list[PromptTokens]) -> PromptTokens:
    """Several one-target slots joined along L into one slot (query masks kept)."""
    pool = slots[0]
    for slot in slots[1:]:
        pool = append_prompt_tokens(pool, slot)
    return pool


def batch_pools(memories: list[TargetMemory]) -> PromptTokens | None:
    """The pools of K targets as one PromptTokens (K, L_max, D) for the decoder, None for K = 0."""
    if not memories:
        return None
    return cat_prompt_tokens([m.pool() for m in memories])
