"""MIRACL (monolingual retrieval over Wikipedia in 18 languages): topics, qrels and passages.

Read from a local folder in the release layout, or downloaded from the hub into the Hugging Face
cache in that same layout (`miracl/miracl` for topics and qrels, `miracl/miracl-corpus` for the
passages), so both paths are read by one parser:

    miracl-v1.0-<lang>/topics/topics.miracl-v1.0-<lang>-<split>.tsv   qid<TAB>query
    miracl-v1.0-<lang>/qrels/qrels.miracl-v1.0-<lang>-<split>.tsv     qid Q0 docid relevance
    miracl-corpus-v1.0-<lang>/docs-*.jsonl.gz                          {"docid","title","text"}

A local data root may hold these folders directly, or under `miracl/` and `miracl-corpus/`.
Every file is read and checked (missing files, an empty corpus, qrels naming documents the
corpus lacks) before a model is loaded, so bad input fails in seconds, not after an encode.
A passage is embedded as "title text", the form MIRACL's dense baselines (mDPR, mContriever)
encode.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_tui.data.text_lines import json_line, numbered_lines
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import MIRACL_LANGUAGES
from hybrid_tui.progress import ProgressFn

MIRACL_VERSION = "v1.0"
TOPICS_REPO, CORPUS_REPO = "miracl/miracl", "miracl/miracl-corpus"


@dataclass
class MiraclCorpus:
    """One language's passages: `docids[i]` is embedded as `passages[i]` ("title text").
    `fingerprint` hashes every docid, title and text, so an encode cache follows the content."""

    docids: list[str]
    passages: list[str]
    fingerprint: str


@dataclass
class MiraclSet:
    """The languages asked for, each with its judged topics and its whole corpus.

    `topics[lang]` is `[(qid, query)]` for the topics with at least one relevant judgement
    (trec_eval scores no other); `qrels[lang][qid]` maps judged docids to their grade.
    """

    languages: list[str]
    split: str
    topics: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    corpora: dict[str, MiraclCorpus] = field(default_factory=dict)
    name: str = "miracl"

    def question_counts(self) -> dict[str, int]:
        return {lang: len(self.topics[lang]) for lang in self.languages}

    def passage_counts(self) -> dict[str, int]:
        return {lang: len(self.corpora[lang].docids) for lang in self.languages}


def check_languages(languages: list[str], option: str = "--langs") -> list[str]:
    """The languages, deduplicated; one outside MIRACL's 18 is a user error naming them."""
    unknown = [lang for lang in languages if lang not in MIRACL_LANGUAGES]
    if unknown:
        raise HybridTuiError(
            f"{option}: {unknown[0]!r} is not a MIRACL language; choose from "
            f"{', '.join(MIRACL_LANGUAGES)}"
        )
    return list(dict.fromkeys(languages))


def _topics_dir(root: Path, lang: str) -> Path:
    return root / f"miracl-{MIRACL_VERSION}-{lang}"


def _corpus_dir(root: Path, lang: str) -> Path:
    return root / f"miracl-corpus-{MIRACL_VERSION}-{lang}"


def _local_roots(data_root: Path) -> tuple[Path, Path] | None:
    """(topics root, corpus root) under a data root, or None when it holds no MIRACL folder."""
    topic_roots = [data_root / "miracl", data_root]
    corpus_roots = [data_root / "miracl-corpus", data_root / "miracl", data_root]
    topics = next((r for r in topic_roots if any(r.glob(f"miracl-{MIRACL_VERSION}-*"))), None)
    corpus = next((r for r in corpus_roots if any(r.glob("miracl-corpus-*"))), None)
    if topics is None and corpus is None:
        return None
    return topics or data_root, corpus or data_root


def _local_languages(topics_root: Path) -> list[str]:
    prefix = f"miracl-{MIRACL_VERSION}-"
    found = {p.name[len(prefix) :] for p in topics_root.glob(prefix + "*") if p.is_dir()}
    return [lang for lang in MIRACL_LANGUAGES if lang in found]


def _hub_roots(languages: list[str], split: str, progress: ProgressFn | None) -> tuple[Path, Path]:
    """Download the languages' topics, qrels and corpus shards into the HF cache (once)."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:  # pragma: no cover - a dependency of the package
        raise HybridTuiError(f"downloading MIRACL needs huggingface_hub ({err})") from None
    versioned = [f"{MIRACL_VERSION}-{lang}" for lang in languages]
    topic_files = [
        f"miracl-{v}/{kind}/{kind}.miracl-{v}-{split}.tsv"
        for v in versioned
        for kind in ("topics", "qrels")
    ]
    corpus_files = [f"miracl-corpus-{v}/docs-*.jsonl.gz" for v in versioned]
    try:
        if progress is not None:
            progress("Downloading MIRACL", 0, 2)
        topics = snapshot_download(TOPICS_REPO, repo_type="dataset", allow_patterns=topic_files)
        if progress is not None:
            progress("Downloading MIRACL", 1, 2)
        corpus = snapshot_download(CORPUS_REPO, repo_type="dataset", allow_patterns=corpus_files)
        if progress is not None:
            progress("Downloading MIRACL", 2, 2)
    except Exception as err:  # network, auth, disk: one line for the user
        raise HybridTuiError(
            f"could not download MIRACL from the hub ({type(err).__name__}: {err}); "
            "check the network, or point --data-dir at a local copy in the release layout"
        ) from None
    return Path(topics), Path(corpus)


def _read_topics(path: Path) -> list[tuple[str, str]]:
    topics = []
    for number, line in numbered_lines(path):
        if not line.strip():
            continue
        qid, sep, query = line.rstrip("\r\n").partition("\t")
        if not sep or not qid or not query.strip():
            raise HybridTuiError(f"{path}:{number}: expected 'qid<TAB>query'")
        topics.append((qid, query.strip()))
    return topics


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in numbered_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4 or not parts[3].lstrip("-").isdigit():
            raise HybridTuiError(f"{path}:{number}: expected TREC qrels 'qid Q0 docid grade'")
        qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def _read_corpus(folder: Path, lang: str, progress: ProgressFn | None) -> MiraclCorpus:
    shards = sorted(folder.glob("docs-*.jsonl.gz"))
    if not shards:
        raise HybridTuiError(
            f"MIRACL {lang}: no corpus shards (docs-*.jsonl.gz) in {folder}; download "
            f"{CORPUS_REPO}'s {folder.name}/ there"
        )
    digest = hashlib.sha256()
    docids: list[str] = []
    passages: list[str] = []
    for done, shard in enumerate(shards):
        try:
            for number, line in numbered_lines(shard, gzipped=True):
                if not line.strip():
                    continue
                row = json_line(line, f"{shard}:{number}")
                try:
                    docid, title, text = row["docid"], row.get("title", ""), row["text"]
                except (KeyError, TypeError, AttributeError):
                    raise HybridTuiError(
                        f"{shard}:{number}: expected a JSON object with docid, title, text"
                    ) from None
                docids.append(str(docid))
                passages.append(f"{title} {text}".strip() if title else str(text))
                digest.update(f"{docid}\0{title}\0{text}\0".encode())
        except (OSError, EOFError) as err:
            raise HybridTuiError(f"{shard}: not a readable gzip file ({err})") from None
        if progress is not None:
            progress(f"Reading MIRACL {lang} corpus", done + 1, len(shards))
    if not docids:
        raise HybridTuiError(f"MIRACL {lang}: the corpus in {folder} has no passages")
    return MiraclCorpus(docids, passages, digest.hexdigest())


def _load_language(
    lang: str, split: str, topics_root: Path, corpus_root: Path, progress: ProgressFn | None
) -> tuple[list[tuple[str, str]], dict[str, dict[str, int]], MiraclCorpus]:
    versioned = f"{MIRACL_VERSION}-{lang}"
    base = _topics_dir(topics_root, lang)
    files = {
        kind: base / kind / f"{kind}.miracl-{versioned}-{split}.tsv" for kind in ("topics", "qrels")
    }
    for kind, path in files.items():
        if not path.is_file():
            raise HybridTuiError(
                f"MIRACL {lang}: {kind} file {path} is missing; download it from "
                f"{TOPICS_REPO} or point --data-dir at a folder in the release layout"
            )
    corpus_folder = _corpus_dir(corpus_root, lang)
    if not corpus_folder.is_dir():
        raise HybridTuiError(
            f"MIRACL {lang}: corpus folder {corpus_folder} is missing; download {CORPUS_REPO}'s "
            f"{corpus_folder.name}/ there"
        )
    topics, qrels = _read_topics(files["topics"]), _read_qrels(files["qrels"])
    corpus = _read_corpus(corpus_folder, lang, progress)
    known = set(corpus.docids)
    unknown = sorted({d for judged in qrels.values() for d in judged if d not in known})
    if unknown:
        raise HybridTuiError(
            f"{files['qrels']}: {len(unknown)} judged document(s) are not in the {lang} corpus "
            f"(first {unknown[0]!r}); the qrels and corpus must come from the same release"
        )
    judged = [
        (qid, text) for qid, text in topics if any(g > 0 for g in qrels.get(qid, {}).values())
    ]
    if not judged:
        raise HybridTuiError(
            f"{files['topics']}: no topic has a relevant document in {files['qrels'].name}"
        )
    return judged, qrels, corpus


def load_miracl(
    data_root: str | Path | None,
    languages: list[str] | None = None,
    split: str = "dev",
    progress: ProgressFn | None = None,
    languages_option: str = "--langs",
) -> MiraclSet:
    """MIRACL's `split` for `languages`, from a local data root or (without one) the hub.

    Without languages a local root gives every language it holds; the hub needs them listed,
    since MIRACL's 18 corpora together are over 100 M passages.
    """
    languages = check_languages(list(languages or []), languages_option)
    if data_root is not None:
        roots = _local_roots(Path(data_root))
        if roots is None:
            raise HybridTuiError(
                f"no MIRACL release under {data_root} (expected miracl-{MIRACL_VERSION}-<lang>/ "
                f"and miracl-corpus-{MIRACL_VERSION}-<lang>/, directly or under miracl/); point "
                "--data-dir at it, or unset --data-dir and HYBRID_TUI_DATA to use the hub"
            )
        languages = languages or _local_languages(roots[0])
        if not languages:
            raise HybridTuiError(f"no MIRACL language folder under {roots[0]}")
    elif not languages:
        raise HybridTuiError(
            f"{languages_option}: list the MIRACL languages to download (e.g. sw,th); "
            f"choose from {', '.join(MIRACL_LANGUAGES)}"
        )
    else:
        roots = _hub_roots(languages, split, progress)
    mset = MiraclSet(languages=languages, split=split)
    for lang in languages:
        topics, qrels, corpus = _load_language(lang, split, *roots, progress)
        mset.topics[lang], mset.qrels[lang], mset.corpora[lang] = topics, qrels, corpus
    return mset
