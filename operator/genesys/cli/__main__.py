"""`python -m genesys.cli ...` is `genesys ...` (how the local runtime starts its subprocesses)."""

from genesys.cli.main import app

app(prog_name="genesys")
