"""Words defined once: no module but genesys.api.vocabulary spells out operations or phases."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from genesys.api.evolution import EvolutionStatus
from genesys.api.vocabulary import (
    EVOLUTION_PHASES,
    NEW_OPERATIONS,
    OPERATIONS,
    PARENT_COUNTS,
    RECORD_PHASES,
    check_parent_count,
    record_to_verification_phase,
    verification_to_record_phase,
)

ROOT = Path(__file__).resolve().parents[2]
WORDS = {"mutation", "crossover", "scratch", "Running", "Succeeded", "Verified", "Verifying", "running", "succeeded"}


def _literal_word_sets(path: Path) -> list[tuple[int, set[str]]]:
    """Literal[...] subscripts in a module that list two or more of the vocabulary's words."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            words = {e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)} & WORDS
            if len(words) >= 2:
                found.append((node.lineno, words))
    return found


def test_operations_and_phases_are_literals_only_in_the_vocabulary():
    strays = []
    for folder in ("crds", "trainer", "agents", "operator"):
        for path in (ROOT / folder / "genesys").rglob("*.py"):
            if path.name == "vocabulary.py" or "units" in path.parts:
                continue
            strays += [f"{path.relative_to(ROOT)}:{line} {sorted(words)}" for line, words in _literal_word_sets(path)]
    assert not strays, "define these in genesys.api.vocabulary and import them:\n" + "\n".join(strays)


def test_phase_mapping_round_trips():
    for phase in RECORD_PHASES:
        assert verification_to_record_phase(record_to_verification_phase(phase)) == phase
    assert verification_to_record_phase("Pending") == verification_to_record_phase("Admitted") == "running"


def test_every_phase_the_local_runtime_writes_is_an_evolution_phase():
    for phase in ("Running", "Completed", "Interrupted"):
        assert phase in EVOLUTION_PHASES
        EvolutionStatus(phase=phase)


def test_parent_counts_cover_every_new_operation():
    assert set(PARENT_COUNTS) == set(NEW_OPERATIONS) and set(NEW_OPERATIONS) < set(OPERATIONS)
    check_parent_count("crossover", 3)
    with pytest.raises(ValueError, match="mutation takes exactly 1 parent"):
        check_parent_count("mutation", 2)
