"""What `queue add` does: expand the `--set` grid, validate every job's recipe, copy it into the
state dir (later edits of the file do not change a queued job), and queue them all in one
transaction, or none when one combination is bad."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.queue_store import JobStore, NewJob, QueueJob
from hybrid_tui.paths import resolve_data_root, state_dir
from hybrid_tui.queue.grid import expand_grid
from hybrid_tui.recipe import Recipe, apply_overrides, read_recipe_toml, save_recipe


def queue_recipe_files(
    paths: Sequence[str],
    sets: Sequence[str] = (),
    gpus: int = 1,
    priority: int = 0,
    data_dir: str | None = None,
    store: JobStore | None = None,
) -> list[QueueJob]:
    """One job per recipe file and `--set` combination, in that order."""
    if not paths:
        raise HybridTuiError("give one or more recipe files, e.g. recipes/smoke.toml")
    grid = expand_grid(sets)
    prepared = []
    for path in paths:
        data = read_recipe_toml(path)
        for overrides in grid:
            source = f"recipe {path}" + (f" with --set {' '.join(overrides)}" if overrides else "")
            prepared.append((apply_overrides(data, overrides, source), str(path), overrides))
    return _enqueue(prepared, gpus, priority, data_dir, store)


def queue_recipes(
    recipes: Sequence[Recipe],
    source: str,
    gpus: int = 1,
    priority: int = 0,
    data_dir: str | None = None,
    store: JobStore | None = None,
) -> list[QueueJob]:
    """Queue already validated recipes, all or none (Compose's "add to queue", a study's runs)."""
    return _enqueue([(recipe, source, []) for recipe in recipes], gpus, priority, data_dir, store)


def _enqueue(
    prepared: list[tuple[Recipe, str, list[str]]],
    gpus: int,
    priority: int,
    data_dir: str | None,
    store: JobStore | None,
) -> list[QueueJob]:
    if gpus < 1:
        raise HybridTuiError(f"--gpus {gpus}: a job needs 1 or more")
    data_dir = resolve_data_root(data_dir)
    if data_dir:
        data_dir = str(Path(data_dir).expanduser().resolve())
    for recipe, source, _ in prepared:
        _check_device(recipe, source, gpus)
    folder = state_dir() / "queue" / "recipes"
    new_jobs, written = [], []
    try:
        for recipe, source, overrides in prepared:
            pinned = recipe.model_copy(deep=True)
            # the trainer may start in another directory: the store is named absolutely
            pinned.tracking.uri = absolute_tracking_uri(recipe.tracking.resolved_uri())
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in recipe.name)
            path = save_recipe(pinned, folder / f"{safe[:60]}-{uuid.uuid4().hex[:8]}.toml")
            written.append(path)
            new_jobs.append(
                NewJob(
                    name=recipe.name,
                    source=source,
                    recipe_path=str(path),
                    overrides=list(overrides),
                    gpus=gpus,
                    priority=priority,
                    workdir=os.getcwd(),
                    tracking_uri=pinned.tracking.uri,
                    data_dir=data_dir,
                    tags=dict(recipe.tracking.tags),
                )
            )
        return (store or JobStore()).add(new_jobs)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _check_device(recipe: Recipe, source: str, gpus: int) -> None:
    """A queued job sees only its own GPUs, numbered from 0: `cuda:3` would name a GPU it lacks."""
    device = recipe.train.device
    if device.startswith("cuda:") and int(device[5:]) >= gpus:
        raise HybridTuiError(
            f"{source}: train.device {device} names a GPU a queued job does not see (it gets "
            f"{gpus} GPU{'s' if gpus > 1 else ''} through CUDA_VISIBLE_DEVICES, numbered from "
            "0); use auto or cuda"
        )


def absolute_tracking_uri(uri: str) -> str:
    """`sqlite:///mlflow.db` -> `sqlite:////work/here/mlflow.db`; other URIs as they are."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(Path(uri[len(prefix) :]).resolve())
    if "://" not in uri and not uri.startswith("/") and ":" not in uri:
        return str(Path(uri).resolve())  # a plain folder (file store)
    return uri
