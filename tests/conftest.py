"""Shared fixtures: the real LAReQA data, an isolated working dir, one model cache per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _find_data_root() -> Path | None:
    candidates = [os.environ.get("HYBRID_TUI_DATA"), REPO.parent / "shared" / "data" / "lareqa"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "xquad-r").is_dir():
            return Path(candidate).resolve()
    return None


DATA_ROOT = _find_data_root()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared LAReQA folder (xquad-r/, mlqa-dev-r/); tests that need it skip without it."""
    if DATA_ROOT is None:
        pytest.skip("LAReQA data not found: set HYBRID_TUI_DATA or put it at ../shared/data/lareqa")
    return DATA_ROOT


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the whole session (prepared models are reused across tests).

    Honours an existing HYBRID_TUI_CACHE (CI points it inside the clone) so preparing
    e5-small-offline happens once.
    """
    cache = os.environ.get("HYBRID_TUI_CACHE") or str(tmp_path_factory.mktemp("model-cache"))
    os.environ["HYBRID_TUI_CACHE"] = cache
    return Path(cache)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory with its own state dir and sqlite tracking store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRID_TUI_HOME", str(tmp_path / ".hybrid-tui"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture
def run_cli(workdir: Path):
    """Run `python -m hybrid_tui ARGS` in the work dir, as a user would; returns CompletedProcess."""
    import subprocess
    import sys

    def run(*args: str, timeout: float = 600, check_code: int | None = None):
        done = subprocess.run(
            [sys.executable, "-m", "hybrid_tui", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=workdir,
            env=os.environ.copy(),
        )
        if check_code is not None:
            assert done.returncode == check_code, done.stdout + done.stderr
        return done

    return run


def tracked_runs(workdir: Path) -> list:
    """Every run in the work dir's tracking store (through the project's own tracker)."""
    from hybrid_tui.tracking import Tracker

    return Tracker(f"sqlite:///{workdir / 'mlflow.db'}").list_runs()


def tracker_of(workdir: Path):
    """The project's tracker on the work dir's sqlite store."""
    from hybrid_tui.tracking import Tracker

    return Tracker(f"sqlite:///{workdir / 'mlflow.db'}")


def one_error_line(done) -> str:
    """A CLI call that failed as bad input must: exit code 2, one `error: ...` line, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr
    return lines[0]


def one_line(err: pytest.ExceptionInfo, *expected: str) -> str:
    """A raised error that is one clean line containing every `expected` part."""
    message = str(err.value)
    assert "\n" not in message and message.strip() == message and message
    for part in expected:
        assert part in message, (part, message)
    return message


def no_run_left_running(workdir: Path) -> None:
    """Bad input never leaves an MLflow run RUNNING."""
    if (workdir / "mlflow.db").exists():
        assert all(run.status != "RUNNING" for run in tracked_runs(workdir))


def nothing_half_written(workdir: Path) -> None:
    """No run left RUNNING and no temp file or staging folder in the state dir."""
    no_run_left_running(workdir)
    state = workdir / ".hybrid-tui"
    leftovers = [p for p in state.rglob("*") if p.name.endswith((".tmp", ".old"))]
    assert not leftovers, leftovers


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs (a child that exited is reaped first, so it reads as gone)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
