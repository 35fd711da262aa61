"""MMMLU's hub layout read from a local copy: parallel rows, and one line for each bad layout."""

from __future__ import annotations

import csv

import pytest

from hybrid_tui.data.mmmlu import load_mmmlu
from hybrid_tui.errors import HybridTuiError
from tests.conftest import one_line
from tests.mmmlu_fixture import QUESTIONS, write_copy


def _rewrite(path, change) -> None:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    change(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def test_loads_parallel_items_from_the_hub_layout(tmp_path):
    copy = write_copy(tmp_path / "mmmlu")
    for root in (copy, tmp_path):  # the copy itself, or a data folder holding mmmlu/
        items = load_mmmlu(root, ["en", "de", "sw"])
        assert items.languages == ["en", "de", "sw"]
        assert items.question_counts() == {"en": 3, "de": 3, "sw": 3}
        de = items.items["de"][2]
        assert de.question == "Heiliges Buch des Islam?"
        assert de.options == ("Bibel", "Tora", "Veden", "Koran")
        assert de.answer == 3 and de.subject == "world_religions"
        assert items.items["en"][1].question == "What orbits\nthe Earth?"
        assert items.subjects == [subject for subject, _, _ in QUESTIONS]


def test_subjects_and_sample_keep_the_same_rows_in_every_language(tmp_path):
    copy = write_copy(tmp_path)
    items = load_mmmlu(copy, ["de", "sw"], subjects=["astronomy"])
    assert [i.row for i in items.items["de"]] == [i.row for i in items.items["sw"]] == [0, 1]
    sample = load_mmmlu(copy, ["en", "sw"], max_questions=2, question_seed=3)
    assert len(sample.items["en"]) == 2
    assert [i.row for i in sample.items["en"]] == [i.row for i in sample.items["sw"]]
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["de"], subjects=["anatomy"])
    one_line(err, "'anatomy'", "astronomy, world_religions")


def test_missing_language_file_is_one_line(tmp_path):
    copy = write_copy(tmp_path, ("en", "de"))
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["en", "de", "sw"])
    one_line(err, "mmlu_SW-KE.csv is missing", "sw")


def test_missing_column_is_one_line(tmp_path):
    copy = write_copy(tmp_path)
    path = copy / "test" / "mmlu_DE-DE.csv"
    _rewrite(path, lambda rows: rows[0].__setitem__(7, "Topic"))
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["en", "de"])
    one_line(err, f"{path}:1", "'Subject'")


def test_bad_answer_names_its_line(tmp_path):
    copy = write_copy(tmp_path)
    path = copy / "test" / "mmlu_EN-US.csv"
    _rewrite(path, lambda rows: rows[3].__setitem__(6, "E"))  # the 3rd question
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["en"])
    # The 2nd question spans two lines, so the 3rd ends on line 5 of the file.
    one_line(err, f"{path}:5", "'E'", "A, B, C, D")


def test_rows_out_of_step_are_refused(tmp_path):
    copy = write_copy(tmp_path)
    sw = copy / "test" / "mmlu_SW-KE.csv"
    _rewrite(sw, lambda rows: rows.insert(1, rows.pop(3)))  # same rows, shifted
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["en", "sw"])
    one_line(err, str(sw), "row 1", "not parallel by row")
    _rewrite(sw, lambda rows: rows.pop())
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(copy, ["en", "sw"])
    one_line(err, "2 questions", "has 3")


def test_unknown_language_is_one_line(tmp_path):
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(write_copy(tmp_path), ["en", "xx"])
    one_line(err, "'xx'", "not an MMMLU language")


def test_subject_with_the_source_file_suffix_still_aligns(tmp_path):
    copy = write_copy(tmp_path)
    zh_style = copy / "test" / "mmlu_SW-KE.csv"
    _rewrite(zh_style, lambda rows: rows[1].__setitem__(7, "astronomy_test.csv_sw-KE.csv"))
    items = load_mmmlu(copy, ["en", "sw"])
    assert items.items["sw"][0].subject == "astronomy"


def test_no_copy_and_no_room_to_fetch_one_is_one_line(tmp_path):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data folder should be")
    with pytest.raises(HybridTuiError) as err:
        load_mmmlu(blocked, ["de"])
    one_line(err, "no MMMLU copy found", "--data-dir")
