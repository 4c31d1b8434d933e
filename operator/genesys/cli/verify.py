"""`genesys verify DESIGN.yaml --rung cpu-1 --out DIR`: check, train and evaluate one design.

The same step as `python -m genesys.trainer.verification` (what pods and torchrun run).
`--repeats K` verifies K times with training seeds seed, seed+1, ... (OUT/seed-<s>/, each
resumable) and summarises the spread in OUT/noise.json: training noise that a single run's
`fitness_stderr` (evaluation sampling only) does not show.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from genesys.api.results import VerificationResult
from genesys.cli.errors import user_errors

console = Console()


def first_problem(result: VerificationResult) -> str | None:
    """The first failed check of a result the checker refused, located as `genesys check` prints it."""
    from genesys.gau.checker.report import CheckResult

    if result.reason != "check_failed" or result.check is None or not result.check.failures:
        return None
    check = CheckResult.from_dict(result.check.failures[0].to_dict())
    return f"{check.name}: {check.located_message()}"


def verify(
    design: str = typer.Argument(None, help="Design manifest file or seed name (or use --job)."),
    rung: str = typer.Option("cpu-1", help="Rung preset: cpu-1..3, paper-14m..paper-350m, debug."),
    out: Path = typer.Option(..., help="Output directory: result.json, metrics.jsonl, checkpoints/, eval/."),
    tasks: str = typer.Option("local", help="Evaluation task set: local (offline) or paper9 (needs the hub)."),
    data: str = typer.Option("embedded", help="'embedded', local .txt/.jsonl files or globs, or a hub dataset."),
    job: Path = typer.Option(None, help="A VerificationJob manifest instead of the options above."),
    set_: list[str] = typer.Option([], "--set", help="Override a rung field, e.g. --set lr=2e-3."),
    seed: int = typer.Option(0, help="Training seed (the first one with --repeats)."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip the symbolic checker."),
    repeats: int = typer.Option(1, min=1, help="Verify K times with training seeds seed..seed+K-1; "
                                               "writes OUT/seed-<s>/ per run and OUT/noise.json."),
) -> None:
    """Pretrain and evaluate one design at one rung; always writes OUT/result.json (or, with
    --repeats K > 1, OUT/seed-<s>/result.json per training seed and OUT/noise.json)."""
    from genesys.trainer.data import DataConfig
    from genesys.trainer.presets import PresetError, get_rung, parse_overrides, with_overrides
    from genesys.trainer.train import TrainOptions
    from genesys.trainer.verification import job_inputs
    from genesys.trainer.verification import verify as run

    with user_errors():
        try:
            if job is not None:
                inputs = job_inputs(job)
                design, rung_cfg, tasks, data_cfg, seed, check = (inputs.design, inputs.rung, inputs.tasks,
                                                                   inputs.data, inputs.seed, inputs.check)
            elif design is not None:
                rung_cfg = with_overrides(get_rung(rung), parse_overrides(set_))
                data_cfg, check = DataConfig(source=data), not no_check
            else:
                raise typer.BadParameter("give a DESIGN or --job FILE")
        except PresetError as err:
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(2) from None
    if repeats > 1:
        from genesys.trainer.noise import read_result, seed_dir

        results = []
        for s in range(seed, seed + repeats):
            # a finished seed is kept, so running the same command again resumes the rest
            done = read_result(seed_dir(out, s))
            result = done or run(design, rung_cfg, seed_dir(out, s), tasks, data_cfg, TrainOptions(seed=s),
                                 check and s == seed)
            results.append(result)
            if result.reason in ("invalid_design", "check_failed"):
                break  # the design itself is at fault: no other seed can train it
        report_noise(results, out)
        return
    result = run(design, rung_cfg, out, tasks, data_cfg, TrainOptions(seed=seed), check)
    summary = result.model_dump(include={"design", "rung", "status", "reason", "message", "fitness", "fitness_stderr",
                                         "wall_seconds"})
    if result.train is not None:
        summary |= {"final_loss": result.train.final_loss, "heldout_loss": result.train.heldout_loss}
    console.print_json(json.dumps(summary, default=str))
    problem = first_problem(result)
    if problem:
        console.print(Text(f"first problem: {problem}", style="red"))
    console.print(f"wrote {out / 'result.json'}")
    if result.status != "succeeded":
        raise typer.Exit(1 if result.status == "failed" else 3)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def noise_table(summary: dict) -> Table:
    """Per task and for fitness: mean, sd across training seeds, stderr of the mean, evaluation stderr."""
    seeds = ", ".join(str(s) for s in summary["seeds"])
    table = Table(title=f"{summary['design']} @ {summary['rung']}: {len(summary['seeds'])} training seeds ({seeds})",
                  title_justify="left", caption="TRAIN-SD: sample sd across training seeds; SEM: stderr of the "
                  "mean; EVAL-SE: one run's evaluation stderr", caption_justify="left")
    for col in ("", "MEAN", "TRAIN-SD", "SEM", "EVAL-SE", "SD/EVAL"):
        table.add_column(col, justify="left" if not col else "right")
    rows = [("fitness", summary["fitness"]), *summary["tasks"].items()]
    for name, s in rows:
        ratio = s["train_sd_over_eval_stderr"]
        table.add_row(name, _number(s["mean"]), _number(s["sd"]), _number(s["sem"]), _number(s["eval_stderr"]),
                      "-" if ratio is None else f"{ratio:.2f}", style="bold" if name == "fitness" else None)
    return table


def report_noise(results: list[VerificationResult], out: Path) -> None:
    """Write OUT/noise.json, print the table; exit 1 if a run failed, 3 if one was interrupted."""
    from genesys.trainer.noise import NOISE, noise_summary

    summary = noise_summary(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / NOISE).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    console.print(noise_table(summary))
    for failed in summary["failed"]:
        console.print(Text(f"seed {failed['seed']} {failed['reason']}: {failed['message']}", style="red"))
    console.print(f"wrote {out / NOISE}")
    statuses = {r.status for r in results}
    if statuses != {"succeeded"}:
        raise typer.Exit(3 if "interrupted" in statuses else 1)
