"""Bad input, case by case: one `HybridTuiError` line that names the field or file and says how to
fix it; from the CLI exit code 2 with one `error: ` line, no run left RUNNING, nothing half-written.

Most cases call the loaders in-process (fast); a handful go through the real CLI (those that train
are marked slow). The shared checks (`one_line`, `one_error_line`, `nothing_half_written`) live in
conftest.py.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import DataConfig, load_recipe, recipe_from_dict
from tests.conftest import REPO, nothing_half_written, one_error_line, one_line, tracked_runs

SMOKE = REPO / "recipes" / "smoke.toml"


# ---------------------------------------------------------------- recipe fields (in-process)

# (section overrides, text the error must contain: the field path, and what is wrong or the fix)
RECIPE_CASES = {
    "lr-not-a-number": ({"train": {"lr": "fast"}}, ["train.lr", "valid number", "'fast'"]),
    "steps-fraction": ({"train": {"steps": 1.5}}, ["train.steps", "integer"]),
    "steps-zero": ({"train": {"steps": 0}}, ["train.steps", "greater than or equal to 1"]),
    "batch-size-one": ({"train": {"batch_size": 1}}, ["train.batch_size", "2"]),
    "lr-zero": ({"train": {"lr": 0}}, ["train.lr", "greater than 0"]),
    "lr-too-large": ({"train": {"lr": 2.0}}, ["train.lr", "less than or equal to 1"]),
    "lr-nan": ({"train": {"lr": float("nan")}}, ["train.lr", "nan"]),
    "temperature-negative": ({"train": {"temperature": -1}}, ["train.temperature"]),
    "warmup-beyond-steps": (
        {"train": {"steps": 10, "warmup_steps": 20}},
        ["warmup_steps 20 exceeds steps 10"],
    ),
    "grad-accum-not-divisor": (
        {"train": {"batch_size": 10, "grad_accum_steps": 3}},
        ["grad_accum_steps", "pick a divisor"],
    ),
    "device-unknown": ({"train": {"device": "gpu"}}, ["train.device", "cpu, cuda"]),
    "precision-unknown": ({"train": {"precision": "fp8"}}, ["train.precision", "'fp8'"]),
    "schedule-unknown": ({"train": {"lr_schedule": "step"}}, ["train.lr_schedule", "'step'"]),
    "seed-negative": ({"train": {"seed": -1}}, ["train.seed"]),
    "checkpoint-every-negative": ({"train": {"checkpoint_every": -5}}, ["train.checkpoint_every"]),
    "query-length-too-short": ({"model": {"max_query_length": 4}}, ["model.max_query_length"]),
    "pooling-unknown": ({"model": {"pooling": "max"}}, ["model.pooling", "'max'"]),
    "model-spec-empty": ({"model": {"spec": ""}}, ["model.spec"]),
    "normalize-not-bool": ({"model": {"normalize": "sometimes"}}, ["model.normalize"]),
    "data-source-unknown": ({"data": {"source": "csv"}}, ["data.source", "'csv'"]),
    "max-items-one": ({"data": {"max_items": 1}}, ["data.max_items"]),
    "languages-not-a-list": ({"data": {"languages": "en"}}, ["data.languages", "list"]),
    "data-language-not-a-code": ({"data": {"languages": ["EN"]}}, ["'EN'", "ISO codes"]),
    "data-language-twice": ({"data": {"languages": ["en", "de", "en"]}}, ["listed twice"]),
    "eval-language-unknown": (
        {"eval": {"languages": ["en", "xx"]}},
        ["eval.languages", "unknown evaluation language 'xx'", "choose from"],
    ),
    "eval-language-twice": ({"eval": {"languages": ["en", "en"]}}, ["listed twice"]),
    "eval-dataset-unknown": (
        {"eval": {"datasets": ["squad"]}},
        ["eval.datasets", "unknown evaluation dataset 'squad'", "xquad-r"],
    ),
    "eval-settings-empty": ({"eval": {"settings": []}}, ["eval.settings"]),
    "eval-setting-unknown": ({"eval": {"settings": ["mono", "bi"]}}, ["eval.settings", "'bi'"]),
    "eval-max-questions-zero": ({"eval": {"max_questions": 0}}, ["eval.max_questions"]),
    "mix-weights-zero": (
        {"sampler": {"mono": 0, "cross": 0, "multi": 0}},
        ["mix weights are all zero", "positive weight"],
    ),
    "mix-weight-negative": ({"sampler": {"cross": -0.5}}, ["sampler.cross", "-0.5"]),
    "mix-weight-infinite": ({"sampler": {"mono": float("inf")}}, ["sampler.mono", "finite"]),
    "mix-weight-string": ({"sampler": {"mono": "half"}}, ["sampler.mono"]),
    "language-weighting-unknown": (
        {"sampler": {"language_weighting": "random"}},
        ["sampler.language_weighting"],
    ),
    "schedule-phase-zero": (
        {"sampler": {"schedule": [{"from_step": 5}]}},
        ["phase from step 5 are all zero"],
    ),
    "schedule-not-increasing": (
        {"sampler": {"schedule": [{"from_step": 5, "mono": 1}, {"from_step": 5, "cross": 1}]}},
        ["strictly increasing"],
    ),
    "schedule-phase-unknown-key": (
        {"sampler": {"schedule": [{"from_step": 0, "mono": 1, "mnoo": 1}]}},
        ["sampler.schedule.0.mnoo", "unknown key"],
    ),
    "unknown-top-level-key": ({"epochs": 3}, ["epochs: unknown key", "spelling"]),
    "unknown-nested-key": ({"train": {"epoch": 3}}, ["train.epoch: unknown key"]),
    "section-not-a-table": ({"model": "tiny-random"}, ["model", "dictionary"]),
    "tag-not-a-string": ({"tracking": {"tags": {"team": 7}}}, ["tracking.tags.team", "string"]),
    "name-empty": ({"name": ""}, ["name"]),
    "training-on-eval-set": (
        {"data": {"dataset": "xquad-r"}, "eval": {"datasets": ["xquad-r"]}},
        ["data.dataset 'xquad-r' is also in eval.datasets"],
    ),
}


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_bad_recipe_field_is_one_line(case: str) -> None:
    overrides, expected = RECIPE_CASES[case]
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict(copy.deepcopy(overrides), source="recipe r.toml")
    message = one_line(err, "recipe r.toml", *expected)
    assert "Traceback" not in message


def test_several_errors_are_counted_not_listed() -> None:
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict({"train": {"lr": -1, "steps": 0, "batch_size": 0}})
    one_line(err, "(+2 more)")


# ---------------------------------------------------------------- recipe files (in-process)


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


RECIPE_FILES = {
    "invalid-toml": ('name = "x"\n[train\nsteps = 3\n', ["is not valid TOML", "line 2"]),
    "duplicate-key": ("[train]\nsteps = 3\nsteps = 4\n", ["is not valid TOML"]),
    "empty-file": ("", ["is empty", "recipes/demo.toml"]),
    "comments-only": ("# nothing here\n\n", ["is empty"]),
    "not-utf8": (b'name = "caf\xe9"\n', ["is not UTF-8"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", ["recipe"]),
    "wrong-type-in-file": ("[train]\nbatch_size = [16]\n", ["train.batch_size"]),
    "unknown-section": ("[trainer]\nsteps = 3\n", ["trainer: unknown key"]),
}


@pytest.mark.parametrize("case", list(RECIPE_FILES))
def test_bad_recipe_file_is_one_line(case: str, tmp_path: Path) -> None:
    content, expected = RECIPE_FILES[case]
    path = _write(tmp_path / f"{case}.toml", content)
    with pytest.raises(HybridTuiError) as err:
        load_recipe(path)
    one_line(err, str(path), *expected)


def test_recipe_path_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "recipe.toml").mkdir()
    with pytest.raises(HybridTuiError) as err:
        load_recipe(tmp_path / "recipe.toml")
    one_line(err, "is a folder", "pass a TOML file")


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(HybridTuiError) as err:
        load_recipe(tmp_path / "nope.toml")
    one_line(err, "nope.toml not found")


# ---------------------------------------------------------------- LAReQA files (in-process)


def _lareqa_doc(n_paragraphs: int = 2) -> dict:
    """A small, valid LAReQA (SQuAD + sentences) document: 2 sentences and 2 questions per paragraph."""
    paragraphs = []
    for p in range(n_paragraphs):
        first, second = f"Sentence one of paragraph {p}.", f"Sentence two of paragraph {p}."
        context = f"{first} {second}"
        paragraphs.append(
            {
                "context": context,
                "sentences": [first, second],
                "sentence_breaks": [[0, len(first)], [len(first) + 1, len(context)]],
                "qas": [
                    {
                        "id": f"q{p}-{k}",
                        "question": f"Question {k} about paragraph {p}?",
                        "answers": [{"answer_start": 2 if k == 0 else len(first) + 3, "text": "x"}],
                    }
                    for k in range(2)
                ],
            }
        )
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}


def _para(doc: dict, p: int = 0) -> dict:
    return doc["data"][0]["paragraphs"][p]


def _broken(change) -> dict:
    doc = _lareqa_doc()
    change(doc)
    return doc


LAREQA_CASES = {
    "empty-file": (b"", ["is not valid JSON"]),
    "truncated": (json.dumps(_lareqa_doc()).encode()[:150], ["is not valid JSON"]),
    "not-utf8": (b'{"data": "\xff\xfe"}', ["UTF-8"]),
    "no-data": ({"version": "1.1"}, ["no 'data' list"]),
    "data-not-a-list": ({"data": {"paragraphs": []}}, ["no 'data' list"]),
    "top-level-list": ([1, 2, 3], ["no 'data' list"]),
    "no-questions": ({"data": []}, ["holds no questions"]),
    "no-sentences": (_broken(lambda d: _para(d).pop("sentences")), ["has no 'sentences'"]),
    "no-breaks": (_broken(lambda d: _para(d).pop("sentence_breaks")), ["no 'sentence_breaks'"]),
    "mismatched-breaks": (
        _broken(lambda d: _para(d)["sentence_breaks"].pop()),
        ["paragraph 0 has 2 sentences but 1 breaks"],
    ),
    "answer-outside-sentences": (
        _broken(lambda d: _para(d)["qas"][0]["answers"][0].update(answer_start=10_000)),
        ["question q0-0", "outside every sentence"],
    ),
    "duplicate-question-id": (
        _broken(lambda d: _para(d, 1)["qas"][0].update(id="q0-0")),
        ["question id q0-0 appears twice"],
    ),
    "no-answers": (_broken(lambda d: _para(d)["qas"][0].update(answers=[])), ["structure"]),
    "answer-start-not-a-number": (
        _broken(lambda d: _para(d)["qas"][0]["answers"][0].update(answer_start="2")),
        ["structure"],
    ),
    "paragraph-not-an-object": (
        _broken(lambda d: d["data"][0].update(paragraphs=[7])),
        ["structure"],
    ),
    "break-not-a-pair": (
        _broken(lambda d: _para(d)["sentence_breaks"].__setitem__(0, [0])),
        ["structure"],
    ),
}


@pytest.mark.parametrize("case", list(LAREQA_CASES))
def test_bad_lareqa_file_is_one_line(case: str, tmp_path: Path) -> None:
    from hybrid_tui.data.lareqa import load_retrieval_set

    content, expected = LAREQA_CASES[case]
    raw = content if isinstance(content, bytes) else json.dumps(content).encode()
    path = _write(tmp_path / "mini" / "en.json", raw)
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set(str(path.parent))
    one_line(err, str(path), *expected)


def test_valid_mini_lareqa_loads(tmp_path: Path) -> None:
    """The fixture the broken cases start from is itself valid (so each case breaks one thing)."""
    from hybrid_tui.data.lareqa import load_retrieval_set

    _write(tmp_path / "mini" / "en.json", json.dumps(_lareqa_doc()))
    rset = load_retrieval_set(str(tmp_path / "mini"))
    assert len(rset.questions["en"]) == 4 and len(rset.candidates["en"]) == 4
    assert rset.answer_index["en"] == {"q0-0": 0, "q0-1": 1, "q1-0": 2, "q1-1": 3}


def test_unknown_language_of_a_folder(tmp_path: Path) -> None:
    from hybrid_tui.data.lareqa import load_retrieval_set

    _write(tmp_path / "mini" / "en.json", json.dumps(_lareqa_doc()))
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set(str(tmp_path / "mini"), languages=["en", "xx"])
    one_line(err, "'xx' is not in mini", "choose from en")


def test_missing_language_file_of_a_dataset(tmp_path: Path) -> None:
    from hybrid_tui.data.lareqa import load_retrieval_set

    _write(tmp_path / "xquad-r" / "en.json", json.dumps(_lareqa_doc()))
    with pytest.raises(HybridTuiError) as err:
        load_retrieval_set("xquad-r", tmp_path, languages=["en", "de"])
    one_line(err, "de.json is missing", "--data-dir")


def test_unknown_training_language_of_a_dataset(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs

    config = DataConfig(source="lareqa", dataset="mlqa-r", languages=["en", "th"])
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(config, tmp_path)
    one_line(err, "data.languages: 'th' is not in mlqa-r", "choose from")


def test_eval_languages_not_in_the_eval_dataset(tmp_path: Path) -> None:
    from hybrid_tui.evaluation.lareqa import load_eval_sets

    recipe = recipe_from_dict(
        {"data": {"dataset": "xquad-r"}, "eval": {"datasets": ["mlqa-r"], "languages": ["th"]}}
    )
    with pytest.raises(HybridTuiError) as err:
        load_eval_sets(recipe.eval, tmp_path)
    one_line(err, "eval.languages keeps 0 language(s) of mlqa-r", "at least two")


# ---------------------------------------------------------------- JSONL pairs (in-process)


def _row(qid, lang="en", query="a question", passage=None) -> str:
    return json.dumps(
        {"id": qid, "lang": lang, "query": query, "passage": passage or f"passage {qid} {lang}"}
    )


GOOD = [_row(1), _row(2), _row(3)]

JSONL_CASES = {
    "empty-file": ("", ["kept 0 item(s)", "at least 2"]),
    "bad-row": ("\n".join([*GOOD, '{"id": 4, "lang": "en"']), [":4: not valid JSON"]),
    "missing-field": (
        "\n".join([*GOOD, json.dumps({"id": 4, "lang": "en", "query": "q"})]),
        [":4: missing field 'passage'"],
    ),
    "empty-text": ("\n".join([_row(1), _row(2, query="   ")]), [":2: field 'query' is empty"]),
    "text-not-a-string": (
        "\n".join([_row(1), json.dumps({"id": 2, "lang": "en", "query": 5, "passage": "p"})]),
        [":2: field 'query' must be a string"],
    ),
    "row-not-an-object": ("\n".join([_row(1), "[1, 2]"]), [":2: expected an object"]),
    "null-id": (json.dumps({"id": None, "lang": "en", "query": "q", "passage": "p"}), ["'id'"]),
    "same-id-twice-in-a-language": (
        "\n".join([_row(1), _row(2), _row(1)]),
        [":3: id '1' already has a 'en' pair", ":1)", "one row per language"],
    ),
    "single-item": ("\n".join([_row(1), _row(1, "de")]), ["kept 1 item(s)"]),
    "not-utf8": (b'{"id": 1, "lang": "en", "query": "caf\xe9", "passage": "p"}\n', ["UTF-8"]),
}


@pytest.mark.parametrize("case", list(JSONL_CASES))
def test_bad_jsonl_file_is_one_line(case: str, tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs

    content, expected = JSONL_CASES[case]
    path = _write(tmp_path / "pairs.jsonl", content)
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="jsonl", dataset=str(path)), None)
    one_line(err, str(path) if case != "not-utf8" else "pairs.jsonl", *expected)


def test_jsonl_missing_file(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs

    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="jsonl", dataset=str(tmp_path / "no.jsonl")), None)
    one_line(err, "data.dataset: no file", "no.jsonl", '"query"')


def test_jsonl_unknown_language(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs

    path = _write(tmp_path / "pairs.jsonl", "\n".join(GOOD))
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(DataConfig(source="jsonl", dataset=str(path), languages=["de"]), None)
    one_line(err, "data.languages: 'de' is not in", "choose from en")


# What the loaders guarantee about parallel ids: one id is one item across languages; an id given
# twice in one language is refused (above); ids that do not line up across languages leave items
# in one language only, and a mix that needs cross-lingual items it cannot have is refused before
# any run exists (`prepare_inputs` builds the sampler).


def _mismatched_jsonl(path: Path, n: int = 12) -> Path:
    rows = [_row(f"en-{i}", "en") for i in range(n)] + [_row(f"de-{i}", "de") for i in range(n)]
    return _write(path, "\n".join(rows))


def test_mismatched_parallel_ids_jsonl(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.training.sampling import BatchSampler

    path = _mismatched_jsonl(tmp_path / "pairs.jsonl")
    recipe = recipe_from_dict(
        {"data": {"source": "jsonl", "dataset": str(path)}, "train": {"batch_size": 4}}
    )
    pairs = load_training_pairs(recipe.data, None)
    assert all(len(item.texts) == 1 for item in pairs.items)
    with pytest.raises(HybridTuiError) as err:
        BatchSampler(pairs, 4, recipe.sampler, 0)
    one_line(err, "cross-lingual batches need 4 items in two or more languages", "has 0")


def test_mismatched_parallel_ids_lareqa(tmp_path: Path) -> None:
    """An MLQA-style folder whose German ids are not the English ones."""
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.training.sampling import BatchSampler

    _write(tmp_path / "mine" / "en.json", json.dumps(_lareqa_doc(3)))
    german = _lareqa_doc(3)
    for paragraph in german["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            qa["id"] = "de-" + qa["id"]
    _write(tmp_path / "mine" / "de.json", json.dumps(german))
    config = DataConfig(source="lareqa", dataset=str(tmp_path / "mine"))
    pairs = load_training_pairs(config, None)
    assert len(pairs.items) == 12 and all(len(item.texts) == 1 for item in pairs.items)
    recipe = recipe_from_dict({"sampler": {"mono": 0, "cross": 1}})
    with pytest.raises(HybridTuiError) as err:
        BatchSampler(pairs, 4, recipe.sampler, 0)
    one_line(err, "cross-lingual", "set sampler.cross = 0")


def test_batch_larger_than_the_data(tmp_path: Path) -> None:
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.training.sampling import BatchSampler

    path = _write(tmp_path / "pairs.jsonl", "\n".join(GOOD))
    recipe = recipe_from_dict({"sampler": {"mono": 1, "cross": 0}})
    pairs = load_training_pairs(DataConfig(source="jsonl", dataset=str(path)), None)
    with pytest.raises(HybridTuiError) as err:
        BatchSampler(pairs, 8, recipe.sampler, 0)
    one_line(err, "3 items, fewer than train.batch_size 8")


# ---------------------------------------------------------------- models (in-process)


def _tiny_config() -> str:
    return json.dumps({"model_type": "bert", "hidden_size": 8, "num_hidden_layers": 1})


MODEL_FOLDERS = {
    "empty-folder": ({}, ["is not a model folder (no config.json)"]),
    "only-weights": ({"pytorch_model.bin": "x"}, ["no config.json"]),
    "garbage-config": ({"config.json": "{not json"}, ["not a transformers config"]),
    "config-without-model-type": ({"config.json": '{"hidden_size": 8}'}, ["model_type"]),
    "config-is-a-list": ({"config.json": "[]"}, ["not a transformers config"]),
    "config-without-weights": ({"config.json": _tiny_config()}, ["no weights"]),
}


@pytest.mark.parametrize("case", list(MODEL_FOLDERS))
def test_folder_that_is_not_a_model(case: str, tmp_path: Path) -> None:
    from hybrid_tui.models import check_model_folder, resolve_model

    folder = tmp_path / "my-model"
    folder.mkdir()
    files, expected = MODEL_FOLDERS[case]
    for name, content in files.items():
        _write(folder / name, content)
    with pytest.raises(HybridTuiError) as err:
        check_model_folder(resolve_model(str(folder)), str(folder))
    one_line(err, str(folder), *expected)


def test_model_path_that_is_a_file(tmp_path: Path) -> None:
    from hybrid_tui.models import resolve_model

    path = _write(tmp_path / "model.safetensors", b"\x00" * 16)
    with pytest.raises(HybridTuiError) as err:
        resolve_model(str(path))
    one_line(err, "model.safetensors is not a model folder", "tiny-random")


def test_unknown_packaged_name_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt packaged name looks like a hub id; offline it is one line naming the real ones."""
    from huggingface_hub import constants

    from hybrid_tui.models import resolve_model

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(HybridTuiError) as err:
        resolve_model("e5-small-ofline")
    one_line(err, "'e5-small-ofline'", "e5-small-offline, minilm-offline, tiny-random")


def test_corrupt_weights_are_one_line(tmp_path: Path) -> None:
    """A folder that passes the early checks but whose weights are garbage (found at load time)."""
    from hybrid_tui.models import check_model_folder, resolve_model
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    folder = tmp_path / "broken"
    _write(folder / "config.json", _tiny_config())
    _write(folder / "model.safetensors", b"garbage, not safetensors")
    check_model_folder(resolve_model(str(folder)), str(folder))  # looks like a model
    with pytest.raises(HybridTuiError) as err:
        BiEncoder.load(ModelConfig(spec=str(folder)))
    one_line(err, "cannot load the model in", "broken")


# ---------------------------------------------------------------- checkpoints (in-process)


def _parts(width: int):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.Linear(width, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return model, optimizer, scheduler


def test_checkpoint_from_another_model(tmp_path: Path) -> None:
    from hybrid_tui.training.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "ckpt", *_parts(8), 3, {})
    with pytest.raises(HybridTuiError) as err:
        load_checkpoint(tmp_path / "ckpt", *_parts(16))
    one_line(err, "saved from a different model", "resume with the recipe")


def test_checkpoint_with_unreadable_state(tmp_path: Path) -> None:
    from hybrid_tui.training.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "ckpt", *_parts(8), 3, {})
    (tmp_path / "ckpt" / "state.json").write_text('{"step": 3,', encoding="utf-8")
    with pytest.raises(HybridTuiError) as err:
        load_checkpoint(tmp_path / "ckpt", *_parts(8))
    one_line(err, "is unreadable", "start the run again")


def test_checkpoint_without_training_state(tmp_path: Path) -> None:
    from hybrid_tui.training.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "ckpt", *_parts(8), 3, {})
    (tmp_path / "ckpt" / "training_state.pt").unlink()
    with pytest.raises(HybridTuiError) as err:
        load_checkpoint(tmp_path / "ckpt", *_parts(8))
    one_line(err, "is corrupt")


_DISK_FULL = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    import torch
    from hybrid_tui.training.checkpoint import save_checkpoint
    from hybrid_tui.training.saving import write_errors_explained

    folder = Path(sys.argv[1])
    torch.manual_seed(0)
    model = torch.nn.Linear(256, 256)  # ~260 KB of weights, ~520 KB of optimiser state
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    model(torch.randn(2, 256)).sum().backward()
    optimizer.step()
    save_checkpoint(folder, model, optimizer, scheduler, 1, {"at": 1})
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))
    try:
        with write_errors_explained(folder, "hint"):
            save_checkpoint(folder, model, optimizer, scheduler, 2, {"at": 2})
    except Exception as err:
        print(json.dumps({"type": type(err).__name__, "message": str(err)}))
    """
)


def _one_line_error_of(script: str, folder: Path) -> str:
    """Run a disk-full script in its own process (the file-size limit must not hit pytest) and
    return its error message, checked to be the trainer's one-line explanation."""
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["type"] == "HybridTuiError", outcome
    message = outcome["message"]
    assert "\n" not in message and "could not write" in message and "File too large" in message
    return message


def test_disk_full_while_checkpointing(tmp_path: Path) -> None:
    """A real failing write (RLIMIT_FSIZE → EFBIG), not a mock: the previous checkpoint stays
    whole and loadable, no staging folder is left, and the error is one line."""
    from hybrid_tui.training.checkpoint import load_checkpoint

    folder = tmp_path / "run" / "checkpoint"
    message = _one_line_error_of(_DISK_FULL, folder)
    assert "previous copy is intact" in message
    assert sorted(p.name for p in folder.parent.iterdir()) == ["checkpoint"]
    point = load_checkpoint(folder, *_parts_linear())
    assert point.step == 1 and point.sampler_state == {"at": 1}


_FINAL_SAVE_DISK_FULL = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig
    from hybrid_tui.training.saving import write_errors_explained

    folder = Path(sys.argv[1])
    encoder = BiEncoder.load(ModelConfig(spec="tiny-random"))
    encoder.save(folder)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
    try:
        with write_errors_explained(folder, "hint"):
            encoder.save(folder)
    except Exception as err:
        print(json.dumps({"type": type(err).__name__, "message": str(err)}))
    """
)


def test_disk_full_while_saving_the_final_model(tmp_path: Path) -> None:
    """The trained model's save (transformers + safetensors) on a full disk is one line too, and
    the model folder saved before stays loadable."""
    from hybrid_tui.models.encoder import BiEncoder
    from hybrid_tui.recipe import ModelConfig

    folder = tmp_path / "run" / "model"
    _one_line_error_of(_FINAL_SAVE_DISK_FULL, folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]
    assert BiEncoder.load(ModelConfig(spec=str(folder))).dim > 0


def _parts_linear():
    import torch

    model = torch.nn.Linear(256, 256)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


# ---------------------------------------------------------------- tracking store (in-process)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("under-proc", "No such file or directory"),
        ("is-a-folder", "is a folder"),
        ("not-a-database", "file is not a database"),
    ],
)
def test_unusable_tracking_store(case: str, expected: str, tmp_path: Path) -> None:
    """Fails for root too (no chmod): /proc refuses new folders, a folder is not a file."""
    from hybrid_tui.tracking import Tracker

    db = {
        "under-proc": Path("/proc/nope/mlflow.db"),
        "is-a-folder": tmp_path / "mlflow.db",
        "not-a-database": tmp_path / "mlflow.db",
    }[case]
    if case == "is-a-folder":
        db.mkdir()
    if case == "not-a-database":
        db.write_text("not sqlite at all\n" * 100)
    with pytest.raises(HybridTuiError) as err:
        Tracker(f"sqlite:///{db}")
    one_line(err, str(db), expected, "MLFLOW_TRACKING_URI")


# ---------------------------------------------------------------- through the CLI (subprocess)


def _jsonl_recipe(workdir: Path, data: Path, **sections: str) -> Path:
    """A tiny recipe on a JSONL file, no evaluation (so it needs no LAReQA data)."""
    parts = {
        "model": 'spec = "tiny-random"\nmax_query_length = 16\nmax_passage_length = 16',
        "data": f'source = "jsonl"\ndataset = "{data}"',
        "sampler": "mono = 1.0\ncross = 0.0",
        "train": 'batch_size = 4\nsteps = 3\nlr = 1e-3\ndevice = "cpu"\ncheckpoint_every = 1',
        "eval": "datasets = []",
        "tracking": 'experiment = "bad-input"',
    }
    parts.update(sections)
    text = 'name = "bad-input"\n' + "".join(f"\n[{k}]\n{v}\n" for k, v in parts.items())
    return _write(workdir / "recipe.toml", text)


def _good_jsonl(workdir: Path) -> Path:
    return _write(workdir / "pairs.jsonl", "\n".join(_row(i) for i in range(12)))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown-key", "train.epochs: unknown key"),
        ("mix-zero", "mix weights are all zero"),
        ("folder", "is a folder"),
    ],
)
def test_cli_bad_recipe(case: str, expected: str, run_cli, workdir: Path) -> None:
    if case == "folder":
        (workdir / "recipes.toml").mkdir()
        recipe = workdir / "recipes.toml"
    else:
        section = {
            "unknown-key": {"train": "batch_size = 4\nepochs = 2"},
            "mix-zero": {"sampler": "mono = 0.0\ncross = 0.0\nmulti = 0.0"},
        }[case]
        recipe = _jsonl_recipe(workdir, _good_jsonl(workdir), **section)
    assert expected in one_error_line(run_cli("train", str(recipe)))
    assert not (workdir / "mlflow.db").exists()  # refused before any tracking happens
    nothing_half_written(workdir)


def test_cli_model_folder_with_garbage_config(run_cli, workdir: Path) -> None:
    folder = workdir / "my-model"
    _write(folder / "config.json", "{ this is not json")
    _write(folder / "model.safetensors", b"junk")
    recipe = _jsonl_recipe(
        workdir, _good_jsonl(workdir), model=f'spec = "{folder}"\nmax_query_length = 16'
    )
    line = one_error_line(run_cli("train", str(recipe)))
    assert "my-model" in line and "not a transformers config" in line
    assert tracked_runs(workdir) == [] if (workdir / "mlflow.db").exists() else True
    nothing_half_written(workdir)


def test_cli_mismatched_parallel_ids(run_cli, workdir: Path) -> None:
    data = _mismatched_jsonl(workdir / "pairs.jsonl")
    recipe = _jsonl_recipe(workdir, data, sampler="mono = 0.5\ncross = 0.5")
    line = one_error_line(run_cli("train", str(recipe)))
    assert "cross-lingual batches need 4 items" in line
    assert not (workdir / "mlflow.db").exists() or tracked_runs(workdir) == []
    nothing_half_written(workdir)


def test_cli_unwritable_tracking_dir(run_cli, workdir: Path) -> None:
    recipe = _jsonl_recipe(
        workdir,
        _good_jsonl(workdir),
        tracking='experiment = "bad-input"\nuri = "sqlite:////proc/nope/mlflow.db"',
    )
    line = one_error_line(run_cli("train", str(recipe)))
    assert "/proc/nope/mlflow.db" in line and "MLFLOW_TRACKING_URI" in line
    assert "/proc/nope" in one_error_line(
        run_cli("runs", "--tracking-uri", "sqlite:////proc/nope/x.db")
    )
    nothing_half_written(workdir)


@pytest.mark.slow
def test_cli_resume_with_a_checkpoint_of_another_model(run_cli, workdir: Path) -> None:
    """`train --resume` on a run whose checkpoint came from another model: one line, run FAILED."""
    from hybrid_tui.runs.files import RunFiles
    from hybrid_tui.tracking import Tracker
    from hybrid_tui.training.checkpoint import save_checkpoint

    recipe = _jsonl_recipe(workdir, _good_jsonl(workdir))
    tracker = Tracker(f"sqlite:///{workdir / 'mlflow.db'}")
    run_id = tracker.start_run("bad-input", "foreign-checkpoint")
    tracker.end_run(run_id, "FAILED")
    files = RunFiles.for_run(run_id)
    _write(files.recipe, recipe.read_text(encoding="utf-8"))
    save_checkpoint(files.checkpoint, *_parts(8), 2, {})
    line = one_error_line(run_cli("train", "--resume", run_id))
    assert "different model" in line
    assert Tracker(f"sqlite:///{workdir / 'mlflow.db'}").get_run(run_id).status == "FAILED"
    nothing_half_written(workdir)


@pytest.mark.slow
def test_cli_disk_full_while_checkpointing(workdir: Path) -> None:
    """The trainer under a file-size limit its first checkpoint exceeds (tiny-random's optimiser
    state is ~64 MB, the weights ~32 MB): one line, exit 2, the run FAILED, no staging folder."""
    import resource
    import signal

    recipe = _jsonl_recipe(workdir, _good_jsonl(workdir))

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 2**20, resource.RLIM_INFINITY))

    done = subprocess.run(
        [sys.executable, "-m", "hybrid_tui", "train", str(recipe)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=workdir,
        env=os.environ.copy(),
        preexec_fn=limit_file_size,  # noqa: PLW1509 - only sets a limit and a signal disposition
    )
    line = one_error_line(done)
    assert "could not write" in line and "checkpoint" in line and "File too large" in line
    runs = tracked_runs(workdir)
    assert [run.status for run in runs] == ["FAILED"]
    nothing_half_written(workdir)
