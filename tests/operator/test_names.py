"""Children's Kubernetes names: valid, within 63 characters, and distinct across Evolutions of a namespace."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from genesys.evolution import verification_name
from genesys.operator.names import (
    conflicting_evolution,
    evolution_selector,
    k8s_name,
    label_value,
    labels_for,
    logical_name,
)

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")

# Object names as users give them: RFC 1123 subdomains (evolutions, seed designs) up to 253 characters.
subdomain = st.from_regex(r"\A[a-z0-9]([-a-z0-9.]{0,120}[a-z0-9])?\Z")
rungs = st.sampled_from(["cpu-1", "cpu-2", "paper-14m", "paper-350m"])


@st.composite
def logical_names(draw: st.DrawFn) -> str:
    """Names the core gives: seeds, design-NNNN, and their verifications (repeats included)."""
    design = draw(st.one_of(subdomain, st.integers(1, 99999).map(lambda n: f"design-{n:04d}")))
    if draw(st.booleans()):
        return design
    return verification_name(design, draw(rungs), draw(st.integers(0, 3)))


def test_short_names_stay_readable():
    assert k8s_name("demo", "design-0003-cpu-1") == "demo-design-0003-cpu-1"
    assert labels_for("demo", "gpt2") == {"genesys.dev/evolution": "demo", "genesys.dev/name": "gpt2"}
    assert evolution_selector("demo") == "genesys.dev/evolution=demo"


def test_long_or_invalid_names_are_hashed_within_the_limit():
    long = k8s_name("a-very-long-evolution-name-for-the-paper-ladder", "design-0123-paper-350m-r2")
    assert len(long) == 63 and DNS_1035.match(long)
    assert long.startswith("a-very-long-evolution-name-for-the-paper-ladder-desi")
    assert k8s_name("7up", "gpt2").startswith("g-7up-gpt2-")  # Services need a letter first
    assert DNS_1035.match(k8s_name("demo.v2", "gpt2"))  # no dots in a DNS label
    assert len(k8s_name("a" * 60, "gpt2", limit=52)) <= 52


@given(evolution=subdomain, logical=logical_names(), limit=st.sampled_from([52, 63]))
def test_every_name_and_label_is_valid(evolution, logical, limit):
    name = k8s_name(evolution, logical, limit)
    assert len(name) <= limit and DNS_1035.match(name), name
    for value in labels_for(evolution, logical).values():
        assert len(value) <= 63 and LABEL_VALUE.match(value), value


@given(evolutions=st.lists(subdomain, min_size=2, max_size=2, unique=True),
       seeds=st.lists(subdomain, min_size=1, max_size=4, unique=True),
       others=st.lists(logical_names(), max_size=6))
def test_two_evolutions_with_the_same_seeds_never_collide(evolutions, seeds, others):
    first, second = evolutions
    if conflicting_evolution(first, [second]):
        return  # refused before anything is created (Ready=False), see the next test
    logical = set(seeds) | {verification_name(s, "cpu-1") for s in seeds} | set(others)
    names_a = {k8s_name(first, n) for n in logical}
    names_b = {k8s_name(second, n) for n in logical}
    assert len(names_a) == len(logical) and not names_a & names_b


def test_an_evolution_named_like_anothers_child_prefix_is_refused():
    # demo's child gpt2-cpu-1 and demo-gpt2's child cpu-1 would both be demo-gpt2-cpu-1
    assert k8s_name("demo", "gpt2-cpu-1") == k8s_name("demo-gpt2", "cpu-1")
    assert conflicting_evolution("demo-gpt2", ["demo", "other"]) == "demo"
    assert conflicting_evolution("demo", ["demo-gpt2"]) == "demo-gpt2"
    assert conflicting_evolution("demo", ["demo", "demo2", "demonstration"]) is None


def test_label_values_keep_their_full_value_in_annotations():
    long = "seed-" + "x" * 80
    assert len(label_value(long)) == 63 and label_value(long) != label_value(long + "y")
    obj = {"metadata": {"name": "n", "annotations": {"genesys.dev/name": long}}}
    assert logical_name(obj) == long
