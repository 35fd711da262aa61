"""A study's runs as small records: read from the tracking store, or from the summaries the
study commits next to its report.

The report is always computed from these records, so `hybrid-tui study --summary-only` gives the
same page from a fresh clone (no mlflow.db, only `docs/results/*.json.gz`) as from the store that
produced it. A record keeps what the report reads (the study tags, the final eval metrics, the
per-query results of the study's dataset and, where the runs were evaluated on it, MMMLU's) and
the recipe the run trained, so a reader of the repository can see, and rerun, exactly what
produced each figure.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_bytes
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import MMMLU
from hybrid_tui.tracking.per_query import (
    ARTIFACT_DIR,
    PerQueryResults,
    artifact_name,
    from_columns,
    read_csv_gz,
    to_columns,
)

SUFFIX = ".json.gz"
KEPT_TAGS = (
    "hybrid_tui.study",
    "hybrid_tui.study_method",
    "hybrid_tui.study_seed",
    "hybrid_tui.study_alpha",
    "hybrid_tui.train_languages",
)


@dataclass
class StudyRun:
    name: str
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    per_query: PerQueryResults | None
    recipe_toml: str | None = None  # the run's recipe.toml artifact (None in older summaries)
    mmmlu: PerQueryResults | None = None  # MMMLU per-question results (`mmmlu_claim`), if any

    @property
    def method(self) -> str:
        return self.tags["hybrid_tui.study_method"]

    @property
    def seed(self) -> int:
        return int(self.tags["hybrid_tui.study_seed"])


def runs_from_store(tracker, study: str, dataset: str) -> list[StudyRun]:
    """The study's FINISHED runs with their per-query artifact (None where a run has none)."""
    runs = []
    summaries = tracker.list_runs(experiment=f"study-{study}")
    with tempfile.TemporaryDirectory() as tmp:
        for summary in summaries:
            detail = tracker.get_run(summary.run_id)
            if detail.status != "FINISHED" or detail.tags.get("hybrid_tui.study") != study:
                continue
            into = Path(tmp) / detail.run_id
            path = tracker.download_artifact(
                detail.run_id, f"{ARTIFACT_DIR}/{artifact_name(dataset)}", into
            )
            recipe = tracker.download_artifact(detail.run_id, "recipe.toml", into)
            choices = tracker.download_artifact(
                detail.run_id, f"{ARTIFACT_DIR}/{artifact_name(MMMLU)}", into
            )
            runs.append(
                StudyRun(
                    summary.name,
                    detail.run_id,
                    {k: detail.tags[k] for k in KEPT_TAGS if k in detail.tags},
                    {k: v for k, v in detail.metrics.items() if k.startswith("eval/")},
                    read_csv_gz(path, dataset) if path is not None else None,
                    recipe.read_text(encoding="utf-8") if recipe is not None else None,
                    read_csv_gz(choices, MMMLU) if choices is not None else None,
                )
            )
    return runs


def save_runs(runs: list[StudyRun], folder: Path) -> None:
    """One gzipped JSON per run (deterministic bytes), replacing the folder's older summaries."""
    folder.mkdir(parents=True, exist_ok=True)
    written = set()
    for run in runs:
        record = {
            "name": run.name,
            "run_id": run.run_id,
            "tags": run.tags,
            "metrics": dict(sorted(run.metrics.items())),
            "recipe_toml": run.recipe_toml,
            "per_query": None
            if run.per_query is None
            else {"dataset": run.per_query.dataset, "columns": to_columns(run.per_query)},
        }
        if run.mmmlu is not None:  # only then: summaries without MMMLU keep their bytes
            record["mmmlu"] = {"dataset": MMMLU, "columns": to_columns(run.mmmlu)}
        text = json.dumps(record, separators=(",", ":"), sort_keys=False)
        path = folder / f"{run.name}-{run.run_id[:8]}{SUFFIX}"
        atomic_write_bytes(path, gzip.compress(text.encode("utf-8"), mtime=0))
        written.add(path.name)
    for stale in folder.glob(f"*{SUFFIX}"):
        if stale.name not in written:
            stale.unlink()


def load_runs(folder: Path, study: str) -> list[StudyRun]:
    """The summaries `save_runs` wrote for `study`."""
    runs = []
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
        try:
            record = json.loads(gzip.decompress(path.read_bytes()))
        except (OSError, ValueError) as err:
            raise HybridTuiError(
                f"{path}: not a study run summary ({err}); delete it or rerun the study"
            ) from None
        if record["tags"].get("hybrid_tui.study") != study:
            continue
        per_query = record.get("per_query")
        runs.append(
            StudyRun(
                record["name"],
                record["run_id"],
                record["tags"],
                record["metrics"],
                None
                if per_query is None
                else from_columns(per_query["columns"], per_query["dataset"]),
                record.get("recipe_toml"),
                from_columns(record["mmmlu"]["columns"], MMMLU) if record.get("mmmlu") else None,
            )
        )
    return runs


WALL_FILE = "study.json"


def save_wall_time(folder: Path, seconds: float, runs: int) -> None:
    """How long the study that trained these runs took, and where: the report states it."""
    import datetime
    import os

    record = {
        "wall_seconds": round(seconds, 1),
        "runs_trained": runs,
        "cpu_cores": os.cpu_count(),
        "date": datetime.date.today().isoformat(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / WALL_FILE, (json.dumps(record, indent=1) + "\n").encode())


def load_wall_time(folder: Path) -> dict | None:
    path = Path(folder) / WALL_FILE
    return json.loads(path.read_text()) if path.is_file() else None
