"""The Grafana dashboards of genesys, written with grafana-foundation-sdk; one JSON file each.

    python -m genesys.observability.dashboards --out charts/genesys/dashboards

Every query reads only metrics of genesys.observability.catalogue (a test parses them, and
another runs them against a real Prometheus). The Helm chart ships each file as a ConfigMap
labelled `grafana_dashboard: "1"` for Grafana's dashboard sidecar. Variables: `datasource`
(a Prometheus), `evolution` (one or more Evolutions) and `window` (the span of rates and
quantiles over finished children, which arrive minutes to hours apart).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig, VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement, StackingMode
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WINDOWS = ("15m", "1h", "6h", "24h")
DEFAULT_WINDOW = "1h"
TAG = "genesys"
# label matchers (named: an f-string cannot hold the quotes of its own delimiter in Python 3.11)
RUNNING, PHASE_SUCCEEDED, PHASE_FINISHED = 'phase="Running"', 'phase="Succeeded"', 'phase=~"Succeeded|Failed"'
SUCCEEDED, FAILED = 'status="Succeeded"', 'status="Failed"'


def sel(*matchers: str) -> str:
    """A selector of the chosen Evolutions, plus `matchers` (e.g. 'phase="Running"')."""
    return "{" + ",".join(('evolution=~"$evolution"', *matchers)) + "}"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    kind: Literal["timeseries", "stat", "bargauge"]
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12  # of 24 columns
    stacked: bool = False


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]


def _duration_quantile(q: float) -> Query:
    buckets = f"genesys_verification_duration_seconds_bucket{sel(SUCCEEDED)}"
    return Query(f"histogram_quantile({q}, sum by (rung, le) (rate({buckets}[$window])))",
                 "{{rung}} p" + f"{q * 100:.0f}")


EVOLUTION = Board("genesys-evolution", "genesys / Evolution", "Designs, best fitness and discovery rate", (
    Panel("stat", "Designs", "Designs in the run, seeds and failed design sessions included",
          (Query(f"sum(genesys_designs{sel()})"),), width=6),
    Panel("stat", "Designs verified", "Designs made by the evolution (not seeds) that succeeded a verification",
          (Query(f"sum(genesys_designs_verified_total{sel()})"),), width=6),
    Panel("stat", "Verifications running", "Verifications started and not finished",
          (Query(f'sum(genesys_verifications{sel(RUNNING)})'),), width=6),
    Panel("stat", "Design sessions running", "Design sessions started and not finished",
          (Query(f'sum(genesys_design_sessions{sel(RUNNING)})'),),
          width=6),
    Panel("timeseries", "Best fitness per rung", "The best fitness of a design verified at each rung; fitness "
          "compares only within a rung (larger models score higher)",
          (Query(f"max by (evolution, rung) (genesys_best_fitness{sel()})", "{{evolution}} {{rung}}"),)),
    Panel("timeseries", "Discovery rate", "New designs verified in the window before each point (seeds excluded)",
          (Query(f"sum by (evolution) (increase(genesys_designs_verified_total{sel()}[$window]))", "{{evolution}}"),)),
    Panel("timeseries", "Designs by phase", "A design whose session runs is Designing; a failed session is a "
          "Failed design", (Query(f"sum by (phase) (genesys_designs{sel()})", "{{phase}}"),), stacked=True),
    Panel("timeseries", "Verifications by phase", "Calibration repeats of the seeds included",
          (Query(f"sum by (phase) (genesys_verifications{sel()})", "{{phase}}"),), stacked=True),
    Panel("timeseries", "Reconcile errors", "Errors of the runtime's reconcile loop per second, by kind",
          (Query(f"sum by (evolution, kind) (rate(genesys_reconcile_errors_total{sel()}[$window]))",
                 "{{evolution}} {{kind}}"),), unit="ops", width=24),
))

LADDER = Board("genesys-ladder", "genesys / Ladder and budgets", "Scale budgets of each rung: runs and device-hours", (
    Panel("timeseries", "Runs used and running", "Finished verifications charged to each rung, and those running "
          "(reserved)", (Query(f"sum by (rung) (genesys_scalebudget_runs_used{sel()})", "{{rung}} used"),
                         Query(f"sum by (rung) (genesys_scalebudget_runs_running{sel()})", "{{rung}} running"))),
    Panel("timeseries", "Runs released and limit", "Runs each rung has opened so far (gradual release: as the rung "
          "below is used) and its whole budget",
          (Query(f"sum by (rung) (genesys_scalebudget_runs_released{sel()})", "{{rung}} released"),
           Query(f"sum by (rung) (genesys_scalebudget_runs_limit{sel()})", "{{rung}} limit"))),
    Panel("bargauge", "Budget used", "Share of each rung's runs used",
          (Query(f"sum by (rung) (genesys_scalebudget_runs_used{sel()}) / "
                 f"(sum by (rung) (genesys_scalebudget_runs_limit{sel()}) > 0)", "{{rung}}"),), unit="percentunit"),
    Panel("stat", "Device-hours spent", "Device time of finished verifications, calibration repeats included",
          (Query(f"sum(genesys_scalebudget_device_seconds_used{sel()}) / 3600"),), unit="h"),
    Panel("timeseries", "Device-hours per rung", "Spent, and the limit of rungs with deviceHours",
          (Query(f"sum by (rung) (genesys_scalebudget_device_seconds_used{sel()}) / 3600", "{{rung}} spent"),
           Query(f"sum by (rung) (genesys_scalebudget_device_seconds_limit{sel()}) / 3600", "{{rung}} limit")),
          unit="h", width=24),
))

TRAINING = Board("genesys-training", "genesys / Training", "Verifications: wall time, failures and throughput", (
    Panel("timeseries", "Verification wall time", "Median and 90th percentile of succeeded verifications that "
          "finished in the window (check, train, evaluate)", (_duration_quantile(0.5), _duration_quantile(0.9)),
          unit="s"),
    Panel("timeseries", "Mean verification wall time", "Of succeeded verifications that finished in the window",
          (Query("sum by (rung) (rate(genesys_verification_duration_seconds_sum"
                 f'{sel(SUCCEEDED)}[$window])) / '
                 "sum by (rung) (rate(genesys_verification_duration_seconds_count"
                 f'{sel(SUCCEEDED)}[$window]))', "{{rung}}"),),
          unit="s"),
    Panel("timeseries", "Finished verifications", "Verifications that finished in the window, by rung and status",
          (Query(f"sum by (rung, status) (increase(genesys_verifications_finished_total{sel()}[$window]))",
                 "{{rung}} {{status}}"),)),
    Panel("timeseries", "Verification failure ratio", "Failed over finished verifications in the window",
          (Query(f"sum by (rung) (increase(genesys_verifications_finished_total{sel(FAILED)}[$window])) / "
                 f"(sum by (rung) (increase(genesys_verifications_finished_total{sel()}[$window])) > 0)",
                 "{{rung}}"),), unit="percentunit"),
    Panel("timeseries", "Training throughput", "Tokens per second of training in each rung's latest finished "
          "verification", (Query(f"max by (evolution, rung) (genesys_verification_tokens_per_second{sel()})",
                                 "{{evolution}} {{rung}}"),)),
    Panel("timeseries", "Model FLOPs utilisation", "MFU of each rung's latest finished verification, as its trainer "
          "measured it (FLOPs counted by torch over the device's measured peak)",
          (Query(f"max by (evolution, rung) (genesys_verification_mfu_ratio{sel()})", "{{evolution}} {{rung}}"),),
          unit="percentunit"),
))

AGENTS = Board("genesys-agents", "genesys / Design agents", "Design sessions: outcomes, validity and LLM spend", (
    Panel("stat", "Validity", "Succeeded over finished design sessions, whole run",
          (Query(f'sum(genesys_design_sessions{sel(PHASE_SUCCEEDED)}) / '
                 f'(sum(genesys_design_sessions{sel(PHASE_FINISHED)}) > 0)'),),
          unit="percentunit", width=8),
    Panel("stat", "LLM spend", "US dollars of the design sessions the runtime saw finish since it started (the "
          "local runtime also counts a continued run's earlier sessions)",
          (Query(f"sum(genesys_llm_spend_usd_total{sel()})"),),
          unit="currencyUSD", width=8),
    Panel("stat", "Design sessions finished", "Succeeded and failed, whole run",
          (Query(f'sum(genesys_design_sessions{sel(PHASE_FINISHED)})'),),
          width=8),
    Panel("timeseries", "Design sessions by phase", "Running, succeeded and failed sessions",
          (Query(f"sum by (phase) (genesys_design_sessions{sel()})", "{{phase}}"),), stacked=True),
    Panel("timeseries", "Finished sessions by outcome", "Design sessions that finished in the window",
          (Query(f"sum by (status) (increase(genesys_design_sessions_finished_total{sel()}[$window]))",
                 "{{status}}"),)),
    Panel("timeseries", "Validity in the window", "Succeeded over finished design sessions in the window",
          (Query("sum by (evolution) (increase(genesys_design_sessions_finished_total"
                 f"{sel(SUCCEEDED)}[$window])) / "
                 f"(sum by (evolution) (increase(genesys_design_sessions_finished_total{sel()}[$window])) > 0)",
                 "{{evolution}}"),), unit="percentunit"),
    Panel("timeseries", "LLM spend per hour", "US dollars per hour over the window",
          (Query(f"sum by (evolution) (rate(genesys_llm_spend_usd_total{sel()}[$window])) * 3600", "{{evolution}}"),),
          unit="currencyUSD"),
))

BOARDS = (EVOLUTION, LADDER, TRAINING, AGENTS)


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    return (prometheus.Dataquery().expr(query.expr).legend_format(query.legend or "__auto").ref_id(ref)
            .datasource(DATASOURCE).range())


def _panel(spec: Panel) -> Any:
    """The SDK builder of one panel: a time series, a single stat or a bar gauge per series."""
    if spec.kind == "timeseries":
        built: Any = (timeseries.Panel().line_width(1).fill_opacity(10 if spec.stacked else 0)
                      .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                              .placement(LegendPlacement.BOTTOM).show_legend(True)))
        if spec.stacked:
            built = built.stacking(StackingConfig().mode(StackingMode.NORMAL))
    elif spec.kind == "stat":
        built = stat.Panel()
    else:
        built = bargauge.Panel().min(0).max(1)
    built = built.title(spec.title).description(spec.description).unit(spec.unit).datasource(DATASOURCE)
    built = built.height(4 if spec.kind == "stat" else 8).span(spec.width)
    for index, query in enumerate(spec.queries):
        built = built.with_target(_target(query, chr(ord("A") + index)))
    return built


def _variables() -> list[Any]:
    source = dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
    evolution = (dashboard.QueryVariable("evolution").label("Evolution").datasource(DATASOURCE)
                 .query("label_values(genesys_designs, evolution)").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
                 .sort(VariableSort.ALPHABETICAL_ASC).multi(True).include_all(True).all_value(".*"))
    window = (dashboard.CustomVariable("window").label("Window").values(",".join(WINDOWS))
              .current(VariableOption(selected=True, text=DEFAULT_WINDOW, value=DEFAULT_WINDOW)))
    return [source, evolution, window]


def build(board: Board) -> dict[str, Any]:
    """The dashboard's JSON model, as Grafana imports it."""
    built = (dashboard.Dashboard(board.title).uid(board.uid).description(board.description).tags([TAG])
             .time("now-6h", "now").refresh("30s").timezone("browser").editable()
             .link(dashboard.DashboardLink("genesys").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True)
                   .include_vars(True).keep_time(True))
             .variables(_variables()))
    for panel in board.panels:
        built = built.with_panel(_panel(panel))
    return json.loads(json.dumps(built.build(), cls=JSONEncoder))


def render(board: Board) -> str:
    """The file's text: stable key order, so a regenerated file differs only where the code did."""
    return json.dumps(build(board), indent=2, sort_keys=True) + "\n"


def write(out: Path) -> list[Path]:
    """Write every dashboard to `out`/<uid>.json; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for board in BOARDS:
        path = out / f"{board.uid}.json"
        path.write_text(render(board), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m genesys.observability.dashboards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for the JSON files, e.g. charts/genesys/dashboards")
    for path in write(parser.parse_args(argv).out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
