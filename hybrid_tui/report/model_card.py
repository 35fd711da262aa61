"""The model card (`README.md`) of a trained folder: what it is, how it was trained and scored,
and how to load it so that it embeds as it did in training.

sentence-transformers and the Hugging Face hub read this file; a user who only has the folder
learns the base model, the sampler mix, the data, the zero-shot tables and, most easily missed,
that a plain `encode(...)` adds no prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hybrid_tui import report
from hybrid_tui.display_text import markdown_cell, visible
from hybrid_tui.evaluation.miracl import miracl_table
from hybrid_tui.languages import MMMLU, unseen_languages
from hybrid_tui.models.conventions import Conventions
from hybrid_tui.report.choice_results import WHAT, ChoiceResults, choice_markdown


def model_card(
    recipe,
    conventions: Conventions,
    base_source: str,
    train_languages: list[str],
    metrics: Mapping[str, float],
    eval_sets: Iterable,
    run_id: str,
    steps: int,
) -> str:
    """Markdown with a YAML header, for the folder `BiEncoder.save` writes."""
    c, t, d, s = conventions, recipe.train, recipe.data, recipe.sampler
    weights = s.weights()
    mix = ", ".join(f"{kind} {weights[kind]:.2f}" for kind in ("mono", "cross", "multi"))
    schedule = f"; {len(s.schedule)} schedule phase(s)" if s.schedule else ""
    languages = ", ".join(train_languages)
    lines = [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        "tags: [sentence-transformers, feature-extraction, hybrid-tui, multilingual-retrieval]",
        f"language: [{', '.join(train_languages)}]",
        "---",
        "",
        f"# {visible(recipe.name)}",
        "",
        f"A multilingual bi-encoder fine-tuned by hybrid-tui (run `{run_id}`) with InfoNCE over "
        "in-batch negatives, batches drawn by the sampler mix below.",
        "",
        "## Training",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{markdown_cell(recipe.model.spec)}` ({markdown_cell(base_source)}) |",
        f"| sampler mix | {s.describe()} ({mix}; languages weighted {s.language_weighting})"
        f"{schedule} |",
        f"| training data | {markdown_cell(_data_text(d))}, languages {markdown_cell(languages)} |",
        f"| optimisation | {steps} steps × batch {t.batch_size}, AdamW lr {t.lr:g} "
        f"({t.lr_schedule}, {t.warmup_steps} warm-up steps), weight decay {t.weight_decay:g}, "
        f"temperature {t.temperature:g}, seed {t.seed} |",
        f"| embedding | {c.pooling} pooling, {'L2-normalised' if c.normalize else 'not normalised'}"
        f", query prefix `{c.query_prefix!r}`, passage prefix `{c.passage_prefix!r}`, max "
        f"lengths {c.max_query_length} (queries) / {c.max_passage_length} (passages) tokens |",
        "",
    ]
    lines += _evaluation(metrics, eval_sets, train_languages, report, unseen_languages)
    lines += _usage(c)
    lines += ["## Recipe", "", "```toml", recipe.to_toml().rstrip(), "```", ""]
    return "\n".join(lines)


def _evaluation(metrics, eval_sets, train_languages, report, unseen_languages) -> list[str]:
    lines = ["## Zero-shot evaluation", ""]
    sets = list(eval_sets)
    if not sets or not metrics:
        return lines + ["No evaluation was run.", ""]
    lines += [
        "mAP × 100 over the whole pool (LAReQA); rank distance: in the multilingual pool, the "
        "worst minus the best rank of a question's relevant sentences (lower is less language "
        "bias).",
        "",
    ]
    for rset in sets:
        if rset.name == "miracl":
            lines += _miracl_section(metrics, rset.languages)
            continue
        if rset.name == MMMLU:
            lines += _mmmlu_section(metrics, rset, train_languages)
            continue
        tables = report.LanguageTables.from_metrics(metrics, rset.name)
        if tables.is_empty():
            continue
        counts = rset.question_counts()
        sample = (
            f"a seeded sample (seed {rset.question_seed}) of question ids"
            if rset.question_seed is not None
            else "all questions"
        )
        per_language = ", ".join(f"{lang} {n}" for lang, n in counts.items())
        lines += [
            f"### {visible(rset.name)}",
            "",
            f"{sample}; questions per language: {per_language}.",
            "",
            report.to_markdown(tables, unseen_languages(train_languages, tables.languages)),
            "",
        ]
    return lines


def _usage(c: Conventions) -> list[str]:
    return [
        "## Usage",
        "",
        "sentence-transformers (6 or later) embeds exactly as training did with `encode_query` "
        "and `encode_document`: they add the prefixes and cut each side at its own max length.",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        'model = SentenceTransformer("path/to/this/folder")',
        'queries = model.encode_query(["Where is the Eiffel Tower?"])',
        'passages = model.encode_document(["The Eiffel Tower is in Paris."])',
        "scores = model.similarity(queries, passages)",
        "```",
        "",
        'A plain `model.encode(texts)` adds **no prefix**: pass `prompt_name="query"` or '
        '`prompt_name="passage"`. Versions before 6 ignore the per-side lengths and cut both '
        f"sides at {max(c.max_query_length, c.max_passage_length)} tokens.",
        "",
        "transformers alone:",
        "",
        "```python",
        "import torch",
        "from transformers import AutoModel, AutoTokenizer",
        "",
        'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")',
        'model = AutoModel.from_pretrained("path/to/this/folder").eval()',
        f'batch = tokenizer([{c.query_prefix!r} + "Where is the Eiffel Tower?"], padding=True,',
        f'                  truncation=True, max_length={c.max_query_length}, return_tensors="pt")',
        "with torch.no_grad():",
        "    hidden = model(**batch).last_hidden_state",
        *(
            ["embedding = hidden[:, 0]"]
            if c.pooling == "cls"
            else [
                'mask = batch["attention_mask"].unsqueeze(-1).float()',
                "embedding = (hidden * mask).sum(1) / mask.sum(1)",
            ]
        ),
        *(["embedding = torch.nn.functional.normalize(embedding, dim=-1)"] if c.normalize else []),
        "```",
        "",
        "hybrid-tui: `hybrid-tui eval --model path/to/this/folder --dataset xquad-r` (the "
        "folder's `hybrid_tui.json` holds these conventions).",
        "",
    ]


def _data_text(d) -> str:
    """The training data in words: one dataset, or several with how batches chose among them."""
    if not d.sources:
        first = f", first {d.max_items} items" if d.max_items else ""
        text = f"{d.source} `{d.dataset}` (split {d.split}){first}"
    else:
        each = "; ".join(
            f"{s.label}: {s.source} `{s.dataset}` (split {s.split})" for s in d.sources
        )
        chosen = "in proportion to size" if d.source_weighting == "size" else "uniformly"
        text = f"{len(d.sources)} datasets, each batch from one chosen {chosen} ({each})"
    if d.hard_negatives:
        text += f", up to {d.hard_negatives} hard negatives per query"
    return text


def _miracl_section(metrics, languages) -> list[str]:
    rows = [
        f"| {who} | {figures['ndcg_10'] * 100:.1f} | {figures['recall_100'] * 100:.1f} |"
        for who, figures in miracl_table(metrics, languages).items()
        if len(figures) == 2
    ]
    if not rows:
        return []
    return [
        "### miracl",
        "",
        "MIRACL dev, monolingual: nDCG@10 and Recall@100 × 100 (passages are title + text).",
        "",
        "| language | nDCG@10 | R@100 |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _mmmlu_section(metrics, rset, train_languages) -> list[str]:
    """MMMLU's accuracy beside chance, with what it measures: option retrieval, not generation."""
    results = ChoiceResults.from_metrics(metrics, rset.name)
    if results.is_empty():
        return []
    counts = rset.question_counts()
    n = next(iter(counts.values()), 0)
    return [
        "### mmmlu",
        "",
        f"{WHAT}. {n} questions per language; cross: question in one language, options in "
        "another (mean over the option languages); multi: the options of every language pooled; "
        "own-language share: how often the pick is in the question's language (its pool share "
        "in the chance row).",
        "",
        choice_markdown(results, unseen_languages(train_languages, results.languages)),
        "",
    ]
