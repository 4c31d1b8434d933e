"""`spec.semantics`: genesys-lm (the default) and genesys (how the Genesys code runs designs).

One small set of units written for these tests, composed into blocks: where the two
semantics should agree they give identical outputs from the same weights, and each
documented difference shows: what `_forward(self, X, **Z)` receives, whether a unit that
edits `kwarg_all` changes later blocks, and whose initialisation the weights keep.
"""

from __future__ import annotations

import math
from pathlib import Path

import celpy
import pytest
import torch
import yaml
from pydantic import ValidationError

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec, dump_manifest, loads_manifest
from genesys.gau import GAUBase, build_block, build_lm, compile_unit, design_parameters, load_design
from genesys.gau.base import set_semantics
from genesys.gau.checker.config import CheckConfig
from genesys.gau.checker.probes import Probe

ROOT = Path(__file__).resolve().parents[2]

BLOCK = '''
import torch
from torch import nn
from genesys.gau import GAUBase


class Block(GAUBase):
    """Pre-norm residual block running its children in sequence."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.norm = nn.RMSNorm(embed_dim, device=device, dtype=dtype)
        self.parts = nn.ModuleList([
            {parts}
        ])

    def _forward(self, X, **Z):
        H = self.norm(X)
        for part in self.parts:
            H, Z = part(H, **Z)
        return X + H, Z
'''
CHILD_CALL = ("{0}(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, device=device, dtype=dtype, "
              "**kwarg_all)")

UNITS = {
    # Causal running mean, then an MLP; leaves a per-position `scale` in Z. Its own init:
    # proj is the identity with bias 0.3, out_proj keeps PyTorch's default.
    "Mixer": '''
import torch
from torch import nn
from genesys.gau import GAUBase


class Mixer(GAUBase):
    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.proj = nn.Linear(embed_dim, embed_dim, device=device, dtype=dtype)
        self.out_proj = nn.Linear(embed_dim, embed_dim, device=device, dtype=dtype)
        with torch.no_grad():
            nn.init.eye_(self.proj.weight)
            self.proj.bias.fill_(0.3)

    def _forward(self, X):
        steps = torch.arange(1, X.shape[1] + 1, device=X.device, dtype=X.dtype)[None, :, None]
        Y = self.out_proj(torch.nn.functional.gelu(self.proj(X.cumsum(1) / steps)))
        return Y, {"scale": torch.sigmoid(Y)}
''',
    # Names the Z entry it reads: it receives it under both semantics. Its gain is set
    # in the `_init_weights` hook, which runs under both.
    "Named": '''
import torch
from torch import nn
from genesys.gau import GAUBase


class Named(GAUBase):
    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.gain = nn.Parameter(torch.empty(embed_dim, device=device, dtype=dtype))

    def _init_weights(self):
        with torch.no_grad():
            self.gain.fill_(1.5)

    def _forward(self, X, scale=None):
        return X * self.gain * (scale if scale is not None else 1.0)
''',
    # Reads Z through **Z only: everything under genesys-lm, nothing under genesys.
    "Greedy": '''
from genesys.gau import GAUBase


class Greedy(GAUBase):
    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)

    def _forward(self, X, **Z):
        Y = X + Z["scale"] if "scale" in Z else X
        return Y, {"greedy_saw": tuple(sorted(Z))}
''',
    # Genesys style: doubles a hyper-parameter in kwarg_all for whatever is built after it.
    # Its size follows the value it received, so parameter counts show it too.
    "Mutator": '''
import torch
from torch import nn
from genesys.gau import GAUBase


class Mutator(GAUBase):
    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, mult=1.0, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.mult = mult
        self.extra = nn.Parameter(torch.zeros(int(mult), device=device, dtype=dtype))
        kwarg_all["mult"] = mult * 2

    def _forward(self, X):
        return X * self.mult
''',
    # Genesys style: an `_init_weights(self, module)` helper run through self.apply, not the hook.
    "Legacy": '''
import torch
from torch import nn
from genesys.gau import GAUBase


class Legacy(GAUBase):
    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.fc2 = nn.Linear(embed_dim, embed_dim, bias=False, device=device, dtype=dtype)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.01)

    def _forward(self, X):
        return self.fc2(X)
''',
}


def design(parts: list[str], semantics: str = "genesys-lm", **kwargs) -> Design:
    block = BLOCK.replace("{parts}", ",\n            ".join(CHILD_CALL.format(p) for p in parts))
    units = {"Block": UnitSpec(children=parts, code=block)} | {p: UnitSpec(code=UNITS[p]) for p in parts}
    spec = DesignSpec(tree=DesignTree(root="Block", units=units), semantics=semantics, kwargs=kwargs)
    return Design(metadata=ObjectMeta(name=f"sem-{semantics}"), spec=spec)


def lm_pair(parts: list[str], n_block: int = 3, **kwargs):
    torch.manual_seed(0)
    ours = build_lm(design(parts, "genesys-lm", **kwargs), vocab_size=50, d_model=16, n_block=n_block)
    torch.manual_seed(1)
    theirs = build_lm(design(parts, "genesys", **kwargs), vocab_size=50, d_model=16, n_block=n_block)
    return ours, theirs


IDS = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(7))


def test_units_that_name_their_inputs_agree_under_both_semantics_from_the_same_weights():
    ours, theirs = lm_pair(["Mixer", "Named"])
    assert ours.semantics == "genesys-lm" and theirs.semantics == "genesys"
    assert not torch.equal(ours.blocks[0].parts[0].proj.weight, theirs.blocks[0].parts[0].proj.weight)
    theirs.load_state_dict(ours.state_dict())
    logits_a, Z_a = ours(IDS, return_z=True)
    logits_b, Z_b = theirs(IDS, return_z=True)
    assert torch.equal(logits_a, logits_b)
    assert Z_a.keys() == Z_b.keys() == {"scale"}
    assert torch.equal(Z_a["scale"], Z_b["scale"])


def test_star_z_receives_all_of_z_under_genesys_lm_and_nothing_under_genesys():
    ours, theirs = lm_pair(["Mixer", "Greedy"])
    theirs.load_state_dict(ours.state_dict())
    logits_a, Z_a = ours(IDS, return_z=True)
    logits_b, Z_b = theirs(IDS, return_z=True)
    assert Z_a["greedy_saw"] == ("greedy_saw", "scale")  # earlier blocks' entries reach it too
    assert Z_b["greedy_saw"] == ()
    assert not torch.allclose(logits_a, logits_b)


def test_genesys_filters_z_by_the_names_of_forwards_parameters():
    cls = compile_unit("Probe", '''
from genesys.gau import GAUBase


class Probe(GAUBase):
    def _forward(self, X, a=None, **Z):
        return X, {"got": (a, tuple(sorted(Z)))}
''')
    unit = cls(embed_dim=4, block_loc=(0, 1), kwarg_all={})
    X = torch.zeros(1, 2, 4)
    assert unit(X, a=1, b=2, Z=3)[1]["got"] == (1, ("Z", "b"))
    set_semantics(unit, "genesys")
    # As in Genesys: entries named after a parameter pass, `**Z`'s own name included.
    assert unit(X, a=1, b=2, Z=3)[1]["got"] == (1, ("Z",))
    _, Z = unit(X, a=1, b=2)
    assert Z["b"] == 2  # what a unit does not receive still flows past it to later units
    with pytest.raises(ValueError, match="unknown semantics 'gensys'"):
        set_semantics(unit, "gensys")


def test_a_unit_editing_kwarg_all_changes_later_blocks_only_under_genesys_lm():
    ours, theirs = lm_pair(["Mutator", "Mixer"], n_block=3)
    assert [b.parts[0].mult for b in ours.blocks] == [1.0, 2.0, 4.0]
    assert [b.parts[0].mult for b in theirs.blocks] == [1.0, 1.0, 1.0]
    # Same Mixer weights, yet the outputs differ: later blocks scale by 2 and 4 under genesys-lm only.
    for a, b in zip(ours.blocks, theirs.blocks, strict=True):
        b.parts[1].load_state_dict(a.parts[1].state_dict())
        b.norm.load_state_dict(a.norm.state_dict())
    theirs.embedding.load_state_dict(ours.embedding.state_dict())
    assert not torch.allclose(ours(IDS), theirs(IDS))


def test_design_kwargs_seed_every_blocks_kwarg_all_and_are_never_edited():
    d = design(["Mutator", "Mixer"], "genesys", mult=3.0)
    lm = build_lm(d, vocab_size=50, d_model=16, n_block=3)
    assert [b.parts[0].mult for b in lm.blocks] == [3.0, 3.0, 3.0]
    assert [b.kwarg_all for b in lm.blocks] == [{"mult": 6.0}] * 3
    assert len({id(b.kwarg_all) for b in lm.blocks}) == 3
    assert d.spec.kwargs == {"mult": 3.0}
    listed = design(["Mutator", "Mixer"], "genesys", mult=1.0, shapes=[1])
    for block in build_lm(listed, vocab_size=50, d_model=16, n_block=2).blocks:
        block.kwarg_all["shapes"].append(2)  # edits in place stay out of the Design
    assert listed.spec.kwargs == {"mult": 1.0, "shapes": [1]}
    # The caller's overrides win over the design's kwargs.
    assert [b.parts[0].mult for b in build_lm(d, 50, 16, 2, mult=5.0).blocks] == [5.0, 5.0]
    # genesys-lm reads them too, and still shares one dict across its blocks.
    shared = build_lm(design(["Mutator", "Mixer"], mult=3.0), vocab_size=50, d_model=16, n_block=3)
    assert [b.parts[0].mult for b in shared.blocks] == [3.0, 6.0, 12.0]
    assert len({id(b.kwarg_all) for b in shared.blocks}) == 1


def test_units_keep_their_own_init_under_genesys_as_genesys_initializes():
    torch.manual_seed(0)
    theirs = build_lm(design(["Mixer", "Named", "Legacy"], "genesys"), vocab_size=50, d_model=16, n_block=4)
    eye = torch.eye(16)
    for block in theirs.blocks:
        mixer, named, legacy = block.parts
        assert torch.equal(mixer.proj.weight, eye)  # the constructor's init survives
        assert torch.equal(mixer.proj.bias, torch.zeros(16))  # Genesys zeroes Linear biases
        # Genesys re-draws out_proj/fc2 weights: kaiming uniform (bound 1/sqrt(fan_in)) / sqrt(n_block)
        assert mixer.out_proj.weight.abs().max() <= 1 / math.sqrt(16) / math.sqrt(4)
        assert legacy.fc2.weight.abs().max() <= 1 / math.sqrt(16) / math.sqrt(4)
        assert torch.equal(named.gain, torch.full((16,), 1.5))  # the hook runs
    assert 0.015 < theirs.embedding.weight.std() < 0.025
    # genesys-lm re-initializes every Linear (N(0, 0.02)); it cannot run Legacy's helper as a hook
    mixer = build_lm(design(["Mixer", "Named"]), 50, 16, 4).blocks[0].parts[0]
    assert mixer.proj.weight.std() < 0.05 and not torch.equal(mixer.proj.bias, torch.full((16,), 0.3))
    with pytest.raises(TypeError, match="_init_weights"):
        build_lm(design(["Legacy"]), 50, 16, 2)


def test_build_block_runs_with_the_designs_semantics():
    ours = build_block(design(["Mixer", "Greedy"]), 16)
    theirs = build_block(design(["Mixer", "Greedy"], "genesys"), 16)
    assert ours(torch.randn(1, 5, 16))[1]["greedy_saw"] == ("scale",)
    assert theirs(torch.randn(1, 5, 16))[1]["greedy_saw"] == ()


def test_sizing_and_the_checker_build_with_the_designs_semantics():
    d = design(["Mutator", "Mixer"], "genesys", mult=2.0)
    probe = Probe(d, CheckConfig())
    lm = probe.lm()
    assert lm.semantics == "genesys" and [b.parts[0].mult for b in lm.blocks] == [2.0] * len(lm.blocks)
    # Sizing builds on the meta device with the design's semantics: Mutator's size follows `mult`.
    mixer = 2 * (16 * 16 + 16)
    norm = 16
    assert design_parameters(d, 50, 16, 3).non_embedding == 3 * (mixer + norm + 2) + norm
    shared = design(["Mutator", "Mixer"], mult=2.0)
    assert design_parameters(shared, 50, 16, 3).non_embedding == 3 * (mixer + norm) + (2 + 4 + 8) + norm


def test_existing_designs_stay_genesys_lm():
    seed = load_design("gpt2")
    assert seed.spec.semantics == "genesys-lm" and seed.spec.kwargs == {}
    assert build_lm(seed, 50, 32, 1).semantics == "genesys-lm"


# --- the manifest ---------------------------------------------------------------------------

MANIFEST = """
apiVersion: genesys.dev/v1alpha1
kind: Design
metadata: {name: imported}
spec:
  operation: seed
  tree:
    root: Block
    units:
      Block: {code: "class Block: pass"}
  semantics: genesys
  kwargs: {n_heads: 4, mult: 2.5, act: gelu}
"""


def test_manifest_round_trip_keeps_semantics_and_kwargs():
    d = loads_manifest(MANIFEST, Design)
    assert d.spec.semantics == "genesys" and d.spec.kwargs == {"n_heads": 4, "mult": 2.5, "act": "gelu"}
    text = dump_manifest(d)
    assert "semantics: genesys\n" in text
    assert loads_manifest(text, Design) == d
    # A genesys-lm design is written as before the field existed.
    data = yaml.safe_load(MANIFEST)
    del data["spec"]["semantics"], data["spec"]["kwargs"]
    plain = Design.model_validate(data)
    assert plain.spec.semantics == "genesys-lm"
    assert "semantics" not in dump_manifest(plain) and "kwargs" not in dump_manifest(plain)
    assert loads_manifest(dump_manifest(plain), Design) == plain


def design_schema() -> dict:
    crd = yaml.safe_load((ROOT / "crds/manifests/genesys.dev_designs.yaml").read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]


def cel_refusals(node: dict, value) -> list[str]:
    env = celpy.Environment()
    out = []
    for rule in node.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue
        verdict = env.program(env.compile(rule["rule"])).evaluate({"self": celpy.json_to_cel(value)})
        if not verdict:
            out.append(rule["message"])
    return out


@pytest.mark.parametrize(("kwargs", "refusal"), [
    ({"n_heads": 4}, None),
    ({"device": "cuda"}, "cannot set 'device'"),
    ({"kwarg_all": {}}, "cannot set 'kwarg_all'"),
])
def test_reserved_kwargs_are_refused_by_the_model_and_the_api_server(kwargs, refusal):
    data = yaml.safe_load(MANIFEST)
    data["spec"]["kwargs"] = kwargs
    cel = cel_refusals(design_schema()["kwargs"], kwargs)
    if refusal is None:
        Design.model_validate(data)
        assert cel == []
    else:
        with pytest.raises(ValidationError, match=refusal):
            Design.model_validate(data)
        assert cel and "spec.kwargs cannot set" in cel[0]


def test_kwargs_keys_must_be_identifiers_and_semantics_a_known_name():
    data = yaml.safe_load(MANIFEST)
    data["spec"]["kwargs"] = {"n-heads": 4}
    with pytest.raises(ValidationError, match="must be a Python identifier"):
        Design.model_validate(data)
    data["spec"]["kwargs"] = {}
    data["spec"]["semantics"] = "genesys-paper"
    with pytest.raises(ValidationError, match="semantics"):
        Design.model_validate(data)
    assert design_schema()["semantics"]["enum"] == ["genesys-lm", "genesys"]


def test_every_unit_sees_the_flag_its_lm_was_built_with():
    _, theirs = lm_pair(["Mixer", "Named"])
    units = [m for m in theirs.modules() if isinstance(m, GAUBase)]
    assert units and all(u._genesys_semantics for u in units)
