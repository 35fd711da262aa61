"""`hybrid-tui eval`: evaluate a model spec, or a run's trained model, without training.

A run's model is its saved folder, and a folder carries its own conventions (prefixes, pooling,
lengths), so `--run RUN_ID` and `--model <that folder>` are the same evaluation; options given
on the command line override the model's conventions and are reported with the result.
"""

from __future__ import annotations

from pydantic import ValidationError

from hybrid_tui.command_name import command
from hybrid_tui.data.miracl import check_languages
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.evaluation.lareqa import evaluate_model, load_eval_sets, question_counts
from hybrid_tui.languages import EVAL_DATASETS, MIRACL, MMMLU, MMMLU_LANGUAGES
from hybrid_tui.progress import rich_progress
from hybrid_tui.recipe import BATCH_TYPES, EvalConfig, ModelConfig
from hybrid_tui.runs.files import RunFiles, local_run_id


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def run_eval(
    dataset: str,
    model: str | None,
    run: str | None,
    data_root: str | None,
    langs: str | None,
    settings: str,
    max_questions: int | None,
    map_cutoff: int | None,
    batch_size: int,
    device: str,
    show_progress: bool,
    question_seed: int = 0,
    overrides: dict | None = None,
    subjects: str | None = None,
) -> dict:
    """Check the arguments, load data and model, score every setting; return a JSON-able dict.

    `overrides`: `ModelConfig` fields given explicitly (e.g. `max_query_length`); `None` values
    are ignored.
    """
    if (model is None) == (run is None):
        raise HybridTuiError("give exactly one of --model SPEC or --run RUN_ID")
    if langs is not None and not _split(langs):  # '' is not "all": that is leaving it out
        raise HybridTuiError(
            f"--langs {langs!r} names no language: give some (--langs en,de) or leave it out "
            "for all"
        )
    if subjects is not None and dataset != MMMLU:
        raise HybridTuiError(
            f"--subjects applies to --dataset mmmlu only; leave it out for {dataset}"
        )
    if dataset == MIRACL:
        chosen_settings, languages = _miracl_options(langs, max_questions, map_cutoff)
    elif dataset == MMMLU:
        chosen_settings, languages = _mmmlu_options(langs, settings, map_cutoff, subjects)
    else:
        chosen_settings, languages = _lareqa_options(dataset, langs, settings)
    for flag, value in (
        ("--max-questions", max_questions),
        ("--map-cutoff", map_cutoff),
        ("--batch-size", batch_size),
    ):
        if value is not None and value < 1:
            raise HybridTuiError(f"{flag} must be a positive integer (got {value})")
    if question_seed < 0:
        raise HybridTuiError(f"--question-seed must be 0 or more (got {question_seed})")
    config = EvalConfig(
        datasets=[dataset],
        languages=list(dict.fromkeys(languages)),
        settings=chosen_settings,
        max_questions=max_questions,
        question_seed=question_seed,
        map_cutoff=map_cutoff,
        batch_size=batch_size,
    )
    model_config, source = _model_for(model, run, overrides or {})
    if dataset == MMMLU:
        return _run_mmmlu(
            config, _split(subjects), model_config, source, data_root, device, show_progress
        )

    with rich_progress(transient=True) if show_progress else _silent() as progress:
        eval_sets = load_eval_sets(config, data_root, progress, languages_option="--langs")
        from hybrid_tui.devices import pick_device
        from hybrid_tui.models.encoder import BiEncoder

        encoder = BiEncoder.load(model_config, device=pick_device(device), progress=progress)
        metrics = evaluate_model(encoder, eval_sets, config, progress=progress)
    result = {
        "dataset": dataset,
        "model": source,
        "languages": eval_sets[0].languages,
        "settings": chosen_settings,
        "max_questions": max_questions,
        "question_seed": question_seed if max_questions else None,
        "questions": question_counts(eval_sets)[eval_sets[0].name],
        "map_cutoff": map_cutoff,
        "conventions": encoder.conventions.as_dict(),
        "metrics": metrics,
    }
    if dataset == MIRACL:
        result |= {"split": eval_sets[0].split, "passages": eval_sets[0].passage_counts()}
    return result


def _lareqa_options(dataset: str, langs: str | None, settings: str) -> tuple[list[str], list[str]]:
    """The settings and languages asked of an XQuAD-R / MLQA-R evaluation, checked."""
    if dataset not in EVAL_DATASETS:
        names = ", ".join([*EVAL_DATASETS, MIRACL, MMMLU])
        raise HybridTuiError(f"unknown dataset {dataset!r}; choose from {names}")
    chosen_settings = _split(settings)
    bad = [name for name in chosen_settings if name not in BATCH_TYPES]
    if bad or not chosen_settings:
        raise HybridTuiError(f"--settings {settings!r}: use a comma list of mono, cross, multi")
    languages = _split(langs)
    available = EVAL_DATASETS[dataset][2]
    unknown = [lang for lang in languages if lang not in available]
    if unknown:
        raise HybridTuiError(
            f"--langs: {unknown[0]!r} is not in {dataset}; choose from {', '.join(available)}"
        )
    return chosen_settings, languages


def _miracl_options(
    langs: str | None, max_questions: int | None, map_cutoff: int | None
) -> tuple[list[str], list[str]]:
    """MIRACL is monolingual, scored on every judged topic: the options that do not apply are
    refused rather than ignored."""
    for flag, value in (("--max-questions", max_questions), ("--map-cutoff", map_cutoff)):
        if value is not None:
            raise HybridTuiError(
                f"{flag} does not apply to --dataset miracl (nDCG@10 and Recall@100 over every "
                "judged topic); leave it out"
            )
    return ["mono"], check_languages(_split(langs))


def _mmmlu_options(
    langs: str | None, settings: str, map_cutoff: int | None, subjects: str | None
) -> tuple[list[str], list[str]]:
    """MMMLU is scored by accuracy (no ranking cutoff); languages are its 15, subjects MMLU's."""
    if map_cutoff is not None:
        raise HybridTuiError(
            "--map-cutoff does not apply to --dataset mmmlu (accuracy of the picked option); "
            "leave it out"
        )
    if subjects is not None and not _split(subjects):
        raise HybridTuiError(
            f"--subjects {subjects!r} names no subject: give some (--subjects astronomy) or "
            "leave it out for all"
        )
    chosen_settings = _split(settings)
    if not chosen_settings or any(name not in BATCH_TYPES for name in chosen_settings):
        raise HybridTuiError(f"--settings {settings!r}: use a comma list of mono, cross, multi")
    languages = _split(langs)
    unknown = [lang for lang in languages if lang not in MMMLU_LANGUAGES]
    if unknown:
        raise HybridTuiError(
            f"--langs: {unknown[0]!r} is not in mmmlu; choose from {', '.join(MMMLU_LANGUAGES)}"
        )
    if languages and len(set(languages)) < 2 and {"cross", "multi"} & set(chosen_settings):
        raise HybridTuiError(
            "--langs keeps one language; cross and multi need at least two: list more, or "
            "use --settings mono"
        )
    return chosen_settings, languages


def _run_mmmlu(
    config: EvalConfig,
    subjects: list[str],
    model_config: ModelConfig,
    source: str,
    data_root: str | None,
    device: str,
    show_progress: bool,
) -> dict:
    """Load MMMLU and the model, pick options in every setting: the eval command's result."""
    from hybrid_tui.data.mmmlu import load_mmmlu
    from hybrid_tui.evaluation.mmmlu import evaluate_mmmlu

    with rich_progress(transient=True) if show_progress else _silent() as progress:
        items = load_mmmlu(
            data_root,
            config.languages or None,
            subjects=subjects or None,
            max_questions=config.max_questions,
            question_seed=config.question_seed,
            progress=progress,
        )
        from hybrid_tui.devices import pick_device
        from hybrid_tui.models.encoder import BiEncoder

        encoder = BiEncoder.load(model_config, device=pick_device(device), progress=progress)
        encoder.eval()
        scored = evaluate_mmmlu(
            encoder, items, config.settings, batch_size=config.batch_size, progress=progress
        )
    return {
        "dataset": MMMLU,
        "model": source,
        "languages": items.languages,
        "settings": config.settings,
        "subjects": subjects or None,
        "max_questions": config.max_questions,
        "question_seed": config.question_seed if config.max_questions else None,
        "questions": items.question_counts(),
        "conventions": encoder.conventions.as_dict(),
        "chance": scored.chance,
        "metrics": scored.metrics,
        "per_subject": scored.subjects,
    }


def _model_for(model: str | None, run: str | None, overrides: dict) -> tuple[ModelConfig, str]:
    """The model to load: a spec, or a run's saved folder (which carries its own conventions)."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    try:
        ModelConfig(**chosen)
    except ValidationError as err:
        from hybrid_tui.recipe import describe_validation_error

        field, _, message = describe_validation_error(err).partition(":")
        raise HybridTuiError(f"--{field.replace('_', '-')}:{message}") from None
    if model is not None:
        return ModelConfig(spec=model, **chosen), model
    files = RunFiles.for_run(local_run_id(run))
    if not (files.model / "config.json").is_file():
        resume = command(f"train --resume {files.run_id[:8]}")
        raise HybridTuiError(
            f"run {files.run_id} has no trained model under {files.model}: it has not finished "
            f"(a KILLED or FAILED run continues with `{resume}`)"
        )
    return ModelConfig(spec=str(files.model), **chosen), f"run:{files.run_id}"


class _silent:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
