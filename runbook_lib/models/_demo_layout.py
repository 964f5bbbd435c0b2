"""A tiny randomly initialised RT-DETRv2 laid out like docling's heron layout model repository."""

from __future__ import annotations

from pathlib import Path

from docling_core.types.doc import DocItemLabel

LAYOUT_REPO_FOLDER = "docling-project--docling-layout-heron"
LAYOUT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")

# The class order of docling-project/docling-layout-heron, as its model card lists them
# (Caption, Footnote, Formula, List-item, ...). docling upper-cases each id2label name and
# looks it up in DocItemLabel, so the names must be the lower-case DocItemLabel values.
HERON_LABELS = tuple(
    label.value
    for label in (
        DocItemLabel.CAPTION,
        DocItemLabel.FOOTNOTE,
        DocItemLabel.FORMULA,
        DocItemLabel.LIST_ITEM,
        DocItemLabel.PAGE_FOOTER,
        DocItemLabel.PAGE_HEADER,
        DocItemLabel.PICTURE,
        DocItemLabel.SECTION_HEADER,
        DocItemLabel.TABLE,
        DocItemLabel.TEXT,
        DocItemLabel.TITLE,
        DocItemLabel.DOCUMENT_INDEX,
        DocItemLabel.CODE,
        DocItemLabel.CHECKBOX_SELECTED,
        DocItemLabel.CHECKBOX_UNSELECTED,
        DocItemLabel.FORM,
        DocItemLabel.KEY_VALUE_REGION,
    )
)

IMAGE_SIZE = 640
D_MODEL = 16
NUM_QUERIES = 10

# Initial class probability behind the classifier biases (transformers' initializer_bias_prior_prob).
# At 1e-4 every score stays near 0.001, far below docling's default threshold of 0.3, so the layout
# stage detects nothing and docling keeps all text as text clusters. With transformers' default,
# 1 / (labels + 1), random weights reach scores above 0.3 and label random regions of a page.
CLASS_PRIOR_PROBABILITY = 1e-4


def write_layout_model(folder: Path, seed: int) -> None:
    """Write a randomly initialised RT-DETRv2 object detector of about 350 KB into ``folder``.

    The model keeps the heron model's labels and 640 x 640 input but has a 16-wide transformer,
    10 queries, one encoder layer, two decoder layers and a basic-block ResNet backbone with
    8 and 16 channels. Transformers' tied-weights check fails with a single decoder layer.
    Its scores stay far below docling's threshold (see ``CLASS_PRIOR_PROBABILITY``).

    Args:
        folder (Path): Folder to write ``config.json``, ``model.safetensors`` and
            ``preprocessor_config.json`` into. It is created if missing.
        seed (int): Seed for torch's random number generator, 0 to 2**64 - 1. The global
            generator state is restored afterwards.

    Example:
        >>> write_layout_model(Path("/tmp/models/docling-project--docling-layout-heron"), seed=7)
    """
    import torch
    from transformers import (
        RTDetrImageProcessor,
        RTDetrResNetConfig,
        RTDetrV2Config,
        RTDetrV2ForObjectDetection,
    )
    from transformers.utils import logging as transformers_logging

    backbone = RTDetrResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16, 16, 16],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_indices=[2, 3, 4],
    )
    config = RTDetrV2Config(
        backbone_config=backbone,
        encoder_in_channels=[16, 16, 16],
        feat_strides=[8, 16, 32],
        encoder_hidden_dim=D_MODEL,
        encoder_layers=1,
        encoder_ffn_dim=2 * D_MODEL,
        encoder_attention_heads=2,
        d_model=D_MODEL,
        num_queries=NUM_QUERIES,
        decoder_in_channels=[D_MODEL, D_MODEL, D_MODEL],
        decoder_layers=2,
        decoder_ffn_dim=2 * D_MODEL,
        decoder_attention_heads=2,
        num_denoising=0,
        initializer_bias_prior_prob=CLASS_PRIOR_PROBABILITY,
        id2label=dict(enumerate(HERON_LABELS)),
        label2id={name: index for index, name in enumerate(HERON_LABELS)},
    )

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RTDetrV2ForObjectDetection(config)

    # save_pretrained shows a "Writing model shards" bar, noise for a 350 KB file.
    bar_was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
    finally:
        if bar_was_enabled:
            transformers_logging.enable_progress_bar()

    processor = RTDetrImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor.save_pretrained(folder)
