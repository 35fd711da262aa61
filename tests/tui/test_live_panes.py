"""Issue 27 item 12, Live at 80x24: the figures a user reads (throughput with its digits, whole
step ticks, a learning-rate axis in `2.5e-05`), the device pane of a CPU run (its trainer's CPU
and memory, read from a real process), and a labelled log pane showing the trainer's log, which
an attached trainer such as the demo's now writes too (Textual's Pilot, on a temporary store)."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_tui.runs.files import RunFiles
from hybrid_tui.tui.app import HybridTuiApp
from hybrid_tui.tui.live.screen import LiveScreen
from tests.tui.test_tui import wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(workdir: Path) -> str:
    return os.environ["MLFLOW_TRACKING_URI"]


def screen_rows(app) -> list[str]:
    """The screen as its rows of text (Textual's SVG screenshot, one clip path per row)."""
    svg = app.export_screenshot()
    rows: dict[int, list[tuple[float, str]]] = {}
    pattern = r'<text[^>]*? x="([\d.]+)"[^>]*?clip-path="url\(#terminal-(?:\d+-)?line-(\d+)\)">'
    for match in re.finditer(pattern + r"([^<]*)</text>", svg):
        text = html.unescape(match.group(3)).replace("\xa0", " ")
        rows.setdefault(int(match.group(2)), []).append((float(match.group(1)), text))
    lines = []
    for row in sorted(rows):
        line = ""
        for x, text in sorted(rows[row]):
            line = line.ljust(round(x / 12.2)) + text
        lines.append(line)
    return lines


def a_run(uri: str, name: str = "demo-hybrid") -> str:
    from hybrid_tui.tracking import Tracker

    tracker = Tracker(uri)
    run_id = tracker.start_run("live-tests", name, {})
    tracker.flush()
    return run_id


def write_events(run_id: str, steps: int, pairs_per_s: float, lr: float = 2.5e-5) -> None:
    """A running trainer's event file: `steps` steps at `pairs_per_s`, the LR warming up."""
    events = [{"t": 1e9, "type": "start", "name": "demo-hybrid", "steps": 60}]
    for step in range(1, steps + 1):
        events.append(
            {
                "t": 1e9 + step,
                "type": "step",
                "step": step,
                "loss": 2.0 - 0.1 * step,
                "lr": lr * step / steps,
                "pairs_per_s": pairs_per_s,
            }
        )
    path = RunFiles.for_run(run_id).events
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")


async def open_live(pilot, run_id: str) -> LiveScreen:
    pilot.app.open_live(run_id)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LiveScreen), what="Live")
    live = pilot.app.screen
    await wait_for(pilot, lambda: live.step is not None, what="the steps")
    await pilot.pause(0.5)  # the plots redraw at most every 0.3 s
    return live


@pytest.mark.parametrize(
    ("pairs_per_s", "shown"),
    [(0.64, "0.64 pairs/s"), (0.05, "0.05 pairs/s"), (12.34, "12.3 pairs/s"), (1685.2, "1,685")],
)
async def test_throughput_keeps_its_significant_digits(store, pairs_per_s, shown) -> None:
    run_id = a_run(store)
    write_events(run_id, 3, pairs_per_s)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_live(pilot, run_id)
        screen = " ".join(screen_rows(app))
        assert shown in screen
        assert " 0 pairs/s" not in screen and " 1 pairs/s" not in screen


async def test_steps_are_ticked_whole_and_the_lr_axis_reads_2_5e_05(store) -> None:
    run_id = a_run(store)
    write_events(run_id, 3, 0.64, lr=2.5e-5)
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_live(pilot, run_id)
        rows = screen_rows(app)
    screen = "\n".join(rows)
    assert "2.5e-05" in screen and "1e-05" in screen
    assert "0.0000" not in screen  # plotext's own labels: 0.0000250
    # the row under the plots' frames: one tick label per whole step, no 1.50 or 2.50
    ticks = rows[next(i for i, row in enumerate(rows) if "└" in row) + 1]
    assert ticks.split() == ["1", "2", "3", "1", "2", "3"]


TRAINER = """
import json, os, sys, time
from hybrid_tui.runs.files import RunFiles, process_start_ticks
files = RunFiles.for_run(sys.argv[1])
events = open(files.events, "a")  # what makes this process the run's trainer
record = {"run_id": files.run_id, "pid": os.getpid(), "device": "cpu",
          "start_ticks": process_start_ticks(os.getpid()), "log": str(files.log)}
files.job.write_text(json.dumps(record))
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def cpu_trainer(store: str):
    """A real process that is a CPU run's trainer (it holds the run's event file open)."""
    run_id = a_run(store)
    write_events(run_id, 3, 0.64)
    process = subprocess.Popen(
        [sys.executable, "-c", TRAINER, run_id], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready"
    yield run_id, process.pid
    process.kill()
    process.wait()


async def test_a_cpu_run_shows_its_trainer_cpu_and_memory(store, cpu_trainer) -> None:
    run_id, pid = cpu_trainer
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, run_id)
        await wait_for(pilot, lambda: live.trainer_line, what="the trainer's CPU and memory")
        pane = next(row for row in screen_rows(app) if "CPU (no GPU)" in row)
    assert re.search(rf"trainer pid {pid}  cpu \d+% of \d+ cores?  mem \d+(\.\d)? [MG]iB", pane)


ATTACHED_TRAINER = """
import sys
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.training.console_log import console_copied
from hybrid_tui.training.loop import step_progress
from hybrid_tui.training.run_record import adopt_launch_log
with console_copied():  # as `main_entry` runs the trainer
    adopt_launch_log(RunFiles.for_run(sys.argv[1]))
    print("padding-free: off (no flash attention on the CPU)", flush=True)
    with step_progress(True, 60, 0) as console:
        for step in range(1, 61):
            console.step(step, 2.0 - step / 100)
        console.work("Encoding xquad-r", 300, 300)
    print("run finished in 12s", flush=True)
print("the trainer's work is over", flush=True)
"""


async def test_the_log_pane_is_labelled_and_shows_an_attached_trainers_log(store) -> None:
    """The demo's trainer shares the terminal (bars on it, no launch log): its run still gets a
    trainer.log, with the lines a detached trainer writes, and Live shows it under a label."""
    run_id = a_run(store)
    write_events(run_id, 3, 0.64)
    files = RunFiles.for_run(run_id)
    files.job.write_text(json.dumps({"run_id": run_id, "pid": 0, "log": str(files.log)}))
    env = {key: value for key, value in os.environ.items() if key != "HYBRID_TUI_LOG_FILE"}
    done = subprocess.run(
        [sys.executable, "-c", ATTACHED_TRAINER, run_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "run finished in 12s" in done.stdout  # the terminal still shows it
    assert "the trainer's work is over" in done.stdout
    log = files.log.read_text(encoding="utf-8")
    assert log.splitlines() == [
        "padding-free: off (no flash attention on the CPU)",
        *(f"step {step}/60 loss {2.0 - step / 100:.4f}" for step in (1, 6, 12, 18, 24, 30)),
        *(f"step {step}/60 loss {2.0 - step / 100:.4f}" for step in (36, 42, 48, 54, 60)),
        "Encoding xquad-r: 300/300",
        "run finished in 12s",
    ]
    app = HybridTuiApp(tracking_uri=store)
    async with app.run_test(size=(80, 24)) as pilot:
        live = await open_live(pilot, run_id)
        await wait_for(pilot, lambda: live._log_text, what="the trainer log")
        await pilot.pause(0.2)
        screen = "\n".join(screen_rows(app))
    assert "trainer log" in screen
    assert "run finished in 12s" in screen and "Encoding xquad-r: 300/300" in screen


def test_the_rate_and_tick_rules() -> None:
    from hybrid_tui.tui.live.figures import rate_text, step_ticks, value_ticks

    assert [rate_text(x) for x in (0.05, 0.64, 1.0, 12.34, 99.9, 1685.2)] == [
        "0.05",
        "0.64",
        "1",
        "12.3",
        "99.9",
        "1,685",
    ]
    assert step_ticks(1, 3) == [1, 2, 3]
    assert step_ticks(1, 60) == [20, 40, 60]
    assert step_ticks(5, 5) == [5]
    assert value_ticks(8.3e-6, 2.5e-5)[1] == ["1e-05", "1.5e-05", "2e-05", "2.5e-05"]
    assert value_ticks(1.0e-3, 1.02e-3)[1] == ["0.001", "0.00101", "0.00102"]  # told apart
