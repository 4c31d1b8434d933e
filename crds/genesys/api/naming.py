"""One wording for "no such name" errors across genesys: suggest the nearest, else list all."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """`did you mean a, b?` for near matches of `name`, else `known: a, b, c`."""
    known = sorted(known)
    near = difflib.get_close_matches(name, known, n=3, cutoff=cutoff)
    return f"did you mean {', '.join(near)}?" if near else f"known: {', '.join(known)}"
