"""Outcomes are released in start order: the finished prefix, nothing past a running elder."""

from __future__ import annotations

from genesys.evolution import EvolutionState, SessionRecord, releasable, turn_rng


def test_releasable_is_the_finished_prefix_of_the_start_order():
    order = ["a", "b", "c", "d"]
    assert releasable(order, set()) == []
    assert releasable(order, {"b", "c"}) == []  # a still runs: b and c wait
    assert releasable(order, {"a", "c"}) == ["a"]
    assert releasable(order, {"a", "b", "c", "d"}) == order
    assert releasable([], {"x"}) == []


def test_turn_rng_depends_on_progress_not_on_when_it_is_asked():
    state = EvolutionState(sessions=(SessionRecord("design-0001", "mutation", ("gpt2",), "running"),))
    assert turn_rng(0, state).random() == turn_rng(0, state).random()
    assert turn_rng(0, state).random() != turn_rng(0, EvolutionState()).random()
    assert turn_rng(0, state).random() != turn_rng(1, state).random()
