"""Language codes of the evaluation datasets, shared by recipe validation, data and reports."""

from __future__ import annotations

from collections.abc import Iterable

XQUAD_R_LANGUAGES: tuple[str, ...] = (
    "ar",
    "de",
    "el",
    "en",
    "es",
    "hi",
    "ru",
    "th",
    "tr",
    "vi",
    "zh",
)
MLQA_R_LANGUAGES: tuple[str, ...] = ("ar", "de", "en", "es", "hi", "vi", "zh")
# MIRACL v1.0 (monolingual; its own loader and scoring, so not in EVAL_DATASETS).
MIRACL = "miracl"
MIRACL_LANGUAGES: tuple[str, ...] = (
    "ar",
    "bn",
    "de",
    "en",
    "es",
    "fa",
    "fi",
    "fr",
    "hi",
    "id",
    "ja",
    "ko",
    "ru",
    "sw",
    "te",
    "th",
    "yo",
    "zh",
)

# OpenAI's MMMLU (MMLU's test set translated; English from cais/mmlu): our code -> the hub's
# file tag (`test/mmlu_DE-DE.csv`). English has no MMMLU file: its local copy uses `EN-US`.
MMMLU = "mmmlu"
MMMLU_FILE_TAGS: dict[str, str] = {
    "en": "EN-US",
    "ar": "AR-XY",
    "bn": "BN-BD",
    "de": "DE-DE",
    "es": "ES-LA",
    "fr": "FR-FR",
    "hi": "HI-IN",
    "id": "ID-ID",
    "it": "IT-IT",
    "ja": "JA-JP",
    "ko": "KO-KR",
    "pt": "PT-BR",
    "sw": "SW-KE",
    "yo": "YO-NG",
    "zh": "ZH-CN",
}
MMMLU_LANGUAGES: tuple[str, ...] = tuple(MMMLU_FILE_TAGS)
MMMLU_OPTIONS = 4  # answer options per question: chance is one in four

# Dataset name as users write it -> (metric-key name, folder name in the LAReQA release, languages).
EVAL_DATASETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "xquad-r": ("xquad_r", "xquad-r", XQUAD_R_LANGUAGES),
    "mlqa-r": ("mlqa_r", "mlqa-dev-r", MLQA_R_LANGUAGES),
}

LANGUAGE_NAMES: dict[str, str] = {
    "ar": "Arabic",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "hi": "Hindi",
    "ru": "Russian",
    "th": "Thai",
    "tr": "Turkish",
    "vi": "Vietnamese",
    "zh": "Chinese",
    "bn": "Bengali",
    "fr": "French",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "pt": "Portuguese",
    "sw": "Swahili",
    "yo": "Yoruba",
}


def metric_dataset_name(dataset: str) -> str:
    """`xquad-r` -> `xquad_r`, the form used in MLflow metric keys."""
    return EVAL_DATASETS[dataset][0] if dataset in EVAL_DATASETS else dataset.replace("-", "_")


def unseen_languages(trained: Iterable[str], evaluated: Iterable[str]) -> tuple[str, ...]:
    """The evaluated languages a run never trained on (zero-shot languages, marked in tables).

    Nothing is marked when the training languages are unknown (an untrained baseline, a run
    from before they were recorded): an empty mark means "not known", never "all unseen".
    """
    trained_set = {lang for lang in trained if lang}
    if not trained_set:
        return ()
    return tuple(lang for lang in evaluated if lang not in trained_set)


def trained_languages(tags: dict[str, str]) -> list[str]:
    """A run's training languages, from the tag the trainer sets."""
    return [lang for lang in tags.get("hybrid_tui.train_languages", "").split(",") if lang]
