"""genesys.local: the embedded single-machine runtime.

SQLite state, subprocess execution, terminal and HTML reports.
"""
