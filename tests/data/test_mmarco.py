"""mMARCO's parallel triples, read offline from a tiny copy in the hub repository's layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import DataConfig
from tests.conftest import one_line, tracker_of

NAMES = {"en": "english", "de": "german"}


def _copy(root: Path, n: int = 12, drop_german_query: str | None = None) -> Path:
    """`n` triples over 2n passages; German texts are marked so a mix-up shows."""
    (root / "data" / "google" / "queries" / "train").mkdir(parents=True)
    (root / "data" / "google" / "collections").mkdir(parents=True)
    triples = [f"{100 + i}\t{2 * i}\t{2 * i + 1}" for i in range(n)]
    (root / "data" / "triples.train.ids.small.tsv").write_text("\n".join(triples) + "\n")
    for lang, name in NAMES.items():
        queries = [
            f"{100 + i}\t{lang} query {i}"
            for i in range(n)
            if f"{100 + i}" != (drop_german_query if lang == "de" else None)
        ]
        passages = [f"{p}\t{lang} passage {p}" for p in range(2 * n)] + ["999\tunused"]
        (root / f"data/google/queries/train/{name}_queries.train.tsv").write_text(
            "\n".join(queries) + "\n"
        )
        (root / f"data/google/collections/{name}_collection.tsv").write_text(
            "\n".join(reversed(passages)) + "\n"
        )
    return root


def test_triples_become_parallel_items_with_their_negative_in_each_language(tmp_path: Path):
    from hybrid_tui.data.pairs import load_training_pairs

    copy = _copy(tmp_path / "mmarco")
    config = DataConfig(source="mmarco", dataset=str(copy), languages=["en", "de"], max_items=5)
    pairs = load_training_pairs(config, None)
    assert len(pairs.items) == 5 and pairs.languages == ["en", "de"]
    first = next(item for item in pairs.items if item.id == "0")
    assert first.texts == {
        "en": ("en query 0", "en passage 0"),
        "de": ("de query 0", "de passage 0"),
    }
    assert first.negatives == {"en": ("en passage 1",), "de": ("de passage 1",)}


def test_bad_mmarco_input_is_one_line(tmp_path: Path):
    from hybrid_tui.data.pairs import load_training_pairs

    copy = _copy(tmp_path / "mmarco", drop_german_query="103")
    cases = [
        (
            DataConfig(source="mmarco", dataset=str(copy), languages=["en", "de"], max_items=8),
            ["mMARCO de triple 3", "query id 103 is not in the de query file"],
        ),
        (
            DataConfig(source="mmarco", dataset=str(copy), languages=["en", "xx"], max_items=8),
            ["mMARCO has no 'xx'"],
        ),
        (
            DataConfig(source="mmarco", dataset=str(copy), languages=["en", "fr"], max_items=8),
            ["french_queries.train.tsv", "missing"],
        ),
        (
            DataConfig(source="mmarco", dataset=str(copy), languages=["en"]),
            ["data.max_items", "39.8 M"],
        ),
    ]
    for config, expected in cases:
        with pytest.raises(HybridTuiError) as err:
            load_training_pairs(config, None)
        one_line(err, *expected)


def test_the_hub_path_says_what_failed_offline(monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub

    from hybrid_tui.data.mmarco import mmarco_rows

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(HybridTuiError) as err:
        list(mmarco_rows("unicamp-dl/mmarco", ["en"], 10, None))
    one_line(
        err, "could not fetch data/triples.train.ids.small.tsv", "unicamp-dl/mmarco", "OSError"
    )


def test_mmarco_trains_with_its_bm25_negatives(run_cli, workdir: Path):
    copy = _copy(workdir / "mmarco")
    recipe = workdir / "mmarco.toml"
    recipe.write_text(
        f"""name = "mmarco"
[model]
spec = "tiny-random"
max_query_length = 16
max_passage_length = 16
[data]
source = "mmarco"
dataset = "{copy}"
languages = ["en", "de"]
max_items = 12
hard_negatives = 1
[sampler]
mono = 0.5
cross = 0.5
[train]
batch_size = 4
steps = 3
lr = 1e-3
device = "cpu"
[eval]
datasets = []
""",
        encoding="utf-8",
    )
    run_cli("train", str(recipe), check_code=0)
    (run,) = tracker_of(workdir).list_runs()
    history = tracker_of(workdir).metric_history(run.run_id, "train/hard_negatives")
    # one BM25 negative per pair; a negative is dropped only when it is an in-batch passage, and
    # here every negative pid is odd and every positive even: 4 per batch
    assert [value for _, value in history] == [4, 4, 4]
    assert (
        json.loads(json.dumps(tracker_of(workdir).get_run(run.run_id).params))["data.source"]
        == "mmarco"
    )
