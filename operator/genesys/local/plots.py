"""The report's three plots as inline SVG: best fitness so far, budget use per rung, fitness vs parameters.

Each `plot_*(snapshot)` returns one `<svg class="plot">`; with nothing to show it still returns
an SVG that says so, so the report's layout does not depend on the run's progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from genesys.local import svg
from genesys.local.snapshot import RunSnapshot

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777")
BUDGET_BARS = (("used", "#2563eb"), ("running", "#f59e0b"), ("released", "#93c5fd"), ("total", "#d1d5db"))


@dataclass(frozen=True)
class Frame:
    """A plot area inside a fixed-size SVG; px/py map data to pixels (x optionally log10)."""

    x_range: tuple[float, float]
    y_range: tuple[float, float]
    log_x: bool = False
    width: float = 560
    height: float = 300
    left: float = 60
    right: float = 16
    top: float = 44
    bottom: float = 46

    def px(self, x: float) -> float:
        lo, hi = (math.log10(v) for v in self.x_range) if self.log_x else self.x_range
        x = math.log10(x) if self.log_x else x
        return self.left + (x - lo) / (hi - lo) * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        lo, hi = self.y_range
        return self.height - self.bottom - (y - lo) / (hi - lo) * (self.height - self.top - self.bottom)


def rung_order(snapshot: RunSnapshot) -> tuple[str, ...]:
    """The ladder, then any rung the results name that the ladder does not (kept, not dropped)."""
    seen = dict.fromkeys(snapshot.rungs)
    seen.update(dict.fromkeys(r.rung for d in snapshot.designs for r in d.rungs))
    seen.update(dict.fromkeys(h[2] for h in snapshot.history))
    seen.update(dict.fromkeys(b.rung for b in snapshot.budgets))
    return tuple(seen)


def rung_colours(snapshot: RunSnapshot) -> dict[str, str]:
    return {rung: PALETTE[i % len(PALETTE)] for i, rung in enumerate(rung_order(snapshot))}


def padded(values: Sequence[float], floor: float | None = None) -> tuple[float, float]:
    """A data range with some air, never empty (one value or all equal)."""
    # clamped so that range arithmetic stays finite even for absurd (e.g. diverged) values
    lo, hi = (min(max(v, -1e300), 1e300) for v in (min(values), max(values)))
    air = (hi - lo) * 0.08 or (abs(hi) * 0.1 or 1.0)
    lo, hi = lo - air, hi + air
    return (max(lo, floor), hi) if floor is not None else (lo, hi)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) inside [lo, hi]."""
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    ticks = [m * 10**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    inside = [t for t in ticks if lo <= t <= hi]
    return inside if len(inside) >= 2 else [lo, hi]


def axes(frame: Frame, xticks: list[float], yticks: list[float], labels: tuple[str, str],
         xfmt: Callable[[float], str] = svg.format_count) -> str:
    """Grid lines, tick labels and the two axis titles."""
    x0, x1 = frame.left, frame.width - frame.right
    y0, y1 = frame.height - frame.bottom, frame.top
    parts = []
    for y in yticks:
        py = frame.py(y)
        parts.append(svg.element("line", x1=x0, y1=py, x2=x1, y2=py, stroke="#e5e7eb"))
        parts.append(svg.text(x0 - 6, py + 4, f"{y:.3g}", text_anchor="end", fill="#4b5563"))
    for x in xticks:
        px = frame.px(x)
        parts.append(svg.element("line", x1=px, y1=y0, x2=px, y2=y0 + 4.0, stroke="#6b7280"))
        parts.append(svg.text(px, y0 + 16, xfmt(x), text_anchor="middle", fill="#4b5563"))
    parts.append(svg.element("polyline", points=f"{x0},{y1} {x0},{y0} {x1},{y0}", fill="none", stroke="#6b7280"))
    parts.append(svg.text((x0 + x1) / 2, frame.height - 8, labels[0], text_anchor="middle"))
    middle = svg.number((y0 + y1) / 2)
    parts.append(svg.text(14, (y0 + y1) / 2, labels[1], text_anchor="middle", transform=f"rotate(-90 14 {middle})"))
    return "".join(parts)


def key(items: Sequence[tuple[str, str]], frame: Frame) -> str:
    """A one-line legend under the plot's title."""
    parts, x = [], frame.left
    for label, colour in items:
        parts.append(svg.element("rect", x=float(x), y=24.0, width=10, height=10, fill=colour))
        parts.append(svg.text(x + 14, 33, label))
        x += 28 + 6.5 * len(label)
    return "".join(parts)


def chart(name: str, body: str, frame: Frame | None = None) -> str:
    frame = frame or Frame((0, 1), (0, 1))
    heading = svg.text(frame.left, 16, name, font_weight="bold", font_size=13)
    return svg.document(frame.width, frame.height, heading + body, name, "plot")


def empty(name: str, reason: str) -> str:
    frame = Frame((0, 1), (0, 1), height=120)
    return chart(name, svg.text(frame.left, 64, reason, fill="#6b7280"), frame)


def dot(x: float, y: float, colour: str, tip: str, radius: float = 3.5) -> str:
    return svg.element("circle", svg.title(tip), cx=x, cy=y, r=radius, fill=colour, fill_opacity=0.8)


def plot_fitness_history(snapshot: RunSnapshot) -> str:
    """Best fitness so far per rung over the verifications in finishing order (dots: each verification)."""
    name = "Best fitness so far"
    finished = [(i, d, r, f) for i, (_, d, r, f) in enumerate(snapshot.history, 1) if math.isfinite(f)]
    if not finished:
        return empty(name, "no verification has finished yet")
    frame = Frame(padded([0, len(snapshot.history)], floor=0), padded([f for *_, f in finished]))
    colours = rung_colours(snapshot)
    lines, dots = [], []
    for rung in rung_order(snapshot):
        best, path = -math.inf, list[str]()
        for i, design, r, fitness in finished:
            if r != rung:
                continue
            label = f"#{i} {design} @ {rung}: {fitness:.3f}"
            dots.append(dot(frame.px(i), frame.py(fitness), colours[rung], label, 2.5))
            best = max(best, fitness)
            x, y = svg.number(frame.px(i)), svg.number(frame.py(best))
            path.append(f"H{x} V{y}" if path else f"M{x},{y}")  # a step: the best holds until beaten
        if path:
            path.append(f"H{svg.number(frame.px(len(snapshot.history)))}")  # the best still holds at the end
            lines.append(svg.element("path", d=" ".join(path), fill="none", stroke=colours[rung], stroke_width=2.0,
                                     class_="series", data_rung=rung))
    xticks = [t for t in nice_ticks(*frame.x_range) if t == int(t) and t >= 1] or [1.0]
    labels = ("verifications, in finishing order", "fitness")
    body = axes(frame, xticks, nice_ticks(*frame.y_range), labels, lambda x: str(int(x)))
    used = [r for r in rung_order(snapshot) if any(f[2] == r for f in finished)]
    return chart(name, body + key([(r, colours[r]) for r in used], frame) + "".join(lines) + "".join(dots), frame)


def plot_budgets(snapshot: RunSnapshot) -> str:
    """Per rung: verifications used, running, released and the rung's total budget."""
    name = "Scale budgets (runs per rung)"
    if not snapshot.budgets:
        return empty(name, "no scale budget recorded yet")
    top = max(max(b.total, b.released, b.used + b.running) for b in snapshot.budgets)
    frame = Frame((0, len(snapshot.budgets)), (0, max(top, 1) * 1.12), width=max(560, 130 * len(snapshot.budgets)))
    slot = frame.px(1) - frame.px(0)
    bar = slot * 0.8 / len(BUDGET_BARS)
    parts = []
    for g, budget in enumerate(snapshot.budgets):
        left = frame.px(g) + slot * 0.1
        for b, (field, colour) in enumerate(BUDGET_BARS):
            value = getattr(budget, field)
            x, y = left + b * bar, frame.py(value)
            rect = svg.element("rect", svg.title(f"{budget.rung} {field}: {value}"), x=x, y=y, width=bar - 2,
                               height=frame.py(0) - y, fill=colour, class_=f"bar {field}")
            parts.append(rect + svg.text(x + bar / 2 - 1, y - 3, value, text_anchor="middle", font_size=10))
        hours = budget.device_seconds / 3600
        caption = f"{budget.rung} ({hours:.2f} device-h)"
        parts.append(svg.text(frame.px(g + 0.5), frame.py(0) + 16, caption, text_anchor="middle"))
    body = axes(frame, [], nice_ticks(*frame.y_range), ("", "verifications"))
    return chart(name, body + key([(f, c) for f, c in BUDGET_BARS], frame) + "".join(parts), frame)


def plot_fitness_vs_params(snapshot: RunSnapshot) -> str:
    """Every succeeded verification with a parameter count: non-embedding parameters vs fitness."""
    name = "Fitness vs parameters"
    points = [(d.name, r, r.params) for d in snapshot.designs for r in d.rungs
              if r.params is not None and r.params > 0 and math.isfinite(r.fitness)]
    if not points:
        return empty(name, "no verification with a parameter count yet")
    params = [p for *_, p in points]
    log_x = max(params) / min(params) > 10
    x_range = (min(params) / 1.3, max(params) * 1.3) if log_x else padded(params, floor=0)
    frame = Frame(x_range, padded([r.fitness for _, r, _ in points]), log_x=log_x)
    colours = rung_colours(snapshot)
    dots = [dot(frame.px(size), frame.py(r.fitness), colours[r.rung],
                f"{design} @ {r.rung}: {r.fitness:.3f}, {svg.format_count(size)} params") for design, r, size in points]
    xticks = log_ticks(*x_range) if log_x else nice_ticks(*x_range)
    body = axes(frame, xticks, nice_ticks(*frame.y_range), ("non-embedding parameters", "fitness"))
    used = [r for r in rung_order(snapshot) if any(p.rung == r for _, p, _ in points)]
    return chart(name, body + key([(r, colours[r]) for r in used], frame) + "".join(dots), frame)
