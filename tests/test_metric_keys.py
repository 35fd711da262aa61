"""The metric-key scheme: what evaluation writes is what every reader parses."""

from __future__ import annotations

from hybrid_tui.metric_keys import (
    EvalKey,
    datasets_in,
    eval_key,
    headline,
    parse_eval_key,
)
from tests.report.test_report import _evaluated


def test_keys_round_trip_through_build_and_parse() -> None:
    assert eval_key("xquad-r", "cross", ("de", "zh"), "map") == "eval/xquad_r/cross/de-zh/map"
    assert parse_eval_key("eval/xquad_r/cross/de-zh/map") == EvalKey(
        "xquad_r", "cross", "de", "zh", "map"
    )
    mono = parse_eval_key(eval_key("mlqa-r", "mono", "en", "recall_1"))
    assert (mono.dataset, mono.query, mono.pool, mono.languages) == ("mlqa_r", "en", None, ("en",))
    average = parse_eval_key("eval/xquad_r/bias/avg/rank_distance")
    assert average.is_average and average.languages == ()
    for not_eval in (
        "train/loss",
        "eval/xquad_r/mono/en",
        "eval/x/unknown/en/map",
        "eval/x/mono/-de/map",
    ):
        assert parse_eval_key(not_eval) is None


def test_every_key_evaluation_writes_parses_back() -> None:
    metrics = _evaluated("xquad-r", ["en", "de", "th"])
    parsed = [parse_eval_key(key) for key in metrics]
    assert all(parsed)
    assert {p.setting for p in parsed} == {"mono", "cross", "multi", "bias"}
    for key, p in zip(metrics, parsed, strict=True):
        who = "avg" if p.is_average else "-".join(p.languages)
        assert eval_key(p.dataset, p.setting, who, p.metric) == key


def test_headline_prefers_xquad_r_and_leaves_out_missing() -> None:
    metrics = {
        "eval/mlqa_r/mono/avg/map": 0.5,
        "eval/xquad_r/mono/avg/map": 0.7,
        "eval/xquad_r/bias/avg/rank_distance": 120.0,
        "train/loss": 1.0,
    }
    assert datasets_in(metrics) == ["xquad_r", "mlqa_r"]
    assert headline(metrics) == {"mono": 0.7, "bias": 120.0}
    assert headline(metrics, "mlqa-r") == {"mono": 0.5}
    assert headline({"train/loss": 1.0}) == {}
