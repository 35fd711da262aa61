"""Write benchmarks/data/mlqa_r_token_lengths.json: how long MLQA-R's texts are in tokens.

The GPU check (`gpu_check.py`) draws its synthetic batches from these histograms, so that a bare
GPU machine (no data set, no tokenizer download) trains on the real length mix. Only lengths are
written, never text. Tokenizer: multilingual-e5-small's, the XLM-R sentencepiece vocabulary
(250k pieces), as the packaged `e5-small-offline` ships it; each text is counted as the trainer
feeds it to e5-small: with its prefix (`query: ` / `passage: `) and the special tokens, before
truncation. Three histograms: questions and answer sentences (the training pairs,
`data.pairs`), and every candidate sentence of the pool (what evaluation encodes).

Run from the repository root (needs the LAReQA folder and the `offline` extra):

    python benchmarks/mlqa_r_token_lengths.py
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "mlqa_r_token_lengths.json"
DATASET = "mlqa-r"


def histogram(tokenizer, texts: list[str]) -> dict[str, int]:
    """{token count: how many texts}, counts as strings (JSON keys), in ascending order."""
    counts = Counter(len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"])
    return {str(length): counts[length] for length in sorted(counts)}


def main() -> None:
    c.setup_env()
    from transformers import AutoTokenizer

    from hybrid_tui.data.lareqa import load_lareqa_pairs, load_retrieval_set
    from hybrid_tui.models import resolve_model

    root = c.data_root()
    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model("e5-small-offline").path))
    tokenizer.model_max_length = 1_000_000  # count, never truncate (and no length warning)
    pairs = load_lareqa_pairs(DATASET, root)
    questions = [f"query: {q}" for per_lang in pairs.values() for q, _ in per_lang.values()]
    answers = [f"passage: {p}" for per_lang in pairs.values() for _, p in per_lang.values()]
    rset = load_retrieval_set(DATASET, root)
    candidates = [f"passage: {cand.text}" for cands in rset.candidates.values() for cand in cands]
    table = {
        "source": f"LAReQA {DATASET} (mlqa-dev-r), languages {', '.join(sorted(pairs))}",
        "tokenizer": "multilingual-e5-small (XLM-R sentencepiece, 250k pieces), e5-small-offline",
        "counted": "prefix ('query: ' / 'passage: ') and special tokens included, not truncated",
        "written_by": "benchmarks/mlqa_r_token_lengths.py",
        "query": histogram(tokenizer, questions),
        "passage": histogram(tokenizer, answers),
        "candidate": histogram(tokenizer, candidates),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=0) + "\n", encoding="utf-8")
    sizes = {kind: sum(table[kind].values()) for kind in ("query", "passage", "candidate")}
    print(f"wrote {OUT} ({sizes})")


if __name__ == "__main__":
    main()
