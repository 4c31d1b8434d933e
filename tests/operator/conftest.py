"""An Evolution as the API server returns it (with a uid), and the operator's deployment settings."""

from __future__ import annotations

import pytest

from genesys.api import Evolution, parse_manifest
from genesys.operator.builders import OperatorConfig


def evolution_of(spec: dict, name: str = "demo") -> Evolution:
    return parse_manifest({"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution",
                           "metadata": {"name": name, "namespace": "research", "uid": f"uid-{name}"},
                           "spec": spec}, Evolution)


@pytest.fixture
def make_evolution():
    """`evolution_of(spec, name)`: an Evolution as listed from the API server."""
    return evolution_of


@pytest.fixture
def config() -> OperatorConfig:
    return OperatorConfig(namespace="research", store="s3://genesys-runs", agent_image="ghcr.io/genesys/agent:0.1",
                          trainer_image="ghcr.io/genesys/trainer:0.1", store_secret="genesys-store")


@pytest.fixture
def cluster_evolution() -> Evolution:
    """A cluster run: the paper ladder with GPUs, the LLM designer with its key Secret, a Kueue queue."""
    return evolution_of({
        "seeds": ["gpt2", "mamba2"],
        "ladder": {"preset": "paper", "rungs": [
            {"name": "paper-14m", "runs": 16},
            {"name": "paper-31m", "runs": 4, "resources": {"cpu": "16", "memory": "64Gi", "gpus": 4}}]},
        "designer": {"kind": "llm", "llm": {"roles": {"default": {"models": [{"model": "openai/gpt-4o"}]}},
                                                "secret": "llm-keys"}},
        "evaluation": {"tasks": "paper9"},
        "data": {"source": "HuggingFaceTB/smollm-corpus"},
        "parallelism": {"nprocPerVerification": 4},
        "resources": {"session": {"cpu": "1", "memory": "2Gi"},
                      "verification": {"cpu": "8", "memory": "32Gi", "gpus": 1},
                      "nodes": 2, "queue": "genesys-gpus"},
        "seed": 7,
    })
