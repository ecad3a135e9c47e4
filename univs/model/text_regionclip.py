"""The official UniVS text side: RegionCLIP's RN50x4 text tower, a CLIP text transformer, with the
CLIP byte-level BPE tokenizer — registered as the ``regionclip`` text encoder (arXiv 2402.18115
§3.1; CLIP: Radford et al. 2021, arXiv 2103.00020 §2.4; RegionCLIP: Zhong et al. 2022).

Tower (:class:`CLIPTextTransformer`): token embedding (V = 49408, W = 640) plus learned positions
(77, W); 12 pre-norm residual blocks, each causal multi-head self-attention (W / 64 = 10 heads)
and an MLP W → 4W → W with QuickGELU (x·σ(1.702x)); a final LayerNorm; features = x @
``text_projection`` (W, E = 640). Tensor names are OpenAI CLIP's (``token_embedding.weight``,
``transformer.resblocks.<i>.attn.in_proj_weight``, ``ln_final``, ``text_projection`` …).

Tokenizer (:class:`ClipBpeTokenizer`): NFC, HTML unescaping, white space folded, lower case; the
CLIP pre-tokenizer pattern; each piece as bytes mapped to 256 printable characters, the last one
marked ``</w>``, merged by the ranked pairs of ``bpe_simple_vocab_16e6.txt.gz`` (its first 48894
merges: 256 + 256 + 48894 + 2 = 49408 ids, ``<|startoftext|>`` 49406, ``<|endoftext|>`` 49407).
ftfy's mojibake repair, applied by the original, is not: it leaves well-formed text unchanged.

Features — what the official release computes (``univs/modeling/language`` and
``tools/clip_concept_extraction`` of MinghanLi/UniVS), for names and expressions alike:
each text is cleaned (:func:`clean_category_text`) and put into the 81 prompt templates; each
templated string is tokenised to [SOT] + BPE ids + [EOT], cut to 77 ids (the EOT is lost when
longer, as in the original) and zero-padded. ``sentence`` = the mean over templates of the
feature at argmax(ids) (the EOT); ``tokens`` = the features of all 77 positions of the first
template ``"{}."``, padding positions included, with ``token_mask`` all True: the official prompt
encoder reads all 77 (1 sentence + 77 word tokens per expression). The official concept table
holds ``sentence`` of each line of its names file. The original additionally maps ``+`` to a
space in category names (not in expressions); here both keep it.

Exactness at lower cost: attention is causal, so a position's feature depends on the positions
before it only; the templates run cut to the longest EOT of the batch + 1.

Weights file (:func:`save_text_tower` writes it, ``univs convert --text-encoder`` makes it):
safetensors with the tower under CLIP names and, in its metadata ``clip_bpe_merges``, the merges
(one ``"a b"`` pair per line, in rank order), so one file holds all the encoder needs.
"""

from __future__ import annotations

import gzip
import html
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import regex
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from univs.config import TextEncoderConfig
from univs.data.atomic import atomic_path
from univs.errors import InputError
from univs.model.text_encoder import TextEmbeddings, clean_category_text, register_text_encoder

MERGES_KEY = "clip_bpe_merges"
"""safetensors metadata entry of a text-tower file holding the BPE merges."""

CLIP_MERGES = 49152 - 256 - 2
"""Merges the CLIP tokenizer reads from its file (the rest of the file is unused)."""

SOT, EOT = "<|startoftext|>", "<|endoftext|>"

PROMPT_TEMPLATES = (
    "{}.", "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.", "a bright photo of a {}.",
    "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.",
    "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.", "a close-up photo of a {}.",
    "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.", "a photo of the {}.",
    "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.",
    "a doodle of a {}.", "a close-up photo of the {}.", "the origami {}.", "the {} in a video game.",
    "a sketch of a {}.", "a doodle of the {}.", "a origami {}.", "a low resolution photo of a {}.",
    "the toy {}.", "a rendition of the {}.", "a photo of the clean {}.", "a photo of a large {}.",
    "a rendition of a {}.", "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.",
    "a cartoon {}.", "art of a {}.", "a sketch of the {}.", "a embroidered {}.",
    "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)
"""The 81 prompt templates of the official release (CLIP's 80 ImageNet templates and ``"{}."``,
which comes first: its token features are the expression's word tokens)."""


# --------------------------------------------------------------------------- tokenizer

_PRINTABLE_BYTES = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
_PIECES = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"""
                        r"""[^\s\p{L}\p{N}]+""", regex.IGNORECASE)


def byte_symbols() -> list[str]:
    """The character standing for each byte value 0..255: printable Latin-1 bytes stand for
    themselves, the 68 others take code points 256, 257, … in byte order."""
    printable = set(_PRINTABLE_BYTES)
    others = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(others)) for b in range(256)]


def read_bpe_merges(path: str | Path) -> list[tuple[str, str]]:
    """The first :data:`CLIP_MERGES` merges of a CLIP merges file (``.txt.gz`` or plain text;
    a first line holding ``#version`` is the header)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("BPE merges file not found", path)
    raw = path.read_bytes()
    try:
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"not a readable BPE merges file ({e})", path) from None
    lines = text.split("\n")
    first = 1 + ("#version" in lines[0])
    merges = []
    for number, line in enumerate(lines[first - 1:][:CLIP_MERGES], start=first):
        if not line:
            continue
        pair = tuple(line.split())
        if len(pair) != 2:
            raise InputError(f"line {number} is not a merge of two symbols: {line!r}", path)
        merges.append(pair)
    if not merges:
        raise InputError("no merges in the BPE merges file", path)
    return merges


class ClipBpeTokenizer:
    """CLIP's byte-level BPE tokenizer over ``merges`` (ranked symbol pairs).

    Ids: the 256 byte symbols (in code-point order), the same with ``</w>``, one per merge, then
    ``<|startoftext|>`` and ``<|endoftext|>`` (49408 ids with the CLIP file).
    """

    def __init__(self, merges: Sequence[tuple[str, str]]):
        self._byte_symbol = byte_symbols()
        base = sorted(self._byte_symbol)
        vocab = base + [s + "</w>" for s in base] + [a + b for a, b in merges] + [SOT, EOT]
        self.ids = {symbol: i for i, symbol in enumerate(vocab)}
        self.vocab_size = len(vocab)
        self.sot, self.eot = self.ids[SOT], self.ids[EOT]
        self._rank = {tuple(pair): rank for rank, pair in enumerate(merges)}
        self._words: dict[str, list[int]] = {}

    @staticmethod
    def clean(text: str) -> str:
        """NFC, HTML entities resolved (twice, as CLIP does), white space folded, lower case."""
        text = html.unescape(html.unescape(unicodedata.normalize("NFC", text)))
        return " ".join(text.split()).lower()

    def _merge(self, word: str) -> list[str]:
        """Apply the merges to one pre-token's symbols, lowest rank first, all occurrences."""
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            ranked = [self._rank.get(pair) for pair in zip(parts, parts[1:])]
            best = min((r for r in ranked if r is not None), default=None)
            if best is None:
                break
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and ranked[i] == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def _word_ids(self, piece: str) -> list[int]:
        if piece in (SOT, EOT):
            return [self.ids[piece]]
        if piece not in self._words:
            symbols = "".join(self._byte_symbol[b] for b in piece.encode("utf-8"))
            self._words[piece] = [self.ids[s] for s in self._merge(symbols)]
        return self._words[piece]

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` (no start/end tokens)."""
        return [i for piece in _PIECES.findall(self.clean(text)) for i in self._word_ids(piece)]

    def tokenize(self, texts: Sequence[str], context: int) -> torch.Tensor:
        """(K, context) long: [SOT] + ids + [EOT] of each text, cut to ``context``, zero-padded."""
        out = torch.zeros(len(texts), context, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot, *self.encode(text), self.eot][:context]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


# --------------------------------------------------------------------------- tower


@dataclass(frozen=True)
class TowerShape:
    """Sizes of a CLIP text tower: vocabulary, context, width, layers, output (embed) width."""

    vocab: int
    context: int
    width: int
    layers: int
    embed: int

    @property
    def heads(self) -> int:
        """CLIP's rule: one head per 64 channels (RN50x4: 640 → 10)."""
        return max(1, self.width // 64)

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor of the tower under its CLIP name → shape."""
        w = self.width
        shapes = {"token_embedding.weight": (self.vocab, w), "positional_embedding": (self.context, w),
                  "ln_final.weight": (w,), "ln_final.bias": (w,), "text_projection": (w, self.embed)}
        for i in range(self.layers):
            block = f"transformer.resblocks.{i}."
            shapes.update({
                block + "attn.in_proj_weight": (3 * w, w), block + "attn.in_proj_bias": (3 * w,),
                block + "attn.out_proj.weight": (w, w), block + "attn.out_proj.bias": (w,),
                block + "ln_1.weight": (w,), block + "ln_1.bias": (w,),
                block + "ln_2.weight": (w,), block + "ln_2.bias": (w,),
                block + "mlp.c_fc.weight": (4 * w, w), block + "mlp.c_fc.bias": (4 * w,),
                block + "mlp.c_proj.weight": (w, 4 * w), block + "mlp.c_proj.bias": (w,),
            })
        return shapes

    @classmethod
    def of(cls, shapes: dict[str, tuple[int, ...]], source: str | Path) -> "TowerShape":
        """Read the sizes off a tower's tensor shapes (CLIP names); ``source`` names the file in errors."""
        bad = [k for k in ("token_embedding.weight", "positional_embedding", "text_projection")
               if len(shapes.get(k, ())) != 2]
        if bad:
            raise InputError(f"not a CLIP text tower: no 2-D {', '.join(bad)}", source)
        vocab, width = shapes["token_embedding.weight"]
        layers = sum(1 for k in shapes if re.fullmatch(r"transformer\.resblocks\.\d+\.ln_1\.weight", k))
        return cls(vocab, shapes["positional_embedding"][0], width, layers, shapes["text_projection"][1])


class _MLP(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c_fc(x)
        return self.c_proj(h * torch.sigmoid(1.702 * h))


class _Block(nn.Module):
    """Pre-norm residual block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = _MLP(width)

    def forward(self, x: torch.Tensor, causal: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=causal, is_causal=True)[0]
        return x + self.mlp(self.ln_2(x))


class _Blocks(nn.Module):
    def __init__(self, shape: TowerShape):
        super().__init__()
        self.resblocks = nn.ModuleList(_Block(shape.width, shape.heads) for _ in range(shape.layers))


class CLIPTextTransformer(nn.Module):
    """CLIP's text transformer: ids (K, L ≤ context) → features (K, L, E) after ``ln_final`` and
    ``text_projection``, causal (a position sees itself and the positions before it)."""

    def __init__(self, shape: TowerShape):
        super().__init__()
        self.shape = shape
        self.token_embedding = nn.Embedding(shape.vocab, shape.width)
        self.positional_embedding = nn.Parameter(torch.zeros(shape.context, shape.width))
        self.transformer = _Blocks(shape)
        self.ln_final = nn.LayerNorm(shape.width)
        self.text_projection = nn.Parameter(torch.zeros(shape.width, shape.embed))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.positional_embedding[:length]
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).triu(1)
        for block in self.transformer.resblocks:
            x = block(x, causal)
        return self.ln_final(x) @ self.text_projection


# --------------------------------------------------------------------------- weights file


def save_text_tower(state: dict[str, torch.Tensor], merges: Sequence[tuple[str, str]], path: str | Path) -> None:
    """Write a tower (CLIP names, float32) and its BPE merges to one safetensors file, atomically."""
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={MERGES_KEY: "\n".join(f"{a} {b}" for a, b in merges)})


def _read_header(path: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and metadata of a text-tower file, without reading the tensors."""
    if not path.is_file():
        raise InputError("RegionCLIP text-tower file not found (make it with `univs convert "
                         "--text-encoder`, see docs/models.md)", path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as e:
        raise InputError(f"not a readable safetensors text-tower file: {e}", path) from None


class RegionCLIPTextEncoder:
    """The official RegionCLIP RN50x4 text tower as a frozen :class:`TextEncoder` (see the module
    docstring for what it computes), from a file written by :func:`save_text_tower`; loads on the
    first ``encode``."""

    def __init__(self, path: str | Path | None, device: str = "cpu", batch: int = 8):
        if path is None:
            raise InputError("the 'regionclip' text encoder needs text.path: the text-tower file that "
                             "`univs convert --text-encoder` writes (see docs/models.md)")
        self.path = Path(path)
        shapes, metadata = _read_header(self.path)
        if MERGES_KEY not in metadata:
            raise InputError(f"no '{MERGES_KEY}' metadata: not a univs text-tower file", self.path)
        self.shape = TowerShape.of(shapes, self.path)
        expected = self.shape.tensor_shapes()
        wrong = sorted(k for k in expected.keys() | shapes.keys() if shapes.get(k) != expected.get(k))
        if wrong:
            raise InputError(f"not a CLIP text tower: tensors missing, unexpected or misshapen: "
                             f"{', '.join(wrong[:8])}{' …' if len(wrong) > 8 else ''}", self.path)
        self.dim = self.shape.embed
        self.device = torch.device(device)
        self.batch = batch
        self.name = f"regionclip-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.path.stem)}"
        self._tower: CLIPTextTransformer | None = None
        self._tokenizer: ClipBpeTokenizer | None = None

    def _load(self) -> None:
        _, metadata = _read_header(self.path)
        tokenizer = ClipBpeTokenizer([tuple(line.split()) for line in metadata[MERGES_KEY].split("\n")])
        if tokenizer.vocab_size != self.shape.vocab:
            raise InputError(f"the BPE merges give {tokenizer.vocab_size} ids but the tower embeds "
                             f"{self.shape.vocab}", self.path)
        tower = CLIPTextTransformer(self.shape)
        tower.load_state_dict(load_file(str(self.path)))
        self._tower = tower.to(self.device).eval().requires_grad_(False)
        self._tokenizer = tokenizer

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> TextEmbeddings:
        """K texts → tokens (K, 77, E) of the ``"{}."`` template, token_mask (K, 77) all True,
        sentence (K, E) = template mean of the end-of-text features (float32, on ``device``)."""
        if self._tower is None:
            self._load()
        context, n = self.shape.context, len(PROMPT_TEMPLATES)
        tokens, sentences = [], []
        for start in range(0, len(texts), self.batch):
            chunk = [clean_category_text(t) for t in texts[start:start + self.batch]]
            prompts = [template.replace("{}", text) for text in chunk for template in PROMPT_TEMPLATES]
            ids = self._tokenizer.tokenize(prompts, context).to(self.device)
            eot = ids.argmax(-1)
            features = self._tower(ids[:, : int(eot.max()) + 1])
            sentences.append(features[torch.arange(len(prompts), device=self.device), eot]
                             .view(len(chunk), n, -1).mean(1))
            tokens.append(self._tower(ids.view(len(chunk), n, context)[:, 0]))
        dim = self.dim
        tokens_out = torch.cat(tokens) if tokens else torch.zeros(0, context, dim, device=self.device)
        sentence = torch.cat(sentences) if sentences else torch.zeros(0, dim, device=self.device)
        mask = torch.ones(tokens_out.shape[:2], dtype=torch.bool, device=self.device)
        return TextEmbeddings(tokens_out, mask, sentence)


def _build(cfg: TextEncoderConfig) -> RegionCLIPTextEncoder:
    return RegionCLIPTextEncoder(cfg.path)


register_text_encoder("regionclip", _build)

__all__ = ["CLIP_MERGES", "CLIPTextTransformer", "ClipBpeTokenizer", "PROMPT_TEMPLATES", "RegionCLIPTextEncoder",
           "TowerShape", "byte_symbols", "read_bpe_merges", "save_text_tower"]
