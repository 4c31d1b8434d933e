"""The `genesys` command line: one entry point for every component.

    genesys library seeds            # the seed designs and their sizes
    genesys library units            # the unit library, by role
    genesys library export DIR       # write the seeds as Design manifests
    genesys library import-genesys GENESYS/model_discovery --out DIR   # the Genesys paper's designs
    genesys check DESIGN.yaml        # the symbolic checker
    genesys verify DESIGN.yaml --rung cpu-1 --out DIR   # train + evaluate one design
    genesys design --evolution EVO.yaml --store DIR --name N --operation mutation --parents P --out DIR/..
                                     # one design session into the artifact store (the evolution's
                                     # designer, or --designer llm --model MODEL [--api-base URL])
    genesys library rungs            # the rung presets of the ladders
    genesys run EVOLUTION.yaml       # the evolution loop on this machine (resumable)
    genesys status | designs | show DESIGN | tree | report   # look at a run

Subcommands import their component lazily, so `genesys --help` needs no torch.
"""

from __future__ import annotations

import typer

from genesys.cli import check, design, library, run, verify

app = typer.Typer(
    name="genesys",
    help="Language models discovering language-model architectures.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(library.app, name="library")
app.command("check")(check.check)
app.command("verify")(verify.verify)
app.command("design")(design.design)
app.command("run")(run.run)
app.command("status")(run.status)
app.command("designs")(run.designs)
app.command("show")(run.show)
app.command("tree")(run.tree)
app.command("report")(run.report)
