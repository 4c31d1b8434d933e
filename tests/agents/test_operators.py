"""GP operators: valid, buildable products that keep the role structure and change what they say."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genesys.agents.fingerprint import normalised_args
from genesys.agents.gp import NoCandidateError, check_parent_count, crossover, fingerprint, generate, mutate, scratch
from genesys.agents.gp.grammar import role_of
from genesys.agents.unit_source import normalised_code, rename_units
from genesys.api import dump_manifest
from genesys.gau.library import library

SEEDS = ["gpt2", "mamba2", "retnet", "rwkv6", "ttt"]
_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _keys(tree):
    return {n: (normalised_code(s.code), tuple(sorted(s.children)), normalised_args(n, s))
            for n, s in tree.units.items()}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("draw", range(3))
def test_mutation_is_sound_and_described(seeds, gp, seed, draw):
    child = mutate(seeds[seed], f"{seed}-m{draw}", random.Random(draw))
    gp.assert_sound(child)
    assert child.name == f"{seed}-m{draw}"
    assert child.spec.operation == "mutation" and child.spec.parents == [seed]
    assert child.spec.proposal.title and seed in child.spec.proposal.abstract
    assert fingerprint(child) != fingerprint(seeds[seed])


def _change_lines(design):
    body = design.spec.proposal.body
    section = body.split("Changes:\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


@given(seed=st.sampled_from(SEEDS), draw=st.integers(0, 10_000))
@_settings
def test_mutation_changes_exactly_one_thing(seeds, gp, seed, draw):
    parent = seeds[seed]
    child = mutate(parent, "m", random.Random(draw))
    assert not gp.role_errors(child.spec.tree)
    (change,) = _change_lines(child)
    before, after = _keys(parent.spec.tree), _keys(child.spec.tree)
    if change.startswith("- hyperparameter:"):
        differ = [n for n in before if before[n] != after[n]]
        assert set(before) == set(after) and len(differ) == 1
        old, new = before[differ[0]], after[differ[0]]
        assert old[:2] == new[:2]  # same code and children: only the args moved
        assert len({k for k in old[2].keys() | new[2].keys() if old[2].get(k) != new[2].get(k)}) == 1
        return
    # A swap: one unit (and its subtree) out, one in; its parents differ only by the rename.
    removed, added = set(before) - set(after), set(after) - set(before)
    assert removed or added, change
    for name in set(before) & set(after):
        if before[name] == after[name]:
            continue
        spec, old = child.spec.tree.units[name], parent.spec.tree.units[name]
        new_children = [c for c in spec.children if c not in old.children]
        old_children = [c for c in old.children if c not in spec.children]
        assert len(new_children) == len(old_children) == 1, (change, name)
        renamed = rename_units(spec.code, {new_children[0]: old_children[0]})
        assert normalised_code(renamed) == normalised_code(old.code), (change, name)
        assert spec.args == old.args


def test_replacing_attention_renames_the_block_and_keeps_rotary(seeds):
    rng = random.Random(0)
    for _ in range(200):
        child = mutate(seeds["gpt2"], "gqa", rng)
        if "GroupedQueryAttention" in child.spec.tree.units and "replace" in child.spec.proposal.body:
            break
    else:
        pytest.fail("200 mutations of gpt2 never tried GroupedQueryAttention")
    tree = child.spec.tree
    block = tree.units["GPT2Block"]
    assert block.children == ["GroupedQueryAttention", "GatedMLP", "RMSNorm"]
    assert "GroupedQueryAttention(embed_dim" in block.code and "MultiHeadAttention" not in block.code
    assert "MultiHeadAttention" not in tree.units
    assert tree.units["GroupedQueryAttention"].children == ["RotaryEmbedding"]
    assert child.spec.proposal.title == "Replace MultiHeadAttention with GroupedQueryAttention in gpt2"
    assert "key/value heads" in child.spec.proposal.abstract


def test_hyperparameters_stay_in_the_search_space(seeds):
    rng = random.Random(1)
    for seed in SEEDS:
        for _ in range(20):
            child = mutate(seeds[seed], "h", rng)
            for name, spec in child.spec.tree.units.items():
                space = library()[name].search_space
                for key, value in spec.args.items():
                    assert key in space and value in space[key], (name, key, value)


def test_insert_and_remove_a_wrapper(seeds, gp):
    rng = random.Random(2)
    wrapped = next(c for c in (mutate(seeds["retnet"], "w", rng) for _ in range(200))
                   if "ShortConvMixer" in c.spec.tree.units)
    gp.assert_sound(wrapped)
    tree = wrapped.spec.tree
    assert tree.units["RetNetBlock"].children[0] == "ShortConvMixer"
    assert tree.units["ShortConvMixer"].children == ["ShortConv", "MultiScaleRetention"]
    unwrapped = next(c for c in (mutate(wrapped, "u", rng) for _ in range(200)) if "Unwrap" in c.spec.proposal.title)
    assert fingerprint(unwrapped) == fingerprint(seeds["retnet"])


def test_alibi_only_goes_where_a_bias_is_read(seeds):
    rng = random.Random(3)
    for seed in ("ttt", "retnet", "gpt2"):
        for _ in range(60):
            tree = mutate(seeds[seed], "p", rng).spec.tree
            for name, spec in tree.units.items():
                if "ALiBi" in spec.children:
                    assert name in ("MultiHeadAttention", "GroupedQueryAttention", "SlidingWindowAttention")


@pytest.mark.parametrize("pair", [("gpt2", "mamba2"), ("retnet", "rwkv6"), ("ttt", "rwkv6"), ("mamba2", "ttt")])
def test_crossover_mixes_both_parents(seeds, gp, pair):
    a, b = seeds[pair[0]], seeds[pair[1]]
    child = crossover([a, b], "x", random.Random(0))
    gp.assert_sound(child)
    assert child.spec.operation == "crossover" and sorted(child.spec.parents) == sorted(pair)
    base, donor = (a, b) if child.spec.parents[0] == a.name else (b, a)
    units = child.spec.tree.units
    from_donor = [n for n, s in units.items() if donor.spec.tree.units.get(n) == s and base.spec.tree.units.get(n) != s]
    from_base = [n for n, s in units.items() if base.spec.tree.units.get(n) == s]
    assert from_donor or child.spec.tree.root == donor.spec.tree.root, child.spec.proposal.body
    assert from_base, child.spec.proposal.body
    assert fingerprint(child) not in (fingerprint(a), fingerprint(b))


def test_crossover_of_three_takes_from_each_donor(seeds, gp):
    child = crossover([seeds["gpt2"], seeds["mamba2"], seeds["rwkv6"]], "x3", random.Random(5))
    gp.assert_sound(child)
    assert child.spec.proposal.body.count("from ") >= 2 and len(child.spec.parents) == 3


def test_crossover_that_can_only_copy_a_parent_has_no_candidate(seeds):
    with pytest.raises(NoCandidateError, match="nothing to recombine"):
        crossover([seeds["gpt2"], seeds["gpt2"]], "same", random.Random(0))
    # gpt2 and ttt differ only in the token mixer: swapping it gives back one of them.
    with pytest.raises(NoCandidateError, match="nothing to recombine"):
        crossover([seeds["gpt2"], seeds["ttt"]], "copy", random.Random(0))


@pytest.mark.parametrize("draw", range(6))
def test_scratch_draws_a_sound_tree(gp, draw):
    design = scratch(f"s{draw}", random.Random(draw))
    gp.assert_sound(design)
    assert design.spec.operation == "scratch" and design.spec.parents == []
    assert design.spec.proposal.title.startswith("From scratch: ")


@given(draw=st.integers(0, 100_000))
@_settings
def test_scratch_keeps_the_grammar(gp, draw):
    tree = scratch("s", random.Random(draw)).spec.tree
    assert not gp.role_errors(tree)
    for name, spec in tree.units.items():
        for key, value in spec.args.items():
            assert value in library()[name].search_space[key]


@pytest.mark.parametrize("operation,parents", [("mutation", ["gpt2"]), ("crossover", ["gpt2", "rwkv6"]),
                                               ("scratch", [])])
def test_same_seed_same_product(seeds, operation, parents):
    ps = [seeds[p] for p in parents]
    one = [dump_manifest(generate(operation, ps, "d", random.Random(s))) for s in range(5)]
    two = [dump_manifest(generate(operation, ps, "d", random.Random(s))) for s in range(5)]
    assert one == two and len(set(one)) > 1


def test_parent_counts_are_checked():
    check_parent_count("crossover", 3)
    for operation, count in (("mutation", 2), ("crossover", 1), ("scratch", 1), ("mutation", 0)):
        with pytest.raises(ValueError, match="parent"):
            check_parent_count(operation, count)
    with pytest.raises(ValueError, match="unknown operation 'mutate'"):
        check_parent_count("mutate", 1)


def test_mixer_only_blocks_keep_their_own_mixer(seeds):
    """Mamba2Block has no MLP because Mamba2Mixer carries its own expansion: no other mixer goes there."""
    from genesys.agents.gp.grammar import innermost

    rng = random.Random(4)
    products = [mutate(seeds["mamba2"], "m", rng) for _ in range(40)]
    products += [crossover([seeds["mamba2"], seeds[s]], "x", rng) for s in SEEDS if s != "mamba2"]
    products += [scratch("s", rng) for _ in range(40)]
    for design in products:
        units = design.spec.tree.units
        if "Mamba2Block" in units:
            mixers = [innermost(units, c) for c in units["Mamba2Block"].children if role_of(c) == "token_mixer"]
            assert mixers == ["Mamba2Mixer"], design.spec.proposal.title


def test_children_keep_the_semantics_of_the_parent_they_start_from(seeds):
    parent = seeds["gpt2"].model_copy(update={"spec": seeds["gpt2"].spec.model_copy(
        update={"semantics": "genesys", "kwargs": {"eps": 1e-6}})})
    child = mutate(parent, "child", random.Random(0))
    assert child.spec.semantics == "genesys" and child.spec.kwargs == {"eps": 1e-6}
    assert scratch("s", random.Random(0)).spec.semantics == "genesys-lm"
