"""How a model turns texts into vectors, decided in one place for every way a model is named.

A packaged name, a folder, a hub id and a run id all end up here: the model's own conventions
(what a hybrid-tui folder was saved with, else its sentence-transformers files, else its family's
habits) with the recipe's or the user's explicit settings on top. Whatever path led to a model,
the same texts then get the same prefixes, lengths and pooling, so `eval --model FOLDER` and
`eval --run RUN_ID` score the same model the same way. Stdlib only: the CLI imports it at start.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from hybrid_tui.errors import HybridTuiError

CONVENTIONS_FILE = "hybrid_tui.json"
# What a model without a saved convention gets (the lengths the demo and the paper's recipes use).
DEFAULT_MAX_QUERY_LENGTH = 64
DEFAULT_MAX_PASSAGE_LENGTH = 128
_FIELDS = (
    "pooling",
    "normalize",
    "query_prefix",
    "passage_prefix",
    "max_query_length",
    "max_passage_length",
)


@dataclass(frozen=True)
class Conventions:
    """Everything besides the weights that decides an embedding."""

    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""
    max_query_length: int = DEFAULT_MAX_QUERY_LENGTH
    max_passage_length: int = DEFAULT_MAX_PASSAGE_LENGTH

    def as_params(self) -> dict[str, str]:
        """`{"conventions.pooling": "mean", ...}`: what a run records it embedded with."""
        return {f"conventions.{key}": str(value) for key, value in asdict(self).items()}

    def as_dict(self) -> dict:
        return asdict(self)


def folder_conventions(path: Path, name: str = "") -> Conventions:
    """A folder's own conventions: our `hybrid_tui.json` (complete for folders we saved), else
    sentence-transformers' files and known model families by name, else the defaults."""
    ours = path / CONVENTIONS_FILE
    if ours.is_file():
        data = _read_json(ours)
        return Conventions(**{key: data[key] for key in _FIELDS if data.get(key) is not None})
    pooling, query_prefix, passage_prefix = _family_conventions(f"{name} {path.name}".lower())
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        modes = _read_json(pooling_file)
        if modes.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif modes.get("pooling_mode_mean_tokens"):
            pooling = "mean"
    st_config = path / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = _read_json(st_config).get("prompts") or {}
        query_prefix = prompts.get("query", query_prefix)
        passage_prefix = prompts.get("passage", prompts.get("document", passage_prefix))
    return Conventions(pooling=pooling, query_prefix=query_prefix, passage_prefix=passage_prefix)


def _read_json(path: Path) -> dict:
    """A model folder's JSON object; a broken file is one line naming it (not a traceback)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError
        reason = "nested too deeply" if isinstance(err, RecursionError) else "not valid JSON"
        raise HybridTuiError(
            f"model file {path} is {reason}; restore it from the model's source"
        ) from None
    if not isinstance(data, dict):
        raise HybridTuiError(
            f"model file {path} is not a JSON object; restore it from the model's source"
        )
    return data


def resolve_conventions(own: Conventions, settings) -> Conventions:
    """The model's own conventions with every explicitly set field of `settings` on top.

    `settings` is a `recipe.ModelConfig` (or anything with the same attributes), where `None`
    means "the model's own".
    """
    chosen = {key: getattr(settings, key, None) for key in _FIELDS}
    return replace(own, **{key: value for key, value in chosen.items() if value is not None})


def _family_conventions(name: str) -> tuple[str, str, str]:
    if re.search(r"(^|[^a-z0-9])e5([^a-z0-9]|$)", name):
        return "mean", "query: ", "passage: "
    if "labse" in name:  # the paper's LaBSE runs: CLS pooling with capitalised prefixes
        return "cls", "Query: ", "Passage: "
    if "xlm-roberta" in name or "xlm-r" in name or "xlmr" in name:
        return "mean", "Query: ", "Passage: "
    return "mean", "", ""
