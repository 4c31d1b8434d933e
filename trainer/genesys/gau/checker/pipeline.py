"""`check_design`: the static check here, the dynamic checks in a sandboxed child.

    from genesys.gau import load_design
    from genesys.gau.checker import check_design
    report = check_design(load_design("gpt2"))
    print(report.passed, report.to_dict()["checks"][3]["message"])
"""

from __future__ import annotations

import time

from genesys.api import Design
from genesys.gau.checker.config import DYNAMIC_CHECKS, CheckConfig, GiB
from genesys.gau.checker.report import CheckReport, CheckResult
from genesys.gau.checker.sandbox import SandboxOutcome, run_sandboxed
from genesys.gau.checker.static import check_format

# What to look for when the child died while a check was running.
_HANG_HINTS = {
    "init": "look at __init__ and _init_weights: loops that never end or allocations that grow without bound",
    "forward": "look at _forward: loops that never end, recursion, or allocations that grow without bound",
}
_DEFAULT_HINT = ("look for loops whose length grows with the data, Python loops over positions, or tensors that "
                 "grow without bound")


def check_design(design: Design, config: CheckConfig = CheckConfig()) -> CheckReport:
    """Check `design` and return its report. Never raises and never hangs because of the design."""
    start = time.perf_counter()
    fmt = check_format(design)
    checks: dict[str, CheckResult] = {"format": fmt}
    if fmt.status == "fail":
        for name in DYNAMIC_CHECKS:
            checks[name] = CheckResult(name, "skipped", "not run: the format check failed (unit code is never "
                                                        "executed before it passes)")
        checks["sandbox"] = CheckResult("sandbox", "skipped", "not run: the format check failed")
    else:
        try:
            outcome = run_sandboxed(design, config)
        except Exception as err:  # a bug of ours must still give a report
            outcome = SandboxOutcome(reason=f"could not run the checks ({type(err).__name__}: {err})")
        checks.update(_dynamic_results(outcome))
        checks["sandbox"] = _sandbox_result(outcome, config)
    report = CheckReport(design=design.name, checks=[checks[n] for n in ["format", *DYNAMIC_CHECKS, "sandbox"]])
    init = checks["init"]
    report.params = dict(init.details.get("params", {})) if init.status != "skipped" else {}
    exponent = checks["complexity"].details.get("exponent")
    report.complexity_exponent = float(exponent) if isinstance(exponent, (int, float)) else None
    report.seconds = time.perf_counter() - start
    return report


def _dynamic_results(outcome: SandboxOutcome) -> dict[str, CheckResult]:
    out: dict[str, CheckResult] = {}
    for name in DYNAMIC_CHECKS:
        if name in outcome.results:
            out[name] = outcome.results[name]
        elif name == outcome.running:
            hint = _HANG_HINTS.get(name, _DEFAULT_HINT)
            out[name] = CheckResult(name, "fail", f"the sandboxed process {outcome.reason} while running this check; "
                                                  f"{hint}", seconds=0.0, details={"sandbox": outcome.reason})
        else:
            why = f"the sandboxed process {outcome.reason}" if outcome.reason else "no result from the sandbox"
            out[name] = CheckResult(name, "skipped", f"not run: {why}")
    return out


def _sandbox_result(outcome: SandboxOutcome, config: CheckConfig) -> CheckResult:
    limits = (f"limits: {config.wall_seconds:g} s wall, {config.cpu_limit:g} s CPU, "
              f"{config.memory_bytes / GiB:g} GiB address space")
    details = {
        "wall_seconds": outcome.wall, "returncode": outcome.returncode, "blocked": outcome.blocked,
        "limits": {"wall_seconds": config.wall_seconds, "cpu_seconds": config.cpu_limit,
                   "memory_bytes": config.memory_bytes},
    }
    if outcome.done:
        details["cpu_seconds"] = outcome.done.get("cpu_seconds")
        details["max_rss_kb"] = outcome.done.get("max_rss_kb")
        details["vm_peak_kb"] = outcome.done.get("vm_peak_kb")
    if outcome.reason or outcome.blocked:
        details["stderr_tail"] = outcome.stderr_tail[-2000:]
    if outcome.blocked:
        return CheckResult("sandbox", "fail", f"the design tried operations the sandbox blocks: "
                           f"{'; '.join(outcome.blocked[:3])}; unit code may only compute with tensors",
                           seconds=outcome.wall, details=details)
    if outcome.reason:
        where = outcome.running or next(
            (n for n, r in outcome.results.items() if r.details.get("memory_limit")), None)
        during = f" during the {where} check" if where else ""
        message = f"the sandboxed process {outcome.reason}{during} ({limits})"
        if outcome.stderr_tail.strip() and "wall clock" not in outcome.reason:
            message += f"; last output: {outcome.stderr_tail.strip()[-300:]}"
        return CheckResult("sandbox", "fail", message, seconds=outcome.wall, details=details)
    cpu = details.get("cpu_seconds")
    rss = details.get("max_rss_kb")
    usage = f"{outcome.wall:.1f} s wall" + (f", {cpu:.1f} s CPU" if isinstance(cpu, (int, float)) else "") + (
        f", peak RSS {rss / 1024:.0f} MiB" if isinstance(rss, (int, float)) else "")
    return CheckResult("sandbox", "pass", f"ran in a separate process within its limits: {usage} ({limits})",
                       seconds=outcome.wall, details=details)
