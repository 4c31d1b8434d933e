"""genesys.gau.checker: the symbolic checker that keeps unsound designs out of training.

    from genesys.gau import load_design
    from genesys.gau.checker import check_design, render_report
    report = check_design(load_design("gpt2"))
    report.passed, report.to_dict()

Checks, in order: format (static, in this process), init, forward, causality,
gradients, stability, efficiency, complexity (in a limited child process), sandbox.
"""

from genesys.gau.checker.config import CHECK_NAMES, CheckConfig, quick_config
from genesys.gau.checker.pipeline import check_design
from genesys.gau.checker.report import CheckReport, CheckResult, render_report
from genesys.gau.checker.static import check_format

__all__ = [
    "CHECK_NAMES",
    "CheckConfig",
    "CheckReport",
    "CheckResult",
    "check_design",
    "check_format",
    "quick_config",
    "render_report",
]
