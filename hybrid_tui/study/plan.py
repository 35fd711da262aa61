"""What a study trains: the three methods over seeds, the α-schedule arm and the α sweep, and
the recipe of each run (the base recipe with only the sampler mix, the seed and the study tags
changed). Kept apart from running and summarising so the report can read the method names
without importing the runner."""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_tui.languages import MMMLU
from hybrid_tui.recipe import Recipe

METHODS: dict[str, tuple[float, float]] = {
    "mono": (1.0, 0.0),
    "cross": (0.0, 1.0),
    "hybrid": (0.5, 0.5),
}
UNTRAINED = "untrained"
# Beyond the paper (`--schedule-arm`): mono-heavy early, hybrid later, against constant α = 0.5.
# (fraction of the steps it starts at, mono weight, cross weight)
SCHEDULE = "schedule"
SCHEDULE_PHASES = ((0.0, 0.8, 0.2), (0.5, 0.5, 0.5))
HEADLINES = ("mono", "cross", "multi", "bias")


@dataclass(frozen=True)
class PlannedRun:
    method: str  # mono, cross, hybrid, or alpha=0.25 for the sweep
    seed: int
    mono: float
    cross: float
    schedule: bool = False  # the α-schedule arm: SCHEDULE_PHASES instead of a constant mix


def plan(seeds: int, alphas: list[float], schedule_arm: bool = False) -> list[PlannedRun]:
    """The three methods over `seeds` seeds (and the α-schedule arm when asked), then the α
    sweep on seed 0 (reusing equal mixes)."""
    runs = [PlannedRun(m, s, *METHODS[m]) for s in range(seeds) for m in METHODS]
    if schedule_arm:
        runs += [PlannedRun(SCHEDULE, s, 0.5, 0.5, schedule=True) for s in range(seeds)]
    existing = {(r.mono, r.cross) for r in runs if r.seed == 0}
    for alpha in alphas:
        if (alpha, 1 - alpha) not in existing:
            runs.append(PlannedRun(f"alpha={alpha:g}", 0, alpha, 1 - alpha))
    return runs


def recipe_for(base: Recipe, study: str, run: PlannedRun, mmmlu: bool = False) -> Recipe:
    """The base recipe with the run's mix, seed and study tags; `mmmlu` adds MMMLU to its
    evaluation (the study's optional claim 5, where a local copy is present)."""
    recipe = base.model_copy(deep=True)
    if mmmlu and MMMLU not in recipe.eval.datasets:
        recipe.eval.datasets = [*recipe.eval.datasets, MMMLU]
    recipe.name = f"{study}-{run.method}-s{run.seed}"
    recipe.sampler.mono, recipe.sampler.cross, recipe.sampler.multi = run.mono, run.cross, 0.0
    recipe.sampler.schedule = []
    if run.schedule:
        from hybrid_tui.recipe import SchedulePhase

        recipe.sampler.schedule = [
            SchedulePhase(from_step=int(start * base.train.steps), mono=mono, cross=cross)
            for start, mono, cross in SCHEDULE_PHASES
        ]
    recipe.train.seed = run.seed
    recipe.tracking.experiment = f"study-{study}"
    recipe.tracking.run_name = recipe.name
    recipe.tracking.tags = {
        **recipe.tracking.tags,
        "hybrid_tui.study": study,
        "hybrid_tui.study_method": run.method,
        "hybrid_tui.study_seed": str(run.seed),
        "hybrid_tui.study_alpha": "schedule"
        if run.schedule
        else f"{run.mono / (run.mono + run.cross):g}",
    }
    return recipe
