"""The chart's crds/: byte-identical copies of crds/manifests (generated from genesys.api) and kopf's peering CRDs."""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import yaml

from chart_render import CHART, ROOT

GENERATED = ROOT / "crds" / "manifests"
KOPF = {"kopf.dev_kopfpeerings.yaml": ("KopfPeering", "Namespaced"),
        "kopf.dev_clusterkopfpeerings.yaml": ("ClusterKopfPeering", "Cluster")}
SYNC = "python -m genesys.api.crdgen --out crds/manifests && python -m genesys.api.crdgen --out charts/genesys/crds"


def test_the_chart_ships_the_generated_crds_unchanged():
    generated = {p.name: p.read_bytes() for p in GENERATED.glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in (CHART / "crds").glob("genesys.dev_*.yaml")}
    missing, extra = sorted(generated.keys() - shipped.keys()), sorted(shipped.keys() - generated.keys())
    changed = sorted(n for n in generated.keys() & shipped.keys() if generated[n] != shipped[n])
    assert not (missing or extra or changed), (
        f"charts/genesys/crds differs from crds/manifests (missing {missing}, extra {extra}, changed {changed}): "
        f"run `{SYNC}`" + (" and delete the extra files" if extra else ""))
    assert generated, "crds/manifests is empty"


def test_nothing_else_is_in_the_chart_crds():
    names = {p.name for p in (CHART / "crds").iterdir()}
    assert names == {p.name for p in GENERATED.glob("*.yaml")} | set(KOPF)


def test_kopfs_peering_crds_are_valid_and_let_kopf_patch_status():
    for filename, (kind, scope) in KOPF.items():
        crd = yaml.safe_load((CHART / "crds" / filename).read_text())
        kubernetes_validate.validate(crd, "1.29", strict=True)
        spec = crd["spec"]
        assert (spec["group"], spec["names"]["kind"], spec["scope"]) == ("kopf.dev", kind, scope)
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.kopf.dev"
        (version,) = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1", True, True)
        # kopf writes its peers into .status with a plain patch: a status subresource would drop it
        assert "subresources" not in version
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_helm_installs_every_crd_before_the_templates():
    with helm.Chart.load(CHART) as chart:
        loaded = {crd["filename"].rsplit("/", 1)[-1] for crd in chart.crds}
    assert loaded == {p.name for p in (CHART / "crds").glob("*.yaml")}
    for path in (CHART / "crds").glob("genesys.dev_*.yaml"):
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), "1.29", strict=True)
