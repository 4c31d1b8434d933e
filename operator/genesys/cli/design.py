"""`genesys design`: one design session from command-line flags (a thin shell over
`python -m genesys.agents.session`, which runs from a job manifest).

    genesys design --evolution evo.yaml --store runs/artifacts --name gpt2-m1 \\
        --operation mutation --parents gpt2 --seed 7 --out runs/artifacts/demo/designs/gpt2-m1
    genesys design ... --designer llm --model openai/my-model --api-base http://127.0.0.1:8000/v1 \\
        --api-key-env MY_KEY       # the LLM designer with one model for every role

Reads parents from <store>/<evolution>/designs/<parent>/design.yaml and avoids
structural duplicates of every design there (and of the library seeds). Writes OUT/
design.yaml, check.json, outcome.json and the transcript session.jsonl (exit 0), or
session.jsonl, the last checked candidate's check.json and a failed outcome.json
(exit 1). Exit 2: bad input, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from genesys.cli.errors import usage_error, user_errors

if TYPE_CHECKING:
    from genesys.api.evolution import DesignerSpec

console = Console()


def chosen_designer(evolution: DesignerSpec, kind: str | None, model: str | None, api_base: str | None,
                    api_key_env: str | None) -> DesignerSpec:
    """The evolution's designer, or the one the flags ask for; raises ValueError naming the flag to fix.

    `--designer llm --model M` calls M for every role (at `--api-base`, with the key in `--api-key-env`;
    unset: the provider's): the roles' own models and endpoints give way, while the evolution's prices,
    caps, limits and the roles' temperatures, token and time limits are kept when it has an llm spec.
    """
    from genesys.api.evolution import LLMDesignerSpec, LLMModelChoice, LLMRoles

    if kind not in (None, "gp", "llm"):
        raise ValueError(f"--designer {kind!r}: use gp or llm")
    flags = {"--model": model, "--api-base": api_base, "--api-key-env": api_key_env}
    given = [flag for flag, value in flags.items() if value is not None]
    if given and kind != "llm":
        raise ValueError(f"{', '.join(given)}: only for the LLM designer; add --designer llm")
    if kind is None:
        return evolution
    if kind == "gp":
        return evolution.model_copy(update={"kind": "gp"})
    if model is None:
        if given:
            raise ValueError(f"{', '.join(given)}: set with --model MODEL (e.g. openai/gpt-4o), which it applies to")
        if evolution.llm is None:
            raise ValueError("--designer llm: the evolution has no designer.llm; pass --model MODEL "
                             "(e.g. openai/gpt-4o), or give the evolution designer.llm")
        return evolution.model_copy(update={"kind": "llm"})
    if not model.strip():
        raise ValueError("--model is empty: pass a litellm model name such as openai/gpt-4o")
    where = {"models": [LLMModelChoice(model=model)], "api_base": api_base, "api_key_env": api_key_env}
    base = evolution.llm
    if base is None:
        llm = LLMDesignerSpec(roles=LLMRoles.model_validate({"default": where}))
    else:
        unset = {"models": None, "api_base": None, "api_key_env": None}  # each role inherits the default's
        roles = base.roles.model_copy(update={
            "default": base.roles.default.model_copy(update=where),
            **{role: settings.model_copy(update=unset) for role, settings in base.roles if
               role != "default" and settings is not None}})
        llm = base.model_copy(update={"roles": roles})
    chosen = evolution.model_copy(update={"kind": "llm", "llm": llm})
    # validated whole, as the session will read its job: the spec's own rules hold for the result too
    return type(evolution).model_validate(chosen.model_dump(mode="json", by_alias=True, exclude_none=True))


def design(
    evolution: Path = typer.Option(..., help="The Evolution manifest (designer.maxAttempts, designer.checkScale)."),
    store: Path = typer.Option(..., help="Artifact store root: designs live in STORE/<evolution>/designs/."),
    name: str = typer.Option(..., help="Name of the new design (lower-case letters, digits, '-', '.')."),
    operation: str = typer.Option(..., help="mutation (1 parent), crossover (2+ parents) or scratch (none)."),
    parents: list[str] = typer.Option([], "--parents", help="Parent design names in the store (repeatable)."),
    seed: int = typer.Option(0, help="Random seed of the session: same seed, same candidates."),
    out: Path = typer.Option(..., help="Output directory, normally STORE/<evolution>/designs/NAME."),
    designer: str = typer.Option(None, help="gp or llm: instead of the evolution's designer.kind."),
    model: str = typer.Option(None, help="With --designer llm: the litellm model every role calls, e.g. "
                                         "openai/gpt-4o (the evolution's prices, caps and limits are kept)."),
    api_base: str = typer.Option(None, help="With --model: its endpoint, e.g. http://127.0.0.1:8000/v1 "
                                            "(default: the provider's)."),
    api_key_env: str = typer.Option(None, help="With --model: the environment variable holding its key "
                                               "(default: the provider's usual one)."),
) -> None:
    """Design a new block with the evolution's designer (or --designer) until one candidate passes the checker."""
    from pydantic import ValidationError

    from genesys.agents.session import SessionInputError, run_job
    from genesys.api import ObjectMeta, load_manifest
    from genesys.api.evolution import Evolution
    from genesys.api.session import DesignSessionJob, DesignSessionJobSpec

    with user_errors():
        evo = load_manifest(evolution, Evolution)
    try:
        chosen = chosen_designer(evo.spec.designer, designer, model, api_base, api_key_env)
    except ValueError as err:
        raise usage_error(str(err)) from None
    try:
        job = DesignSessionJob(metadata=ObjectMeta(name=name), spec=DesignSessionJobSpec.model_validate(
            {"evolution": evo.name, "operation": operation, "parents": parents, "seed": seed, "store": str(store),
             "designer": chosen}))
    except ValidationError as err:
        first = err.errors()[0]
        where = str(first["loc"][-1]) if first["loc"] else ""
        field = {"name": "--name", "operation": "--operation"}.get(where, "--operation/--parents")
        raise usage_error(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
    if chosen.kind == "llm" and chosen.llm is not None:
        how = f"with the LLM designer ({', '.join(chosen.llm.models())})"
    else:
        how = f"up to {chosen.max_attempts} checked candidates"
    console.print(f"designing {name!r} ({operation} of {', '.join(parents) or 'nothing'}), {how}")
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
