"""Shared pieces of every genesys.dev resource: API version, object metadata, conditions."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

GROUP = "genesys.dev"
VERSION = "v1alpha1"
API_VERSION: Literal["genesys.dev/v1alpha1"] = "genesys.dev/v1alpha1"  # f"{GROUP}/{VERSION}", spelled as a type
assert API_VERSION == f"{GROUP}/{VERSION}"

# RFC 1123 subdomain, as Kubernetes requires of object names.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class Strict(BaseModel):
    """Base of user-written spec types: unknown fields are typos, so they are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectMeta(BaseModel):
    """The part of Kubernetes ObjectMeta that genesys reads; server-set fields pass through."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=253)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _dns_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"{v!r} is not a valid object name: use lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit (e.g. 'geogate-gpt')"
            )
        return v


class Condition(BaseModel):
    """A metav1.Condition: the latest observation of one aspect of an object, keyed by type."""

    model_config = ConfigDict(populate_by_name=True)

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = Field(default=None, alias="lastTransitionTime")
    observed_generation: int | None = Field(default=None, alias="observedGeneration")


# A list of conditions keyed by type, as Kubernetes keeps metav1.Condition lists: at most one
# condition per type, and server-side apply merges entries by type.
Conditions = Annotated[
    list[Condition],
    Field(json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
]
