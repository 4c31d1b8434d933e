"""What the operator refuses before spawning anything, and its settings (genesys.operator.validation, .settings)."""

from __future__ import annotations

import pytest

from genesys.operator.settings import SettingsError, from_env
from genesys.operator.validation import InvalidEvolution, admit, parse_evolution, resolve_cluster_seeds


def _body(spec: dict, name: str = "demo") -> dict:
    return {"apiVersion": "genesys.dev/v1alpha1", "kind": "Evolution",
            "metadata": {"name": name, "namespace": "research", "uid": "u1", "resourceVersion": "7",
                         "managedFields": [{"manager": "kubectl"}], "generation": 1},
            "spec": spec, "status": {"phase": "Running"}}


QUICK = {"seeds": ["gpt2", "retnet"], "ladder": {"preset": "cpu"}}


def test_an_evolution_as_the_api_server_returns_it_is_admitted():
    evolution = admit(_body(QUICK), others=["other"])
    assert evolution.name == "demo" and evolution.metadata.uid == "u1"
    assert [s.name for s in resolve_cluster_seeds(evolution)] == ["gpt2", "retnet"]


def test_a_seed_outside_the_library_names_the_field_and_the_fix():
    with pytest.raises(InvalidEvolution, match=r"spec.seeds: 'designs/mine.yaml' is not a seed of the library.*gpt2"):
        admit(_body({**QUICK, "seeds": ["gpt2", "designs/mine.yaml"]}))


def test_a_malformed_spec_names_the_field():
    with pytest.raises(InvalidEvolution, match="selectionRatio"):
        parse_evolution(_body({**QUICK, "selection": {"selectionRatio": 0}}))
    with pytest.raises(InvalidEvolution, match="bogus"):
        parse_evolution(_body({**QUICK, "bogus": 1}))


def test_an_unknown_rung_is_refused():
    with pytest.raises(InvalidEvolution, match="nope"):
        admit(_body({**QUICK, "ladder": {"preset": "cpu", "rungs": [{"name": "nope", "runs": 1}]}}))


def test_names_that_could_collide_with_another_evolution_are_refused():
    with pytest.raises(InvalidEvolution, match=r"metadata.name: .*'demo'.*'demo-2'"):
        admit(_body(QUICK), others=["demo-2"])
    admit(_body(QUICK), others=["demo", "demonstration"])  # itself, and a name that is no prefix


ENV = {"GENESYS_NAMESPACE": "genesys", "GENESYS_STORE": "/store", "GENESYS_STORE_PVC": "runs",
       "GENESYS_AGENT_IMAGE": "agent:1", "GENESYS_TRAINER_IMAGE": "trainer:1", "GENESYS_PLAN_INTERVAL": "2"}


def test_settings_come_from_the_charts_environment():
    settings = from_env(ENV)
    assert settings.config.store_claim == "runs" and settings.config.store == "/store"
    assert settings.plan_interval == 2 and settings.metrics_port == 9100 and settings.config.max_attempts == 3
    assert settings.config.weaviate_url is None
    weaviate = from_env({**ENV, "GENESYS_WEAVIATE_URL": "http://weaviate.weaviate:8080"})
    assert weaviate.config.weaviate_url == "http://weaviate.weaviate:8080"


@pytest.mark.parametrize(("change", "message"), [
    ({"GENESYS_STORE": ""}, "GENESYS_STORE is not set"),
    ({"GENESYS_PLAN_INTERVAL": "soon"}, "GENESYS_PLAN_INTERVAL='soon' is not a float"),
    ({"GENESYS_PLAN_INTERVAL": "0"}, "must be positive"),
    ({"GENESYS_MAX_ATTEMPTS": "0"}, "at least 1"),
])
def test_bad_settings_name_the_variable(change, message):
    with pytest.raises(SettingsError, match=message):
        from_env({**ENV, **change})
