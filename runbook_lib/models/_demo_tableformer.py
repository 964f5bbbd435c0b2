"""Tiny randomly initialised TableFormer models laid out like docling's docling-models repository."""

from __future__ import annotations

import copy
import json
import string
from pathlib import Path
from typing import Any

MODELS_REPO_FOLDER = "docling-project--docling-models"
TABLEFORMER_FOLDER = "model_artifacts/tableformer"
CONFIG_FILE = "tm_config.json"

# docling_ibm_models' TFPredictor loads the first ``tableformer_*.safetensors`` in each mode
# folder. These are the names the real docling-models repository uses.
WEIGHTS_FILES = {
    "accurate": "tableformer_accurate.safetensors",
    "fast": "tableformer_fast.safetensors",
}

# The OTSL structure tags, indexed as in docling's TableFormer word map.
_OTSL_TAGS = ("<pad>", "<unk>", "<start>", "<end>", "ecel", "fcel", "lcel", "ucel", "xcel", "nl", "ched", "rhed", "srow")

# The input filters and bounding-box heads of docling-ibm-models 4.0.4 are 512 wide whatever the
# config sets, so a smaller ``hidden_dim`` loads but fails at the first table it predicts
# ("expecting embedding dimension of 32, but got 512"). Of the 105 MB per weights file, 84 MB
# are those fixed-width layers and the ResNet-18 stem, and 21 MB the 512-wide transformer layers.
HIDDEN_DIM = 512


def _cell_word_map() -> dict[str, int]:
    """Build a cell-content vocabulary: the special tokens, then printable ASCII characters."""
    tokens = ["<pad>", "<unk>", "<start>", "<end>"]
    tokens += [char for char in string.printable if char not in "\t\n\r\x0b\x0c"]
    return {token: index for index, token in enumerate(tokens)}


def tableformer_config() -> dict[str, Any]:
    """Build the ``tm_config.json`` contents shared by the accurate and fast demo models.

    The sections and keys follow the real ``tm_config.json`` files, which docling reads with
    ``docling_ibm_models.tableformer.common.read_config``. docling adds ``model.save_dir`` itself.

    Example:
        >>> tableformer_config()["model"]["type"]
        'TableModel04_rs'
    """
    return {
        "dataset": {
            "type": "TF_prepared",
            "name": "TF",
            "load_cells": True,
            "bbox_format": "5plet",
            "resized_image": 448,
            "keep_AR": False,
            "up_scaling_enabled": True,
            "down_scaling_enabled": True,
            "padding_mode": "null",
            "padding_color": [0, 0, 0],
            "image_normalization": {
                "state": True,
                "mean": [0.94247851, 0.94254675, 0.94292611],
                "std": [0.17910956, 0.17940403, 0.17931663],
            },
            "color_jitter": True,
            "rand_crop": True,
            "rand_pad": True,
            "image_grayscale": False,
        },
        "model": {
            "type": "TableModel04_rs",
            "name": "demo_tiny",
            "backbone": "resnet18",
            "enc_image_size": 28,
            "tag_embed_dim": 16,
            "hidden_dim": HIDDEN_DIM,
            "tag_decoder_dim": HIDDEN_DIM,
            "bbox_embed_dim": 32,
            "tag_attention_dim": 32,
            "bbox_attention_dim": 32,
            "enc_layers": 1,
            "dec_layers": 1,
            "nheads": 2,
            "dropout": 0.1,
            "bbox_classes": 2,
        },
        "train": {
            "save_periodicity": 1,
            "disable_cuda": False,
            "epochs": 1,
            "batch_size": 1,
            "clip_gradient": 0.1,
            "clip_max_norm": 0.1,
            "bbox": True,
            "validation": False,
        },
        "predict": {
            "max_steps": 1024,
            "beam_size": 5,
            "bbox": True,
            "pdf_cell_iou_thres": 0.05,
            "padding": False,
            "padding_size": 50,
            "disable_post_process": False,
            "profiling": False,
        },
        "dataset_wordmap": {
            "word_map_tag": {tag: index for index, tag in enumerate(_OTSL_TAGS)},
            "word_map_cell": _cell_word_map(),
        },
    }


def write_tableformer_model(folder: Path, mode: str, seed: int) -> None:
    """Write ``tm_config.json`` and a randomly initialised ``TableModel04_rs`` into ``folder``.

    The model has one encoder and one decoder layer with two heads. Its weights file is about
    105 MB because of the fixed-width layers described at ``HIDDEN_DIM``.

    Args:
        folder (Path): The mode folder, ``.../model_artifacts/tableformer/<mode>``. It is
            created if missing.
        mode (str): ``"accurate"`` or ``"fast"``. It picks the weights file name.
        seed (int): Seed for torch's random number generator, 0 to 2**64 - 1. The global
            generator state is restored afterwards.

    Raises:
        KeyError: If ``mode`` is neither ``"accurate"`` nor ``"fast"``.

    Example:
        >>> write_tableformer_model(Path("/tmp/models/.../tableformer/fast"), "fast", seed=7)
    """
    import torch
    from docling_ibm_models.tableformer.models.table04_rs.tablemodel04_rs import TableModel04_rs
    from safetensors.torch import save_model

    weights_name = WEIGHTS_FILES[mode]
    config = tableformer_config()
    folder.mkdir(parents=True, exist_ok=True)

    # TableModel04_rs reads model.save_dir while it is built, like docling sets it before loading.
    build_config = copy.deepcopy(config)
    build_config["model"]["save_dir"] = str(folder)
    init_data = {"word_map": config["dataset_wordmap"]}

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TableModel04_rs(build_config, init_data, "cpu")

    save_model(model, str(folder / weights_name))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
