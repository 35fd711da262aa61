"""`hybrid-tui study`: the paper's comparison, offline: mono vs cross vs hybrid batches over seeds.

Each method trains the same base recipe (the demo's by default: e5-small-offline on MLQA-R dev,
zero-shot on XQuAD-R) with only the sampler mix and the seed changed, in its own `hybrid-tui train`
process, tagged `hybrid_tui.study=<name>`. The untrained model is evaluated once as the baseline.
Runs already FINISHED for a (method, seed) are reused, so an interrupted study picks up where it
stopped. The summary (means with 95% t-intervals over seeds, seen vs unseen languages, the claims of
RESEARCH.md checked one by one) is written as markdown and a PNG.
"""

from __future__ import annotations

import time
from pathlib import Path

from hybrid_tui.jobs.launch import TrainerStart, run_attached
from hybrid_tui.paths import state_dir
from hybrid_tui.recipe import Recipe, save_recipe
from hybrid_tui.study.plan import UNTRAINED, plan, recipe_for
from hybrid_tui.study.report import write_report
from hybrid_tui.study.summary import StudySummary, summaries_folder, summarize_and_save

# ---------------------------------------------------------------- running


def run_study(
    base: Recipe,
    study: str,
    seeds: int,
    alphas: list[float],
    data_root: str | None,
    out: Path,
    schedule_arm: bool = False,
) -> StudySummary:
    """Train what is missing, evaluate the baseline if missing, then summarise into `out`."""
    from hybrid_tui.tracking import Tracker

    started = time.monotonic()
    uri = base.tracking.resolved_uri()
    tracker = Tracker(uri)
    done = _finished(tracker, study)
    todo = [r for r in plan(seeds, alphas, schedule_arm) if (r.method, r.seed) not in done]
    print(f"study {study}: {len(done)} runs already finished, {len(todo)} to train", flush=True)
    mmmlu = _with_mmmlu(data_root)
    if (UNTRAINED, 0) not in done:
        _evaluate_untrained(base, study, tracker, data_root)
    for index, run in enumerate(todo, 1):
        recipe = recipe_for(base, study, run, mmmlu)
        path = save_recipe(recipe, state_dir() / "studies" / study / f"{recipe.name}.toml")
        print(f"[{index}/{len(todo)}] training {recipe.name}", flush=True)
        code, _ = run_attached(TrainerStart(path, data_dir=str(data_root) if data_root else None))
        if code != 0:
            print(f"  {recipe.name} failed; it is left out of the summary", flush=True)
    from hybrid_tui.study.store import save_wall_time

    if todo:
        save_wall_time(summaries_folder(out), time.monotonic() - started, len(todo))
    summary = summarize_and_save(uri, study, out)
    write_report(summary, out, base)
    return summary


def queue_study(
    base: Recipe,
    study: str,
    seeds: int,
    alphas: list[float],
    data_root: str | None,
    schedule_arm: bool = False,
) -> list:
    """Queue the runs still missing as jobs (one per method x seed) instead of training them here,
    so a box with several GPUs trains them in parallel; `--summary-only` summarises once they are
    done. Runs already FINISHED, or already queued or running, are not queued again. The untrained
    baseline is evaluated here when missing (an evaluation, not a training job)."""
    from hybrid_tui.jobs.queue_store import QUEUED, RUNNING, JobStore
    from hybrid_tui.queue.submit import queue_recipes
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(base.tracking.resolved_uri())
    done = _finished(tracker, study)
    store = JobStore()
    waiting = {
        (job.tags.get("hybrid_tui.study_method"), int(job.tags.get("hybrid_tui.study_seed", -1)))
        for job in store.jobs([QUEUED, RUNNING])
        if job.tags.get("hybrid_tui.study") == study
    }
    todo = [
        r for r in plan(seeds, alphas, schedule_arm) if (r.method, r.seed) not in done | waiting
    ]
    print(
        f"study {study}: {len(done)} runs already finished, {len(waiting)} already queued or "
        f"running, {len(todo)} to queue",
        flush=True,
    )
    mmmlu = _with_mmmlu(data_root)
    if (UNTRAINED, 0) not in done:
        _evaluate_untrained(base, study, tracker, data_root)
    recipes = [recipe_for(base, study, run, mmmlu) for run in todo]
    return queue_recipes(recipes, f"study {study}", data_dir=data_root, store=store) if todo else []


def _with_mmmlu(data_root: str | None) -> bool:
    """Whether the trained runs are also evaluated on MMMLU (a local copy is present), for the
    optional claim 5; said in one line either way."""
    from hybrid_tui.study.mmmlu_claim import mmmlu_copy

    copy = mmmlu_copy(data_root)
    print(
        f"MMMLU copy {copy}: the runs are also evaluated on it (claim 5)"
        if copy
        else "no MMMLU copy: claim 5 (MMMLU) will not be run",
        flush=True,
    )
    return copy is not None


def _finished(tracker, study: str) -> set[tuple[str, int]]:
    return {
        (detail.tags["hybrid_tui.study_method"], int(detail.tags["hybrid_tui.study_seed"]))
        for detail in _study_runs(tracker, study)
    }


def _study_runs(tracker, study: str) -> list:
    details = [
        tracker.get_run(run.run_id) for run in tracker.list_runs(experiment=f"study-{study}")
    ]
    return [
        d for d in details if d.status == "FINISHED" and d.tags.get("hybrid_tui.study") == study
    ]


def _evaluate_untrained(base: Recipe, study: str, tracker, data_root: str | None) -> None:
    """The starting point every method is measured against, logged as a run of the study."""
    from hybrid_tui.devices import pick_device
    from hybrid_tui.evaluation.lareqa import evaluate_model, load_eval_sets
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.progress import rich_progress
    from hybrid_tui.tracking.per_query import log_per_query_artifacts

    print(f"evaluating the untrained {base.model.spec}", flush=True)
    with rich_progress(transient=True) as progress:
        eval_sets = load_eval_sets(base.eval, data_root, progress=progress)
        encoder = BiEncoder.load(
            base.model, device=pick_device(base.train.device), progress=progress
        )
        per_query: dict = {}
        metrics = evaluate_model(
            encoder, eval_sets, base.eval, progress=progress, per_query=per_query
        )
    tags = {
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": UNTRAINED,
        "hybrid_tui.study_seed": "0",
        "hybrid_tui.mix": UNTRAINED,
        "hybrid_tui.train_languages": "",
    }
    run_id = tracker.start_run(f"study-{study}", f"{study}-{UNTRAINED}", tags)
    tracker.log_params(run_id, {"model.spec": base.model.spec, "train.steps": "0"})
    tracker.log_text(run_id, base.to_toml(), "recipe.toml")  # its model and evaluation
    tracker.log_metrics(run_id, metrics, 0)
    log_per_query_artifacts(tracker, run_id, per_query)
    tracker.end_run(run_id, "FINISHED")
