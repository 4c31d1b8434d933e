"""Schema admission without a server: pruning, defaults, OpenAPI checks, CEL rules, ratcheting, JSONPath."""

from __future__ import annotations

from typing import Any

import pytest

from kube_emulator.jsonpath import evaluate
from kube_emulator.selectors import parse_labels
from kube_emulator.validation import admit

SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.metadata.name.startsWith('evo-')", "message": "names start with evo-"},
        {"rule": "!has(oldSelf.spec.frozen) || self.spec.frozen == oldSelf.spec.frozen",
         "message": "spec.frozen is immutable"},
    ],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1, "maximum": 8},
            "ratio": {"type": "number", "default": 0.5},
            "port": {"x-kubernetes-int-or-string": True},
            "when": {"type": "string", "format": "date-time"},
            "frozen": {"type": "string"},
            "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "pattern": "^[a-z]+$"}},
            "weights": {"type": "object", "default": {}, "properties": {
                "a": {"type": "number", "default": 1}, "b": {"type": "number", "default": 0}},
                "x-kubernetes-validations": [{"rule": "self.a + self.b > 0.0",
                                              "messageExpression": "'weights sum to ' + string(self.a + self.b)"}]},
            "mode": {"type": "string", "nullable": True, "enum": ["fast", "slow"], "default": "fast"},
            "limits": {"type": "object", "x-kubernetes-validations": [
                {"rule": "has(self.mode) || self.max > 1", "fieldPath": ".max", "message": "max must exceed 1"}],
                "properties": {"max": {"type": "integer"}, "mode": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        }},
    },
}


def obj(name: str = "evo-1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x.dev/v1", "kind": "X", "metadata": {"name": name}, "spec": {"size": 2, **spec}}


def problems(new: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(e) for e in admit(SCHEMA, new, old).errors]


def test_defaults_fill_in_top_down_and_nulls_go():
    admitted = admit(SCHEMA, obj(ratio=None, unknown=1, free={"a": {"b": [None]}}), None)
    spec = admitted.obj["spec"]
    assert spec["ratio"] == 0.5 and spec["weights"] == {"a": 1, "b": 0} and spec["mode"] == "fast"
    assert admitted.unknown == ["spec.unknown"] and spec["free"] == {"a": {"b": [None]}}
    assert admit(SCHEMA, obj(mode=None), None).obj["spec"]["mode"] is None  # nullable: a null stays


@pytest.mark.parametrize(("spec", "refusal"), [
    ({"size": 0}, "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"),
    ({"size": 2.5}, 'spec.size: Invalid value: 2.5: spec.size in body must be of type integer: "number"'),
    ({"port": 1.5}, 'spec.port in body must be of type int-or-string: "number"'),
    ({"when": "yesterday"}, 'spec.when in body must be of type date-time: "yesterday"'),
    ({"tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
    ({"tags": ["A"]}, "spec.tags[0] in body should match '^[a-z]+$'"),
    ({"mode": "warp"}, 'spec.mode: Unsupported value: "warp": supported values: "fast", "slow"'),
    ({"weights": {"a": 0}}, 'spec.weights: Invalid value: "object": weights sum to 0.0'),
    ({"limits": {"max": 1}}, 'spec.limits.max: Invalid value: "object": max must exceed 1'),
])
def test_refusals_name_the_field(spec, refusal):
    assert any(refusal in p for p in problems(obj(**spec))), problems(obj(**spec))


def test_required_and_root_rules():
    bare = obj()
    del bare["spec"]["size"]
    assert problems(bare) == ["spec.size: Required value"]
    assert problems(obj(name="other")) == ['Invalid value: "object": names start with evo-']
    assert problems(obj(size=3, port="http", when="2025-01-01T00:00:00Z", weights={"a": 1.0})) == []


def test_transition_rules_and_ratcheting():
    before = admit(SCHEMA, obj(frozen="x"), None).obj
    assert problems(obj(frozen="y"), before) == ['Invalid value: "object": spec.frozen is immutable']
    assert problems(obj(frozen="x", size=4), before) == []
    legacy = admit(SCHEMA, obj(), None).obj
    legacy["spec"]["tags"] = ["A"]  # stored before the pattern existed
    assert problems({**legacy, "metadata": {"name": "evo-1", "labels": {"x": "y"}}}, legacy) == []  # unchanged
    assert problems({**legacy, "spec": {**legacy["spec"], "tags": ["B"]}}, legacy) != []


def test_jsonpath_and_label_selector_parsing():
    status = {"status": {"conditions": [{"type": "A", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    assert evaluate('.status.conditions[?(@.type=="Ready")].status', status) == ["False"]
    assert evaluate(".status.conditions[-1:].type", status) == ["Ready"]
    assert evaluate("{.status.conditions[*].type}", status) == ["A", "Ready"]
    assert evaluate(".status.missing", status) == []
    ops = [(r.key, r.op, r.values) for r in parse_labels("a=1,b!=2,c in (x, y),d notin (z),e,!f,g>3")]
    assert ops == [("a", "=", ("1",)), ("b", "!=", ("2",)), ("c", "in", ("x", "y")), ("d", "notin", ("z",)),
                   ("e", "exists", ()), ("f", "!exists", ()), ("g", ">", ("3",))]
