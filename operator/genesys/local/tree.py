"""The evolution tree (lineage) of one run, for `genesys tree` and the HTML report.

Seeds (and scratch designs) are roots; every design hangs under its first parent that
the run knows, and lists its other (crossover) parents beside it. Designs whose parents
are all missing from the snapshot hang under "(unknown parents)" instead of failing.
`render_tree_text(snapshot)` gives a rich Tree; `render_tree_svg(snapshot)` a standalone SVG.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rich.text import Text
from rich.tree import Tree

from genesys.local import svg
from genesys.local.snapshot import DesignView, RunSnapshot

UNKNOWN = "(unknown parents)"
PHASE_STYLE = {"Implemented": "cyan", "Verifying": "yellow", "Verified": "green", "Failed": "red"}
PHASE_FILL = {"Implemented": "#dbeafe", "Verifying": "#fef3c7", "Verified": "#dcfce7", "Failed": "#fee2e2"}
OTHER_FILL = "#f3f4f6"
BEST_STROKE = "#d97706"

BOX_W, BOX_H = 150, 46  # a node's box: name, fitness, lead over the seeds
COL_W, ROW_H = 200, 56  # one generation per column, one node per row
PAD, LEGEND_H = 16, 30
CHAR_W = 7  # width of a legend character at font-size 11, generous for a proportional font


@dataclass(frozen=True)
class Lineage:
    """Who hangs under whom; every design is in exactly one of roots, orphans or children."""

    roots: tuple[str, ...]  # designs without parents, creation order
    orphans: tuple[str, ...]  # designs none of whose parents is in the run
    children: dict[str, tuple[str, ...]]  # first known parent -> its children, creation order
    others: dict[str, tuple[str, ...]]  # design -> its other parents in the run (crossover)
    missing: dict[str, tuple[str, ...]]  # design -> its parents not in the run


def trace_lineage(snapshot: RunSnapshot) -> Lineage:
    """Place each design under its first parent created before it (so the result is always a forest)."""
    seen: set[str] = set()
    names = {d.name for d in snapshot.designs}
    roots, orphans = [], []
    children: dict[str, list[str]] = {}
    others, missing = {}, {}
    for d in sorted(snapshot.designs, key=lambda d: d.order):
        if d.name in seen:  # a duplicate row would make a second node with the same name
            continue
        parents = tuple(dict.fromkeys(p for p in d.parents if p != d.name))
        earlier = [p for p in parents if p in seen]
        if not parents:
            roots.append(d.name)
        elif earlier:
            children.setdefault(earlier[0], []).append(d.name)
        else:
            orphans.append(d.name)
        first = earlier[0] if earlier else None
        others[d.name] = tuple(p for p in parents if p in names and p != first)
        missing[d.name] = tuple(p for p in parents if p not in names)
        seen.add(d.name)
    return Lineage(tuple(roots), tuple(orphans), {k: tuple(v) for k, v in children.items()}, others, missing)


def walk(lineage: Lineage) -> Iterator[tuple[str | None, int]]:
    """(design, depth) in pre-order; None stands for the "(unknown parents)" group."""
    stack: list[tuple[str | None, int]] = [(name, 0) for name in reversed(lineage.roots)]
    if lineage.orphans:
        stack.insert(0, (None, 0))
    while stack:
        key, depth = stack.pop()
        yield key, depth
        below = lineage.orphans if key is None else lineage.children.get(key, ())
        stack.extend((name, depth + 1) for name in reversed(below))


def best_design(snapshot: RunSnapshot) -> str | None:
    """Rank 1 if the core has rated designs, else the best fitness at the highest rung reached."""
    board = snapshot.leaderboard()
    if board:
        return board[0].name
    ladder = {rung: i for i, rung in enumerate(snapshot.rungs)}
    scored = [(d, d.best) for d in snapshot.designs if d.best is not None]
    if not scored:
        return None
    return max(scored, key=lambda pair: (ladder.get(pair[1].rung, -1), pair[1].fitness))[0].name


def summary(d: DesignView) -> str:
    """`cpu-1 0.512 ±0.014, cpu-2 0.433` (fitness per rung, combined stderr), `failed @ cpu-1`, or `-`
    before the first verification. Every rung's number is shown: one from the top rung alone reads
    as a score on the same scale as the rest of the board, and it is not."""
    if d.best:
        return d.rungs_text()
    return f"failed @ {next(iter(d.failed_rungs))}" if d.failed_rungs else "\u2014"


def node_label(d: DesignView, lineage: Lineage, best: str | None) -> Text:
    label = Text.assemble(
        (d.name, "bold" if d.name == best else ""),
        "  ",
        (d.operation, "dim"),
        "  ",
        (d.phase, PHASE_STYLE.get(d.phase, "")),
        "  ",
        summary(d),
    )
    if d.lead_text():
        label.append(f"  {d.lead_text()}", "cyan")
    for parent in lineage.others.get(d.name, ()):
        label.append(f"  x {parent}", "magenta")
    for parent in lineage.missing.get(d.name, ()):
        label.append(f"  x {parent} (not in this run)", "dim")
    if d.name == best:
        label.append("  \u2605 best", "bold yellow")
    return label


def render_tree_text(snapshot: RunSnapshot) -> Tree:
    """The lineage as a rich Tree; print it with `rich.console.Console().print(tree)`."""
    lineage = trace_lineage(snapshot)
    best = best_design(snapshot)
    designs = {d.name: d for d in snapshot.designs}
    count = f"{len(designs)} designs" if designs else "no designs yet"
    top = Tree(Text(f"{snapshot.evolution}  ({count})", "bold"), guide_style="dim")
    nodes: dict[str | None, Tree] = {}
    parent_of = {c: p for p, cs in lineage.children.items() for c in cs}
    for key, depth in walk(lineage):
        if key is None:
            nodes[None] = top.add(Text(UNKNOWN, "dim italic"))
            continue
        if depth == 0:
            under = top
        else:
            under = nodes[parent_of[key]] if key in parent_of else nodes[None]
        nodes[key] = under.add(node_label(designs[key], lineage, best))
    return top


def place(lineage: Lineage) -> dict[str | None, tuple[int, int]]:
    """(column, row) per node: column = generation; a node sits level with or below its parent.

    A parent also reserves the next column's row beside it, so its first child is level with it.
    """
    parent_of: dict[str | None, str | None] = {c: p for p, cs in lineage.children.items() for c in cs}
    parent_of.update((o, None) for o in lineage.orphans)
    free: dict[int, int] = {}
    spots: dict[str | None, tuple[int, int]] = {}
    for key, col in walk(lineage):
        row = max(spots[parent_of[key]][1] if col else 0, free.get(col, 0))
        has_children = lineage.orphans if key is None else lineage.children.get(key)
        if has_children:
            row = max(row, free.get(col + 1, 0))
        spots[key] = (col, row)
        free[col] = row + 1
    return spots


def corner(spot: tuple[int, int]) -> tuple[float, float]:
    col, row = spot
    return PAD + col * COL_W, PAD + LEGEND_H + row * ROW_H


def edge(start: tuple[int, int], end: tuple[int, int], kind: str, parent: str | None, child: str) -> str:
    (x1, y1), (x2, y2) = corner(start), corner(end)
    x1, y1, x2, y2 = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
    bend = max(abs(x2 - x1) / 2, 30)
    d = f"M{svg.number(x1)},{svg.number(y1)} C{svg.number(x1 + bend)},{svg.number(y1)} "
    d += f"{svg.number(x2 - bend)},{svg.number(y2)} {svg.number(x2)},{svg.number(y2)}"
    dashed = "5,4" if kind == "secondary" else ("2,3" if kind == "unknown" else None)
    colour = "#a21caf" if kind == "secondary" else "#9ca3af"
    return svg.element(
        "path", d=d, fill="none", stroke=colour, stroke_width=1.2, stroke_dasharray=dashed,
        class_=f"edge {kind}" if kind != "unknown" else "unknown-edge", data_parent=parent, data_child=child,
    )


def node_box(d: DesignView, spot: tuple[int, int], best: bool) -> str:
    x, y = corner(spot)
    tip = f"{d.name}: {d.title or '(untitled)'}\n{d.operation}, {d.phase}; parents: {', '.join(d.parents) or '-'}"
    body = svg.title(tip) + svg.element(
        "rect", x=float(x), y=float(y), width=BOX_W, height=BOX_H, rx=5,
        fill=PHASE_FILL.get(d.phase, OTHER_FILL), stroke=BEST_STROKE if best else "#6b7280",
        stroke_width=3.0 if best else 1.0,
    )
    body += svg.text(x + 7, y + 14, svg.shorten(d.name, 22), font_weight="bold" if best else None)
    body += svg.text(x + 7, y + 27, svg.shorten(summary(d), 24), fill="#374151")
    if d.lead_text():
        body += svg.text(x + 7, y + 40, svg.shorten(d.lead_text(), 24), fill="#374151", class_="lead")
    return svg.element("g", body, class_="node", data_design=d.name, data_phase=d.phase)


def legend() -> tuple[str, float]:
    """The legend's SVG and the x where it ends, so the document can be made wide enough for it."""
    parts, x = [], PAD
    for phase, fill in PHASE_FILL.items():
        parts.append(svg.element("rect", x=float(x), y=float(PAD), width=12, height=12, fill=fill, stroke="#6b7280"))
        parts.append(svg.text(x + 16, PAD + 10, phase))
        x += 30 + CHAR_W * len(phase)
    parts.append(svg.element("rect", x=float(x), y=float(PAD), width=12, height=12, fill="none",
                             stroke=BEST_STROKE, stroke_width=3.0))
    parts.append(svg.text(x + 16, PAD + 10, "best"))
    x += 60
    for label, dash, colour in (("first parent", None, "#9ca3af"), ("other parent", "5,4", "#a21caf")):
        parts.append(svg.element("line", x1=float(x), y1=PAD + 6.0, x2=x + 24.0, y2=PAD + 6.0,
                                 stroke=colour, stroke_dasharray=dash))
        parts.append(svg.text(x + 28, PAD + 10, label))
        end = x + 28 + CHAR_W * len(label)
        x += 40 + CHAR_W * len(label)
    return svg.element("g", "".join(parts), class_="legend"), end


def render_tree_svg(snapshot: RunSnapshot) -> str:
    """The lineage as a standalone SVG: one column per generation, boxes coloured by phase."""
    lineage = trace_lineage(snapshot)
    designs = {d.name: d for d in snapshot.designs}
    label = f"evolution tree of {snapshot.evolution}"
    if not designs:
        return svg.document(320, 60, svg.text(PAD, 36, "no designs yet", fill="#6b7280"), label, "tree")
    spots = place(lineage)
    best = best_design(snapshot)
    edges = [edge(spots[p], spots[c], "primary", p, c) for p, cs in lineage.children.items() for c in cs]
    edges += [edge(spots[p], spots[c], "secondary", p, c) for c, ps in lineage.others.items() for p in ps]
    edges += [edge(spots[None], spots[o], "unknown", None, o) for o in lineage.orphans]
    nodes = [node_box(designs[k], spots[k], k == best) for k in spots if k is not None]
    if None in spots:
        x, y = corner(spots[None])
        group = svg.element("rect", x=float(x), y=float(y), width=BOX_W, height=BOX_H, rx=5, fill="#fff",
                            stroke="#9ca3af", stroke_dasharray="3,3")
        group += svg.text(x + 7, y + 21, UNKNOWN, fill="#6b7280", font_style="italic")
        nodes.append(svg.element("g", group, class_="unknown-parents"))
    cols = max(c for c, _ in spots.values())
    rows = max(r for _, r in spots.values())
    key, key_end = legend()
    width = max(2 * PAD + cols * COL_W + BOX_W, key_end + PAD)
    height = 2 * PAD + LEGEND_H + rows * ROW_H + BOX_H
    return svg.document(width, height, key + "".join(edges) + "".join(nodes), label, "tree")
