"""`genesys library ...`: the seed designs, the unit library, and importing the Genesys paper's designs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genesys.cli.errors import user_errors

app = typer.Typer(help="Seed designs and the unit library.", no_args_is_help=True)
console = Console()


@app.command("seeds")
def seeds(
    vocab_size: int = typer.Option(4096, help="Vocabulary size of the LM."),
    d_model: int = typer.Option(128, help="Model width."),
    n_block: int = typer.Option(4, help="Number of blocks."),
) -> None:
    """List the seed designs with their parameter counts at one width and depth."""
    from genesys.gau import design_parameters, seed_design, seed_names

    table = Table(title=f"seed designs at d_model={d_model}, n_block={n_block}, vocab={vocab_size}")
    for col in ("NAME", "ROOT"):
        table.add_column(col, no_wrap=True)
    for col in ("UNITS", "PARAMS", "NON-EMBEDDING"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("TITLE")
    with user_errors():
        for name in seed_names():
            design = seed_design(name)
            p = design_parameters(design, vocab_size, d_model, n_block)
            tree = design.spec.tree
            title = design.spec.proposal.title if design.spec.proposal else ""
            table.add_row(name, tree.root, str(len(tree.units)), f"{p.total:,}", f"{p.non_embedding:,}", title)
    console.print(table)


@app.command("units")
def units(role: str = typer.Option(None, help="Only units of this role (token_mixer, channel_mixer, ...).")) -> None:
    """List the unit library: each unit's role, children and hyper-parameter choices."""
    from genesys.gau import library
    from genesys.gau.library import ROLES

    if role is not None and role not in ROLES:
        console.print(f"[red]error:[/] unknown role {role!r}; roles are {', '.join(ROLES)}")
        raise typer.Exit(2)
    table = Table(title="unit library")
    table.add_column("UNIT", no_wrap=True)
    table.add_column("ROLE", no_wrap=True)
    for col in ("CHILDREN", "SEARCH SPACE", "SUMMARY"):
        table.add_column(col)
    for unit in sorted(library().values(), key=lambda u: (u.role, u.name)):
        if role and unit.role != role:
            continue
        space = ", ".join(f"{k}={v}" for k, v in unit.search_space.items())
        table.add_row(unit.name, unit.role, ", ".join(unit.children), space, unit.doc.split("\n")[0])
    console.print(table)


@app.command("rungs")
def rungs(
    names: list[str] = typer.Argument(None, help="Only these rungs (default: every preset)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a field on every rung, e.g. --set tokens=5e5."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved rungs as JSON."),
) -> None:
    """List the rung presets of the ladders (cpu, paper, debug), with overrides applied."""
    import dataclasses
    import json

    from genesys.api.rungs import PresetError, get_rung, parse_overrides, rungs, with_overrides

    try:
        changes = parse_overrides(overrides)
        chosen = [with_overrides(get_rung(n), changes) for n in names or list(rungs())]
    except PresetError as err:
        console.print(f"[bold red]error:[/] {err}", soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps([dataclasses.asdict(r) for r in chosen], indent=2))
        return
    table = Table(title="rungs")
    for col in ("RUNG", "D_MODEL", "N_BLOCK", "TOKENS", "SEQ", "TOKENS/STEP", "STEPS", "LR"):
        table.add_column(col, no_wrap=True, justify="left" if col == "RUNG" else "right")
    for r in chosen:
        table.add_row(r.name, str(r.d_model), str(r.n_block), f"{r.tokens:,}", str(r.seq_len),
                      f"{r.tokens_per_step:,}", f"{r.steps:,}", f"{r.lr:g}")
    console.print(table)


@app.command("export")
def export(
    out_dir: Path = typer.Argument(..., help="Directory to write <seed>.yaml manifests into."),
    seeds: list[str] = typer.Option([], "--seed", help="Only these seeds (default: all)."),
) -> None:
    """Write seed designs as Design manifests, built from the unit library.

    This is how examples/designs/ and the seeds genesys.api ships (crds/genesys/api/seeds/) are made.
    """
    from genesys.api import dump_manifest
    from genesys.gau import seed_design, seed_names

    with user_errors():
        designs = [seed_design(name) for name in seeds or seed_names()]  # unknown names fail before any write
        out_dir.mkdir(parents=True, exist_ok=True)
        for design in designs:
            path = out_dir / f"{design.name}.yaml"
            path.write_text(dump_manifest(design), encoding="utf-8")
            console.print(f"wrote {path}")


@app.command("import-genesys")
def import_genesys(
    paths: list[Path] = typer.Argument(..., help="Genesys checkout folders or files: implementation.json trees, "
                                                  "core/<seed>/units folders, or folders holding them."),
    out: Path = typer.Option(..., "--out", help="Where to write DESIGN.yaml files, gautests/ and import-report.json."),
) -> None:
    """Import the Genesys paper's designs (allenai/genesys) as Design manifests, by mechanical rewrites only."""
    import json

    from genesys.agents.genesys_import import LayoutError, import_designs
    from genesys.api import dump_manifest
    from genesys.cli.errors import usage_error

    try:
        items = import_designs(paths)
    except LayoutError as err:
        raise usage_error(f"{err}; point import-genesys at a Genesys checkout (e.g. model_discovery/)") from None
    if not items:
        raise usage_error(f"no Genesys designs under {', '.join(map(str, paths))}: expected implementation.json "
                          "files or units/metadata.yaml folders")
    out.mkdir(parents=True, exist_ok=True)
    report = []
    for item in items:
        entry: dict[str, object] = {"source": str(item.source)}
        if item.converted is not None:
            design = item.converted.design
            (out / f"{design.name}.yaml").write_text(dump_manifest(design), encoding="utf-8")
            for unit, tests in item.converted.tests.items():
                path = out / "gautests" / design.name / f"{unit}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(tests, encoding="utf-8")
            entry.update(design=design.name, rewrites=[n.text() for n in item.converted.notes])
            warnings = [n.text() for n in item.converted.notes if n.warning]
            console.print(f"imported {design.name} ({len(item.converted.notes)} rewrites"
                          + (f", {len(warnings)} warnings" if warnings else "") + ")")
        elif item.duplicate_of is not None:
            entry["duplicate_of"] = item.duplicate_of
        else:
            entry["blocked"] = item.blocked
            console.print(f"[yellow]blocked[/] {item.source}: {item.blocked}", soft_wrap=True)
        report.append(entry)
    (out / "import-report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    imported = sum(1 for i in items if i.converted)
    distinct = sum(1 for i in items if i.duplicate_of is None)
    console.print(f"imported {imported} of {distinct} distinct designs ({len(items) - distinct} identical copies "
                  f"skipped) into {out}; details in {out / 'import-report.json'}")
    if not imported:
        raise typer.Exit(1)
