"""The relevant sentence of each LAReQA question, found without the loader's break rule.

Independent computations in the tests take relevance from here: the sentence `context[b:e]`
that holds the answer text at its offset; where an answer runs across a sentence break (about
1 % of questions), the last sentence that starts at or before the answer (a bisect over the
starts). The loader instead tests `b <= answer_start < e`; both must agree on the real files.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path


def read_language(path: Path) -> dict:
    """`questions` (id -> text, file order), `sentences` (candidate id `p:k` -> text, file order),
    `answer` (question id -> candidate id), `holds` (question id -> whether one sentence holds
    the whole answer text)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    questions, sentences, answer, holds = {}, {}, {}, {}
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    for p, paragraph in enumerate(paragraphs):
        context, spans = paragraph["context"], paragraph["sentence_breaks"]
        for k, text in enumerate(paragraph["sentences"]):
            sentences[f"{p}:{k}"] = text
        for qa in paragraph["qas"]:
            start, text = qa["answers"][0]["answer_start"], qa["answers"][0]["text"]
            holding = [
                k
                for k, (begin, end) in enumerate(spans)
                if begin <= start and context[begin:end][start - begin :].startswith(text)
            ]
            k = holding[0] if holding else bisect.bisect_right([b for b, _ in spans], start) - 1
            questions[qa["id"]] = qa["question"]
            answer[qa["id"]] = f"{p}:{k}"
            holds[qa["id"]] = bool(holding)
    return {"questions": questions, "sentences": sentences, "answer": answer, "holds": holds}
