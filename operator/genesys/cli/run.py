"""`genesys run EVOLUTION.yaml` and the commands that look at a run.

    genesys run examples/evolution-local.yaml      # runs (or continues) in ./runs/<name>
    genesys status | designs [--top N] [--rung R] [--json] | show DESIGN | tree | report

Each inspection command takes `--run-dir` (default: the most recent run under ./runs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.live import Live
from rich.syntax import Syntax

from genesys.cli.errors import err_console, usage_error

if TYPE_CHECKING:
    from genesys.api import Design
    from genesys.local.metrics import RunMetrics
    from genesys.local.snapshot import RunSnapshot

console = Console()
RUN_DIR_HELP = "The run directory (default: the most recent run under ./runs)."


def _run_dir(run_dir: Path | None) -> Path:
    """--run-dir, else the most recently written run under ./runs (naming the others on stderr)."""
    from genesys.local.run_dir import runs_under

    if run_dir is not None:
        return run_dir
    runs = runs_under(Path("runs"))
    if not runs:
        raise usage_error("no run under ./runs: pass --run-dir, or start one with `genesys run EVOLUTION.yaml`")
    if len(runs) > 1:
        others = ", ".join(str(p) for p in runs[1:])
        err_console.print(f"showing {runs[0]}, the most recent of {len(runs)} runs (others: {others}; "
                          "pick one with --run-dir)", highlight=False, soft_wrap=True)
    return runs[0]


def _snapshot(run_dir: Path | None):
    from genesys.local.run_dir import RunDirError, build_snapshot, open_run

    try:
        run = open_run(_run_dir(run_dir))
    except RunDirError as err:
        raise usage_error(str(err)) from None
    return run, build_snapshot(run)


def _manifest_problem(message: str, evolution_file: Path) -> str:
    """The message of a RunDirError, located: `spec.` problems name the manifest file."""
    return f"{evolution_file}: {message}" if message.startswith("spec.") else message


class _RunDisplay:
    """What `genesys run` shows while it works: a live view on a terminal, else event lines; metrics."""

    def __init__(self, quiet: bool, metrics_port: int):
        self.live = Live(console=console, refresh_per_second=2, transient=False) \
            if console.is_terminal and not quiet else None
        self.log_events = not quiet and self.live is None
        self.metrics_port = metrics_port
        self.metrics: RunMetrics | None = None
        self.previous: RunSnapshot | None = None  # the last snapshot, to diff the next one against

    def print_events(self, snapshot: RunSnapshot) -> None:
        from genesys.local.events import run_events

        if self.log_events:
            for line in run_events(self.previous, snapshot):
                print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)  # plain: a log line stays one line
        self.previous = snapshot

    def on_start(self, opened) -> None:
        from genesys.local.metrics import RunMetrics

        console.print(f"run dir: [bold]{opened.run_dir}[/]  (artifacts: {opened.artifacts.root})")
        if self.metrics_port >= 0:
            self.metrics = RunMetrics(opened)
            port = self.metrics.serve(self.metrics_port)
            console.print(f"metrics: http://127.0.0.1:{port}/metrics")
        if self.live is not None:
            self.live.start()

    def on_turn(self, snapshot, executor) -> None:
        from genesys.local.progress import progress_view

        if self.metrics is not None:
            self.metrics.update()
        self.print_events(snapshot)
        if self.live is not None:
            self.live.update(progress_view(snapshot, [f"{k} {n}" for (k, n) in executor.children]))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def preflight_designer(evolution_file: Path) -> None:
    """An LLM designer's models answer and their keys are set, before anything starts (exit 2 if not).

    One test call per model through `genesys.agents.llm.preflight`; with the GP designer nothing is
    imported (litellm stays out of the process).
    """
    from genesys.local.runner import load_evolution

    evolution, _ = load_evolution(evolution_file)
    llm = evolution.spec.designer.llm
    if evolution.spec.designer.kind != "llm" or llm is None:
        return
    try:
        from genesys.agents.llm import PreflightError, preflight
    except ImportError as err:
        raise usage_error(f"designer.kind is llm but the LLM designer is not installed ({err}); "
                          "pip install 'genesys-lm[agents]'") from None
    try:
        preflight(llm)
    except PreflightError as err:
        raise usage_error(f"{evolution_file}: the LLM designer cannot start: {err}; nothing was started") from None


def run(
    evolution_file: Path = typer.Argument(..., help="An Evolution manifest, e.g. examples/evolution-local.yaml."),
    run_dir: Path = typer.Option(None, help="Where state and artifacts go (default: ./runs/<evolution name>)."),
    store: str = typer.Option(None, help="The artifact store: a directory or an fsspec URL such as s3://bucket/runs "
                                         "(needs pip install 'genesys-lm[s3]'); overrides spec.artifacts.url. "
                                         "A run keeps the store it started with."),
    metrics_port: int = typer.Option(0, help="Serve Prometheus metrics on 127.0.0.1:PORT (0: a free port; -1: off)."),
    quiet: bool = typer.Option(False, help="No progress output: no live view on a terminal, no event lines "
                                           "into a log or pipe."),
) -> None:
    """Run the evolution loop on this machine; run it again to continue after an interruption.

    On a terminal it shows a live view; into a log file or a pipe, one timestamped line per event.
    With an LLM designer, its models are called once first: a missing key or an unreachable model
    stops here (exit 2) with nothing started. Exit 1: the run ended Failed (its LLM became unusable).
    """
    from genesys.api import ManifestError
    from genesys.local.progress import summary_line
    from genesys.local.run_dir import RunDirError
    from genesys.local.runner import RunOptions, run_evolution

    try:
        preflight_designer(evolution_file)
    except ManifestError as err:
        raise usage_error(str(err)) from None
    except RunDirError as err:
        raise usage_error(_manifest_problem(str(err), evolution_file)) from None
    display = _RunDisplay(quiet, metrics_port)
    try:
        result = run_evolution(evolution_file, RunOptions(run_dir=run_dir, store=store), on_turn=display.on_turn,
                               on_start=display.on_start)
    except ManifestError as err:
        raise usage_error(str(err)) from None
    except RunDirError as err:
        raise usage_error(_manifest_problem(str(err), evolution_file)) from None
    finally:
        display.stop()
    display.print_events(result.snapshot)
    console.print(summary_line(result.snapshot))
    if not result.completed:
        console.print("interrupted: run the same command again to continue")
        raise typer.Exit(130)
    if result.snapshot.phase == "Failed":
        raise typer.Exit(1)  # the summary above says why
    console.print(f"look at it: genesys designs --run-dir {result.snapshot.run_dir} | genesys report ...")


def status(run_dir: Path = typer.Option(None, help=RUN_DIR_HELP)) -> None:
    """Phase, budgets per rung and the current best design of a run."""
    from genesys.local.progress import budget_table, phase_counts, summary_line

    _, snap = _snapshot(run_dir)
    console.print(summary_line(snap))
    console.print(budget_table(snap))
    console.print(f"sessions: {phase_counts(snap.sessions)}  verifications: {phase_counts(snap.verifications)}",
                  highlight=False)


def designs(
    run_dir: Path = typer.Option(None, help=RUN_DIR_HELP),
    top: int = typer.Option(None, min=1, help="Only the N best-rated designs (unrated ones are left out)."),
    rung: str = typer.Option(None, help="Only designs verified at this rung."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array of design objects, in the table's order."),
) -> None:
    """The designs of a run, like `kubectl get designs`: rated ones best first, then the unrated ones."""
    from genesys.local.progress import designs_table

    _, snap = _snapshot(run_dir)
    if rung is not None and rung not in snap.rungs:
        raise usage_error(f"unknown rung {rung!r}; this run's rungs are {', '.join(snap.rungs)}")
    chosen = snap.leaderboard() + [d for d in snap.designs if d.rank is None]
    if rung is not None:
        chosen = [d for d in chosen if any(r.rung == rung for r in d.rungs)]
    if top is not None:
        chosen = [d for d in chosen if d.rank is not None][:top]
    if as_json:
        print(json.dumps([d.to_dict() for d in chosen], indent=2))
    elif top is not None and not chosen:
        console.print(f"no design is rated yet{f' at {rung}' if rung else ''}: ratings come from designs verified "
                      f"at the same rung. `genesys designs` without --top lists all {len(snap.designs)}.",
                      highlight=False)
    else:
        console.print(designs_table(chosen))


def _print_design(manifest: Design) -> None:
    """Proposal, unit tree and code of a Design manifest."""
    if manifest.spec.proposal:
        console.print(f"[bold]{manifest.spec.proposal.title}[/]\n{manifest.spec.proposal.abstract}")
        if manifest.spec.proposal.body:
            console.print(manifest.spec.proposal.body)
    tree = manifest.spec.tree
    console.print(f"\n[bold]tree[/] (root {tree.root})")
    for name in reversed(tree.reachable()):
        unit = tree.units.get(name)
        args = f" args={unit.args}" if unit and unit.args else ""
        console.print(f"  {name} -> {', '.join(unit.children) if unit else '(placeholder)'}{args}")
    for name in reversed(tree.reachable()):
        if name in tree.units and tree.units[name].code:
            console.print(Syntax(tree.units[name].code, "python", line_numbers=False, word_wrap=True))


def show(
    design: str = typer.Argument(..., help="A design name (see `genesys designs`)."),
    run_dir: Path = typer.Option(None, help=RUN_DIR_HELP),
) -> None:
    """One design: proposal, unit tree, code, check report and scores per rung."""
    from genesys.api import ManifestError
    from genesys.api.naming import suggest

    run, snap = _snapshot(run_dir)
    try:
        view = snap.design(design)
    except KeyError:
        raise usage_error(
            f"no design {design!r} in {run.run_dir}; {suggest(design, [d.name for d in snap.designs])}") from None
    console.rule(f"{view.name}  ({view.operation} of {', '.join(view.parents) or '-'}; {view.phase})")
    if view.session_usd:
        console.print(f"its design session spent ${view.session_usd:.3f} on LLM calls", highlight=False)
    try:
        manifest = run.artifacts.read_design(design)
    except ManifestError as broken:
        raise usage_error(f"{broken}\n(the design's file in the artifact store is broken)") from None
    if manifest is not None:
        _print_design(manifest)
    report = run.artifacts.read_check(design)
    if report is not None:
        checks = ", ".join(f"{c.name}:{c.status}" for c in report.checks)
        console.print(f"\n[bold]check[/] passed={report.passed}  {checks}")
    for r in view.rungs:
        tasks = ", ".join(f"{t} {s:.3f} (baseline {r.baselines.get(t, float('nan')):.3f})" for t, s in r.scores.items())
        err = f" \u00b1 {r.stderr:.4f}" if r.stderr is not None else ""
        err += f" (evaluation \u00b1 {r.fitness_stderr:.4f})" if r.fitness_stderr is not None else ""
        console.print(f"[bold]{r.rung}[/] fitness {r.fitness:.4f}{err}  params {r.params}  held-out loss "
                      f"{r.heldout_loss}  device-s {r.device_seconds:.0f}  {r.resources_text()}\n  {tasks}")
    if view.rank is not None:
        lead = view.lead_text() or "no other seed verified there"
        console.print(f"rank {view.rank}, {view.quadrant}; lead at {view.best.rung if view.best else '-'}: {lead}")
    for where, reason in view.failed_rungs.items():
        console.print(f"[red]failed at {where}:[/] {reason}")


def tree(
    run_dir: Path = typer.Option(None, help=RUN_DIR_HELP),
    svg: Path = typer.Option(None, help="Also write the tree as an SVG file (default: <run dir>/tree.svg)."),
) -> None:
    """The evolution tree (lineage of every design) in the terminal and as SVG."""
    from genesys.local.tree import render_tree_svg, render_tree_text

    run, snap = _snapshot(run_dir)
    console.print(render_tree_text(snap))
    out = svg or run.run_dir / "tree.svg"
    out.write_text(render_tree_svg(snap), encoding="utf-8")
    console.print(f"wrote {out}")


def report(
    run_dir: Path = typer.Option(None, help=RUN_DIR_HELP),
    out: Path = typer.Option(None, help="The HTML file to write (default: <run dir>/report.html)."),
) -> None:
    """An HTML report: leaderboard, best fitness over time, budget use, fitness vs parameters, the tree."""
    from genesys.local.report import render_report_html

    run, snap = _snapshot(run_dir)
    out = out or run.run_dir / "report.html"
    out.write_text(render_report_html(snap), encoding="utf-8")
    console.print(f"wrote {out}")
