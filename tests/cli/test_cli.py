"""Bad input at the command line: one clear line, exit code 2, and no run left RUNNING."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, no_run_left_running, one_error_line

SMOKE = str(REPO / "recipes" / "smoke.toml")


def _recipe_with(workdir: Path, old: str, new: str) -> str:
    text = Path(SMOKE).read_text().replace(old, new)
    assert text != Path(SMOKE).read_text()
    path = workdir / "recipe.toml"
    path.write_text(text)
    return str(path)


def test_missing_recipe(run_cli, workdir: Path) -> None:
    assert "not found" in one_error_line(run_cli("train", "nope.toml"))


def test_bad_recipe_field(run_cli, workdir: Path) -> None:
    recipe = _recipe_with(workdir, "batch_size = 16", "batch_size = -4")
    assert "train.batch_size" in one_error_line(run_cli("train", recipe))
    no_run_left_running(workdir)


def test_unknown_model_spec(run_cli, workdir: Path, data_root: Path) -> None:
    recipe = _recipe_with(workdir, 'spec = "tiny-random"', 'spec = "./no/such/model"')
    line = one_error_line(run_cli("train", recipe, "--data-dir", str(data_root)))
    assert "no/such/model" in line
    no_run_left_running(workdir)


def test_missing_data_folder(run_cli, workdir: Path) -> None:
    line = one_error_line(run_cli("train", SMOKE, "--data-dir", str(workdir / "nowhere")))
    assert "nowhere" in line
    no_run_left_running(workdir)


def test_malformed_data_file(run_cli, workdir: Path, data_root: Path) -> None:
    broken = workdir / "data"
    shutil.copytree(data_root, broken)
    de = broken / "mlqa-dev-r" / "de.json"
    de.write_text(de.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    line = one_error_line(run_cli("train", SMOKE, "--data-dir", str(broken)))
    assert "de.json" in line
    no_run_left_running(workdir)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "--dataset", "xquad-r"], "exactly one of --model"),
        (["eval", "--model", "tiny-random", "--dataset", "squad"], "unknown dataset"),
        (["eval", "--model", "tiny-random", "--langs", "en,xx"], "'xx' is not in xquad-r"),
        (["eval", "--model", "tiny-random", "--settings", "mono,bi"], "--settings"),
        (["eval", "--model", "tiny-random", "--max-questions", "0"], "--max-questions"),
        (["eval", "--model", "tiny-random", "--question-seed", "-1"], "--question-seed"),
        (["eval", "--model", "tiny-random", "--max-query-length", "2"], "--max-query-length:"),
        (["eval", "--model", "tiny-random", "--pooling", "max"], "--pooling:"),
        (["eval", "--model", "tiny-random", "--langs", "en"], "--langs keeps 1 language(s)"),
        (["show", "0123456789abcdef"], "0123456789abcdef"),
        (["compare", "only-one"], "two or more"),
        (["train"], "give a recipe file"),
        (["cancel", "abc"], "run id abc is too short"),
        (["cancel", "0123456789abcdef"], "no run 0123456789abcdef"),
    ],
)
def test_bad_arguments(run_cli, workdir: Path, args: list[str], expected: str) -> None:
    assert expected in one_error_line(run_cli(*args))


def test_usage_errors_exit_2(run_cli) -> None:
    done = run_cli("train", "--no-such-flag")
    assert done.returncode == 2


def test_models_list_json(run_cli) -> None:
    models = json.loads(run_cli("models", "list", "--json", check_code=0).stdout)
    names = {model["name"] for model in models}
    assert {"e5-small-offline", "minilm-offline", "tiny-random"} <= names
    assert all(model["available"] for model in models)
