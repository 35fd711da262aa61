"""OpenAI's MMMLU as parallel multiple-choice items: MMLU's test set in several languages.

The hub layout (`openai/MMMLU`) is one CSV per language, `test/mmlu_<TAG>.csv` (`mmlu_DE-DE.csv`),
with an unnamed row-number column, then Question, A, B, C, D, Answer (a letter), Subject. English
is not in it: it comes from `cais/mmlu`'s test split ("all"), written in the same layout as
`test/mmlu_EN-US.csv`. A local copy is a folder holding `test/` (given as `--data-dir`, or its
`mmmlu/` subfolder); without one the files are fetched from the hub into `<data-dir>/mmmlu`.

The translations carry no question id, so items are parallel by row: row i of every file is the
same question. Alignment is checked, not assumed: every file must have the same number of rows,
and row i must name the same Subject and the same Answer letter in every language (a shifted or
shortened file fails on its first differing row, named `file:line`).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from pathlib import Path

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import MMMLU, MMMLU_FILE_TAGS, MMMLU_LANGUAGES
from hybrid_tui.progress import ProgressFn

COLUMNS = ("Question", "A", "B", "C", "D", "Answer", "Subject")
OPTION_COLUMNS = ("A", "B", "C", "D")
HUB_REPO = "openai/MMMLU"
ENGLISH_HUB_REPO = "cais/mmlu"


@dataclass(frozen=True)
class ChoiceItem:
    """One question in one language: its text, four options and the right option's index."""

    row: int
    question: str
    options: tuple[str, str, str, str]
    answer: int
    subject: str


@dataclass
class MultipleChoiceSet:
    """Parallel items: `items[lang][i]` is the same question in every language."""

    name: str
    languages: list[str]
    items: dict[str, list[ChoiceItem]]

    def question_counts(self) -> dict[str, int]:
        return {lang: len(self.items[lang]) for lang in self.languages}

    @property
    def subjects(self) -> list[str]:
        return [item.subject for item in self.items[self.languages[0]]]


def file_name(lang: str) -> str:
    """`test/mmlu_DE-DE.csv`: where a language's file sits in the hub layout."""
    return f"test/mmlu_{MMMLU_FILE_TAGS[lang]}.csv"


def subject_name(raw: str) -> str:
    """MMLU's subject (`abstract_algebra`): some hub files carry the source file's name after it
    (`abstract_algebra_test.csv_zh-CN.csv`), which would break alignment across languages."""
    return raw.strip().split("_test.csv", 1)[0]


def mmmlu_folder(data_root: str | Path | None) -> Path | None:
    """The local copy: `data_root` itself when it holds `test/`, else its `mmmlu/`; None when
    neither has one (the data is then fetched from the hub)."""
    if data_root is None:
        return None
    root = Path(data_root)
    for folder in (root, root / MMMLU):
        if (folder / "test").is_dir():
            return folder
    return None


def read_language_file(path: Path) -> list[ChoiceItem]:
    """The rows of one language's CSV; a missing column or a bad Answer names `file:line`."""
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as err:
        raise HybridTuiError(f"{path}: cannot read ({err.strerror})") from None
    items: list[ChoiceItem] = []
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            missing = [column for column in COLUMNS if column not in header]
            if missing:
                raise HybridTuiError(
                    f"{path}:1: no {missing[0]!r} column; an MMMLU file has the columns "
                    f"{', '.join(COLUMNS)}"
                )
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if any(row.get(column) is None for column in COLUMNS):
                    raise HybridTuiError(
                        f"{where}: the row has fewer fields than the header; each row needs "
                        f"{', '.join(COLUMNS)}"
                    )
                answer = row["Answer"].strip().upper()
                if answer not in OPTION_COLUMNS:
                    raise HybridTuiError(
                        f"{where}: Answer is {row['Answer']!r}; it must be one of A, B, C, D"
                    )
                options = tuple(row[column] for column in OPTION_COLUMNS)
                items.append(
                    ChoiceItem(
                        len(items),
                        row["Question"],
                        options,  # type: ignore[arg-type]
                        OPTION_COLUMNS.index(answer),
                        subject_name(row["Subject"]),
                    )
                )
        except UnicodeDecodeError:
            raise HybridTuiError(
                f"{path}:{reader.line_num + 1}: not UTF-8 text; save the file as UTF-8"
            ) from None
        except csv.Error as err:
            raise HybridTuiError(f"{path}:{reader.line_num}: not valid CSV ({err})") from None
    return items


def check_alignment(files: dict[str, Path], items: dict[str, list[ChoiceItem]]) -> None:
    """Row i must be the same question everywhere: equal row counts, and per row the same
    Subject and Answer letter as the first language's file."""
    langs = list(items)
    first = langs[0]
    for lang in langs[1:]:
        if len(items[lang]) != len(items[first]):
            raise HybridTuiError(
                f"{files[lang]}: {len(items[lang])} questions but {files[first]} has "
                f"{len(items[first])}; MMMLU files are parallel by row, so use complete files"
            )
        for mine, theirs in zip(items[lang], items[first], strict=True):
            if mine.subject != theirs.subject or mine.answer != theirs.answer:
                raise HybridTuiError(
                    f"{files[lang]}: row {mine.row + 1} ({mine.subject}, answer "
                    f"{OPTION_COLUMNS[mine.answer]}) is not row {theirs.row + 1} of "
                    f"{files[first]} ({theirs.subject}, answer {OPTION_COLUMNS[theirs.answer]}); "
                    "the files are not parallel by row"
                )


def load_mmmlu(
    data_root: str | Path | None,
    languages: list[str] | None = None,
    subjects: list[str] | None = None,
    max_questions: int | None = None,
    question_seed: int = 0,
    progress: ProgressFn | None = None,
) -> MultipleChoiceSet:
    """The parallel items in `languages`, kept to `subjects`, and to a seeded sample of
    `max_questions` rows (the same rows in every language). Without `languages`: every language
    a local copy holds, or all of MMMLU's from the hub."""
    chosen = list(dict.fromkeys(languages or MMMLU_LANGUAGES))
    unknown = [lang for lang in chosen if lang not in MMMLU_FILE_TAGS]
    if unknown:
        raise HybridTuiError(
            f"{unknown[0]!r} is not an MMMLU language; choose from {', '.join(MMMLU_LANGUAGES)}"
        )
    folder = mmmlu_folder(data_root)
    if folder is None:
        folder = fetch_from_hub(data_root, chosen, progress)
    elif not languages:  # a local copy without a language list: the languages it holds
        chosen = [lang for lang in chosen if (folder / file_name(lang)).is_file()]
        if not chosen:
            raise HybridTuiError(
                f"{folder / 'test'} holds no MMMLU file (test/mmlu_<TAG>.csv, e.g. "
                f"{file_name('de')}); put the hub's files there"
            )
    files = {lang: folder / file_name(lang) for lang in chosen}
    for lang, path in files.items():
        if not path.is_file():
            raise HybridTuiError(
                f"{path} is missing: the MMMLU copy in {folder} has no {lang} file; add it "
                f"(hub file {file_name(lang)}) or leave {lang} out of the languages"
            )
    items: dict[str, list[ChoiceItem]] = {}
    for done, (lang, path) in enumerate(files.items()):
        if progress is not None:
            progress("Reading MMMLU", done, len(files))
        items[lang] = read_language_file(path)
    check_alignment(files, items)
    rows = list(range(len(items[chosen[0]])))
    if subjects:
        present = {items[chosen[0]][row].subject for row in rows}
        absent = [name for name in subjects if name not in present]
        if absent:
            raise HybridTuiError(
                f"--subjects: {absent[0]!r} is not a subject of this copy; choose from "
                f"{', '.join(sorted(present))}"
            )
        rows = [row for row in rows if items[chosen[0]][row].subject in set(subjects)]
    if max_questions is not None and max_questions < len(rows):
        rows = sorted(random.Random(question_seed).sample(rows, max_questions))
    if not rows:
        raise HybridTuiError(f"{folder}: the MMMLU files hold no questions")
    kept = {lang: [items[lang][row] for row in rows] for lang in chosen}
    return MultipleChoiceSet(MMMLU, chosen, kept)


def fetch_from_hub(
    data_root: str | Path | None, languages: list[str], progress: ProgressFn | None = None
) -> Path:
    """Download the languages' files from the hub into `<data_root>/mmmlu` (the cache when no
    root is given), English converted from `cais/mmlu`, in the local layout; return the folder."""
    from hybrid_tui.paths import cache_dir

    folder = (Path(data_root) if data_root else cache_dir() / "data") / MMMLU
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise HybridTuiError(
            "fetching MMMLU needs huggingface_hub (pip install huggingface_hub), or give "
            "--data-dir with a local copy"
        ) from None
    try:
        (folder / "test").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HybridTuiError(
            f"no MMMLU copy found and {folder} cannot be created to fetch one ({err.strerror}); "
            "give --data-dir with a local copy (test/mmlu_<TAG>.csv files)"
        ) from None
    for done, lang in enumerate(languages):
        if progress is not None:
            progress("Fetching MMMLU", done, len(languages))
        target = folder / file_name(lang)
        if target.is_file():
            continue
        try:
            if lang == "en":
                _write_english(target)
            else:
                hf_hub_download(
                    HUB_REPO, file_name(lang), repo_type="dataset", local_dir=str(folder)
                )
        except HybridTuiError:
            raise
        except Exception as err:  # network, auth or hub errors: one line, with the way out
            raise HybridTuiError(
                f"could not fetch MMMLU {lang} from the hub ({type(err).__name__}); give "
                "--data-dir with a local copy (test/mmlu_<TAG>.csv files)"
            ) from None
    return folder


def _write_english(target: Path) -> None:
    """`cais/mmlu`'s test split ("all") in MMMLU's CSV layout, written atomically."""
    try:
        from datasets import load_dataset
    except ImportError:
        raise HybridTuiError(
            "fetching MMMLU's English needs the datasets package (pip install datasets), or "
            f"put {file_name('en')} in a local copy"
        ) from None
    from hybrid_tui.atomic_files import atomic_write_text

    split = load_dataset(ENGLISH_HUB_REPO, "all", split="test")
    lines: list[list[str]] = [["", *COLUMNS]]
    for number, row in enumerate(split):
        lines.append(
            [
                str(number),
                row["question"],
                *row["choices"],
                OPTION_COLUMNS[row["answer"]],
                row["subject"],
            ]
        )
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(lines)
    atomic_write_text(target, text.getvalue())
