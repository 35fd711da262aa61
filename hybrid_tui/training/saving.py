"""Writing to disk during a run: checkpoints, the final model folder (with its card), and a
full disk or read-only folder turned into one line the user can act on."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.report.model_card import model_card
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.tracking.run_tracker import RunTracker
from hybrid_tui.training.setup import Setup

MODEL_ARTIFACT = "model"  # `runs:/<run id>/model`: the saved folder, as files


def save(setup: Setup, files: RunFiles, step: int) -> None:
    """Checkpoint everything a resume needs after `step` (rank 0 only)."""
    if not setup.is_main:
        return
    from hybrid_tui.training.checkpoint import save_checkpoint

    with write_errors_explained(files.checkpoint, "set train.checkpoint_every = 0 to skip them"):
        save_checkpoint(
            files.checkpoint,
            setup.encoder,
            setup.optimizer,
            setup.scheduler,
            step,
            setup.sampler.state_dict(),
        )


@contextlib.contextmanager
def write_errors_explained(folder: Path, hint: str) -> Iterator[None]:
    """A full disk or a read-only folder is the user's to fix: one line, not a traceback. The
    atomic write has left the previous folder whole."""
    try:
        yield
    except OSError as err:
        raise HybridTuiError(
            f"could not write {folder} ({err.strerror or err}); free disk space or make it "
            f"writable ({hint}); the previous copy is intact"
        ) from None


def save_final_model(
    setup: Setup, files: RunFiles, tracker: RunTracker, run_id: str, metrics: dict[str, float]
) -> None:
    """The trained encoder, loadable by transformers and sentence-transformers, with its card."""
    card = model_card(
        setup.recipe,
        setup.encoder.conventions,
        base_source=setup.encoder.source,
        train_languages=setup.train_languages,
        metrics=metrics,
        eval_sets=setup.eval_sets,
        run_id=run_id,
        steps=setup.recipe.train.steps,
    )
    with write_errors_explained(files.model, "or set HYBRID_TUI_HOME to another disk"):
        setup.encoder.save(files.model, model_card=card)
    tracker.set_tags(run_id, {"hybrid_tui.model_dir": str(files.model)})


def upload_final_model(
    setup: Setup, files: RunFiles, tracker: RunTracker, run_id: str, events
) -> None:
    """Copy the saved model folder into the run's artifacts as `model/` (`tracking.log_model`).

    After the final save, so the local folder is whole whatever happens here; a failed upload
    (a full artifact disk, an unreachable server) is a warning in the log, not a failed run."""
    if not (setup.is_main and setup.recipe.tracking.log_model):
        return
    print(f"uploading the model to the run's MLflow artifacts ({MODEL_ARTIFACT}/)", flush=True)
    events.write("log", message=f"uploading the model to MLflow artifacts ({MODEL_ARTIFACT}/)")
    try:
        tracker.log_artifacts(run_id, files.model, MODEL_ARTIFACT)
        tracker.set_tags(run_id, {"hybrid_tui.model_uri": f"runs:/{run_id}/{MODEL_ARTIFACT}"})
    except Exception as err:  # noqa: BLE001 - the trained model is safe on disk; say so and go on
        problem = (
            f"the model could not be uploaded to MLflow ({type(err).__name__}: {err}); it is in "
            f"{files.model} (set tracking.log_model = false to skip the upload)"
        )
        print(f"warning: {problem}", flush=True)
        events.write("warning", message=problem)


def discard_checkpoint(files: RunFiles) -> None:
    """A finished run cannot be resumed: free the disk its optimiser state takes (2x the weights)."""
    shutil.rmtree(files.checkpoint, ignore_errors=True)
