"""The run report behind `genesys report`: one standalone HTML file (inline CSS and SVG, no scripts).

`render_report_html(snapshot)` returns the page: header, leaderboard, plots, evolution tree and
failures. Every text from the run (names, titles, reasons) is escaped; the page is well-formed
XML apart from its doctype, so browsers and XML tools read it alike.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone

from genesys.local import plots, svg
from genesys.local.snapshot import DesignView, RungScores, RunSnapshot
from genesys.local.tree import best_design, render_tree_svg

esc = svg.escape

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; max-width: 1300px;
       padding: 0 1em; color: #111827; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #e5e7eb; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 0.3em 1.5em; }
.facts dt { color: #6b7280; font-size: 0.85em; } .facts dd { margin: 0 0 0.4em 0; font-weight: 600; }
table { border-collapse: collapse; font-size: 0.9em; width: 100%; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f9fafb; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #fffbeb; } .title { color: #6b7280; font-size: 0.85em; }
.scores { margin: 0; padding: 0; list-style: none; font-size: 0.85em; } .base { color: #6b7280; }
.phase { padding: 0.05em 0.45em; border-radius: 0.6em; font-size: 0.85em; background: #f3f4f6; }
.phase-Verified, .phase-Completed { background: #dcfce7; } .phase-Failed, .phase-Interrupted { background: #fee2e2; }
.phase-Verifying, .phase-Running { background: #fef3c7; } .phase-Implemented { background: #dbeafe; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; } .plots svg { border: 1px solid #e5e7eb; }
.tree { overflow: auto; max-height: 80vh; border: 1px solid #e5e7eb; }
.failures li { margin-bottom: 0.3em; } .muted { color: #6b7280; }
"""


def moment(ts: float) -> str:
    if ts <= 0:
        return "\u2014"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"


def phase_badge(phase: str) -> str:
    return f'<span class="phase phase-{esc(phase)}">{esc(phase)}</span>'


def counts(values: dict[str, int]) -> str:
    return ", ".join(f"{v} {esc(k)}" for k, v in values.items() if v) or "none"


def render_header(snapshot: RunSnapshot) -> str:
    by_phase = Counter(d.phase for d in snapshot.designs)
    elapsed = snapshot.updated_at - snapshot.started_at if snapshot.started_at > 0 else 0
    facts = [
        ("phase", phase_badge(snapshot.phase)),
        ("started", esc(moment(snapshot.started_at))),
        ("updated", f"{esc(moment(snapshot.updated_at))} ({duration(elapsed)} in)"),
        ("designs", f"{len(snapshot.designs)} ({counts({str(phase): n for phase, n in by_phase.items()})})"),
        ("verifications", counts(snapshot.verifications)),
        ("design sessions", counts(snapshot.sessions)),
        ("ladder", esc(" \u2192 ".join(snapshot.rungs)) or "\u2014"),
        ("run directory", f"<code>{esc(snapshot.run_dir)}</code>"),
    ]
    if snapshot.completed_reason:
        facts.append(("completed because", esc(snapshot.completed_reason)))
    items = "".join(f"<div><dt>{name}</dt><dd>{value}</dd></div>" for name, value in facts)
    return f"<header><h1>{esc(snapshot.evolution)}</h1><dl class=\"facts\">{items}</dl></header>"


def task_scores(best: RungScores | None) -> str:
    """Per-task scores at the best rung, each beside the random-logits baseline."""
    if best is None or not best.scores:
        return "\u2014"
    rows = []
    for task, score in sorted(best.scores.items()):
        base = best.baselines.get(task)
        base_text = f' <span class="base">(baseline {base:.3f})</span>' if base is not None else ""
        rows.append(f"<li>{esc(task)}: {score:.3f}{base_text}</li>")
    return f'<ul class="scores">{"".join(rows)}</ul>'


def fitness_cell(d: DesignView, rung: str) -> str:
    found = next((r for r in d.rungs if r.rung == rung), None)
    if found is not None:
        shown = f" \u00b1 {found.stderr:.3f}" if found.stderr is not None else ""
        tip = f"evaluation \u00b1 {found.fitness_stderr:.3f}" if found.fitness_stderr is not None else ""
        if found.stderr is not None:
            tip = f"\u00b1 combined stderr (evaluation and training noise); {tip or 'no evaluation stderr'}"
        return f'<td class="num" title="{esc(tip)}">{esc(svg.format_fitness(found.fitness) + shown)}</td>'
    if rung in d.failed_rungs:
        return f'<td class="num" title="{esc(d.failed_rungs[rung])}">failed</td>'
    return '<td class="num">\u2014</td>'


def design_cell(d: DesignView) -> str:
    return f'<td><strong>{esc(d.name)}</strong><div class="title">{esc(d.title)}</div></td>'


def parents_text(d: DesignView) -> str:
    return esc(" \u00d7 ".join(d.parents)) if d.parents else '<span class="muted">seed</span>'


def leaderboard_row(d: DesignView, rungs: tuple[str, ...], best: str | None) -> str:
    top = d.best
    rating = f"{d.rating:.3f}" if d.rating is not None and math.isfinite(d.rating) else "\u2014"
    cells = [
        f'<td class="num">{d.rank}</td>',
        design_cell(d),
        f"<td>{esc(d.operation)}</td>",
        f"<td>{parents_text(d)}</td>",
        f"<td>{esc(top.rung) if top else chr(0x2014)}</td>",
        *(fitness_cell(d, rung) for rung in rungs),
        f"<td>{task_scores(top)}</td>",
        f'<td class="num">{svg.format_count(top.params) if top and top.params is not None else chr(0x2014)}</td>',
        f'<td class="num">{rating}</td>',
        f'<td class="num">{esc(d.lead_text() or chr(0x2014))}</td>',
        f"<td>{esc(d.quadrant or chr(0x2014))}</td>",
    ]
    marker = ' class="best"' if d.name == best else ""
    return f'<tr{marker} data-design="{esc(d.name)}">{"".join(cells)}</tr>'


def render_leaderboard(snapshot: RunSnapshot) -> str:
    board = snapshot.leaderboard()
    if not board:
        return ('<h2>Leaderboard</h2>'
                '<p class="muted">No design is rated yet: ratings follow the first verifications.</p>')
    rungs = plots.rung_order(snapshot)
    heads = ["rank", "design", "operation", "parents", "best rung", *(f"fitness @ {r}" for r in rungs),
             "task scores at best rung", "parameters", "rating", "lead over the seeds", "quadrant"]
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    best = best_design(snapshot)
    rows = "".join(leaderboard_row(d, rungs, best) for d in board)
    note = ('<p class="muted">Fitness \u00b1 its stderr: evaluation sampling and training noise (measured by '
            "the seeds' repeats, ladder.seedRepeats). Lead: fitness minus the best other seed's at the best "
            "rung, in those stderrs; confident needs |lead| \u2265 selection.confidenceZ.</p>")
    return (f'<h2>Leaderboard</h2><table class="leaderboard"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
            f"</table>{note}")


def render_unrated(snapshot: RunSnapshot) -> str:
    """Designs the core has not rated yet (implemented, verifying or failed), in creation order."""
    waiting = [d for d in snapshot.designs if d.rank is None]
    if not waiting:
        return ""
    rows = "".join(
        f'<tr data-design="{esc(d.name)}">{design_cell(d)}<td>{esc(d.operation)}</td>'
        f"<td>{parents_text(d)}</td><td>{phase_badge(d.phase)}</td><td>{esc(moment(d.created_at))}</td></tr>"
        for d in sorted(waiting, key=lambda d: d.order)
    )
    head = "".join(f"<th>{h}</th>" for h in ("design", "operation", "parents", "phase", "created"))
    return f'<h2>Not rated yet</h2><table class="unrated"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def render_failures(snapshot: RunSnapshot) -> str:
    items = []
    for d in snapshot.designs:
        if d.phase == "Failed" and not d.failed_rungs:
            items.append(f"<li><strong>{esc(d.name)}</strong> ({esc(d.operation)}): design failed before verification"
                         f' <span class="muted">{esc(d.title)}</span></li>')
        for rung, reason in d.failed_rungs.items():
            items.append(f"<li><strong>{esc(d.name)}</strong> at {esc(rung)}: {esc(reason)}</li>")
    body = f'<ul class="failures">{"".join(items)}</ul>' if items else '<p class="muted">None.</p>'
    return f"<h2>Failures</h2>{body}"


def render_plots(snapshot: RunSnapshot) -> str:
    charts = (plots.plot_fitness_history(snapshot), plots.plot_budgets(snapshot),
              plots.plot_fitness_vs_params(snapshot))
    return f'<h2>Progress</h2><div class="plots">{"".join(charts)}</div>'


def render_report_html(snapshot: RunSnapshot) -> str:
    """The whole report as one HTML document; write it to a file and open it in any browser."""
    sections = (
        render_header(snapshot),
        render_leaderboard(snapshot),
        render_plots(snapshot),
        f'<h2>Evolution tree</h2><div class="tree">{render_tree_svg(snapshot)}</div>',
        render_unrated(snapshot),
        render_failures(snapshot),
    )
    generated = f'<footer class="muted">Snapshot of {esc(moment(snapshot.updated_at))}, by genesys report.</footer>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>genesys: {esc(snapshot.evolution)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(sections)}{generated}</body></html>\n"
    )
