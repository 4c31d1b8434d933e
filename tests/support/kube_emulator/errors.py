"""API errors as the Kubernetes API server reports them: `Status` objects with a reason and causes.

`FieldError` mirrors apimachinery's `field.Error`: its text is what `kubectl` prints after the
object's name, e.g. `spec.ladder.selectionRatio: Invalid value: 0: ... should be greater than 0`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# field.ErrorType -> (the cause's reason, the words kubectl prints)
FIELD_ERROR_TYPES = {
    "Required": ("FieldValueRequired", "Required value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "TooMany": ("FieldValueTooMany", "Too many"),
    "TooLong": ("FieldValueTooLong", "Too long"),
    "TypeInvalid": ("FieldValueTypeInvalid", "Invalid value"),
    "NotFound": ("FieldValueNotFound", "Not found"),
    "Unknown": ("FieldValueInvalid", ""),  # an undeclared field under strict field validation
}
_NO_VALUE = object()


def show_value(value: Any) -> str:
    """A value the way field errors show it: strings quoted, objects and lists by their type."""
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


@dataclass(frozen=True)
class FieldError:
    """One invalid field: where (`spec.ladder.rungs[1].name`), what kind of problem, and why."""

    field: str
    type: str = "Invalid"
    value: Any = _NO_VALUE
    detail: str = ""

    @property
    def message(self) -> str:
        words = FIELD_ERROR_TYPES[self.type][1]
        parts = [words] if words else []
        if self.type == "Duplicate":
            parts.append(json.dumps(self.value, separators=(",", ":")))
        elif self.value is not _NO_VALUE and self.type not in ("Required", "Forbidden"):
            parts.append(show_value(self.value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def cause(self) -> dict[str, str]:
        return {"reason": FIELD_ERROR_TYPES[self.type][0], "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """An error response: HTTP code, `Status.reason`, message and details (name, group, kind, causes)."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(resource: str, group: str) -> str:
    """`evolutions.genesys.dev`, or `pods` for the core group, as in real messages."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    {"name": name, "group": group, "kind": resource})


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    {"name": name, "group": group, "kind": resource})


def conflict(resource: str, group: str, name: str, why: str = "") -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    {"name": name, "group": group, "kind": resource})


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    listed = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {listed}',
                    {"name": name, "group": group, "kind": kind, "causes": [e.cause() for e in errors]})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{qualified(resource, group)} "{name}" is forbidden: {why}',
                    {"name": name, "group": group, "kind": resource})


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                    f'accepted media types include: application/json-patch+json, application/merge-patch+json, '
                    f'application/apply-patch+yaml (got "{content_type}")')


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def no_route(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource (path {path})",
                    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})
