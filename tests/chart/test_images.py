"""The images' Dockerfiles, read as text (no Docker here): base, user, what is installed, the entry point.

Each image installs the project with its component's extra (plus `s3`, the driver of s3:// stores),
runs as the numeric user 10001 the pods' runAsNonRoot checks, and copies what `pip install .` needs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from chart_render import ROOT, find, render_chart

IMAGES = ROOT / "images"
EXTRAS = {"operator": {"operator", "s3"}, "agent": {"agents", "s3"}, "trainer": {"trainer", "s3"}}
PROJECT_INSTALL = re.compile(r"pip install\s+['\"]?\.\[([a-z0-9_,-]+)\]['\"]?")
KOPF_RUN = ["kopf", "run", "--module", "genesys.operator.handlers", "--liveness", "http://0.0.0.0:8080/healthz",
            "--peering", "genesys"]


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments dropped, `\\` continuations joined (also across comment lines)."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "a Dockerfile ends inside a line continuation"
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    assert starts, "no FROM"
    return instructions[starts[-1]:]


def dockerfile(image: str) -> list[Instruction]:
    return parse_dockerfile((IMAGES / image / "Dockerfile").read_text())


def runs(instructions: list[Instruction]) -> list[str]:
    return [ins.args for ins in instructions if ins.keyword == "RUN"]


def bases(instructions: list[Instruction]) -> list[str]:
    """Each stage's base image, with ARG defaults declared before the first FROM filled in."""
    defaults = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name] = value
    return [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], ins.args.split()[0])
            for ins in instructions if ins.keyword == "FROM"]


def test_the_parser_joins_continuations_and_drops_comments():
    parsed = parse_dockerfile("# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nuser 10001\n")
    assert parsed == [Instruction("FROM", "a AS b"), Instruction("RUN", "x && y"), Instruction("USER", "10001")]


@pytest.mark.parametrize("image", sorted(EXTRAS))
def test_each_image_runs_as_the_numeric_non_root_user(image):
    users = [ins.args for ins in final_stage(dockerfile(image)) if ins.keyword == "USER"]
    assert users and users[-1] == "10001", f"images/{image}: the last USER must be 10001 (numeric: runAsNonRoot)"
    assert users[-1] == str(find(render_chart(), "Deployment")[0]["spec"]["template"]["spec"]["securityContext"]
                            ["runAsUser"])


@pytest.mark.parametrize("image", sorted(EXTRAS))
def test_each_image_installs_the_project_once_with_its_own_extra(image):
    installs = [m.group(1) for run in runs(dockerfile(image)) for m in PROJECT_INSTALL.finditer(run)]
    assert len(installs) == 1, f"images/{image}: install the project exactly once, found {installs}"
    assert set(installs[0].split(",")) == EXTRAS[image]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert EXTRAS[image] <= extras.keys()


def test_the_operator_image_has_no_torch_and_runs_kopf():
    instructions = dockerfile("operator")
    assert set(bases(instructions)) == {"python:3.11-slim"}
    assert not [run for run in runs(instructions) if "torch" in run]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [req for extra in EXTRAS["operator"] for req in extras[extra] if req.startswith("torch")]
    (entrypoint,) = [json.loads(ins.args) for ins in final_stage(instructions) if ins.keyword == "ENTRYPOINT"]
    assert entrypoint == KOPF_RUN
    # the chart adds the namespace; the liveness port and the peering name are the chart's
    manifests = render_chart()
    (container,) = find(manifests, "Deployment")[0]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--namespace", "$(GENESYS_NAMESPACE)"]
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert find(manifests, "KopfPeering")[0]["metadata"]["name"] == entrypoint[entrypoint.index("--peering") + 1]


def test_the_agent_image_installs_cpu_torch_first_at_the_projects_pin():
    instructions = dockerfile("agent")
    assert set(bases(instructions)) == {"python:3.11-slim"}
    commands = runs(instructions)
    torch = [i for i, run in enumerate(commands) if run.startswith("pip install torch")]
    project = [i for i, run in enumerate(commands) if PROJECT_INSTALL.search(run)]
    assert torch and project and torch[0] < project[0], "torch from the CPU index must come before the extras"
    assert commands[torch[0]] == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text(), "the image and CI must pin the same torch"


def test_the_trainer_image_builds_on_cuda_pytorch():
    (base,) = bases(dockerfile("trainer"))
    assert re.fullmatch(r"pytorch/pytorch:2\.\d+\.\d+-cuda12\.\d+-cudnn9-runtime", base), base


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Roughly Docker's rule: a pattern matches the path or one of its parent folders (`**/` any depth)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in patterns:
        tail = pattern.removeprefix("**/")
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            return True
        if pattern.startswith("**/") and any(fnmatch.fnmatch(part, tail) for part in parts):
            return True
    return False


def test_ignored_matches_like_docker():
    patterns = ["tests", "**/__pycache__", "*.egg-info"]
    assert ignored("tests/chart/x.py", patterns) and ignored("crds/genesys/__pycache__/a.pyc", patterns)
    assert ignored("genesys_lm.egg-info/PKG-INFO", patterns) and not ignored("crds/genesys/api/x.py", patterns)


@pytest.mark.parametrize("image", sorted(EXTRAS))
def test_each_image_copies_what_pip_install_needs_and_the_context_holds_it(image):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    sources = project["tool"]["setuptools"]["packages"]["find"]["where"]
    needed = {"pyproject.toml", project["project"]["readme"], *sources}
    copied = set()
    for ins in dockerfile(image):
        if ins.keyword == "COPY" and not ins.args.startswith("--from"):
            copied |= {Path(src).as_posix() for src in ins.args.split()[:-1]}
    assert needed <= copied, f"images/{image}: COPY {sorted(needed - copied)} too"
    patterns = dockerignore_patterns()
    for source in copied:
        assert (ROOT / source).exists(), f"images/{image}: COPY {source}: no such path"
        files = [source] if (ROOT / source).is_file() else [
            p.relative_to(ROOT).as_posix() for p in (ROOT / source).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts]
        excluded = [f for f in files if ignored(f, patterns)]
        assert not excluded, f".dockerignore leaves {excluded[:5]} out of the build context"
