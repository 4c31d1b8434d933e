"""ObjectMeta validation: names, labels, annotations, owner references and finalizers.

Messages follow apimachinery's, so an operator that builds a 64-character name or label value
is refused here exactly as a real cluster would refuse it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kube_emulator.errors import FieldError

_LABEL_1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL_1123}(\.{_LABEL_1123})*"
_LABEL_1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
MESSAGES = {
    "subdomain": ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  f"validation is '{_SUBDOMAIN}')"),
    "label": ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{_LABEL_1123}')"),
    "label1035": ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                  "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                  f"regex used for validation is '{_LABEL_1035}')"),
    "qualified": ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
                  f"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  f"validation is '{_QUALIFIED}')"),
    "value": ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
              "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
              f"regex used for validation is '({_QUALIFIED})?')"),
}
_PATTERNS = {"subdomain": (_SUBDOMAIN, 253), "label": (_LABEL_1123, 63), "label1035": (_LABEL_1035, 63),
             "qualified": (_QUALIFIED, 63)}
ANNOTATIONS_LIMIT = 256 * 1024


def name_problems(name: str, rule: str) -> list[str]:
    """Why `name` is not a valid name under `rule` (subdomain, label, label1035, qualified, path)."""
    if rule == "path":
        if name in (".", ".."):
            return [f"may not be '{name}'"]
        return [f"may not contain '{c}'" for c in "/%" if c in name]
    pattern, limit = _PATTERNS[rule]
    problems = []
    if len(name) > limit:
        problems.append(f"must be no more than {limit} characters")
    if not re.fullmatch(pattern, name):
        problems.append(MESSAGES[rule])
    return problems


def qualified_name_problems(key: str) -> list[str]:
    """Why a label/annotation key or a finalizer is not a qualified name (`[prefix/]name`)."""
    prefix, _, name = key.rpartition("/")
    problems = []
    if "/" in key and not prefix:
        problems.append("prefix part must be non-empty")
    elif prefix:
        problems += [f"prefix part {p}" for p in name_problems(prefix, "subdomain")]
    if not name:
        problems.append("name part must be non-empty")
    else:
        problems += name_problems(name, "qualified")
    return problems


def label_problems(labels: Any, path: str) -> list[FieldError]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [FieldError(path, "TypeInvalid", labels, "must be a map of strings")]
    errors = []
    for key, value in labels.items():
        errors += [FieldError(path, "Invalid", key, p) for p in qualified_name_problems(key)]
        if not isinstance(value, str):
            errors.append(FieldError(f"{path}[{key}]", "TypeInvalid", value, "label values must be strings"))
            continue
        if len(value) > 63:
            errors.append(FieldError(path, "Invalid", value, "must be no more than 63 characters"))
        if value and not re.fullmatch(_QUALIFIED, value):
            errors.append(FieldError(path, "Invalid", value, MESSAGES["value"]))
    return errors


def annotation_problems(annotations: Any, path: str) -> list[FieldError]:
    if annotations is None:
        return []
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        return [FieldError(path, "TypeInvalid", annotations, "annotations must be a map of strings")]
    errors = [FieldError(path, "Invalid", k, p) for k in annotations for p in qualified_name_problems(k.lower())]
    size = sum(len(k) + len(v) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        errors.append(FieldError(path, "TooLong", "", f"may not be more than {ANNOTATIONS_LIMIT} bytes"))
    return errors


def owner_problems(refs: Any, path: str) -> list[FieldError]:
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [FieldError(path, "TypeInvalid", refs, "must be a list of owner references")]
    errors = []
    for n, ref in enumerate(refs):
        for key in ("apiVersion", "kind", "name", "uid"):
            if not (isinstance(ref, dict) and ref.get(key)):
                errors.append(FieldError(f"{path}[{n}].{key}", "Required"))
    controllers = [r for r in refs if isinstance(r, dict) and r.get("controller")]
    if len(controllers) > 1:
        names = ", ".join(json.dumps(r.get("name")) for r in controllers)
        errors.append(FieldError(path, "Invalid", refs, f"Only one reference can have Controller set to true. "
                                 f"Found \"true\" in references for {names}"))
    return errors


def metadata_problems(meta: dict[str, Any], name_rule: str) -> list[FieldError]:
    """What a real server refuses in an object's metadata (its name checked under `name_rule`)."""
    errors = []
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        errors.append(FieldError("metadata.name", "Required", detail="name or generateName is required"))
    elif name:
        errors += [FieldError("metadata.name", "Invalid", name, p) for p in name_problems(str(name), name_rule)]
    errors += label_problems(meta.get("labels"), "metadata.labels")
    errors += annotation_problems(meta.get("annotations"), "metadata.annotations")
    errors += owner_problems(meta.get("ownerReferences"), "metadata.ownerReferences")
    for n, finalizer in enumerate(meta.get("finalizers") or []):
        errors += [FieldError(f"metadata.finalizers[{n}]", "Invalid", finalizer, p)
                   for p in qualified_name_problems(str(finalizer))]
    return errors
