"""pytest fixtures: `from kube_emulator.fixtures import kube_api` in a test module or conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kube_emulator.emulator import KubeEmulator


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeEmulator]:
    """A fresh emulated API server for one test (namespace "default"; its kubeconfig at `kube_api.kubeconfig`)."""
    with KubeEmulator(workdir=tmp_path / "kube-emulator") as api:
        yield api
