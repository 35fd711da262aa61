"""The `hybrid-tui` command: thin Typer commands over the core.

Start-up must stay fast (`hybrid-tui --help` < 0.4 s): everything heavier than typer is imported
inside the command that needs it. User errors print one line (`error: ...`) and exit 2; `--debug`
shows the traceback too.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from hybrid_tui.cli.options import DataDir, JsonFlag, TrackingUri
from hybrid_tui.cli.queue import queue_app
from hybrid_tui.cli.run_commands import run_commands
from hybrid_tui.cli.study import study_commands
from hybrid_tui.display_text import visible
from hybrid_tui.errors import USAGE_EXIT_CODE, HybridTuiError
from hybrid_tui.paths import queue_job, resolve_data_root, resolve_tracking_uri

app = typer.Typer(
    name="hybrid-tui",
    help="Train and evaluate multilingual dense retrievers with hybrid batches; "
    "runs are tracked in MLflow. Without a command, opens the terminal app.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List and prepare encoders (hub ids, local folders, offline models).")
app.add_typer(models_app, name="models")
app.add_typer(queue_app, name="queue")

_debug = {"on": False}


def _print_json(payload: object) -> None:
    import json

    sys.stdout.write(json.dumps(payload, indent=1, sort_keys=True) + "\n")


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _debug["on"] = debug
    if ctx.invoked_subcommand is None:
        tui(tracking_uri=None)


@app.command()
def tui(tracking_uri: TrackingUri = None) -> None:
    """Open the terminal app (runs, compose, live curves, results, compare)."""
    from hybrid_tui.tui.app import run_app

    run_app(tracking_uri=resolve_tracking_uri(tracking_uri))


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a recipe field: KEY=VALUE with a dotted key (train.lr=1e-5, "
        "sampler.mono=0.3); the value is read as TOML, else as text. Repeatable.",
    ),
]


@app.command()
def train(
    recipe: Annotated[
        str | None, typer.Argument(help="Recipe TOML file (e.g. recipes/smoke.toml).")
    ] = None,
    data_dir: DataDir = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Resume this run (its id, or 4+ of its first characters) from its checkpoint."
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            help="Run in the background (survives the terminal); print the run id and return."
        ),
    ] = False,
    overrides: SetOption = None,
    announce: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Train a recipe in this process (or detached), tracked in MLflow."""
    overrides = overrides or []
    if recipe is None and resume is None:
        raise HybridTuiError("give a recipe file (e.g. recipes/smoke.toml) or --resume RUN_ID")
    if resume and overrides:
        raise HybridTuiError(
            "--set changes a new run's recipe; --resume continues the run as it was"
        )
    if resume is not None:
        from hybrid_tui.runs.files import local_run_id

        resume = local_run_id(resume)  # a prefix, as `hybrid-tui runs` prints it
    if detach:
        from hybrid_tui.jobs.launch import TrainerStart, launch_detached
        from hybrid_tui.recipe import load_recipe

        if recipe:  # fail fast here, in the user's terminal
            _warn_if_device_busy(load_recipe(recipe, overrides).train.device)
        request = TrainerStart(
            recipe, resume=resume, data_dir=resolve_data_root(data_dir), overrides=tuple(overrides)
        )
        job = launch_detached(request)
        typer.echo(job.run_id)
        typer.echo(f"trainer pid {job.pid}; log {job.log_path}", err=True)
        return
    started_by_us = announce or queue_job() is not None or "RANK" in os.environ
    if recipe and not started_by_us:  # a user's own foreground run
        from hybrid_tui.recipe import load_recipe

        _warn_if_device_busy(load_recipe(recipe, overrides).train.device)
    from hybrid_tui.training.loop import main_entry

    code = main_entry(recipe, resolve_data_root(data_dir), resume, announce, overrides)
    if code:
        raise typer.Exit(code)


def _warn_if_device_busy(device: str) -> None:
    """Say so (and go on) when a trainer already runs on the device this run would use."""
    from hybrid_tui.jobs.busy import busy_warning

    warning = busy_warning(device)
    if warning:
        print(f"warning: {visible(warning)}", file=sys.stderr)


@app.command("eval")
def eval_command(
    dataset: Annotated[
        str,
        typer.Option(
            help="xquad-r, mlqa-r, miracl (nDCG@10, Recall@100) or mmmlu (option accuracy)."
        ),
    ] = "xquad-r",
    model: Annotated[
        str | None, typer.Option(help="Model spec: offline name, hub id or folder.")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(help="Evaluate the trained model of this run (its id, or 4+ characters)."),
    ] = None,
    data_dir: DataDir = None,
    langs: Annotated[
        str | None, typer.Option(help="Comma-separated languages (default: all).")
    ] = None,
    settings: Annotated[
        str, typer.Option(help="Comma-separated: mono,cross,multi.")
    ] = "mono,cross,multi",
    max_questions: Annotated[
        int | None,
        typer.Option(
            help="Evaluate a seeded random sample of N question ids (each in every language "
            "it exists in); default: all."
        ),
    ] = None,
    question_seed: Annotated[int, typer.Option(help="Seed of the --max-questions sample.")] = 0,
    map_cutoff: Annotated[
        int | None, typer.Option(help="mAP@k instead of the full ranking.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    max_query_length: Annotated[
        int | None, typer.Option(help="Override the model's query max length (tokens).")
    ] = None,
    max_passage_length: Annotated[
        int | None, typer.Option(help="Override the model's passage max length (tokens).")
    ] = None,
    query_prefix: Annotated[
        str | None, typer.Option(help="Override the model's query prefix.")
    ] = None,
    passage_prefix: Annotated[
        str | None, typer.Option(help="Override the model's passage prefix.")
    ] = None,
    pooling: Annotated[str | None, typer.Option(help="Override pooling: mean or cls.")] = None,
    subjects: Annotated[
        str | None,
        typer.Option(help="mmmlu only: comma-separated MMLU subjects (default: all)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Zero-shot retrieval evaluation: mAP for every setting and the language-bias figures.

    The model embeds with its own conventions (a trained folder's, else its family's) unless an
    override is given; the JSON output says which were used.
    """
    from hybrid_tui.cli.evaluate import run_eval

    result = run_eval(
        dataset=dataset,
        model=model,
        run=run,
        data_root=resolve_data_root(data_dir),
        langs=langs,
        settings=settings,
        max_questions=max_questions,
        map_cutoff=map_cutoff,
        batch_size=batch_size,
        device=device,
        show_progress=not json_output,
        question_seed=question_seed,
        overrides={
            "max_query_length": max_query_length,
            "max_passage_length": max_passage_length,
            "query_prefix": query_prefix,
            "passage_prefix": passage_prefix,
            "pooling": pooling,
        },
        subjects=subjects,
    )
    if json_output:
        _print_json(result)
        return
    from hybrid_tui.cli.output import print_eval_result

    print_eval_result(result)


@app.command()
def mine(
    pairs: Annotated[
        str,
        typer.Argument(
            help="JSONL pairs file ({id, lang, query, passage} rows), or a LAReQA folder or name."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="JSONL file to write.")],
    model: Annotated[
        str | None, typer.Option(help="Model spec: packaged name, hub id or folder.")
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Mine with the trained model of this run (4+ characters).")
    ] = None,
    data_dir: DataDir = None,
    langs: Annotated[
        str | None, typer.Option(help="Comma-separated languages to keep (default: all).")
    ] = None,
    num_negatives: Annotated[int, typer.Option(help="Negatives per (id, lang) row.")] = 3,
    range_min: Annotated[
        int, typer.Option(help="Skip the first N ranked candidates (likely false negatives).")
    ] = 0,
    range_max: Annotated[int, typer.Option(help="Take negatives from ranks below this.")] = 100,
    margin: Annotated[
        float | None,
        typer.Option(help="Keep only candidates scoring at most the positive's score minus this."),
    ] = None,
    candidates: Annotated[
        str,
        typer.Option(help="passage: the row's own language (default); all: every language."),
    ] = "passage",
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 64,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    tracking_uri: TrackingUri = None,
    json_output: JsonFlag = False,
) -> None:
    """Mine hard negatives for a pairs file with a model and faiss; writes JSONL with `negatives`."""
    from hybrid_tui.progress import rich_progress
    from hybrid_tui.training.mining import MiningOptions, print_summary, run_mine

    def run_resolver(text: str) -> str:
        from hybrid_tui.tracking import Tracker

        return Tracker(resolve_tracking_uri(tracking_uri)).resolve_run_id(text)

    options = MiningOptions(num_negatives, range_min, range_max, margin, candidates)
    with rich_progress(transient=True) as progress:
        summary = run_mine(
            pairs,
            output,
            model,
            run,
            resolve_data_root(data_dir),
            [lang.strip() for lang in (langs or "").split(",") if lang.strip()],
            options,
            batch_size,
            device,
            progress,
            run_resolver,
        )
    if json_output:
        _print_json(summary.as_dict())
    else:
        print_summary(summary)


@app.command()
def ui(
    tracking_uri: TrackingUri = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it local.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
) -> None:
    """Open the real MLflow UI on this tracking store (lean: one worker, no job runner)."""
    from hybrid_tui.tracking.mlflow_ui import serve_mlflow_ui

    serve_mlflow_ui(resolve_tracking_uri(tracking_uri), host, port)


@app.command()
def demo(
    data_dir: DataDir = None,
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the demo's).")] = None,
    max_questions: Annotated[
        int | None, typer.Option(help="XQuAD-R questions per language.")
    ] = None,
) -> None:
    """Train e5-small-offline with a hybrid mix on MLQA-R, evaluate zero-shot on XQuAD-R, show tables."""
    from hybrid_tui.cli.demo import run_demo

    run_demo(resolve_data_root(data_dir), steps=steps, max_questions=max_questions)


@models_app.command("list")
def models_list(json_output: JsonFlag = False) -> None:
    """Offline models that ship in PyPI packages (and whether they are prepared)."""
    from hybrid_tui.cli.output import print_models

    print_models(json_output)


@models_app.command("prepare")
def models_prepare(
    name: Annotated[
        str,
        typer.Argument(help="e5-small-offline, minilm-offline, tiny-random, a hub id or a folder."),
    ],
) -> None:
    """Build (or download) a model once into the cache and print its folder."""
    from hybrid_tui.models import resolve_model
    from hybrid_tui.progress import rich_progress

    with rich_progress(transient=True) as progress:
        resolved = resolve_model(name, progress=progress)
    typer.echo(str(resolved.path))


# The run and study commands are declared in their own modules and mounted here, top level.
app.registered_commands += run_commands.registered_commands + study_commands.registered_commands


def main() -> None:
    """Console entry: user errors are one line and exit code 2, never a traceback (unless --debug).

    Click's standalone mode handles usage errors (exit 2), `typer.Exit` codes and Ctrl-C;
    `HybridTuiError` passes through it and is printed here as one line.
    """
    from hybrid_tui.command_name import command

    entry = typer.main.get_command(app)
    try:  # `Usage:` and `Try ... --help` lines name the command as the user can type it
        entry.main(args=sys.argv[1:], prog_name=command(), standalone_mode=True)
    except HybridTuiError as err:
        if _debug["on"]:
            import traceback

            traceback.print_exc()
        print(f"error: {visible(err)}", file=sys.stderr)  # errors quote the user's input
        sys.exit(USAGE_EXIT_CODE)


if __name__ == "__main__":
    main()
