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
