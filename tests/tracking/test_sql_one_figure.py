"""A filter or sort on headline figures reads only the figures it tests: `runs --sort multi` one
value per run from `latest_metrics` (not the four figures, nor every summary metric), and the
rows still choose and order the runs as the whole rows do."""

from __future__ import annotations

from hybrid_tui.runs.filter import parse_filter
from hybrid_tui.runs.listing import choose_runs, fields_for
from tests.conftest import tracker_of

FIGURES = {
    "mono": "eval/xquad_r/mono/avg/map",
    "cross": "eval/xquad_r/cross/avg/map",
    "multi": "eval/xquad_r/multi/avg/map",
    "bias": "eval/xquad_r/bias/avg/rank_distance",
}


def _runs(workdir) -> object:
    tracker = tracker_of(workdir)
    for index, multi in enumerate((0.40, 0.60, 0.50)):
        run_id = tracker.start_run("figures", f"r{index}", {})
        metrics = {key: 0.1 * index for key in FIGURES.values()} | {FIGURES["multi"]: multi}
        tracker.log_metrics(run_id, metrics | {"train/loss": 1.0}, 5)
        tracker.end_run(run_id, "FINISHED")
    return tracker


def test_a_sort_on_one_figure_reads_that_figure_alone(workdir) -> None:
    tracker = _runs(workdir)
    light = tracker.list_runs(fields=fields_for(None, "multi"))
    assert [set(run.headline) for run in light] == [{"multi"}] * 3
    assert [set(run.latest) for run in light] == [{FIGURES["multi"]}] * 3
    chosen = choose_runs(tracker, None, None, "multi", None).chosen
    assert [run.name for run in chosen] == ["r1", "r2", "r0"]


def test_a_filter_and_a_sort_read_the_figures_they_name(workdir) -> None:
    tracker = _runs(workdir)
    run_filter = parse_filter("multi>45 bias<0.15")
    light = tracker.list_runs(fields=fields_for(run_filter, "mono"))
    assert [set(run.headline) for run in light] == [{"multi", "bias", "mono"}] * 3
    chosen = choose_runs(tracker, None, run_filter, "mono", None).chosen
    assert [run.name for run in chosen] == ["r1"]  # r2: bias 0.2; r0: multi 40
    whole = {run.name: run.headline for run in tracker.list_runs()}
    assert chosen[0].headline == {k: v for k, v in whole["r1"].items() if k != "cross"}
