"""The HTML report: one well-formed standalone page with leaderboard, plots, tree and failures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from genesys.local.report import render_report_html
from genesys.local.snapshot import BudgetView, DesignView, RungScores, RunSnapshot

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert('x')</script>"
VOID = {"meta", "br", "img", "hr", "input", "link"}


def scores(rung: str, fitness: float, params: int) -> RungScores:
    return RungScores(rung, fitness, 0.02, {"blimp": fitness, "rte": fitness / 2}, {"blimp": 0.5, "rte": 0.25},
                      params, 30.0, 3.1)


def design(name, operation, parents=(), phase="Verified", order=0, rank=None, rungs=(), **kw) -> DesignView:
    fields = {"title": f"title of {name}", "rating": None if rank is None else 1.0 / rank, "quadrant": None, **kw}
    return DesignView(name=name, phase=phase, operation=operation, parents=tuple(parents), order=order, rank=rank,
                      rungs=tuple(rungs), **fields)


def sample() -> RunSnapshot:
    designs = (
        design("gpt", "seed", order=0, rank=3, rungs=[scores("cpu-1", 0.40, 800_000)], quadrant="poor-confident"),
        design("mamba", "seed", order=1, rank=2, rungs=[scores("cpu-1", 0.42, 900_000)]),
        design("d1", "mutation", ["gpt"], order=2, rank=1,
               rungs=[scores("cpu-1", 0.45, 850_000), scores("cpu-2", 0.51, 9_000_000)]),
        design(EVIL, "crossover", ["d1", "mamba"], order=3, rank=4, rungs=[scores("cpu-1", 0.30, 700_000)]),
        design("d3", "mutation", ["d1"], "Failed", order=4, failed_rungs={"cpu-1": "loss is nan at step 12"}),
        design("d4", "scratch", (), "Failed", order=5),
        design("d5", "mutation", ["mamba"], "Verifying", order=6),
    )
    history = ((10.0, "gpt", "cpu-1", 0.40), (11.0, "mamba", "cpu-1", 0.42), (12.0, "d1", "cpu-1", 0.45),
               (13.0, EVIL, "cpu-1", 0.30), (14.0, "d1", "cpu-2", 0.51))
    budgets = (BudgetView("cpu-1", 16, 8, 5, 1, 150.0), BudgetView("cpu-2", 4, 1, 1, 0, 400.0))
    return RunSnapshot("demo", "/tmp/run", "Running", 1_700_000_000.0, 1_700_003_600.0, ("cpu-1", "cpu-2"), designs,
                       budgets, {"running": 1, "succeeded": 6, "failed": 1},
                       {"running": 1, "succeeded": 5, "failed": 1}, history)


def empty() -> RunSnapshot:
    return RunSnapshot("empty", "/tmp/empty", "Running", 0.0, 0.0, ("cpu-1",), (), (), {}, {})


class TagChecker(HTMLParser):
    """Fails on end tags that do not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}> at {self.getpos()}")


def parse(page: str) -> ET.Element:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    doctype, xml = page.split("\n", 1)
    assert doctype == "<!DOCTYPE html>"
    return ET.fromstring(xml)


def by_class(root: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [e for e in root.iter(tag) if css_class in e.get("class", "").split()]


def test_report_is_one_well_formed_page_without_scripts_or_external_resources():
    page = render_report_html(sample())
    root = parse(page)
    assert root.find(".//script") is None and "<script" not in page.lower()
    assert not [e for e in root.iter() if e.get("src") or e.get("href")]


def test_leaderboard_rows_follow_rank_and_show_lineage_scores_and_baselines():
    root = parse(render_report_html(sample()))
    (table,) = by_class(root, "table", "leaderboard")
    rows = table.findall("./tbody/tr")
    assert [r.get("data-design") for r in rows] == ["d1", "mamba", "gpt", EVIL]
    assert [r.find("td").text for r in rows] == ["1", "2", "3", "4"]
    d1 = "".join(rows[0].itertext())
    assert "gpt" in d1 and "cpu-2" in d1 and "0.510" in d1 and "0.450" in d1 and "9M" in d1
    assert "blimp: 0.510 (baseline 0.500)" in d1
    assert "d1 \u00d7 mamba" in " ".join(rows[3].itertext())
    assert rows[0].get("class") == "best"


def test_every_design_name_appears_and_hostile_names_stay_text():
    snapshot = sample()
    root = parse(render_report_html(snapshot))
    text = " ".join(root.itertext())
    for d in snapshot.designs:
        assert d.name in text
    assert EVIL in text


def test_three_plots_and_the_tree_are_inline_svg():
    root = parse(render_report_html(sample()))
    plots = by_class(root, f"{SVG}svg", "plot")
    assert [p.find(f"{SVG}title").text for p in plots] == [
        "Best fitness so far", "Scale budgets (runs per rung)", "Fitness vs parameters"]
    history, budgets, scatter = plots
    assert {p.get("data-rung") for p in by_class(history, f"{SVG}path", "series")} == {"cpu-1", "cpu-2"}
    assert len(history.findall(f".//{SVG}circle")) == 5
    assert len(by_class(budgets, f"{SVG}rect", "bar")) == 8
    assert len(scatter.findall(f".//{SVG}circle")) == 5
    (tree,) = by_class(root, f"{SVG}svg", "tree")
    assert len(by_class(tree, f"{SVG}g", "node")) == len(sample().designs)


def test_header_and_failures():
    root = parse(render_report_html(sample()))
    header = " ".join(root.find(".//header").itertext())
    assert "demo" in header and "Running" in header and "2023-11-14 22:13:20 UTC" in header
    assert "7 (" in header and "5 succeeded" in header and "1h 00m 00s" in header
    failures = [" ".join(li.itertext()) for li in by_class(root, "ul", "failures")[0]]
    assert any("d3" in f and "cpu-1" in f and "loss is nan at step 12" in f for f in failures)
    assert any("d4" in f and "failed before verification" in f for f in failures)


def test_empty_run_renders_every_section():
    page = render_report_html(empty())
    root = parse(page)
    assert "No design is rated yet" in page
    assert len(by_class(root, f"{SVG}svg", "plot")) == 3
    assert len(by_class(root, f"{SVG}svg", "tree")) == 1


def test_run_without_a_verified_design():
    snapshot = RunSnapshot("fresh", "/tmp/f", "Interrupted", 5.0, 9.0, ("cpu-1",),
                           (design("gpt", "seed", phase="Implemented"), design("d1", "mutation", ["gpt"], "Failed", 1)),
                           (BudgetView("cpu-1", 4, 0, 0, 0, 0.0),), {"failed": 1}, {}, completed_reason=None)
    root = parse(render_report_html(snapshot))
    rows = by_class(root, "table", "unrated")[0].iter("tr")
    assert [r.get("data-design") for r in rows if r.get("data-design")] == ["gpt", "d1"]


names = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6, unique=True)


@settings(max_examples=40, deadline=None)
@given(names, st.text(max_size=20), st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6))
def test_any_text_and_numbers_give_a_well_formed_page(design_names, reason, fitnesses):
    designs = tuple(
        design(name, "mutation" if i else "seed", design_names[:i][-1:], order=i, rank=i + 1,
               rungs=[scores("cpu-1", fitnesses[i % len(fitnesses)], 1000 * (i + 1))], failed_rungs={"cpu-2": reason})
        for i, name in enumerate(design_names)
    )
    history = tuple((float(i), d.name, "cpu-1", d.rungs[0].fitness) for i, d in enumerate(designs))
    snapshot = RunSnapshot(reason or "x", "/", "Running", 1.0, 2.0, ("cpu-1", "cpu-2"), designs, (), {}, {}, history)
    parse(render_report_html(snapshot))


def test_fitness_shows_its_combined_stderr_and_the_lead_over_the_seeds():
    from dataclasses import replace

    snap = sample()
    d1 = snap.design("d1")
    noisy = replace(d1, rungs=tuple(replace(r, stderr=0.014) for r in d1.rungs), lead_z=2.34, versus="mamba")
    snap = replace(snap, designs=tuple(noisy if d.name == "d1" else d for d in snap.designs))
    root = parse(render_report_html(snap))
    (table,) = by_class(root, "table", "leaderboard")
    heads = ["".join(th.itertext()) for th in table.findall("./thead/tr/th")]
    row = table.find("./tbody/tr")
    cells = dict(zip(heads, ("".join(td.itertext()) for td in row.findall("td")), strict=True))
    assert cells["fitness @ cpu-2"] == "0.510 \u00b1 0.014"
    assert "evaluation \u00b1 0.020" in row.findall("td")[heads.index("fitness @ cpu-2")].get("title")
    assert cells["lead over the seeds"] == "+2.3\u03c3 vs mamba"
