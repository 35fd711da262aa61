"""Everything a run needs, loaded and checked before an MLflow run exists, so bad input (a
recipe field, a data file, a model folder, data that cannot fill the mix's batches) never leaves
a run RUNNING."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.models import Conventions
from hybrid_tui.recipe import Recipe
from hybrid_tui.run_files import RunFiles

if TYPE_CHECKING:
    from hybrid_tui.data.lareqa import RetrievalSet
    from hybrid_tui.data.pairs import TrainingPairs
    from hybrid_tui.sampling import BatchSampler


@dataclass
class TrainingInputs:
    """Everything loaded and checked before a run is created. `sampler` is the one sampler the
    run draws from: building it is also the check that the data can fill the mix's batches."""

    recipe: Recipe
    pairs: TrainingPairs
    eval_sets: list[RetrievalSet]
    model_source: str
    data_root: str | None
    conventions: Conventions
    sampler: BatchSampler


def prepare_inputs(recipe: Recipe, data_root: str | None, progress=None) -> TrainingInputs:
    """Load data, eval sets, the model source and the sampler; raise `HybridTuiError` on any bad
    input."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.evaluate import load_eval_sets
    from hybrid_tui.models import check_model_folder, resolve_conventions, resolve_model
    from hybrid_tui.sampling import BatchSampler

    pairs = load_training_pairs(recipe.data, data_root, progress=progress)
    eval_sets = load_eval_sets(recipe.eval, data_root, progress=progress)
    resolved = resolve_model(recipe.model.spec, progress=progress)
    check_model_folder(resolved, recipe.model.spec)
    conventions = resolve_conventions(resolved.conventions, recipe.model)
    # data that cannot fill the mix's batches (e.g. no id in two languages for cross) is bad input
    sampler = BatchSampler(pairs, recipe.train.batch_size, recipe.sampler, recipe.train.seed)
    return TrainingInputs(
        recipe, pairs, eval_sets, resolved.source, data_root, conventions, sampler
    )


def check_resumable(tracker, files: RunFiles) -> None:
    """A run can resume when it has not finished and left a checkpoint."""
    detail = tracker.get_run(files.run_id)
    if detail.status == "FINISHED":
        raise HybridTuiError(f"run {files.run_id} already finished; start a new run instead")
    if not (files.checkpoint / "state.json").is_file():
        raise HybridTuiError(
            f"run {files.run_id} has no checkpoint under {files.checkpoint}; "
            "start a new run (set train.checkpoint_every to checkpoint more often)"
        )
