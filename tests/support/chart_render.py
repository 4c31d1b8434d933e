"""The Helm chart (charts/genesys) rendered and linted offline by the Helm library (helm-python-sdk, no binary).

    manifests = render_chart({"store": {"url": "s3://bucket/runs"}})    # list of objects, as `helm template`
    problems = lint_chart()                                              # `helm lint --strict`: [] when clean
    triples = rendered_rbac_triples(manifests)    # {("batch", "jobs", "create"), ("", "pods", "list"), ...}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "genesys"
RELEASE = "genesys"
NAMESPACE = "genesys"
WARNING = 2  # helm lint's severities: 1 info, 2 warning, 3 error

Manifest = dict[str, Any]


def render_chart(values: Mapping[str, Any] | None = None, *, chart: Path = CHART, release: str = RELEASE,
                 namespace: str = NAMESPACE) -> list[Manifest]:
    """Every object an install of `chart` with `values` would create (CRDs excluded), in template order.

    Raises helm_python.HelmValuesError when values.schema.json refuses the values, and
    HelmRenderError when a template fails (its `fail` messages included).
    """
    with helm.Chart.load(chart) as loaded:
        rendered = loaded.render(dict(values) if values is not None else None, name=release, namespace=namespace,
                                 is_install=True)
    manifests: list[Manifest] = []
    for template in sorted(rendered):
        if template.endswith("NOTES.txt"):
            continue
        manifests += [doc for doc in yaml.safe_load_all(rendered[template]) if doc]
    return manifests


def lint_chart(values: Mapping[str, Any] | None = None, *, chart: Path = CHART,
               namespace: str = NAMESPACE) -> list[str]:
    """`helm lint --strict`: its warnings and errors, one line each ([] for a clean chart)."""
    report = helm.lint(chart, dict(values) if values is not None else None, strict=True, namespace=namespace)
    found = [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= WARNING]
    return found + [str(e) for e in report["errors"]]


def find(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    """The objects of `kind` (and `name`, when given)."""
    return [m for m in manifests if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]


def rendered_rbac_triples(manifests: Iterable[Manifest], kinds: tuple[str, ...] = ("Role", "ClusterRole")
                          ) -> set[tuple[str, str, str]]:
    """(API group, resource, verb) for every permission the rendered Roles and ClusterRoles grant.

    The core group is "", a subresource is written `resource/sub` (as in the rules and in the API
    server's audit log); resourceNames, which narrow a rule, are not part of the triple.
    """
    triples: set[tuple[str, str, str]] = set()
    for manifest in manifests:
        if manifest["kind"] not in kinds:
            continue
        for rule in manifest.get("rules") or []:
            triples |= {(group, resource, verb) for group in rule.get("apiGroups", [])
                        for resource in rule.get("resources", []) for verb in rule.get("verbs", [])}
    return triples
