"""Issue 27 item 1: after the README's install (a venv, never activated) `hybrid-tui` is not on
PATH, so every command a message tells the user to type must name the venv's script
(`command_name.command`), never a bare `hybrid-tui ...` that would fail as written. Error paths
of the CLI are driven in process with PATH as that user has it; a scan of the package's string
literals keeps new messages from printing a bare command again."""

from __future__ import annotations

import ast
import os
import re
import sys
from pathlib import Path

import pytest

from hybrid_tui.command_name import command

PACKAGE = Path(__file__).resolve().parents[2] / "hybrid_tui"
SCRIPT = Path(sys.executable).parent / "hybrid-tui"
# `hybrid-tui ARGS` typed bare (not the tail of a path such as `.venv/bin/hybrid-tui runs`)
BARE = re.compile(r"(?<![\w./\\-])hybrid-tui (?=[a-z-])")

pytestmark = pytest.mark.skipif(
    not SCRIPT.is_file() or str(SCRIPT.parent) in ("/usr/bin", "/bin"),
    reason="needs the console script installed outside /usr/bin:/bin (a venv)",
)


@pytest.fixture
def off_path(workdir, monkeypatch) -> str:
    """PATH as the README's user has it (the venv never activated); the command as typed."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    typed = command()
    assert os.path.samefile(typed, SCRIPT)
    return typed


def said(done) -> str:
    return done.stdout + done.stderr


def a_run(status: str = "FINISHED") -> str:
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(os.environ["MLFLOW_TRACKING_URI"])
    run_id = tracker.start_run("hints", "smoke", {})
    if status != "RUNNING":
        tracker.end_run(run_id, status)
    tracker.flush()
    return run_id


def test_cli_errors_name_the_venv_script(off_path, run_cli, workdir) -> None:
    typed = off_path
    killed = a_run("KILLED")
    running = a_run("RUNNING")
    (workdir / ".hybrid-tui" / "runs" / killed).mkdir(parents=True)  # no trained model in it
    cases = {
        ("show", "ffff0000"): f"`{typed} runs` lists them",
        ("show", "ab"): f"`{typed} runs`",
        ("queue", "rm", "99"): f"`{typed} queue ls` lists them",
        ("runs", "--columns", "no.such.key"): f"`{typed} show RUN --json`",
        ("tag", killed[:8], "hybrid_tui.note=x"): f"{typed} note RUN TEXT",
        ("delete", "--yes", running[:8]): f"({typed} cancel {running[:8]})",
        ("eval", "--run", killed[:8]): f"`{typed} train --resume {killed[:8]}`",
        ("study", "--name", "none-yet", "--summary-only"): f"run `{typed} study` first",
        ("show",): f"Usage: {typed} show",  # click's usage line and its --help hint
    }
    for args, hint in cases.items():
        done = run_cli(*args)
        assert done.returncode == 2, (args, said(done))
        assert hint in said(done), (args, said(done))
        assert not BARE.search(said(done)), (args, said(done))


def test_the_hints_run_as_printed(off_path, run_cli) -> None:
    """What a hint says to type starts the installed command, from where the user stands."""
    done = run_cli("show", "ffff0000")
    typed = said(done).split("`")[1].split()[0]
    assert os.path.samefile(typed, SCRIPT)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


# Text written for readers who never have this venv: a model card published with the weights
# (its `hybrid-tui eval ...` is for whoever installs the package), and the demo's title line.
NOT_HINTS = {"report/model_card.py", "cli/demo.py:[bold]hybrid-tui demo[/]: "}


def test_no_string_in_the_package_types_a_bare_command() -> None:
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if id(node) in docstrings or name in NOT_HINTS or f"{name}:{node.value}" in NOT_HINTS:
                continue
            if BARE.search(node.value):
                bare.append(f"{name}:{node.lineno}: {node.value!r}")
    assert not bare, "use command_name.command(...):\n" + "\n".join(bare)
