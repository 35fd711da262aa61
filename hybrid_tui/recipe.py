"""The `Recipe`: everything a training run needs, validated, loaded from and saved to TOML.

A recipe is the single description of a run. The TUI edits one, the CLI reads one, the trainer
receives one, and MLflow stores one (as flat params and as a TOML artifact). Every validation error
becomes one line naming the field and how to fix it.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hybrid_tui.atomic_files import atomic_write_text
from hybrid_tui.errors import HybridTuiError
from hybrid_tui.languages import EVAL_DATASETS, MIRACL, MIRACL_LANGUAGES, MMMLU, MMMLU_LANGUAGES
from hybrid_tui.paths import resolve_tracking_uri
from hybrid_tui.tag_rule import tag_problem

BATCH_TYPES: tuple[str, ...] = ("mono", "cross", "multi")
# Upper bounds no real run reaches: a typo (an extra digit, a pasted number) is refused at once
# instead of starting a run that would never end or never log a step.
MAX_STEPS = 10_000_000
MAX_ITEMS = 1_000_000_000
MAX_BATCH = 65_536
MAX_WEIGHT = 1_000_000  # mix weights are relative; a huge one overflows their sum
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_QUESTIONS = 10_000_000
OVERRIDES_TAG = "hybrid_tui.overrides"
# Reserved tags hybrid-tui itself puts in `tracking.tags` (the `--set` record; a study's labels,
# `study.recipe_for`): a recipe it saved carries them and must load again.
RECIPE_OWN_TAGS = frozenset(
    {
        OVERRIDES_TAG,
        "hybrid_tui.study",
        "hybrid_tui.study_method",
        "hybrid_tui.study_seed",
        "hybrid_tui.study_alpha",
    }
)


class _Section(BaseModel):
    # inf/nan would pass `ge=0` checks (`mono = inf` makes every weight nan): refuse them
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class ModelConfig(_Section):
    """Which encoder, and how texts become vectors. `None` means: the model's own convention
    (what a saved hybrid-tui folder was trained with, else the model family's, else mean pooling,
    normalised, no prefixes, 64/128 tokens); see `models.conventions.resolve_conventions`."""

    spec: str = Field("e5-small-offline", min_length=1)
    pooling: Literal["mean", "cls"] | None = None
    normalize: bool | None = None
    query_prefix: str | None = None
    passage_prefix: str | None = None
    max_query_length: int | None = Field(None, ge=8, le=8192)
    max_passage_length: int | None = Field(None, ge=8, le=8192)
    freeze_embeddings: bool = False
    # pack the batch's real tokens (no padding) through BERT/RoBERTa/XLM-R models; auto = where
    # the architecture is supported, true = refuse other architectures (hybrid_tui.models.padding_free.forward)
    padding_free: Literal["auto"] | bool = "auto"

    @field_validator("padding_free", mode="before")
    @classmethod
    def _padding_free(cls, value: object) -> object:
        if value == "auto" or isinstance(value, bool):
            return value
        raise ValueError('padding_free must be "auto", true or false')


class DataSource(_Section):
    """One dataset of a recipe that trains on several (`[[data.sources]]`)."""

    name: str = ""  # its label in the run (default: the file's stem or the dataset id)
    source: Literal["lareqa", "jsonl", "hub", "mmarco"] = "lareqa"
    dataset: str = Field(min_length=1)
    split: str = "train"
    languages: list[str] = Field(default_factory=list)
    max_items: int | None = Field(None, ge=2, le=MAX_ITEMS)

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        return _check_language_codes(value)

    @property
    def label(self) -> str:
        return self.name or Path(self.dataset).stem or self.dataset


class DataConfig(_Section):
    """Training pairs. `dataset` is a LAReQA name (`mlqa-r`, `xquad-r`) or folder for `lareqa`,
    a file for `jsonl`, a dataset id for `hub`. With `[[data.sources]]` the recipe trains on
    several datasets instead: each batch comes from one of them, chosen uniformly or in
    proportion to its size (`source_weighting`), and the mix applies within it."""

    source: Literal["lareqa", "jsonl", "hub", "mmarco"] = "lareqa"
    dataset: str = Field("mlqa-r", min_length=1)
    split: str = "train"
    languages: list[str] = Field(default_factory=list)
    max_items: int | None = Field(None, ge=2, le=MAX_ITEMS)
    # Hard negatives per query from the rows' `negatives` (0: in-batch negatives only).
    hard_negatives: int = Field(0, ge=0, le=64)
    sources: list[DataSource] = Field(default_factory=list)
    source_weighting: Literal["uniform", "size"] = "size"

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        return _check_language_codes(value)

    @model_validator(mode="after")
    def _one_way_to_name_the_data(self) -> DataConfig:
        if not self.sources:
            return self
        defaults = {"source": "lareqa", "dataset": "mlqa-r", "split": "train", "languages": []}
        defaults["max_items"] = None
        given = sorted(k for k, default in defaults.items() if getattr(self, k) != default)
        if given:
            raise ValueError(
                f"data.{given[0]} and [[data.sources]] both name training data; move it into "
                "the sources (each source has its own source, dataset, split, languages)"
            )
        labels = [s.label for s in self.sources]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(
                f"two data sources are both called {twice[0]!r}; give each a distinct `name`"
            )
        return self

    def source_configs(self) -> list[tuple[str, DataConfig]]:
        """Each source as a one-dataset config (sharing `hard_negatives`), with its label."""
        return [
            (
                s.label,
                DataConfig(
                    source=s.source,
                    dataset=s.dataset,
                    split=s.split,
                    languages=s.languages,
                    max_items=s.max_items,
                    hard_negatives=self.hard_negatives,
                ),
            )
            for s in self.sources
        ]


class SchedulePhase(_Section):
    """From `from_step` on, batches are drawn with these weights (until the next phase)."""

    from_step: int = Field(ge=0, le=MAX_STEPS)
    mono: float = Field(0.0, ge=0, le=MAX_WEIGHT)
    cross: float = Field(0.0, ge=0, le=MAX_WEIGHT)
    multi: float = Field(0.0, ge=0, le=MAX_WEIGHT)

    @model_validator(mode="after")
    def _not_all_zero(self) -> SchedulePhase:
        if self.mono + self.cross + self.multi <= 0:
            raise ValueError(
                f"the weights of the phase from step {self.from_step} are all zero; "
                "give at least one of mono, cross, multi a positive weight"
            )
        return self


class SamplerConfig(_Section):
    """The sampler mix: relative weights of the batch types. α (hybrid) = mono / (mono + cross)."""

    mono: float = Field(0.5, ge=0, le=MAX_WEIGHT)
    cross: float = Field(0.5, ge=0, le=MAX_WEIGHT)
    multi: float = Field(0.0, ge=0, le=MAX_WEIGHT)
    language_weighting: Literal["uniform", "size"] = "uniform"
    schedule: list[SchedulePhase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_mix(self) -> SamplerConfig:
        if self.mono + self.cross + self.multi <= 0:
            raise ValueError(
                "mix weights are all zero; give at least one of mono, cross, multi a positive weight"
            )
        starts = [phase.from_step for phase in self.schedule]
        if starts != sorted(set(starts)):
            raise ValueError("schedule phases must have strictly increasing from_step values")
        return self

    def weights(self) -> dict[str, float]:
        """The base mix, normalised to sum to 1."""
        total = self.mono + self.cross + self.multi
        return {"mono": self.mono / total, "cross": self.cross / total, "multi": self.multi / total}

    @property
    def alpha(self) -> float | None:
        """Probability of a monolingual batch in the classic mono/cross hybrid (None if `multi` > 0)."""
        if self.multi > 0:
            return None
        return self.mono / (self.mono + self.cross)

    def describe(self) -> str:
        """Short human label, e.g. `hybrid α=0.50`, `mono`, `mono 0.4 / cross 0.4 / multi 0.2`."""
        w = self.weights()
        active = [name for name in BATCH_TYPES if w[name] > 0]
        suffix = " +schedule" if self.schedule else ""
        if len(active) == 1:
            return active[0] + suffix
        if self.alpha is not None:
            return f"hybrid α={self.alpha:.2f}{suffix}"
        return " / ".join(f"{name} {w[name]:.2f}" for name in active) + suffix


class TrainConfig(_Section):
    batch_size: int = Field(32, ge=2, le=MAX_BATCH)
    steps: int = Field(60, ge=1, le=MAX_STEPS)
    lr: float = Field(3e-5, gt=0, le=1)
    warmup_steps: int = Field(0, ge=0, le=MAX_STEPS)
    lr_schedule: Literal["linear", "constant", "cosine"] = "linear"
    weight_decay: float = Field(0.01, ge=0, le=10)
    temperature: float = Field(0.05, gt=0, le=10)
    grad_accum_steps: int = Field(1, ge=1, le=MAX_BATCH)
    max_grad_norm: float | None = Field(1.0, gt=0, le=1_000_000)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    log_every: int = Field(1, ge=1, le=MAX_STEPS)
    eval_every: int = Field(0, ge=0, le=MAX_STEPS)
    checkpoint_every: int = Field(50, ge=0, le=MAX_STEPS)

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        ok = value in ("auto", "cpu", "cuda", "mps") or (
            value.startswith("cuda:") and value[5:].isdigit()
        )
        if not ok:
            raise ValueError("device must be auto, cpu, cuda, cuda:N or mps")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by grad_accum_steps "
                f"{self.grad_accum_steps}; pick a divisor"
            )
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps {self.warmup_steps} exceeds steps {self.steps}")
        return self


class EvalConfig(_Section):
    datasets: list[str] = Field(default_factory=lambda: ["xquad-r"])
    languages: list[str] = Field(default_factory=list)
    settings: list[Literal["mono", "cross", "multi"]] = Field(
        default_factory=lambda: ["mono", "cross", "multi"], min_length=1
    )
    max_questions: int | None = Field(None, ge=1, le=MAX_QUESTIONS)
    question_seed: int = Field(0, ge=0, le=MAX_SEED)
    map_cutoff: int | None = Field(None, ge=1, le=MAX_ITEMS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: list[str]) -> list[str]:
        names = [*EVAL_DATASETS, MIRACL, MMMLU]
        unknown = [name for name in value if name not in names]
        if unknown:
            raise ValueError(
                f"unknown evaluation dataset {unknown[0]!r}; choose from {', '.join(names)}"
            )
        return value

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        known = {lang for _, _, langs in EVAL_DATASETS.values() for lang in langs}
        known |= set(MIRACL_LANGUAGES) | set(MMMLU_LANGUAGES)
        unknown = [lang for lang in value if lang not in known]
        if unknown:
            raise ValueError(
                f"unknown evaluation language {unknown[0]!r}; choose from {', '.join(sorted(known))}"
            )
        return _check_language_codes(value)


class TrackingConfig(_Section):
    uri: str | None = None
    experiment: str = Field("hybrid-tui", min_length=1)
    run_name: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    # copy the final model folder into the run's MLflow artifacts ("model/"), so the UI, a team's
    # tracking server and `mlflow.artifacts.download_artifacts` reach it; false keeps only the
    # local folder (a very large model, a store with little room)
    log_model: bool = True

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        """The rule `hybrid-tui tag` follows (`tag_rule`), so a recipe cannot overwrite the
        run's own tags (its mix, its device) either; the tags hybrid-tui writes into a recipe
        it saves (the `--set` record, a study's labels) stay readable."""
        for key, text in value.items():
            if problem := tag_problem(key, text, allowed=RECIPE_OWN_TAGS):
                raise ValueError(problem)
        return value

    def resolved_uri(self) -> str:
        """Recipe value, else `MLFLOW_TRACKING_URI`, else `sqlite:///mlflow.db` in the cwd."""
        return resolve_tracking_uri(self.uri)


class Recipe(_Section):
    name: str = Field("run", min_length=1)
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _zero_shot(self) -> Recipe:
        """Evaluation is zero-shot: training on an evaluation set would report memorisation."""
        if self.data.source == "lareqa" and self.data.dataset in self.eval.datasets:
            raise ValueError(
                f"data.dataset {self.data.dataset!r} is also in eval.datasets; evaluate on the "
                "other LAReQA set (train on mlqa-r, evaluate on xquad-r, or the reverse)"
            )
        return self

    def to_toml(self) -> str:
        import tomli_w

        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))

    def flat_params(self) -> dict[str, str]:
        """`{"sampler.mono": "0.5", ...}`: the recipe as MLflow params (values are strings)."""
        flat: dict[str, str] = {}

        def walk(prefix: str, value: object) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(f"{prefix}.{key}" if prefix else key, inner)
            else:
                flat[prefix] = str(value)

        walk("", self.model_dump(mode="json"))
        flat["sampler.alpha"] = str(self.sampler.alpha)
        return flat


def _check_language_codes(value: list[str]) -> list[str]:
    for lang in value:
        if not (2 <= len(lang) <= 8 and lang.replace("-", "").isalpha() and lang.islower()):
            raise ValueError(f"{lang!r} is not a language code; use ISO codes like 'en', 'zh'")
    if len(set(value)) != len(value):
        raise ValueError("languages are listed twice; list each once")
    return value


def recipe_from_dict(data: dict, source: str = "recipe") -> Recipe:
    """Validate a plain dict (e.g. parsed TOML, or TUI form values) into a `Recipe`."""
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        raise HybridTuiError(f"{source}: {describe_validation_error(err)}") from None


def describe_validation_error(err: ValidationError) -> str:
    """First pydantic error as `field.path: message (got VALUE)`, plus how many more there are."""
    errors = err.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "recipe"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key; remove it or check its spelling against recipes/demo.toml"
    elif "input" in first and not isinstance(first["input"], dict | list):
        got = repr(first["input"])
        message += f" (got {got if len(got) <= 60 else got[:57] + '...'})"
    message += _bound_fix(first["type"], first.get("ctx") or {})
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {message}{more}"


def _bound_fix(kind: str, ctx: dict) -> str:
    """How to fix a number out of its range, e.g. `; lower it to 10000000 or less`."""
    fixes = {
        "less_than_equal": ("le", "lower it to {} or less"),
        "less_than": ("lt", "lower it below {}"),
        "greater_than_equal": ("ge", "raise it to {} or more"),
        "greater_than": ("gt", "raise it above {}"),
    }
    if kind not in fixes or fixes[kind][0] not in ctx:
        return ""
    bound, text = fixes[kind]
    value = ctx[bound]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `1000000`, not `1000000.0`
    return "; " + text.format(value)


def read_recipe_toml(path: str | os.PathLike) -> dict:
    """The recipe file as a plain dict (not validated yet); any problem is one line."""
    recipe_path = Path(path).expanduser()
    if recipe_path.is_dir():
        raise HybridTuiError(
            f"recipe {recipe_path} is a folder; pass a TOML file such as recipes/demo.toml"
        )
    if not recipe_path.is_file():
        raise HybridTuiError(
            f"recipe {recipe_path} not found; pass a TOML file such as recipes/demo.toml"
        )
    try:
        data = tomllib.loads(recipe_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise HybridTuiError(f"recipe {recipe_path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise HybridTuiError(f"recipe {recipe_path} is not valid TOML: {err}") from None
    except RecursionError:
        raise HybridTuiError(
            f"recipe {recipe_path} nests arrays or tables too deeply to read; flatten it"
        ) from None
    if not data:  # an empty (e.g. truncated) file would silently train every default
        raise HybridTuiError(
            f"recipe {recipe_path} is empty; start from a recipe such as recipes/demo.toml"
        )
    return data


def load_recipe(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a TOML recipe, with `--set KEY=VALUE` overrides applied first; any
    problem is one `HybridTuiError` line."""
    source = f"recipe {Path(path).expanduser()}"
    data = read_recipe_toml(path)
    if overrides:
        return apply_overrides(data, overrides, source=f"{source} with --set")
    return recipe_from_dict(data, source=source)


# ---------------------------------------------------------------- overrides (--set KEY=VALUE)


def parse_override(text: str) -> tuple[str, object]:
    """`train.lr=1e-5` -> ("train.lr", 1e-05). The value is read as a TOML value (`1e-5`, `0.3`,
    `true`, `"text"`, `[1, 2]`), and as the plain string when it is not one (`cpu`, `cuda:0`)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise HybridTuiError(
            f"--set {text!r}: give KEY=VALUE with a dotted key, e.g. train.lr=1e-5"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):  # not a TOML value: the plain string
        value = raw
    return key, value


def check_override_key(key: str) -> tuple[str, ...]:
    """The recipe path of a dotted key; an unknown key names the valid keys of its section."""
    parts = tuple(key.split("."))
    model: type[BaseModel] = Recipe
    for depth, part in enumerate(parts):
        fields = model.model_fields
        where = ".".join(parts[:depth]) or "the recipe"
        if part not in fields:
            raise HybridTuiError(
                f"--set {key}: unknown key {part!r} in {where}; valid keys: {', '.join(fields)}"
            )
        annotation = fields[part].annotation
        last = depth == len(parts) - 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if last:
                raise HybridTuiError(
                    f"--set {key}: {key} is a section; set one of its keys "
                    f"({', '.join(annotation.model_fields)})"
                )
            model = annotation
            continue
        if last:
            return parts
        if getattr(annotation, "__origin__", None) is dict:  # e.g. tracking.tags.team=ir
            return (*parts[: depth + 1], ".".join(parts[depth + 1 :]))
        raise HybridTuiError(f"--set {key}: {'.'.join(parts[: depth + 1])} is not a section")
    raise AssertionError("unreachable")


def apply_overrides(data: dict, overrides: Sequence[str], source: str = "recipe") -> Recipe:
    """The recipe `data` describes with each `KEY=VALUE` set, validated like a recipe file.

    The run records what was overridden: the tag `hybrid_tui.overrides` (`train.lr=1e-05
    sampler.mono=0.3`) is added to `tracking.tags`, so params and tags both show it.
    """
    data = copy.deepcopy(data)
    seen: dict[tuple[str, ...], str] = {}
    applied = []
    for text in overrides:
        key, value = parse_override(text)
        path = check_override_key(key)
        if path in seen:
            raise HybridTuiError(f"--set {key} is given twice ({seen[path]!r} and {text!r})")
        seen[path] = text
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
        applied.append(f"{key}={value if isinstance(value, str) else _toml_text(value)}")
    if applied:
        tags = data.setdefault("tracking", {}).setdefault("tags", {})
        if isinstance(tags, dict):
            tags[OVERRIDES_TAG] = " ".join(filter(None, [tags.get(OVERRIDES_TAG), *applied]))
    return recipe_from_dict(data, source=source)


def _toml_text(value: object) -> str:
    """A parsed override value written back on one line (`1e-05`, `true`, `["de", "en"]`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def save_recipe(recipe: Recipe, path: str | os.PathLike) -> Path:
    """Write the recipe as TOML atomically (the previous file stays whole if this fails)."""
    return atomic_write_text(Path(path).expanduser(), recipe.to_toml())


DEMO_RECIPE = {
    "name": "demo-hybrid",
    "model": {
        "spec": "e5-small-offline",
        "max_query_length": 64,
        "max_passage_length": 96,
        "freeze_embeddings": True,
    },
    "data": {"source": "lareqa", "dataset": "mlqa-r"},
    "sampler": {"mono": 0.5, "cross": 0.5, "multi": 0.0, "language_weighting": "uniform"},
    "train": {
        "batch_size": 32,
        "steps": 60,
        "lr": 3e-5,
        "warmup_steps": 6,
        "temperature": 0.05,
        "seed": 0,
        "device": "auto",
        "checkpoint_every": 30,
    },
    "eval": {
        "datasets": ["xquad-r"],
        "settings": ["mono", "cross", "multi"],
        "max_questions": 150,
        "batch_size": 64,
    },
    "tracking": {"experiment": "hybrid-tui-demo"},
}


def demo_recipe() -> Recipe:
    """The demo as a `Recipe` (recipes/demo.toml is this, written out; a test keeps them equal):
    what `hybrid-tui demo` trains and what Compose's form starts from."""
    return recipe_from_dict(DEMO_RECIPE, source="demo recipe")
