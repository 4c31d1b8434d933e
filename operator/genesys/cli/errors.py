"""Turning user errors into one clear line and exit code 2, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

err_console = Console(stderr=True, highlight=False)
USAGE_ERROR = 2


def usage_error(message: str) -> typer.Exit:
    """Print `error: message` to stderr; raise the result to exit 2."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(USAGE_ERROR)


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
        raise usage_error(str(err)) from None
