"""The CLI starts fast: no heavy library is imported on the way to --help or the TUI's first frame."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "torch",
    "transformers",
    "datasets",
    "faiss",
    "mlflow",
    "matplotlib",
    "sentence_transformers",
    "scipy",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_help_imports_nothing_heavy() -> None:
    loaded = _modules_after(
        "import sys; sys.argv=['hybrid-tui','--help']\n"
        "from hybrid_tui import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_modules_the_cli_and_tui_import_at_start_stay_light() -> None:
    loaded = _modules_after(
        "import hybrid_tui.cli, hybrid_tui.jobs, hybrid_tui.recipe, hybrid_tui.runs.files, "
        "hybrid_tui.tracking, hybrid_tui.report, hybrid_tui.events, hybrid_tui.models, "
        "hybrid_tui.tui.app, hybrid_tui.jobs.queue_store, hybrid_tui.queue.scheduler, "
        "hybrid_tui.queue.daemon, hybrid_tui.cli.queue_output, hybrid_tui.queue.describe, "
        "hybrid_tui.queue.submit, hybrid_tui.jobs.busy, hybrid_tui.devices"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_the_app_shows_its_runs_without_importing_anything_heavy(workdir) -> None:
    """The app's first screen, with its runs read from the store, loads none of them either."""
    from tests.conftest import tracker_of

    tracker_of(workdir).start_run("smoke", "first run")
    loaded = _modules_after(
        "import asyncio\n"
        "from hybrid_tui.tui.app import HybridTuiApp\n"
        "async def first_screen():\n"
        "    app = HybridTuiApp(tracking_uri=None)\n"
        "    async with app.run_test(size=(120, 30)) as pilot:\n"
        "        while not app.screen.loaded:\n"
        "            await pilot.pause(0.05)\n"
        "        assert app.screen.query_one('#runs-table').row_count == 1\n"
        "asyncio.run(first_screen())"
    )
    assert "hybrid_tui.tui.runs.screen" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_queue_ls_imports_nothing_heavy(tmp_path) -> None:
    """`hybrid-tui queue ls` (with a job queued) loads neither MLflow nor torch."""
    code = (
        "import os, sys\n"
        f"os.environ['HYBRID_TUI_HOME'] = {str(tmp_path / 'state')!r}\n"
        "from hybrid_tui.jobs.queue_store import JobStore, NewJob\n"
        "JobStore().add([NewJob('smoke', 'r.toml', 'r.toml', [], 1, 0, '.', 'sqlite:///x.db')])\n"
        "sys.argv = ['hybrid-tui', 'queue', 'ls']\n"
        "from hybrid_tui import cli\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass"
    )
    loaded = _modules_after(code)
    assert "hybrid_tui.cli.queue_output" in loaded  # the command ran
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hybrid_tui", "--help"], capture_output=True, text=True, check=True
    ).stdout
    commands = ("train", "eval", "mine", "runs", "show", "compare", "ui", "demo", "models", "tui")
    commands += ("queue",)
    for command in commands:
        assert command in out


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_a_trainer_announces_its_run_before_importing_torch_or_mlflow(
    device: str, workdir, data_root
) -> None:
    """`train --detach` prints the run id once the trainer announces it: by then the trainer has
    checked every input and created its run, but imported neither torch nor mlflow (~3 s)."""
    from hybrid_tui.models import resolve_model
    from tests.conftest import REPO, tracker_of

    resolve_model("tiny-random")  # prepared, as after `models prepare` (building it needs torch)
    tracker_of(workdir).start_run("smoke", "earlier run")  # the experiment exists
    recipe = REPO / "recipes" / "smoke.toml"
    code = (
        "import os, sys\n"
        "from hybrid_tui.training import run_record\n"
        "def announce(path, run_id):\n"
        "    print(run_id, ' '.join(sys.modules)); sys.stdout.flush(); os._exit(0)\n"
        "run_record.announce_run_id = announce\n"
        "from hybrid_tui.training.loop import main_entry\n"
        f"main_entry({str(recipe)!r}, {str(data_root)!r}, None, 'announce-file', "
        f"['train.device={device}'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    run_id, *loaded = out.splitlines()[-1].split()  # the lines before: the trainer's phases
    assert not set(loaded) & {"torch", "mlflow", "transformers"}, set(loaded) & set(HEAVY)
    run = tracker_of(workdir).get_run(run_id)
    assert run.status == "RUNNING" and run.params == {}  # params come after the announce
