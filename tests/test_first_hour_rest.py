"""Issue 27, a new user's first hour: deleting a run says what it leaves on disk and offers to
remove it (10); Results and Compare use the screen's width, the config diff never says `None`, a
FAILED run's Results says why (11); the printed hints name `hybrid-tui` as the user can type it
(1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tui.test_tui import runs_loaded, seed_run, wait_for

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
    from hybrid_tui.tui.dialogs.delete_run import DeleteRunScreen

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


def _queued_jobs_with_runs(run_ids: list[str]) -> list:
    """Queue jobs (the smoke recipe, tracked in the work dir's store) that ran `run_ids`."""
    from hybrid_tui.jobs.queue_store import JobStore
    from hybrid_tui.queue.submit import queue_recipe_files

    smoke = str(Path(__file__).resolve().parent.parent / "recipes" / "smoke.toml")
    store = JobStore()
    seeds = ",".join(str(seed) for seed in range(len(run_ids)))
    jobs = queue_recipe_files([smoke], [f"train.seed={seeds}"], store=store)
    for job, run_id in zip(jobs, run_ids, strict=True):
        store.set_run(job.id, run_id, "trainer.log")
    return jobs


def test_queue_ls_says_a_deleted_run_is_deleted(workdir, run_cli) -> None:
    uri = os.environ["MLFLOW_TRACKING_URI"]
    gone, kept = seed_run(uri, "gone"), seed_run(uri, "kept")
    _queued_jobs_with_runs([gone, kept])
    run_cli("delete", gone[:8], "--yes", check_code=0)
    shown = run_cli("queue", "ls", check_code=0).stdout
    assert gone[:8] not in shown and "deleted" in shown
    assert kept[:8] in shown


async def test_app_queue_says_a_deleted_run_is_deleted(workdir) -> None:
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.queue.screen import QueueScreen

    uri = os.environ["MLFLOW_TRACKING_URI"]
    gone, kept = seed_run(uri, "gone"), seed_run(uri, "kept")
    _queued_jobs_with_runs([gone, kept])
    Tracker(uri).delete_run(gone)
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=(100, 30)) as pilot:
        await runs_loaded(pilot)
        app.push_screen(QueueScreen())
        await wait_for(pilot, lambda: app.screen.loaded, what="the queue")
        await pilot.pause(0.1)
        shown = "\n".join(_screen_lines(app))
        assert "deleted" in shown and gone[:8] not in shown and kept[:8] in shown


# ------------------------------------------------------------------ 11: Results and Compare


def _screen_lines(app) -> list[str]:
    """The screen as the terminal shows it, line by line."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


async def _open(app, pilot, screen) -> None:
    from hybrid_tui.tui.results.language_tables import LanguageTablesView

    await runs_loaded(pilot)
    app.push_screen(screen)
    await wait_for(pilot, lambda: app.screen.query(LanguageTablesView), what="the tables")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_results_captions_use_the_screen_width(workdir, size) -> None:
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.results.screen import ResultsScreen

    uri = os.environ["MLFLOW_TRACKING_URI"]
    run_id = seed_run(uri, "wide")
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=size) as pilot:
        await _open(app, pilot, ResultsScreen(run_id))
        lines = _screen_lines(app)
        assert any("XQuAD-R: mAP and R@k × 100 per query language" in line for line in lines)
        assert any(
            "rank distance in the multilingual pool, lower is better" in line for line in lines
        )


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_compare_titles_use_the_screen_width_and_never_say_none(workdir, size) -> None:
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.results.compare import CompareScreen

    uri = os.environ["MLFLOW_TRACKING_URI"]
    base, other = seed_run(uri, "base"), seed_run(uri, "other", shift=0.05)
    Tracker(uri).log_params(base, {"model.revision": "None"})  # a field left unset
    Tracker(uri).log_params(other, {"model.revision": "main"})
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=size) as pilot:
        await _open(app, pilot, CompareScreen([base, other]))
        lines = _screen_lines(app)
        diff_row = next(line for line in lines if "model.revision" in line)
        assert "—" in diff_row and "None" not in diff_row and "main" in diff_row
        assert any(
            "Δ mAP and R@k × 100 (other − base) per query language" in line for line in lines
        )


def test_cli_compare_says_unset_not_none_and_json_keeps_null(workdir, run_cli) -> None:
    import json

    from hybrid_tui.tracking import Tracker

    uri = os.environ["MLFLOW_TRACKING_URI"]
    base, other = seed_run(uri, "base"), seed_run(uri, "other")
    Tracker(uri).log_params(base, {"model.revision": "None"})
    Tracker(uri).log_params(other, {"model.revision": "main"})
    shown = run_cli("compare", base[:8], other[:8], check_code=0).stdout
    row = next(line for line in shown.splitlines() if "model.revision" in line)
    assert "—" in row and "None" not in row
    payload = json.loads(run_cli("compare", base[:8], other[:8], "--json", check_code=0).stdout)
    assert payload["config_diff"] == {"model.revision": [None, "main"]}


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_failed_run_results_say_why_and_hint_resume(workdir, size) -> None:
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tui.app import HybridTuiApp
    from hybrid_tui.tui.results.screen import ResultsScreen

    uri = os.environ["MLFLOW_TRACKING_URI"]
    run_id = seed_run(uri, "crashed", status="FAILED")
    Tracker(uri).log_text(
        run_id, "CUDA out of memory (batch 64)\n\nTraceback ...\nRuntimeError", "error.txt"
    )
    checkpoint = RunFiles.for_run(run_id).checkpoint
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text("{}")
    app = HybridTuiApp(tracking_uri=uri)
    async with app.run_test(size=size) as pilot:
        await runs_loaded(pilot)
        app.push_screen(ResultsScreen(run_id))
        await wait_for(
            pilot,
            lambda: any("FAILED:" in line for line in _screen_lines(app)),
            what="the failure",
        )
        shown = "\n".join(_screen_lines(app))
        assert "this run FAILED: CUDA out of memory (batch 64)" in shown
        assert "R on Runs resumes it" in shown
        assert "no evaluation metrics" not in shown


# ------------------------------------------------------------------ 1: hints as the user types them


def _venv_script() -> Path:
    import sys

    return Path(sys.executable).parent / "hybrid-tui"


@pytest.mark.skipif(
    not _venv_script().is_file() or str(_venv_script().parent) in ("/usr/bin", "/bin"),
    reason="needs the console script installed outside /usr/bin:/bin (a venv)",
)
def test_hints_name_the_venv_script_when_path_lacks_it(monkeypatch, tmp_path) -> None:
    from hybrid_tui.cli.demo import closing_hint
    from hybrid_tui.command_name import command

    script = _venv_script()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # the README's install: the venv never activated
    monkeypatch.chdir(script.parent.parent.parent)  # where the README's commands run
    assert command("runs") == ".venv/bin/hybrid-tui runs" or command("runs") == (
        f"{os.path.relpath(script)} runs"
    )
    typed = command("runs").split()[0]
    assert os.path.samefile(typed, script)  # what it says runs, from here
    hint = closing_hint("abc123", "sqlite:///mlflow.db")
    assert f"  {os.path.relpath(script)} ui " in hint
    assert "  hybrid-tui ui" not in hint
    monkeypatch.chdir(tmp_path)  # far away: the absolute path where that is shorter
    assert os.path.samefile(command().split()[0], script)


@pytest.mark.skipif(not _venv_script().is_file(), reason="needs the installed console script")
def test_hints_say_bare_hybrid_tui_when_path_finds_it(monkeypatch) -> None:
    from hybrid_tui.cli.demo import closing_hint
    from hybrid_tui.command_name import command

    monkeypatch.setenv("PATH", f"{_venv_script().parent}:/usr/bin:/bin")
    assert command("runs") == "hybrid-tui runs"
    assert "  hybrid-tui ui " in closing_hint("abc123", "sqlite:///mlflow.db")


def test_empty_queue_and_runs_hints_run_as_printed(workdir, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if not _venv_script().is_file() or str(_venv_script().parent) in ("/usr/bin", "/bin"):
        pytest.skip("needs the console script installed outside /usr/bin:/bin (a venv)")
    for shown in (run_cli("queue", "ls").stdout, run_cli("runs").stdout):
        hinted = shown.split("`")[1].split()[0]
        assert os.path.samefile(hinted, _venv_script()), shown
