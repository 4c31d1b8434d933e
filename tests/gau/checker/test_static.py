"""The `format` check: allow-list, forbidden calls and the unit contract, from the AST only."""

from __future__ import annotations

import textwrap

import pytest

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import load_design, seed_names
from genesys.gau.checker import check_format
from genesys.gau.checker.static import UnitAnalyzer, design_problems
from genesys.gau.library import library

UNIT = '''
import math
import torch
import torch.nn.functional as F
from torch import nn

from genesys.gau import GAUBase, UnitDecl


class Mixer(GAUBase):
    """A token mixer for static-check tests."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.proj = nn.Linear(embed_dim, embed_dim, **self.factory_kwargs)

    def _forward(self, X, **Z):
        Y = self.proj(X)
        # BODY
        return Y


CHILDREN_DECLARATIONS = []
'''


def unit_with(body: str = "", header: str = "") -> str:
    lines = textwrap.indent(textwrap.dedent(body).rstrip() + "\n", " " * 8) if body else ""
    code = UNIT.replace("        # BODY\n", lines)
    return textwrap.dedent(header) + code


def design_of(units: dict[str, tuple[list[str], str]], root: str = "Mixer") -> Design:
    tree = DesignTree(root=root, units={n: UnitSpec(children=c, code=code) for n, (c, code) in units.items()})
    return Design(metadata=ObjectMeta(name="static-test"), spec=DesignSpec(tree=tree))


def problems_of(code: str, unit: str = "Mixer", children: list[str] | None = None):
    return UnitAnalyzer(unit, code, children or [], {unit}, set(library())).run()


def failures(code: str, **kwargs) -> list[str]:
    return [p.text() for p in problems_of(code, **kwargs) if p.severity == "fail"]


@pytest.mark.parametrize("seed", seed_names())
def test_seeds_pass(seed):
    result = check_format(load_design(seed))
    assert result.status == "pass", result.message


@pytest.mark.parametrize("name", sorted(library()))
def test_library_units_pass(name):
    unit = library()[name]
    problems = [p.text() for p in UnitAnalyzer(name, unit.source, list(unit.children), set(), set(library())).run()]
    assert not problems, problems


def test_clean_unit_passes():
    assert failures(unit_with()) == []


FORBIDDEN = [
    # (where, code, expected fragment)
    ("header", "import os\n", "import of 'os'"),
    ("header", "import subprocess\n", "import of 'subprocess'"),
    ("header", "import socket\n", "import of 'socket'"),
    ("header", "import shutil\n", "import of 'shutil'"),
    ("header", "import pathlib\n", "import of 'pathlib'"),
    ("header", "import importlib\n", "import of 'importlib'"),
    ("header", "import ctypes\n", "import of 'ctypes'"),
    ("header", "import pickle\n", "import of 'pickle'"),
    ("header", "import builtins\n", "import of 'builtins'"),
    ("header", "import sys\n", "import of 'sys'"),
    ("header", "import einops.layers.torch\n", "einops.layers.torch is not an allowed module"),
    ("header", "from os import system\n", "import of 'os'"),
    ("header", "from os.path import join\n", "import of 'os.path'"),
    ("header", "from . import helpers\n", "relative imports"),
    ("header", "from torch import load\n", "torch.load"),
    ("header", "import torch.utils.cpp_extension\n", "torch.utils.cpp_extension"),
    ("header", "from torch.hub import load\n", "torch.hub"),
    ("header", "from typing import get_type_hints\n", "get_type_hints"),
    ("header", "from genesys.gau import RMSNorm\n", "only GAUBase and UnitDecl"),
    ("header", "from torch import *\n", "import *"),
    ("body", "__import__('os').system('true')", "`__import__`"),
    ("body", "eval('1 + 1')", "`eval`"),
    ("body", "exec('x = 1')", "`exec`"),
    ("body", "compile('1', 'f', 'eval')", "`compile`"),
    ("body", "open('/tmp/x', 'w').write('x')", "`open`"),
    ("body", "globals()['torch']", "`globals`"),
    ("body", "locals()", "`locals`"),
    ("body", "vars(self)", "`vars`"),
    ("body", "breakpoint()", "`breakpoint`"),
    ("body", "name = 'lo' + 'ad'\ngetattr(torch, name)", "literal attribute name"),
    ("body", "getattr(self, '__dict__')", "'__dict__'"),
    ("body", "setattr(torch, 'matmul', None)", "setattr()"),
    ("body", "torch.os.system('true')", "`os`"),
    ("body", "torch.sys.modules", "`sys`"),
    ("body", "torch.load('weights.pt')", "`load`"),
    ("body", "torch.save(Y, 'y.pt')", "`save`"),
    ("body", "torch.hub.list('x')", "`hub`"),
    ("body", "torch.ops.load_library('x.so')", "`load_library`"),
    ("body", "torch.from_file('x', size=4)", "`from_file`"),
    ("body", "torch.compile(self.proj)", "`compile`"),
    ("body", "torch.set_num_threads(64)", "`set_num_threads`"),
    ("body", "torch._C._get_tracing_state()", "private"),
    ("body", "F.np.save('x', 1)", "`np`"),
    ("body", "self.__dict__['proj']", "`__dict__`"),
    ("body", "().__class__.__base__.__subclasses__()", "`__class__`"),
    ("body", "(lambda: 0).__globals__", "`__globals__`"),
    ("body", "self._forward.__code__", "`__code__`"),
    ("body", "__builtins__", "`__builtins__`"),
    ("body", "g = (x for x in ())\ng.gi_frame.f_back.f_globals", "`gi_frame`"),
    ("body", "Y.numpy().tofile('y.bin')", "`tofile`"),
    ("body", "Y.untyped_storage()", "`untyped_storage`"),
    ("body", "F.linear = None", "may not modify"),
    ("body", "torch.Tensor.add = None", "may not modify"),
    ("body", "GAUBase.forward = None", "forward"),
    ("body", "g = getattr\ng(torch, 'o' + 's')", "may only be called directly"),
    ("body", "Y.register_hook(lambda g: g * 0)", "`register_hook`"),
]


@pytest.mark.parametrize("where, code, fragment", FORBIDDEN, ids=[c for _, c, _ in FORBIDDEN])
def test_forbidden_code_fails_with_unit_and_line(where, code, fragment):
    source = unit_with(header=code) if where == "header" else unit_with(body=code)
    problems = [p for p in problems_of(source) if p.severity == "fail"]
    assert problems, f"not caught: {code!r}"
    assert any(fragment in p.message for p in problems), [p.message for p in problems]
    assert all(p.unit == "Mixer" for p in problems)
    snippet = {c.strip() for c in code.splitlines()}
    expected = {i for i, line in enumerate(source.splitlines(), 1) if line.strip() in snippet}
    assert any(p.line in expected for p in problems), ([p.line for p in problems], expected)


def test_format_failure_reports_unit_and_line_in_the_result():
    design = design_of({"Mixer": ([], unit_with(body="import os\nos.system('touch /tmp/x')"))})
    result = check_format(design)
    assert result.status == "fail"
    assert result.unit == "Mixer" and result.line is not None
    assert "unit Mixer, line" in result.message


def test_syntax_error_names_the_line():
    code = unit_with(body="Y = (")
    (problem,) = problems_of(code)
    assert "syntax error" in problem.message and problem.line is not None


def test_oversized_code_fails():
    assert failures(unit_with() + "\n# " + "x" * 200_000)


def test_deep_nesting_does_not_crash():
    result = check_format(design_of({"Mixer": ([], unit_with(body="Y = " + "-" * 50_000 + "Y"))}))
    assert result.status in ("pass", "fail")


CONTRACT = [
    ("two GAUBase subclasses",
     UNIT.replace("CHILDREN_DECLARATIONS", "class Extra(GAUBase):\n    pass\n\n\nCHILDREN_DECLARATIONS"),
     "2 GAUBase subclasses"),
    ("misnamed class", UNIT.replace("class Mixer(GAUBase)", "class MyMixer(GAUBase)"), "rename it to Mixer"),
    ("no unit class", "import torch\n\nCHILDREN_DECLARATIONS = []\n", "no GAUBase subclass"),
    ("extra nn.Module", UNIT.replace("CHILDREN_DECLARATIONS", "class Helper(nn.Module):\n    pass\n\n\n"
                                     "CHILDREN_DECLARATIONS"), "subclasses nn.Module"),
    ("nn.Linear subclass", UNIT.replace("CHILDREN_DECLARATIONS", "class Lin(torch.nn.Linear):\n    pass\n\n\n"
                                        "CHILDREN_DECLARATIONS"), "subclasses nn.Module"),
    ("forward override", UNIT.replace("    def _forward(self, X, **Z):",
                                      "    def forward(self, X, **Z):\n        return X\n\n"
                                      "    def _forward(self, X, **Z):"), "do not override forward"),
    ("no **kwargs", UNIT.replace("dtype=None, **kwargs):", "dtype=None):"), "must accept **kwargs"),
    ("wrong __init__", UNIT.replace("def __init__(self, embed_dim, block_loc, kwarg_all,",
                                    "def __init__(self, d_model, block_loc, kwarg_all,"),
     "(self, embed_dim, block_loc, kwarg_all)"),
    ("no super().__init__", UNIT.replace("        super().__init__(embed_dim, block_loc, kwarg_all)\n", ""),
     "super().__init__"),
    ("no _forward", UNIT.replace("def _forward(self, X, **Z):", "def _step(self, X, **Z):"), "has no _forward"),
    ("wrong _forward", UNIT.replace("def _forward(self, X, **Z):", "def _forward(self, hidden, **Z):"),
     "_forward must be"),
    ("metaclass", UNIT.replace("class Mixer(GAUBase):", "class Mixer(GAUBase, metaclass=type):"), "metaclass"),
    ("autograd Function", UNIT.replace("CHILDREN_DECLARATIONS", "class Leak(torch.autograd.Function):\n    pass\n\n\n"
                                       "CHILDREN_DECLARATIONS"), "custom autograd Function"),
]


@pytest.mark.parametrize("label, code, fragment", CONTRACT, ids=[c[0] for c in CONTRACT])
def test_contract_violations_fail(label, code, fragment):
    messages = failures(code)
    assert any(fragment in m for m in messages), messages


PARENT = '''
from genesys.gau import GAUBase, UnitDecl


class Block(GAUBase):
    """A block with one child."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, **kwargs):
        self.factory_kwargs = {"device": device, "dtype": dtype}
        super().__init__(embed_dim, block_loc, kwarg_all)
        INSTANTIATE

    def _forward(self, X, **Z):
        CALL
        return X + Y, Z


CHILDREN_DECLARATIONS = [UnitDecl(unitname="Mixer")]
'''
GOOD_INIT = ("self.mixer = Mixer(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, "
             "**self.factory_kwargs, **kwarg_all)")
GOOD_CALL = "Y, Z = self.mixer(X, **Z)"


def parent(instantiate: str = GOOD_INIT, call: str = GOOD_CALL) -> str:
    return PARENT.replace("INSTANTIATE", instantiate).replace("CALL", call)


def block_design(block_code: str, children: list[str] | None = None) -> Design:
    units = {"Block": (children if children is not None else ["Mixer"], block_code), "Mixer": ([], unit_with())}
    return design_of(units, root="Block")


def test_children_contract_passes():
    assert check_format(block_design(parent())).status == "pass"


@pytest.mark.parametrize("instantiate, call, fragment", [
    ("self.other = None", "Y = X", "never instantiated"),
    (GOOD_INIT, "Y = X", "never called"),
    (GOOD_INIT, "Y, _ = self.mixer(X)", "so side inputs (Z)"),
    ("self.mixer = Mixer(embed_dim, block_loc)", GOOD_CALL, "instantiate Mixer with kwarg_all"),
])
def test_children_must_be_instantiated_and_called(instantiate, call, fragment):
    result = check_format(block_design(parent(instantiate, call)))
    assert result.status == "fail" and fragment in result.message, result.message
    assert result.unit == "Block"


def test_undeclared_child_fails():
    code = parent(GOOD_INIT + "\n        self.norm = RMSNorm(embed_dim=embed_dim, block_loc=block_loc, "
                              "kwarg_all=kwarg_all)", "H, Z = self.norm(X, **Z)\n        Y, Z = self.mixer(H, **Z)")
    result = check_format(block_design(code))
    assert result.status == "fail"
    assert "uses the unit RMSNorm, which is not one of its declared children" in result.message


def test_undefined_name_fails():
    result = check_format(block_design(parent(call="Y, Z = self.mixer(X, **Z)\n        Y = Y * scale")))
    assert result.status == "fail" and "undefined name 'scale'" in result.message


def test_declaration_mismatch_and_unreachable_units_warn():
    code = parent().replace('[UnitDecl(unitname="Mixer")]', '[UnitDecl(unitname="Mixer"), UnitDecl(unitname="X2")]')
    units = {"Block": (["Mixer"], code), "Mixer": ([], unit_with()), "Orphan": ([], unit_with())}
    problems = design_problems(design_of(units, root="Block"))
    warns = [p.text() for p in problems if p.severity == "warn"]
    assert any("CHILDREN_DECLARATIONS lists" in w for w in warns), warns
    assert any("not reachable from the root" in w for w in warns), warns
    assert not [p for p in problems if p.severity == "fail"]
    assert check_format(design_of(units, root="Block")).status == "warn"


def test_placeholder_child_warns_and_empty_root_fails():
    design = design_of({"Block": (["Mixer"], parent())}, root="Block")
    result = check_format(design)
    assert result.status == "warn" and "identity placeholder" in result.message
    assert check_format(design_of({"Block": ([], "")}, root="Block")).status == "fail"


def test_private_attributes_of_self_and_locals_are_allowed():
    code = unit_with(body="self._cache = None\nfor p in self.parameters():\n    p._no_weight_decay = True")
    assert failures(code) == []
