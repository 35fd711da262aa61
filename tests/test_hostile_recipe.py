"""A careless number in a recipe, and a trainer that is slow to reach step 1 (issue 20, item 4).

`--set train.steps=99999999999999999999999` used to be accepted, and the trainer then ran for
hours without a line in its log. Every recipe number now has a bound no real run reaches, and an
out-of-range value is one line naming the field, the bound and the fix, before any run exists.
A trainer says what it is doing before its first step (loading data, the model, the first
batch) in its log and in Live.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import recipe_from_dict
from tests.conftest import REPO, nothing_half_written, one_error_line, one_line, tracked_runs

SMOKE = REPO / "recipes" / "smoke.toml"
HUGE = 99999999999999999999999

# (the section with the value, the field path and bound the one line must name)
OUT_OF_RANGE = {
    "steps": ({"train": {"steps": HUGE}}, "train.steps", "10000000"),
    "batch-size": ({"train": {"batch_size": 10**6}}, "train.batch_size", "65536"),
    "warmup": ({"train": {"steps": 10, "warmup_steps": 10**9}}, "train.warmup_steps", "10000000"),
    "grad-accum": ({"train": {"grad_accum_steps": 10**6}}, "train.grad_accum_steps", "65536"),
    "checkpoint-every": (
        {"train": {"checkpoint_every": 10**12}},
        "train.checkpoint_every",
        "10000000",
    ),
    "log-every": ({"train": {"log_every": 10**12}}, "train.log_every", "10000000"),
    "eval-every": ({"train": {"eval_every": 10**12}}, "train.eval_every", "10000000"),
    "seed": ({"train": {"seed": 2**64}}, "train.seed", "4294967295"),
    "weight-decay": ({"train": {"weight_decay": 1e6}}, "train.weight_decay", "10"),
    "max-grad-norm": ({"train": {"max_grad_norm": 1e300}}, "train.max_grad_norm", "1000000"),
    "lr": ({"train": {"lr": 5.0}}, "train.lr", "1"),
    "mix-weight": ({"sampler": {"mono": 1e300}}, "sampler.mono", "1000000"),
    "phase-start": (
        {"sampler": {"schedule": [{"from_step": 10**12, "mono": 1}]}},
        "sampler.schedule.0.from_step",
        "10000000",
    ),
    "max-items": ({"data": {"max_items": 10**12}}, "data.max_items", "1000000000"),
    "eval-questions": ({"eval": {"max_questions": 10**12}}, "eval.max_questions", "10000000"),
    "eval-batch": ({"eval": {"batch_size": 10**7}}, "eval.batch_size", "65536"),
    "map-cutoff": ({"eval": {"map_cutoff": 10**12}}, "eval.map_cutoff", "1000000000"),
    "question-seed": ({"eval": {"question_seed": 2**40}}, "eval.question_seed", "4294967295"),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_a_number_out_of_range_is_one_line_naming_the_bound(case: str) -> None:
    section, field, bound = OUT_OF_RANGE[case]
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict(section, source="recipe r.toml")
    one_line(err, "recipe r.toml", f"{field}:", f"less than or equal to {bound}", "lower it to")


def test_a_bound_too_low_says_how_to_raise_it() -> None:
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict({"train": {"steps": 0}})
    one_line(err, "train.steps", "greater than or equal to 1", "raise it to 1 or more")


def test_a_number_too_long_to_parse_is_shown_cut() -> None:
    """A 5000-digit value (past Python's int-parsing limit) is one short line, not the digits."""
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict({"train": {"steps": "9" * 5000}})
    assert len(one_line(err, "train.steps")) < 300


def test_the_largest_allowed_values_are_a_valid_recipe() -> None:
    recipe = recipe_from_dict(
        {
            "train": {"steps": 10_000_000, "batch_size": 65536, "checkpoint_every": 10_000_000},
            "eval": {"max_questions": 10_000_000},
        }
    )
    assert recipe.train.steps == 10_000_000


def test_huge_steps_through_set_create_no_run(run_cli, workdir: Path) -> None:
    done = run_cli("train", str(SMOKE), "--set", f"train.steps={HUGE}", timeout=120)
    line = one_error_line(done)
    assert "train.steps" in line and str(HUGE) in line and "10000000" in line, line
    assert "lower it" in line
    assert not (workdir / "mlflow.db").exists() or tracked_runs(workdir) == []
    nothing_half_written(workdir)


def test_huge_steps_in_a_recipe_file_create_no_run(run_cli, workdir: Path) -> None:
    text = SMOKE.read_text(encoding="utf-8").replace("steps = 20", f"steps = {HUGE}")
    (workdir / "huge.toml").write_text(text, encoding="utf-8")
    done = run_cli("train", "huge.toml", "--detach", timeout=120)
    line = one_error_line(done)
    assert "huge.toml" in line and "train.steps" in line and "10000000" in line, line
    assert not (workdir / "mlflow.db").exists() or tracked_runs(workdir) == []
    nothing_half_written(workdir)


# ---------------------------------------------------------------- before step 1

PHASES_IN_ORDER = [
    "loading the training data (lareqa mlqa-r)",
    "finding the model tiny-random",
    "building the batch sampler",
    "creating the run in the tracking store",
    "recording the run's params and recipe",
    "loading the model tiny-random on cpu",
    "preparing the first batch (step 1 of 2)",
]


@pytest.mark.slow
def test_a_trainer_says_what_it_does_before_step_one(run_cli, workdir, data_root) -> None:
    """A real short run: its log and its event file name each phase, in order, before step 1."""
    from hybrid_tui.runs.files import RunFiles

    done = run_cli(
        "train",
        str(SMOKE),
        "--data-dir",
        str(data_root),
        "--set",
        "train.steps=2",
        "--set",
        "eval.datasets=[]",
        check_code=0,
    )
    log = done.stdout.splitlines()
    first_step = next(i for i, line in enumerate(log) if line.startswith("step 1/2 loss"))
    said = [line.removesuffix(" ...") for line in log[:first_step] if line.endswith(" ...")]
    positions = [_matching(said, phase) for phase in PHASES_IN_ORDER]
    assert positions == sorted(positions), said
    assert said[-1] == PHASES_IN_ORDER[-1]

    (run,) = tracked_runs(workdir)
    events = [
        json.loads(line)
        for line in RunFiles.for_run(run.run_id).events.read_text(encoding="utf-8").splitlines()
    ]
    first = next(i for i, event in enumerate(events) if event["type"] == "step")
    phases = [event["message"] for event in events[:first] if event["type"] == "phase"]
    assert phases == said  # the ones said before the run existed were kept for the file
    times = [event["t"] for event in events]
    assert times == sorted(times)


def _matching(said: list[str], phase: str) -> int:
    """Where the phase is in what the trainer said (it fails the test when missing)."""
    return next(i for i, line in enumerate(said) if line.startswith(phase))


# ---------------------------------------------------------------- Live before step 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_live_shows_the_phase_until_the_first_step(workdir: Path) -> None:
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.tui.app import HybridTuiApp

    store = os.environ["MLFLOW_TRACKING_URI"]
    run_id = Tracker(store).start_run("live", "starting-run")
    events = RunFiles.for_run(run_id).events
    events.parent.mkdir(parents=True, exist_ok=True)

    def append(*lines: dict) -> None:
        with events.open("a", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"t": 1e9, **line}) + "\n" for line in lines)

    append(
        {"type": "phase", "message": "loading the training data (lareqa mlqa-r)"},
        {"type": "phase", "message": "loading the model [big] model on cuda:0"},
    )
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(100, 30)) as pilot:
        app.open_live(run_id)

        def stats() -> str:
            found = app.screen.query("#live-stats")  # none until Live is composed
            return str(found.first().render()) if found else ""

        await _wait_for(pilot, lambda: "model on cuda:0" in stats(), "the phase")
        assert "loading the model [big] model on cuda:0" in stats()  # shown as written
        assert "loading the training data" not in stats()  # the latest phase only
        append(
            {"type": "start", "run_id": run_id, "name": "starting-run", "steps": 5},
            {"type": "step", "step": 1, "loss": 2.5, "lr": 1e-3, "batch_kind": "mono"},
        )
        await _wait_for(pilot, lambda: "step 1/5" in stats(), "the first step")
        assert "loading the model" not in stats()


async def _wait_for(pilot, predicate, what: str, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")
