"""The operator's deployment settings, from the environment the Helm chart gives it.

    GENESYS_NAMESPACE       namespace it manages (the chart: its release namespace)
    GENESYS_STORE           artifact store root: an fsspec URL (s3://bucket/runs) or a path on a volume
    GENESYS_STORE_PVC       the store's ReadWriteMany claim; GENESYS_STORE is then its mount path
    GENESYS_STORE_SECRET    Secret with the store's credentials (AWS_*, FSSPEC_*), given to every pod
    GENESYS_AGENT_IMAGE     image of design-session pods
    GENESYS_TRAINER_IMAGE   image of training pods
    GENESYS_PLAN_INTERVAL   seconds between planning passes of an Evolution (10)
    GENESYS_METRICS_PORT    Prometheus endpoint port (9100; -1: none)
    GENESYS_METRICS_ADDR    its address (0.0.0.0)
    GENESYS_MAX_ATTEMPTS    starts of a lost child before it counts as failed (3)
    GENESYS_WEAVIATE_URL    the knowledge engine's Weaviate, passed on to design-session pods (unset: none)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from genesys.evolution.outcomes import DEFAULT_MAX_ATTEMPTS
from genesys.operator.builders import OperatorConfig


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class OperatorSettings:
    config: OperatorConfig
    plan_interval: float
    metrics_port: int
    metrics_addr: str


def _number(env: Mapping[str, str], name: str, default: str, kind: type) -> float:
    raw = env.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}; set it to e.g. {default}") from None
    return value


def _required(env: Mapping[str, str], name: str, example: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set; set it to e.g. {example} (the Helm chart sets it from its values)")
    return value


def from_env(env: Mapping[str, str] | None = None) -> OperatorSettings:
    env = os.environ if env is None else env
    interval = _number(env, "GENESYS_PLAN_INTERVAL", "10", float)
    if interval <= 0:
        raise SettingsError(f"GENESYS_PLAN_INTERVAL={interval} must be positive seconds, e.g. 10")
    attempts = int(_number(env, "GENESYS_MAX_ATTEMPTS", str(DEFAULT_MAX_ATTEMPTS), int))
    if attempts < 1:
        raise SettingsError(f"GENESYS_MAX_ATTEMPTS={attempts} must be at least 1, e.g. {DEFAULT_MAX_ATTEMPTS}")
    config = OperatorConfig(
        namespace=_required(env, "GENESYS_NAMESPACE", "genesys"),
        store=_required(env, "GENESYS_STORE", "s3://my-bucket/genesys"),
        agent_image=_required(env, "GENESYS_AGENT_IMAGE", "ghcr.io/genesys-lm/agent:0.1.0"),
        trainer_image=_required(env, "GENESYS_TRAINER_IMAGE", "ghcr.io/genesys-lm/trainer:0.1.0"),
        store_secret=env.get("GENESYS_STORE_SECRET") or None,
        store_claim=env.get("GENESYS_STORE_PVC") or None,
        max_attempts=attempts,
        weaviate_url=env.get("GENESYS_WEAVIATE_URL", "").strip() or None,
    )
    return OperatorSettings(config=config, plan_interval=interval,
                            metrics_port=int(_number(env, "GENESYS_METRICS_PORT", "9100", int)),
                            metrics_addr=env.get("GENESYS_METRICS_ADDR", "0.0.0.0"))
