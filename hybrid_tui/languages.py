"""Language codes of the evaluation datasets, shared by recipe validation, data and reports."""

from __future__ import annotations

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
}


def metric_dataset_name(dataset: str) -> str:
    """`xquad-r` -> `xquad_r`, the form used in MLflow metric keys."""
    return EVAL_DATASETS[dataset][0] if dataset in EVAL_DATASETS else dataset.replace("-", "_")
