"""Turning user errors into one clear line and exit code 2, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

err_console = Console(stderr=True, highlight=False)
USAGE_ERROR = 2


@contextmanager
def user_errors() -> Iterator[None]:
    """Errors a user can fix (bad manifest, unknown seed, unit that does not compile)."""
    from genesys.api import ManifestError

    handled: tuple[type[BaseException], ...] = (ManifestError,)
    try:
        from genesys.gau import SeedNotFoundError, SizingError, UnitCompileError
        from genesys.gau.library import UnitNotFoundError

        handled += (SeedNotFoundError, SizingError, UnitCompileError, UnitNotFoundError)
    except ImportError:  # an image without the trainer extra
        pass
    try:
        yield
    except handled as err:
        err_console.print(f"[bold red]error:[/] {err}", markup=True, soft_wrap=True)
        raise typer.Exit(USAGE_ERROR) from None
