"""Batch plans for hybrid batch training: which items, in which languages, form each batch.

How batches are formed decides what the retriever learns (RESEARCH.md):
- `mono`: one language for the whole batch (drawn uniformly or by data size), query and passage in
  it, so in-batch negatives are same-language passages;
- `cross`: per item, a query language and a *different* passage language among the item's
  languages, so the model must match across languages;
- `multi`: per item, one language (query and passage in it), languages mixed within the batch, so
  negatives come from every language.
A mix draws the batch type per step with the recipe's weights (α = mono share in the classic
hybrid), optionally changing the weights by phase. Numpy only; the whole state is a JSON-able dict
so that a resumed run draws exactly the batches the uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.recipe import BATCH_TYPES, SamplerConfig


@dataclass(frozen=True)
class BatchItem:
    """One pair of the batch: `item` indexes `TrainingPairs.items`."""

    item: int
    query_lang: str
    passage_lang: str


@dataclass(frozen=True)
class Batch:
    kind: str
    items: list[BatchItem]
    source: str = ""  # the dataset it came from, in a several-dataset recipe


class BatchSampler:
    """Draws batches of `batch_size` distinct items (no id, no passage text twice in a batch:
    a parallel copy or a shared answer sentence would be a false in-batch negative)."""

    def __init__(self, pairs, batch_size: int, sampler: SamplerConfig, seed: int) -> None:
        self.pairs = pairs
        self.batch_size = batch_size
        self.config = sampler
        self.seed = seed
        self.step = 0
        self.kind_counts: Counter[str] = Counter()
        self.source_counts: Counter[str] = Counter()  # empty: one dataset
        self._rng = np.random.default_rng(seed)
        self._languages = list(pairs.languages)
        self._by_language = {
            lang: np.array([i for i, it in enumerate(pairs.items) if lang in it.texts])
            for lang in self._languages
        }
        self._multilingual = np.array([i for i, it in enumerate(pairs.items) if len(it.texts) >= 2])
        self._mono_languages = [
            lang for lang in self._languages if len(self._by_language[lang]) >= batch_size
        ]
        self._check_feasible()

    # ------------------------------------------------------------------ configuration checks

    def _used_kinds(self) -> set[str]:
        phases = [self.config.weights()] + [
            {k: getattr(phase, k) for k in BATCH_TYPES} for phase in self.config.schedule
        ]
        return {kind for weights in phases for kind in BATCH_TYPES if weights[kind] > 0}

    def _check_feasible(self) -> None:
        kinds, b = self._used_kinds(), self.batch_size
        if len(self.pairs.items) < b:
            raise HybridTuiError(
                f"the training data has {len(self.pairs.items)} items, fewer than train.batch_size "
                f"{b}; lower the batch size or use more data"
            )
        if "mono" in kinds and not self._mono_languages:
            largest = max(len(v) for v in self._by_language.values())
            raise HybridTuiError(
                f"no training language has {b} items for a monolingual batch (largest: {largest}); "
                "lower train.batch_size or raise data.max_items"
            )
        if "cross" in kinds and len(self._multilingual) < b:
            raise HybridTuiError(
                f"cross-lingual batches need {b} items in two or more languages, the data has "
                f"{len(self._multilingual)}; add languages to data.languages or set sampler.cross = 0"
            )

    # ------------------------------------------------------------------ drawing

    def weights_at(self, step: int) -> dict[str, float]:
        """The mix in force at `step`: the last schedule phase started by then, else the base mix."""
        weights = self.config.weights()
        for phase in self.config.schedule:
            if phase.from_step <= step:
                raw = {k: getattr(phase, k) for k in BATCH_TYPES}
                total = sum(raw.values())
                weights = {k: v / total for k, v in raw.items()}
        return weights

    def next_batch(self) -> Batch:
        weights = self.weights_at(self.step)
        kind = BATCH_TYPES[self._rng.choice(len(BATCH_TYPES), p=[weights[k] for k in BATCH_TYPES])]
        if kind == "mono":
            lang = self._pick(self._mono_languages)
            items = self._fill(self._by_language[lang], lambda _: (lang, lang))
        elif kind == "cross":
            items = self._fill(self._multilingual, self._cross_languages)
        else:
            items = self._fill(np.arange(len(self.pairs.items)), self._one_language)
        self.step += 1
        self.kind_counts[kind] += 1
        return Batch(kind, items)

    def _pick(self, languages: list[str]) -> str:
        """A language, uniformly or in proportion to its number of items (recipe setting)."""
        if self.config.language_weighting == "size":
            sizes = np.array([len(self._by_language[lang]) for lang in languages], dtype=float)
            return languages[self._rng.choice(len(languages), p=sizes / sizes.sum())]
        return languages[self._rng.integers(len(languages))]

    def _item_languages(self, index: int) -> list[str]:
        return [lang for lang in self._languages if lang in self.pairs.items[index].texts]

    def _cross_languages(self, index: int) -> tuple[str, str]:
        query, passage = self._rng.choice(self._item_languages(index), size=2, replace=False)
        return str(query), str(passage)

    def _one_language(self, index: int) -> tuple[str, str]:
        langs = self._item_languages(index)
        lang = langs[self._rng.integers(len(langs))]
        return lang, lang

    def _fill(self, pool: np.ndarray, languages_for) -> list[BatchItem]:
        """Walk a random order of `pool`, skipping items whose passage text is already in."""
        chosen: list[BatchItem] = []
        seen_passages: set[str] = set()
        for index in self._rng.permutation(pool):
            query_lang, passage_lang = languages_for(int(index))
            passage = self.pairs.items[index].texts[passage_lang][1]
            if passage in seen_passages:
                continue
            seen_passages.add(passage)
            chosen.append(BatchItem(int(index), query_lang, passage_lang))
            if len(chosen) == self.batch_size:
                return chosen
        raise HybridTuiError(
            f"only {len(chosen)} distinct passages could fill a batch of {self.batch_size}; "
            "lower train.batch_size or use more data"
        )

    # ------------------------------------------------------------------ resume

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "seed": self.seed,
            "rng": self._rng.bit_generator.state,
            "kind_counts": dict(self.kind_counts),
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        self._rng.bit_generator.state = state["rng"]
        self.kind_counts = Counter(state.get("kind_counts", {}))


class SourceSampler:
    """Batches from several datasets (`[[data.sources]]`): each batch comes from one dataset,
    chosen uniformly or in proportion to its number of items, and that dataset's own
    `BatchSampler` (seeded from the run's seed and the source's position) forms it, so the mix
    applies within the dataset and no batch mixes datasets. Resumable like `BatchSampler`."""

    def __init__(
        self, pairs, batch_size: int, sampler: SamplerConfig, seed: int, weighting: str = "size"
    ) -> None:
        self.pairs = pairs
        self.spans = list(pairs.sources)
        self.samplers = []
        for index, span in enumerate(self.spans):
            sub_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
            try:
                self.samplers.append(
                    BatchSampler(pairs.source_pairs(span), batch_size, sampler, sub_seed)
                )
            except HybridTuiError as err:
                raise HybridTuiError(f"data source {span.name!r}: {err}") from None
        sizes = np.array([span.stop - span.start for span in self.spans], dtype=float)
        self.weights = (
            sizes / sizes.sum() if weighting == "size" else np.full(len(sizes), 1 / len(sizes))
        )
        self.seed = seed
        self.step = 0
        self.kind_counts: Counter[str] = Counter()
        self.source_counts: Counter[str] = Counter()
        self._rng = np.random.default_rng(np.random.SeedSequence([seed, len(self.spans), 1]))

    def next_batch(self) -> Batch:
        index = int(self._rng.choice(len(self.spans), p=self.weights))
        span, batch = self.spans[index], self.samplers[index].next_batch()
        items = [BatchItem(b.item + span.start, b.query_lang, b.passage_lang) for b in batch.items]
        self.step += 1
        self.kind_counts[batch.kind] += 1
        self.source_counts[span.name] += 1
        return Batch(batch.kind, items, span.name)

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "seed": self.seed,
            "rng": self._rng.bit_generator.state,
            "kind_counts": dict(self.kind_counts),
            "source_counts": dict(self.source_counts),
            "sources": [sampler.state_dict() for sampler in self.samplers],
        }

    def load_state_dict(self, state: dict) -> None:
        if len(state.get("sources", [])) != len(self.samplers):
            raise HybridTuiError(
                "the checkpoint's sampler has another number of data sources than the recipe; "
                "resume with the recipe the run started with"
            )
        self.step = int(state["step"])
        self._rng.bit_generator.state = state["rng"]
        for sampler, sub in zip(self.samplers, state["sources"], strict=True):
            sampler.load_state_dict(sub)
        self.kind_counts.clear()
        self.kind_counts.update(state.get("kind_counts", {}))
        self.source_counts.clear()
        self.source_counts.update(state.get("source_counts", {}))


def make_sampler(pairs, batch_size: int, sampler: SamplerConfig, seed: int, weighting="size"):
    """The run's sampler: one dataset's `BatchSampler`, or a `SourceSampler` over several."""
    if pairs.sources:
        return SourceSampler(pairs, batch_size, sampler, seed, weighting)
    return BatchSampler(pairs, batch_size, sampler, seed)
