"""Data loading on the real LAReQA files: what a user would notice if it were wrong."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hybrid_tui.data.lareqa import load_retrieval_set, resolve_lareqa_dir
from hybrid_tui.data.pairs import load_training_pairs
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import MLQA_R_LANGUAGES, XQUAD_R_LANGUAGES
from hybrid_tui.recipe import DataConfig
from tests.lareqa_oracle import read_language


@pytest.fixture(scope="module")
def xquad(data_root: Path):
    return load_retrieval_set("xquad-r", data_root)


def _raw_questions(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        qa["id"]: qa["question"]
        for article in data["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }


def test_xquad_r_has_11_parallel_languages_of_1190_questions(xquad) -> None:
    assert xquad.name == "xquad-r"
    assert xquad.languages == list(XQUAD_R_LANGUAGES)
    english_ids = [q.id for q in xquad.questions["en"]]
    for lang in XQUAD_R_LANGUAGES:
        assert len(xquad.questions[lang]) == 1190
        assert len(set(q.id for q in xquad.questions[lang])) == 1190
        assert set(xquad.answer_index[lang]) == set(english_ids)  # one answer per question
        assert 852 <= len(xquad.candidates[lang]) <= 1276  # the README's range
        assert len({c.id for c in xquad.candidates[lang]}) == len(xquad.candidates[lang])
    # Raw sentence counts, as published by LAReQA (duplicate sentences are kept).
    assert len(xquad.candidates["th"]) == 852
    assert len(xquad.candidates["de"]) == 1276
    assert len(xquad.candidates["en"]) == 1180


def test_answer_sentence_contains_the_answer(xquad, data_root: Path) -> None:
    data = json.loads((data_root / "xquad-r" / "en.json").read_text(encoding="utf-8"))
    answers = {
        qa["id"]: qa["answers"][0]["text"]
        for article in data["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    }
    checked = 0
    for question in xquad.questions["en"][:200]:
        sentence = xquad.candidates["en"][xquad.answer_index["en"][question.id]]
        assert sentence.text in sentence.context
        checked += answers[question.id] in sentence.text
    assert checked >= 195  # a handful of answers straddle a sentence break in the release
    first = xquad.questions["en"][0]
    sentence = xquad.candidates["en"][xquad.answer_index["en"][first.id]].text
    assert answers[first.id] in sentence


@pytest.mark.parametrize("dataset", ["xquad-r", "mlqa-r"])
def test_the_answer_sentence_holds_the_answer_in_every_language(
    dataset: str, data_root: Path
) -> None:
    """Data check on the real files: wherever the answer fits inside one sentence, that sentence
    is the relevant candidate (29 zh questions per set broke this with inclusive span ends)."""
    rset = load_retrieval_set(dataset, data_root)
    folder = resolve_lareqa_dir(dataset, data_root)
    violations, checked = {}, 0
    for lang in rset.languages:
        oracle = read_language(folder / f"{lang}.json")
        bad = 0
        for question in rset.questions[lang]:
            if not oracle["holds"][question.id]:  # the answer runs across a sentence break
                continue
            chosen = rset.candidates[lang][rset.answer_index[lang][question.id]]
            checked += 1
            bad += chosen.id != oracle["answer"][question.id]
        violations[lang] = bad
    assert checked > 0.98 * sum(len(q) for q in rset.questions.values())
    assert not any(violations.values()), violations


def test_max_questions_is_a_seeded_sample_kept_in_every_language(data_root: Path) -> None:
    langs = ["en", "de", "th"]

    def ids(seed: int) -> list[set[str]]:
        rset = load_retrieval_set(
            "xquad-r", data_root / "xquad-r", languages=langs, max_questions=25, question_seed=seed
        )
        assert all(len(rset.candidates[lang]) > 800 for lang in langs)  # the pool is never cut
        assert rset.question_seed == seed
        assert rset.question_counts() == {lang: 25 for lang in langs}
        for lang in langs:
            assert set(rset.answer_index[lang]) == {q.id for q in rset.questions[lang]}
        return [{q.id for q in rset.questions[lang]} for lang in langs]

    first = ids(0)
    assert first[0] == first[1] == first[2]  # XQuAD-R is parallel: one id set in every language
    assert ids(0) == first  # the same seed is the same subset
    assert ids(1)[0] != first[0]
    in_file_order = list(_raw_questions(data_root / "xquad-r" / "en.json"))
    assert first[0] != set(sorted(in_file_order)[:25]) and first[0] != set(in_file_order[:25])
    positions = sorted(in_file_order.index(qid) for qid in first[0])
    assert positions[-1] > len(in_file_order) / 2  # drawn from the whole set, not its head


def test_mlqa_r_sample_keeps_the_full_sets_relevant_set_sizes(data_root: Path) -> None:
    """On MLQA-R a question exists in 2 to 4 languages, so it has 2 to 4 relevant sentences in the
    multilingual pool. A sample must keep that mix (a rule preferring ids present in the most
    languages kept only 4s, and the rank distance came out 243 instead of about 71)."""

    def sizes(rset) -> np.ndarray:
        counts: dict[str, int] = {}
        for lang in rset.languages:
            for question in rset.questions[lang]:
                counts[question.id] = counts.get(question.id, 0) + 1
        return np.array(list(counts.values()))

    folder = data_root / "mlqa-dev-r"
    per_language = [set(_raw_questions(folder / f"{lang}.json")) for lang in MLQA_R_LANGUAGES]
    everything = set().union(*per_language)
    full = np.array([sum(qid in ids for ids in per_language) for qid in everything])
    n = 150
    shrink = np.sqrt(1 - n / len(full))  # sampling without replacement
    for seed in range(3):
        sample = sizes(load_retrieval_set("mlqa-r", data_root, max_questions=n, question_seed=seed))
        assert len(sample) == n
        assert abs(sample.mean() - full.mean()) < 4 * full.std() / np.sqrt(n) * shrink
        for size in (2, 3, 4):
            p = (full == size).mean()
            assert abs((sample == size).mean() - p) < 4 * np.sqrt(p * (1 - p) / n) * shrink


def test_mlqa_r_questions_share_ids_with_english(data_root: Path) -> None:
    rset = load_retrieval_set("mlqa-r", data_root, max_questions=40)
    assert rset.languages == list(MLQA_R_LANGUAGES)
    english = {q.id for q in rset.questions["en"]}
    assert len(english) == 40
    for lang in rset.languages:
        assert {q.id for q in rset.questions[lang]} <= english
        assert rset.questions[lang]  # no id is in all 7 languages, yet every language keeps some


def test_mlqa_r_training_pairs_span_languages(data_root: Path) -> None:
    pairs = load_training_pairs(DataConfig(source="lareqa", dataset="mlqa-r"), data_root)
    folder = data_root / "mlqa-dev-r"
    expected = {lang: len(_raw_questions(folder / f"{lang}.json")) for lang in MLQA_R_LANGUAGES}
    assert pairs.size_per_language() == expected
    assert len(pairs.items) == expected["en"]
    assert max(len(item.texts) for item in pairs.items) == 4
    assert sum(len(item.texts) >= 2 for item in pairs.items) == len(pairs.items)
    ids = [item.id for item in pairs.items]
    assert ids == sorted(ids)
    item = next(item for item in pairs.items if "de" in item.texts)
    question, passage = item.texts["de"]
    assert _raw_questions(folder / "de.json")[item.id] == question
    assert passage and passage != question


def test_training_languages_and_max_items(data_root: Path) -> None:
    config = DataConfig(dataset="mlqa-r", languages=["zh", "en"], max_items=30)
    pairs = load_training_pairs(config, data_root)
    assert len(pairs.items) == 30
    assert pairs.languages == ["zh", "en"]
    assert all(set(item.texts) <= {"zh", "en"} and item.texts for item in pairs.items)


def test_resolve_parent_dataset_and_sibling_folders(data_root: Path) -> None:
    assert resolve_lareqa_dir("xquad-r", data_root) == data_root / "xquad-r"
    assert resolve_lareqa_dir("xquad-r", data_root / "xquad-r") == data_root / "xquad-r"
    assert resolve_lareqa_dir("mlqa-r", data_root) == data_root / "mlqa-dev-r"
    assert resolve_lareqa_dir("mlqa-r", data_root / "xquad-r") == data_root / "mlqa-dev-r"
    assert resolve_lareqa_dir(str(data_root / "xquad-r"), None) == data_root / "xquad-r"
    assert resolve_lareqa_dir("xquad-r", None) is None


def test_missing_folder_names_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set("xquad-r", tmp_path / "nowhere")
    assert "nowhere" in str(err.value) and "HYBRID_TUI_DATA" in str(err.value)
    with pytest.raises(HybridTuiError, match="--data-dir"):
        resolve_lareqa_dir("mlqa-r", tmp_path)


def test_unknown_language_lists_valid_ones(data_root: Path) -> None:
    with pytest.raises(HybridTuiError, match="'el' is not in mlqa-r; choose from ar, de"):
        load_retrieval_set("mlqa-r", data_root, languages=["en", "el"])
    with pytest.raises(HybridTuiError, match="data.languages: 'th' is not in mlqa-r"):
        load_training_pairs(DataConfig(dataset="mlqa-r", languages=["th"]), data_root)


def _broken_copy(data_root: Path, tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "xquad-r"
    folder.mkdir()
    shutil.copy(data_root / "xquad-r" / "en.json", folder / "en.json")
    (folder / "de.json").write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"data": [', "not valid JSON"),
        ('{"version": "1"}', "no 'data' list"),
        ('{"data": [{"paragraphs": [{"context": "A.", "qas": []}]}]}', "no 'sentences'"),
        (
            '{"data": [{"paragraphs": [{"context": "A.", "sentences": ["A."], "qas": []}]}]}',
            "no 'sentence_breaks'",
        ),
        (
            json.dumps(
                {
                    "data": [
                        {
                            "paragraphs": [
                                {
                                    "context": "One. Two.",
                                    "sentences": ["One.", "Two."],
                                    "sentence_breaks": [[0, 4], [5, 9]],
                                    "qas": [
                                        {
                                            "id": "q1",
                                            "question": "?",
                                            "answers": [{"text": "x", "answer_start": 40}],
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ),
            "answer_start 40 is outside every sentence",
        ),
    ],
)
def test_malformed_file_names_file_and_problem(
    data_root: Path, tmp_path: Path, text: str, expected: str
) -> None:
    folder = _broken_copy(data_root, tmp_path, text)
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set("xquad-r", tmp_path, languages=["en", "de"])
    message = str(err.value)
    assert str(folder / "de.json") in message and expected in message
    assert "\n" not in message


def test_hub_fallback_downloads_the_release_or_fails_cleanly(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []

    class LocalCopy:
        def download(self, url: str) -> str:
            urls.append(url)
            return str(data_root / "xquad-r" / url.rsplit("/", 1)[1])

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(DownloadManager=LocalCopy))
    rset = load_retrieval_set("xquad-r", None, languages=["en", "th"])
    assert len(rset.questions["th"]) == 1190
    assert urls[0].startswith("https://raw.githubusercontent.com/google-research-datasets/lareqa/")
    assert urls[0].endswith("/xquad-r/en.json")

    class Offline:
        def download(self, url: str) -> str:
            raise ConnectionError("no network")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(DownloadManager=Offline))
    with pytest.raises(HybridTuiError, match="could not download mlqa-r .*HYBRID_TUI_DATA"):
        load_retrieval_set("mlqa-r", None)


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
        encoding="utf-8",
    )
    return path


def test_jsonl_rows_sharing_an_id_are_parallel(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            {"id": "a", "lang": "en", "query": "Where?", "passage": "Here."},
            {"id": "a", "lang": "de", "query": "Wo?", "passage": "Hier."},
            "",
            {"id": 2, "lang": "en", "query": "When?", "passage": "Now."},
        ],
    )
    pairs = load_training_pairs(DataConfig(source="jsonl", dataset=str(path)), None)
    assert [item.id for item in pairs.items] == ["2", "a"]
    assert pairs.items[1].texts == {"en": ("Where?", "Here."), "de": ("Wo?", "Hier.")}
    assert pairs.languages == ["de", "en"]
    assert pairs.size_per_language() == {"de": 1, "en": 2}


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ("{not json", "not valid JSON"),
        ({"id": "b", "lang": "en", "passage": "x"}, "missing field 'query'"),
        ({"id": "b", "lang": "en", "query": " ", "passage": "x"}, "field 'query' is empty"),
        ({"id": "a", "lang": "en", "query": "q", "passage": "p"}, "already has a 'en' pair"),
    ],
)
def test_jsonl_bad_row_names_file_and_line(tmp_path: Path, bad_row, expected: str) -> None:
    good = {"id": "a", "lang": "en", "query": "q", "passage": "p"}
    path = _write_jsonl(tmp_path / "pairs.jsonl", [good, bad_row])
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="jsonl", dataset=str(path)), None)
    assert f"{path}:2:" in str(err.value) and expected in str(err.value)


def test_jsonl_languages_that_keep_no_items(tmp_path: Path) -> None:
    path = _write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"id": str(i), "lang": "en", "query": "q", "passage": f"p{i}"} for i in range(3)],
    )
    with pytest.raises(HybridTuiError, match="'de' is not in"):
        load_training_pairs(DataConfig(source="jsonl", dataset=str(path), languages=["de"]), None)
    with pytest.raises(HybridTuiError, match="no file"):
        load_training_pairs(DataConfig(source="jsonl", dataset=str(tmp_path / "x.jsonl")), None)


def test_hub_source_failure_is_one_clean_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args, **kwargs):
        raise ConnectionError("Couldn't reach the hub\nretry later")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=unreachable))
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="hub", dataset="someone/pairs"), None)
    assert "someone/pairs" in str(err.value) and "jsonl" in str(err.value)
    assert "\n" not in str(err.value)


def test_hub_source_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = {
        "id": ["x", "x", "y"],
        "language": ["en", "de", "en"],
        "query": ["Where?", "Wo?", "When?"],
        "positive": ["Here.", "Hier.", "Now."],
    }

    class Table(dict):
        column_names = list(columns)

        def __len__(self) -> int:
            return 3

    monkeypatch.setitem(
        sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda *a, **k: Table(columns))
    )
    pairs = load_training_pairs(DataConfig(source="hub", dataset="someone/pairs"), None)
    assert [item.id for item in pairs.items] == ["x", "y"]
    assert pairs.items[0].texts["de"] == ("Wo?", "Hier.")
