"""Reliability guarantees of issue 5 that are not bad input: safe defaults, exact resume after
kill -9 at random steps, and no zombie or orphan trainer processes left behind."""

from __future__ import annotations

import ast
import inspect
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, process_alive, tracker_of

PACKAGE = REPO / "hybrid_tui"
SOURCES = sorted(PACKAGE.rglob("*.py"))


# ---------------------------------------------------------------- safe defaults


def test_ui_binds_localhost_unless_told() -> None:
    import typer

    from hybrid_tui.cli import app
    from hybrid_tui.tracking.mlflow_ui import serve_mlflow_ui

    command = typer.main.get_command(app).commands["ui"]
    host = next(param for param in command.params if param.name == "host")
    assert host.default == "127.0.0.1"
    assert "host" in inspect.signature(serve_mlflow_ui).parameters  # the host is passed through
    source = inspect.getsource(serve_mlflow_ui)
    assert '"--host",\n        host,' in source or '"--host", host' in source


def test_nothing_listens_on_every_interface() -> None:
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert "0.0.0.0" not in text, path
        assert "import socket" not in text and "socketserver" not in text, path


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _name(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_no_shell_true_nor_os_system() -> None:
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            where = f"{path.relative_to(REPO)}:{call.lineno}"
            assert _name(call.func) not in ("os.system", "os.popen"), where
            for keyword in call.keywords:
                if keyword.arg == "shell":
                    assert isinstance(keyword.value, ast.Constant), where
                    assert keyword.value.value is False, where


def test_every_torch_load_is_weights_only_and_nothing_unpickles() -> None:
    loads = 0
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert "import pickle" not in text and "import dill" not in text, path
        for call in _calls(ast.parse(text)):
            if _name(call.func) == "torch.load":
                loads += 1
                flags = {k.arg: k.value for k in call.keywords}
                assert "weights_only" in flags, f"{path}:{call.lineno}"
                value = flags["weights_only"]
                assert isinstance(value, ast.Constant) and value.value is True, (
                    f"{path}:{call.lineno}"
                )
    assert loads >= 1  # the checkpoint's training state


def test_checkpoint_weights_are_safetensors(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from hybrid_tui.training.checkpoint import save_checkpoint

    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    save_checkpoint(tmp_path / "ckpt", model, optimizer, scheduler, 1, {})
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["model.safetensors", "state.json", "training_state.pt"]
    assert set(load_file(str(tmp_path / "ckpt" / "model.safetensors"))) == {"weight", "bias"}
    # the rest holds tensors and plain containers only: it loads with weights_only=True
    torch.load(tmp_path / "ckpt" / "training_state.pt", weights_only=True)


def test_recipe_paths_are_resolved_for_the_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detached trainer gets an absolute recipe path (its cwd may differ from the caller's);
    every start goes through `jobs.launch.start_trainer`."""
    from hybrid_tui.jobs.launch import TrainerStart, start_trainer

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRID_TUI_HOME", str(tmp_path / "state"))
    spawned = start_trainer(TrainerStart("recipes/x.toml"))
    spawned.process.wait(120)  # the recipe does not exist: the trainer says so and exits
    assert str(tmp_path / "recipes" / "x.toml") in spawned.process.args
    assert "recipes/x.toml" not in spawned.process.args


# ---------------------------------------------------------------- exact resume after kill -9

STEPS = 12
KILLS = 5
SEED = 20261125


def _short_smoke(workdir: Path) -> Path:
    """recipes/smoke.toml, shorter: 12 steps, a checkpoint every step, a small eval subset."""
    text = (REPO / "recipes" / "smoke.toml").read_text(encoding="utf-8")
    for old, new in (
        ("steps = 20", f"steps = {STEPS}"),
        ("checkpoint_every = 5", "checkpoint_every = 1"),
        ("max_questions = 40", "max_questions = 10"),
    ):
        assert old in text
        text = text.replace(old, new)
    path = workdir / "short-smoke.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _kill_at(job, events: Path, offset: int, step: int) -> tuple[int, int]:
    """SIGKILL the trainer's process group once it has logged `step` (or more) in this attempt;
    return the last step seen and the events offset for the next attempt."""
    from hybrid_tui.events import EventTail

    tail = EventTail(events)
    tail.offset = offset
    seen, deadline = 0, time.monotonic() + 300
    while seen < step and time.monotonic() < deadline and process_alive(job.pid):
        seen = max([seen] + [e["step"] for e in tail.read_new() if e["type"] == "step"])
        time.sleep(0.01)
    assert seen >= step, f"trainer never reached step {step} (last {seen}); see {job.log_path}"
    os.killpg(job.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while process_alive(job.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(job.pid)
    tail.read_new()
    return seen, events.stat().st_size


@pytest.mark.slow
@pytest.mark.xdist_group("trainer-processes")
def test_resume_after_five_random_kills_equals_an_uninterrupted_run(
    run_cli, workdir: Path, data_root: Path
) -> None:
    """One run killed with SIGKILL at 5 seeded-random steps (each resume is killed again), then
    resumed to the end: weights, every train/loss and train/lr point, and every eval metric are
    bit-identical to an uninterrupted run of the same recipe."""
    from safetensors.torch import load_file

    from hybrid_tui.jobs.launch import TrainerStart, launch_detached
    from hybrid_tui.runs.files import RunFiles

    recipe = _short_smoke(workdir)
    announce = workdir / "reference.run_id"
    run_cli("train", str(recipe), "--data-dir", str(data_root), "--announce", str(announce))
    reference = announce.read_text().strip()

    kill_steps = sorted(random.Random(SEED).sample(range(2, STEPS), KILLS))
    job = launch_detached(TrainerStart(recipe, data_dir=str(data_root)))
    run_id, offset, killed_at = job.run_id, 0, []
    events = RunFiles.for_run(run_id).events
    for step in kill_steps:
        if job is None:
            job = launch_detached(TrainerStart(resume=run_id, data_dir=str(data_root)))
            assert job.run_id == run_id
        seen, offset = _kill_at(job, events, offset, step)
        killed_at.append(seen)
        job = None
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)  # reads only: shown gone
    shown = {run["run_id"]: (run["status"], run["trainer_gone"]) for run in listed}
    assert shown[run_id] == ("RUNNING", True)
    run_cli("reconcile", check_code=0)  # the explicit reconcile marks it
    listed = json.loads(run_cli("runs", "--json", check_code=0).stdout)
    assert {run["run_id"]: run["status"] for run in listed}[run_id] == "FAILED"  # its trainer died
    run_cli("train", "--resume", run_id, "--data-dir", str(data_root), check_code=0)

    tracker = tracker_of(workdir)
    assert tracker.get_run(run_id).status == "FINISHED"
    # tiny-random is a BERT, so `padding_free = "auto"` took the padding-free forward: this is
    # the padding-free trainer's kill-and-resume check too.
    assert tracker.get_run(run_id).tags["hybrid_tui.padding_free"] == "on"
    from hybrid_tui.events import EventTail

    logs = [e["message"] for e in EventTail(events).read_new() if e["type"] == "log"]
    assert "padding-free forward: on (BertModel)" in logs
    assert "precision: fp32 on cpu" in logs  # the recipe says auto: fp32 on a CPU
    expected = load_file(str(RunFiles.for_run(reference).model / "model.safetensors"))
    resumed = load_file(str(RunFiles.for_run(run_id).model / "model.safetensors"))
    assert expected.keys() == resumed.keys()
    for name, tensor in expected.items():
        assert (tensor == resumed[name]).all(), (name, killed_at)
    for key in ("train/loss", "train/lr"):
        want = tracker.metric_history(reference, key)
        assert [step for step, _ in want] == list(range(1, STEPS + 1))
        assert tracker.metric_history(run_id, key) == want, (key, killed_at)
    ref_metrics = tracker.get_run(reference).metrics
    got_metrics = tracker.get_run(run_id).metrics
    eval_keys = [key for key in ref_metrics if key.startswith("eval/")]
    assert eval_keys and {k: got_metrics.get(k) for k in eval_keys} == {
        k: ref_metrics[k] for k in eval_keys
    }
    model_files = {p.name for p in RunFiles.for_run(run_id).model.iterdir()}
    assert "model.safetensors" in model_files and not any(n.endswith(".bin") for n in model_files)


# ---------------------------------------------------------------- no zombies, no orphans


def _processes() -> list[tuple[int, int, str, str]]:
    """(pid, ppid, state, command line) of every process we can see."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found.append((int(entry.name), int(fields[1]), fields[0], cmdline))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.xdist_group("trainer-processes")
def test_no_zombie_or_orphan_processes_after_the_job_tests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Runs after test_jobs.py and the kill test above (file order; under pytest-xdist their
    group keeps them on this worker): every trainer they started has exited and been reaped.
    Trainers are recognised by their state dir under this worker's pytest tmp."""
    base = str(tmp_path_factory.getbasetemp())
    deadline = time.monotonic() + 30  # a cancelled trainer may still be finishing its last write
    while True:
        me = os.getpid()
        processes = _processes()
        children = [(pid, state, cmd) for pid, ppid, state, cmd in processes if ppid == me]
        strays = [
            (pid, state, cmd)
            for pid, _, state, cmd in processes
            if pid != me and "hybrid_tui" in cmd and base in cmd
        ]
        if not children and not strays or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not children, f"child processes of the test run left behind: {children}"
    assert not strays, f"trainers still running after their tests: {strays}"


def test_written_files_are_as_readable_as_a_plain_open_gives(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp/mkdtemp, which are owner-only; a colleague on a shared box
    must still read the reports, recipes and checkpoints (the modes follow the umask)."""
    from hybrid_tui.atomic_files import atomic_directory
    from hybrid_tui.cli.demo import demo_recipe
    from hybrid_tui.recipe import save_recipe

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    recipe = save_recipe(demo_recipe(), tmp_path / "recipe.toml")
    assert recipe.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    with atomic_directory(tmp_path / "checkpoint") as folder:
        (folder / "weights").write_bytes(b"0")
    (tmp_path / "plain_dir").mkdir()
    mode = (tmp_path / "checkpoint").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain_dir").stat().st_mode & 0o777
