"""The training run, always in its own process: setup, loop, evaluate, checkpoint, report.

Read top to bottom: `run_training` checks every input before an MLflow run exists (bad input
never leaves a run RUNNING), then trains with InfoNCE over in-batch negatives drawn by the sampler
mix, checkpoints atomically, evaluates, and records everything in MLflow. Each detail lives in the
file named for its job: `inputs`, `setup`, `step`, `distributed`, `run_record`, `saving`,
`evaluation`, `checkpoint`.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.events import EventWriter
from hybrid_tui.metric_keys import TRAIN_HARD_NEGATIVES, batch_source_key
from hybrid_tui.paths import resolve_data_root
from hybrid_tui.progress import ProgressFn, ProgressLines, rich_progress
from hybrid_tui.recipe import Recipe, load_recipe
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.tracking import NullTracker, Tracker
from hybrid_tui.training import distributed, run_record
from hybrid_tui.training.distributed import barrier
from hybrid_tui.training.inputs import check_resumable, prepare_inputs
from hybrid_tui.training.loss_watch import WARMUP_STEPS, LossWatch
from hybrid_tui.training.phases import StartupPhases
from hybrid_tui.training.run_record import StepMeter, step_metrics
from hybrid_tui.training.system_metrics import GpuMetrics


def run_training(
    recipe: Recipe,
    data_root: str | None = None,
    resume_run_id: str | None = None,
    announce: Path | None = None,
    show_progress: bool = False,
) -> tuple[str, str]:
    """Train one recipe to the end (or resume a run); return the MLflow run id and its final
    status (FINISHED, or KILLED when asked to stop).

    Raises `HybridTuiError` for bad input (before any run is created) and re-raises anything that
    breaks mid-run after marking the run FAILED with the error as an artifact.
    """
    run_record.prefetch_code_version()
    phases = StartupPhases()
    inputs = prepare_inputs(recipe, data_root, phase=phases)
    is_main = distributed.init_distributed(recipe.train.device)
    tracker = Tracker(recipe.tracking.resolved_uri()) if is_main else NullTracker()
    run_id = None
    if is_main and resume_run_id:
        check_resumable(tracker, RunFiles.for_run(resume_run_id))
        run_id = resume_run_id
        tracker.resume_run(run_id)
    elif is_main:
        phases("creating the run in the tracking store")
        run_id = run_record.start_tracked_run(tracker, inputs)
    run_id = distributed.broadcast_run_id(run_id)
    files = RunFiles.for_run(run_id)
    # opened before the job record: holding it open is what makes this process the run's trainer
    # to `trainer_process` (so a cancel or `runs` in between does not take it for a stranger)
    events = EventWriter(files.events if is_main else os.devnull)
    phases.attach(events)
    if is_main:
        run_record.write_job_record(files, inputs, recipe)
        run_record.adopt_launch_log(files)
    stop = _install_stop_handler()
    if announce and is_main:
        run_record.announce_run_id(announce, run_id)

    try:
        if is_main and not resume_run_id:
            phases("recording the run's params and recipe")
            run_record.record_run_details(tracker, run_id, inputs)
        if is_main:
            run_record.pick_job_device(files, recipe)
        status = _train_and_evaluate(
            inputs, tracker, run_id, files, events, stop, show_progress, phases
        )
    except BaseException as err:
        problem = err if isinstance(err, HybridTuiError) else None
        problem = problem or run_record.disk_full_error(err, files, recipe.tracking.resolved_uri())
        message = str(problem) if problem else f"{type(err).__name__}: {err}"
        marked = run_record.fail_run(tracker, run_id, events, message, traceback.format_exc())
        if problem is None:
            raise
        if not marked:  # the reason stays the log's last line, with what became of the run
            uri = recipe.tracking.resolved_uri()
            raise HybridTuiError(f"{problem}; {run_record.not_marked(run_id, uri)}") from None
        raise problem from None
    tracker.end_run(run_id, status)
    events.write("end", status=status)
    return run_id, status


def _train_and_evaluate(inputs, tracker, run_id, files, events, stop, show_progress, phases) -> str:
    """The loop. Returns the final status: FINISHED, or KILLED when asked to stop."""
    from hybrid_tui.training.evaluation import evaluate_and_log
    from hybrid_tui.training.saving import (
        discard_checkpoint,
        save,
        save_final_model,
        upload_final_model,
    )
    from hybrid_tui.training.setup import setup_training
    from hybrid_tui.training.step import hard_negatives, train_step

    recipe = inputs.recipe
    setup = setup_training(inputs, files, phase=phases)
    steps = recipe.train.steps
    events.write("start", run_id=run_id, name=recipe.name, steps=steps, start_step=setup.step)
    for status in (setup.encoder.padding_free_status, setup.precision_status):
        events.write("log", message=status)
        if setup.is_main:
            print(status, flush=True)
    meter = StepMeter(recipe.train.batch_size, setup.sampler.kind_counts)
    gpu_metrics = GpuMetrics(setup.device if setup.is_main else "cpu")
    watch = LossWatch(recipe.train.batch_size, max(WARMUP_STEPS, recipe.train.warmup_steps))
    phases(f"preparing the first batch (step {setup.step + 1} of {steps})")
    with step_progress(show_progress, steps, setup.step, quiet=not setup.is_main) as console:
        for step in range(setup.step + 1, steps + 1):
            if stop.requested:
                save(setup, files, step - 1)
                events.write("log", message=f"stopped at step {step - 1}; checkpoint saved")
                return "KILLED"
            batch = setup.sampler.next_batch()
            negatives = hard_negatives(setup, batch)
            loss = train_step(setup, batch, negatives)
            record = meter.record(step, loss, setup.scheduler.get_last_lr()[0], batch.kind)
            if recipe.data.hard_negatives:
                record["hard_negatives"] = sum(len(n) for n in negatives)
            if batch.source:
                record["source"] = batch.source
            events.write("step", **record)
            if setup.is_main and (problem := watch.check(step, loss)):
                print(f"warning: {problem}", flush=True)  # the trainer's log
                events.write("warning", message=problem)  # Live shows it in bold
            if step % recipe.train.log_every == 0 or step == steps:
                metrics = step_metrics(record, meter)
                if recipe.data.hard_negatives:
                    metrics[TRAIN_HARD_NEGATIVES] = record["hard_negatives"]
                for source, count in setup.sampler.source_counts.items():
                    metrics[batch_source_key(source)] = count
                tracker.log_metrics(run_id, metrics, step)
            if system := gpu_metrics.due():
                tracker.log_metrics(run_id, system, step)
            if recipe.train.checkpoint_every and step % recipe.train.checkpoint_every == 0:
                save(setup, files, step)
                tracker.flush()  # a kill -9 now loses no point: the resume starts after `step`
            if recipe.train.eval_every and step % recipe.train.eval_every == 0 and step < steps:
                if setup.is_main:
                    evaluate_and_log(
                        setup, tracker, run_id, events, step, final=False, show=console.work
                    )
                barrier()
            console.step(step, loss)
        if setup.is_main:
            metrics = evaluate_and_log(
                setup, tracker, run_id, events, steps, final=True, show=console.work
            )
            save_final_model(setup, files, tracker, run_id, metrics)
            discard_checkpoint(files)
    barrier()
    upload_final_model(setup, files, tracker, run_id, events)  # after the barrier: may be long
    return "FINISHED"


class _StopFlag:
    requested = False


def _install_stop_handler() -> _StopFlag:
    """SIGTERM/SIGINT ask the loop to checkpoint and end the run KILLED at the next step."""
    flag = _StopFlag()

    def ask_to_stop(signum, frame):  # noqa: ARG001
        if flag.requested:  # a second signal: stop now
            raise KeyboardInterrupt
        flag.requested = True

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    return flag


def main_entry(
    recipe_path: str,
    data_root: str | None,
    resume: str | None,
    announce: str | None,
    overrides: Sequence[str] = (),
) -> int:
    """Entry point of the `train` command's process; returns the exit code. `overrides` are the
    `--set KEY=VALUE` changes to the recipe (recorded on the run)."""
    from hybrid_tui.recipe import load_recipe
    from hybrid_tui.training.console_log import console_copied, log_only

    started = time.time()
    with console_copied():  # an attached trainer's run still gets its trainer.log
        try:
            if resume:
                recipe = _recipe_for_resume(resume, recipe_path)
                data_root = data_root or _job_data_root(resume)
            else:
                recipe = load_recipe(recipe_path, overrides)
            run_id, status = run_training(
                recipe,
                data_root=data_root,
                resume_run_id=resume,
                announce=Path(announce) if announce else None,
                show_progress=sys.stderr.isatty(),
            )
        except HybridTuiError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            log_only(f"error: {err}")
            return 2
        from hybrid_tui.training.distributed import rank_and_world

        if rank_and_world()[0] == 0:  # one line per job, not per torchrun rank
            verb = "finished in" if status == "FINISHED" else f"ended {status} after"
            print(f"run {run_id} {verb} {time.time() - started:.0f}s", flush=True)
    return 0


def _recipe_for_resume(run_id: str, recipe_path: str | None) -> Recipe:
    saved = RunFiles.for_run(run_id).recipe
    if saved.is_file():
        return load_recipe(saved)
    if recipe_path:
        return load_recipe(recipe_path)
    raise HybridTuiError(
        f"no local files for run {run_id} under {saved.parent.parent}; resume from the "
        "directory the run was started in, or set HYBRID_TUI_HOME"
    )


def _job_data_root(run_id: str) -> str | None:
    job = RunFiles.for_run(run_id).job
    if job.is_file():
        return json.loads(job.read_text(encoding="utf-8")).get("data_root")
    return resolve_data_root()


@dataclass(frozen=True)
class ConsoleProgress:
    """What the trainer's console shows: `step(step, loss)` for training, `work(description,
    done, total)` for the evaluation's encoding and scoring (minutes of work on a CPU)."""

    step: Callable[[int, float], None]
    work: ProgressFn


@contextmanager
def step_progress(
    enabled: bool, total: int, start: int, quiet: bool = False
) -> Iterator[ConsoleProgress]:
    """Rich progress bars in a terminal (training, then one per evaluation phase); otherwise a
    log line for the first step and every 10%, and for each phase's start, tenths and end;
    nothing when `quiet` (the other ranks of a torchrun job: rank 0 reports)."""
    if quiet:
        yield ConsoleProgress(lambda step, loss: None, lambda description, done, total: None)
        return
    every = max(1, total // 10)

    def step_lines(write: Callable[[str], None]) -> Callable[[int, float], None]:
        def log_line(step: int, loss: float) -> None:
            if step % every == 0 or step == total or step == start + 1:
                write(f"step {step}/{total} loss {loss:.4f}")

        return log_line

    if not enabled:
        say = functools.partial(print, flush=True)
        yield ConsoleProgress(step_lines(say), ProgressLines(say))
        return
    from hybrid_tui.training.console_log import log_only

    # bars in the terminal; in an attached trainer's log, the lines a detached one prints
    log_step, log_work = step_lines(log_only), ProgressLines(log_only)

    def step(step: int, loss: float) -> None:
        progress("training", step, total)
        log_step(step, loss)

    def work(description: str, done: int, total_work: int) -> None:
        progress(description, done, total_work)
        log_work(description, done, total_work)

    with rich_progress() as progress:
        progress("training", start, total)
        yield ConsoleProgress(step, work)
