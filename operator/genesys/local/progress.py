"""Terminal views of a run (rich): the live progress of `genesys run`, `status` and `designs`."""

from __future__ import annotations

import time

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from genesys.local.snapshot import DesignView, RunSnapshot

PHASE_STYLE = {"Verified": "green", "Verifying": "cyan", "Implemented": "white", "Failed": "red"}


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def budget_table(snapshot: RunSnapshot) -> Table:
    """Runs per rung. On a narrow terminal only BEST gives way: it wraps between fitness and name,
    and folds (not cuts) a name that does not fit; rungs and numbers are never shortened."""
    table = Table(title="scale budgets", title_justify="left")
    for col in ("RUNG", "USED", "RUNNING", "RELEASED", "TOTAL", "DEVICE-S", "BEST"):
        table.add_column(col, justify="left" if col == "RUNG" else "right", no_wrap=col != "BEST", overflow="fold")
    for b in snapshot.budgets:
        scores = [(r.fitness, d.name) for d in snapshot.designs for r in d.rungs if r.rung == b.rung]
        best = max(scores) if scores else None
        table.add_row(b.rung, str(b.used), str(b.running), str(b.released), str(b.total), f"{b.device_seconds:.0f}",
                      f"{best[0]:.3f} {best[1]}" if best else "-")
    return table


def phase_counts(counts: dict[str, int]) -> str:
    """`3 succeeded, 1 running` (phases with none left out), or `none`."""
    return ", ".join(f"{n} {phase}" for phase, n in counts.items() if n) or "none"


def summary_line(snapshot: RunSnapshot) -> Text:
    by_phase: dict[str, int] = {}
    for d in snapshot.designs:
        by_phase[d.phase] = by_phase.get(d.phase, 0) + 1
    phases = "  ".join(f"{p} {n}" for p, n in sorted(by_phase.items()))
    board = snapshot.leaderboard()
    best = f"best {board[0].standing_text()}" if board else "no verified design yet"
    spend = f"  LLM ${snapshot.llm_usd:.2f}" if snapshot.llm_usd > 0 else ""
    line = Text(f"{snapshot.evolution}  {snapshot.phase}  {_duration(snapshot.elapsed)}  "
                f"designs: {phases or 'none'}  {best}{spend}")
    if snapshot.completed_reason and snapshot.phase == "Failed":
        line.append(f"\nfailed: {snapshot.completed_reason}", style="red")
    elif snapshot.completed_reason:
        line.append(f"\ncompleted: {snapshot.completed_reason}", style="green")
    return line


def usd_text(usd: float) -> str:
    """`$0.042`: a session's LLM spend (cents matter: a session often costs less than one)."""
    return f"${usd:.3f}" if usd else "-"


def designs_table(designs: list[DesignView], title: str = "designs") -> Table:
    """Like `kubectl get designs`: rank, name, phase, parents, operation, best rung, fitness, lead, age.

    FITNESS is at the best rung with its combined stderr (evaluation and training noise) and the
    lead over the best other seed there in those stderrs: `0.512 ±0.014 +2.3σ vs mamba2`.

    USD, what each design session spent on LLM calls, shows when one spent anything (an LLM designer).

    Names and numbers never shrink; when the terminal is narrow only PARENTS and FITNESS give way,
    wrapping between words (and folding a name only when a single one does not fit), so nothing is cut.
    """
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    spent = any(d.session_usd for d in designs)
    columns = ("RANK", "NAME", "PHASE", "PARENTS", "OP", "BEST-RUNG", "FITNESS", *(("USD",) if spent else ()), "AGE")
    for col in columns:
        wraps = col in ("PARENTS", "FITNESS")
        table.add_column(col, no_wrap=not wraps, overflow="fold", min_width=len(col),
                         justify="right" if col in ("RANK", "FITNESS", "USD") else "left")
    now = time.time()
    for d in designs:
        cells: list[RenderableType] = [
            str(d.rank) if d.rank else "-", d.name, Text(d.phase, style=PHASE_STYLE.get(d.phase, "")),
            ", ".join(d.parents) or "-", d.operation, d.best.rung if d.best else "-",
            " ".join(filter(None, (d.fitness_text(), d.lead_text()))),
        ]
        if spent:
            cells.append(usd_text(d.session_usd))
        cells.append(_duration(now - d.created_at) if d.created_at else "-")
        table.add_row(*cells)
    return table


def progress_view(snapshot: RunSnapshot, running: list[str]) -> Group:
    top = snapshot.leaderboard()[:5]
    parts: list[RenderableType] = [summary_line(snapshot), budget_table(snapshot)]
    if top:
        parts.append(designs_table(top, title="leaderboard (top 5)"))
    parts.append(Text("running: " + (", ".join(running) if running else "-"), style="cyan"))
    return Group(*parts)
