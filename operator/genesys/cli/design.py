"""`genesys design`: one offline (GP) design session, written into the artifact store.

    genesys design --evolution evo.yaml --store runs/artifacts --name gpt2-m1 \\
        --operation mutation --parents gpt2 --seed 7 --out runs/artifacts/demo/designs/gpt2-m1

Reads parents from <store>/<evolution>/designs/<parent>/design.yaml and avoids
structural duplicates of every design there (and of the library seeds). Writes OUT/
design.yaml, check.json, session.jsonl (exit 0), or session.jsonl, failed.json and the
last checked candidate's check.json when no candidate passed (exit 1). Exit 2: bad
input, nothing written. OUT is built in a temporary directory beside it and renamed
into place, so a killed session never leaves a partial result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from genesys.cli.errors import usage_error, user_errors

console = Console()


def _designs_dir(store: Path, evolution: str) -> Path:
    return store / evolution / "designs"


def _load_parents(designs: Path, names: list[str]) -> list:
    from genesys.api import Design, load_manifest

    parents = []
    for name in names:
        path = designs / name / "design.yaml"
        if not path.is_file():
            known = sorted(p.parent.name for p in designs.glob("*/design.yaml")) if designs.is_dir() else []
            hint = f"designs in the store: {', '.join(known)}" if known else f"{designs} holds no designs yet"
            raise usage_error(f"parent {name!r} not found: no {path}; {hint}. Pass names of designs in the store "
                        "to --parents, or check --store and the evolution's name")
        parents.append(load_manifest(path, Design))
    return parents


def _existing(designs: Path, out: Path) -> list:
    """Every design in the store (except OUT's own, which this session replaces) and the seeds."""
    from genesys.api import Design, load_manifest
    from genesys.gau import seed_design, seed_names

    found = [seed_design(s) for s in seed_names()]
    if designs.is_dir():
        for path in sorted(designs.glob("*/design.yaml")):
            if path.parent.name.startswith(".") or path.parent.resolve() == out.resolve():
                continue
            found.append(load_manifest(path, Design))
    return found


def _write_result(out: Path, files: dict[str, str]) -> None:
    """Write `files` into a fresh temporary directory beside OUT, then swap it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the result is read by other processes
        for name, text in files.items():
            with open(tmp / name, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.{os.getpid()}.old"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def design(
    evolution: Path = typer.Option(..., help="The Evolution manifest (designer.maxAttempts, designer.checkScale)."),
    store: Path = typer.Option(..., help="Artifact store root: designs live in STORE/<evolution>/designs/."),
    name: str = typer.Option(..., help="Name of the new design (lower-case letters, digits, '-', '.')."),
    operation: str = typer.Option(..., help="mutation (1 parent), crossover (2+ parents) or scratch (none)."),
    parents: list[str] = typer.Option([], "--parents", help="Parent design names in the store (repeatable)."),
    seed: int = typer.Option(0, help="Random seed of the session: same seed, same candidates."),
    out: Path = typer.Option(..., help="Output directory, normally STORE/<evolution>/designs/NAME."),
) -> None:
    """Design a new block with the GP designer until one candidate passes the checker."""
    from genesys.api import ManifestError, ObjectMeta, dump_manifest, load_manifest
    from genesys.api.evolution import Evolution

    with user_errors():
        evo = load_manifest(evolution, Evolution)
    try:
        ObjectMeta(name=name)
    except ValueError as err:
        raise usage_error(f"--name: {err.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    designs = _designs_dir(store, evo.name)

    from genesys.agents.gp import check_parent_count, run_session
    from genesys.gau.checker import CheckConfig, quick_config

    try:
        check_parent_count(operation, len(parents))
    except ValueError as err:
        raise usage_error(f"--operation/--parents: {err}") from None
    loaded = _load_parents(designs, parents)
    try:
        existing = _existing(designs, out)
    except ManifestError as err:
        raise usage_error(f"{err}\n(a design in the store is broken: fix or remove it)") from None
    # Wall-clock ratios swing with the machine's load (just over 3x was seen on a busy box);
    # a session's verdict must not, or the same seed makes a different design. FLOPs and
    # memory ratios (deterministic) keep their limits; time fails only when far off.
    timing = {"time_ratio": (1.5, 10.0), "abort_time_ratio": 20.0}
    config = quick_config(**timing) if evo.spec.designer.check_scale == "quick" else CheckConfig(**timing)
    console.print(f"designing {name!r} ({operation} of {', '.join(parents) or 'nothing'}), "
                  f"up to {evo.spec.designer.max_attempts} checked candidates")
    result = run_session(name, operation, loaded, existing, seed, evo.spec.designer.max_attempts, config,
                         evolution=evo.name)
    log = "".join(json.dumps(a.to_dict()) + "\n" for a in result.attempts)
    files = {"session.jsonl": log}
    if result.report is not None:
        files["check.json"] = json.dumps(result.report, indent=2) + "\n"
    if result.design is not None:
        files["design.yaml"] = dump_manifest(result.design)
        _write_result(out, files)
        console.print(f"[green]passed[/] after {result.checked} checked candidate(s): "
                      f"{result.design.spec.proposal.title}")
        console.print(f"wrote {out / 'design.yaml'}")
        return
    last = result.attempts[-1].reason if result.attempts else "no attempt was made"
    files["failed.json"] = json.dumps({"reason": f"no candidate passed in {result.checked} checked attempt(s); "
                                                 f"last: {last}", "attempts": len(result.attempts),
                                      "checked": result.checked}, indent=2) + "\n"
    _write_result(out, files)
    console.print(f"[red]failed[/]: no candidate passed ({result.checked} checked); wrote {out / 'failed.json'}")
    raise typer.Exit(1)
