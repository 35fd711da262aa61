"""Where a model comes from: a packaged offline model, a local folder, or a Hugging Face hub id.

Every spec resolves to a plain Hugging Face folder plus the model's own conventions (pooling,
prefixes, lengths: `models.conventions`). The CLI imports this module at start (`models list`), so
torch/transformers load inside functions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.atomic_files import exclusive
from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError, first_sentence
from hybrid_tui.models.conventions import Conventions, folder_conventions
from hybrid_tui.models.packaged import (
    INSTALL_HINT,
    PACKAGED_MODELS,
    PackagedModel,
    is_available,
    is_prepared,
    own_conventions,
    package_versions,
    packaged_path,
    prepare_packaged,
)
from hybrid_tui.progress import ProgressFn

_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass
class ModelInfo:
    name: str
    description: str
    available: bool
    prepared: bool
    path: Path | None


@dataclass
class ResolvedModel:
    """A loadable HF folder and the model's own conventions (before any recipe setting)."""

    path: Path
    source: str
    conventions: Conventions


def list_models() -> list[ModelInfo]:
    """The packaged models, whether their packages are installed and whether they are prepared."""
    infos = []
    for model in PACKAGED_MODELS.values():
        path = packaged_path(model)
        infos.append(
            ModelInfo(model.name, model.description, is_available(model), is_prepared(path), path)
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


def is_hub_id(spec: str) -> bool:
    """Whether `resolve_model` would ask the hub for `spec` (not a packaged name nor a path)."""
    return (
        spec not in PACKAGED_MODELS
        and not _looks_like_path(spec)
        and bool(_HUB_ID.match(spec))
        and ".." not in spec
        and "--" not in spec
    )


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
        raise HybridTuiError(
            f"could not get {model_id!r} from the Hugging Face hub ({_hub_failure(err)}); see "
            f"`{command('models list')}` for models that work offline ({_packaged_names()}) or "
            "pass a local folder"
        ) from err
    if not (folder / "config.json").is_file():
        raise HybridTuiError(
            f"hub model {model_id} has no config.json; it is not a transformers model"
        )
    return _with_conventions(folder, f"hub:{model_id}@{folder.name}", model_id)


def _hub_failure(err: Exception) -> str:
    """Why the hub gave no model, as one whole clause (its own messages run to several lines)."""
    from huggingface_hub import errors

    if isinstance(err, errors.OfflineModeIsEnabled) or isinstance(
        err.__cause__, errors.OfflineModeIsEnabled
    ):
        return "HF_HUB_OFFLINE is set and the model is not in the local cache"
    if isinstance(err, errors.GatedRepoError):
        return "the model is gated: accept its terms on huggingface.co, then `hf auth login`"
    if isinstance(err, errors.RepositoryNotFoundError):
        return "no such model, or a private one: check the id, or `hf auth login`"
    if isinstance(err, errors.LocalEntryNotFoundError):
        return "the hub is unreachable and the model is not in the local cache"
    return f"{type(err).__name__}: {first_sentence(err)}"


def _resolve_packaged(model: PackagedModel, progress: ProgressFn | None) -> ResolvedModel:
    path = packaged_path(model)
    if not is_prepared(path):
        if not is_available(model):
            raise HybridTuiError(
                f"{model.name} needs the PyPI package(s) {', '.join(model.requires)}; "
                f"install them with {INSTALL_HINT}"
            )
        assert path is not None
        _prepare_once(model, path, progress)
    assert path is not None
    source = f"packaged:{model.name} ({package_versions(model)})"
    return ResolvedModel(path, source, own_conventions(model))


def _prepare_once(model: PackagedModel, path: Path, progress: ProgressFn | None) -> None:
    """Build the model unless another process is building it: then wait and use its folder.

    Two trainers of a queue (or two test workers) starting on a fresh cache would otherwise
    both build it, and the second swap of the folder pulls it from under the first one's reader.
    """

    def say_waiting() -> None:
        if progress is not None:
            progress(f"{model.name} (waiting: another process is preparing it)", 0, 1)

    with exclusive(path, on_wait=say_waiting):
        if not is_prepared(path):
            prepare_packaged(model, path, progress)


def check_model_folder(resolved: ResolvedModel, spec: str) -> None:
    """Fail early (before a run exists) when a folder cannot hold a transformers model: a config
    without `model_type`, or no weights file."""
    path = resolved.path
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, nested too deep
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


def _with_conventions(path: Path, source: str, name: str) -> ResolvedModel:
    return ResolvedModel(path, source, folder_conventions(path, name))
