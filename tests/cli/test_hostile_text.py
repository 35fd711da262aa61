"""Text from users and the store shown as text (issue 20, items 1-3): run names, tags, notes,
recipe values and filters holding rich markup (`[/]`), terminal control sequences (OSC, CSI,
BEL), any unicode or a very long string go through `runs`, `show`, `compare` and `--json`
without a crash, without a raw control character reaching the terminal, and visibly.

The property tests plant runs straight into a sqlite store and call the console entry in this
process (typer's CliRunner streams); one subprocess check replays the original report."""

from __future__ import annotations

import json
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hybrid_tui.display_text import markdown_cell, visible

# What a terminal obeys rather than shows: C0 but the line feed, DEL, C1, and the bidi
# embeddings, overrides and isolates (which reorder what the user reads).
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NASTY = [
    "[/]",
    "[bold]",
    "[red]x[/red]",
    "x\\",
    "\\[b]",
    "[@click=app.quit]q[/]",
    "[$accent]a",
    "[link=https://e.x]l[/link]",
    "\x1b]0;pwned\x07",
    "\x1b]8;;https://e.x\x1b\\",
    "\x1b[2J\x1b[31m",
    "\x9b31m",
    "\x07\x00\x7f",
    "\u202eevil",
    "a\nb\r\tc",
    "| `",
    "$x",
    "🙂",
    "中文",
    "e\u0301",
]
_piece = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
hostile = st.lists(_piece, min_size=1, max_size=4).map("".join).filter(str.strip)
long_text = st.builds(lambda piece, size: (piece * size)[:size], hostile, st.integers(900, 20_000))


def terminal_safe(output: str) -> None:
    found = UNSAFE.search(output)
    assert found is None, f"raw {found.group()!r} reaches the terminal in {output[:300]!r}"


def shown(text: str) -> str:
    """How a single-line field reads on screen (surrounding blanks may be padding)."""
    return visible(text).strip()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A sqlite store holding one plain base run; the environment every CLI call gets."""
    from hybrid_tui.tracking import Tracker

    folder = tmp_path_factory.mktemp("hostile")
    env = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "HYBRID_TUI_HOME": str(folder / ".hybrid-tui"),
        "COLUMNS": "1000",  # wide enough that no cell is cut: every name can be read in full
    }
    tracker = Tracker(env["MLFLOW_TRACKING_URI"])
    base = tracker.start_run("hostile", "base", {"hybrid_tui.mix": "mono 1.00"})
    tracker.log_params(base, {"train.lr": "0.001"})
    tracker.log_metrics(base, _figures(0.5), 10)
    tracker.end_run(base, "FINISHED")
    return {**env, "base": base}


def _figures(value: float) -> dict[str, float]:
    return {
        f"eval/xquad_r/{setting}/{lang}/map": value
        for setting in ("mono", "multi")
        for lang in ("en", "de", "avg")
    }


def plant(uri: str, name: str, tag: str, note: str, value: str) -> str:
    """A finished, evaluated run whose name, tag, note, mix, model and a param are `hostile`."""
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    run_id = tracker.start_run(
        "hostile",
        name,
        {"team": tag, "mlflow.note.content": note, "hybrid_tui.mix": f"mix {value}"},
    )
    tracker.log_params(run_id, {"train.lr": "0.01", "model.spec": value, "data.dataset": value})
    tracker.log_metrics(run_id, _figures(0.6), 10)
    tracker.end_run(run_id, "FINISHED")
    return run_id


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`hybrid-tui ARGS` through its console entry (so errors print as users see them), in
    this process, with CliRunner's stdout and stderr: (exit code, stdout, stderr)."""
    from hybrid_tui.cli import main

    environment = {key: value for key, value in env.items() if key != "base"}
    with CliRunner().isolation(env=environment) as (out, err, _both):
        argv, sys.argv = sys.argv, ["hybrid-tui", *args]
        try:
            main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@PROPERTY
@given(name=hostile, tag=hostile, note=hostile, value=hostile)
def test_runs_show_and_compare_show_hostile_text_as_text(store, name, tag, note, value) -> None:
    run_id = plant(store["MLFLOW_TRACKING_URI"], name, tag, note, value)
    for args in (("runs",), ("show", run_id), ("compare", store["base"], run_id)):
        code, out, err = cli(store, *args)
        assert code == 0, (args, err)
        terminal_safe(out + err)
        if args[0] != "compare":
            assert shown(name) in out, args
            assert shown(value) in out, args  # the model column / the header's model
        else:
            assert shown(name) in out  # the config diff's column and the deltas' heading
            assert shown(value) in out  # the differing model.spec in the config diff


@PROPERTY
@given(name=hostile, tag=hostile, note=hostile, value=hostile)
def test_json_carries_the_exact_strings(store, name, tag, note, value) -> None:
    run_id = plant(store["MLFLOW_TRACKING_URI"], name, tag, note, value)
    code, out, _ = cli(store, "runs", "--json")
    assert code == 0
    row = next(row for row in json.loads(out) if row["run_id"] == run_id)
    assert (row["name"], row["model"], row["mix"]) == (name, value, f"mix {value}")
    assert row["tags"]["team"] == tag and row["tags"]["mlflow.note.content"] == note
    code, out, _ = cli(store, "show", run_id, "--json")
    assert code == 0
    detail = json.loads(out)
    assert detail["name"] == name and detail["params"]["model.spec"] == value
    code, out, _ = cli(store, "compare", store["base"], run_id, "--json")
    assert code == 0
    assert json.loads(out)["config_diff"]["model.spec"] == [None, value]


@PROPERTY
@given(filter_text=st.one_of(hostile, long_text, hostile.map(lambda text: f"name={text}")))
def test_any_filter_is_a_result_or_one_error_line(store, filter_text) -> None:
    code, out, err = cli(store, "runs", f"--filter={filter_text}")
    terminal_safe(out + err)
    if code == 2:
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1, err
    else:
        assert code == 0, err
        if "matches the filter" in out:  # the echo is the filter as written
            assert visible(filter_text) in out


def test_a_filter_of_16k_characters_is_refused_with_one_line(store) -> None:
    code, out, err = cli(store, "runs", "--filter", "name=" + "x" * 16_000)
    assert code == 2 and out == ""
    assert err.startswith("error: the filter is 16,005 characters long; give at most 1,000")
    assert err.count("\n") == 1 and len(err) < 400


def test_a_filter_of_100k_characters_returns(run_cli) -> None:
    """Used to never return (rich's highlighter over the echo); now refused at once."""
    done = run_cli("runs", "--filter", "name=" + "x" * 100_000, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: the filter is 100,005 characters long")
    assert done.stderr.count("\n") == 1


def test_the_reported_run_name_and_note_do_not_break_runs_and_show(
    workdir, run_cli, monkeypatch
) -> None:
    """The report: a run named "[/]" made `runs` and `show` exit 1 (MarkupError) until it was
    deleted; a note or label with an OSC sequence retitles the terminal."""
    from tests.conftest import tracker_of

    monkeypatch.setenv("COLUMNS", "200")  # wide: the run list shows the whole mix label
    tracker = tracker_of(workdir)
    osc = "\x1b]0;title\x07"
    run_id = tracker.start_run("hostile", "[/]", {"hybrid_tui.mix": f"mono 1.00 {osc}"})
    tracker.set_tags(run_id, {"mlflow.note.content": f"see {osc}"})
    tracker.end_run(run_id, "FINISHED")
    for args in (("runs",), ("show", run_id[:8])):
        done = run_cli(*args, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "[/]" in done.stdout
        assert "\\x1b]0;title\\x07" in done.stdout  # shown, escaped
        assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout


def test_a_markdown_cell_keeps_its_table_and_shows_controls() -> None:
    from hybrid_tui import report

    tables = report.LanguageTables(dataset="xquad_r", languages=["en|de", "x\x1b[2Jy"])
    tables.mono = {"en|de": 0.5, "x\x1b[2Jy": 0.25}
    lines = report.to_markdown(tables).splitlines()
    assert lines[2].startswith("| en\\|de | 50.0 |") and lines[2].count(" | ") == 4
    assert lines[3].startswith("| x\\x1b[2Jy | 25.0 |")
    assert markdown_cell("a|b\n") == "a\\|b\\x0a"


def test_the_model_card_keeps_its_tables_and_shows_controls() -> None:
    from hybrid_tui.models.conventions import Conventions
    from hybrid_tui.recipe import recipe_from_dict
    from hybrid_tui.report.model_card import model_card

    recipe = recipe_from_dict(
        {"name": "card\x1b]0;t\x07", "model": {"spec": "org/m|x\x1b[2J"}, "train": {"steps": 1}}
    )
    card = model_card(recipe, Conventions(), "hub", ["en"], {}, [], "r" * 32, 1)
    assert "\x1b" not in card.split("```toml")[0]  # the recipe block is TOML, escaped by TOML
    assert "# card\\x1b]0;t\\x07" in card
    row = next(line for line in card.splitlines() if line.startswith("| base model |"))
    assert row == "| base model | `org/m\\|x\\x1b[2J` (hub) |"


def test_queue_ls_and_add_show_a_hostile_job_name_as_text(workdir, capsys, monkeypatch) -> None:
    """A recipe's name and the user's overrides reach `queue ls` cells and `queue add`'s echo."""
    monkeypatch.setenv("COLUMNS", "1000")  # no cell cut: the whole name can be read
    from hybrid_tui.cli.queue_output import print_added, print_jobs
    from hybrid_tui.jobs.queue_store import JobStore, NewJob

    name, override = "[/]\x1b]0;pwned\x07", "name=[bold]\x1b[2J"
    new = NewJob(name, "smoke.toml", "smoke.toml", [override], 0, 0, str(workdir), "sqlite://")
    jobs = JobStore().add([new])
    print_added(jobs)
    print_jobs(jobs, None, json_output=False)
    out, err = capsys.readouterr()
    for output in (out, err):
        terminal_safe(output)
    assert visible(name) in out and visible(override) in out
    assert visible(name) in err


def test_tag_echoes_a_hostile_value_as_text(store) -> None:
    from hybrid_tui.tracking import Tracker

    run_id = Tracker(store["MLFLOW_TRACKING_URI"]).list_runs()[0].run_id
    code, out, err = cli(store, "tag", run_id[:8], "why=[/]\x1b]0;pwned\x07")
    assert code == 0, err
    terminal_safe(out)
    assert visible("[/]\x1b]0;pwned\x07") in out


def test_mines_summary_shows_a_path_named_like_markup(tmp_path, capsys, monkeypatch) -> None:
    from pathlib import Path

    from hybrid_tui.training.mining import MiningOptions, MiningSummary, print_summary

    monkeypatch.setenv("COLUMNS", "1000")
    output = Path(tmp_path / "[/]neg\x1b]0;x\x07.jsonl")
    print_summary(MiningSummary(3, 9, 3, 3, 0, MiningOptions(), output, "[bold]model"))
    out = capsys.readouterr().out
    terminal_safe(out)
    assert visible(output) in out and "[bold]model" in out
