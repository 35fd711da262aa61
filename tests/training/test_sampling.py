"""The batch sampler: batch types, mixes, language weighting, no false negatives, exact resume."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from hybrid_tui.data.pairs import ParallelItem, TrainingPairs
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import SamplerConfig, SchedulePhase
from hybrid_tui.training.sampling import BatchSampler


def synthetic_pairs(sizes: dict[str, int], parallel: int = 0) -> TrainingPairs:
    """`parallel` items exist in every language; then each language gets its own extra items."""
    items = [
        ParallelItem(f"p{i}", {lang: (f"q{i} {lang}", f"a{i} {lang}") for lang in sizes})
        for i in range(parallel)
    ]
    for lang, size in sizes.items():
        items += [
            ParallelItem(f"{lang}{i}", {lang: (f"q {lang}{i}", f"a {lang}{i}")})
            for i in range(size - parallel)
        ]
    return TrainingPairs(items, list(sizes))


@pytest.fixture(scope="module")
def mlqa_pairs(data_root):
    from hybrid_tui.data.pairs import load_training_pairs
    from hybrid_tui.recipe import DataConfig

    return load_training_pairs(DataConfig(dataset="mlqa-r"), data_root)


def draw(sampler: BatchSampler, n: int) -> list:
    return [sampler.next_batch() for _ in range(n)]


def test_batches_never_repeat_an_id_or_a_passage(mlqa_pairs):
    sampler = BatchSampler(mlqa_pairs, 64, SamplerConfig(mono=1, cross=1, multi=1), seed=3)
    for batch in draw(sampler, 150):
        ids = [mlqa_pairs.items[b.item].id for b in batch.items]
        passages = [mlqa_pairs.items[b.item].texts[b.passage_lang][1] for b in batch.items]
        assert len(batch.items) == 64
        assert len(set(ids)) == 64, f"{batch.kind} batch repeats an id"
        assert len(set(passages)) == 64, f"{batch.kind} batch repeats a passage"


def test_each_batch_type_has_its_language_pattern(mlqa_pairs):
    sampler = BatchSampler(mlqa_pairs, 32, SamplerConfig(mono=1, cross=1, multi=1), seed=0)
    seen = Counter()
    for batch in draw(sampler, 90):
        seen[batch.kind] += 1
        pairs = [(b.query_lang, b.passage_lang) for b in batch.items]
        for b in batch.items:
            assert {b.query_lang, b.passage_lang} <= set(mlqa_pairs.items[b.item].texts)
        if batch.kind == "mono":
            assert len(set(pairs)) == 1 and pairs[0][0] == pairs[0][1]
        elif batch.kind == "cross":
            assert all(q != p for q, p in pairs)
            assert len({q for q, _ in pairs}) > 1, "query languages are drawn per pair"
        else:
            assert all(q == p for q, p in pairs)
            assert len({q for q, _ in pairs}) > 1, "a multi batch mixes languages"
    assert set(seen) == {"mono", "cross", "multi"}


def test_alpha_sets_the_share_of_monolingual_batches():
    pairs = synthetic_pairs({"en": 200, "de": 200, "zh": 200}, parallel=200)
    sampler = BatchSampler(pairs, 8, SamplerConfig(mono=0.3, cross=0.7), seed=1)
    kinds = Counter(batch.kind for batch in draw(sampler, 3000))
    assert abs(kinds["mono"] / 3000 - 0.3) < 0.03
    assert kinds["multi"] == 0
    assert dict(sampler.kind_counts) == dict(kinds)


def test_schedule_changes_the_mix_at_its_step():
    pairs = synthetic_pairs({"en": 50, "de": 50}, parallel=50)
    config = SamplerConfig(mono=1, cross=0, schedule=[SchedulePhase(from_step=20, cross=1)])
    kinds = [batch.kind for batch in draw(BatchSampler(pairs, 4, config, seed=0), 40)]
    assert set(kinds[:20]) == {"mono"} and set(kinds[20:]) == {"cross"}


@pytest.mark.parametrize(("weighting", "expected_en"), [("uniform", 0.5), ("size", 0.8)])
def test_monolingual_language_follows_the_weighting(weighting, expected_en):
    pairs = synthetic_pairs({"en": 400, "de": 100})
    config = SamplerConfig(mono=1, cross=0, language_weighting=weighting)
    batches = draw(BatchSampler(pairs, 10, config, seed=2), 2000)
    share_en = sum(b.items[0].query_lang == "en" for b in batches) / len(batches)
    assert abs(share_en - expected_en) < 0.04


def test_resume_from_state_dict_continues_the_same_sequence(mlqa_pairs):
    config = SamplerConfig(mono=0.5, cross=0.5)
    first = BatchSampler(mlqa_pairs, 16, config, seed=7)
    draw(first, 13)
    state = json.loads(json.dumps(first.state_dict()))  # it goes through a JSON checkpoint
    expected = draw(first, 10)

    resumed = BatchSampler(mlqa_pairs, 16, config, seed=7)
    resumed.load_state_dict(state)
    assert draw(resumed, 10) == expected
    assert resumed.kind_counts == first.kind_counts


def test_seed_decides_the_sequence(mlqa_pairs):
    config = SamplerConfig()
    a = draw(BatchSampler(mlqa_pairs, 16, config, seed=1), 5)
    b = draw(BatchSampler(mlqa_pairs, 16, config, seed=1), 5)
    c = draw(BatchSampler(mlqa_pairs, 16, config, seed=2), 5)
    assert a == b and a != c


@pytest.mark.parametrize(
    ("sizes", "parallel", "batch_size", "config", "message"),
    [
        ({"en": 5, "de": 5}, 5, 16, SamplerConfig(), "fewer than train.batch_size 16"),
        ({"en": 30, "de": 30}, 0, 16, SamplerConfig(cross=1), "cross-lingual batches need 16"),
        (
            {"en": 12, "de": 12},
            0,
            16,
            SamplerConfig(mono=1, cross=0),
            "no training language has 16",
        ),
    ],
)
def test_infeasible_batches_fail_before_training(sizes, parallel, batch_size, config, message):
    with pytest.raises(HybridTuiError, match=message):
        BatchSampler(synthetic_pairs(sizes, parallel), batch_size, config, seed=0)
