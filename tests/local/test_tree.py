"""The evolution tree: text (rich) and SVG renderings of a hand-built run."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.tree import Tree

from genesys.local.snapshot import DesignView, RungScores, RunSnapshot
from genesys.local.tree import UNKNOWN, place, render_tree_svg, render_tree_text, trace_lineage

SVG = "{http://www.w3.org/2000/svg}"


def scores(rung: str, fitness: float) -> RungScores:
    return RungScores(rung, fitness, 0.01, {"blimp": fitness}, {"blimp": 0.5}, 1_000_000, 12.0, 3.2)


def design(name, operation="mutation", parents=(), phase="Verified", order=0, rank=None, rungs=(), **kw) -> DesignView:
    return DesignView(name, phase, operation, tuple(parents), order, f"title of {name}", None, rank, None, tuple(rungs),
                      **kw)


def run(*designs: DesignView) -> RunSnapshot:
    return RunSnapshot("demo", "/tmp/run", "Running", 1.0, 2.0, ("cpu-1", "cpu-2"), tuple(designs), (), {}, {})


def sample() -> RunSnapshot:
    return run(
        design("gpt", "seed", order=0, rank=3, rungs=[scores("cpu-1", 0.40)]),
        design("mamba", "seed", order=1, rank=4, rungs=[scores("cpu-1", 0.38)]),
        design("d1", "mutation", ["gpt"], order=2, rank=1, rungs=[scores("cpu-1", 0.45), scores("cpu-2", 0.512)]),
        design("d2", "mutation", ["d1"], order=3, rank=2, rungs=[scores("cpu-1", 0.44)]),
        design("d3", "crossover", ["d1", "mamba"], "Verifying", order=4),
        design("d4", "mutation", ["mamba"], "Failed", order=5, failed_rungs={"cpu-1": "loss is nan"}),
        design("d5", "mutation", ["ghost"], "Implemented", order=6),
        design("d6", "crossover", ["ghost", "d2", "mamba"], "Implemented", order=7),
    )


# design -> the node it hangs under in the tree (None: a root)
EXPECTED_PARENT = {"gpt": None, "mamba": None, "d1": "gpt", "d2": "d1", "d3": "d1", "d4": "mamba", "d5": UNKNOWN,
                   "d6": "d2"}
# every (parent, child) link to a parent that is in the run
LINKS = {("gpt", "d1"), ("d1", "d2"), ("d1", "d3"), ("mamba", "d3"), ("mamba", "d4"), ("d2", "d6"), ("mamba", "d6")}


def placement(tree: Tree) -> dict[str, str | None]:
    """First word of each node's label -> first word of the label it hangs under (None under the top)."""
    found: dict[str, str | None] = {}
    stack = [(child, None) for child in tree.children]
    while stack:
        node, parent = stack.pop()
        label = node.label.plain
        key = UNKNOWN if label == UNKNOWN else label.split()[0]
        found[key] = parent
        stack.extend((child, key) for child in node.children)
    return found


def lines_of(tree: Tree) -> list[str]:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(tree)
    return console.file.getvalue().splitlines()


def parse(svg_text: str) -> ET.Element:
    root = ET.fromstring(svg_text)
    assert root.tag == f"{SVG}svg"
    return root


def nodes_and_links(root: ET.Element) -> tuple[list[str], set[tuple[str, str]]]:
    nodes = [g.get("data-design") for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    links = {(p.get("data-parent"), p.get("data-child")) for p in root.iter(f"{SVG}path")
             if "edge" in p.get("class", "").split()}
    return nodes, links


def test_text_tree_hangs_every_design_under_its_first_known_parent():
    found = placement(render_tree_text(sample()))
    assert found == {**EXPECTED_PARENT, UNKNOWN: None}


def test_text_tree_lines_show_operation_phase_fitness_other_parents_and_best():
    by_name = {line.lstrip("│├└─ ").split()[0]: line for line in lines_of(render_tree_text(sample()))[1:]}
    assert "mutation  Verified  cpu-1 0.450, cpu-2 0.512" in by_name["d1"] and "\u2605 best" in by_name["d1"]
    assert "\u2605" not in by_name["d2"]
    assert "x mamba" in by_name["d3"] and "Verifying" in by_name["d3"]
    assert "x ghost (not in this run)" in by_name["d6"] and "x mamba" in by_name["d6"]
    assert "Failed" in by_name["d4"]


def test_svg_has_one_node_per_design_and_one_edge_per_parent_link():
    root = parse(render_tree_svg(sample()))
    nodes, links = nodes_and_links(root)
    assert sorted(nodes) == sorted(EXPECTED_PARENT)
    assert links == LINKS
    dashed = {(p.get("data-parent"), p.get("data-child")) for p in root.iter(f"{SVG}path")
              if "secondary" in p.get("class", "")}
    assert dashed == {("mamba", "d3"), ("mamba", "d6")}
    tips = {g.get("data-design"): g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert tips["d3"].startswith("d3: title of d3")
    assert len(root.findall(f".//{SVG}g[@class='unknown-parents']")) == 1


def test_hostile_names_and_titles_stay_text():
    evil = "<script>alert('x')</script>&\x01"
    snapshot = run(design(evil, "seed"),
                   DesignView("child", "Verified", "mutation", (evil,), 1, "</title><b>x", None, None, None))
    text = render_tree_svg(snapshot)
    assert "<script" not in text and "<b>" not in text
    nodes, links = nodes_and_links(parse(text))
    assert len(nodes) == 2 and links == {(evil.replace("\x01", "\ufffd"), "child")}
    assert placement(render_tree_text(snapshot))["child"] == evil.split()[0]


def test_empty_run_renders():
    empty = run()
    assert "no designs yet" in "\n".join(lines_of(render_tree_text(empty)))
    nodes, links = nodes_and_links(parse(render_tree_svg(empty)))
    assert nodes == [] and links == set()


def test_two_hundred_designs():
    designs = [design(f"seed-{i}", "seed", order=i, rank=i + 1, rungs=[scores("cpu-1", 0.3 + i / 100)])
               for i in range(5)]
    for i in range(5, 200):
        parents = [designs[(i * 7) % i].name] + ([designs[(i * 3) % i].name] if i % 4 == 0 else [])
        designs.append(design(f"design-{i:04d}", "crossover" if i % 4 == 0 else "mutation", parents, order=i))
    snapshot = run(*designs)
    nodes, links = nodes_and_links(parse(render_tree_svg(snapshot)))
    assert len(nodes) == 200
    assert links == {(p, d.name) for d in designs for p in set(d.parents)}
    assert len(placement(render_tree_text(snapshot))) == 200


@st.composite
def lineages(draw) -> RunSnapshot:
    """Any parent lists: earlier, later, self, duplicated or missing parents."""
    n = draw(st.integers(0, 30))
    names = [f"d{i}" for i in range(n)]
    pool = st.sampled_from(names + ["ghost"]) if names else st.just("ghost")
    return run(*(design(name, parents=draw(st.lists(pool, max_size=3)), order=i) for i, name in enumerate(names)))


@settings(max_examples=60, deadline=None)
@given(lineages())
def test_any_lineage_is_a_forest_with_every_design_once(snapshot):
    lineage = trace_lineage(snapshot)
    hung = [c for cs in lineage.children.values() for c in cs]
    assert sorted([*lineage.roots, *lineage.orphans, *hung]) == sorted(d.name for d in snapshot.designs)
    spots = place(lineage)
    assert len(set(spots.values())) == len(spots), "two nodes share a place"
    nodes, links = nodes_and_links(parse(render_tree_svg(snapshot)))
    assert sorted(nodes) == sorted(d.name for d in snapshot.designs)
    known = {d.name for d in snapshot.designs}
    assert links == {(p, d.name) for d in snapshot.designs for p in d.parents if p in known and p != d.name}
    assert set(placement(render_tree_text(snapshot))) - {UNKNOWN} == known


def test_every_legend_element_lies_within_the_svg_width():
    from genesys.local.tree import CHAR_W

    for snapshot in (sample(), run(design("solo", "seed"))):  # a wide tree and a one-node tree
        root = parse(render_tree_svg(snapshot))
        width = float(root.get("width"))
        assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
        legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legend")
        for el in legend:
            tag = el.tag.removeprefix(SVG)
            if tag == "rect":
                right = float(el.get("x")) + float(el.get("width"))
            elif tag == "line":
                right = float(el.get("x2"))
            else:
                right = float(el.get("x")) + CHAR_W * len(el.text)
            assert right <= width, (tag, el.text, right, width)


def test_fitness_stderr_and_lead_over_the_seeds_in_the_text_and_the_svg():
    noisy = RungScores("cpu-2", 0.512, 0.01, {}, {}, None, 1.0, None, stderr=0.014)
    leader = design("d1", rank=1, rungs=[noisy], lead_z=2.34, versus="gpt")
    snapshot = run(design("gpt", "seed", order=0, rank=2, rungs=[scores("cpu-2", 0.47)]), leader)
    (line,) = [t for t in lines_of(render_tree_text(snapshot)) if "d1" in t]
    assert "cpu-2 0.512 \u00b10.014  +2.3\u03c3 vs gpt" in line
    root = parse(render_tree_svg(snapshot))
    leads = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "lead"}
    assert leads == {"+2.3\u03c3 vs gpt"}
    node = next(g for g in root.iter(f"{SVG}g") if g.get("data-design") == "d1")
    box, lead = node.find(f"{SVG}rect"), node.find(f"{SVG}text[@class='lead']")
    assert float(box.get("y")) < float(lead.get("y")) < float(box.get("y")) + float(box.get("height"))
