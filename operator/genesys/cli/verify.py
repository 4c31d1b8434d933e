"""`genesys verify DESIGN.yaml --rung cpu-1 --out DIR`: check, train and evaluate one design.

The same step as `python -m genesys.trainer.verification` (what pods and torchrun run).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from genesys.cli.errors import user_errors

console = Console()


def verify(
    design: str = typer.Argument(None, help="Design manifest file or seed name (or use --job)."),
    rung: str = typer.Option("cpu-1", help="Rung preset: cpu-1..3, paper-14m..paper-350m, debug."),
    out: Path = typer.Option(..., help="Output directory: result.json, metrics.jsonl, checkpoints/, eval/."),
    tasks: str = typer.Option("local", help="Evaluation task set: local (offline) or paper9 (needs the hub)."),
    data: str = typer.Option("embedded", help="'embedded', local .txt/.jsonl files or globs, or a hub dataset."),
    job: Path = typer.Option(None, help="A VerificationJob manifest instead of the options above."),
    set_: list[str] = typer.Option([], "--set", help="Override a rung field, e.g. --set lr=2e-3."),
    seed: int = typer.Option(0),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the symbolic checker."),
) -> None:
    """Pretrain and evaluate one design at one rung; always writes OUT/result.json."""
    from genesys.trainer.data import DataConfig
    from genesys.trainer.presets import PresetError, get_rung, parse_overrides, with_overrides
    from genesys.trainer.train import TrainOptions
    from genesys.trainer.verification import job_arguments
    from genesys.trainer.verification import verify as run

    with user_errors():
        try:
            if job is not None:
                design, rung_cfg, tasks, data_cfg, seed, check = job_arguments(job)
            elif design is not None:
                rung_cfg = with_overrides(get_rung(rung), parse_overrides(set_))
                data_cfg, check = DataConfig(source=data), not no_check
            else:
                raise typer.BadParameter("give a DESIGN or --job FILE")
        except PresetError as err:
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(2) from None
    result = run(design, rung_cfg, out, tasks, data_cfg, TrainOptions(seed=seed), check)
    summary = {k: result.get(k) for k in ("design", "rung", "status", "reason", "message", "fitness",
                                          "fitness_stderr", "final_loss", "heldout_loss", "wall_seconds")}
    console.print_json(json.dumps(summary, default=str))
    console.print(f"wrote {out / 'result.json'}")
    if result["status"] != "succeeded":
        raise typer.Exit(1 if result["status"] == "failed" else 3)
