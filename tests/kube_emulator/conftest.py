"""Fixtures of the emulated API server's tests: a fresh server, one with the genesys CRDs, the quick example."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube_emulator import KubeEmulator
from kube_emulator.fixtures import kube_api  # noqa: F401  # the fixture, for the tests here

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def genesys_api(kube_api: KubeEmulator) -> KubeEmulator:  # noqa: F811
    """A fresh server with the repository's CRDs (crds/manifests) applied."""
    kube_api.apply(ROOT / "crds" / "manifests")
    return kube_api


@pytest.fixture
def quick() -> Callable[[], dict[str, Any]]:
    """examples/evolution-quick.yaml, a fresh dict on each call."""
    return lambda: yaml.safe_load((ROOT / "examples" / "evolution-quick.yaml").read_text())
