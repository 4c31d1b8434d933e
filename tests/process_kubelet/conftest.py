"""An emulated API server per module (with the PyTorchJob CRD), a namespace and a process kubelet per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import yaml

from kube_emulator import KubeEmulator
from process_kubelet import PYTORCHJOB_CRD, ProcessKubelet

_namespaces = itertools.count()


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubeEmulator]:
    with KubeEmulator() as api:
        api.create(yaml.safe_load(PYTORCHJOB_CRD.read_text()))
        yield api


@pytest.fixture
def namespace(cluster: KubeEmulator) -> str:
    """A fresh namespace: what one test leaves running is not another test's business."""
    name = f"test-{next(_namespaces)}"
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


@pytest.fixture
def kubelet(cluster: KubeEmulator, namespace: str, tmp_path) -> Iterator[ProcessKubelet]:
    shared = {"shared": tmp_path / "shared"}
    with ProcessKubelet(kubeconfig=cluster.kubeconfig, namespace=namespace, root=tmp_path / "kubelet",
                        volume_dirs=shared, grace_seconds=3) as running:
        yield running

