"""`hybrid-tui runs`, `show`, `compare`, `cancel`, `reconcile`, `tag`, `note`, `delete`: the commands on
tracked runs. Declarations only (the bodies are in cli_output, cli_runs and jobs); `cli.py`
mounts them on the main app."""

from __future__ import annotations

from typing import Annotated

import typer

from hybrid_tui.cli.options import JsonFlag, TrackingUri
from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import resolve_tracking_uri

RUN_ID_HELP = f"Run id, or 4+ of its first characters (`{command('runs')}`)."

run_commands = typer.Typer()


@run_commands.command()
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
            " > 0.5 and params.`train.lr` = '0.001') or the short form (multi>50 lr=1e-3;"
            " figures as the tables show them, mAP x 100).",
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
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", help="Show the first N runs (default 50; --json: all)."),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every run.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """List tracked runs, newest 50 first (a run whose trainer died shows `RUNNING · trainer gone`)."""
    from hybrid_tui.cli.output import list_runs

    list_runs(
        resolve_tracking_uri(tracking_uri),
        experiment,
        json_output,
        columns,
        filter_text,
        sort,
        descending,
        limit,
        show_all,
    )


@run_commands.command()
def show(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
    tracking_uri: TrackingUri = None,
    json_output: JsonFlag = False,
) -> None:
    """Per-language tables of one run: mono row, cross matrix, multilingual row, bias."""
    from hybrid_tui.cli.output import show_run

    show_run(resolve_tracking_uri(tracking_uri), run_id, json_output)


@run_commands.command()
def compare(
    run_ids: Annotated[
        list[str],
        typer.Argument(
            help="Two or more run ids (or unique prefixes); deltas vs the first. Two "
            "comma-separated groups (A1,A2,A3 B1,B2,B3) compare seeds against seeds."
        ),
    ],
    tracking_uri: TrackingUri = None,
    json_output: JsonFlag = False,
) -> None:
    """The same tables as deltas against the first run, with significance per setting
    (question as the unit, Holm; † marks a significant cell)."""
    from hybrid_tui.cli.output import compare_runs

    compare_runs(resolve_tracking_uri(tracking_uri), run_ids, json_output)


@run_commands.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help=RUN_ID_HELP)],
    tracking_uri: TrackingUri = None,
) -> None:
    """Stop a running trainer: it checkpoints and ends its run KILLED."""
    from hybrid_tui.jobs.process import cancel as cancel_job
    from hybrid_tui.jobs.record import full_run_id
    from hybrid_tui.tracking import Tracker

    run_id = full_run_id(run_id, Tracker(resolve_tracking_uri(tracking_uri)))
    from hybrid_tui.queue.daemon import cancel_in_slurm, slurm_job_of_run

    if (in_slurm := slurm_job_of_run(run_id)) is not None:  # scancel: one SIGTERM, as here
        ended = cancel_in_slurm(in_slurm)
        typer.echo(f"cancelled {run_id} (Slurm job {in_slurm.slurm_id}; queue job {ended.state})")
        return
    if not cancel_job(run_id):
        raise HybridTuiError(f"run {run_id} has no live trainer on this machine")
    typer.echo(f"cancelled {run_id}")


@run_commands.command()
def reconcile(tracking_uri: TrackingUri = None, json_output: JsonFlag = False) -> None:
    """Mark runs whose trainer is gone (kill -9, OOM, power loss) FAILED, with the log's tail;
    end the queue's jobs whose trainer is gone."""
    from hybrid_tui.cli.runs import reconcile as reconcile_runs

    reconcile_runs(resolve_tracking_uri(tracking_uri), json_output)


RunArgument = Annotated[str, typer.Argument(help=RUN_ID_HELP)]


@run_commands.command("tag")
def tag_command(
    run_id: RunArgument,
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE tags (team=ir stage=2).")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Set MLflow tags on a run (`runs --filter "tags.team = 'ir'"` finds them)."""
    from hybrid_tui.cli.runs import tag

    tag(resolve_tracking_uri(tracking_uri), run_id, tags)


@run_commands.command("note")
def note_command(
    run_id: RunArgument,
    text: Annotated[str, typer.Argument(help="The note; an empty text clears it.")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Set a run's free-text note (the mlflow.note.content tag: the MLflow UI's description)."""
    from hybrid_tui.cli.runs import note

    note(resolve_tracking_uri(tracking_uri), run_id, text)


@run_commands.command("delete")
def delete_command(
    run_ids: Annotated[list[str], typer.Argument(help="Run ids or unique prefixes.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    files: Annotated[
        bool | None,
        typer.Option(
            "--files/--keep-files",
            help="Also remove each run's local folder (.hybrid-tui/runs/ID: model, checkpoint); "
            "by default it is kept and its size shown.",
        ),
    ] = None,
    tracking_uri: TrackingUri = None,
) -> None:
    """Delete runs (asks first; a run still RUNNING is refused: cancel it first)."""
    from hybrid_tui.cli.runs import delete

    delete(resolve_tracking_uri(tracking_uri), run_ids, yes, files)
