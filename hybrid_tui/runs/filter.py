"""`hybrid-tui runs --filter` and the app's `/` filter: MLflow's search syntax, or a short form,
tested against the run list's rows.

MLflow's own parser (`mlflow.utils.search_utils`) costs ~1.2 s of imports, more than the whole
command may take, so the same grammar is read here and evaluated over the rows the sqlite reads
already return:

    metrics.`eval/xquad_r/multi/avg/map` > 0.5 and params.`sampler.mono` = '0.5'
    tags.team = 'ir' and attributes.status = 'FINISHED'

Clauses are joined by `and`; metrics and `attributes.start_time` (ms since the epoch) compare as
numbers (>, >=, <, <=, =, !=); params, tags and the other attributes as text (=, !=, LIKE,
ILIKE, IN ('a', 'b')), as MLflow does. A run without the metric, param or tag does not match.
Metrics are those a run-list row carries: the eval sets' averages and every non-eval metric.

The short form is words `NAME OP VALUE` separated by spaces, all of which must hold:
`multi>50 lr=1e-3 status=FINISHED`. Its numbers are read on the scale the tables show: mono,
cross, multi and best in mAP x 100 (`multi>50` keeps the runs whose table says 50.9; `multi=50.9` the ones that say 50.9), bias in
rank positions, metric keys as `hybrid-tui show` prints them (raw). MLflow's syntax keeps
MLflow's raw scale (`metrics.`...multi/avg/map` > 0.5`). NAME is a headline figure (mono, cross, multi, bias), best
(the best multilingual mAP), lr, batch, seed, steps, status, name, a dotted recipe key
(`sampler.mono`), or a metric key with slashes; numbers compare as numbers (`lr=1e-3` matches
"0.001"), anything else as text.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hybrid_tui.errors import HybridTuiError
from hybrid_tui.tracking.records import is_summary_metric

EXAMPLE = (
    "e.g. metrics.`eval/xquad_r/multi/avg/map` > 0.5 and params.`train.lr` = '0.001', "
    "or the short form multi>50 lr=1e-3 (figures as the tables show them: mAP x 100)"
)
KINDS = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
ATTRIBUTES = {
    "status": "status",
    "run_name": "name",
    "run_id": "run_id",
    "start_time": "start_time",
}
NUMBER_ATTRIBUTES = ("start_time",)  # compared as numbers, unquoted, as MLflow does
MAX_LENGTH = 1000  # far beyond any real filter; bounds the parse, the match and the echo
SHORT_METRICS = ("mono", "cross", "multi", "bias", "best")
PERCENT_METRICS = ("mono", "cross", "multi", "best")  # shown (and so typed) as mAP x 100
SHORT_PARAMS = {"lr": "train.lr", "batch": "train.batch_size", "seed": "train.seed"}
NUMBER_OPS = (">=", "<=", "!=", "=", ">", "<")
TEXT_OPS = ("=", "!=", "LIKE", "ILIKE", "IN")

_MLFLOW_FORM = re.compile(rf"^\s*({'|'.join(KINDS)})\.", re.IGNORECASE)
_IDENTIFIER = re.compile(
    rf"\s*(?P<kind>{'|'.join(KINDS)})\.(?:`(?P<tick>[^`]+)`|\"(?P<dq>[^\"]+)\"|(?P<bare>[\w./-]+))",
    re.IGNORECASE,
)
_OPERATOR = re.compile(r"\s*(?P<op>>=|<=|!=|=|>|<|\bNOT\s+LIKE\b|\bILIKE\b|\bLIKE\b|\bIN\b)", re.I)
_VALUE = re.compile(
    r"\s*(?:'(?P<sq>[^']*)'|\"(?P<dq>[^\"]*)\"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))"
)
_LIST = re.compile(r"\s*\((?P<items>[^)]*)\)")
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_SHORT_TERM = re.compile(r"^(?P<name>[^<>=!]+?)(?P<op>>=|<=|!=|=|>|<)(?P<value>.+)$")


@dataclass(frozen=True)
class Clause:
    """One test: `kind` metric, param, tag, attribute or short (the short form's own rules)."""

    kind: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class RunFilter:
    text: str
    clauses: tuple[Clause, ...]

    def matches(self, run: Any) -> bool:
        return all(_holds(clause, run) for clause in self.clauses)

    def __call__(self, runs: list) -> list:
        return [run for run in runs if self.matches(run)]


def parse_filter(text: str) -> RunFilter:
    """The filter `text` means; anything it cannot read is one line saying what and where."""
    if not text.strip():
        raise HybridTuiError(f"the filter is empty; {EXAMPLE}")
    if len(text) > MAX_LENGTH:
        raise HybridTuiError(
            f"the filter is {len(text):,} characters long; give at most {MAX_LENGTH:,} ({EXAMPLE})"
        )
    if _MLFLOW_FORM.match(text):
        return RunFilter(text, tuple(_mlflow_clauses(text)))
    return RunFilter(text, tuple(_short_clause(word) for word in text.split()))


def looks_like_filter(text: str) -> bool:
    """Whether app input is a filter (else it is a word to look for in names, models, mixes)."""
    return bool(_MLFLOW_FORM.match(text)) or any(op in text for op in ("=", "<", ">"))


# ---------------------------------------------------------------------------- MLflow's syntax


def _mlflow_clauses(text: str) -> list[Clause]:
    clauses, position = [], 0
    while True:
        clause, position = _one_mlflow_clause(text, position)
        clauses.append(clause)
        rest = text[position:]
        if not rest.strip():
            return clauses
        joined = _AND.match(rest)
        if not joined:
            raise _bad(text, position, "expected `and` between clauses")
        position += joined.end()


def _one_mlflow_clause(text: str, position: int) -> tuple[Clause, int]:
    found = _IDENTIFIER.match(text, position)
    if not found:
        raise _bad(text, position, "expected metrics.KEY, params.KEY, tags.KEY or attributes.KEY")
    kind = KINDS[found["kind"].lower()]
    key = found["tick"] or found["dq"] or found["bare"]
    position = found.end()
    operator = _OPERATOR.match(text, position)
    if not operator:
        raise _bad(text, position, "expected a comparison (=, !=, >, >=, <, <=, LIKE, ILIKE, IN)")
    op = " ".join(operator["op"].upper().split())
    position = operator.end()
    if kind == "metric":
        if not is_summary_metric(key):
            raise HybridTuiError(
                f"filter: metrics.`{key}` is a per-language metric; the run list filters on "
                "averages (eval/<set>/<setting>/avg/<metric>) and train/... metrics"
            )
        if op not in NUMBER_OPS:
            raise _bad(text, position, f"metrics compare with {', '.join(NUMBER_OPS)}, not {op}")
        value = _VALUE.match(text, position)
        if not value or value["num"] is None:
            raise _bad(text, position, "a metric is compared with a number")
        return Clause(kind, key, op, float(value["num"])), value.end()
    if kind == "attribute" and key.lower() not in ATTRIBUTES:
        raise HybridTuiError(
            f"filter: unknown attribute {key!r}; one of {', '.join(ATTRIBUTES)}; {EXAMPLE}"
        )
    if kind == "attribute" and key.lower() in NUMBER_ATTRIBUTES:
        if op not in NUMBER_OPS:
            raise _bad(text, position, f"{key} compares with {', '.join(NUMBER_OPS)}, not {op}")
        value = _VALUE.match(text, position)
        if not value or value["num"] is None:
            raise _bad(text, position, f"{key} is compared with a number (ms since the epoch)")
        return Clause("number_attribute", key.lower(), op, float(value["num"])), value.end()
    if op == "IN":
        items = _LIST.match(text, position)
        if not items:
            raise _bad(text, position, "IN takes a list: ('FINISHED', 'KILLED')")
        values = [_text_value(item.strip()) for item in items["items"].split(",")]
        if any(value is None for value in values):
            raise _bad(text, position, "IN takes quoted values: ('FINISHED', 'KILLED')")
        return Clause(kind, key.lower() if kind == "attribute" else key, op, values), items.end()
    if op not in TEXT_OPS and op != "NOT LIKE":
        raise _bad(text, position, f"{kind}s compare with =, !=, LIKE, ILIKE or IN, not {op}")
    value = _VALUE.match(text, position)
    if not value or (value["sq"] is None and value["dq"] is None):
        raise _bad(text, position, f"a {kind} is compared with a quoted value: '0.5'")
    quoted = value["sq"] if value["sq"] is not None else value["dq"]
    return Clause(kind, key.lower() if kind == "attribute" else key, op, quoted), value.end()


def _text_value(item: str) -> str | None:
    found = re.fullmatch(r"'([^']*)'|\"([^\"]*)\"", item)
    return None if not found else (found[1] if found[1] is not None else found[2])


def _bad(text: str, position: int, what: str) -> HybridTuiError:
    near = text[position:].strip()[:30]
    where = f"at {near!r}" if near else "at the end"
    return HybridTuiError(f"filter: {what} {where}; {EXAMPLE}")


# ---------------------------------------------------------------------------- the short form


def _short_clause(word: str) -> Clause:
    found = _SHORT_TERM.match(word)
    if not found:
        raise HybridTuiError(f"filter: {word!r} is not NAME OP VALUE (multi>50); {EXAMPLE}")
    name, op, value = found["name"], found["op"], found["value"]
    if name in SHORT_METRICS or "/" in name:
        if _number(value) is None:
            raise HybridTuiError(f"filter: {name} is compared with a number, not {value!r}")
        if "/" in name and not is_summary_metric(name):
            raise HybridTuiError(f"filter: {name} is a per-language metric; use an average")
        return Clause("short_metric", name, op, float(value))
    if name in ("status", "name"):
        return Clause("short_text", name, op, value)
    if name in SHORT_PARAMS or name == "steps" or "." in name:
        key = SHORT_PARAMS.get(name, "train.steps" if name == "steps" else name)
        return Clause("short_param", key, op, value)
    raise HybridTuiError(
        f"filter: unknown name {name!r}; use mono, cross, multi, bias, best, lr, batch, seed, "
        "steps, status, name, a recipe key (sampler.mono) or a metric key (train/loss)"
    )


# ---------------------------------------------------------------------------- evaluation

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _holds(clause: Clause, run: Any) -> bool:
    kind, key, op, wanted = clause.kind, clause.key, clause.op, clause.value
    if kind in ("metric", "short_metric"):
        value = _metric(run, key)
        if kind == "short_metric" and key in PERCENT_METRICS and value is not None:
            value = round(value * 100, 1)  # the figure as the table shows it: 50.9, not 0.509
        return value is not None and not math.isnan(value) and _COMPARE[op](value, wanted)
    if kind == "number_attribute":
        number = getattr(run, ATTRIBUTES[key])
        return number is not None and _COMPARE[op](number, wanted)
    if kind == "short_param" or kind == "short_text":
        value = run.params.get(key) if kind == "short_param" else str(getattr(run, key) or "")
        if value is None:
            return False
        ours, theirs = _number(value), _number(wanted)
        if ours is not None and theirs is not None:
            return _COMPARE[op](ours, theirs)
        return op in ("=", "!=") and _COMPARE[op](value, wanted)
    if kind == "attribute":
        value = getattr(run, ATTRIBUTES[key])
        value = None if value is None else str(value)
    else:
        value = (run.params if kind == "param" else run.tags).get(key)
    if value is None:
        return False
    if op == "IN":
        return value in wanted
    if op in ("=", "!="):
        return _COMPARE[op](value, wanted)
    matched = _like(value, wanted, ignore_case=op == "ILIKE")
    return not matched if op == "NOT LIKE" else matched


def _metric(run: Any, key: str) -> float | None:
    if key == "best":
        return run.best_multi
    if key in SHORT_METRICS:
        return run.headline.get(key)
    return run.latest.get(key)


def _like(value: str, pattern: str, ignore_case: bool) -> bool:
    """SQL LIKE: % any run of characters, _ one character."""
    translated = "".join(
        "*" if c == "%" else "?" if c == "_" else f"[{c}]" if c in "*?[" else c for c in pattern
    )
    if ignore_case:
        value, translated = value.lower(), translated.lower()
    return fnmatch.fnmatchcase(value, translated)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None
