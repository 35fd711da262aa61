"""Whether a model takes the padding-free forward, decided from its config alone (no torch): the
trainer checks a recipe's `model.padding_free` before its run exists, and before importing torch."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from hybrid_tui.errors import HybridTuiError

# model_type -> the transformers class whose forward the packed one reproduces (exact class:
# look-alikes such as XLM-RoBERTa-XL put LayerNorm before the sublayers)
SUPPORTED = {"bert": "BertModel", "roberta": "RobertaModel", "xlm-roberta": "XLMRobertaModel"}
ATTENTION_KINDS = ("repad", "jagged", "flash")


def unsupported_reason(config) -> str | None:
    """Why a model with this HF config cannot take the packed forward; None when it can.

    Works on the config alone (no weights), so a recipe asking for `padding_free = true` on
    another architecture can be refused before a run exists.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED:
        return f"model type {model_type!r} is not BERT, RoBERTa or XLM-R"
    position = getattr(config, "position_embedding_type", None) or "absolute"
    if position != "absolute":
        return f"position_embedding_type {position!r} (only absolute positions are packed)"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "a decoder / cross-attention configuration"
    return None


def choose(setting: bool | str, architecture: str, reason: str | None) -> tuple[bool, str]:
    """The recipe's `model.padding_free` against an architecture: (on, one-line status).

    `true` where the packed forward does not reproduce the architecture is a user error (one
    line); `auto` falls back to the standard padded forward and the status says why.
    """
    if setting is False:
        return False, "padding-free forward: off (model.padding_free = false)"
    if reason is None:
        return True, f"padding-free forward: on ({architecture})"
    if setting is True:
        raise HybridTuiError(
            f"model.padding_free = true, but {architecture} cannot take the padding-free forward "
            f'({reason}); set model.padding_free = "auto" or false'
        )
    return False, f"padding-free forward: off ({architecture}: {reason}); using the padded forward"


def folder_choice(setting: bool | str, folder: Path) -> tuple[bool, str]:
    """`choose` from a model folder's config.json alone, before any weight is loaded (so a
    recipe's `padding_free = true` on another architecture fails before a run exists)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [config.get("model_type", "?")])[0]
    return choose(setting, architecture, unsupported_reason(SimpleNamespace(**config)))
