"""`hybrid-tui tag`, `note`, `delete` and `reconcile`: writing to runs from the command line (through the
`Tracker`, so these import MLflow; the reads before them do not)."""

from __future__ import annotations

import typer

from hybrid_tui.display_text import visible
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.runs.labels import deletable, note_run, parse_tags, tag_run
from hybrid_tui.runs.local_files import describe, local_folder, remove_folder, shown_path
from hybrid_tui.tracking import Tracker


def _tracker(uri: str):
    return Tracker(uri)


def tag(uri: str, run_id: str, pairs: list[str]) -> None:
    tags = parse_tags(pairs)  # checked before the store is touched
    whole = tag_run(_tracker(uri), run_id, tags)
    shown = visible(", ".join(f"{key}={value}" for key, value in tags.items()))
    typer.echo(f"tagged {whole[:8]}: {shown}")


def note(uri: str, run_id: str, text: str) -> None:
    whole = note_run(_tracker(uri), run_id, text)
    typer.echo(f"note on {whole[:8]} {'set' if text else 'cleared'} (the MLflow UI's description)")


def delete(uri: str, run_ids: list[str], yes: bool, files: bool | None = None) -> None:
    """Delete every named run, or none: all are checked first, then the user is asked. Each run's
    local folder (model, checkpoint: GBs for a real model) goes too with `files`; else it is kept
    and the message says where and how big."""
    from hybrid_tui.jobs.reconcile import reconcile_runs

    tracker = _tracker(uri)
    reconcile_runs(tracker)  # asked to delete: a dead trainer's run is FAILED, and so deletable
    runs = deletable(tracker, run_ids)
    folders = [folder for run in runs if (folder := local_folder(run.run_id)) is not None]
    listed = visible(", ".join(f"{run.run_id[:8]} ({run.name}, {run.status})" for run in runs))
    described = visible(", ".join(describe(folder) for folder in folders))
    if not yes:
        with_files = f" and their local files {described}" if files and folders else ""
        question = f"delete {listed}{with_files}?"
        if folders and not files:
            question += f" (local files {described} are kept; --files removes them)"
        try:
            sure = typer.confirm(question, default=False)
        except typer.Abort:
            raise HybridTuiError(
                "nothing deleted: no answer (give --yes to delete without asking)"
            ) from None
        if not sure:
            typer.echo("nothing deleted")
            raise typer.Exit(1)
    for run in runs:
        tracker.delete_run(run.run_id)
    typer.echo(f"deleted {listed}")
    if not folders:
        return
    if files:
        for folder in folders:
            remove_folder(folder)
        typer.echo(f"removed local files {described}")
    elif files is None:
        paths = " ".join(visible(shown_path(folder)) for folder in folders)
        typer.echo(
            f"local files kept: {described}; remove them with `rm -r {paths}` "
            "(delete --files removes them with the run)"
        )


def reconcile(uri: str, json_output: bool) -> None:
    """Mark the runs whose trainer is gone FAILED (`jobs.reconcile`), and end the queue's jobs
    whose trainer is gone (the scheduler's pass, run here when no scheduler serves the queue)."""
    import json

    from hybrid_tui.jobs.queue_store import RUNNING, JobStore
    from hybrid_tui.jobs.reconcile import reconcile_runs
    from hybrid_tui.queue.daemon import running_scheduler, trackers
    from hybrid_tui.queue.scheduler import Scheduler

    failed = reconcile_runs(_tracker(uri))
    ended = []
    if running_scheduler() is None:  # a running scheduler does this on each pass itself
        store = JobStore()
        running = {job.id for job in store.jobs([RUNNING])}
        Scheduler(store, tracker_for=trackers()).reconcile()
        ended = [job for job in store.jobs() if job.id in running and job.state != RUNNING]
    if json_output:
        jobs = [{"id": job.id, "state": job.state, "run_id": job.run_id} for job in ended]
        typer.echo(json.dumps({"failed": failed, "queue_jobs": jobs}, indent=1, sort_keys=True))
        return
    for run_id in failed:
        typer.echo(f"run {run_id[:8]}: its trainer is gone; marked FAILED")
    for job in ended:
        typer.echo(f"queue job {job.id} (run {job.run_id or 'not started'}): {job.state}")
    if not failed and not ended:
        typer.echo("every RUNNING run on this machine has its trainer; nothing to mark")
