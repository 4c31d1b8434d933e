"""genesys.agents: the designers that turn parents into new designs (DESIGN.md section 1.3).

The offline default is the genetic-programming designer in `genesys.agents.gp`:
    from genesys.agents.gp import run_session
"""
