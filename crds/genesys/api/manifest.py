"""Reading and writing resource manifests (YAML) with errors a user can act on.

    design = load_manifest("examples/designs/gpt2.yaml", Design)
    text = dump_manifest(design)
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ManifestError(ValueError):
    """A manifest is not valid; the message names the file, the field and the fix."""


def _location(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _explain(err: ValidationError, source: str, model: type[BaseModel]) -> str:
    lines = [f"{source}: not a valid {model.__name__} manifest:"]
    for e in err.errors()[:8]:
        where = _location(e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "required field is missing: add it"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field: remove it or fix its spelling"
        elif e["type"] == "literal_error":
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  {where}: {msg}")
    if len(err.errors()) > 8:
        lines.append(f"  ... and {len(err.errors()) - 8} more")
    return "\n".join(lines)


def parse_manifest(data: object, model: type[M], source: str = "<manifest>") -> M:
    """Validate an already-loaded mapping as `model`; raise ManifestError on bad input."""
    if not isinstance(data, dict):
        raise ManifestError(
            f"{source}: expected a mapping with apiVersion, kind, metadata and spec, "
            f"got {type(data).__name__}"
        )
    kind = data.get("kind")
    expected = model.model_fields["kind"].default if "kind" in model.model_fields else None
    if expected and kind != expected:
        raise ManifestError(f"{source}: kind is {kind!r}, expected {expected!r}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ManifestError(_explain(err, source, model)) from None


def loads_manifest(text: str, model: type[M], source: str = "<manifest>") -> M:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ManifestError(f"{source}:{where}: not valid YAML: {problem}") from None
    return parse_manifest(data, model, source)


def load_manifest(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as err:
        raise ManifestError(f"{path}: cannot read it as a UTF-8 text file ({err})") from None
    return loads_manifest(text, model, str(path))


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (unit code, proposal bodies) as readable | blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        # Block style cannot carry trailing spaces on a line; strip them so it is used.
        value = "\n".join(line.rstrip() for line in value.split("\n"))
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_BlockDumper.add_representer(str, _str)


def _prune(value: object, keep_entries: bool = False) -> object:
    """Drop empty lists, mappings and strings so written manifests stay short.

    Entries of `units` stay even when empty: `{Gate: {}}` is a declared placeholder unit.
    """
    if isinstance(value, dict):
        pruned = {k: _prune(v, keep_entries=k == "units") for k, v in value.items()}
        return pruned if keep_entries else {k: v for k, v in pruned.items() if v not in ({}, [], "")}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def dump_manifest(obj: BaseModel) -> str:
    data = _prune(obj.model_dump(mode="json", by_alias=True, exclude_none=True))
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
