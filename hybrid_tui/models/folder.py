"""The on-disk layout of a model folder that transformers and sentence-transformers both load.

Prepared packaged models and saved encoders share it: HF config + safetensors + a fast tokenizer
(loadable by transformers 4 and 5 without rebuilding it from vocab files), sentence-transformers
module files (pooling, normalisation, prompts = our prefixes, per-task lengths) and
`hybrid_tui.json` (every convention, the one source `models.conventions` reads back).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hybrid_tui.models.conventions import CONVENTIONS_FILE, Conventions

SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "cls_token": "<s>",
    "mask_token": "<mask>",
}


def write_tokenizer(tokenizer, folder: Path, original: Path | None = None) -> None:
    """Save a fast tokenizer so transformers 4 and 5 and sentence-transformers all load it as is
    (`original`: a tokenizer.json to keep byte for byte instead of the re-serialised one)."""
    tokenizer.save_pretrained(str(folder))
    if original is not None:
        shutil.copyfile(original, folder / "tokenizer.json")
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("tokenizer_class") in (None, "TokenizersBackend"):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"  # never rebuilt from vocab files
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    special = {
        key: str(getattr(tokenizer, key)) for key in SPECIAL_TOKENS if getattr(tokenizer, key, None)
    }
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


def write_sentence_transformers_files(
    folder: Path, *, dim: int, conventions: Conventions, source: str
) -> None:
    """modules.json, pooling, prompts, per-task lengths and our conventions file, so that
    `SentenceTransformer(folder).encode_query` / `.encode_document` (sentence-transformers >= 6)
    embed exactly as `BiEncoder.encode` does."""
    c = conventions
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if c.normalize:
        modules.append(
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling_config = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": c.pooling == "cls",
        "pooling_mode_mean_tokens": c.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "include_prompt": True,
    }
    # encode_query uses the "query" prompt and encode_document the first of "document",
    # "passage", "corpus"; sentence-transformers 6 fills a missing "document" with "", so both
    # names carry the passage prefix. query_length / document_length cut each side where
    # BiEncoder does (older sentence-transformers cut both at max_seq_length).
    files = {
        "modules.json": modules,
        "1_Pooling/config.json": pooling_config,
        "sentence_bert_config.json": {
            "max_seq_length": max(c.max_query_length, c.max_passage_length),
            "query_length": c.max_query_length,
            "document_length": c.max_passage_length,
            "do_lower_case": False,
        },
        "config_sentence_transformers.json": {
            "prompts": {
                "query": c.query_prefix,
                "document": c.passage_prefix,
                "passage": c.passage_prefix,
            },
            "default_prompt_name": None,
            "similarity_fn_name": "cosine" if c.normalize else "dot",
        },
        CONVENTIONS_FILE: {**c.as_dict(), "source": source},
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2), encoding="utf-8")
