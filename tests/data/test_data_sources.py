"""Several training datasets in one recipe: each batch from one dataset, chosen uniformly or by
size, the mix within it, exactly resumable, and the run records where its batches came from."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import recipe_from_dict
from tests.conftest import one_error_line, one_line, tracker_of


def _pairs_file(path: Path, n: int, tag: str) -> Path:
    rows = [
        json.dumps(
            {
                "id": f"{tag}{i}",
                "lang": lang,
                "query": f"q {tag}{i} {lang}",
                "passage": f"p {tag}{i} {lang}",
            }
        )
        for i in range(n)
        for lang in ("en", "de")
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _recipe_dict(small: Path, large: Path, weighting: str = "size") -> dict:
    return {
        "data": {
            "sources": [
                {"name": "small", "source": "jsonl", "dataset": str(small)},
                {"name": "large", "source": "jsonl", "dataset": str(large)},
            ],
            "source_weighting": weighting,
        },
        "sampler": {"mono": 0.5, "cross": 0.5},
        "train": {"batch_size": 4, "seed": 3},
    }


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return _pairs_file(tmp_path / "small.jsonl", 10, "s"), _pairs_file(
        tmp_path / "large.jsonl", 30, "l"
    )


def _sampler(recipe):
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.training.sampling import make_sampler

    pairs = load_training_pairs(recipe.data, None)
    sampler = make_sampler(
        pairs,
        recipe.train.batch_size,
        recipe.sampler,
        recipe.train.seed,
        recipe.data.source_weighting,
    )
    return pairs, sampler


@pytest.mark.parametrize(("weighting", "small_share"), [("size", 0.25), ("uniform", 0.5)])
def test_each_batch_comes_from_one_dataset_chosen_as_the_recipe_says(files, weighting, small_share):
    recipe = recipe_from_dict(_recipe_dict(*files, weighting))
    pairs, sampler = _sampler(recipe)
    assert [(s.name, s.stop - s.start) for s in pairs.sources] == [("small", 10), ("large", 30)]
    counts = Counter()
    for _ in range(800):
        batch = sampler.next_batch()
        prefixes = {pairs.items[b.item].id[0] for b in batch.items}
        assert prefixes == {batch.source[0]}  # never two datasets in one batch
        counts[batch.source] += 1
    assert counts["small"] / 800 == pytest.approx(small_share, abs=0.05)
    assert sampler.source_counts == counts
    assert set(sampler.kind_counts) == {"mono", "cross"}  # the mix applies within each dataset


def test_a_resumed_sampler_draws_the_batches_the_uninterrupted_one_draws(files):
    recipe = recipe_from_dict(_recipe_dict(*files))
    _, straight = _sampler(recipe)
    expected = [straight.next_batch() for _ in range(40)]
    _, first = _sampler(recipe)
    for _ in range(17):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))  # it goes through the checkpoint's JSON
    _, resumed = _sampler(recipe)
    resumed.load_state_dict(state)
    assert [resumed.next_batch() for _ in range(23)] == expected[17:]
    assert resumed.source_counts == straight.source_counts


def test_bad_sources_are_one_line(files, tmp_path: Path):
    small, large = files
    both = _recipe_dict(small, large)
    both["data"]["dataset"] = "xquad-r"
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict(both)
    one_line(err, "data.dataset and [[data.sources]] both name training data")
    same = _recipe_dict(small, large)
    same["data"]["sources"][1]["name"] = "small"
    with pytest.raises(HybridTuiError) as err:
        recipe_from_dict(same)
    one_line(err, "two data sources are both called 'small'")
    missing = _recipe_dict(small, tmp_path / "nope.jsonl")
    with pytest.raises(HybridTuiError) as err:
        _sampler(recipe_from_dict(missing))
    one_line(err, "data source 'large'", "no file", "nope.jsonl")
    tiny = _recipe_dict(_pairs_file(tmp_path / "tiny.jsonl", 3, "t"), large)
    with pytest.raises(HybridTuiError) as err:
        _sampler(recipe_from_dict(tiny))
    one_line(err, "data source 'small'", "fewer than train.batch_size 4")


def test_a_two_dataset_recipe_trains_and_records_batches_per_dataset(run_cli, workdir: Path):
    small = _pairs_file(workdir / "small.jsonl", 10, "s")
    large = _pairs_file(workdir / "large.jsonl", 30, "l")
    recipe = workdir / "two.toml"
    recipe.write_text(
        f"""name = "two"
[model]
spec = "tiny-random"
max_query_length = 16
max_passage_length = 16
[data]
source_weighting = "uniform"
[[data.sources]]
name = "small"
source = "jsonl"
dataset = "{small}"
[[data.sources]]
name = "large"
source = "jsonl"
dataset = "{large}"
[train]
batch_size = 4
steps = 6
lr = 1e-3
device = "cpu"
[eval]
datasets = []
""",
        encoding="utf-8",
    )
    run_cli("train", str(recipe), check_code=0)
    (run,) = tracker_of(workdir).list_runs()
    detail = tracker_of(workdir).get_run(run.run_id)
    small_n = detail.metrics.get("train/batch_source/small", 0)
    large_n = detail.metrics.get("train/batch_source/large", 0)
    assert small_n + large_n == 6 and detail.params["data.source_weighting"] == "uniform"

    broken = recipe.read_text().replace(str(large), str(workdir / "missing.jsonl"))
    recipe.write_text(broken)
    line = one_error_line(run_cli("train", str(recipe)))
    assert "data source 'large'" in line and "missing.jsonl" in line
    assert len(tracker_of(workdir).list_runs()) == 1  # no second run was started


def test_hard_negatives_need_one_source_that_has_them(files, tmp_path: Path):
    from hybrid_tui.data.pairs import load_training_pairs

    small, large = files
    with_negatives = tmp_path / "negatives.jsonl"
    rows = [
        json.loads(line) | {"negatives": ["a wrong passage"]}
        for line in large.read_text().splitlines()
    ]
    with_negatives.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    mixed = _recipe_dict(small, with_negatives)
    mixed["data"]["hard_negatives"] = 1
    pairs = load_training_pairs(recipe_from_dict(mixed).data, None)
    spans = {s.name: s for s in pairs.sources}
    assert not any(
        item.negatives for item in pairs.items[spans["small"].start : spans["small"].stop]
    )
    assert all(item.negatives for item in pairs.items[spans["large"].start : spans["large"].stop])
    neither = _recipe_dict(small, large)
    neither["data"]["hard_negatives"] = 1
    with pytest.raises(HybridTuiError) as err:
        load_training_pairs(recipe_from_dict(neither).data, None)
    one_line(err, "data.hard_negatives = 1 but no data source carries negatives")
