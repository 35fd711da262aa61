"""Live: the followed run's loss and learning-rate curves as points arrive, throughput, ETA, the
run's device (per GPU: utilisation, memory, temperature, power, read through NVML; on the CPU,
the trainer process's CPU % and memory, read through psutil), and the tail of the trainer's log;
x cancels the trainer, enter opens the results.
The loss is shown raw and smoothed (debiased EMA; `s` changes the weight), throughput over the
last steps, evaluation scores over steps when the recipe sets `eval_every`, and the trainer's
warnings (NaN/inf or flat loss) in bold. The log follows its end unless scrolled up.

Points come from the trainer's event file (`events.EventTail`, read every `POLL_S`), so they show
within half a second. Opened for an older run, the first read returns the whole curve so far; a
run without a local event file (trained on another machine) is read from the tracking store.
Leaving this screen or the app never touches the trainer.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Static

from hybrid_tui import jobs
from hybrid_tui.command_name import command
from hybrid_tui.devices import format_gpu_reading, gpu_readings, run_gpus
from hybrid_tui.display_text import plain, visible
from hybrid_tui.events import EventTail
from hybrid_tui.jobs import job_for
from hybrid_tui.metric_keys import TRAIN_LOSS, TRAIN_LR, parse_eval_key
from hybrid_tui.queue.describe import duration
from hybrid_tui.report.format import score_text
from hybrid_tui.runs.files import RunFiles
from hybrid_tui.tui.cancel_worker import cancel_in_background
from hybrid_tui.tui.live.curve_plot import CurvePlot, EvalPlot
from hybrid_tui.tui.live.curve_smoothing import (
    DEFAULT_SMOOTHING,
    SMOOTHING_WEIGHTS,
    THROUGHPUT_WINDOW,
    rolling_pairs_per_s,
    smooth_ema,
)
from hybrid_tui.tui.live.figures import rate_text
from hybrid_tui.tui.live.trainer_use import TrainerWatch, format_trainer_use
from hybrid_tui.tui.messages import CurveHistoryLoaded

POLL_S = 0.25
SLOW_POLL_S = 2.0
LOG_LINES = 200
NO_RUN = (
    "No run followed. Launch one from Compose ([b]n[/b], then ctrl+r), or highlight a run in "
    "Runs ([b]r[/b]) and press [b]l[/b]."
)


class LiveScreen(Screen):
    BINDINGS = [
        Binding("x", "cancel_run", "Cancel run"),
        Binding("enter", "results", "Results"),
        Binding("s", "cycle_smoothing", "Smoothing"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id: str | None = None
        self.run_name = ""
        self.status: str | None = None
        self.error: str | None = None
        self.total_steps: int | None = None
        self.step: int | None = None
        self.last_loss: float | None = None
        self.last_lr: float | None = None
        self.pairs_per_s: float | None = None  # over the last THROUGHPUT_WINDOW steps
        self.warning: str | None = None  # the trainer's latest warning (NaN or flat loss)
        self.phase: str | None = None  # what the trainer does before step 1 (loading the model)
        self._rates: deque[float] = deque(maxlen=THROUGHPUT_WINDOW)
        self.device: str | None = None  # the run's device, e.g. `cuda:0 (NVIDIA H200)`
        self.gpus: list[int] | None = None  # NVML indices of its GPUs ([] on the CPU)
        self.gpu_lines: list[str] = []
        self.trainer_line = ""  # a CPU run's trainer process: CPU % and memory
        self._trainer_watch = TrainerWatch()
        self.last_message = ""
        self._tail: Any = None
        self._step_times: deque[tuple[float, int]] = deque(maxlen=30)
        self._from_tracker = False
        self._log_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(NO_RUN, id="live-title")
        yield Static("", id="live-stats")
        yield Static("", id="live-gpu")
        with Horizontal(id="live-curves"):
            yield CurvePlot("loss", id="loss-plot", smoothing=DEFAULT_SMOOTHING)
            yield CurvePlot("learning rate", id="lr-plot", round_value_ticks=True)
            yield EvalPlot("eval mAP ×100 (avg)", id="eval-plot")
        log = Log(id="live-log", max_lines=LOG_LINES, auto_scroll=True)
        log.border_title = "trainer log"
        yield log
        yield Footer(compact=True)

    @property
    def loss_plot(self) -> CurvePlot:
        return self.query_one("#loss-plot", CurvePlot)

    @property
    def lr_plot(self) -> CurvePlot:
        return self.query_one("#lr-plot", CurvePlot)

    @property
    def eval_plot(self) -> EvalPlot:
        return self.query_one("#eval-plot", EvalPlot)

    def on_mount(self) -> None:
        self.eval_plot.display = False  # shown once the run has evaluated during training
        self.set_interval(POLL_S, self._poll_events)
        self.set_interval(SLOW_POLL_S, self._slow_poll)

    def on_screen_resume(self) -> None:
        wanted = self.app.live_run_id
        if wanted and wanted != self.run_id:
            self.follow(wanted)

    # ------------------------------------------------------------------ following a run

    def follow(self, run_id: str) -> None:
        """Show this run from its first step (whole curve so far), then tail new points."""
        self.run_id = run_id
        self.run_name, self.status, self.error = run_id[:12], None, None
        self.total_steps = self.step = self.last_loss = self.last_lr = self.pairs_per_s = None
        self._step_times.clear()
        self._rates.clear()
        self.warning = self.phase = None
        self._tail = None
        self._from_tracker = False
        self._log_text = ""
        self.last_message = ""
        self.device, self.gpus, self.gpu_lines = None, None, []
        self.trainer_line, self._trainer_watch = "", TrainerWatch()
        self._load_device(run_id)
        self.loss_plot.clear()
        self.lr_plot.clear()
        self.eval_plot.clear()
        self.eval_plot.display = False
        self.query_one(Log).clear()
        self._open_events()
        if self._tail is None and self._job() is None:
            self._from_tracker = True  # not trained here: read the store
            self.query_one(Log).write_line(
                "(no local trainer log: the curve comes from the tracking store)"
            )
            self._load_history(run_id, after_step=-1)
        else:
            self._poll_events()
            self._read_log_and_liveness(run_id, self.status)
        self._show_stats()

    def _job(self):
        return job_for(self.run_id) if self.run_id else None

    def _open_events(self) -> None:
        if self.run_id is None or self._tail is not None:
            return
        path = RunFiles.for_run(self.run_id).events
        if path.exists():
            self._tail = EventTail(path)

    def _poll_events(self) -> None:
        if self.run_id is None or self._from_tracker:
            return
        if self._tail is None:
            self._open_events()
            if self._tail is None:
                return
        try:
            events = self._tail.read_new()
        except Exception as err:  # a half-written or unreadable file: say so once, keep going
            self.app.show_error(err, "reading the event file")
            self._from_tracker = True
            return
        if events:
            self.apply_events(events)

    def apply_events(self, events: list[dict]) -> None:
        loss, lr = [], []
        for event in events:
            kind = event.get("type")
            if kind == "start":
                self.run_name = event.get("name") or self.run_name
                self.total_steps = event.get("steps") or self.total_steps
                self.status = "RUNNING"
            elif kind == "step":
                step = int(event["step"])
                self.step = step
                self.last_loss, self.last_lr = event.get("loss"), event.get("lr")
                if event.get("pairs_per_s"):
                    self._rates.append(float(event["pairs_per_s"]))
                self.pairs_per_s = rolling_pairs_per_s(self._rates)
                loss.append((step, event.get("loss")))
                lr.append((step, event.get("lr")))
                self._step_times.append((float(event.get("t", time.time())), step))
                if self.status is None:
                    self.status = "RUNNING"
            elif kind == "eval":
                metrics = event.get("metrics") or {}
                self._plot_eval(event.get("step"), metrics)
                shown = [
                    f"{parsed.setting} {score_text(value, False)}"
                    for key, value in metrics.items()
                    if (parsed := parse_eval_key(key))
                    and parsed.is_average
                    and parsed.metric == "map"
                ]
                self._log_line(
                    f"eval at step {event.get('step')}: "
                    + (", ".join(shown) or f"{len(metrics)} metrics")
                )
            elif kind == "phase":
                self.phase = str(event.get("message", ""))
            elif kind == "log":
                self._log_line(str(event.get("message", "")))
            elif kind == "warning":
                self._warn(str(event.get("message", "")))
            elif kind == "progress":
                done, total = event.get("done", 0), event.get("total", 0)
                self._log_line(f"{event.get('description', 'working')}: {done}/{total}")
            elif kind == "end":
                self._ended(str(event.get("status", "FINISHED")), event.get("error"))
        if loss:
            self.loss_plot.add_points(loss)
            self.lr_plot.add_points(lr)
        self._show_stats()

    def _ended(self, status: str, error: str | None) -> None:
        already = self.status in ("FINISHED", "FAILED", "KILLED")
        self.status, self.error = status, error
        if already:
            return
        if status == "FAILED":
            self.app.show_error_line(f"training {self.run_name} failed: {error or 'see the log'}")
        elif status == "FINISHED" and self.is_current():
            self.notify(f"{self.run_name} finished; press enter for its results", timeout=6)

    def _plot_eval(self, step: Any, metrics: dict) -> None:
        """The averaged mAP of each setting of the first eval set, at the step it was taken."""
        scores: dict[str, float] = {}
        for key, value in metrics.items():
            parsed = parse_eval_key(key)
            if parsed and parsed.is_average and parsed.metric == "map":
                scores.setdefault(parsed.setting, float(value) * 100)
        if scores and step is not None:
            self.eval_plot.add_scores(float(step), scores)
            self.eval_plot.display = True

    def _warn(self, message: str) -> None:
        if message and message != self.warning:
            self.warning = message
            if self.is_current():
                self.notify(message, title="training warning", severity="warning", timeout=10)

    def is_current(self) -> bool:
        return self.app.screen is self

    def _log_line(self, line: str) -> None:
        self.last_message = line

    # ------------------------------------------------------------------ slow checks

    def _slow_poll(self) -> None:
        if self.run_id is None:
            return
        if self._from_tracker:
            if self.status in (None, "RUNNING"):
                self._load_history(self.run_id, after_step=int(self.step or -1))
            return
        self._read_log_and_liveness(self.run_id, self.status)
        if self.gpus and self.status == "RUNNING":
            self._read_gpu(self.run_id, self.gpus)
        elif self.gpus == [] and self.status in (None, "RUNNING"):
            self._read_trainer_use(self.run_id)
        elif self.trainer_line:  # the trainer has ended: its last figures are no reading
            self._set_trainer_line(self.run_id, "")

    @work(thread=True, exclusive=True, group="live-log", exit_on_error=False)
    def _read_log_and_liveness(self, run_id: str, status: str | None) -> None:
        job = jobs.job_for(run_id)
        if job is None:
            self.app.call_from_thread(
                self._show_log_tail, run_id, "(no local trainer log for this run)", False
            )
            return
        text = jobs.tail(job.log_path, 60)
        # reads only: the run stays RUNNING in the store until reconciled (F on Runs)
        dead = status in (None, "RUNNING") and not jobs.is_alive(job)
        self.app.call_from_thread(self._show_log_tail, run_id, text, dead)

    def _show_log_tail(self, run_id: str, text: str, dead: bool) -> None:
        if run_id != self.run_id:
            return
        if text and text != self._log_text:
            self._log_text = text
            log = self.query_one(Log)
            following = log.scroll_y >= log.max_scroll_y  # scrolled up: the user is reading
            kept = log.scroll_y
            log.clear()
            log.write_lines(text.splitlines(), scroll_end=False)
            if following:
                log.call_after_refresh(log.scroll_end, animate=False, immediate=True)
            else:
                log.call_after_refresh(log.scroll_to, y=kept, animate=False, immediate=True)
        if dead and self.status in (None, "RUNNING"):
            self._poll_events()  # an end event may have landed just now
            if self.status in (None, "RUNNING"):
                last = text.strip().splitlines()[-1] if text.strip() else "no log"
                from hybrid_tui.jobs.reconcile import GONE

                self.status = f"RUNNING · {GONE}"
                self.error = (
                    f"the trainer process died ({last}); F on Runs (or `{command('reconcile')}`) "
                    "marks the run FAILED"
                )
                self.app.show_error_line(f"training {self.run_name}: {self.error}")
                self._show_stats()

    @work(thread=True, exclusive=True, group="live-history", exit_on_error=False)
    def _load_history(self, run_id: str, after_step: int) -> None:
        try:
            tracker = self.app.tracker()
            loss = tracker.metric_history(run_id, TRAIN_LOSS, after_step=after_step)
            lr = tracker.metric_history(run_id, TRAIN_LR, after_step=after_step)
            detail = tracker.get_run(run_id) if after_step < 0 or not loss else None
        except Exception as err:
            self.app.show_error(err, "reading the run's curve")
            return
        status = detail.status if detail is not None else None
        if detail is not None:
            self.app.call_from_thread(self._set_detail, run_id, detail)
        self.post_message(CurveHistoryLoaded(run_id, loss, lr, status))

    def _set_detail(self, run_id: str, detail: Any) -> None:
        if run_id != self.run_id:
            return
        self.run_name = detail.name or self.run_name
        self.total_steps = detail.steps or self.total_steps

    def on_curve_history_loaded(self, message: CurveHistoryLoaded) -> None:
        if message.run_id != self.run_id:
            return
        self.loss_plot.add_points(message.loss)
        self.lr_plot.add_points(message.lr)
        if message.loss:
            self.step, self.last_loss = int(message.loss[-1][0]), message.loss[-1][1]
        if message.lr:
            self.last_lr = message.lr[-1][1]
        if message.status:
            self.status = message.status
        self._show_stats()

    @work(thread=True, exclusive=True, group="device", exit_on_error=False)
    def _load_device(self, run_id: str) -> None:
        """The run's device and GPU list: from its local job record, else its MLflow tags."""
        device, cuda_visible = _local_device(run_id)
        if device is None:
            try:
                tags = self.app.tracker().get_run(run_id).tags
            except Exception as err:
                self.app.show_error(err, "reading the run's device")
                return
            device = tags.get("hybrid_tui.device")
            cuda_visible = tags.get("hybrid_tui.cuda_visible_devices")
        gpus = run_gpus(device, cuda_visible) if device else None
        lines = [format_gpu_reading(r) for r in gpu_readings(gpus)] if gpus else []
        self.app.call_from_thread(self._set_device, run_id, device, gpus, lines)

    def _set_device(
        self, run_id: str, device: str | None, gpus: list[int] | None, lines: list[str]
    ) -> None:
        if run_id != self.run_id:
            return
        self.device, self.gpus, self.gpu_lines = device, gpus, lines
        self._show_gpu()
        if gpus == [] and self.status in (None, "RUNNING") and not self._from_tracker:
            self._read_trainer_use(run_id)

    @work(thread=True, exclusive=True, group="gpu", exit_on_error=False)
    def _read_gpu(self, run_id: str, gpus: list[int]) -> None:
        lines = [format_gpu_reading(reading) for reading in gpu_readings(gpus)]
        self.app.call_from_thread(self._set_gpu_lines, run_id, lines)

    def _set_gpu_lines(self, run_id: str, lines: list[str]) -> None:
        if run_id == self.run_id:
            self.gpu_lines = lines
            self._show_gpu()

    @work(thread=True, exclusive=True, group="trainer-use", exit_on_error=False)
    def _read_trainer_use(self, run_id: str) -> None:
        use = self._trainer_watch.read(run_id)
        line = format_trainer_use(use) if use else ""
        self.app.call_from_thread(self._set_trainer_line, run_id, line)

    def _set_trainer_line(self, run_id: str, line: str) -> None:
        if run_id == self.run_id:
            self.trainer_line = line
            self._show_gpu()

    def _show_gpu(self) -> None:
        self.query_one("#live-gpu", Static).update(
            gpu_pane_text(self.device, self.gpus, self.gpu_lines, self.trainer_line)
        )

    # ------------------------------------------------------------------ display

    def _show_stats(self) -> None:
        title = self.query_one("#live-title", Static)
        stats = self.query_one("#live-stats", Static)
        if self.run_id is None:
            title.update(NO_RUN)
            stats.update("")
            return
        status = self.status or "starting"
        colour = {"RUNNING": "green", "FAILED": "red", "KILLED": "yellow"}.get(status, "")
        colour = "bold yellow" if status.endswith("trainer gone") else colour
        title.update(
            Text.assemble(plain(self.run_name, style="bold"), "  ", plain(status, style=colour))
        )
        parts = []
        if self.step is not None:
            total = f"/{self.total_steps}" if self.total_steps else ""
            parts.append(f"step {self.step}{total}")
        elif self.phase and status in ("starting", "RUNNING"):
            parts.append(visible(self.phase) + " …")
        if self.last_loss is not None:
            parts.append(f"loss {self.last_loss:.4f}")
            smoothed = self.smoothed_loss()
            if smoothed is not None:
                parts.append(f"smoothed {smoothed:.4f}")
        if self.last_lr is not None:
            parts.append(f"lr {self.last_lr:.2e}")
        if self.pairs_per_s is not None and status == "RUNNING":
            parts.append(f"{rate_text(self.pairs_per_s)} pairs/s")
        eta = self.eta_seconds()
        if status == "RUNNING" and self.total_steps and (self.step or 0) >= self.total_steps:
            parts.append("training done, evaluating")
        elif eta is not None and status == "RUNNING":
            parts.append(f"ETA {duration(eta)}")
        lines = [Text("  ·  ".join(parts))]
        if self.warning:  # the trainer's and the store's text: shown as written, never markup
            lines.insert(0, plain(f" ⚠ {self.warning} ", "bold reverse yellow", newlines=True))
        if self.error:
            lines.append(plain(self.error, "red", newlines=True))
        elif self.last_message:
            lines.append(plain(self.last_message, newlines=True))
        stats.update(Text("\n").join(lines))

    def smoothed_loss(self) -> float | None:
        """The EMA of the loss at its last point (None when smoothing is off)."""
        plot = self.loss_plot
        if not plot.smoothing or not plot.values:
            return None
        return smooth_ema(plot.values, plot.smoothing)[-1]

    def eta_seconds(self) -> float | None:
        if len(self._step_times) < 2 or not self.total_steps or self.step is None:
            return None
        (t0, s0), (t1, s1) = self._step_times[0], self._step_times[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return (self.total_steps - self.step) * (t1 - t0) / (s1 - s0)

    # ------------------------------------------------------------------ actions

    def action_cycle_smoothing(self) -> None:
        """The next EMA weight (0 → 0.6 → 0.9 → 0.99 → 0)."""
        now = self.loss_plot.smoothing
        later = [weight for weight in SMOOTHING_WEIGHTS if weight > now]
        weight = later[0] if later else SMOOTHING_WEIGHTS[0]
        self.loss_plot.set_smoothing(weight)
        self.notify(f"loss smoothing {weight:g}" if weight else "loss smoothing off", timeout=2)
        self._show_stats()

    def action_results(self) -> None:
        if self.run_id:
            self.app.open_results(self.run_id)

    def action_cancel_run(self) -> None:
        if self.run_id is None or self.status not in (None, "RUNNING"):
            self.notify("no running trainer to cancel", severity="warning")
            return
        self.notify(f"asking {self.run_name} to stop (it checkpoints first)…", timeout=4)
        cancel_in_background(self, self.run_id)


def gpu_pane_text(
    device: str | None, gpus: list[int] | None, lines: list[str], trainer_line: str = ""
) -> str:
    """What the device pane says: per-GPU readings, or that the run is on the CPU with what its
    trainer process uses (while it runs)."""
    if device is None:
        return "device: not recorded for this run"
    if gpus is None:
        return ""
    if not gpus:
        return f"CPU (no GPU)  {trainer_line}" if trainer_line else "CPU (no GPU)"
    if not lines:
        listed = ", ".join(str(i) for i in gpus)
        return f"{device}: GPU {listed} not readable here (no NVML driver on this machine)"
    return "\n".join(lines)


def _local_device(run_id: str) -> tuple[str | None, str | None]:
    """(device, CUDA_VISIBLE_DEVICES) from the run's local job record ((None, None) without)."""
    try:
        record = json.loads(RunFiles.for_run(run_id).job.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None, None
    return record.get("device"), record.get("cuda_visible_devices")
