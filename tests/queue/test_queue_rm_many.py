"""`hybrid-tui queue rm` of a sweep's worth of jobs: one connection to the queue for the whole
command (it used to reopen the database and re-read the table for every id: 5 s for 100), and
still all of them or none."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hybrid_tui.jobs.queue_store import REMOVED, RUNNING, JobStore, NewJob


def queue_of(count: int) -> JobStore:
    store = JobStore()
    job = NewJob("job", "r.toml", "/r.toml", [], 1, 0, ".", "sqlite:///mlflow.db")
    store.add([job] * count)
    return store


def test_removing_a_hundred_jobs_opens_the_queue_once(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = queue_of(100)
    opened: list[str] = []
    real_connect = sqlite3.connect

    def counting_connect(database, *args, **kwargs):
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counting_connect)
    done = run_cli("queue", "rm", *(str(n) for n in range(1, 101)), check_code=0)
    monkeypatch.undo()
    assert done.stdout.count("removed job") == 100
    assert [path for path in opened if path.endswith("queue.db")] == [str(store.path)]
    assert {job.state for job in store.jobs()} == {REMOVED}


def test_one_running_job_among_a_hundred_removes_none(workdir: Path, run_cli) -> None:
    store = queue_of(100)
    assert store.claim(57, "cpu1", "", "token", "log")
    done = run_cli("queue", "rm", *(str(n) for n in range(1, 101)), check_code=2)
    assert "job 57 is running" in done.stderr
    assert [job.state for job in store.jobs()].count(RUNNING) == 1
    assert REMOVED not in {job.state for job in store.jobs()}


def test_an_unknown_id_among_many_removes_none(workdir: Path, run_cli) -> None:
    store = queue_of(10)
    done = run_cli("queue", "rm", "1", "2", "99", "3", check_code=2)
    assert "no queue job '99'" in done.stderr
    assert REMOVED not in {job.state for job in store.jobs()}


def test_jobs_named_by_their_run_ids(workdir: Path, run_cli) -> None:
    store = queue_of(3)
    store.set_run(2, "abcdef0123456789", "log")
    done = run_cli("queue", "rm", "abcdef01", "3", check_code=0)
    assert "removed job 2" in done.stdout and "removed job 3" in done.stdout
    assert [job.state for job in store.jobs()][0] != REMOVED


def test_a_run_id_that_starts_with_digits_names_its_job(workdir: Path, run_cli) -> None:
    """Digits that are no job's id are read as the start of a run id (a CI run met a run id
    starting `70950109`: `queue logs 70950109` said there was no such job); a job id still wins."""
    store = queue_of(3)
    store.set_run(3, "70950109a1b2c3d4", "log")
    store.set_run(2, "2fedcba987654321", "log")
    assert store.get("70950109").id == 3
    assert store.get("2").id == 2  # job 2, not a run id starting with 2
    done = run_cli("queue", "rm", "70950109", check_code=0)
    assert done.stdout.startswith("removed job 3 ")
