"""A training curve (loss, learning rate) plotted in the terminal as points arrive.

textual-plotext redraws the whole chart on every refresh, so the widget keeps every point but
draws a thinned copy (about two points per column, each bucket's min and max) and redraws at
most every `REDRAW_S` seconds, however fast points come in. With a smoothing weight the raw
curve is drawn faint and its debiased EMA over it (TensorBoard's slider). `EvalPlot` draws the
evaluation scores (one line per setting) against the step they were measured at. Steps are
ticked in whole numbers; a curve of small values (the learning rate) is labelled `2.5e-05`.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual_plotext import PlotextPlot

from hybrid_tui.tui.live.curve_smoothing import smooth_ema
from hybrid_tui.tui.live.figures import step_ticks, value_ticks

REDRAW_S = 0.3


def thin_curve(
    steps: list[float], values: list[float], buckets: int
) -> tuple[list[float], list[float]]:
    """At most ~2×`buckets` points: for each run of consecutive points, its min and its max,
    in step order, so spikes survive thinning."""
    if buckets <= 0 or len(steps) <= 2 * buckets:
        return list(steps), list(values)
    out_steps: list[float] = []
    out_values: list[float] = []
    size = len(steps) / buckets
    for bucket in range(buckets):
        start, stop = int(bucket * size), int((bucket + 1) * size)
        if stop <= start:
            continue
        chunk = range(start, stop)
        low = min(chunk, key=values.__getitem__)
        high = max(chunk, key=values.__getitem__)
        for index in sorted({low, high}):
            out_steps.append(steps[index])
            out_values.append(values[index])
    return out_steps, out_values


class CurvePlot(PlotextPlot):
    """One curve against the training step; `add_points` is cheap, drawing is throttled."""

    def __init__(
        self,
        title: str,
        *,
        id: str | None = None,
        smoothing: float = 0.0,
        round_value_ticks: bool = False,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.round_value_ticks = round_value_ticks  # plotext writes 2.5e-05 as 0.0000250
        self.steps: list[float] = []
        self.values: list[float] = []
        self.smoothing = smoothing
        self._dirty = True

    def set_smoothing(self, weight: float) -> None:
        """The EMA weight of the smoothed line (0: the raw curve only)."""
        self.smoothing = weight
        self._dirty = True

    def smoothed(self) -> list[float]:
        return smooth_ema(self.values, self.smoothing)

    @property
    def points(self) -> int:
        """How many points the curve holds (not how many are drawn)."""
        return len(self.steps)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REDRAW_S, self._redraw_if_dirty)
        self._draw()

    def clear(self) -> None:
        self.steps, self.values = [], []
        self._dirty = True

    def add_points(self, points: Iterable[tuple[float, float]]) -> None:
        """Append (step, value) points; a step at or before the last one starts the curve over
        from there (a resumed run re-logs its steps)."""
        for step, value in points:
            if value is None or value != value:  # skip missing and NaN
                continue
            while self.steps and self.steps[-1] >= step:
                self.steps.pop()
                self.values.pop()
            self.steps.append(step)
            self.values.append(value)
            self._dirty = True

    def _redraw_if_dirty(self) -> None:
        if self._dirty:
            self._draw()

    def _draw(self) -> None:
        self._dirty = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        title = self.title + (f" (EMA {self.smoothing:g})" if self.smoothing else "")
        plt.title(title if self.steps else f"{self.title}: no points yet")
        plt.xlabel("step")
        if self.steps:
            width = max(self.size.width, 20)
            steps, values = thin_curve(self.steps, self.values, buckets=width)
            if self.smoothing:
                plt.plot(steps, values, marker="braille", color="gray")
                steps, values = thin_curve(self.steps, self.smoothed(), buckets=width)
            plt.plot(steps, values, marker="braille")
            plt.xticks(step_ticks(self.steps[0], self.steps[-1]))
            if self.round_value_ticks:
                plt.yticks(*value_ticks(min(self.values), max(self.values)))
        self.refresh()


class EvalPlot(PlotextPlot):
    """Evaluation scores against the step (one line per setting: mono, cross, multi)."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.series: dict[str, dict[float, float]] = {}

    @property
    def points(self) -> int:
        return sum(len(points) for points in self.series.values())

    def clear(self) -> None:
        self.series = {}
        self._draw()

    def add_scores(self, step: float, scores: dict[str, float]) -> None:
        """One evaluation: `{setting: score}` measured at `step` (a step seen again replaces)."""
        for label, value in scores.items():
            if value == value:
                self.series.setdefault(label, {})[step] = value
        self._draw()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.title)
        plt.xlabel("step")
        for label, points in self.series.items():
            steps = sorted(points)
            plt.plot(steps, [points[s] for s in steps], marker="braille", label=label)
        every_step = [step for points in self.series.values() for step in points]
        if every_step:
            plt.xticks(step_ticks(min(every_step), max(every_step)))
        self.refresh()
