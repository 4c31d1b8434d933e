"""Rewrites of the third-party imports Genesys designs use into what genesys-lm units may use.

- `transformers.utils.logging` and its logger: removed (logging is no part of a unit's computation);
- `transformers.activations.ACT2FN`: a table of the same activations from torch, in the unit;
- an optional-kernel import inside try/except (causal_conv1d, flash_attn, ...): the except branch,
  i.e. the torch fallback the unit already has;
- `torchtune.modules.RMSNorm`: torch.nn.RMSNorm (same arguments by position; a warning), and its
  RotaryPositionalEmbeddings: a local module with the same interface and behaviour;
- `torch.utils._pytree.tree_map` (private torch API): a small function over dicts, lists and tuples.
Everything else is left for the format check to accept or refuse by name.
"""

from __future__ import annotations

import ast

from genesys.agents.genesys_import.rewrite import Note, parse_unit

ACTIVATIONS = '''ACT2FN = {  # transformers' activation table, from torch
    "gelu": F.gelu,
    "gelu_new": functools.partial(F.gelu, approximate="tanh"),
    "gelu_pytorch_tanh": functools.partial(F.gelu, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
'''


def _replace_statements(code: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace whole-statement line spans (first line, last line, new text), bottom up."""
    lines = code.splitlines(keepends=True)
    for start, end, text in sorted(spans, reverse=True):
        indent = lines[start - 1][:len(lines[start - 1]) - len(lines[start - 1].lstrip())]
        new = "".join(indent + line + "\n" if line else "\n" for line in text.splitlines()) if text else ""
        lines[start - 1:end] = [new] if new else []
    return "".join(lines)


def _is_logger_call(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == "logger")


def rewrite_logging(code: str, unit: str) -> tuple[str, list[Note]]:
    module = parse_unit(code, unit)
    spans: list[tuple[int, int, str]] = []
    for node in ast.walk(module):
        bodies = [getattr(node, f, None) for f in ("body", "orelse", "finalbody")]
        for body in (b for b in bodies if isinstance(b, list)):
            for stmt in body:
                drop = (isinstance(stmt, ast.ImportFrom) and stmt.module == "transformers.utils"
                        and [a.name for a in stmt.names] == ["logging"])
                drop |= (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                         and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == "logger")
                drop |= _is_logger_call(stmt)
                if drop:
                    assert stmt.end_lineno is not None
                    only = all(s is stmt or _is_logger_call(s) for s in body) and node is not module
                    spans.append((stmt.lineno, stmt.end_lineno, "pass" if only and stmt is body[0] else ""))
    if not spans:
        return code, []
    return _replace_statements(code, spans), [Note(unit, "dependency", "transformers logging and its logger removed")]


def _import_of(code: str, unit: str, module_name: str, name: str) -> ast.ImportFrom | None:
    """The top-level `from module_name import name` statement of a unit, if it has exactly that."""
    for node in parse_unit(code, unit).body:
        if isinstance(node, ast.ImportFrom) and node.module == module_name \
                and [a.name for a in node.names] == [name]:
            return node
    return None


def rewrite_activations(code: str, unit: str) -> tuple[str, list[Note]]:
    node = _import_of(code, unit, "transformers.activations", "ACT2FN")
    if node is None:
        return code, []
    assert node.end_lineno is not None
    text = "import functools\n\nimport torch\nimport torch.nn.functional as F\n\n" + ACTIVATIONS
    code = _replace_statements(code, [(node.lineno, node.end_lineno, text)])
    return code, [Note(unit, "dependency", "transformers ACT2FN -> the same activations from torch")]


def rewrite_optional_kernels(code: str, unit: str) -> tuple[str, list[Note]]:
    """try: import a kernel / except: fallback  ->  the fallback."""
    module = parse_unit(code, unit)
    spans: list[tuple[int, int, str]] = []
    names: list[str] = []
    for node in module.body:
        if isinstance(node, ast.Try) and node.body and all(isinstance(s, (ast.Import, ast.ImportFrom))
                                                           for s in node.body) and len(node.handlers) == 1:
            fallback = "\n".join(ast.unparse(s) for s in node.handlers[0].body if not isinstance(s, ast.Pass))
            assert node.end_lineno is not None
            spans.append((node.lineno, node.end_lineno, fallback))
            names += [(s.module or "") if isinstance(s, ast.ImportFrom) else s.names[0].name
                      for s in node.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    if not spans:
        return code, []
    return _replace_statements(code, spans), [Note(unit, "dependency", f"optional kernel {', '.join(names)}: "
                                                                       "its torch fallback is used")]


ROTARY = '''class RotaryPositionalEmbeddings(nn.Module):  # torchtune's rotary embedding, written for genesys-lm
    """Rotates adjacent channel pairs of x (batch, seq, heads, head_dim) by position * base^(-2i/dim)."""

    def __init__(self, dim, max_seq_len=4096, base=10_000):
        super().__init__()
        self.dim, self.base = dim, base
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, *, input_pos=None):
        seq_len = x.size(1)
        pos = torch.arange(seq_len, device=x.device) if input_pos is None else input_pos
        angles = pos.float()[..., None] * self.inv_freq.to(x.device)
        cos = angles.cos().view(-1, seq_len, 1, self.dim // 2)
        sin = angles.sin().view(-1, seq_len, 1, self.dim // 2)
        pairs = x.float().reshape(*x.shape[:-1], -1, 2)
        even, odd = pairs[..., 0], pairs[..., 1]
        rotated = torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1)
        return rotated.flatten(3).type_as(x)
'''


def rewrite_torchtune(code: str, unit: str) -> tuple[str, list[Note]]:
    """torchtune.modules' RMSNorm -> torch.nn.RMSNorm; its RotaryPositionalEmbeddings -> a local module."""
    module = parse_unit(code, unit)
    for node in module.body:
        if not (isinstance(node, ast.ImportFrom) and node.module == "torchtune.modules"):
            continue
        names = {a.name for a in node.names}
        if names - {"RMSNorm", "RotaryPositionalEmbeddings"} or any(a.asname for a in node.names):
            return code, []  # left for the format check to name
        assert node.end_lineno is not None
        lines = ["from torch.nn import RMSNorm"] if "RMSNorm" in names else []
        code = _replace_statements(code, [(node.lineno, node.end_lineno, "\n".join(lines))])
        notes = []
        if "RMSNorm" in names:
            notes.append(Note(unit, "dependency", "torchtune RMSNorm -> torch.nn.RMSNorm (same positional "
                                                  "arguments; check keyword ones)", warning=True))
        if "RotaryPositionalEmbeddings" in names:
            code = code.rstrip("\n") + "\n\n\n" + ROTARY
            notes.append(Note(unit, "dependency", "torchtune RotaryPositionalEmbeddings -> a local module with "
                                                  "its behaviour (a helper module: Genesys semantics)"))
        return code, notes
    return code, []


TREE_MAP = '''def tree_map(fn, tree):  # torch.utils._pytree.tree_map over dicts, lists and tuples
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return fn(tree)
'''


def rewrite_tree_map(code: str, unit: str) -> tuple[str, list[Note]]:
    node = _import_of(code, unit, "torch.utils._pytree", "tree_map")
    if node is None:
        return code, []
    assert node.end_lineno is not None
    code = _replace_statements(code, [(node.lineno, node.end_lineno, "")])
    return code.rstrip("\n") + "\n\n\n" + TREE_MAP, [
        Note(unit, "dependency", "torch.utils._pytree.tree_map (private API) -> a local tree_map")]


def rewrite_dependencies(code: str, unit: str) -> tuple[str, list[Note]]:
    notes: list[Note] = []
    for step in (rewrite_optional_kernels, rewrite_logging, rewrite_activations, rewrite_torchtune, rewrite_tree_map):
        code, more = step(code, unit)
        notes += more
    return code, notes
