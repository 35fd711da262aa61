"""Zero-shot evaluation during and after training: metrics to MLflow and the live events, and
the per-language tables and per-query results of the final evaluation as artifacts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hybrid_tui import report
from hybrid_tui.evaluation.lareqa import evaluate_model
from hybrid_tui.evaluation.miracl import miracl_table
from hybrid_tui.languages import MIRACL, MMMLU, unseen_languages
from hybrid_tui.progress import ProgressFn
from hybrid_tui.tracking.per_query import log_per_query_artifacts
from hybrid_tui.tracking.run_tracker import RunTracker
from hybrid_tui.training.setup import Setup


def evaluate_and_log(
    setup: Setup,
    tracker,
    run_id: str,
    events,
    step: int,
    final: bool,
    show: ProgressFn | None = None,
) -> dict:
    """Zero-shot evaluation on every eval set; metrics to MLflow and events, tables as artifacts.
    `show` draws the encoding and scoring progress on the trainer's console too."""
    per_query: dict | None = {} if final else None
    for rset in setup.eval_sets:
        events.write("log", message=f"evaluating {rset.name} at step {step}")
    try:
        metrics = evaluate_model(
            setup.encoder,
            setup.eval_sets,
            setup.recipe.eval,
            progress=lambda desc, done, total: _report(events, show, desc, done, total),
            per_query=per_query,
        )
    finally:
        setup.encoder.train()
    tracker.log_metrics(run_id, metrics, step)
    events.write("eval", step=step, metrics=metrics)
    if final:
        log_report_artifacts(setup, tracker, run_id, metrics)
        log_per_query_artifacts(tracker, run_id, per_query)
    return metrics


def _report(events, show: ProgressFn | None, description: str, done: int, total: int) -> None:
    events.write("progress", description=description, done=done, total=total)
    if show is not None:
        show(description, done, total)


def log_report_artifacts(
    setup: Setup, tracker: RunTracker, run_id: str, metrics: dict[str, float]
) -> None:
    """Per-language tables (CSV, JSON) and the cross-lingual heatmap (PNG) of each eval set,
    languages never trained on marked."""
    with tempfile.TemporaryDirectory() as tmp:
        for rset in setup.eval_sets:
            if rset.name == MMMLU:  # accuracy keys, in the run's metrics: no mAP tables to draw
                continue
            if rset.name == MIRACL:  # monolingual nDCG/recall: no pairs, no heatmap
                stem = Path(tmp) / rset.name
                table = miracl_table(metrics, rset.languages)
                stem.with_suffix(".json").write_text(json.dumps(table, indent=1))
                tracker.log_artifact(run_id, stem.with_suffix(".json"), "tables")
                continue
            tables = report.LanguageTables.from_metrics(metrics, rset.name)
            unseen = unseen_languages(setup.train_languages, rset.languages)
            stem = Path(tmp) / rset.name
            (stem.with_suffix(".csv")).write_text(report.to_csv(tables), encoding="utf-8")
            (stem.with_suffix(".json")).write_text(json.dumps(report.to_json(tables), indent=1))
            report.heatmap_png(tables, stem.with_suffix(".png"), unseen_languages=unseen)
            for suffix in (".csv", ".json", ".png"):
                tracker.log_artifact(run_id, stem.with_suffix(suffix), "tables")
