"""README works as written (issues 21 and 27): short, with a picture, the two commands CI runs,
command names that exist, and a tour that runs in a fresh shell right after the first command.

The tour runs each line of README's tour block in its own `bash` with a minimal environment (HOME
and a PATH without the venv, as after `python3 -m venv .venv` in a new terminal), from a project
folder laid out like a clone: `.venv` and `recipes/` there, the data at `../shared/data/lareqa`,
and the demo's store (`./mlflow.db`, `./.hybrid-tui`) holding one finished run.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from hybrid_tui.cli import app
from tests.conftest import REPO

README = REPO / "README.md"
CLI_DOC = REPO / "docs" / "cli.md"
VENV = Path(sys.prefix)  # the venv running the tests: the one README's first command builds

# `hybrid-tui WORD [WORD]` as a command line writes it (alone or after `.venv/bin/`), not a path
# such as `.hybrid-tui/runs` nor a possessive.
COMMAND_USE = re.compile(
    r"(?:(?<=\.venv/bin/)|(?<![\w./-]))hybrid-tui ([a-z][a-z-]*)(?: ([a-z]+))?"
)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```\w*\n(.*?)^```", text, flags=re.S | re.M)


def _command_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_is_short_with_a_picture_that_exists() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("# hybrid-tui\n"), "README starts with the project's name"
    assert len(text.splitlines()) <= 90
    images = re.findall(r"!\[[^\]]+\]\(([^)\s]+)\)", text)
    assert images, "README shows a picture of the app"
    for image in images:
        assert (REPO / image).is_file(), f"README's picture {image} is missing"
    for line in text.splitlines():
        if line.startswith("|"):
            assert len(line) <= 120, f"table row too wide: {line[:60]}..."


def test_first_block_is_the_two_commands_and_ci_runs_the_second() -> None:
    first = _command_lines(_code_blocks(README.read_text(encoding="utf-8"))[0])
    assert len(first) == 2, first
    assert first[0].endswith("hybrid-tui demo --data-dir ../shared/data/lareqa")
    ci = [
        line
        for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.startswith("python3 -m venv")
    ]
    assert len(ci) == 1
    # CI adds only pip's -q (a shorter log); the command is otherwise README's, byte for byte.
    assert ci[0].replace("pip install -q ", "pip install ", 1) == first[1]


def _registered() -> dict[str, set[str]]:
    """Each command of the typer app, with its subcommands for a group."""
    root = typer.main.get_command(app)
    return {
        name: set(getattr(command, "commands", {}) or {})
        for name, command in root.commands.items()  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("doc", [README, CLI_DOC], ids=["README", "cli.md"])
def test_every_command_named_in_the_docs_exists(doc: Path) -> None:
    commands = _registered()
    uses = COMMAND_USE.findall(doc.read_text(encoding="utf-8"))
    assert uses, f"{doc.name} names no command"
    for name, sub in uses:
        assert name in commands, f"{doc.name}: `hybrid-tui {name}` is not a command"
        if commands[name] and sub:
            assert sub in commands[name], f"{doc.name}: `hybrid-tui {name} {sub}` is not a command"
    documented = {name for name, _ in COMMAND_USE.findall(CLI_DOC.read_text(encoding="utf-8"))}
    assert documented >= set(commands), f"cli.md lacks {set(commands) - documented}"


def _all_options() -> set[str]:
    """Every long option any command (or the app itself) takes."""
    found: set[str] = set()
    todo = [typer.main.get_command(app)]
    while todo:
        command = todo.pop()
        for param in command.params:
            found.update(
                name for name in param.opts + param.secondary_opts if name.startswith("--")
            )
        todo += list(getattr(command, "commands", {}).values())
    return found


NOT_OURS = {"--help", "--nproc_per_node", "--check"}  # click's, torchrun's, ruff format's
NOT_OURS |= {"--backend-store-uri", "--artifacts-destination", "--host"}  # mlflow server's


@pytest.mark.parametrize("doc", [README, CLI_DOC], ids=["README", "cli.md"])
def test_every_option_named_in_the_docs_exists(doc: Path) -> None:
    options = _all_options() | NOT_OURS
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z_-]*", doc.read_text(encoding="utf-8")))
    assert named, f"{doc.name} names no option"
    assert named <= options, f"{doc.name} names options no command takes: {named - options}"


def _tour() -> list[str]:
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A tour", 1)[1]
    return _command_lines(_code_blocks(tour)[0])


# What a user expects to read after each tour line (by the subcommand it runs).
EXPECTED = {
    "runs": ["readme-run", "FINISHED"],
    "show": ["readme-run", "mono", "cross"],
    "runs --filter": ["readme-run"],
    "tag": [],
    "queue add": ["1", "2", "3"],  # the job ids
    "queue ls": ["queued", "queued", "queued"],
    "models list": ["e5-small-offline", "tiny-random"],
}


def _expected(line: str) -> list[str]:
    words = shlex.split(line, comments=True)
    key = " ".join(words[1:3])
    if key not in EXPECTED:
        key = words[1]
    return EXPECTED[key]


@pytest.fixture
def fresh_clone(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder as README's first command leaves it, with one finished run in its store."""
    from tests.tui.test_tui import seed_run

    project = tmp_path / "hybrid-tui"
    project.mkdir()
    (project / ".venv").symlink_to(VENV)
    (project / "recipes").symlink_to(REPO / "recipes")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "lareqa").symlink_to(data_root)
    monkeypatch.setenv("HYBRID_TUI_HOME", str(project / ".hybrid-tui"))
    run_id = seed_run(f"sqlite:///{project / 'mlflow.db'}", "readme-run", shift=0.2)
    (project / "run-id").write_text(run_id, encoding="utf-8")
    return project


@pytest.mark.slow  # eight fresh CLI processes and a seeded store: ~20 s of CPU on 2 cores
def test_the_tour_runs_as_written_in_a_fresh_shell(fresh_clone: Path, tmp_path: Path) -> None:
    run_id = (fresh_clone / "run-id").read_text(encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin"}
    assert shutil.which("hybrid-tui", path=env["PATH"]) is None, "the shell must not find it"
    lines = _tour()
    assert 5 <= len(lines) <= 12, lines
    for line in lines:
        typed = re.sub(r"\bRUN\b", run_id[:8], line)  # the id the user copies from `runs`
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", typed],
            cwd=fresh_clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        output = result.stdout
        for expected in _expected(line):
            assert expected in output, f"{line}: {expected!r} not in\n{output}"
            output = output.replace(expected, "", 1)
    tagged = subprocess.run(
        [".venv/bin/hybrid-tui", "runs", "--filter", "tags.team = 'ir'"],
        cwd=fresh_clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "readme-run" in tagged.stdout, tagged.stdout + tagged.stderr
