"""Each location a user can move with an environment variable moves for the commands that use it,
an explicit choice (a flag, a recipe value) beats the variable, and only `hybrid_tui.paths`
reads hybrid-tui's own variables."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import REPO, one_error_line
from tests.tui.test_tui import seed_run

SMOKE = str(REPO / "recipes" / "smoke.toml")
PACKAGE = REPO / "hybrid_tui"


def _queued():
    from hybrid_tui.jobs.queue_store import JobStore

    return JobStore().jobs()


# ------------------------------------------------------------------ HYBRID_TUI_HOME


def test_hybrid_tui_home_is_where_the_queue_and_train_keep_their_files(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = workdir / "elsewhere" / "state"
    monkeypatch.setenv("HYBRID_TUI_HOME", str(home))
    run_cli("queue", "add", SMOKE, check_code=0)
    assert (home / "queue.db").is_file() and list((home / "queue" / "recipes").glob("*.toml"))
    assert not (workdir / ".hybrid-tui").exists()

    done = run_cli("train", "--resume", "abcdef12", check_code=2)
    assert f"no local files for run abcdef12 under {home / 'runs'}" in one_error_line(done)


def test_without_hybrid_tui_home_the_state_dir_is_in_the_working_directory(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HYBRID_TUI_HOME")
    run_cli("queue", "add", SMOKE, check_code=0)
    assert (workdir / ".hybrid-tui" / "queue.db").is_file()
    assert (
        json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)["jobs"][0]["name"]
        == "smoke"
    )


# ------------------------------------------------------------------ MLFLOW_TRACKING_URI


@pytest.fixture
def two_stores(workdir: Path) -> tuple[str, str]:
    """`sqlite:///mlflow.db` in the work dir (the default) holding run `in-default`, and another
    store holding run `in-other`."""
    default, other = "sqlite:///mlflow.db", f"sqlite:///{workdir / 'other' / 'mlflow.db'}"
    (workdir / "other").mkdir()
    seed_run(f"sqlite:///{workdir / 'mlflow.db'}", "in-default")
    seed_run(other, "in-other")
    return default, other


def _run_names(run_cli, *args: str) -> set[str]:
    return {
        run["name"] for run in json.loads(run_cli("runs", "--json", *args, check_code=0).stdout)
    }


def test_runs_reads_the_flag_then_mlflow_tracking_uri_then_mlflow_db(
    two_stores, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    default, other = two_stores
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    assert _run_names(run_cli) == {"in-other"}
    assert _run_names(run_cli, "--tracking-uri", default) == {"in-default"}
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert _run_names(run_cli) == {"in-default"}


def test_the_app_shows_and_reads_the_same_store(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.tui.app import HybridTuiApp

    other = f"sqlite:///{workdir / 'other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    app = HybridTuiApp()
    assert app.tracking_uri == other and app.sub_title == "sqlite:///other.db"
    flagged = HybridTuiApp(tracking_uri="sqlite:///flag.db")  # `hybrid-tui tui --tracking-uri`
    assert flagged.tracking_uri == "sqlite:///flag.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert HybridTuiApp().sub_title == "sqlite:///mlflow.db"


def test_a_recipes_tracking_uri_beats_mlflow_tracking_uri_for_queued_runs(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queued job trains into the store its recipe names, else `MLFLOW_TRACKING_URI`'s, else
    the working directory's `mlflow.db` (each made absolute: the trainer may start elsewhere)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'from-env.db'}")
    run_cli("queue", "add", SMOKE, "--set", "tracking.uri=sqlite:///from-recipe.db", check_code=0)
    run_cli("queue", "add", SMOKE, check_code=0)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    run_cli("queue", "add", SMOKE, check_code=0)
    jobs = json.loads(run_cli("queue", "ls", "--json", check_code=0).stdout)["jobs"]
    assert [job["tracking_uri"] for job in jobs] == [
        f"sqlite:///{workdir / 'from-recipe.db'}",
        f"sqlite:///{workdir / 'from-env.db'}",
        f"sqlite:///{workdir / 'mlflow.db'}",
    ]


def test_a_recipes_tracking_uri_beats_mlflow_tracking_uri_for_a_trainer(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.recipe import recipe_from_dict

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert recipe_from_dict({}).tracking.resolved_uri() == "sqlite:///from-env.db"
    named = recipe_from_dict({"tracking": {"uri": "sqlite:///from-recipe.db"}})
    assert named.tracking.resolved_uri() == "sqlite:///from-recipe.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert recipe_from_dict({}).tracking.resolved_uri() == "sqlite:///mlflow.db"


# ------------------------------------------------------------------ HYBRID_TUI_DATA


def test_hybrid_tui_data_is_the_folder_queued_jobs_and_the_app_use(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.tui.app import HybridTuiApp

    monkeypatch.setenv("HYBRID_TUI_DATA", str(workdir / "from-env"))
    run_cli("queue", "add", SMOKE, check_code=0)
    run_cli("queue", "add", SMOKE, "--data-dir", str(workdir / "from-flag"), check_code=0)
    assert HybridTuiApp().data_dir == str(workdir / "from-env")
    monkeypatch.delenv("HYBRID_TUI_DATA")
    run_cli("queue", "add", SMOKE, check_code=0)
    assert HybridTuiApp().data_dir is None  # Compose then says the data will be downloaded
    assert [job.data_dir for job in _queued()] == [
        str(workdir / "from-env"),
        str(workdir / "from-flag"),
        None,
    ]


# ------------------------------------------------------------------ the caches


def test_hybrid_tui_cache_is_where_models_are_prepared(
    workdir: Path, run_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_TUI_CACHE", str(workdir / "cache"))
    models = json.loads(run_cli("models", "list", "--json", check_code=0).stdout)
    tiny = next(model for model in models if model["name"] == "tiny-random")
    assert tiny["path"] == str(workdir / "cache" / "models" / "tiny-random")
    assert tiny["prepared"] is False


class _OnesEncoder:
    def encode(self, texts, kind, batch_size, progress=None):
        import numpy as np

        return np.ones((len(texts), 4), dtype="float32")


def test_hybrid_tui_embeddings_holds_the_corpus_cache_else_the_model_cache_does(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hybrid_tui.evaluation.search import encode_corpus

    monkeypatch.setenv("HYBRID_TUI_CACHE", str(workdir / "cache"))
    monkeypatch.setenv("HYBRID_TUI_EMBEDDINGS", str(workdir / "big-disk"))
    encode_corpus(_OnesEncoder(), ["a", "b"], "key-1")
    assert (workdir / "big-disk" / "key-1" / "embeddings.npy").is_file()
    monkeypatch.delenv("HYBRID_TUI_EMBEDDINGS")
    encode_corpus(_OnesEncoder(), ["a", "b"], "key-2")
    assert (workdir / "cache" / "corpus-embeddings" / "key-2" / "embeddings.npy").is_file()


# ------------------------------------------------------------------ set by the launcher


def test_the_launch_log_named_by_hybrid_tui_log_file_becomes_the_runs_trainer_log(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.training.run_record import adopt_launch_log

    launch_log = workdir / "launch.log"
    launch_log.write_text("loading the model\n")
    monkeypatch.setenv("HYBRID_TUI_LOG_FILE", str(launch_log))
    files = RunFiles.for_run("run-1")
    files.root.mkdir(parents=True)
    adopt_launch_log(files)
    assert files.log.read_text() == "loading the model\n" and not launch_log.exists()
    assert "HYBRID_TUI_LOG_FILE" not in os.environ  # the trainer's own children do not take it


def test_a_trainer_the_queue_started_tags_its_run_with_the_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hybrid_tui.training.run_record import process_tags

    monkeypatch.delenv("HYBRID_TUI_QUEUE_JOB", raising=False)
    assert "hybrid_tui.queue_job" not in process_tags()
    monkeypatch.setenv("HYBRID_TUI_QUEUE_JOB", "17:tok-a")
    assert process_tags()["hybrid_tui.queue_job"] == "17"


# ------------------------------------------------------------------ one reader


PROCESS_VARIABLES = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "CUDA_VISIBLE_DEVICES"}
"""Set by torchrun and the queue to describe a process, not hybrid-tui's locations: read where
they are acted on."""


def _is_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _is_getenv(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "getenv") or (
        isinstance(node, ast.Name) and node.id == "getenv"
    )


def environment_lookups(source: str) -> list[tuple[int, str]]:
    """(line, variable) of each lookup of one variable in `os.environ` (get, pop, setdefault,
    `[...]`, `in`) or through `os.getenv`; copying the whole environment is not a lookup."""
    found = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if _is_getenv(func) or (
                isinstance(func, ast.Attribute)
                and _is_environ(func.value)
                and func.attr in {"get", "pop", "setdefault"}
            ):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            key = node.slice
        elif isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            if any(_is_environ(right) for right in node.comparators):
                key = node.left
        if key is not None:
            name = key.value if isinstance(key, ast.Constant) else ast.unparse(key)
            found.append((node.lineno, str(name)))
    return found


def test_the_lookup_scan_sees_each_way_of_reading_a_variable() -> None:
    source = (
        "import os\nfrom os import environ, getenv\n"
        "os.environ.get('HYBRID_TUI_DATA')\nos.getenv('HYBRID_TUI_HOME')\n"
        "environ['MLFLOW_TRACKING_URI']\nQUEUE_JOB_ENV in os.environ\n"
        "os.environ.pop('HYBRID_TUI_LOG_FILE', None)\ngetenv('HYBRID_TUI_CACHE')\n"
        "env = {**os.environ, 'PYTHONUNBUFFERED': '1'}\n"
    )
    assert [name for _, name in environment_lookups(source)] == [
        "HYBRID_TUI_DATA",
        "HYBRID_TUI_HOME",
        "MLFLOW_TRACKING_URI",
        "QUEUE_JOB_ENV",
        "HYBRID_TUI_LOG_FILE",
        "HYBRID_TUI_CACHE",
    ]


def test_only_paths_reads_hybrid_tuis_own_environment_variables() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{line} reads {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "paths.py"
        for line, name in environment_lookups(path.read_text(encoding="utf-8"))
        if name not in PROCESS_VARIABLES
    ]
    assert offenders == [], "read these through hybrid_tui.paths:\n" + "\n".join(offenders)
