"""Everything a run needs, loaded and checked before an MLflow run exists, so bad input (a
recipe field, a data file, a model folder, data that cannot fill the mix's batches) never leaves
a run RUNNING."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hybrid_tui.data.pairs import load_training_pairs
from hybrid_tui.devices import pick_device
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation.lareqa import load_eval_sets
from hybrid_tui.models import Conventions, check_model_folder, resolve_conventions, resolve_model
from hybrid_tui.models.padding_free import folder_choice
from hybrid_tui.recipe import Recipe
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.training.sampling import make_sampler

if TYPE_CHECKING:
    from hybrid_tui.data.lareqa import RetrievalSet
    from hybrid_tui.data.pairs import TrainingPairs
    from hybrid_tui.training.sampling import BatchSampler, SourceSampler


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
    sampler: BatchSampler | SourceSampler
    padding_free: bool = False  # the packed forward will be on (recipe setting + architecture)


def prepare_inputs(
    recipe: Recipe,
    data_root: str | None,
    progress=None,
    pairs: TrainingPairs | None = None,
    eval_sets: list[RetrievalSet] | None = None,
    phase: Callable[[str], None] = lambda message: None,
) -> TrainingInputs:
    """Load data, eval sets, the model source and the sampler; raise `HybridTuiError` on any bad
    input. `pairs` / `eval_sets` given (benchmarks, tests) are used instead of loading them.
    `phase` hears what is being done (`training.phases`). The inputs serve one run: their
    sampler advances as it trains."""
    if recipe.train.device != "auto":  # `cuda` where no GPU is visible is bad input
        pick_device(recipe.train.device)
    if pairs is None:
        phase(f"loading the training data ({_data_name(recipe)})")
        pairs = load_training_pairs(recipe.data, data_root, progress=progress)
    if eval_sets is None and recipe.eval.datasets:
        phase(f"loading the evaluation sets ({', '.join(recipe.eval.datasets)})")
    if eval_sets is None:
        eval_sets = load_eval_sets(recipe.eval, data_root, progress=progress)
    phase(f"finding the model {recipe.model.spec}")
    resolved = resolve_model(recipe.model.spec, progress=progress)
    check_model_folder(resolved, recipe.model.spec)
    conventions = resolve_conventions(resolved.conventions, recipe.model)
    padding_free = folder_choice(recipe.model.padding_free, resolved.path)[0]
    # data that cannot fill the mix's batches (e.g. no id in two languages for cross) is bad input
    phase(
        f"building the batch sampler ({len(pairs.items)} items, batch size {recipe.train.batch_size})"
    )
    sampler = make_sampler(
        pairs,
        recipe.train.batch_size,
        recipe.sampler,
        recipe.train.seed,
        recipe.data.source_weighting,
    )
    return TrainingInputs(
        recipe, pairs, eval_sets, resolved.source, data_root, conventions, sampler, padding_free
    )


def _data_name(recipe: Recipe) -> str:
    data = recipe.data
    if data.sources:
        return ", ".join(source.label for source in data.sources)
    return f"{data.source} {data.dataset}"


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
