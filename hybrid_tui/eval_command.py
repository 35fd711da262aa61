"""`hybrid-tui eval`: evaluate a model spec, or a run's trained model, without training."""

from __future__ import annotations

import json

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import EVAL_DATASETS
from hybrid_tui.recipe import BATCH_TYPES, ModelConfig
from hybrid_tui.run_files import RunFiles


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
) -> dict:
    """Check the arguments, load data and model, score every setting; return a JSON-able dict."""
    if (model is None) == (run is None):
        raise HybridTuiError("give exactly one of --model SPEC or --run RUN_ID")
    if dataset not in EVAL_DATASETS:
        raise HybridTuiError(f"unknown dataset {dataset!r}; choose from {', '.join(EVAL_DATASETS)}")
    chosen_settings = _split(settings)
    bad = [name for name in chosen_settings if name not in BATCH_TYPES]
    if bad or not chosen_settings:
        raise HybridTuiError(f"--settings {settings!r}: use a comma list of mono, cross, multi")
    languages = _split(langs) or None
    available = EVAL_DATASETS[dataset][2]
    unknown = [lang for lang in languages or [] if lang not in available]
    if unknown:
        raise HybridTuiError(
            f"--langs: {unknown[0]!r} is not in {dataset}; choose from {', '.join(available)}"
        )
    if "multi" in chosen_settings and languages is not None and len(languages) < 2:
        raise HybridTuiError("the multi setting needs at least two --langs")
    for flag, value in (
        ("--max-questions", max_questions),
        ("--map-cutoff", map_cutoff),
        ("--batch-size", batch_size),
    ):
        if value is not None and value < 1:
            raise HybridTuiError(f"{flag} must be a positive integer (got {value})")

    from hybrid_tui.data.lareqa import load_retrieval_set
    from hybrid_tui.progress import rich_progress

    model_config, source = _model_for(model, run)
    with rich_progress(transient=True) if show_progress else _silent() as progress:
        rset = load_retrieval_set(
            dataset, data_root, languages=languages, max_questions=max_questions, progress=progress
        )
        from hybrid_tui.encoder import BiEncoder
        from hybrid_tui.evaluate import evaluate_retrieval
        from hybrid_tui.training_parts import pick_device

        encoder = BiEncoder.load(model_config, device=pick_device(device), progress=progress)
        encoder.eval()
        metrics = evaluate_retrieval(
            encoder,
            rset,
            chosen_settings,
            map_cutoff=map_cutoff,
            batch_size=batch_size,
            progress=progress,
        )
    return {
        "dataset": dataset,
        "model": source,
        "languages": rset.languages,
        "settings": chosen_settings,
        "max_questions": max_questions,
        "map_cutoff": map_cutoff,
        "metrics": metrics,
    }


def _model_for(model: str | None, run: str | None) -> tuple[ModelConfig, str]:
    """The model config of a spec, or the trained model of a run with the run's own conventions."""
    if model is not None:
        return ModelConfig(spec=model), model
    from hybrid_tui.recipe import load_recipe

    files = RunFiles.for_run(run)
    if not (files.model / "config.json").is_file():
        raise HybridTuiError(
            f"run {run} has no trained model under {files.model}; it may not have finished, "
            "or it ran from another directory (set HYBRID_TUI_HOME)"
        )
    config = load_recipe(files.recipe).model if files.recipe.is_file() else ModelConfig()
    saved = files.model / "hybrid_tui.json"
    conventions = json.loads(saved.read_text()) if saved.is_file() else {}
    update = {k: v for k, v in conventions.items() if k in ModelConfig.model_fields}
    update["spec"] = str(files.model)
    return config.model_copy(update=update), f"run:{run}"


class _silent:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
