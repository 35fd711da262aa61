"""`hybrid-tui compare` costs its reads: the two runs and, for significance, their per-query files
read in place. A run whose artifact location is a plain absolute path (what MLflow's client
records for an experiment made without one) is read on this disk like a `file:` location, not
through MLflow's client (~3 s of import); the paired t-test takes the t distribution from
`scipy.special`, not `scipy.stats` (~1 s of import); with nothing to test, numpy and scipy stay
unloaded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np

from tests.cli.fresh_cli import cli_in_fresh_process
from tests.cli.test_compare_significance import QUESTIONS, _plant
from tests.conftest import tracker_of

HEAVY = ("mlflow", "numpy", "scipy", "torch")


def _compare(workdir: Path, *run_ids: str) -> tuple[str, set[str]]:
    """What `hybrid-tui compare RUN_IDS` prints, and the modules it loaded (a fresh process)."""
    out, _, loaded = cli_in_fresh_process(workdir, "compare", *run_ids)
    return out, loaded


def _as_plain_paths(workdir: Path) -> None:
    """Every run's artifact location as an absolute path without `file:` (the same folder)."""
    with sqlite3.connect(workdir / "mlflow.db") as connection:
        for run_id, uri in connection.execute("SELECT run_uuid, artifact_uri FROM runs").fetchall():
            path = unquote(urlparse(uri).path)
            connection.execute(
                "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?", (path, run_id)
            )


def test_significance_from_a_plain_path_artifact_location_needs_no_mlflow(workdir) -> None:
    rng = np.random.default_rng(5)
    tracker = tracker_of(workdir)
    mono = rng.uniform(0.3, 0.9, (2, len(QUESTIONS)))
    multi = rng.uniform(0.2, 0.7, (2, len(QUESTIONS)))
    base = _plant(tracker, "base", mono, multi)
    other = _plant(tracker, "other", mono, multi + rng.normal(0.05, 0.02, len(QUESTIONS)))
    _as_plain_paths(workdir)

    out, loaded = _compare(workdir, base[:8], other[:8])
    assert "not available" not in out
    assert "† significant after Holm (5 %); question as the unit" in out
    assert "mlflow" not in loaded  # the per-query files were read in place
    assert "scipy.stats" not in loaded  # the t distribution from scipy.special (~1 s less)


def test_compare_without_per_query_results_loads_no_statistics(workdir) -> None:
    tracker = tracker_of(workdir)
    run_ids = []
    for name, multi in (("base", 0.40), ("other", 0.45)):
        run_id = tracker.start_run("significance", name, {})
        metrics = {f"eval/xquad_r/multi/{lang}/map": multi for lang in ("en", "de", "avg")}
        tracker.log_metrics(run_id, metrics, 10)
        tracker.end_run(run_id, "FINISHED")
        run_ids.append(run_id[:8])
    _as_plain_paths(workdir)

    out, loaded = _compare(workdir, *run_ids)
    assert "+5.0" in out  # the delta table
    assert "significance: not available" in out and "no per-query results" in out
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
