"""Recipes: every shipped recipe loads; bad fields give one line naming the field and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hybrid_tui.cli.demo import demo_recipe
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import Recipe, load_recipe, recipe_from_dict, save_recipe

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.rglob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_loads(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.name


def test_demo_toml_is_the_embedded_demo() -> None:
    assert load_recipe(RECIPES / "demo.toml") == demo_recipe()


def test_paper_recipes_cover_both_models_and_three_mixes() -> None:
    names = {p.stem for p in (RECIPES / "paper").glob("*.toml")}
    assert names == {f"{m}-{mix}" for m in ("xlmr", "labse") for mix in ("mono", "cross", "hybrid")}
    assert load_recipe(RECIPES / "paper" / "labse-hybrid.toml").sampler.alpha == 0.5
    assert load_recipe(RECIPES / "paper" / "xlmr-mono.toml").sampler.alpha == 1.0
    assert load_recipe(RECIPES / "paper" / "xlmr-cross.toml").sampler.alpha == 0.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    recipe = recipe_from_dict(
        {
            "name": "x",
            "sampler": {
                "mono": 0.3,
                "cross": 0.5,
                "multi": 0.2,
                "schedule": [{"from_step": 10, "mono": 1.0}],
            },
        }
    )
    path = save_recipe(recipe, tmp_path / "r.toml")
    assert load_recipe(path) == recipe
    assert tomllib.loads(path.read_text())["sampler"]["schedule"][0]["from_step"] == 10


def test_mix_describes_alpha() -> None:
    assert Recipe().sampler.describe() == "hybrid α=0.50"
    assert recipe_from_dict({"sampler": {"mono": 1, "cross": 3}}).sampler.alpha == 0.25
    assert recipe_from_dict({"sampler": {"mono": 0, "cross": 1}}).sampler.describe() == "cross"
    mixed = recipe_from_dict({"sampler": {"mono": 1, "cross": 1, "multi": 2}}).sampler
    assert mixed.alpha is None and mixed.weights()["multi"] == 0.5


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"sampler": {"mono": 0, "cross": 0, "multi": 0}}, "sampler: mix weights are all zero"),
        ({"sampler": {"mono": -0.5}}, "sampler.mono: Input should be greater than or equal to 0"),
        ({"sampler": {"cross": "lots"}}, "sampler.cross: Input should be a valid number"),
        ({"train": {"batchsize": 8}}, "train.batchsize: unknown key"),
        ({"colour": "red"}, "colour: unknown key"),
        (
            {"train": {"batch_size": 1}},
            "train.batch_size: Input should be greater than or equal to 2",
        ),
        ({"train": {"steps": 0}}, "train.steps"),
        ({"train": {"lr": -1}}, "train.lr"),
        ({"train": {"temperature": 0}}, "train.temperature"),
        ({"train": {"device": "gpu"}}, "device must be auto, cpu, cuda, cuda:N or mps"),
        ({"train": {"batch_size": 10, "grad_accum_steps": 3}}, "not divisible by grad_accum_steps"),
        ({"train": {"steps": 5, "warmup_steps": 9}}, "warmup_steps 9 exceeds steps 5"),
        ({"train": {"precision": "fp8"}}, "train.precision"),
        ({"eval": {"datasets": ["beir"]}}, "unknown evaluation dataset 'beir'"),
        ({"eval": {"languages": ["xx"]}}, "unknown evaluation language 'xx'"),
        ({"eval": {"settings": ["mono", "bilingual"]}}, "eval.settings.1"),
        ({"eval": {"settings": []}}, "eval.settings"),
        ({"data": {"languages": ["EN"]}}, "'EN' is not a language code"),
        ({"data": {"languages": ["en", "en"]}}, "languages are listed twice"),
        ({"data": {"source": "csv"}}, "data.source"),
        ({"model": {"pooling": "max"}}, "model.pooling"),
        ({"model": {"max_query_length": 2}}, "model.max_query_length"),
        (
            {"sampler": {"schedule": [{"from_step": 5}]}},
            "weights of the phase from step 5 are all zero",
        ),
        (
            {"sampler": {"schedule": [{"from_step": 5, "mono": 1}, {"from_step": 5, "cross": 1}]}},
            "strictly increasing from_step",
        ),
    ],
)
def test_bad_fields_give_one_line(data: dict, expected: str) -> None:
    with pytest.raises(HybridTuiError) as info:
        recipe_from_dict(data)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(HybridTuiError, match="not found"):
        load_recipe(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\nsteps = 3\n")
    with pytest.raises(HybridTuiError, match="not valid TOML"):
        load_recipe(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(HybridTuiError, match="not UTF-8"):
        load_recipe(binary)


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_recipe(Recipe(name="first"), tmp_path / "r.toml")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)
    with pytest.raises(OSError):
        save_recipe(Recipe(name="second"), path)
    assert load_recipe(path).name == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["r.toml"]


def test_training_on_an_evaluation_set_is_refused() -> None:
    with pytest.raises(HybridTuiError, match="data.dataset 'xquad-r' is also in eval.datasets"):
        recipe_from_dict({"data": {"dataset": "xquad-r"}, "eval": {"datasets": ["xquad-r"]}})


# ---------------------------------------------------------------- --set overrides

SMOKE = RECIPES / "smoke.toml"


def test_overrides_set_dotted_keys_as_toml_values() -> None:
    from hybrid_tui.recipe import OVERRIDES_TAG

    recipe = load_recipe(
        SMOKE,
        [
            "train.lr=1e-5",
            "sampler.mono=0.3",
            "train.device=cpu",
            'data.languages=["de", "en"]',
            "eval.map_cutoff=10",
            "tracking.tags.team=ir",
            'name="a, b"',
        ],
    )
    assert recipe.train.lr == 1e-5 and recipe.sampler.mono == 0.3
    assert recipe.data.languages == ["de", "en"] and recipe.eval.map_cutoff == 10
    assert recipe.name == "a, b" and recipe.tracking.tags["team"] == "ir"
    assert recipe.tracking.tags[OVERRIDES_TAG] == (
        'train.lr=1e-05 sampler.mono=0.3 train.device=cpu data.languages=["de", "en"] '
        "eval.map_cutoff=10 tracking.tags.team=ir name=a, b"
    )
    assert recipe.flat_params()["train.lr"] == "1e-05"
    assert load_recipe(SMOKE) == load_recipe(SMOKE, [])  # the file itself is untouched


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.lrr=1e-5", "--set train.lrr: unknown key 'lrr' in train; valid keys: batch_size,"),
        ("trian.lr=1e-5", "unknown key 'trian' in the recipe; valid keys: name, model, data"),
        ("train=3", "--set train: train is a section; set one of its keys (batch_size"),
        ("train.lr.x=1", "train.lr is not a section"),
        ("train.steps=abc", "with --set: train.steps: Input should be a valid integer"),
        ("train.steps=2.5", "train.steps: Input should be a valid integer"),
        ("sampler.mono=-1", "sampler.mono: Input should be greater than or equal to 0"),
        ("train.lr", "give KEY=VALUE"),
    ],
)
def test_bad_overrides_give_one_line(override: str, expected: str) -> None:
    with pytest.raises(HybridTuiError) as info:
        load_recipe(SMOKE, [override])
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_an_override_given_twice_is_refused() -> None:
    with pytest.raises(HybridTuiError, match="given twice"):
        load_recipe(SMOKE, ["train.seed=1", "train.seed=2"])


@pytest.mark.slow
def test_train_with_set_records_the_steps_and_the_overrides(run_cli, workdir, data_root) -> None:
    """Must show: `hybrid-tui train recipes/smoke.toml --set train.steps=7` records 7 steps."""
    from tests.conftest import tracked_runs

    run_cli(
        "train", str(SMOKE), "--set", "train.steps=7", "--data-dir", str(data_root), check_code=0
    )
    (run,) = tracked_runs(workdir)
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    detail = tracker.get_run(run.run_id)
    assert detail.status == "FINISHED" and detail.params["train.steps"] == "7"
    assert detail.tags["hybrid_tui.overrides"] == "train.steps=7"
    assert [step for step, _ in tracker.metric_history(run.run_id, "train/loss")] == list(
        range(1, 8)
    )
