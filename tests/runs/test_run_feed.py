"""The app's run list on a store of many runs (issue 22): read newest first in steps, then kept up
to date by reading whole only the runs that changed (a new run, an ended one, one that logged a
metric, one deleted elsewhere) — the unchanged ones are not read again. A store without direct
reads (a tracking server) is read through MLflow's client a page at a time, newest first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hybrid_tui.runs.run_feed import RunFeed
from hybrid_tui.tracking import Tracker

DAY_MS = 24 * 3600 * 1000


def _old_runs(tracker: Tracker, count: int) -> list[str]:
    """`count` FINISHED runs, each with a metric point logged a day ago; ids oldest first."""
    from mlflow.entities import Metric

    ids = []
    for index in range(count):
        run_id = tracker.start_run("feed", run_name=f"run-{index}")
        stamp = int(time.time() * 1000) - DAY_MS
        tracker.client.log_batch(
            run_id, metrics=[Metric("train/loss", 1.0 / (index + 1), stamp, 1)]
        )
        tracker.end_run(run_id)
        ids.append(run_id)
    return ids


@pytest.fixture
def store(tmp_path: Path) -> tuple[Tracker, list[str]]:
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tracker, _old_runs(tracker, 5)


def _read(feed: RunFeed) -> list[list[str]]:
    """The first read, then older runs a step at a time until every run is read."""
    steps = [feed.read_first()]
    while not feed.complete:
        steps.append(feed.read_more(feed.step))
    return [[run.run_id for run in runs] for runs in steps]


def test_the_newest_page_comes_first_then_older_runs_as_asked(store) -> None:
    tracker, ids = store
    feed = RunFeed(tracker, first=2, step=2)
    newest_first = ids[::-1]
    assert [run.run_id for run in feed.read_first()] == newest_first[:2]
    assert feed.read_ids == newest_first[:2]  # the older runs are not read yet
    assert (feed.total, feed.complete) == (5, False)
    assert [run.run_id for run in feed.read_more(2)] == newest_first[:4]
    assert [run.run_id for run in feed.read_more()] == newest_first
    assert feed.complete


def test_a_refresh_leaves_older_runs_unread_until_asked(store) -> None:
    tracker, ids = store
    feed = RunFeed(tracker, first=2, step=2)
    feed.read_first()
    tracker.end_run(ids[0], "KILLED")  # the oldest: not read yet
    new = tracker.start_run("feed", run_name="new")
    runs = feed.refresh()
    assert feed.read_ids == [new]
    assert [run.run_id for run in runs] == [new, *ids[::-1][:2]]
    assert {run.run_id: run.status for run in feed.read_more()}[ids[0]] == "KILLED"


def test_an_unchanged_store_reads_nothing_again(store) -> None:
    tracker, _ = store
    feed = RunFeed(tracker)
    _read(feed)
    assert feed.refresh() is None
    assert feed.read_ids == []


def test_a_new_run_is_the_only_run_read(store) -> None:
    tracker, ids = store
    feed = RunFeed(tracker)
    _read(feed)
    new = tracker.start_run("feed", run_name="new")
    runs = feed.refresh()
    assert feed.read_ids == [new]
    assert [run.run_id for run in runs] == [new, *ids[::-1]]


def test_a_changed_status_is_the_only_run_read(store) -> None:
    tracker, ids = store
    running = tracker.start_run("feed", run_name="training")
    feed = RunFeed(tracker)
    _read(feed)
    tracker.end_run(running, "KILLED")
    runs = feed.refresh()
    assert feed.read_ids == [running]
    assert {run.run_id: run.status for run in runs}[running] == "KILLED"
    assert len(runs) == len(ids) + 1


def test_a_new_metric_of_an_ended_run_is_the_only_run_read(store) -> None:
    tracker, ids = store
    feed = RunFeed(tracker)
    _read(feed)
    evaluated = ids[1]
    tracker.log_metrics(evaluated, {"eval/xquad_r/multi/avg/map": 0.42}, step=10)
    tracker.flush()
    runs = feed.refresh()
    assert feed.read_ids == [evaluated]
    row = next(run for run in runs if run.run_id == evaluated)
    assert row.headline["multi"] == pytest.approx(0.42)
    assert row.best_multi == pytest.approx(0.42)


def test_a_run_deleted_elsewhere_leaves_the_list_without_a_read(store) -> None:
    tracker, ids = store
    feed = RunFeed(tracker)
    _read(feed)
    Tracker(tracker.uri).delete_run(ids[2])  # another process's tracker
    runs = feed.refresh()
    assert feed.read_ids == []
    assert [run.run_id for run in runs] == [run_id for run_id in ids[::-1] if run_id != ids[2]]


def test_a_run_named_again_is_read_again_whatever_the_store_says(store) -> None:
    """Tags carry no time: a run just tagged is named to the refresh."""
    tracker, ids = store
    feed = RunFeed(tracker)
    _read(feed)
    tracker.set_tags(ids[0], {"team": "ir"})
    runs = feed.refresh(also=[ids[0]])
    assert feed.read_ids == [ids[0]]
    assert next(run for run in runs if run.run_id == ids[0]).tags["team"] == "ir"


def test_a_tracking_server_is_read_a_page_at_a_time_newest_first(store) -> None:
    """MLflow's client with `max_results` and page tokens (the path a tracking server takes;
    here MLflow's client on the same sqlite file, without the direct reads)."""
    tracker, ids = store
    client_only = Tracker(tracker.uri, direct_reads=False)
    feed = RunFeed(client_only, first=2, step=2)
    steps = _read(feed)
    newest_first = ids[::-1]
    assert steps == [newest_first[:2], newest_first[:4], newest_first]
    assert feed.total == len(ids)
    direct = [run.run_id for run in tracker.list_runs()]
    assert steps[-1] == direct


def test_a_tag_written_elsewhere_on_a_shown_run_is_the_only_run_read(store) -> None:
    """Tags carry no time: the runs on screen have theirs compared."""
    tracker, ids = store
    feed = RunFeed(tracker)
    _read(feed)
    Tracker(tracker.uri).set_tags(ids[2], {"note": "best so far"})  # another process
    runs = feed.refresh(shown=ids[::-1][:4])
    assert feed.read_ids == [ids[2]]
    assert next(run for run in runs if run.run_id == ids[2]).tags["note"] == "best so far"
