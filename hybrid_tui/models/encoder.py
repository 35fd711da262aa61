"""The bi-encoder: one transformer embeds queries and passages (with their prefixes) into one space.

Training calls `tokenize` + `forward`; evaluation calls `encode`, which sorts texts by length so
each batch pads little (about twice the CPU throughput of arrival order). `save` writes a folder
that transformers and sentence-transformers both load and that embeds exactly as this class does.
Only the trainer, the evaluator and the eval command import this module (lazily): it imports torch.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hybrid_tui.atomic_files import atomic_directory, safetensors_write_errors_as_os_errors
from hybrid_tui.errors import HybridTuiError, first_sentence
from hybrid_tui.models import resolve_conventions, resolve_model
from hybrid_tui.models.conventions import Conventions
from hybrid_tui.models.folder import write_sentence_transformers_files, write_tokenizer
from hybrid_tui.progress import ProgressFn

if TYPE_CHECKING:  # the recipe imports pydantic: the GPU check builds encoders without it
    from hybrid_tui.recipe import ModelConfig

KINDS = ("query", "passage")
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _without_pooler(folder: Path) -> dict:
    """`add_pooling_layer=False` for architectures that have one (BERT, XLM-R): embeddings never
    use the pooler, and an absent pooler is neither reported missing nor trained at random."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    model_class = MODEL_MAPPING.get(type(AutoConfig.from_pretrained(str(folder))), None)
    if model_class and "add_pooling_layer" in inspect.signature(model_class.__init__).parameters:
        return {"add_pooling_layer": False}
    return {}


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No tqdm bar or load report from transformers: callers show their own progress."""
    from transformers.utils import logging as hf_logging

    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class BiEncoder(torch.nn.Module):
    """A shared transformer with pooling (mean or CLS) and optional L2 normalisation."""

    def __init__(
        self,
        model,
        tokenizer,
        conventions: Conventions,
        source: str = "",
        padding_free: bool | str = False,
    ) -> None:
        super().__init__()
        if conventions.pooling not in ("mean", "cls"):
            raise HybridTuiError(f"pooling must be 'mean' or 'cls' (got {conventions.pooling!r})")
        self.model = model
        self.tokenizer = tokenizer
        self.conventions = conventions
        self.source = source
        # the packed forward (hybrid_tui.models.padding_free.forward) where the recipe and architecture allow it
        from hybrid_tui.models.padding_free.forward import choose, model_unsupported_reason

        reason = None if padding_free is False else model_unsupported_reason(model)
        self.padding_free, self.padding_free_status = choose(
            padding_free, type(model).__name__, reason
        )

    # ------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        model_config: ModelConfig,
        device: str = "cpu",
        progress: ProgressFn | None = None,
    ) -> BiEncoder:
        """The recipe's model (packaged name, folder or hub id); the recipe's `None` fields take
        the model's own conventions (`models.conventions`)."""
        resolved = resolve_model(model_config.spec, progress=progress)
        conventions = resolve_conventions(resolved.conventions, model_config)
        encoder = cls._from_folder(
            resolved.path, resolved.source, conventions, device, model_config.padding_free
        )
        if model_config.freeze_embeddings:
            encoder.freeze_embeddings()
        return encoder

    @classmethod
    def from_path(cls, path: str | Path, device: str = "cpu") -> BiEncoder:
        """A saved folder (ours, or any HF/sentence-transformers folder) with its own conventions."""
        from hybrid_tui.recipe import ModelConfig

        return cls.load(ModelConfig(spec=str(Path(path).expanduser().resolve())), device=device)

    @classmethod
    def _from_folder(
        cls,
        folder: Path,
        source: str,
        conventions: Conventions,
        device: str,
        padding_free: bool | str = "auto",
    ) -> BiEncoder:
        from transformers import AutoModel, AutoTokenizer

        # safetensors first; transformers 5 reads a .bin only with torch.load(weights_only=True)
        try:
            with _quiet_transformers():
                model = AutoModel.from_pretrained(
                    str(folder), dtype=torch.float32, **_without_pooler(folder)
                )
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
        except Exception as err:  # noqa: BLE001 - missing or corrupt weights, config or tokenizer
            raise HybridTuiError(
                f"cannot load the model in {folder} ({type(err).__name__}: {first_sentence(err)}); "
                "pass a complete Hugging Face model folder or prepare it again"
            ) from err
        if tokenizer.pad_token is None:
            raise HybridTuiError(f"the tokenizer in {folder} has no padding token")
        return cls(model, tokenizer, conventions, source, padding_free=padding_free).to(device)

    def freeze_embeddings(self) -> None:
        """Stop training the word-embedding matrix (most of a small model's weights; faster on CPU)."""
        self.model.get_input_embeddings().weight.requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    # ------------------------------------------------------------ embedding

    def _prefixed(self, texts: list[str], kind: str) -> tuple[list[str], int]:
        if kind not in KINDS:
            raise ValueError(f"kind must be 'query' or 'passage' (got {kind!r})")
        c = self.conventions
        prefix = c.query_prefix if kind == "query" else c.passage_prefix
        max_length = c.max_query_length if kind == "query" else c.max_passage_length
        limit = getattr(self.model.config, "max_position_embeddings", max_length)
        return [prefix + text for text in texts], min(max_length, limit)

    def tokenize(self, texts: list[str], kind: str) -> dict[str, torch.Tensor]:
        """Prefix, truncate to the recipe's max length, pad to the longest text in the batch."""
        prefixed, max_length = self._prefixed(list(texts), kind)
        batch = self.tokenizer(
            prefixed, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return {key: batch[key].to(self.device) for key in _MODEL_INPUTS if key in batch}

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled (and, if `normalize`, unit-length) embeddings of a tokenized batch."""
        if self.padding_free:
            from hybrid_tui.models.padding_free.forward import pooled_embeddings

            pooled = pooled_embeddings(self.model, features, self.conventions.pooling)
        else:
            pooled = self._padded_pooled(features)
        if self.conventions.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled

    def _padded_pooled(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """The standard forward: the HF model over the padded batch, padding masked out."""
        inputs = {key: features[key] for key in _MODEL_INPUTS if key in features}
        hidden = self.model(**inputs).last_hidden_state
        if self.conventions.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return pooled

    def encode(
        self,
        texts: list[str],
        kind: str,
        batch_size: int = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Embeddings [len(texts), dim] float32, in input order; batches are length-sorted."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        prefixed, max_length = self._prefixed(texts, kind)
        ids = self.tokenizer(prefixed, truncation=True, max_length=max_length)["input_ids"]
        order = np.argsort([-len(row) for row in ids], kind="stable")
        use_cuda = self.device.type == "cuda"
        description = f"encoding {kind}s"
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                chunk = order[start : start + batch_size]
                batch = self.tokenizer.pad(
                    {"input_ids": [ids[i] for i in chunk]}, padding=True, return_tensors="pt"
                )
                features = {key: value.to(self.device) for key, value in batch.items()}
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda):
                    embeddings = self(features)
                out[chunk] = embeddings.float().cpu().numpy()
                if progress is not None:
                    progress(description, min(start + batch_size, len(texts)), len(texts))
        return out

    # ------------------------------------------------------------ saving

    def save(self, path: str | Path, model_card: str | None = None) -> Path:
        """Write an HF model + tokenizer + sentence-transformers files + `hybrid_tui.json` (and
        `README.md`, the model card, when given), atomically: a crash leaves the previous
        folder whole."""
        with atomic_directory(path) as staging, _quiet_transformers():
            with safetensors_write_errors_as_os_errors():
                self.model.save_pretrained(str(staging), safe_serialization=True)
            write_tokenizer(self.tokenizer, staging)
            write_sentence_transformers_files(
                staging, dim=self.dim, conventions=self.conventions, source=self.source
            )
            if model_card is not None:
                (staging / "README.md").write_text(model_card, encoding="utf-8")
        return Path(path)
