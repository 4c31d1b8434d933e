"""The base of every file that crosses a process boundary (result.json, outcome.json, check.json).

Writers build the model and call `to_json()`; readers call `Model.from_json(text, source)`,
which raises `ContractError` naming the file and what is wrong, never a half-read dict.
Each file carries `schemaVersion`, so a reader can tell a file from another genesys.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

C = TypeVar("C", bound="Contract")


class ContractError(ValueError):
    """A cross-process file is missing, malformed, or of another schema version."""


class Contract(BaseModel):
    """Strict: an unknown field is a writer from another version, not something to skip."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_json(cls: type[C], text: str | bytes, source: str = "<file>") -> C:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ContractError(f"{source}: not JSON ({err}); the process that wrote it died mid-write "
                                "or another program wrote it") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls: type[C], data: Any, source: str = "<file>") -> C:
        expected = cls.model_fields["schema_version"].default if "schema_version" in cls.model_fields else None
        if isinstance(data, dict) and expected is not None and data.get("schemaVersion", expected) != expected:
            raise ContractError(f"{source}: {cls.__name__} schemaVersion {data['schemaVersion']!r}, this genesys "
                                f"reads {expected}: use the genesys version that wrote it, or rerun that step")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                                 for e in err.errors()[:5])
            raise ContractError(f"{source}: not a valid {cls.__name__} ({problems}); it was written by another "
                                "genesys version or by hand: rerun the step that writes it") from None

