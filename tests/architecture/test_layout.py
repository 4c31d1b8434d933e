"""The house rules of DESIGN.md section 2: one PEP 420 namespace, dependencies pointing one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("crds", "trainer", "agents", "operator")

# package (as a path under a folder) -> top-level modules it must never import
FORBIDDEN = {
    "crds/genesys/api": {"torch", "kopf", "litellm", "lm_eval", "weaviate", "kubernetes"},
    "operator/genesys/evolution": {"torch", "kopf", "litellm", "lm_eval", "weaviate", "kubernetes"},
    "operator/genesys/operator": {"torch", "litellm", "lm_eval", "weaviate"},
    "operator/genesys/local": {"torch", "litellm", "lm_eval", "weaviate"},
    "operator/genesys/cli": {"litellm", "lm_eval", "weaviate"},
}
# genesys subpackages the runtimes must not import: they run them as processes.
RUNTIME_FORBIDDEN_GENESYS = {"genesys.gau", "genesys.trainer", "genesys.evaluation", "genesys.agents",
                             "genesys.knowledge"}
# genesys subpackages a package must not import: the pure core never reaches into a runtime or
# a component, and the designers never into the local runtime (they run under both runtimes).
GENESYS_FORBIDDEN = {
    "operator/genesys/evolution": {"genesys.local", "genesys.operator", "genesys.cli", "genesys.gau",
                                   "genesys.trainer", "genesys.evaluation", "genesys.agents", "genesys.knowledge"},
    "crds/genesys/api": {"genesys.evolution", "genesys.local", "genesys.operator", "genesys.cli", "genesys.gau",
                         "genesys.trainer", "genesys.evaluation", "genesys.agents", "genesys.knowledge"},
    "agents/genesys/agents": {"genesys.local", "genesys.operator", "genesys.cli"},
}
ONLY_IN = {"litellm": "agents/genesys/agents", "lm_eval": "trainer/genesys/evaluation",
           "weaviate": "agents/genesys/knowledge"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(rel: str) -> list[Path]:
    base = ROOT / rel
    # Unit source files are data: they are compiled from manifests, not imported.
    return [p for p in base.rglob("*.py") if "units" not in p.relative_to(base).parts] if base.exists() else []


def test_no_genesys_init_anywhere():
    strays = [p for f in FOLDERS for p in (ROOT / f / "genesys").glob("__init__.py")]
    assert not strays, f"genesys is a PEP 420 namespace: remove {strays}"


def test_every_component_folder_contributes_to_the_namespace():
    for folder in ("crds", "trainer", "operator"):
        assert (ROOT / folder / "genesys").is_dir(), folder


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_forbidden_imports(package):
    bad = []
    for path in python_files(package):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
            if package.endswith(("operator", "local")) and any(
                name == g or name.startswith(g + ".") for g in RUNTIME_FORBIDDEN_GENESYS
            ):
                bad.append(f"{path.relative_to(ROOT)} imports {name} (run it as a process instead)")
    assert not bad, "\n".join(bad)


def test_integration_libraries_stay_in_their_package():
    bad = []
    for folder in FOLDERS:
        for path in python_files(folder):
            for name in imports_of(path):
                owner = ONLY_IN.get(name.split(".")[0])
                if owner and not path.is_relative_to(ROOT / owner):
                    bad.append(f"{path.relative_to(ROOT)} imports {name}; only {owner} may")
    assert not bad, "\n".join(bad)


def test_the_api_package_imports_without_torch():
    import subprocess
    import sys

    code = "import sys, genesys.api; assert 'torch' not in sys.modules, 'genesys.api pulled in torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("package", sorted(GENESYS_FORBIDDEN))
def test_genesys_packages_point_one_way(package):
    bad = [f"{path.relative_to(ROOT)} imports {name}"
           for path in python_files(package) for name in imports_of(path)
           if any(name == g or name.startswith(g + ".") for g in GENESYS_FORBIDDEN[package])]
    assert not bad, "\n".join(bad)
