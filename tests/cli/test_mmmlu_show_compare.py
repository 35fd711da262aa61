"""A run's MMMLU results outside the Results screen: `show --json` gives them under named fields
(accuracy per setting, the bias figures, averages and chance), and `compare A B` draws the
difference grid (other − base) and tests mono and cross on each question's right or wrong pick.

The runs are real scorings (`evaluate_choice_embeddings`, per-question results included) of one
parallel item set, logged through the project's tracker as the trainer logs them.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import tracker_of

LANGS = ["en", "de", "sw"]
N_QUESTIONS = 60


def choice_set():
    """Parallel items: `N_QUESTIONS` questions in each of `LANGS`, right options spread over A-D."""
    from hybrid_tui.data.mmmlu import ChoiceItem, MultipleChoiceSet

    items = {
        lang: [
            ChoiceItem(i, f"{lang} q{i}", tuple(f"{lang} o{i}{k}" for k in "ABCD"), i % 4, "topic")
            for i in range(N_QUESTIONS)
        ]
        for lang in LANGS
    }
    return MultipleChoiceSet("mmmlu", list(LANGS), items)


def scored(seed: int, pull: float):
    """A scoring of `choice_set` from seeded embeddings; `pull` moves each right option towards
    its question (0: a random model), so a larger pull answers more questions right."""
    from hybrid_tui.evaluation.mmmlu import evaluate_choice_embeddings
    from hybrid_tui.tracking.per_query import PerQueryResults

    items = choice_set()
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(N_QUESTIONS, 16))  # a question's meaning, the same in each language
    questions = {x: shared + 0.3 * rng.normal(size=shared.shape) for x in LANGS}
    options = {}
    for y in LANGS:
        opts = rng.normal(size=(N_QUESTIONS, 4, 16))
        rows = np.arange(N_QUESTIONS)
        opts[rows, rows % 4] += pull * shared
        options[y] = opts
    per_query = PerQueryResults("mmmlu")
    result = evaluate_choice_embeddings(items, questions, options, per_query=per_query)
    return result.metrics, per_query


def plant(tracker, name: str, metrics: dict, per_query=None) -> str:
    """A FINISHED run with these MMMLU metrics (and `per_query/mmmlu.csv.gz` when given)."""
    from hybrid_tui.tracking.per_query import log_per_query_artifacts

    run_id = tracker.start_run("mmmlu", name, {"hybrid_tui.train_languages": "en,de"})
    if per_query is not None:
        log_per_query_artifacts(tracker, run_id, {"mmmlu": per_query})
    tracker.log_metrics(run_id, metrics, 10)
    tracker.flush()
    tracker.end_run(run_id, "FINISHED")
    return run_id


def test_show_json_names_the_mmmlu_figures(workdir, run_cli) -> None:
    metrics, _ = scored(1, 0.5)
    run_id = plant(tracker_of(workdir), "mmmlu-run", metrics)
    shown = json.loads(run_cli("show", run_id, "--json", check_code=0).stdout)
    table = shown["tables"]["mmmlu"]
    # The structure other sets get (dataset, languages, per-setting objects, avg), in accuracy.
    assert table["dataset"] == "mmmlu" and table["is_delta"] is False
    assert table["languages"] == LANGS and table["metric"] == "accuracy"
    assert table["mono"]["sw"] == metrics["eval/mmmlu/mono/sw/acc"]
    assert table["cross"]["de-sw"] == metrics["eval/mmmlu/cross/de-sw/acc"]
    assert set(table["cross"]) == {f"{x}-{y}" for x in LANGS for y in LANGS if x != y}
    assert table["multi"]["en"] == metrics["eval/mmmlu/multi/en/acc"]
    assert table["own_share"]["de"] == metrics["eval/mmmlu/bias/de/own_share"]
    assert table["rank_distance"]["de"] == metrics["eval/mmmlu/bias/de/rank_distance"]
    assert table["avg"] == {
        "mono": metrics["eval/mmmlu/mono/avg/acc"],
        "cross": metrics["eval/mmmlu/cross/avg/acc"],
        "multi": metrics["eval/mmmlu/multi/avg/acc"],
        "own_share": metrics["eval/mmmlu/bias/avg/own_share"],
        "rank_distance": metrics["eval/mmmlu/bias/avg/rank_distance"],
    }
    assert table["chance"] == {
        "mono": 0.25,
        "cross": 0.25,
        "multi": 0.25,
        "own_share": pytest.approx(1 / 3),
    }
    assert shown["metrics"]["eval/mmmlu/cross/de-sw/acc"] == table["cross"]["de-sw"]


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def test_compare_draws_the_mmmlu_difference_grid(workdir, run_cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    tracker = tracker_of(workdir)
    base_metrics, _ = scored(2, 0.2)
    other_metrics, _ = scored(3, 0.8)
    base = plant(tracker, "base", base_metrics)
    other = plant(tracker, "other", other_metrics)

    def diff(key: str) -> float:
        return other_metrics[key] - base_metrics[key]

    payload = json.loads(run_cli("compare", base, other, "--json", check_code=0).stdout)
    delta = payload["deltas"][other]["mmmlu"]
    assert delta["is_delta"] is True and delta["languages"] == LANGS
    assert delta["cross"]["de-sw"] == pytest.approx(diff("eval/mmmlu/cross/de-sw/acc"), abs=1e-12)
    assert delta["mono"]["en"] == pytest.approx(diff("eval/mmmlu/mono/en/acc"), abs=1e-12)
    assert delta["own_share"]["sw"] == pytest.approx(diff("eval/mmmlu/bias/sw/own_share"))
    assert delta["avg"]["cross"] == pytest.approx(diff("eval/mmmlu/cross/avg/acc"), abs=1e-12)
    assert delta["avg"]["own_share"] == pytest.approx(diff("eval/mmmlu/bias/avg/own_share"))
    assert delta["chance"] == {}
    # No per-question results logged: significance says so in one line, for MMMLU too.
    assert payload["significance"][other]["mmmlu"] is None

    printed = run_cli("compare", base, other, check_code=0).stdout
    cells = " ".join(re.sub("[│┃]", " ", printed).split())
    assert "MMMLU by option retrieval: Δ accuracy (other − base)" in printed
    # de's row: options in en, de (mono), sw, then multi, own share and rank distance.
    row = [
        diff("eval/mmmlu/cross/de-en/acc"),
        diff("eval/mmmlu/mono/de/acc"),
        diff("eval/mmmlu/cross/de-sw/acc"),
        diff("eval/mmmlu/multi/de/acc"),
        diff("eval/mmmlu/bias/de/own_share"),
        diff("eval/mmmlu/bias/de/rank_distance"),
    ]
    assert "de " + " ".join(map(_signed, row)) in cells
    assert "sw* " in cells  # sw is not a training language of the other run
    averages = (
        f"mono {_signed(diff('eval/mmmlu/mono/avg/acc'))}; cross "
        f"{_signed(diff('eval/mmmlu/cross/avg/acc'))}; multi "
        f"{_signed(diff('eval/mmmlu/multi/avg/acc'))}; own-language share of multi picks "
        f"{_signed(diff('eval/mmmlu/bias/avg/own_share'))}"
    )
    assert averages in cells
    assert "significance: not available" in printed and "mono_acc" not in printed


def test_compare_tests_mmmlu_mono_and_cross_per_question(workdir, run_cli, monkeypatch) -> None:
    """With per-question results, mono and cross are tested on each question's right (1) or
    wrong (0) pick, so a cell's mean difference is the difference of the logged accuracies;
    multi and the bias figures are left out, and the output says so."""
    monkeypatch.setenv("COLUMNS", "200")
    tracker = tracker_of(workdir)
    base_metrics, base_rows = scored(4, 0.1)
    other_metrics, other_rows = scored(4, 1.5)  # same questions, a much better model
    base = plant(tracker, "base", base_metrics, base_rows)
    other = plant(tracker, "other", other_metrics, other_rows)

    payload = json.loads(run_cli("compare", base, other, "--json", check_code=0).stdout)
    cells = payload["significance"][other]["mmmlu"]
    for key, metric in (("cross/de-sw", "cross/de-sw"), ("mono/en", "mono/en")):
        gain = other_metrics[f"eval/mmmlu/{metric}/acc"] - base_metrics[f"eval/mmmlu/{metric}/acc"]
        assert cells[key]["questions"] == N_QUESTIONS
        assert cells[key]["mean_difference"] == pytest.approx(gain, abs=1e-12)
    cross_gain = (
        other_metrics["eval/mmmlu/cross/avg/acc"] - base_metrics["eval/mmmlu/cross/avg/acc"]
    )
    assert cells["cross/avg"]["mean_difference"] == pytest.approx(cross_gain, abs=1e-12)
    assert cells["cross/avg"]["significant"] is True
    assert not any(key.startswith(("multi/", "bias/")) for key in cells)

    printed = run_cli("compare", base, other, check_code=0).stdout
    flat = " ".join(printed.split())
    assert "†" in printed and "question as the unit" in flat
    assert "multi, own-language share and rank distance not tested" in flat
