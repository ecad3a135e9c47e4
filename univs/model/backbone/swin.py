"""Swin Transformer backbone (Liu et al. 2021, arXiv 2103.14030) as Mask2Former uses it.

Hierarchical windowed self-attention: a 4×4 patch embedding, four stages of blocks that attend
within non-overlapping ``window``×``window`` windows (every second block shifted by half a
window, with an attention mask for the wrapped-around regions), and 2×2 patch merging between
stages; a LayerNorm ``norm{i}`` on each stage output gives res2..res5 (strides 4..32, channels
C, 2C, 4C, 8C). Inputs of any size: the patch embedding pads to a multiple of 4, every block pads
its input to a multiple of the window (pad tokens are not masked, as in the official detection
Swin) and patch merging pads to even sizes.

Tensor names follow the official checkpoints: ``patch_embed.{proj,norm}``,
``layers.<i>.blocks.<j>.{norm1, attn.{relative_position_bias_table, relative_position_index,
qkv, proj}, norm2, mlp.{fc1, fc2}}``, ``layers.<i>.downsample.{reduction, norm}``, ``norm0..3``.
Swin-T: C=96, depths (2,2,6,2), heads (3,6,12,24), window 7; Swin-B: 128, (2,2,18,2),
(4,8,16,32), window 12; Swin-L: 192, (2,2,18,2), (6,12,24,48), window 12 (architecture.md §2).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from univs.model.attention import reset_transformer_parameters
from univs.model.backbone.base import Backbone
from univs.model.backbone.layers import drop_path

MASK_VALUE = -100.0
"""Logit added between tokens of different regions in shifted windows (official value)."""


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window`` → (B, nW, window², C), windows row-major."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, -1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nW, window², C) → (B, H, W, C)."""
    b, _, _, c = windows.shape
    x = windows.view(b, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def shifted_window_mask(h: int, w: int, window: int, shift: int, device: torch.device) -> torch.Tensor:
    """(nW, window², window²) additive mask for a map of (padded) size h×w shifted by ``shift``:
    0 between tokens that were neighbours before the cyclic shift, ``MASK_VALUE`` otherwise."""
    region = torch.zeros(1, h, w, 1, device=device)
    label = 0
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for hs in bounds:
        for ws in bounds:
            region[:, hs, ws, :] = label
            label += 1
    ids = window_partition(region, window).squeeze(-1).squeeze(0)  # (nW, window²)
    differ = ids[:, None, :] != ids[:, :, None]
    return torch.zeros(differ.shape, device=device).masked_fill(differ, MASK_VALUE)


def relative_position_index(window: int) -> torch.Tensor:
    """(window², window²) long index into the ((2·window−1)², heads) relative-bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    coords = coords.flatten(1)  # (2, window²)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window with a learned relative position bias."""

    def __init__(self, dim: int, window: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, nW, N, C) tokens of nW windows of N = window² tokens; mask (nW, N, N) or None."""
        b, nw, n, c = x.shape
        qkv = self.qkv(x).view(b, nw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(3, 0, 1, 4, 2, 5).unbind(0)  # (B, nW, heads, N, Dh) each
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).to(attn.dtype)
        if mask is not None:
            attn = attn + mask[:, None].to(attn.dtype)
        out = attn.softmax(dim=-1).to(v.dtype) @ v  # (B, nW, heads, N, Dh)
        return self.proj(out.transpose(2, 3).reshape(b, nw, n, c))


class Mlp(nn.Module):
    """fc1 → GELU → fc2."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm (shifted-)window attention and MLP, each a residual with stochastic depth."""

    def __init__(self, dim: int, num_heads: int, window: int, shift: int, drop_path_rate: float,
                 mlp_ratio: float = 4.0):
        super().__init__()
        self.window, self.shift, self.drop_path_rate = window, shift, drop_path_rate
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, H, W, C); mask: the shifted-window mask of the padded size (used when shifted)."""
        b, h, w, c = x.shape
        y = self.norm1(x)
        pad_h, pad_w = -h % self.window, -w % self.window
        y = F.pad(y, (0, 0, 0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), mask if self.shift else None)
        y = window_reverse(y, self.window, hp, wp)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + drop_path(y[:, :h, :w], self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


class PatchMerging(nn.Module):
    """2×2 neighbourhood → one token: concat (4C) → LayerNorm → Linear to 2C (no bias)."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) → (B, ceil(H/2), ceil(W/2), 2C)."""
        h, w = x.shape[1:3]
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    """``depth`` blocks alternating plain and shifted windows, then optional patch merging."""

    def __init__(self, dim: int, depth: int, num_heads: int, window: int, drop_path_rates: list[float],
                 downsample: bool):
        super().__init__()
        self.window = window
        self.blocks = nn.ModuleList([
            SwinBlock(dim, num_heads, window, 0 if j % 2 == 0 else window // 2, drop_path_rates[j])
            for j in range(depth)])
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, H, W, C) → (stage output (B, H, W, C), input of the next stage)."""
        h, w = x.shape[1:3]
        hp, wp = h + (-h % self.window), w + (-w % self.window)
        mask = shifted_window_mask(hp, wp, self.window, self.window // 2, x.device)
        for block in self.blocks:
            x = block(x, mask)
        return x, (x if self.downsample is None else self.downsample(x))


class PatchEmbed(nn.Module):
    """Non-overlapping 4×4 patches → C channels (conv), then LayerNorm."""

    def __init__(self, dim: int, patch: int = 4):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) → (N, ceil(H/4), ceil(W/4), C)."""
        h, w = images.shape[-2:]
        x = F.pad(images, (0, -w % self.patch, 0, -h % self.patch))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinTransformer(Backbone):
    """Swin backbone with output norms; see the module docstring for the presets."""

    def __init__(self, embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (3, 6, 12, 24), window_size: int = 7,
                 drop_path_rate: float = 0.3):
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError(f"Swin needs 4 stages, got depths {depths} and heads {num_heads}")
        dims = [embed_dim * 2 ** i for i in range(4)]
        super().__init__({f"res{i + 2}": d for i, d in enumerate(dims)})
        self.patch_embed = PatchEmbed(embed_dim)
        total = sum(depths)
        rates = [drop_path_rate * k / max(total - 1, 1) for k in range(total)]  # linear in depth
        starts = [sum(depths[:i]) for i in range(4)]
        self.layers = nn.ModuleList([
            SwinStage(dims[i], depths[i], num_heads[i], window_size,
                      rates[starts[i]:starts[i] + depths[i]], downsample=i < 3)
            for i in range(4)])
        for i, d in enumerate(dims):
            self.add_module(f"norm{i}", nn.LayerNorm(d))
        reset_transformer_parameters(self)  # Swin's init: trunc-normal(0.02) Linear, zero bias

    def stages(self) -> list[list[nn.Module]]:
        return [[self.patch_embed]] + [[layer] for layer in self.layers]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.patch_embed(images)
        out = {}
        for i, layer in enumerate(self.layers):
            y, x = layer(x)
            out[f"res{i + 2}"] = getattr(self, f"norm{i}")(y).permute(0, 3, 1, 2).contiguous()
        return out

