"""The checker's report: one result per named check, as JSON or as a rich table.

`CheckReport.to_dict()` is what `genesys check --json` prints and what agents read;
its messages are the feedback an LLM coder repairs a design from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, get_args

from genesys.api.results import CheckReport as ApiCheckReport
from genesys.api.results import CheckStatus
from genesys.gau.checker.config import CHECK_NAMES

STATUSES = get_args(CheckStatus)


@dataclass
class CheckResult:
    name: str
    status: CheckStatus
    message: str
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # the unit the message is about, when one is to blame
    line: int | None = None  # line in that unit's code

    def __post_init__(self) -> None:
        assert self.name in CHECK_NAMES, self.name
        assert self.status in STATUSES, self.status

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "details": _jsonable(self.details),
        }
        if self.unit is not None:
            out["unit"] = self.unit
        if self.line is not None:
            out["line"] = self.line
        return out

    def located_message(self) -> str:
        """`[unit U, line L] message`: where to repair first, as `genesys check` and `verify` print it."""
        if not self.unit:
            return self.message
        return f"[unit {self.unit}" + (f", line {self.line}" if self.line else "") + f"] {self.message}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            name=data["name"],
            status=data["status"],
            message=str(data.get("message", "")),
            seconds=float(data.get("seconds", 0.0)),
            details=dict(data.get("details") or {}),
            unit=data.get("unit"),
            line=data.get("line"),
        )


@dataclass
class CheckReport:
    design: str
    checks: list[CheckResult]
    params: dict[str, Any] = field(default_factory=dict)
    complexity_exponent: float | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks are {', '.join(CHECK_NAMES)}")

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "design": self.design,
            "checks": [c.to_dict() for c in self.checks],
            "params": _jsonable(self.params),
            "complexity_exponent": (
                None if self.complexity_exponent is None else round(self.complexity_exponent, 3)
            ),
            "seconds": round(self.seconds, 3),
        }

    def to_model(self) -> ApiCheckReport:
        """The report as it crosses processes (check.json, a verification's result)."""
        return ApiCheckReport.model_validate(self.to_dict())

    def summary(self) -> str:
        """One line per failed or warned check: the text an LLM coder repairs from."""
        lines = [f"design {self.design}: {'PASSED' if self.passed else 'FAILED'}"]
        for c in self.checks:
            if c.status in ("fail", "warn"):
                lines.append(f"[{c.name}: {c.status}] {c.message}")
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (NaN/inf become strings so the output stays valid JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        return _jsonable(float(value))
    except (TypeError, ValueError):
        return str(value)


_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skipped": "dim"}


def render_report(report: CheckReport):
    """A rich renderable: a verdict line and a table of the checks."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    verdict = Text.assemble(
        ("design ", "bold"), (report.design, "bold cyan"), ": ",
        ("PASSED", "bold green") if report.passed else ("FAILED", "bold red"),
        f"  ({report.seconds:.1f} s)",
    )
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("message", overflow="fold")
    for c in report.checks:
        # Text, not markup: messages quote code such as `x[:, 1:]` and must print verbatim.
        table.add_row(c.name, Text(c.status, style=_STYLE[c.status]), f"{c.seconds:.1f}s" if c.seconds else "",
                      Text(c.located_message()))
    parts: list[Any] = [verdict, table]
    size = report.params.get("non_embedding")
    if isinstance(size, int):
        parts.append(Text(f"{size:,} non-embedding parameters at d_model={report.params.get('d_model')}, "
                          f"n_block={report.params.get('n_block')}", style="dim"))
    if report.complexity_exponent is not None:
        parts.append(Text(f"time grows like length^{report.complexity_exponent:.2f}", style="dim"))
    return Group(*parts)
