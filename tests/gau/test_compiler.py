"""Compiling untrusted unit code: fresh namespaces and errors that point at unit and line."""

from __future__ import annotations

import pytest

from genesys.api import Design, DesignSpec, DesignTree, ObjectMeta, UnitSpec
from genesys.gau import GAUBase, UnitCompileError, compile_design, compile_unit

UNIT = '''
from genesys.gau import GAUBase


class Scale(GAUBase):
    """Multiplies by a constant."""

    def __init__(self, embed_dim, block_loc, kwarg_all, device=None, dtype=None, factor=2.0, **kwargs):
        super().__init__(embed_dim, block_loc, kwarg_all)
        self.factor = factor

    def _forward(self, X, **Z):
        return X * self.factor
'''


def test_compiles_into_a_fresh_module_not_our_globals():
    cls = compile_unit("Scale", UNIT)
    assert issubclass(cls, GAUBase)
    assert "Scale" not in globals()
    assert cls.__module__.startswith("genesys_units.")


@pytest.mark.parametrize(
    ("code", "message", "line"),
    [
        ("class Scale(GAUBase)\n    pass\n", "syntax error", 1),
        ("\n\nx = 1 / 0\n", "ZeroDivisionError while running the unit's module code", 3),
        ("from genesys.gau import GAUBase\nclass Other(GAUBase):\n    pass\n", "rename the class to Scale", None),
        ("x = 1\n", "defines no GAUBase subclass named Scale", None),
    ],
)
def test_errors_name_the_unit_and_line(code, message, line):
    with pytest.raises(UnitCompileError) as err:
        compile_unit("Scale", code)
    assert str(err.value).startswith("unit Scale")
    assert message in str(err.value)
    assert err.value.line == line


def test_runtime_tracebacks_show_unit_source_lines():
    import traceback

    import torch

    cls = compile_unit("Scale", UNIT.replace("return X * self.factor", "return X @ X"))
    unit = cls(embed_dim=4, block_loc=(0, 1), kwarg_all={})
    with pytest.raises(RuntimeError) as err:
        unit(torch.randn(1, 3, 4))
    frames = traceback.extract_tb(err.value.__traceback__)
    assert any(f.filename.startswith("<design") and f.line == "return X @ X" for f in frames)


def test_manifest_args_override_shared_kwargs_and_placeholders_fill_gaps():
    import torch

    tree = DesignTree(
        root="Outer",
        units={
            "Outer": UnitSpec(children=["Scale", "Todo"], code=UNIT.replace("class Scale", "class Outer").replace(
                "return X * self.factor",
                "Y, Z = self.scale(X, **Z)\n        Y, Z = self.todo(Y, **Z)\n        return Y, Z",
            ).replace(
                "self.factor = factor",
                "self.scale = Scale(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, **kwarg_all)\n"
                "        self.todo = Todo(embed_dim=embed_dim, block_loc=block_loc, kwarg_all=kwarg_all, **kwarg_all)",
            )),
            "Scale": UnitSpec(code=UNIT, args={"factor": 3.0}),
        },
    )
    classes = compile_design(Design(metadata=ObjectMeta(name="t"), spec=DesignSpec(tree=tree)))
    outer = classes["Outer"](embed_dim=4, block_loc=(0, 1), kwarg_all={"factor": 5.0}, factor=5.0)
    X = torch.ones(1, 2, 4)
    Y, _ = outer(X)
    assert torch.equal(Y, 3 * X)  # the manifest's args win; Todo is an identity placeholder
    assert outer.todo.__doc__.startswith("Placeholder")
