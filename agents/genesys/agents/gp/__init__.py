"""The offline genetic-programming designer: mutation, crossover and scratch over unit trees.

    from genesys.agents.gp import run_session, mutate, fingerprint
    result = run_session("gpt2-m1", "mutation", [parent], existing, seed=0, max_attempts=20)

Imports genesys.gau (and so torch): command lines import it inside their commands.
"""

from genesys.agents.fingerprint import fingerprint, tree_fingerprint
from genesys.agents.gp.grammar import GraftError
from genesys.agents.gp.operators import NoCandidateError, crossover, generate, mutate, scratch
from genesys.agents.gp.proposal import Change
from genesys.agents.gp.session import Attempt, SessionResult, check_candidate, run_session
from genesys.api.vocabulary import check_parent_count

__all__ = [
    "Attempt",
    "Change",
    "GraftError",
    "NoCandidateError",
    "SessionResult",
    "check_candidate",
    "check_parent_count",
    "crossover",
    "fingerprint",
    "generate",
    "mutate",
    "run_session",
    "scratch",
    "tree_fingerprint",
]
