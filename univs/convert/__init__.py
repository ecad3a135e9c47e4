"""Loading the official UniVS checkpoints: ``univs convert`` (docs/models.md).

    from univs.convert import run_convert
    run_convert("univs_r50_stage3_f7_wosquare_ema.pth", "univs-r50.safetensors",
                text_encoder="regionclip_pretrained-cc_rn50x4.pth", bpe="bpe_simple_vocab_16e6.txt.gz",
                concept_embeddings="combined_datasets_cls_emb_rn50x4.pth",
                concept_names="combined_datasets.txt")
    model = univs.load("univs-r50.safetensors")

Modules: ``official`` maps the detectron2 state dict onto a preset (:func:`convert_checkpoint`),
``text`` reads the RegionCLIP text tower and the class-name table, ``files`` reads the release's
files safely, ``run`` writes the univs checkpoint (and ``NAME.text.safetensors``, the tower).
"""

from __future__ import annotations

from univs.convert.official import OFFICIAL_PRESETS, Conversion, convert_checkpoint, map_official_state
from univs.convert.run import run_convert

__all__ = ["OFFICIAL_PRESETS", "Conversion", "convert_checkpoint", "map_official_state", "run_convert"]
