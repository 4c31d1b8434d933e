"""Deterministic runs: outcomes enter the state in the order their work started.

    for key in releasable(started_order, finished):   # a prefix of started_order
        record(key); actions = plan(state, spec, turn_rng(spec.seed, state))

Children finish in an order the machine sets (load, thread shares, a slow design). If
a runtime recorded each outcome as it arrived, `plan` would see different states from
run to run, pick different parents and make different designs from the same seed. So
every runtime records outcomes in the order the work was started, and calls `plan` once
after each: the sequence of states, and so every decision, is a function of the spec
and the seed. A child that finishes before an elder waits (its process is gone and its
cores go to the others; only its record waits), which costs little when work started
together takes similar time.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Hashable, Sequence
from typing import TypeVar

from genesys.evolution.state import EvolutionState

Key = TypeVar("Key", bound=Hashable)


def releasable(started_order: Sequence[Key], finished: Collection[Key]) -> list[Key]:
    """The finished children whose outcomes may be recorded now: the finished prefix of the start order."""
    out = []
    for key in started_order:
        if key not in finished:
            break
        out.append(key)
    return out


def turn_rng(seed: int, state: EvolutionState) -> random.Random:
    """The rng of one planning turn, seeded by how far the run has come (not by the clock or the
    turn count), so a resumed run decides as an uninterrupted one would."""
    return random.Random(f"{seed}/{len(state.sessions)}/{len(state.verifications)}")
