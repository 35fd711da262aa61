"""Runs in a team's MLflow server (issue 24): a real `mlflow server` on 127.0.0.1 (an ephemeral
port, its own sqlite store and artifact folder) and every command a user points at it: train
(detached), the queue, runs, runs --json, runs --filter, show and compare; an unreachable server
is one line, at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybrid_tui.tracking.mlflow_ui import stop_group
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
SERVER_START_S = 120
# Seconds, not minutes: 3 steps, no checkpoints, two eval languages of 10 questions.
SHORT = (
    "--set",
    "train.steps=3",
    "--set",
    "train.checkpoint_every=0",
    "--set",
    'eval.languages=["en", "de"]',
    "--set",
    "eval.max_questions=10",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def mlflow_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """`mlflow server` in its own process group (stopped whole at teardown, workers included);
    MLFLOW_TRACKING_URI points at it."""
    port = _free_port()
    server_dir = workdir / "server"
    server_dir.mkdir()
    log = (server_dir / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{server_dir / 'mlflow.db'}",
            "--artifacts-destination",
            str(server_dir / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _answers(port):
            assert server.poll() is None, (server_dir / "server.log").read_text()
            assert time.monotonic() < deadline, f"mlflow server did not answer in {SERVER_START_S}s"
            time.sleep(0.3)
        uri = f"http://127.0.0.1:{port}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        yield uri
    finally:
        stop_group(server, signal.SIGTERM)
        log.close()


@pytest.mark.slow
def test_train_queue_and_reads_against_a_tracking_server(
    mlflow_server: str, run_cli, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_TUI_DATA", str(data_root))
    smoke = str(REPO / "recipes" / "smoke.toml")
    queued = run_cli("queue", "add", smoke, *SHORT, "--set", "train.seed=1", check_code=0)
    assert queued.stdout.strip() == "1"  # the job id (its description goes to stderr)
    run_cli("queue", "start", check_code=0, timeout=120)
    try:
        detached = run_cli("train", smoke, "--detach", *SHORT, check_code=0, timeout=300)
        run_id = detached.stdout.split()[0]

        def run_rows() -> list[dict]:
            return json.loads(run_cli("runs", "--json", check_code=0).stdout)

        def queue_jobs() -> list[dict]:
            return json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)["jobs"]

        wait_for(
            lambda: [row["status"] for row in run_rows()] == ["FINISHED", "FINISHED"],
            "both runs finishing in the server",
            every=1,
        )
        wait_for(lambda: queue_jobs()[0]["state"] == "finished", "the queue job ending", every=1)
    finally:
        run_cli("queue", "stop", "--cancel-running", timeout=120)

    rows = run_rows()
    queued_run = next(row["run_id"] for row in rows if row["run_id"] != run_id)
    assert {row["params"]["train.seed"] for row in rows} == {"0", "1"}
    assert all(row["headline"]["multi"] is not None for row in rows)

    listed = run_cli("runs", check_code=0).stdout
    assert mlflow_server in listed and run_id[:8] in listed and queued_run[:8] in listed
    shown = run_cli("show", run_id, check_code=0).stdout
    assert run_id in shown and "FINISHED" in shown
    compared = run_cli("compare", run_id, queued_run, check_code=0).stdout
    assert run_id[:8] in compared and queued_run[:8] in compared
    seed_one = run_cli("runs", "--filter", "params.`train.seed` = '1'", check_code=0).stdout
    assert queued_run[:8] in seed_one and run_id[:8] not in seed_one


def test_an_unreachable_server_is_one_line_at_once(run_cli, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    done = run_cli("runs")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: cannot reach the MLflow tracking server at http://")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
