"""Issue 27, a new user's first hour: deleting a run says what it leaves on disk and offers to
remove it (10); Results and Compare use the screen's width, the config diff never says `None`, a
FAILED run's Results says why (11); the printed hints name `hybrid-tui` as the user can type it
(1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_tui import runs_loaded, seed_run, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _local_folder(run_id: str, size: int = 1_200_000) -> Path:
    """The run's folder as a trainer leaves it: a model file of `size` bytes."""
    folder = Path(os.environ["HYBRID_TUI_HOME"]) / "runs" / run_id / "model"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(b"\0" * size)
    return folder.parent


def _tracked(workdir: Path) -> list[str]:
    from tests.conftest import tracked_runs

    return [run.run_id for run in tracked_runs(workdir)]


# ------------------------------------------------------------------ 10: delete and local files


def test_delete_says_the_local_files_it_keeps_and_their_size(workdir, run_cli) -> None:
    run_id = seed_run(os.environ["MLFLOW_TRACKING_URI"], "kept")
    folder = _local_folder(run_id)
    done = run_cli("delete", run_id[:8], "--yes", check_code=0)
    assert _tracked(workdir) == []
    assert folder.is_dir()
    assert f"local files kept: .hybrid-tui/runs/{run_id} (1.2 MB)" in done.stdout
    assert "--files" in done.stdout


def test_delete_with_files_removes_the_run_and_its_folder(workdir, run_cli) -> None:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    run_id, other = seed_run(uri, "gone"), seed_run(uri, "other")
    folder, other_folder = _local_folder(run_id), _local_folder(other)
    done = run_cli("delete", run_id[:8], "--yes", "--files", check_code=0)
    assert _tracked(workdir) == [other]
    assert not folder.exists() and other_folder.is_dir()
    assert f"removed local files .hybrid-tui/runs/{run_id} (1.2 MB)" in done.stdout


def test_delete_asks_about_the_local_files(workdir, run_cli) -> None:
    run_id = seed_run(os.environ["MLFLOW_TRACKING_URI"], "asked")
    folder = _local_folder(run_id)
    kept = run_cli("delete", run_id[:8], input="n\n", check_code=1)
    assert f"local files .hybrid-tui/runs/{run_id} (1.2 MB) are kept; --files removes" in (
        kept.stdout
    )
    gone = run_cli("delete", run_id[:8], "--files", input="y\n", check_code=0)
    assert "and their local files" in gone.stdout and not folder.exists()


def test_delete_files_never_follows_a_link_out_of_the_state_dir(workdir, run_cli) -> None:
    run_id = seed_run(os.environ["MLFLOW_TRACKING_URI"], "linked")
    outside = workdir / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    runs = Path(os.environ["HYBRID_TUI_HOME"]) / "runs"
    runs.mkdir(parents=True)
    (runs / run_id).symlink_to(outside)
    done = run_cli("delete", run_id[:8], "--yes", "--files", check_code=2)
    assert "is not a plain folder inside" in done.stderr
    assert (outside / "keep.txt").read_text() == "mine"
    assert _tracked(workdir) == [run_id]  # nothing deleted


async def test_app_delete_dialog_names_the_local_files_and_f_removes_them(workdir) -> None:
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.screens.delete_run import DeleteRunScreen

    uri = os.environ["MLFLOW_TRACKING_URI"]
    run_id = seed_run(uri, "with-files")
    folder = _local_folder(run_id)
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await runs_loaded(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteRunScreen)
        question = str(app.screen.query_one("#confirm-question").render())
        assert f".hybrid-tui/runs/{run_id} (1.2 MB)" in question
        assert "f removes them" in question
        await pilot.press("f")
        await wait_for(
            pilot, lambda: screen.query_one("#runs-table").row_count == 0, what="the deletion"
        )
        await wait_for(pilot, lambda: not folder.exists(), what="the folder's removal")
