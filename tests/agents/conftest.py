"""Shared pieces of the designer tests: the network guard, the seeds, the role-structure invariant, a fake checker."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from genesys.api import Design, DesignTree
from genesys.api.results import CheckItem, CheckReport
from genesys.gau import build_lm, seed_design, seed_names
from genesys.gau.checker import check_format
from genesys.gau.library import library
from network_guard import guarded


def role_errors(tree: DesignTree) -> list[str]:
    """Slots filled by units of another role: every library unit's children must have the
    roles its own file declares for them, and the root must be a block."""
    errors = []
    lib = library()
    if lib[tree.root].role != "block":
        errors.append(f"root {tree.root} is a {lib[tree.root].role}")
    for name in tree.reachable():
        spec, unit = tree.units[name], lib[name]
        want = Counter(lib[c].role for c in unit.children)
        got = Counter(lib[c].role for c in spec.children)
        if want != got:
            errors.append(f"{name}: children roles {dict(got)}, declared {dict(want)}")
    return errors


def assert_sound(design: Design, forward: bool = True) -> None:
    """Valid manifest, static check clean, role structure kept, builds and runs (tiny sizes)."""
    Design.model_validate(design.model_dump(by_alias=True))
    fmt = check_format(design)
    assert fmt.status != "fail", fmt.message
    assert not role_errors(design.spec.tree), role_errors(design.spec.tree)
    if forward:
        lm = build_lm(design, vocab_size=32, d_model=32, n_block=1)
        logits = lm(torch.randint(0, 32, (1, 24)))
        assert logits.shape == (1, 24, 32) and torch.isfinite(logits).all()


def fake_checker(verdicts):
    """A checker that answers from `verdicts` (a bool or a function of the design) and counts calls."""
    calls = []

    def check(design, config):
        passed = verdicts(design) if callable(verdicts) else verdicts
        calls.append(design)
        status = "pass" if passed else "fail"
        return CheckReport(design=design.name, passed=passed,
                           checks=[CheckItem(name="forward", status=status, message="fake verdict")])

    check.calls = calls
    return check


@pytest.fixture(scope="session")
def seeds() -> dict[str, Design]:
    return {name: seed_design(name) for name in seed_names()}


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def gp() -> SimpleNamespace:
    """The helpers above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(role_errors=role_errors, assert_sound=assert_sound, fake_checker=fake_checker)


@pytest.fixture(autouse=True)
def no_network():
    """Fails any agent test that connects anywhere but 127.0.0.1 (the LLM is a scripted server there)."""
    with guarded("agent tests") as events:
        yield events
