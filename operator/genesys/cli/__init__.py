"""genesys.cli: the `genesys` command. Heavy components are imported inside commands."""
