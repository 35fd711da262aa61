"""Draw README's picture of the app: the runs screen over a few plausible runs, saved as SVG.

The runs are written through the project's own `Tracker` into a throw-away store (no training);
their figures are the study's seed-0 results (docs/results.md), so the picture shows what a user's
table looks like after a few real runs. Run from the repository root:

    .venv/bin/python docs/make_screenshot.py          # writes docs/images/runs.svg
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "images" / "runs.svg"
SIZE = (132, 20)
LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
TRAIN_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
START = 1_764_700_000  # 2025-12-02, a fixed start so the picture does not change between runs

# name, (mono, cross, multi) weights, (mono, cross, multi mAP, rank distance): docs/results.md's
# seed-0 α sweep (the demo is its α = 0.5 run)
RUNS = (
    ("mono", (1.0, 0.0, 0.0), (0.731, 0.646, 0.500, 405.4)),
    ("cross", (0.0, 1.0, 0.0), (0.720, 0.636, 0.514, 383.4)),
    ("alpha-0.25", (0.25, 0.75, 0.0), (0.719, 0.634, 0.510, 370.9)),
    ("alpha-0.75", (0.75, 0.25, 0.0), (0.714, 0.635, 0.494, 414.6)),
    ("demo-hybrid", (0.5, 0.5, 0.0), (0.722, 0.636, 0.509, 373.8)),
)


def _eval_metrics(mono: float, cross: float, multi: float, bias: float) -> dict[str, float]:
    """Per-language keys around the run's averages (the averages themselves exact)."""
    from hybrid_tui.metric_keys import eval_key

    metrics: dict[str, float] = {}
    for i, lang in enumerate(LANGUAGES):
        wobble = (i - len(LANGUAGES) // 2) * 0.006
        metrics[eval_key("xquad-r", "mono", lang, "map")] = mono + wobble
        metrics[eval_key("xquad-r", "multi", lang, "map")] = multi + wobble
        metrics[eval_key("xquad-r", "bias", lang, "rank_distance")] = bias * (1 + wobble)
        for other in LANGUAGES:
            if other != lang:
                metrics[eval_key("xquad-r", "cross", (lang, other), "map")] = cross + wobble
    for setting, value in (("mono", mono), ("cross", cross), ("multi", multi)):
        metrics[eval_key("xquad-r", setting, "avg", "map")] = value
    metrics[eval_key("xquad-r", "bias", "avg", "rank_distance")] = bias
    return metrics


def seed_runs(uri: str) -> None:
    """Write RUNS as finished runs of 60 steps, as the trainer leaves them."""
    import sqlite3

    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    starts: dict[str, int] = {}
    for index, (name, (mono, cross, multi), figures) in enumerate(RUNS):
        recipe = recipe_from_dict(
            {
                "name": name,
                "model": {"spec": "e5-small-offline"},
                "data": {"dataset": "mlqa-r", "languages": list(TRAIN_LANGUAGES)},
                "sampler": {"mono": mono, "cross": cross, "multi": multi},
                "train": {"steps": 60, "batch_size": 32, "lr": 3e-5, "seed": 0},
                "eval": {"datasets": ["xquad-r"]},
                "tracking": {"experiment": "batch-types"},
            }
        )
        run_id = tracker.start_run(
            "batch-types",
            name,
            {
                "hybrid_tui.recipe_name": name,
                "hybrid_tui.mix": recipe.sampler.describe(),
                "hybrid_tui.train_languages": ",".join(TRAIN_LANGUAGES),
                "hybrid_tui.model_source": "packaged:e5-small-offline",
            },
        )
        tracker.log_params(run_id, recipe.flat_params())
        for step in range(1, 61):
            loss = 0.9 + 2.6 / step**0.5
            tracker.log_metrics(run_id, {"train/loss": loss, "train/lr": 3e-5}, step)
        tracker.log_metrics(run_id, _eval_metrics(*figures), 60)
        tracker.flush()
        tracker.end_run(run_id, "FINISHED")
        starts[run_id] = (START + index * 420) * 1000
    database = uri.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:  # fixed start times: the picture is reproducible
        for run_id, start in starts.items():
            db.execute(
                "UPDATE runs SET start_time = ?, end_time = ? WHERE run_uuid = ?",
                (start, start + 370_000, run_id),
            )


async def screenshot(uri: str, out: Path) -> None:
    from hybrid_tui.tui.app import HybridTuiApp

    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        for _ in range(200):
            if getattr(screen, "loaded", False):
                break
            await pilot.pause(0.05)
        await pilot.press("down", "down")  # the cursor on a run, as a user leaves it
        await pilot.pause()
        out.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> int:
    os.environ["TZ"] = "UTC"
    time.tzset()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)  # the store a user has: ./mlflow.db, ./.hybrid-tui (the title shows it)
        os.environ["HYBRID_TUI_HOME"] = ".hybrid-tui"
        uri = "sqlite:///mlflow.db"
        seed_runs(uri)
        asyncio.run(screenshot(uri, OUT))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
