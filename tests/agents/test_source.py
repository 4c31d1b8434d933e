"""Renaming child units in source code: whole identifiers only, formatting kept, clashes refused."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genesys.agents.unit_source import (
    SourceEditError,
    init_defaults,
    normalised_code,
    rename_class,
    rename_units,
    same_value,
    written_z_keys,
    z_keys,
)
from genesys.gau.library import get_unit, library

PARENT = '''
import torch
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class Block(GAUBase):
    """Uses MultiHeadAttention; the docstring is not code."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm = nn.LayerNorm(embed_dim)  # nn.LayerNorm is an attribute, not our child
        self.attn = MultiHeadAttention(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, **kwarg_all)
        self.label = "MultiHeadAttention"
        MultiHeadAttentionX = 1

    def _forward(self, X, **Z):
        Y, Z = self.attn(X, **Z)
        return Y, Z


CHILDREN_DECLARATIONS = [UnitDecl(unitname='MultiHeadAttention', requirements="a MultiHeadAttention mixer")]
'''


def test_rename_touches_identifiers_and_declarations_only():
    out = rename_units(PARENT, {"MultiHeadAttention": "GroupedQueryAttention"})
    assert "self.attn = GroupedQueryAttention(embed_dim=embed_dim" in out
    assert "unitname='GroupedQueryAttention'" in out  # the quote style is kept
    assert '"""Uses MultiHeadAttention; the docstring is not code."""' in out
    assert 'self.label = "MultiHeadAttention"' in out and "MultiHeadAttentionX = 1" in out
    assert 'requirements="a MultiHeadAttention mixer"' in out
    assert out.replace("GroupedQueryAttention", "MultiHeadAttention") == PARENT  # nothing else moved


def test_attributes_are_never_renamed():
    out = rename_units(PARENT, {"LayerNorm": "RMSNorm"})
    assert out == PARENT


def test_swaps_happen_at_once_and_clashes_are_refused():
    code = get_unit("GPT2Block").source
    swapped = rename_units(code, {"RMSNorm": "GatedMLP", "GatedMLP": "RMSNorm"})
    assert rename_units(swapped, {"RMSNorm": "GatedMLP", "GatedMLP": "RMSNorm"}) == code
    with pytest.raises(SourceEditError, match="already used"):
        rename_units(code, {"RMSNorm": "GatedMLP"})


@given(st.sampled_from(sorted(library())), st.sampled_from(["Alpha", "Beta9", "MyMixer"]))
def test_rename_and_back_is_identity(unit, new):
    code = library()[unit].source
    for child in library()[unit].children:
        assert rename_units(rename_units(code, {child: new}), {new: child}) == code
        ast.parse(rename_units(code, {child: new}))


def test_init_defaults_evaluates_literal_arithmetic():
    defaults = init_defaults(get_unit("GatedMLP").source, "GatedMLP")
    assert same_value(defaults["hidden_mult"], 2.667) and defaults["activation"] == "silu"
    assert not same_value(2.0, 2.667) and not same_value(True, 1)


def test_z_keys_tell_what_a_position_unit_writes_and_a_mixer_reads():
    assert written_z_keys(get_unit("ALiBi").source) == {"attn_bias"}
    assert written_z_keys(get_unit("RotaryEmbedding").source) == {"q", "k"}
    assert "attn_bias" in z_keys(get_unit("MultiHeadAttention").source)
    assert "attn_bias" not in z_keys(get_unit("TTTLinear").source)


def test_normalised_code_ignores_layout_comments_and_docstrings():
    a = "def f(x):\n    '''doc'''\n    return x + 1  # one\n"
    b = "def f(x):\n\n    return (x +\n            1)\n"
    assert normalised_code(a) == normalised_code(b)
    assert normalised_code(a) != normalised_code(a.replace("+ 1", "+ 2"))


def test_rename_class_renames_the_definition_and_its_references():
    code = "class GPT2Block(GAUBase):\n    def f(self):\n        return GPT2Block\n\n\nX = 'GPT2Block'\n"
    out = rename_class(code, "GPT2Block", "HybridBlock")
    assert out == "class HybridBlock(GAUBase):\n    def f(self):\n        return HybridBlock\n\n\nX = 'GPT2Block'\n"
    with pytest.raises(SourceEditError, match="defines no class Other"):
        rename_class(code, "Other", "HybridBlock")
    with pytest.raises(SourceEditError, match="already used"):
        rename_class(code + "f = 1\n", "GPT2Block", "f")
