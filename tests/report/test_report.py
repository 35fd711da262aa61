"""Per-language tables: built from the metric keys the real evaluation writes, shown and saved."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from hybrid_tui import report
from hybrid_tui.evaluation.lareqa import evaluate_embeddings
from hybrid_tui.languages import MLQA_R_LANGUAGES, XQUAD_R_LANGUAGES


def _evaluated(dataset: str, languages, seed: int = 0, n_questions: int = 12) -> dict[str, float]:
    """Metrics from the real scoring code, on random parallel embeddings (one answer sentence
    per question and language among distractors): every key evaluation writes, as it writes it."""
    rng = np.random.default_rng(seed)
    dim, n_candidates = 16, 3 * n_questions
    item = SimpleNamespace
    rset = item(
        name=dataset,
        languages=list(languages),
        questions={x: [item(id=f"q{i}", text="") for i in range(n_questions)] for x in languages},
        candidates={
            x: [item(id=f"c{i}", text="", context="") for i in range(n_candidates)]
            for x in languages
        },
        answer_index={x: {f"q{i}": 3 * i for i in range(n_questions)} for x in languages},
    )
    meaning = rng.normal(size=(n_questions, dim))

    def unit(rows):
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    questions, candidates = {}, {}
    for x in languages:
        questions[x] = unit(meaning + rng.normal(size=meaning.shape))
        sentences = rng.normal(size=(n_candidates, dim))
        sentences[0 : 3 * n_questions : 3] = meaning + rng.normal(size=meaning.shape)
        candidates[x] = unit(sentences)
    return evaluate_embeddings(rset, questions, candidates)


@pytest.fixture(scope="module")
def mlqa() -> dict[str, float]:
    return _evaluated("mlqa-r", MLQA_R_LANGUAGES)


@pytest.fixture(scope="module")
def xquad() -> dict[str, float]:
    return _evaluated("xquad-r", XQUAD_R_LANGUAGES, seed=1)


def _key_of(setting: str, query: str, pool: str, metric: str, ds: str) -> str:
    """The metric key a long-format CSV row stands for."""
    if query == "avg":
        who = "avg"
    elif setting == "cross" or metric == "mean_rank":
        who = f"{query}-{pool}"
    else:
        who = query
    return f"eval/{ds}/{setting}/{who}/{metric}"


def _lines(renderables, width: int) -> list[str]:
    console = Console(record=True, width=width, color_system=None)
    for renderable in renderables:
        console.print(renderable)
    return console.export_text().splitlines()


def test_from_metrics_recovers_every_value_in_canonical_order(mlqa) -> None:
    shuffled = list(mlqa.items())
    random.Random(3).shuffle(shuffled)
    metrics = {**dict(shuffled), "train/loss": 0.5, "eval/xquad_r/mono/th/map": 0.9}
    tables = report.LanguageTables.from_metrics(metrics, "mlqa-r")

    assert tables == report.LanguageTables.from_metrics(metrics, "mlqa_r")
    assert tables.dataset == "mlqa_r" and not tables.is_delta
    assert tables.languages == list(MLQA_R_LANGUAGES)
    n = len(MLQA_R_LANGUAGES)
    assert (len(tables.mono), len(tables.cross), len(tables.multi)) == (n, n * (n - 1), n)
    assert (len(tables.bias), len(tables.mean_rank)) == (n, n * n)
    ds = "eval/mlqa_r"
    for x in MLQA_R_LANGUAGES:
        assert tables.mono[x] == mlqa[f"{ds}/mono/{x}/map"]
        assert tables.mono_recall_1[x] == mlqa[f"{ds}/mono/{x}/recall_1"]
        assert tables.multi[x] == mlqa[f"{ds}/multi/{x}/map"]
        assert tables.multi_recall_10[x] == mlqa[f"{ds}/multi/{x}/recall_10"]
        assert tables.bias[x] == mlqa[f"{ds}/bias/{x}/rank_distance"]
        for y in MLQA_R_LANGUAGES:
            assert tables.mean_rank[(x, y)] == mlqa[f"{ds}/bias/{x}-{y}/mean_rank"]
            if x != y:
                assert tables.cross[(x, y)] == mlqa[f"{ds}/cross/{x}-{y}/map"]
                assert tables.cross_recall_1[(x, y)] == mlqa[f"{ds}/cross/{x}-{y}/recall_1"]
    assert tables.averages == {
        "mono": mlqa[f"{ds}/mono/avg/map"],
        "cross": mlqa[f"{ds}/cross/avg/map"],
        "multi": mlqa[f"{ds}/multi/avg/map"],
        "bias": mlqa[f"{ds}/bias/avg/rank_distance"],
        "mono_recall_1": mlqa[f"{ds}/mono/avg/recall_1"],
        "cross_recall_1": mlqa[f"{ds}/cross/avg/recall_1"],
        "multi_recall_10": mlqa[f"{ds}/multi/avg/recall_10"],
    }


def test_datasets_in_and_no_evaluation(mlqa, xquad) -> None:
    assert report.datasets_in({**mlqa, **xquad, "train/loss": 1.0}) == ["xquad_r", "mlqa_r"]
    no_eval = {"train/loss": 1.0, "train/batch_kind/mono": 3.0}
    assert report.datasets_in(no_eval) == []
    assert report.datasets_in({}) == []
    empty = report.LanguageTables.from_metrics(no_eval, "xquad-r")
    assert empty.is_empty() and empty.languages == [] and not empty.cross and not empty.averages
    assert "no evaluation metrics" in "\n".join(_lines(report.render(empty), 80))
    assert report.to_csv(empty).splitlines() == ["setting,query_lang,pool_lang,metric,value"]


def test_partial_languages_keep_canonical_order(xquad) -> None:
    keep = ("th", "en", "zh")
    metrics = {
        k: v
        for k, v in xquad.items()
        if all(lang in keep for lang in k.split("/")[3].split("-")) or "/avg/" in k
    }
    tables = report.LanguageTables.from_metrics(metrics, "xquad_r")
    assert tables.languages == ["en", "th", "zh"]


def test_json_round_trip(mlqa) -> None:
    tables = report.LanguageTables.from_metrics(mlqa, "mlqa-r")
    payload = json.loads(json.dumps(report.to_json(tables)))
    assert payload["mono"]["en"] == mlqa["eval/mlqa_r/mono/en/map"]
    assert payload["cross"]["de-zh"] == mlqa["eval/mlqa_r/cross/de-zh/map"]
    assert payload["bias"]["hi"] == mlqa["eval/mlqa_r/bias/hi/rank_distance"]
    assert payload["avg"]["multi"] == mlqa["eval/mlqa_r/multi/avg/map"]
    assert payload["languages"] == list(MLQA_R_LANGUAGES)
    assert report.LanguageTables.from_json(payload) == tables


def test_csv_holds_every_evaluation_value(mlqa) -> None:
    tables = report.LanguageTables.from_metrics(mlqa, "mlqa-r")
    rows = list(csv.DictReader(io.StringIO(report.to_csv(tables))))
    assert list(rows[0]) == ["setting", "query_lang", "pool_lang", "metric", "value"]
    rebuilt = {
        _key_of(r["setting"], r["query_lang"], r["pool_lang"], r["metric"], "mlqa_r"): float(
            r["value"]
        )
        for r in rows
    }
    assert len(rows) == len(rebuilt) == len(mlqa)
    assert rebuilt == mlqa
    multi_en = next(r for r in rows if r["setting"] == "multi" and r["query_lang"] == "en")
    assert multi_en["pool_lang"] == "all"


def test_compare_gives_signed_differences_on_common_keys(mlqa) -> None:
    other_metrics = {k: v + 0.02 for k, v in mlqa.items() if k != "eval/mlqa_r/cross/en-de/map"}
    other_metrics["eval/mlqa_r/mono/zh/map"] = mlqa["eval/mlqa_r/mono/zh/map"] - 0.1
    base = report.LanguageTables.from_metrics(mlqa, "mlqa-r")
    other = report.LanguageTables.from_metrics(other_metrics, "mlqa_r")
    delta = report.compare(base, other)

    assert delta.is_delta and delta.dataset == "mlqa_r"
    assert delta.languages == list(MLQA_R_LANGUAGES)
    assert delta.mono["zh"] == pytest.approx(-0.1)
    assert delta.mono["en"] == pytest.approx(0.02)
    assert delta.bias["ar"] == pytest.approx(0.02)
    assert ("en", "de") not in delta.cross and delta.cross[("de", "en")] == pytest.approx(0.02)
    assert delta.averages["cross"] == pytest.approx(0.02)
    assert report.to_json(delta)["mono"]["zh"] == pytest.approx(-0.1)
    assert {r.split(",")[3] for r in report.to_csv(delta).splitlines()[1:]} >= {"delta_map"}
    with pytest.raises(ValueError):
        report.compare(delta, other)


def test_render_mlqa_fits_80_columns_with_unseen_marker(mlqa) -> None:
    tables = report.LanguageTables.from_metrics(mlqa, "mlqa-r")
    lines = _lines(report.render(tables, unseen_languages=("vi", "th")), 80)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    assert "mAP × 100" in text
    for lang in MLQA_R_LANGUAGES:
        assert lang in text
    assert "vi*" in text and "th*" not in text  # th is not an MLQA-R language
    assert "* not seen in training" in text
    mono_row = next(line for line in lines if line.strip().startswith("mono"))
    assert f"{mlqa['eval/mlqa_r/mono/avg/map'] * 100:.1f}" in mono_row
    assert f"{mlqa['eval/mlqa_r/mono/en/map'] * 100:.1f}" in mono_row
    assert any(f"{mlqa['eval/mlqa_r/cross/avg/map'] * 100:.1f}" in line for line in lines)
    assert any(line.strip().startswith("bias") for line in lines)


def test_render_xquad_eleven_languages_and_missing_cells(xquad) -> None:
    metrics = {k: v for k, v in xquad.items() if k != "eval/xquad_r/cross/el-tr/map"}
    tables = report.LanguageTables.from_metrics(metrics, "xquad-r")
    unseen = ("el", "ru", "th", "tr")
    for width in (80, 120):
        lines = _lines(report.render(tables, unseen_languages=unseen), width)
        assert max(len(line) for line in lines) <= width
        assert "…" not in "\n".join(lines)
    el_row = next(line for line in lines if line.strip().startswith("el*"))
    assert report.MISSING in el_row
    assert all(f"{lang}*" in "\n".join(lines) for lang in unseen)


def test_render_deltas_signed_and_coloured(mlqa) -> None:
    better = {k: v + 0.012 for k, v in mlqa.items()}
    better["eval/mlqa_r/mono/de/map"] = mlqa["eval/mlqa_r/mono/de/map"] - 0.004
    delta = report.compare(
        report.LanguageTables.from_metrics(mlqa, "mlqa-r"),
        report.LanguageTables.from_metrics(better, "mlqa-r"),
    )
    renderables = report.render(delta)
    lines = _lines(renderables, 80)
    mono_row = next(line for line in lines if line.strip().startswith("mono"))
    assert "+1.2" in mono_row and "-0.4" in mono_row
    assert max(len(line) for line in lines) <= 80

    rows = renderables[0]
    columns = {str(column.header): list(column.cells) for column in rows.columns}
    gain, loss = columns["en"][0].style, columns["de"][0].style
    assert gain.color.triplet.green > gain.color.triplet.red  # mono en improved: green
    assert loss.color.triplet.red > loss.color.triplet.green  # mono de got worse: red
    bias_row = [str(cell) for cell in columns["setting"]].index("bias")
    bias = columns["en"][bias_row]  # rank distance went up by 0.012: shown as +0.0, left plain
    assert bias.plain == "+0.0" and bias.style.color is None


def test_heatmap_png_is_written_atomically(tmp_path, mlqa) -> None:
    tables = report.LanguageTables.from_metrics(mlqa, "mlqa-r")
    target = tmp_path / "plots" / "mlqa-r.png"
    assert report.heatmap_png(tables, target, unseen_languages=("vi",)) == target
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = target.stat().st_size
    other = report.LanguageTables.from_metrics({k: v + 0.01 for k, v in mlqa.items()}, "mlqa-r")
    report.heatmap_png(report.compare(tables, other), target)  # replaces the file
    report.heatmap_png(report.LanguageTables.from_metrics({}, "xquad-r"), tmp_path / "none.png")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["mlqa-r.png", "none.png", "plots"]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size != first


def test_import_stays_light() -> None:
    code = (
        "import sys, hybrid_tui.report; "
        "heavy = {'torch', 'mlflow', 'matplotlib', 'transformers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unseen_marks_follow_the_runs_own_training_and_eval_languages(capsys) -> None:
    from hybrid_tui.cli.output import print_tables
    from hybrid_tui.languages import unseen_languages

    mlqa_trained = ["ar", "de", "en", "es", "hi", "vi", "zh"]
    assert unseen_languages(mlqa_trained, XQUAD_R_LANGUAGES) == ("el", "ru", "th", "tr")
    assert unseen_languages(["en", "de"], MLQA_R_LANGUAGES) == ("ar", "es", "hi", "vi", "zh")
    assert unseen_languages([], XQUAD_R_LANGUAGES) == ()  # unknown: nothing marked
    # An evaluation folder in languages XQuAD-R does not have is marked from its own list.
    metrics = _evaluated("custom", ["en", "ja", "sw"])
    print_tables(metrics, trained=["en"])
    out = capsys.readouterr().out
    assert "ja*" in out and "sw*" in out and "en*" not in out
    markdown = report.to_markdown(report.LanguageTables.from_metrics(metrics, "custom"), ["ja"])
    assert "| ja* |" in markdown and "| en |" in markdown and "not seen in training" in markdown
