"""`genesys design`: one design session from command-line flags (a thin shell over
`python -m genesys.agents.session`, which runs from a job manifest).

    genesys design --evolution evo.yaml --store runs/artifacts --name gpt2-m1 \\
        --operation mutation --parents gpt2 --seed 7 --out runs/artifacts/demo/designs/gpt2-m1

Reads parents from <store>/<evolution>/designs/<parent>/design.yaml and avoids
structural duplicates of every design there (and of the library seeds). Writes OUT/
design.yaml, check.json, outcome.json and the transcript session.jsonl (exit 0), or
session.jsonl, the last checked candidate's check.json and a failed outcome.json
(exit 1). Exit 2: bad input, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from genesys.cli.errors import usage_error, user_errors

console = Console()


def design(
    evolution: Path = typer.Option(..., help="The Evolution manifest (designer.maxAttempts, designer.checkScale)."),
    store: Path = typer.Option(..., help="Artifact store root: designs live in STORE/<evolution>/designs/."),
    name: str = typer.Option(..., help="Name of the new design (lower-case letters, digits, '-', '.')."),
    operation: str = typer.Option(..., help="mutation (1 parent), crossover (2+ parents) or scratch (none)."),
    parents: list[str] = typer.Option([], "--parents", help="Parent design names in the store (repeatable)."),
    seed: int = typer.Option(0, help="Random seed of the session: same seed, same candidates."),
    out: Path = typer.Option(..., help="Output directory, normally STORE/<evolution>/designs/NAME."),
) -> None:
    """Design a new block with the evolution's designer until one candidate passes the checker."""
    from pydantic import ValidationError

    from genesys.agents.session import SessionInputError, run_job
    from genesys.api import ObjectMeta, load_manifest
    from genesys.api.evolution import Evolution
    from genesys.api.session import DesignSessionJob, DesignSessionJobSpec

    with user_errors():
        evo = load_manifest(evolution, Evolution)
    try:
        job = DesignSessionJob(metadata=ObjectMeta(name=name), spec=DesignSessionJobSpec.model_validate(
            {"evolution": evo.name, "operation": operation, "parents": parents, "seed": seed, "store": str(store),
             "designer": evo.spec.designer}))
    except ValidationError as err:
        first = err.errors()[0]
        where = str(first["loc"][-1]) if first["loc"] else ""
        field = {"name": "--name", "operation": "--operation"}.get(where, "--operation/--parents")
        raise usage_error(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
    console.print(f"designing {name!r} ({operation} of {', '.join(parents) or 'nothing'}), "
                  f"up to {evo.spec.designer.max_attempts} checked candidates")
    try:
        outcome = run_job(job, out)
    except SessionInputError as err:
        raise usage_error(str(err)) from None
    if outcome.status == "succeeded":
        console.print(f"[green]passed[/] after {outcome.checked} checked candidate(s): {outcome.title}")
        console.print(f"wrote {out / 'design.yaml'}")
        return
    console.print(f"[red]failed[/] ({outcome.stage}): {outcome.reason}; wrote {out / 'outcome.json'}")
    raise typer.Exit(1)
