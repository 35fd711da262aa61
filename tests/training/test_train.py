"""End to end: the smoke recipe trains in its own process and leaves a FINISHED, well-keyed run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.events import EventTail
from hybrid_tui.runs.files import RunFiles
from tests.conftest import REPO, tracker_of

SMOKE = str(REPO / "recipes" / "smoke.toml")
pytestmark = pytest.mark.slow


def _train(run_cli, data_root: Path, *extra: str) -> str:
    announce = Path(os.environ["HYBRID_TUI_HOME"]) / f"announce-{time.time_ns()}"
    run_cli(
        "train", *extra, "--data-dir", str(data_root), "--announce", str(announce), check_code=0
    )
    return announce.read_text().strip()


def test_smoke_recipe_finishes_with_the_key_scheme(run_cli, workdir: Path, data_root: Path) -> None:
    run_id = _train(run_cli, data_root, SMOKE)
    detail = tracker_of(workdir).get_run(run_id)
    assert detail.status == "FINISHED"
    metrics = detail.metrics
    for key in (
        "train/loss",
        "train/lr",
        "train/pairs_per_s",
        "eval/xquad_r/mono/en/map",
        "eval/xquad_r/cross/de-th/map",
        "eval/xquad_r/multi/th/map",
        "eval/xquad_r/mono/avg/map",
        "eval/xquad_r/cross/avg/map",
        "eval/xquad_r/multi/avg/map",
        "eval/xquad_r/bias/avg/rank_distance",
    ):
        assert key in metrics, key
    assert (
        len(
            [
                k
                for k in metrics
                if k.startswith("eval/xquad_r/cross/") and k.endswith("/map") and "/avg/" not in k
            ]
        )
        == 6
    )
    assert all(0.0 <= v <= 1.0 for k, v in metrics.items() if k.endswith("/map"))
    history = tracker_of(workdir).metric_history(run_id, "train/loss")
    assert [step for step, _ in history] == list(range(1, 21))
    assert detail.params["sampler.mono"] == "0.5" and detail.params["model.spec"] == "tiny-random"
    for tag in ("hybrid_tui.code_version", "hybrid_tui.model_source", "hybrid_tui.device"):
        assert detail.tags[tag]
    events = EventTail(RunFiles.for_run(run_id).events).read_new()
    kinds = [event["type"] for event in events]
    kinds = [kind for kind in kinds if kind != "phase"]  # what it did before step 1
    assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("step") == 20
    assert events[-1]["status"] == "FINISHED"
    shown = json.loads(run_cli("show", run_id, "--json", check_code=0).stdout)
    assert shown["tables"]["xquad_r"]["mono"]["en"] == pytest.approx(
        metrics["eval/xquad_r/mono/en/map"]
    )
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)
    assert [run["run_id"] for run in listed] == [run_id]
    # The per-query results a paired test needs are an artifact that agrees with the metrics.
    from hybrid_tui.tracking.per_query import read_csv_gz

    (artifact,) = workdir.rglob(f"{run_id}/artifacts/per_query/xquad-r.csv.gz")
    per_query = read_csv_gz(artifact, "xquad-r")
    english = [ap for (x, _, _), ap in per_query.values("mono").items() if x == "en"]
    assert np.mean(english) == pytest.approx(metrics["eval/xquad_r/mono/en/map"])
