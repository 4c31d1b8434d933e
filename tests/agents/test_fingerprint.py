"""Structural fingerprints: blind to formatting, names and proposals; sensitive to structure and args."""

from __future__ import annotations

from genesys.agents.fingerprint import fingerprint
from genesys.api import ObjectMeta, Proposal


def _with_unit(design, unit, **update):
    tree = design.spec.tree
    units = {**tree.units, unit: tree.units[unit].model_copy(update=update)}
    return design.model_copy(update={"spec": design.spec.model_copy(
        update={"tree": tree.model_copy(update={"units": units})})})


def test_reformatted_code_has_the_same_fingerprint(seeds):
    gpt2 = seeds["gpt2"]
    code = gpt2.spec.tree.units["GPT2Block"].code
    messy = "# a comment\n" + code.replace("    def _forward(self, X, **Z):",
                                            "    def _forward(self, X, **Z):  # why\n")
    messy = messy.replace('"""Pre-norm Transformer block', '"""A different docstring. Pre-norm Transformer block')
    messy = messy.replace("A, Z = self.attn(H, **Z)", "A, Z = self.attn(\n            H, **Z\n        )")
    assert messy != code
    assert fingerprint(_with_unit(gpt2, "GPT2Block", code=messy)) == fingerprint(gpt2)


def test_names_and_proposals_do_not_count(seeds):
    gpt2 = seeds["gpt2"]
    other = gpt2.model_copy(update={"metadata": ObjectMeta(name="copy"), "spec": gpt2.spec.model_copy(
        update={"proposal": Proposal(title="something else"), "parents": ["x"]})})
    assert fingerprint(other) == fingerprint(gpt2)


def test_a_changed_arg_changes_the_fingerprint_but_a_default_does_not(seeds):
    gpt2 = seeds["gpt2"]
    assert fingerprint(_with_unit(gpt2, "MultiHeadAttention", args={"head_dim": 32})) != fingerprint(gpt2)
    assert fingerprint(_with_unit(gpt2, "MultiHeadAttention", args={"head_dim": 64})) == fingerprint(gpt2)
    assert fingerprint(_with_unit(gpt2, "GatedMLP", args={"hidden_mult": 2.667})) == fingerprint(gpt2)


def test_a_code_change_and_each_seed_differ(seeds):
    gpt2 = seeds["gpt2"]
    code = gpt2.spec.tree.units["GatedMLP"].code.replace("self.act(gate) * up", "self.act(up) * gate")
    assert fingerprint(_with_unit(gpt2, "GatedMLP", code=code)) != fingerprint(gpt2)
    assert len({fingerprint(s) for s in seeds.values()}) == len(seeds)


def test_the_same_tree_under_genesys_semantics_is_another_design(seeds):
    from genesys.agents.fingerprint import inherited

    gpt2 = seeds["gpt2"]
    genesys = gpt2.model_copy(update={"spec": gpt2.spec.model_copy(update={"semantics": "genesys"})})
    with_kwargs = gpt2.model_copy(update={"spec": gpt2.spec.model_copy(update={"kwargs": {"eps": 1e-6}})})
    assert len({fingerprint(gpt2), fingerprint(genesys), fingerprint(with_kwargs)}) == 3
    assert inherited([genesys, gpt2]) == {"semantics": "genesys", "kwargs": {}} and inherited([]) == {}

