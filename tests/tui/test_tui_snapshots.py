"""Snapshots of the screens a user sees (pytest-textual-snapshot), at 80×24 and larger.

Runs are seeded with fixed names and start times; the live view (timings, ETA) is not
snapshotted. Update with `pytest tests/tui/test_tui_snapshots.py --snapshot-update` and look at the
SVGs under tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Input

from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.results.language_tables import LanguageTablesView
from tests.tui.test_tui import retype, runs_loaded, seed_run, wait_for

START_TIMES = {"mono-heavy": 1_750_000_000_000, "cross-heavy": 1_750_003_600_000}
RUN_IDS = {"mono-heavy": "0a1b2c3d" + "0" * 24, "cross-heavy": "9f8e7d6c" + "1" * 24}
RUN_TABLES = ("runs", "tags", "params", "metrics", "latest_metrics")


@pytest.fixture
def seeded(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Two finished runs with fixed ids and start times (shown in UTC); the data dir field starts
    empty."""
    import os
    import time

    monkeypatch.delenv("HYBRID_TUI_DATA", raising=False)
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    uri = os.environ["MLFLOW_TRACKING_URI"]
    seeded_ids = {
        "mono-heavy": seed_run(uri, "mono-heavy", mono=0.8, cross=0.2),
        "cross-heavy": seed_run(uri, "cross-heavy", mono=0.2, cross=0.8, shift=0.05),
    }
    with sqlite3.connect(workdir / "mlflow.db") as db:
        for name, run_id in seeded_ids.items():  # fixed ids: the table shows them
            for table in RUN_TABLES:
                db.execute(
                    f"UPDATE {table} SET run_uuid = ? WHERE run_uuid = ?", (RUN_IDS[name], run_id)
                )
        for name, start in START_TIMES.items():
            db.execute(
                "UPDATE runs SET start_time = ?, end_time = ? WHERE name = ?",
                (start, start + 60_000, name),
            )
    yield uri
    if old_tz is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old_tz
    time.tzset()


def _app(uri: str) -> HybridTuiApp:
    return HybridTuiApp(tracking_uri=uri)


def test_runs_small(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)

    assert snap_compare(_app(seeded), terminal_size=(80, 24), run_before=before)


def test_runs_large_with_a_mark(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)
        await pilot.press("c")

    assert snap_compare(_app(seeded), terminal_size=(160, 40), run_before=before)


def test_results(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: pilot.app.screen.query(LanguageTablesView))
        await pilot.pause()

    assert snap_compare(_app(seeded), terminal_size=(100, 34), run_before=before)


def test_compare(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)
        await pilot.press("down", "c", "up", "c", "C")
        await wait_for(pilot, lambda: pilot.app.screen.query(LanguageTablesView))
        await pilot.pause()

    assert snap_compare(_app(seeded), terminal_size=(100, 34), run_before=before)


def test_compose_with_an_invalid_mix(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)
        await pilot.press("n")
        await retype(pilot, "#model-spec", "intfloat/multilingual-e5-small")
        await retype(pilot, "#mix-mono", "-1")
        await wait_for(
            pilot, lambda: "hub id" in str(pilot.app.screen.query_one("#model-status").render())
        )
        for field in pilot.app.screen.query(Input):  # a blinking cursor is drawn or not by timing
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(_app(seeded), terminal_size=(100, 34), run_before=before)


def test_delete_confirmation(seeded, snap_compare) -> None:
    async def before(pilot) -> None:
        await runs_loaded(pilot)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(_app(seeded), terminal_size=(80, 24), run_before=before)
