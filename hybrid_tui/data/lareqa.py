"""LAReQA retrieval sets (XQuAD-R, MLQA-R): questions, candidate sentences, answer sentences.

The files are SQuAD-format JSON plus `sentences` and `sentence_breaks` per paragraph. As in
LAReQA (Roy et al. 2020) every sentence of every paragraph is a candidate, duplicates included
(the published candidate counts are raw sentence counts), and the relevant candidate of a question
is the sentence whose break span contains the answer's `answer_start`. Spans are half-open
(`sentences[k] == context[b:e]`), and in Chinese and some Arabic and Hindi paragraphs consecutive
spans touch (`[0, 61], [61, 103]`): an answer starting at 61 is in the second sentence, so the
rule is `b <= answer_start < e`. The same question id links a question across languages. Plain
`json` is used: the whole of XQuAD-R loads in well under a second.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import EVAL_DATASETS
from hybrid_tui.progress import ProgressFn

# The upstream commit that still holds mlqa-dev-r/ (removed later) next to xquad-r/.
LAREQA_COMMIT = "5405d2a77e83d5ccb47623a3f9e5604c3f103193"
LAREQA_URL = "https://raw.githubusercontent.com/google-research-datasets/lareqa/{commit}/{folder}/{lang}.json"
_FIX = "pass --data-dir (the folder holding xquad-r/ and mlqa-dev-r/) or set HYBRID_TUI_DATA"


@dataclass(frozen=True)
class Question:
    id: str
    text: str


@dataclass(frozen=True)
class Candidate:
    """A candidate sentence; `id` is `paragraph:sentence` (unique within a language)."""

    id: str
    text: str
    context: str


@dataclass
class RetrievalSet:
    """One evaluation set. A question `q` in language X is relevant to candidate
    `answer_index[Y][q.id]` of language Y whenever that key exists."""

    name: str
    languages: list[str]
    questions: dict[str, list[Question]] = field(default_factory=dict)
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    answer_index: dict[str, dict[str, int]] = field(default_factory=dict)
    question_seed: int | None = None  # set when `max_questions` sampled the questions

    def question_counts(self) -> dict[str, int]:
        """Questions per language (what a sampled subset gave each language)."""
        return {lang: len(self.questions[lang]) for lang in self.languages}


def resolve_lareqa_dir(dataset: str, data_root: str | Path | None) -> Path | None:
    """The local folder of `dataset` (`xquad-r`, `mlqa-r`, or a folder path); None without a root.

    `data_root` may be the parent folder (holding xquad-r/ and mlqa-dev-r/) or a dataset folder
    itself; from a dataset folder its sibling datasets are found too.
    """
    if dataset not in EVAL_DATASETS:
        folder = Path(dataset).expanduser()
        if not folder.is_dir() and data_root and not folder.is_absolute():
            folder = Path(data_root).expanduser() / dataset
        if not folder.is_dir():
            raise HybridTuiError(
                f"no LAReQA folder {folder}; give xquad-r, mlqa-r or a folder of <lang>.json files"
            )
        return folder
    if not data_root:
        return None
    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise HybridTuiError(f"data folder {root} does not exist; {_FIX}")
    names = (EVAL_DATASETS[dataset][1], dataset)  # mlqa-dev-r is named mlqa-r upstream today
    known = set(EVAL_DATASETS) | {folder for _, folder, _ in EVAL_DATASETS.values()}
    places = [root / name for name in names]
    if root.name in names:
        places.insert(0, root)
    elif root.name in known:
        places += [root.parent / name for name in names]
    for place in places:
        if place.is_dir():
            return place
    raise HybridTuiError(f"no {dataset} data: {root / names[0]} does not exist; {_FIX}")


def load_retrieval_set(
    dataset: str,
    data_root: str | Path | None = None,
    languages: list[str] | None = None,
    max_questions: int | None = None,
    progress: ProgressFn | None = None,
    question_seed: int = 0,
) -> RetrievalSet:
    """Load `dataset` in `languages` (all of its languages when None).

    Without a local folder the files are downloaded from the LAReQA GitHub release.
    `max_questions=N` keeps a seeded random sample (`question_seed`) of N question ids drawn
    from all ids of the chosen languages; each sampled id keeps every language it exists in
    (see `sample_questions`). Candidates are never cut: the pool stays complete.
    """
    directory = resolve_lareqa_dir(dataset, data_root)
    if dataset in EVAL_DATASETS:
        name, available = dataset, list(EVAL_DATASETS[dataset][2])
    else:
        name, available = directory.name, sorted(p.stem for p in directory.glob("*.json"))
        if not available:
            raise HybridTuiError(f"{directory} holds no <lang>.json files")
    chosen = list(dict.fromkeys(languages)) if languages else available
    unknown = [lang for lang in chosen if lang not in available]
    if unknown:
        raise HybridTuiError(
            f"language {unknown[0]!r} is not in {name}; choose from {', '.join(available)}"
        )
    rset = RetrievalSet(name, chosen)
    for i, lang in enumerate(chosen):
        if progress is not None:
            progress(f"loading {name}", i, len(chosen))
        path = directory / f"{lang}.json" if directory else _download(dataset, lang)
        qs, cands, index = _parse(_read_json(path), path)
        rset.questions[lang], rset.candidates[lang], rset.answer_index[lang] = qs, cands, index
    if progress is not None:
        progress(f"loading {name}", len(chosen), len(chosen))
    if max_questions is not None:
        sample_questions(rset, max_questions, question_seed)
    return rset


def load_lareqa_pairs(
    dataset: str,
    data_root: str | Path | None = None,
    languages: list[str] | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, dict[str, tuple[str, str]]]:
    """Per language, question id -> (question, answer sentence): LAReQA as training pairs."""
    rset = load_retrieval_set(dataset, data_root, languages=languages, progress=progress)
    return {
        lang: {
            q.id: (q.text, rset.candidates[lang][rset.answer_index[lang][q.id]].text)
            for q in rset.questions[lang]
        }
        for lang in rset.languages
    }


def sample_questions(rset: RetrievalSet, n: int, seed: int = 0) -> None:
    """Keep a uniform random sample of `n` question ids (all of them when there are fewer).

    Ids are drawn from the union over languages, in sorted order, by a numpy generator seeded
    with `seed`: the same seed gives the same subset on every machine. An id keeps every
    language it exists in, so the subset has the full set's mix of fully and partly parallel
    questions (on MLQA-R a question has 2 to 4 relevant sentences in the multilingual pool);
    a rule favouring ids present in many languages would bias the multilingual figures.
    """
    ids = sorted({q.id for lang in rset.languages for q in rset.questions[lang]})
    chosen = np.random.default_rng(seed).choice(len(ids), size=min(n, len(ids)), replace=False)
    keep = {ids[i] for i in chosen}
    rset.question_seed = seed
    for lang in rset.languages:
        rset.questions[lang] = [q for q in rset.questions[lang] if q.id in keep]
        index = rset.answer_index[lang]
        rset.answer_index[lang] = {qid: k for qid, k in index.items() if qid in keep}


def _download(dataset: str, lang: str) -> Path:
    """One language file of the LAReQA release, through the `datasets` download cache."""
    url = LAREQA_URL.format(commit=LAREQA_COMMIT, folder=EVAL_DATASETS[dataset][1], lang=lang)
    try:
        from datasets import DownloadManager

        return Path(DownloadManager().download(url))
    except Exception as err:  # offline, proxy, HTTP error, missing package: all mean "no hub"
        raise HybridTuiError(
            f"could not download {dataset} ({lang}) from the hub at {url} "
            f"({type(err).__name__}); {_FIX}"
        ) from None


def _read_json(path: Path) -> object:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HybridTuiError(f"{path} is missing; {_FIX}") from None
    except OSError as err:
        raise HybridTuiError(f"cannot read {path}: {err.strerror}") from None
    try:
        return json.loads(data)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise HybridTuiError(
            f"{path}:{line}: not UTF-8 text; replace it with the LAReQA file"
        ) from None
    except RecursionError:
        raise HybridTuiError(
            f"{path}: JSON nested too deeply to read; replace it with the LAReQA file"
        ) from None
    except json.JSONDecodeError as err:
        raise HybridTuiError(
            f"{path} is not valid JSON ({err.msg} at line {err.lineno}); "
            "replace it with the LAReQA file"
        ) from None


def _parse(data: object, path: Path) -> tuple[list[Question], list[Candidate], dict[str, int]]:
    """Questions, candidates and answer sentence per question of one language file."""

    def bad(what: str) -> HybridTuiError:
        return HybridTuiError(f"{path}: {what}; replace it with the LAReQA file")

    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise bad("no 'data' list at the top level")
    questions: list[Question] = []
    candidates: list[Candidate] = []
    answer_index: dict[str, int] = {}
    paragraphs = (para for article in data["data"] for para in article.get("paragraphs") or [])
    try:
        for p, para in enumerate(paragraphs):
            where = f"paragraph {p}"
            for key in ("context", "sentences", "sentence_breaks", "qas"):
                if key not in para:
                    raise bad(f"{where} has no '{key}'")
            sentences, breaks = para["sentences"], para["sentence_breaks"]
            if len(sentences) != len(breaks):
                raise bad(f"{where} has {len(sentences)} sentences but {len(breaks)} breaks")
            base = len(candidates)
            candidates += [
                Candidate(f"{p}:{k}", str(text), para["context"])
                for k, text in enumerate(sentences)
            ]
            for qa in para["qas"]:
                qid = str(qa["id"])
                start = qa["answers"][0]["answer_start"]
                k = next((k for k, (b, e) in enumerate(breaks) if b <= start < e), None)
                if k is None:
                    raise bad(f"question {qid}: answer_start {start} is outside every sentence")
                if qid in answer_index:
                    raise bad(f"question id {qid} appears twice")
                questions.append(Question(qid, str(qa["question"])))
                answer_index[qid] = base + k
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
        raise bad(f"unexpected structure ({type(err).__name__}: {err})") from None
    if not questions:
        raise bad("it holds no questions")
    return questions, candidates, answer_index
