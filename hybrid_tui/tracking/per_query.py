"""Per-query results of an evaluation: what a paired significance test needs.

Every study run is evaluated on the same questions, so two methods can be compared query by
query (a paired test) instead of only through a handful of seed means. The evaluation fills a
`PerQueryResults` while it scores (no second pass), and the trainer logs it as one gzipped CSV
per eval set (`per_query/<set>.csv.gz`), so any test can be recomputed from MLflow alone.

One row per (setting, query language, pool, question): `setting` is mono, cross or multi;
`pool` is the pool's language (mono: the query's own, cross: the other), `all` for the
multilingual pool; `ap` is the query's average precision there; `rank_distance` is filled for
multi rows only (worst minus best rank of its relevant sentences, NaN with a single one).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.atomic_files import atomic_write_bytes

MULTI_POOL = "all"
COLUMNS = ("setting", "query_lang", "pool", "question_id", "ap", "rank_distance")


@dataclass(frozen=True)
class QueryResult:
    setting: str
    query_lang: str
    pool: str
    question_id: str
    ap: float
    rank_distance: float = math.nan


@dataclass
class PerQueryResults:
    """Rows of one eval set, in scoring order."""

    dataset: str
    rows: list[QueryResult] = field(default_factory=list)

    def add(self, setting: str, query_lang: str, pool: str, ids, aps, distances=None) -> None:
        distances = [math.nan] * len(ids) if distances is None else distances
        for qid, ap, distance in zip(ids, aps, distances, strict=True):
            self.rows.append(
                QueryResult(setting, query_lang, pool, str(qid), float(ap), float(distance))
            )

    def values(self, setting: str, metric: str = "ap") -> dict[tuple[str, str, str], float]:
        """`{(query_lang, pool, question_id): value}` of one setting: the keys pair two runs."""
        return {
            (r.query_lang, r.pool, r.question_id): getattr(r, metric)
            for r in self.rows
            if r.setting == setting
        }

    def to_csv_gz(self, path: str | Path) -> Path:
        """Write atomically (gzip without a timestamp, so equal results give equal bytes)."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in self.rows:
            distance = "" if math.isnan(r.rank_distance) else repr(r.rank_distance)
            writer.writerow([r.setting, r.query_lang, r.pool, r.question_id, repr(r.ap), distance])
        data = gzip.compress(text.getvalue().encode("utf-8"), mtime=0)
        return atomic_write_bytes(Path(path), data)


def read_csv_gz(path: str | Path, dataset: str) -> PerQueryResults:
    """The rows `to_csv_gz` wrote."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        results = PerQueryResults(dataset)
        for row in reader:
            distance = float(row["rank_distance"]) if row["rank_distance"] else math.nan
            results.rows.append(
                QueryResult(
                    row["setting"],
                    row["query_lang"],
                    row["pool"],
                    row["question_id"],
                    float(row["ap"]),
                    distance,
                )
            )
    return results


ARTIFACT_DIR = "per_query"


def artifact_name(dataset: str) -> str:
    """The file name of a set's per-query results (`per_query/<set>.csv.gz` in a run)."""
    return f"{dataset}.csv.gz"


def log_per_query_artifacts(tracker, run_id: str, results: dict[str, PerQueryResults]) -> None:
    """Each set's per-query results as a run artifact under `per_query/`."""
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, rows in results.items():
            path = rows.to_csv_gz(Path(tmp) / artifact_name(dataset))
            tracker.log_artifact(run_id, path, ARTIFACT_DIR)


def to_columns(results: PerQueryResults, digits: int = 6) -> dict[str, list]:
    """Column lists for a compact JSON summary (AP rounded to `digits`: what a committed study
    summary keeps; 1e-6 is far below any difference a test could resolve)."""
    return {
        "setting": [r.setting for r in results.rows],
        "query_lang": [r.query_lang for r in results.rows],
        "pool": [r.pool for r in results.rows],
        "question_id": [r.question_id for r in results.rows],
        "ap": [round(r.ap, digits) for r in results.rows],
        "rank_distance": [
            None if math.isnan(r.rank_distance) else r.rank_distance for r in results.rows
        ],
    }


def from_columns(columns: dict[str, list], dataset: str) -> PerQueryResults:
    results = PerQueryResults(dataset)
    for setting, x, pool, qid, ap, distance in zip(*(columns[c] for c in COLUMNS), strict=True):
        results.rows.append(
            QueryResult(
                setting, x, pool, qid, float(ap), math.nan if distance is None else distance
            )
        )
    return results
