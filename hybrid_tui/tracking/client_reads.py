"""The same reads as `sqlite_reads`, through MLflow's client: for tracking servers and other stores
that are not a sqlite file, and for a sqlite file the direct queries cannot read.

Every call imports mlflow (through the client); answers are the same records, field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.metric_keys import best_multi_key
from hybrid_tui.tracking.records import RunDetail, RunSummary, detail_of, summary_of
from hybrid_tui.tracking.store import RUN_ID, experiment_id, known_run, retrying, unknown_run

_PAGE = 1000


class ClientReads:
    """Reads through the client that `client()` returns (created on first use by the tracker)."""

    def __init__(self, client: Callable[[], Any], uri: str) -> None:
        self._client = client
        self._uri = uri

    def runs(self, experiment: str | None, status: str | None) -> list[RunSummary]:
        """Undeleted runs of undeleted experiments (one, or all), newest first."""
        from mlflow.entities import ViewType

        client = self._client()
        if experiment is None:
            experiment_ids = self._experiment_ids(ViewType.ACTIVE_ONLY)
        else:
            found = experiment_id(client, experiment, create=False, artifacts=None)
            experiment_ids = [found] if found is not None else []
        if not experiment_ids:
            return []
        filter_string = f"attributes.status = '{status}'" if status else ""
        return [
            _summary(run, self._best_multi_history(run))
            for run in self._search(experiment_ids, filter_string, ViewType.ACTIVE_ONLY)
        ]

    def pages(self, first: int, size: int) -> Iterator[list[RunSummary]]:
        """Undeleted runs of undeleted experiments, newest first, a page at a time: `first`
        runs, then `size` at a time (MLflow's page tokens), so a screen shows the newest before
        the rest has crossed the network."""
        from mlflow.entities import ViewType

        experiment_ids = self._experiment_ids(ViewType.ACTIVE_ONLY)
        if not experiment_ids:
            return
        client = self._client()
        token, max_results = None, first
        while True:
            page = retrying(
                lambda token=token, max_results=max_results: client.search_runs(
                    experiment_ids,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=max_results,
                    order_by=["attributes.start_time DESC"],
                    page_token=token,
                )
            )
            yield [_summary(run, self._best_multi_history(run)) for run in page]
            token, max_results = page.token, size
            if not token:
                return

    def mlflow_run(self, run_id: str) -> Any:
        """MLflow's run, or the one-line `HybridTuiError` when there is no undeleted run `run_id`."""
        if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
            raise unknown_run(run_id, self._uri)
        client = self._client()
        with known_run(run_id, self._uri):
            run = retrying(lambda: client.get_run(run_id))
        if run.info.lifecycle_stage == "deleted":
            raise unknown_run(run_id, self._uri)
        return run

    def run(self, run_id: str) -> RunDetail:
        run = self.mlflow_run(run_id)
        summary = _summary(run, self._best_multi_history(run))
        return detail_of(summary, run.data.params, run.data.metrics, run.data.tags)

    def _best_multi_history(self, run: Any) -> list[tuple[int, float]]:
        """The `(step, value)` points of the run's best-value key (one call per evaluated run)."""
        key = best_multi_key(run.data.metrics)
        if key is None:
            return []
        return [(step, value) for step, _, value in self.history(run.info.run_id, key, -1)]

    def run_ids(self, prefix: str) -> list[str]:
        """Ids of undeleted runs (of any experiment) that start with `prefix`, sorted."""
        from mlflow.entities import ViewType

        try:
            return [self.mlflow_run(prefix).info.run_id]
        except HybridTuiError:
            pass  # not a whole id: look through every run
        experiment_ids = self._experiment_ids(ViewType.ALL)
        if not experiment_ids:
            return []
        runs = self._search(experiment_ids, "", ViewType.ACTIVE_ONLY)
        return sorted(run.info.run_id for run in runs if run.info.run_id.startswith(prefix))

    def history(self, run_id: str, key: str, after_step: int) -> list[tuple[int, int, float]]:
        """Points `(step, timestamp, value)` of one metric after `after_step`, in step order."""
        client = self._client()
        with known_run(run_id, self._uri):
            metrics = retrying(lambda: client.get_metric_history(run_id, key))
        return sorted((m.step, m.timestamp, m.value) for m in metrics if m.step > after_step)

    def _search(self, experiment_ids: list[str], filter_string: str, view: Any) -> list:
        client = self._client()
        runs: list = []
        token = None
        while True:
            page = retrying(
                lambda token=token: client.search_runs(
                    experiment_ids,
                    filter_string=filter_string,
                    run_view_type=view,
                    max_results=_PAGE,
                    order_by=["attributes.start_time DESC"],
                    page_token=token,
                )
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def _experiment_ids(self, view: Any) -> list[str]:
        client = self._client()
        ids: list[str] = []
        token = None
        while True:
            page = retrying(
                lambda token=token: client.search_experiments(
                    view_type=view, max_results=_PAGE, page_token=token
                )
            )
            ids.extend(experiment.experiment_id for experiment in page)
            token = page.token
            if not token:
                return ids


def _summary(run: Any, history: list[tuple[int, float]]) -> RunSummary:
    info, data = run.info, run.data
    return summary_of(
        info.run_id,
        info.run_name,
        info.status,
        info.start_time,
        data.params,
        data.tags,
        data.metrics,
        history,
    )
