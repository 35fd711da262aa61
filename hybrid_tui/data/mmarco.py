"""mMARCO's parallel training triples (Bonifacio et al. 2021): MS MARCO's (query, positive, BM25
negative) triples machine-translated, the same triple in every language.

The hub repository `unicamp-dl/mmarco` (and a local copy of it) holds, per language name,
`data/google/queries/train/<name>_queries.train.tsv` (`qid\\ttext`) and
`data/google/collections/<name>_collection.tsv` (`pid\\ttext`), and one id file shared by all
languages, `data/triples.train.ids.small.tsv` (`qid\\tpositive pid\\tnegative pid`). Row i of the
id file is one parallel item: its query, positive and negative in each language. Only the ids the
first `data.max_items` triples name are kept while the files stream by, so memory follows the
items used, not the 8.8 M-passage collections. The paper's 7 languages are the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hybrid_tui.data.text_lines import numbered_lines
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.progress import ProgressFn

HUB_ID = "unicamp-dl/mmarco"
LANGUAGE_NAMES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "vi": "vietnamese",
    "zh": "chinese",
}
PAPER_LANGUAGES = ("en", "ar", "zh", "de", "es", "ru", "hi")
TRIPLES = "data/triples.train.ids.small.tsv"


def queries_file(lang: str) -> str:
    return f"data/google/queries/train/{LANGUAGE_NAMES[lang]}_queries.train.tsv"


def collection_file(lang: str) -> str:
    return f"data/google/collections/{LANGUAGE_NAMES[lang]}_collection.tsv"


def mmarco_rows(
    dataset: str,
    languages: list[str],
    max_items: int | None,
    data_root: str | Path | None,
    progress: ProgressFn | None = None,
) -> Iterator[tuple[str, str, str, str, str, tuple[str, ...]]]:
    """(where, id, lang, query, positive, (negative,)) rows of the first `max_items` triples."""
    languages = languages or list(PAPER_LANGUAGES)
    unknown = [lang for lang in languages if lang not in LANGUAGE_NAMES]
    if unknown:
        raise HybridTuiError(
            f"data.languages: mMARCO has no {unknown[0]!r}; choose from "
            f"{', '.join(sorted(LANGUAGE_NAMES))}"
        )
    if not max_items:
        raise HybridTuiError(
            "data.max_items: set how many mMARCO triples to train on (e.g. 100000); "
            "it has 39.8 M, too many to hold in memory"
        )
    fetch = _local_files(dataset, data_root) or _hub_files(dataset)
    triples = _read_triples(fetch(TRIPLES), max_items)
    qids = {q for q, _, _ in triples}
    pids = {p for _, pos, neg in triples for p in (pos, neg)}
    for done, lang in enumerate(languages):
        if progress is not None:
            progress(f"Reading mMARCO {lang}", done, len(languages))
        queries = _read_texts(fetch(queries_file(lang)), qids)
        passages = _read_texts(fetch(collection_file(lang)), pids)
        for row, (qid, pos, neg) in enumerate(triples):
            where = f"mMARCO {lang} triple {row}"
            for name, table, key in (
                ("query", queries, qid),
                ("passage", passages, pos),
                ("passage", passages, neg),
            ):
                if key not in table:
                    raise HybridTuiError(
                        f"{where}: {name} id {key} is not in the {lang} {name} file; the files "
                        "do not belong together (use one release of mMARCO)"
                    )
            yield where, str(row), lang, queries[qid], passages[pos], (passages[neg],)
    if progress is not None:
        progress("Reading mMARCO", len(languages), len(languages))


def _local_files(dataset: str, data_root):
    """A fetcher for a local copy of the repository, or None when `dataset` is not a folder."""
    for base in (Path(dataset).expanduser(), Path(data_root or ".").expanduser() / dataset):
        if base.is_dir():

            def fetch(name: str, base: Path = base) -> Path:
                path = base / name
                if not path.is_file():
                    raise HybridTuiError(
                        f"{path}: missing; a local mMARCO copy needs the hub layout ({name})"
                    )
                return path

            return fetch
    return None


def _hub_files(dataset: str):
    """A fetcher downloading single files from the hub repository (`unicamp-dl/mmarco`)."""

    def fetch(name: str) -> Path:
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(dataset, name, repo_type="dataset"))
        except Exception as err:  # offline, unknown repository or file
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise HybridTuiError(
                f"could not fetch {name} of {dataset!r} from the hub ({type(err).__name__}: "
                f"{first}); check the network, or give data.dataset a local folder in its layout"
            ) from None

    return fetch


def _read_triples(path: Path, limit: int) -> list[tuple[str, str, str]]:
    triples = []
    for number, line in numbered_lines(path):
        if len(triples) == limit:
            break
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) != 3:
            raise HybridTuiError(
                f"{path}:{number}: expected qid, positive pid, negative pid (3 tab-separated "
                f"ids), got {len(parts)} field(s)"
            )
        triples.append((parts[0], parts[1], parts[2]))
    return triples


def _read_texts(path: Path, wanted: set[str]) -> dict[str, str]:
    """`id -> text` for the wanted ids of an `id\\ttext` file, read as it streams by."""
    found = {}
    for _, line in numbered_lines(path):
        key, _, text = line.rstrip("\r\n").partition("\t")
        if key in wanted:
            found[key] = text
            if len(found) == len(wanted):
                break
    return found
