"""Transformer layers of the unified video mask decoder (arXiv 2402.18115 §3.2, after Mask2Former).

Each layer keeps the official parameter names (``multihead_attn`` / ``self_attn`` + ``norm``,
``linear1`` / ``linear2`` + ``norm``, ``mask_embed.layers.N``) so that an official
``sem_seg_head.predictor.*`` tensor maps onto ours by name. All layers are batch-first:
``(N, L, D)`` for N independent sequences of L tokens of width D. Post-norm by default
(the official setting); ``pre_norm=True`` moves the LayerNorm in front of the residual branch.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


class MultiheadAttention(nn.Module):
    """Multi-head attention on batch-first tensors, with ``nn.MultiheadAttention``'s parameters
    (``in_proj_weight`` (3D, D), ``in_proj_bias`` (3D,), ``out_proj``), initialisation and results.

    It projects and attends in the (N, L, D) layout throughout, where ``nn.MultiheadAttention``
    transposes every input to (L, N, D) and back: the copies of the long key sequences (ProCA's
    prompt pools, the image memory) cost as much as the projections on CPU.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor, part: int) -> torch.Tensor:
        """x (N, L, D) → its ``part`` projection (0 query, 1 key, 2 value) as (N, heads, L, D/heads)."""
        d = self.embed_dim
        y = F.linear(x, self.in_proj_weight[part * d:(part + 1) * d], self.in_proj_bias[part * d:(part + 1) * d])
        return y.unflatten(-1, (self.num_heads, d // self.num_heads)).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """query (N, Lq, D), key and value (N, Lk, D) → (N, Lq, D). ``attn_mask`` bool (Lq, Lk) or
        (N·heads, Lq, Lk) (heads fastest), ``key_padding_mask`` bool (N, Lk); True = blocked."""
        n, lq, _ = query.shape
        blocked = None
        if attn_mask is not None:
            blocked = attn_mask if attn_mask.dim() == 2 else attn_mask.view(n, self.num_heads, lq, -1)
        if key_padding_mask is not None:
            padding = key_padding_mask[:, None, None, :]
            blocked = padding if blocked is None else blocked | padding
        out = F.scaled_dot_product_attention(
            self._heads(query, 0), self._heads(key, 1), self._heads(value, 2),
            attn_mask=None if blocked is None else ~blocked, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, self.embed_dim))


class CrossAttentionLayer(nn.Module):
    """Residual cross-attention ``tgt ← norm(tgt + MHA(tgt + query_pos, memory + pos, memory))``.

    Used for ProCA (keys = a target's query and its prompt tokens), the masked per-frame image
    cross-attention and the language-to-vision layer of the text branch.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, pre_norm: bool = False):
        super().__init__()
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, *,
                query_pos: torch.Tensor | None = None, pos: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """tgt (N, Lq, D), memory (N, Lk, D); ``attn_mask`` bool (Lq, Lk) or (N·heads, Lq, Lk),
        ``key_padding_mask`` bool (N, Lk), True = blocked. Returns the updated tgt (N, Lq, D)."""
        query = self.norm(tgt) if self.pre_norm else tgt
        out = self.multihead_attn(_with_pos(query, query_pos), _with_pos(memory, pos), memory,
                                  attn_mask=attn_mask, key_padding_mask=key_padding_mask)
        tgt = tgt + self.dropout(out)
        return tgt if self.pre_norm else self.norm(tgt)


class SelfAttentionLayer(nn.Module):
    """Residual self-attention ``tgt ← norm(tgt + MHA(tgt + pos, tgt + pos, tgt))``."""

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0, pre_norm: bool = False):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, tgt: torch.Tensor, *, query_pos: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tgt, query_pos (N, L, D); ``attn_mask`` bool (L, L) or (N·heads, L, L), True = blocked."""
        x = self.norm(tgt) if self.pre_norm else tgt
        q = _with_pos(x, query_pos)
        out = self.self_attn(q, q, x, attn_mask=attn_mask)
        tgt = tgt + self.dropout(out)
        return tgt if self.pre_norm else self.norm(tgt)


class FFNLayer(nn.Module):
    """Residual feed-forward ``tgt ← norm(tgt + linear2(relu(linear1(tgt))))``."""

    def __init__(self, d_model: int, dim_feedforward: int, dropout: float = 0.0,
                 pre_norm: bool = False):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """tgt (..., D) → (..., D)."""
        x = self.norm(tgt) if self.pre_norm else tgt
        tgt = tgt + self.dropout(self.linear2(self.dropout(F.relu(self.linear1(x)))))
        return tgt if self.pre_norm else self.norm(tgt)


class MLP(nn.Module):
    """``num_layers`` Linear layers with ReLU between them (the mask-embedding head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., input_dim) → (..., output_dim)."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def reset_transformer_parameters(module: nn.Module) -> None:
    """The official predictor initialisation: every Linear ~ trunc-normal(std 0.02) with zero
    bias, LayerNorms at (1, 0); attention input projections keep PyTorch's Xavier init."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
