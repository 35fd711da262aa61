"""`hybrid-tui mine`: hard negatives for a pairs file, mined with a model and a faiss index.

For each (id, lang) row the query is scored against a pool of candidate passages; candidates are
ranked by score, the positive and every parallel copy of it (any passage of the same id, in any
language, and any passage with the same text) are dropped, and the first `num_negatives` left
inside the rank window `[range_min, range_max)` (and, with `margin`, scoring at most the
positive's score minus the margin) become the row's negatives. Names follow sentence-transformers'
`mine_hard_negatives` (`range_min`, `range_max`, `margin`, `num_negatives`, its "top" sampling).

The pool is the passages of the row's own language by default (`candidates="passage"`): issue
14's rule is that a cross-lingual batch takes the negative in the passage's language, and a
row's passage is in its language, so the (id, Y) row's negatives serve both a monolingual batch
in Y and a cross-lingual batch whose passage is in Y. `candidates="all"` pools every language.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.data.pairs import TrainingPairs, load_training_pairs
from hybrid_tui.data.text_lines import numbered_lines
from hybrid_tui.devices import pick_device
from hybrid_tui.display_text import plain
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation.search import build_index, search
from hybrid_tui.progress import ProgressFn
from hybrid_tui.recipe import DataConfig, ModelConfig
from hybrid_tui.runs.files import RunFiles

CANDIDATE_POOLS = ("passage", "all")


@dataclass(frozen=True)
class MiningOptions:
    num_negatives: int = 3
    range_min: int = 0
    range_max: int = 100
    margin: float | None = None
    candidates: str = "passage"

    def check(self) -> None:
        """Bad options are one line each, before any data or model is loaded."""
        if self.num_negatives < 1:
            raise HybridTuiError(f"--num-negatives must be 1 or more (got {self.num_negatives})")
        if self.range_min < 0:
            raise HybridTuiError(f"--range-min must be 0 or more (got {self.range_min})")
        if self.range_min >= self.range_max:
            raise HybridTuiError(
                f"--range-min ({self.range_min}) must be below --range-max ({self.range_max}): "
                "negatives are taken from ranks range_min to range_max - 1"
            )
        if self.margin is not None and not np.isfinite(self.margin):
            raise HybridTuiError(f"--margin must be a finite number (got {self.margin})")
        if self.candidates not in CANDIDATE_POOLS:
            raise HybridTuiError(
                f"--candidates {self.candidates!r}: choose {' or '.join(CANDIDATE_POOLS)}"
            )


@dataclass
class CandidatePool:
    """Unique (lang, passage) candidates, each with every id whose passage it is."""

    keys: list[tuple[str, str]] = field(default_factory=list)
    owners: list[set[str]] = field(default_factory=list)
    index_of: dict[tuple[str, str], int] = field(default_factory=dict)
    entries_of: dict[str, set[int]] = field(default_factory=dict)  # id -> its candidates

    def add(self, lang: str, passage: str, owner: str) -> None:
        key = (lang, passage)
        if key not in self.index_of:
            self.index_of[key] = len(self.keys)
            self.keys.append(key)
            self.owners.append(set())
        entry = self.index_of[key]
        self.owners[entry].add(owner)
        self.entries_of.setdefault(owner, set()).add(entry)

    def most_entries_of_one_id(self) -> int:
        return max((len(entries) for entries in self.entries_of.values()), default=0)


@dataclass
class MinedRow:
    id: str
    lang: str
    query: str
    passage: str
    negatives: list[str]
    negative_ids: list[list[str]]

    def as_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


@dataclass
class MiningSummary:
    rows: int
    negatives: int
    fewest: int
    most: int
    short_rows: int  # rows with fewer than num_negatives
    options: MiningOptions
    output: Path
    model: str

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "negatives": self.negatives,
            "negatives_per_row": {"mean": self.negatives / max(self.rows, 1)}
            | {"min": self.fewest, "max": self.most},
            "rows_with_fewer": self.short_rows,
            "options": self.options.__dict__,
            "output": str(self.output),
            "model": self.model,
        }


def check_parallel_ids(pairs: TrainingPairs) -> None:
    """Parallel copies are found by id: with several languages, ids must link them (some id in
    two languages), or a translation of the positive could come back as its negative."""
    if len(pairs.languages) < 2 or any(len(item.texts) > 1 for item in pairs.items):
        return
    first, second = pairs.languages[:2]
    raise HybridTuiError(
        f"no id appears in two languages (e.g. none of the {first!r} ids is in {second!r}), so "
        "parallel copies of a positive cannot be excluded; give translations of one pair the "
        "same id, or mine one language at a time with --langs"
    )


def candidate_pools(pairs: TrainingPairs, candidates: str) -> dict[str, CandidatePool]:
    """Language -> the pool its rows search (with `all`, every language shares one pool)."""
    shared = CandidatePool() if candidates == "all" else None
    pools = {lang: shared or CandidatePool() for lang in pairs.languages}
    for item in pairs.items:
        for lang, (_, passage) in item.texts.items():
            pools[lang].add(lang, passage, item.id)
    return pools


def select_negatives(
    ranked: np.ndarray,
    scores: np.ndarray,
    excluded: set[int],
    positive_score: float,
    options: MiningOptions,
) -> list[int]:
    """The negatives of one query from its ranked candidates (best first; -1 is faiss' "none"):
    ranks count only candidates that are not excluded."""
    chosen: list[int] = []
    rank = -1
    for candidate, score in zip(ranked.tolist(), scores.tolist(), strict=True):
        if candidate < 0 or candidate in excluded:
            continue
        rank += 1
        if rank >= options.range_max:
            break
        if rank < options.range_min:
            continue
        if options.margin is not None and score > positive_score - options.margin:
            continue
        chosen.append(candidate)
        if len(chosen) == options.num_negatives:
            break
    return chosen


def mine(
    pairs: TrainingPairs,
    encoder,
    options: MiningOptions,
    batch_size: int = 64,
    progress: ProgressFn | None = None,
) -> list[MinedRow]:
    """Every (id, lang) row of `pairs` with its mined negatives, in item order. The search is
    corpus_search's: exact up to a million passages, on the GPU when faiss has one."""
    pools = candidate_pools(pairs, options.candidates)
    rows = [(item, lang) for item in pairs.items for lang in item.texts]
    queries = encoder.encode(
        [item.texts[lang][0] for item, lang in rows], "query", batch_size, progress
    )
    mined: dict[tuple[str, str], MinedRow] = {}
    for pool in {id(pool): pool for pool in pools.values()}.values():
        embeddings = encoder.encode(
            [text for _, text in pool.keys], "passage", batch_size, progress
        )
        members = [n for n, (_, lang) in enumerate(rows) if pools[lang] is pool]
        k = min(len(pool.keys), options.range_max + pool.most_entries_of_one_id())
        index, _ = build_index(embeddings, progress=progress, description="indexing candidates")
        scores, ranked = search(index, queries[members], k)
        for position, n in enumerate(members):
            item, lang = rows[n]
            query, passage = item.texts[lang]
            excluded = pool.entries_of[item.id]  # the positive and its parallel copies
            positive = pool.index_of[(lang, passage)]
            positive_score = float(queries[n] @ embeddings[positive])
            chosen = select_negatives(
                ranked[position], scores[position], excluded, positive_score, options
            )
            mined[item.id, lang] = MinedRow(
                item.id,
                lang,
                query,
                passage,
                [pool.keys[c][1] for c in chosen],
                [sorted(pool.owners[c]) for c in chosen],
            )
            if progress is not None:
                progress("mining negatives", len(mined), len(rows))
    return [mined[item.id, lang] for item, lang in rows]


def summarize(
    rows: Sequence[MinedRow], options: MiningOptions, output: Path, model: str
) -> MiningSummary:
    counts = [len(row.negatives) for row in rows]
    return MiningSummary(
        rows=len(rows),
        negatives=sum(counts),
        fewest=min(counts, default=0),
        most=max(counts, default=0),
        short_rows=sum(count < options.num_negatives for count in counts),
        options=options,
        output=output,
        model=model,
    )


def write_mined(rows: Sequence[MinedRow], output: Path) -> None:
    """The pairs with their negatives, one JSON object per line, written atomically."""
    atomic_write_text(output, "".join(row.as_json() + "\n" for row in rows))


def input_pairs(source: str, data_root: str | None, langs: Sequence[str]) -> TrainingPairs:
    """A JSONL pairs file, or a LAReQA folder or name (`xquad-r`, `mlqa-r` under --data-dir)."""
    path = Path(source).expanduser()
    if path.is_file():
        try:
            empty = not any(line.strip() for _, line in numbered_lines(path))
        except OSError as err:
            raise HybridTuiError(f"cannot read {path} ({err.strerror or err})") from None
        if empty:
            raise HybridTuiError(
                f'{path} is empty; give a JSONL file of {{"id", "lang", "query", '
                '"passage"} rows, or a LAReQA folder'
            )
        config = DataConfig(source="jsonl", dataset=str(path), languages=list(langs))
    else:
        config = DataConfig(source="lareqa", dataset=source, languages=list(langs))
    return load_training_pairs(config, data_root)


def run_mine(
    source: str,
    output: str,
    model: str | None,
    run: str | None,
    data_root: str | None,
    langs: Sequence[str],
    options: MiningOptions,
    batch_size: int = 64,
    device: str = "auto",
    progress: ProgressFn | None = None,
    run_resolver=None,
) -> MiningSummary:
    """The `mine` command: check everything, load data and model, mine, write, summarize.

    Nothing is written unless every step succeeds (the output appears whole, atomically).
    `run_resolver(text) -> full run id` turns a run id prefix into the run (the CLI passes the
    tracker's)."""
    options.check()
    if batch_size < 1:
        raise HybridTuiError(f"--batch-size must be 1 or more (got {batch_size})")
    if (model is None) == (run is None):
        raise HybridTuiError("give exactly one of --model SPEC or --run RUN_ID")
    target = Path(output).expanduser().resolve()
    if target.is_dir():
        raise HybridTuiError(f"--output {target} is a folder; give a file name (e.g. mined.jsonl)")
    if Path(source).expanduser().resolve() == target:
        raise HybridTuiError("--output is the input file; write the mined pairs to another file")
    pairs = input_pairs(source, data_root, langs)
    check_parallel_ids(pairs)
    spec, described = _model_spec(model, run, run_resolver)

    from hybrid_tui.models.encoder import BiEncoder

    encoder = BiEncoder.load(ModelConfig(spec=spec), device=pick_device(device), progress=progress)
    rows = mine(pairs, encoder, options, batch_size, progress)
    write_mined(rows, target)
    return summarize(rows, options, target, described)


def _model_spec(model: str | None, run: str | None, run_resolver) -> tuple[str, str]:
    """(what BiEncoder.load takes, how the summary names it): a spec, or a run's saved model."""
    if model is not None:
        return model, model
    run_id = run_resolver(run) if run_resolver else run
    folder = RunFiles.for_run(run_id).model
    if not (folder / "config.json").is_file():
        raise HybridTuiError(
            f"run {run_id} has no trained model under {folder}; it may not have finished, "
            "or it ran from another directory (set HYBRID_TUI_HOME)"
        )
    return str(folder), f"run:{run_id}"


def print_summary(summary: MiningSummary) -> None:
    """One screen: what was mined, from what, and how many rows fell short."""
    options = summary.options
    table = Table(title="hard negatives mined", show_header=False, box=None)
    window = f"ranks {options.range_min}-{options.range_max - 1}"
    margin = f", margin {options.margin}" if options.margin is not None else ""
    table.add_row("model", plain(summary.model))  # the user's model spec and path: never markup
    table.add_row("candidates", f"{options.candidates} language(s); {window}{margin}")
    table.add_row("rows", str(summary.rows))
    mean = summary.negatives / max(summary.rows, 1)
    table.add_row(
        "negatives per row",
        f"{mean:.2f} (min {summary.fewest}, max {summary.most}; asked {options.num_negatives})",
    )
    table.add_row(f"rows with fewer than {options.num_negatives}", str(summary.short_rows))
    table.add_row("written to", plain(summary.output))
    Console().print(table)
