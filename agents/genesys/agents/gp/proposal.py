"""Proposals of GP designs: what changed, and why one would try it, in plain words.

The GP designer has no LLM to argue for its designs, so each change is described
from structured records (`Change`) plus a one-line trade-off per library unit; units
without one are described by the first sentence of their docstring.

    proposal = describe("mutation", ["gpt2"], [Change("replace", "MultiHeadAttention",
                        new="GroupedQueryAttention", parent="GPT2Block")], tree)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from genesys.api import DesignTree, Proposal
from genesys.gau.library import library

ChangeKind = Literal["replace", "hyperparameter", "insert", "remove", "graft", "layout", "scratch"]


@dataclass(frozen=True)
class Change:
    """One edit of a tree: `unit` (old) became `new` in `parent`'s code, or its `param` moved."""

    kind: ChangeKind
    unit: str
    new: str = ""
    parent: str = ""
    param: str = ""
    old_value: Any = None
    new_value: Any = None
    donor: str = ""  # the design a crossover took `new` from


# Why one would try a unit in place of another of its role: the trade-off it offers.
WHY = {
    "MultiHeadAttention": "full softmax attention recalls any earlier token exactly, at a cost quadratic in length",
    "GroupedQueryAttention": "query heads share fewer key/value heads, which shrinks the K/V projections and the "
                             "inference cache with little loss in quality",
    "SlidingWindowAttention": "a local window bounds each layer's attention span; stacked layers still widen the "
                              "receptive field, and local attention is often enough for language modeling",
    "GatedLinearAttention": "a matrix-valued state with a data-dependent decay mixes tokens in linear time with a "
                            "constant-size state",
    "MultiScaleRetention": "fixed multi-scale decays give a recurrent, linear-time mixer that still trains in parallel",
    "Mamba2Mixer": "a selective state space model mixes tokens in linear time with a constant-size state",
    "RWKV6TimeMix": "a recurrence with data-dependent decay and token shift mixes tokens in linear time",
    "TTTLinear": "a hidden state that is a linear model trained while reading the sequence is more expressive "
                 "than a fixed vector state, and still linear in length",
    "HyenaConv": "gated implicit long convolutions mix the whole context in O(L log L) without attention",
    "GatedMLP": "a gated linear unit (SwiGLU/GeGLU) usually beats a plain MLP at equal parameters",
    "SquaredReLUMLP": "squared ReLU (Primer) is cheaper than a gated unit and about as good",
    "TopKMixtureOfExperts": "routing each token to k of several experts adds capacity without adding per-token "
                            "compute",
    "RWKV6ChannelMix": "a token-shifted MLP with a receptance gate lets the channel mixer see the previous token",
    "RMSNorm": "RMSNorm drops LayerNorm's centring and bias: cheaper and usually as good",
    "LayerNorm": "LayerNorm centres activations as well as scaling them, which can steady training",
    "RotaryEmbedding": "rotary positions put relative offsets into the query-key product",
    "ALiBi": "linear distance penalties need no position parameters and extrapolate to longer contexts",
    "ShortConvMixer": "a short causal convolution in front of the mixer supplies local n-gram features, "
                      "as in H3 and Mamba",
    "GatedTokenMixer": "a data-dependent output gate lets each token damp what the mixer writes into the residual "
                       "stream and adds a non-linearity after a linear mixer",
    "GPT2Block": "the standard pre-norm layout, with one token mixer and one channel mixer per block",
    "Mamba2Block": "two token mixers per block and no MLP put every parameter into sequence mixing",
    "RetNetBlock": "the pre-norm layout with one token mixer and one channel mixer per block",
    "RWKV6Block": "the pre-norm layout with one token mixer and one channel mixer per block",
    "TTTBlock": "the pre-norm layout with one token mixer and one channel mixer per block",
}


def why(unit: str) -> str:
    if unit in WHY:
        return WHY[unit]
    info = library().get(unit)
    doc = info.doc if info else ""
    return (doc.split(". ")[0].strip().rstrip(".") or f"{unit} is a different unit of the same role")


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)


def _sentence(change: Change, base: str) -> tuple[str, str]:
    """(title, abstract sentence) of one change applied to design `base`."""
    c = change
    if c.kind == "replace":
        return (f"Replace {c.unit} with {c.new} in {base}",
                f"Replace {c.unit} with {c.new} in {base}: {why(c.new)}.")
    if c.kind == "hyperparameter":
        return (f"Set {c.param}={_value(c.new_value)} in {c.unit} of {base}",
                f"Change {c.param} of {c.unit} from {_value(c.old_value)} to {_value(c.new_value)} in {base}, a "
                f"choice of the unit's search space; a single-parameter change isolates its effect on fitness.")
    if c.kind == "insert":
        return (f"Wrap {c.unit} in {c.new} in {base}",
                f"Wrap the token mixer {c.unit} of {base} in {c.new}: {why(c.new)}.")
    if c.kind == "remove":
        return (f"Unwrap {c.new} from {c.unit} in {base}",
                f"Remove the wrapper {c.unit} around {c.new} in {base}: a simpler block tells whether the wrapper "
                "was worth its cost.")
    if c.kind == "graft":
        return (f"{base} with {c.new} from {c.donor}",
                f"Take {c.new} (and its subtree) from {c.donor} in place of {c.unit} of {base}: {why(c.new)}.")
    if c.kind == "layout":
        return (f"{c.new} layout from {c.donor} around {base}'s units",
                f"Use the block {c.new} of {c.donor} instead of {c.unit}, keeping {base}'s units where a slot of "
                f"the same role exists: {why(c.new)}.")
    return (f"From scratch: {c.new}", f"A new block drawn at random from the unit grammar: {c.new}.")


def compact(tree: DesignTree) -> str:
    """The tree on one line: `GPT2Block(ShortConvMixer(ShortConv, MultiHeadAttention(...)), ...)`."""

    def visit(name: str, path: tuple[str, ...]) -> str:
        spec = tree.units.get(name)
        if spec is None or not spec.children or name in path:
            return name
        return f"{name}({', '.join(visit(c, path + (name,)) for c in spec.children)})"

    return visit(tree.root, ())


def outline(tree: DesignTree) -> str:
    """The tree as an indented list, with each unit's hyper-parameters."""
    lines: list[str] = []

    def visit(name: str, depth: int, path: tuple[str, ...]) -> None:
        spec = tree.units.get(name)
        args = ", ".join(f"{k}={_value(v)}" for k, v in sorted(spec.args.items())) if spec else ""
        lines.append("  " * depth + f"- {name}" + (f" ({args})" if args else "") + ("" if spec else " (declared)"))
        if spec and name not in path:
            for child in spec.children:
                visit(child, depth + 1, path + (name,))

    visit(tree.root, 0, ())
    return "\n".join(lines)


def describe(operation: str, parents: Sequence[str], changes: Sequence[Change], tree: DesignTree) -> Proposal:
    """The proposal of a GP product: a title, a one-paragraph abstract and a body."""
    base = parents[0] if parents else "scratch"
    sentences = [_sentence(c, base) for c in changes]
    title = "; ".join(t for t, _ in sentences) if sentences else f"{operation} of {base}"
    abstract = " ".join(a for _, a in sentences)
    if any(c.kind == "scratch" for c in changes):
        root = tree.units[tree.root]
        abstract += " " + " ".join(f"{c}: {why(c)}." for c in [tree.root, *root.children])
    body = [f"Operation: {operation}" + (f" of {', '.join(parents)}" if parents else "") + " (offline GP designer).",
            "", "Changes:"]
    for c in changes:
        renamed = f" (renamed in {c.parent})" if c.parent else ""
        detail = {"replace": f"{c.unit} -> {c.new}{renamed}",
                  "hyperparameter": f"{c.unit}.{c.param}: {_value(c.old_value)} -> {_value(c.new_value)}",
                  "insert": f"{c.unit} -> {c.new}({c.unit}){renamed}",
                  "remove": f"{c.unit}({c.new}) -> {c.new}{renamed}",
                  "graft": f"{c.unit} -> {c.new} from {c.donor}{renamed}",
                  "layout": f"block {c.unit} -> {c.new} from {c.donor}",
                  "scratch": c.new}[c.kind]
        body.append(f"- {c.kind}: {detail}")
    body += ["", "Resulting tree:", outline(tree)]
    return Proposal(title=title[:200], abstract=abstract, body="\n".join(body))
