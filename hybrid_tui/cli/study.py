"""`hybrid-tui study`: declared here, mounted on the main app by `cli.py`; the work is in
study.py, study_runs.py and study_report.py."""

from __future__ import annotations

from typing import Annotated

import typer

from hybrid_tui.cli.options import DataDir
from hybrid_tui.command_name import command
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.paths import resolve_data_root

study_commands = typer.Typer()


@study_commands.command()
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
            f"(then `{command('queue start')}`, and --summary-only once they are done).",
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

    from hybrid_tui.cli.demo import demo_recipe
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.study.report import write_report
    from hybrid_tui.study.run import queue_study, run_study
    from hybrid_tui.study.summary import summarize_and_save

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
        again = command(f"study --name {name}" + (f" --recipe {recipe}" if recipe else ""))
        typer.echo(
            f"queued {len(queued)} jobs; run them with `{command('queue start')}` (if no scheduler "
            f"runs), then write the summary with `{again} --out {out} --summary-only`",
            err=True,
        )
        return
    if summary_only:
        summary = summarize_and_save(base.tracking.resolved_uri(), name, Path(out))
        write_report(summary, Path(out), base)
    else:
        summary = run_study(
            base, name, seeds, sweep, resolve_data_root(data_dir), Path(out), schedule_arm
        )
    typer.echo(f"wrote {out}")
    not_run = summary.mmmlu_not_run(resolve_data_root(data_dir))
    if not_run:
        typer.echo(not_run)
