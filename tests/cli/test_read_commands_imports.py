"""The read commands on a local sqlite store load only what they show: no MLflow, no torch, no
statistics, and not urllib's HTTP stack (with ssl and email: ~50 ms), which only a remote
tracking server needs."""

from __future__ import annotations

from tests.cli.fresh_cli import cli_in_fresh_process
from tests.conftest import tracker_of

NOT_FOR_A_LOCAL_READ = ("mlflow", "torch", "numpy", "scipy", "urllib.request", "http.client")


def _modules_after(workdir, *args: str) -> set[str]:
    _, err, loaded = cli_in_fresh_process(workdir, *args)
    assert "error" not in err, err
    return loaded


def test_runs_show_and_filters_load_nothing_a_local_read_does_not_need(workdir) -> None:
    tracker = tracker_of(workdir)
    run_id = tracker.start_run("reads", "first", {})
    tracker.log_metrics(run_id, {"eval/xquad_r/multi/avg/map": 0.5}, 5)
    tracker.end_run(run_id, "FINISHED")
    for args in (
        ("runs",),
        ("runs", "--filter", "multi>40"),
        ("runs", "--sort", "multi"),
        ("show", run_id[:8]),
    ):
        loaded = _modules_after(workdir, *args)
        assert "hybrid_tui.tracking.sqlite_reads" in loaded  # the command read the store
        assert not loaded & set(NOT_FOR_A_LOCAL_READ), (args, loaded & set(NOT_FOR_A_LOCAL_READ))
