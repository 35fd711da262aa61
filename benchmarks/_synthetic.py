"""Random-weight encoders and length-true batches for the GPU check, with no download.

A bare GPU machine has no model weights, no tokenizer files and no data set, and throughput needs
none of them: `build_encoder_folder` writes a model folder (random weights from a committed
architecture, `data/gpu_check_models.json`) with a word-level tokenizer over made-up words
`w0 w1 ...`, one token a word; `TextBatches` draws texts whose token counts follow MLQA-R's
(`data/mlqa_r_token_lengths.json`). Every side of the check then tokenizes, truncates and pads
these texts itself, as it would real ones. Imports torch, transformers and tokenizers only.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
LENGTHS_FILE = DATA / "mlqa_r_token_lengths.json"
MODELS_FILE = DATA / "gpu_check_models.json"
MAX_QUERY_LENGTH, MAX_PASSAGE_LENGTH = 64, 128  # the recipe defaults (models.conventions)
WORDS = 30_000  # distinct made-up words; their ids spread over the model's vocabulary


@dataclass(frozen=True)
class Architecture:
    name: str
    hub_id: str
    pooling: str
    specials: dict[str, tuple[str, int]]
    config: dict


def architectures(tiny: bool = False) -> list[Architecture]:
    """The committed architectures, in file order; `tiny` shrinks each (the CPU dry run)."""
    table = json.loads(MODELS_FILE.read_text(encoding="utf-8"))
    out = []
    for name, entry in table["models"].items():
        config = {**entry["config"], **(table["tiny"] if tiny else {})}
        specials = {role: (token, int(i)) for role, (token, i) in entry["specials"].items()}
        out.append(Architecture(name, entry["hub_id"], entry["pooling"], specials, config))
    return out


def length_histograms() -> dict:
    return json.loads(LENGTHS_FILE.read_text(encoding="utf-8"))


class TextBatches:
    """(queries, passages) batches and eval texts whose token counts follow the histograms.

    A text of n tokens is n - 2 made-up words: the tokenizer adds its two special tokens. Counts
    include the e5 prefixes and are exact for e5-small; XLM-R base (same vocabulary, no prefix)
    and LaBSE (its own vocabulary) take them as a close proxy.
    """

    def __init__(self, seed: int = 0) -> None:
        table = length_histograms()
        self.rng = random.Random(seed)
        self._hist = {
            kind: ([int(n) for n in table[kind]], list(table[kind].values()))
            for kind in ("query", "passage", "candidate")
        }

    def lengths(self, kind: str, n: int) -> list[int]:
        values, weights = self._hist[kind]
        return self.rng.choices(values, weights=weights, k=n)

    def texts(self, kind: str, n: int) -> list[str]:
        words = self.rng.randrange
        return [
            " ".join(f"w{words(WORDS)}" for _ in range(max(length - 2, 1)))
            for length in self.lengths(kind, n)
        ]

    def batch(self, size: int) -> tuple[list[str], list[str]]:
        return self.texts("query", size), self.texts("passage", size)


def real_lengths(texts: list[str], limit: int) -> list[int]:
    """Token counts as the tokenizers see them: words + 2 specials, truncated at `limit`."""
    return [min(len(text.split()) + 2, limit) for text in texts]


def word_tokenizer(arch: Architecture, vocab_size: int):
    """A fast tokenizer: the architecture's special tokens at their real ids, one id per made-up
    word (spread over the vocabulary, so the embedding gradient touches rows across the table)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = dict(arch.specials.values())
    taken = set(specials.values())
    first = max(taken) + 1
    span = vocab_size - first
    step = max(span // WORDS, 1)
    ids = [first + (k * step) % span for k in range(WORDS)]  # shared ids in a tiny vocabulary
    vocab = {**specials, **{f"w{k}": i for k, i in enumerate(ids)}}
    cls, sep = arch.specials["cls"], arch.specials["sep"]
    tok = Tokenizer(models.WordLevel(vocab, unk_token=arch.specials["unk"][0]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls[0]} $A {sep[0]}", special_tokens=[cls, sep]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        cls_token=cls[0],
        sep_token=sep[0],
        pad_token=arch.specials["pad"][0],
        unk_token=arch.specials["unk"][0],
        model_max_length=arch.config["max_position_embeddings"],
    )


def conventions(arch: Architecture):
    """No prefixes (the lengths already count them), the recipe's default max lengths."""
    from hybrid_tui.models.conventions import Conventions

    return Conventions(
        pooling=arch.pooling,
        normalize=True,
        max_query_length=MAX_QUERY_LENGTH,
        max_passage_length=MAX_PASSAGE_LENGTH,
    )


def build_encoder_folder(arch: Architecture, folder: Path, device: str, seed: int = 0) -> Path:
    """A model folder the project's `BiEncoder`, transformers and sentence-transformers all load:
    random weights (initialised on `device`, fast for LaBSE's 501k x 768 table), the word
    tokenizer, sentence-transformers' module files; written by `BiEncoder.save`."""
    import torch
    from transformers import AutoConfig, AutoModel

    from hybrid_tui.models.encoder import BiEncoder

    config = dict(arch.config)
    config = AutoConfig.for_model(config.pop("model_type"), **config)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModel.from_config(config, **_without_pooler_kwargs(config))
    tokenizer = word_tokenizer(arch, config.vocab_size)
    encoder = BiEncoder(model, tokenizer, conventions(arch), source=f"random {arch.hub_id}")
    return encoder.save(folder)


def _without_pooler_kwargs(config) -> dict:
    """`add_pooling_layer=False` (BERT, XLM-R): embeddings never use the pooler."""
    return {"add_pooling_layer": False} if config.model_type in ("bert", "xlm-roberta") else {}
