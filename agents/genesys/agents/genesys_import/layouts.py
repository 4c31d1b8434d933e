"""Reading the Genesys paper's designs (allenai/genesys) in its two layouts, into one neutral form.

    <design>/implementation.json        an LLM-discovered tree: implementation.{root, units{code, children,
                                        args, gautests}, proposal, rating}, status; verifications/<scale>.json
    <seed>/units/{metadata.yaml, src/*.py}   a seed: one source file per unit (tests inline, @gau_test)

Nothing here rewrites code; `GenesysTree` keeps each unit's source exactly as Genesys stored it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IMPLEMENTATION = "implementation.json"


class LayoutError(ValueError):
    """A path is not a Genesys design in either layout, or its files do not parse."""


@dataclass
class GenesysUnit:
    name: str
    code: str
    children: list[str] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, str] = field(default_factory=dict)  # test name -> source (gautests, @gau_test)


@dataclass
class GenesysTree:
    name: str
    root: str
    units: dict[str, GenesysUnit]
    source: str  # the path it was read from
    proposal: str = ""
    status: str | None = None  # Genesys's own status of the design (implemented, ...)
    rating: float | None = None
    scores: dict[str, float] = field(default_factory=dict)  # scale -> Genesys's average lm-eval score
    seeds: list[str] = field(default_factory=list)  # the Genesys designs it was derived from


def find_designs(paths: list[Path]) -> list[Path]:
    """Every design under `paths`: implementation.json files and seed `units` folders, in path order."""
    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise LayoutError(f"{path}: no such file or directory")
        if path.is_file() and path.name == IMPLEMENTATION or (path / "metadata.yaml").is_file():
            found.append(path)
        elif (path / IMPLEMENTATION).is_file():
            found.append(path / IMPLEMENTATION)
        elif (path / "units" / "metadata.yaml").is_file():
            found.append(path / "units")
        elif path.is_dir():
            found += sorted(p for p in path.rglob(IMPLEMENTATION))
            found += sorted(p.parent for p in path.rglob("units/metadata.yaml"))
    return list(dict.fromkeys(found))


def read_design(path: Path) -> GenesysTree:
    return read_implementation(path) if path.name == IMPLEMENTATION else read_seed_units(path)


def _scores(folder: Path) -> dict[str, float]:
    """Genesys's average lm-eval accuracy per scale from verifications/<scale>.json, where present."""
    scores: dict[str, float] = {}
    for file in sorted((folder / "verifications").glob("*.json")):
        try:
            report = json.loads(file.read_text())["verification_report"]
            results = report["eval_results.json"]["results"]
        except (KeyError, TypeError, json.JSONDecodeError):
            continue
        # the mean accuracy over the tasks that report one (the paper's "average score")
        values = [float(v["acc,none"]) for v in results.values() if isinstance(v, dict) and "acc,none" in v]
        if values:
            scores[file.stem] = sum(values) / len(values)
    return scores


def read_implementation(path: Path) -> GenesysTree:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        impl = data["implementation"]
        units = {name: GenesysUnit(name, u.get("code") or "", list(u.get("children") or []), dict(u.get("args") or {}),
                                   dict(u.get("gautests") or {}))
                 for name, u in impl["units"].items()}
        root = impl["root"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise LayoutError(f"{path}: not a Genesys implementation.json ({type(err).__name__}: {err})") from None
    folder = path.parent
    name = impl.get("name") or folder.name
    seeds: list[str] = []
    meta = folder / "metadata.json"
    if meta.is_file():
        try:
            seeds = list(json.loads(meta.read_text()).get("seed_ids") or [])
        except json.JSONDecodeError:
            pass
    proposal = impl.get("proposal") or ""
    return GenesysTree(name=name, root=root, units=units, source=str(path),
                       proposal=proposal if isinstance(proposal, str) else json.dumps(proposal),
                       status=data.get("status"), rating=impl.get("rating"), scores=_scores(folder), seeds=seeds)


GAU_TEST = re.compile(r"^gau_test$")


def _split_tests(source: str, filename: str) -> tuple[str, dict[str, str]]:
    """The source without its @gau_test functions, and those functions by name."""
    try:
        module = ast.parse(source, filename)
    except SyntaxError as err:
        raise LayoutError(f"{filename}, line {err.lineno}: {err.msg}") from None
    lines = source.splitlines(keepends=True)
    tests: dict[str, str] = {}
    spans: list[tuple[int, int]] = []
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and any(
                GAU_TEST.match(getattr(d, "id", getattr(d, "attr", ""))) for d in node.decorator_list):
            start = min(d.lineno for d in node.decorator_list) - 1
            assert node.end_lineno is not None
            tests[node.name] = "".join(lines[start:node.end_lineno])
            spans.append((start, node.end_lineno))
    for start, end in reversed(spans):
        del lines[start:end]
    return "".join(lines), tests


def read_seed_units(folder: Path) -> GenesysTree:
    """A seed's `units` folder: metadata.yaml (name, root, proposal) and one source per unit in src/."""
    try:
        meta = yaml.safe_load((folder / "metadata.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise LayoutError(f"{folder / 'metadata.yaml'}: {err}") from None
    root = str(meta.get("root") or "").strip()
    units: dict[str, GenesysUnit] = {}
    for file in sorted((folder / "src").glob("*.py")):
        source, tests = _split_tests(file.read_text(encoding="utf-8"), str(file))
        from genesys.gau.checker.unit_ast import declared_children

        module = ast.parse(source)
        classes = [n.name for n in module.body if isinstance(n, ast.ClassDef)
                   and any(getattr(b, "id", None) == "GAUBase" for b in n.bases)]
        if len(classes) != 1:
            raise LayoutError(f"{file}: a Genesys unit file defines one GAUBase subclass; found {len(classes)}")
        units[classes[0]] = GenesysUnit(classes[0], source, declared_children(module) or [], {}, tests)
    if root not in units:
        raise LayoutError(f"{folder}: metadata.yaml names root {root!r}, but src/ defines {', '.join(units) or 'none'}")
    seed = folder.parent.name
    return GenesysTree(name=str(meta.get("name") or seed).strip(), root=root, units=units, source=str(folder),
                       proposal=str(meta.get("proposal") or "").strip(), status="seed",
                       scores=_scores(folder.parent), seeds=[])
