"""The `genesys` command line: one entry point for every component.

    genesys designs seeds            # the seed designs and their sizes
    genesys designs units            # the unit library, by role
    genesys designs export DIR       # write the seeds as Design manifests
    genesys check DESIGN.yaml        # the symbolic checker
    genesys verify DESIGN.yaml --rung cpu-1 --out DIR   # train + evaluate one design

Subcommands import their component lazily, so `genesys --help` needs no torch.
"""

from __future__ import annotations

import typer

from genesys.cli import check, designs, verify

app = typer.Typer(
    name="genesys",
    help="Language models discovering language-model architectures.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(designs.app, name="designs")
app.command("check")(check.check)
app.command("verify")(verify.verify)
