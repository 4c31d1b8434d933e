"""Turns a design's unit source code into classes, one fresh module per unit.

Unit code is untrusted (an LLM or a GP designer wrote it): it is compiled into its
own module namespace, never into ours, and every failure names the unit and line.
The static allow-list and the sandboxed process are the checker's job.
"""

from __future__ import annotations

import linecache
import traceback
import types
from typing import Any

from genesys.api import Design
from genesys.gau.base import GAUBase, identity_unit


class UnitCompileError(ValueError):
    """A unit's code does not compile or does not define its unit class."""

    def __init__(self, unit: str, message: str, line: int | None = None):
        self.unit = unit
        self.line = line
        where = f"unit {unit}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {message}")


def unit_filename(design: str, unit: str) -> str:
    return f"<design {design} unit {unit}>"


def _error_line(err: BaseException, filename: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def _bind_args(cls: type[GAUBase], args: dict[str, Any]) -> type[GAUBase]:
    """A subclass whose constructor applies the unit's own hyper-parameters.

    Parents build children with `**kwarg_all`; a unit's `args` in the manifest take
    precedence over those shared values, and `kwarg_all` is left untouched.
    """
    if not args:
        return cls

    def __init__(self: GAUBase, *a: Any, **kw: Any) -> None:
        cls.__init__(self, *a, **{**kw, **args})

    return type(
        cls.__name__,
        (cls,),
        {"__init__": __init__, "__doc__": cls.__doc__, "__module__": cls.__module__},
    )


def compile_unit(
    name: str, code: str, namespace: dict[str, Any] | None = None, design: str = "design"
) -> type[GAUBase]:
    """Execute `code` in a fresh module (pre-seeded with `namespace`) and return class `name`."""
    filename = unit_filename(design, name)
    # Registered so that tracebacks from inside unit code show the unit's lines.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    module = types.ModuleType(f"genesys_units.{design}.{name}")
    module.__dict__.update(namespace or {})
    module.__dict__["__file__"] = filename
    try:
        compiled = compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as err:
        raise UnitCompileError(name, f"syntax error: {err.msg}", err.lineno) from None
    try:
        exec(compiled, module.__dict__)
    except Exception as err:  # untrusted code may raise anything at import time
        raise UnitCompileError(
            name, f"{type(err).__name__} while running the unit's module code: {err}",
            _error_line(err, filename),
        ) from None
    cls = module.__dict__.get(name)
    if not (isinstance(cls, type) and issubclass(cls, GAUBase)):
        found = sorted(
            k for k, v in module.__dict__.items()
            if isinstance(v, type) and issubclass(v, GAUBase) and v.__module__ == module.__name__
        )
        hint = f" (it defines {', '.join(found)}; rename the class to {name})" if found else ""
        raise UnitCompileError(name, f"the code defines no GAUBase subclass named {name}{hint}")
    return cls


def compile_design(design: Design) -> dict[str, type[GAUBase]]:
    """Compile every unit reachable from the root, children first.

    Returns unit name -> class with its manifest `args` bound. Each unit's module is
    seeded with its children's classes, so `Child(...)` resolves by name;
    declared-but-unimplemented children become identity placeholders.
    """
    tree = design.spec.tree
    classes: dict[str, type[GAUBase]] = {}
    for name in tree.reachable():
        spec = tree.units.get(name)
        if spec is None or not spec.code.strip():
            classes[name] = identity_unit(name)
            continue
        namespace = {child: classes[child] for child in spec.children}
        cls = compile_unit(name, spec.code, namespace, design=design.name)
        classes[name] = _bind_args(cls, spec.args)
    return classes
