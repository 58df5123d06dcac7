"""The training screen's learning curve: mean game length against games played, with axes and values.

Two series: the mean length of the training games of each progress report (sampled play, so it sits above the
policy's greedy skill) and the exact evaluations (masked argmax over the 120 placements) as points. Two labelled
reference lines: the hunter's 12.075 and the optimum's 12.050. Drawn with plotext through textual-plotext; the
legend is a line of text beside the chart (plotext's own legend box would cover the start of the curve).

The whole run spans 57 strikes down to 12, where the reference lines, 0.025 apart, share a row: the close-up
(``zoomed``) shows the last third of the run, scaled to the values there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from textual.color import Color
from textual.content import Content
from textual.reactive import reactive
from textual_plotext import PlotextPlot

# Exact means over the 120 uniform placements (tests check them against engine.evaluation).
HUNTER_MEAN = 12.075  # the greedy Bayesian hunter, masked argmax with lowest-index ties: 489 misses in 120 games
OPTIMAL_MEAN = 12.05  # Bayes-optimal play (engine.solver): 486 misses, 241/20

# A report comes about once a second: a run of ten hours would be 36,000 points, far more than any chart has
# columns. Past this many points a series keeps every second one (first and last always stay).
MAX_POINTS = 2_000
CLOSE_UP_FRACTION = 1 / 3  # the close-up shows the last third of the games played


def nice_step(span: float, count: int) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) that cuts ``span`` into about ``count`` intervals."""
    raw = span / max(count, 1)
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw * 0.999:
            return multiple * magnitude
    return 10 * magnitude


def ticks(low: float, high: float, count: int) -> list[float]:
    """Round values from ``low`` to ``high`` (inclusive), about ``count`` intervals apart."""
    step = nice_step(high - low, count)
    first = math.ceil(low / step - 1e-9) * step
    values, value = [], first
    while value <= high + step * 1e-9:
        values.append(round(value, 10))
        value += step
    return values


def format_games(games: float) -> str:
    """0, 512, 50k, 150k, 1.5M: tick labels short enough for an 80-column axis."""
    if games >= 1_000_000:
        return f"{games / 1_000_000:g}M"
    if games >= 10_000:
        return f"{games / 1_000:g}k"
    return f"{games:g}"


def format_strikes(value: float, step: float) -> str:
    """As many decimals as the tick step needs: 20, 12.5, 12.05."""
    decimals = next((d for d in range(4) if abs(step * 10 ** d - round(step * 10 ** d)) < 1e-6), 4)
    return f"{value:.{decimals}f}"


def _thin(points: list[tuple[int, float]]) -> None:
    """Halve a series in place once it passes MAX_POINTS (the first and the last point stay)."""
    if len(points) > MAX_POINTS:
        last = points[-1]
        del points[1::2]
        if points[-1] != last:
            points.append(last)


@dataclass
class Curve:
    """What the chart shows: (games, strikes) pairs, in the order the trainer reported them."""

    lengths: list[tuple[int, float]] = field(default_factory=list)  # mean length of the training games
    evaluations: list[tuple[int, float]] = field(default_factory=list)  # exact evaluations

    def add(self, games: int, mean_length: float, eval_exact: float | None = None) -> None:
        self.lengths.append((games, mean_length))
        _thin(self.lengths)
        if eval_exact is not None:
            self.evaluations.append((games, eval_exact))
            _thin(self.evaluations)

    def clear(self) -> None:
        self.lengths.clear()
        self.evaluations.clear()

    def window(self, zoomed: bool) -> tuple[float, float, float, float]:
        """The games (x) and strikes (y) ranges to draw: the whole run, or its last third."""
        games = [g for g, _ in self.lengths] + [g for g, _ in self.evaluations]
        x_high = max(games)
        x_low = x_high * (1 - CLOSE_UP_FRACTION) if zoomed else 0.0
        shown = [v for g, v in self.lengths + self.evaluations if g >= x_low] or [OPTIMAL_MEAN]
        y_low, y_high = min(min(shown), OPTIMAL_MEAN), max(max(shown), HUNTER_MEAN)
        pad = max((y_high - y_low) * 0.05, 0.01)
        return x_low, x_high, y_low - pad, y_high + pad


def legend() -> Content:
    """The chart's key, in the colours the chart uses (theme variables, so every theme works)."""
    return Content.from_markup(
        "[$primary]━━[/] training games  [$accent]•[/] exact evaluation  "
        f"[$foreground]──[/] hunter {HUNTER_MEAN:.3f}  [$success]──[/] optimum {OPTIMAL_MEAN:.3f}"
    )


class LearningCurve(PlotextPlot):
    """The chart. ``curve`` holds the data; ``zoomed`` switches to the close-up. Redrawn on every render, so a
    resize or a theme change re-fits the ticks and colours."""

    DEFAULT_CSS = """
    LearningCurve {
        height: 1fr;
        min-height: 9;
    }
    """

    zoomed: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.curve = Curve()

    def add(self, games: int, mean_length: float, eval_exact: float | None = None) -> None:
        self.curve.add(games, mean_length, eval_exact)
        self.refresh()

    def clear(self) -> None:
        self.curve.clear()
        self.refresh()

    def watch_zoomed(self) -> None:
        self.refresh()

    def render(self):
        self.draw()
        return super().render()

    def theme_colour(self, name: str) -> tuple[int, int, int]:
        return Color.parse(self.app.theme_variables[name]).rgb

    def draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        width, height = self.size
        if not self.curve.lengths or width < 20 or height < 6:
            return
        x_low, x_high, y_low, y_high = self.curve.window(self.zoomed)
        # Rows and columns of the plot area: the frame, the tick labels and the axis titles take the rest.
        rows, columns = max(height - 4, 2), max(width - 8, 10)

        plt.xlim(x_low, x_high)
        plt.ylim(y_low, y_high)
        x_ticks = ticks(x_low, x_high, max(2, columns // 12))
        plt.xticks(x_ticks, [format_games(tick) for tick in x_ticks])
        y_intervals = min(max(2, rows // 2), 8)  # a value every second row at most, and not a crowd of them
        y_step = nice_step(y_high - y_low, y_intervals)
        y_ticks = ticks(y_low, y_high, y_intervals)
        plt.yticks(y_ticks, [format_strikes(tick, y_step) for tick in y_ticks])
        plt.xlabel("games")
        plt.ylabel("strikes")

        # Reference lines first: the data is drawn over them.
        hunter, optimum = self.theme_colour("foreground"), self.theme_colour("success")
        plt.hline(HUNTER_MEAN, hunter)
        plt.hline(OPTIMAL_MEAN, optimum)
        lengths = [(g, v) for g, v in self.curve.lengths if g >= x_low]
        if lengths:
            plt.plot([g for g, _ in lengths], [v for _, v in lengths], marker="braille",
                     color=self.theme_colour("primary"))
        evaluations = [(g, v) for g, v in self.curve.evaluations if g >= x_low]
        if evaluations:
            plt.scatter([g for g, _ in evaluations], [v for _, v in evaluations], marker="•",
                        color=self.theme_colour("accent"))

        # Labels last, at the left end of their lines: the newest points are on the right, near these lines,
        # while the oldest are high above them. Lines drawn on the same row share one label.
        def row(value: float) -> int:  # as plotext places it: the plot's rows spread evenly over y_low..y_high
            return round((value - y_low) / (y_high - y_low) * (rows - 1))

        if row(HUNTER_MEAN) == row(OPTIMAL_MEAN):
            plt.text(f"hunter {HUNTER_MEAN:.3f} · optimum {OPTIMAL_MEAN:.3f}", x_low, HUNTER_MEAN, color=hunter,
                     alignment="left")
        else:
            plt.text(f"hunter {HUNTER_MEAN:.3f}", x_low, HUNTER_MEAN, color=hunter, alignment="left")
            plt.text(f"optimum {OPTIMAL_MEAN:.3f}", x_low, OPTIMAL_MEAN, color=optimum, alignment="left")
