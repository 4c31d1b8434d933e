"""`genesys check DESIGN.yaml...`: the symbolic checker on design files.

Exit codes: 0 every design passed, 1 a design failed a check, 2 a file is not a valid design.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console

from genesys.cli.errors import user_errors

console = Console()
SCALES = ("full", "quick")


def check(
    designs: list[str] = typer.Argument(..., help="Design manifest files (or seed names)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per design (a list for several)."),
    scale: str = typer.Option("full", help="Probe sizes: 'full' (acceptance) or 'quick' (smaller, for fast loops)."),
) -> None:
    """Validate designs: format, init, forward, causality, gradients, stability, efficiency, complexity, sandbox."""
    from genesys.gau import load_design
    from genesys.gau.checker import CheckConfig, check_design, quick_config, render_report

    if scale not in SCALES:
        console.print(f"[red]error:[/] --scale must be one of {', '.join(SCALES)}, got {scale!r}")
        raise typer.Exit(2)
    with user_errors():  # every file is parsed before any is checked: a typo costs nothing
        loaded = [load_design(d) for d in designs]
    config = quick_config() if scale == "quick" else CheckConfig()
    reports = []
    for design in loaded:
        report = check_design(design, config)
        reports.append(report)
        if not as_json:
            console.print(render_report(report))
    if as_json:
        dicts = [r.to_dict() for r in reports]
        print(json.dumps(dicts[0] if len(dicts) == 1 else dicts, indent=2))
    if not all(r.passed for r in reports):
        raise typer.Exit(1)
