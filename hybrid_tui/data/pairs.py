"""Training pairs: (question, passage) per language, grouped into parallel items by id.

An item is one question id with its pair in every language it exists in; the sampler builds
monolingual, cross-lingual and multilingual batches from these items, and never puts one id twice
in a batch (its parallel copy would be a false negative). Sources: the LAReQA files (question,
answer sentence), a JSONL file of `{"id", "lang", "query", "passage"}` rows, or a hub dataset.
A JSONL row (or a hub row's `negative`/`negatives` column) may carry hard negatives: passages in
the row's language that do not answer its query (`hybrid-tui mine` writes them); mMARCO's
parallel triples (`data/mmarco.py`) carry their BM25 negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.command_name import command
from hybrid_tui.data.lareqa import load_lareqa_pairs
from hybrid_tui.data.text_lines import json_line, numbered_lines
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import EVAL_DATASETS
from hybrid_tui.progress import ProgressFn
from hybrid_tui.recipe import DataConfig

JSONL_FIELDS = ("id", "lang", "query", "passage")
_JSON_TYPES = {
    list: "list",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


@dataclass(frozen=True)
class ParallelItem:
    """One question id: `texts[lang] = (question, passage)` for each language it exists in, and
    `negatives[lang]`, hard negative passages in that language (none by default)."""

    id: str
    texts: dict[str, tuple[str, str]]
    negatives: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpan:
    """The items `start:stop` of `TrainingPairs.items` came from the dataset labelled `name`."""

    name: str
    start: int
    stop: int


@dataclass
class TrainingPairs:
    items: list[ParallelItem]
    languages: list[str]
    sources: list[SourceSpan] = field(default_factory=list)  # set for `[[data.sources]]`

    def source_pairs(self, span: SourceSpan) -> TrainingPairs:
        """One source's items alone (what its own sampler draws from)."""
        items = self.items[span.start : span.stop]
        present = {lang for item in items for lang in item.texts}
        return TrainingPairs(items, [lang for lang in self.languages if lang in present])

    @property
    def has_negatives(self) -> bool:
        return any(item.negatives for item in self.items)

    def size_per_language(self) -> dict[str, int]:
        """Items per language (what `language_weighting = "size"` weighs by)."""
        return {lang: sum(lang in item.texts for item in self.items) for lang in self.languages}


# A row on its way into an item: (where it came from, id, lang, query, passage, negatives).
_Row = tuple[str, str, str, str, str, tuple[str, ...]]


def load_training_pairs(
    config: DataConfig, data_root: str | Path | None, progress: ProgressFn | None = None
) -> TrainingPairs:
    """The recipe's training data as parallel items (sorted by id, cut to `max_items`); with
    `[[data.sources]]`, each source's items one after the other, their spans in `sources`."""
    if config.sources:
        pairs = _several_sources(config, data_root, progress)
    elif config.source == "lareqa":
        by_lang = _lareqa_pairs(config, data_root, progress)
        rows = (
            (config.dataset, qid, lang, query, passage, ())
            for lang, pairs in by_lang.items()
            for qid, (query, passage) in pairs.items()
        )
        pairs = _build(config, rows, list(by_lang))
    elif config.source == "jsonl":
        pairs = _build(config, _jsonl_rows(_jsonl_path(config.dataset, data_root)))
    elif config.source == "mmarco":
        from hybrid_tui.data.mmarco import mmarco_rows

        rows = mmarco_rows(config.dataset, config.languages, config.max_items, data_root, progress)
        pairs = _build(config, rows)
    else:
        pairs = _build(config, _hub_rows(config))
    if config.hard_negatives and not pairs.has_negatives:
        what = "no data source carries" if config.sources else f"{config.dataset} carries no"
        raise HybridTuiError(
            f"data.hard_negatives = {config.hard_negatives} but {what} negatives; add a "
            f"`negatives` list to its rows (`{command('mine')}` writes them) or set "
            "data.hard_negatives = 0"
        )
    return pairs


def _several_sources(config: DataConfig, data_root, progress) -> TrainingPairs:
    items: list[ParallelItem] = []
    languages: list[str] = []
    spans = []
    for label, one in config.source_configs():
        try:  # negatives are asked of the sources together: some may have none
            pairs = load_training_pairs(
                one.model_copy(update={"hard_negatives": 0}), data_root, progress
            )
        except HybridTuiError as err:
            raise HybridTuiError(f"data source {label!r}: {err}") from None
        spans.append(SourceSpan(label, len(items), len(items) + len(pairs.items)))
        items += pairs.items
        languages += [lang for lang in pairs.languages if lang not in languages]
    return TrainingPairs(items, languages, spans)


def _lareqa_pairs(config: DataConfig, data_root, progress) -> dict[str, dict[str, tuple]]:
    if config.dataset in EVAL_DATASETS:
        available = EVAL_DATASETS[config.dataset][2]
        unknown = [lang for lang in config.languages if lang not in available]
        if unknown:
            raise HybridTuiError(
                f"data.languages: {unknown[0]!r} is not in {config.dataset}; "
                f"choose from {', '.join(available)}"
            )
    return load_lareqa_pairs(
        config.dataset, data_root, languages=config.languages or None, progress=progress
    )


def _build(config: DataConfig, rows: Iterable[_Row], order: list[str] | None = None):
    """Group rows by id, keep `data.languages`, sort by id, cut to `max_items`."""
    texts: dict[str, dict[str, tuple[str, str]]] = {}
    negatives: dict[str, dict[str, tuple[str, ...]]] = {}
    seen: dict[tuple[str, str], str] = {}
    for where, qid, lang, query, passage, extra in rows:
        if (qid, lang) in seen:
            raise HybridTuiError(
                f"{where}: id {qid!r} already has a {lang!r} pair ({seen[qid, lang]}); "
                "give each id one row per language"
            )
        seen[qid, lang] = where
        texts.setdefault(qid, {})[lang] = (query, passage)
        if extra:
            negatives.setdefault(qid, {})[lang] = extra
    present = order or sorted({lang for by_lang in texts.values() for lang in by_lang})
    wanted = config.languages or present
    missing = [lang for lang in wanted if lang not in present]
    if missing:
        raise HybridTuiError(
            f"data.languages: {missing[0]!r} is not in {config.dataset}; "
            f"choose from {', '.join(present)}"
        )
    items = []
    for qid in sorted(texts):
        kept = {lang: texts[qid][lang] for lang in wanted if lang in texts[qid]}
        if kept:
            hard = {lang: n for lang, n in negatives.get(qid, {}).items() if lang in kept}
            items.append(ParallelItem(qid, kept, hard))
    items = items[: config.max_items] if config.max_items else items
    if len(items) < 2:
        what = f"data.languages {', '.join(config.languages)}" if config.languages else "the data"
        raise HybridTuiError(
            f"{config.dataset}: {what} kept {len(items)} item(s); training needs at least 2"
        )
    languages = [lang for lang in wanted if any(lang in item.texts for item in items)]
    return TrainingPairs(items, languages)


def _jsonl_path(dataset: str, data_root) -> Path:
    path = Path(dataset).expanduser()
    if not path.is_file() and data_root and not path.is_absolute():
        path = Path(data_root).expanduser() / dataset
    if not path.is_file():
        raise HybridTuiError(
            f"data.dataset: no file {path}; give a JSONL file of "
            '{"id", "lang", "query", "passage"} rows'
        )
    return path


def _jsonl_rows(path: Path) -> Iterator[_Row]:
    """Rows of a JSONL file; a bad row stops with `file:line: what is wrong`."""
    try:
        lines = list(numbered_lines(path))
    except OSError as err:
        raise HybridTuiError(f"cannot read {path} ({err.strerror or err})") from None
    for number, line in lines:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        row = json_line(line, where)
        if not isinstance(row, dict):
            raise HybridTuiError(
                f"{where}: expected an object with {', '.join(JSONL_FIELDS)} "
                f"(got a JSON {_JSON_TYPES.get(type(row), type(row).__name__)})"
            )
        yield _row(
            where,
            row.get("id"),
            row.get("lang"),
            row.get("query"),
            row.get("passage"),
            row.get("negatives", []),
        )


def _row(where: str, qid, lang, query, passage, negatives=()) -> _Row:
    values = {"id": qid, "lang": lang, "query": query, "passage": passage}
    for name, value in values.items():
        if value is None:
            raise HybridTuiError(f"{where}: missing field {name!r}")
        if name != "id" and not isinstance(value, str):
            raise HybridTuiError(f"{where}: field {name!r} must be a string")
        if not str(value).strip():
            raise HybridTuiError(f"{where}: field {name!r} is empty")
    if isinstance(negatives, str):
        negatives = [negatives]
    if not isinstance(negatives, (list, tuple)) or not all(
        isinstance(n, str) and n.strip() for n in negatives
    ):
        raise HybridTuiError(f"{where}: field 'negatives' must be a list of non-empty strings")
    return where, str(qid), lang, query, passage, tuple(negatives)


def _hub_rows(config: DataConfig) -> Iterator[_Row]:
    """Rows of a hub dataset: columns query, passage (or positive), lang (or language), id."""
    try:
        from datasets import load_dataset

        table = load_dataset(config.dataset, split=config.split)
    except Exception as err:  # offline, unknown id or split, missing package
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise HybridTuiError(
            f"could not load {config.dataset!r} (split {config.split!r}) from the hub "
            f"({type(err).__name__}: {first_line}); check the id, the split and the network, "
            'or use source = "jsonl" with a local file'
        ) from None
    columns = list(table.column_names)
    passage = next((c for c in ("passage", "positive") if c in columns), None)
    lang = next((c for c in ("lang", "language") if c in columns), None)
    if "query" not in columns or passage is None or lang is None:
        raise HybridTuiError(
            f"{config.dataset}: needs columns query, passage (or positive) and lang (or "
            f"language); it has {', '.join(columns)}"
        )
    ids = table["id"] if "id" in columns else range(len(table))
    negative = next((c for c in ("negatives", "negative") if c in columns), None)
    negatives = table[negative] if negative else [()] * len(table)
    for n, (qid, code, q, p, hard) in enumerate(
        zip(ids, table[lang], table["query"], table[passage], negatives, strict=True)
    ):
        yield _row(f"{config.dataset} row {n}", qid, code, q, p, hard)
