"""`hybrid-tui queue ...`: the job queue's commands (thin; the work is in `hybrid_tui.queue`)."""

from __future__ import annotations

from typing import Annotated

import typer

from hybrid_tui.cli.options import DataDir, JsonFlag
from hybrid_tui.paths import resolve_data_root

queue_app = typer.Typer(
    help="A job queue: many runs on one box, one per GPU (or N at once on the CPU), "
    "highest priority first.",
    no_args_is_help=True,
)


@queue_app.command("add")
def queue_add(
    recipes: Annotated[list[str], typer.Argument(help="Recipe TOML files.")],
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=V1,V2,...: one job per value (several --set: every combination). A comma "
            "inside [], {} or quotes does not split. Repeatable.",
        ),
    ] = None,
    gpus: Annotated[
        int,
        typer.Option(help="GPUs per job (N > 1: torchrun); CPU slots on a machine without GPU."),
    ] = 1,
    priority: Annotated[int, typer.Option(help="Higher starts first (then oldest).")] = 0,
    data_dir: DataDir = None,
) -> None:
    """Queue one job per recipe and --set combination; prints the job ids."""
    from hybrid_tui.cli.queue_output import print_added
    from hybrid_tui.queue.submit import queue_recipe_files

    print_added(
        queue_recipe_files(recipes, overrides or [], gpus, priority, resolve_data_root(data_dir))
    )


@queue_app.command("ls")
def queue_ls(json_output: JsonFlag = False) -> None:
    """Jobs with their state, GPUs, run id, wait and run time (and the scheduler's state)."""
    from hybrid_tui.cli.queue_output import print_jobs
    from hybrid_tui.jobs.queue_store import JobStore
    from hybrid_tui.queue.daemon import running_scheduler

    print_jobs(JobStore().jobs(), running_scheduler(), json_output)


@queue_app.command("rm")
def queue_rm(
    jobs: Annotated[list[str], typer.Argument(help="Job ids (or run ids).")],
) -> None:
    """Remove queued (or ended) jobs; a running one must be cancelled first."""
    from hybrid_tui.jobs.queue_store import JobStore

    for job in JobStore().remove(jobs):
        typer.echo(f"removed job {job.id} ({job.state} before)")


@queue_app.command("logs")
def queue_logs(
    job: Annotated[str, typer.Argument(help="Job id or run id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")
    ] = False,
) -> None:
    """A job's trainer log (with -f: followed like tail -f until the job ends)."""
    from hybrid_tui.cli.queue_output import print_log
    from hybrid_tui.jobs.queue_store import JobStore

    print_log(JobStore(), job, follow)


GpuList = Annotated[
    str | None, typer.Option("--gpus", help="GPU indices to hand out, e.g. 0,1,2,3.")
]
SlotCount = Annotated[
    int | None, typer.Option("--slots", help="Without GPUs: run N jobs at once on the CPU.")
]


@queue_app.command("start")
def queue_start(gpus: GpuList = None, slots: SlotCount = None) -> None:
    """Start the scheduler, detached (it outlives the terminal); one per state dir."""
    from hybrid_tui.queue.daemon import parse_slots, start_scheduler

    info = start_scheduler(parse_slots(gpus, slots))
    typer.echo(f"scheduler started ({info.describe()}); log {info.log}")


@queue_app.command("stop")
def queue_stop(
    cancel_running: Annotated[
        bool,
        typer.Option(help="Also cancel running trainers (they checkpoint and end KILLED)."),
    ] = False,
) -> None:
    """Stop the scheduler: nothing more starts; running trainers go on unless --cancel-running."""
    from hybrid_tui.queue.daemon import stop_scheduler

    for line in stop_scheduler(cancel_running):
        typer.echo(line)


@queue_app.command("serve", hidden=True)
def queue_serve(gpus: GpuList = None, slots: SlotCount = None) -> None:
    """The scheduler process itself (what `queue start` runs detached)."""
    from hybrid_tui.queue.daemon import parse_slots, serve

    code = serve(parse_slots(gpus, slots))
    if code:
        raise typer.Exit(code)
